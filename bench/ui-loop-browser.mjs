// node bench/ui-loop-browser.mjs: bench/ui-loop.mjs inside headless Chromium (Debian's
// /usr/bin/chromium through playwright-core), on the web build of the package (www/pkg).
// UI_LOOP_DELTAS=N: N deltas per turn instead of 60 (600 leaves the non-delta frames' share out).
import { launchBrowser } from "../tests/e2e/harness.mjs";
import { serveCheckout } from "./serve-checkout.mjs";

const { origin, server } = await serveCheckout();
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.goto(`${origin}/bench/ui-loop.mjs`);
  const options = process.env.UI_LOOP_DELTAS ? { deltas: Number(process.env.UI_LOOP_DELTAS) } : {};
  const out = await page.evaluate(async ({ origin, options }) => {
    const { default: init, ClientStore } = await import(`${origin}/www/pkg/sessionwire.js`);
    const { uiLoop, report } = await import(`${origin}/bench/ui-loop.mjs`);
    await init();
    return report(uiLoop(ClientStore, options), navigator.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? "chromium");
  }, { origin, options });
  console.log(out);
} finally {
  await browser.close();
  server.close();
}

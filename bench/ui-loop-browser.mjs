// node bench/ui-loop-browser.mjs: bench/ui-loop.mjs inside headless Chromium (Debian's
// /usr/bin/chromium through playwright-core), on the web build of the package (www/pkg).
import { launchBrowser } from "../tests/e2e/harness.mjs";
import { serveCheckout } from "./serve-checkout.mjs";

const { origin, server } = await serveCheckout();
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.goto(`${origin}/bench/ui-loop.mjs`);
  const out = await page.evaluate(async (origin) => {
    const { default: init, ClientStore } = await import(`${origin}/www/pkg/sessionwire.js`);
    const { uiLoop, report } = await import(`${origin}/bench/ui-loop.mjs`);
    await init();
    return report(uiLoop(ClientStore), navigator.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? "chromium");
  }, origin);
  console.log(out);
} finally {
  await browser.close();
  server.close();
}

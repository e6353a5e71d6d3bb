// node bench/browser.mjs [frames]: bench/store.mjs's comparison inside headless Chromium (Debian's
// /usr/bin/chromium, through playwright-core), the browser the package is for. The same trace is
// fed to the web build of the package (www/pkg, built by scripts/build-pkg.sh), to the
// hand-written JS reducer and to bare JSON.parse, in one page. Prints frames/s (best of 7).
import { launchBrowser } from "../tests/e2e/harness.mjs";
import { serveCheckout } from "./serve-checkout.mjs";

const frameCount = Number(process.argv[2] ?? 100_000);
const { origin, server } = await serveCheckout();
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.goto(`${origin}/bench/trace.mjs`);
  const results = await page.evaluate(
    async ({ origin, frameCount }) => {
      const { default: init, ClientStore } = await import(`${origin}/www/pkg/sessionwire.js`);
      const { makeTrace } = await import(`${origin}/bench/trace.mjs`);
      const { compare } = await import(`${origin}/bench/compare.mjs`);
      await init();
      const out = compare(ClientStore, makeTrace(frameCount));
      return { results: out, userAgent: navigator.userAgent };
    },
    { origin, frameCount },
  );
  console.log(`trace: ${frameCount} frames; ${results.userAgent}; best of 7`);
  for (const r of results.results) {
    console.log(`${r.name.padEnd(36)} ${Math.round(r.framesPerSecond).toLocaleString("en-US").padStart(12)} frames/s`);
  }
  const [wasm, js, parse] = results.results;
  console.log(`wasm / JS reducer: ${(wasm.framesPerSecond / js.framesPerSecond).toFixed(2)}x   wasm / JSON.parse: ${(wasm.framesPerSecond / parse.framesPerSecond).toFixed(2)}x`);
} finally {
  await browser.close();
  server.close();
}

// node bench/browser.mjs [frames]: bench/store.mjs's comparison inside headless Chromium (Debian's
// /usr/bin/chromium, through playwright-core), the browser the package is for. The same trace is
// fed to the web build of the package (www/pkg, built by scripts/build-pkg.sh), to the
// hand-written JS reducer and to bare JSON.parse, in one page. Prints frames/s (best of 7).
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { launchBrowser } from "../tests/e2e/harness.mjs";

const root = path.resolve(import.meta.dirname, "..");
const frameCount = Number(process.argv[2] ?? 100_000);
const types = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };

// Serves the checkout read-only: the page loads /www/pkg/sessionwire.js and /bench/*.mjs.
const server = createServer(async (request, response) => {
  const file = path.join(root, decodeURIComponent(new URL(request.url, "http://x").pathname));
  if (!file.startsWith(root + path.sep)) return response.writeHead(403).end();
  try {
    const body = await readFile(file);
    response.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" }).end(body);
  } catch {
    response.writeHead(404).end();
  }
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

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

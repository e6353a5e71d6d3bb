// node bench/ui-loop-browser.mjs: bench/ui-loop.mjs inside headless Chromium (Debian's
// /usr/bin/chromium through playwright-core), on the web build of the package (www/pkg).
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { launchBrowser } from "../tests/e2e/harness.mjs";

const root = path.resolve(import.meta.dirname, "..");
const types = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
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

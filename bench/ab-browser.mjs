// node bench/ab-browser.mjs A B [receive|ui]: bench/ab.mjs in headless Chromium. A and B are
// directories inside this checkout holding a browser build of the package (a copy of www/pkg,
// say target/ab/A), loaded into one page and fed the same trace in alternating rounds.
import path from "node:path";
import { launchBrowser } from "../tests/e2e/harness.mjs";
import { serveCheckout } from "./serve-checkout.mjs";
import { MODES } from "./ab-rounds.mjs";

const root = path.resolve(import.meta.dirname, "..");
const [dirA, dirB, mode = "receive"] = process.argv.slice(2);
if (!dirA || !dirB || !MODES.includes(mode)) {
  console.error("usage: node bench/ab-browser.mjs A-dir B-dir [receive|ui]  (directories inside the checkout)");
  process.exit(2);
}
const urlPath = (dir) => {
  const relative = path.relative(root, path.resolve(dir));
  if (relative.startsWith("..")) throw new Error(`${dir} is not inside ${root}`);
  return `/${relative.split(path.sep).join("/")}/sessionwire.js`;
};
const { origin, server } = await serveCheckout();
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.goto(`${origin}/bench/trace.mjs`);
  const line = await page.evaluate(
    async ({ origin, a, b, mode }) => {
      const builds = { A: await import(origin + a), B: await import(origin + b) };
      await builds.A.default();
      await builds.B.default();
      const { ab } = await import(`${origin}/bench/ab-rounds.mjs`);
      return ab(builds, mode);
    },
    { origin, a: urlPath(dirA), b: urlPath(dirB), mode },
  );
  console.log(`${line} (${await browser.version()})`);
} finally {
  await browser.close();
  server.close();
}

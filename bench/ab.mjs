// node bench/ab.mjs A/node.cjs B/node.cjs [receive|ui]: two builds of the package in one process,
// fed the same 100k-frame trace in alternating rounds (best of 30 each), so a change is measured
// against the build before it without the run-to-run spread of separate processes. `receive`
// times receive alone; `ui` adds getState() and reading the last message's text per frame.
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { makeTrace } from "./trace.mjs";

const [pathA, pathB, mode = "receive"] = process.argv.slice(2);
if (!pathA || !pathB || !["receive", "ui"].includes(mode)) {
  console.error("usage: node bench/ab.mjs A/node.cjs B/node.cjs [receive|ui]");
  process.exit(2);
}
const require = createRequire(import.meta.url);
// Paths from the command line are the caller's, not this file's.
const builds = { A: require(resolve(pathA)), B: require(resolve(pathB)) };
await builds.A.default();
await builds.B.default();
const frames = makeTrace(100_000);

function round(build) {
  const store = new build.ClientStore("p");
  const start = performance.now();
  if (mode === "receive") {
    for (const frame of frames) store.receive(frame);
  } else {
    for (const frame of frames) {
      store.receive(frame);
      const messages = store.getState().messages;
      if (messages.length > 0) messages[messages.length - 1].text.length;
    }
  }
  return performance.now() - start;
}

const best = { A: Infinity, B: Infinity };
for (let r = 0; r < 30; r++) {
  // Alternate which goes first, so neither always runs on a freshly collected heap.
  for (const name of r % 2 ? ["A", "B"] : ["B", "A"]) best[name] = Math.min(best[name], round(builds[name]));
}
console.log(`${mode}: A ${best.A.toFixed(1)} ms, B ${best.B.toFixed(1)} ms, B/A ${(best.B / best.A).toFixed(3)}`);

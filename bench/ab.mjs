// node bench/ab.mjs A/node.cjs B/node.cjs [receive|ui]: two builds of the package in one process,
// fed the same 100k-frame trace in alternating rounds (best of 30 each), so a change is measured
// against the build before it without the run-to-run spread of separate processes. `receive`
// times receive alone; `ui` adds getState() and reading the last message's text per frame.
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { ab, MODES } from "./ab-rounds.mjs";

const [pathA, pathB, mode = "receive"] = process.argv.slice(2);
if (!pathA || !pathB || !MODES.includes(mode)) {
  console.error("usage: node bench/ab.mjs A/node.cjs B/node.cjs [receive|ui]");
  process.exit(2);
}
const require = createRequire(import.meta.url);
// Paths from the command line are the caller's, not this file's.
const builds = { A: require(resolve(pathA)), B: require(resolve(pathB)) };
await builds.A.default();
await builds.B.default();
console.log(ab(builds, mode));

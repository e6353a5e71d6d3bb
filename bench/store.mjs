// node bench/store.mjs [frames]: one 100k-frame streamed trace fed to (1) the Wasm ClientStore
// (pkg, built by scripts/build-pkg.sh), (2) the hand-written JS reducer of bench/js-reducer.mjs
// and (3) bare JSON.parse, in one run. Prints frames/s for each (best of several rounds).
import { createRequire } from "node:module";
import { makeTrace } from "./trace.mjs";
import { JsReducer } from "./js-reducer.mjs";
import { compare } from "./compare.mjs";

const require = createRequire(import.meta.url);
// SESSIONWIRE_PKG points the benchmark at another build of the package (A/B runs of build options).
const { default: init, ClientStore } = require(process.env.SESSIONWIRE_PKG ?? "../pkg/node.cjs");
await init();

const frameCount = Number(process.argv[2] ?? 100_000);
const rounds = 7;
const frames = makeTrace(frameCount);
const bytes = frames.reduce((sum, f) => sum + f.length, 0);

const results = compare(ClientStore, frames, rounds);

// The two reducers must agree on what they built.
const store = new ClientStore();
const reducer = new JsReducer();
for (const frame of frames) {
  store.receive(frame);
  reducer.receive(frame);
}
const sessionId = frames.map((f) => JSON.parse(f).sessionId).find(Boolean);
store.switchSession(sessionId);
const wasmText = store.getState().messages.map((m) => m.text).join("|");
const jsText = reducer.state.sessions[sessionId].messages.map((m) => m.text).join("|");
if (wasmText !== jsText) throw new Error("the Wasm store and the JS reducer disagree");

console.log(`trace: ${frameCount} frames, ${(bytes / 1e6).toFixed(1)} MB, ${frames.filter((f) => f.includes('"block_delta"')).length} block_delta; node ${process.version}; best of ${rounds}`);
const [wasm, js, parse] = results;
for (const r of results) {
  console.log(`${r.name.padEnd(36)} ${Math.round(r.framesPerSecond).toLocaleString("en-US").padStart(12)} frames/s  (${(r.seconds * 1000).toFixed(1)} ms)`);
}
console.log(`wasm / JS reducer: ${(wasm.framesPerSecond / js.framesPerSecond).toFixed(2)}x   wasm / JSON.parse: ${(wasm.framesPerSecond / parse.framesPerSecond).toFixed(2)}x`);

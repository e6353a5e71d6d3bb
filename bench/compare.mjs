// The comparison both benchmarks run (bench/store.mjs in Node, bench/browser.mjs in Chromium):
// one trace fed to the Wasm ClientStore, to the hand-written JS reducer and to bare JSON.parse,
// each the best of `rounds` after a warm-up. Uses only what Node and browsers both have.
import { JsReducer } from "./js-reducer.mjs";

export function compare(ClientStore, frames, rounds = 7) {
  let sink = 0;
  const measure = (name, run) => {
    run(); // warm-up
    let best = Infinity;
    for (let i = 0; i < rounds; i++) {
      const start = performance.now();
      run();
      best = Math.min(best, performance.now() - start);
    }
    return { name, framesPerSecond: frames.length / (best / 1000), seconds: best / 1000 };
  };
  const results = [
    measure("wasm ClientStore.receive", () => {
      const store = new ClientStore();
      for (const frame of frames) sink += store.receive(frame).length;
      store.free();
    }),
    measure("JS reducer (bench/js-reducer.mjs)", () => {
      const reducer = new JsReducer();
      for (const frame of frames) sink += reducer.receive(frame).length;
    }),
    measure("bare JSON.parse", () => {
      for (const frame of frames) sink += JSON.parse(frame).seq ?? 0;
    }),
  ];
  if (sink === 0) throw new Error("nothing was measured");
  return results;
}

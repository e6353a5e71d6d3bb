// The rounds of bench/ab.mjs (Node) and bench/ab-browser.mjs (headless Chromium): two builds of
// the package fed the same 100k-frame trace in alternating rounds, best of 30 each, so a change is
// measured against the build before it without the run-to-run spread of separate processes.
// `receive` times receive alone; `ui` adds getState() and reading the last message's text.
import { makeTrace } from "./trace.mjs";

export const MODES = ["receive", "ui"];

function round(build, frames, mode) {
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
  const elapsed = performance.now() - start;
  store.free();
  return elapsed;
}

/// `builds`: { A, B }, each a module exporting ClientStore (initialized). Returns the report line.
export function ab(builds, mode) {
  const frames = makeTrace(100_000);
  const best = { A: Infinity, B: Infinity };
  for (let r = 0; r < 30; r++) {
    // Alternate which goes first, so neither always runs on a freshly collected heap.
    for (const name of r % 2 ? ["A", "B"] : ["B", "A"]) best[name] = Math.min(best[name], round(builds[name], frames, mode));
  }
  return `${mode}: A ${best.A.toFixed(1)} ms, B ${best.B.toFixed(1)} ms, B/A ${(best.B / best.A).toFixed(3)}`;
}

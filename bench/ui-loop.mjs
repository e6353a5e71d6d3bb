// The loop every UI runs, per streamed frame: `receive(frame)`, then `getState()`, then read what
// a renderer reads (the last message's text). Measured on a fresh conversation and after
// `history` prior messages (200 turns of ~60 deltas each = 400 messages), against the immutable
// JS reducer of bench/js-immutable-reducer.mjs in the same run. Reports microseconds per frame.
// Shared by `node bench/ui-loop-node.mjs` and `node bench/ui-loop-browser.mjs`.
import { JsImmutableReducer } from "./js-immutable-reducer.mjs";

const SESSION = "0193a2b4-7c1d-7e2f-9a3b-000000000001";

/// Frames of `turns` turns of `deltas` text deltas each, from seq `seq0 + 1`.
export function turns(turns, deltas, seq0 = 0, turn0 = 0) {
  const frames = [];
  let seq = seq0;
  // Keys in sessionwire-server's order (its events' envelope first, then the tagged kind).
  const event = (type, fields) => frames.push(JSON.stringify({ sessionId: SESSION, seq: ++seq, ts: 1_760_000_000_000 + seq, type, ...fields }));
  const words = "the quick brown fox jumps over the lazy dog while the agent keeps streaming tokens".split(" ");
  for (let t = turn0; t < turn0 + turns; t++) {
    event("user_message", { messageId: `c-${t}`, text: `question number ${t}` });
    event("turn_start", { turnId: `turn-${t}` });
    event("message_start", { messageId: `m-${t}` });
    event("block_start", { messageId: `m-${t}`, blockId: "b0", blockType: "text" });
    for (let i = 0; i < deltas; i++) event("block_delta", { messageId: `m-${t}`, blockId: "b0", delta: `${words[i % words.length]} ` });
    event("block_end", { messageId: `m-${t}`, blockId: "b0" });
    event("message_end", { messageId: `m-${t}` });
    event("turn_end", { turnId: `turn-${t}`, reason: "completed" });
  }
  return { frames, seq };
}

const WELCOME = JSON.stringify({ type: "welcome", protocol: 1, connectionId: "c", epoch: "e", server: { name: "s", version: "1" } });
const SWITCHED = (lastSeq) => JSON.stringify({ type: "session_switched", sessionId: SESSION, state: "ACTIVE", running: false, lastSeq, title: "t" });

/// µs per frame of the UI loop over `measured` after `history` prior messages. Each round times
/// `copies` UIs, one after the other, each given the same history first: one round is then
/// thousands of frames (~10 ms), so Chromium's 0.1 ms timer (rounded, with jitter, in a page that
/// is not cross-origin isolated) is a hundredth of it rather than a sixth.
function loop(make, historyTurns, measuredTurns, deltas, rounds, copies) {
  const prior = turns(historyTurns, deltas);
  const measured = turns(measuredTurns, deltas, prior.seq, historyTurns);
  let best = Infinity;
  let sink = 0;
  for (let round = 0; round < rounds + 1; round++) {
    const uis = [];
    for (let c = 0; c < copies; c++) {
      const ui = make();
      ui.receive(WELCOME);
      ui.switchTo(SWITCHED(0));
      for (const frame of prior.frames) ui.receive(frame);
      uis.push(ui);
    }
    const start = performance.now();
    for (const ui of uis) {
      for (const frame of measured.frames) {
        ui.receive(frame);
        const state = ui.getState();
        const messages = state.messages;
        sink += messages.length === 0 ? 0 : messages[messages.length - 1].text.length;
      }
    }
    const elapsed = performance.now() - start;
    if (round > 0) best = Math.min(best, elapsed); // round 0 warms up
    for (const ui of uis) ui.free?.();
  }
  if (sink === 0) throw new Error("nothing was read");
  return (best * 1000) / (measured.frames.length * copies);
}

export function uiLoop(ClientStore, { deltas = 60, historyTurns = 200, measuredTurns = 5, rounds = 10, copies = 16 } = {}) {
  const wasm = () => {
    const store = new ClientStore();
    return {
      receive: (f) => store.receive(f),
      switchTo: (f) => { store.switchSession(SESSION); store.receive(f); },
      getState: () => store.getState(),
      free: () => store.free(),
    };
  };
  const js = () => {
    const reducer = new JsImmutableReducer();
    return {
      receive: (f) => reducer.receive(f),
      switchTo: () => reducer.switchSession(SESSION),
      getState: () => reducer.getState(),
    };
  };
  const rows = [];
  for (const [name, make] of [["wasm ClientStore", wasm], ["immutable JS reducer", js]]) {
    // Warm the JIT first, as in a page that has been streaming for a while: else "fresh", run
    // first, measures V8's tiers compiling the code (3x slower for the Wasm store's larger JS
    // half) rather than the cost of a frame on a new conversation.
    loop(make, 50, measuredTurns, deltas, 2, copies);
    const fresh = loop(make, 0, measuredTurns, deltas, rounds, copies);
    const long = loop(make, historyTurns, measuredTurns, deltas, rounds, copies);
    rows.push({ name, fresh, long });
  }
  return rows;
}

export function report(rows, where) {
  const lines = [`UI loop (receive + getState + last message text), µs per frame, ${where}:`];
  for (const r of rows) {
    lines.push(`${r.name.padEnd(22)} fresh ${r.fresh.toFixed(2).padStart(9)}   after 400 messages ${r.long.toFixed(2).padStart(9)}   (${(r.long / r.fresh).toFixed(2)}x)`);
  }
  const [wasm, js] = rows;
  lines.push(`wasm / JS (time, lower is better): fresh ${(wasm.fresh / js.fresh).toFixed(2)}x, after 400 messages ${(wasm.long / js.long).toFixed(2)}x`);
  return lines.join("\n");
}

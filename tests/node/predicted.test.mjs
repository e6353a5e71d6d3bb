// Predicted deltas, as shipped (pkg/): after a streamed delta the store predicts the block's
// next one, which `ClientStore.receive` then takes without Wasm (src/transfer.js `predict`); the
// store hears of what was taken first thing in its next call. Each test feeds one store every
// frame the ordinary way and checks the state, the actions, and what the core holds (its
// `reconnect` frame) against a store whose deltas were never predicted. Run by
// scripts/test-wasm.sh.
import { test } from "node:test";
import assert from "node:assert/strict";
import init, { ClientStore } from "../../pkg/node.mjs";

await init();

const SID = "0193a2b4-7c1d-7e2f-9a3b-000000000001";
const WELCOME = JSON.stringify({ type: "welcome", protocol: 1, connectionId: "c", epoch: "e", server: { name: "s", version: "1" } });
const SWITCHED = JSON.stringify({ type: "session_switched", sessionId: SID, state: "ACTIVE", running: false, lastSeq: 0, title: "t" });
// Keys in sessionwire-server's order.
const event = (seq, type, fields) => JSON.stringify({ sessionId: SID, seq, ts: 1_760_000_000_000 + seq, type, ...fields });
const start = [
  event(1, "turn_start", { turnId: "t" }),
  event(2, "message_start", { messageId: "m" }),
  event(3, "block_start", { messageId: "m", blockId: "b0", blockType: "text" }),
];
const delta = (seq, text, ts) => (ts === undefined ? event(seq, "block_delta", { messageId: "m", blockId: "b0", delta: text }) : event(seq, "block_delta", { messageId: "m", blockId: "b0", delta: text }).replace(/"ts":\d+/, `"ts":${ts}`));

/// A store that has applied the start of a turn, and counts the frames it took as predicted.
function store() {
  const s = new ClientStore("p");
  s.receive(WELCOME);
  s.receive(SWITCHED);
  for (const frame of start) s.receive(frame);
  const transfer = s.frameTransfer();
  const predict = transfer.predict.bind(transfer);
  s.predicted = 0;
  transfer.predict = (frame) => {
    const action = predict(frame);
    if (action !== null) s.predicted++;
    return action;
  };
  return s;
}

/// What a store received, as the state, its actions and what the core itself holds.
function feed(s, frames) {
  const actions = frames.map((frame) => {
    try {
      return s.receive(frame);
    } catch (error) {
      return error.code;
    }
  });
  return { actions, state: s.getState(), reconnect: s.reconnectFrame(SID), pending: s.pendingFrames() };
}

test("a block's next plain deltas are taken without Wasm, and the core has them at its next call", () => {
  const s = store();
  const frames = [4, 5, 6, 7].map((seq) => delta(seq, `w${seq} `));
  const got = feed(s, frames);
  assert.equal(s.predicted, 3, "every delta after the first");
  assert.equal(got.state.messages[0].text, "w4 w5 w6 w7 ");
  assert.equal(got.state.lastSeq, 7);
  assert.deepEqual(got.actions[3], [{ type: "BLOCK_DELTA", sessionId: SID, seq: 7, messageId: "m", blockId: "b0", delta: "w7 " }]);
  // The core's own state: it asks the server for what follows seq 7.
  assert.match(got.reconnect, /"lastSeq":7/);
  // And a frame after the predicted ones applies on top of them.
  s.receive(event(8, "block_end", { messageId: "m", blockId: "b0" }));
  assert.equal(s.getState().lastSeq, 8);
  assert.equal(s.getState().messages[0].text, "w4 w5 w6 w7 ");
});

test("near misses go to Wasm, with the same results", () => {
  const cases = [
    ["a gap", [delta(4, "a"), delta(6, "b")], 0],
    ["a duplicate", [delta(4, "a"), delta(4, "a")], 0],
    ["an escape", [delta(4, "a"), delta(5, "b\nc")], 0],
    ["a quote", [delta(4, "a"), delta(5, 'say "hi"')], 0],
    ["a leading zero in ts", [delta(4, "a"), delta(5, "b", "01")], 0],
    ["a fraction in ts", [delta(4, "a"), delta(5, "b", "1.5")], 0],
    ["a non-BMP character", [delta(4, "a"), delta(5, "🙂")], 0],
    ["another block", [delta(4, "a"), event(5, "block_delta", { messageId: "m", blockId: "b1", delta: "b" })], 0],
    ["trailing text", [delta(4, "a"), delta(5, "b") + " "], 0],
    // Not near misses: a frame that is not ASCII is predicted from too (its places are counted
    // in UTF-16 units), after a first delta with a character outside the BMP.
    ["not ASCII", [delta(4, "🙂 é"), delta(5, "漢字"), delta(6, "ü ")], 2],
    // Then a gap, closed by the next frame: the core sends the block's text as it holds it,
    // predicted part included (JavaScript wrote that part's UTF-8 into Wasm memory).
    ["not ASCII, then a gap closed", [delta(4, "🙂 é"), delta(5, "漢字"), delta(6, "ü "), delta(8, "x"), delta(7, "y"), delta(8, "x")], 2],
    ["plain, then near misses, then plain", [delta(4, "a"), delta(5, "b"), delta(6, "c\td"), delta(7, "e"), delta(8, "f")], 2],
  ];
  for (const [what, frames, predicted] of cases) {
    const s = store();
    const got = feed(s, frames);
    assert.equal(s.predicted, predicted, what);
    // The same frames, each through Wasm: a store whose prediction is ended after every frame
    // (any call into the store ends it; `pendingFrames` is one).
    const plain = store();
    const actions = frames.map((frame) => {
      let out;
      try {
        out = plain.receive(frame);
      } catch (error) {
        out = error.code;
      }
      plain.pendingFrames();
      return out;
    });
    assert.equal(plain.predicted, 0, what);
    assert.deepEqual(got.actions, actions, what);
    assert.deepEqual(got.state, plain.getState(), what);
    assert.equal(got.reconnect, plain.reconnectFrame(SID), what);
  }
});

test("a long stream read after every frame shows every delta, and the core has them all", () => {
  const s = store();
  for (let seq = 4; seq < 404; seq++) {
    s.receive(delta(seq, "x"));
    const state = s.getState();
    assert.equal(state.messages[0].text.length, seq - 3);
  }
  assert.equal(s.predicted, 399);
  assert.match(s.reconnectFrame(SID), /"lastSeq":403/);
});

// parseServerFrame as shipped (pkg/), in Node: the core validates the frame as
// `ClientStore.receive` does, and the object is the engine's `JSON.parse` of it (src/free.rs):
// every field the protocol knows as sent, fields it does not know kept too.
// Run by scripts/test-wasm.sh: node --test tests/node/
import { test } from "node:test";
import assert from "node:assert/strict";
import init, { parseServerFrame, SessionwireError } from "../../pkg/node.mjs";

await init();

test("a valid frame is the object it was sent as", () => {
  const sent = {
    type: "tool_result",
    sessionId: "s1",
    seq: 7,
    ts: 1700000000000,
    messageId: "m1",
    toolId: "t1",
    result: { b: [1.5, 0.25, 1e21], a: "x" },
    isError: false,
    futureField: { kept: true },
  };
  assert.deepEqual(parseServerFrame(JSON.stringify(sent)), sent);
});

test("the later of two duplicate keys wins, as in the store", () => {
  const frame = '{"type":"pong","nonce":"first","nonce":"second"}';
  assert.deepEqual(parseServerFrame(frame), { type: "pong", nonce: "second" });
});

test("a bad frame throws the store's error", () => {
  for (const [frame, code] of [
    ["{", "bad_frame"],
    ['{"type":"nope"}', "unknown_type"],
    ['{"type":"block_delta","sessionId":"s1","seq":"1","messageId":"m","blockId":"b","delta":"d"}', "invalid_field"],
  ]) {
    assert.throws(
      () => parseServerFrame(frame),
      (error) => error instanceof SessionwireError && error.code === code,
      frame,
    );
  }
});

// Node, ESM: `import init, {...} from "sessionwire"` (the exports map's node/import entry) with the
// `ws` package's WebSocket, against the real server.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import init, { ClientStore, SessionwireClient, SessionwireError, parseServerFrame, PROTOCOL_VERSION } from "sessionwire";
import { startServer, stop } from "../lib.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(() => stop(server?.child));

test("before init(): new ClientStore() throws SessionwireError not_initialized", () => {
  assert.throws(() => new ClientStore(), (error) => {
    assert.ok(error instanceof SessionwireError);
    assert.ok(error instanceof Error);
    assert.equal(error.code, "not_initialized");
    assert.equal(error.name, "SessionwireError");
    return true;
  });
  assert.throws(() => parseServerFrame('{"type":"pong"}'), { code: "not_initialized" });
});

test("init(), then a client over ws: connect, send, the echo arrives", async () => {
  await init();
  await init(); // idempotent
  assert.equal(PROTOCOL_VERSION, 1);
  assert.equal(parseServerFrame('{"type":"pong"}').type, "pong");
  const client = new SessionwireClient(server.ws, { WebSocket });
  try {
    await client.connect();
    assert.equal(client.getState().connection, "open");
    const done = new Promise((resolve) => {
      const unsubscribe = client.subscribe((state) => {
        const reply = state.messages.find((m) => m.role === "assistant");
        if (reply?.status === "complete" && !state.running) {
          unsubscribe();
          resolve(state);
        }
      });
    });
    const clientMsgId = client.send("hello from node esm");
    assert.ok(clientMsgId);
    const state = await done;
    assert.deepEqual(state.messages.map((m) => [m.role, m.text]), [["user", "hello from node esm"], ["assistant", "echo: hello from node esm"]]);
    assert.ok(state.currentSessionId);
  } finally {
    client.close();
  }
});

test("a bad frame throws a SessionwireError with a protocol code", async () => {
  await init();
  assert.throws(() => new ClientStore().receive("not json"), (error) => error instanceof SessionwireError && error.code === "bad_frame");
});

// Node, CommonJS: `require("sessionwire")` (the exports map's node/require entry) with the `ws`
// package's WebSocket, against the real server; `import` and `require` share one instance.
const assert = require("node:assert/strict");
const { after, before, test } = require("node:test");
const WebSocket = require("ws");
const sessionwire = require("sessionwire");
const { ClientStore, SessionwireClient, SessionwireError } = sessionwire;
const init = sessionwire.default;

let server;
let lib;
before(async () => {
  lib = await import("../lib.mjs");
  server = await lib.startServer();
});
after(() => lib?.stop(server?.child));

test("before init(): new ClientStore() throws SessionwireError not_initialized", () => {
  assert.equal(typeof init, "function");
  assert.throws(() => new ClientStore(), (error) => error instanceof SessionwireError && error.code === "not_initialized");
});

test("require and import are one module (no second copy of the state)", async () => {
  const esm = await import("sessionwire");
  assert.equal(esm.SessionwireClient, SessionwireClient);
  assert.equal(esm.default, init);
});

test("init(), then a client over ws: connect, send, the echo arrives", async () => {
  await init();
  const client = new SessionwireClient(server.ws, { WebSocket });
  try {
    await client.connect();
    const done = new Promise((resolve) => {
      const unsubscribe = client.subscribe((state) => {
        const reply = state.messages.find((m) => m.role === "assistant");
        if (reply && reply.status === "complete" && !state.running) {
          unsubscribe();
          resolve(state);
        }
      });
    });
    client.send("hello from node cjs");
    const state = await done;
    assert.deepEqual(
      state.messages.map((m) => [m.role, m.text]),
      [["user", "hello from node cjs"], ["assistant", "echo: hello from node cjs"]],
    );
  } finally {
    client.close();
  }
});

// SessionwireClient as shipped (pkg/), in Node, over a scripted WebSocket the test drives frame
// by frame (the real server is in tests/e2e and tests/consumers): what it sends and when, the
// "reconnecting" state, paging, fatal refusals, close before welcome. Run by scripts/test-wasm.sh.
import { test } from "node:test";
import assert from "node:assert/strict";
import init, { SessionwireClient, SessionwireError } from "../../pkg/node.mjs";

await init();

const WELCOME = JSON.stringify({ type: "welcome", protocol: 1, connectionId: "c", epoch: "e", server: { name: "s", version: "1" } });

/// A WebSocket class whose instances record what is sent; the test opens, delivers and closes.
function scripted() {
  const sockets = [];
  class ScriptedSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closed = null;
      sockets.push(this);
    }
    send(text) {
      assert.equal(this.readyState, 1, "sent on an open socket only");
      this.sent.push(JSON.parse(text));
    }
    close(code) {
      this.closed = code;
      this.readyState = 3;
    }
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }
    deliver(frame) {
      this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
    }
    drop(code = 1006) {
      this.readyState = 3;
      this.onclose?.({ code, reason: "" });
    }
  }
  return { sockets, ScriptedSocket };
}

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

test("hello on open, the outbox after welcome, connect resolves at welcome", async () => {
  const { sockets, ScriptedSocket } = scripted();
  const client = new SessionwireClient("ws://127.0.0.1:9/ws", { WebSocket: ScriptedSocket, token: "alice" });
  const id = client.send("typed before connecting");
  assert.equal(client.getState().messages[0].status, "pending");
  let resolved = false;
  const connected = client.connect().then(() => (resolved = true));
  await tick();
  assert.equal(sockets.length, 1);
  sockets[0].open();
  assert.deepEqual(sockets[0].sent, [{ type: "hello", protocol: 1, token: "alice" }]);
  assert.equal(client.getState().connection, "connecting");
  sockets[0].deliver(WELCOME);
  await connected;
  assert.ok(resolved);
  assert.deepEqual(sockets[0].sent.slice(1), [{ type: "send", sessionId: null, clientMsgId: id, text: "typed before connecting" }]);
  assert.equal(client.getState().connection, "open");
  client.close();
  assert.equal(sockets[0].closed, 1000);
});

test("a lost connection is 'reconnecting' with attempt, nextRetryAt and lastError, then the same clientMsgId goes again", async () => {
  const { sockets, ScriptedSocket } = scripted();
  const client = new SessionwireClient("ws://127.0.0.1:9/ws", { WebSocket: ScriptedSocket, reconnectBaseMs: 40, reconnectMaxMs: 80 });
  const seen = [];
  client.subscribe((state, actions) => seen.push(...actions.map((a) => a.type)));
  client.connect();
  await tick();
  sockets[0].open();
  sockets[0].deliver(WELCOME);
  await tick();
  const id = client.send("hi");
  const before = Date.now();
  sockets[0].drop(1006);
  const state = client.getState();
  assert.equal(state.connection, "reconnecting");
  assert.equal(state.reconnect.attempt, 1);
  assert.equal(state.reconnect.lastError, "the connection closed (code 1006)");
  assert.ok(state.reconnect.nextRetryAt >= before + 20 && state.reconnect.nextRetryAt <= Date.now() + 40, "within [half, all] of 40 ms");
  assert.equal(client.getState(), state, "the same object until a change");
  assert.ok(seen.includes("RECONNECTING"));
  assert.equal(state.messages[0].text, "hi", "the store's messages are still shown");
  // The retry fails too: attempt 2, its delay doubled (jittered into [40, 80] ms).
  await tick(60);
  assert.equal(sockets.length, 2);
  sockets[1].drop(1006);
  assert.equal(client.getState().reconnect.attempt, 2);
  const wait = client.getState().reconnect.nextRetryAt - Date.now();
  assert.ok(wait > 20 && wait <= 80, `second delay ${wait} ms`);
  await tick(100);
  assert.equal(sockets.length, 3);
  sockets[2].open();
  assert.equal(client.getState().connection, "reconnecting", "until welcome");
  sockets[2].deliver(WELCOME);
  const back = client.getState();
  assert.equal(back.connection, "open");
  assert.equal(back.reconnect, undefined);
  assert.deepEqual(sockets[2].sent.at(-1), { type: "send", sessionId: null, clientMsgId: id, text: "hi" });
  client.close();
});

test("close() before welcome rejects connect() with `closed`, and is no unhandled rejection", async () => {
  const unhandled = [];
  const onUnhandled = (reason) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  try {
    const { ScriptedSocket } = scripted();
    const client = new SessionwireClient("ws://127.0.0.1:9/ws", { WebSocket: ScriptedSocket });
    const awaited = client.connect();
    client.connect(); // nobody awaits this one
    client.close();
    await assert.rejects(awaited, (error) => error instanceof SessionwireError && error.code === "closed");
    await tick(20);
    assert.deepEqual(unhandled, []);
    assert.equal(client.getState().connection, "closed");
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
});

test("a welcome of another protocol is fatal: connect() rejects with unsupported_protocol and no retry", async () => {
  const { sockets, ScriptedSocket } = scripted();
  const client = new SessionwireClient("ws://127.0.0.1:9/ws", { WebSocket: ScriptedSocket, reconnectBaseMs: 5 });
  const connected = client.connect();
  await tick();
  sockets[0].open();
  const errors = [];
  const original = console.error;
  console.error = (...args) => errors.push(args);
  try {
    sockets[0].deliver({ ...JSON.parse(WELCOME), protocol: 2 });
  } finally {
    console.error = original;
  }
  await assert.rejects(connected, (error) => error instanceof SessionwireError && error.code === "unsupported_protocol");
  await tick(30);
  assert.equal(sockets.length, 1, "no reconnect");
  assert.equal(client.getState().connection, "closed");
  assert.equal(errors.length, 1);
});

test("the client asks for every page of a session listing itself", async () => {
  const { sockets, ScriptedSocket } = scripted();
  const client = new SessionwireClient("ws://127.0.0.1:9/ws", { WebSocket: ScriptedSocket });
  client.connect();
  await tick();
  const ws = sockets[0];
  ws.open();
  ws.deliver(WELCOME);
  const page = (id, next) => ({
    type: "sessions",
    sessions: [{ sessionId: id, title: id, state: "ACTIVE", running: false, lastSeq: 0, updatedAt: 9 }],
    ...(next ? { next } : {}),
  });
  ws.deliver({ type: "sessions", sessions: [{ sessionId: "old", title: "", state: "ENDED", running: false, lastSeq: 0, updatedAt: 1 }] });
  client.listSessions();
  assert.deepEqual(ws.sent.at(-1), { type: "list_sessions" });
  ws.deliver(page("s1", "p2"));
  assert.deepEqual(ws.sent.at(-1), { type: "list_sessions", before: "p2" });
  ws.deliver(page("s2", "p3"));
  assert.deepEqual(ws.sent.at(-1), { type: "list_sessions", before: "p3" });
  const count = ws.sent.length;
  ws.deliver(page("s3"));
  assert.equal(ws.sent.length, count, "nothing asked after the last page");
  assert.deepEqual(Object.keys(client.getState().sessions), ["s1", "s2", "s3"]);
  client.close();
});

test("frames made while disconnected go after welcome: control frames, then the latest switch", async () => {
  const { sockets, ScriptedSocket } = scripted();
  const client = new SessionwireClient("ws://127.0.0.1:9/ws", { WebSocket: ScriptedSocket });
  client.switchSession("s1");
  client.stop();
  client.switchSession("s2");
  client.connect();
  await tick();
  sockets[0].open();
  sockets[0].deliver(WELCOME);
  const types = sockets[0].sent.map((f) => [f.type, f.sessionId]);
  assert.deepEqual(types, [
    ["hello", undefined],
    ["reconnect", undefined], // the store's: for the views it holds
    ["stop", "s1"],
    ["switch_session", "s2"],
  ]);
  client.close();
});

test("bad arguments throw invalid_argument naming the field; no WebSocket is a clear error", async () => {
  for (const url of ["not a url", "http://127.0.0.1:8787/ws", "/ws", "", "ws://"]) {
    assert.throws(() => new SessionwireClient(url), (e) => e instanceof SessionwireError && e.code === "invalid_argument" && e.field === "url", url);
  }
  for (const [options, field] of [
    [{ token: 5 }, "token"],
    [{ pingIntervalMs: "soon" }, "pingIntervalMs"],
    [{ reconnectBaseMs: -1 }, "reconnectBaseMs"],
    [{ WebSocket: "ws" }, "WebSocket"],
    [{ persist: "yes" }, "persist"],
    [{ reconect: 1 }, "reconect"],
    ["token", "options"],
  ]) {
    assert.throws(() => new SessionwireClient("ws://127.0.0.1:9/ws", options), (e) => e.code === "invalid_argument" && e.field === field, field);
  }
  assert.throws(() => new SessionwireClient("ws://127.0.0.1:9/ws", { persist: true }), (e) => e.field === "persist", "no IndexedDB in Node");
  // Node 20 has no global WebSocket; Node 22 has one (then this test only checks the option).
  if (typeof globalThis.WebSocket === "undefined") {
    const client = new SessionwireClient("ws://127.0.0.1:9/ws");
    await assert.rejects(client.connect(), (e) => e.code === "invalid_argument" && e.field === "WebSocket");
  }
});

const REQUEST = {
  type: "permission_request",
  sessionId: "s1",
  seq: 2,
  ts: 1700000000002,
  requestId: "r1",
  toolId: "b1",
  title: "Edit notes.txt",
  options: [
    { optionId: "allow", name: "Allow", kind: "allow_once" },
    { optionId: "reject", name: "Reject", kind: "reject_once" },
  ],
  content: [{ type: "diff", path: "notes.txt", oldText: "", newText: "hi" }],
};

test("respondPermission: sent at once when open, sent again with the same clientMsgId after a reconnect, gone at permission_resolved", async () => {
  const { sockets, ScriptedSocket } = scripted();
  const client = new SessionwireClient("ws://127.0.0.1:9/ws", { WebSocket: ScriptedSocket, reconnectBaseMs: 10, reconnectMaxMs: 20 });
  client.connect();
  await tick();
  sockets[0].open();
  sockets[0].deliver(WELCOME);
  client.switchSession("s1");
  sockets[0].deliver({ type: "session_switched", sessionId: "s1", state: "ACTIVE", running: true, lastSeq: 0, title: "perm" });
  sockets[0].deliver({ type: "plan", sessionId: "s1", seq: 1, ts: 1700000000001, entries: [{ content: "edit", priority: "high", status: "in_progress" }] });
  sockets[0].deliver(REQUEST);
  const state = client.getState();
  const { type, sessionId, seq, ts, ...pending } = REQUEST;
  void type, sessionId, seq, ts;
  assert.deepEqual(state.pendingPermissions, [pending]);
  assert.equal(state.sessions.s1.pendingPermissions, state.pendingPermissions, "the current session's, the very same array");

  // A frame that changes the session's entry but neither its plan nor its requests keeps both.
  sockets[0].deliver({ type: "message_start", sessionId: "s1", seq: 3, ts: 1700000000003, messageId: "m1" });
  const later = client.getState();
  assert.notEqual(later, state);
  assert.equal(later.lastSeq, 3);
  assert.equal(later.pendingPermissions, state.pendingPermissions, "pendingPermissions keeps its identity");
  assert.equal(later.plan, state.plan, "plan keeps its identity");

  client.respondPermission("r1", "allow");
  const answer = sockets[0].sent.at(-1);
  assert.equal(answer.type, "respond_permission");
  assert.deepEqual({ ...answer, clientMsgId: undefined }, { type: "respond_permission", sessionId: "s1", clientMsgId: undefined, requestId: "r1", optionId: "allow" });
  const entry = client.getState().outbox.at(-1);
  assert.deepEqual([entry.kind, entry.clientMsgId, entry.requestId, entry.optionId], ["permission", answer.clientMsgId, "r1", "allow"]);
  assert.equal(client.getState().pendingPermissions.length, 1, "pending until permission_resolved");

  // Lost before the answer was acked: it goes again after welcome, with the same clientMsgId.
  sockets[0].drop(1006);
  await tick(40);
  assert.equal(sockets.length, 2);
  sockets[1].open();
  sockets[1].deliver(WELCOME);
  const resent = sockets[1].sent.filter((f) => f.type === "respond_permission");
  assert.deepEqual(resent, [answer]);

  sockets[1].deliver({ type: "permission_resolved", sessionId: "s1", seq: 4, ts: 1700000000004, requestId: "r1", outcome: "selected", optionId: "allow", clientMsgId: answer.clientMsgId });
  sockets[1].deliver({ type: "ack", sessionId: "s1", clientMsgId: answer.clientMsgId, seq: 4, duplicate: false, running: true });
  const done = client.getState();
  assert.deepEqual(done.pendingPermissions, []);
  assert.deepEqual(done.sessions.s1.pendingPermissions, []);
  assert.deepEqual(done.outbox, []);
  client.close();
});

test("respondPermission while disconnected waits in the outbox and goes after welcome", async () => {
  const { sockets, ScriptedSocket } = scripted();
  const client = new SessionwireClient("ws://127.0.0.1:9/ws", { WebSocket: ScriptedSocket, reconnectBaseMs: 10, reconnectMaxMs: 20 });
  client.connect();
  await tick();
  sockets[0].open();
  sockets[0].deliver(WELCOME);
  client.switchSession("s1");
  sockets[0].deliver({ type: "session_switched", sessionId: "s1", state: "ACTIVE", running: true, lastSeq: 0, title: "perm" });
  sockets[0].deliver({ ...REQUEST, seq: 1 });
  sockets[0].drop(1006);
  client.respondPermission("r1", "reject");
  assert.equal(sockets[0].sent.filter((f) => f.type === "respond_permission").length, 0, "nothing sent on a closed socket");
  const entry = client.getState().outbox.at(-1);
  assert.equal(entry.kind, "permission");
  await tick(40);
  sockets[1].open();
  sockets[1].deliver(WELCOME);
  assert.deepEqual(sockets[1].sent.filter((f) => f.type === "respond_permission"), [
    { type: "respond_permission", sessionId: "s1", clientMsgId: entry.clientMsgId, requestId: "r1", optionId: "reject" },
  ]);
  client.close();
});

test("respondPermission: bad arguments throw invalid_argument naming the field; no session throws no_current_session", () => {
  const { ScriptedSocket } = scripted();
  const client = new SessionwireClient("ws://127.0.0.1:9/ws", { WebSocket: ScriptedSocket });
  for (const [args, field] of [
    [[], "requestId"],
    [[5, "allow"], "requestId"],
    [["", "allow"], "requestId"],
    [[null, "allow"], "requestId"],
    [["r1"], "optionId"],
    [["r1", { optionId: "allow" }], "optionId"],
    [["r1", ""], "optionId"],
  ]) {
    assert.throws(
      () => client.respondPermission(...args),
      (e) => e instanceof SessionwireError && e.code === "invalid_argument" && e.field === field,
      JSON.stringify(args),
    );
  }
  const { respondPermission } = client;
  assert.throws(() => respondPermission("r1", "allow"), (e) => e instanceof SessionwireError && e.code === "no_current_session", "works unbound; no session");
  assert.deepEqual(client.getState().outbox, []);
  client.close();
});

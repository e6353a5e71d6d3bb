// The package as shipped (pkg/, built by scripts/build-pkg.sh), in Node: methods work without
// their object, as `useSyncExternalStore(client.subscribe, client.getState)` passes them, and
// the state is the same object until a change (PROTOCOL.md §7, §8).
// Run by scripts/test-wasm.sh: node --test tests/node/
import { test } from "node:test";
import assert from "node:assert/strict";
import init, { ClientStore, SessionwireClient } from "../../pkg/node.mjs";

await init();

const WELCOME = JSON.stringify({ type: "welcome", protocol: 1, connectionId: "c", epoch: "e", server: { name: "s", version: "1" } });

test("ClientStore methods work unbound, and getState is stable", () => {
  const store = new ClientStore();
  const { receive, getState, subscribe, switchSession } = store;
  let calls = 0;
  const unsubscribe = subscribe(() => calls++);
  receive(WELCOME);
  switchSession("s1");
  const state = getState();
  assert.equal(getState(), state, "the same object until a change");
  assert.equal(state.connection, "open");
  assert.equal(state.currentSessionId, "s1");
  assert.ok(calls >= 1);
  receive(JSON.stringify({ type: "pong", nonce: "n" }));
  assert.equal(getState(), state, "a frame that changes nothing keeps the state object");
  unsubscribe();
  assert.equal(store.getState, getState, "bound once per instance");
  store.free();
});

test("SessionwireClient methods work unbound", () => {
  const client = new SessionwireClient("ws://127.0.0.1:9/ws");
  const { getState, subscribe } = client;
  const unsubscribe = subscribe(() => {});
  assert.equal(getState().connection, "closed");
  unsubscribe();
  assert.throws(() => new SessionwireClient("http://127.0.0.1:9/ws"), (e) => e.code === "invalid_argument");
});

// Every golden vector (tests/vectors/*.json) against the package as shipped: pkg/, built by
// scripts/build-pkg.sh with the size build's compiler options (no panic messages, `{:?}`
// printing nothing), through its JavaScript API. The checks are those of
// crates/core/src/vectors.rs (which documents the vector format), for this binding; and after
// every step, what the step did not touch keeps its identity (PROTOCOL.md §7).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import init, { ClientStore, SessionwireError } from "../../pkg/node.mjs";

await init();

const dir = new URL("../vectors/", import.meta.url);
const CALLS = new Set(["hello", "send", "createSession", "switchSession", "interrupt", "respondPermission", "stop", "closeSession", "suspend",
  "listSessions", "connectionOpened", "connectionLost", "pendingFrames", "takeReadyFrames"]);

function outcome(fn) {
  try {
    return { ok: fn() };
  } catch (error) {
    if (!(error instanceof SessionwireError)) throw error; // anything else is a bug of its own
    return { code: error.code };
  }
}

function frameJson(value) {
  return value === undefined || value === null || value === "" ? null : JSON.parse(value);
}

// Every key of `expected` must match in `actual`, recursively for objects (vectors.rs's subset_matches).
function subset(expected, actual, path) {
  if (expected !== null && typeof expected === "object" && !Array.isArray(expected)) {
    assert.ok(actual !== null && typeof actual === "object", `${path}: expected an object, got ${JSON.stringify(actual)}`);
    for (const key of Object.keys(expected)) {
      assert.ok(key in actual, `${path}.${key} is missing`);
      subset(expected[key], actual[key], `${path}.${key}`);
    }
  } else if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual) && actual.length === expected.length, `${path}: expected ${expected.length} items, got ${JSON.stringify(actual)}`);
    expected.forEach((e, i) => subset(e, actual[i], `${path}[${i}]`));
  } else {
    assert.deepEqual(actual, expected, path);
  }
}

// Structural sharing: a message whose JSON did not change is the very object it was.
function checkSharing(before, after, where) {
  if (before === after) return;
  const old = new Map(before.messages.map((m) => [m.id, m]));
  for (const m of after.messages) {
    const was = old.get(m.id);
    if (was !== undefined && was !== m && JSON.stringify(was) === JSON.stringify(m))
      assert.fail(`${where}: message ${m.id} is a new object with the same content`);
  }
  for (const id of Object.keys(after.sessions)) {
    const was = before.sessions[id];
    if (was !== undefined && was !== after.sessions[id] && JSON.stringify(was) === JSON.stringify(after.sessions[id]))
      assert.fail(`${where}: sessions entry ${id} is a new object with the same content`);
  }
}

for (const file of readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
  const vector = JSON.parse(readFileSync(new URL(file, dir), "utf8"));
  test(`vector ${vector.name}`, () => {
    const store = new ClientStore(vector.idPrefix ?? "c");
    vector.steps.forEach((step, index) => {
      const where = `${vector.name}, step ${index}`;
      const before = store.getState();
      let result;
      if ("receive" in step) result = outcome(() => store.receive(JSON.stringify(step.receive)));
      else if ("receiveText" in step) result = outcome(() => store.receive(step.receiveText));
      else if ("dispatch" in step) result = outcome(() => store.dispatch(step.dispatch));
      else if (CALLS.has(step.call)) result = outcome(() => store[step.call](...(step.args ?? [])));
      else assert.fail(`${where}: a step needs receive, receiveText, dispatch or a known call`);
      if ("error" in step) {
        assert.equal(result.code, step.error, `${where}: expected error ${step.error}`);
        assert.equal(store.getState(), before, `${where}: a refused frame changes nothing`);
      } else {
        assert.equal(result.code, undefined, `${where}: unexpected error ${result.code}`);
        if ("actions" in step) assert.deepEqual(result.ok, step.actions, `${where}: actions`);
        if ("frame" in step) assert.deepEqual(frameJson(result.ok), step.frame, `${where}: frame`);
        if ("frames" in step) assert.deepEqual(result.ok.map(frameJson), step.frames, `${where}: frames`);
      }
      const state = store.getState();
      assert.equal(store.getState(), state, `${where}: getState() is stable`);
      if ("state" in step) subset(step.state, state, "state");
      if ("sessionIds" in step) assert.deepEqual(Object.keys(state.sessions), step.sessionIds, `${where}: session ids`);
      checkSharing(before, state, where);
    });
    store.free();
  });
}

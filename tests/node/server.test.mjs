// SessionwireClient as shipped (pkg/), in Node, against the real sessionwire-server and its echo
// agent: permission requests (PROTOCOL.md §5.1) answered through `respondPermission`. The server
// is target/debug/sessionwire-server (SESSIONWIRE_SERVER names another), which scripts/test-e2e.sh
// and `cargo build -p sessionwire-server` build; without it these tests are skipped and say so.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import WebSocket from "ws";
import init, { SessionwireClient } from "../../pkg/node.mjs";

await init();

const root = path.resolve(import.meta.dirname, "../..");
const serverBinary = process.env.SESSIONWIRE_SERVER ?? path.join(root, "target/debug/sessionwire-server");
const skip = existsSync(serverBinary) ? false : `no server at ${serverBinary} (cargo build -p sessionwire-server)`;

/** Starts the server on a free port with a fresh database; resolves `{child, ws}`. */
function startServer() {
  const db = path.join(mkdtempSync(path.join(tmpdir(), "sessionwire-node-")), "sessions.db");
  return new Promise((resolve, reject) => {
    const child = spawn(serverBinary, ["--listen", "127.0.0.1:0", "--db", db, "--www", path.join(root, "www")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${stderr}`)), 20_000);
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      const match = stdout.match(/listening on http:\/\/(\S+)/);
      if (match) {
        clearTimeout(timer);
        resolve({ child, ws: `ws://${match[1]}/ws` });
      }
    });
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with ${code}:\n${stderr}`));
    });
  });
}

function stopServer({ child }) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.removeAllListeners("exit");
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

/** Resolves with the client's state once `predicate(state)` holds (checked at every change). */
function waitFor(client, predicate, what, timeout = 15_000) {
  return new Promise((resolve, reject) => {
    if (predicate(client.getState())) return resolve(client.getState());
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out waiting for ${what}; state: ${JSON.stringify(client.getState())}`));
    }, timeout);
    const unsubscribe = client.subscribe((state) => {
      if (!predicate(state)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(state);
    });
  });
}

const assistantTexts = (state) => state.messages.filter((m) => m.role === "assistant").map((m) => m.text);

test("respondPermission against the real server: /perm hi, allowed, replies `echo: hi` and nothing waits", { skip }, async () => {
  const server = await startServer();
  const client = new SessionwireClient(server.ws, { WebSocket, persist: false });
  try {
    await client.connect();
    client.send("/perm hi");
    const asked = await waitFor(client, (s) => s.pendingPermissions.length === 1, "the permission request");
    const [request] = asked.pendingPermissions;
    assert.equal(request.title, "Edit notes.txt");
    assert.deepEqual(request.options.map((o) => [o.optionId, o.kind]), [["allow", "allow_once"], ["reject", "reject_once"]]);
    assert.deepEqual(request.content, [{ type: "diff", path: "notes.txt", oldText: "", newText: "hi" }]);
    assert.equal(asked.running, true, "the turn waits for the answer");
    assert.equal(asked.sessions[asked.currentSessionId].pendingPermissions, asked.pendingPermissions);
    const tool = asked.messages.flatMap((m) => m.blocks).find((b) => b.type === "tool_use");
    assert.equal(request.toolId, tool.id, "the request names its tool block");

    client.respondPermission(request.requestId, "allow");
    const done = await waitFor(
      client,
      (s) => !s.running && s.pendingPermissions.length === 0 && assistantTexts(s).includes("echo: hi") && s.outbox.length === 0,
      "the reply",
    );
    assert.deepEqual(done.pendingPermissions, []);
    assert.deepEqual(done.sessions[done.currentSessionId].pendingPermissions, []);
    assert.deepEqual(assistantTexts(done), ["echo: hi"]);
    const edit = done.messages.flatMap((m) => m.blocks).find((b) => b.type === "tool_use");
    assert.equal(edit.status, "completed");
    assert.deepEqual(done.errors, []);
  } finally {
    client.close();
    await stopServer(server);
  }
});

test("two clients on one session: both see the request, the first answer wins, a late one is refused", { skip }, async () => {
  const server = await startServer();
  const a = new SessionwireClient(server.ws, { WebSocket, persist: false });
  const b = new SessionwireClient(server.ws, { WebSocket, persist: false });
  try {
    await Promise.all([a.connect(), b.connect()]);
    a.send("/perm twice");
    const { currentSessionId: sessionId } = await waitFor(a, (s) => s.pendingPermissions.length === 1, "the request in A");
    b.switchSession(sessionId);
    const seen = await waitFor(b, (s) => s.pendingPermissions.length === 1, "the request in B");
    const { requestId } = seen.pendingPermissions[0];

    b.respondPermission(requestId, "reject");
    const isDone = (s) => !s.running && s.pendingPermissions.length === 0 && assistantTexts(s).includes("denied");
    await Promise.all([waitFor(a, isDone, "the end of the turn in A"), waitFor(b, isDone, "the end of the turn in B")]);

    // A answers after the request was resolved: the server refuses it and nothing runs again.
    a.respondPermission(requestId, "allow");
    const refused = await waitFor(a, (s) => s.errors.some((e) => e.code === "permission_resolved") && s.outbox.length === 0, "A's refusal");
    assert.deepEqual(assistantTexts(refused), ["denied"]);
    assert.deepEqual(assistantTexts(b.getState()), ["denied"]);
    const edit = refused.messages.flatMap((m) => m.blocks).find((block) => block.type === "tool_use");
    assert.equal(edit.status, "failed");
  } finally {
    a.close();
    b.close();
    await stopServer(server);
  }
});

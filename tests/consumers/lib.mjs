// Helpers of the consumer tests: the real sessionwire-server (release build), the apps' own
// servers (Vite dev / preview, a tiny static server for webpack's dist/), a raw-protocol reader
// of what the server has stored, and console collection.
import { spawn } from "node:child_process";
import { createReadStream, existsSync, mkdtempSync, statSync } from "node:fs";
import { createServer } from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import WebSocket from "ws";

export const root = path.resolve(import.meta.dirname, "../..");
export const here = import.meta.dirname;
export const serverBinary = process.env.SESSIONWIRE_SERVER ?? path.join(root, "target/release/sessionwire-server");

export function freshDb() {
  return path.join(mkdtempSync(path.join(tmpdir(), "sessionwire-consumers-")), "sessions.db");
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Waits until `child` prints a line matching `pattern` (stdout or stderr); resolves the match. */
function waitForOutput(child, pattern, what, timeout = 30_000) {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`${what} did not start in ${timeout} ms:\n${output}`)), timeout);
    const onData = (chunk) => {
      output += chunk;
      const match = output.replace(/\x1b\[[0-9;]*m/g, "").match(pattern);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code ?? signal}) before it was ready:\n${output}`));
    });
    child.output = () => output;
  });
}

/** Starts sessionwire-server with a DB file, letting `origin` (if given) open WebSockets. */
export async function startServer({ db = freshDb(), origin, listen = "127.0.0.1:0", extraArgs = [] } = {}) {
  const args = ["--listen", listen, "--db", db, "--www", path.join(root, "www"), ...(origin ? ["--allow-origin", origin] : []), ...extraArgs];
  const child = spawn(serverBinary, args, { stdio: ["ignore", "pipe", "pipe"] });
  const [, url] = await waitForOutput(child, /listening on (http:\/\/\S+)/, "sessionwire-server", 20_000);
  const address = url.replace("http://", "");
  return { child, url, address, ws: `ws://${address}/ws`, db, origin, extraArgs };
}

/** Stops a child process that these tests started (SIGTERM unless told), waiting for its exit. */
export function stop(child, signal = "SIGTERM") {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    child.removeAllListeners("exit");
    child.once("exit", () => resolve());
    child.kill(signal);
  });
}

/** Runs a command to completion; rejects with its output on a non-zero exit. */
export function run(cmd, args, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c) => (output += c));
    child.stderr.on("data", (c) => (output += c));
    child.once("exit", (code) => (code === 0 ? resolve(output) : reject(new Error(`${cmd} ${args.join(" ")} in ${cwd}: exit ${code}\n${output}`))));
  });
}

/** `vite` (dev) or `vite preview` in a setup directory, on a free port; resolves {child, origin}. */
export async function startVite(dir, mode) {
  const port = await freePort();
  const vite = path.join(dir, "node_modules/vite/bin/vite.js");
  const args = [vite, ...(mode === "preview" ? ["preview"] : []), "--host", "127.0.0.1", "--port", String(port), "--strictPort"];
  const child = spawn(process.execPath, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  await waitForOutput(child, new RegExp(`Local:\\s+http://127\\.0\\.0\\.1:${port}/`), `vite ${mode}`);
  return { child, origin: `http://127.0.0.1:${port}` };
}

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css", ".map": "application/json" };

/** A tiny static server of `dir` (what any host of a built app does); resolves {server, origin}. */
export async function startStatic(dir) {
  const server = createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url, "http://x").pathname);
    let file = path.join(dir, pathname);
    if (!file.startsWith(dir) || !existsSync(file) || statSync(file).isDirectory()) file = path.join(dir, "index.html");
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
    createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

/**
 * What the server has stored, read over the raw protocol by a fresh connection (no Origin, as
 * any non-browser client): every session's replay, as user messages and assistant messages.
 */
export async function serverTranscript(wsUrl) {
  const ws = new WebSocket(wsUrl);
  const queue = [];
  let wake = null;
  ws.on("message", (data) => {
    queue.push(JSON.parse(String(data)));
    wake?.();
  });
  const next = async (timeout = 10_000) => {
    const deadline = Date.now() + timeout;
    while (queue.length === 0) {
      if (Date.now() > deadline) throw new Error("serverTranscript: no frame from the server");
      await new Promise((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
      wake = null;
    }
    return queue.shift();
  };
  const until = async (type) => {
    for (;;) {
      const frame = await next();
      if (frame.type === "error") throw new Error(`serverTranscript: ${JSON.stringify(frame)}`);
      if (frame.type === type) return frame;
    }
  };
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  try {
    ws.send(JSON.stringify({ type: "hello", protocol: 1 }));
    await until("welcome");
    ws.send(JSON.stringify({ type: "list_sessions", limit: 500 }));
    const { sessions } = await until("sessions");
    const users = [];
    const assistants = [];
    for (const { sessionId } of sessions) {
      ws.send(JSON.stringify({ type: "switch_session", sessionId }));
      const switched = await until("session_switched");
      const open = new Map();
      let seq = 0;
      while (seq < switched.lastSeq) {
        const event = await next();
        if (event.sessionId !== sessionId || typeof event.seq !== "number") continue;
        seq = event.seq;
        if (event.type === "user_message") users.push({ sessionId, text: event.text, clientMsgId: event.messageId });
        if (event.type === "message_start") open.set(event.messageId, { sessionId, text: "", ended: false });
        if (event.type === "block_delta") open.get(event.messageId).text += event.delta;
        if (event.type === "message_end") {
          const message = open.get(event.messageId);
          message.ended = true;
          assistants.push(message);
          open.delete(event.messageId);
        }
      }
      assistants.push(...open.values());
    }
    return { sessions: sessions.map((s) => s.sessionId), users, assistants };
  } finally {
    ws.close();
  }
}

/**
 * Collects a page's console warnings and errors and its uncaught errors. `allowed` (a RegExp)
 * names the only messages that may appear; each hit is counted in `page.allowedHits`.
 */
export function watchConsole(page, problems, allowed) {
  page.allowedHits = 0;
  page.on("console", (message) => {
    const type = message.type();
    if (type !== "warning" && type !== "error") return;
    const text = message.text();
    if (allowed && allowed.test(text)) {
      page.allowedHits++;
      return;
    }
    const { url, lineNumber } = message.location();
    problems.push(`console.${type}: ${text}${url ? ` (${url}:${lineNumber})` : ""}`);
  });
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.stack ?? error}`));
}

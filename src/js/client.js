// SessionwireClient: one WebSocket driving a ClientStore (PROTOCOL.md §8). The transport only:
// it sends `hello` on open, the store's `pendingFrames()` after `welcome`, `takeReadyFrames()`
// after each frame and a `reconnect` for a session on `GAP_DETECTED`; it reconnects with capped
// exponential backoff and jitter, and pings on an interval (no `pong` by the next tick means a
// dead socket). What to send, what to show and what to resend is the core store's decision.
//
// `connection` is the store's ("closed", "connecting", "open") except from a lost connection to
// the next `welcome`, when it is "reconnecting" and `reconnect` says `{attempt, nextRetryAt,
// lastError}`. That overlay is the only state this file adds; it keeps `getState()` stable (one
// object per store state and overlay) and leaves the store's objects shared.
import { ClientStore } from "./store.js";
import { SessionwireError, INVALID_ARGUMENT, CLOSED } from "./error.js";
import { bindMethods } from "./bind.js";
import { openPersistence } from "./persist.js";

const OPEN = 1; // WebSocket.OPEN, the same in every implementation
const DEFAULTS = { pingIntervalMs: 15000, reconnectBaseMs: 500, reconnectMaxMs: 30000 };
// Server errors that another attempt cannot cure: the client stops and `connect()` rejects.
const FATAL = new Set(["unsupported_protocol", "unauthorized"]);

function invalid(field, message) {
  return new SessionwireError(INVALID_ARGUMENT, `${field}: ${message}`, field);
}

function readOptions(options) {
  if (options == null) options = {};
  if (typeof options !== "object") throw invalid("options", "an object");
  const read = { ...DEFAULTS, token: undefined, WebSocket: undefined, persist: undefined };
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (key === "token") {
      if (typeof value !== "string") throw invalid(key, "a string");
    } else if (key === "WebSocket") {
      if (typeof value !== "function") throw invalid(key, "a WebSocket constructor");
    } else if (key === "persist") {
      if (typeof value !== "boolean") throw invalid(key, "true or false");
    } else if (key in DEFAULTS) {
      if (typeof value !== "number" || !Number.isFinite(value) || value <= 0)
        throw invalid(key, "a positive number of milliseconds");
    } else {
      throw invalid(key, "not an option (token, WebSocket, persist, pingIntervalMs, reconnectBaseMs, reconnectMaxMs)");
    }
    read[key] = value;
  }
  return read;
}

/// The delay before reconnect attempt `attempt` (0 first): doubling from the base, capped, then
/// jittered into [half, all] of it so that tabs cut off together do not come back together.
export function backoff(options, attempt, random) {
  const capped = Math.min(options.reconnectBaseMs * 2 ** Math.min(attempt, 30), options.reconnectMaxMs);
  return capped * (0.5 + random / 2);
}

export class SessionwireClient {
  #url;
  #options;
  #store;
  #persistence = null;
  #restored = null;
  #socket = null;
  #wanted = false;
  #attempt = 0;
  #retryTimer = null;
  #pingTimer = null;
  #awaitingPong = false;
  #pings = 0;
  #waiters = [];
  // `stop`, `close_session`, `suspend` and `list_sessions` frames made while disconnected (sends
  // wait in the store's outbox instead), and the latest `switch_session`: sent after `welcome`.
  #control = [];
  #pendingSwitch = null;
  #reconnect = null; // {attempt, nextRetryAt, lastError} from a loss to the next welcome
  #overlay = { base: null, reconnect: null, state: null };
  #listeners = new Set();

  constructor(url, options) {
    let parsed = null;
    try {
      parsed = typeof url === "string" ? new URL(url) : null;
    } catch {
      parsed = null;
    }
    if (!parsed || (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") || !parsed.host)
      throw invalid("url", "a ws:// or wss:// URL, e.g. ws://127.0.0.1:8787/ws");
    this.#url = url;
    this.#options = readOptions(options);
    this.#store = new ClientStore();
    this.#store.subscribe((_, actions) => this.#changed(actions));
    const persist = this.#options.persist ?? typeof indexedDB !== "undefined";
    if (persist) {
      if (typeof indexedDB === "undefined") throw invalid("persist", "needs IndexedDB, which this runtime does not have");
      this.#persistence = openPersistence(indexedDB, `${url}#${hash(this.#options.token ?? "")}`);
      // Read at once, so that a reloaded page shows its conversation before any socket opens.
      this.#restored = this.#persistence.restore(this.#store).then(
        (current) => {
          if (current !== undefined && this.#pendingSwitch === null && !this.#isOpen()) this.switchSession(current);
        },
        (error) => console.error("sessionwire: could not restore the saved conversation", error),
      );
    }
  }

  /// Opens the connection and keeps it open, reconnecting on its own, until `close()`. Resolves at
  /// `welcome`; rejects with `closed` if `close()` comes first, or with the server's error when
  /// another attempt cannot help (`unauthorized`, `unsupported_protocol`).
  connect() {
    if (this.#isOpen()) return Promise.resolve();
    const promise = new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
    // Handled here, so a `close()` before `welcome` is no unhandled rejection when nobody awaits.
    promise.catch(() => {});
    if (!this.#wanted) {
      this.#wanted = true;
      if (this.#socket === null && this.#retryTimer === null) this.#start();
    }
    return promise;
  }

  /// Closes the connection for good (no reconnect). Unacknowledged sends stay in the outbox (and
  /// in IndexedDB) for a later `connect()`.
  close() {
    this.#wanted = false;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#dropSocket();
    this.#setReconnect(null);
    this.#persistence?.flush();
    this.#rejectWaiters(new SessionwireError(CLOSED, "sessionwire: the client was closed"));
  }

  /// Sends `text` to the current session (a new one when there is none). It shows at once and
  /// is delivered exactly once (the same `clientMsgId` on every retry). Returns its `clientMsgId`.
  send(text) {
    this.#sendNow(this.#store.send(text));
    return this.#lastClientMsgId();
  }

  /// Sends `text` to a new session, current once `session_created` arrives; returns its id.
  createSession(text) {
    this.#sendNow(this.#store.createSession(text));
    return this.#lastClientMsgId();
  }

  /// Makes `sessionId` current (`null` clears): what is held shows at once, only later events
  /// are asked for.
  switchSession(sessionId) {
    const frame = this.#store.switchSession(sessionId ?? null);
    if (!this.#sendNow(frame)) this.#pendingSwitch = frame;
  }

  /// Interrupts the current turn, with `text` to run next if given (throws `no_current_session`).
  interrupt(text) {
    this.#sendNow(this.#store.interrupt(text));
  }

  /// Answers the pending permission request `requestId` with its option `optionId` (PROTOCOL.md
  /// §5.1). Like a send, the answer waits in the outbox while disconnected and goes again with
  /// the same `clientMsgId` after `welcome`; the request leaves `pendingPermissions` when its
  /// `permission_resolved` arrives (in every tab, whichever answered first). Throws
  /// `no_current_session` when no session holds the request and none is current.
  respondPermission(requestId, optionId) {
    if (typeof requestId !== "string" || requestId === "") throw invalid("requestId", "a non-empty string");
    if (typeof optionId !== "string" || optionId === "") throw invalid("optionId", "a non-empty string");
    this.#sendNow(this.#store.respondPermission(requestId, optionId));
  }

  /// Stops the current session's runtime; the session ends (throws `no_current_session`).
  stop() {
    this.#sendOrQueue(this.#store.stop());
  }

  /// Closes the current session gracefully (throws `no_current_session`).
  closeSession() {
    this.#sendOrQueue(this.#store.closeSession());
  }

  /// Suspends the current session (throws `no_current_session`).
  suspend() {
    this.#sendOrQueue(this.#store.suspend());
  }

  /// Asks for the user's sessions; they arrive in `state.sessions`, page by page (the client asks
  /// for each following page itself).
  listSessions() {
    this.#sendOrQueue(this.#store.listSessions());
  }

  /// Calls `listener(state, actions)` after every change; returns the unsubscribe function.
  subscribe(listener) {
    if (typeof listener !== "function") throw invalid("listener", "a function");
    const entry = { listener };
    this.#listeners.add(entry);
    return () => this.#listeners.delete(entry);
  }

  /// The state: the store's, structurally shared, with the "reconnecting" overlay.
  getState() {
    const base = this.#store.getState();
    const reconnect = this.#reconnect;
    if (reconnect === null) return base;
    const overlay = this.#overlay;
    if (overlay.base !== base || overlay.reconnect !== reconnect) {
      overlay.base = base;
      overlay.reconnect = reconnect;
      overlay.state = Object.freeze({ ...base, connection: "reconnecting", reconnect });
    }
    return overlay.state;
  }

  #changed(actions) {
    if (this.#persistence !== null) this.#persistence.changed(this.#store.getState(), actions);
    if (this.#listeners.size === 0) return;
    const state = this.getState();
    for (const { listener } of [...this.#listeners]) {
      try {
        listener(state, actions);
      } catch (error) {
        console.error("sessionwire: a subscriber threw", error);
      }
    }
  }

  #isOpen() {
    return this.#socket !== null && this.#store.getState().connection === "open";
  }

  #lastClientMsgId() {
    const outbox = this.#store.getState().outbox;
    return outbox.length > 0 ? outbox[outbox.length - 1].clientMsgId : "";
  }

  /// Sends a frame if `welcome` has arrived; returns whether it went.
  #sendNow(frame) {
    if (!frame || !this.#isOpen() || this.#socket.readyState !== OPEN) return false;
    this.#socket.send(frame);
    return true;
  }

  #sendOrQueue(frame) {
    if (!this.#sendNow(frame)) this.#control.push(frame);
  }

  async #start() {
    if (this.#restored !== null) await this.#restored;
    if (this.#wanted && this.#socket === null) this.#open();
  }

  #open() {
    const WebSocketClass = this.#options.WebSocket ?? globalThis.WebSocket;
    if (typeof WebSocketClass !== "function") {
      this.#wanted = false;
      this.#rejectWaiters(
        invalid("WebSocket", "this runtime has no WebSocket: pass one, e.g. new SessionwireClient(url, { WebSocket }) with the ws package's"),
      );
      return;
    }
    let ws;
    try {
      ws = new WebSocketClass(this.#url);
    } catch (error) {
      this.#lost(String(error?.message ?? error));
      return;
    }
    this.#socket = ws;
    ws.onopen = () => {
      if (this.#socket !== ws) return;
      this.#store.connectionOpened();
      ws.send(this.#store.hello(this.#options.token));
    };
    ws.onmessage = (event) => {
      // Text frames only (PROTOCOL.md §1); anything else is ignored.
      if (this.#socket === ws && typeof event.data === "string") this.#frame(event.data);
    };
    // `error` is always followed by `close`, where the client reacts.
    ws.onerror = () => {};
    ws.onclose = (event) => {
      if (this.#socket === ws) this.#lost(`the connection closed (code ${event.code}${event.reason ? `: ${event.reason}` : ""})`);
    };
  }

  #frame(text) {
    let actions;
    try {
      actions = this.#store.receive(text);
    } catch (error) {
      if (FATAL.has(error?.code)) return this.#fatal(error);
      console.error("sessionwire: refused a frame from the server", error);
      return;
    }
    this.#persistence?.received(text, actions);
    for (const action of actions) {
      if (action.type === "WELCOME") this.#welcome();
      else if (action.type === "PONG") this.#awaitingPong = false;
      else if (action.type === "GAP_DETECTED") this.#sendNow(this.#store.reconnectFrame(action.sessionId));
      else if (action.type === "ERROR" && FATAL.has(action.code))
        return this.#fatal(new SessionwireError(action.code, action.message));
    }
    for (const frame of this.#store.takeReadyFrames()) this.#sendNow(frame);
  }

  #welcome() {
    this.#attempt = 0;
    this.#setReconnect(null);
    const frames = this.#store.pendingFrames();
    frames.push(...this.#control.splice(0));
    if (this.#pendingSwitch !== null) frames.push(this.#pendingSwitch);
    this.#pendingSwitch = null;
    for (const frame of frames) this.#sendNow(frame);
    this.#startPing();
    for (const { resolve } of this.#waiters.splice(0)) resolve();
  }

  #startPing() {
    clearInterval(this.#pingTimer);
    this.#awaitingPong = false;
    this.#pingTimer = setInterval(() => {
      if (this.#awaitingPong) return this.#lost(`no pong within ${this.#options.pingIntervalMs} ms`);
      this.#awaitingPong = true;
      this.#sendNow(this.#store.ping(String(++this.#pings)));
    }, this.#options.pingIntervalMs);
  }

  /// The socket closed or was found dead: the store hears of it and, unless `close()` was
  /// called, the next attempt is scheduled.
  #lost(lastError) {
    this.#dropSocket();
    if (!this.#wanted) return;
    const attempt = this.#attempt++;
    const delay = backoff(this.#options, attempt, Math.random());
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.#wanted && this.#socket === null) this.#open();
    }, delay);
    this.#setReconnect({ attempt: attempt + 1, nextRetryAt: Date.now() + Math.round(delay), lastError });
  }

  #fatal(error) {
    this.#wanted = false;
    this.#dropSocket();
    this.#setReconnect(null);
    console.error("sessionwire: the server refused this client; not reconnecting", error);
    this.#rejectWaiters(error);
  }

  #dropSocket() {
    clearInterval(this.#pingTimer);
    this.#pingTimer = null;
    const ws = this.#socket;
    if (ws === null) return;
    this.#socket = null;
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      ws.close(1000);
    } catch {
      // Closing a socket that never opened may throw in some implementations; it is gone anyway.
    }
    if (this.#store.getState().connection !== "closed") this.#store.connectionLost();
  }

  #setReconnect(reconnect) {
    if (reconnect === null && this.#reconnect === null) return;
    this.#reconnect = reconnect === null ? null : Object.freeze(reconnect);
    const action = reconnect === null ? [] : [{ type: "RECONNECTING", ...reconnect }];
    this.#changed(action);
  }

  #rejectWaiters(error) {
    for (const { reject } of this.#waiters.splice(0)) reject(error);
  }
}

bindMethods(SessionwireClient);

/// A short, stable name for a token (FNV-1a), so saved conversations are kept per user without
/// writing the token itself into IndexedDB.
function hash(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36);
}

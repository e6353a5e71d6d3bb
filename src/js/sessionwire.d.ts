// The declarations of the package's JavaScript half (src/js/). scripts/pack.mjs puts them after
// the types generated from the Rust types (src/types.d.ts) and wasm-bindgen's `ClientStore`.

/** Every `code` a `SessionwireError` can have: the server's (PROTOCOL.md §6) and the package's. */
export type ErrorCode =
  | ServerErrorCode
  | "not_initialized"
  | "no_current_session"
  | "invalid_action"
  | "invalid_argument"
  | "closed";

/** Every error the package throws: a bad frame, a call before `init()`, a bad argument. */
export declare class SessionwireError extends Error {
  constructor(code: ErrorCode, message: string, field?: string);
  readonly name: "SessionwireError";
  readonly code: ErrorCode;
  /** For `invalid_field` and `invalid_argument`: the path of the bad field or option. */
  readonly field?: string;
}

/**
 * Loads the .wasm; call it once before anything else (later calls return at once). Any use of the
 * package before it throws `SessionwireError{code: "not_initialized"}`. In browsers it fetches the
 * .wasm next to the module (bundlers ship it); in Node it reads the file. `input` may pass another
 * URL, the bytes, or a compiled `WebAssembly.Module`.
 */
export default function init(input?: string | URL | BufferSource | WebAssembly.Module): Promise<void>;

/** The protocol version this package speaks (`hello.protocol`). */
export declare const PROTOCOL_VERSION: 1;

/**
 * A WebSocket constructor: the browser's, Node 22's global one, or the `ws` package's. The client
 * uses `send`, `close`, `readyState` and the `onopen`/`onmessage`/`onclose`/`onerror` handlers.
 */
export type WebSocketConstructor = new (...args: any[]) => object;

export interface SessionwireClientOptions {
  /** The user's token (`hello.token`); none for a server without tokens. */
  token?: string;
  /** The WebSocket to use; default `globalThis.WebSocket` (Node 20 has none: pass `ws`'s). */
  WebSocket?: WebSocketConstructor;
  /** Keep the outbox, the current session and the views in IndexedDB (default: where it exists). */
  persist?: boolean;
  /** How often to ping (default 15000); no `pong` by the next ping means a dead socket. */
  pingIntervalMs?: number;
  /** The first reconnect delay (default 500), doubled per failed attempt up to `reconnectMaxMs`. */
  reconnectBaseMs?: number;
  /** The longest reconnect delay (default 30000). Each delay is jittered into [half, all] of it. */
  reconnectMaxMs?: number;
}

/** How the client is getting its connection back. */
export interface ReconnectInfo {
  /** The attempts that failed since the last `welcome` (1 after the first loss). */
  attempt: number;
  /** When the next attempt starts, in ms since the epoch (`Date.now()`'s clock). */
  nextRetryAt: number;
  /** Why the last connection ended, e.g. "the connection closed (code 1006)". */
  lastError: string | null;
}

/** A `SessionwireClient`'s state: the store's, plus the "reconnecting" connection state. */
export type SessionwireClientState = Omit<ClientState, "connection"> & {
  connection: Connection | "reconnecting";
  /** Set while `connection` is "reconnecting". */
  reconnect?: ReconnectInfo;
};

/** The action a `SessionwireClient`'s subscribers get when a reconnect is scheduled. */
export type ReconnectingAction = { type: "RECONNECTING" } & ReconnectInfo;

/** A sessionwire connection: one WebSocket plus a `ClientStore`. Every method works unbound. */
export declare class SessionwireClient {
  /** Throws `invalid_argument` for a URL that is not ws:// or wss://, or a bad option. */
  constructor(url: string, options?: SessionwireClientOptions);
  /** Connects and stays connected (reconnecting) until `close()`. Resolves at `welcome`. */
  connect(): Promise<void>;
  /** Closes for good; a pending `connect()` rejects with `closed`. The outbox is kept. */
  close(): void;
  /** Sends to the current session (a new one when there is none); returns the `clientMsgId`. */
  send(text: string): string;
  /** Sends to a new session; returns the `clientMsgId`. */
  createSession(text: string): string;
  switchSession(sessionId: string | null): void;
  /** Throws `no_current_session` without a current session. */
  interrupt(text?: string): void;
  /**
   * Answers the pending permission request `requestId` (one of `getState().pendingPermissions`)
   * with one of its options' `optionId`. The answer waits in the outbox while disconnected; the
   * request leaves `pendingPermissions` in every tab when its `permission_resolved` arrives.
   * Throws `invalid_argument` for an argument that is not a non-empty string, and
   * `no_current_session` when no session holds the request and none is current.
   */
  respondPermission(requestId: string, optionId: string): void;
  stop(): void;
  closeSession(): void;
  suspend(): void;
  listSessions(): void;
  subscribe(listener: (state: SessionwireClientState, actions: Array<Action | ReconnectingAction>) => void): () => void;
  /** The same object until something changes; shared structurally with the one before. */
  getState(): SessionwireClientState;
}

// Type-checked (never run) by `tsc -p tests/ts` in scripts/test-wasm.sh, against the generated
// package in pkg/: the README's example and the precise types must compile under `strict`.
import init, {
  ClientStore,
  SessionwireClient,
  parseServerFrame,
  PROTOCOL_VERSION,
  type Action,
  type ClientState,
  type Message,
  type ServerFrame,
  type ClientFrame,
  type ErrorCode,
  type SessionwireClientState,
  type PendingPermission,
  SessionwireError,
} from "sessionwire";

await init();

const version: 1 = PROTOCOL_VERSION;
const store = new ClientStore();
const hello: string = store.hello("token");
const actions: Action[] = store.receive('{"type":"welcome","protocol":1,"connectionId":"c","epoch":"e","server":{"name":"s","version":"1"}}');

// The Action union is discriminated by `type`.
for (const action of actions) {
  switch (action.type) {
    case "BLOCK_DELTA": {
      const delta: string = action.delta;
      const seq: number = action.seq;
      void delta, seq;
      break;
    }
    case "SET_RUNNING": {
      const running: boolean = action.running;
      void running;
      break;
    }
    case "GAP_DETECTED":
      void store.reconnectFrame(action.sessionId);
      break;
    default:
      break;
  }
}

const unsubscribe: () => void = store.subscribe((state: ClientState, applied: Action[]) => {
  const connection: "closed" | "connecting" | "open" = state.connection;
  const messages: Message[] = state.messages;
  const text: string | undefined = messages[0]?.text;
  const lastSeq: number | undefined = state.sessions["s1"]?.lastSeq;
  void connection, text, lastSeq, applied;
});
unsubscribe();

// `send` returns "" when the message waits for a session being created.
const frame: string = store.send("hello");
if (frame !== "") void frame;
store.switchSession(null);
store.switchSession("s1");
store.dispatch({ type: "SET_RUNNING", sessionId: "s1", running: false });
const pending: string[] = store.pendingFrames();

// Permission requests: the current session's and each session's, answered by option id.
const requests: PendingPermission[] = store.getState().pendingPermissions;
for (const request of requests) {
  const requestId: string = request.requestId;
  const title: string = request.title;
  const toolId: string | null | undefined = request.toolId;
  const answer: string = store.respondPermission(requestId, "allow");
  void title, toolId, answer, request.options, request.content;
}
const ofSession: PendingPermission[] | undefined = store.getState().sessions["s1"]?.pendingPermissions;
const answered = store.getState().outbox.filter((entry) => entry.kind === "permission");
const answeredWith: Array<string | null | undefined> = answered.map((entry) => entry.optionId ?? entry.requestId);
void ofSession, answeredWith;
store.connectionLost();
store.connectionOpened();
try {
  store.receive("not json");
} catch (error) {
  const code = (error as Error & { code: string }).code;
  void code;
}
const parsed: ServerFrame = parseServerFrame('{"type":"pong"}');
if (parsed.type === "pong") void parsed.nonce;

const client = new SessionwireClient("ws://127.0.0.1:8787/ws", { token: "t", pingIntervalMs: 10_000 });
await client.connect();
const id: string = client.send("hi");
client.createSession("new");
client.switchSession("s1");
client.interrupt();
client.interrupt("instead");
client.respondPermission("r1", "allow");
const waiting: PendingPermission[] = client.getState().pendingPermissions;
void waiting;
// @ts-expect-error: the option is required
client.respondPermission("r1");
client.stop();
client.listSessions();
const state: SessionwireClientState = client.getState();
const connection: "closed" | "connecting" | "open" | "reconnecting" = state.connection;
const nextRetryAt: number | undefined = state.reconnect?.nextRetryAt;
void connection, nextRetryAt;
const noOptions = new SessionwireClient("ws://127.0.0.1:8787/ws");
void noOptions;

// Every error is a SessionwireError with a code from ErrorCode, the package's own included.
try {
  new ClientStore().receive("not json");
} catch (error) {
  if (error instanceof SessionwireError) {
    const code: ErrorCode = error.code;
    const own: ErrorCode[] = ["not_initialized", "no_current_session", "invalid_action", "invalid_argument", "closed"];
    const field: string | undefined = error.field;
    void code, own, field;
  }
}

// Frames are typed unions.
const pong: ServerFrame = parseServerFrame('{"type":"pong"}');
const outgoing: ClientFrame = { type: "send", sessionId: null, clientMsgId: "c1", text: "hi" };
void pong, outgoing;
client.subscribe((s) => void s.running)();
client.close();
void version, hello, pending, id, state;

// @ts-expect-error: an unknown action type is rejected
store.dispatch({ type: "NOPE" });

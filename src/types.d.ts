// Generated from the Rust types of sessionwire-core by tests/typescript.rs (ts-rs).
// Do not edit: run `SESSIONWIRE_BLESS=1 cargo test -p sessionwire --test typescript`.

export type Action = { "type": "CONNECTION_OPENED", } | { "type": "CONNECTION_LOST", } | { "type": "WELCOME", protocol: number, connectionId: string, epoch: string, } | { "type": "SESSIONS_LISTED", sessions: Array<SessionSummary>, next?: string | null, } | { "type": "SWITCH_REQUESTED", sessionId: string | null, } | { "type": "SESSION_SWITCHED", sessionId: string, state: SessionState, lastSeq: number, title: string, } | { "type": "SET_RUNNING", sessionId: string, running: boolean, } | { "type": "SESSION_CLEARED", } | { "type": "SESSION_CREATED", sessionId: string, clientMsgId: string, } | { "type": "USER_SEND", clientMsgId: string, sessionId: string | null, text: string, } | { "type": "USER_INTERRUPT", clientMsgId: string, sessionId: string, text?: string | null, } | { "type": "PERMISSION_RESPONSE", clientMsgId: string, sessionId: string, requestId: string, optionId: string, } | { "type": "ACK", sessionId: string, clientMsgId: string, seq: number, duplicate: boolean, running: boolean, } | { "type": "RECONNECTED", sessions: Array<ReconnectedSession>, } | { "type": "WATCHED", sessionId: string, } | { "type": "UNWATCHED", sessionId: string, } | { "type": "PONG", nonce?: string | null, } | { "type": "ERROR", code: ErrorCode, message: string, sessionId?: string | null, ref?: string | null, } | { "type": "GAP_DETECTED", sessionId: string, expectedSeq: number, receivedSeq: number, } | { "type": "SESSION_VIEW_DROPPED", sessionId: string, } | { "type": "USER_MESSAGE_RECEIVED", sessionId: string, seq: number, messageId: string, text: string, } | { "type": "TURN_START", sessionId: string, seq: number, turnId: string, } | { "type": "MESSAGE_START", sessionId: string, seq: number, messageId: string, } | { "type": "BLOCK_START", sessionId: string, seq: number, messageId: string, blockId: string, blockType: BlockType, toolName?: string | null, } | { "type": "BLOCK_DELTA", sessionId: string, seq: number, messageId: string, blockId: string, delta: string, } | { "type": "BLOCK_END", sessionId: string, seq: number, messageId: string, blockId: string, input?: JsonValue | null, } | { "type": "TOOL_RESULT", sessionId: string, seq: number, messageId: string, toolId: string, result: JsonValue, isError: boolean, } | { "type": "TOOL_UPDATE", sessionId: string, seq: number, messageId: string, toolId: string, status?: string | null, title?: string | null, kind?: string | null, content?: JsonValue | null, locations?: JsonValue | null, } | { "type": "PLAN_UPDATED", sessionId: string, seq: number, entries: JsonValue, } | { "type": "PERMISSION_REQUESTED", sessionId: string, seq: number, requestId: string, toolId?: string | null, title: string, options: JsonValue, content?: JsonValue | null, } | { "type": "PERMISSION_RESOLVED", sessionId: string, seq: number, requestId: string, outcome: string, optionId?: string | null, clientMsgId?: string | null, } | { "type": "MESSAGE_END", sessionId: string, seq: number, messageId: string, } | { "type": "TURN_END", sessionId: string, seq: number, turnId: string, reason: TurnEndReason, error?: string | null, stopReason?: string | null, } | { "type": "SESSION_STATE_CHANGED", sessionId: string, seq: number, state: SessionState, previous: SessionState | null, reason: string, };

export type ClientState = { connection: Connection, epoch: string | null, connectionId: string | null, currentSessionId: string | null, running: boolean, sessionState: SessionState | null, lastSeq: number, messages: Array<Message>, 
/**
 * The current session's plan (null without a session or a plan).
 */
plan: JsonValue | null, 
/**
 * The current session's permission requests still waiting for an answer.
 */
pendingPermissions: Array<PendingPermission>, sessions: { [sessionId: string]: SessionEntry }, outbox: Array<OutboxEntry>, errors: Array<ErrorInfo>, };

export type SessionEntry = { state: SessionState | null, running: boolean, lastSeq: number, title: string | null, 
/**
 * A gap was detected and not yet repaired.
 */
gap: boolean, 
/**
 * The session's latest plan, `[{content, priority, status}]`, or null.
 */
plan: JsonValue | null, 
/**
 * The session's permission requests still waiting for an answer.
 */
pendingPermissions: Array<PendingPermission>, };

export type Connection = "closed" | "connecting" | "open";

export type Message = { id: string, role: Role, status: MessageStatus, text: string, blocks: Array<Block>, };

export type Role = "user" | "assistant";

export type MessageStatus = "pending" | "sent" | "failed" | "streaming" | "complete" | "interrupted" | "error";

export type Block = { id: string, type: BlockType, text: string, toolName?: string | null, input?: JsonValue | null, result?: JsonValue | null, isError?: boolean | null, done: boolean, 
/**
 * A tool block's progress (`tool_update`): pending, in_progress, completed or failed.
 */
status?: string | null, title?: string | null, kind?: string | null, content?: JsonValue | null, locations?: JsonValue | null, };

export type OutboxEntry = { clientMsgId: string, sessionId: string | null, text?: string | null, kind: OutboxKind, 
/**
 * The request a `permission` entry answers, and the option chosen.
 */
requestId?: string | null, optionId?: string | null, 
/**
 * Set for a message typed into a session that is still being created: it waits for
 * `session_created` (naming this `clientMsgId` of the creating send) before it can go.
 */
waitsFor?: string | null, };

export type OutboxKind = "send" | "interrupt" | "permission";

export type ErrorInfo = { code: ErrorCode, message: string, sessionId?: string | null, ref?: string | null, };

export type Gap = { expectedSeq: number, receivedSeq: number, };

export type PendingPermission = { requestId: string, toolId?: string | null, title: string, 
/**
 * `[{optionId, name, kind}]`.
 */
options: JsonValue, 
/**
 * What would change (e.g. a diff), as in `tool_update`.
 */
content?: JsonValue | null, };

export type SessionState = "CREATED" | "STARTING" | "ACTIVE" | "DETACHED" | "SUSPENDED" | "CLOSING" | "ENDED";

export type ErrorCode = "bad_frame" | "unknown_type" | "invalid_field" | "hello_required" | "unsupported_protocol" | "unauthorized" | "session_not_found" | "frame_too_large" | "rate_limited" | "permission_resolved" | "unavailable" | "internal";

export type BlockType = "text" | "thinking" | "tool_use";

export type TurnEndReason = "completed" | "interrupted" | "error";

export type SessionSummary = { sessionId: string, title: string, state: SessionState, running: boolean, lastSeq: number, 
/**
 * Milliseconds since the Unix epoch.
 */
updatedAt: number, };

export type ReconnectedSession = { sessionId: string, 
/**
 * How many events were replayed before this reply.
 */
replayed: number, state: SessionState, running: boolean, lastSeq: number, };

export type JsonValue = number | string | boolean | Array<JsonValue> | { [key in string]: JsonValue } | null;

export type ServerFrame = Reply | ServerEvent;

export type Reply = { "type": "welcome" } & Welcome | { "type": "sessions" } & Sessions | { "type": "session_switched" } & SessionSwitched | { "type": "session_cleared" } & SessionCleared | { "type": "session_created" } & SessionCreated | { "type": "ack" } & Ack | { "type": "reconnected" } & Reconnected | { "type": "watched" } & SessionId | { "type": "unwatched" } & SessionId | { "type": "pong" } & Pong | { "type": "error" } & ErrorReply;

export type ServerInfo = { name: string, version: string, };

export type Welcome = { protocol: number, connectionId: string, 
/**
 * Changes every time the server process starts.
 */
epoch: string, server: ServerInfo, };

export type Sessions = { sessions: Array<SessionSummary>, 
/**
 * The cursor of the following page (`list_sessions.before`); absent on the last page.
 */
next?: string | null, };

export type SessionSwitched = { sessionId: string, state: SessionState, running: boolean, lastSeq: number, title: string, };

export type SessionCleared = Record<symbol, never>;

export type SessionCreated = { sessionId: string, clientMsgId: string, };

export type Ack = { sessionId: string, clientMsgId: string, 
/**
 * The seq of the stored `user_message` this ack names.
 */
seq: number, duplicate: boolean, 
/**
 * Whether the session is running at the moment of the ack.
 */
running: boolean, };

export type Reconnected = { sessions: Array<ReconnectedSession>, };

export type SessionId = { sessionId: string, };

export type Pong = { nonce?: string | null, };

export type ErrorReply = { code: ErrorCode, message: string, sessionId?: string | null, ref?: string | null, };

export type ServerEvent = { sessionId: string, 
/**
 * Per session, dense, from 1.
 */
seq: number, 
/**
 * Milliseconds since the Unix epoch, when the server stored it.
 */
ts: number, } & ({ "type": "user_message" } & UserMessage | { "type": "turn_start" } & TurnStart | { "type": "message_start" } & MessageRef | { "type": "block_start" } & BlockStart | { "type": "block_delta" } & BlockDelta | { "type": "block_end" } & BlockEnd | { "type": "tool_result" } & ToolResult | { "type": "tool_update" } & ToolUpdate | { "type": "plan" } & Plan | { "type": "permission_request" } & PermissionRequest | { "type": "permission_resolved" } & PermissionResolved | { "type": "message_end" } & MessageRef | { "type": "turn_end" } & TurnEnd | { "type": "session_state" } & SessionStateChange);

export type EventKind = { "type": "user_message" } & UserMessage | { "type": "turn_start" } & TurnStart | { "type": "message_start" } & MessageRef | { "type": "block_start" } & BlockStart | { "type": "block_delta" } & BlockDelta | { "type": "block_end" } & BlockEnd | { "type": "tool_result" } & ToolResult | { "type": "tool_update" } & ToolUpdate | { "type": "plan" } & Plan | { "type": "permission_request" } & PermissionRequest | { "type": "permission_resolved" } & PermissionResolved | { "type": "message_end" } & MessageRef | { "type": "turn_end" } & TurnEnd | { "type": "session_state" } & SessionStateChange;

export type UserMessage = { messageId: string, text: string, };

export type TurnStart = { turnId: string, };

export type MessageRef = { messageId: string, };

export type BlockStart = { messageId: string, blockId: string, blockType: BlockType, toolName?: string | null, };

export type BlockDelta = { messageId: string, blockId: string, delta: string, };

export type BlockEnd = { messageId: string, blockId: string, input?: JsonValue | null, };

export type ToolResult = { messageId: string, toolId: string, result: JsonValue, isError: boolean, };

export type ToolUpdate = { messageId: string, 
/**
 * The `blockId` of its `tool_use` block.
 */
toolId: string, 
/**
 * pending, in_progress, completed or failed.
 */
status?: string | null, title?: string | null, 
/**
 * read, edit, delete, move, search, execute, think, fetch or other.
 */
kind?: string | null, content?: JsonValue | null, locations?: JsonValue | null, };

export type Plan = { entries: JsonValue, };

export type PermissionRequest = { 
/**
 * Made by the server (never the agent's JSON-RPC id).
 */
requestId: string, 
/**
 * The `blockId` of the tool call it is about.
 */
toolId?: string | null, title: string, options: JsonValue, content?: JsonValue | null, };

export type PermissionResolved = { requestId: string, 
/**
 * selected (an answer won), cancelled (interrupt, stop, close, or the turn ended) or
 * expired (the server restarted).
 */
outcome: string, 
/**
 * The option chosen (with `selected`).
 */
optionId?: string | null, 
/**
 * The `clientMsgId` of the answer that won.
 */
clientMsgId?: string | null, };

export type TurnEnd = { turnId: string, reason: TurnEndReason, error?: string | null, usage?: JsonValue | null, 
/**
 * The agent's own word for why it stopped (ACP's `stopReason`: `end_turn`, `max_tokens`,
 * `max_turn_requests`, `refusal`), when it gave one.
 */
stopReason?: string | null, };

export type SessionStateChange = { state: SessionState, previous: SessionState | null, reason: string, };

export type ClientFrame = { "type": "hello" } & HelloFrame | { "type": "list_sessions" } & ListSessionsFrame | { "type": "switch_session" } & SwitchSessionFrame | { "type": "send" } & SendFrame | { "type": "interrupt" } & InterruptFrame | { "type": "stop" } & SessionRef | { "type": "close_session" } & SessionRef | { "type": "suspend" } & SessionRef | { "type": "reconnect" } & ReconnectFrame | { "type": "watch" } & SessionRef | { "type": "unwatch" } & SessionRef | { "type": "ping" } & PingFrame | { "type": "respond_permission" } & RespondPermissionFrame;

export type HelloFrame = { protocol: number, token?: string | null, clientId?: string | null, };

export type ListSessionsFrame = { limit?: number | null, before?: string | null, };

export type SwitchSessionFrame = { sessionId: string | null, lastSeq?: number | null, };

export type SendFrame = { sessionId: string | null, clientMsgId: string, text: string, };

export type InterruptFrame = { sessionId: string, clientMsgId: string, text?: string | null, };

export type SessionRef = { sessionId: string, };

export type SessionCursor = { sessionId: string, lastSeq: number, };

export type ReconnectFrame = { sessions: Array<SessionCursor>, };

export type PingFrame = { nonce?: string | null, };

export type RespondPermissionFrame = { sessionId: string, clientMsgId: string, requestId: string, optionId: string, };

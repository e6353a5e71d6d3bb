//! Frames the server sends to clients (PROTOCOL.md §5): replies, which are not persisted, and
//! events, which are persisted and carry `sessionId`, `seq` and `ts`.

use super::{ErrorCode, ProtocolError, RawJson};
use crate::SessionState;
use serde::Serialize;

/// Any frame from the server: a reply to a request, or a persisted event of a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(untagged)]
pub enum ServerFrame {
    Reply(Reply),
    Event(Event),
}

impl ServerFrame {
    /// Every `type` string a server frame may have.
    pub const TYPES: &'static [&'static str] = &[
        "welcome",
        "sessions",
        "session_switched",
        "session_cleared",
        "session_created",
        "ack",
        "reconnected",
        "watched",
        "unwatched",
        "pong",
        "error",
        "user_message",
        "turn_start",
        "message_start",
        "block_start",
        "block_delta",
        "block_end",
        "tool_result",
        "tool_update",
        "plan",
        "permission_request",
        "permission_resolved",
        "message_end",
        "turn_end",
        "session_state",
    ];
}

frame_enum! {
    /// A reply: sent to one connection, never persisted. Only `ack` carries a `seq`.
    pub enum Reply {
        "welcome" => Welcome(Welcome),
        "sessions" => Sessions(Sessions),
        "session_switched" => SessionSwitched(SessionSwitched),
        "session_cleared" => SessionCleared(SessionCleared),
        "session_created" => SessionCreated(SessionCreated),
        "ack" => Ack(Ack),
        "reconnected" => Reconnected(Reconnected),
        "watched" => Watched(SessionId),
        "unwatched" => Unwatched(SessionId),
        "pong" => Pong(Pong),
        "error" => Error(ErrorReply),
    }
}

wire_struct! {
    /// The server's name and version, in `welcome`.
    #[derive(Eq)]
    pub struct ServerInfo {
        "name" name: String,
        "version" version: String,
    }
}

wire_struct! {
    /// `welcome`: the answer to `hello`.
    #[derive(Eq)]
    pub struct Welcome {
        "protocol" protocol: u32,
        "connectionId" connection_id: String,
        /// Changes every time the server process starts.
        "epoch" epoch: String,
        "server" server: ServerInfo,
    }
}

wire_struct! {
    /// One row of `sessions`.
    #[derive(Eq)]
    pub struct SessionSummary {
        "sessionId" session_id: String,
        "title" title: String,
        "state" state: SessionState,
        "running" running: bool,
        "lastSeq" last_seq: u64,
        /// Milliseconds since the Unix epoch.
        "updatedAt" updated_at: u64,
    }
}

wire_struct! {
    /// `sessions`: the answer to `list_sessions`, the caller's sessions only.
    #[derive(Eq)]
    pub struct Sessions {
        "sessions" sessions: Vec<SessionSummary>,
        /// The cursor of the following page (`list_sessions.before`); absent on the last page.
        "next" next: Option<String>,
    }
}

wire_struct! {
    /// `session_switched`: the answer to `switch_session`; replayed events follow it.
    #[derive(Eq)]
    pub struct SessionSwitched {
        "sessionId" session_id: String,
        "state" state: SessionState,
        "running" running: bool,
        "lastSeq" last_seq: u64,
        "title" title: String,
    }
}

wire_struct! {
    /// `session_cleared`: the answer to `switch_session` with `sessionId: null`.
    #[derive(Eq, Default)]
    pub struct SessionCleared {
    }
}

wire_struct! {
    /// `session_created`: a `send` with `sessionId: null` made this session.
    #[derive(Eq)]
    pub struct SessionCreated {
        "sessionId" session_id: String,
        "clientMsgId" client_msg_id: String,
    }
}

wire_struct! {
    /// `ack`: a `send` or `interrupt` was stored (or had been: `duplicate`).
    #[derive(Eq)]
    pub struct Ack {
        "sessionId" session_id: String,
        "clientMsgId" client_msg_id: String,
        /// The seq of the stored `user_message` this ack names.
        "seq" seq: u64,
        "duplicate" duplicate: bool,
        /// Whether the session is running at the moment of the ack.
        "running" running: bool,
    }
}

wire_struct! {
    /// One session of `reconnected`.
    #[derive(Eq)]
    pub struct ReconnectedSession {
        "sessionId" session_id: String,
        /// How many events were replayed before this reply.
        "replayed" replayed: u64,
        "state" state: SessionState,
        "running" running: bool,
        "lastSeq" last_seq: u64,
    }
}

wire_struct! {
    /// `reconnected`: the answer to `reconnect`, after the replays.
    #[derive(Eq)]
    pub struct Reconnected {
        "sessions" sessions: Vec<ReconnectedSession>,
    }
}

wire_struct! {
    /// The payload of `watched` and `unwatched`.
    #[derive(Eq)]
    pub struct SessionId {
        "sessionId" session_id: String,
    }
}

wire_struct! {
    /// `pong`: the answer to `ping`.
    #[derive(Eq, Default)]
    pub struct Pong {
        "nonce" nonce: Option<String>,
    }
}

wire_struct! {
    /// `error`: a request was refused. `ref` names the `clientMsgId` or frame type it answers.
    #[derive(Eq)]
    pub struct ErrorReply {
        "code" code: ErrorCode,
        "message" message: String,
        "sessionId" session_id: Option<String>,
        "ref" reference: Option<String>,
    }
}

impl ErrorReply {
    /// The reply for a refused frame.
    pub fn from_protocol_error(error: &ProtocolError, reference: Option<String>) -> Self {
        Self {
            code: error.code(),
            message: error.message().to_owned(),
            session_id: None,
            reference,
        }
    }
}

/// A persisted event of one session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "ServerEvent"))]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub session_id: String,
    /// Per session, dense, from 1.
    pub seq: u64,
    /// Milliseconds since the Unix epoch, when the server stored it.
    pub ts: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

frame_enum! {
    /// What happened in a session.
    pub enum EventKind {
        "user_message" => UserMessage(UserMessage),
        "turn_start" => TurnStart(TurnStart),
        "message_start" => MessageStart(MessageRef),
        "block_start" => BlockStart(BlockStart),
        "block_delta" => BlockDelta(BlockDelta),
        "block_end" => BlockEnd(BlockEnd),
        "tool_result" => ToolResult(ToolResult),
        "tool_update" => ToolUpdate(ToolUpdate),
        "plan" => Plan(Plan),
        "permission_request" => PermissionRequest(PermissionRequest),
        "permission_resolved" => PermissionResolved(PermissionResolved),
        "message_end" => MessageEnd(MessageRef),
        "turn_end" => TurnEnd(TurnEnd),
        "session_state" => SessionState(SessionStateChange),
    }
}

impl Event {
    /// Every `type` string an event may have.
    pub const TYPES: &'static [&'static str] = EventKind::TYPES;
}

wire_struct! {
    /// `user_message`: a user turn was accepted. `messageId` is the `clientMsgId`.
    #[derive(Eq)]
    pub struct UserMessage {
        "messageId" message_id: String,
        "text" text: String,
    }
}

wire_struct! {
    /// `turn_start`: a turn begins; the session is running.
    #[derive(Eq)]
    pub struct TurnStart {
        "turnId" turn_id: String,
    }
}

wire_struct! {
    /// The payload of `message_start` and `message_end`.
    #[derive(Eq)]
    pub struct MessageRef {
        "messageId" message_id: String,
    }
}

wire_unit_enum! {
    /// The kind of a content block.
    pub enum BlockType {
        "text" Text,
        "thinking" Thinking,
        "tool_use" ToolUse,
    }
}

wire_struct! {
    /// `block_start`: a content block of an assistant message begins.
    #[derive(Eq)]
    pub struct BlockStart {
        "messageId" message_id: String,
        "blockId" block_id: String,
        "blockType" block_type: BlockType,
        "toolName" tool_name: Option<String>,
    }
}

wire_struct! {
    /// `block_delta`: a chunk of a block's text.
    #[derive(Eq)]
    pub struct BlockDelta {
        "messageId" message_id: String,
        "blockId" block_id: String,
        "delta" delta: String,
    }
}

wire_struct! {
    /// `block_end`: a block is complete; a `tool_use` block carries its input here.
    pub struct BlockEnd {
        "messageId" message_id: String,
        "blockId" block_id: String,
        "input" input: Option<RawJson>,
    }
}

wire_struct! {
    /// `tool_result`: the result of the `tool_use` block whose `blockId` is `toolId`.
    pub struct ToolResult {
        "messageId" message_id: String,
        "toolId" tool_id: String,
        "result" result: RawJson,
        "isError" is_error: bool,
    }
}

wire_struct! {
    /// `tool_update`: a tool call's progress (PROTOCOL.md §5); a field left out is unchanged.
    /// `content` and `locations` are kept as the agent gave them (arrays of `{type:"text", text}`
    /// / `{type:"diff", path, oldText?, newText}` and of `{path, line?}`): the UI reads them,
    /// nothing in sessionwire looks inside.
    pub struct ToolUpdate {
        "messageId" message_id: String,
        /// The `blockId` of its `tool_use` block.
        "toolId" tool_id: String,
        /// pending, in_progress, completed or failed.
        "status" status: Option<String>,
        "title" title: Option<String>,
        /// read, edit, delete, move, search, execute, think, fetch or other.
        "kind" kind: Option<String>,
        "content" content: Option<RawJson>,
        "locations" locations: Option<RawJson>,
    }
}

wire_struct! {
    /// `plan`: the agent's plan, `[{content, priority, status}]`; each replaces the last.
    pub struct Plan {
        "entries" entries: RawJson,
    }
}

wire_struct! {
    /// `permission_request`: the agent waits for the user to allow a tool call (PROTOCOL.md §5.1).
    /// `options` is `[{optionId, name, kind}]` (kind: allow_once, allow_always, reject_once,
    /// reject_always) and `content` what would change, as in `tool_update`; the UI reads both.
    pub struct PermissionRequest {
        /// Made by the server (never the agent's JSON-RPC id).
        "requestId" request_id: String,
        /// The `blockId` of the tool call it is about.
        "toolId" tool_id: Option<String>,
        "title" title: String,
        "options" options: RawJson,
        "content" content: Option<RawJson>,
    }
}

wire_struct! {
    /// `permission_resolved`: a permission request is over; every tab dismisses it.
    #[derive(Eq)]
    pub struct PermissionResolved {
        "requestId" request_id: String,
        /// selected (an answer won), cancelled (interrupt, stop, close, or the turn ended) or
        /// expired (the server restarted).
        "outcome" outcome: String,
        /// The option chosen (with `selected`).
        "optionId" option_id: Option<String>,
        /// The `clientMsgId` of the answer that won.
        "clientMsgId" client_msg_id: Option<String>,
    }
}

wire_unit_enum! {
    /// Why a turn ended.
    pub enum TurnEndReason {
        "completed" Completed,
        "interrupted" Interrupted,
        "error" Error,
    }
}

wire_struct! {
    /// `turn_end`: the turn is over; a queued turn starts with its own `turn_start`.
    pub struct TurnEnd {
        "turnId" turn_id: String,
        "reason" reason: TurnEndReason,
        "error" error: Option<String>,
        "usage" usage: Option<RawJson>,
        /// The agent's own word for why it stopped (ACP's `stopReason`: `end_turn`, `max_tokens`,
        /// `max_turn_requests`, `refusal`), when it gave one.
        "stopReason" stop_reason: Option<String>,
    }
}

wire_struct! {
    /// `session_state`: a lifecycle change. `previous` is always sent, `null` for the first.
    #[derive(Eq)]
    pub struct SessionStateChange {
        "state" state: SessionState,
        nullable "previous" previous: Option<SessionState>,
        "reason" reason: String,
    }
}

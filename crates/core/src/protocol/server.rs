//! Frames the server sends to clients (PROTOCOL.md §5): replies, which are not persisted, and
//! events, which are persisted and carry `sessionId`, `seq` and `ts`.

use super::{client::nullable, ErrorCode, ProtocolError, RawJson};
use crate::SessionState;
use serde::{Deserialize, Serialize};

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

/// The server's name and version, in `welcome`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ServerInfo {
    pub name: String,
    pub version: String,
}

/// `welcome`: the answer to `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Welcome {
    pub protocol: u32,
    pub connection_id: String,
    /// Changes every time the server process starts.
    pub epoch: String,
    pub server: ServerInfo,
}

/// One row of `sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    pub session_id: String,
    pub title: String,
    pub state: SessionState,
    pub running: bool,
    pub last_seq: u64,
    /// Milliseconds since the Unix epoch.
    pub updated_at: u64,
}

/// `sessions`: the answer to `list_sessions`, the caller's sessions only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Sessions {
    pub sessions: Vec<SessionSummary>,
    /// The cursor of the following page (`list_sessions.before`); absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `session_switched`: the answer to `switch_session`; replayed events follow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SessionSwitched {
    pub session_id: String,
    pub state: SessionState,
    pub running: bool,
    pub last_seq: u64,
    pub title: String,
}

/// `session_cleared`: the answer to `switch_session` with `sessionId: null`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionCleared {}

/// `session_created`: a `send` with `sessionId: null` made this session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SessionCreated {
    pub session_id: String,
    pub client_msg_id: String,
}

/// `ack`: a `send` or `interrupt` was stored (or had been: `duplicate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Ack {
    pub session_id: String,
    pub client_msg_id: String,
    /// The seq of the stored `user_message` this ack names.
    pub seq: u64,
    pub duplicate: bool,
    /// Whether the session is running at the moment of the ack.
    pub running: bool,
}

/// One session of `reconnected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ReconnectedSession {
    pub session_id: String,
    /// How many events were replayed before this reply.
    pub replayed: u64,
    pub state: SessionState,
    pub running: bool,
    pub last_seq: u64,
}

/// `reconnected`: the answer to `reconnect`, after the replays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Reconnected {
    pub sessions: Vec<ReconnectedSession>,
}

/// The payload of `watched` and `unwatched`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SessionId {
    pub session_id: String,
}

/// `pong`: the answer to `ping`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Pong {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// `error`: a request was refused. `ref` names the `clientMsgId` or frame type it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ErrorReply {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
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

/// `user_message`: a user turn was accepted. `messageId` is the `clientMsgId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct UserMessage {
    pub message_id: String,
    pub text: String,
}

/// `turn_start`: a turn begins; the session is running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TurnStart {
    pub turn_id: String,
}

/// The payload of `message_start` and `message_end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct MessageRef {
    pub message_id: String,
}

/// The kind of a content block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum BlockType {
    Text,
    Thinking,
    ToolUse,
}

impl BlockType {
    /// The wire string, e.g. `"tool_use"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Thinking => "thinking",
            Self::ToolUse => "tool_use",
        }
    }
}

/// `block_start`: a content block of an assistant message begins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct BlockStart {
    pub message_id: String,
    pub block_id: String,
    pub block_type: BlockType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
}

/// `block_delta`: a chunk of a block's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct BlockDelta {
    pub message_id: String,
    pub block_id: String,
    pub delta: String,
}

/// `block_end`: a block is complete; a `tool_use` block carries its input here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct BlockEnd {
    pub message_id: String,
    pub block_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
    pub input: Option<RawJson>,
}

/// `tool_result`: the result of the `tool_use` block whose `blockId` is `toolId`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ToolResult {
    pub message_id: String,
    pub tool_id: String,
    #[cfg_attr(feature = "ts", ts(as = "serde_json::Value"))]
    pub result: RawJson,
    pub is_error: bool,
}

/// `tool_update`: a tool call's progress (PROTOCOL.md §5); a field left out is unchanged.
/// `content` and `locations` are kept as the agent gave them (arrays of `{type:"text", text}` /
/// `{type:"diff", path, oldText?, newText}` and of `{path, line?}`): the UI reads them, nothing in
/// sessionwire looks inside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ToolUpdate {
    pub message_id: String,
    /// The `blockId` of its `tool_use` block.
    pub tool_id: String,
    /// pending, in_progress, completed or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// read, edit, delete, move, search, execute, think, fetch or other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
    pub content: Option<RawJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
    pub locations: Option<RawJson>,
}

/// `plan`: the agent's plan, `[{content, priority, status}]`; each replaces the last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    #[cfg_attr(feature = "ts", ts(as = "serde_json::Value"))]
    pub entries: RawJson,
}

/// `permission_request`: the agent waits for the user to allow a tool call (PROTOCOL.md §5.1).
/// `options` is `[{optionId, name, kind}]` (kind: allow_once, allow_always, reject_once,
/// reject_always) and `content` what would change, as in `tool_update`; the UI reads both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PermissionRequest {
    /// Made by the server (never the agent's JSON-RPC id).
    pub request_id: String,
    /// The `blockId` of the tool call it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_id: Option<String>,
    pub title: String,
    #[cfg_attr(feature = "ts", ts(as = "serde_json::Value"))]
    pub options: RawJson,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
    pub content: Option<RawJson>,
}

/// `permission_resolved`: a permission request is over; every tab dismisses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PermissionResolved {
    pub request_id: String,
    /// selected (an answer won), cancelled (interrupt, stop, close, or the turn ended) or
    /// expired (the server restarted).
    pub outcome: String,
    /// The option chosen (with `selected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option_id: Option<String>,
    /// The `clientMsgId` of the answer that won.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
}

/// Why a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum TurnEndReason {
    Completed,
    Interrupted,
    Error,
}

impl TurnEndReason {
    /// The wire string, e.g. `"interrupted"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Interrupted => "interrupted",
            Self::Error => "error",
        }
    }
}

/// `turn_end`: the turn is over; a queued turn starts with its own `turn_start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TurnEnd {
    pub turn_id: String,
    pub reason: TurnEndReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
    pub usage: Option<RawJson>,
    /// The agent's own word for why it stopped (ACP's `stopReason`: `end_turn`, `max_tokens`,
    /// `max_turn_requests`, `refusal`), when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
}

/// `session_state`: a lifecycle change. `previous` is always sent, `null` for the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SessionStateChange {
    pub state: SessionState,
    #[serde(deserialize_with = "nullable")]
    pub previous: Option<SessionState>,
    pub reason: String,
}

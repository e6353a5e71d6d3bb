//! Frames the server sends to clients (PROTOCOL.md §5): replies, which are not persisted, and
//! events, which are persisted and carry `sessionId`, `seq` and `ts`.

use super::{client::nullable, decode, ErrorCode, ProtocolError};
use crate::SessionState;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// The fields every event has besides its kind; decoded on its own to name a bad one.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventHeader {
    session_id: String,
    seq: u64,
    ts: u64,
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
    pub input: Option<Value>,
}

/// `tool_result`: the result of the `tool_use` block whose `blockId` is `toolId`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ToolResult {
    pub message_id: String,
    pub tool_id: String,
    pub result: Value,
    pub is_error: bool,
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
    pub usage: Option<Value>,
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

/// The slow path's decoder: an event's header and kind, or a reply.
pub(super) fn decode_variant(kind: &str, value: &Value) -> Result<ServerFrame, ProtocolError> {
    if EventKind::TYPES.contains(&kind) {
        let header: EventHeader = decode(value)?;
        let kind = EventKind::decode_variant(kind, value)?;
        Ok(ServerFrame::Event(Event {
            session_id: header.session_id,
            seq: header.seq,
            ts: header.ts,
            kind,
        }))
    } else {
        Reply::decode_variant(kind, value).map(ServerFrame::Reply)
    }
}

/// Every field any event may have, in one flat struct: serde decodes a plain struct in one
/// pass without buffering, which is several times faster than an internally tagged enum. This
/// is the hot path of the client (every streamed `block_delta` comes through it).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FlatEvent<'a> {
    /// Borrowed from the frame text: the type is only compared, never kept.
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    session_id: Option<String>,
    seq: Option<u64>,
    ts: Option<u64>,
    message_id: Option<String>,
    block_id: Option<String>,
    delta: Option<String>,
    text: Option<String>,
    turn_id: Option<String>,
    block_type: Option<BlockType>,
    tool_name: Option<String>,
    input: Option<Value>,
    tool_id: Option<String>,
    result: Option<Value>,
    is_error: Option<bool>,
    reason: Option<String>,
    error: Option<String>,
    usage: Option<Value>,
    state: Option<SessionState>,
    #[serde(default, deserialize_with = "present")]
    previous: Option<Option<SessionState>>,
}

/// Tells a `null` (`Some(None)`) from an absent field (`None`, through `default`).
fn present<'de, D>(deserializer: D) -> Result<Option<Option<SessionState>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<SessionState>::deserialize(deserializer).map(Some)
}

impl FlatEvent<'_> {
    /// Builds the typed event, or `None` when a required field is missing (the slow path then
    /// names it).
    fn into_event(self) -> Option<Event> {
        let kind = match self.kind.as_ref() {
            "block_delta" => EventKind::BlockDelta(BlockDelta {
                message_id: self.message_id?,
                block_id: self.block_id?,
                delta: self.delta?,
            }),
            "user_message" => EventKind::UserMessage(UserMessage {
                message_id: self.message_id?,
                text: self.text?,
            }),
            "turn_start" => EventKind::TurnStart(TurnStart {
                turn_id: self.turn_id?,
            }),
            "message_start" => EventKind::MessageStart(MessageRef {
                message_id: self.message_id?,
            }),
            "block_start" => EventKind::BlockStart(BlockStart {
                message_id: self.message_id?,
                block_id: self.block_id?,
                block_type: self.block_type?,
                tool_name: self.tool_name,
            }),
            "block_end" => EventKind::BlockEnd(BlockEnd {
                message_id: self.message_id?,
                block_id: self.block_id?,
                input: self.input.filter(|input| !input.is_null()),
            }),
            "tool_result" => EventKind::ToolResult(ToolResult {
                message_id: self.message_id?,
                tool_id: self.tool_id?,
                // A JSON `null` result reads as absent here; the slow path accepts it as a value.
                result: self.result?,
                is_error: self.is_error?,
            }),
            "message_end" => EventKind::MessageEnd(MessageRef {
                message_id: self.message_id?,
            }),
            "turn_end" => EventKind::TurnEnd(TurnEnd {
                turn_id: self.turn_id?,
                reason: match self.reason?.as_str() {
                    "completed" => TurnEndReason::Completed,
                    "interrupted" => TurnEndReason::Interrupted,
                    "error" => TurnEndReason::Error,
                    _ => return None,
                },
                error: self.error,
                usage: self.usage.filter(|usage| !usage.is_null()),
            }),
            "session_state" => EventKind::SessionState(SessionStateChange {
                state: self.state?,
                previous: self.previous?,
                reason: self.reason?,
            }),
            _ => return None,
        };
        Some(Event {
            session_id: self.session_id?,
            seq: self.seq?,
            ts: self.ts?,
            kind,
        })
    }
}

/// The fast path: one typed pass for events, one for replies. `None` sends the frame to the
/// slow path, which either decodes it or names what is wrong.
pub(super) fn parse_fast(text: &str) -> Option<ServerFrame> {
    if let Ok(flat) = serde_json::from_str::<FlatEvent>(text) {
        if EventKind::TYPES.contains(&flat.kind.as_ref()) {
            return flat.into_event().map(ServerFrame::Event);
        }
    }
    serde_json::from_str::<Reply>(text)
        .ok()
        .map(ServerFrame::Reply)
}

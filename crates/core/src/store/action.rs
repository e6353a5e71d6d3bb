//! Actions: everything that can change the client state, as plain data (PROTOCOL.md §8).
//!
//! Server frames become actions through [`super::actions_for_frame`]; client calls (send,
//! switch, connection changes) become actions in [`super::Store`]; the reducer applies them.
//! Event actions carry the event's `sessionId` and `seq`, which the store uses to apply each
//! event at most once.

use crate::protocol::{
    BlockType, ErrorCode, RawJson, ReconnectedSession, SessionSummary, TurnEndReason,
};
use crate::SessionState;
use serde::{Deserialize, Serialize};

/// One change to the client state. Serialized as `{"type": "SET_RUNNING", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(
    tag = "type",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
pub enum Action {
    /// The transport opened; `hello` goes out next.
    ConnectionOpened,
    /// The transport closed or died; sends now wait in the outbox.
    ConnectionLost,
    /// `welcome`: the connection is open.
    Welcome {
        protocol: u32,
        connection_id: String,
        epoch: String,
    },
    /// `sessions`: a page of the caller's sessions, newest first; `next` is the cursor of the
    /// following page, absent on the last. A first page starts a listing, a page asked for with
    /// `before` adds to it, and the last page drops the sessions the listing did not name.
    SessionsListed {
        sessions: Vec<SessionSummary>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// The user asked to switch (`switchSession`): the cached conversation shows at once.
    SwitchRequested {
        session_id: Option<String>,
    },
    /// `session_switched`: the server watches the session and will replay what was missed.
    SessionSwitched {
        session_id: String,
        state: SessionState,
        last_seq: u64,
        title: String,
    },
    /// The server's word on `running` (from `session_switched`): the stale-spinner fix.
    SetRunning {
        session_id: String,
        running: bool,
    },
    /// `session_cleared`: no current session.
    SessionCleared,
    /// `session_created`: a send with `sessionId: null` made this session.
    SessionCreated {
        session_id: String,
        client_msg_id: String,
    },
    /// The user sent a message (optimistic: it shows at once, pending, and enters the outbox).
    UserSend {
        client_msg_id: String,
        session_id: Option<String>,
        text: String,
    },
    /// The user interrupted the current turn, optionally with a message to run next.
    UserInterrupt {
        client_msg_id: String,
        session_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// The user answered a permission request (`respondPermission`): the answer waits in the
    /// outbox until acked, like a send.
    PermissionResponse {
        client_msg_id: String,
        session_id: String,
        request_id: String,
        option_id: String,
    },
    /// `ack`: the server stored the request.
    Ack {
        session_id: String,
        client_msg_id: String,
        seq: u64,
        duplicate: bool,
        running: bool,
    },
    /// `reconnected`: replays are done; per-session state and running from the server.
    Reconnected {
        sessions: Vec<ReconnectedSession>,
    },
    /// `watched` / `unwatched` / `pong`: informational, no state change.
    Watched {
        session_id: String,
    },
    Unwatched {
        session_id: String,
    },
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
    },
    /// `error` from the server.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// An event arrived more than one seq ahead: it is held back; repair with `reconnect`.
    GapDetected {
        session_id: String,
        expected_seq: u64,
        received_seq: u64,
    },
    /// Forget a session's view to save memory; its `lastSeq` goes back to 0.
    SessionViewDropped {
        session_id: String,
    },
    /// Event `user_message`.
    UserMessageReceived {
        session_id: String,
        seq: u64,
        message_id: String,
        text: String,
    },
    /// Event `turn_start`.
    TurnStart {
        session_id: String,
        seq: u64,
        turn_id: String,
    },
    /// Event `message_start`.
    MessageStart {
        session_id: String,
        seq: u64,
        message_id: String,
    },
    /// Event `block_start`.
    BlockStart {
        session_id: String,
        seq: u64,
        message_id: String,
        block_id: String,
        block_type: BlockType,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_name: Option<String>,
    },
    /// Event `block_delta`.
    BlockDelta {
        session_id: String,
        seq: u64,
        message_id: String,
        block_id: String,
        delta: String,
    },
    /// Event `block_end`.
    BlockEnd {
        session_id: String,
        seq: u64,
        message_id: String,
        block_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
        input: Option<RawJson>,
    },
    /// Event `tool_result`.
    ToolResult {
        session_id: String,
        seq: u64,
        message_id: String,
        tool_id: String,
        #[cfg_attr(feature = "ts", ts(as = "serde_json::Value"))]
        result: RawJson,
        is_error: bool,
    },
    /// Event `tool_update`: a field left out is unchanged.
    ToolUpdate {
        session_id: String,
        seq: u64,
        message_id: String,
        tool_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
        content: Option<RawJson>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
        locations: Option<RawJson>,
    },
    /// Event `plan`: the session's plan is replaced.
    PlanUpdated {
        session_id: String,
        seq: u64,
        #[cfg_attr(feature = "ts", ts(as = "serde_json::Value"))]
        entries: RawJson,
    },
    /// Event `permission_request`: the request is pending until its `permission_resolved`.
    PermissionRequested {
        session_id: String,
        seq: u64,
        request_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_id: Option<String>,
        title: String,
        #[cfg_attr(feature = "ts", ts(as = "serde_json::Value"))]
        options: RawJson,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
        content: Option<RawJson>,
    },
    /// Event `permission_resolved`: the request is no longer pending.
    PermissionResolved {
        session_id: String,
        seq: u64,
        request_id: String,
        outcome: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        option_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<String>,
    },
    /// Event `message_end`.
    MessageEnd {
        session_id: String,
        seq: u64,
        message_id: String,
    },
    /// Event `turn_end`.
    TurnEnd {
        session_id: String,
        seq: u64,
        turn_id: String,
        reason: TurnEndReason,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Event `session_state`.
    SessionStateChanged {
        session_id: String,
        seq: u64,
        state: SessionState,
        previous: Option<SessionState>,
        reason: String,
    },
}

impl Action {
    /// For an event action, its session and seq (the store applies each at most once).
    pub fn event_position(&self) -> Option<(&str, u64)> {
        match self {
            Self::UserMessageReceived {
                session_id, seq, ..
            }
            | Self::TurnStart {
                session_id, seq, ..
            }
            | Self::MessageStart {
                session_id, seq, ..
            }
            | Self::BlockStart {
                session_id, seq, ..
            }
            | Self::BlockDelta {
                session_id, seq, ..
            }
            | Self::BlockEnd {
                session_id, seq, ..
            }
            | Self::ToolResult {
                session_id, seq, ..
            }
            | Self::ToolUpdate {
                session_id, seq, ..
            }
            | Self::PlanUpdated {
                session_id, seq, ..
            }
            | Self::PermissionRequested {
                session_id, seq, ..
            }
            | Self::PermissionResolved {
                session_id, seq, ..
            }
            | Self::MessageEnd {
                session_id, seq, ..
            }
            | Self::TurnEnd {
                session_id, seq, ..
            }
            | Self::SessionStateChanged {
                session_id, seq, ..
            } => Some((session_id, *seq)),
            _ => None,
        }
    }

    /// The `SCREAMING_SNAKE_CASE` name of this action.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ConnectionOpened => "CONNECTION_OPENED",
            Self::ConnectionLost => "CONNECTION_LOST",
            Self::Welcome { .. } => "WELCOME",
            Self::SessionsListed { .. } => "SESSIONS_LISTED",
            Self::SwitchRequested { .. } => "SWITCH_REQUESTED",
            Self::SessionSwitched { .. } => "SESSION_SWITCHED",
            Self::SetRunning { .. } => "SET_RUNNING",
            Self::SessionCleared => "SESSION_CLEARED",
            Self::SessionCreated { .. } => "SESSION_CREATED",
            Self::UserSend { .. } => "USER_SEND",
            Self::UserInterrupt { .. } => "USER_INTERRUPT",
            Self::PermissionResponse { .. } => "PERMISSION_RESPONSE",
            Self::Ack { .. } => "ACK",
            Self::Reconnected { .. } => "RECONNECTED",
            Self::Watched { .. } => "WATCHED",
            Self::Unwatched { .. } => "UNWATCHED",
            Self::Pong { .. } => "PONG",
            Self::Error { .. } => "ERROR",
            Self::GapDetected { .. } => "GAP_DETECTED",
            Self::SessionViewDropped { .. } => "SESSION_VIEW_DROPPED",
            Self::UserMessageReceived { .. } => "USER_MESSAGE_RECEIVED",
            Self::TurnStart { .. } => "TURN_START",
            Self::MessageStart { .. } => "MESSAGE_START",
            Self::BlockStart { .. } => "BLOCK_START",
            Self::BlockDelta { .. } => "BLOCK_DELTA",
            Self::BlockEnd { .. } => "BLOCK_END",
            Self::ToolResult { .. } => "TOOL_RESULT",
            Self::ToolUpdate { .. } => "TOOL_UPDATE",
            Self::PlanUpdated { .. } => "PLAN_UPDATED",
            Self::PermissionRequested { .. } => "PERMISSION_REQUESTED",
            Self::PermissionResolved { .. } => "PERMISSION_RESOLVED",
            Self::MessageEnd { .. } => "MESSAGE_END",
            Self::TurnEnd { .. } => "TURN_END",
            Self::SessionStateChanged { .. } => "SESSION_STATE_CHANGED",
        }
    }
}

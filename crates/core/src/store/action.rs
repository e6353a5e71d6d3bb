//! Actions: everything that can change the client state, as plain data (PROTOCOL.md §8).
//!
//! Server frames become actions through [`super::actions_for_frame`]; client calls (send,
//! switch, connection changes) become actions in [`super::Store`]; the reducer applies them.
//! Event actions carry the event's `sessionId` and `seq`, which the store uses to apply each
//! event at most once.

use crate::protocol::write::ToJson;
use crate::protocol::{
    BlockType, ErrorCode, RawJson, ReconnectedSession, SessionSummary, TurnEndReason,
};
use crate::SessionState;

wire_enum! {
    /// One change to the client state. Serialized as `{"type": "SET_RUNNING", ...}`.
    pub enum Action {
        /// The transport opened; `hello` goes out next.
        "CONNECTION_OPENED" ConnectionOpened {},
        /// The transport closed or died; sends now wait in the outbox.
        "CONNECTION_LOST" ConnectionLost {},
        /// `welcome`: the connection is open.
        "WELCOME" Welcome {
            "protocol" protocol: u32,
            "connectionId" connection_id: String,
            "epoch" epoch: String,
        },
        /// `sessions`: a page of the caller's sessions, newest first; `next` is the cursor of the
        /// following page, absent on the last. A first page starts a listing, a page asked for with
        /// `before` adds to it, and the last page drops the sessions the listing did not name.
        "SESSIONS_LISTED" SessionsListed {
            "sessions" sessions: Vec<SessionSummary>,
            "next" next: Option<String>,
        },
        /// The user asked to switch (`switchSession`): the cached conversation shows at once.
        "SWITCH_REQUESTED" SwitchRequested {
            nulled "sessionId" session_id: Option<String>,
        },
        /// `session_switched`: the server watches the session and will replay what was missed.
        "SESSION_SWITCHED" SessionSwitched {
            "sessionId" session_id: String,
            "state" state: SessionState,
            "lastSeq" last_seq: u64,
            "title" title: String,
        },
        /// The server's word on `running` (from `session_switched`): the stale-spinner fix.
        "SET_RUNNING" SetRunning {
            "sessionId" session_id: String,
            "running" running: bool,
        },
        /// `session_cleared`: no current session.
        "SESSION_CLEARED" SessionCleared {},
        /// `session_created`: a send with `sessionId: null` made this session.
        "SESSION_CREATED" SessionCreated {
            "sessionId" session_id: String,
            "clientMsgId" client_msg_id: String,
        },
        /// The user sent a message (optimistic: it shows at once, pending, and enters the outbox).
        "USER_SEND" UserSend {
            "clientMsgId" client_msg_id: String,
            nulled "sessionId" session_id: Option<String>,
            "text" text: String,
        },
        /// The user interrupted the current turn, optionally with a message to run next.
        "USER_INTERRUPT" UserInterrupt {
            "clientMsgId" client_msg_id: String,
            "sessionId" session_id: String,
            "text" text: Option<String>,
        },
        /// The user answered a permission request (`respondPermission`): the answer waits in the
        /// outbox until acked, like a send.
        "PERMISSION_RESPONSE" PermissionResponse {
            "clientMsgId" client_msg_id: String,
            "sessionId" session_id: String,
            "requestId" request_id: String,
            "optionId" option_id: String,
        },
        /// `ack`: the server stored the request.
        "ACK" Ack {
            "sessionId" session_id: String,
            "clientMsgId" client_msg_id: String,
            "seq" seq: u64,
            "duplicate" duplicate: bool,
            "running" running: bool,
        },
        /// `reconnected`: replays are done; per-session state and running from the server.
        "RECONNECTED" Reconnected {
            "sessions" sessions: Vec<ReconnectedSession>,
        },
        /// `watched` / `unwatched` / `pong`: informational, no state change.
        "WATCHED" Watched {
            "sessionId" session_id: String,
        },
        "UNWATCHED" Unwatched {
            "sessionId" session_id: String,
        },
        "PONG" Pong {
            "nonce" nonce: Option<String>,
        },
        /// `error` from the server.
        "ERROR" Error {
            "code" code: ErrorCode,
            "message" message: String,
            "sessionId" session_id: Option<String>,
            "ref" reference: Option<String>,
        },
        /// An event arrived more than one seq ahead: it is held back; repair with `reconnect`.
        "GAP_DETECTED" GapDetected {
            "sessionId" session_id: String,
            "expectedSeq" expected_seq: u64,
            "receivedSeq" received_seq: u64,
        },
        /// Forget a session's view to save memory; its `lastSeq` goes back to 0.
        "SESSION_VIEW_DROPPED" SessionViewDropped {
            "sessionId" session_id: String,
        },
        /// Event `user_message`.
        "USER_MESSAGE_RECEIVED" UserMessageReceived = UserMessage {
            "messageId" message_id: String,
            "text" text: String,
        },
        /// Event `turn_start`.
        "TURN_START" TurnStart = TurnStart {
            "turnId" turn_id: String,
        },
        /// Event `message_start`.
        "MESSAGE_START" MessageStart = MessageStart {
            "messageId" message_id: String,
        },
        /// Event `block_start`.
        "BLOCK_START" BlockStart = BlockStart {
            "messageId" message_id: String,
            "blockId" block_id: String,
            "blockType" block_type: BlockType,
            "toolName" tool_name: Option<String>,
        },
        /// Event `block_delta`.
        "BLOCK_DELTA" BlockDelta = BlockDelta {
            "messageId" message_id: String,
            "blockId" block_id: String,
            "delta" delta: String,
        },
        /// Event `block_end`.
        "BLOCK_END" BlockEnd = BlockEnd {
            "messageId" message_id: String,
            "blockId" block_id: String,
            "input" input: Option<RawJson>,
        },
        /// Event `tool_result`.
        "TOOL_RESULT" ToolResult = ToolResult {
            "messageId" message_id: String,
            "toolId" tool_id: String,
            "result" result: RawJson,
            "isError" is_error: bool,
        },
        /// Event `tool_update`: a field left out is unchanged.
        "TOOL_UPDATE" ToolUpdate = ToolUpdate {
            "messageId" message_id: String,
            "toolId" tool_id: String,
            "status" status: Option<String>,
            "title" title: Option<String>,
            "kind" kind: Option<String>,
            "content" content: Option<RawJson>,
            "locations" locations: Option<RawJson>,
        },
        /// Event `plan`: the session's plan is replaced.
        "PLAN_UPDATED" PlanUpdated = Plan {
            "entries" entries: RawJson,
        },
        /// Event `permission_request`: the request is pending until its `permission_resolved`.
        "PERMISSION_REQUESTED" PermissionRequested = PermissionRequest {
            "requestId" request_id: String,
            "toolId" tool_id: Option<String>,
            "title" title: String,
            "options" options: RawJson,
            "content" content: Option<RawJson>,
        },
        /// Event `permission_resolved`: the request is no longer pending.
        "PERMISSION_RESOLVED" PermissionResolved = PermissionResolved {
            "requestId" request_id: String,
            "outcome" outcome: String,
            "optionId" option_id: Option<String>,
            "clientMsgId" client_msg_id: Option<String>,
        },
        /// Event `message_end`.
        "MESSAGE_END" MessageEnd = MessageEnd {
            "messageId" message_id: String,
        },
        /// Event `turn_end`.
        "TURN_END" TurnEnd = TurnEnd {
            "turnId" turn_id: String,
            "reason" reason: TurnEndReason,
            "error" error: Option<String>,
            "stopReason" stop_reason: Option<String>,
        },
        /// Event `session_state`.
        "SESSION_STATE_CHANGED" SessionStateChanged = SessionState {
            "state" state: SessionState,
            nulled "previous" previous: Option<SessionState>,
            "reason" reason: String,
        },
    }
}

impl Action {
    /// `[this action]` as JSON, consuming it. The bindings hand the actions they make for their
    /// subscribers (`SWITCH_REQUESTED`, `USER_SEND`, …) over whole, so that only this crate has
    /// the code that drops an `Action`: a second copy of it in the bindings was 0.7 KB of Wasm.
    pub fn into_json_array(self) -> String {
        let mut out = String::new();
        [self].write_json(&mut out);
        out
    }
}

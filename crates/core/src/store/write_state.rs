//! [`ToJson`] for actions and the state snapshot: what crosses to JavaScript on every frame and
//! every `getState()`. Field order and skipped `None`s follow the serde attributes on the types
//! (checked by `tests/write_equivalence.rs`).

use super::action::Action;
use super::state::{
    Block, Connection, ErrorInfo, Message, MessageStatus, OutboxEntry, OutboxKind,
    PendingPermission, Role, SessionsSnapshot, Snapshot,
};
use crate::protocol::write::{json_as_str, Obj, ToJson};

impl Connection {
    /// The wire string, e.g. `"connecting"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Connecting => "connecting",
            Self::Open => "open",
        }
    }
}

impl Role {
    /// The wire string, e.g. `"assistant"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

impl MessageStatus {
    /// The wire string, e.g. `"streaming"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Streaming => "streaming",
            Self::Complete => "complete",
            Self::Interrupted => "interrupted",
            Self::Error => "error",
        }
    }
}

impl OutboxKind {
    /// The wire string, e.g. `"interrupt"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::Interrupt => "interrupt",
            Self::Permission => "permission",
        }
    }
}

json_as_str!(Connection, Role, MessageStatus, OutboxKind);

impl ToJson for Action {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::tagged(out, self.type_name());
        match self {
            Self::ConnectionOpened | Self::ConnectionLost | Self::SessionCleared => {}
            Self::Welcome {
                protocol,
                connection_id,
                epoch,
            } => {
                o.field("protocol", protocol)
                    .field("connectionId", connection_id)
                    .field("epoch", epoch);
            }
            Self::SessionsListed { sessions, next } => {
                o.field("sessions", sessions).some("next", next);
            }
            Self::Reconnected { sessions } => {
                o.field("sessions", sessions);
            }
            Self::SwitchRequested { session_id } => {
                o.field("sessionId", session_id);
            }
            Self::SessionSwitched {
                session_id,
                state,
                last_seq,
                title,
            } => {
                o.field("sessionId", session_id)
                    .field("state", state)
                    .field("lastSeq", last_seq)
                    .field("title", title);
            }
            Self::SetRunning {
                session_id,
                running,
            } => {
                o.field("sessionId", session_id).field("running", running);
            }
            Self::SessionCreated {
                session_id,
                client_msg_id,
            } => {
                o.field("sessionId", session_id)
                    .field("clientMsgId", client_msg_id);
            }
            Self::UserSend {
                client_msg_id,
                session_id,
                text,
            } => {
                o.field("clientMsgId", client_msg_id)
                    .field("sessionId", session_id)
                    .field("text", text);
            }
            Self::UserInterrupt {
                client_msg_id,
                session_id,
                text,
            } => {
                o.field("clientMsgId", client_msg_id)
                    .field("sessionId", session_id)
                    .some("text", text);
            }
            Self::PermissionResponse {
                client_msg_id,
                session_id,
                request_id,
                option_id,
            } => {
                o.field("clientMsgId", client_msg_id)
                    .field("sessionId", session_id)
                    .field("requestId", request_id)
                    .field("optionId", option_id);
            }
            Self::Ack {
                session_id,
                client_msg_id,
                seq,
                duplicate,
                running,
            } => {
                o.field("sessionId", session_id)
                    .field("clientMsgId", client_msg_id)
                    .field("seq", seq)
                    .field("duplicate", duplicate)
                    .field("running", running);
            }
            Self::Watched { session_id }
            | Self::Unwatched { session_id }
            | Self::SessionViewDropped { session_id } => {
                o.field("sessionId", session_id);
            }
            Self::Pong { nonce } => {
                o.some("nonce", nonce);
            }
            Self::Error {
                code,
                message,
                session_id,
                reference,
            } => {
                o.field("code", code)
                    .field("message", message)
                    .some("sessionId", session_id)
                    .some("ref", reference);
            }
            Self::GapDetected {
                session_id,
                expected_seq,
                received_seq,
            } => {
                o.field("sessionId", session_id)
                    .field("expectedSeq", expected_seq)
                    .field("receivedSeq", received_seq);
            }
            Self::UserMessageReceived {
                session_id,
                seq,
                message_id,
                text,
            } => {
                event(&mut o, session_id, *seq, "messageId", message_id).field("text", text);
            }
            Self::TurnStart {
                session_id,
                seq,
                turn_id,
            } => {
                event(&mut o, session_id, *seq, "turnId", turn_id);
            }
            Self::MessageStart {
                session_id,
                seq,
                message_id,
            }
            | Self::MessageEnd {
                session_id,
                seq,
                message_id,
            } => {
                event(&mut o, session_id, *seq, "messageId", message_id);
            }
            Self::BlockStart {
                session_id,
                seq,
                message_id,
                block_id,
                block_type,
                tool_name,
            } => {
                event(&mut o, session_id, *seq, "messageId", message_id)
                    .field("blockId", block_id)
                    .field("blockType", block_type)
                    .some("toolName", tool_name);
            }
            Self::BlockDelta {
                session_id,
                seq,
                message_id,
                block_id,
                delta,
            } => {
                event(&mut o, session_id, *seq, "messageId", message_id)
                    .field("blockId", block_id)
                    .field("delta", delta);
            }
            Self::BlockEnd {
                session_id,
                seq,
                message_id,
                block_id,
                input,
            } => {
                event(&mut o, session_id, *seq, "messageId", message_id)
                    .field("blockId", block_id)
                    .some("input", input);
            }
            Self::ToolResult {
                session_id,
                seq,
                message_id,
                tool_id,
                result,
                is_error,
            } => {
                event(&mut o, session_id, *seq, "messageId", message_id)
                    .field("toolId", tool_id)
                    .field("result", result)
                    .field("isError", is_error);
            }
            Self::ToolUpdate {
                session_id,
                seq,
                message_id,
                tool_id,
                status,
                title,
                kind,
                content,
                locations,
            } => {
                event(&mut o, session_id, *seq, "messageId", message_id)
                    .field("toolId", tool_id)
                    .some("status", status)
                    .some("title", title)
                    .some("kind", kind)
                    .some("content", content)
                    .some("locations", locations);
            }
            Self::PlanUpdated {
                session_id,
                seq,
                entries,
            } => {
                o.field("sessionId", session_id)
                    .field("seq", seq)
                    .field("entries", entries);
            }
            Self::PermissionRequested {
                session_id,
                seq,
                request_id,
                tool_id,
                title,
                options,
                content,
            } => {
                event(&mut o, session_id, *seq, "requestId", request_id)
                    .some("toolId", tool_id)
                    .field("title", title)
                    .field("options", options)
                    .some("content", content);
            }
            Self::PermissionResolved {
                session_id,
                seq,
                request_id,
                outcome,
                option_id,
                client_msg_id,
            } => {
                event(&mut o, session_id, *seq, "requestId", request_id)
                    .field("outcome", outcome)
                    .some("optionId", option_id)
                    .some("clientMsgId", client_msg_id);
            }
            Self::TurnEnd {
                session_id,
                seq,
                turn_id,
                reason,
                error,
            } => {
                event(&mut o, session_id, *seq, "turnId", turn_id)
                    .field("reason", reason)
                    .some("error", error);
            }
            Self::SessionStateChanged {
                session_id,
                seq,
                state,
                previous,
                reason,
            } => {
                o.field("sessionId", session_id)
                    .field("seq", seq)
                    .field("state", state)
                    .field("previous", previous)
                    .field("reason", reason);
            }
        }
        o.close();
    }
}

/// The fields every event action starts with: `sessionId`, `seq` and its first id field.
fn event<'o, 'a>(
    o: &'o mut Obj<'a>,
    session_id: &str,
    seq: u64,
    id_key: &str,
    id: &str,
) -> &'o mut Obj<'a> {
    o.field("sessionId", &session_id)
        .field("seq", &seq)
        .field(id_key, &id)
}

impl ToJson for Block {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::open(out);
        o.field("id", &self.id)
            .field("type", &self.block_type)
            .field("text", &self.text)
            .some("toolName", &self.tool_name)
            .some("input", &self.input)
            .some("result", &self.result)
            .some("isError", &self.is_error)
            .field("done", &self.done)
            .some("status", &self.status)
            .some("title", &self.title)
            .some("kind", &self.kind)
            .some("content", &self.content)
            .some("locations", &self.locations);
        o.close();
    }
}

impl ToJson for Message {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::open(out);
        o.field("id", &self.id)
            .field("role", &self.role)
            .field("status", &self.status)
            .field("text", &self.text)
            .field("blocks", &self.blocks);
        o.close();
    }
}

impl ToJson for OutboxEntry {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::open(out);
        o.field("clientMsgId", &self.client_msg_id)
            .field("sessionId", &self.session_id)
            .some("text", &self.text)
            .field("kind", &self.kind)
            .some("requestId", &self.request_id)
            .some("optionId", &self.option_id)
            .some("waitsFor", &self.waits_for);
        o.close();
    }
}

impl ToJson for PendingPermission {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::open(out);
        o.field("requestId", &self.request_id)
            .some("toolId", &self.tool_id)
            .field("title", &self.title)
            .field("options", &self.options)
            .some("content", &self.content);
        o.close();
    }
}

impl ToJson for ErrorInfo {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::open(out);
        o.field("code", &self.code)
            .field("message", &self.message)
            .some("sessionId", &self.session_id)
            .some("ref", &self.reference);
        o.close();
    }
}

impl ToJson for SessionsSnapshot<'_> {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::open(out);
        for (id, view) in self.views() {
            // Session ids are arbitrary strings: the key needs escaping, unlike our own names.
            super::patch::write_entry(o.raw_key(id), view);
        }
        o.close();
    }
}

impl ToJson for Snapshot<'_> {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::open(out);
        o.field("connection", &self.connection)
            .field("epoch", &self.epoch)
            .field("connectionId", &self.connection_id)
            .field("currentSessionId", &self.current_session_id)
            .field("running", &self.running)
            .field("sessionState", &self.session_state)
            .field("lastSeq", &self.last_seq)
            .field("messages", &self.messages)
            .field("plan", &self.plan)
            .field("pendingPermissions", &self.pending_permissions)
            .field("sessions", &self.sessions)
            .field("outbox", &self.outbox)
            .field("errors", &self.errors);
        o.close();
    }
}

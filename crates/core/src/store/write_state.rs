//! [`ToJson`] for actions and the state snapshot: what crosses to JavaScript on every frame and
//! every `getState()`. Field order and skipped `None`s follow the serde attributes on the types
//! (checked by `tests/write_equivalence.rs`).

use super::state::{
    Block, ErrorInfo, Message, OutboxEntry, PendingPermission, SessionsSnapshot, Snapshot,
};
use crate::protocol::write::{Obj, ToJson};

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

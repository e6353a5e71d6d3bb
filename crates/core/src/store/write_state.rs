//! [`ToJson`] for actions and the state snapshot: what crosses to JavaScript on every frame and
//! every `getState()`. Field order and skipped `None`s follow the serde attributes on the types
//! (checked by `tests/write_equivalence.rs`).

use super::state::{
    Block, ErrorInfo, Message, Mirrored, OutboxEntry, PendingPermission, SessionsSnapshot, Snapshot,
};
use crate::protocol::write::{write_str, Obj, ToJson};

/// A text as the snapshot reads it, or in a patch `null` when the snapshot holds it already
/// (see `Mirrored`).
struct Text<'a> {
    text: &'a str,
    mirrored: Mirrored,
    patch: bool,
}

impl ToJson for Text<'_> {
    fn write_json(&self, out: &mut String) {
        if self.patch && !self.text.is_empty() && self.mirrored.0 == self.text.len() {
            out.push_str("null");
        } else {
            write_str(out, self.text);
        }
    }
}

/// A message's blocks, as the snapshot reads them or for a patch.
struct Blocks<'a> {
    blocks: &'a [Block],
    patch: bool,
}

impl ToJson for Blocks<'_> {
    fn write_json(&self, out: &mut String) {
        out.push('[');
        for (n, block) in self.blocks.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            block.write(out, self.patch);
        }
        out.push(']');
    }
}

impl Block {
    fn write(&self, out: &mut String, patch: bool) {
        let text = Text {
            text: &self.text,
            mirrored: self.mirrored,
            patch,
        };
        let mut o = Obj::open(out);
        o.field("id", &self.id)
            .field("type", &self.block_type)
            .field("text", &text)
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

impl ToJson for Block {
    fn write_json(&self, out: &mut String) {
        self.write(out, false);
    }
}

impl Message {
    /// Writes the message as the snapshot reads it, or (`patch`) for a patch: texts the
    /// snapshot holds already are `null` (`src/transfer.js` keeps its own).
    fn write(&self, out: &mut String, patch: bool) {
        let text = Text {
            text: &self.text,
            mirrored: self.mirrored,
            patch,
        };
        let mut o = Obj::open(out);
        o.field("id", &self.id)
            .field("role", &self.role)
            .field("status", &self.status)
            .field("text", &text)
            .field(
                "blocks",
                &Blocks {
                    blocks: &self.blocks,
                    patch,
                },
            );
        o.close();
    }

    /// Writes the message for a patch (see [`Message::write`]); from now on the snapshot holds
    /// its texts as they are.
    pub(crate) fn write_patch(&mut self, out: &mut String) {
        self.write(out, true);
        self.mirrored = Mirrored(self.text.len());
        for block in &mut self.blocks {
            block.mirrored = Mirrored(block.text.len());
        }
    }
}

impl ToJson for Message {
    fn write_json(&self, out: &mut String) {
        self.write(out, false);
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

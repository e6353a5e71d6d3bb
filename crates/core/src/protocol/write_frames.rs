//! [`ToJson`] for every client and server frame: the frames the store sends and the frames
//! `parseServerFrame` hands to JavaScript. Field order and skipped `None`s follow the serde
//! attributes on the types (checked by `tests/write_equivalence.rs`).

use super::write::{json_as_str, Obj, ToJson};
use super::*;

json_as_str!(ErrorCode, crate::SessionState, BlockType, TurnEndReason);

/// Implements [`ToJson`] for a struct as an object of its fields, written by `fields`.
macro_rules! json_object {
    ($($ty:ty => |$v:ident, $o:ident| $body:block)*) => {
        $(impl WriteFields for $ty {
            fn write_fields(&self, $o: &mut Obj<'_>) {
                let $v = self;
                $body
            }
        }
        impl ToJson for $ty {
            fn write_json(&self, out: &mut String) {
                let mut obj = Obj::open(out);
                self.write_fields(&mut obj);
                obj.close();
            }
        })*
    };
}

/// A struct that writes its fields into an object opened by someone else (so an internally
/// tagged enum can put `type` first).
pub(crate) trait WriteFields {
    fn write_fields(&self, obj: &mut Obj<'_>);
}

/// Implements [`ToJson`] for an internally tagged frame enum (`{"type":..., fields...}`).
macro_rules! json_tagged {
    ($($ty:ty => [$($variant:ident),*])*) => {
        $(impl ToJson for $ty {
            fn write_json(&self, out: &mut String) {
                let payload: &dyn WriteFields = match self { $(Self::$variant(p) => p,)* };
                let mut obj = Obj::tagged(out, self.type_name());
                payload.write_fields(&mut obj);
                obj.close();
            }
        })*
    };
}

json_tagged! {
    ClientFrame => [Hello, ListSessions, SwitchSession, Send, Interrupt, Stop, CloseSession,
        Suspend, Reconnect, Watch, Unwatch, Ping, RespondPermission]
    Reply => [Welcome, Sessions, SessionSwitched, SessionCleared, SessionCreated, Ack,
        Reconnected, Watched, Unwatched, Pong, Error]
}

impl ToJson for Event {
    fn write_json(&self, out: &mut String) {
        let mut obj = Obj::open(out);
        obj.field("sessionId", &self.session_id)
            .field("seq", &self.seq)
            .field("ts", &self.ts)
            .field("type", &self.kind.type_name());
        let payload: &dyn WriteFields = match &self.kind {
            EventKind::UserMessage(p) => p,
            EventKind::TurnStart(p) => p,
            EventKind::MessageStart(p) | EventKind::MessageEnd(p) => p,
            EventKind::BlockStart(p) => p,
            EventKind::BlockDelta(p) => p,
            EventKind::BlockEnd(p) => p,
            EventKind::ToolResult(p) => p,
            EventKind::ToolUpdate(p) => p,
            EventKind::Plan(p) => p,
            EventKind::PermissionRequest(p) => p,
            EventKind::PermissionResolved(p) => p,
            EventKind::TurnEnd(p) => p,
            EventKind::SessionState(p) => p,
        };
        payload.write_fields(&mut obj);
        obj.close();
    }
}

impl ToJson for ServerFrame {
    fn write_json(&self, out: &mut String) {
        match self {
            Self::Reply(reply) => reply.write_json(out),
            Self::Event(event) => event.write_json(out),
        }
    }
}

json_object! {
    HelloFrame => |v, o| {
        o.field("protocol", &v.protocol).some("token", &v.token).some("clientId", &v.client_id);
    }
    ListSessionsFrame => |v, o| { o.some("limit", &v.limit).some("before", &v.before); }
    SwitchSessionFrame => |v, o| {
        o.field("sessionId", &v.session_id).some("lastSeq", &v.last_seq);
    }
    SendFrame => |v, o| {
        o.field("sessionId", &v.session_id)
            .field("clientMsgId", &v.client_msg_id)
            .field("text", &v.text);
    }
    InterruptFrame => |v, o| {
        o.field("sessionId", &v.session_id)
            .field("clientMsgId", &v.client_msg_id)
            .some("text", &v.text);
    }
    SessionRef => |v, o| { o.field("sessionId", &v.session_id); }
    SessionCursor => |v, o| {
        o.field("sessionId", &v.session_id).field("lastSeq", &v.last_seq);
    }
    ReconnectFrame => |v, o| { o.field("sessions", &v.sessions); }
    PingFrame => |v, o| { o.some("nonce", &v.nonce); }
    RespondPermissionFrame => |v, o| {
        o.field("sessionId", &v.session_id)
            .field("clientMsgId", &v.client_msg_id)
            .field("requestId", &v.request_id)
            .field("optionId", &v.option_id);
    }
    ServerInfo => |v, o| { o.field("name", &v.name).field("version", &v.version); }
    Welcome => |v, o| {
        o.field("protocol", &v.protocol)
            .field("connectionId", &v.connection_id)
            .field("epoch", &v.epoch)
            .field("server", &v.server);
    }
    SessionSummary => |v, o| {
        o.field("sessionId", &v.session_id)
            .field("title", &v.title)
            .field("state", &v.state)
            .field("running", &v.running)
            .field("lastSeq", &v.last_seq)
            .field("updatedAt", &v.updated_at);
    }
    Sessions => |v, o| { o.field("sessions", &v.sessions).some("next", &v.next); }
    SessionSwitched => |v, o| {
        o.field("sessionId", &v.session_id)
            .field("state", &v.state)
            .field("running", &v.running)
            .field("lastSeq", &v.last_seq)
            .field("title", &v.title);
    }
    SessionCleared => |_v, _o| {}
    SessionCreated => |v, o| {
        o.field("sessionId", &v.session_id).field("clientMsgId", &v.client_msg_id);
    }
    Ack => |v, o| {
        o.field("sessionId", &v.session_id)
            .field("clientMsgId", &v.client_msg_id)
            .field("seq", &v.seq)
            .field("duplicate", &v.duplicate)
            .field("running", &v.running);
    }
    ReconnectedSession => |v, o| {
        o.field("sessionId", &v.session_id)
            .field("replayed", &v.replayed)
            .field("state", &v.state)
            .field("running", &v.running)
            .field("lastSeq", &v.last_seq);
    }
    Reconnected => |v, o| { o.field("sessions", &v.sessions); }
    SessionId => |v, o| { o.field("sessionId", &v.session_id); }
    Pong => |v, o| { o.some("nonce", &v.nonce); }
    ErrorReply => |v, o| {
        o.field("code", &v.code)
            .field("message", &v.message)
            .some("sessionId", &v.session_id)
            .some("ref", &v.reference);
    }
    UserMessage => |v, o| { o.field("messageId", &v.message_id).field("text", &v.text); }
    TurnStart => |v, o| { o.field("turnId", &v.turn_id); }
    MessageRef => |v, o| { o.field("messageId", &v.message_id); }
    BlockStart => |v, o| {
        o.field("messageId", &v.message_id)
            .field("blockId", &v.block_id)
            .field("blockType", &v.block_type)
            .some("toolName", &v.tool_name);
    }
    BlockDelta => |v, o| {
        o.field("messageId", &v.message_id)
            .field("blockId", &v.block_id)
            .field("delta", &v.delta);
    }
    BlockEnd => |v, o| {
        o.field("messageId", &v.message_id)
            .field("blockId", &v.block_id)
            .some("input", &v.input);
    }
    ToolResult => |v, o| {
        o.field("messageId", &v.message_id)
            .field("toolId", &v.tool_id)
            .field("result", &v.result)
            .field("isError", &v.is_error);
    }
    ToolUpdate => |v, o| {
        o.field("messageId", &v.message_id)
            .field("toolId", &v.tool_id)
            .some("status", &v.status)
            .some("title", &v.title)
            .some("kind", &v.kind)
            .some("content", &v.content)
            .some("locations", &v.locations);
    }
    Plan => |v, o| {
        o.field("entries", &v.entries);
    }
    PermissionRequest => |v, o| {
        o.field("requestId", &v.request_id)
            .some("toolId", &v.tool_id)
            .field("title", &v.title)
            .field("options", &v.options)
            .some("content", &v.content);
    }
    PermissionResolved => |v, o| {
        o.field("requestId", &v.request_id)
            .field("outcome", &v.outcome)
            .some("optionId", &v.option_id)
            .some("clientMsgId", &v.client_msg_id);
    }
    TurnEnd => |v, o| {
        o.field("turnId", &v.turn_id)
            .field("reason", &v.reason)
            .some("error", &v.error)
            .some("usage", &v.usage)
            .some("stopReason", &v.stop_reason);
    }
    SessionStateChange => |v, o| {
        o.field("state", &v.state)
            .field("previous", &v.previous)
            .field("reason", &v.reason);
    }
}

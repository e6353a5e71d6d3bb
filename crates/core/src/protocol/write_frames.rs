//! [`ToJson`] for every client and server frame: the frames the store sends and the frames
//! `parseServerFrame` hands to JavaScript. Field order and skipped `None`s follow the serde
//! attributes on the types (checked by `tests/write_equivalence.rs`).

use super::write::{Obj, ToJson};
use super::*;

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

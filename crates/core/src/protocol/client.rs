//! Frames a client sends to the server (PROTOCOL.md §5, "Client to server").

use super::ProtocolError;
use serde::{Deserialize, Deserializer};

/// Deserializes a field that must be present but may be `null` (`sessionId` of `send` and
/// `switch_session`). Using `deserialize_with` turns off serde's "missing Option is None" rule,
/// so an absent field is still reported as `invalid_field`.
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

frame_enum! {
    /// One frame from a client. Unknown fields are ignored (forward compatibility); an optional
    /// field sent as `null` counts as absent.
    pub enum ClientFrame {
        "hello" => Hello(HelloFrame),
        "list_sessions" => ListSessions(ListSessionsFrame),
        "switch_session" => SwitchSession(SwitchSessionFrame),
        "send" => Send(SendFrame),
        "interrupt" => Interrupt(InterruptFrame),
        "stop" => Stop(SessionRef),
        "close_session" => CloseSession(SessionRef),
        "suspend" => Suspend(SessionRef),
        "reconnect" => Reconnect(ReconnectFrame),
        "watch" => Watch(SessionRef),
        "unwatch" => Unwatch(SessionRef),
        "ping" => Ping(PingFrame),
        "respond_permission" => RespondPermission(RespondPermissionFrame),
    }
}

wire_struct! {
    /// `hello`: the first frame of every connection.
    pub struct HelloFrame {
        "protocol" protocol: u32,
        "token" token: Option<String>,
        "clientId" client_id: Option<String>,
    }
}

wire_struct! {
    /// `list_sessions`: one page of the caller's sessions, newest `updatedAt` first. `limit`
    /// defaults to 100 and is at most 500; `before` is the `next` cursor of an earlier `sessions`.
    #[derive(Eq, Default)]
    pub struct ListSessionsFrame {
        "limit" limit: Option<u32>,
        "before" before: Option<String>,
    }
}

wire_struct! {
    /// `switch_session`: `sessionId: null` clears the current session.
    pub struct SwitchSessionFrame {
        nullable "sessionId" session_id: Option<String>,
        "lastSeq" last_seq: Option<u64>,
    }
}

wire_struct! {
    /// `send`: a user message; `sessionId: null` creates a session.
    pub struct SendFrame {
        nullable "sessionId" session_id: Option<String>,
        "clientMsgId" client_msg_id: String,
        "text" text: String,
    }
}

wire_struct! {
    /// `interrupt`: stop the current turn and, with `text`, run it next.
    pub struct InterruptFrame {
        "sessionId" session_id: String,
        "clientMsgId" client_msg_id: String,
        "text" text: Option<String>,
    }
}

wire_struct! {
    /// The payload of `stop`, `close_session`, `suspend`, `watch` and `unwatch`.
    #[derive(Eq)]
    pub struct SessionRef {
        "sessionId" session_id: String,
    }
}

wire_struct! {
    /// One session a reconnecting client holds, and the last seq it has of it.
    #[derive(Eq)]
    pub struct SessionCursor {
        "sessionId" session_id: String,
        "lastSeq" last_seq: u64,
    }
}

wire_struct! {
    /// `reconnect`: re-watch sessions and replay what was missed.
    #[derive(Eq)]
    pub struct ReconnectFrame {
        "sessions" sessions: Vec<SessionCursor>,
    }
}

wire_struct! {
    /// `ping`: the server answers `pong` with the same nonce.
    #[derive(Eq, Default)]
    pub struct PingFrame {
        "nonce" nonce: Option<String>,
    }
}

wire_struct! {
    /// `respond_permission`: answers an agent's permission request with one of its options
    /// (PROTOCOL.md §5.1); the first answer wins.
    #[derive(Eq)]
    pub struct RespondPermissionFrame {
        "sessionId" session_id: String,
        "clientMsgId" client_msg_id: String,
        "requestId" request_id: String,
        "optionId" option_id: String,
    }
}

/// The longest `clientMsgId` accepted (PROTOCOL.md §2).
pub const MAX_CLIENT_MSG_ID_LEN: usize = 128;

/// Checks a `clientMsgId`: 1 to 128 characters of `[A-Za-z0-9._:-]`.
pub fn validate_client_msg_id(id: &str) -> Result<(), ProtocolError> {
    let well_formed = !id.is_empty()
        && id.len() <= MAX_CLIENT_MSG_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if well_formed {
        Ok(())
    } else {
        Err(ProtocolError::invalid_field(
            "clientMsgId",
            "must be 1 to 128 characters of [A-Za-z0-9._:-]",
        ))
    }
}

impl ClientFrame {
    /// Checks what serde's types cannot: the `clientMsgId` alphabet and length.
    pub(crate) fn validate(&self) -> Result<(), ProtocolError> {
        match self {
            Self::Send(send) => validate_client_msg_id(&send.client_msg_id),
            Self::Interrupt(interrupt) => validate_client_msg_id(&interrupt.client_msg_id),
            Self::RespondPermission(answer) => validate_client_msg_id(&answer.client_msg_id),
            _ => Ok(()),
        }
    }

    /// The session a frame names, if any (for `error.sessionId`).
    pub fn session_id(&self) -> Option<&str> {
        match self {
            Self::SwitchSession(f) => f.session_id.as_deref(),
            Self::Send(f) => f.session_id.as_deref(),
            Self::Interrupt(f) => Some(&f.session_id),
            Self::RespondPermission(f) => Some(&f.session_id),
            Self::Stop(f)
            | Self::CloseSession(f)
            | Self::Suspend(f)
            | Self::Watch(f)
            | Self::Unwatch(f) => Some(&f.session_id),
            Self::Hello(_) | Self::ListSessions(_) | Self::Reconnect(_) | Self::Ping(_) => None,
        }
    }

    /// The `clientMsgId` of a `send`, `interrupt` or `respond_permission`, for `error.ref`.
    pub fn client_msg_id(&self) -> Option<&str> {
        match self {
            Self::Send(f) => Some(&f.client_msg_id),
            Self::Interrupt(f) => Some(&f.client_msg_id),
            Self::RespondPermission(f) => Some(&f.client_msg_id),
            _ => None,
        }
    }
}

//! Frames a client sends to the server (PROTOCOL.md §5, "Client to server").

use super::ProtocolError;
use serde::{Deserialize, Deserializer, Serialize};

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

/// `hello`: the first frame of every connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct HelloFrame {
    pub protocol: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// `list_sessions`: one page of the caller's sessions, newest `updatedAt` first. `limit`
/// defaults to 100 and is at most 500; `before` is the `next` cursor of an earlier `sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ListSessionsFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
}

/// `switch_session`: `sessionId: null` clears the current session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SwitchSessionFrame {
    #[serde(deserialize_with = "nullable")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
}

/// `send`: a user message; `sessionId: null` creates a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SendFrame {
    #[serde(deserialize_with = "nullable")]
    pub session_id: Option<String>,
    pub client_msg_id: String,
    pub text: String,
}

/// `interrupt`: stop the current turn and, with `text`, run it next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct InterruptFrame {
    pub session_id: String,
    pub client_msg_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The payload of `stop`, `close_session`, `suspend`, `watch` and `unwatch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SessionRef {
    pub session_id: String,
}

/// One session a reconnecting client holds, and the last seq it has of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SessionCursor {
    pub session_id: String,
    pub last_seq: u64,
}

/// `reconnect`: re-watch sessions and replay what was missed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReconnectFrame {
    pub sessions: Vec<SessionCursor>,
}

/// `ping`: the server answers `pong` with the same nonce.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PingFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// `respond_permission`: answers an agent's permission request with one of its options
/// (PROTOCOL.md §5.1); the first answer wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct RespondPermissionFrame {
    pub session_id: String,
    pub client_msg_id: String,
    pub request_id: String,
    pub option_id: String,
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

//! Decoders of the client frames' payloads (see `decode.rs` for the rules they keep). Each asks
//! for its fields in byte order of their keys, so the first bad field named is serde's.

use super::client::{
    HelloFrame, InterruptFrame, ListSessionsFrame, PingFrame, ReconnectFrame, SendFrame,
    SessionCursor, SessionRef, SwitchSessionFrame,
};
use super::decode::{DecodeError, Fields, FromJson, Path};
use super::json::Json;

impl FromJson for HelloFrame {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(
            json,
            path,
            "struct HelloFrame",
            &["protocol", "token", "clientId"],
        )?;
        let client_id = f.opt("clientId")?;
        let protocol = f.req("protocol")?;
        let token = f.opt("token")?;
        f.done(Self {
            protocol: f.need(protocol, "protocol")?,
            token,
            client_id,
        })
    }
}

impl FromJson for ListSessionsFrame {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(json, path, "struct ListSessionsFrame", &[])?;
        f.done(Self {})
    }
}

impl FromJson for SwitchSessionFrame {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(
            json,
            path,
            "struct SwitchSessionFrame",
            &["sessionId", "lastSeq"],
        )?;
        let last_seq = f.opt("lastSeq")?;
        let session_id = f.nullable("sessionId")?;
        f.done(Self {
            session_id: f.need(session_id, "sessionId")?,
            last_seq,
        })
    }
}

impl FromJson for SendFrame {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(
            json,
            path,
            "struct SendFrame",
            &["sessionId", "clientMsgId", "text"],
        )?;
        let client_msg_id = f.req("clientMsgId")?;
        let session_id = f.nullable("sessionId")?;
        let text = f.req("text")?;
        f.done(Self {
            session_id: f.need(session_id, "sessionId")?,
            client_msg_id: f.need(client_msg_id, "clientMsgId")?,
            text: f.need(text, "text")?,
        })
    }
}

impl FromJson for InterruptFrame {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(
            json,
            path,
            "struct InterruptFrame",
            &["sessionId", "clientMsgId", "text"],
        )?;
        let client_msg_id = f.req("clientMsgId")?;
        let session_id = f.req("sessionId")?;
        let text = f.opt("text")?;
        f.done(Self {
            session_id: f.need(session_id, "sessionId")?,
            client_msg_id: f.need(client_msg_id, "clientMsgId")?,
            text,
        })
    }
}

impl FromJson for SessionRef {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(json, path, "struct SessionRef", &["sessionId"])?;
        let session_id = f.req("sessionId")?;
        f.done(Self {
            session_id: f.need(session_id, "sessionId")?,
        })
    }
}

impl FromJson for SessionCursor {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(
            json,
            path,
            "struct SessionCursor",
            &["sessionId", "lastSeq"],
        )?;
        let last_seq = f.req("lastSeq")?;
        let session_id = f.req("sessionId")?;
        f.done(Self {
            session_id: f.need(session_id, "sessionId")?,
            last_seq: f.need(last_seq, "lastSeq")?,
        })
    }
}

impl FromJson for ReconnectFrame {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(json, path, "struct ReconnectFrame", &["sessions"])?;
        let sessions = f.req("sessions")?;
        f.done(Self {
            sessions: f.need(sessions, "sessions")?,
        })
    }
}

impl FromJson for PingFrame {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(json, path, "struct PingFrame", &["nonce"])?;
        let nonce = f.opt("nonce")?;
        f.done(Self { nonce })
    }
}

//! Decoders of the server frames' payloads and of the enums frames carry (see `decode.rs` for
//! the rules they keep). Each asks for its fields in byte order of their keys, so the first bad
//! field named is serde's.

use super::decode::{unit_enum, DecodeError, Fields, FromJson, Path};
use super::json::Json;
use super::server::{
    Ack, BlockDelta, BlockEnd, BlockStart, BlockType, ErrorReply, MessageRef, Pong, Reconnected,
    ReconnectedSession, ServerInfo, SessionCleared, SessionCreated, SessionId, SessionStateChange,
    SessionSummary, SessionSwitched, Sessions, ToolResult, TurnEnd, TurnEndReason, TurnStart,
    UserMessage, Welcome,
};
use super::ErrorCode;
use crate::SessionState;

impl FromJson for SessionState {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        const VARIANTS: [(&str, SessionState); 7] = [
            ("CREATED", SessionState::Created),
            ("STARTING", SessionState::Starting),
            ("ACTIVE", SessionState::Active),
            ("DETACHED", SessionState::Detached),
            ("SUSPENDED", SessionState::Suspended),
            ("CLOSING", SessionState::Closing),
            ("ENDED", SessionState::Ended),
        ];
        unit_enum(json, path, &VARIANTS)
    }
}

impl FromJson for BlockType {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        const VARIANTS: [(&str, BlockType); 3] = [
            ("text", BlockType::Text),
            ("thinking", BlockType::Thinking),
            ("tool_use", BlockType::ToolUse),
        ];
        unit_enum(json, path, &VARIANTS)
    }
}

impl FromJson for TurnEndReason {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        const VARIANTS: [(&str, TurnEndReason); 3] = [
            ("completed", TurnEndReason::Completed),
            ("interrupted", TurnEndReason::Interrupted),
            ("error", TurnEndReason::Error),
        ];
        unit_enum(json, path, &VARIANTS)
    }
}

impl FromJson for ErrorCode {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        const VARIANTS: [(&str, ErrorCode); 10] = [
            ("bad_frame", ErrorCode::BadFrame),
            ("unknown_type", ErrorCode::UnknownType),
            ("invalid_field", ErrorCode::InvalidField),
            ("hello_required", ErrorCode::HelloRequired),
            ("unsupported_protocol", ErrorCode::UnsupportedProtocol),
            ("unauthorized", ErrorCode::Unauthorized),
            ("session_not_found", ErrorCode::SessionNotFound),
            ("frame_too_large", ErrorCode::FrameTooLarge),
            ("rate_limited", ErrorCode::RateLimited),
            ("internal", ErrorCode::Internal),
        ];
        unit_enum(json, path, &VARIANTS)
    }
}

impl FromJson for ServerInfo {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(json, path, "struct ServerInfo", &["name", "version"])?;
        let name = f.req("name")?;
        let version = f.req("version")?;
        f.done(Self {
            name: f.need(name, "name")?,
            version: f.need(version, "version")?,
        })
    }
}

impl FromJson for Welcome {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        const ORDER: &[&str] = &["protocol", "connectionId", "epoch", "server"];
        let f = Fields::new(json, path, "struct Welcome", ORDER)?;
        let connection_id = f.req("connectionId")?;
        let epoch = f.req("epoch")?;
        let protocol = f.req("protocol")?;
        let server = f.req("server")?;
        f.done(Self {
            protocol: f.need(protocol, "protocol")?,
            connection_id: f.need(connection_id, "connectionId")?,
            epoch: f.need(epoch, "epoch")?,
            server: f.need(server, "server")?,
        })
    }
}

impl FromJson for SessionSummary {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        const ORDER: &[&str] = &[
            "sessionId",
            "title",
            "state",
            "running",
            "lastSeq",
            "updatedAt",
        ];
        let f = Fields::new(json, path, "struct SessionSummary", ORDER)?;
        let last_seq = f.req("lastSeq")?;
        let running = f.req("running")?;
        let session_id = f.req("sessionId")?;
        let state = f.req("state")?;
        let title = f.req("title")?;
        let updated_at = f.req("updatedAt")?;
        f.done(Self {
            session_id: f.need(session_id, "sessionId")?,
            title: f.need(title, "title")?,
            state: f.need(state, "state")?,
            running: f.need(running, "running")?,
            last_seq: f.need(last_seq, "lastSeq")?,
            updated_at: f.need(updated_at, "updatedAt")?,
        })
    }
}

impl FromJson for Sessions {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(json, path, "struct Sessions", &["sessions"])?;
        let sessions = f.req("sessions")?;
        f.done(Self {
            sessions: f.need(sessions, "sessions")?,
        })
    }
}

impl FromJson for SessionSwitched {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        const ORDER: &[&str] = &["sessionId", "state", "running", "lastSeq", "title"];
        let f = Fields::new(json, path, "struct SessionSwitched", ORDER)?;
        let last_seq = f.req("lastSeq")?;
        let running = f.req("running")?;
        let session_id = f.req("sessionId")?;
        let state = f.req("state")?;
        let title = f.req("title")?;
        f.done(Self {
            session_id: f.need(session_id, "sessionId")?,
            state: f.need(state, "state")?,
            running: f.need(running, "running")?,
            last_seq: f.need(last_seq, "lastSeq")?,
            title: f.need(title, "title")?,
        })
    }
}

impl FromJson for SessionCleared {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(json, path, "struct SessionCleared", &[])?;
        f.done(Self {})
    }
}

impl FromJson for SessionCreated {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(
            json,
            path,
            "struct SessionCreated",
            &["sessionId", "clientMsgId"],
        )?;
        let client_msg_id = f.req("clientMsgId")?;
        let session_id = f.req("sessionId")?;
        f.done(Self {
            session_id: f.need(session_id, "sessionId")?,
            client_msg_id: f.need(client_msg_id, "clientMsgId")?,
        })
    }
}

impl FromJson for Ack {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        const ORDER: &[&str] = &["sessionId", "clientMsgId", "seq", "duplicate", "running"];
        let f = Fields::new(json, path, "struct Ack", ORDER)?;
        let client_msg_id = f.req("clientMsgId")?;
        let duplicate = f.req("duplicate")?;
        let running = f.req("running")?;
        let seq = f.req("seq")?;
        let session_id = f.req("sessionId")?;
        f.done(Self {
            session_id: f.need(session_id, "sessionId")?,
            client_msg_id: f.need(client_msg_id, "clientMsgId")?,
            seq: f.need(seq, "seq")?,
            duplicate: f.need(duplicate, "duplicate")?,
            running: f.need(running, "running")?,
        })
    }
}

impl FromJson for ReconnectedSession {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        const ORDER: &[&str] = &["sessionId", "replayed", "state", "running", "lastSeq"];
        let f = Fields::new(json, path, "struct ReconnectedSession", ORDER)?;
        let last_seq = f.req("lastSeq")?;
        let replayed = f.req("replayed")?;
        let running = f.req("running")?;
        let session_id = f.req("sessionId")?;
        let state = f.req("state")?;
        f.done(Self {
            session_id: f.need(session_id, "sessionId")?,
            replayed: f.need(replayed, "replayed")?,
            state: f.need(state, "state")?,
            running: f.need(running, "running")?,
            last_seq: f.need(last_seq, "lastSeq")?,
        })
    }
}

impl FromJson for Reconnected {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(json, path, "struct Reconnected", &["sessions"])?;
        let sessions = f.req("sessions")?;
        f.done(Self {
            sessions: f.need(sessions, "sessions")?,
        })
    }
}

impl FromJson for SessionId {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(json, path, "struct SessionId", &["sessionId"])?;
        let session_id = f.req("sessionId")?;
        f.done(Self {
            session_id: f.need(session_id, "sessionId")?,
        })
    }
}

impl FromJson for Pong {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(json, path, "struct Pong", &["nonce"])?;
        let nonce = f.opt("nonce")?;
        f.done(Self { nonce })
    }
}

impl FromJson for ErrorReply {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        const ORDER: &[&str] = &["code", "message", "sessionId", "ref"];
        let f = Fields::new(json, path, "struct ErrorReply", ORDER)?;
        let code = f.req("code")?;
        let message = f.req("message")?;
        let reference = f.opt("ref")?;
        let session_id = f.opt("sessionId")?;
        f.done(Self {
            code: f.need(code, "code")?,
            message: f.need(message, "message")?,
            session_id,
            reference,
        })
    }
}

/// The fields every event has besides its kind, decoded before the kind (as serde did).
pub(super) fn event_header(json: &Json<'_>) -> Result<(String, u64, u64), DecodeError> {
    let f = Fields::new(
        json,
        Path::Root,
        "struct EventHeader",
        &["sessionId", "seq", "ts"],
    )?;
    let seq = f.req("seq")?;
    let session_id = f.req("sessionId")?;
    let ts = f.req("ts")?;
    f.done((
        f.need(session_id, "sessionId")?,
        f.need(seq, "seq")?,
        f.need(ts, "ts")?,
    ))
}

impl FromJson for UserMessage {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(json, path, "struct UserMessage", &["messageId", "text"])?;
        let message_id = f.req("messageId")?;
        let text = f.req("text")?;
        f.done(Self {
            message_id: f.need(message_id, "messageId")?,
            text: f.need(text, "text")?,
        })
    }
}

impl FromJson for TurnStart {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(json, path, "struct TurnStart", &["turnId"])?;
        let turn_id = f.req("turnId")?;
        f.done(Self {
            turn_id: f.need(turn_id, "turnId")?,
        })
    }
}

impl FromJson for MessageRef {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        let f = Fields::new(json, path, "struct MessageRef", &["messageId"])?;
        let message_id = f.req("messageId")?;
        f.done(Self {
            message_id: f.need(message_id, "messageId")?,
        })
    }
}

impl FromJson for BlockStart {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        const ORDER: &[&str] = &["messageId", "blockId", "blockType", "toolName"];
        let f = Fields::new(json, path, "struct BlockStart", ORDER)?;
        let block_id = f.req("blockId")?;
        let block_type = f.req("blockType")?;
        let message_id = f.req("messageId")?;
        let tool_name = f.opt("toolName")?;
        f.done(Self {
            message_id: f.need(message_id, "messageId")?,
            block_id: f.need(block_id, "blockId")?,
            block_type: f.need(block_type, "blockType")?,
            tool_name,
        })
    }
}

impl FromJson for BlockDelta {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        const ORDER: &[&str] = &["messageId", "blockId", "delta"];
        let f = Fields::new(json, path, "struct BlockDelta", ORDER)?;
        let block_id = f.req("blockId")?;
        let delta = f.req("delta")?;
        let message_id = f.req("messageId")?;
        f.done(Self {
            message_id: f.need(message_id, "messageId")?,
            block_id: f.need(block_id, "blockId")?,
            delta: f.need(delta, "delta")?,
        })
    }
}

impl FromJson for BlockEnd {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        const ORDER: &[&str] = &["messageId", "blockId", "input"];
        let f = Fields::new(json, path, "struct BlockEnd", ORDER)?;
        let block_id = f.req("blockId")?;
        let input = f.opt("input")?;
        let message_id = f.req("messageId")?;
        f.done(Self {
            message_id: f.need(message_id, "messageId")?,
            block_id: f.need(block_id, "blockId")?,
            input,
        })
    }
}

impl FromJson for ToolResult {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        const ORDER: &[&str] = &["messageId", "toolId", "result", "isError"];
        let f = Fields::new(json, path, "struct ToolResult", ORDER)?;
        let is_error = f.req("isError")?;
        let message_id = f.req("messageId")?;
        let result = f.req("result")?;
        let tool_id = f.req("toolId")?;
        f.done(Self {
            message_id: f.need(message_id, "messageId")?,
            tool_id: f.need(tool_id, "toolId")?,
            result: f.need(result, "result")?,
            is_error: f.need(is_error, "isError")?,
        })
    }
}

impl FromJson for TurnEnd {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        const ORDER: &[&str] = &["turnId", "reason", "error", "usage"];
        let f = Fields::new(json, path, "struct TurnEnd", ORDER)?;
        let error = f.opt("error")?;
        let reason = f.req("reason")?;
        let turn_id = f.req("turnId")?;
        let usage = f.opt("usage")?;
        f.done(Self {
            turn_id: f.need(turn_id, "turnId")?,
            reason: f.need(reason, "reason")?,
            error,
            usage,
        })
    }
}

impl FromJson for SessionStateChange {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        const ORDER: &[&str] = &["state", "previous", "reason"];
        let f = Fields::new(json, path, "struct SessionStateChange", ORDER)?;
        let previous = f.nullable("previous")?;
        let reason = f.req("reason")?;
        let state = f.req("state")?;
        f.done(Self {
            state: f.need(state, "state")?,
            previous: f.need(previous, "previous")?,
            reason: f.need(reason, "reason")?,
        })
    }
}

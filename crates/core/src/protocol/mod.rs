//! The wire protocol: every client and server frame of PROTOCOL.md §5, and their parsers.
//!
//! Parsing takes a fast path (one typed `serde_json` pass) and, only when that fails, a slow
//! path that re-reads the frame as a JSON value to name the precise error: `bad_frame`,
//! `unknown_type` or `invalid_field` with the field's name. Valid frames never pay for the
//! diagnosis, and no input can make either path panic.

#[macro_use]
mod macros;
mod client;
mod error;
mod server;

pub use client::{
    validate_client_msg_id, ClientFrame, HelloFrame, InterruptFrame, ListSessionsFrame, PingFrame,
    ReconnectFrame, SendFrame, SessionCursor, SessionRef, SwitchSessionFrame,
    MAX_CLIENT_MSG_ID_LEN,
};
pub use error::{ErrorCode, ProtocolError};
pub use server::{
    Ack, BlockDelta, BlockEnd, BlockStart, BlockType, ErrorReply, Event, EventKind, MessageRef,
    Pong, Reconnected, ReconnectedSession, Reply, ServerFrame, ServerInfo, SessionCleared,
    SessionCreated, SessionId, SessionStateChange, SessionSummary, SessionSwitched, Sessions,
    ToolResult, TurnEnd, TurnEndReason, TurnStart, UserMessage, Welcome,
};

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Parses one text frame sent by a client (the server's side of the wire).
pub fn parse_client_frame(text: &str) -> Result<ClientFrame, ProtocolError> {
    let frame = match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => frame,
        Err(_) => slow_path(text, ClientFrame::TYPES, ClientFrame::decode_variant)?,
    };
    frame.validate()?;
    Ok(frame)
}

/// Parses one text frame sent by the server (the client's side of the wire).
pub fn parse_server_frame(text: &str) -> Result<ServerFrame, ProtocolError> {
    match server::parse_fast(text) {
        Some(frame) => Ok(frame),
        None => slow_path(text, ServerFrame::TYPES, server::decode_variant),
    }
}

/// Serializes a frame to its wire text. Our frame types contain only strings, numbers, booleans
/// and JSON values, so serialization cannot fail.
pub fn encode<T: serde::Serialize>(frame: &T) -> String {
    serde_json::to_string(frame).unwrap_or_else(|error| {
        // Unreachable for the types of this module; kept total so callers never panic.
        format!(r#"{{"type":"error","code":"internal","message":"encode failed: {error}"}}"#)
    })
}

fn frame_type(value: &Value) -> Option<&str> {
    value.get("type").and_then(Value::as_str)
}

/// Decodes a frame that the fast path could not, checking in the order of PROTOCOL.md §1 so
/// that a bad frame gets its precise error. A frame the fast path merely found awkward (say, an
/// ignored extra field of an unexpected type) still decodes here.
fn slow_path<F>(
    text: &str,
    known_types: &[&str],
    decode_variant: impl Fn(&str, &Value) -> Result<F, ProtocolError>,
) -> Result<F, ProtocolError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|error| ProtocolError::bad_frame(format!("frame is not JSON: {error}")))?;
    if !value.is_object() {
        return Err(ProtocolError::bad_frame("frame is not a JSON object"));
    }
    let Some(kind) = frame_type(&value) else {
        return Err(ProtocolError::bad_frame("frame has no string field `type`"));
    };
    if !known_types.contains(&kind) {
        return Err(ProtocolError::unknown_type(kind));
    }
    decode_variant(kind, &value)
}

/// Decodes a JSON value into `T`, reporting the path of the first bad field.
pub(crate) fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, ProtocolError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner().to_string();
        let field = missing_field(&inner)
            .map(|name| {
                if path == "." {
                    name.to_owned()
                } else {
                    format!("{path}.{name}")
                }
            })
            .unwrap_or(path);
        ProtocolError::invalid_field(&field, &inner)
    })
}

/// serde reports a missing field as "missing field `name`" at the parent's path.
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

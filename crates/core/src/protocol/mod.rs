//! The wire protocol: every client and server frame of PROTOCOL.md §5, and their parsers.
//!
//! Parsing reads the text once into a borrowed JSON tree (`json.rs`), checks it in the order of
//! PROTOCOL.md §1 (`bad_frame`, `unknown_type`), then decodes the payload by hand
//! (`decode*.rs`), naming the exact bad field for `invalid_field`. No input can make it panic.
//! serde is used only to encode frames; its `Deserialize` impls stay on the types for callers
//! that want them, but parsing does not use them (they were most of the Wasm binary).

#[macro_use]
mod macros;
mod client;
/// The hand-written decoding helpers (not a stable API: public for the bindings' own inputs).
#[doc(hidden)]
pub mod decode;
mod decode_server;
mod error;
mod fast;
/// JSON floats: read and written here only, by std and zmij or by a codec the embedder installs.
pub mod floats;
/// The JSON reader (not a stable API: public for the bindings' own inputs).
#[doc(hidden)]
pub mod json;
mod raw_json;
mod server;
/// The field tables wire structs are decoded by (not a stable API: public for the tests, which
/// build their corpus from the declarations).
#[doc(hidden)]
pub mod table;
/// The JSON writer for what the core hands out as text (frames, actions, the snapshot).
pub mod write;
mod write_frames;

pub use client::{
    validate_client_msg_id, ClientFrame, HelloFrame, InterruptFrame, ListSessionsFrame, PingFrame,
    ReconnectFrame, RespondPermissionFrame, SendFrame, SessionCursor, SessionRef,
    SwitchSessionFrame, MAX_CLIENT_MSG_ID_LEN,
};
pub use error::{ErrorCode, ProtocolError};
pub use fast::{BlockDeltaRef, ParsedFrame};
pub use raw_json::RawJson;
pub use server::{
    Ack, BlockDelta, BlockEnd, BlockStart, BlockType, ErrorReply, Event, EventKind, MessageRef,
    PermissionRequest, PermissionResolved, Plan, Pong, Reconnected, ReconnectedSession, Reply,
    ServerFrame, ServerInfo, SessionCleared, SessionCreated, SessionId, SessionStateChange,
    SessionSummary, SessionSwitched, Sessions, ToolResult, ToolUpdate, TurnEnd, TurnEndReason,
    TurnStart, UserMessage, Welcome,
};

use json::Json;
pub use write::{to_json, ToJson};

/// Parses one text frame sent by a client (the server's side of the wire).
pub fn parse_client_frame(text: &str) -> Result<ClientFrame, ProtocolError> {
    let (json, kind) = read_frame(text, ClientFrame::TYPES)?;
    let frame = ClientFrame::decode_variant(kind, &json)?;
    frame.validate()?;
    Ok(frame)
}

/// Parses one text frame sent by the server (the client's side of the wire).
pub fn parse_server_frame(text: &str) -> Result<ServerFrame, ProtocolError> {
    if let Some(delta) = fast::block_delta(text) {
        return Ok(delta.to_frame());
    }
    parse_server_frame_general(text)
}

/// The general parser of server frames: any frame, every error (the fast path's reference).
fn parse_server_frame_general(text: &str) -> Result<ServerFrame, ProtocolError> {
    let (json, kind) = read_frame(text, ServerFrame::TYPES)?;
    decode_server_frame(&json, kind)
}

/// Parses a server frame like [`parse_server_frame`], leaving a `block_delta` borrowed from
/// `text` when it can (the fast path's [`BlockDeltaRef`]): the Wasm bindings hand its strings
/// back to JavaScript as slices of the frame string it already holds.
#[cfg_attr(sessionwire_size, optimize(speed))]
pub fn parse_server_frame_in_place(text: &str) -> Result<ParsedFrame<'_>, ProtocolError> {
    if let Some(delta) = fast::block_delta(text) {
        return Ok(ParsedFrame::Delta(delta));
    }
    parse_server_frame_general(text).map(ParsedFrame::Frame)
}

/// The frame a parsed tree of a known `kind` stands for.
fn decode_server_frame(json: &Json<'_>, kind: &'static str) -> Result<ServerFrame, ProtocolError> {
    if EventKind::TYPES.contains(&kind) {
        let (session_id, seq, ts) = decode_server::event_header(json)?;
        let kind = EventKind::decode_variant(kind, json)?;
        Ok(ServerFrame::Event(Event {
            session_id,
            seq,
            ts,
            kind,
        }))
    } else {
        Reply::decode_variant(kind, json).map(ServerFrame::Reply)
    }
}

/// Serializes a frame to its wire text. Our frame types contain only strings, numbers, booleans
/// and JSON values, so serialization cannot fail.
#[allow(clippy::disallowed_macros)] // the server's encoder (serde): the package never calls it
pub fn encode<T: serde::Serialize>(frame: &T) -> String {
    serde_json::to_string(frame).unwrap_or_else(|error| {
        // Unreachable for the types of this module; kept total so callers never panic.
        format!(r#"{{"type":"error","code":"internal","message":"encode failed: {error}"}}"#)
    })
}

/// Reads a frame's JSON and its `type`, checking in the order of PROTOCOL.md §1 so that a bad
/// frame gets its precise error. The `type` is returned as the matching entry of `known_types`
/// (a `'static` string, so the tree can be borrowed again to decode the payload).
fn read_frame<'a>(
    text: &'a str,
    known_types: &[&'static str],
) -> Result<(Json<'a>, &'static str), ProtocolError> {
    let json = json::parse(text).map_err(|error| {
        ProtocolError::bad_frame(write::concat(&["frame is not JSON: ", &error.message()]))
    })?;
    if !matches!(json, Json::Object(_)) {
        return Err(ProtocolError::bad_frame("frame is not a JSON object"));
    }
    let Some(Json::String(kind)) = json.get("type") else {
        return Err(ProtocolError::bad_frame("frame has no string field `type`"));
    };
    match known_types.iter().find(|known| **known == kind.as_ref()) {
        Some(known) => Ok((json, known)),
        None => Err(ProtocolError::unknown_type(kind)),
    }
}

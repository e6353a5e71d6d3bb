//! Decoders of the enums server frames carry, and of an event's header. The payload structs'
//! decoders are derived from their declarations (`wire_struct!` in `server.rs`).

use super::decode::{unit_enum, DecodeError, FromJson, Path};
use super::json::Json;
use super::server::{BlockType, TurnEndReason};
use super::table::{self, Kind, Need, Table};
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
        const VARIANTS: [(&str, ErrorCode); 12] = [
            ("bad_frame", ErrorCode::BadFrame),
            ("unknown_type", ErrorCode::UnknownType),
            ("invalid_field", ErrorCode::InvalidField),
            ("hello_required", ErrorCode::HelloRequired),
            ("unsupported_protocol", ErrorCode::UnsupportedProtocol),
            ("unauthorized", ErrorCode::Unauthorized),
            ("session_not_found", ErrorCode::SessionNotFound),
            ("frame_too_large", ErrorCode::FrameTooLarge),
            ("rate_limited", ErrorCode::RateLimited),
            ("permission_resolved", ErrorCode::PermissionResolved),
            ("unavailable", ErrorCode::Unavailable),
            ("internal", ErrorCode::Internal),
        ];
        unit_enum(json, path, &VARIANTS)
    }
}

/// The fields every event has besides its kind, decoded before the kind (as serde did).
pub(super) fn event_header(json: &Json<'_>) -> Result<(String, u64, u64), DecodeError> {
    const TABLE: Table = Table::new(&[
        ("sessionId", Kind::Str, Need::Req),
        ("seq", Kind::U64, Need::Req),
        ("ts", Kind::U64, Need::Req),
    ]);
    let mut s = table::decode(json, Path::Root, "struct EventHeader", &TABLE)?;
    Ok((s.req(), s.req(), s.req()))
}

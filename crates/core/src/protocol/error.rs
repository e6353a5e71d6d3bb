//! Protocol errors and the stable error codes of PROTOCOL.md §6.

use super::write::concat;
use std::fmt;

wire_unit_enum! {
    /// The stable error codes of PROTOCOL.md §6, as they appear on the wire and on JS `Error.code`.
    #[derive(Hash)]
    pub enum ErrorCode {
        "bad_frame" BadFrame,
        "unknown_type" UnknownType,
        "invalid_field" InvalidField,
        "hello_required" HelloRequired,
        "unsupported_protocol" UnsupportedProtocol,
        "unauthorized" Unauthorized,
        "session_not_found" SessionNotFound,
        "frame_too_large" FrameTooLarge,
        "rate_limited" RateLimited,
        /// A later answer to a permission request that was already answered (§5.1).
        "permission_resolved" PermissionResolved,
        /// Storage is failing or full: retry later (the client keeps the frame in its outbox).
        "unavailable" Unavailable,
        "internal" Internal,
    }
}

/// Why a frame was refused: a stable [`ErrorCode`] plus a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    code: ErrorCode,
    message: String,
    field: Option<String>,
}

impl ProtocolError {
    /// A new error with any code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// Not JSON, not an object, no string `type`, or a binary frame.
    pub fn bad_frame(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadFrame, message)
    }

    /// A `type` this protocol version does not know.
    pub fn unknown_type(kind: &str) -> Self {
        Self::new(
            ErrorCode::UnknownType,
            concat(&["unknown frame type `", kind, "`"]),
        )
    }

    /// A missing or ill-typed field; the message names it.
    pub fn invalid_field(field: &str, problem: &str) -> Self {
        Self {
            code: ErrorCode::InvalidField,
            message: concat(&["invalid field `", field, "`: ", problem]),
            field: Some(field.to_owned()),
        }
    }

    /// The stable code of PROTOCOL.md §6.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// A sentence for people; it names the field for `invalid_field`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The bad field's path for `invalid_field` (e.g. `clientMsgId`, `sessions[0].lastSeq`).
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ProtocolError {}

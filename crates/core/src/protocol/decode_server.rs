//! Decoders of the server frames' payloads, one table each (see `table.rs` for the loop and
//! `decode.rs` for the rules it keeps), listed in declaration order; and of the enums frames
//! carry.

use super::decode::{unit_enum, DecodeError, FromJson, Path};
use super::json::Json;
use super::server::{
    Ack, BlockDelta, BlockEnd, BlockStart, BlockType, ErrorReply, MessageRef, PermissionRequest,
    PermissionResolved, Plan, Pong, Reconnected, ReconnectedSession, ServerInfo, SessionCleared,
    SessionCreated, SessionId, SessionStateChange, SessionSummary, SessionSwitched, Sessions,
    ToolResult, ToolUpdate, TurnEnd, TurnEndReason, TurnStart, UserMessage, Welcome,
};
use super::table::{self, table_struct, Kind, Need, Table};
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

table_struct!(ServerInfo, "struct ServerInfo", ["name" => Str Req, "version" => Str Req],
    |s| Self { name: s.str(0), version: s.str(1) });

table_struct!(Welcome, "struct Welcome",
    ["protocol" => U32 Req, "connectionId" => Str Req, "epoch" => Str Req,
        "server" => Server Req],
    |s| Self { protocol: s.u32(0), connection_id: s.str(1), epoch: s.str(2),
        server: s.server(3) });

table_struct!(SessionSummary, "struct SessionSummary",
    ["sessionId" => Str Req, "title" => Str Req, "state" => State Req, "running" => Bool Req,
        "lastSeq" => U64 Req, "updatedAt" => U64 Req],
    |s| Self { session_id: s.str(0), title: s.str(1), state: s.state(2), running: s.bool(3),
        last_seq: s.u64(4), updated_at: s.u64(5) });

table_struct!(Sessions, "struct Sessions", ["sessions" => Summaries Req, "next" => Str Opt],
    |s| Self { sessions: s.summaries(0), next: s.opt_str(1) });

table_struct!(SessionSwitched, "struct SessionSwitched",
    ["sessionId" => Str Req, "state" => State Req, "running" => Bool Req,
        "lastSeq" => U64 Req, "title" => Str Req],
    |s| Self { session_id: s.str(0), state: s.state(1), running: s.bool(2),
        last_seq: s.u64(3), title: s.str(4) });

table_struct!(SessionCleared, "struct SessionCleared", [], |s| Self {});

table_struct!(SessionCreated, "struct SessionCreated",
    ["sessionId" => Str Req, "clientMsgId" => Str Req],
    |s| Self { session_id: s.str(0), client_msg_id: s.str(1) });

table_struct!(Ack, "struct Ack",
    ["sessionId" => Str Req, "clientMsgId" => Str Req, "seq" => U64 Req,
        "duplicate" => Bool Req, "running" => Bool Req],
    |s| Self { session_id: s.str(0), client_msg_id: s.str(1), seq: s.u64(2),
        duplicate: s.bool(3), running: s.bool(4) });

table_struct!(ReconnectedSession, "struct ReconnectedSession",
    ["sessionId" => Str Req, "replayed" => U64 Req, "state" => State Req,
        "running" => Bool Req, "lastSeq" => U64 Req],
    |s| Self { session_id: s.str(0), replayed: s.u64(1), state: s.state(2),
        running: s.bool(3), last_seq: s.u64(4) });

table_struct!(Reconnected, "struct Reconnected", ["sessions" => Reconnected Req],
    |s| Self { sessions: s.reconnected(0) });

table_struct!(SessionId, "struct SessionId", ["sessionId" => Str Req],
    |s| Self { session_id: s.str(0) });

table_struct!(Pong, "struct Pong", ["nonce" => Str Opt], |s| Self { nonce: s.opt_str(0) });

table_struct!(ErrorReply, "struct ErrorReply",
    ["code" => Code Req, "message" => Str Req, "sessionId" => Str Opt, "ref" => Str Opt],
    |s| Self { code: s.code(0), message: s.str(1), session_id: s.opt_str(2),
        reference: s.opt_str(3) });

/// The fields every event has besides its kind, decoded before the kind (as serde did).
pub(super) fn event_header(json: &Json<'_>) -> Result<(String, u64, u64), DecodeError> {
    const TABLE: Table = Table::new(&[
        ("sessionId", Kind::Str, Need::Req),
        ("seq", Kind::U64, Need::Req),
        ("ts", Kind::U64, Need::Req),
    ]);
    let mut s = table::decode(json, Path::Root, "struct EventHeader", &TABLE)?;
    Ok((s.str(0), s.u64(1), s.u64(2)))
}

table_struct!(UserMessage, "struct UserMessage", ["messageId" => Str Req, "text" => Str Req],
    |s| Self { message_id: s.str(0), text: s.str(1) });

table_struct!(TurnStart, "struct TurnStart", ["turnId" => Str Req],
    |s| Self { turn_id: s.str(0) });

table_struct!(MessageRef, "struct MessageRef", ["messageId" => Str Req],
    |s| Self { message_id: s.str(0) });

table_struct!(BlockStart, "struct BlockStart",
    ["messageId" => Str Req, "blockId" => Str Req, "blockType" => BlockType Req,
        "toolName" => Str Opt],
    |s| Self { message_id: s.str(0), block_id: s.str(1), block_type: s.block_type(2),
        tool_name: s.opt_str(3) });

table_struct!(BlockDelta, "struct BlockDelta",
    ["messageId" => Str Req, "blockId" => Str Req, "delta" => Str Req],
    |s| Self { message_id: s.str(0), block_id: s.str(1), delta: s.str(2) });

table_struct!(BlockEnd, "struct BlockEnd",
    ["messageId" => Str Req, "blockId" => Str Req, "input" => Value Opt],
    |s| Self { message_id: s.str(0), block_id: s.str(1), input: s.opt_value(2) });

table_struct!(ToolResult, "struct ToolResult",
    ["messageId" => Str Req, "toolId" => Str Req, "result" => Value Req,
        "isError" => Bool Req],
    |s| Self { message_id: s.str(0), tool_id: s.str(1), result: s.value(2),
        is_error: s.bool(3) });

table_struct!(ToolUpdate, "struct ToolUpdate",
    ["messageId" => Str Req, "toolId" => Str Req, "status" => Str Opt, "title" => Str Opt,
        "kind" => Str Opt, "content" => Value Opt, "locations" => Value Opt],
    |s| Self { message_id: s.str(0), tool_id: s.str(1), status: s.opt_str(2),
        title: s.opt_str(3), kind: s.opt_str(4), content: s.opt_value(5),
        locations: s.opt_value(6) });

table_struct!(Plan, "struct Plan",
    ["entries" => Value Req],
    |s| Self { entries: s.value(0) });

table_struct!(PermissionRequest, "struct PermissionRequest",
    ["requestId" => Str Req, "toolId" => Str Opt, "title" => Str Req, "options" => Value Req,
        "content" => Value Opt],
    |s| Self { request_id: s.str(0), tool_id: s.opt_str(1), title: s.str(2),
        options: s.value(3), content: s.opt_value(4) });

table_struct!(PermissionResolved, "struct PermissionResolved",
    ["requestId" => Str Req, "outcome" => Str Req, "optionId" => Str Opt,
        "clientMsgId" => Str Opt],
    |s| Self { request_id: s.str(0), outcome: s.str(1), option_id: s.opt_str(2),
        client_msg_id: s.opt_str(3) });

table_struct!(TurnEnd, "struct TurnEnd",
    ["turnId" => Str Req, "reason" => Reason Req, "error" => Str Opt, "usage" => Value Opt,
        "stopReason" => Str Opt],
    |s| Self { turn_id: s.str(0), reason: s.reason(1), error: s.opt_str(2),
        usage: s.opt_value(3), stop_reason: s.opt_str(4) });

table_struct!(SessionStateChange, "struct SessionStateChange",
    ["state" => State Req, "previous" => State Nullable, "reason" => Str Req],
    |s| Self { state: s.state(0), previous: s.opt_state(1), reason: s.str(2) });

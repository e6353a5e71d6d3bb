//! Reading an [`Action`] from its JSON text (`ClientStore.dispatch`, the golden vectors) with
//! the hand-written decoder of the protocol module instead of serde's `Deserialize`: the
//! internally tagged enum's generic machinery was the largest part of the Wasm binary.
//!
//! Same acceptance as serde's derive: `type` names the variant, fields are camelCase, optional
//! fields may be absent or `null`, unknown fields are ignored, a field given twice is refused.
//!
//! One table row per variant, in declaration order: its `type`, its fields (read by the shared
//! loop of `protocol/table.rs`) and a small function that moves the decoded fields into the
//! variant. A `match` per variant instead compiled to one large function (most of this module's
//! share of the Wasm binary).

use super::Action;
use crate::protocol::decode::{invalid_type, DecodeError, Path};
use crate::protocol::json::{self, Json};
use crate::protocol::table::{self, Field, Kind, Need, Slots, Table};
use crate::protocol::write::concat;
use Kind::{BlockType, Bool, Code, Reason, Reconnected, State, Str, Summaries, Value, U32, U64};
use Need::{Opt, Req};

/// A variant: its `type`, its fields in declaration order, and how to build it from them.
type Variant = (&'static str, &'static Table, fn(&mut Slots) -> Action);

/// `sessionId` alone.
const SESSION_ID: &Table = &Table::new(&[("sessionId", Str, Req)]);
/// No fields (the unit variants).
const NONE: &Table = &Table::new(&[]);
/// The first two fields of every event action (positions 0 and 1).
const SID: Field = ("sessionId", Str, Req);
const SEQ: Field = ("seq", U64, Req);

/// Every action, in declaration order (the order of the unknown-variant message).
const VARIANTS: &[Variant] = &[
    ("CONNECTION_OPENED", NONE, |_| Action::ConnectionOpened),
    ("CONNECTION_LOST", NONE, |_| Action::ConnectionLost),
    (
        "WELCOME",
        &Table::new(&[
            ("protocol", U32, Req),
            ("connectionId", Str, Req),
            ("epoch", Str, Req),
        ]),
        |s| Action::Welcome {
            protocol: s.u32(0),
            connection_id: s.str(1),
            epoch: s.str(2),
        },
    ),
    (
        "SESSIONS_LISTED",
        &Table::new(&[("sessions", Summaries, Req), ("next", Str, Opt)]),
        |s| Action::SessionsListed {
            sessions: s.summaries(0),
            next: s.opt_str(1),
        },
    ),
    (
        "SWITCH_REQUESTED",
        &Table::new(&[("sessionId", Str, Opt)]),
        |s| Action::SwitchRequested {
            session_id: s.opt_str(0),
        },
    ),
    (
        "SESSION_SWITCHED",
        &Table::new(&[
            ("sessionId", Str, Req),
            ("state", State, Req),
            ("lastSeq", U64, Req),
            ("title", Str, Req),
        ]),
        |s| Action::SessionSwitched {
            session_id: s.str(0),
            state: s.state(1),
            last_seq: s.u64(2),
            title: s.str(3),
        },
    ),
    (
        "SET_RUNNING",
        &Table::new(&[("sessionId", Str, Req), ("running", Bool, Req)]),
        |s| Action::SetRunning {
            session_id: s.str(0),
            running: s.bool(1),
        },
    ),
    ("SESSION_CLEARED", NONE, |_| Action::SessionCleared),
    (
        "SESSION_CREATED",
        &Table::new(&[("sessionId", Str, Req), ("clientMsgId", Str, Req)]),
        |s| Action::SessionCreated {
            session_id: s.str(0),
            client_msg_id: s.str(1),
        },
    ),
    (
        "USER_SEND",
        &Table::new(&[
            ("clientMsgId", Str, Req),
            ("sessionId", Str, Opt),
            ("text", Str, Req),
        ]),
        |s| Action::UserSend {
            client_msg_id: s.str(0),
            session_id: s.opt_str(1),
            text: s.str(2),
        },
    ),
    (
        "USER_INTERRUPT",
        &Table::new(&[
            ("clientMsgId", Str, Req),
            ("sessionId", Str, Req),
            ("text", Str, Opt),
        ]),
        |s| Action::UserInterrupt {
            client_msg_id: s.str(0),
            session_id: s.str(1),
            text: s.opt_str(2),
        },
    ),
    (
        "PERMISSION_RESPONSE",
        &Table::new(&[
            ("clientMsgId", Str, Req),
            ("sessionId", Str, Req),
            ("requestId", Str, Req),
            ("optionId", Str, Req),
        ]),
        |s| Action::PermissionResponse {
            client_msg_id: s.str(0),
            session_id: s.str(1),
            request_id: s.str(2),
            option_id: s.str(3),
        },
    ),
    (
        "ACK",
        &Table::new(&[
            ("sessionId", Str, Req),
            ("clientMsgId", Str, Req),
            ("seq", U64, Req),
            ("duplicate", Bool, Req),
            ("running", Bool, Req),
        ]),
        |s| Action::Ack {
            session_id: s.str(0),
            client_msg_id: s.str(1),
            seq: s.u64(2),
            duplicate: s.bool(3),
            running: s.bool(4),
        },
    ),
    (
        "RECONNECTED",
        &Table::new(&[("sessions", Reconnected, Req)]),
        |s| Action::Reconnected {
            sessions: s.reconnected(0),
        },
    ),
    ("WATCHED", SESSION_ID, |s| Action::Watched {
        session_id: s.str(0),
    }),
    ("UNWATCHED", SESSION_ID, |s| Action::Unwatched {
        session_id: s.str(0),
    }),
    ("PONG", &Table::new(&[("nonce", Str, Opt)]), |s| {
        Action::Pong {
            nonce: s.opt_str(0),
        }
    }),
    (
        "ERROR",
        &Table::new(&[
            ("code", Code, Req),
            ("message", Str, Req),
            ("sessionId", Str, Opt),
            ("ref", Str, Opt),
        ]),
        |s| Action::Error {
            code: s.code(0),
            message: s.str(1),
            session_id: s.opt_str(2),
            reference: s.opt_str(3),
        },
    ),
    (
        "GAP_DETECTED",
        &Table::new(&[
            ("sessionId", Str, Req),
            ("expectedSeq", U64, Req),
            ("receivedSeq", U64, Req),
        ]),
        |s| Action::GapDetected {
            session_id: s.str(0),
            expected_seq: s.u64(1),
            received_seq: s.u64(2),
        },
    ),
    ("SESSION_VIEW_DROPPED", SESSION_ID, |s| {
        Action::SessionViewDropped {
            session_id: s.str(0),
        }
    }),
    (
        "USER_MESSAGE_RECEIVED",
        &Table::new(&[SID, SEQ, ("messageId", Str, Req), ("text", Str, Req)]),
        |s| Action::UserMessageReceived {
            session_id: s.str(0),
            seq: s.u64(1),
            message_id: s.str(2),
            text: s.str(3),
        },
    ),
    (
        "TURN_START",
        &Table::new(&[SID, SEQ, ("turnId", Str, Req)]),
        |s| Action::TurnStart {
            session_id: s.str(0),
            seq: s.u64(1),
            turn_id: s.str(2),
        },
    ),
    (
        "MESSAGE_START",
        &Table::new(&[SID, SEQ, ("messageId", Str, Req)]),
        |s| Action::MessageStart {
            session_id: s.str(0),
            seq: s.u64(1),
            message_id: s.str(2),
        },
    ),
    (
        "BLOCK_START",
        &Table::new(&[
            SID,
            SEQ,
            ("messageId", Str, Req),
            ("blockId", Str, Req),
            ("blockType", BlockType, Req),
            ("toolName", Str, Opt),
        ]),
        |s| Action::BlockStart {
            session_id: s.str(0),
            seq: s.u64(1),
            message_id: s.str(2),
            block_id: s.str(3),
            block_type: s.block_type(4),
            tool_name: s.opt_str(5),
        },
    ),
    (
        "BLOCK_DELTA",
        &Table::new(&[
            SID,
            SEQ,
            ("messageId", Str, Req),
            ("blockId", Str, Req),
            ("delta", Str, Req),
        ]),
        |s| Action::BlockDelta {
            session_id: s.str(0),
            seq: s.u64(1),
            message_id: s.str(2),
            block_id: s.str(3),
            delta: s.str(4),
        },
    ),
    (
        "BLOCK_END",
        &Table::new(&[
            SID,
            SEQ,
            ("messageId", Str, Req),
            ("blockId", Str, Req),
            ("input", Value, Opt),
        ]),
        |s| Action::BlockEnd {
            session_id: s.str(0),
            seq: s.u64(1),
            message_id: s.str(2),
            block_id: s.str(3),
            input: s.opt_value(4),
        },
    ),
    (
        "TOOL_RESULT",
        &Table::new(&[
            SID,
            SEQ,
            ("messageId", Str, Req),
            ("toolId", Str, Req),
            ("result", Value, Req),
            ("isError", Bool, Req),
        ]),
        |s| Action::ToolResult {
            session_id: s.str(0),
            seq: s.u64(1),
            message_id: s.str(2),
            tool_id: s.str(3),
            result: s.value(4),
            is_error: s.bool(5),
        },
    ),
    (
        "TOOL_UPDATE",
        &Table::new(&[
            SID,
            SEQ,
            ("messageId", Str, Req),
            ("toolId", Str, Req),
            ("status", Str, Opt),
            ("title", Str, Opt),
            ("kind", Str, Opt),
            ("content", Value, Opt),
            ("locations", Value, Opt),
        ]),
        |s| Action::ToolUpdate {
            session_id: s.str(0),
            seq: s.u64(1),
            message_id: s.str(2),
            tool_id: s.str(3),
            status: s.opt_str(4),
            title: s.opt_str(5),
            kind: s.opt_str(6),
            content: s.opt_value(7),
            locations: s.opt_value(8),
        },
    ),
    (
        "PLAN_UPDATED",
        &Table::new(&[SID, SEQ, ("entries", Value, Req)]),
        |s| Action::PlanUpdated {
            session_id: s.str(0),
            seq: s.u64(1),
            entries: s.value(2),
        },
    ),
    (
        "PERMISSION_REQUESTED",
        &Table::new(&[
            SID,
            SEQ,
            ("requestId", Str, Req),
            ("toolId", Str, Opt),
            ("title", Str, Req),
            ("options", Value, Req),
            ("content", Value, Opt),
        ]),
        |s| Action::PermissionRequested {
            session_id: s.str(0),
            seq: s.u64(1),
            request_id: s.str(2),
            tool_id: s.opt_str(3),
            title: s.str(4),
            options: s.value(5),
            content: s.opt_value(6),
        },
    ),
    (
        "PERMISSION_RESOLVED",
        &Table::new(&[
            SID,
            SEQ,
            ("requestId", Str, Req),
            ("outcome", Str, Req),
            ("optionId", Str, Opt),
            ("clientMsgId", Str, Opt),
        ]),
        |s| Action::PermissionResolved {
            session_id: s.str(0),
            seq: s.u64(1),
            request_id: s.str(2),
            outcome: s.str(3),
            option_id: s.opt_str(4),
            client_msg_id: s.opt_str(5),
        },
    ),
    (
        "MESSAGE_END",
        &Table::new(&[SID, SEQ, ("messageId", Str, Req)]),
        |s| Action::MessageEnd {
            session_id: s.str(0),
            seq: s.u64(1),
            message_id: s.str(2),
        },
    ),
    (
        "TURN_END",
        &Table::new(&[
            SID,
            SEQ,
            ("turnId", Str, Req),
            ("reason", Reason, Req),
            ("error", Str, Opt),
        ]),
        |s| Action::TurnEnd {
            session_id: s.str(0),
            seq: s.u64(1),
            turn_id: s.str(2),
            reason: s.reason(3),
            error: s.opt_str(4),
        },
    ),
    (
        "SESSION_STATE_CHANGED",
        &Table::new(&[
            SID,
            SEQ,
            ("state", State, Req),
            ("previous", State, Opt),
            ("reason", Str, Req),
        ]),
        |s| Action::SessionStateChanged {
            session_id: s.str(0),
            seq: s.u64(1),
            state: s.state(2),
            previous: s.opt_state(3),
            reason: s.str(4),
        },
    ),
];

impl Action {
    /// Reads an action from JSON text, e.g. `{"type":"SET_RUNNING","sessionId":"s","running":true}`.
    /// The error is a sentence for people.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let json = json::parse(text).map_err(|error| error.message())?;
        decode(&json).map_err(|error| error.message)
    }
}

fn decode(json: &Json<'_>) -> Result<Action, DecodeError> {
    let Json::Object(members) = json else {
        return Err(invalid_type(
            json,
            Path::Root,
            "internally tagged enum Action",
        ));
    };
    let mut tags = members.iter().filter(|(key, _)| key == "type");
    let kind = match (tags.next(), tags.next()) {
        (None, _) => return Err(Path::Root.error("missing field `type`".to_owned())),
        (Some(_), Some(_)) => return Err(Path::Root.error("duplicate field `type`".to_owned())),
        (Some((_, Json::String(kind))), None) => kind.as_ref(),
        (Some((_, other)), None) => {
            return Err(invalid_type(other, Path::Root, "variant identifier"));
        }
    };
    let Some((_, table, build)) = VARIANTS.iter().find(|(name, _, _)| *name == kind) else {
        let mut names = String::new();
        for (index, (name, _, _)) in VARIANTS.iter().enumerate() {
            if index > 0 {
                names.push_str(", ");
            }
            names.push('`');
            names.push_str(name);
            names.push('`');
        }
        return Err(Path::Root.error(concat(&[
            "unknown variant `",
            kind,
            "`, expected one of ",
            &names,
        ])));
    };
    // Unit variants read no fields (their table is empty), as serde's derive.
    let mut slots = fields(json, table)?;
    Ok(build(&mut slots))
}

/// The fields of a variant, decoded by its table, refusing a known field given twice (as
/// serde's derive does).
fn fields(json: &Json<'_>, table: &'static Table) -> Result<Slots, DecodeError> {
    if let Json::Object(members) = json {
        for (key, _, _) in table.fields() {
            if members.iter().filter(|(k, _)| k == key).count() > 1 {
                return Err(Path::Root.error(concat(&["duplicate field `", key, "`"])));
            }
        }
    }
    table::decode(json, Path::Root, "struct variant", table)
}

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
            protocol: s.req(),
            connection_id: s.req(),
            epoch: s.req(),
        },
    ),
    (
        "SESSIONS_LISTED",
        &Table::new(&[("sessions", Summaries, Req), ("next", Str, Opt)]),
        |s| Action::SessionsListed {
            sessions: s.req(),
            next: s.opt(),
        },
    ),
    (
        "SWITCH_REQUESTED",
        &Table::new(&[("sessionId", Str, Opt)]),
        |s| Action::SwitchRequested {
            session_id: s.opt(),
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
            session_id: s.req(),
            state: s.req(),
            last_seq: s.req(),
            title: s.req(),
        },
    ),
    (
        "SET_RUNNING",
        &Table::new(&[("sessionId", Str, Req), ("running", Bool, Req)]),
        |s| Action::SetRunning {
            session_id: s.req(),
            running: s.req(),
        },
    ),
    ("SESSION_CLEARED", NONE, |_| Action::SessionCleared),
    (
        "SESSION_CREATED",
        &Table::new(&[("sessionId", Str, Req), ("clientMsgId", Str, Req)]),
        |s| Action::SessionCreated {
            session_id: s.req(),
            client_msg_id: s.req(),
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
            client_msg_id: s.req(),
            session_id: s.opt(),
            text: s.req(),
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
            client_msg_id: s.req(),
            session_id: s.req(),
            text: s.opt(),
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
            client_msg_id: s.req(),
            session_id: s.req(),
            request_id: s.req(),
            option_id: s.req(),
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
            session_id: s.req(),
            client_msg_id: s.req(),
            seq: s.req(),
            duplicate: s.req(),
            running: s.req(),
        },
    ),
    (
        "RECONNECTED",
        &Table::new(&[("sessions", Reconnected, Req)]),
        |s| Action::Reconnected { sessions: s.req() },
    ),
    ("WATCHED", SESSION_ID, |s| Action::Watched {
        session_id: s.req(),
    }),
    ("UNWATCHED", SESSION_ID, |s| Action::Unwatched {
        session_id: s.req(),
    }),
    ("PONG", &Table::new(&[("nonce", Str, Opt)]), |s| {
        Action::Pong { nonce: s.opt() }
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
            code: s.req(),
            message: s.req(),
            session_id: s.opt(),
            reference: s.opt(),
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
            session_id: s.req(),
            expected_seq: s.req(),
            received_seq: s.req(),
        },
    ),
    ("SESSION_VIEW_DROPPED", SESSION_ID, |s| {
        Action::SessionViewDropped {
            session_id: s.req(),
        }
    }),
    (
        "USER_MESSAGE_RECEIVED",
        &Table::new(&[SID, SEQ, ("messageId", Str, Req), ("text", Str, Req)]),
        |s| Action::UserMessageReceived {
            session_id: s.req(),
            seq: s.req(),
            message_id: s.req(),
            text: s.req(),
        },
    ),
    (
        "TURN_START",
        &Table::new(&[SID, SEQ, ("turnId", Str, Req)]),
        |s| Action::TurnStart {
            session_id: s.req(),
            seq: s.req(),
            turn_id: s.req(),
        },
    ),
    (
        "MESSAGE_START",
        &Table::new(&[SID, SEQ, ("messageId", Str, Req)]),
        |s| Action::MessageStart {
            session_id: s.req(),
            seq: s.req(),
            message_id: s.req(),
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
            session_id: s.req(),
            seq: s.req(),
            message_id: s.req(),
            block_id: s.req(),
            block_type: s.req(),
            tool_name: s.opt(),
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
            session_id: s.req(),
            seq: s.req(),
            message_id: s.req(),
            block_id: s.req(),
            delta: s.req(),
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
            session_id: s.req(),
            seq: s.req(),
            message_id: s.req(),
            block_id: s.req(),
            input: s.opt(),
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
            session_id: s.req(),
            seq: s.req(),
            message_id: s.req(),
            tool_id: s.req(),
            result: s.req(),
            is_error: s.req(),
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
            session_id: s.req(),
            seq: s.req(),
            message_id: s.req(),
            tool_id: s.req(),
            status: s.opt(),
            title: s.opt(),
            kind: s.opt(),
            content: s.opt(),
            locations: s.opt(),
        },
    ),
    (
        "PLAN_UPDATED",
        &Table::new(&[SID, SEQ, ("entries", Value, Req)]),
        |s| Action::PlanUpdated {
            session_id: s.req(),
            seq: s.req(),
            entries: s.req(),
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
            session_id: s.req(),
            seq: s.req(),
            request_id: s.req(),
            tool_id: s.opt(),
            title: s.req(),
            options: s.req(),
            content: s.opt(),
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
            session_id: s.req(),
            seq: s.req(),
            request_id: s.req(),
            outcome: s.req(),
            option_id: s.opt(),
            client_msg_id: s.opt(),
        },
    ),
    (
        "MESSAGE_END",
        &Table::new(&[SID, SEQ, ("messageId", Str, Req)]),
        |s| Action::MessageEnd {
            session_id: s.req(),
            seq: s.req(),
            message_id: s.req(),
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
            session_id: s.req(),
            seq: s.req(),
            turn_id: s.req(),
            reason: s.req(),
            error: s.opt(),
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
            session_id: s.req(),
            seq: s.req(),
            state: s.req(),
            previous: s.opt(),
            reason: s.req(),
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

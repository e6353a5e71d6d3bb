//! Reading an [`Action`] from its JSON text (`ClientStore.dispatch`, the golden vectors) with
//! the hand-written decoder of the protocol module instead of serde's `Deserialize`: the
//! internally tagged enum's generic machinery was the largest part of the Wasm binary.
//!
//! Same acceptance as serde's derive: `type` names the variant, fields are camelCase, optional
//! fields may be absent or `null`, unknown fields are ignored, a field given twice is refused.
//! Each variant is a table of its fields (`protocol/table.rs`) in declaration order.

use super::Action;
use crate::protocol::decode::{invalid_type, DecodeError, Path};
use crate::protocol::json::{self, Json};
use crate::protocol::table::{self, Field, Kind, Need, Slots};

/// Every action's `type`, in declaration order (for the unknown-variant message).
const TYPES: &[&str] = &[
    "CONNECTION_OPENED",
    "CONNECTION_LOST",
    "WELCOME",
    "SESSIONS_LISTED",
    "SWITCH_REQUESTED",
    "SESSION_SWITCHED",
    "SET_RUNNING",
    "SESSION_CLEARED",
    "SESSION_CREATED",
    "USER_SEND",
    "USER_INTERRUPT",
    "ACK",
    "RECONNECTED",
    "WATCHED",
    "UNWATCHED",
    "PONG",
    "ERROR",
    "GAP_DETECTED",
    "SESSION_VIEW_DROPPED",
    "USER_MESSAGE_RECEIVED",
    "TURN_START",
    "MESSAGE_START",
    "BLOCK_START",
    "BLOCK_DELTA",
    "BLOCK_END",
    "TOOL_RESULT",
    "MESSAGE_END",
    "TURN_END",
    "SESSION_STATE_CHANGED",
];

impl Action {
    /// Reads an action from JSON text, e.g. `{"type":"SET_RUNNING","sessionId":"s","running":true}`.
    /// The error is a sentence for people.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let json = json::parse(text).map_err(|error| error.to_string())?;
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
    if !TYPES.contains(&kind) {
        let names: Vec<String> = TYPES.iter().map(|t| format!("`{t}`")).collect();
        return Err(Path::Root.error(format!(
            "unknown variant `{kind}`, expected one of {}",
            names.join(", ")
        )));
    }
    variant(kind, json)
}

/// The fields of a variant, decoded by its table, refusing a known field given twice (as
/// serde's derive does).
fn fields(json: &Json<'_>, table: &'static [Field]) -> Result<Slots, DecodeError> {
    if let Json::Object(members) = json {
        for (key, _, _) in table {
            if members.iter().filter(|(k, _)| k == key).count() > 1 {
                return Err(Path::Root.error(format!("duplicate field `{key}`")));
            }
        }
    }
    table::decode(json, Path::Root, "struct variant", table)
}

use Kind::{BlockType, Bool, Code, Reason, Reconnected, State, Str, Summaries, Value, U32, U64};
use Need::{Opt, Req};

/// `sessionId` alone.
const SESSION_ID: &[Field] = &[("sessionId", Str, Req)];

fn variant(kind: &str, json: &Json<'_>) -> Result<Action, DecodeError> {
    Ok(match kind {
        "CONNECTION_OPENED" => Action::ConnectionOpened,
        "CONNECTION_LOST" => Action::ConnectionLost,
        "SESSION_CLEARED" => Action::SessionCleared,
        "WELCOME" => {
            let table = &[
                ("protocol", U32, Req),
                ("connectionId", Str, Req),
                ("epoch", Str, Req),
            ];
            let mut s = fields(json, table)?;
            Action::Welcome {
                protocol: s.u32(0),
                connection_id: s.str(1),
                epoch: s.str(2),
            }
        }
        "SESSIONS_LISTED" => Action::SessionsListed {
            sessions: fields(json, &[("sessions", Summaries, Req)])?.summaries(0),
        },
        "SWITCH_REQUESTED" => Action::SwitchRequested {
            session_id: fields(json, &[("sessionId", Str, Opt)])?.opt_str(0),
        },
        "SESSION_SWITCHED" => {
            let table = &[
                ("sessionId", Str, Req),
                ("state", State, Req),
                ("lastSeq", U64, Req),
                ("title", Str, Req),
            ];
            let mut s = fields(json, table)?;
            Action::SessionSwitched {
                session_id: s.str(0),
                state: s.state(1),
                last_seq: s.u64(2),
                title: s.str(3),
            }
        }
        "SET_RUNNING" => {
            let mut s = fields(json, &[("sessionId", Str, Req), ("running", Bool, Req)])?;
            Action::SetRunning {
                session_id: s.str(0),
                running: s.bool(1),
            }
        }
        "SESSION_CREATED" => {
            let mut s = fields(json, &[("sessionId", Str, Req), ("clientMsgId", Str, Req)])?;
            Action::SessionCreated {
                session_id: s.str(0),
                client_msg_id: s.str(1),
            }
        }
        "USER_SEND" => {
            let table = &[
                ("clientMsgId", Str, Req),
                ("sessionId", Str, Opt),
                ("text", Str, Req),
            ];
            let mut s = fields(json, table)?;
            Action::UserSend {
                client_msg_id: s.str(0),
                session_id: s.opt_str(1),
                text: s.str(2),
            }
        }
        "USER_INTERRUPT" => {
            let table = &[
                ("clientMsgId", Str, Req),
                ("sessionId", Str, Req),
                ("text", Str, Opt),
            ];
            let mut s = fields(json, table)?;
            Action::UserInterrupt {
                client_msg_id: s.str(0),
                session_id: s.str(1),
                text: s.opt_str(2),
            }
        }
        "ACK" => {
            let table = &[
                ("sessionId", Str, Req),
                ("clientMsgId", Str, Req),
                ("seq", U64, Req),
                ("duplicate", Bool, Req),
                ("running", Bool, Req),
            ];
            let mut s = fields(json, table)?;
            Action::Ack {
                session_id: s.str(0),
                client_msg_id: s.str(1),
                seq: s.u64(2),
                duplicate: s.bool(3),
                running: s.bool(4),
            }
        }
        "RECONNECTED" => Action::Reconnected {
            sessions: fields(json, &[("sessions", Reconnected, Req)])?.reconnected(0),
        },
        "WATCHED" => Action::Watched {
            session_id: fields(json, SESSION_ID)?.str(0),
        },
        "UNWATCHED" => Action::Unwatched {
            session_id: fields(json, SESSION_ID)?.str(0),
        },
        "SESSION_VIEW_DROPPED" => Action::SessionViewDropped {
            session_id: fields(json, SESSION_ID)?.str(0),
        },
        "PONG" => Action::Pong {
            nonce: fields(json, &[("nonce", Str, Opt)])?.opt_str(0),
        },
        "ERROR" => {
            let table = &[
                ("code", Code, Req),
                ("message", Str, Req),
                ("sessionId", Str, Opt),
                ("ref", Str, Opt),
            ];
            let mut s = fields(json, table)?;
            Action::Error {
                code: s.code(0),
                message: s.str(1),
                session_id: s.opt_str(2),
                reference: s.opt_str(3),
            }
        }
        "GAP_DETECTED" => {
            let table = &[
                ("sessionId", Str, Req),
                ("expectedSeq", U64, Req),
                ("receivedSeq", U64, Req),
            ];
            let mut s = fields(json, table)?;
            Action::GapDetected {
                session_id: s.str(0),
                expected_seq: s.u64(1),
                received_seq: s.u64(2),
            }
        }
        _ => event(kind, json)?,
    })
}

/// The event actions: each has `sessionId` and `seq` (positions 0 and 1) besides its own
/// fields.
fn event(kind: &str, json: &Json<'_>) -> Result<Action, DecodeError> {
    const HEAD: [Field; 2] = [("sessionId", Str, Req), ("seq", U64, Req)];
    let table: &'static [Field] = match kind {
        "USER_MESSAGE_RECEIVED" => &[
            HEAD[0],
            HEAD[1],
            ("messageId", Str, Req),
            ("text", Str, Req),
        ],
        "TURN_START" => &[HEAD[0], HEAD[1], ("turnId", Str, Req)],
        "MESSAGE_START" | "MESSAGE_END" => &[HEAD[0], HEAD[1], ("messageId", Str, Req)],
        "BLOCK_START" => &[
            HEAD[0],
            HEAD[1],
            ("messageId", Str, Req),
            ("blockId", Str, Req),
            ("blockType", BlockType, Req),
            ("toolName", Str, Opt),
        ],
        "BLOCK_DELTA" => &[
            HEAD[0],
            HEAD[1],
            ("messageId", Str, Req),
            ("blockId", Str, Req),
            ("delta", Str, Req),
        ],
        "BLOCK_END" => &[
            HEAD[0],
            HEAD[1],
            ("messageId", Str, Req),
            ("blockId", Str, Req),
            ("input", Value, Opt),
        ],
        "TOOL_RESULT" => &[
            HEAD[0],
            HEAD[1],
            ("messageId", Str, Req),
            ("toolId", Str, Req),
            ("result", Value, Req),
            ("isError", Bool, Req),
        ],
        "TURN_END" => &[
            HEAD[0],
            HEAD[1],
            ("turnId", Str, Req),
            ("reason", Reason, Req),
            ("error", Str, Opt),
        ],
        _ => &[
            HEAD[0],
            HEAD[1],
            ("state", State, Req),
            ("previous", State, Opt),
            ("reason", Str, Req),
        ],
    };
    let mut s = fields(json, table)?;
    let session_id = s.str(0);
    let seq = s.u64(1);
    Ok(match kind {
        "USER_MESSAGE_RECEIVED" => Action::UserMessageReceived {
            session_id,
            seq,
            message_id: s.str(2),
            text: s.str(3),
        },
        "TURN_START" => Action::TurnStart {
            session_id,
            seq,
            turn_id: s.str(2),
        },
        "MESSAGE_START" => Action::MessageStart {
            session_id,
            seq,
            message_id: s.str(2),
        },
        "MESSAGE_END" => Action::MessageEnd {
            session_id,
            seq,
            message_id: s.str(2),
        },
        "BLOCK_START" => Action::BlockStart {
            session_id,
            seq,
            message_id: s.str(2),
            block_id: s.str(3),
            block_type: s.block_type(4),
            tool_name: s.opt_str(5),
        },
        "BLOCK_DELTA" => Action::BlockDelta {
            session_id,
            seq,
            message_id: s.str(2),
            block_id: s.str(3),
            delta: s.str(4),
        },
        "BLOCK_END" => Action::BlockEnd {
            session_id,
            seq,
            message_id: s.str(2),
            block_id: s.str(3),
            input: s.opt_value(4),
        },
        "TOOL_RESULT" => Action::ToolResult {
            session_id,
            seq,
            message_id: s.str(2),
            tool_id: s.str(3),
            result: s.value(4),
            is_error: s.bool(5),
        },
        "TURN_END" => Action::TurnEnd {
            session_id,
            seq,
            turn_id: s.str(2),
            reason: s.reason(3),
            error: s.opt_str(4),
        },
        _ => Action::SessionStateChanged {
            session_id,
            seq,
            state: s.state(2),
            previous: s.opt_state(3),
            reason: s.str(4),
        },
    })
}

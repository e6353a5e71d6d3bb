//! Reading an [`Action`] from its JSON text (`ClientStore.dispatch`, the golden vectors) with
//! the hand-written decoder of the protocol module instead of serde's `Deserialize`: the
//! internally tagged enum's generic machinery was the largest part of the Wasm binary.
//!
//! Same acceptance as serde's derive: `type` names the variant, fields are camelCase, optional
//! fields may be absent or `null`, unknown fields are ignored, a field given twice is refused.

use super::Action;
use crate::protocol::decode::{invalid_type, DecodeError, Fields, Path};
use crate::protocol::json::{self, Json};

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

/// The fields of a variant, refusing a known field given twice (as serde's derive does).
fn fields<'j, 'a>(
    json: &'j Json<'a>,
    order: &'static [&'static str],
) -> Result<Fields<'j, 'a, 'static>, DecodeError> {
    if let Json::Object(members) = json {
        for key in order {
            if members.iter().filter(|(k, _)| k == key).count() > 1 {
                return Err(Path::Root.error(format!("duplicate field `{key}`")));
            }
        }
    }
    Fields::new(json, Path::Root, "struct variant", order)
}

fn variant(kind: &str, json: &Json<'_>) -> Result<Action, DecodeError> {
    Ok(match kind {
        "CONNECTION_OPENED" => Action::ConnectionOpened,
        "CONNECTION_LOST" => Action::ConnectionLost,
        "SESSION_CLEARED" => Action::SessionCleared,
        "WELCOME" => {
            let f = fields(json, &["protocol", "connectionId", "epoch"])?;
            let connection_id = f.req("connectionId")?;
            let epoch = f.req("epoch")?;
            let protocol = f.req("protocol")?;
            Action::Welcome {
                protocol: f.need(protocol, "protocol")?,
                connection_id: f.need(connection_id, "connectionId")?,
                epoch: f.need(epoch, "epoch")?,
            }
        }
        "SESSIONS_LISTED" => {
            let f = fields(json, &["sessions"])?;
            let sessions = f.req("sessions")?;
            Action::SessionsListed {
                sessions: f.need(sessions, "sessions")?,
            }
        }
        "SWITCH_REQUESTED" => {
            let f = fields(json, &["sessionId"])?;
            Action::SwitchRequested {
                session_id: f.opt("sessionId")?,
            }
        }
        "SESSION_SWITCHED" => {
            let f = fields(json, &["sessionId", "state", "lastSeq", "title"])?;
            let last_seq = f.req("lastSeq")?;
            let session_id = f.req("sessionId")?;
            let state = f.req("state")?;
            let title = f.req("title")?;
            Action::SessionSwitched {
                session_id: f.need(session_id, "sessionId")?,
                state: f.need(state, "state")?,
                last_seq: f.need(last_seq, "lastSeq")?,
                title: f.need(title, "title")?,
            }
        }
        "SET_RUNNING" => {
            let f = fields(json, &["sessionId", "running"])?;
            let running = f.req("running")?;
            let session_id = f.req("sessionId")?;
            Action::SetRunning {
                session_id: f.need(session_id, "sessionId")?,
                running: f.need(running, "running")?,
            }
        }
        "SESSION_CREATED" => {
            let f = fields(json, &["sessionId", "clientMsgId"])?;
            let client_msg_id = f.req("clientMsgId")?;
            let session_id = f.req("sessionId")?;
            Action::SessionCreated {
                session_id: f.need(session_id, "sessionId")?,
                client_msg_id: f.need(client_msg_id, "clientMsgId")?,
            }
        }
        "USER_SEND" => {
            let f = fields(json, &["clientMsgId", "sessionId", "text"])?;
            let client_msg_id = f.req("clientMsgId")?;
            let session_id = f.opt("sessionId")?;
            let text = f.req("text")?;
            Action::UserSend {
                client_msg_id: f.need(client_msg_id, "clientMsgId")?,
                session_id,
                text: f.need(text, "text")?,
            }
        }
        "USER_INTERRUPT" => {
            let f = fields(json, &["clientMsgId", "sessionId", "text"])?;
            let client_msg_id = f.req("clientMsgId")?;
            let session_id = f.req("sessionId")?;
            let text = f.opt("text")?;
            Action::UserInterrupt {
                client_msg_id: f.need(client_msg_id, "clientMsgId")?,
                session_id: f.need(session_id, "sessionId")?,
                text,
            }
        }
        "ACK" => {
            let order = &["sessionId", "clientMsgId", "seq", "duplicate", "running"];
            let f = fields(json, order)?;
            let client_msg_id = f.req("clientMsgId")?;
            let duplicate = f.req("duplicate")?;
            let running = f.req("running")?;
            let seq = f.req("seq")?;
            let session_id = f.req("sessionId")?;
            Action::Ack {
                session_id: f.need(session_id, "sessionId")?,
                client_msg_id: f.need(client_msg_id, "clientMsgId")?,
                seq: f.need(seq, "seq")?,
                duplicate: f.need(duplicate, "duplicate")?,
                running: f.need(running, "running")?,
            }
        }
        "RECONNECTED" => {
            let f = fields(json, &["sessions"])?;
            let sessions = f.req("sessions")?;
            Action::Reconnected {
                sessions: f.need(sessions, "sessions")?,
            }
        }
        "WATCHED" | "UNWATCHED" | "SESSION_VIEW_DROPPED" => {
            let f = fields(json, &["sessionId"])?;
            let session_id = f.req("sessionId")?;
            let session_id = f.need(session_id, "sessionId")?;
            match kind {
                "WATCHED" => Action::Watched { session_id },
                "UNWATCHED" => Action::Unwatched { session_id },
                _ => Action::SessionViewDropped { session_id },
            }
        }
        "PONG" => {
            let f = fields(json, &["nonce"])?;
            Action::Pong {
                nonce: f.opt("nonce")?,
            }
        }
        "ERROR" => {
            let f = fields(json, &["code", "message", "sessionId", "ref"])?;
            let code = f.req("code")?;
            let message = f.req("message")?;
            let reference = f.opt("ref")?;
            let session_id = f.opt("sessionId")?;
            Action::Error {
                code: f.need(code, "code")?,
                message: f.need(message, "message")?,
                session_id,
                reference,
            }
        }
        "GAP_DETECTED" => {
            let f = fields(json, &["sessionId", "expectedSeq", "receivedSeq"])?;
            let expected_seq = f.req("expectedSeq")?;
            let received_seq = f.req("receivedSeq")?;
            let session_id = f.req("sessionId")?;
            Action::GapDetected {
                session_id: f.need(session_id, "sessionId")?,
                expected_seq: f.need(expected_seq, "expectedSeq")?,
                received_seq: f.need(received_seq, "receivedSeq")?,
            }
        }
        _ => event(kind, json)?,
    })
}

/// The event actions: each has `sessionId` and `seq` besides its own fields.
fn event(kind: &str, json: &Json<'_>) -> Result<Action, DecodeError> {
    let order: &'static [&'static str] = match kind {
        "USER_MESSAGE_RECEIVED" => &["sessionId", "seq", "messageId", "text"],
        "TURN_START" => &["sessionId", "seq", "turnId"],
        "MESSAGE_START" | "MESSAGE_END" => &["sessionId", "seq", "messageId"],
        "BLOCK_START" => &[
            "sessionId",
            "seq",
            "messageId",
            "blockId",
            "blockType",
            "toolName",
        ],
        "BLOCK_DELTA" => &["sessionId", "seq", "messageId", "blockId", "delta"],
        "BLOCK_END" => &["sessionId", "seq", "messageId", "blockId", "input"],
        "TOOL_RESULT" => &[
            "sessionId",
            "seq",
            "messageId",
            "toolId",
            "result",
            "isError",
        ],
        "TURN_END" => &["sessionId", "seq", "turnId", "reason", "error"],
        _ => &["sessionId", "seq", "state", "previous", "reason"],
    };
    let f = fields(json, order)?;
    // Only this variant's fields are read (others are ignored, as unknown ones), in byte order
    // of their keys as everywhere; the required ones are checked below.
    macro_rules! read {
        ($how:ident, $key:literal) => {
            if order.contains(&$key) {
                f.$how($key)?
            } else {
                None
            }
        };
    }
    let block_id = read!(req, "blockId");
    let block_type = read!(req, "blockType");
    let delta = read!(req, "delta");
    let error = read!(opt, "error");
    let input = read!(opt, "input");
    let is_error = read!(req, "isError");
    let message_id = read!(req, "messageId");
    let previous = read!(opt, "previous");
    let (reason, turn_end_reason) = if kind == "TURN_END" {
        (None, read!(req, "reason"))
    } else {
        (read!(req, "reason"), None)
    };
    let result = read!(req, "result");
    let seq = read!(req, "seq");
    let session_id = read!(req, "sessionId");
    let state = read!(req, "state");
    let text = read!(req, "text");
    let tool_id = read!(req, "toolId");
    let tool_name = read!(opt, "toolName");
    let turn_id = read!(req, "turnId");
    let session_id = f.need(session_id, "sessionId")?;
    let seq = f.need(seq, "seq")?;
    Ok(match kind {
        "USER_MESSAGE_RECEIVED" => Action::UserMessageReceived {
            session_id,
            seq,
            message_id: f.need(message_id, "messageId")?,
            text: f.need(text, "text")?,
        },
        "TURN_START" => Action::TurnStart {
            session_id,
            seq,
            turn_id: f.need(turn_id, "turnId")?,
        },
        "MESSAGE_START" => Action::MessageStart {
            session_id,
            seq,
            message_id: f.need(message_id, "messageId")?,
        },
        "MESSAGE_END" => Action::MessageEnd {
            session_id,
            seq,
            message_id: f.need(message_id, "messageId")?,
        },
        "BLOCK_START" => Action::BlockStart {
            session_id,
            seq,
            message_id: f.need(message_id, "messageId")?,
            block_id: f.need(block_id, "blockId")?,
            block_type: f.need(block_type, "blockType")?,
            tool_name,
        },
        "BLOCK_DELTA" => Action::BlockDelta {
            session_id,
            seq,
            message_id: f.need(message_id, "messageId")?,
            block_id: f.need(block_id, "blockId")?,
            delta: f.need(delta, "delta")?,
        },
        "BLOCK_END" => Action::BlockEnd {
            session_id,
            seq,
            message_id: f.need(message_id, "messageId")?,
            block_id: f.need(block_id, "blockId")?,
            input,
        },
        "TOOL_RESULT" => Action::ToolResult {
            session_id,
            seq,
            message_id: f.need(message_id, "messageId")?,
            tool_id: f.need(tool_id, "toolId")?,
            result: f.need(result, "result")?,
            is_error: f.need(is_error, "isError")?,
        },
        "TURN_END" => Action::TurnEnd {
            session_id,
            seq,
            turn_id: f.need(turn_id, "turnId")?,
            reason: f.need(turn_end_reason, "reason")?,
            error,
        },
        _ => Action::SessionStateChanged {
            session_id,
            seq,
            state: f.need(state, "state")?,
            previous,
            reason: f.need(reason, "reason")?,
        },
    })
}

//! The parser half of the store: a server frame becomes the actions it stands for. Pure.

use super::Action;
use crate::protocol::{Event, EventKind, Reply, ServerFrame};

/// The actions a server frame dispatches, in order. `session_switched` dispatches
/// `SESSION_SWITCHED` **and** `SET_RUNNING`: the spinner is re-synced from the server on every
/// switch, which is what fixes the stale-spinner and swallowed-message bugs.
pub fn actions_for_frame(frame: ServerFrame) -> Vec<Action> {
    match frame {
        ServerFrame::Reply(reply) => actions_for_reply(reply),
        ServerFrame::Event(event) => vec![action_for_event(event)],
    }
}

/// The one action an event dispatches.
pub(super) fn action_for_event(event: Event) -> Action {
    let session_id = event.session_id;
    let seq = event.seq;
    match event.kind {
        EventKind::UserMessage(m) => Action::UserMessageReceived {
            session_id,
            seq,
            message_id: m.message_id,
            text: m.text,
        },
        EventKind::TurnStart(t) => Action::TurnStart {
            session_id,
            seq,
            turn_id: t.turn_id,
        },
        EventKind::MessageStart(m) => Action::MessageStart {
            session_id,
            seq,
            message_id: m.message_id,
        },
        EventKind::BlockStart(b) => Action::BlockStart {
            session_id,
            seq,
            message_id: b.message_id,
            block_id: b.block_id,
            block_type: b.block_type,
            tool_name: b.tool_name,
        },
        EventKind::BlockDelta(d) => Action::BlockDelta {
            session_id,
            seq,
            message_id: d.message_id,
            block_id: d.block_id,
            delta: d.delta,
        },
        EventKind::BlockEnd(b) => Action::BlockEnd {
            session_id,
            seq,
            message_id: b.message_id,
            block_id: b.block_id,
            input: b.input,
        },
        EventKind::ToolResult(t) => Action::ToolResult {
            session_id,
            seq,
            message_id: t.message_id,
            tool_id: t.tool_id,
            result: t.result,
            is_error: t.is_error,
        },
        EventKind::ToolUpdate(t) => Action::ToolUpdate {
            session_id,
            seq,
            message_id: t.message_id,
            tool_id: t.tool_id,
            status: t.status,
            title: t.title,
            kind: t.kind,
            content: t.content,
            locations: t.locations,
        },
        EventKind::Plan(p) => Action::PlanUpdated {
            session_id,
            seq,
            entries: p.entries,
        },
        EventKind::PermissionRequest(p) => Action::PermissionRequested {
            session_id,
            seq,
            request_id: p.request_id,
            tool_id: p.tool_id,
            title: p.title,
            options: p.options,
            content: p.content,
        },
        EventKind::PermissionResolved(p) => Action::PermissionResolved {
            session_id,
            seq,
            request_id: p.request_id,
            outcome: p.outcome,
            option_id: p.option_id,
            client_msg_id: p.client_msg_id,
        },
        EventKind::MessageEnd(m) => Action::MessageEnd {
            session_id,
            seq,
            message_id: m.message_id,
        },
        EventKind::TurnEnd(t) => Action::TurnEnd {
            session_id,
            seq,
            turn_id: t.turn_id,
            reason: t.reason,
            error: t.error,
            stop_reason: t.stop_reason,
        },
        EventKind::SessionState(s) => Action::SessionStateChanged {
            session_id,
            seq,
            state: s.state,
            previous: s.previous,
            reason: s.reason,
        },
    }
}

pub(super) fn actions_for_reply(reply: Reply) -> Vec<Action> {
    match reply {
        Reply::Welcome(w) => vec![Action::Welcome {
            protocol: w.protocol,
            connection_id: w.connection_id,
            epoch: w.epoch,
        }],
        Reply::Sessions(s) => vec![Action::SessionsListed {
            sessions: s.sessions,
            next: s.next,
        }],
        Reply::SessionSwitched(s) => vec![
            Action::SessionSwitched {
                session_id: s.session_id.clone(),
                state: s.state,
                last_seq: s.last_seq,
                title: s.title,
            },
            Action::SetRunning {
                session_id: s.session_id,
                running: s.running,
            },
        ],
        Reply::SessionCleared(_) => vec![Action::SessionCleared {}],
        Reply::SessionCreated(c) => vec![Action::SessionCreated {
            session_id: c.session_id,
            client_msg_id: c.client_msg_id,
        }],
        Reply::Ack(a) => vec![Action::Ack {
            session_id: a.session_id,
            client_msg_id: a.client_msg_id,
            seq: a.seq,
            duplicate: a.duplicate,
            running: a.running,
        }],
        Reply::Reconnected(r) => vec![Action::Reconnected {
            sessions: r.sessions,
        }],
        Reply::Watched(w) => vec![Action::Watched {
            session_id: w.session_id,
        }],
        Reply::Unwatched(u) => vec![Action::Unwatched {
            session_id: u.session_id,
        }],
        Reply::Pong(p) => vec![Action::Pong { nonce: p.nonce }],
        Reply::Error(e) => {
            vec![Action::Error {
                code: e.code,
                message: e.message,
                session_id: e.session_id,
                reference: e.reference,
            }]
        }
    }
}

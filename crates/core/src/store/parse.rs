//! The parser half of the store: a server frame becomes the actions it stands for. Pure.

use super::Action;
use crate::protocol::{Event, Reply, ServerFrame};

/// The actions a server frame dispatches, in order. `session_switched` dispatches
/// `SESSION_SWITCHED` **and** `SET_RUNNING`: the spinner is re-synced from the server on every
/// switch, which is what fixes the stale-spinner and swallowed-message bugs.
pub fn actions_for_frame(frame: ServerFrame) -> Vec<Action> {
    match frame {
        ServerFrame::Reply(reply) => actions_for_reply(reply),
        ServerFrame::Event(event) => vec![action_for_event(event)],
    }
}

/// The one action an event dispatches (its mapping is declared with the action, see
/// `wire_enum!`).
pub(super) fn action_for_event(event: Event) -> Action {
    Action::from_event(event)
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

//! The simulator server's effects for the engine's start-up recovery (`engine::recovery`):
//! reads of its durable log and turn queues. Its store never fails and its agents never ask
//! for permission, so no request is left pending and every recovery is durable at once.

use super::server::Server;
use sessionwire_core::engine::recovery::RecoveryDriver;
use sessionwire_core::protocol::SessionStateChange;
use sessionwire_core::{EventKind, SessionState};
use std::convert::Infallible;

impl RecoveryDriver for Server {
    type Session = String;
    type Error = Infallible;

    async fn unfinished(&mut self) -> Result<Vec<String>, Infallible> {
        Ok(Vec::from_iter(
            self.durable
                .sessions
                .iter()
                .filter(|(_, session)| session.state != SessionState::Ended)
                .map(|(id, _)| id.clone()),
        ))
    }

    async fn pending_permissions(&mut self, _: &String) -> Result<Vec<String>, Infallible> {
        Ok(Vec::new())
    }

    async fn open_turn(&mut self, session: &String) -> Result<Option<String>, Infallible> {
        let log = &self.durable.sessions[session].log;
        let last = log.iter().rev().find_map(|event| match &event.kind {
            EventKind::TurnStart(start) => Some(Some(start.turn_id.clone())),
            EventKind::TurnEnd(_) => Some(None),
            _ => None,
        });
        Ok(last.flatten())
    }

    fn append(&mut self, session: &String, event: EventKind) {
        self.emit(session, event);
    }

    fn state(&self, session: &String) -> SessionState {
        self.durable.sessions[session].state
    }

    fn force_state(&mut self, session: &String, to: SessionState, why: &'static str) {
        let entry = self.durable.sessions.get_mut(session).expect("exists");
        let previous = std::mem::replace(&mut entry.state, to);
        let change = SessionStateChange {
            state: to,
            previous: Some(previous),
            reason: why.into(),
        };
        self.emit(session, EventKind::SessionState(change));
    }

    async fn durable(&mut self) -> Result<(), Infallible> {
        Ok(())
    }

    fn not_durable(&mut self, error: Infallible) {
        match error {}
    }

    async fn queued_sessions(&mut self) -> Result<Vec<String>, Infallible> {
        Ok(Vec::from_iter(
            self.durable
                .pending
                .iter()
                .filter(|(_, queue)| !queue.is_empty())
                .map(|(id, _)| id.clone()),
        ))
    }

    /// A runtime, which runs the queue as it starts (the server's `resume_pending`); a session
    /// nobody watches is left DETACHED.
    async fn resume(&mut self, session_id: &str) -> Result<(), Infallible> {
        if self.runtime(session_id).is_none() {
            self.start_runtime(session_id);
        }
        if !self.watchers.contains(session_id) {
            self.watcher_left(session_id);
        }
        Ok(())
    }
}

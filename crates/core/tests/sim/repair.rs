//! The simulator server's effects for the engine's storage-failure repair (`engine::repair`):
//! its fence set, its runtimes, and the repair write over its in-memory log. Its repair is
//! tried only once storage works again ([`Server::repair`]), so every try is stored at once.

use super::runtime::Command;
use super::server::Server;
use sessionwire_core::engine::recovery::RecoveryDriver;
use sessionwire_core::engine::repair::{self, RepairDriver, Repaired};
use sessionwire_core::engine::run_ready;
use sessionwire_core::{EventKind, SessionState};
use std::convert::Infallible;
use std::time::Duration;

impl RepairDriver for Server {
    type Error = Infallible;

    fn fence(&mut self, session_id: &str) -> bool {
        self.fenced.insert(session_id.to_owned())
    }

    /// Tells the runtime to abort; it exits at the next poll of the runtimes, which comes
    /// before any repair is tried (right after the route that failed, and first in
    /// [`Server::repair`]).
    async fn abort_runtime(&mut self, session_id: &str, why: &'static str) {
        if let Some(runtime) = self.runtime(session_id) {
            runtime.send(Command::Abort { reason: why });
        }
    }

    /// What the server's writer does for `Write::Repair`: the engine's repair events, after
    /// the stored log, past the fence (the repair is the one write a fenced session gets).
    async fn store_repair(&mut self, session_id: &str) -> Result<Repaired, Infallible> {
        let Some(stored) = self.durable.sessions.get(session_id).map(|s| s.state) else {
            return Ok(Repaired::default());
        };
        let open_turn =
            run_ready(RecoveryDriver::open_turn(self, &session_id.to_owned())).expect("ready")?;
        for event in repair::repair_events(stored, Vec::new(), open_turn) {
            if let EventKind::SessionState(change) = &event {
                let session = self.durable.sessions.get_mut(session_id).expect("exists");
                session.state = change.state;
            }
            self.append_event(session_id, event);
        }
        Ok(Repaired {
            exists: true,
            state: Some(SessionState::Ended),
        })
    }

    fn repair_failed(&mut self, _: &str, error: Infallible, _: Duration) {
        match error {}
    }

    async fn wait(&mut self, _: Duration) -> bool {
        true
    }

    /// Nothing to forget: a session that was never stored was never in memory either.
    fn forget(&mut self, _: &str) {}

    /// Nothing to set: this server reads a session's state from its store.
    fn set_state(&mut self, session_id: &str, state: SessionState) {
        assert_eq!(self.durable.sessions[session_id].state, state);
    }

    fn unfence(&mut self, session_id: &str) {
        self.fenced.remove(session_id);
    }

    async fn resume(&mut self, session_id: &str) -> Result<(), Infallible> {
        let queued = self
            .durable
            .pending
            .get(session_id)
            .is_some_and(|queue| !queue.is_empty());
        if queued {
            RecoveryDriver::resume(self, session_id).await?;
        }
        Ok(())
    }
}

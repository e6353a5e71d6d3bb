//! Start-up recovery (PROTOCOL.md §2, §3), and the same for a user taken over from another
//! process: the runtimes of the process before are gone, so every session that is not ENDED is
//! made ENDED with reason `server_restart` (the one change outside the transition table), and
//! every session with acked messages that never ran gets a runtime that runs them.
//!
//! Invariants, in this order for each unfinished session:
//! - each permission request left unanswered gets `permission_resolved{expired}` (before its
//!   turn ends: an answer can no longer win);
//! - a `turn_start` without its `turn_end` (the process died mid-turn) gets
//!   `turn_end{reason:"error", error:"server_restart"}`, so no client's spinner stays on;
//! - the session's state becomes what [`lifecycle::recover_on_start`] says.
//!
//! Then, once all that is durable, the durable turn queues run (a runtime per session, which
//! reads its queue as it starts: `engine::runtime`). If it cannot be made durable (a full disk),
//! what is stored is served as it is: the sessions whose writes failed are fenced and repaired,
//! and their queues run after the repair.

use crate::lifecycle::{self, reason, SessionState};
use crate::protocol::{TurnEnd, TurnEndReason};
use crate::EventKind;

/// The effects recovery asks of its driver. `Session` is a loaded session; `Error` what a store
/// read or write fails with.
#[allow(async_fn_in_trait)] // The server's futures are `Send` through its concrete driver.
pub trait RecoveryDriver {
    type Session;
    type Error;

    /// The sessions to recover (not ENDED; of one user, for a takeover), loaded.
    async fn unfinished(&mut self) -> Result<Vec<Self::Session>, Self::Error>;
    /// The `requestId`s of the session's permission requests with no `permission_resolved`.
    async fn pending_permissions(
        &mut self,
        session: &Self::Session,
    ) -> Result<Vec<String>, Self::Error>;
    /// The `turnId` of a `turn_start` with no `turn_end` after it, if the log has one.
    async fn open_turn(&mut self, session: &Self::Session) -> Result<Option<String>, Self::Error>;
    fn append(&mut self, session: &Self::Session, event: EventKind);
    fn state(&self, session: &Self::Session) -> SessionState;
    /// Sets the state outside the table (the process before is gone), as a `session_state`.
    fn force_state(&mut self, session: &Self::Session, to: SessionState, why: &'static str);
    /// Waits until everything submitted is durable.
    async fn durable(&mut self) -> Result<(), Self::Error>;
    /// Told that the recovery could not be made durable: what is stored is served.
    fn not_durable(&mut self, error: Self::Error);
    /// The sessions whose durable turn queue is not empty and that are this recovery's (of its
    /// user, for a takeover) and not fenced, in order.
    async fn queued_sessions(&mut self) -> Result<Vec<String>, Self::Error>;
    /// Starts a runtime for the session (unless one lives), which runs its queue.
    async fn resume(&mut self, session_id: &str) -> Result<(), Self::Error>;
}

/// How a session's runtime was lost without a trace of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostRuntime {
    /// The process before died or stopped.
    Restart,
    /// Its session's writes failed (a full disk); written by the repair once storage works.
    Storage,
}

impl LostRuntime {
    /// `turn_end.error` of the turn it cut.
    pub fn turn_error(self) -> &'static str {
        match self {
            Self::Restart => reason::SERVER_RESTART,
            Self::Storage => "storage",
        }
    }

    /// `session_state.reason` of the session's change to ENDED.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Restart => reason::SERVER_RESTART,
            Self::Storage => reason::STORAGE_FAILED,
        }
    }
}

/// What closes what a lost runtime left open, in order: each unanswered permission request
/// expires (an answer can no longer win), then the cut turn (`open_turn`) ends with the cause's
/// error. The session's state change comes after these ([`lifecycle::recover_on_start`]).
/// Recovery and the store's repair both write exactly this.
pub fn closing_events(
    cause: LostRuntime,
    pending_permissions: Vec<String>,
    open_turn: Option<String>,
) -> Vec<EventKind> {
    let expired = pending_permissions.into_iter().map(|request_id| {
        EventKind::PermissionResolved(crate::protocol::PermissionResolved {
            request_id,
            outcome: super::PermissionOutcome::Expired.as_str().to_owned(),
            option_id: None,
            client_msg_id: None,
        })
    });
    let turn_end = open_turn.map(|turn_id| {
        EventKind::TurnEnd(TurnEnd {
            turn_id,
            reason: TurnEndReason::Error,
            error: Some(cause.turn_error().to_owned()),
            usage: None,
            stop_reason: None,
        })
    });
    Vec::from_iter(expired.chain(turn_end))
}

/// Recovers every unfinished session, then runs the durable turn queues; returns how many
/// sessions were unfinished.
pub async fn recover<D: RecoveryDriver>(driver: &mut D) -> Result<usize, D::Error> {
    let sessions = driver.unfinished().await?;
    let cause = LostRuntime::Restart;
    for session in &sessions {
        let pending = driver.pending_permissions(session).await?;
        let open_turn = driver.open_turn(session).await?;
        for event in closing_events(cause, pending, open_turn) {
            driver.append(session, event);
        }
        if let Some(to) = lifecycle::recover_on_start(driver.state(session)) {
            driver.force_state(session, to, cause.reason());
        }
    }
    if let Err(error) = driver.durable().await {
        driver.not_durable(error);
        return Ok(sessions.len());
    }
    // Acked messages the process before never ran run now, in order (PROTOCOL.md §3).
    for session_id in driver.queued_sessions().await? {
        driver.resume(&session_id).await?;
    }
    Ok(sessions.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct Fake {
        states: BTreeMap<&'static str, SessionState>,
        permissions: BTreeMap<&'static str, Vec<String>>,
        open: BTreeMap<&'static str, String>,
        queued: Vec<String>,
        durable_fails: bool,
        log: Vec<String>,
    }

    impl RecoveryDriver for Fake {
        type Session = &'static str;
        type Error = String;

        async fn unfinished(&mut self) -> Result<Vec<&'static str>, String> {
            Ok(Vec::from_iter(
                self.states
                    .iter()
                    .filter(|(_, state)| **state != SessionState::Ended)
                    .map(|(id, _)| *id),
            ))
        }
        async fn pending_permissions(&mut self, s: &&'static str) -> Result<Vec<String>, String> {
            Ok(self.permissions.remove(s).unwrap_or_default())
        }
        async fn open_turn(&mut self, s: &&'static str) -> Result<Option<String>, String> {
            Ok(self.open.remove(s))
        }
        fn append(&mut self, s: &&'static str, event: EventKind) {
            let what = match event {
                EventKind::PermissionResolved(p) => format!("{} {}", p.outcome, p.request_id),
                EventKind::TurnEnd(t) => format!("turn_end {} {:?}", t.turn_id, t.error),
                other => format!("{other:?}"),
            };
            self.log.push(format!("{s}: {what}"));
        }
        fn state(&self, s: &&'static str) -> SessionState {
            self.states[s]
        }
        fn force_state(&mut self, s: &&'static str, to: SessionState, why: &'static str) {
            self.states.insert(s, to);
            self.log.push(format!("{s}: {to:?} {why}"));
        }
        async fn durable(&mut self) -> Result<(), String> {
            if self.durable_fails {
                return Err("disk full".into());
            }
            self.log.push("durable".into());
            Ok(())
        }
        fn not_durable(&mut self, error: String) {
            self.log.push(format!("not durable: {error}"));
        }
        async fn queued_sessions(&mut self) -> Result<Vec<String>, String> {
            Ok(std::mem::take(&mut self.queued))
        }
        async fn resume(&mut self, id: &str) -> Result<(), String> {
            self.log.push(format!("resume {id}"));
            Ok(())
        }
    }

    fn fake() -> Fake {
        let mut fake = Fake::default();
        fake.states.insert("a", SessionState::Active);
        fake.states.insert("b", SessionState::Ended);
        fake.permissions.insert("a", vec!["r1".into()]);
        fake.open.insert("a", "t1".into());
        fake.queued = vec!["a".into()];
        fake
    }

    #[test]
    fn questions_expire_then_the_cut_turn_ends_then_the_session_then_queues_run() {
        let mut fake = fake();
        let recovered = crate::engine::run_ready(recover(&mut fake)).unwrap();
        assert_eq!(recovered, Ok(1));
        assert_eq!(
            fake.log,
            [
                "a: expired r1",
                "a: turn_end t1 Some(\"server_restart\")",
                "a: Ended server_restart",
                "durable",
                "resume a",
            ]
        );
    }

    #[test]
    fn a_recovery_that_cannot_be_stored_runs_no_queue() {
        let mut fake = fake();
        fake.durable_fails = true;
        crate::engine::run_ready(recover(&mut fake))
            .unwrap()
            .unwrap();
        assert_eq!(fake.log.last().unwrap(), "not durable: disk full");
        assert!(!fake.log.iter().any(|line| line.starts_with("resume")));
    }
}

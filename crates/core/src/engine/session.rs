//! One session's lifecycle as the server carries it out (PROTOCOL.md §3): its state with a
//! version, the timers its states start, how a runtime is started and how a session is closed.
//! `crate::lifecycle` holds the table and the triggers; this holds what the server does with them.
//!
//! Invariants:
//! - the state only moves along the table ([`SessionLifecycle::transition`]); a refused move
//!   changes nothing. The one exception is start-up recovery ([`SessionLifecycle::force`]);
//! - every change bumps the version, so a timer started in one state does nothing once the
//!   session has left it (even if it came back to the same state since);
//! - DETACHED expires after the detach TTL (the session is closed), SUSPENDED after the suspend
//!   grace (it becomes DETACHED).

use crate::lifecycle::{self, reason, triggers, InvalidTransition};
use crate::SessionState;

/// A state change, to persist as a `session_state` event (and to start its timer, if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    pub from: SessionState,
    pub to: SessionState,
    /// The version the session has from this change on.
    pub version: u64,
    /// The timer the new state starts.
    pub timer: Option<Timer>,
}

/// Which expiry a timer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// DETACHED for the detach TTL: the session is closed.
    DetachTtl,
    /// SUSPENDED for the suspend grace: it becomes DETACHED.
    SuspendGrace,
}

/// A timer a state change started: it counts for the version it was started at only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    pub kind: TimerKind,
    pub version: u64,
}

/// What a timer that went off asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Close the session (see [`close_plan`]) with this reason.
    Close(&'static str),
    /// Move it to this state, with this reason.
    Transition(SessionState, &'static str),
}

/// A session's state and its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifecycle {
    state: SessionState,
    version: u64,
}

impl SessionLifecycle {
    /// A session as loaded (its stored state), at version 0.
    pub fn new(state: SessionState) -> Self {
        Self { state, version: 0 }
    }

    pub fn state(&self) -> SessionState {
        self.state
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    fn set(&mut self, to: SessionState) -> StateChange {
        let from = self.state;
        self.state = to;
        self.version += 1;
        let timer = match to {
            SessionState::Detached => Some(TimerKind::DetachTtl),
            SessionState::Suspended => Some(TimerKind::SuspendGrace),
            _ => None,
        };
        StateChange {
            from,
            to,
            version: self.version,
            timer: timer.map(|kind| Timer {
                kind,
                version: self.version,
            }),
        }
    }

    /// Moves to `to` if the table allows it.
    pub fn transition(&mut self, to: SessionState) -> Result<StateChange, InvalidTransition> {
        lifecycle::transition(self.state, to)?;
        Ok(self.set(to))
    }

    /// The one move outside the table: start-up recovery (no timer is started).
    pub fn force(&mut self, to: SessionState) -> StateChange {
        StateChange {
            timer: None,
            ..self.set(to)
        }
    }

    /// A timer went off: what it asks for, or `None` when it is stale (the session changed
    /// state since it was started).
    pub fn expire(&self, timer: Timer) -> Option<Expiry> {
        if timer.version != self.version {
            return None;
        }
        match timer.kind {
            TimerKind::DetachTtl => Some(Expiry::Close(reason::DETACH_TTL_EXPIRED)),
            TimerKind::SuspendGrace => triggers::suspend_grace_expired(self.state)
                .map(|to| Expiry::Transition(to, reason::SUSPEND_GRACE_EXPIRED)),
        }
    }
}

/// The steps that bring a session without a live runtime to ACTIVE with a new one, each with its
/// reason; the runtime is started at the ACTIVE step. A live state with no runtime (it vanished
/// without its clean-up) is ended first, so the resume starts from ENDED like any other.
pub fn start_steps(state: SessionState) -> Vec<(SessionState, &'static str)> {
    let mut steps = Vec::new();
    let mut from = state;
    if !matches!(
        state,
        SessionState::Created | SessionState::Starting | SessionState::Ended
    ) {
        steps.push((SessionState::Ended, reason::RUNTIME_EXITED));
        from = SessionState::Ended;
    }
    for &step in triggers::start_runtime(Some(from)) {
        let why = match step {
            SessionState::Created => reason::RESUMED,
            SessionState::Starting => reason::RUNTIME_STARTING,
            _ => reason::RUNTIME_READY,
        };
        steps.push((step, why));
    }
    steps
}

/// How a session is closed (`close_session`, the detach TTL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosePlan {
    /// CLOSING, and the runtime lets its current turn finish, then exits (the session ENDED).
    CloseRuntime,
    /// CLOSING, then at once ENDED (`closed`): there is no runtime to wait for.
    ClosingThenEnded,
    /// No CLOSING edge from here: the runtime is aborted (`closed`) and its exit ends it.
    AbortRuntime,
    /// No CLOSING edge and no runtime: ENDED (`closed`) at once.
    EndNow,
    /// Closing or ended already.
    Nothing,
}

/// The plan for closing a session in `state`, with or without a live runtime.
pub fn close_plan(state: SessionState, has_runtime: bool) -> ClosePlan {
    match (triggers::close(state), has_runtime) {
        ([SessionState::Closing], true) => ClosePlan::CloseRuntime,
        ([SessionState::Closing], false) => ClosePlan::ClosingThenEnded,
        ([SessionState::Ended], true) => ClosePlan::AbortRuntime,
        ([SessionState::Ended], false) => ClosePlan::EndNow,
        _ => ClosePlan::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionState::*;

    #[test]
    fn moves_follow_the_table_and_bump_the_version() {
        let mut session = SessionLifecycle::new(Created);
        assert!(session.transition(Active).is_err());
        assert_eq!(session.version(), 0);
        let change = session.transition(Starting).unwrap();
        assert_eq!(
            (change.from, change.to, change.version),
            (Created, Starting, 1)
        );
        assert_eq!(change.timer, None);
        let forced = session.force(Ended);
        assert_eq!((forced.to, forced.version), (Ended, 2));
    }

    #[test]
    fn a_timer_counts_only_for_the_state_it_was_started_in() {
        let mut session = SessionLifecycle::new(Active);
        let detached = session.transition(Detached).unwrap();
        let timer = detached.timer.unwrap();
        assert_eq!(timer.kind, TimerKind::DetachTtl);
        assert_eq!(
            session.expire(timer),
            Some(Expiry::Close(reason::DETACH_TTL_EXPIRED))
        );
        // Back to ACTIVE and DETACHED again: the first timer is stale, the second counts.
        session.transition(Active).unwrap();
        let again = session.transition(Detached).unwrap().timer.unwrap();
        assert_eq!(session.expire(timer), None);
        assert!(session.expire(again).is_some());
        let mut session = SessionLifecycle::new(Active);
        let grace = session.transition(Suspended).unwrap().timer.unwrap();
        assert_eq!(grace.kind, TimerKind::SuspendGrace);
        assert_eq!(
            session.expire(grace),
            Some(Expiry::Transition(Detached, reason::SUSPEND_GRACE_EXPIRED))
        );
    }

    #[test]
    fn a_runtime_starts_from_ended_and_a_stray_live_state_is_ended_first() {
        assert_eq!(
            start_steps(Ended),
            vec![
                (Created, reason::RESUMED),
                (Starting, reason::RUNTIME_STARTING),
                (Active, reason::RUNTIME_READY),
            ]
        );
        assert_eq!(start_steps(Starting), vec![(Active, reason::RUNTIME_READY)]);
        let stray = start_steps(Detached);
        assert_eq!(stray[0], (Ended, reason::RUNTIME_EXITED));
        assert_eq!(stray.len(), 4);
        // Every plan is a valid path.
        for state in SessionState::ALL {
            let steps = Vec::from_iter(start_steps(state).into_iter().map(|(s, _)| s));
            assert!(lifecycle::path(state, &steps).is_ok(), "{state}");
        }
    }

    #[test]
    fn closing_lets_a_runtime_finish_where_the_table_has_closing() {
        assert_eq!(close_plan(Active, true), ClosePlan::CloseRuntime);
        assert_eq!(close_plan(Detached, false), ClosePlan::ClosingThenEnded);
        assert_eq!(close_plan(Suspended, true), ClosePlan::AbortRuntime);
        assert_eq!(close_plan(Created, false), ClosePlan::EndNow);
        assert_eq!(close_plan(Closing, true), ClosePlan::Nothing);
        assert_eq!(close_plan(Ended, false), ClosePlan::Nothing);
    }
}

//! One session's lifecycle as the server carries it out (PROTOCOL.md §3): its state with a
//! version, the timers its states start, and the steps that start, close and end a runtime.
//! `crate::lifecycle` holds the table and the triggers; this holds what the server does with them.
//!
//! Invariants:
//! - the state only moves along the table ([`SessionLifecycle::transition`]); a refused move
//!   changes nothing. The one exception is start-up recovery ([`SessionLifecycle::force`]);
//! - every change bumps the version, so a timer started in one state does nothing once the
//!   session has left it (even if it came back to the same state since);
//! - DETACHED expires after the detach TTL (the session is closed), SUSPENDED after the suspend
//!   grace (it becomes DETACHED);
//! - starting, closing and ending a runtime are lists of [`Step`]s in the order the driver
//!   carries them out: a new runtime is registered before ACTIVE is stored, and an exited one
//!   forgotten only after its session's ENDED, so a route never finds an ACTIVE session
//!   without a runtime, nor a routable one whose runtime is merely finishing.

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
    /// Close the session (see [`close_steps`]) with this reason.
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

/// One step of starting, closing or ending a session's runtime, which the driver carries out
/// in the order given: the order is part of what the engine decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Moves the session to the state for the reason ([`SessionLifecycle::transition`]: a
    /// `session_state` event, and the timer it starts).
    Go(SessionState, &'static str),
    /// Starts the session's runtime and registers it. It comes before the ACTIVE step, so a
    /// route that reads ACTIVE always finds the runtime.
    StartRuntime,
    /// Asks the live runtime to let its current turn finish, then exit (its exit ends the
    /// session).
    CloseRuntime,
    /// Aborts the live runtime for the reason; its exit ends the session. The caller awaits the
    /// exit once it let go of the session's route.
    AbortRuntime(&'static str),
    /// Unregisters the runtime that exited. It comes after the session's ENDED, so routing
    /// never sees a routable session without a runtime because one is merely finishing.
    ForgetRuntime,
}

/// The steps that bring a session without a live runtime to ACTIVE with a new one, each with its
/// reason; the runtime is started right before the ACTIVE step. A live state with no runtime
/// (it vanished without its clean-up) is ended first, so the resume starts from ENDED like any
/// other.
pub fn start_steps(state: SessionState) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut from = state;
    if !matches!(
        state,
        SessionState::Created | SessionState::Starting | SessionState::Ended
    ) {
        steps.push(Step::Go(SessionState::Ended, reason::RUNTIME_EXITED));
        from = SessionState::Ended;
    }
    for &step in triggers::start_runtime(Some(from)) {
        let why = match step {
            SessionState::Created => reason::RESUMED,
            SessionState::Starting => reason::RUNTIME_STARTING,
            _ => reason::RUNTIME_READY,
        };
        if step == SessionState::Active {
            steps.push(Step::StartRuntime);
        }
        steps.push(Step::Go(step, why));
    }
    steps
}

/// How a session in `state` is closed for `why` (`close_session`, the detach TTL), with or
/// without a live runtime: CLOSING (for `why`), and the runtime lets its current turn finish (or, with no runtime to wait
/// for, ENDED at once); from a state with no CLOSING edge, the runtime is aborted and its exit
/// ends the session (or, with none, ENDED at once). Nothing if it is closing or ended already.
pub fn close_steps(state: SessionState, has_runtime: bool, why: &'static str) -> Vec<Step> {
    use SessionState::{Closing, Ended};
    match (triggers::close(state), has_runtime) {
        ([Closing], true) => Vec::from([Step::Go(Closing, why), Step::CloseRuntime]),
        ([Closing], false) => Vec::from([Step::Go(Closing, why), Step::Go(Ended, reason::CLOSED)]),
        ([Ended], true) => Vec::from([Step::AbortRuntime(reason::CLOSED)]),
        ([Ended], false) => Vec::from([Step::Go(Ended, reason::CLOSED)]),
        _ => Vec::new(),
    }
}

/// What follows a runtime's exit for `why`, for a session in `state`: ENDED (unless it is
/// already), then the runtime unregistered.
pub fn exit_steps(state: SessionState, why: &'static str) -> Vec<Step> {
    let mut steps = Vec::from_iter(triggers::runtime_exited(state).map(|to| Step::Go(to, why)));
    steps.push(Step::ForgetRuntime);
    steps
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

    /// The states a list of steps moves through, for checking it against the table.
    fn states(steps: &[Step]) -> Vec<SessionState> {
        Vec::from_iter(steps.iter().filter_map(|step| match step {
            Step::Go(state, _) => Some(*state),
            _ => None,
        }))
    }

    #[test]
    fn a_runtime_starts_right_before_active_from_ended_and_a_stray_live_state_is_ended_first() {
        assert_eq!(
            start_steps(Ended),
            [
                Step::Go(Created, reason::RESUMED),
                Step::Go(Starting, reason::RUNTIME_STARTING),
                Step::StartRuntime,
                Step::Go(Active, reason::RUNTIME_READY),
            ]
        );
        assert_eq!(
            start_steps(Starting),
            [Step::StartRuntime, Step::Go(Active, reason::RUNTIME_READY)]
        );
        let stray = start_steps(Detached);
        assert_eq!(stray[0], Step::Go(Ended, reason::RUNTIME_EXITED));
        assert_eq!(stray.len(), 5);
        for state in SessionState::ALL {
            let steps = start_steps(state);
            assert!(lifecycle::path(state, &states(&steps)).is_ok(), "{state}");
            let starts = steps
                .iter()
                .filter(|step| **step == Step::StartRuntime)
                .count();
            assert_eq!(starts, 1, "{state}");
        }
    }

    #[test]
    fn closing_lets_a_runtime_finish_where_the_table_has_closing() {
        let closing = Step::Go(Closing, reason::CLOSE_REQUESTED);
        assert_eq!(
            close_steps(Active, true, reason::CLOSE_REQUESTED),
            [closing, Step::CloseRuntime]
        );
        assert_eq!(
            close_steps(Detached, false, reason::CLOSE_REQUESTED),
            [closing, Step::Go(Ended, reason::CLOSED)]
        );
        assert_eq!(
            close_steps(Suspended, true, reason::CLOSE_REQUESTED),
            [Step::AbortRuntime(reason::CLOSED)]
        );
        assert_eq!(
            close_steps(Created, false, reason::CLOSE_REQUESTED),
            [Step::Go(Ended, reason::CLOSED)]
        );
        assert!(close_steps(Closing, true, reason::CLOSE_REQUESTED).is_empty());
        assert!(close_steps(Ended, false, reason::CLOSE_REQUESTED).is_empty());
        for state in SessionState::ALL {
            for has_runtime in [false, true] {
                let steps = close_steps(state, has_runtime, reason::DETACH_TTL_EXPIRED);
                assert!(lifecycle::path(state, &states(&steps)).is_ok(), "{state}");
            }
        }
    }

    #[test]
    fn an_exited_runtime_is_forgotten_after_its_session_ended() {
        assert_eq!(
            exit_steps(Active, reason::RUNTIME_EXITED),
            [Step::Go(Ended, reason::RUNTIME_EXITED), Step::ForgetRuntime]
        );
        assert_eq!(
            exit_steps(Ended, reason::RUNTIME_EXITED),
            [Step::ForgetRuntime]
        );
    }
}

//! The durable session lifecycle of PROTOCOL.md §3: states, the enforced transition table, and
//! the triggers that move a session between states.

use std::fmt;

wire_unit_enum! {
    /// The durable state of a session: the single source of truth for routing.
    #[derive(Hash, PartialOrd, Ord)]
    pub enum SessionState {
        "CREATED" Created,
        "STARTING" Starting,
        "ACTIVE" Active,
        "DETACHED" Detached,
        "SUSPENDED" Suspended,
        "CLOSING" Closing,
        "ENDED" Ended,
    }
}

impl SessionState {
    /// The states this one may move to (PROTOCOL.md §3).
    pub fn successors(self) -> &'static [SessionState] {
        use SessionState::*;
        match self {
            Created => &[Starting, Ended],
            Starting => &[Active, Ended],
            Active => &[Detached, Suspended, Closing, Ended],
            Detached => &[Active, Suspended, Closing, Ended],
            Suspended => &[Active, Detached, Ended],
            Closing => &[Ended],
            Ended => &[Created],
        }
    }

    /// Whether a new prompt may be routed to a session in this state. CLOSING is not: a closing
    /// session is winding down. ENDED is not: its runtime, if any, is a zombie.
    pub fn is_routable(self) -> bool {
        !matches!(self, Self::Closing | Self::Ended)
    }
}

/// A transition the table does not allow. The state must not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTransition {
    pub from: SessionState,
    pub to: SessionState,
}

impl fmt::Display for InvalidTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid session transition {} -> {}", self.from, self.to)
    }
}

impl std::error::Error for InvalidTransition {}

/// Checks one transition against the table and returns the new state.
pub fn transition(from: SessionState, to: SessionState) -> Result<SessionState, InvalidTransition> {
    if from.successors().contains(&to) {
        Ok(to)
    } else {
        Err(InvalidTransition { from, to })
    }
}

/// Checks a path of transitions (e.g. CLOSING then ENDED) and returns every step, or the first
/// invalid one. Nothing is applied unless the whole path is valid.
pub fn path(
    from: SessionState,
    steps: &[SessionState],
) -> Result<Vec<(SessionState, SessionState)>, InvalidTransition> {
    let mut current = from;
    let mut out = Vec::with_capacity(steps.len());
    for &to in steps {
        transition(current, to)?;
        out.push((current, to));
        current = to;
    }
    Ok(out)
}

/// The one forced transition, outside the table: at server start every session that is not
/// ENDED becomes ENDED, because its in-memory runtime died with the old process.
pub fn recover_on_start(state: SessionState) -> Option<SessionState> {
    (state != SessionState::Ended).then_some(SessionState::Ended)
}

/// Why a session changed state; sent as `session_state.reason`.
pub mod reason {
    /// A runtime was started for a new or resumed session.
    pub const RUNTIME_STARTING: &str = "runtime_starting";
    pub const RUNTIME_READY: &str = "runtime_ready";
    pub const CREATED: &str = "created";
    pub const RESUMED: &str = "resumed";
    pub const WATCHER_JOINED: &str = "watcher_joined";
    pub const WATCHERS_LEFT: &str = "watchers_left";
    pub const SUSPENDED: &str = "suspended";
    pub const SUSPEND_GRACE_EXPIRED: &str = "suspend_grace_expired";
    pub const DETACH_TTL_EXPIRED: &str = "detach_ttl_expired";
    pub const CLOSE_REQUESTED: &str = "close_requested";
    pub const CLOSED: &str = "closed";
    pub const STOPPED: &str = "stopped";
    pub const RUNTIME_EXITED: &str = "runtime_exited";
    pub const ZOMBIE_ABORTED: &str = "zombie_aborted";
    pub const SERVER_RESTART: &str = "server_restart";
    /// A graceful shutdown stopped the runtime (its queued turns run on the next start).
    pub const SERVER_SHUTDOWN: &str = "server_shutdown";
    /// A storage failure stopped the runtime (its queued turns run after the repair).
    pub const STORAGE_FAILED: &str = "storage_failed";
}

/// Triggers of PROTOCOL.md §3, each answering "to which state, if any, does this event move a
/// session in `state`?". `None` means the event does not change the state.
pub mod triggers {
    use super::SessionState::{self, *};

    /// A watcher came back (switch, watch, send, reconnect): DETACHED or SUSPENDED becomes ACTIVE.
    pub fn watcher_joined(state: SessionState) -> Option<SessionState> {
        matches!(state, Detached | Suspended).then_some(Active)
    }

    /// The last watcher went away (disconnect, unwatch, switch away): ACTIVE becomes DETACHED.
    /// A SUSPENDED session stays suspended until its grace period ends.
    pub fn last_watcher_left(state: SessionState) -> Option<SessionState> {
        (state == Active).then_some(Detached)
    }

    /// `suspend`: ACTIVE or DETACHED becomes SUSPENDED.
    pub fn suspend(state: SessionState) -> Option<SessionState> {
        matches!(state, Active | Detached).then_some(Suspended)
    }

    /// The suspend grace period (default 2 min) ran out: SUSPENDED becomes DETACHED.
    pub fn suspend_grace_expired(state: SessionState) -> Option<SessionState> {
        (state == Suspended).then_some(Detached)
    }

    /// The steps of a graceful close: CLOSING first where the table has that edge (the current
    /// turn finishes, then ENDED), otherwise straight to ENDED.
    pub fn close(state: SessionState) -> &'static [SessionState] {
        match state {
            Active | Detached => &[Closing],
            Created | Starting | Suspended => &[Ended],
            Closing | Ended => &[],
        }
    }

    /// A runtime exited (stop, crash, abort): the session ends.
    pub fn runtime_exited(state: SessionState) -> Option<SessionState> {
        (state != Ended).then_some(Ended)
    }

    /// The steps that bring a session to ACTIVE with a new runtime: from ENDED (resume) the
    /// session goes CREATED, STARTING, ACTIVE; a brand new session starts at CREATED.
    pub fn start_runtime(state: Option<SessionState>) -> &'static [SessionState] {
        match state {
            None => &[Starting, Active],
            Some(Ended) => &[Created, Starting, Active],
            Some(Created) => &[Starting, Active],
            Some(Starting) => &[Active],
            Some(_) => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_macros)]
    use super::SessionState::*;
    use super::*;

    /// The table of PROTOCOL.md §3, written out as the 49 pairs and their verdicts.
    #[test]
    fn all_49_pairs_match_the_table() {
        let allowed = [
            (Created, Starting),
            (Created, Ended),
            (Starting, Active),
            (Starting, Ended),
            (Active, Detached),
            (Active, Suspended),
            (Active, Closing),
            (Active, Ended),
            (Detached, Active),
            (Detached, Suspended),
            (Detached, Closing),
            (Detached, Ended),
            (Suspended, Active),
            (Suspended, Detached),
            (Suspended, Ended),
            (Closing, Ended),
            (Ended, Created),
        ];
        let mut checked = 0;
        for from in SessionState::ALL {
            for to in SessionState::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(transition(from, to).is_ok(), expected, "{from} -> {to}");
                if !expected {
                    assert_eq!(transition(from, to), Err(InvalidTransition { from, to }));
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 49);
        assert_eq!(allowed.len(), 17);
    }

    #[test]
    fn recovery_forces_every_live_state_to_ended() {
        for state in SessionState::ALL {
            let expected = if state == Ended { None } else { Some(Ended) };
            assert_eq!(recover_on_start(state), expected);
        }
    }

    #[test]
    fn every_trigger_result_is_a_valid_transition() {
        for state in SessionState::ALL {
            for to in [
                triggers::watcher_joined(state),
                triggers::last_watcher_left(state),
                triggers::suspend(state),
                triggers::suspend_grace_expired(state),
                triggers::runtime_exited(state),
            ]
            .into_iter()
            .flatten()
            {
                assert!(transition(state, to).is_ok(), "{state} -> {to}");
            }
            assert!(
                path(state, triggers::close(state)).is_ok(),
                "close from {state}"
            );
            assert!(
                path(state, triggers::start_runtime(Some(state))).is_ok(),
                "start from {state}"
            );
        }
    }

    #[test]
    fn a_path_stops_at_its_first_invalid_step() {
        assert_eq!(
            path(Active, &[Closing, Active]),
            Err(InvalidTransition {
                from: Closing,
                to: Active
            })
        );
        assert_eq!(
            path(Ended, &[Created, Starting, Active]).map(|steps| steps.len()),
            Ok(3)
        );
    }

    #[test]
    fn routable_states() {
        let routable: Vec<_> = SessionState::ALL
            .into_iter()
            .filter(|s| s.is_routable())
            .collect();
        assert_eq!(
            routable,
            vec![Created, Starting, Active, Detached, Suspended]
        );
    }

    #[test]
    fn wire_names_round_trip() {
        for state in SessionState::ALL {
            assert_eq!(SessionState::parse(state.as_str()), Some(state));
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{}\"", state.as_str())
            );
        }
    }
}

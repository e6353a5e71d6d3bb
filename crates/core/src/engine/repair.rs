//! A session whose writes failed (PROTOCOL.md §2, a full or failing disk): what happens to it
//! until storage works again, and what its repair writes.
//!
//! Invariants, in this order for each failed session:
//! - it is fenced at once (every write of it is refused, so its log keeps no gap and no half
//!   turn), and only once: a second failure while its repair is under way changes nothing;
//! - its runtime is aborted (the turn it ran is cut), and has exited before the first repair
//!   is tried, so nothing of the old runtime is written after the repair;
//! - the repair is one write, retried with a doubling delay from [`FIRST_RETRY`] up to
//!   [`MAX_RETRY`] until it is stored (or the server shuts down); it writes what recovery
//!   writes for a lost runtime ([`repair_events`]: unanswered requests expire, the cut turn
//!   ends with `error: "storage"`, the session goes ENDED);
//! - only once it is stored is the fence lifted, and then the session's durable turn queue
//!   runs (acked messages are never lost to a failed disk).

use super::recovery::{closing_events, LostRuntime};
use crate::lifecycle::{self, reason, SessionState};
use crate::protocol::SessionStateChange;
use crate::EventKind;
use std::time::Duration;

/// How soon a failed repair is tried again the first time.
pub const FIRST_RETRY: Duration = Duration::from_millis(200);
/// The longest wait between two tries.
pub const MAX_RETRY: Duration = Duration::from_secs(5);

/// What a stored repair found and wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Repaired {
    /// The session exists in the store (its creation may have been the write that failed).
    pub exists: bool,
    /// Its state after the repair (ENDED unless it had no row).
    pub state: Option<SessionState>,
}

/// The effects a repair asks of its driver, for one session id.
#[allow(async_fn_in_trait)] // The server's futures are `Send` through its concrete driver.
pub trait RepairDriver {
    type Error;

    /// Fences the session; false if it was fenced already (its repair is under way).
    fn fence(&mut self, session_id: &str) -> bool;
    /// Aborts the session's live runtime, if there is one, and waits until it has exited.
    async fn abort_runtime(&mut self, session_id: &str, why: &'static str);
    /// Submits the repair write ([`repair_events`], from what is stored) and waits for it.
    async fn store_repair(&mut self, session_id: &str) -> Result<Repaired, Self::Error>;
    /// Told that a try failed (the next one comes after `retry_in`).
    fn repair_failed(&mut self, session_id: &str, error: Self::Error, retry_in: Duration);
    /// Waits `delay`; false if the server began shutting down meanwhile (the repair stops:
    /// the next start's recovery writes the same).
    async fn wait(&mut self, delay: Duration) -> bool;
    /// The session's creation was never stored: it does not exist, forget it.
    fn forget(&mut self, session_id: &str);
    /// The state the repair stored (its `session_state` is written already), in memory.
    fn set_state(&mut self, session_id: &str, state: SessionState);
    /// Lifts the fence: the session's writes are accepted again.
    fn unfence(&mut self, session_id: &str);
    /// Runs the session's durable turn queue, if it is not empty (a runtime that reads it).
    async fn resume(&mut self, session_id: &str) -> Result<(), Self::Error>;
}

/// What happens as a write of `session_id` fails: fenced and its runtime stopped; true if its
/// repair should now run ([`repair`]), false if one is under way already.
pub async fn storage_failed<D: RepairDriver>(driver: &mut D, session_id: &str) -> bool {
    if !driver.fence(session_id) {
        return false;
    }
    driver
        .abort_runtime(session_id, reason::STORAGE_FAILED)
        .await;
    true
}

/// Tries the repair until it is stored, then lifts the fence and runs the session's queue.
/// `Ok(false)` if the server shut down first (the session stays fenced); an error is the
/// queue's resumption failing (the repair itself is stored then).
pub async fn repair<D: RepairDriver>(driver: &mut D, session_id: &str) -> Result<bool, D::Error> {
    let mut delay = FIRST_RETRY;
    let repaired = loop {
        match driver.store_repair(session_id).await {
            Ok(repaired) => break repaired,
            Err(error) => {
                driver.repair_failed(session_id, error, delay);
                if !driver.wait(delay).await {
                    return Ok(false);
                }
                delay = (delay * 2).min(MAX_RETRY);
            }
        }
    };
    if repaired.exists {
        driver.set_state(session_id, repaired.state.unwrap_or(SessionState::Ended));
    } else {
        driver.forget(session_id);
    }
    driver.unfence(session_id);
    if repaired.exists {
        driver.resume(session_id).await?;
    }
    Ok(true)
}

/// The events a repair writes for a session stored in state `stored`, in order: what closes
/// what its lost runtime left open (its unanswered permission requests, its cut turn
/// `open_turn`), then its change to ENDED (none if it is ENDED already).
pub fn repair_events(
    stored: SessionState,
    pending_permissions: Vec<String>,
    open_turn: Option<String>,
) -> Vec<EventKind> {
    let cause = LostRuntime::Storage;
    let mut events = closing_events(cause, pending_permissions, open_turn);
    if let Some(to) = lifecycle::recover_on_start(stored) {
        events.push(EventKind::SessionState(SessionStateChange {
            state: to,
            previous: Some(stored),
            reason: cause.reason().to_owned(),
        }));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::run_ready;
    use std::collections::BTreeSet;

    /// A driver whose store fails `failures` times, then stores; it logs every effect.
    #[derive(Default)]
    struct Fake {
        fenced: BTreeSet<String>,
        failures: usize,
        exists: bool,
        shutting_down: bool,
        log: Vec<String>,
    }

    impl RepairDriver for Fake {
        type Error = String;

        fn fence(&mut self, id: &str) -> bool {
            self.log.push(format!("fence {id}"));
            self.fenced.insert(id.to_string())
        }
        async fn abort_runtime(&mut self, id: &str, why: &'static str) {
            self.log.push(format!("abort {id} {why}"));
        }
        async fn store_repair(&mut self, id: &str) -> Result<Repaired, String> {
            assert!(self.fenced.contains(id), "a repair runs fenced");
            if self.failures > 0 {
                self.failures -= 1;
                return Err("disk full".into());
            }
            self.log.push(format!("repaired {id}"));
            Ok(Repaired {
                exists: self.exists,
                state: self.exists.then_some(SessionState::Ended),
            })
        }
        fn repair_failed(&mut self, id: &str, error: String, retry_in: Duration) {
            self.log.push(format!(
                "{id}: {error}, again in {}ms",
                retry_in.as_millis()
            ));
        }
        async fn wait(&mut self, _delay: Duration) -> bool {
            !self.shutting_down
        }
        fn forget(&mut self, id: &str) {
            self.log.push(format!("forget {id}"));
        }
        fn set_state(&mut self, id: &str, state: SessionState) {
            self.log.push(format!("{id} {state:?}"));
        }
        fn unfence(&mut self, id: &str) {
            self.fenced.remove(id);
            self.log.push(format!("unfence {id}"));
        }
        async fn resume(&mut self, id: &str) -> Result<(), String> {
            assert!(
                !self.fenced.contains(id),
                "a queue runs only once the fence is lifted"
            );
            self.log.push(format!("resume {id}"));
            Ok(())
        }
    }

    #[test]
    fn fenced_once_then_retried_with_a_doubling_capped_delay_until_stored_then_resumed() {
        let mut fake = Fake {
            failures: 7,
            exists: true,
            ..Fake::default()
        };
        assert_eq!(run_ready(storage_failed(&mut fake, "s")), Some(true));
        assert_eq!(run_ready(storage_failed(&mut fake, "s")), Some(false));
        assert_eq!(run_ready(repair(&mut fake, "s")), Some(Ok(true)));
        assert_eq!(
            fake.log,
            [
                "fence s",
                "abort s storage_failed",
                "fence s",
                "s: disk full, again in 200ms",
                "s: disk full, again in 400ms",
                "s: disk full, again in 800ms",
                "s: disk full, again in 1600ms",
                "s: disk full, again in 3200ms",
                "s: disk full, again in 5000ms",
                "s: disk full, again in 5000ms",
                "repaired s",
                "s Ended",
                "unfence s",
                "resume s",
            ]
        );
    }

    #[test]
    fn a_session_whose_creation_was_lost_is_forgotten_and_runs_nothing() {
        let mut fake = Fake::default();
        run_ready(storage_failed(&mut fake, "s"));
        assert_eq!(run_ready(repair(&mut fake, "s")), Some(Ok(true)));
        assert_eq!(&fake.log[2..], ["repaired s", "forget s", "unfence s"]);
    }

    #[test]
    fn a_shutdown_stops_the_retries_and_leaves_the_session_fenced() {
        let mut fake = Fake {
            failures: 1,
            exists: true,
            shutting_down: true,
            ..Fake::default()
        };
        run_ready(storage_failed(&mut fake, "s"));
        assert_eq!(run_ready(repair(&mut fake, "s")), Some(Ok(false)));
        assert!(fake.fenced.contains("s"));
        assert!(!fake.log.iter().any(|line| line.starts_with("resume")));
    }

    #[test]
    fn the_repair_closes_what_the_runtime_left_open_then_ends_the_session() {
        let events = repair_events(
            SessionState::Active,
            Vec::from(["r1".to_string()]),
            Some("t1".into()),
        );
        let kinds = Vec::from_iter(events.iter().map(EventKind::type_name));
        assert_eq!(kinds, ["permission_resolved", "turn_end", "session_state"]);
        let EventKind::TurnEnd(end) = &events[1] else {
            unreachable!()
        };
        assert_eq!(end.error.as_deref(), Some("storage"));
        let EventKind::SessionState(change) = &events[2] else {
            unreachable!()
        };
        assert_eq!(change.state, SessionState::Ended);
        assert_eq!(change.previous, Some(SessionState::Active));
        assert_eq!(change.reason, reason::STORAGE_FAILED);
        assert!(repair_events(SessionState::Ended, Vec::new(), None).is_empty());
    }
}

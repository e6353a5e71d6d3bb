//! A session runtime's turns (PROTOCOL.md §4): which one runs, which waits, and what becomes of
//! the queue when the runtime is interrupted, closed, aborted or loses its agent.
//!
//! The scheduler queues the driver's own turns (`T`: the server's holds the message's id, its
//! prompt and the store's answer for its `user_message`) and never looks inside them; the driver
//! (the server's runtime task, the simulator's model runtime) carries out what it answers: start
//! a turn, cancel the running one, record dropped turns, exit.
//!
//! Invariants:
//! - at most one turn runs; turns start in the order they were queued (an interrupt's turn goes
//!   first), and only once their `user_message` is stored; one whose message could not be
//!   stored never runs;
//! - a closing runtime runs no new turn: its queue is dropped (recorded as never to run), later
//!   deliveries are refused, and it exits once the running turn ended;
//! - an abort cancels the running turn; a user's stop drops the queue for good, while a server
//!   shutdown or a storage failure keeps it stored, to run when the session's runtime next
//!   starts; a runtime that lost its agent keeps its queue stored the same way.

use std::collections::VecDeque;

/// Where a queued turn's `user_message` stands in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Pending,
    Stored,
    Failed,
}

/// What the runtime does next, when no turn runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next<T> {
    /// Start this turn (it now runs).
    Start(T),
    /// This turn's message was never stored: it is not run (the client was told `unavailable`
    /// and retries); ask again.
    Discard(T),
    /// Wait for a command, or for the store's answer for the head of the queue.
    Wait,
    /// Closing, and the last turn ended: the runtime exits.
    Exit,
}

/// What an abort leaves to the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aborted<T> {
    /// A turn was running: cancel it (then write its `turn_end`).
    pub cancel: bool,
    /// The queue, emptied.
    pub queue: Vec<T>,
    /// Whether the queue stays stored (to run on the next start) rather than dropped for good.
    pub keeps_queue: bool,
}

/// Why a runtime is aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortCause {
    /// The user stopped it, or it was a zombie: its queued turns never run.
    Stop,
    /// The server is shutting down, or storage failed: its queued turns run on the next start.
    Suspend,
}

impl AbortCause {
    /// The cause of an abort for `reason` (its `session_state.reason`): a server shutdown or a
    /// storage failure suspends, anything else stops.
    pub fn for_reason(reason: &str) -> Self {
        if reason == crate::lifecycle::reason::SERVER_SHUTDOWN
            || reason == crate::lifecycle::reason::STORAGE_FAILED
        {
            Self::Suspend
        } else {
            Self::Stop
        }
    }
}

/// One runtime's turns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnScheduler<T> {
    queue: VecDeque<T>,
    running: bool,
    closing: bool,
}

impl<T> Default for TurnScheduler<T> {
    fn default() -> Self {
        Self {
            queue: VecDeque::new(),
            running: false,
            closing: false,
        }
    }
}

impl<T> TurnScheduler<T> {
    /// Whether a turn runs.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Turns queued behind the running one.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The turn that starts next, once its message is stored (none while one runs).
    pub fn head(&self) -> Option<&T> {
        if self.running {
            None
        } else {
            self.queue.front()
        }
    }

    /// What to do now; `stored` tells where a queued turn's message stands.
    pub fn next(&mut self, stored: impl Fn(&T) -> Stored) -> Next<T> {
        if self.running {
            return Next::Wait;
        }
        if self.closing {
            return Next::Exit;
        }
        let standing = match self.queue.front() {
            Some(head) => stored(head),
            None => return Next::Wait,
        };
        if standing == Stored::Pending {
            return Next::Wait;
        }
        let Some(turn) = self.queue.pop_front() else {
            return Next::Wait;
        };
        if standing == Stored::Failed {
            return Next::Discard(turn);
        }
        self.running = true;
        Next::Start(turn)
    }

    /// Queues a turn after the others; a closing runtime refuses it (returned: record it as
    /// never to run).
    pub fn deliver(&mut self, turn: T) -> Option<T> {
        if self.closing {
            return Some(turn);
        }
        self.queue.push_back(turn);
        None
    }

    /// Interrupts: the running turn is cancelled (true: one was running; the driver cancels it
    /// and writes its `turn_end`), and `next` runs first. A closing runtime refuses `next`
    /// (returned, as for [`TurnScheduler::deliver`]).
    pub fn interrupt(&mut self, next: Option<T>) -> (bool, Option<T>) {
        let cancel = std::mem::take(&mut self.running);
        let refused = match next {
            Some(turn) if self.closing => Some(turn),
            Some(turn) => {
                self.queue.push_front(turn);
                None
            }
            None => None,
        };
        (cancel, refused)
    }

    /// Closes: the running turn finishes, the queue is dropped (returned: record it as never to
    /// run), nothing new starts, and the runtime exits after.
    pub fn close(&mut self) -> Vec<T> {
        self.closing = true;
        Vec::from_iter(self.queue.drain(..))
    }

    /// Aborts: cancels the running turn and empties the queue.
    pub fn abort(&mut self, cause: AbortCause) -> Aborted<T> {
        Aborted {
            cancel: std::mem::take(&mut self.running),
            queue: Vec::from_iter(self.queue.drain(..)),
            keeps_queue: cause == AbortCause::Suspend,
        }
    }

    /// The running turn ended by itself. `agent_lost`: the agent's process is gone, and so is
    /// the runtime: its queue (returned) stays stored, to run on the next start.
    pub fn turn_ended(&mut self, agent_lost: bool) -> Option<Vec<T>> {
        self.running = false;
        agent_lost.then(|| Vec::from_iter(self.queue.drain(..)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A turn: its message's id and where that message stands.
    type Turn = (&'static str, Stored);

    fn turn(id: &'static str) -> Turn {
        (id, Stored::Stored)
    }

    fn pending(id: &'static str) -> Turn {
        (id, Stored::Pending)
    }

    fn started(next: Next<Turn>) -> &'static str {
        match next {
            Next::Start((id, _)) => id,
            other => panic!("expected a start, got {other:?}"),
        }
    }

    /// The scheduler asking each turn where its message stands.
    fn next(turns: &mut TurnScheduler<Turn>) -> Next<Turn> {
        turns.next(|turn| turn.1)
    }

    #[test]
    fn one_turn_at_a_time_in_order_once_stored() {
        let mut turns = TurnScheduler::default();
        assert_eq!(next(&mut turns), Next::Wait);
        assert_eq!(turns.deliver(pending("a")), None);
        assert_eq!(turns.deliver(turn("b")), None);
        // The head's message is not stored yet: nothing starts, not even the one behind it.
        assert_eq!(next(&mut turns), Next::Wait);
        assert_eq!(turns.head().map(|t| t.0), Some("a"));
        let mut turns = TurnScheduler::default();
        turns.deliver(turn("a"));
        turns.deliver(turn("b"));
        assert_eq!(started(next(&mut turns)), "a");
        assert!(turns.is_running());
        assert_eq!(next(&mut turns), Next::Wait);
        assert_eq!(turns.turn_ended(false), None);
        assert_eq!(started(next(&mut turns)), "b");
    }

    #[test]
    fn a_turn_whose_message_was_not_stored_never_runs() {
        let mut turns = TurnScheduler::default();
        turns.deliver(("lost", Stored::Failed));
        turns.deliver(turn("b"));
        assert!(matches!(next(&mut turns), Next::Discard(("lost", _))));
        assert_eq!(started(next(&mut turns)), "b");
    }

    #[test]
    fn an_interrupt_cancels_the_running_turn_and_runs_first() {
        let mut turns = TurnScheduler::default();
        turns.deliver(turn("a"));
        turns.deliver(turn("b"));
        started(next(&mut turns));
        assert_eq!(turns.interrupt(Some(turn("now"))), (true, None));
        assert!(!turns.is_running());
        assert_eq!(started(next(&mut turns)), "now");
        turns.turn_ended(false);
        assert_eq!(started(next(&mut turns)), "b");
        // Nothing running: nothing to cancel.
        turns.turn_ended(false);
        assert_eq!(turns.interrupt(None), (false, None));
    }

    #[test]
    fn a_closing_runtime_finishes_its_turn_drops_the_queue_and_exits() {
        let mut turns = TurnScheduler::default();
        turns.deliver(turn("a"));
        turns.deliver(turn("b"));
        started(next(&mut turns));
        let dropped = turns.close();
        assert_eq!(dropped, vec![turn("b")]);
        assert_eq!(turns.deliver(turn("c")), Some(turn("c")));
        assert_eq!(turns.interrupt(Some(turn("d"))), (true, Some(turn("d"))));
        assert_eq!(next(&mut turns), Next::Exit);
    }

    #[test]
    fn a_stop_drops_the_queue_and_a_shutdown_keeps_it() {
        let mut turns = TurnScheduler::default();
        turns.deliver(turn("a"));
        turns.deliver(turn("b"));
        started(next(&mut turns));
        let stopped = turns.clone().abort(AbortCause::Stop);
        assert_eq!(
            stopped,
            Aborted {
                cancel: true,
                queue: vec![turn("b")],
                keeps_queue: false
            }
        );
        assert!(turns.abort(AbortCause::Suspend).keeps_queue);
        use crate::lifecycle::reason;
        assert_eq!(AbortCause::for_reason(reason::STOPPED), AbortCause::Stop);
        assert_eq!(
            AbortCause::for_reason(reason::ZOMBIE_ABORTED),
            AbortCause::Stop
        );
        assert_eq!(
            AbortCause::for_reason(reason::SERVER_SHUTDOWN),
            AbortCause::Suspend
        );
        assert_eq!(
            AbortCause::for_reason(reason::STORAGE_FAILED),
            AbortCause::Suspend
        );
    }

    #[test]
    fn a_lost_agent_ends_the_runtime_and_keeps_its_queue() {
        let mut turns = TurnScheduler::default();
        turns.deliver(turn("a"));
        turns.deliver(turn("b"));
        started(next(&mut turns));
        assert_eq!(turns.turn_ended(true), Some(vec![turn("b")]));
        assert!(!turns.is_running());
        assert_eq!(turns.queued(), 0);
    }
}

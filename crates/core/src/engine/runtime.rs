//! A session runtime's loop (PROTOCOL.md §4): what it does on each thing that wakes it (a
//! command from routing, its running turn finishing, the store answering for the message at the
//! head of its queue), in which order, and why it exits. Its [`TurnScheduler`] decides which turn
//! runs; this loop decides what each wake means and the order of the writes that follow.
//!
//! The server and the simulator run this same loop over their [`RuntimeDriver`]: how to wait for
//! several things at once, how an agent's turn is started and cancelled, and what a write is,
//! are theirs.
//!
//! Invariants:
//! - every turn started is bracketed: its `turn_start` is written by `start_turn` (which also
//!   takes its message off the durable queue), and exactly one `turn_end` follows, whatever the
//!   agent did (finished, failed, crashed, was cancelled);
//! - a cancelled turn's agent can emit nothing more before its end is written: the loop awaits
//!   the cancellation, then resolves its waiting permission requests, then writes its `turn_end`;
//! - turns dropped by an interrupt, a close or an abort are recorded before a cancelled turn's
//!   `turn_end` (the store applies writes in order: whoever sees that end sees them gone);
//! - an interrupt's hand-over is answered only once the running turn is cut;
//! - a runtime first runs the session's durable turn queue (acked messages an earlier runtime
//!   left unrun), in order, before what is handed to it, and each message once.

use super::{AbortCause, Next, PermissionOutcome, Stored, TurnScheduler};
use crate::lifecycle::reason;
use crate::protocol::TurnEndReason;
use std::collections::BTreeSet;

/// What routing asks of a runtime.
#[derive(Debug)]
pub enum RuntimeCommand<T, H> {
    /// Queue a turn after the others.
    Deliver(T),
    /// Cut the running turn and run `next` first; answer `done` once cut.
    Interrupt { next: Option<T>, done: H },
    /// Let the running turn finish, drop the queue, then exit.
    Close,
    /// Cancel everything and exit; the session's state change says `reason`.
    Abort { reason: &'static str },
}

/// How a turn's agent finished by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnFinish {
    /// It answered; `interrupted`: it stopped because it was cancelled.
    Answered {
        interrupted: bool,
        stop_reason: Option<String>,
    },
    /// It failed (or crashed); `agent_lost`: its process is gone, and so is this runtime.
    Failed { message: String, agent_lost: bool },
}

/// A turn's `turn_end`, as the loop decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnEndNote {
    pub reason: TurnEndReason,
    pub error: Option<String>,
    pub stop_reason: Option<String>,
}

impl TurnEndNote {
    fn interrupted() -> Self {
        Self {
            reason: TurnEndReason::Interrupted,
            error: None,
            stop_reason: None,
        }
    }
}

impl TurnFinish {
    fn agent_lost(&self) -> bool {
        matches!(
            self,
            Self::Failed {
                agent_lost: true,
                ..
            }
        )
    }

    fn end(self) -> TurnEndNote {
        match self {
            Self::Answered {
                interrupted,
                stop_reason,
            } => TurnEndNote {
                reason: if interrupted {
                    TurnEndReason::Interrupted
                } else {
                    TurnEndReason::Completed
                },
                error: None,
                stop_reason,
            },
            Self::Failed { message, .. } => TurnEndNote {
                reason: TurnEndReason::Error,
                error: Some(message),
                stop_reason: None,
            },
        }
    }
}

/// What woke the runtime.
#[derive(Debug)]
pub enum Wake<T, H> {
    /// A command; `None`: nobody can send one any more (the runtime is dropped).
    Command(Option<RuntimeCommand<T, H>>),
    /// The running turn's agent finished by itself.
    TurnDone(TurnFinish),
    /// The store answered for the message at the head of the queue.
    HeadAnswered,
}

/// The effects a runtime's loop asks of its driver. `Turn` is a queued turn (its message, its
/// prompt, the store's answer for its `user_message`), `Running` a started one (its agent's task
/// and its turn id), `Handover` an interrupt's answer.
#[allow(async_fn_in_trait)] // The server's futures are `Send` through its concrete driver.
pub trait RuntimeDriver {
    type Turn;
    type Running;
    type Handover;

    /// The `clientMsgId` of a turn's message.
    fn message_id<'t>(&self, turn: &'t Self::Turn) -> &'t str;
    /// Where a queued turn's `user_message` stands in the store.
    fn stored(&self, turn: &Self::Turn) -> Stored;
    /// The session's durable turn queue, in order, once everything submitted before the
    /// runtime started is durable: acked messages an earlier runtime left unrun (it lost its
    /// agent, the process died, storage failed), and perhaps ones routing is handing over now.
    async fn load_queue(&mut self) -> Vec<Self::Turn>;
    /// Waits for the next wake: a command, `running` finishing (if a turn runs), or the store's
    /// answer for `head` (if a turn waits for it).
    async fn wake(
        &mut self,
        head: Option<&Self::Turn>,
        running: Option<&mut Self::Running>,
    ) -> Wake<Self::Turn, Self::Handover>;
    /// Writes the turn's `turn_start` (taking its message off the durable queue) and starts its
    /// agent.
    fn start_turn(&mut self, turn: Self::Turn) -> Self::Running;
    /// Cancels a running turn's agent and waits until it is gone (it can emit nothing more).
    async fn cancel(&mut self, running: &mut Self::Running);
    /// Resolves the session's waiting permission requests with `outcome`.
    fn resolve_permissions(&mut self, outcome: PermissionOutcome);
    /// Writes the turn's `turn_end`.
    fn end_turn(&mut self, running: Self::Running, end: TurnEndNote);
    /// Turns taken off the queue without running; `dropped`: they never will (recorded durably),
    /// else they stay stored, to run when the session's runtime next starts.
    fn forget(&mut self, turns: Vec<Self::Turn>, dropped: bool);
    /// Answers an interrupt's hand-over: the running turn is cut.
    fn handed_over(&mut self, done: Self::Handover);
}

/// Runs a runtime until it exits; returns the reason its session's state change gives.
pub async fn run<D: RuntimeDriver>(driver: &mut D) -> &'static str {
    let mut turns: TurnScheduler<D::Turn> = TurnScheduler::default();
    let mut current: Option<D::Running> = None;
    // What the store holds runs first, in its order. A turn routing hands over that is among
    // them (its message was stored before the queue was read) is queued already: its second
    // copy is forgotten, so it runs once.
    let mut loaded = BTreeSet::new();
    for turn in driver.load_queue().await {
        loaded.insert(driver.message_id(&turn).to_owned());
        turns.deliver(turn);
    }
    loop {
        loop {
            match turns.next(|turn| driver.stored(turn)) {
                Next::Start(turn) => {
                    current = Some(driver.start_turn(turn));
                    break;
                }
                // Its message was never stored: it is not run.
                Next::Discard(turn) => driver.forget(vec![turn], false),
                Next::Wait => break,
                Next::Exit => return reason::CLOSED,
            }
        }
        match driver.wake(turns.head(), current.as_mut()).await {
            Wake::HeadAnswered => {}
            Wake::TurnDone(finish) => {
                let Some(done) = current.take() else {
                    continue;
                };
                let lost = finish.agent_lost();
                // A turn that ended by itself leaves no question open.
                driver.resolve_permissions(PermissionOutcome::Cancelled);
                driver.end_turn(done, finish.end());
                if let Some(kept) = turns.turn_ended(lost) {
                    // The agent's process is gone: so is this runtime (the session becomes
                    // ENDED); queued turns stay stored and run on the next start.
                    driver.forget(kept, false);
                    return reason::RUNTIME_EXITED;
                }
            }
            Wake::Command(None) => {
                let aborted = turns.abort(AbortCause::Suspend);
                driver.forget(aborted.queue, false);
                cancel(driver, current.take(), PermissionOutcome::Expired).await;
                return reason::RUNTIME_EXITED;
            }
            Wake::Command(Some(RuntimeCommand::Deliver(turn))) => {
                if loaded.remove(driver.message_id(&turn)) {
                    driver.forget(vec![turn], false);
                } else if let Some(refused) = turns.deliver(turn) {
                    // A closing session runs no new prompt; the message stays in history.
                    driver.forget(vec![refused], true);
                }
            }
            Wake::Command(Some(RuntimeCommand::Interrupt { next, done })) => {
                // An interrupt's message is stored at the front of the queue: if it was loaded,
                // it is at the front already.
                let next = match next {
                    Some(turn) if loaded.remove(driver.message_id(&turn)) => {
                        driver.forget(vec![turn], false);
                        None
                    }
                    next => next,
                };
                let (_, refused) = turns.interrupt(next);
                // Recorded before the cancel writes its `turn_end`: whoever sees that event sees
                // a store where the dropped turn is gone too.
                if let Some(refused) = refused {
                    driver.forget(vec![refused], true);
                }
                cancel(driver, current.take(), PermissionOutcome::Cancelled).await;
                driver.handed_over(done);
            }
            Wake::Command(Some(RuntimeCommand::Close)) => {
                let dropped = turns.close();
                // The last turn finishes, without waiting for answers nobody will give.
                driver.resolve_permissions(PermissionOutcome::Cancelled);
                driver.forget(dropped, true);
            }
            Wake::Command(Some(RuntimeCommand::Abort { reason })) => {
                // A stop cancels what waits for an answer; a shutdown or a storage failure keeps
                // the queue stored, and its requests expire.
                let aborted = turns.abort(AbortCause::for_reason(reason));
                let outcome = if aborted.keeps_queue {
                    PermissionOutcome::Expired
                } else {
                    PermissionOutcome::Cancelled
                };
                // The dropped turns are recorded before the cancel writes its `turn_end` (the
                // store applies writes in order): a crash right after a stopped turn's end never
                // runs what the stop dropped.
                driver.forget(aborted.queue, !aborted.keeps_queue);
                cancel(driver, current.take(), outcome).await;
                return reason;
            }
        }
    }
}

/// Cancels a running turn: once its agent is gone it can emit nothing more, and only then are
/// its waiting permission requests resolved (`outcome`) and its `turn_end` written.
async fn cancel<D: RuntimeDriver>(
    driver: &mut D,
    current: Option<D::Running>,
    outcome: PermissionOutcome,
) {
    if let Some(mut running) = current {
        driver.cancel(&mut running).await;
        driver.resolve_permissions(outcome);
        driver.end_turn(running, TurnEndNote::interrupted());
    }
}

#[cfg(test)]
mod tests;

//! A session's runtime: one task per live session that runs queued turns one at a time.
//!
//! A runtime outlives its turns. Routing talks to it through a [`RuntimeHandle`]:
//! `deliver` queues a turn, `interrupt` cancels the current turn (its `turn_end` says
//! `interrupted`) and puts the interrupt's text ahead of the queue, `close` lets the current turn
//! finish and drops the queue, `abort` cancels everything now. When the task ends, its session
//! becomes ENDED and its registry entry (of its own generation only) is removed.
//!
//! The runtime writes `turn_start` and `turn_end` itself, so every turn is bracketed even when
//! the agent fails, panics or is cancelled.
//!
//! A turn is handed over as soon as its `user_message` is *submitted* (under the session's route
//! lock, so the runtime gets turns in the order of their seqs), with the store's answer for it:
//! the runtime starts the turn only once its message is stored, and never runs one whose message
//! could not be. Nobody waits for durability while holding the route lock.

use crate::{
    agent::{AgentMemory, EventSink, Turn, TurnFailure, TurnOutcome},
    clock::new_id,
    hub::{Durable, Extras, Hub, SessionEntry},
    permission::{self, Outcome, PermissionAsker},
    store::QueueOp,
};
use sessionwire_core::{
    engine::{AbortCause, Next, Stored, TurnScheduler},
    lifecycle::reason,
    protocol::{TurnEnd, TurnEndReason, TurnStart},
    routing::RuntimeView,
    EventKind,
};
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};
use tokio::{
    sync::{mpsc, oneshot, watch},
    task::{JoinError, JoinHandle},
};

/// A user message for the agent: `message_id` is the `clientMsgId` of its `user_message`.
#[derive(Debug, Clone)]
pub struct TurnRequest {
    pub message_id: String,
    pub prompt: String,
    /// The store's answer for its `user_message`: the turn starts once it is stored, and is
    /// dropped if it could not be.
    pub stored: Durable,
}

#[derive(Debug)]
enum Command {
    Deliver(TurnRequest),
    Interrupt {
        next: Option<TurnRequest>,
        done: oneshot::Sender<()>,
    },
    Close,
    Abort {
        reason: &'static str,
    },
}

/// The registry's handle to a runtime.
#[derive(Debug, Clone)]
pub struct RuntimeHandle {
    /// Unique per runtime within this process.
    pub generation: u64,
    commands: mpsc::UnboundedSender<Command>,
    /// Turns in progress or queued. Counted by the sender on delivery, so that `running` is true
    /// in the very ack of a message, before the runtime has even looked at it.
    turns: Arc<AtomicUsize>,
    exited: watch::Receiver<bool>,
}

impl RuntimeHandle {
    /// What routing sees of this runtime.
    pub fn view(&self) -> RuntimeView {
        RuntimeView {
            generation: self.generation,
            turn_active: self.turns.load(Ordering::SeqCst) > 0,
        }
    }

    /// Queues a turn after the current one. False if the runtime is gone.
    pub fn deliver(&self, turn: TurnRequest) -> bool {
        self.turns.fetch_add(1, Ordering::SeqCst);
        if self.commands.send(Command::Deliver(turn)).is_err() {
            self.turns.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Cancels the current turn and queues `next` first. The receiver hears once the runtime
    /// has done so (an error: it exited first). None if the runtime is gone.
    pub fn interrupt(&self, next: Option<TurnRequest>) -> Option<oneshot::Receiver<()>> {
        let with_turn = next.is_some();
        if with_turn {
            self.turns.fetch_add(1, Ordering::SeqCst);
        }
        let (done, acknowledged) = oneshot::channel();
        if self
            .commands
            .send(Command::Interrupt { next, done })
            .is_err()
        {
            if with_turn {
                self.turns.fetch_sub(1, Ordering::SeqCst);
            }
            return None;
        }
        Some(acknowledged)
    }

    /// Lets the current turn finish, drops the queue, then exits (the session becomes ENDED).
    pub fn close(&self) {
        let _ = self.commands.send(Command::Close);
    }

    /// Cancels everything and exits; the session becomes ENDED with `reason`.
    pub fn abort(&self, reason: &'static str) {
        let _ = self.commands.send(Command::Abort { reason });
    }

    /// Waits until the runtime's task has finished its clean-up.
    pub async fn exited(&self) {
        let mut exited = self.exited.clone();
        // An error means the task is gone (dropped with its runtime): exited as well.
        let _ = exited.wait_for(|done| *done).await;
    }
}

/// Starts a runtime task for a session.
pub fn spawn(hub: Arc<Hub>, entry: Arc<SessionEntry>, generation: u64) -> RuntimeHandle {
    let (commands, receiver) = mpsc::unbounded_channel();
    let turns = Arc::new(AtomicUsize::new(0));
    let (exited_tx, exited) = watch::channel(false);
    let handle = RuntimeHandle {
        generation,
        commands,
        turns: turns.clone(),
        exited,
    };
    tokio::spawn(async move {
        let exit_reason = Runtime {
            hub: &hub,
            entry: &entry,
            turns: &turns,
        }
        .run(receiver)
        .await;
        turns.store(0, Ordering::SeqCst);
        hub.agent().runtime_ended(&entry.id);
        hub.runtime_exited(&entry, generation, exit_reason);
        let _ = exited_tx.send(true);
    });
    handle
}

type TurnResult = Result<TurnOutcome, TurnFailure>;

struct Current {
    turn_id: String,
    task: JoinHandle<TurnResult>,
}

enum Wake {
    Command(Option<Command>),
    TurnDone(Result<TurnResult, JoinError>),
    /// The store answered for the message at the head of the queue.
    HeadAnswered,
}

async fn answered(head: Option<Durable>) {
    match head {
        Some(head) => {
            let _ = head.wait().await;
        }
        None => std::future::pending().await,
    }
}

struct Runtime<'a> {
    hub: &'a Arc<Hub>,
    entry: &'a Arc<SessionEntry>,
    turns: &'a AtomicUsize,
}

async fn turn_finished(current: &mut Option<Current>) -> Result<TurnResult, JoinError> {
    match current {
        Some(current) => (&mut current.task).await,
        None => std::future::pending().await,
    }
}

impl Runtime<'_> {
    async fn run(&self, mut commands: mpsc::UnboundedReceiver<Command>) -> &'static str {
        // Which turn runs and what becomes of the queue is the engine's; this loop carries it
        // out (starts and cancels agent tasks, writes turn_start/turn_end, records dropped turns).
        let mut turns: TurnScheduler<TurnRequest> = TurnScheduler::default();
        let mut current: Option<Current> = None;
        loop {
            loop {
                match turns.next(|request| match request.stored.peek() {
                    Some(Ok(_)) => Stored::Stored,
                    Some(Err(_)) => Stored::Failed,
                    None => Stored::Pending,
                }) {
                    Next::Start(turn) => {
                        current = Some(self.start_turn(turn));
                        break;
                    }
                    // Its message was never stored: it is not run.
                    Next::Discard(_) => {
                        self.turns.fetch_sub(1, Ordering::SeqCst);
                    }
                    Next::Wait => break,
                    Next::Exit => return reason::CLOSED,
                }
            }
            let head = turns.head().map(|turn| turn.stored.clone());
            let wake = tokio::select! {
                command = commands.recv() => Wake::Command(command),
                result = turn_finished(&mut current) => Wake::TurnDone(result),
                () = answered(head) => Wake::HeadAnswered,
            };
            match wake {
                Wake::HeadAnswered => {}
                Wake::TurnDone(result) => {
                    if let Some(done) = current.take() {
                        let mut lost = false;
                        let (reason, error, stop_reason) = match result {
                            Ok(Ok(outcome)) if outcome.interrupted => {
                                (TurnEndReason::Interrupted, None, outcome.stop_reason)
                            }
                            Ok(Ok(outcome)) => {
                                (TurnEndReason::Completed, None, outcome.stop_reason)
                            }
                            Ok(Err(failure)) => {
                                lost = failure.runtime_lost;
                                (TurnEndReason::Error, Some(failure.message), None)
                            }
                            Err(join) => (
                                TurnEndReason::Error,
                                Some(format!("the agent crashed: {join}")),
                                None,
                            ),
                        };
                        // A turn that ended by itself leaves no question open.
                        permission::resolve_all(self.hub, self.entry, Outcome::Cancelled);
                        self.end_turn(done.turn_id, reason, error, stop_reason);
                        if let Some(kept) = turns.turn_ended(lost) {
                            // The agent's process is gone: so is this runtime (the session
                            // becomes ENDED); queued turns stay stored and run on the next start.
                            self.drop_queue(kept, false);
                            return reason::RUNTIME_EXITED;
                        }
                    }
                }
                Wake::Command(None) => {
                    turns.abort(AbortCause::Suspend);
                    self.cancel(current.take(), Outcome::Expired).await;
                    return reason::RUNTIME_EXITED;
                }
                Wake::Command(Some(Command::Deliver(turn))) => {
                    if let Some(refused) = turns.deliver(turn) {
                        // A closing session runs no new prompt; the message stays in history.
                        self.drop_queue(vec![refused], true);
                    }
                }
                Wake::Command(Some(Command::Interrupt { next, done })) => {
                    let (_, refused) = turns.interrupt(next);
                    // Recorded before the cancel writes its `turn_end`: whoever sees that event
                    // sees a store where the dropped turn is gone too.
                    if let Some(refused) = refused {
                        self.drop_queue(vec![refused], true);
                    }
                    self.cancel(current.take(), Outcome::Cancelled).await;
                    let _ = done.send(());
                }
                Wake::Command(Some(Command::Close)) => {
                    let dropped = turns.close();
                    // The last turn finishes, without waiting for answers nobody will give.
                    permission::resolve_all(self.hub, self.entry, Outcome::Cancelled);
                    self.drop_queue(dropped, true);
                }
                Wake::Command(Some(Command::Abort { reason })) => {
                    // A stop cancels what waits for an answer; a shutdown or a storage failure
                    // keeps the queue stored, and its requests expire.
                    let aborted = turns.abort(AbortCause::for_reason(reason));
                    let outcome = if aborted.keeps_queue {
                        Outcome::Expired
                    } else {
                        Outcome::Cancelled
                    };
                    // The dropped turns are recorded before the cancel writes its `turn_end`
                    // (the store applies writes in order): a crash right after a stopped turn's
                    // end never runs what the stop dropped.
                    self.drop_queue(aborted.queue, !aborted.keeps_queue);
                    self.cancel(current.take(), outcome).await;
                    return reason;
                }
            }
        }
    }

    /// Forgets turns taken off the queue; `dropped`: they will never run (recorded durably).
    fn drop_queue(&self, queue: Vec<TurnRequest>, dropped: bool) {
        self.turns.fetch_sub(queue.len(), Ordering::SeqCst);
        if dropped && !queue.is_empty() {
            let ids = Vec::from_iter(queue.into_iter().map(|turn| turn.message_id));
            self.hub.dequeue(self.entry, ids);
        }
    }

    fn start_turn(&self, request: TurnRequest) -> Current {
        let turn_id = new_id();
        // The turn that runs a queued message takes it off the stored queue, atomically.
        self.hub.append_with(
            self.entry,
            EventKind::TurnStart(TurnStart {
                turn_id: turn_id.clone(),
            }),
            Extras {
                queue: Some(QueueOp::Pop {
                    message_id: request.message_id.clone(),
                }),
                ..Extras::default()
            },
        );
        let events = {
            let (hub, entry) = (self.hub.clone(), self.entry.clone());
            EventSink::new(move |kind| {
                hub.append(&entry, kind);
            })
        };
        tracing::debug!(session = %self.entry.id, message = %request.message_id, "turn starts");
        let turn = Turn {
            session_id: self.entry.id.to_string(),
            prompt: request.prompt,
            events,
            memory: AgentMemory::new(self.hub.store.clone(), self.entry.id.clone()),
            permissions: PermissionAsker::new(self.hub.clone(), self.entry.clone()),
        };
        Current {
            turn_id,
            task: tokio::spawn(self.hub.agent().run_turn(turn)),
        }
    }

    /// Cancels a running turn: once its task is gone it can emit nothing more, and only then are
    /// its waiting permission requests resolved (`outcome`) and its `turn_end` written.
    async fn cancel(&self, current: Option<Current>, outcome: Outcome) {
        if let Some(mut current) = current {
            current.task.abort();
            let _ = (&mut current.task).await;
            permission::resolve_all(self.hub, self.entry, outcome);
            self.end_turn(current.turn_id, TurnEndReason::Interrupted, None, None);
        }
    }

    fn end_turn(
        &self,
        turn_id: String,
        reason: TurnEndReason,
        error: Option<String>,
        stop_reason: Option<String>,
    ) {
        self.hub.append(
            self.entry,
            EventKind::TurnEnd(TurnEnd {
                turn_id,
                reason,
                error,
                usage: None,
                stop_reason,
            }),
        );
        self.turns.fetch_sub(1, Ordering::SeqCst);
    }
}

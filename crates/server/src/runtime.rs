//! A session's runtime: one task per live session that runs queued turns one at a time.
//!
//! A runtime outlives its turns. Routing talks to it through a [`RuntimeHandle`]
//! ([`crate::runtime_handle`]):
//! `deliver` queues a turn, `interrupt` cancels the current turn (its `turn_end` says
//! `interrupted`) and puts the interrupt's text ahead of the queue, `close` lets the current turn
//! finish and drops the queue, `abort` cancels everything now. When the task ends, its session
//! becomes ENDED and its registry entry (of its own generation only) is removed.
//!
//! What the task does on each command, on its agent's turn ending and on the store's answer, and
//! in which order, is the engine's loop (`sessionwire_core::engine::runtime::run`); this file is
//! its driver: the command channel, the agent's tasks (started, cancelled, awaited with
//! `tokio::select!`), and the session's writes. The runtime writes `turn_start` and `turn_end`
//! itself, so every turn is bracketed even when the agent fails, panics or is cancelled.
//!
//! A turn is handed over as soon as its `user_message` is *submitted* (under the session's route
//! lock, so the runtime gets turns in the order of their seqs), with the store's answer for it:
//! the runtime starts the turn only once its message is stored, and never runs one whose message
//! could not be. Nobody waits for durability while holding the route lock.

use crate::{
    agent::{AgentMemory, EventSink, Turn, TurnFailure, TurnOutcome},
    clock::new_id,
    hub::{Extras, Hub, SessionEntry},
    permission::{self, PermissionAsker},
    runtime_handle::{Command, RuntimeHandle, RuntimeTask, TurnRequest},
    store::{Durable, QueueOp},
};
use sessionwire_core::{
    engine::{
        runtime::{self, RuntimeDriver, TurnEndNote, TurnFinish, Wake},
        PermissionOutcome, Stored,
    },
    protocol::{TurnEnd, TurnStart},
    EventKind,
};
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};
use tokio::{
    sync::{mpsc, oneshot},
    task::{JoinError, JoinHandle},
};

/// Starts a runtime task for a session.
pub fn spawn(hub: Arc<Hub>, entry: Arc<SessionEntry>, generation: u64) -> RuntimeHandle {
    let (handle, task) = RuntimeHandle::new(generation);
    let RuntimeTask {
        commands: receiver,
        turns,
        exited: exited_tx,
    } = task;
    tokio::spawn(async move {
        let mut driver = ServerRuntime {
            hub: &hub,
            entry: &entry,
            turns: &turns,
            commands: receiver,
        };
        let exit_reason = runtime::run(&mut driver).await;
        turns.store(0, Ordering::SeqCst);
        hub.agent().runtime_ended(&entry.id);
        hub.runtime_exited(&entry, generation, exit_reason);
        let _ = exited_tx.send(true);
    });
    handle
}

type TurnResult = Result<TurnOutcome, TurnFailure>;

/// A started turn: its id and its agent's task.
struct Current {
    turn_id: String,
    task: JoinHandle<TurnResult>,
}

async fn answered(head: Option<Durable>) {
    match head {
        Some(head) => {
            let _ = head.wait().await;
        }
        None => std::future::pending().await,
    }
}

async fn turn_finished(current: Option<&mut Current>) -> Result<TurnResult, JoinError> {
    match current {
        Some(current) => (&mut current.task).await,
        None => std::future::pending().await,
    }
}

/// How the agent's task ended, as the engine's loop reads it.
fn finish_of(result: Result<TurnResult, JoinError>) -> TurnFinish {
    match result {
        Ok(Ok(outcome)) => TurnFinish::Answered {
            interrupted: outcome.interrupted,
            stop_reason: outcome.stop_reason,
        },
        Ok(Err(failure)) => TurnFinish::Failed {
            message: failure.message,
            agent_lost: failure.runtime_lost,
        },
        Err(join) => TurnFinish::Failed {
            message: format!("the agent crashed: {join}"),
            agent_lost: false,
        },
    }
}

/// One runtime task's effects for the engine's loop (`engine::runtime::run`): its commands,
/// its agent's tasks, and its session's writes.
struct ServerRuntime<'a> {
    hub: &'a Arc<Hub>,
    entry: &'a Arc<SessionEntry>,
    turns: &'a AtomicUsize,
    commands: mpsc::UnboundedReceiver<Command>,
}

impl RuntimeDriver for ServerRuntime<'_> {
    type Turn = TurnRequest;
    type Running = Current;
    type Handover = oneshot::Sender<()>;

    fn message_id<'t>(&self, turn: &'t TurnRequest) -> &'t str {
        &turn.message_id
    }

    async fn load_queue(&mut self) -> Vec<TurnRequest> {
        // After the barrier, the queue read holds every `turn_start` and `user_message` written
        // before this runtime started (an earlier runtime's last ones included).
        let id = self.entry.id.to_string();
        let pending = match self.hub.durable().await {
            Ok(()) => {
                self.hub
                    .read(move |store| store.pending_turns(Some(&id)))
                    .await
            }
            Err(error) => Err(error),
        };
        match pending {
            Ok(pending) => {
                self.turns.fetch_add(pending.len(), Ordering::SeqCst);
                Vec::from_iter(pending.into_iter().map(|turn| TurnRequest {
                    message_id: turn.message_id,
                    prompt: turn.text,
                    stored: Durable::stored(0),
                }))
            }
            Err(error) => {
                // (Storage fails: the session is repaired, and its next runtime reads it then.)
                tracing::warn!(session = %self.entry.id, %error, "the turn queue could not be read");
                Vec::new()
            }
        }
    }

    fn stored(&self, turn: &TurnRequest) -> Stored {
        match turn.stored.peek() {
            Some(Ok(_)) => Stored::Stored,
            Some(Err(_)) => Stored::Failed,
            None => Stored::Pending,
        }
    }

    async fn wake(
        &mut self,
        head: Option<&TurnRequest>,
        running: Option<&mut Current>,
    ) -> Wake<TurnRequest, oneshot::Sender<()>> {
        let head = head.map(|turn| turn.stored.clone());
        tokio::select! {
            command = self.commands.recv() => Wake::Command(command),
            result = turn_finished(running) => Wake::TurnDone(finish_of(result)),
            () = answered(head) => Wake::HeadAnswered,
        }
    }

    fn start_turn(&mut self, request: TurnRequest) -> Current {
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
            permissions: Arc::new(PermissionAsker::new(self.hub.clone(), self.entry.clone())),
        };
        Current {
            turn_id,
            task: tokio::spawn(self.hub.agent().run_turn(turn)),
        }
    }

    async fn cancel(&mut self, running: &mut Current) {
        running.task.abort();
        let _ = (&mut running.task).await;
    }

    fn resolve_permissions(&mut self, outcome: PermissionOutcome) {
        permission::resolve_all(self.hub, self.entry, outcome);
    }

    fn end_turn(&mut self, running: Current, end: TurnEndNote) {
        self.hub.append(
            self.entry,
            EventKind::TurnEnd(TurnEnd {
                turn_id: running.turn_id,
                reason: end.reason,
                error: end.error,
                usage: None,
                stop_reason: end.stop_reason,
            }),
        );
        self.turns.fetch_sub(1, Ordering::SeqCst);
    }

    fn forget(&mut self, queue: Vec<TurnRequest>, dropped: bool) {
        self.turns.fetch_sub(queue.len(), Ordering::SeqCst);
        if dropped && !queue.is_empty() {
            let ids = Vec::from_iter(queue.into_iter().map(|turn| turn.message_id));
            self.hub.dequeue(self.entry, ids);
        }
    }

    fn handed_over(&mut self, done: oneshot::Sender<()>) {
        let _ = done.send(());
    }
}

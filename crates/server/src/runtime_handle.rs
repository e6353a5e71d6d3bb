//! The handle through which routing and the hub command a session's runtime (`deliver`,
//! `interrupt`, `close`, `abort`, `exited`), and what a turn is handed over with. The task behind
//! it is [`crate::runtime`]'s; this module knows nothing of the hub, so the registry and the hub
//! can hold handles without depending on the runtime's driver.

use crate::store::Durable;
use sessionwire_core::{engine::runtime::RuntimeCommand, routing::RuntimeView};
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};
use tokio::sync::{mpsc, oneshot, watch};

/// A user message for the agent: `message_id` is the `clientMsgId` of its `user_message`.
#[derive(Debug, Clone)]
pub struct TurnRequest {
    pub message_id: String,
    pub prompt: String,
    /// The store's answer for its `user_message`: the turn starts once it is stored, and is
    /// dropped if it could not be.
    pub stored: Durable,
}

/// What routing sends a runtime (the engine's commands, over this server's turns and
/// hand-overs).
pub type Command = RuntimeCommand<TurnRequest, oneshot::Sender<()>>;

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
    /// A handle, and the other ends of its channels for the task it commands.
    pub fn new(generation: u64) -> (Self, RuntimeTask) {
        let (commands, receiver) = mpsc::unbounded_channel();
        let turns = Arc::new(AtomicUsize::new(0));
        let (exited_tx, exited) = watch::channel(false);
        let handle = Self {
            generation,
            commands,
            turns: turns.clone(),
            exited,
        };
        let task = RuntimeTask {
            commands: receiver,
            turns,
            exited: exited_tx,
        };
        (handle, task)
    }

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
        if self.commands.send(RuntimeCommand::Deliver(turn)).is_err() {
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
            .send(RuntimeCommand::Interrupt { next, done })
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
        let _ = self.commands.send(RuntimeCommand::Close);
    }

    /// Cancels everything and exits; the session becomes ENDED with `reason`.
    pub fn abort(&self, reason: &'static str) {
        let _ = self.commands.send(RuntimeCommand::Abort { reason });
    }

    /// Waits until the runtime's task has finished its clean-up.
    pub async fn exited(&self) {
        let mut exited = self.exited.clone();
        // An error means the task is gone (dropped with its runtime): exited as well.
        let _ = exited.wait_for(|done| *done).await;
    }
}

/// The task's ends of a [`RuntimeHandle`]'s channels.
#[derive(Debug)]
pub struct RuntimeTask {
    /// What the handle sends.
    pub commands: mpsc::UnboundedReceiver<Command>,
    /// Turns in progress or queued (see [`RuntimeHandle`]).
    pub turns: Arc<AtomicUsize>,
    /// Set once the task has finished its clean-up.
    pub exited: watch::Sender<bool>,
}

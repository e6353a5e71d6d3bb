//! The simulator's session runtimes: each is the engine's loop (`engine::runtime::run`), the
//! one the server's runtime tasks run, polled by the simulator server. Its effects are written
//! into the runtime's [`RuntimeLink`] and carried out by the server, in order, right after each
//! poll (`Server::poll_runtimes`); its agent is the server's script, one event per tick.

use sessionwire_core::engine::runtime::{
    self, RuntimeCommand, RuntimeDriver, TurnEndNote, TurnFinish, Wake,
};
use sessionwire_core::engine::{PermissionOutcome, Stored};
use std::cell::RefCell;
use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// What routing sends a runtime: turns are message ids, and a hand-over needs no answer here
/// (the simulator's routes take an interrupt as handed over at once).
pub type Command = RuntimeCommand<String, ()>;

/// What a runtime's loop did, for the server to carry out.
#[derive(Debug)]
pub enum Effect {
    /// Write the turn's `turn_start` (taking it off the durable queue) and start its script.
    Start(String),
    /// Stop the running turn's script.
    Cancel,
    /// Write the turn's `turn_end`.
    End(String, TurnEndNote),
    /// Turns taken off the queue; `dropped`: for good (recorded), else they stay stored.
    Forget(Vec<String>, bool),
}

/// Between a runtime's loop and the server: its mailbox, what it knows of the store, and what
/// it did.
#[derive(Debug, Default)]
pub struct RuntimeLink {
    pub commands: VecDeque<Command>,
    /// This session's messages that are stored, and those whose write failed.
    pub stored: BTreeSet<String>,
    pub failed: BTreeSet<String>,
    /// The session's durable turn queue as the runtime starts (its loop reads it first).
    pub queue_at_start: Vec<String>,
    /// Turns in progress or queued (what `running` reads), counted by the sender on delivery as
    /// the server's handle counts them.
    pub turns: usize,
    /// The running turn's script is done: its agent finished.
    pub finished: bool,
    /// The running turn's agent died.
    pub agent_lost: bool,
    pub effects: Vec<Effect>,
}

/// A live runtime: its loop, and the link it shares with the server.
pub struct Runtime {
    pub session_id: String,
    pub generation: u64,
    pub link: Rc<RefCell<RuntimeLink>>,
    task: Pin<Box<dyn Future<Output = &'static str>>>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("session_id", &self.session_id)
            .field("generation", &self.generation)
            .field("link", &self.link)
            .finish()
    }
}

impl Runtime {
    pub fn start(session_id: &str, generation: u64) -> Self {
        let link = Rc::new(RefCell::new(RuntimeLink::default()));
        let mut driver = LinkDriver { link: link.clone() };
        Self {
            session_id: session_id.to_owned(),
            generation,
            link,
            task: Box::pin(async move { runtime::run(&mut driver).await }),
        }
    }

    /// Runs the loop until it waits: its exit reason if it exited. Nothing wakes a runtime but
    /// the server, which polls every runtime after anything that could have woken one.
    pub fn poll(&mut self) -> Option<&'static str> {
        match self
            .task
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(reason) => Some(reason),
            Poll::Pending => None,
        }
    }

    pub fn send(&self, command: Command) {
        let mut link = self.link.borrow_mut();
        if matches!(
            command,
            Command::Deliver(_) | Command::Interrupt { next: Some(_), .. }
        ) {
            link.turns += 1;
        }
        link.commands.push_back(command);
    }

    /// Whether it has anything to do (a turn running or queued, a command not yet read).
    pub fn busy(&self) -> bool {
        let link = self.link.borrow();
        link.turns > 0 || !link.commands.is_empty()
    }
}

/// The loop's effects: read from and written into the link.
struct LinkDriver {
    link: Rc<RefCell<RuntimeLink>>,
}

impl RuntimeDriver for LinkDriver {
    type Turn = String;
    type Running = String;
    type Handover = ();

    fn message_id<'t>(&self, turn: &'t String) -> &'t str {
        turn
    }

    async fn load_queue(&mut self) -> Vec<String> {
        let mut link = self.link.borrow_mut();
        let loaded = std::mem::take(&mut link.queue_at_start);
        link.turns += loaded.len();
        loaded
    }

    fn stored(&self, turn: &String) -> Stored {
        let link = self.link.borrow();
        if link.stored.contains(turn) {
            Stored::Stored
        } else if link.failed.contains(turn) {
            Stored::Failed
        } else {
            Stored::Pending
        }
    }

    async fn wake(
        &mut self,
        head: Option<&String>,
        running: Option<&mut String>,
    ) -> Wake<String, ()> {
        let running = running.is_some();
        poll_fn(|_| {
            let mut link = self.link.borrow_mut();
            if let Some(command) = link.commands.pop_front() {
                return Poll::Ready(Wake::Command(Some(command)));
            }
            if running && std::mem::take(&mut link.agent_lost) {
                return Poll::Ready(Wake::TurnDone(TurnFinish::Failed {
                    message: "the agent exited".into(),
                    agent_lost: true,
                }));
            }
            if running && std::mem::take(&mut link.finished) {
                return Poll::Ready(Wake::TurnDone(TurnFinish::Answered {
                    interrupted: false,
                    stop_reason: None,
                }));
            }
            if head.is_some_and(|head| link.stored.contains(head) || link.failed.contains(head)) {
                return Poll::Ready(Wake::HeadAnswered);
            }
            Poll::Pending
        })
        .await
    }

    fn start_turn(&mut self, turn: String) -> String {
        self.link
            .borrow_mut()
            .effects
            .push(Effect::Start(turn.clone()));
        turn
    }

    async fn cancel(&mut self, _: &mut String) {
        let mut link = self.link.borrow_mut();
        link.finished = false;
        link.effects.push(Effect::Cancel);
    }

    /// The scripted agents never ask for permission.
    fn resolve_permissions(&mut self, _: PermissionOutcome) {}

    fn end_turn(&mut self, running: String, end: TurnEndNote) {
        let mut link = self.link.borrow_mut();
        link.turns -= 1;
        link.effects.push(Effect::End(running, end));
    }

    fn forget(&mut self, turns: Vec<String>, dropped: bool) {
        if turns.is_empty() {
            return;
        }
        let mut link = self.link.borrow_mut();
        link.turns -= turns.len();
        link.effects.push(Effect::Forget(turns, dropped));
    }

    fn handed_over(&mut self, (): ()) {}
}

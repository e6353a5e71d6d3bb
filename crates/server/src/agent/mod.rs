//! Agents: whatever answers a turn. A runtime runs one turn at a time by calling
//! [`Agent::run_turn`] and streaming what it emits; it wraps every turn in `turn_start` and
//! `turn_end` itself, so an agent only produces messages and blocks.
//!
//! Cancelling a turn (interrupt, stop) drops its future: agents must release what they hold on
//! drop (the command agent kills its process group; the ACP agent sends `session/cancel`).
//! Agents that keep a process per session (ACP) hear when the session's runtime ends through
//! [`Agent::runtime_ended`].

pub mod acp;
pub mod command;
pub mod echo;

use crate::clock::new_id;
use serde_json::Value;
use sessionwire_core::protocol::{
    BlockDelta, BlockEnd, BlockStart, BlockType, MessageRef, RawJson,
};
use sessionwire_core::EventKind;
use std::{fmt, future::Future, pin::Pin, sync::Arc};

/// What a turn produces: `Ok` ends it (`completed`, or `interrupted` when the agent says it was
/// cancelled), `Err` ends it with reason `error`.
pub type TurnFuture =
    Pin<Box<dyn Future<Output = Result<TurnOutcome, TurnFailure>> + Send + 'static>>;

/// How a turn ended, as the agent tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TurnOutcome {
    /// The agent stopped because it was cancelled (`turn_end{reason:"interrupted"}`).
    pub interrupted: bool,
    /// The agent's own word for why it stopped (`turn_end.stopReason`).
    pub stop_reason: Option<String>,
}

/// Why a turn failed: `turn_end{reason:"error", error: message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnFailure {
    pub message: String,
    /// The agent is gone (its process exited): the runtime ends too and the session becomes
    /// ENDED; the next message starts it again.
    pub runtime_lost: bool,
}

impl From<String> for TurnFailure {
    fn from(message: String) -> Self {
        Self {
            message,
            runtime_lost: false,
        }
    }
}

/// One turn to answer.
#[derive(Debug)]
pub struct Turn {
    pub session_id: String,
    /// The user's text.
    pub prompt: String,
    pub events: EventSink,
    /// What the agent keeps about the session across runtimes and restarts.
    pub memory: AgentMemory,
    /// How the turn asks the session's users to allow a tool call (PROTOCOL.md §5.1).
    pub permissions: Arc<dyn AskPermission>,
}

/// How a turn asks its session's users (the server's is [`crate::permission::PermissionAsker`]).
pub trait AskPermission: Send + Sync + fmt::Debug {
    /// Asks and waits: the option chosen once its `permission_resolved` is stored, or `None`
    /// (cancelled, expired, or the answer could not be stored). Cancel-safe: dropping the
    /// future leaves the request in the book, to be resolved when its turn ends.
    fn ask(&self, ask: Ask) -> PermissionFuture;
}

/// The answer [`AskPermission::ask`] waits for.
pub type PermissionFuture = Pin<Box<dyn Future<Output = Option<String>> + Send>>;

/// One option of a request, as the agent offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub option_id: String,
    pub name: String,
    /// allow_once, allow_always, reject_once or reject_always.
    pub kind: String,
}

/// What an agent asks the user.
#[derive(Debug, Clone)]
pub struct Ask {
    /// The `blockId` of the tool call it is about.
    pub tool_id: Option<String>,
    pub title: String,
    pub options: Vec<Choice>,
    /// What would change (as in `tool_update.content`).
    pub content: Option<Value>,
}

/// Something that answers turns.
pub trait Agent: Send + Sync + fmt::Debug + 'static {
    /// Runs one turn, emitting its messages through `turn.events`.
    fn run_turn(&self, turn: Turn) -> TurnFuture;

    /// The session's runtime ended (stop, close, ENDED, shutdown): release what is held for it.
    fn runtime_ended(&self, _session_id: &str) {}
}

/// The agent's own id of a session, stored with the session (an ACP agent's `sessionId`).
#[derive(Clone)]
pub struct AgentMemory {
    store: Arc<dyn crate::store::Store>,
    session_id: Arc<str>,
}

impl fmt::Debug for AgentMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentMemory")
            .field("session_id", &self.session_id)
            .finish()
    }
}

impl AgentMemory {
    pub fn new(store: Arc<dyn crate::store::Store>, session_id: Arc<str>) -> Self {
        Self { store, session_id }
    }

    /// The stored id (a blocking read: call it from `spawn_blocking`).
    pub fn agent_session(&self) -> Option<String> {
        match self.store.agent_session(&self.session_id) {
            Ok(id) => id,
            Err(error) => {
                tracing::warn!(session = %self.session_id, %error, "cannot read the agent's session id");
                None
            }
        }
    }

    /// Stores the agent's id of the session (written in order with the session's events).
    pub fn remember(&self, agent_session: &str) {
        let write = crate::store::Write::AgentSession {
            session_id: self.session_id.clone(),
            agent_session: agent_session.to_owned(),
        };
        if let Err(error) = self.store.submit(write) {
            tracing::warn!(session = %self.session_id, %error, "cannot store the agent's session id");
        }
    }
}

/// Where an agent's events go: each call persists one event of the session (it is delivered to
/// watchers once durable).
#[derive(Clone)]
pub struct EventSink(Arc<dyn Fn(EventKind) + Send + Sync>);

impl fmt::Debug for EventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventSink")
    }
}

impl EventSink {
    /// A sink that calls `emit` for every event.
    pub fn new(emit: impl Fn(EventKind) + Send + Sync + 'static) -> Self {
        Self(Arc::new(emit))
    }

    /// Emits one event.
    pub fn emit(&self, kind: EventKind) {
        (self.0)(kind);
    }

    /// Starts an assistant message and returns its id.
    pub fn start_message(&self) -> String {
        let message_id = new_id();
        self.emit(EventKind::MessageStart(MessageRef {
            message_id: message_id.clone(),
        }));
        message_id
    }

    /// Starts a block of a message and returns its id.
    pub fn start_block(
        &self,
        message_id: &str,
        block_type: BlockType,
        tool_name: Option<&str>,
    ) -> String {
        let block_id = new_id();
        self.emit(EventKind::BlockStart(BlockStart {
            message_id: message_id.to_owned(),
            block_id: block_id.clone(),
            block_type,
            tool_name: tool_name.map(str::to_owned),
        }));
        block_id
    }

    /// Streams a chunk of a block's text.
    pub fn delta(&self, message_id: &str, block_id: &str, delta: &str) {
        self.emit(EventKind::BlockDelta(BlockDelta {
            message_id: message_id.to_owned(),
            block_id: block_id.to_owned(),
            delta: delta.to_owned(),
        }));
    }

    /// Completes a block (a tool_use block carries its input).
    pub fn end_block(&self, message_id: &str, block_id: &str, input: Option<Value>) {
        self.emit(EventKind::BlockEnd(BlockEnd {
            message_id: message_id.to_owned(),
            block_id: block_id.to_owned(),
            input: input.map(RawJson::from),
        }));
    }

    /// Completes a message.
    pub fn end_message(&self, message_id: &str) {
        self.emit(EventKind::MessageEnd(MessageRef {
            message_id: message_id.to_owned(),
        }));
    }
}

/// Builds the configured agent.
pub fn from_config(config: &crate::Config) -> Arc<dyn Agent> {
    match &config.agent {
        crate::AgentConfig::Echo { delay } => {
            Arc::new(echo::EchoAgent::new(*delay, config.slow_interval))
        }
        crate::AgentConfig::Command { command } => {
            Arc::new(command::CommandAgent::new(command.clone()))
        }
        crate::AgentConfig::Acp { command, cwd } => {
            Arc::new(acp::AcpAgent::new(command.clone(), cwd.clone()))
        }
    }
}

//! Agents: whatever answers a turn. A runtime runs one turn at a time by calling
//! [`Agent::run_turn`] and streaming what it emits; it wraps every turn in `turn_start` and
//! `turn_end` itself, so an agent only produces messages and blocks.
//!
//! Cancelling a turn (interrupt, stop) drops its future: agents must release what they hold on
//! drop (the command agent kills its process group).

pub mod command;
pub mod echo;

use crate::clock::new_id;
use serde_json::Value;
use sessionwire_core::protocol::{
    BlockDelta, BlockEnd, BlockStart, BlockType, MessageRef, RawJson,
};
use sessionwire_core::EventKind;
use std::{fmt, future::Future, pin::Pin, sync::Arc};

/// What a turn produces: `Ok` ends it `completed`, `Err(message)` ends it with reason `error`.
pub type TurnFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>>;

/// One turn to answer.
#[derive(Debug)]
pub struct Turn {
    pub session_id: String,
    /// The user's text.
    pub prompt: String,
    pub events: EventSink,
}

/// Something that answers turns.
pub trait Agent: Send + Sync + fmt::Debug + 'static {
    /// Runs one turn, emitting its messages through `turn.events`.
    fn run_turn(&self, turn: Turn) -> TurnFuture;
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
    }
}

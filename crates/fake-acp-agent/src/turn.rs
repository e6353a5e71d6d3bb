//! One running `session/prompt`: its output helpers, its waits, and how it ends.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::dispatch::Agent;
use crate::out::{result_message, update_message, Event};
use crate::store::Exchange;

/// How a turn answers its `session/prompt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End<'a> {
    /// A result `{stopReason}`.
    Stop(&'a str),
    /// A JSON-RPC error.
    Error(i64, &'a str),
}

/// A prompt being answered, on its own thread.
#[derive(Debug)]
pub struct Turn {
    agent: Arc<Agent>,
    /// The session it runs in.
    pub session_id: String,
    /// Its 1-based number in the session (tool call ids are `call-<number>`).
    pub number: usize,
    id: Value,
    user: String,
    reply: String,
    tx: Sender<Event>,
    rx: Receiver<Event>,
    /// A `session/cancel` arrived while the turn waited for a permission answer.
    pub cancel_seen: bool,
    answered: bool,
}

impl Turn {
    /// A turn answering request `id` of `session_id`; `tx` is what the reader sends its events on.
    pub fn new(
        agent: Arc<Agent>,
        session_id: String,
        number: usize,
        id: Value,
        user: String,
        (tx, rx): (Sender<Event>, Receiver<Event>),
    ) -> Self {
        Self {
            agent,
            session_id,
            number,
            id,
            user,
            reply: String::new(),
            tx,
            rx,
            cancel_seen: false,
            answered: false,
        }
    }

    /// Sends one `session/update` of this session.
    pub fn update(&self, update: Value) {
        self.agent.out.update(&self.session_id, update);
    }

    /// Sends an `agent_message_chunk` (kept in the history unless the prompt is answered).
    pub fn message(&mut self, text: &str) {
        if !self.answered {
            self.reply.push_str(text);
        }
        self.update(message_chunk(text));
    }

    /// Sends an `agent_thought_chunk`.
    pub fn thought(&self, text: &str) {
        self.update(json!({
            "sessionUpdate": "agent_thought_chunk",
            "content": {"type": "text", "text": text},
        }));
    }

    /// Waits `pause` (no wait for zero); true if a `session/cancel` came (now or before).
    pub fn pause(&mut self, pause: Duration) -> bool {
        let deadline = Instant::now() + pause;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(Event::Cancel) => return true,
                Ok(Event::Reply(_)) => {}
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    /// Waits, however long it takes, for a `session/cancel`.
    pub fn wait_cancel(&mut self) {
        while let Ok(event) = self.rx.recv() {
            if matches!(event, Event::Cancel) {
                return;
            }
        }
    }

    /// Sends a request to the client and waits for its answer; a cancel meanwhile sets
    /// `cancel_seen`.
    pub fn ask(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.agent.out.request(method, params, self.tx.clone());
        loop {
            match self.rx.recv() {
                Ok(Event::Cancel) => self.cancel_seen = true,
                Ok(Event::Reply(reply)) => return reply,
                Err(_) => return Err(json!({"message": "no reader"})),
            }
        }
    }

    /// Answers the prompt: the session is idle again and the exchange is in its history.
    pub fn finish(&mut self, end: End<'_>) {
        if self.answered {
            return;
        }
        self.close();
        match end {
            End::Stop(reason) => self
                .agent
                .out
                .result(&self.id, json!({"stopReason": reason})),
            End::Error(code, message) => self.agent.out.error(&self.id, code, message),
        }
    }

    /// Answers the prompt `cancelled` and, in the same write, sends `late` chunks after the
    /// answer (a misbehaving agent, for `/late`); they are not the turn's.
    pub fn cancelled_then(&mut self, late: &[&str]) {
        self.close();
        let mut messages = vec![result_message(&self.id, json!({"stopReason": "cancelled"}))];
        for text in late {
            messages.push(update_message(&self.session_id, message_chunk(text)));
        }
        self.agent.out.send_together(&messages);
    }

    /// The prompt is answered: the session is idle again and the exchange is in its history.
    fn close(&mut self) {
        self.answered = true;
        let exchange = Exchange {
            user: std::mem::take(&mut self.user),
            agent: std::mem::take(&mut self.reply),
        };
        self.agent.store.record(&self.session_id, exchange);
        self.agent.idle(&self.session_id);
    }

    /// Writes a raw line to stdout (for `/garbage`).
    pub fn raw_line(&self, text: &str) {
        self.agent.out.line(text);
    }
}

/// An `agent_message_chunk` update of `text`.
fn message_chunk(text: &str) -> Value {
    json!({
        "sessionUpdate": "agent_message_chunk",
        "content": {"type": "text", "text": text},
    })
}

//! The one writer of stdout (whole lines under one lock) and the agent's own requests to the client.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Mutex, PoisonError};

use serde_json::{json, Value};

/// The answer to request `id`: its `result`.
pub fn result_message(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// A `session/update` notification.
pub fn update_message(session_id: &str, update: Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": "session/update",
        "params": {"sessionId": session_id, "update": update},
    })
}

/// What a running turn can be told by the reader thread.
#[derive(Debug)]
pub enum Event {
    /// A `session/cancel` for the turn's session.
    Cancel,
    /// The client's answer to a request the turn made: its `result`, or its `error`.
    Reply(Result<Value, Value>),
}

/// Stdout, shared by the reader thread and every turn thread.
#[derive(Debug, Default)]
pub struct Out {
    lock: Mutex<()>,
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, Sender<Event>>>,
}

impl Out {
    /// Writes one line and flushes it; nothing else is written while it does.
    pub fn line(&self, text: &str) {
        self.write(&format!("{text}\n"));
    }

    /// Writes whole lines in one write and flushes them, under the lock.
    fn write(&self, lines: &str) {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stdout = io::stdout().lock();
        if let Err(err) = stdout
            .write_all(lines.as_bytes())
            .and_then(|()| stdout.flush())
        {
            eprintln!("fake-acp-agent: writing stdout failed: {err}");
        }
    }

    /// Writes one JSON-RPC message.
    pub fn send(&self, message: &Value) {
        self.line(&message.to_string());
    }

    /// Writes several JSON-RPC messages in one write, so a reader gets them in one read (a pipe
    /// write of at most 4 KiB is atomic): `/late`'s chunks arrive together with its answer.
    pub fn send_together(&self, messages: &[Value]) {
        let mut text = String::new();
        for message in messages {
            text.push_str(&message.to_string());
            text.push('\n');
        }
        self.write(&text);
    }

    /// Answers request `id` with `result`.
    pub fn result(&self, id: &Value, result: Value) {
        self.send(&result_message(id, result));
    }

    /// Answers request `id` with a JSON-RPC error.
    pub fn error(&self, id: &Value, code: i64, message: &str) {
        self.send(
            &json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}),
        );
    }

    /// Sends a `session/update` notification.
    pub fn update(&self, session_id: &str, update: Value) {
        self.send(&update_message(session_id, update));
    }

    /// Sends a request to the client (ids 1, 2, 3, … per process); its answer goes to `reply_to`.
    pub fn request(&self, method: &str, params: Value, reply_to: Sender<Event>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, reply_to);
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
    }

    /// Hands a response from the client to the turn that made the request.
    pub fn route_response(&self, message: &Value) {
        let id = message.get("id").and_then(Value::as_u64);
        let waiter = id.and_then(|id| {
            self.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id)
        });
        let Some(waiter) = waiter else {
            eprintln!("fake-acp-agent: a response to no request of ours: {message}");
            return;
        };
        let reply = match message.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(message.get("result").cloned().unwrap_or(Value::Null)),
        };
        // The turn may be gone (the process is ending): nothing to do then.
        let _ = waiter.send(Event::Reply(reply));
    }
}

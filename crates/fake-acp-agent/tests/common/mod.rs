//! Drives the real binary over pipes: one JSON-RPC line at a time, with timeouts.
#![allow(clippy::unwrap_used, dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// How long any expected line may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A running fake agent.
pub struct Agent {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    next_id: u64,
}

impl Agent {
    /// Starts the binary with `args`, its state in `state_dir` (none: the variable is unset).
    pub fn spawn(args: &[&str], state_dir: Option<&Path>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sessionwire-fake-acp-agent"));
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env_remove("FAKE_ACP_STATE_DIR");
        if let Some(dir) = state_dir {
            command.env("FAKE_ACP_STATE_DIR", dir);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines,
            next_id: 100,
        }
    }

    /// Writes one line to the agent's stdin.
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Writes one JSON message.
    pub fn send(&mut self, message: &Value) {
        self.send_line(&message.to_string());
    }

    /// The next stdout line.
    pub fn line(&self) -> String {
        self.lines
            .recv_timeout(TIMEOUT)
            .expect("a line from the agent")
    }

    /// The next stdout line, as JSON.
    pub fn next(&self) -> Value {
        let line = self.line();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    }

    /// Asserts that no line comes within `wait`.
    pub fn quiet(&self, wait: Duration) {
        match self.lines.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            other => panic!("expected silence, got {other:?}"),
        }
    }

    /// Sends a request with a fresh id and returns the id.
    pub fn request(&mut self, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// Reads until the response to `id`: the messages before it, and it.
    pub fn until(&self, id: u64) -> (Vec<Value>, Value) {
        let mut before = Vec::new();
        loop {
            let message = self.next();
            if message.get("method").is_none() && message["id"] == json!(id) {
                return (before, message);
            }
            before.push(message);
        }
    }

    /// A request and everything up to its response.
    pub fn call(&mut self, method: &str, params: Value) -> (Vec<Value>, Value) {
        let id = self.request(method, params);
        self.until(id)
    }

    /// `initialize`, returning its result.
    pub fn init(&mut self) -> Value {
        let (before, response) = self.call("initialize", json!({"protocolVersion": 1}));
        assert!(before.is_empty());
        response["result"].clone()
    }

    /// `initialize` then `session/new`: the new session's id.
    pub fn start(&mut self) -> String {
        self.init();
        self.new_session()
    }

    /// `session/new`: its id.
    pub fn new_session(&mut self) -> String {
        let (before, response) = self.call("session/new", json!({"cwd": "/tmp", "mcpServers": []}));
        assert!(before.is_empty());
        response["result"]["sessionId"].as_str().unwrap().to_owned()
    }

    /// Sends `session/prompt` with one text block.
    pub fn prompt(&mut self, session_id: &str, text: &str) -> u64 {
        self.request(
            "session/prompt",
            json!({"sessionId": session_id, "prompt": [{"type": "text", "text": text}]}),
        )
    }

    /// A prompt and everything up to its answer.
    pub fn turn(&mut self, session_id: &str, text: &str) -> (Vec<Value>, Value) {
        let id = self.prompt(session_id, text);
        self.until(id)
    }

    /// Sends `session/cancel`.
    pub fn cancel(&mut self, session_id: &str) {
        self.send(&json!({"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": session_id}}));
    }

    /// Closes stdin (unless `keep_stdin`) and waits for the exit.
    pub fn exit(mut self, keep_stdin: bool) -> ExitStatus {
        if !keep_stdin {
            self.stdin = None;
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the agent did not exit");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `session/update` notification as the agent sends it.
pub fn update(session_id: &str, update: Value) -> Value {
    json!({"jsonrpc": "2.0", "method": "session/update", "params": {"sessionId": session_id, "update": update}})
}

/// A chunk update (`agent_message_chunk`, `agent_thought_chunk`, `user_message_chunk`).
pub fn chunk(session_id: &str, kind: &str, text: &str) -> Value {
    update(
        session_id,
        json!({"sessionUpdate": kind, "content": {"type": "text", "text": text}}),
    )
}

/// Agent message chunks.
pub fn messages(session_id: &str, texts: &[&str]) -> Vec<Value> {
    texts
        .iter()
        .map(|t| chunk(session_id, "agent_message_chunk", t))
        .collect()
}

/// A prompt's result.
pub fn stop(id: u64, reason: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": {"stopReason": reason}})
}

/// A JSON-RPC error answer.
pub fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// A fresh, empty directory (removed by the caller).
pub fn temp_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("fake-acp-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

//! Reads stdin line by line and answers every method but the turns themselves.

use std::collections::HashMap;
use std::io::{self, BufRead};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use serde_json::{json, Value};

use crate::flags::Flags;
use crate::out::{Event, Out};
use crate::store::Store;
use crate::turn::Turn;

/// JSON-RPC: the line is not JSON.
const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: a JSON value that is no request, notification or response.
const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC: unknown (or switched off) method.
const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC: missing or mistyped params.
pub const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC: internal error.
pub const INTERNAL_ERROR: i64 = -32603;
/// ACP: resource not found (an unknown session id).
const NOT_FOUND: i64 = -32002;

/// Everything the reader and the turn threads share.
#[derive(Debug)]
pub struct Agent {
    flags: Flags,
    /// Stdout.
    pub out: Out,
    /// The sessions.
    pub store: Store,
    active: Mutex<HashMap<String, Sender<Event>>>,
}

impl Agent {
    /// An agent with these flags and sessions.
    pub fn new(flags: Flags, store: Store) -> Self {
        Self {
            flags,
            out: Out::default(),
            store,
            active: Mutex::new(HashMap::new()),
        }
    }

    /// Marks a session as having no running prompt.
    pub fn idle(&self, session_id: &str) {
        self.active().remove(session_id);
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<String, Sender<Event>>> {
        self.active.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Serves stdin until it closes.
pub fn serve(agent: &Arc<Agent>) {
    let mut stdin = io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(err) => {
                eprintln!("fake-acp-agent: reading stdin failed: {err}");
                return;
            }
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(&line) {
            Ok(message) => handle(agent, message),
            Err(_) => agent.out.error(&Value::Null, PARSE_ERROR, "Parse error"),
        }
    }
}

fn handle(agent: &Arc<Agent>, message: Value) {
    let method = message.get("method").and_then(Value::as_str);
    let params = message.get("params").cloned().unwrap_or(Value::Null);
    match (method, message.get("id")) {
        (Some(method), Some(id)) => request(agent, id, method, &params),
        (Some(method), None) => notification(agent, method, &params),
        (None, Some(_)) => agent.out.route_response(&message),
        (None, None) => agent
            .out
            .error(&Value::Null, INVALID_REQUEST, "Invalid Request"),
    }
}

fn notification(agent: &Agent, method: &str, params: &Value) {
    if method != "session/cancel" {
        eprintln!("fake-acp-agent: ignored notification {method}");
        return;
    }
    let session_id = params.get("sessionId").and_then(Value::as_str);
    let turn = session_id.and_then(|id| agent.active().get(id).cloned());
    match turn {
        Some(turn) => {
            let _ = turn.send(Event::Cancel);
        }
        None => eprintln!("fake-acp-agent: session/cancel with no running prompt"),
    }
}

fn request(agent: &Arc<Agent>, id: &Value, method: &str, params: &Value) {
    let out = &agent.out;
    let session_id = params.get("sessionId").and_then(Value::as_str);
    match method {
        "initialize" if agent.flags.hang_initialize => {
            eprintln!("fake-acp-agent: --hang-initialize: not answering initialize");
        }
        "initialize" => out.result(id, initialize(&agent.flags)),
        "authenticate" => out.result(id, json!({})),
        "session/new" => {
            let cwd = params.get("cwd").and_then(Value::as_str).unwrap_or("");
            match agent.store.create(cwd.to_owned()) {
                Ok(session_id) => out.result(id, json!({"sessionId": session_id})),
                Err(err) => out.error(id, INTERNAL_ERROR, &err),
            }
        }
        "session/load" if agent.flags.no_load => {
            out.error(id, METHOD_NOT_FOUND, "Method not found")
        }
        "session/resume" if agent.flags.no_resume => {
            out.error(id, METHOD_NOT_FOUND, "Method not found");
        }
        "session/load" | "session/resume" => {
            let Some(session) = session_id.and_then(|s| agent.store.open(s)) else {
                return out.error(id, NOT_FOUND, "Resource not found: no such session");
            };
            if method == "session/load" {
                for exchange in &session.history {
                    out.update(
                        &session.session_id,
                        chunk("user_message_chunk", &exchange.user),
                    );
                    if !exchange.agent.is_empty() {
                        out.update(
                            &session.session_id,
                            chunk("agent_message_chunk", &exchange.agent),
                        );
                    }
                }
            }
            out.result(id, json!({}));
        }
        "session/prompt" => prompt(agent, id, session_id, params),
        _ => out.error(id, METHOD_NOT_FOUND, "Method not found"),
    }
}

fn initialize(flags: &Flags) -> Value {
    let mut session_capabilities = json!({});
    if !flags.no_resume {
        session_capabilities["resume"] = json!({});
    }
    json!({
        "protocolVersion": 1,
        "agentCapabilities": {
            "loadSession": !flags.no_load,
            "promptCapabilities": {"image": false, "audio": false, "embeddedContext": false},
            "sessionCapabilities": session_capabilities,
        },
        "agentInfo": {
            "name": env!("CARGO_PKG_NAME"),
            "title": "sessionwire fake ACP agent",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "authMethods": [],
    })
}

fn chunk(kind: &str, text: &str) -> Value {
    json!({"sessionUpdate": kind, "content": {"type": "text", "text": text}})
}

fn prompt(agent: &Arc<Agent>, id: &Value, session_id: Option<&str>, params: &Value) {
    let out = &agent.out;
    let Some(session_id) = session_id else {
        return out.error(id, INVALID_PARAMS, "Invalid params: sessionId");
    };
    let Some(blocks) = params.get("prompt").and_then(Value::as_array) else {
        return out.error(id, INVALID_PARAMS, "Invalid params: prompt");
    };
    let Some(number) = agent.store.next_turn(session_id) else {
        return out.error(id, NOT_FOUND, "Resource not found: no such session");
    };
    let text: String = blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    let (tx, rx) = mpsc::channel();
    {
        let mut active = agent.active();
        if active.contains_key(session_id) {
            drop(active);
            return out.error(
                id,
                INTERNAL_ERROR,
                "a prompt is already running in this session",
            );
        }
        active.insert(session_id.to_owned(), tx.clone());
    }
    let turn = Turn::new(
        Arc::clone(agent),
        session_id.to_owned(),
        number,
        id.clone(),
        text.clone(),
        (tx, rx),
    );
    thread::spawn(move || crate::script::run(turn, &text));
}

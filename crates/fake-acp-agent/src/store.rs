//! Sessions and their history, one JSON file each under `FAKE_ACP_STATE_DIR`.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One answered prompt: the user's text and the agent message text sent for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// The prompt's text.
    pub user: String,
    /// Every `agent_message_chunk` of the turn, joined (not the late ones of `/late`).
    pub agent: String,
}

/// A session as stored in `<FAKE_ACP_STATE_DIR>/<sessionId>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// The id `session/new` gave it.
    pub session_id: String,
    /// The `cwd` of `session/new`.
    pub cwd: String,
    /// Its answered prompts, oldest first.
    pub history: Vec<Exchange>,
}

/// The sessions this process has created, loaded or resumed, and the directory they live in.
#[derive(Debug)]
pub struct Store {
    dir: Option<PathBuf>,
    open: Mutex<HashMap<String, Session>>,
    counter: AtomicU64,
}

impl Store {
    /// A store in `FAKE_ACP_STATE_DIR`, or in memory only when it is unset.
    pub fn from_env() -> Self {
        Self::new(std::env::var_os("FAKE_ACP_STATE_DIR").map(PathBuf::from))
    }

    /// A store in `dir` (created when needed), or in memory only.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            open: Mutex::new(HashMap::new()),
            counter: AtomicU64::new(0),
        }
    }

    /// Makes a fresh session and saves it.
    pub fn create(&self, cwd: String) -> Result<String, String> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        let session_id = format!("fake-{}-{nanos:x}-{n}", std::process::id());
        let session = Session {
            session_id: session_id.clone(),
            cwd,
            history: Vec::new(),
        };
        self.save(&session)?;
        self.lock().insert(session_id.clone(), session);
        Ok(session_id)
    }

    /// Opens a session of this process or from the directory; `None` if it does not exist.
    pub fn open(&self, session_id: &str) -> Option<Session> {
        if let Some(session) = self.lock().get(session_id) {
            return Some(session.clone());
        }
        let valid = !session_id.is_empty()
            && session_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let path = self.dir.as_ref()?.join(format!("{session_id}.json"));
        if !valid {
            return None;
        }
        let text = fs::read_to_string(path).ok()?;
        let session: Session = serde_json::from_str(&text).ok()?;
        if session.session_id != session_id {
            return None;
        }
        self.lock().insert(session_id.to_owned(), session.clone());
        Some(session)
    }

    /// The 1-based number the next turn of an open session gets (history length + 1).
    pub fn next_turn(&self, session_id: &str) -> Option<usize> {
        self.lock().get(session_id).map(|s| s.history.len() + 1)
    }

    /// Appends an answered prompt to an open session's history and saves it.
    pub fn record(&self, session_id: &str, exchange: Exchange) {
        let session = {
            let mut open = self.lock();
            let Some(session) = open.get_mut(session_id) else {
                return;
            };
            session.history.push(exchange);
            session.clone()
        };
        if let Err(err) = self.save(&session) {
            eprintln!("fake-acp-agent: {err}");
        }
    }

    fn save(&self, session: &Session) -> Result<(), String> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let fail = |err: std::io::Error| format!("saving session {}: {err}", session.session_id);
        fs::create_dir_all(dir).map_err(fail)?;
        let text = serde_json::to_string_pretty(session).map_err(|e| e.to_string())?;
        let tmp = dir.join(format!("{}.json.tmp", session.session_id));
        fs::write(&tmp, text).map_err(fail)?;
        fs::rename(&tmp, dir.join(format!("{}.json", session.session_id))).map_err(fail)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

//! Server configuration: everything `main.rs` reads from flags and environment, with defaults
//! that need no setup (SQLite file in the working directory, the built-in `echo` agent).

use std::{path::PathBuf, time::Duration};

/// Which agent answers the turns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentConfig {
    /// The built-in echo agent (PROTOCOL.md §9); `delay` is the pause between chunks.
    Echo { delay: Duration },
    /// A program run through `sh -c` for every turn, the prompt on stdin.
    Command { command: String },
}

/// A per-connection token bucket: `per_second` frames refill, up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: 100.0,
            burst: 200.0,
        }
    }
}

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The SQLite database file.
    pub db_path: PathBuf,
    pub agent: AgentConfig,
    /// Accepted `hello.token`s; each is one user. Empty: everyone is one anonymous user.
    pub tokens: Vec<String>,
    /// Served at `/` (the web build of the package lives in its `pkg/`).
    pub www_dir: PathBuf,
    /// How long a session may stay DETACHED before it is closed (default 48 h).
    pub detach_ttl: Duration,
    /// How long a session stays SUSPENDED before it becomes DETACHED (default 2 min).
    pub suspend_grace: Duration,
    pub rate_limit: RateLimit,
    /// Frames larger than this many bytes get `frame_too_large` (PROTOCOL.md §1: 1 MiB).
    pub max_frame_bytes: usize,
    /// The pause between the chunks of `/slow` (100 ms per PROTOCOL.md §9).
    pub slow_interval: Duration,
}

impl Config {
    /// The defaults of PROTOCOL.md §9 with the given database file.
    pub fn new(db_path: impl Into<PathBuf>) -> Self {
        Self {
            db_path: db_path.into(),
            agent: AgentConfig::Echo {
                delay: Duration::ZERO,
            },
            tokens: Vec::new(),
            www_dir: PathBuf::from("www"),
            detach_ttl: Duration::from_secs(48 * 3600),
            suspend_grace: Duration::from_secs(120),
            rate_limit: RateLimit::default(),
            max_frame_bytes: sessionwire_core::MAX_FRAME_BYTES,
            slow_interval: Duration::from_millis(100),
        }
    }
}

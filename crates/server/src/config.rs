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
    /// An Agent Client Protocol agent (PROTOCOL.md §9.1): `sh -c command` in `cwd`, one process
    /// per session runtime.
    Acp { command: String, cwd: PathBuf },
}

/// A per-connection token bucket: `per_second` frames refill, up to `burst` (the engine's).
pub use sessionwire_core::engine::RateLimit;

/// Where the durable store lives (`--db`, PROTOCOL.md §9.2).
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (the embedded default): one server process.
    Sqlite(PathBuf),
    /// A `postgres://` (or `postgresql://`) URL: any number of server processes may share it.
    Postgres(String),
}

impl Database {
    /// A `postgres://` or `postgresql://` URL is PostgreSQL; anything else is an SQLite path.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Self::Postgres(text.to_owned())
        } else {
            Self::Sqlite(PathBuf::from(text))
        }
    }
}

/// Never prints a URL's password (it may be in logs and error reports).
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::Postgres(url) => write!(f, "{}", redact_password(url)),
        }
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl From<&str> for Database {
    fn from(text: &str) -> Self {
        Self::parse(text)
    }
}

impl From<String> for Database {
    fn from(text: String) -> Self {
        Self::parse(&text)
    }
}

impl From<PathBuf> for Database {
    fn from(path: PathBuf) -> Self {
        Self::Sqlite(path)
    }
}

impl From<&std::path::Path> for Database {
    fn from(path: &std::path::Path) -> Self {
        Self::Sqlite(path.to_owned())
    }
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The durable store: an SQLite file or a PostgreSQL URL.
    pub db: Database,
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
    /// Origins besides the server's own whose pages may open `/ws` (`--allow-origin`,
    /// exact `scheme://host[:port]`).
    pub allowed_origins: Vec<String>,
    /// The HTTP request head must arrive within this long of the TCP accept (10 s).
    pub head_deadline: Duration,
    /// `hello` must arrive within this long of the upgrade (10 s).
    pub hello_deadline: Duration,
    /// A connection that sends nothing for this long is closed with 1001 (90 s).
    pub idle_timeout: Duration,
    /// Open sockets beyond this many get HTTP 503 on upgrade (10,000).
    pub max_connections: usize,
    /// Frame text queued for one connection beyond this many bytes closes it with 1013 (8 MiB).
    pub max_queued_bytes: usize,
    /// Failed `hello`s answered per second and client address (10).
    pub failed_hellos_per_second: f64,
    /// With PostgreSQL: how long after a process's last heartbeat its users may be served by
    /// another process (10 s, PROTOCOL.md §9.2).
    pub lease_timeout: Duration,
}

impl Config {
    /// The defaults of PROTOCOL.md §9 with the given database file.
    pub fn new(db: impl Into<Database>) -> Self {
        Self {
            db: db.into(),
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
            allowed_origins: Vec::new(),
            head_deadline: Duration::from_secs(10),
            hello_deadline: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            max_connections: 10_000,
            max_queued_bytes: 8 * 1024 * 1024,
            failed_hellos_per_second: 10.0,
            lease_timeout: Duration::from_secs(10),
        }
    }

    /// Refuses a configuration that would be unsafe or cannot work: a blank token (it must
    /// never turn authentication off) or an `--allow-origin` that is not `scheme://host[:port]`.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.tokens.iter().any(|token| token.trim().is_empty()) {
            anyhow::bail!(
                "a token is empty or blank; every --token (and every entry of SESSIONWIRE_TOKENS) must have \
                 characters other than spaces"
            );
        }
        if let Some(token) = self
            .tokens
            .iter()
            .find(|token| token.trim() != token.as_str())
        {
            anyhow::bail!(
                "a token has spaces around it ({} characters); trim it",
                token.chars().count()
            );
        }
        for origin in &self.allowed_origins {
            if !origin_is_well_formed(origin) {
                anyhow::bail!(
                    "--allow-origin {origin:?} is not an origin: write scheme://host[:port], with no path or trailing slash"
                );
            }
        }
        if self.max_connections == 0 {
            anyhow::bail!("--max-connections must be at least 1");
        }
        if self.idle_timeout.is_zero() {
            anyhow::bail!("--idle-timeout-secs must be at least 1");
        }
        if self.lease_timeout < Duration::from_secs(1) {
            anyhow::bail!("--lease-timeout-secs must be at least 1");
        }
        Ok(())
    }
}

/// `scheme://host[:port]` with an http(s) scheme and nothing after the authority.
fn origin_is_well_formed(origin: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !authority.is_empty()
        && !authority.contains(['/', '?', '#', ' ', '@'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_urls_are_postgres_and_their_passwords_are_never_printed() {
        assert_eq!(Database::parse("x.db"), Database::Sqlite("x.db".into()));
        assert_eq!(
            Database::parse("postgres://a@h/db"),
            Database::Postgres("postgres://a@h/db".into())
        );
        let url = "postgresql://alice:s3cret@db.example:5432/sw?sslmode=disable";
        let shown = Database::parse(url).to_string();
        assert_eq!(
            shown,
            "postgresql://alice:***@db.example:5432/sw?sslmode=disable"
        );
        assert_eq!(
            Database::parse("postgres://alice@h/db").to_string(),
            "postgres://alice@h/db"
        );
    }

    #[test]
    fn blank_tokens_and_bad_origins_are_refused() {
        let mut config = Config::new("x.db");
        assert!(config.validate().is_ok());
        config.tokens = vec![" ".into()];
        assert!(config.validate().is_err());
        config.tokens = vec![String::new()];
        assert!(config.validate().is_err());
        config.tokens = vec!["alice".into()];
        config.allowed_origins = vec!["http://localhost:5173".into(), "https://app.example".into()];
        assert!(config.validate().is_ok());
        for bad in [
            "localhost:5173",
            "http://localhost:5173/",
            "null",
            "*",
            "ftp://x",
        ] {
            config.allowed_origins = vec![bad.into()];
            assert!(config.validate().is_err(), "{bad}");
        }
    }
}

//! The `sessionwire-server` command (PROTOCOL.md §9).

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use sessionwire_server::{AgentConfig, Config, RateLimit, Server};
use std::{net::SocketAddr, path::PathBuf, time::Duration};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AgentKind {
    /// The built-in echo agent.
    Echo,
    /// A program run per turn (`--agent-cmd`).
    Command,
    /// An Agent Client Protocol agent (`--agent-cmd`, one process per session).
    Acp,
}

/// sessionwire's server: durable agent sessions over WebSocket.
#[derive(Debug, Parser)]
#[command(name = "sessionwire-server", version, about)]
struct Args {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "SESSIONWIRE_LISTEN", default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// The store: an SQLite file, or a `postgres://` URL that several servers may share
    /// (`?sslmode=verify-full[&sslrootcert=ca.pem]` for TLS, the certificate always checked).
    #[arg(long, env = "SESSIONWIRE_DB", default_value = "sessionwire.db")]
    db: String,
    /// Which agent answers turns.
    #[arg(long, env = "SESSIONWIRE_AGENT", value_enum, default_value = "echo")]
    agent: AgentKind,
    /// The command for `--agent command` (run per turn, prompt on stdin) or `--agent acp` (run
    /// per session, ACP on stdin/stdout), with `sh -c`.
    #[arg(long, env = "SESSIONWIRE_AGENT_CMD")]
    agent_cmd: Option<String>,
    /// The working directory of `--agent acp`'s processes (and its `session/new` cwd); default:
    /// the server's working directory.
    #[arg(long, env = "SESSIONWIRE_AGENT_CWD")]
    agent_cwd: Option<PathBuf>,
    /// Pause between the echo agent's chunks, in milliseconds.
    #[arg(long, env = "SESSIONWIRE_ECHO_DELAY_MS", default_value_t = 0)]
    echo_delay_ms: u64,
    /// An accepted token (repeatable; each token is one user). Env: comma-separated.
    #[arg(long = "token", env = "SESSIONWIRE_TOKENS", value_delimiter = ',')]
    tokens: Vec<String>,
    /// Directory served at `/` (the web package in its `pkg/`).
    #[arg(long, env = "SESSIONWIRE_WWW", default_value = "www")]
    www: PathBuf,
    /// With a `postgres://` --db: seconds after a server process's last heartbeat before
    /// another may serve its users.
    #[arg(long, env = "SESSIONWIRE_LEASE_TIMEOUT_SECS", default_value_t = 10)]
    lease_timeout_secs: u64,
    /// Seconds a session may stay DETACHED before it is closed.
    #[arg(long, env = "SESSIONWIRE_DETACH_TTL_SECS", default_value_t = 48 * 3600)]
    detach_ttl_secs: u64,
    /// Seconds a session stays SUSPENDED before it becomes DETACHED.
    #[arg(long, env = "SESSIONWIRE_SUSPEND_GRACE_SECS", default_value_t = 120)]
    suspend_grace_secs: u64,
    /// Frames per second each connection may send (sustained).
    #[arg(long, env = "SESSIONWIRE_RATE_LIMIT", default_value_t = 100.0)]
    rate_limit: f64,
    /// Frames each connection may send in a burst.
    #[arg(long, env = "SESSIONWIRE_RATE_BURST", default_value_t = 200.0)]
    rate_burst: f64,
    /// An origin (exact `scheme://host[:port]`) whose pages may connect besides the server's
    /// own (repeatable). Env: comma-separated.
    #[arg(
        long = "allow-origin",
        env = "SESSIONWIRE_ALLOW_ORIGINS",
        value_delimiter = ','
    )]
    allow_origins: Vec<String>,
    /// Seconds a connection may send nothing before it is closed (clients ping every 30 s).
    #[arg(long, env = "SESSIONWIRE_IDLE_TIMEOUT_SECS", default_value_t = 90)]
    idle_timeout_secs: u64,
    /// Open sockets beyond this many get HTTP 503.
    #[arg(long, env = "SESSIONWIRE_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
}

impl Args {
    fn into_config(self) -> Result<Config> {
        let cwd_given = self.agent_cwd.is_some();
        let agent = match (self.agent, self.agent_cmd) {
            (AgentKind::Echo, _) => AgentConfig::Echo {
                delay: Duration::from_millis(self.echo_delay_ms),
            },
            (AgentKind::Command, Some(command)) if !command.trim().is_empty() => {
                AgentConfig::Command { command }
            }
            (AgentKind::Command, _) => bail!("--agent command needs --agent-cmd \"...\""),
            (AgentKind::Acp, Some(command)) if !command.trim().is_empty() => {
                let cwd = match self.agent_cwd {
                    Some(dir) => dir,
                    None => std::env::current_dir().context("the working directory")?,
                };
                // Absolute: ACP's session/new takes an absolute cwd.
                let cwd = std::fs::canonicalize(&cwd)
                    .with_context(|| format!("--agent-cwd {}: no such directory", cwd.display()))?;
                if !cwd.is_dir() {
                    bail!("--agent-cwd {}: not a directory", cwd.display());
                }
                AgentConfig::Acp { command, cwd }
            }
            (AgentKind::Acp, _) => bail!(
                "--agent acp needs --agent-cmd \"...\", e.g. 'npx -y @agentclientprotocol/claude-agent-acp'"
            ),
        };
        if cwd_given && !matches!(agent, AgentConfig::Acp { .. }) {
            bail!("--agent-cwd is for --agent acp");
        }
        let mut config = Config::new(self.db);
        config.agent = agent;
        // Trimmed; a token left empty is refused by `Config::validate` (it must never turn
        // authentication off).
        config.tokens = self
            .tokens
            .into_iter()
            .map(|token| token.trim().to_owned())
            .collect();
        config.allowed_origins = self
            .allow_origins
            .into_iter()
            .map(|origin| origin.trim().to_owned())
            .collect();
        config.idle_timeout = Duration::from_secs(self.idle_timeout_secs);
        config.max_connections = self.max_connections;
        config.www_dir = self.www;
        config.detach_ttl = Duration::from_secs(self.detach_ttl_secs);
        config.lease_timeout = Duration::from_secs(self.lease_timeout_secs);
        config.suspend_grace = Duration::from_secs(self.suspend_grace_secs);
        config.rate_limit = RateLimit {
            per_second: self.rate_limit,
            burst: self.rate_burst,
        };
        Ok(config)
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    if let Err(error) = serve(Args::parse()).await {
        eprintln!("sessionwire-server: {error:#}");
        std::process::exit(1);
    }
}

async fn serve(args: Args) -> Result<()> {
    let listen = args.listen;
    let config = args.into_config()?;
    config.validate()?;
    if !listen.ip().is_loopback() && config.tokens.is_empty() {
        bail!(
            "refusing to listen on the non-loopback address {listen} without a token: anyone who can reach \
             it could read and drive every session. Pass --token TOKEN (repeatable), or listen on 127.0.0.1."
        );
    }
    if let Some(limit) = sessionwire_server::raise_open_file_limit() {
        tracing::debug!(limit, "open-file limit");
    }
    let server = Server::open(config).await.context("opening the store")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let address = listener.local_addr()?;
    #[allow(clippy::print_stdout)] // The one line of stdout, part of the CLI contract.
    {
        println!("listening on http://{address}");
    }
    server.serve(listener, shutdown_signal()).await
}

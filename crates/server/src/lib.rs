//! `sessionwire-server`: the native server of sessionwire.
//!
//! It keeps long-running AI agent sessions durable (SQLite, or PostgreSQL shared by several
//! processes), routes every message by the
//! **durable** session state through the pure decisions of `sessionwire-core`, delivers each
//! event exactly once per connection in seq order, and replays what a client missed.
//!
//! How the pieces fit (one concept per module):
//!
//! - [`accept`]: the TCP accept loop: request-head deadline, socket count, client address.
//! - [`http`]: axum routes: the WebSocket at `/ws` (with its Origin and Host checks) and static
//!   files at `/`.
//! - [`connection`]: one WebSocket: `hello`, limits, and the ordering of replies and events.
//! - [`routing`]: carries out the core's routing decisions for each client frame.
//! - [`hub`]: the shared state: session entries, seq assignment, lifecycle transitions, timers.
//! - [`registry`]: who watches which session; which runtime (by generation) serves it.
//! - [`runtime`]: one task per live session running its turns one at a time; [`runtime_handle`]:
//!   how the others command it.
//! - [`agent`]: what answers a turn: the built-in `echo` agent or an external `command`.
//! - [`store`]: the durable store trait, its group-commit writer, and its SQLite and PostgreSQL
//!   statements.
//! - [`recovery`]: start-up recovery of the sessions a previous process left behind.
//! - [`cluster`]: several processes on one PostgreSQL database: which serves each user, and the
//!   relay of a client connected to another.
//! - [`auth`], [`rate_limit`], [`clock`], [`config`], [`percent`]: small supporting pieces.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let config = sessionwire_server::Config::new("sessionwire.db");
//! sessionwire_server::run(listener, config, std::future::pending()).await
//! # }
//! ```

pub mod accept;
pub mod agent;
pub mod auth;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod http;
pub mod hub;
pub mod percent;
pub mod permission;
pub mod rate_limit;
pub mod recovery;
pub mod registry;
pub mod routing;
pub mod runtime;
pub mod runtime_handle;
pub mod store;

pub use config::{AgentConfig, Config, Database, RateLimit};
pub use store::writer::WriterHandle;

use anyhow::{Context, Result};
use hub::Hub;
use std::{
    future::Future,
    sync::{Arc, OnceLock, Weak},
};
use store::{postgres::PostgresStore, sqlite::SqliteStore, CommitSink, FailureSink, Store};
use tokio::net::TcpListener;

/// A server with its store open and recovered, ready to serve.
#[derive(Debug)]
pub struct Server {
    hub: Arc<Hub>,
    writer: WriterHandle,
}

impl Server {
    /// Opens the store (running migrations), starts its writer and recovers the sessions a
    /// previous process left unfinished.
    pub async fn open(config: Config) -> Result<Self> {
        config.validate()?;
        // The store delivers committed events to the hub, which owns the store: the hub is
        // reached through a weak reference set once it exists.
        let hub_slot: Arc<OnceLock<Weak<Hub>>> = Arc::new(OnceLock::new());
        let sink_slot = hub_slot.clone();
        let failure_slot = hub_slot.clone();
        let sink: CommitSink = Box::new(move |events| {
            if let Some(hub) = sink_slot.get().and_then(Weak::upgrade) {
                hub.dispatch(events);
            }
        });
        let failures: FailureSink = Box::new(move |sessions| {
            if let Some(hub) = failure_slot.get().and_then(Weak::upgrade) {
                hub.storage_failed(sessions);
            }
        });
        let epoch = clock::new_id();
        let opened = open_store(&config, &epoch, sink, failures).await?;
        let agent = agent::from_config(&config);
        let hub = Arc::new(Hub::with_epoch(
            epoch,
            config,
            opened.store,
            agent,
            runtime::spawn,
        ));
        let _ = hub_slot.set(Arc::downgrade(&hub));
        match opened.cluster {
            // Several processes may share the database: each user's sessions are recovered by
            // the process that takes the user over (crate::cluster), not all at start.
            Some(cluster) => {
                let serving = Arc::downgrade(&hub);
                let tasks = tokio::runtime::Handle::current();
                cluster.host_connections_with(Box::new(move |user, link| {
                    if let Some(hub) = serving.upgrade() {
                        tasks.spawn(connection::serve_hosted(hub, auth::User(user), link));
                    }
                }));
                hub.set_cluster(cluster);
            }
            None => {
                recovery::recover(&hub).await?;
            }
        }
        Ok(Self {
            hub,
            writer: opened.writer,
        })
    }

    /// The shared state (for tests and embedding).
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Waits for the store's writer thread to end (tests use it to reopen a database after
    /// simulating a crash).
    pub fn writer_handle(&self) -> WriterHandle {
        self.writer.clone()
    }

    /// Serves on `listener` until `shutdown` completes, then shuts down gracefully: connections
    /// are closed, runtimes stopped and the store flushed.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let hub = self.hub.clone();
        let signal_hub = hub.clone();
        let shutdown = async move {
            shutdown.await;
            tracing::info!("shutting down");
            // WebSockets are long-lived: tell them to close now rather than waiting for them.
            signal_hub.begin_shutdown();
        };
        let sweeper = tokio::spawn(sweep_idle_entries(hub.clone()));
        let cluster_watch = tokio::spawn(watch_cluster(hub.clone()));
        let limits = accept::AcceptLimits {
            head_deadline: hub.config.head_deadline,
            max_connections: hub.config.max_connections,
        };
        accept::serve(
            listener,
            http::router(hub.clone()),
            hub.sockets.clone(),
            limits,
            shutdown,
        )
        .await;
        sweeper.abort();
        cluster_watch.abort();
        hub.shutdown().await;
        Ok(())
    }
}

/// An open store, and the cluster it joined if the database may be shared.
struct OpenStore {
    store: Arc<dyn Store>,
    writer: WriterHandle,
    cluster: Option<Arc<cluster::Cluster>>,
}

/// Opens the store `--db` names (off the async workers: opening connects and migrates); on
/// PostgreSQL, joins the processes sharing it.
async fn open_store(
    config: &Config,
    epoch: &str,
    sink: CommitSink,
    failures: FailureSink,
) -> Result<OpenStore> {
    let (db, epoch, lease_timeout) = (
        config.db.clone(),
        Arc::<str>::from(epoch),
        config.lease_timeout,
    );
    tokio::task::spawn_blocking(move || -> Result<OpenStore> {
        match &db {
            Database::Sqlite(path) => {
                let store = SqliteStore::open(path, sink, failures)?;
                let writer = store.writer_handle();
                Ok(OpenStore {
                    store: Arc::new(store),
                    writer,
                    cluster: None,
                })
            }
            Database::Postgres(url) => {
                let shown = db.to_string();
                let target = store::postgres::Target::parse(url, &shown)?;
                let store = PostgresStore::open(&target, epoch.clone(), sink, failures)?;
                let writer = store.writer_handle();
                let cluster = cluster::Cluster::join(&target, epoch, lease_timeout)
                    .with_context(|| format!("joining the servers on {shown}"))?;
                Ok(OpenStore {
                    store: Arc::new(store),
                    writer,
                    cluster: Some(cluster),
                })
            }
        }
    })
    .await?
}

/// The other processes' side of a shared database, every half lease timeout: links to dead
/// processes end (their clients reconnect), and users whose sessions wait for a process that
/// died or left are taken over and recovered here, unless another process is quicker.
async fn watch_cluster(hub: Arc<Hub>) {
    let Some(cluster) = hub.cluster().cloned() else {
        return;
    };
    let mut ticks = tokio::time::interval(cluster.lease_timeout / 2);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let scan = cluster.clone();
        let orphans = tokio::task::spawn_blocking(move || {
            scan.end_dead_links()?;
            scan.orphaned_users()
        })
        .await;
        let orphans = match orphans {
            Ok(Ok(orphans)) => orphans,
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot read the other servers' state");
                continue;
            }
            Err(_) => continue,
        };
        for owner in orphans {
            if let Err(error) = recovery::place_user(&hub, &owner).await {
                tracing::warn!(%error, "cannot take over a user");
            }
        }
    }
}

/// How often the in-memory entries of idle sessions are evicted.
const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

async fn sweep_idle_entries(hub: Arc<Hub>) {
    let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let evicted = hub.evict_idle().await;
        if evicted > 0 {
            tracing::debug!(evicted, "idle session entries evicted");
        }
    }
}

/// Raises the soft limit on open files to the hard limit (PROTOCOL.md §1.2): every socket is a
/// file, and the usual soft limit of 1,024 is far below `--max-connections`. Returns the limit
/// in force.
pub fn raise_open_file_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard {
        if let Err(error) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            tracing::warn!(%error, soft, hard, "cannot raise the open-file limit");
            return Some(soft);
        }
    }
    Some(hard)
}

/// Opens the store `config.db` names, recovers it and serves on `listener` until `shutdown`
/// completes (mini-redis style: tests bind port 0 and pass the listener in).
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    Server::open(config).await?.serve(listener, shutdown).await
}

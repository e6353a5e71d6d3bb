//! The hub: the shared state of one server process.
//!
//! It owns the store, the registries and the in-memory entry of every session touched since
//! start-up. Two rules keep the event log consistent:
//!
//! - **Seqs are assigned under the session's entry lock and submitted to the store while still
//!   holding it.** The store applies writes in submission order, so each session's events are
//!   committed, and then delivered, in dense seq order.
//! - **Lifecycle changes go through [`lifecycle::transition`]** (or [`lifecycle::path`]); a refused
//!   transition is logged and changes nothing. Every change is persisted as a `session_state`
//!   event. The one exception is start-up recovery ([`Hub::force_state`]).
//!
//! Routing operations on one session are serialised by its `route` lock, so a decision and its
//! execution see the same registry and state. The lock covers deciding and *submitting* only: it
//! is released before anyone awaits durability, an agent's cancellation or a store read. A
//! `clientMsgId` being stored is *reserved* here ([`Hub::reserve`]) until the store answers, so a
//! retry racing its original waits for that answer (holding nothing) and then finds it stored.
//! No lock, mutex or queue position is held across an await of I/O.

use crate::{accept::SocketCount, cluster::Cluster, rate_limit::FailedHellos};
use crate::{
    agent::Agent,
    auth::User,
    clock::{new_id, now_ms},
    registry::{lock, ConnHandle, ConnId, ConnectionRegistry, RuntimeRegistry},
    runtime_handle::RuntimeHandle,
    store::{
        Append, ClientMsgKey, Done, Durable, SessionRecord, Store, StoreResult, StoredEvent, Write,
    },
    Config,
};
use anyhow::anyhow;
use sessionwire_core::{
    engine::eviction::{self, EntryUse, EvictionDriver},
    engine::reservations::Reservations,
    lifecycle::{reason, triggers},
    protocol::SessionStateChange,
    routing::{Lookup, SessionView},
    EventKind, SessionState,
};
use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, OnceLock,
    },
};
use tokio::sync::{oneshot, watch};

mod durable;
mod entry;
mod hooks;
mod repair;
mod states;

pub use durable::{Extras, Reservation};
pub use entry::{EntrySnapshot, PermissionAnswer, PermissionBook, SessionEntry};
pub use hooks::Hooks;

/// The shared state of the server.
#[derive(Debug)]
pub struct Hub {
    pub config: Config,
    /// New for every process start (PROTOCOL.md §2).
    pub epoch: String,
    pub store: Arc<dyn Store>,
    agent: Arc<dyn Agent>,
    pub connections: ConnectionRegistry,
    pub runtimes: RuntimeRegistry,
    sessions: Mutex<HashMap<String, Arc<SessionEntry>>>,
    /// `clientMsgId`s (owner, id) being stored now: the duplicate check reads these and the
    /// store's (see [`Hub::reserve`]).
    reservations: Mutex<Reservations<oneshot::Sender<()>>>,
    /// Test counters and the commit gate.
    pub hooks: Hooks,
    pub next_connection: AtomicU64,
    shutdown: watch::Sender<bool>,
    /// Open sockets (the accept loop and `--max-connections`).
    pub sockets: Arc<SocketCount>,
    /// Failed `hello`s per client address.
    pub failed_hellos: FailedHellos,
    /// Session lookups that went to the store (tests check that a foreign session and an
    /// unknown one take the same path).
    pub session_reads: AtomicU64,
    /// Sessions whose writes failed, waiting for their repair (PROTOCOL.md §2): a `send` to
    /// one is answered `unavailable` at once.
    fenced: Mutex<HashSet<Arc<str>>>,
    /// Where the store's writer thread starts repairs.
    tasks: tokio::runtime::Handle,
    /// The other processes on the same database, if there may be any (PostgreSQL).
    cluster: OnceLock<Arc<Cluster>>,
    /// Starts a session's runtime task (given, so the hub does not depend on the runtime's
    /// driver, which depends on the hub).
    start_runtime: StartRuntime,
}

/// How the hub starts a session's runtime of a given generation ([`crate::runtime::spawn`]).
pub type StartRuntime = fn(Arc<Hub>, Arc<SessionEntry>, u64) -> RuntimeHandle;

impl Hub {
    /// A hub over an open store; `start_runtime` starts a session's runtime task (the server
    /// passes [`crate::runtime::spawn`]). Call it inside the Tokio runtime that will serve.
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        agent: Arc<dyn Agent>,
        start_runtime: StartRuntime,
    ) -> Self {
        Self::with_epoch(new_id(), config, store, agent, start_runtime)
    }

    /// A hub with its process epoch given (the store's writer checks its leases under it).
    pub fn with_epoch(
        epoch: String,
        config: Config,
        store: Arc<dyn Store>,
        agent: Arc<dyn Agent>,
        start_runtime: StartRuntime,
    ) -> Self {
        Self {
            epoch,
            store,
            agent,
            start_runtime,
            connections: ConnectionRegistry::default(),
            runtimes: RuntimeRegistry::default(),
            sessions: Mutex::new(HashMap::new()),
            reservations: Mutex::new(Reservations::default()),
            hooks: Hooks::default(),
            next_connection: AtomicU64::new(0),
            shutdown: watch::channel(false).0,
            sockets: Arc::default(),
            failed_hellos: FailedHellos::new(config.failed_hellos_per_second),
            session_reads: AtomicU64::new(0),
            fenced: Mutex::new(HashSet::new()),
            tasks: tokio::runtime::Handle::current(),
            cluster: OnceLock::new(),
            config,
        }
    }

    /// Joins the hub to its cluster (once, before serving).
    pub fn set_cluster(&self, cluster: Arc<Cluster>) {
        let _ = self.cluster.set(cluster);
    }

    /// The cluster of processes this one is part of (PostgreSQL).
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.get()
    }

    /// The agent that answers turns.
    pub fn agent(&self) -> Arc<dyn Agent> {
        self.agent.clone()
    }

    /// Fires once when the server shuts down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Runs a blocking store read off the async workers.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> StoreResult<T> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&*store))
            .await
            .map_err(|error| anyhow!("store task: {error}"))?
            .map_err(|error| error.context(crate::store::ReadFailed))
    }

    /// Waits until everything submitted so far is durable.
    pub async fn durable(&self) -> StoreResult<()> {
        let (done, committed) = oneshot::channel();
        self.store.submit(Write::Barrier(done))?;
        committed.await.map_err(|_| anyhow!("a store write failed"))
    }

    /// Reserves a user's `clientMsgId` until its write is answered. If the id is reserved
    /// already (a retry racing its original), waits, holding nothing, until that reservation is
    /// released, then takes it: the caller then reads the store, which has the original if it
    /// was stored. So the duplicate check reads reserved ∪ stored, and one user's sends to
    /// different sessions never wait for one another.
    pub async fn reserve(self: &Arc<Self>, user: &User, client_msg_id: &str) -> Reservation {
        let key = (user.0.clone(), client_msg_id.to_owned());
        loop {
            let released = {
                let mut reservations = lock(&self.reservations);
                if reservations.try_reserve(&key) {
                    return Reservation {
                        hub: self.clone(),
                        key,
                        write: None,
                    };
                }
                let (waiter, released) = oneshot::channel();
                if !reservations.wait(&key, waiter) {
                    continue;
                }
                released
            };
            // Woken by the release (an error: the waiter was dropped, also a release).
            let _ = released.await;
        }
    }

    /// How many `clientMsgId`s are reserved now.
    pub fn reserved_count(&self) -> usize {
        lock(&self.reservations).len()
    }

    /// A session's entry, loaded from the store on first use; whoever owns it.
    pub async fn entry(&self, id: &str) -> StoreResult<Option<Arc<SessionEntry>>> {
        if let Some(entry) = lock(&self.sessions).get(id) {
            return Ok(Some(entry.clone()));
        }
        let key = id.to_owned();
        let Some(record) = self.read(move |store| store.session(&key)).await? else {
            return Ok(None);
        };
        // No write of a session happens without its entry, so the record is complete. Another
        // task may have loaded it meanwhile: keep the first.
        Ok(Some(self.keep_loaded(record)))
    }

    /// The entry of a record just read from the store, unless another task loaded it meanwhile:
    /// then that one (the first stays, so every task shares one entry and its route lock).
    fn keep_loaded(&self, record: SessionRecord) -> Arc<SessionEntry> {
        let entry = Arc::new(SessionEntry::from_record(record));
        lock(&self.sessions)
            .entry(entry.id.to_string())
            .or_insert(entry)
            .clone()
    }

    /// A session's entry if `user` owns it. A session that is not loaded and one that belongs
    /// to someone else take the same path, one store read, so how long the answer takes does
    /// not tell a foreign session from an unknown one (PROTOCOL.md §6). A foreign session is
    /// not loaded into memory.
    pub async fn entry_for(&self, user: &User, id: &str) -> StoreResult<Option<Arc<SessionEntry>>> {
        if let Some(entry) = self.loaded(id).filter(|entry| entry.owner == user.0) {
            return Ok(Some(entry));
        }
        let key = id.to_owned();
        self.session_reads.fetch_add(1, Ordering::Relaxed);
        let record = self.read(move |store| store.session(&key)).await?;
        let Some(record) = record.filter(|record| record.owner == user.0) else {
            return Ok(None);
        };
        Ok(Some(self.keep_loaded(record)))
    }

    /// Forgets the in-memory entries of sessions nobody uses, as the engine's `eviction::sweep`
    /// says (idle, committed, unchanged meanwhile); they are reloaded from the store on their
    /// next use. Returns how many were forgotten (PROTOCOL.md §1.2).
    pub async fn evict_idle(&self) -> usize {
        eviction::sweep(&mut EntrySweep { hub: self }).await
    }

    /// What the sweep knows of an entry's use. `held` counts the table's reference and the
    /// sweep's own: any other is a route or task using it.
    fn entry_use(&self, entry: &Arc<SessionEntry>) -> EntryUse {
        let snapshot = entry.snapshot();
        EntryUse {
            held: Arc::strong_count(entry) > 2,
            runtime: self.runtimes.get(&entry.id).is_some(),
            watchers: self.connections.watcher_count(&entry.id),
            last_seq: snapshot.last_seq,
            version: snapshot.version,
        }
    }

    /// How many session entries are in memory.
    pub fn loaded_count(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// A loaded entry, if any (no store access).
    pub fn loaded(&self, id: &str) -> Option<Arc<SessionEntry>> {
        lock(&self.sessions).get(id).cloned()
    }

    /// What the core's routing functions read about a session, as seen by `user`.
    pub fn lookup(&self, entry: Option<&SessionEntry>, user: &User) -> Lookup {
        Lookup {
            session: entry.map(|entry| SessionView {
                state: entry.state(),
                owned_by_caller: entry.owner == user.0,
            }),
            runtime: entry.and_then(|entry| self.runtimes.view(&entry.id)),
        }
    }

    /// Makes a new session (state CREATED) owned by `owner` and waits until its row is stored
    /// (a client is told about a session only once it exists). Its first event is written by
    /// [`Hub::announce_created`], after the creating connection watches it.
    pub async fn create_session(
        &self,
        owner: &User,
        title: String,
    ) -> StoreResult<Arc<SessionEntry>> {
        let now = now_ms();
        let record = SessionRecord {
            id: new_id(),
            owner: owner.0.clone(),
            title,
            state: SessionState::Created,
            last_seq: 0,
            created_at: now,
            updated_at: now,
        };
        let (done, stored) = oneshot::channel();
        self.store
            .submit(Write::CreateSession(record.clone(), Some(done)))?;
        stored
            .await
            .map_err(|_| anyhow!("store writer stopped"))??;
        let entry = Arc::new(SessionEntry::from_record(record));
        lock(&self.sessions).insert(entry.id.to_string(), entry.clone());
        Ok(entry)
    }

    /// Writes seq 1 of a new session: `session_state{CREATED, previous: null}`.
    pub fn announce_created(&self, entry: &SessionEntry) {
        let _inner = lock(&entry.inner);
        let kind = EventKind::SessionState(SessionStateChange {
            state: SessionState::Created,
            previous: None,
            reason: reason::CREATED.to_owned(),
        });
        self.submit_append(entry, kind, Extras::state(SessionState::Created), None);
    }

    /// Appends one event to a session's log (its seq is given when it is stored).
    pub fn append(&self, entry: &SessionEntry, kind: EventKind) {
        let _inner = lock(&entry.inner);
        self.submit_append(entry, kind, Extras::default(), None);
    }

    /// Appends one event with what comes with it (not waiting for it to be stored).
    pub fn append_with(&self, entry: &SessionEntry, kind: EventKind, extras: Extras) {
        let _inner = lock(&entry.inner);
        self.submit_append(entry, kind, extras, None);
    }

    /// Appends one event with what comes with it; `done` (see [`Durable::channel`]) hears its
    /// seq once it is stored, or an error if storage failed (the caller answers `unavailable`).
    pub fn append_answered(
        &self,
        entry: &SessionEntry,
        kind: EventKind,
        extras: Extras,
        done: Done<u64>,
    ) {
        let _inner = lock(&entry.inner);
        self.submit_append(entry, kind, extras, Some(done));
    }

    /// Submits under the entry's lock: the store gives seqs in submission order, so each
    /// session's events are stored in the order its tasks produced them.
    fn submit_append(
        &self,
        entry: &SessionEntry,
        kind: EventKind,
        extras: Extras,
        done: Option<Done<u64>>,
    ) {
        let append = Append {
            session_id: entry.id.clone(),
            ts: now_ms(),
            kind,
            new_state: extras.new_state,
            client_msg: extras.client_msg,
            queue: extras.queue,
            done,
        };
        if let Err(error) = self.store.submit(Write::Append(append)) {
            tracing::error!(session = %entry.id, %error, "event not stored");
        }
    }

    /// Submits a `clientMsgId` that has no event of its own (an `interrupt` without text), to be
    /// stored with the session's last stored seq, which the answer carries.
    pub fn submit_client_msg(
        &self,
        user: &User,
        client_msg_id: &str,
        entry: &SessionEntry,
    ) -> Durable {
        let (done, stored) = Durable::channel();
        let write = Write::ClientMsg {
            key: ClientMsgKey {
                owner: user.0.clone(),
                client_msg_id: client_msg_id.to_owned(),
            },
            session_id: entry.id.clone(),
            done,
        };
        if let Err(error) = self.store.submit(write) {
            // The write (and its `done`) is dropped: the answer says it was not stored.
            tracing::error!(session = %entry.id, %error, "clientMsgId not stored");
        }
        stored
    }

    /// Queued turns that will not run (a close or stop dropped them).
    pub fn dequeue(&self, entry: &SessionEntry, message_ids: Vec<String>) {
        if message_ids.is_empty() {
            return;
        }
        let write = Write::Dequeue {
            session_id: entry.id.clone(),
            message_ids,
        };
        if let Err(error) = self.store.submit(write) {
            tracing::error!(session = %entry.id, %error, "dropped turns not recorded");
        }
    }

    /// A connection starts watching a session: it gets every event committed from now on.
    pub fn watch(&self, entry: &SessionEntry, conn: &ConnHandle) {
        self.connections.watch(&entry.id, conn);
    }

    /// A connection stops watching; if it was the last watcher an ACTIVE session is DETACHED.
    pub fn unwatch(self: &Arc<Self>, session_id: &str, conn: ConnId) {
        if self.connections.unwatch(session_id, conn) {
            if let Some(entry) = self.loaded(session_id) {
                if let Some(to) = triggers::last_watcher_left(entry.state()) {
                    self.transition(&entry, to, reason::WATCHERS_LEFT);
                }
            }
        }
    }

    /// Hands committed events to their watchers (called by the store's writer), and moves each
    /// loaded entry's last stored seq.
    pub fn dispatch(&self, events: &[StoredEvent]) {
        self.hooks.committed(events);
        self.connections.dispatch(events);
        let mut newest: HashMap<&Arc<str>, u64> = HashMap::new();
        for event in events {
            newest.insert(&event.session_id, event.seq);
        }
        let sessions = lock(&self.sessions);
        for (id, seq) in newest {
            if let Some(entry) = sessions.get(&**id) {
                let mut inner = lock(&entry.inner);
                inner.last_seq = inner.last_seq.max(seq);
            }
        }
    }

    /// Tells connections and timers that the server is going away.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Graceful shutdown: connections are told to close, runtimes are stopped (their sessions
    /// end), and the store is flushed and closed.
    pub async fn shutdown(&self) {
        self.begin_shutdown();
        let runtimes = self.runtimes.all();
        for runtime in &runtimes {
            runtime.abort(reason::SERVER_SHUTDOWN);
        }
        for runtime in &runtimes {
            runtime.exited().await;
        }
        if let Err(error) = self.durable().await {
            tracing::error!(%error, "final flush failed");
        }
        let store = self.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
        if let Some(cluster) = self.cluster().cloned() {
            // Only once everything is stored: the next holder of these users reads it all.
            let _ = tokio::task::spawn_blocking(move || cluster.leave()).await;
        }
    }
}

/// The hub as the driver of the engine's eviction sweep: its table of session entries.
struct EntrySweep<'a> {
    hub: &'a Hub,
}

impl EvictionDriver for EntrySweep<'_> {
    type Entry = Arc<SessionEntry>;

    fn loaded(&mut self) -> Vec<(Arc<SessionEntry>, EntryUse)> {
        let entries: Vec<Arc<SessionEntry>> = lock(&self.hub.sessions).values().cloned().collect();
        entries
            .into_iter()
            .map(|entry| {
                let entry_use = self.hub.entry_use(&entry);
                (entry, entry_use)
            })
            .collect()
    }

    async fn committed(&mut self) -> bool {
        self.hub.durable().await.is_ok()
    }

    fn forget_where(
        &mut self,
        found: Vec<(Arc<SessionEntry>, EntryUse)>,
        forget: fn(&EntryUse, &EntryUse) -> bool,
    ) -> usize {
        // Under the table's lock nobody can take an entry out of it: the check and the removal
        // are one step.
        let mut sessions = lock(&self.hub.sessions);
        let mut forgotten = 0;
        for (entry, found) in found {
            if forget(&found, &self.hub.entry_use(&entry)) {
                sessions.remove(&*entry.id);
                forgotten += 1;
            }
        }
        forgotten
    }
}

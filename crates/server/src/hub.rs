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

use crate::{
    accept::SocketCount,
    cluster::{Cluster, HostedLink, Placement},
    rate_limit::FailedHellos,
};
use crate::{
    agent::Agent,
    auth::User,
    clock::{new_id, now_ms},
    registry::{lock, ConnHandle, ConnId, ConnectionRegistry, RuntimeRegistry},
    runtime::{self, RuntimeHandle},
    store::{
        Append, ClientMsgKey, Done, QueueOp, SessionRecord, Store, StoreResult, StoredEvent, Write,
    },
    Config,
};
use anyhow::anyhow;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use sessionwire_core::{
    engine::reservations::{ReservationKey, Reservations},
    engine::session::{self, ClosePlan, Expiry, SessionLifecycle, StateChange, Timer, TimerKind},
    lifecycle::{self, reason, triggers},
    protocol::SessionStateChange,
    routing::{Lookup, SessionView},
    EventKind, SessionState,
};
use std::{
    collections::{HashMap, HashSet},
    fmt,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Condvar, Mutex, OnceLock,
    },
};
use tokio::sync::{oneshot, watch};

/// How soon a failed session's repair is first retried, and at most how long apart.
const REPAIR_FIRST_RETRY: std::time::Duration = std::time::Duration::from_millis(200);
const REPAIR_MAX_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// What an appended event may carry besides itself.
#[derive(Debug, Default)]
pub struct Extras {
    /// The session's new durable state.
    pub new_state: Option<SessionState>,
    /// The `clientMsgId` that produced the event.
    pub client_msg: Option<ClientMsgKey>,
    pub queue: Option<QueueOp>,
}

impl Extras {
    fn state(state: SessionState) -> Self {
        Self {
            new_state: Some(state),
            ..Self::default()
        }
    }
}

/// The store's answer to one write, which several parties may await (the handler that answers the
/// client, the runtime that must not start the turn before its message is stored): the seq it
/// got, or why it was not stored.
#[derive(Clone)]
pub struct Durable(Shared<BoxFuture<'static, Result<u64, Arc<str>>>>);

impl fmt::Debug for Durable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Durable").field(&self.0.peek()).finish()
    }
}

impl Durable {
    /// The `done` to submit with a write, and its answer.
    pub fn channel() -> (Done<u64>, Self) {
        let (done, stored) = oneshot::channel::<StoreResult<u64>>();
        let answer = async move {
            match stored.await {
                Ok(Ok(seq)) => Ok(seq),
                Ok(Err(error)) => Err(Arc::from(error.to_string())),
                Err(_) => Err(Arc::from("store writer stopped")),
            }
        };
        (done, Self(answer.boxed().shared()))
    }

    /// A write stored before (a queued turn read back from the store).
    pub fn stored(seq: u64) -> Self {
        Self(std::future::ready(Ok(seq)).boxed().shared())
    }

    /// The answer, if it has come and someone has looked.
    pub fn peek(&self) -> Option<&Result<u64, Arc<str>>> {
        self.0.peek()
    }

    /// Waits for the answer.
    pub async fn wait(&self) -> StoreResult<u64> {
        self.0.clone().await.map_err(|error| anyhow!("{error}"))
    }
}

/// A `clientMsgId` of one user being stored right now (the engine's `Reservations`, see
/// [`Hub::reserve`]). Dropping it releases the id: anyone waiting for it then reads the store
/// again. Drop it once the store answered; if it is dropped while its write is still on the way
/// (the handler was cancelled), the release waits for that write's answer.
#[derive(Debug)]
pub struct Reservation {
    hub: Arc<Hub>,
    key: ReservationKey,
    /// The write that stores the id, once submitted.
    write: Option<Durable>,
}

impl Reservation {
    /// The id's write was submitted: a release before its answer waits for it.
    pub fn submitted(&mut self, write: &Durable) {
        self.write = Some(write.clone());
    }

    /// Releases the id and wakes who waited for it (each tries again).
    fn release(hub: &Hub, key: &ReservationKey) {
        let waiters = lock(&hub.reservations).release(key);
        for waiter in waiters {
            let _ = waiter.send(());
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        match self.write.take() {
            Some(write) if write.peek().is_none() => {
                let (hub, key) = (self.hub.clone(), std::mem::take(&mut self.key));
                self.hub.tasks.spawn(async move {
                    let _ = write.wait().await;
                    Self::release(&hub, &key);
                });
            }
            _ => Self::release(&self.hub, &self.key),
        }
    }
}

/// Counters and a gate tests use to see how the store's batches go (cheap enough to keep on).
#[derive(Debug, Default)]
pub struct Hooks {
    /// Committed batches with events.
    pub batches: AtomicU64,
    /// Committed batches with at least one `user_message`.
    pub user_message_batches: AtomicU64,
    /// `send`s and `interrupt`s whose write was submitted and whose handler awaits its answer.
    pub awaiting_durability: AtomicUsize,
    held: Mutex<bool>,
    opened: Condvar,
}

impl Hooks {
    /// While held, the store's writer stops after committing a batch, before anyone hears of it
    /// (tests: everything submitted meanwhile waits in the writer's queue).
    pub fn hold_commits(&self, hold: bool) {
        *lock(&self.held) = hold;
        self.opened.notify_all();
    }

    fn committed(&self, events: &[StoredEvent]) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        if events.iter().any(|event| event.kind == "user_message") {
            self.user_message_batches.fetch_add(1, Ordering::Relaxed);
        }
        let mut held = lock(&self.held);
        while *held {
            held = self
                .opened
                .wait(held)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

/// One session's in-memory entry.
#[derive(Debug)]
pub struct SessionEntry {
    pub id: Arc<str>,
    pub owner: String,
    /// Serialises routing operations on this session (decide, then carry out).
    pub route: Arc<tokio::sync::Mutex<()>>,
    /// Its permission requests waiting for an answer.
    pub permissions: crate::permission::PermissionBook,
    inner: Mutex<EntryInner>,
}

#[derive(Debug)]
struct EntryInner {
    /// Its state, and the version every change bumps (so a timer can tell it is stale).
    lifecycle: SessionLifecycle,
    /// The last seq stored (moved by [`Hub::dispatch`]).
    last_seq: u64,
    title: String,
}

/// A consistent view of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySnapshot {
    pub state: SessionState,
    pub last_seq: u64,
    pub title: String,
    pub version: u64,
}

impl SessionEntry {
    fn from_record(record: SessionRecord) -> Self {
        Self {
            id: Arc::from(record.id),
            owner: record.owner,
            route: Arc::new(tokio::sync::Mutex::new(())),
            permissions: crate::permission::PermissionBook::default(),
            inner: Mutex::new(EntryInner {
                lifecycle: SessionLifecycle::new(record.state),
                last_seq: record.last_seq,
                title: record.title,
            }),
        }
    }

    /// The entry's state, last seq and title.
    pub fn snapshot(&self) -> EntrySnapshot {
        let inner = lock(&self.inner);
        EntrySnapshot {
            state: inner.lifecycle.state(),
            last_seq: inner.last_seq,
            title: inner.title.clone(),
            version: inner.lifecycle.version(),
        }
    }

    /// Takes the route lock (owned, so it does not borrow the entry).
    pub async fn lock_route(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.route.clone().lock_owned().await
    }

    /// The durable state (as last changed by this process).
    pub fn state(&self) -> SessionState {
        lock(&self.inner).lifecycle.state()
    }
}

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
    /// Users being placed here: the first connection of a user taken over recovers its
    /// sessions, and the others wait for that (once per user and process).
    placing: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<()>>>>,
}

/// Why a user is not served here.
enum NotHere {
    There(String),
    Failed(anyhow::Error),
}

impl Hub {
    /// A hub over an open store. Call it inside the Tokio runtime that will serve.
    pub fn new(config: Config, store: Arc<dyn Store>, agent: Arc<dyn Agent>) -> Self {
        Self::with_epoch(new_id(), config, store, agent)
    }

    /// A hub with its process epoch given (the store's writer checks its leases under it).
    pub fn with_epoch(
        epoch: String,
        config: Config,
        store: Arc<dyn Store>,
        agent: Arc<dyn Agent>,
    ) -> Self {
        Self {
            epoch,
            store,
            agent,
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
            placing: Mutex::new(HashMap::new()),
            config,
        }
    }

    /// Joins the hub to its cluster (once, before serving).
    pub fn set_cluster(self: &Arc<Self>, cluster: Arc<Cluster>) {
        cluster.attach(self);
        let _ = self.cluster.set(cluster);
    }

    /// The cluster of processes this one is part of (PostgreSQL).
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.get()
    }

    /// Where `owner`'s sessions are served. Without a cluster, always here. The first time a
    /// user is placed here, its sessions are recovered (as a restart recovers them: another
    /// process may have served them until it died) before anyone is served; connections of the
    /// same user arriving meanwhile wait for that. A recovery that failed is tried again by the
    /// next placement: the lease being this process's already does not make it recovered.
    pub async fn place_user(self: &Arc<Self>, owner: &str) -> StoreResult<Placement> {
        let Some(cluster) = self.cluster().cloned() else {
            return Ok(Placement::Here);
        };
        let cell = lock(&self.placing)
            .entry(owner.to_owned())
            .or_default()
            .clone();
        if cell.initialized() {
            return Ok(Placement::Here);
        }
        let placed = cell
            .get_or_try_init(|| async {
                let who = owner.to_owned();
                let placement = tokio::task::spawn_blocking(move || cluster.place(&who))
                    .await
                    .map_err(|error| NotHere::Failed(anyhow!("placing a user: {error}")))?
                    .map_err(NotHere::Failed)?;
                match placement {
                    Placement::Here => {
                        let recovered = crate::recovery::recover_owner(self, owner)
                            .await
                            .map_err(NotHere::Failed)?;
                        if recovered > 0 {
                            tracing::info!(owner, recovered, "serving a user taken over");
                        }
                        Ok(())
                    }
                    Placement::There(epoch) => Err(NotHere::There(epoch)),
                }
            })
            .await;
        match placed {
            Ok(()) => Ok(Placement::Here),
            Err(NotHere::There(epoch)) => Ok(Placement::There(epoch)),
            Err(NotHere::Failed(error)) => Err(error),
        }
    }

    /// Serves a connection relayed from another process for `user` (crate::cluster).
    pub fn spawn_hosted(self: &Arc<Self>, user: String, link: HostedLink) {
        let hub = self.clone();
        self.tasks.spawn(async move {
            crate::connection::serve_hosted(hub, User(user), link).await;
        });
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

    /// Forgets the in-memory entries of sessions nobody uses (no runtime, no watcher, no task
    /// holding them), once everything written for them is committed; they are reloaded from the
    /// store on their next use. Returns how many were evicted. Bounded memory for a user with
    /// many old sessions (PROTOCOL.md §1.2).
    pub async fn evict_idle(&self) -> usize {
        let idle = |entry: &Arc<SessionEntry>| {
            Arc::strong_count(entry) == 2 // the map's and ours
                && self.runtimes.get(&entry.id).is_none()
                && self.connections.watcher_count(&entry.id) == 0
        };
        let candidates: Vec<(Arc<SessionEntry>, u64, u64)> = lock(&self.sessions)
            .values()
            .cloned()
            .collect::<Vec<_>>()
            .into_iter()
            .filter(idle)
            .map(|entry| {
                let snapshot = entry.snapshot();
                (entry, snapshot.last_seq, snapshot.version)
            })
            .collect();
        if candidates.is_empty() {
            return 0;
        }
        // What was submitted for them must be committed, or a reload would read a stale seq.
        if self.durable().await.is_err() {
            return 0;
        }
        let mut sessions = lock(&self.sessions);
        let mut evicted = 0;
        for (entry, last_seq, version) in candidates {
            let snapshot = entry.snapshot();
            // Unchanged while we waited, and still nobody else's (ours, the map's).
            if snapshot.last_seq == last_seq && snapshot.version == version && idle(&entry) {
                sessions.remove(&*entry.id);
                evicted += 1;
            }
        }
        evicted
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

    /// Moves a session to `to` if the table allows it, persisting and emitting the change.
    /// A refused transition is logged and changes nothing.
    pub fn transition(
        self: &Arc<Self>,
        entry: &Arc<SessionEntry>,
        to: SessionState,
        why: &str,
    ) -> bool {
        let mut inner = lock(&entry.inner);
        match inner.lifecycle.transition(to) {
            Ok(change) => {
                self.persist_change(entry, change, why);
                drop(inner);
                if let Some(timer) = change.timer {
                    self.schedule_timer(entry, timer);
                }
                true
            }
            Err(refused) => {
                tracing::warn!(session = %entry.id, %refused, reason = why, "transition refused");
                false
            }
        }
    }

    /// Moves a session along several steps, each with its reason, if the whole path is valid.
    pub fn walk(
        self: &Arc<Self>,
        entry: &Arc<SessionEntry>,
        steps: &[(SessionState, &str)],
    ) -> bool {
        let states: Vec<SessionState> = steps.iter().map(|(state, _)| *state).collect();
        if let Err(refused) = lifecycle::path(entry.state(), &states) {
            tracing::warn!(session = %entry.id, %refused, "transition path refused");
            return false;
        }
        steps
            .iter()
            .all(|(to, why)| self.transition(entry, *to, why))
    }

    /// The one transition outside the table: start-up recovery.
    pub fn force_state(&self, entry: &SessionEntry, to: SessionState, why: &str) {
        let mut inner = lock(&entry.inner);
        let change = inner.lifecycle.force(to);
        self.persist_change(entry, change, why);
    }

    /// Submits a change's `session_state` event (under the entry's lock, so changes are stored
    /// in the order they were made).
    fn persist_change(&self, entry: &SessionEntry, change: StateChange, why: &str) {
        let kind = EventKind::SessionState(SessionStateChange {
            state: change.to,
            previous: Some(change.from),
            reason: why.to_owned(),
        });
        self.submit_append(entry, kind, Extras::state(change.to), None);
        tracing::debug!(session = %entry.id, from = %change.from, to = %change.to, reason = why, "session state");
    }

    /// Starts the timer a state change started (the detach TTL, the suspend grace); what it does
    /// when it goes off, and whether it is stale by then, is the engine's.
    fn schedule_timer(self: &Arc<Self>, entry: &Arc<SessionEntry>, timer: Timer) {
        let delay = match timer.kind {
            TimerKind::DetachTtl => self.config.detach_ttl,
            TimerKind::SuspendGrace => self.config.suspend_grace,
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (hub, entry) = (self.clone(), entry.clone());
        let mut shutdown = self.shutdown_signal();
        runtime.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = shutdown.wait_for(|down| *down) => return,
            }
            let route = entry.lock_route().await;
            let expiry = lock(&entry.inner).lifecycle.expire(timer);
            match expiry {
                None => {}
                Some(Expiry::Close(why)) => {
                    let aborted = hub.close_locked(&entry, why);
                    drop(route);
                    if let Some(runtime) = aborted {
                        runtime.exited().await;
                    }
                }
                Some(Expiry::Transition(to, why)) => {
                    hub.transition(&entry, to, why);
                }
            }
        });
    }

    /// Brings a session without a live runtime to ACTIVE with a new one, along the engine's
    /// steps (the runtime starts at the ACTIVE step). The caller holds the session's route lock.
    pub fn start_runtime(self: &Arc<Self>, entry: &Arc<SessionEntry>) -> Option<RuntimeHandle> {
        let state = entry.state();
        let steps = session::start_steps(state);
        let states = Vec::from_iter(steps.iter().map(|(to, _)| *to));
        if let Err(refused) = lifecycle::path(state, &states) {
            tracing::error!(session = %entry.id, %refused, "cannot start a runtime");
            return None;
        }
        if states.first() == Some(&SessionState::Ended) {
            tracing::warn!(session = %entry.id, %state, "session had no runtime; ending it before resuming");
        }
        let mut handle = None;
        for (step, why) in steps {
            if step == SessionState::Active {
                let generation = self.runtimes.next_generation();
                let runtime = runtime::spawn(self.clone(), entry.clone(), generation);
                self.runtimes.insert(entry.id.clone(), runtime.clone());
                handle = Some(runtime);
            }
            if !self.transition(entry, step, why) {
                tracing::error!(session = %entry.id, %step, "cannot start a runtime");
                break;
            }
        }
        handle
    }

    /// Aborts a runtime by signal and waits for its clean-up (its session is then ENDED).
    pub async fn abort_runtime(&self, runtime: &RuntimeHandle, why: &'static str) {
        runtime.abort(why);
        runtime.exited().await;
    }

    /// Called by a runtime task as it ends: its session becomes ENDED, then its own registry
    /// entry (by generation) is removed. In that order, so routing never sees a routable
    /// session without a runtime because of a runtime that is merely finishing.
    pub fn runtime_exited(self: &Arc<Self>, entry: &Arc<SessionEntry>, generation: u64, why: &str) {
        if let Some(to) = triggers::runtime_exited(entry.state()) {
            self.transition(entry, to, why);
        }
        self.runtimes.remove(&entry.id, generation);
        tracing::debug!(session = %entry.id, generation, reason = why, "runtime exited");
    }

    /// `close_session` (and the detach TTL): CLOSING, let the current turn finish, then ENDED;
    /// straight to ENDED from a state without a CLOSING edge. The caller holds the route lock;
    /// a runtime this aborts is returned, for the caller to await its exit once it let go.
    #[must_use]
    pub fn close_locked(
        self: &Arc<Self>,
        entry: &Arc<SessionEntry>,
        why: &'static str,
    ) -> Option<RuntimeHandle> {
        let runtime = self.runtimes.get(&entry.id);
        match (
            session::close_plan(entry.state(), runtime.is_some()),
            runtime,
        ) {
            (ClosePlan::CloseRuntime, Some(runtime)) => {
                self.transition(entry, SessionState::Closing, why);
                runtime.close();
                None
            }
            (ClosePlan::ClosingThenEnded, _) => {
                self.transition(entry, SessionState::Closing, why);
                self.transition(entry, SessionState::Ended, reason::CLOSED);
                None
            }
            (ClosePlan::AbortRuntime, Some(runtime)) => {
                runtime.abort(reason::CLOSED);
                Some(runtime)
            }
            (ClosePlan::EndNow, _) => {
                self.transition(entry, SessionState::Ended, reason::CLOSED);
                None
            }
            _ => None,
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

    /// A watcher joined a session with a live runtime: DETACHED or SUSPENDED becomes ACTIVE.
    pub fn reattach(self: &Arc<Self>, entry: &Arc<SessionEntry>, to: Option<SessionState>) {
        if let Some(to) = to {
            self.transition(entry, to, reason::WATCHER_JOINED);
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

    /// Whether a session's writes are refused until its repair (storage failed).
    pub fn is_fenced(&self, session_id: &str) -> bool {
        lock(&self.fenced).contains(session_id)
    }

    /// Called by the store's writer when a batch could not be stored: each of its sessions is
    /// fenced, its runtime stopped (the turn it was running is cut short), and a repair retried
    /// until storage works again; the repair ends the cut turn with `error: "storage"`, the
    /// session becomes ENDED, and its queued messages run again (PROTOCOL.md §2).
    pub fn storage_failed(self: &Arc<Self>, sessions: Vec<Arc<str>>) {
        for session in sessions {
            if !lock(&self.fenced).insert(session.clone()) {
                continue; // its repair is already under way
            }
            tracing::warn!(%session, "storage failed; the session waits for its repair");
            let hub = self.clone();
            self.tasks.spawn(async move { hub.repair(session).await });
        }
    }

    async fn repair(self: Arc<Self>, session: Arc<str>) {
        if let Some(runtime) = self.runtimes.get(&session) {
            self.abort_runtime(&runtime, reason::STORAGE_FAILED).await;
        }
        let mut backoff = REPAIR_FIRST_RETRY;
        let mut shutdown = self.shutdown_signal();
        loop {
            let (done, repaired) = oneshot::channel();
            let write = Write::Repair {
                session_id: session.clone(),
                ts: now_ms(),
                done,
            };
            let result = match self.store.submit(write) {
                Ok(()) => repaired
                    .await
                    .map_err(|_| anyhow!("store writer stopped"))
                    .and_then(|r| r),
                Err(error) => Err(error),
            };
            match result {
                Ok(repaired) => {
                    let entry = self.loaded(&session);
                    match (repaired.exists, entry) {
                        // Its creation was never stored: the session does not exist.
                        (false, _) => {
                            lock(&self.sessions).remove(&*session);
                        }
                        (true, Some(entry)) => {
                            // The state the repair stored (its event is written already).
                            let mut inner = lock(&entry.inner);
                            inner
                                .lifecycle
                                .force(repaired.state.unwrap_or(SessionState::Ended));
                        }
                        (true, None) => {}
                    }
                    lock(&self.fenced).remove(&session);
                    tracing::info!(%session, "storage works again; session repaired");
                    if let Err(error) = self.resume_pending(&session).await {
                        tracing::error!(%session, %error, "queued turns not resumed");
                    }
                    return;
                }
                Err(error) => {
                    tracing::debug!(%session, %error, "repair failed; retrying");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = shutdown.wait_for(|down| *down) => return,
            }
            backoff = (backoff * 2).min(REPAIR_MAX_RETRY);
        }
    }

    /// Starts a runtime for a session whose stored turn queue is not empty: acked messages a
    /// crash, shutdown or storage failure left unrun (PROTOCOL.md §3), which a runtime runs first
    /// (`engine::runtime::run` reads the queue as it starts). A session nobody watches is left
    /// DETACHED. Returns how many turns were queued.
    pub async fn resume_pending(self: &Arc<Self>, session_id: &str) -> StoreResult<usize> {
        let id = session_id.to_owned();
        let pending = self
            .read(move |store| store.pending_turns(Some(&id)))
            .await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let Some(entry) = self.entry(session_id).await? else {
            return Ok(0);
        };
        let _route = entry.lock_route().await;
        // A live runtime read the queue as it started, or was handed what was queued since.
        if self.runtimes.get(&entry.id).is_none() && self.start_runtime(&entry).is_none() {
            return Ok(0);
        }
        let count = pending.len();
        if self.connections.watcher_count(&entry.id) == 0 {
            if let Some(to) = triggers::last_watcher_left(entry.state()) {
                self.transition(&entry, to, reason::WATCHERS_LEFT);
            }
        }
        tracing::info!(session = %entry.id, turns = count, "queued turns resumed");
        Ok(count)
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

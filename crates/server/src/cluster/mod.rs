//! Several server processes on one PostgreSQL database (PROTOCOL.md §9.2).
//!
//! **Each user's sessions are served by one process at a time**: the holder of the user's lease
//! (`user_leases`). It runs their runtimes, gives their seqs and decides every frame about them,
//! exactly as a single server does. A client whose connection landed on another process is
//! *relayed* to the holder through the database ([`relay`]): its connection there forwards its
//! frames and writes back what the holder's connection for it sends. So every guarantee of one
//! process (watch before reply, an ack right after its `user_message`, dense seqs, exactly-once,
//! replays joined to the live stream) holds across processes by construction: the same code
//! decides, in one place.
//!
//! Why users and not sessions: what must be decided in one place spans a user's sessions (a
//! `clientMsgId` is unique per user; one connection watches several sessions of its user), so
//! placing users keeps each connection talking to one process.
//!
//! A process is alive while its heartbeat (`processes`) is fresh: renewed every quarter of the
//! lease timeout, and never renewed once it went stale (the process then exits: another may
//! already serve its users). A lease whose holder is not alive is taken by the next process
//! that needs the user, or by the periodic scan for users whose sessions wait ([`Cluster::
//! orphaned_users`]); the taker recovers the user's sessions as a restart would before serving
//! them. The store's writer only commits writes of users this process holds (a check under a
//! row lock in the same transaction), so a process paused past its timeout cannot write after
//! another took over.

pub mod relay;

use crate::store::postgres::Target;
use crate::{
    registry::{lock, Admitted, QueueState},
    store::StoreResult,
};
use anyhow::{anyhow, Context};
use postgres::Client;
use std::{
    collections::{HashMap, HashSet},
    fmt,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::Duration,
};
use tokio::sync::mpsc;

/// Where a user's sessions are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Here: the lease is this process's (taken just now, from nobody or from a process that
    /// is not alive, or by an earlier call of this process).
    Here,
    /// By the live process with this epoch.
    There(String),
}

/// What a relayed client connection receives from the holder.
#[derive(Debug)]
pub enum ToClient {
    /// The holder serves the connection now.
    Opened,
    Frame(String),
    /// The holder's connection for it ended with this close code and reason.
    End(u16, String),
}

/// Serves a connection relayed from another process for a user (given by the server, so the
/// cluster does not depend on the connections it carries): the user, and the link's host end.
pub type HostConnection = Box<dyn Fn(String, HostedLink) + Send + Sync>;

/// The links of this process: the client connections it relays to holders (proxy ends), and
/// the connections it serves for clients of other processes (host ends).
pub struct Links {
    host: OnceLock<HostConnection>,
    proxies: Mutex<HashMap<u64, ProxyEnd>>,
    hosted: Mutex<HashMap<(String, u64), HostedEnd>>,
    next: AtomicU64,
}

struct HostedEnd {
    to_connection: mpsc::UnboundedSender<String>,
    credit: Arc<Credit>,
}

/// Flow control of a hosted connection: the bytes it sent its proxy end that the client has
/// not taken yet. It waits while they pass its window, so a slow client slows its hosted
/// connection as a slow socket would (and a replay is read page by page as the client reads).
#[derive(Debug, Default)]
pub struct Credit {
    in_flight: std::sync::atomic::AtomicUsize,
    freed: tokio::sync::Notify,
}

impl Credit {
    /// Waits until fewer than `window` bytes are in flight, then counts `bytes` more.
    pub async fn reserve(&self, bytes: usize, window: usize) {
        loop {
            let freed = self.freed.notified();
            if self.in_flight.load(Ordering::SeqCst) < window {
                self.in_flight.fetch_add(bytes, Ordering::SeqCst);
                return;
            }
            freed.await;
        }
    }

    fn release(&self, bytes: usize) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_sub(bytes))
            });
        self.freed.notify_waiters();
    }
}

struct ProxyEnd {
    host: String,
    to_client: mpsc::UnboundedSender<ToClient>,
    /// Bounded like a local connection's event queue (`--max-queued-bytes`, 8 MiB): a client
    /// that falls behind is closed with 1013, as a local one is.
    queue: Arc<QueueState>,
}

impl fmt::Debug for Links {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Links")
            .field("proxies", &lock(&self.proxies).len())
            .field("hosted", &lock(&self.hosted).len())
            .finish()
    }
}

/// The receiving half of a relayed client connection.
#[derive(Debug)]
pub struct ProxyLink {
    pub link: u64,
    pub host: String,
    pub from_host: mpsc::UnboundedReceiver<ToClient>,
    pub queue: Arc<QueueState>,
}

/// The receiving half of a hosted connection: the client's frames, in order; `None` once the
/// client left.
#[derive(Debug)]
pub struct HostedLink {
    pub proxy: String,
    pub link: u64,
    pub from_proxy: mpsc::UnboundedReceiver<String>,
    pub credit: Arc<Credit>,
}

impl Links {
    fn new() -> Self {
        Self {
            host: OnceLock::new(),
            proxies: Mutex::new(HashMap::new()),
            hosted: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
        }
    }

    /// A new proxy end towards `host`, whose queue holds at most `limit` bytes of frames.
    pub fn open_proxy(&self, host: &str, limit: usize) -> ProxyLink {
        let link = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (to_client, from_host) = mpsc::unbounded_channel();
        let queue = Arc::new(QueueState::new(limit));
        lock(&self.proxies).insert(
            link,
            ProxyEnd {
                host: host.to_owned(),
                to_client,
                queue: queue.clone(),
            },
        );
        ProxyLink {
            link,
            host: host.to_owned(),
            from_host,
            queue,
        }
    }

    /// Forgets a proxy end (its client connection ended).
    pub fn close_proxy(&self, link: u64) {
        lock(&self.proxies).remove(&link);
    }

    /// Forgets a host end (its connection ended).
    pub fn close_hosted(&self, proxy: &str, link: u64) {
        lock(&self.hosted).remove(&(proxy.to_owned(), link));
    }

    /// A message from another process's relay.
    pub(crate) fn receive(&self, message: relay::Message) {
        use relay::Kind;
        match message.kind {
            Kind::Open => {
                let Some(host) = self.host.get() else {
                    return;
                };
                let (to_connection, from_proxy) = mpsc::unbounded_channel();
                let credit = Arc::new(Credit::default());
                lock(&self.hosted).insert(
                    (message.from.clone(), message.link),
                    HostedEnd {
                        to_connection,
                        credit: credit.clone(),
                    },
                );
                let link = HostedLink {
                    proxy: message.from,
                    link: message.link,
                    credit,
                    from_proxy,
                };
                host(message.data, link);
            }
            Kind::ToHost => {
                // Unbounded here: its proxy end admits the client's frames at the connection's
                // rate limit, and the hosted connection reads them as fast as a socket's.
                if let Some(end) = lock(&self.hosted).get(&(message.from, message.link)) {
                    let _ = end.to_connection.send(message.data);
                }
            }
            Kind::Credit => {
                if let Some(end) = lock(&self.hosted).get(&(message.from, message.link)) {
                    end.credit.release(message.data.parse().unwrap_or(0));
                }
            }
            Kind::EndHost => {
                lock(&self.hosted).remove(&(message.from, message.link));
            }
            Kind::ToProxy => {
                let mut proxies = lock(&self.proxies);
                let Some(end) = proxies
                    .get(&message.link)
                    .filter(|end| end.host == message.from)
                else {
                    return;
                };
                let size = message.data.len();
                if end.queue.admit(size) != Admitted::Queued {
                    // Its client does not keep up: the link ends (close 1013: reconnect and
                    // replay), as a local connection's would.
                    tracing::warn!(link = message.link, "a relayed client does not keep up");
                    proxies.remove(&message.link);
                    return;
                }
                if end.to_client.send(ToClient::Frame(message.data)).is_err() {
                    end.queue.taken(size);
                }
            }
            Kind::Opened => {
                if let Some(end) = lock(&self.proxies)
                    .get(&message.link)
                    .filter(|end| end.host == message.from)
                {
                    let _ = end.to_client.send(ToClient::Opened);
                }
            }
            Kind::EndProxy => {
                if let Some(end) = lock(&self.proxies).remove(&message.link) {
                    let (code, reason) = message.data.split_once(' ').unwrap_or(("1012", ""));
                    let code = code.parse().unwrap_or(1012);
                    let _ = end.to_client.send(ToClient::End(code, reason.to_owned()));
                }
            }
        }
    }

    /// Ends every link (the relay lost what was in flight).
    pub fn end_all(&self) {
        lock(&self.proxies).clear();
        lock(&self.hosted).clear();
    }

    /// Ends the links whose other end is on a process that is not alive.
    fn end_dead(&self, alive: &HashSet<String>) {
        lock(&self.proxies).retain(|_, end| alive.contains(&end.host));
        lock(&self.hosted).retain(|(proxy, _), _| alive.contains(proxy));
    }
}

/// This process's membership of the cluster.
pub struct Cluster {
    pub epoch: Arc<str>,
    pub lease_timeout: Duration,
    /// For claims and scans (used from blocking threads only; `None` once dropped).
    control: Mutex<Option<Client>>,
    target: Target,
    pub relay: relay::Relay,
    pub links: Arc<Links>,
    /// The users this process serves (placed here).
    held: Arc<Mutex<HashSet<String>>>,
    /// Users being placed here: the first connection of a user taken over recovers its
    /// sessions, and the others wait for that (once per user and process).
    placing: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<()>>>>,
    stopped: Arc<AtomicBool>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("epoch", &self.epoch)
            .field("lease_timeout", &self.lease_timeout)
            .field("links", &self.links)
            .finish_non_exhaustive()
    }
}

fn seconds(timeout: Duration) -> f64 {
    timeout.as_secs_f64()
}

impl Cluster {
    /// Joins: registers this process, starts its heartbeat and its relay. Blocking.
    pub fn join(
        target: &Target,
        epoch: Arc<str>,
        lease_timeout: Duration,
    ) -> anyhow::Result<Arc<Self>> {
        let mut control = target.connect().context("the cluster's connection")?;
        let id: i64 = control
            .query_one(
                "INSERT INTO processes (epoch) VALUES ($1) RETURNING id",
                &[&&*epoch],
            )?
            .get(0);
        let links = Arc::new(Links::new());
        let relay = relay::Relay::start(target, epoch.clone(), Arc::downgrade(&links))?;
        let stopped = Arc::new(AtomicBool::new(false));
        let held = Arc::new(Mutex::new(HashSet::new()));
        let cluster = Arc::new(Self {
            epoch: epoch.clone(),
            lease_timeout,
            control: Mutex::new(Some(control)),
            target: target.clone(),
            relay,
            links,
            held: held.clone(),
            placing: Mutex::new(HashMap::new()),
            stopped: stopped.clone(),
        });
        let mut beating = target.connect().context("the heartbeat's connection")?;
        Heartbeat::hold_lock(&mut beating, id)?;
        let heartbeat = Heartbeat {
            target: target.clone(),
            client: Some(beating),
            id,
            epoch,
            timeout: lease_timeout,
            held,
            stopped,
        };
        std::thread::Builder::new()
            .name("sessionwire-heartbeat".into())
            .spawn(move || heartbeat.run())?;
        Ok(cluster)
    }

    /// How this process serves the connections other processes relay to it (set once, before
    /// serving).
    pub fn host_connections_with(&self, host: HostConnection) {
        let _ = self.links.host.set(host);
    }

    /// The placement of `owner` here, shared by every connection of the user (initialized
    /// once its sessions are recovered here: crate::recovery::place_user).
    pub fn placing(&self, owner: &str) -> Arc<tokio::sync::OnceCell<()>> {
        lock(&self.placing)
            .entry(owner.to_owned())
            .or_default()
            .clone()
    }

    /// Runs `f` on the control connection, connecting again first if it broke (the database
    /// restarted), and once more if it turns out broken while `f` runs.
    fn control<T>(&self, mut f: impl FnMut(&mut Client) -> StoreResult<T>) -> StoreResult<T> {
        let mut control = self
            .control
            .lock()
            .map_err(|_| anyhow!("the cluster's connection lock is poisoned"))?;
        let mut retried = false;
        loop {
            if control.as_ref().is_none_or(Client::is_closed) {
                *control = Some(self.target.connect()?);
            }
            let client = control
                .as_mut()
                .ok_or_else(|| anyhow!("the cluster's connection is closed"))?;
            match f(client) {
                Err(_) if !retried && client.is_closed() => retried = true,
                result => return result,
            }
        }
    }

    /// Where `owner`'s sessions are served, taking the lease if nobody alive holds it. Blocking.
    pub fn place(&self, owner: &str) -> StoreResult<Placement> {
        let (epoch, timeout) = (&*self.epoch, seconds(self.lease_timeout));
        self.control(|client| {
            client.execute(
                "INSERT INTO user_leases (owner, epoch) VALUES ($1, $2)
                 ON CONFLICT (owner) DO UPDATE SET epoch = excluded.epoch
                 WHERE user_leases.epoch <> excluded.epoch
                 AND user_leases.epoch NOT IN (SELECT sessionwire_alive($3))",
                &[&owner, &epoch, &timeout],
            )?;
            let holder: String = client
                .query_one("SELECT epoch FROM user_leases WHERE owner = $1", &[&owner])?
                .get(0);
            Ok(if holder == epoch {
                lock(&self.held).insert(owner.to_owned());
                Placement::Here
            } else {
                Placement::There(holder)
            })
        })
    }

    /// The epochs of the processes alive now. Blocking.
    pub fn alive(&self) -> StoreResult<HashSet<String>> {
        let timeout = seconds(self.lease_timeout);
        self.control(|client| {
            let rows = client.query("SELECT sessionwire_alive($1)", &[&timeout])?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }

    /// Users with sessions that wait for a process (not ENDED, or with queued turns) and no
    /// live holder: their holder died or left. Blocking.
    pub fn orphaned_users(&self) -> StoreResult<Vec<String>> {
        let timeout = seconds(self.lease_timeout);
        self.control(|client| {
            // (`sessions_waiting` indexes the owners of sessions not ENDED.)
            let rows = client.query(
                "SELECT w.owner FROM (
                     SELECT owner FROM sessions WHERE state <> 'ENDED'
                     UNION
                     SELECT s.owner FROM pending_turns t JOIN sessions s ON s.id = t.session_id
                 ) w
                 WHERE NOT EXISTS (
                     SELECT 1 FROM user_leases l
                     WHERE l.owner = w.owner AND l.epoch IN (SELECT sessionwire_alive($1)))
                 LIMIT 1000",
                &[&timeout],
            )?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }

    /// Ends the links to processes that died. Blocking.
    pub fn end_dead_links(&self) -> StoreResult<()> {
        let alive = self.alive()?;
        self.links.end_dead(&alive);
        Ok(())
    }

    /// Leaves (graceful shutdown, once the store is flushed): this process's leases go, so
    /// the next process that needs its users takes them at once. Blocking.
    pub fn leave(&self) {
        self.stop();
        let epoch = &*self.epoch;
        let left = self.control(|client| {
            client.execute("DELETE FROM user_leases WHERE epoch = $1", &[&epoch])?;
            client.execute("DELETE FROM processes WHERE epoch = $1", &[&epoch])?;
            Ok(())
        });
        if let Err(error) = left {
            tracing::warn!(%error, "could not give up the leases; they expire by themselves");
        }
    }

    /// As a crash: the heartbeat and the relay stop, and the heartbeat is dated back past the
    /// timeout, so the others take this process's users at once instead of after the timeout
    /// (in-process crash tests; a real crash waits out the timeout). Blocking.
    pub fn die(&self) {
        self.stop();
        let epoch = &*self.epoch;
        let _ = self.control(|client| {
            client.execute(
                "UPDATE processes SET heartbeat_at = '-infinity' WHERE epoch = $1",
                &[&epoch],
            )?;
            Ok(())
        });
        self.links.end_all();
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.relay.stop();
    }
}

/// Closing a connection blocks (it says goodbye to the server), and the hub may be dropped on
/// an async worker, where blocking is refused: the connection is closed on a thread.
impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        let control = match self.control.get_mut() {
            Ok(control) => control.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(control) = control {
            let _ = std::thread::Builder::new()
                .name("sessionwire-pg-close".into())
                .spawn(move || drop(control));
        }
    }
}

/// The heartbeat thread's state.
struct Heartbeat {
    target: Target,
    /// Its connection, which holds the process's advisory lock.
    client: Option<Client>,
    /// The process's row id (its lock's key: 0x5357 << 48 + id).
    id: i64,
    epoch: Arc<str>,
    timeout: Duration,
    held: Arc<Mutex<HashSet<String>>>,
    stopped: Arc<AtomicBool>,
}

impl Heartbeat {
    /// Renews this process's heartbeat every quarter of the timeout. A heartbeat that went
    /// stale (the database was out, or the process paused, for longer than the timeout) is
    /// renewed only if every user this process serves is still leased to it; otherwise another
    /// process may serve them now, and this one exits rather than serve them twice.
    fn run(mut self) {
        let every = self.timeout / 4;
        let mut client = self.client.take();
        loop {
            // Without a connection, it tries again soon: until it holds its lock again, this
            // process looks dead once the database has been up for half the timeout.
            let pause = if client.is_some() {
                every
            } else {
                Duration::from_millis(100)
            };
            std::thread::sleep(pause);
            if self.stopped.load(Ordering::SeqCst) {
                return;
            }
            if client.as_ref().is_none_or(Client::is_closed) {
                client = self.target.connect().ok().and_then(|mut fresh| {
                    Self::hold_lock(&mut fresh, self.id).ok()?;
                    Some(fresh)
                });
            }
            let Some(connection) = client.as_mut() else {
                tracing::warn!("heartbeat not renewed: no connection to the database");
                continue;
            };
            match self.renew(connection) {
                Ok(true) => {}
                Ok(false) => {
                    tracing::error!(
                        "another process took users this process served (its heartbeat went \
                         stale); exiting so that no user is served twice"
                    );
                    std::process::exit(75);
                }
                Err(error) => {
                    tracing::warn!(%error, "heartbeat not renewed");
                    client = None;
                }
            }
        }
    }

    /// Takes the process's advisory lock on `client` (held while the connection lives).
    fn hold_lock(client: &mut Client, id: i64) -> StoreResult<()> {
        client.execute(
            "SELECT pg_advisory_lock((21335::bigint << 48) + $1)",
            &[&id],
        )?;
        Ok(())
    }

    fn renew(&self, client: &mut Client) -> StoreResult<bool> {
        let (epoch, secs) = (&*self.epoch, seconds(self.timeout));
        let renewed = client.execute(
            "UPDATE processes SET heartbeat_at = now()
             WHERE epoch = $1 AND heartbeat_at > now() - make_interval(secs => $2)",
            &[&epoch, &secs],
        )?;
        if renewed == 1 {
            return Ok(true);
        }
        let mut tx = client.transaction()?;
        let rows = tx.query(
            "SELECT owner FROM user_leases WHERE epoch = $1 FOR UPDATE",
            &[&epoch],
        )?;
        let leased: HashSet<String> = rows.iter().map(|row| row.get(0)).collect();
        if !lock(&self.held).is_subset(&leased) {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO processes (epoch) VALUES ($1)
             ON CONFLICT (epoch) DO UPDATE SET heartbeat_at = now()",
            &[&epoch],
        )?;
        tx.commit()?;
        tracing::warn!("the heartbeat had gone stale; no user was taken over, so it is renewed");
        Ok(true)
    }
}

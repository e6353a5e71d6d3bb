//! The two in-memory registries.
//!
//! - [`ConnectionRegistry`]: which connections watch which session. Every committed event of a
//!   session goes to every watcher of it, in seq order (the store commits in order and hands
//!   batches over one at a time).
//! - [`RuntimeRegistry`]: the live runtime of each session, keyed by a generation unique to each
//!   runtime, so an old runtime's clean-up can never remove the entry of its replacement.

use crate::{runtime_handle::RuntimeHandle, store::StoredEvent};
use sessionwire_core::routing::RuntimeView;
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard,
    },
};
use tokio::sync::{mpsc, Notify};

/// Identifies one WebSocket connection within this process.
pub type ConnId = u64;

/// Locks a mutex, recovering the data if a panic poisoned it (the registries stay usable: their
/// maps are valid after any partial operation).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How the registry reaches one connection: a queue of committed events bounded by the bytes of
/// frame text in it (PROTOCOL.md §1.2). A connection too slow to drain it is told to close
/// (`overflowed`) rather than making the store wait or growing memory without bound; its client
/// reconnects and replays what it missed.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    pub id: ConnId,
    events: mpsc::UnboundedSender<StoredEvent>,
    queue: Arc<QueueState>,
}

/// What the two ends of a connection's event queue share.
#[derive(Debug)]
pub struct QueueState {
    /// Bytes of frame text queued and not yet taken by the connection.
    queued: AtomicUsize,
    limit: usize,
    overflowed: AtomicBool,
    /// Woken once, when the queue first passes its limit.
    pub overflow: Notify,
}

/// What [`QueueState::admit`] made of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// Counted: it goes in the queue.
    Queued,
    /// It passed the bound: the queue has overflowed just now (its reader is woken).
    Overflowed,
    /// The queue had overflowed already: it takes nothing more.
    Refused,
}

impl QueueState {
    /// A bound of `limit` bytes, with nothing queued.
    pub fn new(limit: usize) -> Self {
        Self {
            queued: AtomicUsize::new(0),
            limit,
            overflowed: AtomicBool::new(false),
            overflow: Notify::new(),
        }
    }

    /// True once the queue has passed its limit (it then takes nothing more).
    pub fn has_overflowed(&self) -> bool {
        self.overflowed.load(Ordering::SeqCst)
    }

    /// Counts `size` bytes more, unless that passes the bound (one frame larger than the bound
    /// still goes through an empty queue).
    pub fn admit(&self, size: usize) -> Admitted {
        if self.has_overflowed() {
            return Admitted::Refused;
        }
        let before = self.queued.fetch_add(size, Ordering::SeqCst);
        if before > 0 && before + size > self.limit {
            self.queued.fetch_sub(size, Ordering::SeqCst);
            if self.overflowed.swap(true, Ordering::SeqCst) {
                return Admitted::Refused;
            }
            self.overflow.notify_one();
            return Admitted::Overflowed;
        }
        Admitted::Queued
    }

    /// `size` bytes were taken off the queue (or never made it into its channel).
    pub fn taken(&self, size: usize) {
        self.queued.fetch_sub(size, Ordering::SeqCst);
    }
}

/// The connection's end of its event queue.
#[derive(Debug)]
pub struct EventQueue {
    events: mpsc::UnboundedReceiver<StoredEvent>,
    pub state: Arc<QueueState>,
}

impl EventQueue {
    /// The next event (None when every handle is gone).
    pub async fn recv(&mut self) -> Option<StoredEvent> {
        let event = self.events.recv().await?;
        self.state.taken(event.text.len());
        Some(event)
    }

    /// Whether no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Bytes of frame text waiting.
    pub fn queued_bytes(&self) -> usize {
        self.state.queued.load(Ordering::SeqCst)
    }
}

impl ConnHandle {
    /// A handle and the queue the connection drains, holding at most `limit` bytes of frames.
    pub fn new(id: ConnId, limit: usize) -> (Self, EventQueue) {
        let (events, rx) = mpsc::unbounded_channel();
        let queue = Arc::new(QueueState::new(limit));
        (
            Self {
                id,
                events,
                queue: queue.clone(),
            },
            EventQueue {
                events: rx,
                state: queue,
            },
        )
    }

    fn deliver(&self, event: &StoredEvent) {
        let size = event.text.len();
        match self.queue.admit(size) {
            Admitted::Queued => {
                if self.events.send(event.clone()).is_err() {
                    self.queue.taken(size);
                }
            }
            Admitted::Overflowed => tracing::warn!(
                connection = self.id,
                queued = self.queue.queued.load(Ordering::SeqCst) + size,
                "connection too slow for its events; closing it"
            ),
            Admitted::Refused => {}
        }
    }
}

/// Watchers per session.
#[derive(Debug, Default)]
pub struct ConnectionRegistry {
    watchers: Mutex<HashMap<Arc<str>, HashMap<ConnId, ConnHandle>>>,
}

impl ConnectionRegistry {
    /// Adds a watcher; returns true if it was not watching yet.
    pub fn watch(&self, session_id: &Arc<str>, conn: &ConnHandle) -> bool {
        lock(&self.watchers)
            .entry(session_id.clone())
            .or_default()
            .insert(conn.id, conn.clone())
            .is_none()
    }

    /// Removes a watcher; returns true if it was the last one.
    pub fn unwatch(&self, session_id: &str, conn: ConnId) -> bool {
        let mut watchers = lock(&self.watchers);
        let Some(set) = watchers.get_mut(session_id) else {
            return false;
        };
        if set.remove(&conn).is_none() {
            return false;
        }
        let now_empty = set.is_empty();
        if now_empty {
            watchers.remove(session_id);
        }
        now_empty
    }

    /// How many connections watch a session.
    pub fn watcher_count(&self, session_id: &str) -> usize {
        lock(&self.watchers).get(session_id).map_or(0, HashMap::len)
    }

    /// Hands a committed batch to the watchers of each event's session, in order.
    pub fn dispatch(&self, events: &[StoredEvent]) {
        let watchers = lock(&self.watchers);
        for event in events {
            if let Some(set) = watchers.get(&event.session_id) {
                for conn in set.values() {
                    conn.deliver(event);
                }
            }
        }
    }
}

/// Live runtimes per session.
#[derive(Debug, Default)]
pub struct RuntimeRegistry {
    runtimes: Mutex<HashMap<Arc<str>, RuntimeHandle>>,
    next_generation: AtomicU64,
}

impl RuntimeRegistry {
    /// A generation no runtime of this process had before.
    pub fn next_generation(&self) -> u64 {
        self.next_generation.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The live runtime of a session.
    pub fn get(&self, session_id: &str) -> Option<RuntimeHandle> {
        lock(&self.runtimes).get(session_id).cloned()
    }

    /// What routing sees of a session's runtime.
    pub fn view(&self, session_id: &str) -> Option<RuntimeView> {
        self.get(session_id).map(|runtime| runtime.view())
    }

    /// Registers a runtime (replacing nothing: routing removes a previous one first).
    pub fn insert(&self, session_id: Arc<str>, runtime: RuntimeHandle) {
        if let Some(old) = lock(&self.runtimes).insert(session_id, runtime) {
            tracing::error!(
                generation = old.generation,
                "a runtime was replaced while still registered"
            );
        }
    }

    /// Removes the entry of `generation` only: a late clean-up leaves a newer runtime alone.
    pub fn remove(&self, session_id: &str, generation: u64) -> bool {
        let mut runtimes = lock(&self.runtimes);
        if runtimes
            .get(session_id)
            .is_some_and(|r| r.generation == generation)
        {
            runtimes.remove(session_id);
            true
        } else {
            false
        }
    }

    /// Every live runtime (for shutdown).
    pub fn all(&self) -> Vec<RuntimeHandle> {
        lock(&self.runtimes).values().cloned().collect()
    }
}

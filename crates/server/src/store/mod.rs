//! The durable store: sessions, their events and the `clientMsgId`s already used.
//!
//! Routing and runtimes only see the [`Store`] trait, so a PostgreSQL backend shared by several
//! server instances can be added later without touching them. The one implementation today is
//! [`SqliteStore`](sqlite::SqliteStore).
//!
//! Writes are *submitted*, not awaited: the store applies them in submission order and commits
//! them in batches (group commit), and only after a batch is durable does it hand the batch's
//! events to the [`CommitSink`], which delivers them to clients. That is how "an event is durable
//! before any client sees it" and "streaming many deltas is not one fsync each" hold together.

pub mod sqlite;

use sessionwire_core::{routing::StoredMessage, SessionState};
use std::{fmt, sync::Arc};
use tokio::sync::oneshot;

/// One row of the sessions table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    /// The user who created the session (see [`crate::auth`]).
    pub owner: String,
    pub title: String,
    pub state: SessionState,
    /// The highest committed seq (0 for a session without events).
    pub last_seq: u64,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    pub updated_at: u64,
}

/// A persisted event as stored and sent: `text` is the complete wire frame, encoded once, so a
/// replay sends the stored bytes without decoding and re-encoding them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub session_id: Arc<str>,
    pub seq: u64,
    /// The event's `type` (e.g. `block_delta`), kept in its own column for queries.
    pub kind: &'static str,
    pub ts: u64,
    pub text: Arc<str>,
}

/// A `clientMsgId` and what it produced, unique per user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMsg {
    pub owner: String,
    pub client_msg_id: String,
    pub session_id: String,
    pub seq: u64,
}

/// A write, applied in submission order.
#[derive(Debug)]
pub enum Write {
    /// A new session row (its first event follows in a later `Append`).
    CreateSession(SessionRecord),
    /// One event; `new_state` also updates the session's durable state (for `session_state`
    /// events), and `client_msg` records the `clientMsgId` that produced it, atomically with it.
    Append {
        event: StoredEvent,
        new_state: Option<SessionState>,
        client_msg: Option<ClientMsg>,
    },
    /// A `clientMsgId` with no event of its own (an `interrupt` without text).
    ClientMsg(ClientMsg),
    /// Answered once everything submitted before it is durable.
    Barrier(oneshot::Sender<()>),
}

/// Receives every committed batch of events, in commit order, on the store's writer.
pub type CommitSink = Box<dyn Fn(&[StoredEvent]) + Send + 'static>;

/// The store's error: I/O or database failures. Callers log them and answer `internal`.
pub type StoreResult<T> = anyhow::Result<T>;

/// What routing and runtimes need from durable storage.
///
/// Reads are blocking (call them from `spawn_blocking`); writes go through [`Store::submit`].
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Queues a write. Writes are applied in the order they are submitted.
    fn submit(&self, write: Write) -> StoreResult<()>;
    /// One session, whoever owns it.
    fn session(&self, id: &str) -> StoreResult<Option<SessionRecord>>;
    /// At most `limit` sessions of one user, most recently updated first (ties: higher id
    /// first), starting after the position `before` (`updated_at`, `id`) when given.
    fn sessions_page(
        &self,
        owner: &str,
        before: Option<(u64, String)>,
        limit: usize,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// Every session whose state is not ENDED (start-up recovery).
    fn not_ended(&self) -> StoreResult<Vec<SessionRecord>>;
    /// The committed events of a session with `seq > after`, in order, and the session's last
    /// committed seq, read in one snapshot.
    fn events_after(&self, session_id: &str, after: u64) -> StoreResult<(Vec<StoredEvent>, u64)>;
    /// At most `limit` committed events of a session with `after < seq <= through`, in order
    /// (replays read pages of these as the socket drains, never a whole history at once).
    fn events_page(
        &self,
        session_id: &str,
        after: u64,
        through: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>>;
    /// The highest committed seq of a session (0 if it has no events).
    fn last_seq(&self, session_id: &str) -> StoreResult<u64>;
    /// The `turnId` of a `turn_start` with no `turn_end` after it, if the log has one.
    fn open_turn(&self, session_id: &str) -> StoreResult<Option<String>>;
    /// Where a user's `clientMsgId` was stored, if it was.
    fn client_msg(&self, owner: &str, client_msg_id: &str) -> StoreResult<Option<StoredMessage>>;
    /// Flushes every submitted write and stops the writer (graceful shutdown).
    fn close(&self);
}

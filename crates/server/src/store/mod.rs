//! The durable store: sessions, their events and the `clientMsgId`s already used.
//!
//! Routing and runtimes only see the [`Store`] trait. Its one implementation, [`sql::SqlStore`],
//! runs over either database: [`sqlite`] (the embedded default) or [`postgres`] (shared by
//! several server processes). Each of them only spells the statements of [`queries::Queries`];
//! the group-commit [`writer`] and the reads are written once.
//!
//! Writes are *submitted*, not awaited: the store applies them in submission order and commits
//! them in batches (group commit), and only after a batch is durable does it hand the batch's
//! events to the [`CommitSink`], which delivers them to clients. That is how "an event is durable
//! before any client sees it" and "streaming many deltas is not one fsync each" hold together.
//!
//! The store, not its caller, gives each event its seq, as it writes it: a batch that fails
//! (disk full) is rolled back with its seqs, and the next stored event takes the first of them,
//! so seqs stay dense whatever storage does. A failed session's writes are refused until it is
//! repaired ([`Write::Repair`]), so no later event of a cut-short turn is shown out of context.

mod durable;
pub mod postgres;
pub mod queries;
pub mod sql;
pub mod sqlite;
pub mod writer;

pub use durable::Durable;
use sessionwire_core::{routing::StoredMessage, EventKind, SessionState};
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

/// Who sent a `clientMsgId`: stored with the seq the store gives its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMsgKey {
    pub owner: String,
    pub client_msg_id: String,
}

/// The durable turn queue of a session (PROTOCOL.md §3: a message acked and still queued when
/// the server dies runs after the restart). A `user_message` pushes its turn; the `turn_start`
/// that runs it pops it; a close or stop drops what is left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueOp {
    /// Queued after the others, or (`front`, an interrupt's text) before them.
    Push {
        message_id: String,
        text: String,
        front: bool,
    },
    /// Its turn started.
    Pop { message_id: String },
}

/// A turn still queued, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTurn {
    pub session_id: String,
    pub message_id: String,
    pub text: String,
}

/// Told whether a write was stored: the seq it got, or why not.
pub type Done<T> = oneshot::Sender<StoreResult<T>>;

/// One event to append. The store gives it its seq when it writes it, the session's last
/// stored seq + 1, so an event that could not be stored never leaves a hole (PROTOCOL.md §2).
#[derive(Debug)]
pub struct Append {
    pub session_id: Arc<str>,
    pub ts: u64,
    pub kind: EventKind,
    /// Also the session's new durable state (for `session_state` events).
    pub new_state: Option<SessionState>,
    /// Records the `clientMsgId` that produced it, atomically with it.
    pub client_msg: Option<ClientMsgKey>,
    pub queue: Option<QueueOp>,
    pub done: Option<Done<u64>>,
}

/// What a repair wrote (see [`Write::Repair`]).
pub use sessionwire_core::engine::repair::Repaired;

/// A write, applied in submission order.
#[derive(Debug)]
pub enum Write {
    /// A new session row (its first event follows in a later `Append`).
    CreateSession(SessionRecord, Option<Done<()>>),
    Append(Append),
    /// A `clientMsgId` with no event of its own (an `interrupt` without text), stored with the
    /// session's last stored seq, which `done` receives.
    ClientMsg {
        key: ClientMsgKey,
        session_id: Arc<str>,
        done: Done<u64>,
    },
    /// Queued turns that will not run (the session was closed or stopped).
    Dequeue {
        session_id: Arc<str>,
        message_ids: Vec<String>,
    },
    /// After a storage failure: the session accepts writes again, and its log is closed the
    /// way a restart closes it: an open turn gets `turn_end{reason:"error", error:"storage"}`
    /// and the session becomes ENDED (`storage_failed`).
    Repair {
        session_id: Arc<str>,
        ts: u64,
        done: Done<Repaired>,
    },
    /// Answered once everything submitted before it is durable.
    Barrier(oneshot::Sender<()>),
    /// The id an ACP agent gave the session (`session/new`), so a runtime started again resumes
    /// the agent's own session (PROTOCOL.md §9.1).
    AgentSession {
        session_id: Arc<str>,
        agent_session: String,
    },
}

/// Receives every committed batch of events, in commit order, on the store's writer.
pub type CommitSink = Box<dyn Fn(&[StoredEvent]) + Send + 'static>;

/// Receives the sessions whose writes were lost in a failed batch (disk full, I/O error). Their
/// later writes are refused until a [`Write::Repair`] of theirs succeeds.
pub type FailureSink = Box<dyn Fn(Vec<Arc<str>>) + Send + 'static>;

/// The context of an error from a store read (the database is down, say): routing answers the
/// frame `unavailable`, so the client retries it, rather than `internal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadFailed;

impl fmt::Display for ReadFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a store read failed")
    }
}

/// The store's error: I/O or database failures. Callers log them and answer `internal`, or
/// `unavailable` for a write that could not be stored.
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
    /// Every session whose state is not ENDED, of one user when given (start-up recovery, and
    /// the recovery of a user taken over from another process).
    fn not_ended(&self, owner: Option<&str>) -> StoreResult<Vec<SessionRecord>>;
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
    /// Every queued turn, in the order each session will run them (start-up and repairs).
    fn pending_turns(&self, session_id: Option<&str>) -> StoreResult<Vec<PendingTurn>>;
    /// Where a user's `clientMsgId` was stored, if it was.
    fn client_msg(&self, owner: &str, client_msg_id: &str) -> StoreResult<Option<StoredMessage>>;
    /// Whether the session's log has a `permission_request` with this `requestId`.
    fn permission_requested(&self, session_id: &str, request_id: &str) -> StoreResult<bool>;
    /// The `requestId`s of the session's permission requests with no `permission_resolved`
    /// after them, in order (start-up recovery expires them).
    fn pending_permissions(&self, session_id: &str) -> StoreResult<Vec<String>>;
    /// The ACP agent's id of the session ([`Write::AgentSession`]), if one was stored.
    fn agent_session(&self, session_id: &str) -> StoreResult<Option<String>>;
    /// Flushes every submitted write and stops the writer (graceful shutdown).
    fn close(&self);
}

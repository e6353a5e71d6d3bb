//! [`SqlStore`]: the [`Store`] of either database, from its writer thread and its read
//! connections. What differs between SQLite and PostgreSQL is only how a connection is opened
//! and how each statement is spelled ([`Queries`]); this file is everything else.

use super::{
    queries::{self, Queries},
    writer::{self, Backend, WriterHandle},
    CommitSink, FailureSink, PendingTurn, SessionRecord, Store, StoreResult, StoredEvent, Write,
};
use anyhow::anyhow;
use sessionwire_core::routing::StoredMessage;
use std::{
    fmt,
    sync::{mpsc, Arc, Mutex},
};

/// Where a store's reads run: a connection (or a pool of them) lent to one read at a time.
pub trait Readers: Send + Sync + fmt::Debug + 'static {
    /// Runs `f` on a read connection. It may run `f` again, on a new connection, if the one it
    /// was given turned out to be broken (reads have no effects, so that is safe).
    fn read<T>(&self, f: impl FnMut(&mut dyn Queries) -> StoreResult<T>) -> StoreResult<T>;
}

/// A durable store over one database: writes through the group-commit writer, reads through
/// `R`.
#[derive(Debug)]
pub struct SqlStore<R> {
    writer: Mutex<Option<mpsc::Sender<Write>>>,
    handle: WriterHandle,
    readers: R,
}

impl<R: Readers> SqlStore<R> {
    /// Starts the writer over `backend`; committed batches of events go to `sink`.
    pub fn start(
        backend: impl Backend,
        readers: R,
        sink: CommitSink,
        failures: FailureSink,
    ) -> StoreResult<Self> {
        let (writer, handle) = writer::spawn(backend, sink, failures)?;
        Ok(Self {
            writer: Mutex::new(Some(writer)),
            handle,
            readers,
        })
    }

    /// A handle to wait for the writer thread's exit, or to cut it off as a crash would.
    pub fn writer_handle(&self) -> WriterHandle {
        self.handle.clone()
    }
}

impl<R: Readers> Store for SqlStore<R> {
    fn submit(&self, write: Write) -> StoreResult<()> {
        if self.handle.is_severed() {
            return Err(anyhow!("store severed (simulated crash)"));
        }
        let writer = self
            .writer
            .lock()
            .map_err(|_| anyhow!("writer lock poisoned"))?;
        let sender = writer.as_ref().ok_or_else(|| anyhow!("store is closed"))?;
        sender
            .send(write)
            .map_err(|_| anyhow!("store writer stopped"))
    }

    fn session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        self.readers.read(|q| q.session(id))
    }

    fn sessions_page(
        &self,
        owner: &str,
        before: Option<(u64, String)>,
        limit: usize,
    ) -> StoreResult<Vec<SessionRecord>> {
        self.readers
            .read(|q| q.sessions_page(owner, before.clone(), limit))
    }

    fn not_ended(&self, owner: Option<&str>) -> StoreResult<Vec<SessionRecord>> {
        self.readers.read(|q| q.not_ended(owner))
    }

    fn events_page(
        &self,
        session_id: &str,
        after: u64,
        through: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        let rows = self
            .readers
            .read(|q| q.events_page(session_id, after, through, limit))?;
        let session: Arc<str> = Arc::from(session_id);
        Ok(rows
            .into_iter()
            .map(|row| StoredEvent {
                session_id: session.clone(),
                seq: row.seq,
                kind: queries::static_kind(&row.kind),
                ts: row.ts,
                text: Arc::from(row.payload),
            })
            .collect())
    }

    fn last_seq(&self, session_id: &str) -> StoreResult<u64> {
        self.readers.read(|q| q.last_seq(session_id))
    }

    fn open_turn(&self, session_id: &str) -> StoreResult<Option<String>> {
        self.readers.read(|q| queries::open_turn(q, session_id))
    }

    fn pending_turns(&self, session_id: Option<&str>) -> StoreResult<Vec<PendingTurn>> {
        self.readers.read(|q| q.pending_turns(session_id))
    }

    fn client_msg(&self, owner: &str, client_msg_id: &str) -> StoreResult<Option<StoredMessage>> {
        self.readers.read(|q| q.client_msg(owner, client_msg_id))
    }

    fn permission_requested(&self, session_id: &str, request_id: &str) -> StoreResult<bool> {
        self.readers
            .read(|q| queries::permission_requested(q, session_id, request_id))
    }

    fn pending_permissions(&self, session_id: &str) -> StoreResult<Vec<String>> {
        self.readers
            .read(|q| queries::pending_permissions(q, session_id))
    }

    fn agent_session(&self, session_id: &str) -> StoreResult<Option<String>> {
        self.readers.read(|q| q.agent_session(session_id))
    }

    fn close(&self) {
        // Dropping the sender ends the writer's loop once it has committed everything queued.
        if let Ok(mut writer) = self.writer.lock() {
            writer.take();
        }
        self.handle.join();
    }
}

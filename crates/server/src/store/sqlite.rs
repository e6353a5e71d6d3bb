//! The embedded SQLite store: WAL journal, versioned migrations, and one writer thread that
//! group-commits whatever was submitted while the previous batch was being written.
//!
//! Why a dedicated thread: SQLite allows one writer at a time anyway, and a thread that drains a
//! channel turns N concurrent small writes (a burst of `block_delta`s from many sessions) into
//! one transaction and one fsync. Readers use their own connection; WAL lets them read the last
//! committed snapshot while the writer writes.

use super::{ClientMsg, CommitSink, SessionRecord, Store, StoreResult, StoredEvent, Write};
use anyhow::{anyhow, Context};
use rusqlite::{params, Connection, OptionalExtension};
use sessionwire_core::{routing::StoredMessage, EventKind, SessionState};
use std::{
    collections::HashMap,
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc, Mutex,
    },
    thread::JoinHandle,
};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    // 1: sessions, their dense per-session event log, and the clientMsgIds already used.
    "CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        title TEXT NOT NULL,
        state TEXT NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX sessions_by_owner ON sessions (owner, updated_at);
    CREATE TABLE events (
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        ts INTEGER NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE client_messages (
        owner TEXT NOT NULL,
        client_msg_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (owner, client_msg_id)
    ) WITHOUT ROWID;",
];

/// At most this many writes go into one transaction.
const MAX_BATCH: usize = 4096;

/// Waits for a store's writer thread to finish, and can cut the store off the way a crash
/// would. Tests use it to simulate a crash in-process: the store is severed (nothing submitted
/// from then on is written, as after a SIGKILL), the server is dropped without shutdown, and
/// the database is reopened once the old writer has let go. Without the cut, tasks dropped
/// with the server could still write their clean-up events, which a real crash never does.
#[derive(Debug, Clone)]
pub struct WriterHandle {
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
    severed: Arc<AtomicBool>,
}

impl WriterHandle {
    /// Blocks until the writer thread has exited.
    pub fn join(&self) {
        let handle = self.thread.lock().ok().and_then(|mut slot| slot.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    /// From now on nothing more is committed: writes already submitted but not yet committed
    /// are lost, and later submissions fail. What is committed stays.
    pub fn sever(&self) {
        self.severed.store(true, Ordering::SeqCst);
    }
}

/// The SQLite implementation of [`Store`].
#[derive(Debug)]
pub struct SqliteStore {
    writer: Mutex<Option<mpsc::Sender<Write>>>,
    severed: Arc<AtomicBool>,
    thread: WriterHandle,
    reader: Mutex<Connection>,
}

fn open_connection(path: &Path) -> StoreResult<Connection> {
    let conn =
        Connection::open(path).with_context(|| format!("opening database {}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk before its events are shown to anyone. Group commit keeps
    // this affordable.
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let version: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > MIGRATIONS.len() {
        return Err(anyhow!(
            "database schema version {version} is newer than this server"
        ));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("migration {}", index + 1))?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (or creates) the database, runs migrations and starts the writer thread, which hands
    /// every committed batch of events to `sink`.
    pub fn open(path: &Path, sink: CommitSink) -> StoreResult<Self> {
        let mut write_conn = open_connection(path)?;
        migrate(&mut write_conn)?;
        let reader = open_connection(path)?;
        let (tx, rx) = mpsc::channel();
        let severed = Arc::new(AtomicBool::new(false));
        let writer_severed = severed.clone();
        let thread = std::thread::Builder::new()
            .name("sessionwire-store".into())
            .spawn(move || writer_loop(write_conn, rx, sink, &writer_severed))
            .context("spawning the store writer")?;
        Ok(Self {
            writer: Mutex::new(Some(tx)),
            severed: severed.clone(),
            thread: WriterHandle {
                thread: Arc::new(Mutex::new(Some(thread))),
                severed,
            },
            reader: Mutex::new(reader),
        })
    }

    /// A handle to wait for the writer thread's exit.
    pub fn writer_handle(&self) -> WriterHandle {
        self.thread.clone()
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let conn = self
            .reader
            .lock()
            .map_err(|_| anyhow!("reader lock poisoned"))?;
        Ok(f(&conn)?)
    }
}

fn writer_loop(
    mut conn: Connection,
    rx: mpsc::Receiver<Write>,
    sink: CommitSink,
    severed: &AtomicBool,
) {
    while let Ok(first) = rx.recv() {
        if severed.load(Ordering::SeqCst) {
            break;
        }
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        let mut barriers = Vec::new();
        if severed.load(Ordering::SeqCst) {
            break;
        }
        match apply_batch(&mut conn, batch, &mut barriers) {
            Ok(events) => {
                if !events.is_empty() {
                    sink(&events);
                }
                for barrier in barriers {
                    let _ = barrier.send(());
                }
            }
            // The batch was rolled back: nothing of it was shown to anyone. Dropping the barriers
            // tells their waiters that their writes failed.
            Err(error) => tracing::error!(%error, "store batch failed and was rolled back"),
        }
    }
    tracing::debug!("store writer stopped");
}

fn apply_batch(
    conn: &mut Connection,
    batch: Vec<Write>,
    barriers: &mut Vec<tokio::sync::oneshot::Sender<()>>,
) -> StoreResult<Vec<StoredEvent>> {
    let tx = conn.transaction()?;
    let mut events = Vec::new();
    {
        let mut insert_event = tx.prepare_cached(
            "INSERT INTO events (session_id, seq, type, payload, ts) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut touch =
            tx.prepare_cached("UPDATE sessions SET last_seq = ?2, updated_at = ?3 WHERE id = ?1")?;
        let mut set_state = tx.prepare_cached("UPDATE sessions SET state = ?2 WHERE id = ?1")?;
        let mut insert_msg = tx.prepare_cached(
            "INSERT OR IGNORE INTO client_messages (owner, client_msg_id, session_id, seq) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut insert_session = tx.prepare_cached(
            "INSERT INTO sessions (id, owner, title, state, last_seq, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut store_msg = |msg: &ClientMsg| {
            insert_msg.execute(params![
                msg.owner,
                msg.client_msg_id,
                msg.session_id,
                msg.seq
            ])
        };
        let mut touched: HashMap<Arc<str>, (u64, u64)> = HashMap::new();
        for write in batch {
            match write {
                Write::CreateSession(record) => {
                    insert_session.execute(params![
                        record.id,
                        record.owner,
                        record.title,
                        record.state.as_str(),
                        record.last_seq,
                        record.created_at,
                        record.updated_at
                    ])?;
                }
                Write::Append {
                    event,
                    new_state,
                    client_msg,
                } => {
                    insert_event.execute(params![
                        &*event.session_id,
                        event.seq,
                        event.kind,
                        &*event.text,
                        event.ts
                    ])?;
                    // A streamed turn appends many events of one session per batch: its row
                    // is updated once, after the loop, with the newest seq (same transaction).
                    touched.insert(event.session_id.clone(), (event.seq, event.ts));
                    if let Some(state) = new_state {
                        set_state.execute(params![&*event.session_id, state.as_str()])?;
                    }
                    if let Some(msg) = &client_msg {
                        store_msg(msg)?;
                    }
                    events.push(event);
                }
                Write::ClientMsg(msg) => {
                    store_msg(&msg)?;
                }
                Write::Barrier(done) => barriers.push(done),
            }
        }
        for (session_id, (seq, ts)) in touched {
            touch.execute(params![&*session_id, seq, ts])?;
        }
    }
    tx.commit()?;
    Ok(events)
}

fn row_to_session(row: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRecord> {
    let state: String = row.get(3)?;
    Ok(SessionRecord {
        id: row.get(0)?,
        owner: row.get(1)?,
        title: row.get(2)?,
        // An unreadable state is treated as ENDED: the safest state to route from.
        state: SessionState::parse(&state).unwrap_or(SessionState::Ended),
        last_seq: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

const SESSION_COLUMNS: &str = "id, owner, title, state, last_seq, created_at, updated_at";

/// Maps a stored `type` back to the static name of the core's event kinds.
fn static_kind(kind: &str) -> &'static str {
    EventKind::TYPES
        .iter()
        .copied()
        .find(|known| *known == kind)
        .unwrap_or("unknown")
}

impl Store for SqliteStore {
    fn submit(&self, write: Write) -> StoreResult<()> {
        if self.severed.load(Ordering::SeqCst) {
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
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"
            ))?
            .query_row([id], row_to_session)
            .optional()
        })
    }

    fn sessions_page(
        &self,
        owner: &str,
        before: Option<(u64, String)>,
        limit: usize,
    ) -> StoreResult<Vec<SessionRecord>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Without a cursor, start above every possible position.
        let (updated_at, id) = before.unwrap_or((i64::MAX as u64, String::new()));
        let unbounded = id.is_empty();
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE owner = ?1
                 AND (?4 OR updated_at < ?2 OR (updated_at = ?2 AND id < ?3))
                 ORDER BY updated_at DESC, id DESC LIMIT ?5"
            ))?
            .query_map(
                params![owner, updated_at, id, unbounded, limit],
                row_to_session,
            )?
            .collect()
        })
    }

    fn not_ended(&self) -> StoreResult<Vec<SessionRecord>> {
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE state != 'ENDED'"
            ))?
            .query_map([], row_to_session)?
            .collect()
        })
    }

    fn events_after(&self, session_id: &str, after: u64) -> StoreResult<(Vec<StoredEvent>, u64)> {
        let mut conn = self
            .reader
            .lock()
            .map_err(|_| anyhow!("reader lock poisoned"))?;
        // One read transaction: the events and the last seq come from the same snapshot.
        let tx = conn.transaction()?;
        let session: Arc<str> = Arc::from(session_id);
        let events = tx
            .prepare_cached("SELECT seq, type, payload, ts FROM events WHERE session_id = ?1 AND seq > ?2 ORDER BY seq")?
            .query_map(params![session_id, after], |row| {
                let kind: String = row.get(1)?;
                let text: String = row.get(2)?;
                Ok(StoredEvent {
                    session_id: session.clone(),
                    seq: row.get(0)?,
                    kind: static_kind(&kind),
                    ts: row.get(3)?,
                    text: Arc::from(text),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let last: Option<u64> = tx
            .prepare_cached("SELECT MAX(seq) FROM events WHERE session_id = ?1")?
            .query_row([session_id], |row| row.get(0))?;
        tx.finish()?;
        Ok((events, last.unwrap_or(0)))
    }

    fn events_page(
        &self,
        session_id: &str,
        after: u64,
        through: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        let session: Arc<str> = Arc::from(session_id);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT seq, type, payload, ts FROM events WHERE session_id = ?1 AND seq > ?2 AND seq <= ?3
                 ORDER BY seq LIMIT ?4",
            )?
            .query_map(params![session_id, after, through, limit], |row| {
                let kind: String = row.get(1)?;
                let text: String = row.get(2)?;
                Ok(StoredEvent {
                    session_id: session.clone(),
                    seq: row.get(0)?,
                    kind: static_kind(&kind),
                    ts: row.get(3)?,
                    text: Arc::from(text),
                })
            })?
            .collect()
        })
    }

    fn last_seq(&self, session_id: &str) -> StoreResult<u64> {
        self.read(|conn| {
            conn.prepare_cached("SELECT MAX(seq) FROM events WHERE session_id = ?1")?
                .query_row([session_id], |row| row.get::<_, Option<u64>>(0))
                .map(Option::unwrap_or_default)
        })
    }

    fn open_turn(&self, session_id: &str) -> StoreResult<Option<String>> {
        let last = self.read(|conn| {
            conn.prepare_cached(
                "SELECT type, payload FROM events WHERE session_id = ?1 AND type IN ('turn_start', 'turn_end')
                 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([session_id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
            .optional()
        })?;
        Ok(match last {
            Some((kind, payload)) if kind == "turn_start" => {
                let value: serde_json::Value = serde_json::from_str(&payload)?;
                Some(
                    value
                        .get("turnId")
                        .and_then(|id| id.as_str())
                        .unwrap_or_default()
                        .to_owned(),
                )
            }
            _ => None,
        })
    }

    fn client_msg(&self, owner: &str, client_msg_id: &str) -> StoreResult<Option<StoredMessage>> {
        self.read(|conn| {
            conn.prepare_cached("SELECT session_id, seq FROM client_messages WHERE owner = ?1 AND client_msg_id = ?2")?
                .query_row([owner, client_msg_id], |row| {
                    Ok(StoredMessage { session_id: row.get(0)?, seq: row.get(1)? })
                })
                .optional()
        })
    }

    fn close(&self) {
        // Dropping the sender ends the writer's loop once it has committed everything queued.
        if let Ok(mut writer) = self.writer.lock() {
            writer.take();
        }
        self.thread.join();
    }
}

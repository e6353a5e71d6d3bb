//! The embedded SQLite store: WAL journal, versioned migrations, and one writer thread that
//! group-commits whatever was submitted while the previous batch was being written.
//!
//! Why a dedicated thread: SQLite allows one writer at a time anyway, and a thread that drains a
//! channel turns N concurrent small writes (a burst of `block_delta`s from many sessions) into
//! one transaction and one fsync. Readers use their own connection; WAL lets them read the last
//! committed snapshot while the writer writes.

use super::{
    Append, CommitSink, Done, FailureSink, PendingTurn, QueueOp, Repaired, SessionRecord, Store,
    StoreResult, StoredEvent, Write,
};
use anyhow::{anyhow, Context};
use rusqlite::{params, Connection, OptionalExtension};
use sessionwire_core::{
    lifecycle::reason,
    protocol::{encode, PermissionResolved, SessionStateChange, TurnEnd, TurnEndReason},
    routing::StoredMessage,
    Event, EventKind, SessionState,
};
use std::{
    collections::{HashMap, HashSet},
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
    // 2: the durable turn queue: acked messages not yet run (`ord`: the seq of the message, or
    // its negation for an interrupt's text, which runs before the others).
    "CREATE TABLE pending_turns (
        session_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        text TEXT NOT NULL,
        ord INTEGER NOT NULL,
        PRIMARY KEY (session_id, message_id)
    ) WITHOUT ROWID;",
    // 3: the ACP agent's own id of each session it runs (session/resume and session/load).
    "CREATE TABLE agent_sessions (
        session_id TEXT PRIMARY KEY,
        agent_session TEXT NOT NULL
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
    pub fn open(path: &Path, sink: CommitSink, failures: FailureSink) -> StoreResult<Self> {
        let mut write_conn = open_connection(path)?;
        migrate(&mut write_conn)?;
        let reader = open_connection(path)?;
        let (tx, rx) = mpsc::channel();
        let severed = Arc::new(AtomicBool::new(false));
        let writer_severed = severed.clone();
        let thread = std::thread::Builder::new()
            .name("sessionwire-store".into())
            .spawn(move || {
                let mut writer = Writer {
                    conn: write_conn,
                    sink,
                    failures,
                    last_seq: HashMap::new(),
                    fenced: HashSet::new(),
                };
                writer.run(&rx, &writer_severed);
            })
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
        self.read_with(|conn| Ok(f(conn)?))
    }

    /// A read whose function gives the store's own errors (it parses what it reads, say).
    fn read_with<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let conn = self
            .reader
            .lock()
            .map_err(|_| anyhow!("reader lock poisoned"))?;
        f(&conn)
    }
}

/// The writer thread's state.
struct Writer {
    conn: Connection,
    sink: CommitSink,
    failures: FailureSink,
    /// The last stored seq of each session this process has written to.
    last_seq: HashMap<Arc<str>, u64>,
    /// Sessions whose writes were lost in a failed batch: refused until repaired.
    fenced: HashSet<Arc<str>>,
}

/// What a committed batch owes its submitters.
#[derive(Default)]
struct Outcome {
    events: Vec<StoredEvent>,
    seqs: Vec<(Done<u64>, u64)>,
    created: Vec<Done<()>>,
    repaired: Vec<(Done<Repaired>, Repaired)>,
    barriers: Vec<tokio::sync::oneshot::Sender<()>>,
    /// Seqs and fences as they stand if the batch commits.
    last_seq: HashMap<Arc<str>, u64>,
    unfenced: HashSet<Arc<str>>,
    /// Every session the batch wrote to (fenced if it fails).
    sessions: HashSet<Arc<str>>,
}

fn unavailable() -> anyhow::Error {
    anyhow!("storage is failing; the write was not stored (retry later)")
}

impl Writer {
    fn run(&mut self, rx: &mpsc::Receiver<Write>, severed: &AtomicBool) {
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
            if severed.load(Ordering::SeqCst) {
                break;
            }
            self.commit(batch);
        }
        tracing::debug!("store writer stopped");
    }

    /// Applies and commits one batch, then tells everyone; a failed batch is rolled back whole
    /// (nothing of it was shown to anyone), its sessions are fenced, and its writers told.
    fn commit(&mut self, batch: Vec<Write>) {
        let mut outcome = Outcome::default();
        let result = self.apply(batch, &mut outcome);
        match result {
            Ok(()) => {
                self.last_seq.extend(outcome.last_seq);
                for session in &outcome.unfenced {
                    self.fenced.remove(session);
                }
                if !outcome.events.is_empty() {
                    (self.sink)(&outcome.events);
                }
                for (done, seq) in outcome.seqs {
                    let _ = done.send(Ok(seq));
                }
                for done in outcome.created {
                    let _ = done.send(Ok(()));
                }
                for (done, repaired) in outcome.repaired {
                    let _ = done.send(Ok(repaired));
                }
                for barrier in outcome.barriers {
                    let _ = barrier.send(());
                }
            }
            Err(error) => {
                tracing::error!(%error, sessions = outcome.sessions.len(), "store batch failed and was rolled back");
                for (done, _) in outcome.seqs {
                    let _ = done.send(Err(unavailable()));
                }
                for done in outcome.created {
                    let _ = done.send(Err(unavailable()));
                }
                for (done, _) in outcome.repaired {
                    let _ = done.send(Err(unavailable()));
                }
                // Dropped barriers tell their waiters that the writes before them failed.
                let sessions: Vec<Arc<str>> = outcome.sessions.into_iter().collect();
                self.fenced.extend(sessions.iter().cloned());
                if !sessions.is_empty() {
                    (self.failures)(sessions);
                }
            }
        }
    }

    fn apply(&mut self, batch: Vec<Write>, outcome: &mut Outcome) -> StoreResult<()> {
        let fenced = &self.fenced;
        let known = &self.last_seq;
        let tx = self.conn.transaction()?;
        let mut touched: HashMap<Arc<str>, (u64, u64)> = HashMap::new();
        for write in batch {
            match write {
                Write::CreateSession(record, done) => {
                    let id: Arc<str> = Arc::from(record.id.as_str());
                    outcome.sessions.insert(id.clone());
                    tx.prepare_cached(
                        "INSERT INTO sessions (id, owner, title, state, last_seq, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?
                    .execute(params![
                        record.id,
                        record.owner,
                        record.title,
                        record.state.as_str(),
                        record.last_seq,
                        record.created_at,
                        record.updated_at
                    ])?;
                    outcome.last_seq.insert(id, record.last_seq);
                    if let Some(done) = done {
                        outcome.created.push(done);
                    }
                }
                Write::Append(append) => {
                    let session = append.session_id.clone();
                    if fenced.contains(&session) && !outcome.unfenced.contains(&session) {
                        if let Some(done) = append.done {
                            let _ = done.send(Err(unavailable()));
                        }
                        continue;
                    }
                    outcome.sessions.insert(session.clone());
                    let seq = current_seq(&tx, known, &outcome.last_seq, &session)? + 1;
                    let ts = append.ts;
                    insert_append(&tx, append, seq, outcome)?;
                    touched.insert(session, (seq, ts));
                }
                Write::ClientMsg {
                    key,
                    session_id,
                    done,
                } => {
                    if fenced.contains(&session_id) && !outcome.unfenced.contains(&session_id) {
                        let _ = done.send(Err(unavailable()));
                        continue;
                    }
                    outcome.sessions.insert(session_id.clone());
                    let seq = current_seq(&tx, known, &outcome.last_seq, &session_id)?;
                    insert_client_msg(&tx, &key.owner, &key.client_msg_id, &session_id, seq)?;
                    outcome.seqs.push((done, seq));
                }
                Write::Dequeue {
                    session_id,
                    message_ids,
                } => {
                    let mut delete = tx.prepare_cached(
                        "DELETE FROM pending_turns WHERE session_id = ?1 AND message_id = ?2",
                    )?;
                    for id in &message_ids {
                        delete.execute(params![&*session_id, id])?;
                    }
                }
                Write::Repair {
                    session_id,
                    ts,
                    done,
                } => {
                    outcome.unfenced.insert(session_id.clone());
                    outcome.sessions.insert(session_id.clone());
                    let repaired = repair(&tx, known, outcome, &session_id, ts)?;
                    if let Some((seq, ts)) = repaired.1 {
                        touched.insert(session_id, (seq, ts));
                    }
                    outcome.repaired.push((done, repaired.0));
                }
                Write::Barrier(done) => outcome.barriers.push(done),
                Write::AgentSession {
                    session_id,
                    agent_session,
                } => {
                    tx.prepare_cached(
                        "INSERT INTO agent_sessions (session_id, agent_session) VALUES (?1, ?2)
                         ON CONFLICT (session_id) DO UPDATE SET agent_session = excluded.agent_session",
                    )?
                    .execute(params![&*session_id, agent_session])?;
                }
            }
        }
        {
            let mut touch = tx.prepare_cached(
                "UPDATE sessions SET last_seq = ?2, updated_at = ?3 WHERE id = ?1",
            )?;
            for (session_id, (seq, ts)) in touched {
                touch.execute(params![&*session_id, seq, ts])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// The last stored seq of a session, as this batch has it so far.
fn current_seq(
    conn: &Connection,
    known: &HashMap<Arc<str>, u64>,
    batch: &HashMap<Arc<str>, u64>,
    session: &Arc<str>,
) -> StoreResult<u64> {
    if let Some(seq) = batch.get(session).or_else(|| known.get(session)) {
        return Ok(*seq);
    }
    let last: Option<u64> = conn
        .prepare_cached("SELECT MAX(seq) FROM events WHERE session_id = ?1")?
        .query_row([&**session], |row| row.get(0))?;
    Ok(last.unwrap_or(0))
}

fn insert_client_msg(
    conn: &Connection,
    owner: &str,
    client_msg_id: &str,
    session_id: &str,
    seq: u64,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO client_messages (owner, client_msg_id, session_id, seq) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![owner, client_msg_id, session_id, seq])
}

/// Writes one event with `seq`, and what comes with it.
fn insert_append(
    conn: &Connection,
    append: Append,
    seq: u64,
    outcome: &mut Outcome,
) -> StoreResult<()> {
    let session = append.session_id;
    let event = Event {
        session_id: session.to_string(),
        seq,
        ts: append.ts,
        kind: append.kind,
    };
    let stored = StoredEvent {
        session_id: session.clone(),
        seq,
        kind: event.kind.type_name(),
        ts: event.ts,
        text: Arc::from(encode(&event)),
    };
    conn.prepare_cached(
        "INSERT INTO events (session_id, seq, type, payload, ts) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        &*session,
        seq,
        stored.kind,
        &*stored.text,
        stored.ts
    ])?;
    if let Some(state) = append.new_state {
        conn.prepare_cached("UPDATE sessions SET state = ?2 WHERE id = ?1")?
            .execute(params![&*session, state.as_str()])?;
    }
    if let Some(key) = &append.client_msg {
        insert_client_msg(conn, &key.owner, &key.client_msg_id, &session, seq)?;
    }
    match append.queue {
        Some(QueueOp::Push {
            message_id,
            text,
            front,
        }) => {
            let seq = i64::try_from(seq).unwrap_or(i64::MAX);
            let ord = if front { -seq } else { seq };
            conn.prepare_cached(
                "INSERT OR REPLACE INTO pending_turns (session_id, message_id, text, ord) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![&*session, message_id, text, ord])?;
        }
        Some(QueueOp::Pop { message_id }) => {
            conn.prepare_cached(
                "DELETE FROM pending_turns WHERE session_id = ?1 AND message_id = ?2",
            )?
            .execute(params![&*session, message_id])?;
        }
        None => {}
    }
    outcome.last_seq.insert(session, seq);
    if let Some(done) = append.done {
        outcome.seqs.push((done, seq));
    }
    outcome.events.push(stored);
    Ok(())
}

/// Closes a session's log after a storage failure, as a restart would: an open turn ends with
/// `error: "storage"`, and the session becomes ENDED. Returns what it found and the last seq
/// it wrote with its timestamp.
fn repair(
    conn: &Connection,
    known: &HashMap<Arc<str>, u64>,
    outcome: &mut Outcome,
    session: &Arc<str>,
    ts: u64,
) -> StoreResult<(Repaired, Option<(u64, u64)>)> {
    let state: Option<String> = conn
        .prepare_cached("SELECT state FROM sessions WHERE id = ?1")?
        .query_row([&**session], |row| row.get(0))
        .optional()?;
    let Some(state) = state else {
        return Ok((Repaired::default(), None));
    };
    let state = SessionState::parse(&state).unwrap_or(SessionState::Ended);
    let mut written = None;
    let mut append = |kind: EventKind, new_state: Option<SessionState>, outcome: &mut Outcome| {
        let seq = current_seq(conn, known, &outcome.last_seq, session)? + 1;
        let append = Append {
            session_id: session.clone(),
            ts,
            kind,
            new_state,
            client_msg: None,
            queue: None,
            done: None,
        };
        insert_append(conn, append, seq, outcome)?;
        written = Some((seq, ts));
        StoreResult::Ok(())
    };
    // Questions nobody can answer any more: their turn is over.
    for request_id in pending_permissions_in(conn, session)? {
        let expired = PermissionResolved {
            request_id,
            outcome: "expired".to_owned(),
            option_id: None,
            client_msg_id: None,
        };
        append(EventKind::PermissionResolved(expired), None, outcome)?;
    }
    if let Some(turn_id) = open_turn_in(conn, session)? {
        let turn_end = TurnEnd {
            turn_id,
            reason: TurnEndReason::Error,
            error: Some(STORAGE_ERROR.to_owned()),
            usage: None,
            stop_reason: None,
        };
        append(EventKind::TurnEnd(turn_end), None, outcome)?;
    }
    if state != SessionState::Ended {
        let change = SessionStateChange {
            state: SessionState::Ended,
            previous: Some(state),
            reason: reason::STORAGE_FAILED.to_owned(),
        };
        append(
            EventKind::SessionState(change),
            Some(SessionState::Ended),
            outcome,
        )?;
    }
    let repaired = Repaired {
        exists: true,
        state: Some(SessionState::Ended),
    };
    Ok((repaired, written))
}

/// `turn_end.error` of a turn cut short by a storage failure (PROTOCOL.md §2).
pub const STORAGE_ERROR: &str = "storage";

/// The `requestId`s of a session's permission events, in seq order, with their type (only
/// `kind`'s when given).
fn permission_ids(
    conn: &Connection,
    session_id: &str,
    kind: Option<&str>,
) -> StoreResult<Vec<(String, String)>> {
    let mut statement = conn.prepare_cached(
        "SELECT type, payload FROM events WHERE session_id = ?1
         AND type IN ('permission_request', 'permission_resolved') AND type = COALESCE(?2, type)
         ORDER BY seq",
    )?;
    let rows = statement.query_map(params![session_id, kind], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut ids = Vec::new();
    for row in rows {
        let (kind, payload) = row?;
        let value: serde_json::Value = serde_json::from_str(&payload)?;
        let id = value
            .get("requestId")
            .and_then(|id| id.as_str())
            .unwrap_or_default()
            .to_owned();
        ids.push((kind, id));
    }
    Ok(ids)
}

/// The permission requests of a session's log with no `permission_resolved` after them.
fn pending_permissions_in(conn: &Connection, session_id: &str) -> StoreResult<Vec<String>> {
    let mut pending: Vec<String> = Vec::new();
    for (kind, id) in permission_ids(conn, session_id, None)? {
        if kind == "permission_request" {
            pending.push(id);
        } else {
            pending.retain(|waiting| *waiting != id);
        }
    }
    Ok(pending)
}

/// The `turnId` of a `turn_start` with no `turn_end` after it.
fn open_turn_in(conn: &Connection, session_id: &str) -> StoreResult<Option<String>> {
    let last = conn
        .prepare_cached(
            "SELECT type, payload FROM events WHERE session_id = ?1 AND type IN ('turn_start', 'turn_end')
             ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([session_id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
        .optional()?;
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
        self.read_with(|conn| open_turn_in(conn, session_id))
    }

    fn pending_turns(&self, session_id: Option<&str>) -> StoreResult<Vec<PendingTurn>> {
        let row = |row: &rusqlite::Row<'_>| {
            Ok(PendingTurn {
                session_id: row.get(0)?,
                message_id: row.get(1)?,
                text: row.get(2)?,
            })
        };
        self.read(|conn| match session_id {
            Some(id) => conn
                .prepare_cached(
                    "SELECT session_id, message_id, text FROM pending_turns WHERE session_id = ?1 ORDER BY ord",
                )?
                .query_map([id], row)?
                .collect(),
            None => conn
                .prepare_cached(
                    "SELECT session_id, message_id, text FROM pending_turns ORDER BY session_id, ord",
                )?
                .query_map([], row)?
                .collect(),
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

    fn permission_requested(&self, session_id: &str, request_id: &str) -> StoreResult<bool> {
        self.read_with(|conn| {
            let asked = permission_ids(conn, session_id, Some("permission_request"))?;
            Ok(asked.iter().any(|(_, id)| id == request_id))
        })
    }

    fn pending_permissions(&self, session_id: &str) -> StoreResult<Vec<String>> {
        self.read_with(|conn| pending_permissions_in(conn, session_id))
    }

    fn agent_session(&self, session_id: &str) -> StoreResult<Option<String>> {
        self.read(|conn| {
            conn.prepare_cached("SELECT agent_session FROM agent_sessions WHERE session_id = ?1")?
                .query_row([session_id], |row| row.get(0))
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

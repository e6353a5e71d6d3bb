//! The embedded SQLite store: WAL journal, versioned migrations, and the statements of
//! [`Queries`] in SQLite's dialect. The writer thread ([`super::writer`]) group-commits on its
//! own connection; reads use another, and WAL lets them read the last committed snapshot while
//! the writer writes.

use super::{
    queries::{parse_state, EventRow, Queries},
    sql::{Readers, SqlStore},
    writer::Backend,
    CommitSink, FailureSink, PendingTurn, SessionRecord, StoreResult, StoredEvent,
};
use anyhow::{anyhow, Context};
use rusqlite::{params, Connection, OptionalExtension};
use sessionwire_core::{routing::StoredMessage, SessionState};
use std::{path::Path, sync::Mutex};

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
    // 4: the events in the order they were committed, so a batch appends to the log's last
    // pages instead of one page (and its splits) per session it touches; each session found by
    // a small number (`sessions.no`) in an index of (session, seq) whose entries are a few
    // bytes, not a text id: about half the WAL page writes per event (docs/benchmarks.md).
    "CREATE TABLE sessions_v4 (
        no INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        owner TEXT NOT NULL,
        title TEXT NOT NULL,
        state TEXT NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    INSERT INTO sessions_v4 (id, owner, title, state, last_seq, created_at, updated_at)
        SELECT id, owner, title, state, last_seq, created_at, updated_at FROM sessions
        ORDER BY created_at, id;
    CREATE TABLE events_v4 (
        id INTEGER PRIMARY KEY,
        session_no INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        ts INTEGER NOT NULL
    );
    INSERT INTO events_v4 (session_no, seq, type, payload, ts)
        SELECT s.no, e.seq, e.type, e.payload, e.ts FROM events e JOIN sessions_v4 s ON s.id = e.session_id
        ORDER BY e.ts, e.session_id, e.seq;
    DROP TABLE events;
    DROP TABLE sessions;
    ALTER TABLE sessions_v4 RENAME TO sessions;
    ALTER TABLE events_v4 RENAME TO events;
    CREATE INDEX sessions_by_owner ON sessions (owner, updated_at);
    CREATE UNIQUE INDEX events_by_session ON events (session_no, seq);",
];

/// The `no` of the session whose id is `?1`, for the statements on `events`.
macro_rules! session_no {
    () => {
        "(SELECT no FROM sessions WHERE id = ?1)"
    };
}

/// The SQLite store.
pub type SqliteStore = SqlStore<SqliteReader>;

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

impl SqlStore<SqliteReader> {
    /// Opens (or creates) the database, runs migrations and starts the writer thread, which hands
    /// every committed batch of events to `sink`.
    pub fn open(path: &Path, sink: CommitSink, failures: FailureSink) -> StoreResult<Self> {
        let mut write_conn = open_connection(path)?;
        migrate(&mut write_conn)?;
        let reader = SqliteReader(Mutex::new(open_connection(path)?));
        SqlStore::start(SqliteWriter(write_conn), reader, sink, failures)
    }
}

/// The writer's connection.
struct SqliteWriter(Connection);

impl Backend for SqliteWriter {
    fn transaction(
        &mut self,
        body: &mut dyn FnMut(&mut dyn Queries) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let tx = self.0.transaction()?;
        body(&mut Sqlite(&tx))?;
        tx.commit()?;
        Ok(())
    }
}

/// The readers' one connection (SQLite reads are fast and local: a pool would only add
/// connections that contend for the same file).
#[derive(Debug)]
pub struct SqliteReader(Mutex<Connection>);

impl Readers for SqliteReader {
    fn read<T>(&self, mut f: impl FnMut(&mut dyn Queries) -> StoreResult<T>) -> StoreResult<T> {
        let conn = self.0.lock().map_err(|_| anyhow!("reader lock poisoned"))?;
        f(&mut Sqlite(&conn))
    }
}

/// The statements on one connection (a transaction derefs to its connection).
struct Sqlite<'c>(&'c Connection);

fn row_to_session(row: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRecord> {
    let state: String = row.get(3)?;
    Ok(SessionRecord {
        id: row.get(0)?,
        owner: row.get(1)?,
        title: row.get(2)?,
        state: parse_state(&state),
        last_seq: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

const SESSION_COLUMNS: &str = "id, owner, title, state, last_seq, created_at, updated_at";

impl Queries for Sqlite<'_> {
    fn insert_session(&mut self, record: &SessionRecord) -> StoreResult<()> {
        self.0
            .prepare_cached(
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
        Ok(())
    }

    fn insert_event(&mut self, event: &StoredEvent) -> StoreResult<()> {
        self.0
            .prepare_cached(concat!(
                "INSERT INTO events (session_no, seq, type, payload, ts) VALUES (",
                session_no!(),
                ", ?2, ?3, ?4, ?5)"
            ))?
            .execute(params![
                &*event.session_id,
                event.seq,
                event.kind,
                &*event.text,
                event.ts
            ])?;
        Ok(())
    }

    fn set_state(&mut self, session_id: &str, state: SessionState) -> StoreResult<()> {
        self.0
            .prepare_cached("UPDATE sessions SET state = ?2 WHERE id = ?1")?
            .execute(params![session_id, state.as_str()])?;
        Ok(())
    }

    fn insert_client_msg(
        &mut self,
        owner: &str,
        client_msg_id: &str,
        session_id: &str,
        seq: u64,
    ) -> StoreResult<()> {
        self.0
            .prepare_cached(
                "INSERT OR IGNORE INTO client_messages (owner, client_msg_id, session_id, seq) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![owner, client_msg_id, session_id, seq])?;
        Ok(())
    }

    fn push_turn(
        &mut self,
        session_id: &str,
        message_id: &str,
        text: &str,
        ord: i64,
    ) -> StoreResult<()> {
        self.0
            .prepare_cached(
                "INSERT OR REPLACE INTO pending_turns (session_id, message_id, text, ord) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![session_id, message_id, text, ord])?;
        Ok(())
    }

    fn remove_turn(&mut self, session_id: &str, message_id: &str) -> StoreResult<()> {
        self.0
            .prepare_cached("DELETE FROM pending_turns WHERE session_id = ?1 AND message_id = ?2")?
            .execute(params![session_id, message_id])?;
        Ok(())
    }

    fn set_agent_session(&mut self, session_id: &str, agent_session: &str) -> StoreResult<()> {
        self.0
            .prepare_cached(
                "INSERT INTO agent_sessions (session_id, agent_session) VALUES (?1, ?2)
                 ON CONFLICT (session_id) DO UPDATE SET agent_session = excluded.agent_session",
            )?
            .execute(params![session_id, agent_session])?;
        Ok(())
    }

    fn touch_session(
        &mut self,
        session_id: &str,
        last_seq: u64,
        updated_at: u64,
    ) -> StoreResult<()> {
        self.0
            .prepare_cached("UPDATE sessions SET last_seq = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute(params![session_id, last_seq, updated_at])?;
        Ok(())
    }

    fn session(&mut self, id: &str) -> StoreResult<Option<SessionRecord>> {
        Ok(self
            .0
            .prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"
            ))?
            .query_row([id], row_to_session)
            .optional()?)
    }

    fn sessions_page(
        &mut self,
        owner: &str,
        before: Option<(u64, String)>,
        limit: usize,
    ) -> StoreResult<Vec<SessionRecord>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Without a cursor, start above every possible position.
        let (updated_at, id) = before.unwrap_or((i64::MAX as u64, String::new()));
        let unbounded = id.is_empty();
        let rows = self
            .0
            .prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE owner = ?1
                 AND (?4 OR updated_at < ?2 OR (updated_at = ?2 AND id < ?3))
                 ORDER BY updated_at DESC, id DESC LIMIT ?5"
            ))?
            .query_map(
                params![owner, updated_at, id, unbounded, limit],
                row_to_session,
            )?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn not_ended(&mut self, owner: Option<&str>) -> StoreResult<Vec<SessionRecord>> {
        let rows = self
            .0
            .prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE state != 'ENDED'
                 AND (?1 IS NULL OR owner = ?1)"
            ))?
            .query_map([owner], row_to_session)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn events_page(
        &mut self,
        session_id: &str,
        after: u64,
        through: u64,
        limit: usize,
    ) -> StoreResult<Vec<EventRow>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .0
            .prepare_cached(concat!(
                "SELECT seq, type, payload, ts FROM events WHERE session_no = ",
                session_no!(),
                " AND seq > ?2 AND seq <= ?3 ORDER BY seq LIMIT ?4"
            ))?
            .query_map(params![session_id, after, through, limit], |row| {
                Ok(EventRow {
                    seq: row.get(0)?,
                    kind: row.get(1)?,
                    payload: row.get(2)?,
                    ts: row.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn last_seq(&mut self, session_id: &str) -> StoreResult<u64> {
        let last: Option<u64> = self
            .0
            .prepare_cached(concat!(
                "SELECT MAX(seq) FROM events WHERE session_no = ",
                session_no!()
            ))?
            .query_row([session_id], |row| row.get(0))?;
        Ok(last.unwrap_or(0))
    }

    fn last_turn_event(&mut self, session_id: &str) -> StoreResult<Option<(String, String)>> {
        Ok(self
            .0
            .prepare_cached(concat!(
                "SELECT type, payload FROM events WHERE session_no = ",
                session_no!(),
                " AND type IN ('turn_start', 'turn_end') ORDER BY seq DESC LIMIT 1"
            ))?
            .query_row([session_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?)
    }

    fn permission_events(
        &mut self,
        session_id: &str,
        kind: Option<&str>,
    ) -> StoreResult<Vec<(String, String)>> {
        let rows = self
            .0
            .prepare_cached(concat!(
                "SELECT type, payload FROM events WHERE session_no = ",
                session_no!(),
                " AND type IN ('permission_request', 'permission_resolved')",
                " AND type = COALESCE(?2, type) ORDER BY seq"
            ))?
            .query_map(params![session_id, kind], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn pending_turns(&mut self, session_id: Option<&str>) -> StoreResult<Vec<PendingTurn>> {
        let row = |row: &rusqlite::Row<'_>| {
            Ok(PendingTurn {
                session_id: row.get(0)?,
                message_id: row.get(1)?,
                text: row.get(2)?,
            })
        };
        let rows = match session_id {
            Some(id) => self
                .0
                .prepare_cached(
                    "SELECT session_id, message_id, text FROM pending_turns WHERE session_id = ?1 ORDER BY ord",
                )?
                .query_map([id], row)?
                .collect::<rusqlite::Result<_>>()?,
            None => self
                .0
                .prepare_cached(
                    "SELECT session_id, message_id, text FROM pending_turns ORDER BY session_id, ord",
                )?
                .query_map([], row)?
                .collect::<rusqlite::Result<_>>()?,
        };
        Ok(rows)
    }

    fn client_msg(
        &mut self,
        owner: &str,
        client_msg_id: &str,
    ) -> StoreResult<Option<StoredMessage>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT session_id, seq FROM client_messages WHERE owner = ?1 AND client_msg_id = ?2",
            )?
            .query_row([owner, client_msg_id], |row| {
                Ok(StoredMessage {
                    session_id: row.get(0)?,
                    seq: row.get(1)?,
                })
            })
            .optional()?)
    }

    fn agent_session(&mut self, session_id: &str) -> StoreResult<Option<String>> {
        Ok(self
            .0
            .prepare_cached("SELECT agent_session FROM agent_sessions WHERE session_id = ?1")?
            .query_row([session_id], |row| row.get(0))
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use std::sync::Arc;

    /// The WAL frames (pages) that one transaction writes: the WAL is emptied first, and SQLite
    /// counts its frames after.
    fn pages_written(conn: &mut Connection, body: impl FnOnce(&mut Sqlite<'_>)) -> u64 {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        let tx = conn.transaction().unwrap();
        body(&mut Sqlite(&tx));
        tx.commit().unwrap();
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
            .unwrap()
    }

    fn event(session: usize, seq: u64) -> StoredEvent {
        StoredEvent {
            session_id: Arc::from(format!("01a237e8-4e2b-7502-86c7-{session:012}")),
            seq,
            kind: "block_delta",
            ts: 1_796_234_300_974 + seq,
            // The size of a streamed delta's frame.
            text: Arc::from(format!(
                "{{\"seq\":{seq},\"delta\":\"{}\"}}",
                "x".repeat(160)
            )),
        }
    }

    /// The write amplification migration 4 removed: a batch with one event of each of 30 busy
    /// sessions (each with a history of 66 events) writes a few pages of log and index, not a
    /// page of each session and the splits of its leaf. The schema before wrote 66 pages for
    /// this batch; this one writes 12.
    #[test]
    fn a_batch_from_many_sessions_writes_few_pages() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_connection(&dir.path().join("db")).unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        migrate(&mut conn).unwrap();
        const SESSIONS: usize = 30;
        pages_written(&mut conn, |queries| {
            for session in 0..SESSIONS {
                let id = event(session, 0).session_id.to_string();
                let record = SessionRecord {
                    id,
                    owner: "u".into(),
                    title: "t".into(),
                    state: SessionState::Active,
                    last_seq: 0,
                    created_at: 1,
                    updated_at: 1,
                };
                queries.insert_session(&record).unwrap();
            }
        });
        // Histories written as they are in a server: turns of 11 events, sessions interleaved.
        for turn in 0..6 {
            pages_written(&mut conn, |queries| {
                for session in 0..SESSIONS {
                    for seq in turn * 11 + 1..=turn * 11 + 11 {
                        queries.insert_event(&event(session, seq)).unwrap();
                    }
                }
            });
        }
        let pages = pages_written(&mut conn, |queries| {
            for session in 0..SESSIONS {
                let event = event(session, 67);
                queries.insert_event(&event).unwrap();
                queries
                    .touch_session(&event.session_id, event.seq, event.ts)
                    .unwrap();
            }
        });
        assert!(
            pages <= 16,
            "one batch of {SESSIONS} events wrote {pages} pages"
        );
    }

    /// A database left by a server before migration 4 (events keyed by session id and seq)
    /// opens with every session and event where it was, at the schema's newest version.
    #[test]
    fn migration_4_keeps_the_sessions_and_events_of_an_older_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..3] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 3).unwrap();
            for (id, created) in [("s-b", 1), ("s-a", 2)] {
                conn.execute(
                    "INSERT INTO sessions (id, owner, title, state, last_seq, created_at, updated_at)
                     VALUES (?1, 'u', ?1, 'ACTIVE', 2, ?2, ?2)",
                    params![id, created],
                )
                .unwrap();
                for seq in 1..=2 {
                    conn.execute(
                        "INSERT INTO events (session_id, seq, type, payload, ts) VALUES (?1, ?2, 'x', ?3, ?2)",
                        params![id, seq, format!("{id}:{seq}")],
                    )
                    .unwrap();
                }
            }
        }
        let store = SqliteStore::open(&path, Box::new(|_| {}), Box::new(|_| {})).unwrap();
        for id in ["s-a", "s-b"] {
            let texts: Vec<String> = store
                .events_page(id, 0, 100, 10)
                .unwrap()
                .iter()
                .map(|event| event.text.to_string())
                .collect();
            assert_eq!(texts, [format!("{id}:1"), format!("{id}:2")]);
            assert_eq!(store.last_seq(id).unwrap(), 2);
            assert_eq!(store.session(id).unwrap().unwrap().owner, "u");
        }
        let version: usize = Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
        store.close();
    }
}

//! The PostgreSQL store (`--db postgres://…`, PROTOCOL.md §9.2): the statements of [`Queries`]
//! in PostgreSQL's dialect, versioned migrations, one writer connection that group-commits (the
//! shared [`super::writer`], its rows sent a table at a time by [`batch`]), and a small bounded
//! pool of read connections.
//!
//! Driver: the `postgres` crate, the blocking face of `tokio-postgres` (same maintainers, the
//! most used PostgreSQL driver in Rust, no compile-time database as `sqlx`'s checked queries
//! need). The store's writer is a thread and its reads run on blocking threads, so a blocking
//! client fits without a second async runtime of our own.
//!
//! Invariants: a batch commits only if every user it wrote for is leased to this process
//! (crate::cluster). The database enforces what must hold whoever writes — `(session_id, seq)` and
//! `(owner, client_msg_id)` are primary keys, so a second writer of a seq or a second use of a
//! `clientMsgId` fails instead of forking a log or running a message twice. A connection that
//! broke (the database restarted, the network dropped) is replaced on the next use, so service
//! resumes by itself once the database is back.

mod batch;
mod target;

pub use target::Target;

use super::{
    queries::{parse_state, EventRow, Queries},
    sql::{Readers, SqlStore},
    writer::Backend,
    CommitSink, FailureSink, PendingTurn, SessionRecord, StoreResult, StoredEvent,
};
use anyhow::{anyhow, Context};
use postgres::{types::ToSql, Client, GenericClient, Row, Statement};
use sessionwire_core::{routing::StoredMessage, SessionState};
use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Condvar, Mutex},
    time::{Duration, Instant},
};

/// Schema migrations, applied in order in one transaction; `schema_version` records how many
/// ran. The shapes are SQLite's (sqlite.rs), with PostgreSQL's types.
const MIGRATIONS: &[&str] = &[
    // 1: sessions, their dense per-session event log, the clientMsgIds already used, the
    // durable turn queue and the ACP agent's id of each session.
    "CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        title TEXT NOT NULL,
        state TEXT NOT NULL,
        last_seq BIGINT NOT NULL DEFAULT 0,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE INDEX sessions_by_owner ON sessions (owner, updated_at);
    CREATE TABLE events (
        session_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        ts BIGINT NOT NULL,
        PRIMARY KEY (session_id, seq)
    );
    CREATE TABLE client_messages (
        owner TEXT NOT NULL,
        client_msg_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (owner, client_msg_id)
    );
    CREATE TABLE pending_turns (
        session_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        text TEXT NOT NULL,
        ord BIGINT NOT NULL,
        PRIMARY KEY (session_id, message_id)
    );
    CREATE TABLE agent_sessions (
        session_id TEXT PRIMARY KEY,
        agent_session TEXT NOT NULL
    );",
    // 2: the processes sharing the database and which process serves each user's sessions
    // (crate::cluster). A process is alive while its heartbeat is fresh and it holds its
    // advisory lock (key 0x5357 << 48 + id, on its heartbeat's connection): a process that
    // was killed lets go of the lock at once. Right after the database itself restarted, when
    // no lock is held until each process has connected again, the heartbeat alone counts for
    // half the timeout.
    "CREATE TABLE processes (
        id BIGSERIAL UNIQUE,
        epoch TEXT PRIMARY KEY,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE user_leases (
        owner TEXT PRIMARY KEY,
        epoch TEXT NOT NULL
    );
    CREATE INDEX sessions_waiting ON sessions (owner) WHERE state <> 'ENDED';
    CREATE FUNCTION sessionwire_alive(timeout_secs float8) RETURNS SETOF text
    LANGUAGE sql STABLE AS $$
        SELECT p.epoch FROM processes p
        WHERE p.heartbeat_at > now() - make_interval(secs => timeout_secs)
        AND (now() - pg_postmaster_start_time() < make_interval(secs => timeout_secs / 2)
            OR EXISTS (
                SELECT 1 FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND ((l.classid::bigint << 32) | l.objid::bigint) = (21335::bigint << 48) + p.id))
    $$;",
];

/// Serializes migrations of processes that start at once (`pg_advisory_xact_lock`'s key).
const MIGRATION_LOCK: i64 = 0x5357_4d49_4752; // "SWMIGR"

/// At most this many read connections are open per process.
const MAX_READERS: usize = 8;

/// A read waits at most this long for a free connection before it fails.
const READER_WAIT: Duration = Duration::from_secs(10);

/// The PostgreSQL store.
pub type PostgresStore = SqlStore<PostgresReaders>;

impl Target {
    /// A new connection with no statement prepared yet.
    fn open(&self) -> StoreResult<Connection> {
        let client = self
            .connect()
            .with_context(|| format!("connecting to {}", self.shown()))?;
        Ok(Connection {
            client,
            statements: HashMap::new(),
        })
    }
}

/// One connection and the statements prepared on it.
struct Connection {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl SqlStore<PostgresReaders> {
    /// Connects to `url` (`shown` is how to name it in errors, without a password), runs the
    /// migrations and starts the writer, which hands every committed batch of events to `sink`.
    /// Blocking: call it off the async workers.
    pub fn open(
        target: &Target,
        epoch: Arc<str>,
        sink: CommitSink,
        failures: FailureSink,
    ) -> StoreResult<Self> {
        let target = target.clone();
        let mut writer = target.open()?;
        migrate(&mut writer.client).with_context(|| format!("migrating {}", target.shown()))?;
        let readers = PostgresReaders {
            target: target.clone(),
            pool: Mutex::new(Pool::default()),
            freed: Condvar::new(),
        };
        let backend = PostgresWriter {
            target,
            epoch,
            connection: Some(writer),
        };
        SqlStore::start(backend, readers, sink, failures)
    }
}

fn migrate(client: &mut Client) -> StoreResult<()> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let version: i32 = match tx.query_opt("SELECT version FROM schema_version", &[])? {
        Some(row) => row.get(0),
        None => {
            tx.execute("INSERT INTO schema_version (version) VALUES (0)", &[])?;
            0
        }
    };
    let applied = usize::try_from(version).unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        return Err(anyhow!(
            "database schema version {version} is newer than this server"
        ));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.batch_execute(sql)
            .with_context(|| format!("migration {}", index + 1))?;
    }
    let now = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    tx.execute("UPDATE schema_version SET version = $1", &[&now])?;
    tx.commit()?;
    Ok(())
}

/// The writer's connection, opened again after it broke.
struct PostgresWriter {
    target: Target,
    /// This process's, under which it holds its users' leases.
    epoch: Arc<str>,
    connection: Option<Connection>,
}

impl Backend for PostgresWriter {
    fn transaction(
        &mut self,
        body: &mut dyn FnMut(&mut dyn Queries) -> StoreResult<()>,
    ) -> StoreResult<()> {
        // A connection that broke while idle is found out by `BEGIN`, before anything of the
        // batch ran: then the batch runs on a new connection instead of failing.
        let mut retried = false;
        loop {
            if self
                .connection
                .as_ref()
                .is_none_or(|connection| connection.client.is_closed())
            {
                self.connection = None;
                self.connection = Some(self.target.open()?);
            }
            let Some(connection) = self.connection.as_mut() else {
                return Err(anyhow!("no connection to {}", self.target.shown()));
            };
            // BEGIN and COMMIT by hand (not `Client::transaction`), so that a failed BEGIN
            // leaves the connection free to be replaced.
            match connection.client.batch_execute("BEGIN") {
                Ok(()) => {}
                Err(error) if !retried => {
                    tracing::warn!(%error, "the store's connection broke; connecting again");
                    retried = true;
                    self.connection = None;
                    continue;
                }
                Err(error) => return Err(error.into()),
            }
            let mut batched = batch::Batched::new(Postgres {
                client: &mut connection.client,
                statements: &mut connection.statements,
            });
            let applied = body(&mut batched).and_then(|()| batched.flush());
            let sessions = batched.sessions();
            let applied = applied.and_then(|()| {
                if !batched.inner.leases_held(&sessions, &self.epoch)? {
                    // Another process serves some of these users now (this one was paused or
                    // cut off past its lease timeout): nothing of it may be written, and this
                    // process's picture of those users is stale. It exits; its clients
                    // reconnect to whoever serves them.
                    let _ = batched.inner.client.batch_execute("ROLLBACK");
                    tracing::error!("this process lost users it was writing for; exiting");
                    std::process::exit(75);
                }
                Ok(batched.inner.client.batch_execute("COMMIT")?)
            });
            if let Err(error) = applied {
                let _ = connection.client.batch_execute("ROLLBACK");
                return Err(error);
            }
            return Ok(());
        }
    }
}

/// The read connections: idle ones, and how many are open in all (at most [`MAX_READERS`]).
#[derive(Default)]
struct Pool {
    idle: Vec<Connection>,
    open: usize,
}

/// A bounded pool of read connections. A read takes an idle connection, or opens one while
/// fewer than [`MAX_READERS`] are open, or waits (at most [`READER_WAIT`]) for one to be put
/// back. A connection that broke is dropped, not put back.
pub struct PostgresReaders {
    target: Target,
    pool: Mutex<Pool>,
    freed: Condvar,
}

impl fmt::Debug for PostgresReaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresReaders")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl PostgresReaders {
    fn take(&self) -> StoreResult<Connection> {
        let deadline = Instant::now() + READER_WAIT;
        let mut pool = self
            .pool
            .lock()
            .map_err(|_| anyhow!("reader pool poisoned"))?;
        loop {
            if let Some(connection) = pool.idle.pop() {
                return Ok(connection);
            }
            if pool.open < MAX_READERS {
                pool.open += 1;
                drop(pool);
                // Connecting happens without the pool's lock: other reads go on meanwhile.
                return self.target.open().inspect_err(|_| self.release(None));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(anyhow!(
                    "no database connection became free within {} s",
                    READER_WAIT.as_secs()
                ));
            }
            pool = self
                .freed
                .wait_timeout(pool, left)
                .map_err(|_| anyhow!("reader pool poisoned"))?
                .0;
        }
    }

    /// Puts a connection back, or (`None`, or a broken one) gives up its place. A broken one
    /// means the database went away, and the idle connections with it: they are dropped too,
    /// so that the reads after an outage do not find them broken one at a time.
    fn release(&self, connection: Option<Connection>) {
        if let Ok(mut pool) = self.pool.lock() {
            match connection {
                Some(connection) if !connection.client.is_closed() => pool.idle.push(connection),
                Some(_) => {
                    let dropped = 1 + pool.idle.len();
                    pool.idle.clear();
                    pool.open = pool.open.saturating_sub(dropped);
                }
                None => pool.open = pool.open.saturating_sub(1),
            }
        }
        self.freed.notify_all();
    }
}

/// Closing a connection blocks (it says goodbye to the server), and the store may be dropped on
/// an async worker, where blocking is refused: the idle connections are closed on a thread.
impl Drop for PostgresReaders {
    fn drop(&mut self) {
        let idle = match self.pool.get_mut() {
            Ok(pool) => std::mem::take(&mut pool.idle),
            Err(poisoned) => std::mem::take(&mut poisoned.into_inner().idle),
        };
        if !idle.is_empty() {
            let _ = std::thread::Builder::new()
                .name("sessionwire-pg-close".into())
                .spawn(move || drop(idle));
        }
    }
}

impl Readers for PostgresReaders {
    fn read<T>(&self, mut f: impl FnMut(&mut dyn Queries) -> StoreResult<T>) -> StoreResult<T> {
        let mut retried = false;
        loop {
            let mut connection = self.take()?;
            let result = f(&mut Postgres {
                client: &mut connection.client,
                statements: &mut connection.statements,
            });
            // An idle connection finds out only when used that the database went away (and
            // maybe came back): such a failure is the connection's, not the read's.
            let broken = connection.client.is_closed();
            self.release(Some(connection));
            match result {
                Err(_) if broken && !retried => retried = true,
                result => return result,
            }
        }
    }
}

/// The statements on one connection or transaction, each prepared once per connection.
struct Postgres<'c, C> {
    client: &'c mut C,
    statements: &'c mut HashMap<&'static str, Statement>,
}

/// PostgreSQL has no unsigned integers: seqs, times and limits are stored as BIGINT.
fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn uint(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A row of `SELECT id, owner, title, state, last_seq, created_at, updated_at` (the columns
/// are spelled out in each statement: the statement cache is keyed by `&'static str`).
fn row_to_session(row: &Row) -> SessionRecord {
    let state: String = row.get(3);
    SessionRecord {
        id: row.get(0),
        owner: row.get(1),
        title: row.get(2),
        state: parse_state(&state),
        last_seq: uint(row.get(4)),
        created_at: uint(row.get(5)),
        updated_at: uint(row.get(6)),
    }
}

impl<C: GenericClient> Postgres<'_, C> {
    fn statement(&mut self, sql: &'static str) -> StoreResult<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    fn execute(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<()> {
        let statement = self.statement(sql)?;
        self.client.execute(&statement, params)?;
        Ok(())
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        let statement = self.statement(sql)?;
        Ok(self.client.query(&statement, params)?)
    }

    fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Option<Row>> {
        let statement = self.statement(sql)?;
        Ok(self.client.query_opt(&statement, params)?)
    }
}

impl<C: GenericClient> Postgres<'_, C> {
    /// Whether every user whose sessions a batch wrote is leased to this process
    /// (crate::cluster), with their lease rows locked until the commit, so no other process
    /// takes one over meanwhile. (Prepared once per connection: it runs with every commit.)
    fn leases_held(&mut self, sessions: &[String], epoch: &str) -> StoreResult<bool> {
        if sessions.is_empty() {
            return Ok(true);
        }
        let owners: Vec<String> = self
            .query(
                "SELECT DISTINCT owner FROM sessions WHERE id = ANY($1)",
                &[&sessions],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let leased = self
            .query(
                "SELECT owner FROM user_leases WHERE owner = ANY($1) AND epoch = $2 FOR SHARE",
                &[&owners, &epoch],
            )?
            .len();
        Ok(leased == owners.len())
    }
}

impl<C: GenericClient> Queries for Postgres<'_, C> {
    fn insert_session(&mut self, record: &SessionRecord) -> StoreResult<()> {
        self.execute(
            "INSERT INTO sessions (id, owner, title, state, last_seq, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &record.id,
                &record.owner,
                &record.title,
                &record.state.as_str(),
                &int(record.last_seq),
                &int(record.created_at),
                &int(record.updated_at),
            ],
        )
    }

    fn insert_event(&mut self, event: &StoredEvent) -> StoreResult<()> {
        self.execute(
            "INSERT INTO events (session_id, seq, type, payload, ts) VALUES ($1, $2, $3, $4, $5)",
            &[
                &&*event.session_id,
                &int(event.seq),
                &event.kind,
                &&*event.text,
                &int(event.ts),
            ],
        )
    }

    fn set_state(&mut self, session_id: &str, state: SessionState) -> StoreResult<()> {
        self.execute(
            "UPDATE sessions SET state = $2 WHERE id = $1",
            &[&session_id, &state.as_str()],
        )
    }

    fn insert_client_msg(
        &mut self,
        owner: &str,
        client_msg_id: &str,
        session_id: &str,
        seq: u64,
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO client_messages (owner, client_msg_id, session_id, seq) VALUES ($1, $2, $3, $4)
             ON CONFLICT (owner, client_msg_id) DO NOTHING",
            &[&owner, &client_msg_id, &session_id, &int(seq)],
        )
    }

    fn push_turn(
        &mut self,
        session_id: &str,
        message_id: &str,
        text: &str,
        ord: i64,
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO pending_turns (session_id, message_id, text, ord) VALUES ($1, $2, $3, $4)
             ON CONFLICT (session_id, message_id) DO UPDATE SET text = excluded.text, ord = excluded.ord",
            &[&session_id, &message_id, &text, &ord],
        )
    }

    fn remove_turn(&mut self, session_id: &str, message_id: &str) -> StoreResult<()> {
        self.execute(
            "DELETE FROM pending_turns WHERE session_id = $1 AND message_id = $2",
            &[&session_id, &message_id],
        )
    }

    fn set_agent_session(&mut self, session_id: &str, agent_session: &str) -> StoreResult<()> {
        self.execute(
            "INSERT INTO agent_sessions (session_id, agent_session) VALUES ($1, $2)
             ON CONFLICT (session_id) DO UPDATE SET agent_session = excluded.agent_session",
            &[&session_id, &agent_session],
        )
    }

    fn touch_session(
        &mut self,
        session_id: &str,
        last_seq: u64,
        updated_at: u64,
    ) -> StoreResult<()> {
        self.execute(
            "UPDATE sessions SET last_seq = $2, updated_at = $3 WHERE id = $1",
            &[&session_id, &int(last_seq), &int(updated_at)],
        )
    }

    fn session(&mut self, id: &str) -> StoreResult<Option<SessionRecord>> {
        let row = self.query_opt(
            "SELECT id, owner, title, state, last_seq, created_at, updated_at FROM sessions WHERE id = $1",
            &[&id],
        )?;
        Ok(row.as_ref().map(row_to_session))
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
        let rows = self.query(
            "SELECT id, owner, title, state, last_seq, created_at, updated_at FROM sessions
             WHERE owner = $1 AND ($4 OR updated_at < $2 OR (updated_at = $2 AND id < $3))
             ORDER BY updated_at DESC, id DESC LIMIT $5",
            &[&owner, &int(updated_at), &id, &unbounded, &limit],
        )?;
        Ok(rows.iter().map(row_to_session).collect())
    }

    fn not_ended(&mut self, owner: Option<&str>) -> StoreResult<Vec<SessionRecord>> {
        let rows = self.query(
            "SELECT id, owner, title, state, last_seq, created_at, updated_at FROM sessions
             WHERE state != 'ENDED' AND ($1::text IS NULL OR owner = $1)",
            &[&owner],
        )?;
        Ok(rows.iter().map(row_to_session).collect())
    }

    fn events_page(
        &mut self,
        session_id: &str,
        after: u64,
        through: u64,
        limit: usize,
    ) -> StoreResult<Vec<EventRow>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.query(
            "SELECT seq, type, payload, ts FROM events WHERE session_id = $1 AND seq > $2 AND seq <= $3
             ORDER BY seq LIMIT $4",
            &[&session_id, &int(after), &int(through), &limit],
        )?;
        Ok(rows
            .iter()
            .map(|row| EventRow {
                seq: uint(row.get(0)),
                kind: row.get(1),
                payload: row.get(2),
                ts: uint(row.get(3)),
            })
            .collect())
    }

    fn last_seq(&mut self, session_id: &str) -> StoreResult<u64> {
        let row = self.query_opt(
            "SELECT MAX(seq) FROM events WHERE session_id = $1",
            &[&session_id],
        )?;
        let last: Option<i64> = row.and_then(|row| row.get(0));
        Ok(last.map(uint).unwrap_or(0))
    }

    fn last_turn_event(&mut self, session_id: &str) -> StoreResult<Option<(String, String)>> {
        let row = self.query_opt(
            "SELECT type, payload FROM events WHERE session_id = $1 AND type IN ('turn_start', 'turn_end')
             ORDER BY seq DESC LIMIT 1",
            &[&session_id],
        )?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }

    fn permission_events(
        &mut self,
        session_id: &str,
        kind: Option<&str>,
    ) -> StoreResult<Vec<(String, String)>> {
        let rows = self.query(
            "SELECT type, payload FROM events WHERE session_id = $1
             AND type IN ('permission_request', 'permission_resolved') AND type = COALESCE($2, type)
             ORDER BY seq",
            &[&session_id, &kind],
        )?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn pending_turns(&mut self, session_id: Option<&str>) -> StoreResult<Vec<PendingTurn>> {
        let rows = match session_id {
            Some(id) => self.query(
                "SELECT session_id, message_id, text FROM pending_turns WHERE session_id = $1 ORDER BY ord",
                &[&id],
            )?,
            None => self.query(
                "SELECT session_id, message_id, text FROM pending_turns ORDER BY session_id, ord",
                &[],
            )?,
        };
        Ok(rows
            .iter()
            .map(|row| PendingTurn {
                session_id: row.get(0),
                message_id: row.get(1),
                text: row.get(2),
            })
            .collect())
    }

    fn client_msg(
        &mut self,
        owner: &str,
        client_msg_id: &str,
    ) -> StoreResult<Option<StoredMessage>> {
        let row = self.query_opt(
            "SELECT session_id, seq FROM client_messages WHERE owner = $1 AND client_msg_id = $2",
            &[&owner, &client_msg_id],
        )?;
        Ok(row.map(|row| StoredMessage {
            session_id: row.get(0),
            seq: uint(row.get(1)),
        }))
    }

    fn agent_session(&mut self, session_id: &str) -> StoreResult<Option<String>> {
        let row = self.query_opt(
            "SELECT agent_session FROM agent_sessions WHERE session_id = $1",
            &[&session_id],
        )?;
        Ok(row.map(|row| row.get(0)))
    }
}

//! The writer's statements, batched: a group commit's rows go to PostgreSQL as a handful of
//! `unnest` statements (one per table and kind of change) instead of one round trip per row.
//!
//! Why: every statement is a network round trip, and the writer waits for each. Measured with
//! one statement per row, the PostgreSQL store did ~5,600 events/s where SQLite does ~60,000
//! (docs/benchmarks.md).
//!
//! Invariant: what the database holds after [`Batched::flush`] is what the same writes applied
//! one by one, in order, would leave. Each buffer keeps what the order decides — the first use
//! of a `clientMsgId` wins, the last state, queue change and agent id of a key win — and every
//! read flushes first, so a read inside the batch sees the batch's writes.

use super::{int, Postgres};
use crate::store::{
    queries::{EventRow, Queries},
    PendingTurn, SessionRecord, StoreResult, StoredEvent,
};
use postgres::GenericClient;
use sessionwire_core::{routing::StoredMessage, SessionState};
use std::{collections::HashMap, sync::Arc};

/// The writes of a batch not yet sent, by table.
#[derive(Default)]
pub(super) struct Buffers {
    sessions: Vec<SessionRecord>,
    events: Vec<StoredEvent>,
    states: HashMap<String, SessionState>,
    touched: HashMap<String, (u64, u64)>,
    /// `(owner, clientMsgId)` → (session, seq): the first use wins.
    client_msgs: HashMap<(String, String), (String, u64)>,
    /// `(session, message)` → its queued turn's text and order, or `None` if removed.
    turns: HashMap<(String, String), Option<(String, i64)>>,
    agent_sessions: HashMap<String, String>,
}

/// The writer's [`Queries`] inside one transaction: writes are buffered, reads flush them first.
pub(super) struct Batched<'c, C> {
    pub(super) inner: Postgres<'c, C>,
    pub(super) buffers: Buffers,
    /// Every session written to (its owner's lease is checked before the commit).
    pub(super) sessions: std::collections::HashSet<String>,
}

impl<'c, C: GenericClient> Batched<'c, C> {
    /// A batch with nothing buffered yet, over `inner`'s transaction.
    pub(super) fn new(inner: Postgres<'c, C>) -> Self {
        Self {
            inner,
            buffers: Buffers::default(),
            sessions: std::collections::HashSet::new(),
        }
    }

    /// The sessions the batch wrote to.
    pub(super) fn sessions(&self) -> Vec<String> {
        Vec::from_iter(self.sessions.iter().cloned())
    }

    fn wrote(&mut self, session_id: &str) {
        if !self.sessions.contains(session_id) {
            self.sessions.insert(session_id.to_owned());
        }
    }

    /// Sends every buffered write (a no-op when there are none).
    pub(super) fn flush(&mut self) -> StoreResult<()> {
        let buffers = std::mem::take(&mut self.buffers);
        let db = &mut self.inner;
        if !buffers.sessions.is_empty() {
            let rows = &buffers.sessions;
            let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
            let owners: Vec<&str> = rows.iter().map(|r| r.owner.as_str()).collect();
            let titles: Vec<&str> = rows.iter().map(|r| r.title.as_str()).collect();
            let states: Vec<&str> = rows.iter().map(|r| r.state.as_str()).collect();
            let last: Vec<i64> = rows.iter().map(|r| int(r.last_seq)).collect();
            let created: Vec<i64> = rows.iter().map(|r| int(r.created_at)).collect();
            let updated: Vec<i64> = rows.iter().map(|r| int(r.updated_at)).collect();
            db.execute(
                "INSERT INTO sessions (id, owner, title, state, last_seq, created_at, updated_at)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[])",
                &[&ids, &owners, &titles, &states, &last, &created, &updated],
            )?;
        }
        if !buffers.events.is_empty() {
            let rows = &buffers.events;
            let sessions: Vec<&str> = rows.iter().map(|e| &*e.session_id).collect();
            let seqs: Vec<i64> = rows.iter().map(|e| int(e.seq)).collect();
            let kinds: Vec<&str> = rows.iter().map(|e| e.kind).collect();
            let payloads: Vec<&str> = rows.iter().map(|e| &*e.text).collect();
            let ts: Vec<i64> = rows.iter().map(|e| int(e.ts)).collect();
            db.execute(
                "INSERT INTO events (session_id, seq, type, payload, ts)
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[])",
                &[&sessions, &seqs, &kinds, &payloads, &ts],
            )?;
        }
        if !buffers.states.is_empty() {
            let (ids, states): (Vec<&str>, Vec<&str>) = buffers
                .states
                .iter()
                .map(|(id, state)| (id.as_str(), state.as_str()))
                .unzip();
            db.execute(
                "UPDATE sessions SET state = v.state
                 FROM unnest($1::text[], $2::text[]) AS v(id, state) WHERE sessions.id = v.id",
                &[&ids, &states],
            )?;
        }
        if !buffers.touched.is_empty() {
            let mut ids = Vec::new();
            let mut seqs = Vec::new();
            let mut times = Vec::new();
            for (id, (seq, at)) in &buffers.touched {
                ids.push(id.as_str());
                seqs.push(int(*seq));
                times.push(int(*at));
            }
            db.execute(
                "UPDATE sessions SET last_seq = v.last_seq, updated_at = v.updated_at
                 FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(id, last_seq, updated_at)
                 WHERE sessions.id = v.id",
                &[&ids, &seqs, &times],
            )?;
        }
        if !buffers.client_msgs.is_empty() {
            let mut owners = Vec::new();
            let mut ids = Vec::new();
            let mut sessions = Vec::new();
            let mut seqs = Vec::new();
            for ((owner, id), (session, seq)) in &buffers.client_msgs {
                owners.push(owner.as_str());
                ids.push(id.as_str());
                sessions.push(session.as_str());
                seqs.push(int(*seq));
            }
            db.execute(
                "INSERT INTO client_messages (owner, client_msg_id, session_id, seq)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
                 ON CONFLICT (owner, client_msg_id) DO NOTHING",
                &[&owners, &ids, &sessions, &seqs],
            )?;
        }
        if !buffers.turns.is_empty() {
            let (mut gone_sessions, mut gone_messages) = (Vec::new(), Vec::new());
            let (mut sessions, mut messages, mut texts, mut ords) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for ((session, message), turn) in &buffers.turns {
                match turn {
                    None => {
                        gone_sessions.push(session.as_str());
                        gone_messages.push(message.as_str());
                    }
                    Some((text, ord)) => {
                        sessions.push(session.as_str());
                        messages.push(message.as_str());
                        texts.push(text.as_str());
                        ords.push(*ord);
                    }
                }
            }
            if !gone_sessions.is_empty() {
                db.execute(
                    "DELETE FROM pending_turns USING unnest($1::text[], $2::text[]) AS v(session_id, message_id)
                     WHERE pending_turns.session_id = v.session_id AND pending_turns.message_id = v.message_id",
                    &[&gone_sessions, &gone_messages],
                )?;
            }
            if !sessions.is_empty() {
                db.execute(
                    "INSERT INTO pending_turns (session_id, message_id, text, ord)
                     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
                     ON CONFLICT (session_id, message_id) DO UPDATE SET text = excluded.text, ord = excluded.ord",
                    &[&sessions, &messages, &texts, &ords],
                )?;
            }
        }
        if !buffers.agent_sessions.is_empty() {
            let (ids, agents): (Vec<&str>, Vec<&str>) = buffers
                .agent_sessions
                .iter()
                .map(|(id, agent)| (id.as_str(), agent.as_str()))
                .unzip();
            db.execute(
                "INSERT INTO agent_sessions (session_id, agent_session)
                 SELECT * FROM unnest($1::text[], $2::text[])
                 ON CONFLICT (session_id) DO UPDATE SET agent_session = excluded.agent_session",
                &[&ids, &agents],
            )?;
        }
        Ok(())
    }
}

impl<C: GenericClient> Queries for Batched<'_, C> {
    fn insert_session(&mut self, record: &SessionRecord) -> StoreResult<()> {
        self.wrote(&record.id);
        self.buffers.sessions.push(record.clone());
        Ok(())
    }

    fn insert_event(&mut self, event: &StoredEvent) -> StoreResult<()> {
        self.wrote(&event.session_id);
        self.buffers.events.push(StoredEvent {
            session_id: Arc::clone(&event.session_id),
            seq: event.seq,
            kind: event.kind,
            ts: event.ts,
            text: Arc::clone(&event.text),
        });
        Ok(())
    }

    fn set_state(&mut self, session_id: &str, state: SessionState) -> StoreResult<()> {
        self.wrote(session_id);
        self.buffers.states.insert(session_id.to_owned(), state);
        Ok(())
    }

    fn insert_client_msg(
        &mut self,
        owner: &str,
        client_msg_id: &str,
        session_id: &str,
        seq: u64,
    ) -> StoreResult<()> {
        self.wrote(session_id);
        self.buffers
            .client_msgs
            .entry((owner.to_owned(), client_msg_id.to_owned()))
            .or_insert_with(|| (session_id.to_owned(), seq));
        Ok(())
    }

    fn push_turn(
        &mut self,
        session_id: &str,
        message_id: &str,
        text: &str,
        ord: i64,
    ) -> StoreResult<()> {
        self.wrote(session_id);
        self.buffers.turns.insert(
            (session_id.to_owned(), message_id.to_owned()),
            Some((text.to_owned(), ord)),
        );
        Ok(())
    }

    fn remove_turn(&mut self, session_id: &str, message_id: &str) -> StoreResult<()> {
        self.wrote(session_id);
        self.buffers
            .turns
            .insert((session_id.to_owned(), message_id.to_owned()), None);
        Ok(())
    }

    fn set_agent_session(&mut self, session_id: &str, agent_session: &str) -> StoreResult<()> {
        self.wrote(session_id);
        self.buffers
            .agent_sessions
            .insert(session_id.to_owned(), agent_session.to_owned());
        Ok(())
    }

    fn touch_session(
        &mut self,
        session_id: &str,
        last_seq: u64,
        updated_at: u64,
    ) -> StoreResult<()> {
        self.wrote(session_id);
        self.buffers
            .touched
            .insert(session_id.to_owned(), (last_seq, updated_at));
        Ok(())
    }

    fn session(&mut self, id: &str) -> StoreResult<Option<SessionRecord>> {
        self.flush()?;
        self.inner.session(id)
    }

    fn sessions_page(
        &mut self,
        owner: &str,
        before: Option<(u64, String)>,
        limit: usize,
    ) -> StoreResult<Vec<SessionRecord>> {
        self.flush()?;
        self.inner.sessions_page(owner, before, limit)
    }

    fn not_ended(&mut self, owner: Option<&str>) -> StoreResult<Vec<SessionRecord>> {
        self.flush()?;
        self.inner.not_ended(owner)
    }

    fn events_page(
        &mut self,
        session_id: &str,
        after: u64,
        through: u64,
        limit: usize,
    ) -> StoreResult<Vec<EventRow>> {
        self.flush()?;
        self.inner.events_page(session_id, after, through, limit)
    }

    fn last_seq(&mut self, session_id: &str) -> StoreResult<u64> {
        self.flush()?;
        self.inner.last_seq(session_id)
    }

    fn last_turn_event(&mut self, session_id: &str) -> StoreResult<Option<(String, String)>> {
        self.flush()?;
        self.inner.last_turn_event(session_id)
    }

    fn permission_events(
        &mut self,
        session_id: &str,
        kind: Option<&str>,
    ) -> StoreResult<Vec<(String, String)>> {
        self.flush()?;
        self.inner.permission_events(session_id, kind)
    }

    fn pending_turns(&mut self, session_id: Option<&str>) -> StoreResult<Vec<PendingTurn>> {
        self.flush()?;
        self.inner.pending_turns(session_id)
    }

    fn client_msg(
        &mut self,
        owner: &str,
        client_msg_id: &str,
    ) -> StoreResult<Option<StoredMessage>> {
        self.flush()?;
        self.inner.client_msg(owner, client_msg_id)
    }

    fn agent_session(&mut self, session_id: &str) -> StoreResult<Option<String>> {
        self.flush()?;
        self.inner.agent_session(session_id)
    }
}

#[cfg(test)]
mod tests {
    //! The batch's invariant, checked on a real database: a random sequence of writes (and
    //! reads between them) leaves the same tables batched as applied row by row. Runs in the
    //! PostgreSQL pass (`SESSIONWIRE_TEST_POSTGRES`, scripts/test-postgres.sh).
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::store::postgres::migrate;
    use postgres::{Client, NoTls};

    fn database(cluster: &str, name: &str) -> Client {
        let mut admin = Client::connect(&format!("{cluster}/postgres"), NoTls).unwrap();
        // Two statements: neither may run inside a transaction, which one batch would be.
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let mut client = Client::connect(&format!("{cluster}/{name}"), NoTls).unwrap();
        migrate(&mut client).unwrap();
        client
    }

    /// Every row of every table, in a fixed order.
    fn dump(client: &mut Client) -> Vec<String> {
        let mut rows = Vec::new();
        for table in [
            "sessions",
            "events",
            "client_messages",
            "pending_turns",
            "agent_sessions",
        ] {
            let sql = format!("SELECT t::text FROM {table} t ORDER BY t::text");
            for row in client.query(sql.as_str(), &[]).unwrap() {
                rows.push(format!("{table} {}", row.get::<_, String>(0)));
            }
        }
        rows
    }

    /// A small deterministic generator (the test must fail the same way twice).
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    /// Applies `count` random writes (with a read now and then) through `queries`.
    fn apply(queries: &mut dyn Queries, seed: u64, count: usize) {
        let mut rng = Lcg(seed);
        let sessions = ["s0", "s1", "s2"];
        for (index, id) in sessions.iter().enumerate() {
            let record = SessionRecord {
                id: (*id).to_owned(),
                owner: "alice".to_owned(),
                title: format!("t{index}"),
                state: SessionState::Created,
                last_seq: 0,
                created_at: 1,
                updated_at: 1,
            };
            queries.insert_session(&record).unwrap();
        }
        let mut seqs = [0u64; 3];
        let states = [
            SessionState::Active,
            SessionState::Suspended,
            SessionState::Detached,
            SessionState::Ended,
        ];
        for step in 0..count {
            let which = usize::try_from(rng.below(3)).unwrap();
            let session = sessions[which];
            let key = format!("m{}", rng.below(4));
            match rng.below(9) {
                0 | 1 => {
                    seqs[which] += 1;
                    let event = StoredEvent {
                        session_id: Arc::from(session),
                        seq: seqs[which],
                        kind: "block_delta",
                        ts: step as u64,
                        text: Arc::from(format!("{{\"n\":{step}}}")),
                    };
                    queries.insert_event(&event).unwrap();
                }
                2 => queries
                    .set_state(session, states[usize::try_from(rng.below(4)).unwrap()])
                    .unwrap(),
                3 => queries
                    .insert_client_msg("alice", &key, session, step as u64)
                    .unwrap(),
                4 => {
                    let ord = i64::try_from(step).unwrap() * if rng.below(2) == 0 { 1 } else { -1 };
                    queries
                        .push_turn(session, &key, &format!("text {step}"), ord)
                        .unwrap();
                }
                5 => queries.remove_turn(session, &key).unwrap(),
                6 => queries
                    .set_agent_session(session, &format!("agent {step}"))
                    .unwrap(),
                7 => queries
                    .touch_session(session, seqs[which], step as u64)
                    .unwrap(),
                _ => {
                    // A read inside the batch sees the batch's writes.
                    assert_eq!(queries.last_seq(session).unwrap(), seqs[which]);
                }
            }
        }
    }

    #[test]
    fn batched_writes_leave_what_row_by_row_writes_leave() {
        let Ok(cluster) = std::env::var("SESSIONWIRE_TEST_POSTGRES") else {
            eprintln!("a PostgreSQL test: it runs in the PostgreSQL pass");
            return;
        };
        let mut plain = database(&cluster, "sw_batch_plain");
        let mut batched = database(&cluster, "sw_batch_batched");
        for seed in 0..20 {
            for client in [&mut plain, &mut batched] {
                client
                    .batch_execute(
                        "TRUNCATE sessions, events, client_messages, pending_turns, agent_sessions",
                    )
                    .unwrap();
            }
            let mut statements = HashMap::new();
            let mut tx = plain.transaction().unwrap();
            apply(
                &mut Postgres {
                    client: &mut tx,
                    statements: &mut statements,
                },
                seed,
                300,
            );
            tx.commit().unwrap();
            let mut statements = HashMap::new();
            let mut tx = batched.transaction().unwrap();
            let mut queries = Batched::new(Postgres {
                client: &mut tx,
                statements: &mut statements,
            });
            apply(&mut queries, seed, 300);
            queries.flush().unwrap();
            tx.commit().unwrap();
            let (expected, got) = (dump(&mut plain), dump(&mut batched));
            assert!(expected.len() > 20, "seed {seed}: {expected:?}");
            assert_eq!(expected, got, "seed {seed}");
        }
    }
}

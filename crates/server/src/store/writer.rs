//! The store's writer: one thread that group-commits whatever was submitted while the previous
//! batch was being written, for either database.
//!
//! Why one thread: a database commit costs a sync to disk, and a thread that drains a channel
//! turns N concurrent small writes (a burst of `block_delta`s from many sessions) into one
//! transaction and one sync. It also gives each event its seq as it writes it (the session's
//! last stored seq + 1), so a batch that fails is rolled back with its seqs and leaves no hole.
//!
//! Invariants: a batch is shown to no one until it is committed (the [`CommitSink`] runs after
//! the commit); a failed batch fences its sessions, whose writes are then refused until a
//! [`Write::Repair`] of theirs commits.

use super::{
    queries::{self, Queries},
    Append, CommitSink, Done, FailureSink, QueueOp, Repaired, StoreResult, StoredEvent, Write,
};
use anyhow::anyhow;
use sessionwire_core::{engine::repair, protocol::encode, Event, EventKind, SessionState};
use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc, Mutex,
    },
    thread::JoinHandle,
};

/// At most this many writes go into one transaction.
const MAX_BATCH: usize = 4096;

/// A database connection that can run a write transaction.
pub trait Backend: Send + 'static {
    /// Runs `body` in one transaction: committed if it returns `Ok`, rolled back otherwise.
    fn transaction(
        &mut self,
        body: &mut dyn FnMut(&mut dyn Queries) -> StoreResult<()>,
    ) -> StoreResult<()>;
}

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

    /// Whether [`Self::sever`] was called.
    pub fn is_severed(&self) -> bool {
        self.severed.load(Ordering::SeqCst)
    }
}

/// Starts the writer thread over `backend`; writes sent to the returned channel are applied in
/// order, and every committed batch of events goes to `sink`.
pub fn spawn(
    backend: impl Backend,
    sink: CommitSink,
    failures: FailureSink,
) -> StoreResult<(mpsc::Sender<Write>, WriterHandle)> {
    let (tx, rx) = mpsc::channel();
    let severed = Arc::new(AtomicBool::new(false));
    let writer_severed = severed.clone();
    let thread = std::thread::Builder::new()
        .name("sessionwire-store".into())
        .spawn(move || {
            let mut writer = Writer {
                backend,
                sink,
                failures,
                last_seq: HashMap::new(),
                fenced: HashSet::new(),
            };
            writer.run(&rx, &writer_severed);
        })
        .map_err(|error| anyhow!("spawning the store writer: {error}"))?;
    let handle = WriterHandle {
        thread: Arc::new(Mutex::new(Some(thread))),
        severed,
    };
    Ok((tx, handle))
}

/// The writer thread's state.
struct Writer<B> {
    backend: B,
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
    /// Each written session's last seq and timestamp, for its row.
    touched: HashMap<Arc<str>, (u64, u64)>,
}

fn unavailable() -> anyhow::Error {
    anyhow!("storage is failing; the write was not stored (retry later)")
}

impl<B: Backend> Writer<B> {
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
        let mut batch = Some(batch);
        let (fenced, known) = (&self.fenced, &self.last_seq);
        let result = self.backend.transaction(&mut |queries| {
            // A failed transaction is not retried: `take` runs the batch once.
            let writes = batch.take().unwrap_or_default();
            apply(queries, fenced, known, writes, &mut outcome)
        });
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
}

/// Whether a session's writes are refused (fenced by an earlier failure, not yet repaired).
fn refused(fenced: &HashSet<Arc<str>>, outcome: &Outcome, session: &Arc<str>) -> bool {
    fenced.contains(session) && !outcome.unfenced.contains(session)
}

fn apply(
    queries: &mut dyn Queries,
    fenced: &HashSet<Arc<str>>,
    known: &HashMap<Arc<str>, u64>,
    batch: Vec<Write>,
    outcome: &mut Outcome,
) -> StoreResult<()> {
    for write in batch {
        match write {
            Write::CreateSession(record, done) => {
                let id: Arc<str> = Arc::from(record.id.as_str());
                outcome.sessions.insert(id.clone());
                queries.insert_session(&record)?;
                outcome.last_seq.insert(id, record.last_seq);
                if let Some(done) = done {
                    outcome.created.push(done);
                }
            }
            Write::Append(append) => {
                let session = append.session_id.clone();
                if refused(fenced, outcome, &session) {
                    if let Some(done) = append.done {
                        let _ = done.send(Err(unavailable()));
                    }
                    continue;
                }
                outcome.sessions.insert(session.clone());
                let seq = current_seq(queries, known, outcome, &session)? + 1;
                insert_append(queries, append, seq, outcome)?;
            }
            Write::ClientMsg {
                key,
                session_id,
                done,
            } => {
                if refused(fenced, outcome, &session_id) {
                    let _ = done.send(Err(unavailable()));
                    continue;
                }
                outcome.sessions.insert(session_id.clone());
                let seq = current_seq(queries, known, outcome, &session_id)?;
                queries.insert_client_msg(&key.owner, &key.client_msg_id, &session_id, seq)?;
                outcome.seqs.push((done, seq));
            }
            Write::Dequeue {
                session_id,
                message_ids,
            } => {
                for id in &message_ids {
                    queries.remove_turn(&session_id, id)?;
                }
            }
            Write::Repair {
                session_id,
                ts,
                done,
            } => {
                outcome.unfenced.insert(session_id.clone());
                outcome.sessions.insert(session_id.clone());
                let repaired = repair(queries, known, outcome, &session_id, ts)?;
                outcome.repaired.push((done, repaired));
            }
            Write::Barrier(done) => outcome.barriers.push(done),
            Write::AgentSession {
                session_id,
                agent_session,
            } => queries.set_agent_session(&session_id, &agent_session)?,
        }
    }
    for (session_id, (seq, ts)) in &outcome.touched {
        queries.touch_session(session_id, *seq, *ts)?;
    }
    Ok(())
}

/// The last stored seq of a session, as this batch has it so far.
fn current_seq(
    queries: &mut dyn Queries,
    known: &HashMap<Arc<str>, u64>,
    outcome: &Outcome,
    session: &Arc<str>,
) -> StoreResult<u64> {
    if let Some(seq) = outcome.last_seq.get(session).or_else(|| known.get(session)) {
        return Ok(*seq);
    }
    queries.last_seq(session)
}

/// Writes one event with `seq`, and what comes with it.
fn insert_append(
    queries: &mut dyn Queries,
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
    queries.insert_event(&stored)?;
    if let Some(state) = append.new_state {
        queries.set_state(&session, state)?;
    }
    if let Some(key) = &append.client_msg {
        queries.insert_client_msg(&key.owner, &key.client_msg_id, &session, seq)?;
    }
    match append.queue {
        Some(QueueOp::Push {
            message_id,
            text,
            front,
        }) => {
            let seq = i64::try_from(seq).unwrap_or(i64::MAX);
            // An interrupt's text runs before the queued messages.
            let ord = if front { -seq } else { seq };
            queries.push_turn(&session, &message_id, &text, ord)?;
        }
        Some(QueueOp::Pop { message_id }) => queries.remove_turn(&session, &message_id)?,
        None => {}
    }
    outcome.last_seq.insert(session.clone(), seq);
    outcome.touched.insert(session, (seq, stored.ts));
    if let Some(done) = append.done {
        outcome.seqs.push((done, seq));
    }
    outcome.events.push(stored);
    Ok(())
}

/// Closes a session's log after a storage failure, as a restart would: an open turn ends with
/// `error: "storage"`, and the session becomes ENDED.
fn repair(
    queries: &mut dyn Queries,
    known: &HashMap<Arc<str>, u64>,
    outcome: &mut Outcome,
    session: &Arc<str>,
    ts: u64,
) -> StoreResult<Repaired> {
    let Some(record) = queries.session(session)? else {
        return Ok(Repaired::default());
    };
    let append = |queries: &mut dyn Queries,
                  kind: EventKind,
                  new_state: Option<SessionState>,
                  outcome: &mut Outcome| {
        let seq = current_seq(queries, known, outcome, session)? + 1;
        let append = Append {
            session_id: session.clone(),
            ts,
            kind,
            new_state,
            client_msg: None,
            queue: None,
            done: None,
        };
        insert_append(queries, append, seq, outcome)
    };
    // What the lost runtime left open closes as after a restart, with the storage's error.
    let pending = queries::pending_permissions(queries, session)?;
    let open_turn = queries::open_turn(queries, session)?;
    for event in repair::repair_events(record.state, pending, open_turn) {
        let new_state = match &event {
            EventKind::SessionState(change) => Some(change.state),
            _ => None,
        };
        append(queries, event, new_state, outcome)?;
    }
    Ok(Repaired {
        exists: true,
        state: Some(SessionState::Ended),
    })
}

//! The engine's routes (`engine::route`) run concurrently, as the server runs them: several
//! frames of one user in flight at once, each awaiting its store reads, its reservation, its
//! session's route lock and the group commit that makes its write durable. A seeded scheduler
//! picks, at every step, which woken route runs on or whether the store commits what was
//! submitted, so each seed is one interleaving; a failure prints its seed, and
//! `RACE_SEED=<n> cargo test -p sessionwire-core --test route_races` replays it.
//!
//! The driver's effects are the server's in miniature: reads that yield before they answer, a
//! route lock per session with waiters, `clientMsgId` reservations kept in the engine's own
//! `Reservations`, and writes that become durable only when the store commits its batch.
//!
//! Checked: two connections of one user sending the same `clientMsgId` at once store one
//! `user_message` (and create one session), and both are acked with its seq, one of them as a
//! duplicate; 100 sessions of one user sending at once are all submitted before any of them is
//! committed (none waits for another's durability), and go in one batch.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "sim/rng.rs"]
mod rng;

use rng::Rng;
use sessionwire_core::engine::reservations::{ReservationKey, Reservations};
use sessionwire_core::engine::route::{self, Out, Refusal, RouteDriver, TurnHandoff};
use sessionwire_core::engine::{ConnectionLimits, ConnectionProtocol, RateLimit};
use sessionwire_core::protocol::{RespondPermissionFrame, SendFrame, SessionSummary};
use sessionwire_core::routing::{
    Lookup, PermissionDecision, RuntimeView, SessionView, StoredMessage,
};
use sessionwire_core::{ClientFrame, Reply, SessionState};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

const USER: &str = "u";

/// A write submitted to the store: its seq once committed, and who waits for it.
#[derive(Default)]
struct WriteState {
    seq: Option<u64>,
    waiters: Vec<Waker>,
}

type WriteSlot = Rc<RefCell<WriteState>>;

/// What a commit applies.
enum Pending {
    UserMessage {
        session: String,
        client_msg_id: String,
        slot: WriteSlot,
    },
    ClientMsg {
        session: String,
        client_msg_id: String,
        slot: WriteSlot,
    },
}

#[derive(Default)]
struct Session {
    state: Option<SessionState>,
    /// The committed `user_message`s, by `clientMsgId`, in seq order; `len` is the last seq.
    log: Vec<String>,
    runtime: Option<u64>,
    /// Whether a route holds the lock, and who waits for it.
    locked: bool,
    lock_waiters: Vec<Waker>,
}

/// The store, the registries and the reservations of one server process.
#[derive(Default)]
struct Shared {
    sessions: BTreeMap<String, Session>,
    stored: HashMap<String, StoredMessage>,
    submitted: Vec<Pending>,
    reservations: Reservations<Waker>,
    next_generation: u64,
    /// How many writes each commit made durable.
    batches: Vec<usize>,
}

impl Shared {
    fn with_sessions(count: usize) -> Self {
        let mut shared = Self::default();
        for n in 0..count {
            let session = Session {
                state: Some(SessionState::Active),
                log: vec![String::new()], // seq 1: its creation
                ..Session::default()
            };
            shared.sessions.insert(format!("s{n}"), session);
        }
        shared
    }

    /// The group commit: everything submitted so far becomes durable, in submission order.
    fn commit(&mut self) {
        let batch = std::mem::take(&mut self.submitted);
        self.batches.push(batch.len());
        for pending in batch {
            let (session, client_msg_id, slot, event) = match pending {
                Pending::UserMessage {
                    session,
                    client_msg_id,
                    slot,
                } => (session, client_msg_id, slot, true),
                Pending::ClientMsg {
                    session,
                    client_msg_id,
                    slot,
                } => (session, client_msg_id, slot, false),
            };
            let log = &mut self.sessions.get_mut(&session).unwrap().log;
            if event {
                log.push(client_msg_id.clone());
            }
            let seq = log.len() as u64;
            let stored = StoredMessage {
                session_id: session,
                seq,
            };
            self.stored.insert(client_msg_id, stored);
            let mut write = slot.borrow_mut();
            write.seq = Some(seq);
            write.waiters.drain(..).for_each(Waker::wake);
        }
    }
}

/// A future that is pending once (waking itself): a store read's round trip, which lets
/// other routes run in between.
async fn yield_once() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

/// A `clientMsgId` reserved: released (and its waiters woken) when dropped.
struct Reserved {
    shared: Rc<RefCell<Shared>>,
    key: ReservationKey,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        let waiters = self.shared.borrow_mut().reservations.release(&self.key);
        waiters.into_iter().for_each(Waker::wake);
    }
}

/// A session's route lock, released when dropped.
struct Locked {
    shared: Rc<RefCell<Shared>>,
    session: String,
}

impl Drop for Locked {
    fn drop(&mut self) {
        let mut shared = self.shared.borrow_mut();
        let session = shared.sessions.get_mut(&self.session).unwrap();
        session.locked = false;
        session.lock_waiters.drain(..).for_each(Waker::wake);
    }
}

/// One connection's effects, over the process's shared state (borrowed only between awaits).
struct Driver {
    shared: Rc<RefCell<Shared>>,
}

impl RouteDriver for Driver {
    type Session = String;
    type RouteLock = Locked;
    type Reservation = Reserved;
    type Runtime = (String, u64);
    type Write = WriteSlot;
    type WriteDone = WriteSlot;
    type Handover = ();

    fn session_id(&self, session: &String) -> Arc<str> {
        Arc::from(session.as_str())
    }
    fn state(&self, session: &String) -> SessionState {
        self.shared.borrow().sessions[session].state.unwrap()
    }
    fn title(&self, _: &String) -> String {
        String::new()
    }
    async fn reserve(&mut self, client_msg_id: &str) -> Reserved {
        let key = (USER.to_owned(), client_msg_id.to_owned());
        poll_fn(|cx| {
            let mut shared = self.shared.borrow_mut();
            loop {
                if shared.reservations.try_reserve(&key) {
                    return Poll::Ready(());
                }
                if shared.reservations.wait(&key, cx.waker().clone()) {
                    return Poll::Pending;
                }
            }
        })
        .await;
        Reserved {
            shared: self.shared.clone(),
            key,
        }
    }
    async fn stored_client_msg(&mut self, id: &str) -> Result<Option<StoredMessage>, Refusal> {
        yield_once().await;
        Ok(self.shared.borrow().stored.get(id).cloned())
    }
    async fn owned_session(&mut self, id: &str) -> Result<Option<String>, Refusal> {
        yield_once().await;
        Ok(self
            .shared
            .borrow()
            .sessions
            .contains_key(id)
            .then(|| id.to_owned()))
    }
    async fn any_session(&mut self, id: &str) -> Result<Option<String>, Refusal> {
        self.owned_session(id).await
    }
    async fn lock_route(&mut self, session: &String) -> Locked {
        poll_fn(|cx| {
            let mut shared = self.shared.borrow_mut();
            let entry = shared.sessions.get_mut(session).unwrap();
            if entry.locked {
                entry.lock_waiters.push(cx.waker().clone());
                return Poll::Pending;
            }
            entry.locked = true;
            Poll::Ready(())
        })
        .await;
        Locked {
            shared: self.shared.clone(),
            session: session.clone(),
        }
    }
    fn lookup(&self, session: Option<&String>) -> Lookup {
        let shared = self.shared.borrow();
        let session = session.map(|id| &shared.sessions[id]);
        Lookup {
            session: session.map(|s| SessionView {
                state: s.state.unwrap(),
                owned_by_caller: true,
            }),
            runtime: session
                .and_then(|s| s.runtime)
                .map(|generation| RuntimeView {
                    generation,
                    turn_active: false,
                }),
        }
    }
    fn is_fenced(&self, _: &String) -> bool {
        false
    }
    fn running(&self, session: &String) -> bool {
        self.shared.borrow().sessions[session].runtime.is_some()
    }
    async fn last_seq(&mut self, session: &String) -> Result<u64, Refusal> {
        yield_once().await;
        Ok(self.shared.borrow().sessions[session].log.len() as u64)
    }
    async fn sessions_page(
        &mut self,
        _: Option<(u64, String)>,
        _: usize,
    ) -> Result<Vec<SessionSummary>, Refusal> {
        Ok(Vec::new())
    }
    fn state_now(&self, _: &str, stored: SessionState) -> SessionState {
        stored
    }
    fn runtime_view(&self, _: &str) -> Option<RuntimeView> {
        None
    }
    fn max_frame_bytes(&self) -> usize {
        sessionwire_core::MAX_FRAME_BYTES
    }
    async fn permission_requested(&mut self, _: &String, _: &str) -> Result<bool, Refusal> {
        Ok(false)
    }
    fn watch(&mut self, _: &String) {}
    fn unwatch(&mut self, _: &str) {}
    fn reattach(&mut self, session: &String, to: Option<SessionState>) {
        if let Some(to) = to {
            self.transition(session, to, "");
        }
    }
    fn transition(&mut self, session: &String, to: SessionState, _: &'static str) {
        self.shared
            .borrow_mut()
            .sessions
            .get_mut(session)
            .unwrap()
            .state = Some(to);
    }
    fn close(&mut self, session: &String, why: &'static str) -> Option<(String, u64)> {
        self.transition(session, SessionState::Ended, why);
        None
    }
    async fn create_session(&mut self, _: String) -> Result<String, Refusal> {
        // Its row is written and awaited: another route may run meanwhile.
        yield_once().await;
        let mut shared = self.shared.borrow_mut();
        let id = format!("s{}", shared.sessions.len());
        let session = Session {
            state: Some(SessionState::Created),
            ..Session::default()
        };
        shared.sessions.insert(id.clone(), session);
        Ok(id)
    }
    fn announce_created(&mut self, session: &String) {
        // seq 1, written at once (it carries no clientMsgId).
        let mut shared = self.shared.borrow_mut();
        shared
            .sessions
            .get_mut(session)
            .unwrap()
            .log
            .push(String::new());
    }
    fn runtime(&self, session: &String) -> Option<(String, u64)> {
        let shared = self.shared.borrow();
        shared.sessions[session]
            .runtime
            .map(|g| (session.clone(), g))
    }
    fn start_runtime(&mut self, session: &String) -> Option<(String, u64)> {
        let mut shared = self.shared.borrow_mut();
        shared.next_generation += 1;
        let generation = shared.next_generation;
        let entry = shared.sessions.get_mut(session).unwrap();
        assert!(entry.runtime.is_none(), "a second runtime for {session}");
        entry.runtime = Some(generation);
        entry.state = Some(SessionState::Active);
        Some((session.clone(), generation))
    }
    fn abort(&mut self, _: &(String, u64), _: &'static str) {}
    async fn exited(&mut self, (session, _): (String, u64)) {
        self.shared
            .borrow_mut()
            .sessions
            .get_mut(&session)
            .unwrap()
            .runtime = None;
    }
    fn deliver(&mut self, _: &(String, u64), _: TurnHandoff<'_, WriteSlot>) -> bool {
        true
    }
    fn interrupt(
        &mut self,
        _: &(String, u64),
        _: Option<TurnHandoff<'_, WriteSlot>>,
    ) -> Option<()> {
        Some(())
    }
    async fn handed_over(&mut self, _: ()) -> bool {
        true
    }
    fn write(&mut self) -> (WriteSlot, WriteSlot) {
        let slot = WriteSlot::default();
        (slot.clone(), slot)
    }
    fn submit_user_message(
        &mut self,
        session: &String,
        id: &str,
        _: &str,
        _: bool,
        done: WriteSlot,
    ) {
        self.shared
            .borrow_mut()
            .submitted
            .push(Pending::UserMessage {
                session: session.clone(),
                client_msg_id: id.to_owned(),
                slot: done,
            });
    }
    fn submit_client_msg(&mut self, session: &String, id: &str) -> WriteSlot {
        let slot = WriteSlot::default();
        self.shared.borrow_mut().submitted.push(Pending::ClientMsg {
            session: session.clone(),
            client_msg_id: id.to_owned(),
            slot: slot.clone(),
        });
        slot
    }
    fn answer_permission(
        &mut self,
        _: &String,
        _: &RespondPermissionFrame,
        _: Option<StoredMessage>,
        _: bool,
    ) -> Result<WriteSlot, PermissionDecision> {
        Err(PermissionDecision::UnknownRequest)
    }
    fn reservation_submitted(&mut self, _: &mut Reserved, _: &WriteSlot) {}
    async fn stored_seq(
        &mut self,
        _: &String,
        write: &WriteSlot,
        reservation: Reserved,
    ) -> Result<u64, Refusal> {
        let seq = poll_fn(|cx| {
            let mut write = write.borrow_mut();
            match write.seq {
                Some(seq) => Poll::Ready(seq),
                None => {
                    write.waiters.push(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
        drop(reservation);
        Ok(seq)
    }
}

/// Whether a route was woken since it last ran.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

type RouteFuture = Pin<Box<dyn Future<Output = Vec<Out>>>>;

struct Task {
    future: Option<RouteFuture>,
    flag: Arc<Flag>,
    out: Vec<Out>,
}

/// Runs routes to their end, picking with `rng` which woken route runs next or whether the
/// store commits; `commit_when_idle` commits only once no route can run (all wait for it).
fn run(
    rng: &mut Rng,
    shared: &Rc<RefCell<Shared>>,
    routes: Vec<RouteFuture>,
    commit_when_idle: bool,
) -> Vec<Vec<Out>> {
    let mut tasks = Vec::from_iter(routes.into_iter().map(|future| Task {
        future: Some(future),
        flag: Arc::new(Flag(AtomicBool::new(true))),
        out: Vec::new(),
    }));
    for _ in 0..100_000 {
        let woken = Vec::from_iter(
            (0..tasks.len())
                .filter(|&n| tasks[n].future.is_some() && tasks[n].flag.0.load(Ordering::SeqCst)),
        );
        let can_commit = !shared.borrow().submitted.is_empty();
        if woken.is_empty() && !can_commit {
            assert!(
                tasks.iter().all(|task| task.future.is_none()),
                "routes wait for something that never comes"
            );
            return Vec::from_iter(tasks.into_iter().map(|task| task.out));
        }
        let commit = can_commit && (woken.is_empty() || (!commit_when_idle && rng.chance(20)));
        if commit {
            shared.borrow_mut().commit();
            continue;
        }
        let task = &mut tasks[woken[rng.below(woken.len())]];
        task.flag.0.store(false, Ordering::SeqCst);
        let waker = Waker::from(task.flag.clone());
        let future = task.future.as_mut().unwrap();
        if let Poll::Ready(out) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
            task.out = out;
            task.future = None;
        }
    }
    panic!("the routes did not settle");
}

fn connection() -> ConnectionProtocol {
    let limits = ConnectionLimits {
        max_frame_bytes: sessionwire_core::MAX_FRAME_BYTES,
        rate: RateLimit {
            per_second: 1e12,
            burst: 1e12,
        },
    };
    ConnectionProtocol::new(limits, Duration::ZERO)
}

fn send(session_id: Option<&str>, client_msg_id: &str) -> ClientFrame {
    ClientFrame::Send(SendFrame {
        session_id: session_id.map(str::to_owned),
        client_msg_id: client_msg_id.into(),
        text: "hi".into(),
    })
}

/// One route of a connection of its own over the shared state.
fn route_of(shared: &Rc<RefCell<Shared>>, frame: ClientFrame) -> RouteFuture {
    let mut driver = Driver {
        shared: shared.clone(),
    };
    Box::pin(async move {
        let mut conn = connection();
        route::handle(&mut driver, &mut conn, frame).await
    })
}

/// The acks a connection got: (session, clientMsgId, seq, duplicate).
fn acks(out: &[Out]) -> Vec<(String, String, u64, bool)> {
    Vec::from_iter(out.iter().filter_map(|out| {
        let ack = match out {
            Out::AckAfter { ack, .. } | Out::Reply(Reply::Ack(ack)) => ack,
            _ => return None,
        };
        Some((
            ack.session_id.clone(),
            ack.client_msg_id.clone(),
            ack.seq,
            ack.duplicate,
        ))
    }))
}

fn seeds(default: std::ops::Range<u64>) -> Vec<u64> {
    match std::env::var("RACE_SEED") {
        Ok(seed) => vec![seed.parse().expect("RACE_SEED is a number")],
        Err(_) => Vec::from_iter(default),
    }
}

fn each_seed(default: std::ops::Range<u64>, test: impl Fn(u64)) {
    for seed in seeds(default) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(seed)));
        if let Err(panic) = outcome {
            println!("failed seed {seed}: replay with RACE_SEED={seed}");
            std::panic::resume_unwind(panic);
        }
    }
}

/// Both connections' acks name the one stored `user_message`; exactly one is not a duplicate.
fn assert_one_message_acked_twice(shared: &Shared, outs: &[Vec<Out>], client_msg_id: &str) {
    let stored: Vec<(&String, usize)> =
        Vec::from_iter(shared.sessions.iter().flat_map(|(id, s)| {
            s.log
                .iter()
                .enumerate()
                .filter(|(_, m)| m.as_str() == client_msg_id)
                .map(move |(n, _)| (id, n + 1))
        }));
    assert_eq!(
        stored.len(),
        1,
        "the message is stored exactly once: {stored:?}"
    );
    let (session, seq) = (stored[0].0.clone(), stored[0].1 as u64);
    let mut all = Vec::from_iter(outs.iter().flat_map(|out| acks(out)));
    all.sort_by_key(|ack| ack.3);
    assert_eq!(
        all,
        vec![
            (session.clone(), client_msg_id.to_owned(), seq, false),
            (session, client_msg_id.to_owned(), seq, true),
        ]
    );
    assert!(shared.reservations.is_empty(), "every reservation released");
}

#[test]
fn two_connections_sending_one_client_msg_id_to_a_session_store_it_once() {
    each_seed(0..500, |seed| {
        let mut rng = Rng::new(seed);
        let shared = Rc::new(RefCell::new(Shared::with_sessions(1)));
        let routes = vec![
            route_of(&shared, send(Some("s0"), "m1")),
            route_of(&shared, send(Some("s0"), "m1")),
        ];
        let outs = run(&mut rng, &shared, routes, false);
        assert_one_message_acked_twice(&shared.borrow(), &outs, "m1");
    });
}

#[test]
fn two_connections_creating_a_session_with_one_client_msg_id_create_one() {
    each_seed(0..500, |seed| {
        let mut rng = Rng::new(seed);
        let shared = Rc::new(RefCell::new(Shared::default()));
        let routes = vec![
            route_of(&shared, send(None, "m1")),
            route_of(&shared, send(None, "m1")),
        ];
        let outs = run(&mut rng, &shared, routes, false);
        let shared = shared.borrow();
        assert_eq!(shared.sessions.len(), 1, "one session created");
        assert_one_message_acked_twice(&shared, &outs, "m1");
        // Both connections are told of that one session.
        for out in &outs {
            let created = out.iter().filter(|out| {
                matches!(out, Out::Reply(Reply::SessionCreated(created)) if created.session_id == "s0")
            });
            assert_eq!(created.count(), 1);
        }
    });
}

#[test]
fn a_hundred_sessions_of_one_user_sending_at_once_share_one_commit() {
    each_seed(0..20, |seed| {
        let mut rng = Rng::new(seed);
        let shared = Rc::new(RefCell::new(Shared::with_sessions(100)));
        let routes = Vec::from_iter(
            (0..100).map(|n| route_of(&shared, send(Some(&format!("s{n}")), &format!("m{n}")))),
        );
        let outs = run(&mut rng, &shared, routes, true);
        // No send waited for another's durability: all 100 were submitted before one commit.
        assert_eq!(shared.borrow().batches, vec![100]);
        for (n, out) in outs.iter().enumerate() {
            assert_eq!(
                acks(out),
                vec![(format!("s{n}"), format!("m{n}"), 2, false)]
            );
        }
    });
}

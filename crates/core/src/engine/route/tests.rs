//! The routes driven by a driver whose effects are always ready and write down what they did,
//! so a test can check both what goes out and the order the effects came in.

use super::*;
use crate::engine::{ConnectionLimits, ConnectionProtocol, RateLimit};
use crate::protocol::{SendFrame, SessionCreated, SwitchSessionFrame};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

/// Polls a route once: with this driver every effect is ready, so the route finishes.
fn ready<F: Future>(future: F) -> F::Output {
    crate::engine::run_ready(future).expect("a route waited for an effect that is always ready")
}

#[derive(Debug)]
struct FakeSession {
    owner: &'static str,
    state: SessionState,
    last_seq: u64,
    /// The live runtime's generation.
    runtime: Option<u64>,
}

#[derive(Debug)]
struct Fake {
    user: &'static str,
    sessions: BTreeMap<String, FakeSession>,
    stored: BTreeMap<String, StoredMessage>,
    next_generation: u64,
    /// `deliver` refuses this many turns (the runtime ended before it took them).
    runtime_gone: u32,
    /// What the effects did, in order (shared with the route locks, which note their release).
    log: Log,
}

impl Fake {
    fn new() -> Self {
        Self {
            user: "me",
            sessions: BTreeMap::new(),
            stored: BTreeMap::new(),
            next_generation: 1,
            runtime_gone: 0,
            log: Log::default(),
        }
    }

    fn with_session(mut self, id: &str, owner: &'static str, state: SessionState) -> Self {
        let session = FakeSession {
            owner,
            state,
            last_seq: 3,
            runtime: None,
        };
        self.sessions.insert(id.into(), session);
        self
    }

    fn with_runtime(mut self, id: &str) -> Self {
        self.sessions.get_mut(id).unwrap().runtime = Some(self.next_generation);
        self.next_generation += 1;
        self
    }

    fn note(&mut self, what: impl Into<String>) {
        self.log.0.borrow_mut().push(what.into());
    }

    fn session_mut(&mut self, id: &str) -> &mut FakeSession {
        self.sessions.get_mut(id).expect("a known session")
    }
}

/// The effects' log.
#[derive(Debug, Default, Clone)]
struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// A route lock: its release is logged.
struct Unlock(Log, String);

impl Drop for Unlock {
    fn drop(&mut self) {
        self.0 .0.borrow_mut().push(format!("unlock {}", self.1));
    }
}

/// The effects a route awaits (a store read, durability, a runtime's exit): none may come
/// while it holds a route lock.
const AWAITED: [&str; 3] = ["read ", "stored", "exited "];

/// Checks the log against the invariant that nothing is awaited under a route lock, and
/// returns it without the lock lines, for the tests' exact comparisons of the other effects.
fn effects(log: &Log) -> Vec<String> {
    let lines = log.lines();
    let mut held = 0usize;
    for line in &lines {
        if line.starts_with("lock ") {
            held += 1;
        } else if line.starts_with("unlock ") {
            held -= 1;
        } else if held > 0 && AWAITED.iter().any(|awaited| line.starts_with(awaited)) {
            panic!("`{line}` awaited under a route lock: {lines:#?}");
        }
    }
    assert_eq!(held, 0, "a route lock never released: {lines:#?}");
    Vec::from_iter(
        lines
            .into_iter()
            .filter(|line| !line.starts_with("unlock ")),
    )
}

type Slot = Rc<Cell<Option<u64>>>;

impl RouteDriver for Fake {
    type Session = String;
    type RouteLock = Unlock;
    type Reservation = ();
    type Runtime = (String, u64);
    type Write = Slot;
    type WriteDone = Slot;
    type Handover = ();

    fn session_id(&self, session: &String) -> Arc<str> {
        Arc::from(session.as_str())
    }
    fn state(&self, session: &String) -> SessionState {
        self.sessions[session].state
    }
    fn title(&self, _: &String) -> String {
        "t".into()
    }
    async fn reserve(&mut self, client_msg_id: &str) {
        self.note(format!("reserve {client_msg_id}"));
    }
    async fn stored_client_msg(&mut self, id: &str) -> Result<Option<StoredMessage>, Refusal> {
        Ok(self.stored.get(id).cloned())
    }
    async fn owned_session(&mut self, id: &str) -> Result<Option<String>, Refusal> {
        let user = self.user;
        Ok(self
            .sessions
            .get(id)
            .filter(|s| s.owner == user)
            .map(|_| id.to_owned()))
    }
    async fn any_session(&mut self, id: &str) -> Result<Option<String>, Refusal> {
        Ok(self.sessions.contains_key(id).then(|| id.to_owned()))
    }
    async fn lock_route(&mut self, session: &String) -> Unlock {
        self.note(format!("lock {session}"));
        Unlock(self.log.clone(), session.clone())
    }
    fn lookup(&self, session: Option<&String>) -> Lookup {
        let session = session.map(|id| &self.sessions[id]);
        Lookup {
            session: session.map(|s| crate::routing::SessionView {
                state: s.state,
                owned_by_caller: s.owner == self.user,
            }),
            runtime: session
                .and_then(|s| s.runtime)
                .map(|generation| RuntimeView {
                    generation,
                    turn_active: true,
                }),
        }
    }
    fn is_fenced(&self, _: &String) -> bool {
        false
    }
    fn running(&self, session: &String) -> bool {
        self.sessions[session].runtime.is_some()
    }
    async fn last_seq(&mut self, session: &String) -> Result<u64, Refusal> {
        self.note(format!("read last_seq {session}"));
        Ok(self.sessions[session].last_seq)
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
        crate::MAX_FRAME_BYTES
    }
    async fn permission_requested(&mut self, _: &String, request: &str) -> Result<bool, Refusal> {
        self.note(format!("read permission {request}"));
        Ok(false)
    }
    fn watch(&mut self, session: &String) {
        self.note(format!("watch {session}"));
    }
    fn unwatch(&mut self, session_id: &str) {
        self.note(format!("unwatch {session_id}"));
    }
    fn reattach(&mut self, session: &String, to: Option<SessionState>) {
        if let Some(to) = to {
            self.session_mut(session).state = to;
        }
    }
    fn transition(&mut self, session: &String, to: SessionState, _: &'static str) {
        self.session_mut(session).state = to;
    }
    fn close(&mut self, session: &String, _: &'static str) -> Option<(String, u64)> {
        self.session_mut(session).state = SessionState::Ended;
        None
    }
    async fn create_session(&mut self, _title: String) -> Result<String, Refusal> {
        let id = format!("s{}", self.sessions.len() + 1);
        self.note(format!("create {id}"));
        let user = self.user;
        self.sessions.insert(
            id.clone(),
            FakeSession {
                owner: user,
                state: SessionState::Created,
                last_seq: 0,
                runtime: None,
            },
        );
        Ok(id)
    }
    fn announce_created(&mut self, session: &String) {
        self.note(format!("announce {session}"));
        self.session_mut(session).last_seq += 1;
    }
    fn runtime(&self, session: &String) -> Option<(String, u64)> {
        self.sessions[session].runtime.map(|g| (session.clone(), g))
    }
    fn start_runtime(&mut self, session: &String) -> Option<(String, u64)> {
        let generation = self.next_generation;
        self.next_generation += 1;
        self.note(format!("start runtime {generation}"));
        let entry = self.session_mut(session);
        entry.runtime = Some(generation);
        entry.state = SessionState::Active;
        Some((session.clone(), generation))
    }
    fn abort(&mut self, runtime: &(String, u64), _: &'static str) {
        self.note(format!("abort {}", runtime.1));
    }
    async fn exited(&mut self, (session, generation): (String, u64)) {
        self.note(format!("exited {generation}"));
        self.session_mut(&session).runtime = None;
    }
    fn deliver(&mut self, runtime: &(String, u64), turn: TurnHandoff<'_, Slot>) -> bool {
        if self.runtime_gone > 0 {
            self.runtime_gone -= 1;
            self.note(format!("deliver to {}: gone", runtime.1));
            return false;
        }
        self.note(format!("deliver {} to {}", turn.message_id, runtime.1));
        true
    }
    fn interrupt(
        &mut self,
        runtime: &(String, u64),
        next: Option<TurnHandoff<'_, Slot>>,
    ) -> Option<()> {
        let next = next.map_or("nothing".into(), |turn| turn.message_id.to_owned());
        self.note(format!("interrupt {} then {next}", runtime.1));
        Some(())
    }
    async fn handed_over(&mut self, _: ()) -> bool {
        true
    }
    fn write(&mut self) -> (Slot, Slot) {
        let slot = Slot::default();
        (slot.clone(), slot)
    }
    fn submit_user_message(
        &mut self,
        session: &String,
        id: &str,
        _: &str,
        front: bool,
        done: Slot,
    ) {
        self.note(format!("submit {id} front={front}"));
        let entry = self.session_mut(session);
        entry.last_seq += 1;
        done.set(Some(entry.last_seq));
    }
    fn submit_client_msg(&mut self, session: &String, id: &str) -> Slot {
        self.note(format!("submit {id} without text"));
        Rc::new(Cell::new(Some(self.sessions[session].last_seq)))
    }
    fn answer_permission(
        &mut self,
        _: &String,
        _: &RespondPermissionFrame,
        _: Option<StoredMessage>,
        _: bool,
    ) -> Result<Slot, PermissionDecision> {
        Err(PermissionDecision::UnknownRequest)
    }
    fn reservation_submitted(&mut self, _: &mut (), _: &Slot) {}
    async fn stored_seq(&mut self, _: &String, write: &Slot, _: ()) -> Result<u64, Refusal> {
        self.note("stored");
        Ok(write.get().expect("submitted before it is awaited"))
    }
}

fn conn() -> ConnectionProtocol {
    let limits = ConnectionLimits {
        max_frame_bytes: crate::MAX_FRAME_BYTES,
        rate: RateLimit {
            per_second: 1e9,
            burst: 1e9,
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

fn ack(session_id: &str, client_msg_id: &str, seq: u64, duplicate: bool, running: bool) -> Ack {
    Ack {
        session_id: session_id.into(),
        client_msg_id: client_msg_id.into(),
        seq,
        duplicate,
        running,
    }
}

#[test]
fn a_send_without_a_session_creates_one_watched_before_its_first_event() {
    let (mut fake, mut conn) = (Fake::new(), conn());
    let out = ready(handle(&mut fake, &mut conn, send(None, "m1")));
    assert_eq!(
        out,
        vec![
            Out::Reply(Reply::SessionCreated(SessionCreated {
                session_id: "s1".into(),
                client_msg_id: "m1".into(),
            })),
            Out::AckAfter {
                seq: 2,
                ack: ack("s1", "m1", 2, false, true),
            },
        ]
    );
    assert_eq!(
        effects(&fake.log),
        [
            "reserve m1",
            "create s1",
            "lock s1",
            "watch s1",
            "announce s1",
            "start runtime 1",
            "deliver m1 to 1",
            "submit m1 front=false",
            "stored",
        ]
    );
    assert!(conn.is_watching("s1"));
    assert_eq!(conn.current(), Some("s1"));
}

#[test]
fn a_retried_send_without_a_session_announces_the_first_one_and_replays_it() {
    let mut fake = Fake::new().with_session("s1", "me", SessionState::Active);
    let original = StoredMessage {
        session_id: "s1".into(),
        seq: 2,
    };
    fake.stored.insert("m1".into(), original);
    let mut conn = conn();
    let out = ready(handle(&mut fake, &mut conn, send(None, "m1")));
    assert_eq!(
        out,
        vec![
            Out::Reply(Reply::SessionCreated(SessionCreated {
                session_id: "s1".into(),
                client_msg_id: "m1".into(),
            })),
            Out::Replay {
                session_id: Arc::from("s1"),
                after: 0,
                through: 3,
            },
            Out::Reply(Reply::Ack(ack("s1", "m1", 2, true, false))),
        ]
    );
    assert!(!effects(&fake.log)
        .iter()
        .any(|line| line.starts_with("submit")));
    assert_eq!(conn.current(), Some("s1"));
}

#[test]
fn another_users_session_is_not_found_and_named_by_the_message_id() {
    let mut fake = Fake::new().with_session("s9", "you", SessionState::Active);
    let out = ready(handle(&mut fake, &mut conn(), send(Some("s9"), "m1")));
    assert_eq!(
        out,
        vec![Out::Reply(error_reply(
            ErrorCode::SessionNotFound,
            "no session `s9`".into(),
            Some("s9".into()),
            Some("m1".into()),
        ))]
    );
    assert!(!effects(&fake.log)
        .iter()
        .any(|line| line.starts_with("submit")));
}

#[test]
fn a_zombie_is_aborted_and_its_exit_awaited_without_the_lock_before_the_send_resumes() {
    let mut fake = Fake::new()
        .with_session("s1", "me", SessionState::Closing)
        .with_runtime("s1");
    let out = ready(handle(&mut fake, &mut conn(), send(Some("s1"), "m1")));
    assert_eq!(
        effects(&fake.log),
        [
            "reserve m1",
            "lock s1",
            "watch s1",
            "abort 1",
            "exited 1",
            // Decided again: no runtime now, so the session resumes on a new one.
            "lock s1",
            "watch s1",
            "start runtime 2",
            "deliver m1 to 2",
            "submit m1 front=false",
            "stored",
        ]
    );
    assert_eq!(
        out,
        vec![Out::AckAfter {
            seq: 4,
            ack: ack("s1", "m1", 4, false, true),
        }]
    );
}

#[test]
fn a_runtime_gone_before_it_took_the_turn_submits_nothing_and_the_send_is_decided_again() {
    let mut fake = Fake::new()
        .with_session("s1", "me", SessionState::Active)
        .with_runtime("s1");
    fake.runtime_gone = 1;
    ready(handle(&mut fake, &mut conn(), send(Some("s1"), "m1")));
    assert_eq!(
        effects(&fake.log),
        [
            "reserve m1",
            "lock s1",
            "watch s1",
            "deliver to 1: gone",
            "exited 1",
            "lock s1",
            "watch s1",
            "start runtime 2",
            "deliver m1 to 2",
            "submit m1 front=false",
            "stored",
        ]
    );
}

#[test]
fn an_interrupt_with_text_cuts_the_turn_and_its_message_goes_first() {
    let mut fake = Fake::new()
        .with_session("s1", "me", SessionState::Active)
        .with_runtime("s1");
    let frame = ClientFrame::Interrupt(crate::protocol::InterruptFrame {
        session_id: "s1".into(),
        client_msg_id: "m2".into(),
        text: Some("stop that".into()),
    });
    let out = ready(handle(&mut fake, &mut conn(), frame));
    assert_eq!(
        effects(&fake.log),
        [
            "reserve m2",
            "lock s1",
            "watch s1",
            "interrupt 1 then m2",
            "submit m2 front=true",
            "stored",
        ]
    );
    assert_eq!(
        out,
        vec![Out::AckAfter {
            seq: 4,
            ack: ack("s1", "m2", 4, false, true),
        }]
    );
}

#[test]
fn a_switch_watches_before_it_reads_the_history_and_replies_before_the_replay() {
    let mut fake = Fake::new().with_session("s1", "me", SessionState::Detached);
    let mut conn = conn();
    let frame = ClientFrame::SwitchSession(SwitchSessionFrame {
        session_id: Some("s1".into()),
        last_seq: Some(1),
    });
    let out = ready(handle(&mut fake, &mut conn, frame));
    assert_eq!(
        effects(&fake.log),
        ["lock s1", "watch s1", "read last_seq s1"]
    );
    assert!(matches!(
        &out[..],
        [
            Out::Reply(Reply::SessionSwitched(switched)),
            Out::Replay { after: 1, through: 3, .. },
        ] if switched.session_id == "s1" && switched.last_seq == 3
    ));
    assert_eq!(conn.current(), Some("s1"));
}

#[test]
fn a_reconnect_to_a_zombie_aborts_it_waits_unlocked_and_then_replays() {
    let mut fake = Fake::new()
        .with_session("s1", "me", SessionState::Closing)
        .with_runtime("s1");
    let frame = ClientFrame::Reconnect(crate::protocol::ReconnectFrame {
        sessions: vec![crate::protocol::SessionCursor {
            session_id: "s1".into(),
            last_seq: 0,
        }],
    });
    let out = ready(handle(&mut fake, &mut conn(), frame));
    assert_eq!(
        effects(&fake.log),
        [
            "lock s1",
            "abort 1",
            "exited 1",
            "lock s1",
            "watch s1",
            "read last_seq s1"
        ]
    );
    let [Out::Replay {
        after: 0,
        through: 3,
        ..
    }, Out::Reply(Reply::Reconnected(reconnected))] = &out[..]
    else {
        panic!("{out:?}");
    };
    assert_eq!(reconnected.sessions.len(), 1);
    assert_eq!(
        (
            reconnected.sessions[0].replayed,
            reconnected.sessions[0].running
        ),
        (3, false)
    );
}

#[test]
fn a_stop_aborts_the_runtime_and_waits_for_its_exit_after_the_lock() {
    let mut fake = Fake::new()
        .with_session("s1", "me", SessionState::Active)
        .with_runtime("s1");
    let frame = ClientFrame::Stop(crate::protocol::SessionRef {
        session_id: "s1".into(),
    });
    let out = ready(handle(&mut fake, &mut conn(), frame));
    assert_eq!(out, vec![]);
    assert_eq!(
        fake.log.lines(),
        ["lock s1", "abort 1", "unlock s1", "exited 1"]
    );
}

#[test]
fn an_interrupt_without_text_is_stored_then_cuts_the_turn_and_is_acked_at_its_seq() {
    let mut fake = Fake::new()
        .with_session("s1", "me", SessionState::Active)
        .with_runtime("s1");
    let frame = ClientFrame::Interrupt(crate::protocol::InterruptFrame {
        session_id: "s1".into(),
        client_msg_id: "i1".into(),
        text: None,
    });
    let out = ready(handle(&mut fake, &mut conn(), frame));
    assert_eq!(
        effects(&fake.log),
        [
            "reserve i1",
            "lock s1",
            "watch s1",
            "submit i1 without text",
            "interrupt 1 then nothing",
            "stored"
        ]
    );
    assert_eq!(
        out,
        vec![Out::Reply(Reply::Ack(ack("s1", "i1", 3, false, true)))]
    );
}

#[test]
fn an_answer_to_a_request_nobody_asked_is_refused_after_the_store_was_asked() {
    let mut fake = Fake::new().with_session("s1", "me", SessionState::Active);
    let frame = ClientFrame::RespondPermission(RespondPermissionFrame {
        session_id: "s1".into(),
        client_msg_id: "p1".into(),
        request_id: "r9".into(),
        option_id: "allow".into(),
    });
    let out = ready(handle(&mut fake, &mut conn(), frame));
    assert_eq!(
        out,
        vec![Out::Reply(error_reply(
            ErrorCode::InvalidField,
            "requestId: no permission request `r9` in this session".into(),
            Some("s1".into()),
            Some("p1".into()),
        ))]
    );
    assert_eq!(
        effects(&fake.log),
        ["reserve p1", "watch s1", "read permission r9"]
    );
}

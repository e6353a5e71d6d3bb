//! A server for the simulator: the engine the real server runs — a connection's protocol half
//! (`engine::ConnectionProtocol`), every frame's route (`engine::route`, over this server's
//! [`RouteDriver`](sessionwire_core::engine::route::RouteDriver) in `sim/route.rs`) and each
//! runtime's turns (`engine::TurnScheduler`) — over an in-memory store whose sessions and logs
//! survive a restart, and runtimes, watchers and queues that do not. What stands in for I/O is
//! what is modelled: the store answers at once, and agents are scripted (each turn streams a
//! fixed sequence of events, one per tick, so turns interleave with the network).
//!
//! As in the real server, events committed while a frame is routed reach the connection through
//! its live queue after the route's replies went out (so a reply comes before the events it
//! announces, and an `ack` right after its `user_message`).

use super::runtime::{Command, Effect, Runtime};
use sessionwire_core::engine::route::{self, Out};
use sessionwire_core::engine::{self, recovery, repair};
use sessionwire_core::engine::{
    session, ConnectionLimits, ConnectionProtocol, Inbound, LiveEvent, RateLimit,
};
use sessionwire_core::lifecycle::{self, reason, triggers};
use sessionwire_core::protocol::{
    encode, BlockDelta, BlockStart, BlockType, Event, EventKind, MessageRef, ServerInfo,
    SessionStateChange, TurnEnd, TurnStart, Welcome,
};
use sessionwire_core::routing::{self, Lookup, RuntimeView, SessionView, StoredMessage};
use sessionwire_core::SessionState;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

/// A connection as the engine sees it; the model sends far below any limit, so the limits are
/// out of the way (the engine's own tests cover them).
fn new_connection() -> ConnectionProtocol {
    let limits = ConnectionLimits {
        max_frame_bytes: sessionwire_core::MAX_FRAME_BYTES,
        rate: RateLimit {
            per_second: 1e12,
            burst: 1e12,
        },
    };
    ConnectionProtocol::new(limits, Duration::ZERO)
}

/// Durable: survives a restart.
#[derive(Debug, Default)]
pub struct Durable {
    pub sessions: BTreeMap<String, DurableSession>,
    pub stored: HashMap<String, StoredMessage>,
    /// Each session's durable turn queue: acked messages whose turn has not started.
    pub(super) pending: BTreeMap<String, VecDeque<String>>,
    pub(super) next_session: u64,
}

#[derive(Debug)]
pub struct DurableSession {
    pub state: SessionState,
    pub log: Vec<Event>,
}

/// The running turn of a session's agent: how far its script got.
#[derive(Debug, Clone)]
struct Script {
    message_id: String,
    /// How many of the turn's scripted events have been emitted.
    step: usize,
}

/// The scripted events of one turn, after `turn_start`; then its agent is done.
const TURN_SCRIPT_LEN: usize = 7;

#[derive(Debug)]
pub struct Server {
    pub durable: Durable,
    pub runtimes: Vec<Runtime>,
    /// The running turn of each session's agent.
    scripts: HashMap<String, Script>,
    pub(super) next_generation: u64,
    epoch: u64,
    /// The one client connection: whether it is open, and its protocol half (whether it said
    /// hello, what it watches, its current session, what it was sent). `None` only while a
    /// frame is routed (the route holds it).
    pub connected: bool,
    conn: Option<ConnectionProtocol>,
    /// The sessions the connection gets live events of (the real server's watcher registry).
    pub(super) watchers: BTreeSet<String>,
    /// Committed events on their way to the connection (its live queue).
    live: VecDeque<Event>,
    /// The next `user_message` write fails (the world's storage failure).
    pub fail_next_write: bool,
    /// Sessions whose writes failed: every write of theirs is refused until their repair.
    pub(super) fenced: BTreeSet<String>,
    /// Frames to the client, in order.
    pub outbox: Vec<String>,
    /// How many times each user message's turn started: must never exceed 1.
    pub runs: HashMap<String, u32>,
    /// User messages whose turn can never run because their runtime died with queued turns.
    pub abandoned: Vec<String>,
    turn_counter: u64,
}

impl Server {
    pub fn new() -> Self {
        Self {
            durable: Durable::default(),
            runtimes: Vec::new(),
            scripts: HashMap::new(),
            next_generation: 1,
            epoch: 1,
            connected: false,
            conn: Some(new_connection()),
            watchers: BTreeSet::new(),
            live: VecDeque::new(),
            fail_next_write: false,
            fenced: BTreeSet::new(),
            outbox: Vec::new(),
            runs: HashMap::new(),
            abandoned: Vec::new(),
            turn_counter: 0,
        }
    }

    fn ts(&self) -> u64 {
        0
    }

    fn conn(&mut self) -> &mut ConnectionProtocol {
        self.conn
            .as_mut()
            .expect("the connection is not touched while a route holds it")
    }

    pub(super) fn runtime(&self, session_id: &str) -> Option<&Runtime> {
        self.runtimes.iter().find(|r| r.session_id == session_id)
    }

    pub(super) fn runtime_view(&self, session_id: &str) -> Option<RuntimeView> {
        self.runtime(session_id).map(|r| RuntimeView {
            generation: r.generation,
            turn_active: r.link.borrow().turns > 0,
        })
    }

    pub(super) fn lookup(&self, session_id: &str) -> Lookup {
        Lookup {
            session: self.durable.sessions.get(session_id).map(|s| SessionView {
                state: s.state,
                owned_by_caller: true,
            }),
            runtime: self.runtime_view(session_id),
        }
    }

    /// What `running` the server would report for a session now.
    pub fn running(&self, session_id: &str) -> bool {
        self.durable
            .sessions
            .get(session_id)
            .is_some_and(|s| routing::running(self.runtime_view(session_id), s.state))
    }

    /// Moves what the connection's protocol half queued into the outbox.
    fn flush(&mut self) {
        while let Some(reply) = self.conn().poll_reply() {
            if self.connected {
                self.outbox.push(encode(&reply));
            }
        }
    }

    /// Sends an event if the connection's protocol half says it goes (`replay`: it always does).
    fn send_event(&mut self, event: &Event, replay: bool) {
        if !self.connected
            || (!replay && self.conn().live_event(&event.session_id, event.seq) == LiveEvent::Drop)
        {
            return;
        }
        self.outbox.push(encode(event));
        self.conn().event_sent(&event.session_id, event.seq);
        self.flush();
    }

    /// Hands the live queue to the connection.
    fn deliver_live(&mut self) {
        while let Some(event) = self.live.pop_front() {
            self.send_event(&event, false);
        }
    }

    /// Persists an event unless its session is fenced (as the server's writer refuses a
    /// fenced session's writes); returns the session's last stored seq.
    pub(super) fn emit(&mut self, session_id: &str, kind: EventKind) -> u64 {
        if self.fenced.contains(session_id) {
            return self.durable.sessions[session_id].log.len() as u64;
        }
        self.append_event(session_id, kind)
    }

    /// Appends an event to the session's log; a watched session's event goes into the
    /// connection's live queue.
    pub(super) fn append_event(&mut self, session_id: &str, kind: EventKind) -> u64 {
        let ts = self.ts();
        let session = self
            .durable
            .sessions
            .get_mut(session_id)
            .expect("emit to an existing session");
        let seq = session.log.len() as u64 + 1;
        let event = Event {
            session_id: session_id.to_owned(),
            seq,
            ts,
            kind,
        };
        session.log.push(event.clone());
        if self.connected && self.watchers.contains(session_id) {
            self.live.push_back(event);
        }
        seq
    }

    /// Moves a session through the table, persisting each step; panics on an invalid one (the
    /// model must only ask for valid transitions, which is part of what is tested).
    pub(super) fn go(&mut self, session_id: &str, steps: &[SessionState], why: &str) {
        if self.fenced.contains(session_id) {
            // Its state is stored with its event, and the writer refuses both until the repair
            // (which writes the state the repair decides, from the stored one).
            return;
        }
        let from = self.durable.sessions[session_id].state;
        let path = lifecycle::path(from, steps).unwrap_or_else(|e| panic!("model asked for {e}"));
        for (previous, state) in path {
            self.durable
                .sessions
                .get_mut(session_id)
                .expect("exists")
                .state = state;
            self.emit(
                session_id,
                EventKind::SessionState(SessionStateChange {
                    state,
                    previous: Some(previous),
                    reason: why.into(),
                }),
            );
        }
    }

    /// The session's last watcher went: ACTIVE becomes DETACHED.
    pub(super) fn watcher_left(&mut self, session_id: &str) {
        let state = self.durable.sessions[session_id].state;
        if let Some(to) = triggers::last_watcher_left(state) {
            self.go(session_id, &[to], reason::WATCHERS_LEFT);
        }
    }

    /// Sends the stored events of a session with `after < seq <= through`.
    fn replay(&mut self, session_id: &str, after: u64, through: u64) {
        let events = Vec::from_iter(
            self.durable.sessions[session_id]
                .log
                .iter()
                .filter(|e| e.seq > after && e.seq <= through)
                .cloned(),
        );
        for event in &events {
            self.send_event(event, true);
        }
    }

    /// Carries out the engine's lifecycle steps in their order, as the server's hub does
    /// (`Hub::carry_out`), for the session's runtime; returns the generation of the runtime
    /// `StartRuntime` started, if one did.
    pub(super) fn run_steps(&mut self, session_id: &str, steps: Vec<session::Step>) -> Option<u64> {
        let mut started = None;
        for step in steps {
            match step {
                session::Step::Go(to, why) => self.go(session_id, &[to], why),
                session::Step::StartRuntime => started = Some(self.spawn_runtime(session_id)),
                session::Step::CloseRuntime => {
                    if let Some(live) = self.runtime(session_id) {
                        live.send(Command::Close);
                    }
                }
                session::Step::AbortRuntime(why) => {
                    if let Some(live) = self.runtime(session_id) {
                        live.send(Command::Abort { reason: why });
                    }
                }
                session::Step::ForgetRuntime => {
                    self.runtimes
                        .retain(|runtime| runtime.session_id != session_id);
                    self.scripts.remove(session_id);
                }
            }
        }
        started
    }

    /// Brings the session to ACTIVE with a new runtime, along the engine's steps; returns the
    /// runtime's generation.
    pub(super) fn start_runtime(&mut self, session_id: &str) -> u64 {
        let state = self.durable.sessions[session_id].state;
        self.run_steps(session_id, session::start_steps(state))
            .expect("the start steps start a runtime")
    }

    /// A new runtime for the session, handed the stored turn queue and `clientMsgId`s.
    fn spawn_runtime(&mut self, session_id: &str) -> u64 {
        let generation = self.next_generation;
        self.next_generation += 1;
        assert!(
            self.runtime(session_id).is_none(),
            "a second live runtime for {session_id}"
        );
        let runtime = Runtime::start(session_id, generation);
        let queue = self.durable.pending.get(session_id).cloned();
        runtime.link.borrow_mut().queue_at_start = Vec::from_iter(queue.into_iter().flatten());
        runtime.link.borrow_mut().stored = BTreeSet::from_iter(
            self.durable
                .stored
                .iter()
                .filter(|(_, stored)| stored.session_id == session_id)
                .map(|(id, _)| id.clone()),
        );
        self.runtimes.push(runtime);
        generation
    }

    /// Runs every runtime's loop until none can go on, carrying out what each did in order;
    /// a runtime whose loop returned is gone, and its session's state says why.
    pub(super) fn poll_runtimes(&mut self) {
        let mut progress = true;
        while progress {
            progress = false;
            let mut n = 0;
            while n < self.runtimes.len() {
                let exited = self.runtimes[n].poll();
                let effects = std::mem::take(&mut self.runtimes[n].link.borrow_mut().effects);
                let session_id = self.runtimes[n].session_id.clone();
                progress |= !effects.is_empty();
                for effect in effects {
                    self.carry_out(&session_id, effect);
                }
                match exited {
                    Some(why) => {
                        // The engine's exit steps: ENDED, then the runtime forgotten.
                        let state = self.durable.sessions[&session_id].state;
                        self.run_steps(&session_id, session::exit_steps(state, why));
                        progress = true;
                    }
                    None => n += 1,
                }
            }
        }
    }

    fn carry_out(&mut self, session_id: &str, effect: Effect) {
        match effect {
            Effect::Start(message_id) => {
                if let Some(queue) = self.durable.pending.get_mut(session_id) {
                    queue.retain(|queued| *queued != message_id);
                }
                *self.runs.entry(message_id.clone()).or_default() += 1;
                self.turn_counter += 1;
                self.emit(
                    session_id,
                    EventKind::TurnStart(TurnStart {
                        turn_id: format!("turn-of-{message_id}"),
                    }),
                );
                let script = Script {
                    message_id,
                    step: 0,
                };
                self.scripts.insert(session_id.to_owned(), script);
            }
            Effect::Cancel => {
                self.scripts.remove(session_id);
            }
            Effect::End(message_id, end) => {
                self.scripts.remove(session_id);
                self.emit(
                    session_id,
                    EventKind::TurnEnd(TurnEnd {
                        turn_id: format!("turn-of-{message_id}"),
                        reason: end.reason,
                        error: end.error,
                        usage: None,
                        stop_reason: end.stop_reason,
                    }),
                );
            }
            Effect::Forget(message_ids, dropped) => {
                if dropped {
                    if let Some(queue) = self.durable.pending.get_mut(session_id) {
                        queue.retain(|queued| !message_ids.contains(queued));
                    }
                    self.abandoned.extend(message_ids);
                }
            }
        }
    }

    /// A write of the session failed (the server's `Hub::storage_failed`): the engine's
    /// `repair::storage_failed` fences it and aborts its runtime (its queue stays stored);
    /// [`Server::repair`] brings it back.
    pub(super) fn storage_failed(&mut self, session_id: &str) {
        engine::run_ready(repair::storage_failed(self, session_id)).expect("ready");
    }

    /// Storage works again: each fenced session gets the engine's repair (what its lost
    /// runtime left open closes, the session goes ENDED, the fence lifts, its queue runs).
    pub fn repair(&mut self) {
        self.poll_runtimes();
        for session_id in self.fenced.clone() {
            let repaired = engine::run_ready(repair::repair(self, &session_id)).expect("ready");
            assert_eq!(repaired, Ok(true), "stored at the first try, no shutdown");
        }
        self.poll_runtimes();
        self.deliver_live();
    }

    /// The connection opened (after a cut or a restart).
    pub fn connect(&mut self) {
        self.connected = true;
        self.conn = Some(new_connection());
    }

    /// The connection died: every session it watched loses its watcher.
    pub fn disconnect(&mut self) {
        self.connected = false;
        self.outbox.clear();
        self.live.clear();
        self.conn = Some(new_connection());
        for session_id in std::mem::take(&mut self.watchers) {
            self.watcher_left(&session_id);
        }
    }

    /// A crash and restart: memory is lost, the durable log is kept and recovered.
    pub fn restart(&mut self) {
        self.connected = false;
        self.outbox.clear();
        self.conn = Some(new_connection());
        self.watchers.clear();
        self.live.clear();
        // The runtimes die with the process; their queues stay stored. (Fences are memory: the
        // failed writes were rolled back, and recovery closes what they left open.)
        self.runtimes.clear();
        self.fenced.clear();
        self.scripts.clear();
        self.epoch += 1;
        // The engine's recovery: cut turns end, sessions go ENDED, queued acked messages run.
        let recovered = engine::run_ready(recovery::recover(self))
            .expect("every effect of the simulator's server is ready at once");
        let Ok(_) = recovered;
        self.poll_runtimes();
    }

    /// Handles one frame from the client: the engine's connection half, then its route.
    pub fn handle(&mut self, text: &str) {
        let frame = match self.conn().handle_text(text, Duration::ZERO) {
            Inbound::Answered => return self.flush(),
            Inbound::Hello(_) => {
                let epoch = format!("e{}", self.epoch);
                self.conn().accept_hello(Welcome {
                    protocol: 1,
                    connection_id: "k".into(),
                    epoch,
                    server: ServerInfo {
                        name: "model".into(),
                        version: "0".into(),
                    },
                });
                return self.flush();
            }
            Inbound::Route(frame) => frame,
        };
        let mut conn = self.conn.take().expect("one route at a time");
        let outs = engine::run_ready(route::handle(self, &mut conn, frame))
            .expect("every effect of the simulator's server is ready at once");
        self.conn = Some(conn);
        // As the real connection does: the route's replies and replays in order, then the live
        // queue (which lets an ack go right after its `user_message`).
        for out in outs {
            match out {
                Out::Reply(reply) => self.conn().push_reply(reply),
                Out::Replay {
                    session_id,
                    after,
                    through,
                } => {
                    self.flush();
                    self.replay(&session_id, after, through);
                }
                Out::AckAfter { seq, ack } => self.conn().push_ack_after(seq, ack),
            }
        }
        self.flush();
        // What the route woke: commands, stored messages.
        self.poll_runtimes();
        self.deliver_live();
    }

    /// One agent step: every running turn emits its next scripted event, or its agent is done.
    pub fn tick(&mut self) {
        let sessions = Vec::from_iter(self.scripts.keys().cloned());
        for session_id in sessions {
            self.step_script(&session_id);
        }
        self.poll_runtimes();
        self.deliver_live();
    }

    /// The agent of one running turn (picked by `pick`) dies: its runtime ends the turn with
    /// an error and exits, and what was queued behind it stays stored.
    pub fn lose_agent(&mut self, pick: usize) {
        let mut running = Vec::from_iter(self.scripts.keys().cloned());
        if running.is_empty() {
            return;
        }
        let session_id = running.swap_remove(pick % running.len());
        let runtime = self.runtime(&session_id).expect("a script has a runtime");
        runtime.link.borrow_mut().agent_lost = true;
        self.poll_runtimes();
        self.deliver_live();
    }

    /// An acked message in the durable turn queue of a session with no live runtime.
    pub fn waits_for_next_start(&self, message_id: &str) -> bool {
        self.durable.pending.iter().any(|(session_id, queue)| {
            self.runtime(session_id).is_none() && queue.iter().any(|queued| queued == message_id)
        })
    }

    pub fn busy(&self) -> bool {
        self.runtimes.iter().any(Runtime::busy)
    }

    fn step_script(&mut self, session_id: &str) {
        let Some(script) = self.scripts.get_mut(session_id) else {
            return;
        };
        script.step += 1;
        let (step, message_id) = (script.step, script.message_id.clone());
        let assistant = format!("reply-to-{message_id}");
        let kind = match step {
            1 => EventKind::MessageStart(MessageRef {
                message_id: assistant,
            }),
            2 => EventKind::BlockStart(BlockStart {
                message_id: assistant,
                block_id: "b".into(),
                block_type: BlockType::Text,
                tool_name: None,
            }),
            3..=5 => EventKind::BlockDelta(BlockDelta {
                message_id: assistant,
                block_id: "b".into(),
                delta: format!("[{step}]"),
            }),
            6 => EventKind::BlockEnd(sessionwire_core::protocol::BlockEnd {
                message_id: assistant,
                block_id: "b".into(),
                input: None,
            }),
            7 => EventKind::MessageEnd(MessageRef {
                message_id: assistant,
            }),
            _ => {
                // The agent answered: its runtime writes the turn's end.
                let runtime = self.runtime(session_id).expect("a script has a runtime");
                runtime.link.borrow_mut().finished = true;
                return;
            }
        };
        debug_assert!(step <= TURN_SCRIPT_LEN);
        self.emit(session_id, kind);
    }
}

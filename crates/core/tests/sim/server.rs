//! A model server built on the core's routing and lifecycle, and on the engine the server drives:
//! the protocol half of a connection (`engine::ConnectionProtocol`: hello, watching, the order
//! of what goes out) and each runtime's turns (`engine::TurnScheduler`): durable sessions and logs that survive a restart, and runtimes,
//! watchers and queues that do not. Agents are scripted: each
//! turn streams a fixed sequence of events, one per tick, so turns interleave with the network.

use sessionwire_core::engine::{
    session, AbortCause, ConnectionLimits, ConnectionProtocol, Inbound, LiveEvent, Next, RateLimit,
    Stored, TurnScheduler,
};
use sessionwire_core::lifecycle::{self, reason, triggers};
use sessionwire_core::protocol::{
    encode, Ack, BlockDelta, BlockStart, BlockType, ClientFrame, ErrorCode, ErrorReply, Event,
    EventKind, MessageRef, ReconnectedSession, Reply, ServerInfo, SessionCreated,
    SessionStateChange, SessionSwitched, TurnEnd, TurnEndReason, TurnStart, UserMessage, Welcome,
};
use sessionwire_core::routing::{self, Lookup, RuntimeView, SessionView, StoredMessage};
use sessionwire_core::SessionState;
use std::collections::{BTreeMap, HashMap};
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
    next_session: u64,
}

#[derive(Debug)]
pub struct DurableSession {
    pub state: SessionState,
    pub log: Vec<Event>,
}

/// One queued or running turn.
#[derive(Debug, Clone)]
struct Turn {
    message_id: String,
    /// How many of the turn's scripted events have been emitted.
    step: usize,
}

#[derive(Debug)]
pub struct Runtime {
    pub session_id: String,
    pub generation: u64,
    /// Which turn runs and what waits: the engine's scheduler, as the server's runtimes use it.
    turns: TurnScheduler<String>,
    /// The running turn's progress through its script.
    current: Option<Turn>,
}

/// The scripted events of one turn, after `turn_start`.
const TURN_SCRIPT_LEN: usize = 8;

#[derive(Debug)]
pub struct Server {
    pub durable: Durable,
    pub runtimes: Vec<Runtime>,
    next_generation: u64,
    epoch: u64,
    /// The one client connection: whether it is open, and its protocol half (whether it said
    /// hello, what it watches, its current session, what it was sent).
    pub connected: bool,
    conn: ConnectionProtocol,
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
            next_generation: 1,
            epoch: 1,
            connected: false,
            conn: new_connection(),
            outbox: Vec::new(),
            runs: HashMap::new(),
            abandoned: Vec::new(),
            turn_counter: 0,
        }
    }

    fn ts(&self) -> u64 {
        0
    }

    fn runtime(&self, session_id: &str) -> Option<&Runtime> {
        self.runtimes.iter().find(|r| r.session_id == session_id)
    }

    fn runtime_view(&self, session_id: &str) -> Option<RuntimeView> {
        self.runtime(session_id).map(|r| RuntimeView {
            generation: r.generation,
            turn_active: r.turns.is_running() || r.turns.queued() > 0,
        })
    }

    fn lookup(&self, session_id: &str) -> Lookup {
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

    fn reply(&mut self, reply: Reply) {
        self.conn.push_reply(reply);
        self.flush();
    }

    /// Moves what the connection's protocol half queued into the outbox.
    fn flush(&mut self) {
        while let Some(reply) = self.conn.poll_reply() {
            if self.connected {
                self.outbox.push(encode(&reply));
            }
        }
    }

    /// Sends an event if the connection's protocol half says it goes (`replay`: it always does).
    fn send_event(&mut self, event: &Event, replay: bool) {
        if !self.connected
            || (!replay && self.conn.live_event(&event.session_id, event.seq) == LiveEvent::Drop)
        {
            return;
        }
        self.outbox.push(encode(event));
        self.conn.event_sent(&event.session_id, event.seq);
        self.flush();
    }

    fn error(
        &mut self,
        code: ErrorCode,
        message: &str,
        session_id: Option<String>,
        reference: Option<String>,
    ) {
        self.reply(Reply::Error(ErrorReply {
            code,
            message: message.into(),
            session_id,
            reference,
        }));
    }

    /// Persists an event and sends it to the connection if it watches the session.
    fn emit(&mut self, session_id: &str, kind: EventKind) -> u64 {
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
        self.send_event(&event, false);
        seq
    }

    /// Moves a session through the table, persisting each step; panics on an invalid one (the
    /// model must only ask for valid transitions, which is part of what is tested).
    fn go(&mut self, session_id: &str, steps: &[SessionState], why: &str) {
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

    fn watch(&mut self, session_id: &str) {
        self.conn.watch(session_id);
        if self.runtime(session_id).is_some() {
            let state = self.durable.sessions[session_id].state;
            if let Some(to) = triggers::watcher_joined(state) {
                self.go(session_id, &[to], reason::WATCHER_JOINED);
            }
        }
    }

    fn unwatch(&mut self, session_id: &str) {
        self.conn.unwatch(session_id);
        let state = self.durable.sessions[session_id].state;
        if let Some(to) = triggers::last_watcher_left(state) {
            self.go(session_id, &[to], reason::WATCHERS_LEFT);
        }
    }

    fn replay(&mut self, session_id: &str, after: u64) -> u64 {
        let events: Vec<Event> = self.durable.sessions[session_id]
            .log
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect();
        for event in &events {
            self.send_event(event, true);
        }
        events.len() as u64
    }

    fn start_runtime(&mut self, session_id: &str) {
        let generation = self.next_generation;
        self.next_generation += 1;
        assert!(
            self.runtime(session_id).is_none(),
            "a second live runtime for {session_id}"
        );
        self.runtimes.push(Runtime {
            session_id: session_id.to_owned(),
            generation,
            turns: TurnScheduler::default(),
            current: None,
        });
        // The server's steps, with the server's reasons.
        let state = self.durable.sessions[session_id].state;
        for (step, why) in session::start_steps(state) {
            self.go(session_id, &[step], why);
        }
    }

    /// Aborts the runtime of `generation` (never another one) and ends its session.
    fn abort(&mut self, generation: u64, why: &str) {
        let Some(position) = self
            .runtimes
            .iter()
            .position(|r| r.generation == generation)
        else {
            return;
        };
        let mut runtime = self.runtimes.remove(position);
        let aborted = runtime.turns.abort(AbortCause::for_reason(why));
        if let Some(turn) = runtime.current.filter(|_| aborted.cancel) {
            self.emit(
                &runtime.session_id,
                EventKind::TurnEnd(TurnEnd {
                    turn_id: format!("turn-of-{}", turn.message_id),
                    reason: TurnEndReason::Interrupted,
                    error: None,
                    usage: None,
                    stop_reason: None,
                }),
            );
        }
        self.abandoned.extend(aborted.queue);
        let state = self.durable.sessions[&runtime.session_id].state;
        if let Some(to) = triggers::runtime_exited(state) {
            self.go(&runtime.session_id, &[to], why);
        }
    }

    fn accept_message(
        &mut self,
        session_id: &str,
        client_msg_id: &str,
        text: &str,
        front: bool,
    ) -> u64 {
        let seq = self.emit(
            session_id,
            EventKind::UserMessage(UserMessage {
                message_id: client_msg_id.into(),
                text: text.into(),
            }),
        );
        self.durable.stored.insert(
            client_msg_id.into(),
            StoredMessage {
                session_id: session_id.into(),
                seq,
            },
        );
        let runtime = self
            .runtimes
            .iter_mut()
            .find(|r| r.session_id == session_id)
            .expect("accepting needs a runtime");
        let turn = client_msg_id.to_owned();
        // (An interrupt cancelled the running turn already: its turn now goes first.)
        let refused = if front {
            runtime.turns.interrupt(Some(turn)).1
        } else {
            runtime.turns.deliver(turn)
        };
        assert!(refused.is_none(), "the model never closes a runtime");
        seq
    }

    fn ack(&mut self, session_id: &str, client_msg_id: &str, seq: u64, duplicate: bool) {
        let running = self.running(session_id);
        let ack = Ack {
            session_id: session_id.into(),
            client_msg_id: client_msg_id.into(),
            seq,
            duplicate,
            running,
        };
        self.reply(Reply::Ack(ack));
    }

    /// The connection opened (after a cut or a restart).
    pub fn connect(&mut self) {
        self.connected = true;
        self.conn = new_connection();
    }

    /// The connection died: every session it watched loses its watcher.
    pub fn disconnect(&mut self) {
        self.connected = false;
        self.outbox.clear();
        let watched: Vec<String> = self.conn.watched().map(str::to_owned).collect();
        self.conn = new_connection();
        for session_id in watched {
            let state = self.durable.sessions[&session_id].state;
            if let Some(to) = triggers::last_watcher_left(state) {
                self.go(&session_id, &[to], reason::WATCHERS_LEFT);
            }
        }
    }

    /// A crash and restart: memory is lost, the durable log is kept and recovered.
    pub fn restart(&mut self) {
        self.connected = false;
        self.outbox.clear();
        self.conn = new_connection();
        for mut runtime in std::mem::take(&mut self.runtimes) {
            let aborted = runtime.turns.abort(AbortCause::Suspend);
            self.abandoned.extend(aborted.queue);
        }
        self.epoch += 1;
        let ids: Vec<String> = self.durable.sessions.keys().cloned().collect();
        for session_id in ids {
            let session = &self.durable.sessions[&session_id];
            let Some(to) = lifecycle::recover_on_start(session.state) else {
                continue;
            };
            let open_turn = session.log.iter().rev().find_map(|e| match &e.kind {
                EventKind::TurnStart(t) => Some(Some(t.turn_id.clone())),
                EventKind::TurnEnd(_) => Some(None),
                _ => None,
            });
            if let Some(Some(turn_id)) = open_turn {
                self.emit(
                    &session_id,
                    EventKind::TurnEnd(TurnEnd {
                        turn_id,
                        reason: TurnEndReason::Error,
                        error: Some("server_restart".into()),
                        usage: None,
                        stop_reason: None,
                    }),
                );
            }
            let previous = self.durable.sessions[&session_id].state;
            self.durable
                .sessions
                .get_mut(&session_id)
                .expect("exists")
                .state = to;
            self.emit(
                &session_id,
                EventKind::SessionState(SessionStateChange {
                    state: to,
                    previous: Some(previous),
                    reason: reason::SERVER_RESTART.into(),
                }),
            );
        }
    }

    /// Handles one frame from the client.
    pub fn handle(&mut self, text: &str) {
        let frame = match self.conn.handle_text(text, Duration::ZERO) {
            Inbound::Answered => return self.flush(),
            Inbound::Hello(_) => {
                self.conn.accept_hello(Welcome {
                    protocol: 1,
                    connection_id: "k".into(),
                    epoch: format!("e{}", self.epoch),
                    server: ServerInfo {
                        name: "model".into(),
                        version: "0".into(),
                    },
                });
                return self.flush();
            }
            Inbound::Route(frame) => frame,
        };
        match frame {
            ClientFrame::Send(send) => {
                self.handle_send(send.session_id, send.client_msg_id, send.text)
            }
            ClientFrame::Interrupt(i) => {
                self.handle_interrupt(i.session_id, i.client_msg_id, i.text)
            }
            ClientFrame::SwitchSession(s) => self.handle_switch(s.session_id, s.last_seq),
            ClientFrame::Reconnect(r) => {
                let mut rows = Vec::new();
                for cursor in r.sessions {
                    let lookup = self.lookup(&cursor.session_id);
                    match routing::decide_reconnect(cursor.last_seq, lookup) {
                        routing::ReconnectDecision::NotFound => self.error(
                            ErrorCode::SessionNotFound,
                            "no such session",
                            Some(cursor.session_id),
                            Some("reconnect".into()),
                        ),
                        routing::ReconnectDecision::Resync {
                            abort_zombie,
                            replay_after,
                            ..
                        } => {
                            if let Some(generation) = abort_zombie {
                                self.abort(generation, reason::ZOMBIE_ABORTED);
                            }
                            self.watch(&cursor.session_id);
                            let replayed = self.replay(&cursor.session_id, replay_after);
                            let session = &self.durable.sessions[&cursor.session_id];
                            rows.push(ReconnectedSession {
                                session_id: cursor.session_id.clone(),
                                replayed,
                                state: session.state,
                                running: self.running(&cursor.session_id),
                                last_seq: session.log.len() as u64,
                            });
                        }
                    }
                }
                self.reply(Reply::Reconnected(
                    sessionwire_core::protocol::Reconnected { sessions: rows },
                ));
            }
            _ => {}
        }
    }

    fn handle_send(&mut self, session_id: Option<String>, client_msg_id: String, text: String) {
        let lookup = session_id.as_deref().map_or(
            Lookup {
                session: None,
                runtime: None,
            },
            |id| self.lookup(id),
        );
        let stored = self.durable.stored.get(&client_msg_id).cloned();
        match routing::decide_send(session_id.as_deref(), lookup, stored) {
            routing::SendDecision::Duplicate {
                original,
                announce_session,
            } => {
                if announce_session {
                    self.watch_as_current(&original.session_id);
                    self.reply(Reply::SessionCreated(SessionCreated {
                        session_id: original.session_id.clone(),
                        client_msg_id: client_msg_id.clone(),
                    }));
                }
                self.ack(&original.session_id, &client_msg_id, original.seq, true);
            }
            routing::SendDecision::Create => {
                self.durable.next_session += 1;
                let id = format!("s{}", self.durable.next_session);
                self.durable.sessions.insert(
                    id.clone(),
                    DurableSession {
                        state: SessionState::Created,
                        log: Vec::new(),
                    },
                );
                self.watch_as_current(&id);
                self.reply(Reply::SessionCreated(SessionCreated {
                    session_id: id.clone(),
                    client_msg_id: client_msg_id.clone(),
                }));
                self.emit(
                    &id,
                    EventKind::SessionState(SessionStateChange {
                        state: SessionState::Created,
                        previous: None,
                        reason: reason::CREATED.into(),
                    }),
                );
                self.start_runtime(&id);
                let seq = self.accept_message(&id, &client_msg_id, &text, false);
                self.ack(&id, &client_msg_id, seq, false);
            }
            routing::SendDecision::NotFound => self.error(
                ErrorCode::SessionNotFound,
                "no such session",
                session_id,
                Some(client_msg_id),
            ),
            routing::SendDecision::Deliver { .. } => {
                let id = session_id.expect("deliver names a session");
                self.watch(&id);
                let seq = self.accept_message(&id, &client_msg_id, &text, false);
                self.ack(&id, &client_msg_id, seq, false);
            }
            routing::SendDecision::AbortZombieThenResume { generation } => {
                let id = session_id.expect("a zombie names a session");
                self.abort(generation, reason::ZOMBIE_ABORTED);
                self.resume_with(&id, &client_msg_id, &text);
            }
            routing::SendDecision::Resume => {
                let id = session_id.expect("resume names a session");
                self.resume_with(&id, &client_msg_id, &text);
            }
        }
    }

    fn watch_as_current(&mut self, session_id: &str) {
        self.conn.watch(session_id);
        self.conn.set_current(Some(session_id.to_owned()));
    }

    fn resume_with(&mut self, session_id: &str, client_msg_id: &str, text: &str) {
        self.watch(session_id);
        self.start_runtime(session_id);
        let seq = self.accept_message(session_id, client_msg_id, text, false);
        self.ack(session_id, client_msg_id, seq, false);
    }

    fn handle_interrupt(
        &mut self,
        session_id: String,
        client_msg_id: String,
        text: Option<String>,
    ) {
        let stored = self.durable.stored.get(&client_msg_id).cloned();
        match routing::decide_interrupt(text.is_some(), self.lookup(&session_id), stored) {
            routing::InterruptDecision::NotFound => self.error(
                ErrorCode::SessionNotFound,
                "no such session",
                Some(session_id),
                Some(client_msg_id),
            ),
            routing::InterruptDecision::Duplicate { original } => {
                self.ack(&original.session_id, &client_msg_id, original.seq, true)
            }
            routing::InterruptDecision::InterruptTurn { .. } => {
                self.watch(&session_id);
                let runtime = self
                    .runtimes
                    .iter_mut()
                    .find(|r| r.session_id == session_id)
                    .expect("live");
                let (cancel, _) = runtime.turns.interrupt(None);
                if let Some(turn) = runtime.current.take().filter(|_| cancel) {
                    self.emit(
                        &session_id,
                        EventKind::TurnEnd(TurnEnd {
                            turn_id: format!("turn-of-{}", turn.message_id),
                            reason: TurnEndReason::Interrupted,
                            error: None,
                            usage: None,
                            stop_reason: None,
                        }),
                    );
                }
                let seq = match &text {
                    Some(text) => self.accept_message(&session_id, &client_msg_id, text, true),
                    None => self.record_textless(&session_id, &client_msg_id),
                };
                self.ack(&session_id, &client_msg_id, seq, false);
            }
            routing::InterruptDecision::AbortZombie {
                generation,
                resume_with_text,
            } => {
                self.abort(generation, reason::ZOMBIE_ABORTED);
                match text.filter(|_| resume_with_text) {
                    Some(text) => self.resume_with(&session_id, &client_msg_id, &text),
                    None => {
                        let seq = self.record_textless(&session_id, &client_msg_id);
                        self.ack(&session_id, &client_msg_id, seq, false);
                    }
                }
            }
            routing::InterruptDecision::Resume => {
                let text = text.expect("resume has text");
                self.resume_with(&session_id, &client_msg_id, &text);
            }
            routing::InterruptDecision::NoOp => {
                let seq = self.record_textless(&session_id, &client_msg_id);
                self.ack(&session_id, &client_msg_id, seq, false);
            }
        }
    }

    fn record_textless(&mut self, session_id: &str, client_msg_id: &str) -> u64 {
        let seq = self.durable.sessions[session_id].log.len() as u64;
        self.durable.stored.insert(
            client_msg_id.into(),
            StoredMessage {
                session_id: session_id.into(),
                seq,
            },
        );
        seq
    }

    fn handle_switch(&mut self, target: Option<String>, last_seq: Option<u64>) {
        let lookup = target.as_deref().map_or(
            Lookup {
                session: None,
                runtime: None,
            },
            |id| self.lookup(id),
        );
        match routing::decide_switch(target.as_deref(), last_seq, self.conn.current(), lookup) {
            routing::SwitchDecision::Clear { unwatch } => {
                if let Some(id) = unwatch {
                    self.unwatch(&id);
                }
                self.conn.set_current(None);
                self.reply(Reply::SessionCleared(
                    sessionwire_core::protocol::SessionCleared {},
                ));
            }
            routing::SwitchDecision::NotFound => self.error(
                ErrorCode::SessionNotFound,
                "no such session",
                target,
                Some("switch_session".into()),
            ),
            routing::SwitchDecision::Switch {
                unwatch,
                replay_after,
                ..
            } => {
                let id = target.expect("switch names a session");
                if let Some(previous) = unwatch {
                    self.unwatch(&previous);
                }
                self.watch(&id);
                self.conn.set_current(Some(id.clone()));
                let session = &self.durable.sessions[&id];
                let reply = SessionSwitched {
                    session_id: id.clone(),
                    state: session.state,
                    running: self.running(&id),
                    last_seq: session.log.len() as u64,
                    title: String::new(),
                };
                self.reply(Reply::SessionSwitched(reply));
                self.replay(&id, replay_after);
            }
        }
    }

    /// One agent step: every runtime with work emits its next event.
    pub fn tick(&mut self) {
        let sessions: Vec<String> = self.runtimes.iter().map(|r| r.session_id.clone()).collect();
        for session_id in sessions {
            self.step_runtime(&session_id);
        }
    }

    pub fn busy(&self) -> bool {
        self.runtimes
            .iter()
            .any(|r| r.turns.is_running() || r.turns.queued() > 0)
    }

    fn step_runtime(&mut self, session_id: &str) {
        let Some(runtime) = self
            .runtimes
            .iter_mut()
            .find(|r| r.session_id == session_id)
        else {
            return;
        };
        if runtime.current.is_none() {
            // The model stores every message at once.
            let Next::Start(message_id) = runtime.turns.next(|_| Stored::Stored) else {
                return;
            };
            runtime.current = Some(Turn {
                message_id: message_id.clone(),
                step: 0,
            });
            *self.runs.entry(message_id.clone()).or_default() += 1;
            self.turn_counter += 1;
            self.emit(
                session_id,
                EventKind::TurnStart(TurnStart {
                    turn_id: format!("turn-of-{message_id}"),
                }),
            );
            return;
        }
        let turn = runtime.current.as_mut().expect("checked");
        turn.step += 1;
        let (step, message_id) = (turn.step, turn.message_id.clone());
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
                runtime.current = None;
                runtime.turns.turn_ended(false);
                EventKind::TurnEnd(TurnEnd {
                    turn_id: format!("turn-of-{message_id}"),
                    reason: TurnEndReason::Completed,
                    error: None,
                    usage: None,
                    stop_reason: None,
                })
            }
        };
        debug_assert!(step <= TURN_SCRIPT_LEN);
        self.emit(session_id, kind);
    }
}

//! A deterministic simulator, in the spirit of quinn's in-memory `Pair`: the client store and a
//! server running the engine the real server runs (its connection half, every frame's route and
//! each runtime's loop, over an in-memory store and scripted agents), joined by a seeded network that drops,
//! duplicates, delays and reorders frames, cuts the connection and restarts the server (losing
//! memory, keeping the durable log), while agents die mid-turn and writes fail (the session is
//! fenced and answers `unavailable` until its repair). Thousands of seeds run per test; a failure prints its seed,
//! and `SIM_SEED=<n> cargo test -p sessionwire-core --test simulator` replays exactly that one.
//!
//! Besides random runs, bursts: one user creating 100 sessions at once and sending to all of them
//! at once over the same faulty network.
//!
//! Checked after every step: no message's turn ever starts twice; never two live runtimes for
//! one session; the client never holds a seq the server has not stored. Checked once the network
//! heals: the client's view of every session it holds equals the server's log, its `running`
//! equals the server's, every acked message is stored exactly once, and, once the agents are
//! done, has run exactly once: also across restarts and lost agents, which keep the durable turn
//! queue for the session's next runtime (unless a stop or a zombie's abort dropped it, which the
//! contract says must not run).

// The simulator's helpers panic on broken invariants (that is how a seed fails) and print a
// trace on request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod sim;

use sessionwire_core::protocol::EventKind;
use sessionwire_core::store::{Action, Connection, Received, Store};
use sim::rng::Rng;
use sim::server::Server;
use std::collections::BTreeSet;

struct World {
    rng: Rng,
    server: Server,
    client: Store,
    /// Whether the client's socket is up (the server's side is `server.connected`).
    socket_up: bool,
    to_server: Vec<String>,
    acked: BTreeSet<String>,
    /// Interrupts sent without text: acked, but with no `user_message` to store or run.
    textless: BTreeSet<String>,
    texts: u64,
    /// The network misbehaves only while this is set.
    lossy: bool,
}

impl World {
    fn new(seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            server: Server::new(),
            client: Store::new("c"),
            socket_up: false,
            to_server: Vec::new(),
            acked: BTreeSet::new(),
            textless: BTreeSet::new(),
            texts: 0,
            lossy: true,
        }
    }

    fn open(&self) -> bool {
        self.socket_up && self.client.state().connection == Connection::Open
    }

    /// The transport sends a frame only on an open connection; anything that matters waits in
    /// the store's outbox and goes out again after the next welcome.
    fn client_sends(&mut self, frame: Option<String>) {
        if let Some(frame) = frame {
            if self.open() {
                self.to_server.push(frame);
            }
        }
    }

    fn connect(&mut self) {
        if self.socket_up {
            return;
        }
        self.socket_up = true;
        self.server.connect();
        self.client.connection_opened();
        let hello = self.client.hello(None);
        self.to_server.push(hello);
    }

    fn cut(&mut self) {
        trace("-- cut");
        self.socket_up = false;
        self.to_server.clear();
        self.server.disconnect();
        self.client.connection_lost();
    }

    fn restart(&mut self) {
        trace("-- restart");
        self.socket_up = false;
        self.to_server.clear();
        self.client.connection_lost();
        self.server.restart();
    }

    /// Takes the next frame of a queue, applying the network's fate to it.
    fn take(rng: &mut Rng, queue: &mut Vec<String>, lossy: bool) -> Option<String> {
        if queue.is_empty() {
            return None;
        }
        if lossy {
            match rng.below(100) {
                0..=3 => {
                    queue.remove(0);
                    return None;
                }
                4..=7 => return Some(queue[0].clone()),
                8..=11 if queue.len() > 1 => queue.swap(0, 1),
                _ => {}
            }
        }
        Some(queue.remove(0))
    }

    fn deliver_to_client(&mut self) {
        let Some(frame) = Self::take(&mut self.rng, &mut self.server.outbox, self.lossy) else {
            return;
        };
        trace(&format!("-> client {frame}"));
        // Half the frames go through the bindings' path (a streamed delta applied in place),
        // which must do exactly what `receive` does.
        let actions = if frame.len() % 2 == 0 {
            self.client.receive(&frame)
        } else {
            self.client
                .receive_in_place(&frame)
                .map(Received::into_actions)
        }
        .unwrap_or_else(|e| panic!("server sent a bad frame {frame}: {e}"));
        for action in &actions {
            match action {
                Action::Welcome { .. } => {
                    let frames = self.client.pending_frames();
                    for f in frames {
                        self.client_sends(Some(f));
                    }
                }
                Action::GapDetected { session_id, .. } => {
                    let frame = self.client.reconnect_frame(Some(session_id));
                    self.client_sends(frame);
                }
                Action::Ack { client_msg_id, .. } => {
                    self.acked.insert(client_msg_id.clone());
                }
                _ => {}
            }
        }
        for f in self.client.take_ready_frames() {
            self.client_sends(Some(f));
        }
    }

    fn deliver_to_server(&mut self) {
        if let Some(frame) = Self::take(&mut self.rng, &mut self.to_server, self.lossy) {
            trace(&format!("-> server {frame}"));
            self.server.handle(&frame);
        }
    }

    fn known_sessions(&self) -> Vec<String> {
        self.client.state().views.keys().cloned().collect()
    }

    fn user_acts(&mut self) {
        match self.rng.below(10) {
            0..=4 => {
                self.texts += 1;
                let frame = self.client.send(&format!("msg {}", self.texts));
                self.client_sends(frame);
            }
            5 => {
                self.texts += 1;
                let frame = self.client.create_session(&format!("new {}", self.texts));
                self.client_sends(Some(frame));
            }
            6 | 7 => {
                let sessions = self.known_sessions();
                if !sessions.is_empty() {
                    let target = sessions[self.rng.below(sessions.len())].clone();
                    let frame = self.client.switch_session(Some(&target));
                    self.client_sends(Some(frame));
                }
            }
            _ => {
                self.texts += 1;
                let text = format!("instead {}", self.texts);
                let with_text = self.rng.chance(70);
                if let Ok(frame) = self.client.interrupt(with_text.then_some(text.as_str())) {
                    if !with_text {
                        let parsed: serde_json::Value = serde_json::from_str(&frame).unwrap();
                        self.textless
                            .insert(parsed["clientMsgId"].as_str().unwrap().to_owned());
                    }
                    self.client_sends(Some(frame));
                }
            }
        }
    }

    fn step(&mut self) {
        match self.rng.below(100) {
            0..=29 => self.deliver_to_client(),
            30..=49 => self.deliver_to_server(),
            50..=68 => self.server.tick(),
            69 => {
                let pick = self.rng.next_u64() as usize;
                self.server.lose_agent(pick);
            }
            70..=82 => self.user_acts(),
            83 => self.server.fail_next_write = true,
            84 => self.server.repair(),
            85..=89 => self.cut(),
            90..=97 => self.connect(),
            _ => self.restart(),
        }
    }

    fn check_always(&self) {
        for (message, runs) in &self.server.runs {
            assert!(*runs <= 1, "message {message} ran {runs} times");
        }
        let mut live = BTreeSet::new();
        for runtime in &self.server.runtimes {
            assert!(
                live.insert(runtime.session_id.clone()),
                "two live runtimes for {}",
                runtime.session_id
            );
        }
        for (id, view) in &self.client.state().views {
            let stored = self
                .server
                .durable
                .sessions
                .get(id)
                .map_or(0, |s| s.log.len() as u64);
            assert!(
                view.last_seq <= stored,
                "client holds seq {} of {id}, server stored {stored}",
                view.last_seq
            );
        }
    }

    /// Delivers everything reliably, on a fresh connection, until nothing is in flight.
    fn heal(&mut self, run_agents: bool) {
        self.lossy = false;
        self.server.fail_next_write = false;
        self.server.repair();
        self.cut();
        self.connect();
        for _ in 0..100_000 {
            if !self.to_server.is_empty() {
                self.deliver_to_server();
            } else if !self.server.outbox.is_empty() {
                self.deliver_to_client();
            } else if run_agents && self.server.busy() {
                self.server.tick();
            } else {
                return;
            }
        }
        panic!("the network did not settle");
    }

    fn check_healed(&self) {
        let state = self.client.state();
        for (id, view) in &state.views {
            if view.last_seq == 0 && state.current_session_id.as_deref() != Some(id) {
                continue;
            }
            let log = &self
                .server
                .durable
                .sessions
                .get(id)
                .expect("client views only real sessions")
                .log;
            assert_eq!(view.last_seq, log.len() as u64, "client's lastSeq of {id}");
            assert_eq!(
                view.running,
                self.server.running(id),
                "client's running of {id}"
            );
            assert!(view.gap.is_none(), "gap left in {id}");
            // The conversation equals the log applied once, in order, to a fresh store.
            let mut fresh = Store::new("x");
            for event in log {
                fresh
                    .receive(&sessionwire_core::protocol::encode(event))
                    .unwrap();
            }
            let expected = &fresh.state().views[id];
            let strip = |m: &sessionwire_core::store::Message| {
                (m.id.clone(), m.role, m.text.clone(), m.blocks.clone())
            };
            let got: Vec<_> = view
                .messages
                .iter()
                .filter(|m| {
                    !matches!(
                        m.status,
                        sessionwire_core::store::MessageStatus::Pending
                            | sessionwire_core::store::MessageStatus::Failed
                    )
                })
                .map(strip)
                .collect();
            let want: Vec<_> = expected.messages.iter().map(strip).collect();
            assert_eq!(got, want, "conversation of {id}");
            assert_eq!(view.state, expected.state, "state of {id}");
        }
        assert!(
            state.outbox.iter().all(|entry| entry.waits_for.is_some()),
            "outbox not drained after healing: {:?}",
            state.outbox
        );
        for id in self.acked.difference(&self.textless) {
            let stored: usize = self
                .server
                .durable
                .sessions
                .values()
                .flat_map(|s| &s.log)
                .filter(|e| matches!(&e.kind, EventKind::UserMessage(m) if m.message_id == *id))
                .count();
            assert_eq!(stored, 1, "acked message {id} stored {stored} times");
        }
    }

    fn check_all_ran(&self) {
        for id in &self.acked {
            if !self.server.durable.stored.contains_key(id) || self.server.abandoned.contains(id) {
                continue;
            }
            // Queued behind a turn whose agent was lost: stored, it runs when its session's
            // runtime next starts (nothing here sends to that session again).
            if self.server.waits_for_next_start(id) {
                continue;
            }
            let is_user_message = self
                .server
                .durable
                .sessions
                .values()
                .flat_map(|s| &s.log)
                .any(|e| matches!(&e.kind, EventKind::UserMessage(m) if m.message_id == *id));
            if is_user_message {
                assert_eq!(
                    self.server.runs.get(id).copied().unwrap_or(0),
                    1,
                    "acked message {id} did not run exactly once"
                );
            }
        }
    }
}

/// With `SIM_TRACE=1`, prints every frame delivered (use it with `SIM_SEED`).
fn trace(line: &str) {
    if std::env::var_os("SIM_TRACE").is_some() {
        println!("{line}");
    }
}

fn run_seed(seed: u64, steps: usize) {
    let mut world = World::new(seed);
    world.connect();
    for _ in 0..steps {
        world.step();
        world.check_always();
    }
    world.heal(false);
    world.check_always();
    world.check_healed();
    world.heal(true);
    world.check_always();
    world.check_healed();
    world.check_all_ran();
}

/// One user with `sessions` sessions sending at once: the sessions are created in one burst, then
/// one message goes to each in another, while the network drops, duplicates and reorders frames
/// and cuts the connection (no restart: every acked message must run, and exactly once).
fn run_burst(seed: u64, sessions: usize) {
    let mut world = World::new(seed);
    world.connect();
    for n in 0..sessions {
        let frame = world.client.create_session(&format!("new {n}"));
        world.client_sends(Some(frame));
    }
    for _ in 0..20 * sessions {
        burst_step(&mut world);
        world.check_always();
    }
    world.heal(false);
    let created = world.known_sessions();
    assert_eq!(created.len(), sessions, "sessions created");
    for (n, id) in created.iter().enumerate() {
        let frame = world.client.switch_session(Some(id));
        world.client_sends(Some(frame));
        let frame = world.client.send(&format!("to {n}"));
        world.client_sends(frame);
    }
    for _ in 0..20 * sessions {
        burst_step(&mut world);
        world.check_always();
    }
    world.heal(true);
    world.check_always();
    world.check_healed();
    world.check_all_ran();
    // Each session ran its creating message and the one sent to it.
    assert_eq!(world.acked.len(), 2 * sessions, "acked messages");
    assert_eq!(world.server.runs.len(), 2 * sessions, "messages run");
}

/// A step of the network and the agents only: the user acts in bursts (see [`run_burst`]).
fn burst_step(world: &mut World) {
    match world.rng.below(100) {
        0..=39 => world.deliver_to_client(),
        40..=69 => world.deliver_to_server(),
        70..=94 => world.server.tick(),
        95..=97 => world.cut(),
        _ => world.connect(),
    }
}

fn run_seeds(range: std::ops::Range<u64>, steps: usize) {
    run_each(range, |seed| run_seed(seed, steps));
}

/// Runs `run` for every seed of `range` (or only `SIM_SEED`), naming the seed that fails.
fn run_each(range: std::ops::Range<u64>, run: impl Fn(u64) + std::panic::RefUnwindSafe) {
    if let Ok(seed) = std::env::var("SIM_SEED") {
        let seed: u64 = seed.parse().expect("SIM_SEED is a number");
        return run(seed);
    }
    for seed in range {
        let outcome = std::panic::catch_unwind(|| run(seed));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!("simulator seed {seed} failed (replay: SIM_SEED={seed} cargo test -p sessionwire-core --test simulator): {}", message.unwrap_or_default());
        }
    }
}

#[test]
fn short_runs_on_many_seeds() {
    run_seeds(0..3000, 150);
}

#[test]
fn long_runs() {
    run_seeds(10_000..10_200, 2000);
}

#[test]
fn a_hundred_sessions_of_one_user_sending_at_once() {
    run_each(20_000..20_020, |seed| run_burst(seed, 100));
}

//! The simulator server's effects for the engine's routes (`engine::route`): the one user owns
//! every session, the store answers at once (a `user_message` write fails when the world says
//! so: the session is then fenced until its repair), and agents never ask for permission (so an
//! answer names an unknown request, as on a server whose agents never ask).

use super::runtime::{Command, Runtime};
use super::server::{DurableSession, Server};
use sessionwire_core::engine::route::{Refusal, RouteDriver, TurnHandoff};
use sessionwire_core::engine::session;
use sessionwire_core::lifecycle::reason;
use sessionwire_core::protocol::{
    RespondPermissionFrame, SessionStateChange, SessionSummary, UserMessage,
};
use sessionwire_core::routing::{Lookup, PermissionDecision, RuntimeView, StoredMessage};
use sessionwire_core::{EventKind, SessionState};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

/// A write's answer, set when the store took it (at once, here): its seq, or `Err` when the
/// storage failed.
type Answer = Rc<Cell<Option<Result<u64, ()>>>>;

impl Server {
    /// The runtime of this generation, if it still lives.
    fn live_runtime(&self, (session, generation): &(String, u64)) -> Option<&Runtime> {
        Server::runtime(self, session).filter(|live| live.generation == *generation)
    }
}

impl RouteDriver for Server {
    type Session = String;
    type RouteLock = ();
    type Reservation = ();
    type Runtime = (String, u64);
    type Write = Answer;
    type WriteDone = Answer;
    type Handover = ();

    fn session_id(&self, session: &String) -> Arc<str> {
        Arc::from(session.as_str())
    }

    fn state(&self, session: &String) -> SessionState {
        self.durable.sessions[session].state
    }

    fn title(&self, _: &String) -> String {
        String::new()
    }

    async fn reserve(&mut self, _: &str) {}

    async fn stored_client_msg(&mut self, id: &str) -> Result<Option<StoredMessage>, Refusal> {
        Ok(self.durable.stored.get(id).cloned())
    }

    async fn owned_session(&mut self, id: &str) -> Result<Option<String>, Refusal> {
        Ok(self
            .durable
            .sessions
            .contains_key(id)
            .then(|| id.to_owned()))
    }

    async fn any_session(&mut self, id: &str) -> Result<Option<String>, Refusal> {
        self.owned_session(id).await
    }

    async fn lock_route(&mut self, _: &String) {}

    fn lookup(&self, session: Option<&String>) -> Lookup {
        match session {
            Some(id) => Server::lookup(self, id),
            None => Lookup {
                session: None,
                runtime: None,
            },
        }
    }

    fn is_fenced(&self, session: &String) -> bool {
        self.fenced.contains(session)
    }

    fn running(&self, session: &String) -> bool {
        Server::running(self, session)
    }

    async fn last_seq(&mut self, session: &String) -> Result<u64, Refusal> {
        Ok(self.durable.sessions[session].log.len() as u64)
    }

    async fn sessions_page(
        &mut self,
        before: Option<(u64, String)>,
        limit: usize,
    ) -> Result<Vec<SessionSummary>, Refusal> {
        // Every timestamp is 0, so the order is by id, highest first.
        let page = self
            .durable
            .sessions
            .iter()
            .rev()
            .filter(|(id, _)| {
                before
                    .as_ref()
                    .is_none_or(|(_, after)| id.as_str() < after.as_str())
            })
            .take(limit)
            .map(|(id, session)| SessionSummary {
                session_id: id.clone(),
                title: String::new(),
                state: session.state,
                running: false,
                last_seq: session.log.len() as u64,
                updated_at: 0,
            });
        Ok(Vec::from_iter(page))
    }

    fn state_now(&self, _: &str, stored: SessionState) -> SessionState {
        stored
    }

    fn runtime_view(&self, session_id: &str) -> Option<RuntimeView> {
        Server::runtime_view(self, session_id)
    }

    fn max_frame_bytes(&self) -> usize {
        sessionwire_core::MAX_FRAME_BYTES
    }

    async fn permission_requested(&mut self, _: &String, _: &str) -> Result<bool, Refusal> {
        Ok(false)
    }

    fn watch(&mut self, session: &String) {
        self.watchers.insert(session.clone());
    }

    fn unwatch(&mut self, session_id: &str) {
        if self.watchers.remove(session_id) {
            self.watcher_left(session_id);
        }
    }

    fn reattach(&mut self, session: &String, to: Option<SessionState>) {
        if let Some(to) = to {
            self.go(session, &[to], reason::WATCHER_JOINED);
        }
    }

    fn transition(&mut self, session: &String, to: SessionState, why: &'static str) {
        self.go(session, &[to], why);
    }

    fn close(&mut self, session: &String, why: &'static str) -> Option<(String, u64)> {
        let runtime = RouteDriver::runtime(self, session);
        let steps = session::close_steps(self.state(session), runtime.is_some(), why);
        let aborts = steps
            .iter()
            .any(|step| matches!(step, session::Step::AbortRuntime(_)));
        self.run_steps(session, steps);
        runtime.filter(|_| aborts)
    }

    async fn create_session(&mut self, _title: String) -> Result<String, Refusal> {
        self.durable.next_session += 1;
        let id = format!("s{}", self.durable.next_session);
        let session = DurableSession {
            state: SessionState::Created,
            log: Vec::new(),
        };
        self.durable.sessions.insert(id.clone(), session);
        Ok(id)
    }

    fn announce_created(&mut self, session: &String) {
        let created = EventKind::SessionState(SessionStateChange {
            state: SessionState::Created,
            previous: None,
            reason: reason::CREATED.into(),
        });
        self.emit(session, created);
    }

    fn runtime(&self, session: &String) -> Option<(String, u64)> {
        Server::runtime(self, session).map(|r| (session.clone(), r.generation))
    }

    fn start_runtime(&mut self, session: &String) -> Option<(String, u64)> {
        let generation = Server::start_runtime(self, session);
        Some((session.clone(), generation))
    }

    fn abort(&mut self, runtime: &(String, u64), why: &'static str) {
        if let Some(live) = self.live_runtime(runtime) {
            live.send(Command::Abort { reason: why });
        }
    }

    /// Runs the runtimes until this one's loop returned (its clean-up is done then).
    async fn exited(&mut self, runtime: (String, u64)) {
        self.poll_runtimes();
        assert!(
            self.live_runtime(&runtime).is_none(),
            "runtime {runtime:?} waited for but still live"
        );
    }

    fn deliver(&mut self, runtime: &(String, u64), turn: TurnHandoff<'_, Answer>) -> bool {
        let Some(live) = self.live_runtime(runtime) else {
            return false;
        };
        live.send(Command::Deliver(turn.message_id.to_owned()));
        true
    }

    fn interrupt(
        &mut self,
        runtime: &(String, u64),
        next: Option<TurnHandoff<'_, Answer>>,
    ) -> Option<()> {
        let live = self.live_runtime(runtime)?;
        let next = next.map(|turn| turn.message_id.to_owned());
        live.send(Command::Interrupt { next, done: () });
        Some(())
    }

    async fn handed_over(&mut self, _: ()) -> bool {
        true
    }

    fn write(&mut self) -> (Answer, Answer) {
        let answer = Answer::default();
        (answer.clone(), answer)
    }

    fn submit_user_message(
        &mut self,
        session: &String,
        client_msg_id: &str,
        text: &str,
        front: bool,
        done: Answer,
    ) {
        if std::mem::take(&mut self.fail_next_write) {
            // Nothing is stored; the session waits for its repair, and its runtime for nothing.
            done.set(Some(Err(())));
            if let Some(runtime) = Server::runtime(self, session) {
                runtime
                    .link
                    .borrow_mut()
                    .failed
                    .insert(client_msg_id.into());
            }
            return self.storage_failed(session);
        }
        let message = EventKind::UserMessage(UserMessage {
            message_id: client_msg_id.into(),
            text: text.into(),
        });
        let seq = self.emit(session, message);
        let stored = StoredMessage {
            session_id: session.clone(),
            seq,
        };
        self.durable.stored.insert(client_msg_id.into(), stored);
        // Stored with its place in the durable turn queue.
        let queue = self.durable.pending.entry(session.clone()).or_default();
        if front {
            queue.push_front(client_msg_id.into());
        } else {
            queue.push_back(client_msg_id.into());
        }
        done.set(Some(Ok(seq)));
        // The runtime was handed the turn before its message was stored; now it may start it.
        if let Some(runtime) = Server::runtime(self, session) {
            runtime
                .link
                .borrow_mut()
                .stored
                .insert(client_msg_id.into());
        }
    }

    fn submit_client_msg(&mut self, session: &String, client_msg_id: &str) -> Answer {
        let seq = self.durable.sessions[session].log.len() as u64;
        let stored = StoredMessage {
            session_id: session.clone(),
            seq,
        };
        self.durable.stored.insert(client_msg_id.into(), stored);
        Rc::new(Cell::new(Some(Ok(seq))))
    }

    fn answer_permission(
        &mut self,
        _: &String,
        _: &RespondPermissionFrame,
        stored: Option<StoredMessage>,
        _: bool,
    ) -> Result<Answer, PermissionDecision> {
        Err(match stored {
            Some(original) => PermissionDecision::Duplicate { original },
            None => PermissionDecision::UnknownRequest,
        })
    }

    fn reservation_submitted(&mut self, _: &mut (), _: &Answer) {}

    async fn stored_seq(
        &mut self,
        session: &String,
        write: &Answer,
        _: (),
    ) -> Result<u64, Refusal> {
        match write.get().expect("the simulator's store answers at once") {
            Ok(seq) => Ok(seq),
            Err(()) => Err(Refusal::unavailable(session)),
        }
    }
}

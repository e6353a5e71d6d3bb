//! The server's side of routing a frame (PROTOCOL.md §4): the effects the engine's route
//! (`sessionwire_core::engine::route`, which decides and orders everything) asks for, carried
//! out on the [`Hub`]: store reads, the registries, runtimes, the route lock, submitted writes.
//!
//! Nothing here decides a route or an order; each method does the one thing it is named for,
//! and maps this process's errors to the refusal the client is sent.

use crate::{
    auth::User,
    hub::{Extras, Hub, Reservation, SessionEntry},
    permission,
    registry::{ConnHandle, ConnId},
    runtime_handle::{RuntimeHandle, TurnRequest},
    store::{ClientMsgKey, Done, Durable, QueueOp, ReadFailed},
};
use sessionwire_core::{
    engine::{
        route::{self, Refusal, RouteDriver, TurnHandoff},
        ConnectionProtocol,
    },
    protocol::{RespondPermissionFrame, SessionSummary, UserMessage},
    routing::{running, Lookup, PermissionDecision, RuntimeView, StoredMessage},
    ClientFrame, EventKind, SessionState,
};
use std::sync::{atomic::Ordering, Arc};
use tokio::sync::{oneshot, OwnedMutexGuard};

pub use sessionwire_core::engine::route::{error_reply, Out};

/// The connection a frame came on: who it is, and its protocol half (what it watches, its
/// current session, the order of what it sends).
#[derive(Debug)]
pub struct ConnCtx<'a> {
    pub id: ConnId,
    pub user: &'a User,
    pub handle: &'a ConnHandle,
    pub protocol: &'a mut ConnectionProtocol,
}

/// Handles one frame of an authenticated connection (anything but `hello`): the engine's route
/// over this process's effects.
pub async fn handle(hub: &Arc<Hub>, ctx: &mut ConnCtx<'_>, frame: ClientFrame) -> Vec<Out> {
    let mut driver = ServerRoute {
        hub,
        user: ctx.user,
        conn: ctx.handle,
    };
    route::handle(&mut driver, ctx.protocol, frame).await
}

/// A store error as the client hears it: a failed read is `unavailable` (try again), anything
/// else is internal (logged here, not shown).
fn refused(error: anyhow::Error) -> Refusal {
    if error.downcast_ref::<ReadFailed>().is_some() {
        tracing::warn!(%error, "read failed");
        return Refusal::unavailable("");
    }
    tracing::error!(%error, "internal error");
    Refusal::internal("internal server error")
}

fn turn_request(turn: TurnHandoff<'_, Durable>) -> TurnRequest {
    TurnRequest {
        message_id: turn.message_id.to_owned(),
        prompt: turn.prompt.to_owned(),
        stored: turn.stored.clone(),
    }
}

/// One frame's effects: the hub, and the connection and user the frame came from.
struct ServerRoute<'a> {
    hub: &'a Arc<Hub>,
    user: &'a User,
    conn: &'a ConnHandle,
}

impl ServerRoute<'_> {
    fn client_msg_key(&self, client_msg_id: &str) -> ClientMsgKey {
        ClientMsgKey {
            owner: self.user.0.clone(),
            client_msg_id: client_msg_id.to_owned(),
        }
    }
}

impl RouteDriver for ServerRoute<'_> {
    type Session = Arc<SessionEntry>;
    type RouteLock = OwnedMutexGuard<()>;
    type Reservation = Reservation;
    type Runtime = RuntimeHandle;
    type Write = Durable;
    type WriteDone = Done<u64>;
    type Handover = oneshot::Receiver<()>;

    fn session_id(&self, session: &Self::Session) -> Arc<str> {
        session.id.clone()
    }

    fn state(&self, session: &Self::Session) -> SessionState {
        session.state()
    }

    fn title(&self, session: &Self::Session) -> String {
        session.snapshot().title
    }

    async fn reserve(&mut self, client_msg_id: &str) -> Reservation {
        self.hub.reserve(self.user, client_msg_id).await
    }

    async fn stored_client_msg(
        &mut self,
        client_msg_id: &str,
    ) -> Result<Option<StoredMessage>, Refusal> {
        let (owner, id) = (self.user.0.clone(), client_msg_id.to_owned());
        self.hub
            .read(move |store| store.client_msg(&owner, &id))
            .await
            .map_err(refused)
    }

    async fn owned_session(&mut self, id: &str) -> Result<Option<Self::Session>, Refusal> {
        self.hub.entry_for(self.user, id).await.map_err(refused)
    }

    async fn any_session(&mut self, id: &str) -> Result<Option<Self::Session>, Refusal> {
        self.hub.entry(id).await.map_err(refused)
    }

    async fn lock_route(&mut self, session: &Self::Session) -> Self::RouteLock {
        session.lock_route().await
    }

    fn lookup(&self, session: Option<&Self::Session>) -> Lookup {
        self.hub.lookup(session.map(|entry| &**entry), self.user)
    }

    fn is_fenced(&self, session: &Self::Session) -> bool {
        let fenced = self.hub.is_fenced(&session.id);
        if fenced {
            tracing::warn!(session = %session.id, "session waiting for its storage repair: refused");
        }
        fenced
    }

    fn running(&self, session: &Self::Session) -> bool {
        running(self.hub.runtimes.view(&session.id), session.state())
    }

    async fn last_seq(&mut self, session: &Self::Session) -> Result<u64, Refusal> {
        let id = session.id.to_string();
        self.hub
            .read(move |store| store.last_seq(&id))
            .await
            .map_err(refused)
    }

    async fn sessions_page(
        &mut self,
        before: Option<(u64, String)>,
        limit: usize,
    ) -> Result<Vec<SessionSummary>, Refusal> {
        let owner = self.user.0.clone();
        let records = self
            .hub
            .read(move |store| store.sessions_page(&owner, before, limit))
            .await
            .map_err(refused)?;
        Ok(records
            .into_iter()
            .map(|record| SessionSummary {
                session_id: record.id,
                title: record.title,
                state: record.state,
                running: false,
                last_seq: record.last_seq,
                updated_at: record.updated_at,
            })
            .collect())
    }

    fn state_now(&self, session_id: &str, stored: SessionState) -> SessionState {
        self.hub
            .loaded(session_id)
            .map_or(stored, |entry| entry.state())
    }

    fn runtime_view(&self, session_id: &str) -> Option<RuntimeView> {
        self.hub.runtimes.view(session_id)
    }

    fn max_frame_bytes(&self) -> usize {
        self.hub.config.max_frame_bytes
    }

    async fn permission_requested(
        &mut self,
        session: &Self::Session,
        request_id: &str,
    ) -> Result<bool, Refusal> {
        let (session, request) = (session.id.to_string(), request_id.to_owned());
        self.hub
            .read(move |store| store.permission_requested(&session, &request))
            .await
            .map_err(refused)
    }

    fn watch(&mut self, session: &Self::Session) {
        self.hub.watch(session, self.conn);
    }

    fn unwatch(&mut self, session_id: &str) {
        self.hub.unwatch(session_id, self.conn.id);
    }

    fn reattach(&mut self, session: &Self::Session, to: Option<SessionState>) {
        self.hub.reattach(session, to);
    }

    fn transition(&mut self, session: &Self::Session, to: SessionState, why: &'static str) {
        self.hub.transition(session, to, why);
    }

    fn close(&mut self, session: &Self::Session, why: &'static str) -> Option<RuntimeHandle> {
        self.hub.close_locked(session, why)
    }

    async fn create_session(&mut self, title: String) -> Result<Self::Session, Refusal> {
        self.hub
            .create_session(self.user, title)
            .await
            .map_err(|error| {
                tracing::warn!(%error, "session not stored");
                Refusal::unavailable("")
            })
    }

    fn announce_created(&mut self, session: &Self::Session) {
        self.hub.announce_created(session);
    }

    fn runtime(&self, session: &Self::Session) -> Option<RuntimeHandle> {
        self.hub.runtimes.get(&session.id)
    }

    fn start_runtime(&mut self, session: &Self::Session) -> Option<RuntimeHandle> {
        let runtime = self.hub.start_runtime(session);
        if runtime.is_none() {
            tracing::error!(session = %session.id, "no runtime could start");
        }
        runtime
    }

    fn abort(&mut self, runtime: &RuntimeHandle, why: &'static str) {
        tracing::info!(
            generation = runtime.generation,
            reason = why,
            "aborting a runtime"
        );
        runtime.abort(why);
    }

    async fn exited(&mut self, runtime: RuntimeHandle) {
        runtime.exited().await;
    }

    fn deliver(&mut self, runtime: &RuntimeHandle, turn: TurnHandoff<'_, Durable>) -> bool {
        runtime.deliver(turn_request(turn))
    }

    fn interrupt(
        &mut self,
        runtime: &RuntimeHandle,
        next: Option<TurnHandoff<'_, Durable>>,
    ) -> Option<oneshot::Receiver<()>> {
        runtime.interrupt(next.map(turn_request))
    }

    async fn handed_over(&mut self, handover: oneshot::Receiver<()>) -> bool {
        handover.await.is_ok()
    }

    fn write(&mut self) -> (Done<u64>, Durable) {
        Durable::channel()
    }

    fn submit_user_message(
        &mut self,
        session: &Self::Session,
        client_msg_id: &str,
        text: &str,
        front: bool,
        done: Done<u64>,
    ) {
        let message = EventKind::UserMessage(UserMessage {
            message_id: client_msg_id.to_owned(),
            text: text.to_owned(),
        });
        let extras = Extras {
            client_msg: Some(self.client_msg_key(client_msg_id)),
            queue: Some(QueueOp::Push {
                message_id: client_msg_id.to_owned(),
                text: text.to_owned(),
                front,
            }),
            ..Extras::default()
        };
        self.hub.append_answered(session, message, extras, done);
    }

    fn submit_client_msg(&mut self, session: &Self::Session, client_msg_id: &str) -> Durable {
        self.hub
            .submit_client_msg(self.user, client_msg_id, session)
    }

    fn answer_permission(
        &mut self,
        session: &Self::Session,
        frame: &RespondPermissionFrame,
        stored: Option<StoredMessage>,
        in_log: bool,
    ) -> Result<Durable, PermissionDecision> {
        permission::answer(self.hub, session, self.user, frame, stored, in_log)
    }

    fn reservation_submitted(&mut self, reservation: &mut Reservation, write: &Durable) {
        reservation.submitted(write);
    }

    async fn stored_seq(
        &mut self,
        session: &Self::Session,
        write: &Durable,
        reservation: Reservation,
    ) -> Result<u64, Refusal> {
        let hooks = &self.hub.hooks;
        hooks.awaiting_durability.fetch_add(1, Ordering::SeqCst);
        let seq = write.wait().await;
        hooks.awaiting_durability.fetch_sub(1, Ordering::SeqCst);
        // Released once answered: a retry of the id now finds it stored (or, if it failed, runs).
        drop(reservation);
        seq.map_err(|error| {
            tracing::warn!(session = %session.id, %error, "write not stored");
            Refusal::unavailable(&session.id)
        })
    }
}

//! The routing of one client frame (PROTOCOL.md §4), as the engine carries it out: which facts
//! are looked up and when, what the core's `decide_*` answers, and in what order its answer is
//! carried out (watch before the reply, the `user_message` handed to its runtime before it is
//! submitted, the ack after the write, an aborted zombie's exit awaited and the decision made
//! again). The server and the simulator both run these functions; what they differ in is the
//! [`RouteDriver`]: the effects (store reads, registries, runtimes, the route lock) a driver
//! performs when a flow asks for them.
//!
//! Why async functions over a driver rather than a poll API: a frame's route waits for facts
//! (a store read, a reservation held by a racing retry, a zombie's exit) in the middle of its
//! decisions, and a poll API would make us write, by hand, the state machine of each of those
//! waits. Here the compiler writes it. The core still performs no I/O and runs no executor: the
//! server awaits these futures on tokio, the simulator polls them once with effects that are
//! always ready.
//!
//! Invariants:
//! - Nothing here is awaited while the route lock is held, except taking the lock itself: every
//!   wait for durability, for an agent's exit or for a store read happens after it is released.
//! - A `clientMsgId` is reserved before its earlier use is looked up, and the reservation is
//!   released only after the store answered for it (so a racing retry finds it stored).
//! - Every refused frame gets exactly one error, which names its session and its reference.

mod control;
mod send;
mod view;

use crate::lifecycle::SessionState;
use crate::protocol::{Ack, ClientFrame, ErrorReply, Pong, RespondPermissionFrame, SessionSummary};
use crate::routing::{Lookup, PermissionDecision, RuntimeView, StoredMessage};
use crate::{ErrorCode, Reply};
use std::sync::Arc;

pub use send::Delivery;

/// Something to send on the connection, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Reply(Reply),
    /// A replay: the stored events of a session with `after < seq <= through`, which the
    /// connection reads from the store page by page as its socket drains.
    Replay {
        session_id: Arc<str>,
        after: u64,
        through: u64,
    },
    /// An `ack` to send right after the event with this seq of the ack's session (its
    /// `user_message`), which is still on its way through the live queue.
    AckAfter {
        seq: u64,
        ack: Ack,
    },
}

/// Why a frame was refused: the error its connection is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    pub session_id: Option<String>,
}

impl Refusal {
    /// No such session, or not the caller's (the two look the same).
    pub fn not_found(session_id: &str) -> Self {
        Self {
            code: ErrorCode::SessionNotFound,
            message: format!("no session `{session_id}`"),
            session_id: Some(session_id.to_owned()),
        }
    }

    /// Storage failed: the frame was not carried out; the client retries it later.
    pub fn unavailable(session_id: &str) -> Self {
        Self {
            code: ErrorCode::Unavailable,
            message: "storage is failing or full; nothing was stored, retry later".into(),
            session_id: (!session_id.is_empty()).then(|| session_id.to_owned()),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Internal,
            message: message.into(),
            session_id: None,
        }
    }

    pub fn invalid_field(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::InvalidField,
            message: message.into(),
            session_id: None,
        }
    }
}

type Handled = Result<(), Refusal>;

/// The reply to a refused frame: `ref` is its `clientMsgId`, else its type.
pub fn error_reply(
    code: ErrorCode,
    message: String,
    session_id: Option<String>,
    reference: Option<String>,
) -> Reply {
    Reply::Error(ErrorReply {
        code,
        message,
        session_id,
        reference,
    })
}

/// A turn as it is handed to a runtime: it starts once `stored` answers with its seq.
#[derive(Debug)]
pub struct TurnHandoff<'a, W> {
    pub message_id: &'a str,
    pub prompt: &'a str,
    pub stored: &'a W,
}

/// The effects a route asks of its driver: facts looked up, and actions carried out. None of
/// them decides anything; each does one thing the flow names.
///
/// The associated types are the driver's handles: a loaded session, the session's route lock
/// (held while its value lives), a `clientMsgId`'s reservation (released when dropped), a live
/// runtime, a submitted write (`Write`, which answers with its seq once durable, and `WriteDone`,
/// the side the store answers through), and an interrupt's hand-over (answered once the runtime
/// cut its turn).
#[allow(async_fn_in_trait)] // The server's futures are `Send` through its concrete driver.
pub trait RouteDriver {
    type Session: Clone;
    type RouteLock;
    type Reservation;
    type Runtime: Clone;
    type Write: Clone;
    type WriteDone;
    type Handover;

    // What a session handle says.
    fn session_id(&self, session: &Self::Session) -> Arc<str>;
    fn state(&self, session: &Self::Session) -> SessionState;
    fn title(&self, session: &Self::Session) -> String;

    // Facts.
    /// Reserves the caller's `clientMsgId`, waiting (holding nothing) while another frame holds it.
    async fn reserve(&mut self, client_msg_id: &str) -> Self::Reservation;
    /// Where the caller used this `clientMsgId` before, if it did and the store says so.
    async fn stored_client_msg(
        &mut self,
        client_msg_id: &str,
    ) -> Result<Option<StoredMessage>, Refusal>;
    /// The caller's session `id`: `None` if there is none or another user owns it.
    async fn owned_session(&mut self, id: &str) -> Result<Option<Self::Session>, Refusal>;
    /// Session `id` whoever owns it (a duplicate names where the original went).
    async fn any_session(&mut self, id: &str) -> Result<Option<Self::Session>, Refusal>;
    async fn lock_route(&mut self, session: &Self::Session) -> Self::RouteLock;
    /// What a decision about the session reads (`None`: no session).
    fn lookup(&self, session: Option<&Self::Session>) -> Lookup;
    /// The session's writes failed and it waits for its repair.
    fn is_fenced(&self, session: &Self::Session) -> bool;
    /// `running` as a reply reports it now.
    fn running(&self, session: &Self::Session) -> bool;
    /// The session's last committed seq.
    async fn last_seq(&mut self, session: &Self::Session) -> Result<u64, Refusal>;
    /// A page of the caller's sessions as stored (newest first, after `before`).
    async fn sessions_page(
        &mut self,
        before: Option<(u64, String)>,
        limit: usize,
    ) -> Result<Vec<SessionSummary>, Refusal>;
    /// The state of a session as this process knows it now (a change may still be committing),
    /// given the stored one.
    fn state_now(&self, session_id: &str, stored: SessionState) -> SessionState;
    fn runtime_view(&self, session_id: &str) -> Option<RuntimeView>;
    fn max_frame_bytes(&self) -> usize;
    /// Whether the session's log holds the permission request (asked before it was loaded).
    async fn permission_requested(
        &mut self,
        session: &Self::Session,
        request_id: &str,
    ) -> Result<bool, Refusal>;

    // Actions.
    /// The connection gets the session's live events (its protocol half is told by the flow).
    fn watch(&mut self, session: &Self::Session);
    fn unwatch(&mut self, session_id: &str);
    /// The lifecycle change a watcher joining brings, if any.
    fn reattach(&mut self, session: &Self::Session, to: Option<SessionState>);
    fn transition(&mut self, session: &Self::Session, to: SessionState, why: &'static str);
    /// Closes the session; returns the runtime it aborted, whose exit the caller awaits.
    fn close(&mut self, session: &Self::Session, why: &'static str) -> Option<Self::Runtime>;
    /// Creates one of the caller's sessions, CREATED, stored.
    async fn create_session(&mut self, title: String) -> Result<Self::Session, Refusal>;
    /// Tells the caller's other connections about the session.
    fn announce_created(&mut self, session: &Self::Session);
    fn runtime(&self, session: &Self::Session) -> Option<Self::Runtime>;
    fn start_runtime(&mut self, session: &Self::Session) -> Option<Self::Runtime>;
    fn abort(&mut self, runtime: &Self::Runtime, why: &'static str);
    async fn exited(&mut self, runtime: Self::Runtime);
    /// Queues a turn: `false` if the runtime ended before it took it.
    fn deliver(&mut self, runtime: &Self::Runtime, turn: TurnHandoff<'_, Self::Write>) -> bool;
    /// Cuts the current turn, then runs `next` first: `None` if the runtime ended first.
    fn interrupt(
        &mut self,
        runtime: &Self::Runtime,
        next: Option<TurnHandoff<'_, Self::Write>>,
    ) -> Option<Self::Handover>;
    async fn handed_over(&mut self, handover: Self::Handover) -> bool;
    /// A write not submitted yet: the store answers `Write` through `WriteDone`.
    fn write(&mut self) -> (Self::WriteDone, Self::Write);
    /// Submits the `user_message` with its `clientMsgId` and its place in the durable turn
    /// queue (at the front for an interrupt), atomically.
    fn submit_user_message(
        &mut self,
        session: &Self::Session,
        client_msg_id: &str,
        text: &str,
        front: bool,
        done: Self::WriteDone,
    );
    /// Submits a `clientMsgId` with no event (an interrupt without text), at the session's last seq.
    fn submit_client_msg(&mut self, session: &Self::Session, client_msg_id: &str) -> Self::Write;
    /// The first answer to a waiting permission request: submitted as its
    /// `permission_resolved`, or refused as the core decided.
    fn answer_permission(
        &mut self,
        session: &Self::Session,
        frame: &RespondPermissionFrame,
        stored: Option<StoredMessage>,
        in_log: bool,
    ) -> Result<Self::Write, PermissionDecision>;
    /// The reservation now waits for this write.
    fn reservation_submitted(&mut self, reservation: &mut Self::Reservation, write: &Self::Write);
    /// Waits (holding nothing) for the store's answer to a write, then releases the reservation.
    async fn stored_seq(
        &mut self,
        session: &Self::Session,
        write: &Self::Write,
        reservation: Self::Reservation,
    ) -> Result<u64, Refusal>;
}

/// Handles one frame of an authenticated connection (anything but `hello`): what to send, in
/// order. `conn` is the connection's protocol half (what it watches, its current session).
pub async fn handle<D: RouteDriver>(
    driver: &mut D,
    conn: &mut super::ConnectionProtocol,
    frame: ClientFrame,
) -> Vec<Out> {
    let reference = frame
        .client_msg_id()
        .unwrap_or(frame.type_name())
        .to_owned();
    let session_id = frame.session_id().map(str::to_owned);
    let mut out = Vec::new();
    let mut route = Route {
        driver,
        conn,
        out: &mut out,
    };
    let result = match frame {
        ClientFrame::Hello(_) => Err(Refusal {
            code: ErrorCode::BadFrame,
            message: "hello was already received on this connection".into(),
            session_id: None,
        }),
        ClientFrame::ListSessions(frame) => route.list_sessions(frame).await,
        ClientFrame::SwitchSession(frame) => route.switch_session(frame).await,
        ClientFrame::Send(frame) => route.send(frame).await,
        ClientFrame::Interrupt(frame) => route.interrupt(frame).await,
        ClientFrame::Stop(frame) => route.stop(&frame.session_id).await,
        ClientFrame::CloseSession(frame) => route.close_session(&frame.session_id).await,
        ClientFrame::Suspend(frame) => route.suspend(&frame.session_id).await,
        ClientFrame::Reconnect(frame) => route.reconnect(frame).await,
        ClientFrame::Watch(frame) => route.watch(&frame.session_id).await,
        ClientFrame::Unwatch(frame) => route.unwatch(&frame.session_id).await,
        ClientFrame::RespondPermission(frame) => route.respond_permission(frame).await,
        ClientFrame::Ping(ping) => {
            route.reply(Reply::Pong(Pong { nonce: ping.nonce }));
            Ok(())
        }
    };
    if let Err(refusal) = result {
        out.push(Out::Reply(error_reply(
            refusal.code,
            refusal.message,
            refusal.session_id.or(session_id),
            Some(reference),
        )));
    }
    out
}

/// One frame's route: the driver, the connection's protocol half, and what goes out.
struct Route<'a, D> {
    driver: &'a mut D,
    conn: &'a mut super::ConnectionProtocol,
    out: &'a mut Vec<Out>,
}

impl<D: RouteDriver> Route<'_, D> {
    fn reply(&mut self, reply: Reply) {
        self.out.push(Out::Reply(reply));
    }

    /// A session the caller may see: another user's session does not exist for them.
    async fn owned(&mut self, session_id: &str) -> Result<D::Session, Refusal> {
        self.driver
            .owned_session(session_id)
            .await?
            .ok_or_else(|| Refusal::not_found(session_id))
    }

    /// The session's route lock, if there is a session.
    async fn lock(&mut self, session: &Option<D::Session>) -> Option<D::RouteLock> {
        match session {
            Some(session) => Some(self.driver.lock_route(session).await),
            None => None,
        }
    }

    fn start_watching(&mut self, session: &D::Session) {
        self.driver.watch(session);
        self.conn.watch(&self.driver.session_id(session));
    }

    fn stop_watching(&mut self, session_id: &str) {
        if self.conn.unwatch(session_id) {
            self.driver.unwatch(session_id);
        }
    }

    /// The replay of a session after `after`, up to its last committed seq (read now: later
    /// events come live), and that seq.
    async fn replay_of(&mut self, session: &D::Session, after: u64) -> Result<(Out, u64), Refusal> {
        let through = self.driver.last_seq(session).await?;
        let replay = Out::Replay {
            session_id: self.driver.session_id(session),
            after,
            through,
        };
        Ok((replay, through))
    }

    /// A session whose writes failed takes nothing new until its repair.
    fn refuse_if_fenced(&self, session: Option<&D::Session>) -> Handled {
        match session {
            Some(session) if self.driver.is_fenced(session) => {
                Err(Refusal::unavailable(&self.driver.session_id(session)))
            }
            _ => Ok(()),
        }
    }

    /// A zombie (a live runtime whose session is CLOSING or ENDED) is aborted by signal, never
    /// silently dropped; its clean-up ends the session. Returns the runtime, whose exit the
    /// caller awaits once it let go of the route lock.
    fn abort_zombie(&mut self, session: &D::Session) -> Option<D::Runtime> {
        let runtime = self.driver.runtime(session)?;
        self.driver
            .abort(&runtime, crate::lifecycle::reason::ZOMBIE_ABORTED);
        Some(runtime)
    }
}

#[cfg(test)]
mod tests;

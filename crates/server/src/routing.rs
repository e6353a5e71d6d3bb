//! Carrying out the core's routing decisions (PROTOCOL.md §4).
//!
//! Every handler looks up what it needs (the session's entry, its live runtime, an earlier use of
//! the `clientMsgId`), asks the matching function of [`sessionwire_core::routing`], and does what
//! it says. Nothing here decides a route on its own.
//!
//! Handlers do not write to the socket: they return [`Out`]s in the order the connection must
//! send them. Live events arrive separately, through the connection's event queue, and only
//! after the handler returns; that is what lets a reply come before the events it announces.

use crate::{
    auth::User,
    hub::{Durable, Extras, Hub, Reservation, SessionEntry},
    permission::{self, Answered},
    registry::{ConnHandle, ConnId},
    runtime::{RuntimeHandle, TurnRequest},
    store::{ClientMsgKey, QueueOp, StoreResult},
};
use sessionwire_core::{
    engine::{listing, ConnectionProtocol},
    lifecycle::{reason, triggers},
    protocol::{
        Ack, ErrorReply, InterruptFrame, ListSessionsFrame, Pong, ReconnectFrame, Reconnected,
        ReconnectedSession, RespondPermissionFrame, SendFrame, SessionCleared, SessionCreated,
        SessionId, SessionSummary, SessionSwitched, SwitchSessionFrame, UserMessage,
    },
    routing::{
        decide_interrupt, decide_reconnect, decide_send, decide_switch, list_limit, merge_cursors,
        running, InterruptDecision, Lookup, PermissionDecision, ReconnectDecision, SendDecision,
        StoredMessage, SwitchDecision, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, MAX_RECONNECT_SESSIONS,
    },
    ClientFrame, ErrorCode, EventKind, Reply,
};
use std::sync::{atomic::Ordering, Arc};
use tokio::sync::oneshot;

/// The connection a frame came on: who it is, and its protocol half (what it watches, its
/// current session, the order of what it sends).
#[derive(Debug)]
pub struct ConnCtx<'a> {
    pub id: ConnId,
    pub user: &'a User,
    pub handle: &'a ConnHandle,
    pub protocol: &'a mut ConnectionProtocol,
}

/// Something to send on the connection, in order.
#[derive(Debug)]
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

/// Why a frame was refused.
#[derive(Debug)]
struct Refusal {
    code: ErrorCode,
    message: String,
    session_id: Option<String>,
}

impl Refusal {
    fn not_found(session_id: &str) -> Self {
        Self {
            code: ErrorCode::SessionNotFound,
            message: format!("no session `{session_id}`"),
            session_id: Some(session_id.to_owned()),
        }
    }

    /// Storage failed: the frame was not carried out; the client retries it later.
    fn unavailable(session_id: &str, error: &anyhow::Error) -> Self {
        tracing::warn!(session = session_id, %error, "write not stored");
        Self {
            code: ErrorCode::Unavailable,
            message: "storage is failing or full; nothing was stored, retry later".into(),
            session_id: (!session_id.is_empty()).then(|| session_id.to_owned()),
        }
    }

    fn internal(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Internal,
            message: message.into(),
            session_id: None,
        }
    }
}

impl From<anyhow::Error> for Refusal {
    fn from(error: anyhow::Error) -> Self {
        if error.downcast_ref::<crate::store::ReadFailed>().is_some() {
            return Self::unavailable("", &error);
        }
        tracing::error!(%error, "internal error");
        Self::internal("internal server error")
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

/// Handles one frame of an authenticated connection (anything but `hello`).
pub async fn handle(hub: &Arc<Hub>, ctx: &mut ConnCtx<'_>, frame: ClientFrame) -> Vec<Out> {
    let reference = frame
        .client_msg_id()
        .unwrap_or(frame.type_name())
        .to_owned();
    let session_id = frame.session_id().map(str::to_owned);
    let mut out = Vec::new();
    let result = match frame {
        ClientFrame::Hello(_) => Err(Refusal {
            code: ErrorCode::BadFrame,
            message: "hello was already received on this connection".into(),
            session_id: None,
        }),
        ClientFrame::ListSessions(frame) => list_sessions(hub, ctx, frame, &mut out).await,
        ClientFrame::SwitchSession(frame) => switch_session(hub, ctx, frame, &mut out).await,
        ClientFrame::Send(frame) => send(hub, ctx, frame, &mut out).await,
        ClientFrame::Interrupt(frame) => interrupt(hub, ctx, frame, &mut out).await,
        ClientFrame::Stop(frame) => stop(hub, ctx, &frame.session_id).await,
        ClientFrame::CloseSession(frame) => close_session(hub, ctx, &frame.session_id).await,
        ClientFrame::Suspend(frame) => suspend(hub, ctx, &frame.session_id).await,
        ClientFrame::Reconnect(frame) => reconnect(hub, ctx, frame, &mut out).await,
        ClientFrame::Watch(frame) => watch(hub, ctx, &frame.session_id, &mut out).await,
        ClientFrame::Unwatch(frame) => unwatch(hub, ctx, &frame.session_id, &mut out).await,
        ClientFrame::RespondPermission(frame) => {
            respond_permission(hub, ctx, frame, &mut out).await
        }
        ClientFrame::Ping(ping) => {
            out.push(Out::Reply(Reply::Pong(Pong { nonce: ping.nonce })));
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

/// A session the caller may see: another user's session does not exist for them.
async fn owned_entry(
    hub: &Hub,
    user: &User,
    session_id: &str,
) -> Result<Arc<SessionEntry>, Refusal> {
    hub.entry_for(user, session_id)
        .await?
        .ok_or_else(|| Refusal::not_found(session_id))
}

async fn stored_client_msg(
    hub: &Hub,
    user: &User,
    client_msg_id: &str,
) -> StoreResult<Option<StoredMessage>> {
    let (owner, id) = (user.0.clone(), client_msg_id.to_owned());
    hub.read(move |store| store.client_msg(&owner, &id)).await
}

/// The replay of a session after `after`, up to its last committed seq (read now: later events
/// come live), and that seq.
async fn replay_of(hub: &Hub, session_id: &Arc<str>, after: u64) -> StoreResult<(Out, u64)> {
    let id = session_id.to_string();
    let through = hub.read(move |store| store.last_seq(&id)).await?;
    let replay = Out::Replay {
        session_id: session_id.clone(),
        after,
        through,
    };
    Ok((replay, through))
}

/// The route lock of a session, if there is one.
async fn route_guard(
    entry: &Option<Arc<SessionEntry>>,
) -> Option<tokio::sync::OwnedMutexGuard<()>> {
    match entry {
        Some(entry) => Some(entry.lock_route().await),
        None => None,
    }
}

fn start_watching(hub: &Hub, ctx: &mut ConnCtx<'_>, entry: &SessionEntry) {
    hub.watch(entry, ctx.handle);
    ctx.protocol.watch(&entry.id);
}

fn stop_watching(hub: &Arc<Hub>, ctx: &mut ConnCtx<'_>, session_id: &str) {
    if ctx.protocol.unwatch(session_id) {
        hub.unwatch(session_id, ctx.id);
    }
}

fn running_now(hub: &Hub, entry: &SessionEntry) -> bool {
    running(hub.runtimes.view(&entry.id), entry.state())
}

fn invalid_field(message: impl Into<String>) -> Refusal {
    Refusal {
        code: ErrorCode::InvalidField,
        message: message.into(),
        session_id: None,
    }
}

async fn list_sessions(
    hub: &Arc<Hub>,
    ctx: &mut ConnCtx<'_>,
    frame: ListSessionsFrame,
    out: &mut Vec<Out>,
) -> Handled {
    let limit = list_limit(frame.limit).ok_or_else(|| {
        invalid_field(format!(
            "limit: must be between 1 and {MAX_LIST_LIMIT} (default {DEFAULT_LIST_LIMIT})"
        ))
    })?;
    let before = match frame.before.as_deref() {
        Some(cursor) => Some(listing::parse_cursor(cursor).ok_or_else(|| {
            invalid_field("before: not a cursor from the `next` of a `sessions` reply")
        })?),
        None => None,
    };
    let owner = ctx.user.0.clone();
    // One more than asked tells whether another page follows.
    let mut records = hub
        .read(move |store| store.sessions_page(&owner, before, limit + 1))
        .await?;
    let more = records.len() > limit;
    records.truncate(limit);
    let sessions: Vec<SessionSummary> = records
        .into_iter()
        .map(|record| {
            // The in-memory state is the newest (its event may still be committing).
            let state = hub
                .loaded(&record.id)
                .map_or(record.state, |entry| entry.state());
            SessionSummary {
                running: running(hub.runtimes.view(&record.id), state),
                session_id: record.id,
                title: record.title,
                state,
                last_seq: record.last_seq,
                updated_at: record.updated_at,
            }
        })
        .collect();
    out.push(Out::Reply(listing::sessions_page(
        sessions,
        more,
        hub.config.max_frame_bytes,
    )));
    Ok(())
}

async fn send(
    hub: &Arc<Hub>,
    ctx: &mut ConnCtx<'_>,
    frame: SendFrame,
    out: &mut Vec<Out>,
) -> Handled {
    // The clientMsgId is reserved until the store answers for it: a retry racing its original
    // waits here (holding nothing) and then finds it stored. Sends to other sessions, or with
    // other ids, do not wait.
    let reservation = hub.reserve(ctx.user, &frame.client_msg_id).await;
    let stored = stored_client_msg(hub, ctx.user, &frame.client_msg_id).await?;
    let mut entry = match &frame.session_id {
        Some(id) => hub.entry_for(ctx.user, id).await?,
        None => None,
    };
    let text = frame.text.clone();
    // Decide and submit under the session's route lock; anything that must be awaited (an
    // aborted runtime's exit) is awaited without it, and the decision is then made again.
    let submitted = loop {
        let route = route_guard(&entry).await;
        if stored.is_none() {
            refuse_if_fenced(hub, entry.as_deref())?;
        }
        let lookup = hub.lookup(entry.as_deref(), ctx.user);
        // A session this send created (then found its runtime gone) is decided as that session.
        let target = entry.as_ref().map(|entry| &*entry.id);
        let decision = decide_send(
            target.or(frame.session_id.as_deref()),
            lookup,
            stored.clone(),
        );
        tracing::debug!(?decision, "send");
        let attempt = match decision {
            SendDecision::Duplicate {
                original,
                announce_session,
            } => {
                drop(route);
                drop(reservation);
                return duplicate(
                    hub,
                    ctx,
                    &frame.client_msg_id,
                    original,
                    announce_session,
                    out,
                )
                .await;
            }
            SendDecision::NotFound => {
                return Err(Refusal::not_found(
                    frame.session_id.as_deref().unwrap_or_default(),
                ))
            }
            SendDecision::Create => {
                // (No route lock is held: there was no session.)
                let created = hub
                    .create_session(ctx.user, listing::title_of(&frame.text))
                    .await
                    .map_err(|error| Refusal::unavailable("", &error))?;
                let _route = created.lock_route().await;
                // Watch before the first event, so this connection sees seq 1 onwards.
                start_watching(hub, ctx, &created);
                ctx.protocol.set_current(Some(created.id.to_string()));
                out.push(Out::Reply(Reply::SessionCreated(SessionCreated {
                    session_id: created.id.to_string(),
                    client_msg_id: frame.client_msg_id.clone(),
                })));
                hub.announce_created(&created);
                let runtime = hub.start_runtime(&created);
                let attempt = submit_message(
                    hub,
                    ctx,
                    &created,
                    runtime,
                    &frame.client_msg_id,
                    &text,
                    Delivery::Queue,
                );
                entry = Some(created);
                attempt
            }
            SendDecision::Deliver { reattach, .. } => {
                let entry = entry
                    .as_ref()
                    .ok_or_else(|| Refusal::internal("session vanished"))?;
                start_watching(hub, ctx, entry);
                hub.reattach(entry, reattach);
                let runtime = hub.runtimes.get(&entry.id);
                submit_message(
                    hub,
                    ctx,
                    entry,
                    runtime,
                    &frame.client_msg_id,
                    &text,
                    Delivery::Queue,
                )
            }
            SendDecision::AbortZombieThenResume { .. } | SendDecision::Resume => {
                let entry = entry
                    .as_ref()
                    .ok_or_else(|| Refusal::internal("session vanished"))?;
                start_watching(hub, ctx, entry);
                if let Some(zombie) = abort_zombie(hub, entry) {
                    drop(route);
                    zombie.exited().await;
                    continue;
                }
                let runtime = hub.start_runtime(entry);
                submit_message(
                    hub,
                    ctx,
                    entry,
                    runtime,
                    &frame.client_msg_id,
                    &text,
                    Delivery::Queue,
                )
            }
        };
        drop(route);
        match attempt? {
            Attempt::Submitted(submitted) => break submitted,
            // The runtime ended between the lookup and the hand-over (nothing was submitted):
            // wait for its clean-up and decide again, as for a session without a live runtime.
            Attempt::RuntimeGone(old) => old.exited().await,
        }
    };
    let entry = entry.ok_or_else(|| Refusal::internal("session vanished"))?;
    acknowledge(
        hub,
        &entry,
        submitted,
        reservation,
        frame.client_msg_id,
        out,
    )
    .await
}

/// A session whose writes failed takes nothing new until its repair.
fn refuse_if_fenced(hub: &Hub, entry: Option<&SessionEntry>) -> Handled {
    match entry {
        Some(entry) if hub.is_fenced(&entry.id) => Err(Refusal::unavailable(
            &entry.id,
            &anyhow::anyhow!("session waiting for its storage repair"),
        )),
        _ => Ok(()),
    }
}

/// A zombie (a live runtime whose session is CLOSING or ENDED) is aborted by signal, never
/// silently dropped from the registry; its clean-up ends the session. Returns the runtime, whose
/// exit the caller awaits once it let go of the route lock.
fn abort_zombie(hub: &Hub, entry: &SessionEntry) -> Option<RuntimeHandle> {
    let runtime = hub.runtimes.get(&entry.id)?;
    tracing::info!(session = %entry.id, generation = runtime.generation, "aborting a zombie runtime");
    runtime.abort(reason::ZOMBIE_ABORTED);
    Some(runtime)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// After the current turn and anything queued.
    Queue,
    /// Interrupt the current turn and run first.
    Interrupt,
}

/// A `user_message` submitted to the store and handed to its runtime.
#[derive(Debug)]
struct Submitted {
    /// The store's answer.
    stored: Durable,
    /// An interrupt's hand-over: answered once the runtime has cut its turn.
    interrupted: Option<(oneshot::Receiver<()>, TurnRequest)>,
    /// `running` as the message was taken (what its ack says).
    running: bool,
}

#[derive(Debug)]
enum Attempt {
    Submitted(Submitted),
    /// The runtime was gone before it took the turn; nothing was submitted.
    RuntimeGone(RuntimeHandle),
}

/// Under the route lock: hands the turn to the runtime and submits its `user_message` (with the
/// `clientMsgId` and its place in the durable turn queue, atomically). The runtime gets turns in
/// seq order and starts one only once its message is stored. Nothing is awaited.
fn submit_message(
    hub: &Hub,
    ctx: &ConnCtx<'_>,
    entry: &SessionEntry,
    runtime: Option<RuntimeHandle>,
    client_msg_id: &str,
    text: &str,
    how: Delivery,
) -> Result<Attempt, Refusal> {
    let Some(runtime) = runtime else {
        tracing::error!(session = %entry.id, "no runtime could start for a message");
        return Err(Refusal::internal("no runtime could start for the session"));
    };
    let (done, stored) = Durable::channel();
    let request = TurnRequest {
        message_id: client_msg_id.to_owned(),
        prompt: text.to_owned(),
        stored: stored.clone(),
    };
    let interrupted = match how {
        Delivery::Queue => {
            if !runtime.deliver(request) {
                return Ok(Attempt::RuntimeGone(runtime));
            }
            None
        }
        Delivery::Interrupt => match runtime.interrupt(Some(request.clone())) {
            Some(acknowledged) => Some((acknowledged, request)),
            None => return Ok(Attempt::RuntimeGone(runtime)),
        },
    };
    let message = EventKind::UserMessage(UserMessage {
        message_id: client_msg_id.to_owned(),
        text: text.to_owned(),
    });
    let extras = Extras {
        client_msg: Some(ClientMsgKey {
            owner: ctx.user.0.clone(),
            client_msg_id: client_msg_id.to_owned(),
        }),
        // Stored with its place in the turn queue, so that an acked message runs even if the
        // server dies before its turn starts.
        queue: Some(QueueOp::Push {
            message_id: client_msg_id.to_owned(),
            text: text.to_owned(),
            front: how == Delivery::Interrupt,
        }),
        ..Extras::default()
    };
    hub.append_answered(entry, message, extras, done);
    Ok(Attempt::Submitted(Submitted {
        stored,
        interrupted,
        running: running_now(hub, entry),
    }))
}

/// What `send` and `interrupt` do once their `user_message` is submitted: wait for it to be
/// stored ([`answered`]), then schedule the ack right after its `user_message`.
async fn acknowledge(
    hub: &Arc<Hub>,
    entry: &Arc<SessionEntry>,
    submitted: Submitted,
    mut reservation: Reservation,
    client_msg_id: String,
    out: &mut Vec<Out>,
) -> Handled {
    reservation.submitted(&submitted.stored);
    let running = submitted.running;
    let seq = answered(hub, entry, submitted, reservation).await?;
    out.push(Out::AckAfter {
        seq,
        ack: Ack {
            session_id: entry.id.to_string(),
            client_msg_id,
            seq,
            duplicate: false,
            running,
        },
    });
    Ok(())
}

/// Without any lock: waits for the store's answer to a write that used a `clientMsgId` (its seq,
/// or `unavailable`), then releases the id's reservation: a retry of it now finds it stored (or,
/// if it failed, runs).
async fn stored_seq(
    hub: &Hub,
    entry: &SessionEntry,
    written: &Durable,
    reservation: Reservation,
) -> Result<u64, Refusal> {
    hub.hooks.awaiting_durability.fetch_add(1, Ordering::SeqCst);
    let seq = written.wait().await;
    hub.hooks.awaiting_durability.fetch_sub(1, Ordering::SeqCst);
    drop(reservation);
    seq.map_err(|error| Refusal::unavailable(&entry.id, &error))
}

/// Without any lock: waits for the store's answer ([`stored_seq`]) and for an interrupt's
/// hand-over. An interrupt the runtime
/// never took (it exited first) goes to the session's next runtime, as for a session without a
/// live one.
async fn answered(
    hub: &Arc<Hub>,
    entry: &Arc<SessionEntry>,
    submitted: Submitted,
    reservation: Reservation,
) -> Result<u64, Refusal> {
    let seq = stored_seq(hub, entry, &submitted.stored, reservation).await?;
    if let Some((acknowledged, request)) = submitted.interrupted {
        if acknowledged.await.is_err() {
            let _route = entry.lock_route().await;
            let handed = hub
                .runtimes
                .get(&entry.id)
                .or_else(|| hub.start_runtime(entry))
                .is_some_and(|runtime| runtime.deliver(request));
            if !handed {
                tracing::error!(session = %entry.id, "message stored but no runtime could take it");
            }
        }
    }
    Ok(seq)
}

async fn duplicate(
    hub: &Arc<Hub>,
    ctx: &mut ConnCtx<'_>,
    client_msg_id: &str,
    original: StoredMessage,
    announce_session: bool,
    out: &mut Vec<Out>,
) -> Handled {
    let entry = hub.entry(&original.session_id).await?;
    if announce_session {
        // A retried `send` with `sessionId: null`: announce the session made the first time
        // (no second one), make it current, and replay it, as the creating connection saw it.
        out.push(Out::Reply(Reply::SessionCreated(SessionCreated {
            session_id: original.session_id.clone(),
            client_msg_id: client_msg_id.to_owned(),
        })));
        if let Some(entry) = &entry {
            {
                let _route = entry.lock_route().await;
                start_watching(hub, ctx, entry);
                ctx.protocol.set_current(Some(entry.id.to_string()));
                if hub.runtimes.get(&entry.id).is_some() {
                    hub.reattach(entry, triggers::watcher_joined(entry.state()));
                }
            }
            let (replay, _) = replay_of(hub, &entry.id, 0).await?;
            out.push(replay);
        }
    }
    out.push(Out::Reply(Reply::Ack(Ack {
        session_id: original.session_id,
        client_msg_id: client_msg_id.to_owned(),
        seq: original.seq,
        duplicate: true,
        running: entry
            .as_deref()
            .is_some_and(|entry| running_now(hub, entry)),
    })));
    Ok(())
}

async fn interrupt(
    hub: &Arc<Hub>,
    ctx: &mut ConnCtx<'_>,
    frame: InterruptFrame,
    out: &mut Vec<Out>,
) -> Handled {
    let mut reservation = hub.reserve(ctx.user, &frame.client_msg_id).await;
    let stored = stored_client_msg(hub, ctx.user, &frame.client_msg_id).await?;
    let entry = hub.entry_for(ctx.user, &frame.session_id).await?;
    let submitted = loop {
        let route = route_guard(&entry).await;
        if stored.is_none() {
            refuse_if_fenced(hub, entry.as_deref())?;
        }
        let lookup: Lookup = hub.lookup(entry.as_deref(), ctx.user);
        let decision = decide_interrupt(frame.text.is_some(), lookup, stored.clone());
        tracing::debug!(?decision, "interrupt");
        if let InterruptDecision::Duplicate { original } = decision {
            drop(route);
            drop(reservation);
            return duplicate(hub, ctx, &frame.client_msg_id, original, false, out).await;
        }
        let Some(entry) = entry
            .as_ref()
            .filter(|_| decision != InterruptDecision::NotFound)
        else {
            return Err(Refusal::not_found(&frame.session_id));
        };
        start_watching(hub, ctx, entry);
        let text = frame.text.as_deref();
        let attempt = match (decision, text) {
            (InterruptDecision::InterruptTurn { reattach, .. }, Some(text)) => {
                hub.reattach(entry, reattach);
                let runtime = hub.runtimes.get(&entry.id);
                submit_message(
                    hub,
                    ctx,
                    entry,
                    runtime,
                    &frame.client_msg_id,
                    text,
                    Delivery::Interrupt,
                )?
            }
            (InterruptDecision::InterruptTurn { reattach, .. }, None) => {
                hub.reattach(entry, reattach);
                let runtime = hub.runtimes.get(&entry.id);
                let stored = hub.submit_client_msg(ctx.user, &frame.client_msg_id, entry);
                // After the clientMsgId's write: the interrupt's turn_end comes after its seq.
                let interrupted = runtime.and_then(|runtime| runtime.interrupt(None));
                drop(route);
                reservation.submitted(&stored);
                return ack_without_text(
                    hub,
                    entry,
                    &frame.client_msg_id,
                    stored,
                    interrupted,
                    reservation,
                    out,
                )
                .await;
            }
            (InterruptDecision::AbortZombie { .. } | InterruptDecision::Resume, text) => {
                if let Some(zombie) = abort_zombie(hub, entry) {
                    drop(route);
                    zombie.exited().await;
                    continue;
                }
                match text {
                    Some(text) => {
                        let runtime = hub.start_runtime(entry);
                        submit_message(
                            hub,
                            ctx,
                            entry,
                            runtime,
                            &frame.client_msg_id,
                            text,
                            Delivery::Queue,
                        )?
                    }
                    None => {
                        let stored = hub.submit_client_msg(ctx.user, &frame.client_msg_id, entry);
                        drop(route);
                        reservation.submitted(&stored);
                        return ack_without_text(
                            hub,
                            entry,
                            &frame.client_msg_id,
                            stored,
                            None,
                            reservation,
                            out,
                        )
                        .await;
                    }
                }
            }
            (_, _) => {
                let stored = hub.submit_client_msg(ctx.user, &frame.client_msg_id, entry);
                drop(route);
                reservation.submitted(&stored);
                return ack_without_text(
                    hub,
                    entry,
                    &frame.client_msg_id,
                    stored,
                    None,
                    reservation,
                    out,
                )
                .await;
            }
        };
        drop(route);
        match attempt {
            Attempt::Submitted(submitted) => break submitted,
            Attempt::RuntimeGone(old) => old.exited().await,
        }
    };
    let entry = entry.ok_or_else(|| Refusal::internal("session vanished"))?;
    acknowledge(
        hub,
        &entry,
        submitted,
        reservation,
        frame.client_msg_id,
        out,
    )
    .await
}

/// An `interrupt` without text has no `user_message`. Its `clientMsgId` is stored durably all
/// the same (so a retry is a duplicate), with seq = the session's last seq at the moment the
/// interrupt was taken, and that is the seq its ack names. The interrupt's own `turn_end`
/// comes after the ack. Called without the route lock, with the write submitted.
async fn ack_without_text(
    hub: &Arc<Hub>,
    entry: &Arc<SessionEntry>,
    client_msg_id: &str,
    stored: Durable,
    interrupted: Option<oneshot::Receiver<()>>,
    reservation: Reservation,
    out: &mut Vec<Out>,
) -> Handled {
    let seq = stored_seq(hub, entry, &stored, reservation).await?;
    if let Some(interrupted) = interrupted {
        let _ = interrupted.await;
    }
    out.push(Out::Reply(Reply::Ack(Ack {
        session_id: entry.id.to_string(),
        client_msg_id: client_msg_id.to_owned(),
        seq,
        duplicate: false,
        running: running_now(hub, entry),
    })));
    Ok(())
}

/// `respond_permission` (PROTOCOL.md §5.1): the first answer to a waiting request wins, is stored
/// as its `permission_resolved` and acked after it; the agent hears it once it is stored.
async fn respond_permission(
    hub: &Arc<Hub>,
    ctx: &mut ConnCtx<'_>,
    frame: RespondPermissionFrame,
    out: &mut Vec<Out>,
) -> Handled {
    let mut reservation = hub.reserve(ctx.user, &frame.client_msg_id).await;
    let stored = stored_client_msg(hub, ctx.user, &frame.client_msg_id).await?;
    let entry = match &stored {
        // A retry is acked as the original was, whatever became of the request since.
        Some(original) => hub.entry(&original.session_id).await?,
        None => Some(owned_entry(hub, ctx.user, &frame.session_id).await?),
    };
    let Some(entry) = entry else {
        return Err(Refusal::not_found(&frame.session_id));
    };
    if stored.is_none() {
        refuse_if_fenced(hub, Some(&entry))?;
    }
    // The answering connection watches the session: its ack follows the event it names.
    start_watching(hub, ctx, &entry);
    let mut answered = permission::answer(hub, &entry, ctx.user, &frame, stored.clone(), false);
    if let Answered::Refused(PermissionDecision::UnknownRequest) = answered {
        // Not in memory: asked before this entry was loaded, and so long resolved, or never.
        let (session, request) = (entry.id.to_string(), frame.request_id.clone());
        let in_log = hub
            .read(move |store| store.permission_requested(&session, &request))
            .await?;
        answered = permission::answer(hub, &entry, ctx.user, &frame, stored, in_log);
    }
    let seq = match answered {
        Answered::Won(written) => {
            reservation.submitted(&written);
            stored_seq(hub, &entry, &written, reservation).await?
        }
        Answered::Refused(PermissionDecision::Duplicate { original }) => {
            drop(reservation);
            return duplicate(hub, ctx, &frame.client_msg_id, original, false, out).await;
        }
        Answered::Refused(decision) => {
            return Err(permission_refusal(&decision, &frame, &entry.id));
        }
    };
    out.push(Out::AckAfter {
        seq,
        ack: Ack {
            session_id: entry.id.to_string(),
            client_msg_id: frame.client_msg_id,
            seq,
            duplicate: false,
            running: running_now(hub, &entry),
        },
    });
    Ok(())
}

/// The error for an answer that was not carried out.
fn permission_refusal(
    decision: &PermissionDecision,
    frame: &RespondPermissionFrame,
    session_id: &str,
) -> Refusal {
    let (code, message) = match decision {
        PermissionDecision::AlreadyResolved => (
            ErrorCode::PermissionResolved,
            format!(
                "permission request `{}` was already resolved",
                frame.request_id
            ),
        ),
        PermissionDecision::UnknownOption => (
            ErrorCode::InvalidField,
            format!(
                "optionId: `{}` is not one of the options of request `{}`",
                frame.option_id, frame.request_id
            ),
        ),
        _ => (
            ErrorCode::InvalidField,
            format!(
                "requestId: no permission request `{}` in this session",
                frame.request_id
            ),
        ),
    };
    Refusal {
        code,
        message,
        session_id: Some(session_id.to_owned()),
    }
}

async fn switch_session(
    hub: &Arc<Hub>,
    ctx: &mut ConnCtx<'_>,
    frame: SwitchSessionFrame,
    out: &mut Vec<Out>,
) -> Handled {
    let entry = match &frame.session_id {
        Some(id) => hub.entry_for(ctx.user, id).await?,
        None => None,
    };
    let route = route_guard(&entry).await;
    let lookup = hub.lookup(entry.as_deref(), ctx.user);
    match decide_switch(
        frame.session_id.as_deref(),
        frame.last_seq,
        ctx.protocol.current(),
        lookup,
    ) {
        SwitchDecision::Clear { unwatch } => {
            if let Some(old) = unwatch {
                stop_watching(hub, ctx, &old);
            }
            ctx.protocol.set_current(None);
            out.push(Out::Reply(Reply::SessionCleared(SessionCleared {})));
            Ok(())
        }
        SwitchDecision::NotFound => Err(Refusal::not_found(
            frame.session_id.as_deref().unwrap_or_default(),
        )),
        SwitchDecision::Switch {
            unwatch,
            reattach,
            running,
            replay_after,
        } => {
            let entry = entry.ok_or_else(|| Refusal::internal("session vanished"))?;
            if let Some(old) = unwatch {
                stop_watching(hub, ctx, &old);
            }
            // Watch before reading the history and before replying: an event committed after
            // the read arrives live; one committed before is in the replay (and its live copy,
            // if any, is dropped by seq on the connection).
            start_watching(hub, ctx, &entry);
            ctx.protocol.set_current(Some(entry.id.to_string()));
            hub.reattach(&entry, reattach);
            // The store is read without the route lock.
            drop(route);
            let (replay, last_seq) = replay_of(hub, &entry.id, replay_after).await?;
            let snapshot = entry.snapshot();
            out.push(Out::Reply(Reply::SessionSwitched(SessionSwitched {
                session_id: entry.id.to_string(),
                state: snapshot.state,
                running,
                last_seq,
                title: snapshot.title,
            })));
            out.push(replay);
            Ok(())
        }
    }
}

async fn reconnect(
    hub: &Arc<Hub>,
    ctx: &mut ConnCtx<'_>,
    frame: ReconnectFrame,
    out: &mut Vec<Out>,
) -> Handled {
    let cursors = merge_cursors(frame.sessions).map_err(|count| Refusal {
        code: ErrorCode::InvalidField,
        message: format!(
            "sessions: {count} distinct sessions; a reconnect names at most {MAX_RECONNECT_SESSIONS}"
        ),
        session_id: None,
    })?;
    let mut sessions = Vec::with_capacity(cursors.len());
    for cursor in cursors {
        let entry = hub.entry_for(ctx.user, &cursor.session_id).await?;
        let (decision, route) = loop {
            let route = route_guard(&entry).await;
            let lookup = hub.lookup(entry.as_deref(), ctx.user);
            let decision = decide_reconnect(cursor.last_seq, lookup);
            if let ReconnectDecision::Resync {
                abort_zombie: Some(_),
                ..
            } = &decision
            {
                // Abort the zombie, wait for its exit without the lock, and decide again.
                if let Some(zombie) = entry.as_deref().and_then(|entry| abort_zombie(hub, entry)) {
                    drop(route);
                    zombie.exited().await;
                    continue;
                }
            }
            break (decision, route);
        };
        match (decision, entry) {
            (
                ReconnectDecision::Resync {
                    reattach,
                    running,
                    replay_after,
                    ..
                },
                Some(entry),
            ) => {
                start_watching(hub, ctx, &entry);
                hub.reattach(&entry, reattach);
                drop(route);
                let (replay, last_seq) = replay_of(hub, &entry.id, replay_after).await?;
                // Seqs are dense, so the replay holds exactly this many events.
                let replayed = last_seq.saturating_sub(replay_after);
                out.push(replay);
                sessions.push(ReconnectedSession {
                    session_id: entry.id.to_string(),
                    replayed,
                    state: entry.state(),
                    running,
                    last_seq: last_seq.max(replay_after),
                });
            }
            // Unknown (or not the caller's): an error for that session; the others go on.
            _ => out.push(Out::Reply(error_reply(
                ErrorCode::SessionNotFound,
                format!("no session `{}`", cursor.session_id),
                Some(cursor.session_id),
                Some("reconnect".into()),
            ))),
        }
    }
    out.push(Out::Reply(Reply::Reconnected(Reconnected { sessions })));
    Ok(())
}

async fn stop(hub: &Arc<Hub>, ctx: &mut ConnCtx<'_>, session_id: &str) -> Handled {
    let entry = owned_entry(hub, ctx.user, session_id).await?;
    let route = entry.lock_route().await;
    match hub.runtimes.get(&entry.id) {
        Some(runtime) => {
            runtime.abort(reason::STOPPED);
            // Its cancellation is awaited without the lock.
            drop(route);
            runtime.exited().await;
        }
        None => {
            if let Some(to) = triggers::runtime_exited(entry.state()) {
                hub.transition(&entry, to, reason::STOPPED);
            }
        }
    }
    Ok(())
}

async fn close_session(hub: &Arc<Hub>, ctx: &mut ConnCtx<'_>, session_id: &str) -> Handled {
    let entry = owned_entry(hub, ctx.user, session_id).await?;
    let route = entry.lock_route().await;
    let aborted = hub.close_locked(&entry, reason::CLOSE_REQUESTED);
    drop(route);
    if let Some(runtime) = aborted {
        runtime.exited().await;
    }
    Ok(())
}

async fn suspend(hub: &Arc<Hub>, ctx: &mut ConnCtx<'_>, session_id: &str) -> Handled {
    let entry = owned_entry(hub, ctx.user, session_id).await?;
    let _route = entry.lock_route().await;
    if let Some(to) = triggers::suspend(entry.state()) {
        hub.transition(&entry, to, reason::SUSPENDED);
    }
    Ok(())
}

async fn watch(
    hub: &Arc<Hub>,
    ctx: &mut ConnCtx<'_>,
    session_id: &str,
    out: &mut Vec<Out>,
) -> Handled {
    let entry = owned_entry(hub, ctx.user, session_id).await?;
    let _route = entry.lock_route().await;
    start_watching(hub, ctx, &entry);
    if hub.runtimes.get(&entry.id).is_some() {
        hub.reattach(&entry, triggers::watcher_joined(entry.state()));
    }
    out.push(Out::Reply(Reply::Watched(SessionId {
        session_id: entry.id.to_string(),
    })));
    Ok(())
}

async fn unwatch(
    hub: &Arc<Hub>,
    ctx: &mut ConnCtx<'_>,
    session_id: &str,
    out: &mut Vec<Out>,
) -> Handled {
    let entry = owned_entry(hub, ctx.user, session_id).await?;
    stop_watching(hub, ctx, &entry.id);
    if ctx.protocol.current() == Some(&*entry.id) {
        ctx.protocol.set_current(None);
    }
    out.push(Out::Reply(Reply::Unwatched(SessionId {
        session_id: entry.id.to_string(),
    })));
    Ok(())
}

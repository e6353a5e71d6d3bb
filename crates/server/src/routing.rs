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
    hub::{Extras, Hub, SessionEntry},
    registry::{ConnHandle, ConnId},
    runtime::{RuntimeHandle, TurnRequest},
    store::{ClientMsgKey, QueueOp, StoreResult},
};
use sessionwire_core::{
    lifecycle::{reason, triggers},
    protocol::{
        encode, Ack, ErrorReply, InterruptFrame, ListSessionsFrame, Pong, ReconnectFrame,
        Reconnected, ReconnectedSession, SendFrame, SessionCleared, SessionCreated, SessionId,
        SessionSummary, SessionSwitched, Sessions, SwitchSessionFrame, UserMessage,
    },
    routing::{
        decide_interrupt, decide_reconnect, decide_send, decide_switch, list_limit, merge_cursors,
        running, InterruptDecision, Lookup, ReconnectDecision, SendDecision, StoredMessage,
        SwitchDecision, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, MAX_RECONNECT_SESSIONS,
    },
    ClientFrame, ErrorCode, EventKind, Reply,
};
use std::{collections::HashSet, sync::Arc};

/// What one connection knows about itself.
#[derive(Debug)]
pub struct ConnCtx {
    pub id: ConnId,
    pub user: User,
    pub handle: ConnHandle,
    /// The session it last switched to (or created with a null `send`).
    pub current: Option<String>,
    /// Every session it watches.
    pub watched: HashSet<String>,
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
pub async fn handle(hub: &Arc<Hub>, ctx: &mut ConnCtx, frame: ClientFrame) -> Vec<Out> {
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

fn start_watching(hub: &Hub, ctx: &mut ConnCtx, entry: &SessionEntry) {
    hub.watch(entry, &ctx.handle);
    ctx.watched.insert(entry.id.to_string());
}

fn stop_watching(hub: &Arc<Hub>, ctx: &mut ConnCtx, session_id: &str) {
    if ctx.watched.remove(session_id) {
        hub.unwatch(session_id, ctx.id);
    }
}

fn running_now(hub: &Hub, entry: &SessionEntry) -> bool {
    running(hub.runtimes.view(&entry.id), entry.state())
}

/// The title of a session: the start of its first message.
fn title_of(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    let mut title: String = line.chars().take(60).collect();
    if line.chars().count() > 60 {
        title.push('…');
    }
    title
}

/// A `list_sessions` cursor: `updatedAt:sessionId` of the last session of the page before.
fn list_cursor(record: &SessionSummary) -> String {
    format!("{}:{}", record.updated_at, record.session_id)
}

fn parse_list_cursor(cursor: &str) -> Option<(u64, String)> {
    let (updated_at, id) = cursor.split_once(':')?;
    Some((updated_at.parse().ok()?, id.to_owned())).filter(|(_, id)| !id.is_empty())
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
    ctx: &mut ConnCtx,
    frame: ListSessionsFrame,
    out: &mut Vec<Out>,
) -> Handled {
    let limit = list_limit(frame.limit).ok_or_else(|| {
        invalid_field(format!(
            "limit: must be between 1 and {MAX_LIST_LIMIT} (default {DEFAULT_LIST_LIMIT})"
        ))
    })?;
    let before = match frame.before.as_deref() {
        Some(cursor) => Some(parse_list_cursor(cursor).ok_or_else(|| {
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
    let mut sessions: Vec<SessionSummary> = records
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
    let mut next = if more {
        sessions.last().map(list_cursor)
    } else {
        None
    };
    // A reply never passes the frame limit: a page that would is cut short (its `next` then
    // points after the last session it kept).
    loop {
        let reply = Reply::Sessions(Sessions {
            sessions: sessions.clone(),
            next: next.clone(),
        });
        if sessions.len() <= 1 || encode(&reply).len() <= hub.config.max_frame_bytes {
            out.push(Out::Reply(reply));
            return Ok(());
        }
        sessions.truncate(sessions.len() / 2);
        next = sessions.last().map(list_cursor);
    }
}

async fn send(hub: &Arc<Hub>, ctx: &mut ConnCtx, frame: SendFrame, out: &mut Vec<Out>) -> Handled {
    // One user's sends and interrupts are checked and stored one at a time: a retried
    // clientMsgId racing its original must find it stored.
    let user_lock = hub.user_lock(&ctx.user);
    let _user = user_lock.lock().await;
    let stored = stored_client_msg(hub, &ctx.user, &frame.client_msg_id).await?;
    let entry = match &frame.session_id {
        Some(id) => hub.entry_for(&ctx.user, id).await?,
        None => None,
    };
    let _route = route_guard(&entry).await;
    if stored.is_none() {
        refuse_if_fenced(hub, entry.as_deref())?;
    }
    let lookup = hub.lookup(entry.as_deref(), &ctx.user);
    let decision = decide_send(frame.session_id.as_deref(), lookup, stored);
    tracing::debug!(?decision, "send");
    let request = TurnRequest {
        message_id: frame.client_msg_id.clone(),
        prompt: frame.text.clone(),
    };
    match decision {
        SendDecision::Duplicate {
            original,
            announce_session,
        } => {
            duplicate(
                hub,
                ctx,
                &frame.client_msg_id,
                original,
                announce_session,
                out,
            )
            .await
        }
        SendDecision::NotFound => Err(Refusal::not_found(
            frame.session_id.as_deref().unwrap_or_default(),
        )),
        SendDecision::Create => {
            let entry = hub
                .create_session(&ctx.user, title_of(&frame.text))
                .await
                .map_err(|error| Refusal::unavailable("", &error))?;
            let _new_route = entry.lock_route().await;
            // Watch before the first event, so this connection sees seq 1 onwards.
            start_watching(hub, ctx, &entry);
            ctx.current = Some(entry.id.to_string());
            out.push(Out::Reply(Reply::SessionCreated(SessionCreated {
                session_id: entry.id.to_string(),
                client_msg_id: frame.client_msg_id.clone(),
            })));
            hub.announce_created(&entry);
            let runtime = hub.start_runtime(&entry);
            deliver(hub, ctx, &entry, runtime, request, Delivery::Queue, out).await
        }
        SendDecision::Deliver { reattach, .. } => {
            let entry = entry.ok_or_else(|| Refusal::internal("session vanished"))?;
            start_watching(hub, ctx, &entry);
            hub.reattach(&entry, reattach);
            let runtime = hub.runtimes.get(&entry.id);
            deliver(hub, ctx, &entry, runtime, request, Delivery::Queue, out).await
        }
        SendDecision::AbortZombieThenResume { .. } => {
            let entry = entry.ok_or_else(|| Refusal::internal("session vanished"))?;
            start_watching(hub, ctx, &entry);
            abort_zombie(hub, &entry).await;
            let runtime = hub.start_runtime(&entry);
            deliver(hub, ctx, &entry, runtime, request, Delivery::Queue, out).await
        }
        SendDecision::Resume => {
            let entry = entry.ok_or_else(|| Refusal::internal("session vanished"))?;
            start_watching(hub, ctx, &entry);
            let runtime = hub.start_runtime(&entry);
            deliver(hub, ctx, &entry, runtime, request, Delivery::Queue, out).await
        }
    }
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
/// silently dropped from the registry; its clean-up ends the session.
async fn abort_zombie(hub: &Arc<Hub>, entry: &Arc<SessionEntry>) {
    if let Some(runtime) = hub.runtimes.get(&entry.id) {
        tracing::info!(session = %entry.id, generation = runtime.generation, "aborting a zombie runtime");
        hub.abort_runtime(&runtime, reason::ZOMBIE_ABORTED).await;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// After the current turn and anything queued.
    Queue,
    /// Interrupt the current turn and run first.
    Interrupt,
}

/// Stores the `user_message` (with its `clientMsgId`, atomically), waits until it is durable,
/// hands it to the runtime, and schedules the `ack` right after the `user_message` event.
async fn deliver(
    hub: &Arc<Hub>,
    ctx: &ConnCtx,
    entry: &Arc<SessionEntry>,
    runtime: Option<RuntimeHandle>,
    request: TurnRequest,
    how: Delivery,
    out: &mut Vec<Out>,
) -> Handled {
    let client_msg_id = request.message_id.clone();
    let message = EventKind::UserMessage(UserMessage {
        message_id: request.message_id.clone(),
        text: request.prompt.clone(),
    });
    let extras = Extras {
        client_msg: Some(ClientMsgKey {
            owner: ctx.user.0.clone(),
            client_msg_id: request.message_id.clone(),
        }),
        // Stored with its place in the turn queue, so that an acked message runs even if the
        // server dies before its turn starts.
        queue: Some(QueueOp::Push {
            message_id: request.message_id.clone(),
            text: request.prompt.clone(),
            front: how == Delivery::Interrupt,
        }),
        ..Extras::default()
    };
    let seq = hub
        .append_durable(entry, message, extras)
        .await
        .map_err(|error| Refusal::unavailable(&entry.id, &error))?;
    let delivered = match (&runtime, how) {
        (Some(runtime), Delivery::Queue) => runtime.deliver(request.clone()),
        (Some(runtime), Delivery::Interrupt) => runtime.interrupt(Some(request.clone())).await,
        (None, _) => false,
    };
    if !delivered {
        // The runtime ended between the decision and the delivery (or could not start): resume
        // with a new one, as the table says for a session without a live runtime.
        if let Some(old) = runtime {
            old.exited().await;
        }
        match hub
            .runtimes
            .get(&entry.id)
            .or_else(|| hub.start_runtime(entry))
        {
            Some(runtime) if runtime.deliver(request) => {}
            _ => {
                tracing::error!(session = %entry.id, "message stored but no runtime could take it")
            }
        }
    }
    out.push(Out::AckAfter {
        seq,
        ack: Ack {
            session_id: entry.id.to_string(),
            client_msg_id,
            seq,
            duplicate: false,
            running: running_now(hub, entry),
        },
    });
    Ok(())
}

async fn duplicate(
    hub: &Arc<Hub>,
    ctx: &mut ConnCtx,
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
            let _route = entry.lock_route().await;
            start_watching(hub, ctx, entry);
            ctx.current = Some(entry.id.to_string());
            if hub.runtimes.get(&entry.id).is_some() {
                hub.reattach(entry, triggers::watcher_joined(entry.state()));
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
    ctx: &mut ConnCtx,
    frame: InterruptFrame,
    out: &mut Vec<Out>,
) -> Handled {
    let user_lock = hub.user_lock(&ctx.user);
    let _user = user_lock.lock().await;
    let stored = stored_client_msg(hub, &ctx.user, &frame.client_msg_id).await?;
    let entry = hub.entry_for(&ctx.user, &frame.session_id).await?;
    let _route = route_guard(&entry).await;
    if stored.is_none() {
        refuse_if_fenced(hub, entry.as_deref())?;
    }
    let lookup: Lookup = hub.lookup(entry.as_deref(), &ctx.user);
    let decision = decide_interrupt(frame.text.is_some(), lookup, stored);
    tracing::debug!(?decision, "interrupt");
    if let InterruptDecision::Duplicate { original } = decision {
        return duplicate(hub, ctx, &frame.client_msg_id, original, false, out).await;
    }
    let Some(entry) = entry.filter(|_| decision != InterruptDecision::NotFound) else {
        return Err(Refusal::not_found(&frame.session_id));
    };
    start_watching(hub, ctx, &entry);
    let request = frame.text.clone().map(|text| TurnRequest {
        message_id: frame.client_msg_id.clone(),
        prompt: text,
    });
    match (decision, request) {
        (InterruptDecision::InterruptTurn { reattach, .. }, Some(request)) => {
            hub.reattach(&entry, reattach);
            let runtime = hub.runtimes.get(&entry.id);
            deliver(hub, ctx, &entry, runtime, request, Delivery::Interrupt, out).await
        }
        (InterruptDecision::InterruptTurn { reattach, .. }, None) => {
            hub.reattach(&entry, reattach);
            let runtime = hub.runtimes.get(&entry.id);
            ack_without_text(hub, ctx, &entry, &frame.client_msg_id, runtime, out).await
        }
        (InterruptDecision::AbortZombie { .. }, Some(request))
        | (InterruptDecision::Resume, Some(request)) => {
            abort_zombie(hub, &entry).await;
            let runtime = hub.start_runtime(&entry);
            deliver(hub, ctx, &entry, runtime, request, Delivery::Queue, out).await
        }
        (InterruptDecision::AbortZombie { .. }, None) => {
            abort_zombie(hub, &entry).await;
            ack_without_text(hub, ctx, &entry, &frame.client_msg_id, None, out).await
        }
        (_, _) => ack_without_text(hub, ctx, &entry, &frame.client_msg_id, None, out).await,
    }
}

/// An `interrupt` without text has no `user_message`. Its `clientMsgId` is stored durably all
/// the same (so a retry is a duplicate), with seq = the session's last seq at the moment the
/// interrupt was taken, and that is the seq its ack names. The interrupt's own `turn_end`
/// comes after the ack.
async fn ack_without_text(
    hub: &Arc<Hub>,
    ctx: &ConnCtx,
    entry: &Arc<SessionEntry>,
    client_msg_id: &str,
    runtime: Option<RuntimeHandle>,
    out: &mut Vec<Out>,
) -> Handled {
    let seq = hub
        .store_client_msg(&ctx.user, client_msg_id, entry)
        .await
        .map_err(|error| Refusal::unavailable(&entry.id, &error))?;
    if let Some(runtime) = runtime {
        runtime.interrupt(None).await;
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

async fn switch_session(
    hub: &Arc<Hub>,
    ctx: &mut ConnCtx,
    frame: SwitchSessionFrame,
    out: &mut Vec<Out>,
) -> Handled {
    let entry = match &frame.session_id {
        Some(id) => hub.entry_for(&ctx.user, id).await?,
        None => None,
    };
    let _route = route_guard(&entry).await;
    let lookup = hub.lookup(entry.as_deref(), &ctx.user);
    match decide_switch(
        frame.session_id.as_deref(),
        frame.last_seq,
        ctx.current.as_deref(),
        lookup,
    ) {
        SwitchDecision::Clear { unwatch } => {
            if let Some(old) = unwatch {
                stop_watching(hub, ctx, &old);
            }
            ctx.current = None;
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
            ctx.current = Some(entry.id.to_string());
            hub.reattach(&entry, reattach);
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
    ctx: &mut ConnCtx,
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
        let entry = hub.entry_for(&ctx.user, &cursor.session_id).await?;
        let _route = route_guard(&entry).await;
        let lookup = hub.lookup(entry.as_deref(), &ctx.user);
        match (decide_reconnect(cursor.last_seq, lookup), entry) {
            (
                ReconnectDecision::Resync {
                    abort_zombie: zombie,
                    reattach,
                    running,
                    replay_after,
                },
                Some(entry),
            ) => {
                if zombie.is_some() {
                    abort_zombie(hub, &entry).await;
                }
                start_watching(hub, ctx, &entry);
                hub.reattach(&entry, reattach);
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

async fn stop(hub: &Arc<Hub>, ctx: &mut ConnCtx, session_id: &str) -> Handled {
    let entry = owned_entry(hub, &ctx.user, session_id).await?;
    let _route = entry.lock_route().await;
    match hub.runtimes.get(&entry.id) {
        Some(runtime) => hub.abort_runtime(&runtime, reason::STOPPED).await,
        None => {
            if let Some(to) = triggers::runtime_exited(entry.state()) {
                hub.transition(&entry, to, reason::STOPPED);
            }
        }
    }
    Ok(())
}

async fn close_session(hub: &Arc<Hub>, ctx: &mut ConnCtx, session_id: &str) -> Handled {
    let entry = owned_entry(hub, &ctx.user, session_id).await?;
    let _route = entry.lock_route().await;
    hub.close_locked(&entry, reason::CLOSE_REQUESTED).await;
    Ok(())
}

async fn suspend(hub: &Arc<Hub>, ctx: &mut ConnCtx, session_id: &str) -> Handled {
    let entry = owned_entry(hub, &ctx.user, session_id).await?;
    let _route = entry.lock_route().await;
    if let Some(to) = triggers::suspend(entry.state()) {
        hub.transition(&entry, to, reason::SUSPENDED);
    }
    Ok(())
}

async fn watch(hub: &Arc<Hub>, ctx: &mut ConnCtx, session_id: &str, out: &mut Vec<Out>) -> Handled {
    let entry = owned_entry(hub, &ctx.user, session_id).await?;
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
    ctx: &mut ConnCtx,
    session_id: &str,
    out: &mut Vec<Out>,
) -> Handled {
    let entry = owned_entry(hub, &ctx.user, session_id).await?;
    stop_watching(hub, ctx, &entry.id);
    if ctx.current.as_deref() == Some(&*entry.id) {
        ctx.current = None;
    }
    out.push(Out::Reply(Reply::Unwatched(SessionId {
        session_id: entry.id.to_string(),
    })));
    Ok(())
}

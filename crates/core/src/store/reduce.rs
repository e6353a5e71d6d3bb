//! The reducer: `reduce(&mut ClientState, Action)`. Pure and deterministic.
//!
//! Event actions are applied to their own session's view, and only when their seq is exactly
//! one past the view's `lastSeq`: a duplicate or an event after a gap changes nothing here
//! ([`sequence`] tells which, so the store can report a gap).

use super::state::{
    Block, ClientState, Connection, ErrorInfo, Gap, HotChange, Message, MessageStatus, OutboxEntry,
    OutboxKind, PendingPermission, SessionView, MAX_ERRORS,
};
use super::Action;
use crate::protocol::{BlockDeltaRef, BlockType, ErrorCode, SessionSummary, TurnEndReason};
use crate::SessionState;

/// How many of the newest messages `turn_end` looks at for ones still streaming. A turn's own
/// messages are the newest ones, possibly followed by a few user messages typed meanwhile; the
/// bound keeps `turn_end` O(1) in long conversations.
const TURN_END_SCAN: usize = 64;

/// Where an event stands relative to what its session's view holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sequencing {
    /// `seq == lastSeq + 1`: apply it.
    Next,
    /// `seq <= lastSeq`: already applied; drop it.
    Duplicate,
    /// `seq > lastSeq + 1`: events are missing; hold it back and repair with `reconnect`.
    Gap { expected_seq: u64 },
}

/// Classifies an event of `session_id` with `seq` against the state.
pub fn sequence(state: &ClientState, session_id: &str, seq: u64) -> Sequencing {
    let last_seq = state.views.get(session_id).map_or(0, |view| view.last_seq);
    if seq <= last_seq {
        Sequencing::Duplicate
    } else if seq == last_seq + 1 {
        Sequencing::Next
    } else {
        Sequencing::Gap {
            expected_seq: last_seq + 1,
        }
    }
}

/// Applies one action to the state.
pub fn reduce(state: &mut ClientState, action: Action) {
    apply(state, &action);
}

/// Applies one action to the state by reference: the store keeps the action to report it, and
/// a streamed delta is appended without copying it first. Every change is marked for the next
/// patch (no [`HotChange`]: a dispatched action is followed by a patch only).
pub fn apply(state: &mut ClientState, action: &Action) {
    apply_marking(state, action, false);
}

/// [`apply`] for an action a received frame dispatched: a small change to a view that had no
/// other is a [`HotChange`] (`StateMarks::hot`), which the bindings take with the frame.
pub(crate) fn apply_received(state: &mut ClientState, action: &Action) {
    apply_marking(state, action, true);
}

// Not inlined: [`apply`] and [`apply_received`] share its one copy (the package is built for
// size).
#[inline(never)]
fn apply_marking(state: &mut ClientState, action: &Action, hot_allowed: bool) {
    if let Some((session_id, seq)) = action.event_position() {
        if let Some((view, clean)) = next_event_view(state, session_id, seq) {
            let hot = match clean && hot_allowed {
                true => hot_change(view, action),
                false => None,
            };
            match hot {
                // The bindings set `lastSeq` with the change.
                Some(_) => view.marks.seq = false,
                None => apply_event(view, action),
            }
            state.marks.hot = hot;
        }
        return;
    }
    // Connection, ids, outbox and errors are written again in the next patch.
    state.marks.top = true;
    match action {
        Action::ConnectionOpened {} => state.connection = Connection::Connecting,
        Action::ConnectionLost {} => {
            state.connection = Connection::Closed;
            // What was asked on the lost connection will never be answered; a listing it cut
            // short goes on from where it stood on the next connection.
            state.list_requests.clear();
            state.list_answered = 0;
            state.page_wanted = state.listing.is_some();
        }
        Action::Welcome {
            connection_id,
            epoch,
            ..
        } => {
            // A new epoch means the server restarted and every in-memory runtime is gone: no
            // session can still be running, whatever the views last heard.
            if state.epoch.as_ref().is_some_and(|old| old != epoch) {
                for view in state.views.values_mut() {
                    view.running = false;
                }
                state.marks.all_sessions = true;
            }
            state.connection = Connection::Open;
            state.connection_id = Some(connection_id.clone());
            state.epoch = Some(epoch.clone());
        }
        Action::SessionsListed { sessions, next } => sessions_listed(state, sessions, next),
        Action::SwitchRequested { session_id } => {
            if let Some(id) = session_id {
                state.view_mut(id);
            }
            state.current_session_id = session_id.clone();
        }
        Action::SessionSwitched {
            session_id,
            state: session_state,
            title,
            ..
        } => {
            let view = state.view_mut(session_id);
            view.state = Some(*session_state);
            view.title = Some(title.clone());
            state.current_session_id = Some(session_id.clone());
        }
        Action::SetRunning {
            session_id,
            running,
        } => state.view_mut(session_id).running = *running,
        Action::SessionCleared {} => state.current_session_id = None,
        Action::SessionCreated {
            session_id,
            client_msg_id,
        } => session_created(state, session_id, client_msg_id),
        Action::UserSend {
            client_msg_id,
            session_id,
            text,
        } => user_send(state, client_msg_id, session_id, text),
        Action::UserInterrupt {
            client_msg_id,
            session_id,
            text,
        } => {
            if let Some(text) = text {
                state.view_mut(session_id).show_pending(client_msg_id, text);
            }
            state.outbox.push(OutboxEntry {
                client_msg_id: client_msg_id.clone(),
                session_id: Some(session_id.clone()),
                text: text.clone(),
                kind: OutboxKind::Interrupt,
                request_id: None,
                option_id: None,
                waits_for: None,
            });
        }
        Action::PermissionResponse {
            client_msg_id,
            session_id,
            request_id,
            option_id,
        } => {
            state.outbox.push(OutboxEntry {
                client_msg_id: client_msg_id.clone(),
                session_id: Some(session_id.clone()),
                text: None,
                kind: OutboxKind::Permission,
                request_id: Some(request_id.clone()),
                option_id: Some(option_id.clone()),
                waits_for: None,
            });
        }
        Action::Ack {
            session_id,
            client_msg_id,
            running,
            ..
        } => {
            state
                .outbox
                .retain(|entry| entry.client_msg_id != *client_msg_id);
            let view = state.view_mut(session_id);
            view.running = *running;
            if let Some(message) = view.message_mut(client_msg_id) {
                if message.status == MessageStatus::Pending {
                    message.status = MessageStatus::Sent;
                }
            }
        }
        Action::Reconnected { sessions } => {
            for session in sessions {
                let view = state.view_mut(&session.session_id);
                view.state = Some(session.state);
                view.running = session.running;
                view.gap = None;
            }
        }
        Action::Watched { .. } | Action::Unwatched { .. } => {}
        // The server was unavailable for some sends: they go again now (pings come every 15 s).
        Action::Pong { .. } => {
            let retry = std::mem::take(&mut state.retrying);
            state.released.extend(retry);
        }
        Action::Error {
            code,
            message,
            session_id,
            reference,
        } => {
            if let Some(reference) = reference {
                // A refused `list_sessions` is answered too.
                if reference == "list_sessions" {
                    answered_list_request(state);
                }
                // Storage failing or a burst limit: a send stays in the outbox, pending, and is
                // sent again (same clientMsgId) after the next pong or welcome. (A reference
                // that is not an outbox entry is left out by `take_ready_frames`.)
                if matches!(code, ErrorCode::Unavailable | ErrorCode::RateLimited) {
                    state.retrying.push(reference.clone());
                } else {
                    refuse_request(state, reference);
                }
            }
            if state.errors.len() == MAX_ERRORS {
                state.errors.remove(0);
            }
            state.errors.push(ErrorInfo {
                code: *code,
                message: message.clone(),
                session_id: session_id.clone(),
                reference: reference.clone(),
            });
        }
        Action::GapDetected {
            session_id,
            expected_seq,
            received_seq,
        } => {
            state.view_mut(session_id).gap = Some(Gap {
                expected_seq: *expected_seq,
                received_seq: *received_seq,
            });
        }
        Action::SessionViewDropped { session_id } => {
            state.views.remove(session_id);
            state.marks.all_sessions = true;
        }
        // Event actions were handled above.
        _ => {}
    }
}

/// A page of `sessions`. A reply does not say what it answers, so the oldest request not answered
/// yet tells (none: a first page): a first page (no `before`) starts a new listing and marks
/// every view unlisted; a page asked for with the listing's cursor continues it; any other page
/// (of a listing a newer one replaced) only adds what it names. A page of the listing with `next`
/// wants the page after it (`Store::take_ready_frames`); its last page drops the views it did not
/// name, except the current session's. So a complete listing replaces `sessions`, while its
/// pages only add to it: a session on a later page keeps its view (and messages), and the list
/// never shrinks to the first page meanwhile.
fn sessions_listed(state: &mut ClientState, sessions: &[SessionSummary], next: &Option<String>) {
    let continues = match &answered_list_request(state) {
        None => {
            for view in state.views.values_mut() {
                view.unlisted = true;
            }
            true
        }
        Some(cursor) => state.listing.as_ref() == Some(cursor),
    };
    for summary in sessions {
        let view = state.view_mut(&summary.session_id);
        view.state = Some(summary.state);
        view.running = summary.running;
        view.title = Some(summary.title.clone());
        view.unlisted = false;
    }
    if !continues {
        return;
    }
    state.listing = next.clone();
    state.page_wanted = next.is_some();
    if next.is_none() {
        let current = state.current_session_id.as_deref();
        state
            .views
            .retain(|id, view| !view.unlisted || current == Some(id));
        state.marks.all_sessions = true;
    }
}

/// The `before` of the oldest `list_sessions` not answered yet, now answered (`None` for a first
/// page, and when none is waiting).
fn answered_list_request(state: &mut ClientState) -> Option<String> {
    let before = state
        .list_requests
        .get_mut(state.list_answered)
        .and_then(Option::take);
    state.list_answered += 1;
    if state.list_answered >= state.list_requests.len() {
        state.list_requests.clear();
        state.list_answered = 0;
    }
    before
}

/// A user message: shown at once as pending, and put in the outbox. With no current session it
/// creates one, unless a creation is already under way, in which case it waits for it (a
/// second `sessionId: null` would make a second session).
fn user_send(
    state: &mut ClientState,
    client_msg_id: &str,
    session_id: &Option<String>,
    text: &str,
) {
    let waits_for = match session_id {
        Some(_) => None,
        None => state
            .outbox
            .iter()
            .find(|entry| {
                entry.session_id.is_none()
                    && entry.waits_for.is_none()
                    && entry.kind == OutboxKind::Send
            })
            .map(|creating| creating.client_msg_id.clone()),
    };
    let view = match session_id {
        Some(id) => state.view_mut(id),
        None => &mut state.draft,
    };
    view.show_pending(client_msg_id, text);
    state.outbox.push(OutboxEntry {
        client_msg_id: client_msg_id.to_owned(),
        session_id: session_id.clone(),
        text: Some(text.to_owned()),
        kind: OutboxKind::Send,
        request_id: None,
        option_id: None,
        waits_for,
    });
}

/// `session_created`: the draft's messages move into the new session's view, messages that
/// waited for this creation are released to be sent, and the new session becomes current if
/// the user is still on the draft.
fn session_created(state: &mut ClientState, session_id: &str, client_msg_id: &str) {
    let waiting = Vec::from_iter(
        state
            .outbox
            .iter()
            .filter(|entry| entry.waits_for.as_deref() == Some(client_msg_id))
            .map(|entry| entry.client_msg_id.clone()),
    );
    let mut moved = Vec::new();
    for id in std::iter::once(client_msg_id.to_owned()).chain(waiting.iter().cloned()) {
        if let Some(message) = state.draft.take_message(&id) {
            moved.push(message);
        }
    }
    for entry in state
        .outbox
        .iter_mut()
        .filter(|entry| entry.waits_for.as_deref() == Some(client_msg_id))
    {
        entry.waits_for = None;
        entry.session_id = Some(session_id.to_owned());
    }
    state.released.extend(waiting);
    let view = state.view_mut(session_id);
    for message in moved {
        if view.message_mut(&message.id).is_none() {
            view.push_optimistic(message);
        }
    }
    if state.current_session_id.is_none() {
        state.current_session_id = Some(session_id.to_owned());
    }
}

/// An `error` naming a request's `clientMsgId`: the request will not succeed by being sent
/// again, so it leaves the outbox and its message shows as failed.
fn refuse_request(state: &mut ClientState, client_msg_id: &str) {
    let Some(position) = state
        .outbox
        .iter()
        .position(|entry| entry.client_msg_id == client_msg_id)
    else {
        return;
    };
    let entry = state.outbox.remove(position);
    let view = match &entry.session_id {
        Some(id) => state.view_mut(id),
        None => &mut state.draft,
    };
    if let Some(message) = view.message_mut(client_msg_id) {
        message.status = MessageStatus::Failed;
    }
}

/// The view an event at `seq` applies to, with its `lastSeq` moved to `seq`; `None` unless
/// `seq` is the next one (see [`sequence`]; a session without a view is at 0). One lookup on the
/// hot path: every streamed event comes through here. The flag says that nothing but `lastSeq`
/// changed in the view since its last patch (so a delta may be applied as a hot patch).
#[cfg_attr(sessionwire_size, optimize(speed))]
fn next_event_view<'s>(
    state: &'s mut ClientState,
    session_id: &str,
    seq: u64,
) -> Option<(&'s mut SessionView, bool)> {
    // A new view, or a gap closed: the whole entry goes in the next patch.
    let mut entry = false;
    if seq == 1 && !state.views.contains_key(session_id) {
        state
            .views
            .insert(session_id.to_owned(), SessionView::default());
        entry = true;
    }
    let view = state.views.get_mut(session_id)?;
    if seq != view.last_seq + 1 {
        return None;
    }
    view.last_seq = seq;
    if view.gap.is_some_and(|gap| gap.received_seq <= seq) {
        view.gap = None;
        entry = true;
    }
    let marks = &mut view.marks;
    let clean = !entry && marks.is_clean();
    marks.entry |= entry;
    marks.seq = true;
    Some((view, clean))
}

/// Applies a `BLOCK_DELTA` given by reference (the store's zero-copy path for streamed deltas):
/// exactly what [`apply`] does with the owned action. Returns whether it applied (its seq was
/// the next one).
#[cfg_attr(sessionwire_size, optimize(speed))]
pub(crate) fn apply_block_delta(state: &mut ClientState, delta: &BlockDeltaRef<'_>) -> bool {
    let mut hot = None;
    let applied = match next_event_view(state, delta.session_id, delta.seq) {
        Some((view, clean)) => {
            // One lookup of the message and one of the block, shared by the apply and the hot
            // patch (the bindings apply text appended to a block that exists by message and
            // block position, with no patch text).
            let at = view.position(delta.message_id).and_then(|m| {
                let b = view.messages[m]
                    .blocks
                    .iter()
                    .rposition(|block| crate::bytes::same(&block.id, delta.block_id))?;
                Some((m, b))
            });
            match at {
                Some((m, b)) => {
                    let message = &mut view.messages[m];
                    if clean {
                        // Nothing else changed in the view: the hot patch says it all.
                        append_hot(message, b, delta.delta);
                        view.marks.seq = false;
                        hot = Some(HotChange::Appended(m as u32, b as u32));
                    } else {
                        append_to_block(message, b, delta.delta);
                        view.marks.touch(delta.message_id);
                    }
                }
                None => append_delta(
                    assistant_message(view, delta.message_id),
                    delta.block_id,
                    delta.delta,
                ),
            }
            true
        }
        None => false,
    };
    state.marks.hot = hot;
    applied
}

/// Appends streamed text to block `b` of `message` as a hot patch: the snapshot appends it to
/// the block (and the message's text) itself, so what it holds grows by the text too.
fn append_hot(message: &mut Message, b: usize, delta: &str) {
    append_to_block(message, b, delta);
    let grown = delta.len();
    message.blocks[b].mirrored.0 += grown;
    if message.blocks[b].block_type == BlockType::Text {
        message.mirrored.0 += grown;
    }
}

/// The block whose next `block_delta` the store predicted (see `Store::predict_next`): the
/// seq that delta has, and where the block is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prediction {
    pub(crate) session_id: String,
    pub(crate) seq: u64,
    pub(crate) message: usize,
    pub(crate) block: usize,
}

/// Applies `count` predicted deltas, `text` their texts joined: each would have been a hot
/// patch, so this is what applying them one by one does. False if the state is not the one
/// the prediction was made in (nothing is applied then).
pub(crate) fn apply_predicted(
    state: &mut ClientState,
    p: &Prediction,
    count: u64,
    text: &str,
) -> bool {
    let Some(view) = state.views.get_mut(&p.session_id) else {
        return false;
    };
    if count == 0 || view.last_seq + 1 != p.seq || view.gap.is_some() || !view.marks.is_clean() {
        return false;
    }
    let Some(message) = view.messages.get_mut(p.message) else {
        return false;
    };
    if p.block >= message.blocks.len() {
        return false;
    }
    append_hot(message, p.block, text);
    view.last_seq = p.seq + count - 1;
    true
}

/// Applies `action`, an in-order event, to a view nothing else changed in since its last patch,
/// when its change is one the bindings can make themselves (see [`HotChange`]); `None`, and the
/// view as it was, when it is not (then [`apply_event`] applies it).
fn hot_change(view: &mut SessionView, action: &Action) -> Option<HotChange> {
    match action {
        Action::TurnStart { .. } if !view.running => {
            view.running = true;
            Some(HotChange::Running(true))
        }
        // A turn_end settles the messages still streaming (see `apply_event`): none here.
        Action::TurnEnd { .. }
            if view.running
                && !view.messages[view.messages.len().saturating_sub(TURN_END_SCAN)..]
                    .iter()
                    .any(|message| message.status == MessageStatus::Streaming) =>
        {
            view.running = false;
            Some(HotChange::Running(false))
        }
        Action::MessageEnd { message_id, .. } => {
            let m = view.position(message_id)?;
            let message = &mut view.messages[m];
            if message.status != MessageStatus::Streaming {
                return None;
            }
            message.status = MessageStatus::Complete;
            Some(HotChange::MessageComplete(m as u32))
        }
        Action::BlockEnd {
            message_id,
            block_id,
            input: None,
            ..
        } => {
            let m = view.position(message_id)?;
            let message = &mut view.messages[m];
            let b = message
                .blocks
                .iter()
                .rposition(|block| block.id == *block_id)?;
            let block = &mut message.blocks[b];
            if block.done || block.input.is_some() {
                return None;
            }
            block.done = true;
            Some(HotChange::BlockDone(m as u32, b as u32))
        }
        _ => None,
    }
}

/// Applies an in-order event to its session's view.
fn apply_event(view: &mut SessionView, action: &Action) {
    // The events that change the session's `sessions` entry beyond its `lastSeq` (`running`,
    // `state`, `plan`, `pendingPermissions`): the whole entry goes in the next patch. Every
    // other event changes only messages.
    if matches!(
        action,
        Action::TurnStart { .. }
            | Action::TurnEnd { .. }
            | Action::PlanUpdated { .. }
            | Action::PermissionRequested { .. }
            | Action::PermissionResolved { .. }
            | Action::SessionStateChanged { .. }
    ) {
        view.marks.entry = true;
    }
    match action {
        Action::UserMessageReceived {
            message_id, text, ..
        } => match view.confirm(message_id) {
            Some(message) => {
                if matches!(
                    message.status,
                    MessageStatus::Pending | MessageStatus::Failed
                ) {
                    message.status = MessageStatus::Sent;
                }
            }
            None => {
                view.push_confirmed(Message::user(
                    message_id.clone(),
                    text.clone(),
                    MessageStatus::Sent,
                ));
            }
        },
        Action::TurnStart { .. } => view.running = true,
        Action::MessageStart { message_id, .. } => {
            assistant_message(view, message_id);
        }
        Action::BlockStart {
            message_id,
            block_id,
            block_type,
            tool_name,
            ..
        } => {
            let message = assistant_message(view, message_id);
            if !message.blocks.iter().any(|block| block.id == *block_id) {
                let mut block = Block::new(block_id.clone(), *block_type, String::new());
                block.tool_name.clone_from(tool_name);
                message.blocks.push(block);
            }
        }
        Action::BlockDelta {
            message_id,
            block_id,
            delta,
            ..
        } => append_delta(assistant_message(view, message_id), block_id, delta),
        Action::BlockEnd {
            message_id,
            block_id,
            input,
            ..
        } => {
            let message = assistant_message(view, message_id);
            if let Some(block) = message
                .blocks
                .iter_mut()
                .rev()
                .find(|block| block.id == *block_id)
            {
                block.done = true;
                block.input = input.clone();
            }
        }
        Action::ToolResult {
            message_id,
            tool_id,
            result,
            is_error,
            ..
        } => {
            let message = assistant_message(view, message_id);
            match message
                .blocks
                .iter_mut()
                .rev()
                .find(|block| block.id == *tool_id)
            {
                Some(block) => {
                    block.result = Some(result.clone());
                    block.is_error = Some(*is_error);
                }
                None => {
                    let mut block = Block::new(tool_id.clone(), BlockType::ToolUse, String::new());
                    block.result = Some(result.clone());
                    block.is_error = Some(*is_error);
                    block.done = true;
                    message.blocks.push(block);
                }
            }
        }
        Action::ToolUpdate {
            message_id,
            tool_id,
            status,
            title,
            kind,
            content,
            locations,
            ..
        } => {
            let message = assistant_message(view, message_id);
            let at = match message
                .blocks
                .iter()
                .rposition(|block| block.id == *tool_id)
            {
                Some(at) => at,
                // An update before its tool_use block (or without one): the block is made.
                None => {
                    message.blocks.push(Block::new(
                        tool_id.clone(),
                        BlockType::ToolUse,
                        String::new(),
                    ));
                    message.blocks.len() - 1
                }
            };
            let block = &mut message.blocks[at];
            // A field left out is unchanged (PROTOCOL.md §5).
            for (field, value) in [
                (&mut block.status, status),
                (&mut block.title, title),
                (&mut block.kind, kind),
            ] {
                if value.is_some() {
                    field.clone_from(value);
                }
            }
            if content.is_some() {
                block.content.clone_from(content);
            }
            if locations.is_some() {
                block.locations.clone_from(locations);
            }
        }
        Action::PlanUpdated { entries, .. } => {
            view.plan = Some(entries.clone());
        }
        Action::PermissionRequested {
            request_id,
            tool_id,
            title,
            options,
            content,
            ..
        } if !view.permissions.iter().any(|p| p.request_id == *request_id) => {
            view.permissions.push(PendingPermission {
                request_id: request_id.clone(),
                tool_id: tool_id.clone(),
                title: title.clone(),
                options: options.clone(),
                content: content.clone(),
            });
        }
        Action::PermissionResolved { request_id, .. } => {
            view.permissions.retain(|p| p.request_id != *request_id);
        }
        Action::MessageEnd { message_id, .. } => {
            let message = assistant_message(view, message_id);
            if message.status == MessageStatus::Streaming {
                message.status = MessageStatus::Complete;
            }
        }
        Action::TurnEnd { reason, .. } => {
            view.running = false;
            let status = match reason {
                TurnEndReason::Completed => MessageStatus::Complete,
                TurnEndReason::Interrupted => MessageStatus::Interrupted,
                TurnEndReason::Error => MessageStatus::Error,
            };
            // Every earlier turn_end already settled its messages, so the ones still streaming
            // belong to this turn: its end is theirs too. They sit near the end of the list.
            for message in view.messages.iter_mut().rev().take(TURN_END_SCAN) {
                if message.status == MessageStatus::Streaming {
                    message.status = status;
                    view.marks.touch(&message.id);
                }
            }
        }
        Action::SessionStateChanged { state, .. } => {
            view.state = Some(*state);
            if *state == SessionState::Ended {
                view.running = false;
            }
        }
        _ => {}
    }
}

/// The assistant message an event names, created if the stream began before this view did.
fn assistant_message<'v>(view: &'v mut SessionView, message_id: &str) -> &'v mut Message {
    // One index lookup on the hot path (every delta); a miss pushes the message.
    match view.position(message_id) {
        Some(position) => {
            view.marks.touch(message_id);
            &mut view.messages[position]
        }
        None => view.push_confirmed(Message::assistant(message_id.to_owned())),
    }
}

/// Appends a delta in O(delta): the block's text grows, and so does the message's `text` when
/// the block is its last text block (the usual case). Otherwise `text` is rebuilt in block order.
#[cfg_attr(sessionwire_size, optimize(speed))]
fn append_delta(message: &mut Message, block_id: &str, delta: &str) {
    let Some(position) = message
        .blocks
        .iter()
        .rposition(|block| crate::bytes::same(&block.id, block_id))
    else {
        // A delta for a block that never started: start it as text, so no text is lost.
        message.blocks.push(Block::new(
            block_id.to_owned(),
            BlockType::Text,
            delta.to_owned(),
        ));
        message.text.push_str(delta);
        return;
    };
    append_to_block(message, position, delta);
}

/// Appends a delta to the block at `position` (and to the message's `text`, see
/// [`append_delta`]).
#[cfg_attr(sessionwire_size, optimize(speed))]
fn append_to_block(message: &mut Message, position: usize, delta: &str) {
    let block = &mut message.blocks[position];
    block.text.push_str(delta);
    if block.block_type != BlockType::Text {
        return;
    }
    let is_last_text_block = !message.blocks[position + 1..]
        .iter()
        .any(|block| block.block_type == BlockType::Text);
    if is_last_text_block {
        message.text.push_str(delta);
    } else {
        message.text = String::from_iter(
            message
                .blocks
                .iter()
                .filter(|block| block.block_type == BlockType::Text)
                .map(|block| block.text.as_str()),
        );
    }
}

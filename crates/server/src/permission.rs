//! Permission requests (PROTOCOL.md §5.1): an agent asks mid-turn, every watcher sees the
//! request in the session's log, and the first answer wins.
//!
//! The book and its rules are the engine's (`sessionwire_core::engine::PermissionBook`: a request
//! is in it from before its `permission_request` is submitted until exactly one resolution takes
//! it out). Here it sits behind a std mutex, never held across an await: its event is submitted
//! under the lock by whoever took the request out, and the agent waits for the answer on a
//! channel of its own.

use crate::{
    agent::{Ask, AskPermission, PermissionFuture},
    auth::User,
    clock::new_id,
    hub::{Extras, Hub, PermissionAnswer as Answer, SessionEntry},
    store::{ClientMsgKey, Durable},
};
use serde_json::{json, Value};
use sessionwire_core::{
    engine::{permissions::MAX_PENDING, WaitingRequest},
    protocol::{PermissionRequest, PermissionResolved, RawJson, RespondPermissionFrame},
    routing::{PermissionDecision, StoredMessage},
    EventKind,
};
use std::sync::Arc;
use tokio::sync::oneshot;

/// `permission_resolved.outcome` (the engine's).
pub use sessionwire_core::engine::PermissionOutcome as Outcome;

fn resolved_event(
    request_id: String,
    outcome: Outcome,
    option_id: Option<String>,
    client_msg_id: Option<String>,
) -> EventKind {
    EventKind::PermissionResolved(PermissionResolved {
        request_id,
        outcome: outcome.as_str().to_owned(),
        option_id,
        client_msg_id,
    })
}

/// How an agent's turn asks its session's users (one per turn, see [`crate::agent::Turn`]).
#[derive(Clone)]
pub struct PermissionAsker {
    hub: Arc<Hub>,
    entry: Arc<SessionEntry>,
}

impl std::fmt::Debug for PermissionAsker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PermissionAsker")
            .field("session", &self.entry.id)
            .finish()
    }
}

impl PermissionAsker {
    pub fn new(hub: Arc<Hub>, entry: Arc<SessionEntry>) -> Self {
        Self { hub, entry }
    }

    /// Asks and waits: see [`AskPermission::ask`].
    async fn ask_and_wait(&self, ask: Ask) -> Option<String> {
        let answer = self.submit(ask);
        match answer.await {
            Ok(Answer::Selected { option_id, stored }) => match stored.wait().await {
                Ok(_) => Some(option_id),
                Err(error) => {
                    tracing::warn!(session = %self.entry.id, %error, "a permission answer was not stored; the agent hears cancelled");
                    None
                }
            },
            Ok(Answer::Cancelled) | Err(_) => None,
        }
    }

    /// Registers the request and submits its `permission_request`, both under the book's lock
    /// (so no answer can be written before the request itself).
    fn submit(&self, ask: Ask) -> oneshot::Receiver<Answer> {
        let (tx, rx) = oneshot::channel();
        let mut book = self.entry.permissions.lock();
        let request_id = new_id();
        let options: Vec<Value> = ask
            .options
            .iter()
            .map(|c| json!({"optionId": c.option_id, "name": c.name, "kind": c.kind}))
            .collect();
        let waiting = WaitingRequest {
            request_id: request_id.clone(),
            option_ids: ask.options.into_iter().map(|c| c.option_id).collect(),
            waiter: tx,
        };
        if book.ask(waiting).is_err() {
            // (The refused sender is dropped: the agent hears cancelled.)
            tracing::warn!(session = %self.entry.id, "the agent asked for more than {MAX_PENDING} permissions at once; answered cancelled");
            return rx;
        }
        let request = PermissionRequest {
            request_id,
            tool_id: ask.tool_id,
            title: ask.title,
            options: RawJson::from(Value::Array(options)),
            content: ask.content.map(RawJson::from),
        };
        self.hub
            .append(&self.entry, EventKind::PermissionRequest(request));
        rx
    }
}

impl AskPermission for PermissionAsker {
    fn ask(&self, ask: Ask) -> PermissionFuture {
        let asker = self.clone();
        Box::pin(async move { asker.ask_and_wait(ask).await })
    }
}

/// An answer: the first one for a pending request wins and is submitted as
/// `permission_resolved{selected}` with its `clientMsgId` (so a retry is a duplicate); the
/// write's answer is returned. Otherwise, the core's reason it was refused: a request the book
/// does not hold is `UnknownRequest` here, and the caller then asks the store.
pub fn answer(
    hub: &Hub,
    entry: &SessionEntry,
    user: &User,
    frame: &RespondPermissionFrame,
    stored: Option<StoredMessage>,
    in_log: bool,
) -> Result<Durable, PermissionDecision> {
    let mut book = entry.permissions.lock();
    let pending = book.answer(&frame.request_id, &frame.option_id, stored, || in_log)?;
    let (done, stored) = Durable::channel();
    let extras = Extras {
        client_msg: Some(ClientMsgKey {
            owner: user.0.clone(),
            client_msg_id: frame.client_msg_id.clone(),
        }),
        ..Extras::default()
    };
    let event = resolved_event(
        pending.request_id,
        Outcome::Selected,
        Some(frame.option_id.clone()),
        Some(frame.client_msg_id.clone()),
    );
    hub.append_answered(entry, event, extras, done);
    let _ = pending.waiter.send(Answer::Selected {
        option_id: frame.option_id.clone(),
        stored: stored.clone(),
    });
    Ok(stored)
}

/// Resolves every waiting request of the session with `outcome` (cancelled or expired): each
/// gets its `permission_resolved`, and its agent hears `None`. Returns how many there were.
pub fn resolve_all(hub: &Hub, entry: &SessionEntry, outcome: Outcome) -> usize {
    let mut book = entry.permissions.lock();
    let pending = book.resolve_all();
    let count = pending.len();
    for request in pending {
        hub.append(
            entry,
            resolved_event(request.request_id, outcome, None, None),
        );
        let _ = request.waiter.send(Answer::Cancelled);
    }
    count
}

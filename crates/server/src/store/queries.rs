//! The statements of the store, as one trait that each database implements in its own SQL
//! dialect. The group-commit writer ([`super::writer`]) and the reads ([`super::sql`]) are
//! written once over it, so SQLite and PostgreSQL cannot drift apart in what they store.
//!
//! Invariant: an implementation only runs SQL. Every rule about what to write (seqs, fences,
//! repairs) lives above it, and the few facts derived from stored events (the open turn, the
//! pending permission requests) are computed here, once, from rows both databases return.

use super::{PendingTurn, SessionRecord, StoreResult, StoredEvent};
use sessionwire_core::{routing::StoredMessage, EventKind, SessionState};

/// One stored event as read back: its `type` and its frame text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub seq: u64,
    pub kind: String,
    pub payload: String,
    pub ts: u64,
}

/// The store's statements, inside a write transaction or on a read connection.
pub trait Queries {
    fn insert_session(&mut self, record: &SessionRecord) -> StoreResult<()>;
    fn insert_event(&mut self, event: &StoredEvent) -> StoreResult<()>;
    fn set_state(&mut self, session_id: &str, state: SessionState) -> StoreResult<()>;
    /// Does nothing if the user's `clientMsgId` is already stored.
    fn insert_client_msg(
        &mut self,
        owner: &str,
        client_msg_id: &str,
        session_id: &str,
        seq: u64,
    ) -> StoreResult<()>;
    /// Queues a turn (replacing a queued turn of the same message); `ord` orders the queue.
    fn push_turn(
        &mut self,
        session_id: &str,
        message_id: &str,
        text: &str,
        ord: i64,
    ) -> StoreResult<()>;
    fn remove_turn(&mut self, session_id: &str, message_id: &str) -> StoreResult<()>;
    fn set_agent_session(&mut self, session_id: &str, agent_session: &str) -> StoreResult<()>;
    /// The session's highest seq and last activity.
    fn touch_session(
        &mut self,
        session_id: &str,
        last_seq: u64,
        updated_at: u64,
    ) -> StoreResult<()>;

    fn session(&mut self, id: &str) -> StoreResult<Option<SessionRecord>>;
    /// See [`super::Store::sessions_page`].
    fn sessions_page(
        &mut self,
        owner: &str,
        before: Option<(u64, String)>,
        limit: usize,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// The sessions that are not ENDED (of one user, when given).
    fn not_ended(&mut self, owner: Option<&str>) -> StoreResult<Vec<SessionRecord>>;
    fn events_page(
        &mut self,
        session_id: &str,
        after: u64,
        through: u64,
        limit: usize,
    ) -> StoreResult<Vec<EventRow>>;
    /// The highest stored seq of a session (0 if it has no events).
    fn last_seq(&mut self, session_id: &str) -> StoreResult<u64>;
    /// The session's last `turn_start` or `turn_end`, as (`type`, frame text).
    fn last_turn_event(&mut self, session_id: &str) -> StoreResult<Option<(String, String)>>;
    /// The session's `permission_request` and `permission_resolved` events (only `kind`'s when
    /// given), in seq order, as (`type`, frame text).
    fn permission_events(
        &mut self,
        session_id: &str,
        kind: Option<&str>,
    ) -> StoreResult<Vec<(String, String)>>;
    /// Queued turns in the order they run: one session's, or every session's grouped by session.
    fn pending_turns(&mut self, session_id: Option<&str>) -> StoreResult<Vec<PendingTurn>>;
    fn client_msg(
        &mut self,
        owner: &str,
        client_msg_id: &str,
    ) -> StoreResult<Option<StoredMessage>>;
    fn agent_session(&mut self, session_id: &str) -> StoreResult<Option<String>>;
}

/// A string field of a stored frame (its ids: `turnId`, `requestId`).
fn field(payload: &str, name: &str) -> StoreResult<String> {
    let value: serde_json::Value = serde_json::from_str(payload)?;
    Ok(value
        .get(name)
        .and_then(|id| id.as_str())
        .unwrap_or_default()
        .to_owned())
}

/// The `turnId` of a `turn_start` with no `turn_end` after it.
pub fn open_turn(queries: &mut dyn Queries, session_id: &str) -> StoreResult<Option<String>> {
    match queries.last_turn_event(session_id)? {
        Some((kind, payload)) if kind == "turn_start" => Ok(Some(field(&payload, "turnId")?)),
        _ => Ok(None),
    }
}

/// The `requestId`s of the session's permission requests with no `permission_resolved` after
/// them, in order.
pub fn pending_permissions(
    queries: &mut dyn Queries,
    session_id: &str,
) -> StoreResult<Vec<String>> {
    let mut pending: Vec<String> = Vec::new();
    for (kind, payload) in queries.permission_events(session_id, None)? {
        let id = field(&payload, "requestId")?;
        if kind == "permission_request" {
            pending.push(id);
        } else {
            pending.retain(|waiting| *waiting != id);
        }
    }
    Ok(pending)
}

/// Whether the session's log has a `permission_request` with this `requestId`.
pub fn permission_requested(
    queries: &mut dyn Queries,
    session_id: &str,
    request_id: &str,
) -> StoreResult<bool> {
    for (_, payload) in queries.permission_events(session_id, Some("permission_request"))? {
        if field(&payload, "requestId")? == request_id {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Maps a stored `type` back to the static name of the core's event kinds.
pub fn static_kind(kind: &str) -> &'static str {
    EventKind::TYPES
        .iter()
        .copied()
        .find(|known| *known == kind)
        .unwrap_or("unknown")
}

/// An unreadable stored state is treated as ENDED: the safest state to route from.
pub fn parse_state(state: &str) -> SessionState {
    SessionState::parse(state).unwrap_or(SessionState::Ended)
}

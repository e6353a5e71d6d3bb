//! The client state: one view per session the client has seen, the outbox and the errors, and
//! the snapshot that JavaScript and the golden vectors read.

use super::fxhash::FxBuildHasher;
use crate::protocol::{BlockType, ErrorCode};
use crate::SessionState;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use std::collections::HashMap;

/// The transport as the store sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// No socket.
    #[default]
    Closed,
    /// The socket is open and `hello` was sent; `welcome` has not arrived yet.
    Connecting,
    /// `welcome` arrived: frames may be sent.
    Open,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// A user message shown at once, not yet acknowledged by the server.
    Pending,
    /// A user message the server stored (its `user_message` echo or `ack` arrived).
    Sent,
    /// A user message the server refused (an `error` named its `clientMsgId`).
    Failed,
    /// An assistant message still streaming.
    Streaming,
    /// An assistant message that ended normally.
    Complete,
    /// An assistant message cut short by an interrupt.
    Interrupted,
    /// An assistant message whose turn failed.
    Error,
}

/// One content block of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Block {
    pub id: String,
    #[serde(rename = "type")]
    pub block_type: BlockType,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    pub done: bool,
}

/// One message of a conversation. `text` is the concatenated text of its text blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    pub role: Role,
    pub status: MessageStatus,
    pub text: String,
    pub blocks: Vec<Block>,
}

impl Message {
    pub(crate) fn user(id: String, text: String, status: MessageStatus) -> Self {
        Self {
            id,
            role: Role::User,
            status,
            text,
            blocks: Vec::new(),
        }
    }

    pub(crate) fn assistant(id: String) -> Self {
        Self {
            id,
            role: Role::Assistant,
            status: MessageStatus::Streaming,
            text: String::new(),
            blocks: Vec::new(),
        }
    }
}

/// A gap: an event arrived whose seq was more than one past the last applied one. Events are
/// held back (not applied) until a replay fills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Gap {
    pub expected_seq: u64,
    pub received_seq: u64,
}

/// Everything the client holds about one session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionView {
    pub state: Option<SessionState>,
    pub running: bool,
    /// The highest seq applied, dense from 1; 0 before any event.
    pub last_seq: u64,
    pub title: Option<String>,
    pub messages: Vec<Message>,
    /// Message id to its index in `messages`, so a delta finds its message in O(1).
    pub(crate) index: HashMap<String, usize, FxBuildHasher>,
    /// `messages[..confirmed]` come from the session's log, in seq order; the rest are the
    /// user's optimistic messages not echoed yet. Keeping them apart means the conversation
    /// always reads in the server's order, even when the user typed while a reply streamed.
    pub(crate) confirmed: usize,
    pub gap: Option<Gap>,
}

impl SessionView {
    pub(crate) fn message_mut(&mut self, id: &str) -> Option<&mut Message> {
        let position = *self.index.get(id)?;
        self.messages.get_mut(position)
    }

    /// Adds a message that came from the log: after every other logged message, before the
    /// optimistic ones.
    pub(crate) fn push_confirmed(&mut self, message: Message) -> &mut Message {
        let position = self.confirmed;
        self.messages.insert(position, message);
        self.confirmed += 1;
        self.reindex_from(position);
        &mut self.messages[position]
    }

    /// Shows a user's message at once, as pending, unless it is shown already (a resend).
    pub(crate) fn show_pending(&mut self, id: &str, text: &str) {
        if self.message_mut(id).is_none() {
            self.push_optimistic(Message::user(
                id.to_owned(),
                text.to_owned(),
                MessageStatus::Pending,
            ));
        }
    }

    /// Adds an optimistic message (shown at once, not in the log yet) at the very end.
    pub(crate) fn push_optimistic(&mut self, message: Message) {
        self.index.insert(message.id.clone(), self.messages.len());
        self.messages.push(message);
    }

    /// An optimistic message's echo arrived: it takes its place in log order. Returns it, or
    /// `None` when no message has this id.
    pub(crate) fn confirm(&mut self, id: &str) -> Option<&mut Message> {
        let position = *self.index.get(id)?;
        if position >= self.confirmed {
            let message = self.messages.remove(position);
            self.messages.insert(self.confirmed, message);
            self.reindex_from(self.confirmed);
            self.confirmed += 1;
        }
        self.message_mut(id)
    }

    /// Removes an optimistic message (one moving to its new session).
    pub(crate) fn take_message(&mut self, id: &str) -> Option<Message> {
        let position = self.index.remove(id)?;
        let message = self.messages.remove(position);
        if position < self.confirmed {
            self.confirmed -= 1;
        }
        self.reindex_from(position);
        Some(message)
    }

    fn reindex_from(&mut self, position: usize) {
        for (index, message) in self.messages.iter().enumerate().skip(position) {
            self.index.insert(message.id.clone(), index);
        }
    }
}

/// What kind of request an outbox entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    Send,
    Interrupt,
}

/// A request sent (or to be sent) and not yet acknowledged. It is sent again, with the same
/// `clientMsgId`, after every `welcome` until an `ack` (or an `error` naming it) arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct OutboxEntry {
    pub client_msg_id: String,
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub kind: OutboxKind,
    /// Set for a message typed into a session that is still being created: it waits for
    /// `session_created` (naming this `clientMsgId` of the creating send) before it can go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waits_for: Option<String>,
}

/// An error the server reported, kept for the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ErrorInfo {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// The most errors kept; older ones are dropped first.
pub const MAX_ERRORS: usize = 50;

/// The whole client state. Its serialized form is the snapshot of PROTOCOL.md §8: `messages`,
/// `running` and `sessionState` show the current session's view only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientState {
    pub connection: Connection,
    pub epoch: Option<String>,
    pub connection_id: Option<String>,
    pub current_session_id: Option<String>,
    /// One view per session. Hashed (FxHash): every event looks its view up, and session ids
    /// made close in time (UUIDv7) share long prefixes, which an ordered map compares byte by
    /// byte on each step. Snapshots list them in id order.
    pub views: Views,
    /// The messages of a session not created yet (typed while no session was current).
    pub draft: SessionView,
    pub outbox: Vec<OutboxEntry>,
    pub errors: Vec<ErrorInfo>,
    /// Outbox entries released by `session_created`, to be sent now (see `Store::take_ready_frames`).
    pub(crate) released: Vec<String>,
}

impl ClientState {
    /// The view the UI shows: the current session's, or the draft when there is none.
    pub fn current_view(&self) -> &SessionView {
        self.current_session_id
            .as_ref()
            .and_then(|id| self.views.get(id))
            .unwrap_or(&self.draft)
    }

    pub(crate) fn view_mut(&mut self, session_id: &str) -> &mut SessionView {
        if !self.views.contains_key(session_id) {
            self.views
                .insert(session_id.to_owned(), SessionView::default());
        }
        self.views.get_mut(session_id).expect("inserted above")
    }

    /// The current session's `running`.
    pub fn running(&self) -> bool {
        self.current_view().running
    }
}

/// One entry of the snapshot's `sessions` object.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SessionEntry<'a> {
    pub state: Option<SessionState>,
    pub running: bool,
    pub last_seq: u64,
    pub title: Option<&'a str>,
    /// A gap was detected and not yet repaired.
    pub gap: bool,
}

/// The store's views, by session id.
pub type Views = HashMap<String, SessionView, FxBuildHasher>;

/// The snapshot's `sessions` object, keyed by session id (serialized as a map), in id order so
/// snapshots are deterministic.
#[derive(Debug)]
pub struct SessionsSnapshot<'a>(Vec<(&'a str, &'a SessionView)>);

impl<'a> SessionsSnapshot<'a> {
    fn new(views: &'a Views) -> Self {
        let mut sorted: Vec<(&str, &SessionView)> =
            views.iter().map(|(id, view)| (id.as_str(), view)).collect();
        sorted.sort_unstable_by_key(|(id, _)| *id);
        Self(sorted)
    }

    /// The views, in session id order.
    pub(crate) fn views(&self) -> &[(&'a str, &'a SessionView)] {
        &self.0
    }
}

impl Serialize for SessionsSnapshot<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (id, view) in &self.0 {
            map.serialize_entry(
                id,
                &SessionEntry {
                    state: view.state,
                    running: view.running,
                    last_seq: view.last_seq,
                    title: view.title.as_deref(),
                    gap: view.gap.is_some(),
                },
            )?;
        }
        map.end()
    }
}

/// The snapshot of PROTOCOL.md §8, borrowed from a [`ClientState`]: what `getState()` returns
/// and what the golden vectors compare. `messages`, `running`, `sessionState` and `lastSeq`
/// are the current session's (or the draft's when there is none).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "ClientState"))]
#[serde(rename_all = "camelCase")]
pub struct Snapshot<'a> {
    pub connection: Connection,
    pub epoch: Option<&'a str>,
    pub connection_id: Option<&'a str>,
    pub current_session_id: Option<&'a str>,
    pub running: bool,
    pub session_state: Option<SessionState>,
    pub last_seq: u64,
    pub messages: &'a [Message],
    #[cfg_attr(feature = "ts", ts(type = "{ [sessionId: string]: SessionEntry }"))]
    pub sessions: SessionsSnapshot<'a>,
    pub outbox: &'a [OutboxEntry],
    pub errors: &'a [ErrorInfo],
}

impl ClientState {
    /// The snapshot of PROTOCOL.md §8 (borrowed; serialize it to get the plain object).
    pub fn snapshot(&self) -> Snapshot<'_> {
        let view = self.current_view();
        Snapshot {
            connection: self.connection,
            epoch: self.epoch.as_deref(),
            connection_id: self.connection_id.as_deref(),
            current_session_id: self.current_session_id.as_deref(),
            running: view.running,
            session_state: view.state,
            last_seq: view.last_seq,
            messages: &view.messages,
            sessions: SessionsSnapshot::new(&self.views),
            outbox: &self.outbox,
            errors: &self.errors,
        }
    }
}

impl Serialize for ClientState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.snapshot().serialize(serializer)
    }
}

//! The client state: one view per session the client has seen, the outbox and the errors, and
//! the snapshot that JavaScript and the golden vectors read.

use super::message_index::MessageIndex;
use crate::protocol::{BlockType, ErrorCode, RawJson};
use crate::SessionState;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use std::ops::Index;

wire_unit_enum! {
    /// The transport as the store sees it.
    #[derive(Default)]
    pub enum Connection {
        /// No socket.
        #[default]
        "closed" Closed,
        /// The socket is open and `hello` was sent; `welcome` has not arrived yet.
        "connecting" Connecting,
        /// `welcome` arrived: frames may be sent.
        "open" Open,
    }
}

wire_unit_enum! {
    /// Who wrote a message.
    pub enum Role {
        "user" User,
        "assistant" Assistant,
    }
}

wire_unit_enum! {
    /// Where a message stands.
    pub enum MessageStatus {
        /// A user message shown at once, not yet acknowledged by the server.
        "pending" Pending,
        /// A user message the server stored (its `user_message` echo or `ack` arrived).
        "sent" Sent,
        /// A user message the server refused (an `error` named its `clientMsgId`).
        "failed" Failed,
        /// An assistant message still streaming.
        "streaming" Streaming,
        /// An assistant message that ended normally.
        "complete" Complete,
        /// An assistant message cut short by an interrupt.
        "interrupted" Interrupted,
        /// An assistant message whose turn failed.
        "error" Error,
    }
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
    #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
    pub input: Option<RawJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
    pub result: Option<RawJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    pub done: bool,
    /// A tool block's progress (`tool_update`): pending, in_progress, completed or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
    pub content: Option<RawJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
    pub locations: Option<RawJson>,
    /// How much of `text` the bindings' snapshot holds (see [`Mirrored`]).
    #[serde(skip)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub(crate) mirrored: Mirrored,
}

/// How many bytes of a text the bindings' snapshot already holds: what the last patch carried
/// plus the streamed deltas it appended itself since (`StateMarks::hot`). Texts only ever grow
/// by appending, so a text this long is the very text the snapshot has, and a patch leaves it
/// out (`null`) instead of sending a long message's text again on every change of its status.
/// Not part of the state: two states that differ only here are equal.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Mirrored(pub(crate) usize);

impl PartialEq for Mirrored {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Block {
    /// A block not done yet, with `text` and nothing else set.
    pub(crate) fn new(id: String, block_type: BlockType, text: String) -> Self {
        Self {
            id,
            block_type,
            text,
            tool_name: None,
            input: None,
            result: None,
            is_error: None,
            done: false,
            status: None,
            title: None,
            kind: None,
            content: None,
            locations: None,
            mirrored: Mirrored(0),
        }
    }
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
    /// How much of `text` the bindings' snapshot holds (see [`Mirrored`]).
    #[serde(skip)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub(crate) mirrored: Mirrored,
}

impl Message {
    pub(crate) fn user(id: String, text: String, status: MessageStatus) -> Self {
        Self {
            id,
            role: Role::User,
            status,
            text,
            blocks: Vec::new(),
            mirrored: Mirrored(0),
        }
    }

    pub(crate) fn assistant(id: String) -> Self {
        Self {
            id,
            role: Role::Assistant,
            status: MessageStatus::Streaming,
            text: String::new(),
            blocks: Vec::new(),
            mirrored: Mirrored(0),
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

/// A permission request of a session that no `permission_resolved` has answered yet
/// (PROTOCOL.md §5.1): what a UI shows to let the user allow or reject a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PendingPermission {
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_id: Option<String>,
    pub title: String,
    /// `[{optionId, name, kind}]`.
    #[cfg_attr(feature = "ts", ts(as = "serde_json::Value"))]
    pub options: RawJson,
    /// What would change (e.g. a diff), as in `tool_update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
    pub content: Option<RawJson>,
}

/// Everything the client holds about one session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionView {
    pub state: Option<SessionState>,
    pub running: bool,
    /// The highest seq applied, dense from 1; 0 before any event.
    pub last_seq: u64,
    pub title: Option<String>,
    /// The agent's latest plan (`plan` events), as it gave it.
    pub plan: Option<RawJson>,
    /// Permission requests no `permission_resolved` has answered yet, oldest first.
    pub permissions: Vec<PendingPermission>,
    pub messages: Vec<Message>,
    /// Where each message is, by id, so an event finds its message in O(1).
    pub(crate) index: MessageIndex,
    /// `messages[..confirmed]` come from the session's log, in seq order; the rest are the
    /// user's optimistic messages not echoed yet. Keeping them apart means the conversation
    /// always reads in the server's order, even when the user typed while a reply streamed.
    pub(crate) confirmed: usize,
    pub gap: Option<Gap>,
    /// The session listing in progress has not named this session (yet): when its last page
    /// arrives, the view is dropped unless it is the current session's.
    pub(crate) unlisted: bool,
    /// What changed since the last patch (see `store/patch.rs`).
    pub(crate) marks: ViewMarks,
}

impl SessionView {
    /// Where message `id` is in `messages`.
    #[cfg_attr(sessionwire_size, optimize(speed))]
    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        self.index.find(&self.messages, id)
    }

    pub(crate) fn message_mut(&mut self, id: &str) -> Option<&mut Message> {
        let position = self.position(id)?;
        self.marks.touch(id);
        self.messages.get_mut(position)
    }

    /// Adds a message that came from the log: after every other logged message, before the
    /// optimistic ones.
    pub(crate) fn push_confirmed(&mut self, message: Message) -> &mut Message {
        let position = self.confirmed;
        // Appended (no optimistic message after it): a plain change at a new position.
        if position < self.messages.len() {
            self.marks.reshaped = true;
        }
        self.marks.touch(&message.id);
        self.messages.insert(position, message);
        self.confirmed += 1;
        // Before the optimistic messages, if any: they moved up one.
        self.index.inserted(&self.messages, position);
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
        self.marks.touch(&message.id);
        self.messages.push(message);
        self.index.appended(&self.messages);
    }

    /// An optimistic message's echo arrived: it takes its place in log order. Returns it, or
    /// `None` when no message has this id.
    pub(crate) fn confirm(&mut self, id: &str) -> Option<&mut Message> {
        let mut position = self.position(id)?;
        self.marks.touch(id);
        if position >= self.confirmed {
            if position > self.confirmed {
                self.marks.reshaped = true;
                let message = self.messages.remove(position);
                self.messages.insert(self.confirmed, message);
                self.index.rebuild(&self.messages);
            }
            position = self.confirmed;
            self.confirmed += 1;
        }
        self.messages.get_mut(position)
    }

    /// Removes an optimistic message (one moving to its new session).
    pub(crate) fn take_message(&mut self, id: &str) -> Option<Message> {
        let position = self.position(id)?;
        self.marks.reshaped = true;
        let message = self.messages.remove(position);
        if position < self.confirmed {
            self.confirmed -= 1;
        }
        self.index.rebuild(&self.messages);
        Some(message)
    }
}

/// What changed in a view since the last patch: its `sessions` entry (`entry`: any of it;
/// `seq`: its `lastSeq`, which every event moves, so the patch sends it alone when nothing else
/// of the entry changed), which messages (by id), and whether messages were added, removed or
/// moved. Not part of the state: two states that differ only in their marks are equal.
#[derive(Debug, Clone, Default)]
pub(crate) struct ViewMarks {
    pub(crate) entry: bool,
    pub(crate) seq: bool,
    pub(crate) reshaped: bool,
    pub(crate) touched: Vec<String>,
}

impl ViewMarks {
    /// Nothing is marked since the last patch: a hot delta may then stand for all of it.
    pub(crate) fn is_clean(&self) -> bool {
        !self.entry && !self.seq && !self.reshaped && self.touched.is_empty()
    }

    // Not inlined: it is called from a dozen places, and the package is built for size.
    #[inline(never)]
    pub(crate) fn touch(&mut self, id: &str) {
        if self.touched.last().map(String::as_str) != Some(id) {
            self.touched.push(id.to_owned());
        }
    }
}

impl PartialEq for ViewMarks {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// What changed in the state outside the views since the last patch; `hot` is set by an event
/// that made one small change to a view nothing else changed in since the last patch, which the
/// bindings then make themselves, by position, with no patch. Not part of the state, like
/// [`ViewMarks`].
#[derive(Debug, Clone, Default)]
pub(crate) struct StateMarks {
    /// Connection, epoch, ids, outbox or errors.
    pub(crate) top: bool,
    /// Views were removed, or every entry changed: the whole `sessions` object is written.
    pub(crate) all_sessions: bool,
    pub(crate) hot: Option<HotChange>,
}

/// An event's change that the bindings make to their snapshot themselves (a hot patch), by the
/// positions it gives, with the event's `seq` as the entry's `lastSeq`: the change is all that
/// happened to the view since the last patch, so no patch is written for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HotChange {
    /// A streamed delta's text appended to block `.1` of message `.0` (and to the message's
    /// text when the block is its last text block).
    Appended(u32, u32),
    /// Block `.1` of message `.0` ended: `done`, no `input` (`block_end`).
    BlockDone(u32, u32),
    /// Message `.0` went from `streaming` to `complete` (`message_end`).
    MessageComplete(u32),
    /// The session's `running` became this (`turn_start`, or a `turn_end` that ended no
    /// message still streaming).
    Running(bool),
}

impl HotChange {
    /// The message and block positions of a streamed delta's text appended.
    pub fn appended(self) -> Option<(u32, u32)> {
        match self {
            Self::Appended(message, block) => Some((message, block)),
            _ => None,
        }
    }
}

impl PartialEq for StateMarks {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

wire_unit_enum! {
    /// What kind of request an outbox entry is.
    pub enum OutboxKind {
        "send" Send,
        "interrupt" Interrupt,
        /// An answer to a permission request (`respond_permission`).
        "permission" Permission,
    }
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
    /// The request a `permission` entry answers, and the option chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option_id: Option<String>,
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

/// The sessions' views by session id, in id order, as a `BTreeMap` would keep them (the
/// snapshot's `sessions` object is written in that order), with a map's methods.
///
/// Why not a `BTreeMap`: a client holds a handful of sessions, and a vector kept sorted (binary
/// search to find, insert or remove) is as fast there while its code is a fraction of the
/// B-tree's, which was the largest generic code in the Wasm package.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionViews(Vec<(String, SessionView)>);

impl SessionViews {
    /// Where `session_id` is, or where it would go.
    fn search(&self, session_id: &str) -> Result<usize, usize> {
        self.0
            .binary_search_by(|(id, _)| crate::bytes::compare(id, session_id))
    }

    /// The view of a session, if the client has one.
    pub fn get(&self, session_id: &str) -> Option<&SessionView> {
        self.search(session_id).ok().map(|at| &self.0[at].1)
    }

    /// The view of a session, mutably, if the client has one.
    #[cfg_attr(sessionwire_size, optimize(speed))]
    pub fn get_mut(&mut self, session_id: &str) -> Option<&mut SessionView> {
        let at = self.search(session_id).ok()?;
        Some(&mut self.0[at].1)
    }

    /// The view of a session, made empty first if the client has none. Its `sessions` entry
    /// is marked changed (callers change it, or made it).
    pub fn get_or_insert(&mut self, session_id: &str) -> &mut SessionView {
        let at = match self.search(session_id) {
            Ok(at) => at,
            Err(at) => {
                self.0
                    .insert(at, (session_id.to_owned(), SessionView::default()));
                at
            }
        };
        let view = &mut self.0[at].1;
        view.marks.entry = true;
        view
    }

    /// Whether the client has a view of the session.
    pub fn contains_key(&self, session_id: &str) -> bool {
        self.search(session_id).is_ok()
    }

    /// Sets the view of a session, returning the one it replaces.
    pub fn insert(&mut self, session_id: String, view: SessionView) -> Option<SessionView> {
        match self.search(&session_id) {
            Ok(at) => Some(std::mem::replace(&mut self.0[at].1, view)),
            Err(at) => {
                self.0.insert(at, (session_id, view));
                None
            }
        }
    }

    /// Keeps only the views `keep` says yes to. (A loop over `remove`, whose code the package
    /// has anyway: 0.4 KB less .wasm than `Vec::retain`.)
    pub(crate) fn retain(&mut self, keep: impl Fn(&str, &SessionView) -> bool) {
        let mut at = self.0.len();
        while at > 0 {
            at -= 1;
            let (id, view) = &self.0[at];
            if !keep(id, view) {
                self.0.remove(at);
            }
        }
    }

    /// Drops the view of a session, returning it.
    pub fn remove(&mut self, session_id: &str) -> Option<SessionView> {
        let at = self.search(session_id).ok()?;
        Some(self.0.remove(at).1)
    }

    /// The session ids and their views, in id order.
    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = (&String, &SessionView)> + ExactSizeIterator {
        self.0.iter().map(|(id, view)| (id, view))
    }

    /// The session ids and their views, mutably, in id order.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut SessionView)> {
        self.0.iter_mut().map(|(id, view)| (id.as_str(), view))
    }

    /// The session ids, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.0.iter().map(|(id, _)| id)
    }

    /// The views, in session id order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &SessionView> + ExactSizeIterator {
        self.0.iter().map(|(_, view)| view)
    }

    /// The views, mutably, in session id order.
    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut SessionView> + ExactSizeIterator {
        self.0.iter_mut().map(|(_, view)| view)
    }

    /// How many sessions the client has a view of.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the client has no view of any session.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a SessionViews {
    type Item = (&'a String, &'a SessionView);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, SessionView)>,
        fn(&'a (String, SessionView)) -> (&'a String, &'a SessionView),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(id, view)| (id, view))
    }
}

/// `views[id]`, as for a map: panics when the client has no view of `id`.
impl<K: AsRef<str> + ?Sized> Index<&K> for SessionViews {
    type Output = SessionView;

    fn index(&self, session_id: &K) -> &SessionView {
        match self.get(session_id.as_ref()) {
            Some(view) => view,
            None => panic!("no view of session {:?}", session_id.as_ref()),
        }
    }
}

/// The whole client state. Its serialized form is the snapshot of PROTOCOL.md §8: `messages`,
/// `running` and `sessionState` show the current session's view only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientState {
    pub connection: Connection,
    pub epoch: Option<String>,
    pub connection_id: Option<String>,
    pub current_session_id: Option<String>,
    /// One view per session, ordered by id so snapshots are deterministic.
    pub views: SessionViews,
    /// The messages of a session not created yet (typed while no session was current).
    pub draft: SessionView,
    pub(crate) marks: StateMarks,
    pub outbox: Vec<OutboxEntry>,
    pub errors: Vec<ErrorInfo>,
    /// Outbox entries released by `session_created`, to be sent now (see `Store::take_ready_frames`).
    pub(crate) released: Vec<String>,
    /// Outbox entries the server could not take yet (`unavailable`, `rate_limited`): released
    /// by the next `pong`.
    pub(crate) retrying: Vec<String>,
    /// The `before` of every `list_sessions` asked for (`None` for a first page), oldest first,
    /// of which the first `list_answered` were answered: replies come in order, and do not say
    /// what they answer.
    pub(crate) list_requests: Vec<Option<String>>,
    pub(crate) list_answered: usize,
    /// The `next` of the latest page of the session listing in progress: a page asked for with
    /// this cursor continues it. `None` when no listing is in progress.
    pub(crate) listing: Option<String>,
    /// The page after `listing` is to be asked for (`Store::take_ready_frames` does).
    pub(crate) page_wanted: bool,
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
        self.views.get_or_insert(session_id)
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
    /// The session's latest plan, `[{content, priority, status}]`, or null.
    #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
    pub plan: Option<&'a RawJson>,
    /// The session's permission requests still waiting for an answer.
    pub pending_permissions: &'a [PendingPermission],
}

/// The snapshot's `sessions` object, keyed by session id (serialized as a map).
#[derive(Debug)]
pub struct SessionsSnapshot<'a>(&'a SessionViews);

impl<'a> SessionsSnapshot<'a> {
    /// The views, in session id order.
    pub(crate) fn views(&self) -> &'a SessionViews {
        self.0
    }
}

impl Serialize for SessionsSnapshot<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (id, view) in self.0 {
            map.serialize_entry(
                id,
                &SessionEntry {
                    state: view.state,
                    running: view.running,
                    last_seq: view.last_seq,
                    title: view.title.as_deref(),
                    gap: view.gap.is_some(),
                    plan: view.plan.as_ref(),
                    pending_permissions: &view.permissions,
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
    /// The current session's plan (null without a session or a plan).
    #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
    pub plan: Option<&'a RawJson>,
    /// The current session's permission requests still waiting for an answer.
    pub pending_permissions: &'a [PendingPermission],
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
            plan: view.plan.as_ref(),
            pending_permissions: &view.permissions,
            sessions: SessionsSnapshot(&self.views),
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

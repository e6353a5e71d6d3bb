//! The client state store of PROTOCOL.md §7–8, as pure Rust: the same code runs in browsers
//! (compiled to Wasm by the root crate) and natively in tests.
//!
//! A server frame becomes actions through a parser ([`actions_for_frame`]); actions change the
//! state through a reducer ([`reduce`]). [`Store`] ties them together with the client calls
//! (`send`, `switch_session`, …) that produce the frames to send. Nothing here touches a socket,
//! a clock or a random number generator: new `clientMsgId`s come from a prefix passed in plus a
//! counter, so tests are deterministic and the browser passes a random prefix.

mod action;
mod action_decode;
mod message_index;
mod parse;
mod patch;
mod reduce;
mod state;
mod write_state;

pub use action::Action;
pub use parse::actions_for_frame;
use parse::{action_for_event, actions_for_reply};
pub use reduce::{apply, reduce, sequence, Sequencing};
pub use state::{
    Block, ClientState, Connection, ErrorInfo, Gap, HotChange, Message, MessageStatus, OutboxEntry,
    OutboxKind, PendingPermission, Role, SessionEntry, SessionView, SessionViews, SessionsSnapshot,
    Snapshot, MAX_ERRORS,
};

use crate::protocol::write::{concat, u64_text};
use crate::protocol::{
    parse_server_frame, parse_server_frame_in_place, to_json, BlockDeltaRef, ClientFrame,
    ErrorCode, HelloFrame, InterruptFrame, ListSessionsFrame, ParsedFrame, PingFrame,
    ProtocolError, ReconnectFrame, Reply, RespondPermissionFrame, SendFrame, ServerFrame,
    SessionCursor, SessionRef, SwitchSessionFrame,
};
use crate::PROTOCOL_VERSION;
use std::fmt;

/// A client call that cannot be made in the current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// `interrupt`, `stop` and friends need a current session.
    NoCurrentSession,
    /// A frame from the server was refused.
    Protocol(ProtocolError),
}

impl StoreError {
    /// The stable code JavaScript sees on `Error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoCurrentSession => "no_current_session",
            Self::Protocol(error) => error.code().as_str(),
        }
    }
}

impl StoreError {
    /// A sentence for people (without the code, unlike `Display`).
    pub fn message(&self) -> &str {
        match self {
            Self::NoCurrentSession => "there is no current session",
            Self::Protocol(error) => error.message(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCurrentSession => f.write_str(self.message()),
            Self::Protocol(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<ProtocolError> for StoreError {
    fn from(error: ProtocolError) -> Self {
        Self::Protocol(error)
    }
}

/// What a frame did to the store ([`Store::receive_in_place`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Received<'f> {
    /// A streamed `block_delta`, applied in sequence: the one action `BLOCK_DELTA`, borrowed
    /// from the frame.
    Delta(BlockDeltaRef<'f>),
    /// The actions applied (none for a duplicate event).
    Actions(Vec<Action>),
}

impl Received<'_> {
    /// The actions applied, owned.
    pub fn into_actions(self) -> Vec<Action> {
        match self {
            Self::Delta(delta) => actions_for_frame(delta.to_frame()),
            Self::Actions(actions) => actions,
        }
    }
}

/// The client store: state plus the calls that change it.
#[derive(Debug, Clone)]
pub struct Store {
    state: ClientState,
    /// The block whose next delta was predicted ([`Store::predict_next`]).
    predicted: Option<reduce::Prediction>,
    id_prefix: String,
    next_id: u64,
}

impl Store {
    /// A new store. `id_prefix` starts every `clientMsgId` it makes (`{prefix}-{n}`); the browser
    /// passes a random one so ids are unique per user across tabs and reloads. It is cut to the
    /// characters and length a `clientMsgId` may have.
    pub fn new(id_prefix: &str) -> Self {
        // Every character a prefix keeps is ASCII: its bytes are filtered, not its chars.
        let mut prefix = String::from_iter(
            id_prefix
                .bytes()
                .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
                .take(64)
                .map(char::from),
        );
        if prefix.is_empty() {
            prefix.push('c');
        }
        Self {
            state: ClientState::default(),
            predicted: None,
            id_prefix: prefix,
            next_id: 1,
        }
    }

    /// The state.
    pub fn state(&self) -> &ClientState {
        &self.state
    }

    /// Parses a server frame and applies its actions. Returns the actions applied: a duplicate
    /// event yields none, an event after a gap yields `GAP_DETECTED` (once per gap) instead of
    /// itself. A bad frame returns an error and changes nothing.
    pub fn receive(&mut self, frame: &str) -> Result<Vec<Action>, StoreError> {
        let frame = parse_server_frame(frame)?;
        self.apply_frame(frame)
    }

    /// [`Store::receive`] for the bindings: a streamed `block_delta` (the usual frame) is
    /// applied without copying it, and comes back borrowed from the frame, so the bindings
    /// hand its strings to JavaScript as slices of the frame string.
    #[cfg_attr(sessionwire_size, optimize(speed))]
    pub fn receive_in_place<'f>(&mut self, frame: &'f str) -> Result<Received<'f>, StoreError> {
        Ok(match parse_server_frame_in_place(frame)? {
            ParsedFrame::Delta(delta) if reduce::apply_block_delta(&mut self.state, &delta) => {
                Received::Delta(delta)
            }
            // A duplicate or a gap: the general path decides, exactly as for any event.
            ParsedFrame::Delta(delta) => Received::Actions(self.apply_frame(delta.to_frame())?),
            ParsedFrame::Frame(frame) => Received::Actions(self.apply_frame(frame)?),
        })
    }

    /// Predicts the next `block_delta` of the block `delta` went to, just applied as the hot
    /// patch `hot`: with the next seq, it will be a hot patch as well, so the Wasm package may
    /// append it to its snapshot itself and tell the store later ([`Store::apply_predicted`]).
    /// False (no prediction) while the session's view has a gap (a delta may close it), or for
    /// a seq near 2^53, where a JavaScript number is no longer exact. A prediction holds until
    /// the store's next call.
    pub fn predict_next(&mut self, delta: &BlockDeltaRef<'_>, hot: (u32, u32)) -> bool {
        let predictable = delta.seq < 1 << 52
            && self
                .state
                .views
                .get(delta.session_id)
                .is_some_and(|view| view.gap.is_none() && view.last_seq == delta.seq);
        self.predicted = predictable.then(|| reduce::Prediction {
            session_id: delta.session_id.to_owned(),
            seq: delta.seq + 1,
            message: hot.0 as usize,
            block: hot.1 as usize,
        });
        predictable
    }

    /// Applies the `count` deltas [`Store::predict_next`] predicted, `text` their texts
    /// joined, exactly as applying them one by one does (each a hot patch, which the package
    /// applied to its snapshot already), and ends the prediction. False if there was none or
    /// the store changed since (nothing is applied then).
    pub fn apply_predicted(&mut self, count: u64, text: &str) -> bool {
        match self.predicted.take() {
            Some(prediction) => reduce::apply_predicted(&mut self.state, &prediction, count, text),
            None => false,
        }
    }

    /// Applies a parsed frame's actions in order; returns the ones applied.
    fn apply_frame(&mut self, frame: ServerFrame) -> Result<Vec<Action>, StoreError> {
        refuse_other_protocol(&frame)?;
        let mut applied = Vec::with_capacity(2);
        match frame {
            // An event is one action: no list for it (this is every streamed frame).
            ServerFrame::Event(event) => self.apply_received(action_for_event(event), &mut applied),
            ServerFrame::Reply(reply) => {
                for action in actions_for_reply(reply) {
                    self.apply_received(action, &mut applied);
                }
            }
        }
        Ok(applied)
    }

    /// Applies one action a frame dispatched, in sequence: a duplicate event is dropped, an
    /// event after a gap becomes `GAP_DETECTED`.
    fn apply_received(&mut self, action: Action, applied: &mut Vec<Action>) {
        let behind = self.behind_after_ack(&action);
        let action = match action
            .event_position()
            .map(|(id, seq)| (id, seq, sequence(&self.state, id, seq)))
        {
            None | Some((_, _, Sequencing::Next)) => Some(action),
            Some((_, _, Sequencing::Duplicate)) => None,
            Some((session_id, seq, Sequencing::Gap { expected_seq })) => {
                self.gap(session_id, expected_seq, seq)
            }
        };
        for action in action.into_iter().chain(behind) {
            reduce::apply_received(&mut self.state, &action);
            applied.push(action);
        }
    }

    /// `GAP_DETECTED` for a session, unless a gap is already flagged there (one repair at a time).
    fn gap(&self, session_id: &str, expected_seq: u64, received_seq: u64) -> Option<Action> {
        let already_flagged = self
            .state
            .views
            .get(session_id)
            .is_some_and(|view| view.gap.is_some());
        (!already_flagged).then(|| Action::GapDetected {
            session_id: session_id.to_owned(),
            expected_seq,
            received_seq,
        })
    }

    /// An `ack` names the seq of its stored `user_message`, and on a watching connection it
    /// always follows that event. An ack ahead of the view therefore means events were missed:
    /// typically a retried create (`session_created` + duplicate ack) on a new connection, where
    /// nothing replays the session's history by itself. Reported as a gap so it is repaired.
    fn behind_after_ack(&self, action: &Action) -> Option<Action> {
        let Action::Ack {
            session_id, seq, ..
        } = action
        else {
            return None;
        };
        let held = self
            .state
            .views
            .get(session_id)
            .map_or(0, |view| view.last_seq);
        if *seq > held {
            self.gap(session_id, held + 1, *seq)
        } else {
            None
        }
    }

    /// Applies one action directly.
    pub fn dispatch(&mut self, action: Action) {
        reduce(&mut self.state, action);
    }

    fn fresh_id(&mut self) -> String {
        let id = concat(&[&self.id_prefix, "-", &u64_text(self.next_id)]);
        self.next_id += 1;
        id
    }

    /// The `hello` frame to send when the socket opens.
    pub fn hello(&self, token: Option<String>) -> String {
        to_json(&ClientFrame::Hello(HelloFrame {
            protocol: PROTOCOL_VERSION,
            token,
            client_id: None,
        }))
    }

    /// Sends `text` to the current session (or creates a session when there is none). The
    /// message shows at once as pending and waits in the outbox until acked. Returns the frame
    /// to send now, or `None` when it must wait for a session still being created.
    ///
    /// A send is never held back because of `running`: the server queues it.
    pub fn send(&mut self, text: &str) -> Option<String> {
        let session_id = self.state.current_session_id.clone();
        self.send_to(session_id, text)
    }

    /// Sends `text` to a new session; it becomes current when `session_created` arrives.
    pub fn create_session(&mut self, text: &str) -> String {
        self.state.current_session_id = None;
        let client_msg_id = self.fresh_id();
        self.dispatch(Action::UserSend {
            client_msg_id: client_msg_id.clone(),
            session_id: None,
            text: text.to_owned(),
        });
        // A forced creation never waits: mark it as the creating send.
        if let Some(entry) = self
            .state
            .outbox
            .iter_mut()
            .find(|entry| entry.client_msg_id == client_msg_id)
        {
            entry.waits_for = None;
        }
        send_frame(None, client_msg_id, text.to_owned())
    }

    fn send_to(&mut self, session_id: Option<String>, text: &str) -> Option<String> {
        let client_msg_id = self.fresh_id();
        self.dispatch(Action::UserSend {
            client_msg_id: client_msg_id.clone(),
            session_id: session_id.clone(),
            text: text.to_owned(),
        });
        let waits = self
            .state
            .outbox
            .last()
            .is_some_and(|entry| entry.waits_for.is_some());
        (!waits).then(|| send_frame(session_id, client_msg_id, text.to_owned()))
    }

    /// Makes `session_id` current (or clears it) and returns the `switch_session` frame. The
    /// cached conversation shows at once; only events after the `lastSeq` held are asked for.
    pub fn switch_session(&mut self, session_id: Option<&str>) -> String {
        let session_id = session_id.map(str::to_owned);
        // Always explicit: 0 (the whole history) for a session without a view.
        let last_seq = session_id
            .as_ref()
            .map(|id| self.state.views.get(id).map_or(0, |view| view.last_seq));
        self.dispatch(Action::SwitchRequested {
            session_id: session_id.clone(),
        });
        to_json(&ClientFrame::SwitchSession(SwitchSessionFrame {
            session_id,
            last_seq,
        }))
    }

    /// Interrupts the current session's turn, optionally with `text` to run next.
    pub fn interrupt(&mut self, text: Option<&str>) -> Result<String, StoreError> {
        let session_id = self
            .state
            .current_session_id
            .clone()
            .ok_or(StoreError::NoCurrentSession)?;
        let client_msg_id = self.fresh_id();
        let text = text.map(str::to_owned);
        self.dispatch(Action::UserInterrupt {
            client_msg_id: client_msg_id.clone(),
            session_id: session_id.clone(),
            text: text.clone(),
        });
        Ok(to_json(&ClientFrame::Interrupt(InterruptFrame {
            session_id,
            client_msg_id,
            text,
        })))
    }

    /// Answers a pending permission request with one of its options. The answer waits in the
    /// outbox until acked (sent again with the same `clientMsgId` after a reconnect), like a
    /// send; the request stays pending until its `permission_resolved` arrives. The session is
    /// the one whose view holds the request, else the current one.
    pub fn respond_permission(
        &mut self,
        request_id: &str,
        option_id: &str,
    ) -> Result<String, StoreError> {
        let session_id = self
            .state
            .views
            .iter()
            .find(|(_, view)| view.permissions.iter().any(|p| p.request_id == request_id))
            .map(|(id, _)| id.clone())
            .or_else(|| self.state.current_session_id.clone())
            .ok_or(StoreError::NoCurrentSession)?;
        let client_msg_id = self.fresh_id();
        let action = Action::PermissionResponse {
            client_msg_id,
            session_id,
            request_id: request_id.to_owned(),
            option_id: option_id.to_owned(),
        };
        self.dispatch(action);
        let entry = self
            .state
            .outbox
            .last()
            .ok_or(StoreError::NoCurrentSession)?;
        Ok(outbox_frame(entry))
    }

    /// The frame that stops the current session's runtime (the session ends).
    pub fn stop(&self) -> Result<String, StoreError> {
        self.session_frame(ClientFrame::Stop)
    }

    /// The frame that closes the current session gracefully.
    pub fn close_session(&self) -> Result<String, StoreError> {
        self.session_frame(ClientFrame::CloseSession)
    }

    /// The frame that suspends the current session.
    pub fn suspend(&self) -> Result<String, StoreError> {
        self.session_frame(ClientFrame::Suspend)
    }

    fn session_frame(&self, make: fn(SessionRef) -> ClientFrame) -> Result<String, StoreError> {
        let session_id = self
            .state
            .current_session_id
            .clone()
            .ok_or(StoreError::NoCurrentSession)?;
        Ok(to_json(&make(SessionRef { session_id })))
    }

    /// The `list_sessions` frame: the first page of the user's sessions, or with `before` (a
    /// page's `next`) the page after it. Replies are matched to requests in order, so send every
    /// frame this returns.
    pub fn list_sessions(&mut self, before: Option<String>) -> String {
        let frame = ClientFrame::ListSessions(ListSessionsFrame {
            limit: None,
            before,
        });
        let text = to_json(&frame);
        if let ClientFrame::ListSessions(ListSessionsFrame { before, .. }) = frame {
            self.state.list_requests.push(before);
        }
        text
    }

    /// A `ping` frame.
    pub fn ping(&self, nonce: Option<String>) -> String {
        to_json(&ClientFrame::Ping(PingFrame { nonce }))
    }

    /// The transport opened.
    pub fn connection_opened(&mut self) {
        self.dispatch(Action::ConnectionOpened {});
    }

    /// The transport closed: sends wait in the outbox from now on.
    pub fn connection_lost(&mut self) {
        self.dispatch(Action::ConnectionLost {});
    }

    /// The frames to send after `welcome`: one `reconnect` for every session held, current, or
    /// waiting for a gap repair (so the server re-watches them and replays what was missed), then every unacknowledged request
    /// with its original `clientMsgId`. The server's dedupe makes a resend harmless.
    pub fn pending_frames(&mut self) -> Vec<String> {
        let mut frames = Vec::new();
        if let Some(reconnect) = self.reconnect_frame(None) {
            frames.push(reconnect);
        }
        self.state.released.clear();
        self.state.retrying.clear();
        frames.extend(
            self.state
                .outbox
                .iter()
                .filter(|entry| entry.waits_for.is_none())
                .map(outbox_frame),
        );
        frames
    }

    /// A `reconnect` frame for one session (to repair a gap), or for every session held.
    pub fn reconnect_frame(&self, session_id: Option<&str>) -> Option<String> {
        let current = self.state.current_session_id.as_deref();
        let sessions = Vec::from_iter(
            self.state
                .views
                .iter()
                .filter(|(id, view)| match session_id {
                    Some(only) => id.as_str() == only,
                    None => view.last_seq > 0 || view.gap.is_some() || Some(id.as_str()) == current,
                })
                .map(|(id, view)| SessionCursor {
                    session_id: id.clone(),
                    last_seq: view.last_seq,
                }),
        );
        (!sessions.is_empty())
            .then(|| to_json(&ClientFrame::Reconnect(ReconnectFrame { sessions })))
    }

    /// The frames to send now that a frame was received: messages that waited for a session
    /// being created and can go now that it exists, and the `list_sessions` of the next page of a
    /// session listing in progress (after a page with `next`, or after `welcome` when a lost
    /// connection cut the listing short). Call it after `receive`; it returns each frame once.
    pub fn take_ready_frames(&mut self) -> Vec<String> {
        let released = std::mem::take(&mut self.state.released);
        let mut frames = Vec::from_iter(
            released
                .iter()
                .filter_map(|id| {
                    self.state
                        .outbox
                        .iter()
                        .find(|entry| &entry.client_msg_id == id)
                })
                .map(outbox_frame),
        );
        if self.state.connection == Connection::Open && std::mem::take(&mut self.state.page_wanted)
        {
            let cursor = self.state.listing.clone();
            if cursor.is_some() {
                frames.push(self.list_sessions(cursor));
            }
        }
        frames
    }
}

/// A `welcome` of another protocol version than this client's is refused
/// (`unsupported_protocol`), before it changes anything.
fn refuse_other_protocol(frame: &ServerFrame) -> Result<(), ProtocolError> {
    match frame {
        ServerFrame::Reply(Reply::Welcome(welcome)) if welcome.protocol != PROTOCOL_VERSION => {
            Err(ProtocolError::new(
                ErrorCode::UnsupportedProtocol,
                "the server speaks another protocol version",
            ))
        }
        _ => Ok(()),
    }
}

fn send_frame(session_id: Option<String>, client_msg_id: String, text: String) -> String {
    to_json(&ClientFrame::Send(SendFrame {
        session_id,
        client_msg_id,
        text,
    }))
}

fn outbox_frame(entry: &OutboxEntry) -> String {
    match entry.kind {
        OutboxKind::Send => send_frame(
            entry.session_id.clone(),
            entry.client_msg_id.clone(),
            entry.text.clone().unwrap_or_default(),
        ),
        OutboxKind::Interrupt => to_json(&ClientFrame::Interrupt(InterruptFrame {
            session_id: entry.session_id.clone().unwrap_or_default(),
            client_msg_id: entry.client_msg_id.clone(),
            text: entry.text.clone(),
        })),
        OutboxKind::Permission => {
            to_json(&ClientFrame::RespondPermission(RespondPermissionFrame {
                session_id: entry.session_id.clone().unwrap_or_default(),
                client_msg_id: entry.client_msg_id.clone(),
                request_id: entry.request_id.clone().unwrap_or_default(),
                option_id: entry.option_id.clone().unwrap_or_default(),
            }))
        }
    }
}

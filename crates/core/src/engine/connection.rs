//! The protocol half of one connection (PROTOCOL.md §1, §2): everything a connection decides on
//! its own, with no session involved.
//!
//! In: the text frames the socket read ([`ConnectionProtocol::handle_text`]), the answer to a
//! `hello` (the driver authenticates it: tokens are its configuration), the routing's replies
//! and `ack`s, and each event about to go out. Out: the frames to route, the replies to send,
//! in order ([`ConnectionProtocol::poll_reply`]), whether an event goes out, and when to close.
//!
//! Invariants:
//! - before an accepted `hello`, no frame is routed and only `hello` is answered with anything
//!   but `hello_required`;
//! - per session, an event goes out at most once, in seq order: a live event whose seq was
//!   already sent (in a replay) is dropped, and so is a live event of a session not watched;
//!   replayed events always go (the client asked for them);
//! - an `ack` goes out right after the event with its seq (its `user_message`), before any later
//!   event of that session, or at once when that event went out already.

use super::rate::{RateLimit, TokenBucket};
use crate::protocol::write::{concat, u64_text};
use crate::protocol::{json, parse_client_frame, Ack, ErrorReply, HelloFrame, Welcome};
use crate::{ClientFrame, ErrorCode, Reply, PROTOCOL_VERSION};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

/// The limits one connection holds its peer to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectionLimits {
    /// Frames longer than this many bytes are refused (`frame_too_large`) and close the socket.
    pub max_frame_bytes: usize,
    pub rate: RateLimit,
}

/// A WebSocket close the connection asks for: a code of RFC 6455 §7.4.1 and its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: &'static str,
}

impl Close {
    /// The peer broke the protocol (an unsupported `protocol` version).
    pub const PROTOCOL: u16 = 1002;
    /// A policy violation: no `hello`, or a refused one.
    pub const POLICY: u16 = 1008;
    /// A frame over the size limit.
    pub const SIZE: u16 = 1009;
    /// The server is going away, or the connection was idle.
    pub const AWAY: u16 = 1001;
    /// Try again later: the peer did not keep up (reconnect and replay).
    pub const AGAIN: u16 = 1013;
}

/// What a text frame asks of the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// Nothing: the frame was answered here (see `poll_reply`), or ignored.
    Answered,
    /// A `hello` of the right protocol: authenticate its token, then call
    /// [`ConnectionProtocol::accept_hello`] or [`ConnectionProtocol::refuse_hello`].
    Hello(HelloFrame),
    /// A frame of a greeted connection, for the routing.
    Route(ClientFrame),
}

/// Whether an event goes out on this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveEvent {
    Send,
    /// Already sent (in a replay), or its session is not watched here.
    Drop,
}

/// One connection's protocol state.
#[derive(Debug)]
pub struct ConnectionProtocol {
    limits: ConnectionLimits,
    bucket: TokenBucket,
    greeted: bool,
    /// The session it last switched to (or created with a null `send`).
    current: Option<String>,
    /// Every session it watches.
    watched: HashSet<String>,
    /// Per session, the highest seq sent on this connection.
    sent: HashMap<String, u64>,
    /// Acks waiting for their `user_message`: (session, seq) → ack. Only for watched sessions,
    /// and only until their event goes out or the session is unwatched.
    pending_acks: HashMap<(String, u64), Ack>,
    replies: VecDeque<Reply>,
    close: Option<Close>,
    /// A close was asked for: nothing the peer sends counts any more.
    closing: bool,
}

impl ConnectionProtocol {
    /// A connection that has said nothing yet, opened at `now` (any fixed origin).
    pub fn new(limits: ConnectionLimits, now: Duration) -> Self {
        Self {
            limits,
            bucket: TokenBucket::new(limits.rate, now),
            greeted: false,
            current: None,
            watched: HashSet::new(),
            sent: HashMap::new(),
            pending_acks: HashMap::new(),
            replies: VecDeque::new(),
            close: None,
            closing: false,
        }
    }

    /// Whether a `hello` was accepted.
    pub fn is_greeted(&self) -> bool {
        self.greeted
    }

    /// The next reply to send, in order.
    pub fn poll_reply(&mut self) -> Option<Reply> {
        self.replies.pop_front()
    }

    /// The close to send once the replies before it went out; the connection then ends.
    pub fn poll_close(&mut self) -> Option<Close> {
        if self.replies.is_empty() {
            self.close.take()
        } else {
            None
        }
    }

    fn close_with(&mut self, close: Close) {
        self.close = Some(close);
        self.closing = true;
    }

    fn refuse(
        &mut self,
        code: ErrorCode,
        message: String,
        session_id: Option<String>,
        reference: Option<String>,
    ) {
        self.replies.push_back(Reply::Error(ErrorReply {
            code,
            message,
            session_id,
            reference,
        }));
    }

    /// A text frame from the peer, at `now`.
    pub fn handle_text(&mut self, text: &str, now: Duration) -> Inbound {
        if self.closing {
            return Inbound::Answered;
        }
        let limit = self.limits.max_frame_bytes;
        if text.len() > limit {
            let message = concat(&[
                "frame of ",
                &u64_text(text.len() as u64),
                " bytes is over the limit of ",
                &u64_text(limit as u64),
                " bytes",
            ]);
            self.refuse(ErrorCode::FrameTooLarge, message, None, None);
            self.close_with(Close {
                code: Close::SIZE,
                reason: "frame too large",
            });
            return Inbound::Answered;
        }
        if !self.bucket.try_take(now) {
            let (reference, session_id) = frame_ref(text);
            self.refuse(
                ErrorCode::RateLimited,
                "too many frames; slow down".into(),
                session_id,
                reference,
            );
            return Inbound::Answered;
        }
        let frame = match parse_client_frame(text) {
            Ok(frame) => frame,
            Err(error) => {
                let (reference, session_id) = frame_ref(text);
                self.refuse(
                    error.code(),
                    error.message().to_owned(),
                    session_id,
                    reference,
                );
                return Inbound::Answered;
            }
        };
        if self.greeted {
            if let ClientFrame::Hello(_) = frame {
                self.refuse(
                    ErrorCode::BadFrame,
                    "hello was already received on this connection".into(),
                    None,
                    Some("hello".into()),
                );
                return Inbound::Answered;
            }
            return Inbound::Route(frame);
        }
        let ClientFrame::Hello(hello) = frame else {
            let reference = frame
                .client_msg_id()
                .unwrap_or(frame.type_name())
                .to_owned();
            let session_id = frame.session_id().map(str::to_owned);
            self.refuse(
                ErrorCode::HelloRequired,
                "the first frame must be hello".into(),
                session_id,
                Some(reference),
            );
            return Inbound::Answered;
        };
        if hello.protocol != PROTOCOL_VERSION {
            let message = concat(&[
                "protocol ",
                &u64_text(u64::from(hello.protocol)),
                " is not supported; this server speaks ",
                &u64_text(u64::from(PROTOCOL_VERSION)),
            ]);
            self.refuse(
                ErrorCode::UnsupportedProtocol,
                message,
                None,
                Some("hello".into()),
            );
            self.close_with(Close {
                code: Close::PROTOCOL,
                reason: "unsupported protocol",
            });
            return Inbound::Answered;
        }
        Inbound::Hello(hello)
    }

    /// A binary frame from the peer: refused (every frame is JSON text).
    pub fn handle_binary(&mut self) {
        self.refuse(
            ErrorCode::BadFrame,
            "binary frames are not accepted".into(),
            None,
            None,
        );
    }

    /// The `hello`'s token named a user: the connection is greeted with `welcome`.
    pub fn accept_hello(&mut self, welcome: Welcome) {
        self.greeted = true;
        self.replies.push_back(Reply::Welcome(welcome));
    }

    /// The `hello`'s token named no user: `unauthorized`, then the connection closes.
    pub fn refuse_hello(&mut self) {
        self.refuse(
            ErrorCode::Unauthorized,
            "a valid token is required".into(),
            None,
            Some("hello".into()),
        );
        self.close_with(Close {
            code: Close::POLICY,
            reason: "unauthorized",
        });
    }

    /// The `hello` was good, but the server cannot serve its user now (the database that says
    /// which process serves it is out): refused with `unavailable`, then closed with 1013, so
    /// the client tries again later.
    pub fn refuse_hello_unavailable(&mut self) {
        self.refuse(
            ErrorCode::Unavailable,
            "the server cannot serve this user right now; try again".into(),
            None,
            Some("hello".into()),
        );
        self.close_with(Close {
            code: Close::AGAIN,
            reason: "unavailable",
        });
    }

    /// The `hello` deadline passed: answered if no `hello` came (and then closed).
    pub fn handle_hello_deadline(&mut self) {
        if self.greeted {
            return;
        }
        self.refuse(
            ErrorCode::HelloRequired,
            "no hello within the deadline".into(),
            None,
            Some("hello".into()),
        );
        self.close_with(Close {
            code: Close::POLICY,
            reason: "no hello",
        });
    }

    /// Nothing came from a greeted peer for the idle timeout: the connection closes.
    pub fn handle_idle(&mut self) {
        self.close_with(Close {
            code: Close::AWAY,
            reason: "idle",
        });
    }

    /// A reply of the routing, to go out after those before it.
    pub fn push_reply(&mut self, reply: Reply) {
        self.replies.push_back(reply);
    }

    /// An `ack` for the `user_message` at `seq` of its session: out at once if that event went
    /// out already, else right after it.
    pub fn push_ack_after(&mut self, seq: u64, ack: Ack) {
        // Its event went out already, or never will here (the session is not watched): now.
        let sent = self
            .sent
            .get(&ack.session_id)
            .is_some_and(|sent| *sent >= seq);
        if sent || !self.watched.contains(&ack.session_id) {
            self.replies.push_back(Reply::Ack(ack));
        } else {
            self.pending_acks.insert((ack.session_id.clone(), seq), ack);
        }
    }

    /// Whether a live event of `session_id` at `seq` goes out.
    pub fn live_event(&self, session_id: &str, seq: u64) -> LiveEvent {
        let watching = self.watched.contains(session_id);
        let already_sent = self.sent.get(session_id).is_some_and(|sent| seq <= *sent);
        if watching && !already_sent {
            LiveEvent::Send
        } else {
            LiveEvent::Drop
        }
    }

    /// The event of `session_id` at `seq` went out (live or replayed): an `ack` waiting for it
    /// is next (see `poll_reply`).
    pub fn event_sent(&mut self, session_id: &str, seq: u64) {
        match self.sent.get_mut(session_id) {
            Some(sent) => *sent = (*sent).max(seq),
            None => {
                self.sent.insert(session_id.to_owned(), seq);
            }
        }
        if self.pending_acks.is_empty() {
            return;
        }
        if let Some(ack) = self.pending_acks.remove(&(session_id.to_owned(), seq)) {
            self.replies.push_back(Reply::Ack(ack));
        }
    }

    /// Starts watching a session (before the reply that announces it, so no event is missed).
    pub fn watch(&mut self, session_id: &str) {
        if !self.watched.contains(session_id) {
            self.watched.insert(session_id.to_owned());
        }
    }

    /// Stops watching a session; false when it was not watched. The acks still waiting for
    /// one of its events go out now, in seq order: those events will not come here any more,
    /// and an ack must never be lost (nor kept forever).
    pub fn unwatch(&mut self, session_id: &str) -> bool {
        if !self.watched.remove(session_id) {
            return false;
        }
        if !self.pending_acks.is_empty() {
            let mut waiting: Vec<u64> = Vec::new();
            for (session, seq) in self.pending_acks.keys() {
                if session == session_id {
                    waiting.push(*seq);
                }
            }
            waiting.sort_unstable();
            for seq in waiting {
                if let Some(ack) = self.pending_acks.remove(&(session_id.to_owned(), seq)) {
                    self.replies.push_back(Reply::Ack(ack));
                }
            }
        }
        true
    }

    /// Whether the connection watches a session.
    pub fn is_watching(&self, session_id: &str) -> bool {
        self.watched.contains(session_id)
    }

    /// Every session it watches (to unwatch them when it ends).
    pub fn watched(&self) -> impl Iterator<Item = &str> {
        self.watched.iter().map(String::as_str)
    }

    /// The session it last switched to (or created with a null `send`).
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// Sets (or clears) the current session.
    pub fn set_current(&mut self, session_id: Option<String>) {
        self.current = session_id;
    }
}

/// `ref` and `sessionId` for the error answering a frame that could not be fully parsed: its
/// `clientMsgId` (else its `type`) and its `sessionId`, when it is a JSON object that has them.
fn frame_ref(text: &str) -> (Option<String>, Option<String>) {
    let Ok(value) = json::parse(text) else {
        return (None, None);
    };
    let string = |key: &str| match value.get(key) {
        Some(json::Json::String(s)) => Some(s.as_ref().to_owned()),
        _ => None,
    };
    (
        string("clientMsgId").or_else(|| string("type")),
        string("sessionId"),
    )
}

#[cfg(test)]
mod tests;

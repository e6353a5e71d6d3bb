//! A session's permission requests waiting for an answer (PROTOCOL.md §5.1): the book the first
//! answer is taken out of.
//!
//! The driver holds each waiting agent's channel (`T`) and writes the events; the book decides.
//!
//! Invariants:
//! - a request is in the book from before its `permission_request` is written until exactly one
//!   resolution takes it out: the winning answer ([`PermissionBook::answer`]) or
//!   [`PermissionBook::resolve_all`] (an interrupt, stop or close, the end of its turn, a
//!   shutdown); whoever takes it out writes its one `permission_resolved`;
//! - at most [`MAX_PENDING`] wait at once (an agent that asks more is answered `cancelled`);
//! - the newest [`REMEMBERED`] resolved ids are known without the store (a late answer to one is
//!   `permission_resolved`); older ones are for the caller to look up in the log.

use crate::routing::{
    decide_permission_answer, PermissionDecision, PermissionStanding, StoredMessage,
};
use std::collections::VecDeque;

/// How many requests one session may have waiting at once.
pub const MAX_PENDING: usize = 32;
/// How many resolved request ids a session keeps in memory.
pub const REMEMBERED: usize = 256;

/// `permission_resolved.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionOutcome {
    /// An answer won.
    Selected,
    /// An interrupt, stop or close, or the turn ended without an answer.
    Cancelled,
    /// The server went away (restart, shutdown, storage repair).
    Expired,
}

impl PermissionOutcome {
    /// The wire word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Selected => "selected",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }
}

/// A request waiting for an answer, with the driver's handle on its waiting agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingRequest<T> {
    pub request_id: String,
    /// The `optionId`s it offers.
    pub option_ids: Vec<String>,
    pub waiter: T,
}

/// One session's waiting requests, and the ids resolved lately.
#[derive(Debug, Clone)]
pub struct PermissionBook<T> {
    pending: Vec<WaitingRequest<T>>,
    resolved: VecDeque<String>,
}

impl<T> Default for PermissionBook<T> {
    fn default() -> Self {
        Self {
            pending: Vec::new(),
            resolved: VecDeque::new(),
        }
    }
}

impl<T> PermissionBook<T> {
    /// How many requests wait.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Adds a request (write its `permission_request` before letting go of the book). A full
    /// book refuses it: the waiter is handed back, to be answered `cancelled` at once.
    pub fn ask(&mut self, request: WaitingRequest<T>) -> Result<(), T> {
        if self.pending.len() >= MAX_PENDING {
            return Err(request.waiter);
        }
        self.pending.push(request);
        Ok(())
    }

    fn remember(&mut self, request_id: &str) {
        if self.resolved.len() == REMEMBERED {
            self.resolved.pop_front();
        }
        self.resolved.push_back(request_id.to_owned());
    }

    /// Decides an answer (`respond_permission`): `stored` is an earlier use of its
    /// `clientMsgId`, `in_log` whether the session's log has the request resolved (asked only
    /// when the book does not know it). The winning answer takes its request out (write its
    /// `permission_resolved{selected}`, then tell the waiter); any other decision changes
    /// nothing.
    pub fn answer(
        &mut self,
        request_id: &str,
        option_id: &str,
        stored: Option<StoredMessage>,
        in_log: impl FnOnce() -> bool,
    ) -> Result<WaitingRequest<T>, PermissionDecision> {
        let position = self.pending.iter().position(|p| p.request_id == request_id);
        let standing = match position {
            Some(at) => PermissionStanding::Pending {
                option_offered: self.pending[at].option_ids.iter().any(|o| o == option_id),
            },
            None if self.resolved.iter().any(|r| r == request_id) || in_log() => {
                PermissionStanding::Resolved
            }
            None => PermissionStanding::Unknown,
        };
        match (decide_permission_answer(stored, standing), position) {
            (PermissionDecision::Answer, Some(at)) => {
                let request = self.pending.remove(at);
                self.remember(&request.request_id);
                Ok(request)
            }
            (decision, _) => Err(decision),
        }
    }

    /// Takes every waiting request out (write a `permission_resolved` for each, cancelled or
    /// expired, and tell its waiter).
    pub fn resolve_all(&mut self) -> Vec<WaitingRequest<T>> {
        let pending = std::mem::take(&mut self.pending);
        for request in &pending {
            self.remember(&request.request_id);
        }
        pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: &str) -> WaitingRequest<u32> {
        WaitingRequest {
            request_id: id.into(),
            option_ids: vec!["allow".into(), "reject".into()],
            waiter: 7,
        }
    }

    fn never() -> bool {
        false
    }

    #[test]
    fn the_first_offered_answer_wins_and_later_ones_are_told() {
        let mut book = PermissionBook::default();
        book.ask(request("p1")).unwrap();
        assert_eq!(
            book.answer("p1", "maybe", None, never),
            Err(PermissionDecision::UnknownOption)
        );
        assert_eq!(book.pending(), 1);
        let won = book.answer("p1", "allow", None, never).unwrap();
        assert_eq!(won.request_id, "p1");
        assert_eq!(book.pending(), 0);
        assert_eq!(
            book.answer("p1", "reject", None, never),
            Err(PermissionDecision::AlreadyResolved)
        );
        assert_eq!(
            book.answer("p9", "allow", None, never),
            Err(PermissionDecision::UnknownRequest)
        );
        // Not in memory, but resolved in the log.
        assert_eq!(
            book.answer("old", "allow", None, || true),
            Err(PermissionDecision::AlreadyResolved)
        );
    }

    #[test]
    fn a_retried_answer_is_a_duplicate_whatever_became_of_the_request() {
        let mut book: PermissionBook<u32> = PermissionBook::default();
        let original = StoredMessage {
            session_id: "s1".into(),
            seq: 4,
        };
        assert_eq!(
            book.answer("p1", "allow", Some(original.clone()), never),
            Err(PermissionDecision::Duplicate { original })
        );
    }

    #[test]
    fn resolving_all_empties_the_book_and_remembers_them() {
        let mut book = PermissionBook::default();
        book.ask(request("p1")).unwrap();
        book.ask(request("p2")).unwrap();
        let resolved = book.resolve_all();
        assert_eq!(resolved.len(), 2);
        assert_eq!(book.pending(), 0);
        assert_eq!(
            book.answer("p2", "allow", None, never),
            Err(PermissionDecision::AlreadyResolved)
        );
    }

    #[test]
    fn the_book_is_bounded() {
        let mut book = PermissionBook::default();
        for n in 0..MAX_PENDING {
            book.ask(request(&n.to_string())).unwrap();
        }
        assert_eq!(book.ask(request("one too many")), Err(7));
        // The oldest resolved ids are forgotten past REMEMBERED.
        let mut book = PermissionBook::default();
        for n in 0..=REMEMBERED {
            book.ask(request(&n.to_string())).unwrap();
            book.resolve_all();
        }
        assert_eq!(
            book.answer("0", "allow", None, never),
            Err(PermissionDecision::UnknownRequest)
        );
        assert_eq!(
            book.answer("1", "allow", None, never),
            Err(PermissionDecision::AlreadyResolved)
        );
    }
}

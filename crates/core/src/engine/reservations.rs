//! The `clientMsgId`s being stored right now, per user (PROTOCOL.md §4: exactly once).
//!
//! A send reserves its id before it reads the store for an earlier use of it, and releases it
//! once the store answered for its `user_message`. A retry racing its original finds the id
//! reserved and waits (holding nothing) until the release, then reads the store, which has the
//! original if it was stored. So the duplicate check reads reserved ∪ stored, and sends with
//! other ids, or of other users, never wait for one another.
//!
//! The driver holds each waiter's handle (`W`, e.g. a channel) and wakes the ones a release
//! returns; they try again.

use std::collections::HashMap;

/// Whose id: the user (owner) and the `clientMsgId`.
pub type ReservationKey = (String, String);

/// The ids reserved, each with who waits for it.
#[derive(Debug, Clone)]
pub struct Reservations<W> {
    held: HashMap<ReservationKey, Vec<W>>,
}

impl<W> Default for Reservations<W> {
    fn default() -> Self {
        Self {
            held: HashMap::new(),
        }
    }
}

impl<W> Reservations<W> {
    /// Reserves `key` if nobody holds it; false when it is held (then [`Reservations::wait`]).
    pub fn try_reserve(&mut self, key: &ReservationKey) -> bool {
        if self.held.contains_key(key) {
            return false;
        }
        self.held.insert(key.clone(), Vec::new());
        true
    }

    /// Waits for a held `key`: `waiter` is returned by its release. False (and `waiter` dropped)
    /// when nobody holds it any more: try again at once.
    pub fn wait(&mut self, key: &ReservationKey, waiter: W) -> bool {
        match self.held.get_mut(key) {
            Some(waiters) => {
                waiters.push(waiter);
                true
            }
            None => false,
        }
    }

    /// Releases `key`; returns who waited for it (wake them: they try again).
    pub fn release(&mut self, key: &ReservationKey) -> Vec<W> {
        self.held.remove(key).unwrap_or_default()
    }

    /// How many ids are reserved.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(owner: &str, id: &str) -> ReservationKey {
        (owner.into(), id.into())
    }

    #[test]
    fn a_retry_waits_for_its_original_and_others_do_not() {
        let mut reservations = Reservations::default();
        assert!(reservations.try_reserve(&key("u1", "m1")));
        // The same id of another user, and another id of the same user: not held.
        assert!(reservations.try_reserve(&key("u2", "m1")));
        assert!(reservations.try_reserve(&key("u1", "m2")));
        assert!(!reservations.try_reserve(&key("u1", "m1")));
        assert!(reservations.wait(&key("u1", "m1"), "retry"));
        assert_eq!(reservations.len(), 3);
        assert_eq!(reservations.release(&key("u1", "m1")), vec!["retry"]);
        // Woken, it tries again and gets it.
        assert!(reservations.try_reserve(&key("u1", "m1")));
        assert_eq!(reservations.release(&key("u1", "m1")), Vec::<&str>::new());
        // Waiting on an id nobody holds: try again at once.
        assert!(!reservations.wait(&key("u1", "m1"), "late"));
    }
}

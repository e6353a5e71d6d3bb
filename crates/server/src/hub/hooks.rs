//! Counters and a commit gate the tests use to see how the store's batches go.

use crate::{registry::lock, store::StoredEvent};
use std::sync::{
    atomic::{AtomicU64, AtomicUsize, Ordering},
    Condvar, Mutex,
};

/// Counters and a gate tests use to see how the store's batches go (cheap enough to keep on).
#[derive(Debug, Default)]
pub struct Hooks {
    /// Committed batches with events.
    pub batches: AtomicU64,
    /// Committed batches with at least one `user_message`.
    pub user_message_batches: AtomicU64,
    /// `send`s and `interrupt`s whose write was submitted and whose handler awaits its answer.
    pub awaiting_durability: AtomicUsize,
    held: Mutex<bool>,
    opened: Condvar,
}

impl Hooks {
    /// While held, the store's writer stops after committing a batch, before anyone hears of it
    /// (tests: everything submitted meanwhile waits in the writer's queue).
    pub fn hold_commits(&self, hold: bool) {
        *lock(&self.held) = hold;
        self.opened.notify_all();
    }

    pub(super) fn committed(&self, events: &[StoredEvent]) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        if events.iter().any(|event| event.kind == "user_message") {
            self.user_message_batches.fetch_add(1, Ordering::Relaxed);
        }
        let mut held = lock(&self.held);
        while *held {
            held = self
                .opened
                .wait(held)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

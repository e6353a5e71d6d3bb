//! One session's in-memory entry: its lifecycle, last stored seq, title, route lock and
//! permission requests.

use crate::{
    registry::lock,
    store::{Durable, SessionRecord},
};
use sessionwire_core::{
    engine::{self, session::SessionLifecycle},
    SessionState,
};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// One session's in-memory entry.
#[derive(Debug)]
pub struct SessionEntry {
    pub id: Arc<str>,
    pub owner: String,
    /// Serialises routing operations on this session (decide, then carry out).
    pub route: Arc<tokio::sync::Mutex<()>>,
    /// Its permission requests waiting for an answer.
    pub permissions: PermissionBook,
    pub(super) inner: Mutex<EntryInner>,
}

#[derive(Debug)]
pub(super) struct EntryInner {
    /// Its state, and the version every change bumps (so a timer can tell it is stale).
    pub(super) lifecycle: SessionLifecycle,
    /// The last seq stored (moved by [`Hub::dispatch`]).
    pub(super) last_seq: u64,
    pub(super) title: String,
}

/// A consistent view of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySnapshot {
    pub state: SessionState,
    pub last_seq: u64,
    pub title: String,
    pub version: u64,
}

impl SessionEntry {
    pub(super) fn from_record(record: SessionRecord) -> Self {
        Self {
            id: Arc::from(record.id),
            owner: record.owner,
            route: Arc::new(tokio::sync::Mutex::new(())),
            permissions: PermissionBook::default(),
            inner: Mutex::new(EntryInner {
                lifecycle: SessionLifecycle::new(record.state),
                last_seq: record.last_seq,
                title: record.title,
            }),
        }
    }

    /// The entry's state, last seq and title.
    pub fn snapshot(&self) -> EntrySnapshot {
        let inner = lock(&self.inner);
        EntrySnapshot {
            state: inner.lifecycle.state(),
            last_seq: inner.last_seq,
            title: inner.title.clone(),
            version: inner.lifecycle.version(),
        }
    }

    /// Takes the route lock (owned, so it does not borrow the entry).
    pub async fn lock_route(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.route.clone().lock_owned().await
    }

    /// The durable state (as last changed by this process).
    pub fn state(&self) -> SessionState {
        lock(&self.inner).lifecycle.state()
    }
}

/// What an agent waiting on a permission request hears back ([`crate::permission`]).
#[derive(Debug)]
pub enum PermissionAnswer {
    /// The user chose `option_id`; `stored` answers once its `permission_resolved` is durable.
    Selected { option_id: String, stored: Durable },
    /// Cancelled or expired.
    Cancelled,
}

/// A session's permission requests waiting for an answer (held by its entry; what is done with
/// them is [`crate::permission`]'s); each waiter is the channel its agent waits on.
#[derive(Debug, Default)]
pub struct PermissionBook(Mutex<engine::PermissionBook<oneshot::Sender<PermissionAnswer>>>);

impl PermissionBook {
    pub fn lock(
        &self,
    ) -> MutexGuard<'_, engine::PermissionBook<oneshot::Sender<PermissionAnswer>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

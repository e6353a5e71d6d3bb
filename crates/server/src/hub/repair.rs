//! Storage failures: a session whose writes failed is fenced (writes refused), its runtime
//! aborted, and a repair retried until it is stored; then its durable turn queue runs.

use super::Hub;
use crate::{
    clock::now_ms,
    registry::lock,
    store::{StoreResult, Write},
};
use anyhow::anyhow;
use sessionwire_core::{
    lifecycle::{reason, triggers},
    SessionState,
};
use std::sync::Arc;
use tokio::sync::oneshot;

/// How soon a failed session's repair is first retried, and at most how long apart.
const REPAIR_FIRST_RETRY: std::time::Duration = std::time::Duration::from_millis(200);
const REPAIR_MAX_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

impl Hub {
    /// Whether a session's writes are refused until its repair (storage failed).
    pub fn is_fenced(&self, session_id: &str) -> bool {
        lock(&self.fenced).contains(session_id)
    }

    /// Called by the store's writer when a batch could not be stored: each of its sessions is
    /// fenced, its runtime stopped (the turn it was running is cut short), and a repair retried
    /// until storage works again; the repair ends the cut turn with `error: "storage"`, the
    /// session becomes ENDED, and its queued messages run again (PROTOCOL.md §2).
    pub fn storage_failed(self: &Arc<Self>, sessions: Vec<Arc<str>>) {
        for session in sessions {
            if !lock(&self.fenced).insert(session.clone()) {
                continue; // its repair is already under way
            }
            tracing::warn!(%session, "storage failed; the session waits for its repair");
            let hub = self.clone();
            self.tasks.spawn(async move { hub.repair(session).await });
        }
    }

    async fn repair(self: Arc<Self>, session: Arc<str>) {
        if let Some(runtime) = self.runtimes.get(&session) {
            self.abort_runtime(&runtime, reason::STORAGE_FAILED).await;
        }
        let mut backoff = REPAIR_FIRST_RETRY;
        let mut shutdown = self.shutdown_signal();
        loop {
            let (done, repaired) = oneshot::channel();
            let write = Write::Repair {
                session_id: session.clone(),
                ts: now_ms(),
                done,
            };
            let result = match self.store.submit(write) {
                Ok(()) => repaired
                    .await
                    .map_err(|_| anyhow!("store writer stopped"))
                    .and_then(|r| r),
                Err(error) => Err(error),
            };
            match result {
                Ok(repaired) => {
                    let entry = self.loaded(&session);
                    match (repaired.exists, entry) {
                        // Its creation was never stored: the session does not exist.
                        (false, _) => {
                            lock(&self.sessions).remove(&*session);
                        }
                        (true, Some(entry)) => {
                            // The state the repair stored (its event is written already).
                            let mut inner = lock(&entry.inner);
                            inner
                                .lifecycle
                                .force(repaired.state.unwrap_or(SessionState::Ended));
                        }
                        (true, None) => {}
                    }
                    lock(&self.fenced).remove(&session);
                    tracing::info!(%session, "storage works again; session repaired");
                    if let Err(error) = self.resume_pending(&session).await {
                        tracing::error!(%session, %error, "queued turns not resumed");
                    }
                    return;
                }
                Err(error) => {
                    tracing::debug!(%session, %error, "repair failed; retrying");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = shutdown.wait_for(|down| *down) => return,
            }
            backoff = (backoff * 2).min(REPAIR_MAX_RETRY);
        }
    }

    /// Starts a runtime for a session whose stored turn queue is not empty: acked messages a
    /// crash, shutdown or storage failure left unrun (PROTOCOL.md §3), which a runtime runs first
    /// (`engine::runtime::run` reads the queue as it starts). A session nobody watches is left
    /// DETACHED. Returns how many turns were queued.
    pub async fn resume_pending(self: &Arc<Self>, session_id: &str) -> StoreResult<usize> {
        let id = session_id.to_owned();
        let pending = self
            .read(move |store| store.pending_turns(Some(&id)))
            .await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let Some(entry) = self.entry(session_id).await? else {
            return Ok(0);
        };
        let _route = entry.lock_route().await;
        // A live runtime read the queue as it started, or was handed what was queued since.
        if self.runtimes.get(&entry.id).is_none() && self.start_runtime(&entry).is_none() {
            return Ok(0);
        }
        let count = pending.len();
        if self.connections.watcher_count(&entry.id) == 0 {
            if let Some(to) = triggers::last_watcher_left(entry.state()) {
                self.transition(&entry, to, reason::WATCHERS_LEFT);
            }
        }
        tracing::info!(session = %entry.id, turns = count, "queued turns resumed");
        Ok(count)
    }
}

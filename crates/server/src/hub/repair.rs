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
    engine::repair::{self, RepairDriver, Repaired},
    lifecycle::{reason, triggers},
    SessionState,
};
use std::{sync::Arc, time::Duration};
use tokio::sync::oneshot;

impl Hub {
    /// Whether a session's writes are refused until its repair (storage failed).
    pub fn is_fenced(&self, session_id: &str) -> bool {
        lock(&self.fenced).contains(session_id)
    }

    /// Called by the store's writer when a batch could not be stored: each of its sessions is
    /// fenced, its runtime stopped, and its repair retried until storage works again, as the
    /// engine's `repair` says (PROTOCOL.md §2).
    pub fn storage_failed(self: &Arc<Self>, sessions: Vec<Arc<str>>) {
        for session in sessions {
            let hub = self.clone();
            self.tasks.spawn(async move {
                let mut driver = ServerRepair { hub };
                if repair::storage_failed(&mut driver, &session).await {
                    tracing::warn!(%session, "storage failed; the session waits for its repair");
                    match repair::repair(&mut driver, &session).await {
                        Ok(true) => {
                            tracing::info!(%session, "storage works again; session repaired")
                        }
                        Ok(false) => {}
                        Err(error) => tracing::error!(%session, %error, "queued turns not resumed"),
                    }
                }
            });
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

/// The repair's effects on this server: the hub's fence set, its runtimes, its store.
struct ServerRepair {
    hub: Arc<Hub>,
}

impl RepairDriver for ServerRepair {
    type Error = anyhow::Error;

    fn fence(&mut self, session_id: &str) -> bool {
        lock(&self.hub.fenced).insert(session_id.into())
    }

    async fn abort_runtime(&mut self, session_id: &str, why: &'static str) {
        if let Some(runtime) = self.hub.runtimes.get(session_id) {
            self.hub.abort_runtime(&runtime, why).await;
        }
    }

    async fn store_repair(&mut self, session_id: &str) -> anyhow::Result<Repaired> {
        let (done, repaired) = oneshot::channel();
        self.hub.store.submit(Write::Repair {
            session_id: session_id.into(),
            ts: now_ms(),
            done,
        })?;
        repaired
            .await
            .map_err(|_| anyhow!("store writer stopped"))?
    }

    fn repair_failed(&mut self, session_id: &str, error: anyhow::Error, retry_in: Duration) {
        tracing::debug!(session = session_id, %error, ?retry_in, "repair failed; retrying");
    }

    async fn wait(&mut self, delay: Duration) -> bool {
        let mut shutdown = self.hub.shutdown_signal();
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            _ = shutdown.wait_for(|down| *down) => false,
        }
    }

    fn forget(&mut self, session_id: &str) {
        lock(&self.hub.sessions).remove(session_id);
    }

    fn set_state(&mut self, session_id: &str, state: SessionState) {
        if let Some(entry) = self.hub.loaded(session_id) {
            lock(&entry.inner).lifecycle.force(state);
        }
    }

    fn unfence(&mut self, session_id: &str) {
        lock(&self.hub.fenced).remove(session_id);
    }

    async fn resume(&mut self, session_id: &str) -> anyhow::Result<()> {
        self.hub.resume_pending(session_id).await.map(drop)
    }
}

//! Start-up recovery, and the recovery of a user taken over from another process
//! (crate::cluster): the engine's (`sessionwire_core::engine::recovery`: what is written for each
//! unfinished session, in which order, and when the durable turn queues run), over this
//! process's store and hub.

use crate::hub::{Hub, SessionEntry};
use anyhow::Result;
use sessionwire_core::{
    engine::recovery::{self, RecoveryDriver},
    EventKind, SessionState,
};
use std::sync::Arc;

/// Recovers every unfinished session; returns how many there were.
pub async fn recover(hub: &Arc<Hub>) -> Result<usize> {
    recover_where(hub, None).await
}

/// Recovers the unfinished sessions of one user, taken over from a process that died or left:
/// exactly what a restart does, for that user only.
pub async fn recover_owner(hub: &Arc<Hub>, owner: &str) -> Result<usize> {
    recover_where(hub, Some(owner)).await
}

async fn recover_where(hub: &Arc<Hub>, owner: Option<&str>) -> Result<usize> {
    let recovered = recovery::recover(&mut ServerRecovery { hub, owner }).await?;
    if recovered > 0 {
        tracing::info!(
            sessions = recovered,
            "recovered unfinished sessions as ENDED (server_restart)"
        );
    }
    Ok(recovered)
}

/// The recovery's effects: the store's reads, the hub's writes; `owner` limits it to one user.
struct ServerRecovery<'a> {
    hub: &'a Arc<Hub>,
    owner: Option<&'a str>,
}

impl RecoveryDriver for ServerRecovery<'_> {
    type Session = Arc<SessionEntry>;
    type Error = anyhow::Error;

    async fn unfinished(&mut self) -> Result<Vec<Arc<SessionEntry>>> {
        let only = self.owner.map(str::to_owned);
        let records = self
            .hub
            .read(move |store| store.not_ended(only.as_deref()))
            .await?;
        let mut sessions = Vec::with_capacity(records.len());
        for record in records {
            if let Some(entry) = self.hub.entry(&record.id).await? {
                sessions.push(entry);
            }
        }
        Ok(sessions)
    }

    async fn pending_permissions(&mut self, session: &Arc<SessionEntry>) -> Result<Vec<String>> {
        let id = session.id.to_string();
        self.hub
            .read(move |store| store.pending_permissions(&id))
            .await
    }

    async fn open_turn(&mut self, session: &Arc<SessionEntry>) -> Result<Option<String>> {
        let id = session.id.to_string();
        self.hub.read(move |store| store.open_turn(&id)).await
    }

    fn append(&mut self, session: &Arc<SessionEntry>, event: EventKind) {
        self.hub.append(session, event);
    }

    fn state(&self, session: &Arc<SessionEntry>) -> SessionState {
        session.state()
    }

    fn force_state(&mut self, session: &Arc<SessionEntry>, to: SessionState, why: &'static str) {
        self.hub.force_state(session, to, why);
    }

    async fn durable(&mut self) -> Result<()> {
        self.hub.durable().await
    }

    fn not_durable(&mut self, error: anyhow::Error) {
        // On a full disk the server still starts and serves what is stored: the sessions whose
        // recovery could not be written are fenced and repaired once storage works.
        tracing::error!(%error, "recovery could not be stored; serving what is stored");
    }

    async fn queued_sessions(&mut self) -> Result<Vec<String>> {
        let pending = self.hub.read(|store| store.pending_turns(None)).await?;
        let mut sessions = Vec::from_iter(pending.into_iter().map(|turn| turn.session_id));
        sessions.dedup();
        let mut ours = Vec::with_capacity(sessions.len());
        for session in sessions {
            if self.hub.is_fenced(&session) {
                continue;
            }
            if let Some(owner) = self.owner {
                let id = session.clone();
                let record = self.hub.read(move |store| store.session(&id)).await?;
                if record.is_none_or(|record| record.owner != owner) {
                    continue;
                }
            }
            ours.push(session);
        }
        Ok(ours)
    }

    async fn resume(&mut self, session_id: &str) -> Result<()> {
        self.hub.resume_pending(session_id).await.map(drop)
    }
}

//! Start-up recovery, and the recovery of a user taken over from another process
//! (crate::cluster): the engine's (`sessionwire_core::engine::recovery`: what is written for each
//! unfinished session, in which order, and when the durable turn queues run), over this
//! process's store and hub.

use crate::{
    cluster::Placement,
    hub::{Hub, SessionEntry},
    store::StoreResult,
};
use anyhow::{anyhow, Result};
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

/// Where `owner`'s sessions are served. Without a cluster, always here. The first time a
/// user is placed here, its sessions are recovered (as a restart recovers them: another
/// process may have served them until it died) before anyone is served; connections of the
/// same user arriving meanwhile wait for that. A recovery that failed is tried again by the
/// next placement: the lease being this process's already does not make it recovered.
pub async fn place_user(hub: &Arc<Hub>, owner: &str) -> StoreResult<Placement> {
    let Some(cluster) = hub.cluster().cloned() else {
        return Ok(Placement::Here);
    };
    let cell = cluster.placing(owner);
    if cell.initialized() {
        return Ok(Placement::Here);
    }
    let placed = cell
        .get_or_try_init(|| async {
            let who = owner.to_owned();
            let placement = tokio::task::spawn_blocking(move || cluster.place(&who))
                .await
                .map_err(|error| NotHere::Failed(anyhow!("placing a user: {error}")))?
                .map_err(NotHere::Failed)?;
            match placement {
                Placement::Here => {
                    let recovered = recover_owner(hub, owner).await.map_err(NotHere::Failed)?;
                    if recovered > 0 {
                        tracing::info!(owner, recovered, "serving a user taken over");
                    }
                    Ok(())
                }
                Placement::There(epoch) => Err(NotHere::There(epoch)),
            }
        })
        .await;
    match placed {
        Ok(()) => Ok(Placement::Here),
        Err(NotHere::There(epoch)) => Ok(Placement::There(epoch)),
        Err(NotHere::Failed(error)) => Err(error),
    }
}

/// Why a user is not served here.
enum NotHere {
    There(String),
    Failed(anyhow::Error),
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

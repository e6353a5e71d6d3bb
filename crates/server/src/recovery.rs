//! Start-up recovery: the runtimes of the previous process are gone, so every session that is
//! not ENDED becomes ENDED with reason `server_restart` (the one transition outside the table).
//!
//! Then every session with acked messages that never ran gets a runtime that runs them.
//!
//! Before that, a session whose log has a `turn_start` without its `turn_end` (the process died
//! mid-turn) gets `turn_end{reason:"error", error:"server_restart"}`, so no client spinner stays
//! on forever, and each permission request left unanswered gets `permission_resolved{expired}`.

use crate::{hub::Hub, permission};
use anyhow::Result;
use sessionwire_core::{
    lifecycle::{self, reason},
    protocol::{TurnEnd, TurnEndReason},
    EventKind,
};
use std::sync::Arc;

/// Recovers every unfinished session; returns how many there were.
pub async fn recover(hub: &Arc<Hub>) -> Result<usize> {
    recover_where(hub, None).await
}

/// Recovers the unfinished sessions of one user, taken over from a process that died or left
/// (crate::cluster): exactly what a restart does, for that user only.
pub async fn recover_owner(hub: &Arc<Hub>, owner: &str) -> Result<usize> {
    recover_where(hub, Some(owner)).await
}

async fn recover_where(hub: &Arc<Hub>, owner: Option<&str>) -> Result<usize> {
    let only = owner.map(str::to_owned);
    let sessions = hub
        .read(move |store| store.not_ended(only.as_deref()))
        .await?;
    for record in &sessions {
        let Some(entry) = hub.entry(&record.id).await? else {
            continue;
        };
        // Permission requests of the dead process expire (PROTOCOL.md §5.1), before their turn ends.
        let id = record.id.clone();
        for request_id in hub
            .read(move |store| store.pending_permissions(&id))
            .await?
        {
            hub.append(&entry, permission::expired(request_id));
        }
        let id = record.id.clone();
        if let Some(turn_id) = hub.read(move |store| store.open_turn(&id)).await? {
            let turn_end = TurnEnd {
                turn_id,
                reason: TurnEndReason::Error,
                error: Some(reason::SERVER_RESTART.to_owned()),
                usage: None,
                stop_reason: None,
            };
            hub.append(&entry, EventKind::TurnEnd(turn_end));
        }
        if let Some(to) = lifecycle::recover_on_start(entry.state()) {
            hub.force_state(&entry, to, reason::SERVER_RESTART);
        }
    }
    // On a full disk the server still starts and serves what is stored: the sessions whose
    // recovery could not be written are fenced and repaired once storage works.
    if let Err(error) = hub.durable().await {
        tracing::error!(%error, "recovery could not be stored; serving what is stored");
        return Ok(sessions.len());
    }
    if !sessions.is_empty() {
        tracing::info!(
            sessions = sessions.len(),
            "recovered unfinished sessions as ENDED (server_restart)"
        );
    }
    // Acked messages the previous process never ran run now, in order (PROTOCOL.md §3).
    let pending = hub.read(|store| store.pending_turns(None)).await?;
    let mut resumed: Vec<&str> = pending
        .iter()
        .map(|turn| turn.session_id.as_str())
        .collect();
    resumed.dedup();
    for session in resumed {
        if hub.is_fenced(session) {
            continue;
        }
        if let Some(owner) = owner {
            let id = session.to_owned();
            let record = hub.read(move |store| store.session(&id)).await?;
            if record.is_none_or(|record| record.owner != owner) {
                continue;
            }
        }
        hub.resume_pending(session).await?;
    }
    Ok(sessions.len())
}

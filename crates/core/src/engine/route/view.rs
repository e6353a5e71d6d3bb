//! What a connection sees: `switch_session`, `reconnect`, `watch`, `unwatch` and
//! `list_sessions` (PROTOCOL.md §4.3, §4.4, §4.6).
//!
//! Order: a connection watches a session before its history is read and before it is told
//! anything about it, so an event committed after the read arrives live and one committed
//! before is in the replay (its live copy, if any, is dropped by seq on the connection).

use super::{Handled, Refusal, Route, RouteDriver};
use crate::engine::listing;
use crate::lifecycle::triggers;
use crate::protocol::{
    ListSessionsFrame, ReconnectFrame, Reconnected, ReconnectedSession, SessionCleared, SessionId,
    SessionSummary, SessionSwitched, SwitchSessionFrame,
};
use crate::routing::{
    decide_reconnect, decide_switch, list_limit, merge_cursors, running, ReconnectDecision,
    SwitchDecision, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, MAX_RECONNECT_SESSIONS,
};
use crate::{ErrorCode, Reply};

impl<D: RouteDriver> Route<'_, D> {
    pub(super) async fn switch_session(&mut self, frame: SwitchSessionFrame) -> Handled {
        let session = match &frame.session_id {
            Some(id) => self.driver.owned_session(id).await?,
            None => None,
        };
        let route = self.lock(&session).await;
        let lookup = self.driver.lookup(session.as_ref());
        match decide_switch(
            frame.session_id.as_deref(),
            frame.last_seq,
            self.conn.current(),
            lookup,
        ) {
            SwitchDecision::Clear { unwatch } => {
                if let Some(old) = unwatch {
                    self.stop_watching(&old);
                }
                self.conn.set_current(None);
                self.reply(Reply::SessionCleared(SessionCleared {}));
                Ok(())
            }
            SwitchDecision::NotFound => Err(Refusal::not_found(
                frame.session_id.as_deref().unwrap_or_default(),
            )),
            SwitchDecision::Switch {
                unwatch,
                reattach,
                running,
                replay_after,
            } => {
                let session = session.ok_or_else(|| Refusal::internal("session vanished"))?;
                if let Some(old) = unwatch {
                    self.stop_watching(&old);
                }
                self.start_watching(&session);
                let id = self.driver.session_id(&session);
                self.conn.set_current(Some(id.to_string()));
                self.driver.reattach(&session, reattach);
                // The store is read without the route lock.
                drop(route);
                let (replay, last_seq) = self.replay_of(&session, replay_after).await?;
                self.reply(Reply::SessionSwitched(SessionSwitched {
                    session_id: id.to_string(),
                    state: self.driver.state(&session),
                    running,
                    last_seq,
                    title: self.driver.title(&session),
                }));
                self.out.push(replay);
                Ok(())
            }
        }
    }

    pub(super) async fn reconnect(&mut self, frame: ReconnectFrame) -> Handled {
        let cursors = merge_cursors(frame.sessions).map_err(|count| Refusal {
            code: ErrorCode::InvalidField,
            message: format!(
                "sessions: {count} distinct sessions; a reconnect names at most {MAX_RECONNECT_SESSIONS}"
            ),
            session_id: None,
        })?;
        let mut sessions = Vec::with_capacity(cursors.len());
        for cursor in cursors {
            let session = self.driver.owned_session(&cursor.session_id).await?;
            let (decision, route) = loop {
                let route = self.lock(&session).await;
                let lookup = self.driver.lookup(session.as_ref());
                let decision = decide_reconnect(cursor.last_seq, lookup);
                if let ReconnectDecision::Resync {
                    abort_zombie: Some(_),
                    ..
                } = &decision
                {
                    // Abort the zombie, wait for its exit without the lock, and decide again.
                    if let Some(zombie) = session.as_ref().and_then(|s| self.abort_zombie(s)) {
                        drop(route);
                        self.driver.exited(zombie).await;
                        continue;
                    }
                }
                break (decision, route);
            };
            match (decision, session) {
                (
                    ReconnectDecision::Resync {
                        reattach,
                        running,
                        replay_after,
                        ..
                    },
                    Some(session),
                ) => {
                    self.start_watching(&session);
                    self.driver.reattach(&session, reattach);
                    drop(route);
                    let (replay, last_seq) = self.replay_of(&session, replay_after).await?;
                    // Seqs are dense, so the replay holds exactly this many events.
                    let replayed = last_seq.saturating_sub(replay_after);
                    self.out.push(replay);
                    sessions.push(ReconnectedSession {
                        session_id: self.driver.session_id(&session).to_string(),
                        replayed,
                        state: self.driver.state(&session),
                        running,
                        last_seq: last_seq.max(replay_after),
                    });
                }
                // Unknown (or not the caller's): an error for that session; the others go on.
                _ => self.reply(super::error_reply(
                    ErrorCode::SessionNotFound,
                    format!("no session `{}`", cursor.session_id),
                    Some(cursor.session_id),
                    Some("reconnect".into()),
                )),
            }
        }
        self.reply(Reply::Reconnected(Reconnected { sessions }));
        Ok(())
    }

    pub(super) async fn watch(&mut self, session_id: &str) -> Handled {
        let session = self.owned(session_id).await?;
        let _route = self.driver.lock_route(&session).await;
        self.start_watching(&session);
        if self.driver.runtime(&session).is_some() {
            let to = triggers::watcher_joined(self.driver.state(&session));
            self.driver.reattach(&session, to);
        }
        self.reply(Reply::Watched(SessionId {
            session_id: self.driver.session_id(&session).to_string(),
        }));
        Ok(())
    }

    pub(super) async fn unwatch(&mut self, session_id: &str) -> Handled {
        let session = self.owned(session_id).await?;
        let id = self.driver.session_id(&session);
        self.stop_watching(&id);
        if self.conn.current() == Some(&*id) {
            self.conn.set_current(None);
        }
        self.reply(Reply::Unwatched(SessionId {
            session_id: id.to_string(),
        }));
        Ok(())
    }

    pub(super) async fn list_sessions(&mut self, frame: ListSessionsFrame) -> Handled {
        let limit = list_limit(frame.limit).ok_or_else(|| {
            Refusal::invalid_field(format!(
                "limit: must be between 1 and {MAX_LIST_LIMIT} (default {DEFAULT_LIST_LIMIT})"
            ))
        })?;
        let before = match frame.before.as_deref() {
            Some(cursor) => Some(listing::parse_cursor(cursor).ok_or_else(|| {
                Refusal::invalid_field("before: not a cursor from the `next` of a `sessions` reply")
            })?),
            None => None,
        };
        // One more than asked tells whether another page follows.
        let mut stored = self.driver.sessions_page(before, limit + 1).await?;
        let more = stored.len() > limit;
        stored.truncate(limit);
        let sessions = Vec::from_iter(stored.into_iter().map(|summary| {
            // The in-memory state is the newest (its event may still be committing).
            let state = self.driver.state_now(&summary.session_id, summary.state);
            SessionSummary {
                running: running(self.driver.runtime_view(&summary.session_id), state),
                state,
                ..summary
            }
        }));
        let page = listing::sessions_page(sessions, more, self.driver.max_frame_bytes());
        self.reply(page);
        Ok(())
    }
}

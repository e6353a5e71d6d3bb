//! What a user does to a session rather than in it: `stop`, `close_session`, `suspend`
//! (PROTOCOL.md §4.5) and `respond_permission` (§5.1).
//!
//! Order: a lifecycle change is made under the route lock; a runtime's cancellation is awaited
//! after it is released. A permission answer is acked after its `permission_resolved`, on a
//! connection that watches the session.

use super::{Handled, Out, Refusal, Route, RouteDriver};
use crate::lifecycle::{reason, triggers};
use crate::protocol::{Ack, RespondPermissionFrame};
use crate::routing::PermissionDecision;
use crate::ErrorCode;

impl<D: RouteDriver> Route<'_, D> {
    pub(super) async fn stop(&mut self, session_id: &str) -> Handled {
        let session = self.owned(session_id).await?;
        let route = self.driver.lock_route(&session).await;
        match self.driver.runtime(&session) {
            Some(runtime) => {
                self.driver.abort(&runtime, reason::STOPPED);
                // Its cancellation is awaited without the lock.
                drop(route);
                self.driver.exited(runtime).await;
            }
            None => {
                if let Some(to) = triggers::runtime_exited(self.driver.state(&session)) {
                    self.driver.transition(&session, to, reason::STOPPED);
                }
            }
        }
        Ok(())
    }

    pub(super) async fn close_session(&mut self, session_id: &str) -> Handled {
        let session = self.owned(session_id).await?;
        let route = self.driver.lock_route(&session).await;
        let aborted = self.driver.close(&session, reason::CLOSE_REQUESTED);
        drop(route);
        if let Some(runtime) = aborted {
            self.driver.exited(runtime).await;
        }
        Ok(())
    }

    pub(super) async fn suspend(&mut self, session_id: &str) -> Handled {
        let session = self.owned(session_id).await?;
        let _route = self.driver.lock_route(&session).await;
        if let Some(to) = triggers::suspend(self.driver.state(&session)) {
            self.driver.transition(&session, to, reason::SUSPENDED);
        }
        Ok(())
    }

    /// The first answer to a waiting request wins, is stored as its `permission_resolved` and
    /// acked after it; the agent hears it once it is stored.
    pub(super) async fn respond_permission(&mut self, frame: RespondPermissionFrame) -> Handled {
        let mut reservation = self.driver.reserve(&frame.client_msg_id).await;
        let stored = self.driver.stored_client_msg(&frame.client_msg_id).await?;
        let session = match &stored {
            // A retry is acked as the original was, whatever became of the request since.
            Some(original) => self.driver.any_session(&original.session_id).await?,
            None => Some(self.owned(&frame.session_id).await?),
        };
        let Some(session) = session else {
            return Err(Refusal::not_found(&frame.session_id));
        };
        if stored.is_none() {
            self.refuse_if_fenced(Some(&session))?;
        }
        // The answering connection watches the session: its ack follows the event it names.
        self.start_watching(&session);
        let mut answered = self
            .driver
            .answer_permission(&session, &frame, stored.clone(), false);
        if let Err(PermissionDecision::UnknownRequest) = answered {
            // Not in memory: asked before this session was loaded, and so long resolved, or never.
            let in_log = self
                .driver
                .permission_requested(&session, &frame.request_id)
                .await?;
            answered = self
                .driver
                .answer_permission(&session, &frame, stored, in_log);
        }
        let seq = match answered {
            Ok(written) => {
                self.driver
                    .reservation_submitted(&mut reservation, &written);
                self.driver
                    .stored_seq(&session, &written, reservation)
                    .await?
            }
            Err(PermissionDecision::Duplicate { original }) => {
                drop(reservation);
                return self.duplicate(&frame.client_msg_id, original, false).await;
            }
            Err(decision) => {
                let id = self.driver.session_id(&session);
                return Err(permission_refusal(&decision, &frame, &id));
            }
        };
        self.out.push(Out::AckAfter {
            seq,
            ack: Ack {
                session_id: self.driver.session_id(&session).to_string(),
                client_msg_id: frame.client_msg_id,
                seq,
                duplicate: false,
                running: self.driver.running(&session),
            },
        });
        Ok(())
    }
}

/// The error for an answer that was not carried out.
fn permission_refusal(
    decision: &PermissionDecision,
    frame: &RespondPermissionFrame,
    session_id: &str,
) -> Refusal {
    let (code, message) = match decision {
        PermissionDecision::AlreadyResolved => (
            ErrorCode::PermissionResolved,
            format!(
                "permission request `{}` was already resolved",
                frame.request_id
            ),
        ),
        PermissionDecision::UnknownOption => (
            ErrorCode::InvalidField,
            format!(
                "optionId: `{}` is not one of the options of request `{}`",
                frame.option_id, frame.request_id
            ),
        ),
        _ => (
            ErrorCode::InvalidField,
            format!(
                "requestId: no permission request `{}` in this session",
                frame.request_id
            ),
        ),
    };
    Refusal {
        code,
        message,
        session_id: Some(session_id.to_owned()),
    }
}

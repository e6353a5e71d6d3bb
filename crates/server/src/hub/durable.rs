//! What comes with an appended event (`Extras`), and a `clientMsgId`'s reservation until its
//! write is answered.

use super::Hub;
use crate::{
    registry::lock,
    store::{ClientMsgKey, Durable, QueueOp},
};
use sessionwire_core::{engine::reservations::ReservationKey, SessionState};
use std::sync::Arc;

/// What an appended event may carry besides itself.
#[derive(Debug, Default)]
pub struct Extras {
    /// The session's new durable state.
    pub new_state: Option<SessionState>,
    /// The `clientMsgId` that produced the event.
    pub client_msg: Option<ClientMsgKey>,
    pub queue: Option<QueueOp>,
}

impl Extras {
    pub(super) fn state(state: SessionState) -> Self {
        Self {
            new_state: Some(state),
            ..Self::default()
        }
    }
}

/// A `clientMsgId` of one user being stored right now (the engine's `Reservations`, see
/// [`Hub::reserve`]). Dropping it releases the id: anyone waiting for it then reads the store
/// again. Drop it once the store answered; if it is dropped while its write is still on the way
/// (the handler was cancelled), the release waits for that write's answer.
#[derive(Debug)]
pub struct Reservation {
    pub(super) hub: Arc<Hub>,
    pub(super) key: ReservationKey,
    /// The write that stores the id, once submitted.
    pub(super) write: Option<Durable>,
}

impl Reservation {
    /// The id's write was submitted: a release before its answer waits for it.
    pub fn submitted(&mut self, write: &Durable) {
        self.write = Some(write.clone());
    }

    /// Releases the id and wakes who waited for it (each tries again).
    fn release(hub: &Hub, key: &ReservationKey) {
        let waiters = lock(&hub.reservations).release(key);
        for waiter in waiters {
            let _ = waiter.send(());
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        match self.write.take() {
            Some(write) if write.peek().is_none() => {
                let (hub, key) = (self.hub.clone(), std::mem::take(&mut self.key));
                self.hub.tasks.spawn(async move {
                    let _ = write.wait().await;
                    Self::release(&hub, &key);
                });
            }
            _ => Self::release(&self.hub, &self.key),
        }
    }
}

//! What a write's answer is (`Durable`), what comes with an appended event (`Extras`), and a
//! `clientMsgId`'s reservation until its write is answered.

use super::Hub;
use crate::{
    registry::lock,
    store::{ClientMsgKey, Done, QueueOp, StoreResult},
};
use anyhow::anyhow;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use sessionwire_core::{engine::reservations::ReservationKey, SessionState};
use std::{fmt, sync::Arc};
use tokio::sync::oneshot;

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

/// The store's answer to one write, which several parties may await (the handler that answers the
/// client, the runtime that must not start the turn before its message is stored): the seq it
/// got, or why it was not stored.
#[derive(Clone)]
pub struct Durable(Shared<BoxFuture<'static, Result<u64, Arc<str>>>>);

impl fmt::Debug for Durable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Durable").field(&self.0.peek()).finish()
    }
}

impl Durable {
    /// The `done` to submit with a write, and its answer.
    pub fn channel() -> (Done<u64>, Self) {
        let (done, stored) = oneshot::channel::<StoreResult<u64>>();
        let answer = async move {
            match stored.await {
                Ok(Ok(seq)) => Ok(seq),
                Ok(Err(error)) => Err(Arc::from(error.to_string())),
                Err(_) => Err(Arc::from("store writer stopped")),
            }
        };
        (done, Self(answer.boxed().shared()))
    }

    /// A write stored before (a queued turn read back from the store).
    pub fn stored(seq: u64) -> Self {
        Self(std::future::ready(Ok(seq)).boxed().shared())
    }

    /// The answer, if it has come and someone has looked.
    pub fn peek(&self) -> Option<&Result<u64, Arc<str>>> {
        self.0.peek()
    }

    /// Waits for the answer.
    pub async fn wait(&self) -> StoreResult<u64> {
        self.0.clone().await.map_err(|error| anyhow!("{error}"))
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

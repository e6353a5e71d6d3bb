//! The store's answer to one write ([`Durable`]), for everyone who must wait for it.

use super::{Done, StoreResult};
use anyhow::anyhow;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use std::{fmt, sync::Arc};
use tokio::sync::oneshot;

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

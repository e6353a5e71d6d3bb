//! The server's engine, sans-IO: the decisions and ordering rules of PROTOCOL.md §1–§5 as state
//! objects that take inputs (`handle_*`, with the time passed in) and hand back what to send, so
//! the server (`crates/server`) is a driver that only moves bytes, and the simulator runs the
//! same objects the server runs.
//!
//! - [`connection`]: the protocol half of one connection: `hello` first, the frame limits, the
//!   errors for frames that cannot be routed, what it watches, and the order of what goes out
//!   (a replay and the live stream joined with no gap and no duplicate, an `ack` right after its
//!   `user_message`).
//! - [`eviction`]: which idle sessions' in-memory entries a server forgets, and only once their
//!   writes are committed and they did not change meanwhile.
//! - [`listing`]: what a session is listed as (its title) and how the list is paged.
//! - [`permissions`]: a session's permission requests waiting for an answer; the first answer
//!   takes its request out.
//! - [`rate`]: a connection's token bucket.
//! - [`recovery`]: start-up recovery: what is written for each unfinished session, in which
//!   order, and when the durable turn queues run.
//! - [`repair`]: a session whose writes failed: fenced, its runtime stopped, its repair retried
//!   until stored, then its queue run; and what the repair writes.
//! - [`reservations`]: the `clientMsgId`s being stored right now, so a retry racing its
//!   original waits for it (the duplicate check reads reserved ∪ stored).
//! - [`route`]: every client frame's route: the facts looked up, the core's decision, and the
//!   order it is carried out in, as async flows over the driver's effects ([`route::RouteDriver`]).
//! - [`runtime`]: a session runtime's loop: what each wake means and the order of its writes,
//!   over the driver's effects ([`runtime::RuntimeDriver`]).
//! - [`session`]: one session's lifecycle as the server carries it out: its state and version,
//!   the timers its states start, how a runtime is started and how a session is closed.
//! - [`turns`]: a session runtime's turns: one at a time, in order, once stored; what an
//!   interrupt, a close, an abort or a lost agent does to the queue.

pub mod connection;
pub mod eviction;
pub mod listing;
pub mod permissions;
pub mod rate;
pub mod recovery;
pub mod repair;
pub mod reservations;
pub mod route;
pub mod runtime;
pub mod session;
pub mod turns;

pub use connection::{Close, ConnectionLimits, ConnectionProtocol, Inbound, LiveEvent};
pub use permissions::{PermissionBook, PermissionOutcome, WaitingRequest};
pub use rate::{RateLimit, TokenBucket};
pub use turns::{AbortCause, Aborted, Next, Stored, TurnScheduler};

/// Runs one of the engine's flows (a [`route`], a [`runtime`] loop) to its end with a waker
/// that never wakes: for drivers whose every effect is ready at once (the simulator's, the
/// tests'). `None` if the flow waited for something all the same.
pub fn run_ready<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let waker = std::task::Waker::noop();
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(waker))
    {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

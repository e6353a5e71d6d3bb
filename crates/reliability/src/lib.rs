//! Tools that test the real `sessionwire-server` binary from the outside, as a client would:
//! start it on loopback, talk to it over WebSockets, kill it, start it again on the same
//! database, and check the promises (nothing lost, nothing run twice, dense seqs).
//!
//! All traffic stays on 127.0.0.1 and every loop is bounded in count and time.

pub mod client;
pub mod server;

//! The simulator's parts: a seeded random source, and a server that runs the engine over an
//! in-memory store and scripted agents (`server.rs`; `route.rs`: its effects for the engine's
//! routes; `runtime.rs`: its runtimes, the engine's loop; `recovery.rs`: its effects for the
//! engine's start-up recovery; `repair.rs`: for its storage-failure repair).

mod recovery;
mod repair;
pub mod rng;
mod route;
pub mod runtime;
pub mod server;

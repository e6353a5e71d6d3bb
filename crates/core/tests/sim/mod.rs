//! The simulator's parts: a seeded random source, and a server that runs the engine over an
//! in-memory store and scripted agents (`server.rs`, and `route.rs`: its effects for the
//! engine's routes).

pub mod rng;
mod route;
pub mod server;

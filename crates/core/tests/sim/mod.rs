//! The simulator's parts: a seeded random source and a model server on the core's decisions.

pub mod rng;
pub mod server;

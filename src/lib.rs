//! `sessionwire`: the browser half of sessionwire, a thin wasm-bindgen layer over `sessionwire-core`.
//!
//! Every decision lives in the core; this crate only converts between Rust and JavaScript.

pub use sessionwire_core as core;

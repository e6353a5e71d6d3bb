//! `sessionwire-core`: the pure heart of sessionwire, shared by the browser client (through Wasm)
//! and the native server.
//!
//! It is a sans-IO library in the style of quinn-proto: no networking, no clock, no randomness,
//! no async runtime. Frames and calls go in; decisions, actions and frames come out. Time and
//! identifiers are passed in by the caller, so every behaviour is deterministic and testable.
//!
//! - [`protocol`]: every wire frame of the contract, with parsing that names the exact error code.
//! - [`lifecycle`]: the durable session state machine and its enforced transition table.
//! - [`routing`]: pure routing decisions for `send`, `interrupt`, `switch_session` and `reconnect`.
//! - [`store`]: the client state store (parser, actions, reducer, outbox, per-session views).
// `wire_enum!` munches the store's actions one field at a time (about 150 steps).
#![recursion_limit = "256"]
// The npm package's build (scripts/build-pkg.sh) compiles this crate for size and sets
// `sessionwire_size`, which lets the few functions on `receive`'s per-frame path keep speed
// optimizations (`#[optimize(speed)]`, unstable, hence the feature). Other builds ignore both.
#![cfg_attr(sessionwire_size, feature(optimize_attribute))]

// First: its macros (`wire_unit_enum!` and the others) are used by the modules after it.
#[macro_use]
pub mod protocol;

pub mod bytes;
#[cfg(feature = "engine")]
pub mod engine;
pub mod lifecycle;
pub mod routing;
pub mod store;
pub mod vectors;

pub use lifecycle::SessionState;
pub use protocol::{ClientFrame, ErrorCode, Event, EventKind, ProtocolError, Reply, ServerFrame};

/// The protocol version this crate speaks (`hello.protocol` and `welcome.protocol`).
pub const PROTOCOL_VERSION: u32 = 1;

/// Frames larger than this many UTF-8 bytes are refused with `frame_too_large`.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

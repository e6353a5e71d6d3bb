//! `sessionwire`: the browser half of sessionwire, a thin wasm-bindgen layer over
//! `sessionwire-core`.
//!
//! Every decision lives in the core; this crate only converts between Rust and JavaScript:
//! - [`ClientStore`]: the store of PROTOCOL.md §8 (parse + reduce + outbox), no I/O.
//! - `SessionwireClient` is JavaScript (`src/js/client.js`): a WebSocket driving a `ClientStore`;
//!   `src/js/` holds the package's JavaScript half (entries, errors, persistence, React).
//! - [`parse_server_frame`]: the core's parser on its own.
//!
//! The TypeScript types (`Action`, `ClientState`, frames) are generated from the core's Rust
//! types with ts-rs (`src/types.d.ts`) and inserted into the package's `.d.ts`.

// See crates/core/src/lib.rs: the package's size build keeps `receive`'s path optimized for speed.
#![cfg_attr(sessionwire_size, feature(optimize_attribute))]

pub use sessionwire_core as core;

mod convert;
mod error;
mod floats;
mod free;
mod shared;
mod store;
mod transfer;
mod types;

pub use free::parse_server_frame;
pub use store::ClientStore;

/// The Wasm heap: rlsf's TLSF allocator, built for code size. Constant-time allocation and
/// freeing like the default dlmalloc, for about 3 KB less of the .wasm (see docs/benchmarks.md).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: rlsf::SmallGlobalTlsf = rlsf::SmallGlobalTlsf::new();

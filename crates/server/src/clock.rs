//! Wall-clock time and identifiers, the only sources of non-determinism the core leaves to us.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (event `ts`, session timestamps).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A new time-ordered identifier (UUID v7): sessions, turns, messages, blocks, epochs.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

//! Generates `src/types.d.ts`, the TypeScript declarations of the core's types, from the Rust
//! types themselves (ts-rs, which follows the serde attributes). The test fails when the
//! committed file is stale; `SESSIONWIRE_BLESS=1 cargo test -p sessionwire --test typescript`
//! rewrites it.
#![cfg(not(target_arch = "wasm32"))]

use sessionwire_core::lifecycle::SessionState;
use sessionwire_core::protocol::*;
use sessionwire_core::store::*;
use ts_rs::{Config, TS};

macro_rules! decls {
    ($cfg:expr; $($ty:ty),* $(,)?) => {
        vec![$(<$ty as TS>::decl($cfg)),*]
    };
}

fn generate() -> String {
    // seqs, timestamps and counts are u64 in Rust and plain numbers in JavaScript (they stay
    // far below 2^53; serde-wasm-bindgen's JSON-compatible mode emits numbers).
    let cfg = &Config::new().with_large_int("number");
    let decls = decls![cfg;
        // The store.
        Action<>, Snapshot<'static>, SessionEntry<'static>, Connection, Message, Role, MessageStatus,
        Block, OutboxEntry, OutboxKind, ErrorInfo, Gap, PendingPermission,
        // Shared protocol types.
        SessionState, ErrorCode, BlockType, TurnEndReason, SessionSummary, ReconnectedSession,
        serde_json::Value,
        // Server frames.
        ServerFrame, Reply, ServerInfo, Welcome, Sessions, SessionSwitched, SessionCleared, SessionCreated, Ack,
        Reconnected, SessionId, Pong, ErrorReply, Event, EventKind, UserMessage, TurnStart, MessageRef, BlockStart,
        BlockDelta, BlockEnd, ToolResult, ToolUpdate, Plan, PermissionRequest, PermissionResolved,
        TurnEnd, SessionStateChange,
        // Client frames.
        ClientFrame, HelloFrame, ListSessionsFrame, SwitchSessionFrame, SendFrame, InterruptFrame, SessionRef,
        SessionCursor, ReconnectFrame, PingFrame, RespondPermissionFrame,
    ];
    let mut out = String::from(
        "// Generated from the Rust types of sessionwire-core by tests/typescript.rs (ts-rs).\n\
         // Do not edit: run `SESSIONWIRE_BLESS=1 cargo test -p sessionwire --test typescript`.\n",
    );
    for decl in decls {
        out.push('\n');
        if !decl.starts_with("export ") {
            out.push_str("export ");
        }
        out.push_str(decl.trim_end());
        out.push('\n');
    }
    out
}

#[test]
fn generated_typescript_is_up_to_date() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/types.d.ts");
    let fresh = generate();
    if std::env::var_os("SESSIONWIRE_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "src/types.d.ts is stale: run `SESSIONWIRE_BLESS=1 cargo test -p sessionwire --test typescript`"
    );
}

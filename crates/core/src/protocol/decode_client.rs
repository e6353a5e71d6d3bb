//! Decoders of the client frames' payloads: one table each (see `table.rs` for the loop and
//! `decode.rs` for the rules it keeps), listed in declaration order.

use super::client::{
    HelloFrame, InterruptFrame, ListSessionsFrame, PingFrame, ReconnectFrame,
    RespondPermissionFrame, SendFrame, SessionCursor, SessionRef, SwitchSessionFrame,
};
use super::table::table_struct;

table_struct!(HelloFrame, "struct HelloFrame",
    ["protocol" => U32 Req, "token" => Str Opt, "clientId" => Str Opt],
    |s| Self { protocol: s.u32(0), token: s.opt_str(1), client_id: s.opt_str(2) });

table_struct!(ListSessionsFrame, "struct ListSessionsFrame",
    ["limit" => U32 Opt, "before" => Str Opt],
    |s| Self { limit: s.opt_u32(0), before: s.opt_str(1) });

table_struct!(SwitchSessionFrame, "struct SwitchSessionFrame",
    ["sessionId" => Str Nullable, "lastSeq" => U64 Opt],
    |s| Self { session_id: s.opt_str(0), last_seq: s.opt_u64(1) });

table_struct!(SendFrame, "struct SendFrame",
    ["sessionId" => Str Nullable, "clientMsgId" => Str Req, "text" => Str Req],
    |s| Self { session_id: s.opt_str(0), client_msg_id: s.str(1), text: s.str(2) });

table_struct!(InterruptFrame, "struct InterruptFrame",
    ["sessionId" => Str Req, "clientMsgId" => Str Req, "text" => Str Opt],
    |s| Self { session_id: s.str(0), client_msg_id: s.str(1), text: s.opt_str(2) });

table_struct!(SessionRef, "struct SessionRef", ["sessionId" => Str Req],
    |s| Self { session_id: s.str(0) });

table_struct!(SessionCursor, "struct SessionCursor",
    ["sessionId" => Str Req, "lastSeq" => U64 Req],
    |s| Self { session_id: s.str(0), last_seq: s.u64(1) });

table_struct!(ReconnectFrame, "struct ReconnectFrame", ["sessions" => Cursors Req],
    |s| Self { sessions: s.cursors(0) });

table_struct!(PingFrame, "struct PingFrame", ["nonce" => Str Opt],
    |s| Self { nonce: s.opt_str(0) });

table_struct!(RespondPermissionFrame, "struct RespondPermissionFrame",
    ["sessionId" => Str Req, "clientMsgId" => Str Req, "requestId" => Str Req,
        "optionId" => Str Req],
    |s| Self { session_id: s.str(0), client_msg_id: s.str(1), request_id: s.str(2),
        option_id: s.str(3) });

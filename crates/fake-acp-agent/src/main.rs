//! `sessionwire-fake-acp-agent`: a scripted fake coding agent speaking the Agent Client Protocol
//! v1 (JSON-RPC 2.0, one JSON object per line) on stdin/stdout, for testing sessionwire's `acp`
//! agent (PROTOCOL.md §9.1). Everything below is exact: tests may assert on it.
//!
//! # Command line
//!
//! `sessionwire-fake-acp-agent [--no-load] [--no-resume] [--hang-initialize] [--exit-on-start N]`
//!
//! - `--no-load`: `agentCapabilities.loadSession` is `false`; `session/load` answers
//!   error -32601 "Method not found".
//! - `--no-resume`: `agentCapabilities.sessionCapabilities` is `{}`; `session/resume` answers
//!   error -32601 "Method not found".
//! - `--hang-initialize`: `initialize` is read and never answered (other methods still work).
//! - `--exit-on-start N`: exits with status N before reading anything.
//! - Any other argument: a message on stderr and exit status 2.
//!
//! Diagnostics go to stderr only; stdout carries nothing but JSON-RPC lines (and the one
//! deliberate non-JSON line of `/garbage`). When stdin closes the process exits with status 0,
//! even mid-turn.
//!
//! # Methods (client → agent)
//!
//! - `initialize` → `{protocolVersion: 1, agentCapabilities: {loadSession: true,
//!   promptCapabilities: {image: false, audio: false, embeddedContext: false},
//!   sessionCapabilities: {resume: {}}}, agentInfo: {name: "sessionwire-fake-acp-agent",
//!   title: "sessionwire fake ACP agent", version: <crate version>}, authMethods: []}`,
//!   whatever version was asked for. Requests before `initialize` are served anyway.
//! - `authenticate` → `{}`.
//! - `session/new {cwd, mcpServers}` → `{sessionId}`: a fresh id `fake-<pid>-<hex nanos>-<n>`.
//! - `session/load {sessionId, ...}`: for each answered prompt of the history, oldest first, a
//!   `session/update` `user_message_chunk` with the prompt's text, then (if it was not empty) one
//!   `agent_message_chunk` with the whole reply text; then the result `{}`.
//! - `session/resume {sessionId, ...}` → `{}`, no replay.
//! - Load and resume of an unknown id (or one that is not `[A-Za-z0-9_-]+`) answer error -32002
//!   "Resource not found: no such session".
//! - `session/prompt {sessionId, prompt}`: runs a turn (below) on its own thread. The prompt's
//!   text is its `text` blocks joined with nothing between (other blocks are ignored). The
//!   session must have been created, loaded or resumed by this process, else error -32002; no
//!   `prompt` array or `sessionId`: -32602; a prompt while the session's last one is unanswered:
//!   -32603 "a prompt is already running in this session".
//! - `session/cancel {sessionId}` (notification): tells the session's running turn; ignored
//!   when none runs. Other notifications are ignored.
//! - Unknown methods: -32601 "Method not found". A line that is not JSON: error -32700 with id
//!   null. Responses to our own requests go to the turn that asked.
//!
//! # Sessions on disk
//!
//! With env `FAKE_ACP_STATE_DIR` set, each session is the file `<dir>/<sessionId>.json`
//! (`{sessionId, cwd, history: [{user, agent}]}`, written at `session/new` and after each answered
//! prompt), so load and resume work across processes. Unset: sessions live in memory only. Every
//! prompt that gets an answer (result or error) is appended to the history, with the text of the
//! `agent_message_chunk`s sent before the answer (`/crash` turns are not).
//!
//! With env `FAKE_ACP_ANSWER_LOG` set, `/perm` appends to that file the wall-clock time (µs since
//! the Unix epoch) at which each of its permission answers arrived (for benchmarks).
//!
//! # Turns
//!
//! Every update is `session/update {sessionId, update}`; message and thought chunks carry
//! `content: {type: "text", text}`. "echo: T in k chunks" means the text `echo: T` cut into k
//! non-empty pieces of near-equal length in chars, the first ones a char longer (fewer pieces if
//! the text is shorter). The command is the prompt's first word (up to the first space) and `T`
//! is everything after that space; `K` is the number of the turn in its session (history length +
//! 1), and tool calls have `toolCallId` `call-K`. Any other text `T` is echoed: `echo: T` in 3
//! chunks, then `{stopReason: "end_turn"}`.
//!
//! - `/slow N T`: `echo: T` in N chunks (N at least 1), 100 ms apart; a `session/cancel` stops
//!   it at once with `{stopReason: "cancelled"}`. A malformed N makes it a plain echo.
//! - `/chunks N`: N chunks `"1 "`, `"2 "`, … `"N "` with no pause, then `end_turn` (a
//!   malformed N: a plain echo).
//! - `/tool`: `tool_call {toolCallId, title: "Read /fake/README.md", kind: "read", status:
//!   "pending", rawInput: {path: "/fake/README.md"}, locations: [{path: "/fake/README.md", line:
//!   1}]}`, `tool_call_update {toolCallId, status: "in_progress"}`, `tool_call_update
//!   {toolCallId, status: "completed", content: [{type: "content", content: {type: "text", text:
//!   "# fake README"}}], rawOutput: {text: "# fake README"}}`, message chunk `read it`, `end_turn`.
//! - `/thought T`: thought chunks `Thinking ` and `it over.`, then `echo: T` in one chunk,
//!   `end_turn`.
//! - `/plan`: three `plan` updates of the entries `Read the code` (high), `Write the fix`
//!   (medium), `Run the tests` (low) with statuses pending/pending/pending, then
//!   completed/in_progress/pending, then completed/completed/completed; message chunk `planned`,
//!   `end_turn`.
//! - `/perm T`: `tool_call {toolCallId, title: "Edit /fake/notes.txt", kind: "edit", status:
//!   "pending", rawInput: {path, newText: T}, content: [D], locations: [{path}]}` with D the diff
//!   `{type: "diff", path: "/fake/notes.txt", oldText: "old text", newText: T}`; then the request
//!   `session/request_permission {sessionId, toolCall: {toolCallId, title, kind: "edit", status:
//!   "pending", content: [D]}, options: [{optionId: "allow_once", name: "Allow once", kind:
//!   "allow_once"}, {optionId: "reject_once", name: "Reject once", kind: "reject_once"}]}` (our
//!   request ids are 1, 2, 3, … per process). Its answer:
//!   - selected `allow_once`: `tool_call_update {status: "completed", content: [D], rawOutput:
//!     {applied: true}}`, `echo: T` in 3 chunks, `end_turn`;
//!   - selected `reject_once`: `tool_call_update {status: "failed"}`, chunk `denied`, `end_turn`;
//!   - `cancelled`, or any answer after a `session/cancel` came while waiting:
//!     `tool_call_update {status: "failed"}`, then `{stopReason: "cancelled"}`;
//!   - another optionId: prompt error -32602; a JSON-RPC error answer: prompt error -32603.
//! - `/wait`: nothing until `session/cancel`, then `{stopReason: "cancelled"}`.
//! - `/late`: as `/wait`, then after the `cancelled` answer two more chunks `late 1`, `late 2`,
//!   written together with the answer.
//! - `/crash`: chunk `crashing`, then the process exits with status 3 (no answer).
//! - `/garbage T`: the stdout line `this line is not JSON {`, then `echo: T` in 3 chunks,
//!   `end_turn`.
//! - `/error`: prompt error `{code: -32603, message: "scripted error"}`.
//! - `/maxtokens T`, `/refusal T`: `echo: T` in one chunk, then `{stopReason: "max_tokens"}` or
//!   `{stopReason: "refusal"}`.

mod dispatch;
mod flags;
mod out;
mod perm;
mod script;
mod store;
mod turn;

use std::sync::Arc;

fn main() {
    let flags = match flags::parse(std::env::args().skip(1)) {
        Ok(flags) => flags,
        Err(err) => {
            eprintln!("sessionwire-fake-acp-agent: {err}");
            std::process::exit(2);
        }
    };
    if let Some(status) = flags.exit_on_start {
        eprintln!("sessionwire-fake-acp-agent: --exit-on-start: exiting with status {status}");
        std::process::exit(status);
    }
    let agent = Arc::new(dispatch::Agent::new(flags, store::Store::from_env()));
    dispatch::serve(&agent);
}

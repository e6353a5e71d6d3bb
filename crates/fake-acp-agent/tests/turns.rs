//! The scripted turns, against the real binary.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{chunk, error, messages, stop, update, Agent};
use serde_json::{json, Value};

#[test]
fn tool_reports_a_read_call_from_pending_to_completed() {
    let mut agent = Agent::spawn(&[], None);
    let s = agent.start();
    let (updates, answer) = agent.turn(&s, "/tool");
    assert_eq!(
        updates,
        vec![
            update(
                &s,
                json!({
                    "sessionUpdate": "tool_call", "toolCallId": "call-1",
                    "title": "Read /fake/README.md", "kind": "read", "status": "pending",
                    "rawInput": {"path": "/fake/README.md"},
                    "locations": [{"path": "/fake/README.md", "line": 1}],
                })
            ),
            update(
                &s,
                json!({"sessionUpdate": "tool_call_update", "toolCallId": "call-1", "status": "in_progress"})
            ),
            update(
                &s,
                json!({
                    "sessionUpdate": "tool_call_update", "toolCallId": "call-1", "status": "completed",
                    "content": [{"type": "content", "content": {"type": "text", "text": "# fake README"}}],
                    "rawOutput": {"text": "# fake README"},
                })
            ),
            chunk(&s, "agent_message_chunk", "read it"),
        ]
    );
    assert_eq!(answer, stop(answer["id"].as_u64().unwrap(), "end_turn"));
    // The next turn's tool call has the next number.
    let (updates, _) = agent.turn(&s, "/tool");
    assert_eq!(updates[0]["params"]["update"]["toolCallId"], "call-2");
}

#[test]
fn thought_then_message() {
    let mut agent = Agent::spawn(&[], None);
    let s = agent.start();
    let (updates, answer) = agent.turn(&s, "/thought why");
    assert_eq!(
        updates,
        vec![
            chunk(&s, "agent_thought_chunk", "Thinking "),
            chunk(&s, "agent_thought_chunk", "it over."),
            chunk(&s, "agent_message_chunk", "echo: why"),
        ]
    );
    assert_eq!(answer["result"], json!({"stopReason": "end_turn"}));
}

#[test]
fn plan_sends_three_plans() {
    let mut agent = Agent::spawn(&[], None);
    let s = agent.start();
    let (updates, answer) = agent.turn(&s, "/plan");
    let plan = |a: &str, b: &str, c: &str| {
        update(
            &s,
            json!({"sessionUpdate": "plan", "entries": [
                {"content": "Read the code", "priority": "high", "status": a},
                {"content": "Write the fix", "priority": "medium", "status": b},
                {"content": "Run the tests", "priority": "low", "status": c},
            ]}),
        )
    };
    assert_eq!(
        updates,
        vec![
            plan("pending", "pending", "pending"),
            plan("completed", "in_progress", "pending"),
            plan("completed", "completed", "completed"),
            chunk(&s, "agent_message_chunk", "planned"),
        ]
    );
    assert_eq!(answer["result"], json!({"stopReason": "end_turn"}));
}

/// Starts `/perm T` and checks everything up to the permission request; its JSON-RPC id.
fn ask_permission(agent: &mut Agent, s: &str, text: &str, request_id: u64) -> (u64, Value) {
    let prompt = agent.prompt(s, text);
    let diff =
        json!({"type": "diff", "path": "/fake/notes.txt", "oldText": "old text", "newText": "new"});
    assert_eq!(
        agent.next(),
        update(
            s,
            json!({
                "sessionUpdate": "tool_call", "toolCallId": "call-1",
                "title": "Edit /fake/notes.txt", "kind": "edit", "status": "pending",
                "rawInput": {"path": "/fake/notes.txt", "newText": "new"},
                "content": [diff], "locations": [{"path": "/fake/notes.txt"}],
            })
        )
    );
    assert_eq!(
        agent.next(),
        json!({"jsonrpc": "2.0", "id": request_id, "method": "session/request_permission", "params": {
            "sessionId": s,
            "toolCall": {"toolCallId": "call-1", "title": "Edit /fake/notes.txt", "kind": "edit", "status": "pending", "content": [diff]},
            "options": [
                {"optionId": "allow_once", "name": "Allow once", "kind": "allow_once"},
                {"optionId": "reject_once", "name": "Reject once", "kind": "reject_once"},
            ],
        }})
    );
    (prompt, diff)
}

fn answer(agent: &mut Agent, id: u64, outcome: Value) {
    agent.send(&json!({"jsonrpc": "2.0", "id": id, "result": {"outcome": outcome}}));
}

fn status(s: &str, status: &str) -> Value {
    update(
        s,
        json!({"sessionUpdate": "tool_call_update", "toolCallId": "call-1", "status": status}),
    )
}

#[test]
fn perm_allowed_completes_and_echoes() {
    let mut agent = Agent::spawn(&[], None);
    let s = agent.start();
    let (prompt, diff) = ask_permission(&mut agent, &s, "/perm new", 1);
    agent.quiet(Duration::from_millis(200));
    answer(
        &mut agent,
        1,
        json!({"outcome": "selected", "optionId": "allow_once"}),
    );
    let (updates, result) = agent.until(prompt);
    let mut expected = vec![update(
        &s,
        json!({
            "sessionUpdate": "tool_call_update", "toolCallId": "call-1", "status": "completed",
            "content": [diff], "rawOutput": {"applied": true},
        }),
    )];
    expected.extend(messages(&s, &["ech", "o: ", "new"]));
    assert_eq!(updates, expected);
    assert_eq!(result, stop(prompt, "end_turn"));
}

#[test]
fn perm_rejected_fails_and_says_denied() {
    let mut agent = Agent::spawn(&[], None);
    let s = agent.start();
    let (prompt, _) = ask_permission(&mut agent, &s, "/perm new", 1);
    answer(
        &mut agent,
        1,
        json!({"outcome": "selected", "optionId": "reject_once"}),
    );
    let (updates, result) = agent.until(prompt);
    assert_eq!(
        updates,
        vec![
            status(&s, "failed"),
            chunk(&s, "agent_message_chunk", "denied")
        ]
    );
    assert_eq!(result, stop(prompt, "end_turn"));
    // The agent's request ids count on per process.
    let s2 = agent.new_session();
    let prompt = agent.prompt(&s2, "/perm x");
    let tool_call = agent.next();
    assert_eq!(tool_call["params"]["update"]["sessionUpdate"], "tool_call");
    assert_eq!(agent.next()["id"], 2);
    answer(&mut agent, 2, json!({"outcome": "cancelled"}));
    assert_eq!(agent.until(prompt).1, stop(prompt, "cancelled"));
}

#[test]
fn perm_cancelled_outcome_ends_cancelled() {
    let mut agent = Agent::spawn(&[], None);
    let s = agent.start();
    let (prompt, _) = ask_permission(&mut agent, &s, "/perm new", 1);
    agent.cancel(&s);
    agent.quiet(Duration::from_millis(200));
    answer(&mut agent, 1, json!({"outcome": "cancelled"}));
    let (updates, result) = agent.until(prompt);
    assert_eq!(updates, vec![status(&s, "failed")]);
    assert_eq!(result, stop(prompt, "cancelled"));
}

#[test]
fn perm_answered_after_a_cancel_still_ends_cancelled() {
    let mut agent = Agent::spawn(&[], None);
    let s = agent.start();
    let (prompt, _) = ask_permission(&mut agent, &s, "/perm new", 1);
    agent.cancel(&s);
    answer(
        &mut agent,
        1,
        json!({"outcome": "selected", "optionId": "allow_once"}),
    );
    let (updates, result) = agent.until(prompt);
    assert_eq!(updates, vec![status(&s, "failed")]);
    assert_eq!(result, stop(prompt, "cancelled"));
}

#[test]
fn perm_with_an_unknown_option_or_an_error_answer_fails_the_prompt() {
    let mut agent = Agent::spawn(&[], None);
    let s = agent.start();
    let (prompt, _) = ask_permission(&mut agent, &s, "/perm new", 1);
    answer(
        &mut agent,
        1,
        json!({"outcome": "selected", "optionId": "maybe"}),
    );
    assert_eq!(
        agent.next(),
        error(json!(prompt), -32602, "Invalid params: unknown optionId")
    );
    let prompt = agent.prompt(&s, "/perm new");
    agent.next();
    assert_eq!(agent.next()["id"], 2);
    agent.send(&json!({"jsonrpc": "2.0", "id": 2, "error": {"code": -32603, "message": "no"}}));
    assert_eq!(
        agent.next(),
        error(json!(prompt), -32603, "the permission request failed")
    );
}

#[test]
fn wait_answers_cancelled_only_after_a_cancel() {
    let mut agent = Agent::spawn(&[], None);
    let s = agent.start();
    let prompt = agent.prompt(&s, "/wait");
    agent.quiet(Duration::from_millis(300));
    agent.cancel(&s);
    assert_eq!(agent.next(), stop(prompt, "cancelled"));
    agent.quiet(Duration::from_millis(200));
}

#[test]
fn late_sends_two_chunks_after_the_cancelled_answer() {
    let mut agent = Agent::spawn(&[], None);
    let s = agent.start();
    let prompt = agent.prompt(&s, "/late");
    agent.quiet(Duration::from_millis(200));
    agent.cancel(&s);
    assert_eq!(agent.next(), stop(prompt, "cancelled"));
    assert_eq!(agent.next(), chunk(&s, "agent_message_chunk", "late 1"));
    assert_eq!(agent.next(), chunk(&s, "agent_message_chunk", "late 2"));
    agent.quiet(Duration::from_millis(200));
}

#[test]
fn slow_streams_n_chunks_100_ms_apart() {
    let mut agent = Agent::spawn(&[], None);
    let s = agent.start();
    let started = Instant::now();
    let (updates, result) = agent.turn(&s, "/slow 4 abcdef");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(updates, messages(&s, &["ech", "o: ", "abc", "def"]));
    assert_eq!(result["result"], json!({"stopReason": "end_turn"}));
}

#[test]
fn slow_stops_at_a_cancel() {
    let mut agent = Agent::spawn(&[], None);
    let s = agent.start();
    let prompt = agent.prompt(&s, "/slow 50 a long enough text to cut into fifty chunks");
    assert_eq!(agent.next(), chunk(&s, "agent_message_chunk", "e"));
    assert_eq!(agent.next(), chunk(&s, "agent_message_chunk", "c"));
    agent.cancel(&s);
    let (updates, result) = agent.until(prompt);
    assert!(updates.len() <= 1, "{updates:?}");
    assert_eq!(result, stop(prompt, "cancelled"));
    agent.quiet(Duration::from_millis(300));
}

#[test]
fn crash_sends_a_chunk_then_exits_3() {
    let mut agent = Agent::spawn(&[], None);
    let s = agent.start();
    agent.prompt(&s, "/crash");
    assert_eq!(agent.next(), chunk(&s, "agent_message_chunk", "crashing"));
    assert_eq!(agent.exit(true).code(), Some(3));
}

#[test]
fn garbage_writes_a_non_json_line_then_replies() {
    let mut agent = Agent::spawn(&[], None);
    let s = agent.start();
    let prompt = agent.prompt(&s, "/garbage hi");
    assert_eq!(agent.line(), "this line is not JSON {");
    let (updates, result) = agent.until(prompt);
    assert_eq!(updates, messages(&s, &["ech", "o: ", "hi"]));
    assert_eq!(result, stop(prompt, "end_turn"));
}

#[test]
fn error_answers_with_a_json_rpc_error() {
    let mut agent = Agent::spawn(&[], None);
    let s = agent.start();
    let prompt = agent.prompt(&s, "/error");
    assert_eq!(agent.next(), error(json!(prompt), -32603, "scripted error"));
}

#[test]
fn maxtokens_and_refusal_stop_with_their_reason() {
    let mut agent = Agent::spawn(&[], None);
    let s = agent.start();
    let (updates, result) = agent.turn(&s, "/maxtokens x");
    assert_eq!(updates, messages(&s, &["echo: x"]));
    assert_eq!(result["result"], json!({"stopReason": "max_tokens"}));
    let (updates, result) = agent.turn(&s, "/refusal");
    assert_eq!(updates, messages(&s, &["echo: "]));
    assert_eq!(result["result"], json!({"stopReason": "refusal"}));
}

#[test]
fn chunks_sends_n_numbered_chunks() {
    let mut agent = Agent::spawn(&[], None);
    let s = agent.start();
    let (updates, result) = agent.turn(&s, "/chunks 1000");
    assert_eq!(updates.len(), 1000);
    assert_eq!(updates[0], chunk(&s, "agent_message_chunk", "1 "));
    assert_eq!(updates[999], chunk(&s, "agent_message_chunk", "1000 "));
    assert_eq!(result["result"], json!({"stopReason": "end_turn"}));
    // A malformed count is a plain echo.
    let (updates, _) = agent.turn(&s, "/chunks x");
    assert_eq!(updates, messages(&s, &["echo:", " /chu", "nks x"]));
}

//! The `acp` agent against a real ACP agent process: the workspace's scripted fake agent
//! (`crates/fake-acp-agent`), over real pipes, behind a real server and socket. Each test checks
//! rows of PROTOCOL.md §9.1's mapping table or one of its failure modes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use sessionwire_server::AgentConfig;
use std::{path::PathBuf, sync::Arc};

/// The fake agent's binary, built first if this test run did not build it.
fn fake_agent() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/acp-<hash> → target/debug/sessionwire-fake-acp-agent
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("sessionwire-fake-acp-agent");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-q", "-p", "sessionwire-fake-acp-agent"])
            .status()
            .unwrap();
        assert!(status.success(), "building the fake ACP agent failed");
    }
    bin
}

/// A server whose agent is the fake ACP agent with `flags`, keeping its sessions in `state`.
async fn acp_server_in(dir: Arc<tempfile::TempDir>, flags: &str) -> TestServer {
    let state = dir.path().join("agent-state");
    std::fs::create_dir_all(&state).unwrap();
    let command = format!(
        "FAKE_ACP_STATE_DIR={} exec {} {flags}",
        state.display(),
        fake_agent().display()
    );
    let mut config = config_in(&dir);
    config.agent = AgentConfig::Acp {
        command,
        cwd: dir.path().to_path_buf(),
    };
    start_with(dir, config).await
}

async fn acp_server(flags: &str) -> TestServer {
    acp_server_in(Arc::new(tempfile::tempdir().unwrap()), flags).await
}

/// The kinds of the events among `frames`, in order (what the table maps to).
fn kinds(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["seq"].is_u64() && ty(f) != "ack" && ty(f) != "session_state")
        .map(|f| match ty(f) {
            "block_start" => format!("block_start:{}", f["blockType"].as_str().unwrap()),
            other => other.to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn message_chunks_are_one_message_and_one_text_block_and_end_turn_is_completed() {
    let server = acp_server("").await;
    let mut client = server.client().await;
    let (_, frames) = client.create_session("c1", "hello agent").await;
    assert_eq!(assistant_text(&frames), "echo: hello agent");
    assert_eq!(
        kinds(&frames),
        [
            "user_message",
            "turn_start",
            "message_start",
            "block_start:text",
            "block_delta",
            "block_delta",
            "block_delta",
            "block_end",
            "message_end",
            "turn_end"
        ],
        "{frames:#?}"
    );
    let end = frames.last().unwrap();
    assert_eq!(end["reason"], "completed");
    assert_eq!(end["stopReason"], "end_turn");
    server.stop().await;
}

#[tokio::test]
async fn thoughts_are_a_thinking_block_closed_when_the_text_starts() {
    let server = acp_server("").await;
    let mut client = server.client().await;
    let (_, frames) = client.create_session("c1", "/thought ponder").await;
    let turn = &kinds(&frames)[2..];
    assert_eq!(
        turn,
        [
            "message_start",
            "block_start:thinking",
            "block_delta",
            "block_delta",
            "block_end",
            "block_start:text",
            "block_delta",
            "block_end",
            "message_end",
            "turn_end"
        ]
    );
    assert_eq!(assistant_text(&frames), "Thinking it over.echo: ponder");
    server.stop().await;
}

#[tokio::test]
async fn a_tool_call_is_a_tool_use_block_with_its_input_and_its_result() {
    let server = acp_server("").await;
    let mut client = server.client().await;
    let (_, frames) = client.create_session("c1", "/tool").await;
    let start = frames
        .iter()
        .find(|f| ty(f) == "block_start" && f["blockType"] == "tool_use")
        .unwrap();
    assert_eq!(start["blockId"], "call-1");
    assert_eq!(start["toolName"], "Read /fake/README.md");
    let end = frames
        .iter()
        .find(|f| ty(f) == "block_end" && f["blockId"] == "call-1")
        .unwrap();
    assert_eq!(end["input"], json!({"path": "/fake/README.md"}));
    let result = frames.iter().find(|f| ty(f) == "tool_result").unwrap();
    assert_eq!(result["toolId"], "call-1");
    assert_eq!(result["result"], json!({"text": "# fake README"}));
    assert_eq!(result["isError"], false);
    assert_eq!(assistant_text(&frames), "read it");
    assert_eq!(frames.last().unwrap()["reason"], "completed");
    server.stop().await;
}

#[tokio::test]
async fn the_agents_stop_reasons_are_kept() {
    let server = acp_server("").await;
    let mut client = server.client().await;
    let (a, frames) = client.create_session("c1", "/maxtokens long").await;
    assert_eq!(frames.last().unwrap()["stopReason"], "max_tokens");
    assert_eq!(frames.last().unwrap()["reason"], "completed");
    client.send_message(Some(&a), "c2", "/refusal no").await;
    let frames = client.recv_until(is_turn_end).await;
    assert_eq!(frames.last().unwrap()["stopReason"], "refusal");
    server.stop().await;
}

#[tokio::test]
async fn a_json_rpc_error_ends_the_turn_with_error_and_the_session_goes_on() {
    let server = acp_server("").await;
    let mut client = server.client().await;
    let (a, frames) = client.create_session("c1", "/error").await;
    let end = frames.last().unwrap();
    assert_eq!(end["reason"], "error");
    assert!(
        end["error"].as_str().unwrap().contains("scripted error"),
        "{end}"
    );
    client.send_message(Some(&a), "c2", "again").await;
    let frames = client.recv_until(is_turn_end).await;
    assert_eq!(assistant_text(&frames), "echo: again");
    server.stop().await;
}

#[tokio::test]
async fn garbage_on_stdout_is_skipped_and_the_turn_completes() {
    let server = acp_server("").await;
    let mut client = server.client().await;
    let (_, frames) = client.create_session("c1", "/garbage still fine").await;
    assert_eq!(assistant_text(&frames), "echo: still fine");
    assert_eq!(frames.last().unwrap()["reason"], "completed");
    server.stop().await;
}

#[tokio::test]
async fn an_interrupt_cancels_the_prompt_and_late_updates_are_not_shown() {
    let server = acp_server("").await;
    let mut client = server.client().await;
    client.send_message(None, "c1", "/late").await;
    let frames = client.recv_until(|f| ty(f) == "turn_start").await;
    let a = frames.iter().find(|f| ty(f) == "session_created").unwrap()["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    client
        .send(json!({"type": "interrupt", "sessionId": a, "clientMsgId": "i1", "text": "after"}))
        .await;
    let frames = client
        .recv_until(|f| is_turn_end(f) && f["reason"] == "completed")
        .await;
    let ends: Vec<&Value> = frames.iter().filter(|f| is_turn_end(f)).collect();
    assert_eq!(ends[0]["reason"], "interrupted");
    // The next turn ran once the agent had answered the cancelled prompt; `late 1`/`late 2`
    // (sent after that answer) are in neither turn.
    assert_eq!(assistant_text(&frames), "echo: after");
    client.sync().await;
    server.stop().await;
}

#[tokio::test]
async fn an_agent_that_crashes_mid_turn_ends_it_with_error_and_the_next_send_resumes() {
    let server = acp_server("").await;
    let mut client = server.client().await;
    let (a, frames) = client.create_session("c1", "first").await;
    assert_eq!(assistant_text(&frames), "echo: first");
    client.send_message(Some(&a), "c2", "/crash").await;
    let frames = client
        .recv_until(|f| ty(f) == "session_state" && f["state"] == "ENDED")
        .await;
    let end = frames.iter().find(|f| is_turn_end(f)).unwrap();
    assert_eq!(end["reason"], "error");
    assert!(
        end["error"]
            .as_str()
            .unwrap()
            .contains("the agent exited (exit status: 3)"),
        "{end}"
    );
    assert_eq!(assistant_text(&frames), "crashing");
    // A new process, on the agent's session/resume of the same session.
    client.send_message(Some(&a), "c3", "back").await;
    let frames = client.recv_until(is_turn_end).await;
    assert_eq!(assistant_text(&frames), "echo: back");
    assert_eq!(frames.last().unwrap()["reason"], "completed");
    server.stop().await;
}

#[tokio::test]
async fn messages_queued_behind_a_turn_whose_agent_died_run_on_the_next_start_in_order() {
    let server = acp_server("").await;
    let mut client = server.client().await;
    let (a, _) = client.create_session("c1", "first").await;
    // A turn that waits, and behind it one that kills the agent, then one acked message.
    client.send_message(Some(&a), "c2", "/wait").await;
    client.recv_until(|f| ty(f) == "turn_start").await;
    client.send_message(Some(&a), "c3", "/crash").await;
    client.send_message(Some(&a), "c4", "queued").await;
    client
        .recv_until(|f| ty(f) == "ack" && f["clientMsgId"] == "c4")
        .await;
    client
        .send(json!({"type": "interrupt", "sessionId": a, "clientMsgId": "i1"}))
        .await;
    client
        .recv_until(|f| ty(f) == "session_state" && f["state"] == "ENDED")
        .await;
    // The next message starts a runtime, which runs the acked `queued` first, then it.
    client.send_message(Some(&a), "c5", "back").await;
    let first = client.recv_until(is_turn_end).await;
    assert_eq!(assistant_text(&first), "echo: queued", "{first:#?}");
    let second = client.recv_until(is_turn_end).await;
    assert_eq!(assistant_text(&second), "echo: back", "{second:#?}");
    server.stop().await;
}

#[tokio::test]
async fn after_a_restart_the_agent_session_is_resumed_or_loaded_not_made_anew() {
    for flags in ["", "--no-resume"] {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let server = acp_server_in(dir.clone(), flags).await;
        let mut client = server.client().await;
        let (a, _) = client.create_session("c1", "remember me").await;
        drop(client);
        server.stop().await;
        let sessions: Vec<_> = std::fs::read_dir(dir.path().join("agent-state"))
            .unwrap()
            .collect();
        assert_eq!(sessions.len(), 1, "one agent session ({flags})");

        let server = acp_server_in(dir.clone(), flags).await;
        let mut client = server.client().await;
        client.send_message(Some(&a), "c2", "again").await;
        let frames = client.recv_until(is_turn_end).await;
        // session/load replays the history; none of it is shown again.
        assert_eq!(assistant_text(&frames), "echo: again", "{flags}");
        let sessions: Vec<_> = std::fs::read_dir(dir.path().join("agent-state"))
            .unwrap()
            .collect();
        assert_eq!(sessions.len(), 1, "still the one agent session ({flags})");
        server.stop().await;
    }
}

#[tokio::test]
async fn an_agent_that_never_initializes_or_exits_at_once_gives_an_error_not_a_spinner() {
    for flags in ["--exit-on-start 4", "--hang-initialize"] {
        let server = acp_server(flags).await;
        let mut client = server.client().await;
        let (_, frames) = client.create_session("c1", "anyone there?").await;
        let end = frames.last().unwrap();
        assert_eq!(end["reason"], "error", "{flags}");
        assert!(
            end["error"]
                .as_str()
                .unwrap()
                .contains("did not initialize"),
            "{flags}: {end}"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn tool_calls_carry_their_progress_and_the_plan_is_streamed() {
    let server = acp_server("").await;
    let mut client = server.client().await;
    let (a, frames) = client.create_session("c1", "/tool").await;
    let updates: Vec<&Value> = frames.iter().filter(|f| ty(f) == "tool_update").collect();
    let statuses: Vec<&str> = updates
        .iter()
        .map(|f| f["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pending", "in_progress", "completed"]);
    assert_eq!(updates[0]["toolId"], "call-1");
    assert_eq!(updates[0]["kind"], "read");
    assert_eq!(updates[0]["title"], "Read /fake/README.md");
    assert_eq!(
        updates[0]["locations"],
        json!([{"path": "/fake/README.md", "line": 1}])
    );
    // ACP's {type:"content", content:{type:"text"}} is sessionwire's {type:"text"}.
    assert_eq!(
        updates[2]["content"],
        json!([{"type": "text", "text": "# fake README"}])
    );
    assert!(
        updates[1].get("title").is_none(),
        "a field left out stays out"
    );

    client.send_message(Some(&a), "c2", "/plan").await;
    let frames = client.recv_until(is_turn_end).await;
    let plans: Vec<Vec<&str>> = frames
        .iter()
        .filter(|f| ty(f) == "plan")
        .map(|f| {
            f["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["status"].as_str().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        plans,
        [
            ["pending", "pending", "pending"],
            ["completed", "in_progress", "pending"],
            ["completed", "completed", "completed"]
        ]
    );
    assert_eq!(
        frames.iter().find(|f| ty(f) == "plan").unwrap()["entries"][0]["content"],
        "Read the code"
    );
    server.stop().await;
}

/// `/perm T` of the fake agent: its tool call, then its `session/request_permission` as a
/// `permission_request` about that tool; returns the session id, the request and the frames.
async fn acp_permission(client: &mut Client, text: &str) -> (String, Value, Vec<Value>) {
    client
        .send_message(None, "c1", &format!("/perm {text}"))
        .await;
    let frames = client.recv_until(|f| ty(f) == "permission_request").await;
    let session = frames.iter().find(|f| ty(f) == "session_created").unwrap()["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let request = frames.last().unwrap().clone();
    let tool = frames
        .iter()
        .find(|f| ty(f) == "block_start" && f["blockType"] == "tool_use")
        .unwrap();
    assert_eq!(
        request["toolId"], tool["blockId"],
        "the request names its tool block"
    );
    assert_eq!(request["title"], "Edit /fake/notes.txt");
    assert_eq!(
        request["options"],
        json!([
            {"optionId": "allow_once", "name": "Allow once", "kind": "allow_once"},
            {"optionId": "reject_once", "name": "Reject once", "kind": "reject_once"}
        ])
    );
    assert_eq!(
        request["content"],
        json!([{"type": "diff", "path": "/fake/notes.txt", "oldText": "old text", "newText": text}])
    );
    assert_ne!(
        request["requestId"],
        json!(2),
        "a server-made id, not the JSON-RPC one"
    );
    (session, request, frames)
}

#[tokio::test]
async fn a_permission_request_is_answered_from_another_connection_and_the_agent_goes_on() {
    let server = acp_server("").await;
    let mut a = server.client().await;
    let (session, request, _) = acp_permission(&mut a, "new text").await;
    let mut b = server.client().await;
    b.send(json!({"type": "switch_session", "sessionId": session, "lastSeq": 0}))
        .await;
    b.recv_until(|f| ty(f) == "permission_request").await;
    b.send(
        json!({"type": "respond_permission", "sessionId": session, "clientMsgId": "b1",
        "requestId": request["requestId"], "optionId": "allow_once"}),
    )
    .await;
    let frames = a.recv_until(is_turn_end).await;
    let resolved = frames
        .iter()
        .find(|f| ty(f) == "permission_resolved")
        .unwrap();
    assert_eq!(resolved["outcome"], "selected");
    assert_eq!(resolved["optionId"], "allow_once");
    assert_eq!(resolved["clientMsgId"], "b1");
    let updates: Vec<&Value> = frames.iter().filter(|f| ty(f) == "tool_update").collect();
    assert_eq!(updates.last().unwrap()["status"], "completed");
    assert_eq!(assistant_text(&frames), "echo: new text");
    assert_eq!(frames.last().unwrap()["reason"], "completed");
    let from_b = b.recv_until(is_turn_end).await;
    assert!(from_b
        .iter()
        .any(|f| ty(f) == "ack" && f["clientMsgId"] == "b1" && f["seq"] == resolved["seq"]));

    // Rejected: the tool fails and the agent says so.
    a.send_message(Some(&session), "c2", "/perm other").await;
    let asked = a.recv_until(|f| ty(f) == "permission_request").await;
    let request = asked.last().unwrap();
    a.send(
        json!({"type": "respond_permission", "sessionId": session, "clientMsgId": "a2",
        "requestId": request["requestId"], "optionId": "reject_once"}),
    )
    .await;
    let frames = a.recv_until(is_turn_end).await;
    assert_eq!(assistant_text(&frames), "denied");
    let updates: Vec<&Value> = frames.iter().filter(|f| ty(f) == "tool_update").collect();
    assert_eq!(updates.last().unwrap()["status"], "failed");
    server.stop().await;
}

#[tokio::test]
async fn an_interrupt_answers_the_agents_permission_request_cancelled_and_the_next_turn_runs() {
    let server = acp_server("").await;
    let mut client = server.client().await;
    let (session, request, _) = acp_permission(&mut client, "x").await;
    client
        .send(json!({"type": "interrupt", "sessionId": session, "clientMsgId": "i1", "text": "after"}))
        .await;
    let frames = client
        .recv_until(|f| is_turn_end(f) && f["reason"] == "completed")
        .await;
    let resolved: Vec<&Value> = frames
        .iter()
        .filter(|f| ty(f) == "permission_resolved")
        .collect();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["outcome"], "cancelled");
    assert_eq!(resolved[0]["requestId"], request["requestId"]);
    let ends: Vec<&Value> = frames.iter().filter(|f| is_turn_end(f)).collect();
    assert_eq!(ends[0]["reason"], "interrupted");
    assert!(resolved[0]["seq"].as_u64() < ends[0]["seq"].as_u64());
    // The agent heard `cancelled`, answered its prompt, and then ran the next one.
    assert_eq!(assistant_text(&frames), "echo: after");
    server.stop().await;
}

#[tokio::test]
async fn a_crash_with_a_request_waiting_expires_it_and_the_agent_session_goes_on() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let server = acp_server_in(dir.clone(), "").await;
    let mut client = server.client().await;
    let (session, request, _) = acp_permission(&mut client, "x").await;
    drop(client);
    let (dir, config) = server.crash().await;

    let server = start_with(dir.clone(), config).await;
    let mut client = server.client().await;
    client
        .send(json!({"type": "reconnect", "sessions": [{"sessionId": session, "lastSeq": 0}]}))
        .await;
    let log = client.recv_until(|f| ty(f) == "reconnected").await;
    let resolved: Vec<&Value> = log
        .iter()
        .filter(|f| ty(f) == "permission_resolved")
        .collect();
    assert_eq!(resolved.len(), 1, "the recovered log: {log:#?}");
    assert_eq!(resolved[0]["outcome"], "expired");
    assert_eq!(resolved[0]["requestId"], request["requestId"]);
    let end = log.iter().rfind(|f| is_turn_end(f)).unwrap();
    assert_eq!(end["error"], "server_restart");
    assert_dense(&events_of(&log, &session), 1);

    // The next message resumes the agent's own session; nothing of before is shown again.
    client.send_message(Some(&session), "c2", "again").await;
    let frames = client.recv_until(is_turn_end).await;
    assert_eq!(assistant_text(&frames), "echo: again");
    assert_eq!(frames.last().unwrap()["reason"], "completed");
    let sessions = std::fs::read_dir(dir.path().join("agent-state"))
        .unwrap()
        .count();
    assert_eq!(sessions, 1, "still the one agent session");
    server.stop().await;
}

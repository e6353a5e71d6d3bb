//! Methods, sessions on disk and command-line flags, against the real binary.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{chunk, error, messages, stop, temp_dir, Agent};
use serde_json::json;

#[test]
fn initialize_advertises_load_and_resume() {
    let mut agent = Agent::spawn(&[], None);
    assert_eq!(
        agent.init(),
        json!({
            "protocolVersion": 1,
            "agentCapabilities": {
                "loadSession": true,
                "promptCapabilities": {"image": false, "audio": false, "embeddedContext": false},
                "sessionCapabilities": {"resume": {}},
            },
            "agentInfo": {
                "name": "sessionwire-fake-acp-agent",
                "title": "sessionwire fake ACP agent",
                "version": env!("CARGO_PKG_VERSION"),
            },
            "authMethods": [],
        })
    );
    assert!(agent.exit(false).success());
}

#[test]
fn new_sessions_get_fresh_ids_and_prompts_echo_in_three_chunks() {
    let mut agent = Agent::spawn(&[], None);
    let session = agent.start();
    assert!(session.starts_with("fake-"), "{session}");
    assert_ne!(agent.new_session(), session);
    let id = agent.prompt(&session, "hello world");
    let (updates, answer) = agent.until(id);
    assert_eq!(updates, messages(&session, &["echo: ", "hello ", "world"]));
    assert_eq!(answer, stop(id, "end_turn"));
    // Text blocks are joined; other blocks are ignored.
    let id = agent.request(
        "session/prompt",
        json!({"sessionId": session, "prompt": [
            {"type": "text", "text": "ab"},
            {"type": "image", "data": "", "mimeType": "image/png"},
            {"type": "text", "text": "c"},
        ]}),
    );
    let (updates, answer) = agent.until(id);
    assert_eq!(updates, messages(&session, &["ech", "o: ", "abc"]));
    assert_eq!(answer, stop(id, "end_turn"));
}

#[test]
fn bad_requests_get_json_rpc_errors() {
    let mut agent = Agent::spawn(&[], None);
    let session = agent.start();
    let (_, answer) = agent.call("session/fork", json!({}));
    assert_eq!(
        answer,
        error(answer["id"].clone(), -32601, "Method not found")
    );
    let id = agent.prompt("fake-nope", "hi");
    assert_eq!(
        agent.until(id).1,
        error(json!(id), -32002, "Resource not found: no such session")
    );
    let (_, answer) = agent.call("session/prompt", json!({"sessionId": session}));
    assert_eq!(
        answer,
        error(answer["id"].clone(), -32602, "Invalid params: prompt")
    );
    agent.send_line("not json");
    assert_eq!(agent.next(), error(json!(null), -32700, "Parse error"));
    let (_, answer) = agent.call("session/load", json!({"sessionId": "../etc/passwd"}));
    assert_eq!(
        answer,
        error(
            answer["id"].clone(),
            -32002,
            "Resource not found: no such session"
        )
    );
    let (_, answer) = agent.call("session/resume", json!({"sessionId": "fake-nope"}));
    assert_eq!(
        answer,
        error(
            answer["id"].clone(),
            -32002,
            "Resource not found: no such session"
        )
    );
    // Unknown notifications and a cancel with nothing running say nothing.
    agent.send(&json!({"jsonrpc": "2.0", "method": "whatever", "params": {}}));
    agent.cancel(&session);
    agent.quiet(Duration::from_millis(200));
}

#[test]
fn a_second_prompt_while_one_runs_is_refused() {
    let mut agent = Agent::spawn(&[], None);
    let session = agent.start();
    let waiting = agent.prompt(&session, "/wait");
    let id = agent.prompt(&session, "hi");
    assert_eq!(
        agent.next(),
        error(
            json!(id),
            -32603,
            "a prompt is already running in this session"
        )
    );
    agent.cancel(&session);
    assert_eq!(agent.next(), stop(waiting, "cancelled"));
    // Idle again: prompts work.
    let id = agent.prompt(&session, "hi");
    assert_eq!(agent.until(id).1, stop(id, "end_turn"));
}

#[test]
fn load_replays_history_and_resume_does_not_across_processes() {
    let dir = temp_dir("load");
    let mut first = Agent::spawn(&[], Some(&dir));
    let session = first.start();
    first.turn(&session, "one");
    first.turn(&session, "/tool");
    first.turn(&session, "/error");
    assert!(first.exit(false).success());
    assert!(dir.join(format!("{session}.json")).is_file());

    let mut second = Agent::spawn(&[], Some(&dir));
    second.init();
    // A session not loaded or resumed in this process cannot be prompted.
    let id = second.prompt(&session, "x");
    assert_eq!(
        second.until(id).1,
        error(json!(id), -32002, "Resource not found: no such session")
    );
    let (replay, answer) = second.call(
        "session/load",
        json!({"sessionId": session, "cwd": "/tmp", "mcpServers": []}),
    );
    assert_eq!(
        replay,
        vec![
            chunk(&session, "user_message_chunk", "one"),
            chunk(&session, "agent_message_chunk", "echo: one"),
            chunk(&session, "user_message_chunk", "/tool"),
            chunk(&session, "agent_message_chunk", "read it"),
            chunk(&session, "user_message_chunk", "/error"),
        ]
    );
    assert_eq!(answer["result"], json!({}));
    second.turn(&session, "two");
    drop(second);

    let mut third = Agent::spawn(&[], Some(&dir));
    third.init();
    let (replay, answer) = third.call(
        "session/resume",
        json!({"sessionId": session, "cwd": "/tmp", "mcpServers": []}),
    );
    assert!(replay.is_empty());
    assert_eq!(answer["result"], json!({}));
    // The history went on: this is turn 5, so its tool call is call-5.
    let (updates, _) = third.turn(&session, "/tool");
    assert_eq!(updates[0]["params"]["update"]["toolCallId"], "call-5");
    drop(third);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn without_a_state_dir_sessions_live_in_memory() {
    let mut agent = Agent::spawn(&[], None);
    let session = agent.start();
    agent.turn(&session, "hi");
    let (replay, answer) = agent.call("session/load", json!({"sessionId": session}));
    assert_eq!(
        replay,
        vec![
            chunk(&session, "user_message_chunk", "hi"),
            chunk(&session, "agent_message_chunk", "echo: hi"),
        ]
    );
    assert_eq!(answer["result"], json!({}));
    drop(agent);
    let mut other = Agent::spawn(&[], None);
    other.init();
    let (_, answer) = other.call("session/resume", json!({"sessionId": session}));
    assert_eq!(answer["error"]["code"], -32002);
}

#[test]
fn no_load_and_no_resume_switch_the_capabilities_off() {
    let dir = temp_dir("flags");
    let mut agent = Agent::spawn(&["--no-load"], Some(&dir));
    let caps = agent.init()["agentCapabilities"].clone();
    assert_eq!(caps["loadSession"], false);
    assert_eq!(caps["sessionCapabilities"], json!({"resume": {}}));
    let session = agent.new_session();
    let (_, answer) = agent.call("session/load", json!({"sessionId": session}));
    assert_eq!(
        answer,
        error(answer["id"].clone(), -32601, "Method not found")
    );
    let (_, answer) = agent.call("session/resume", json!({"sessionId": session}));
    assert_eq!(answer["result"], json!({}));
    drop(agent);

    let mut agent = Agent::spawn(&["--no-resume"], Some(&dir));
    let caps = agent.init()["agentCapabilities"].clone();
    assert_eq!(caps["loadSession"], true);
    assert_eq!(caps["sessionCapabilities"], json!({}));
    let (_, answer) = agent.call("session/resume", json!({"sessionId": session}));
    assert_eq!(
        answer,
        error(answer["id"].clone(), -32601, "Method not found")
    );
    let (replay, answer) = agent.call("session/load", json!({"sessionId": session}));
    assert!(replay.is_empty());
    assert_eq!(answer["result"], json!({}));
    drop(agent);

    let mut agent = Agent::spawn(&["--no-load", "--no-resume"], Some(&dir));
    let caps = agent.init()["agentCapabilities"].clone();
    assert_eq!(caps["loadSession"], false);
    assert_eq!(caps["sessionCapabilities"], json!({}));
    drop(agent);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hang_initialize_never_answers_it() {
    let mut agent = Agent::spawn(&["--hang-initialize"], None);
    agent.request("initialize", json!({"protocolVersion": 1}));
    agent.quiet(Duration::from_millis(500));
    // The rest still works.
    let session = agent.new_session();
    let id = agent.prompt(&session, "hi");
    assert_eq!(agent.until(id).1, stop(id, "end_turn"));
}

#[test]
fn exit_on_start_exits_with_its_status_before_reading() {
    let agent = Agent::spawn(&["--exit-on-start", "7"], None);
    assert_eq!(agent.exit(true).code(), Some(7));
    let agent = Agent::spawn(&["--exit-on-start", "0"], None);
    assert_eq!(agent.exit(true).code(), Some(0));
}

#[test]
fn an_unknown_argument_exits_with_status_2() {
    let agent = Agent::spawn(&["--bogus"], None);
    assert_eq!(agent.exit(true).code(), Some(2));
}

#[test]
fn closing_stdin_exits_0_even_mid_turn() {
    let mut agent = Agent::spawn(&[], None);
    let session = agent.start();
    agent.prompt(&session, "/wait");
    assert_eq!(agent.exit(false).code(), Some(0));
}

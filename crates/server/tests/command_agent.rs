//! The `command` agent with real programs: stdin prompt, environment, streaming, failure, and
//! being interrupted (the whole process group is killed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;
use sessionwire_server::AgentConfig;
use std::time::Duration;

async fn command_server(command: &str) -> TestServer {
    let command = command.to_owned();
    start_config(move |config| config.agent = AgentConfig::Command { command }).await
}

#[tokio::test]
async fn the_prompt_goes_to_stdin_and_stdout_streams_back() {
    let server = command_server(
        r#"printf 'got: '; cat; printf ' in %s' "$SESSIONWIRE_SESSION_ID"; echo oops >&2"#,
    )
    .await;
    let mut client = server.client().await;
    let (a, frames) = client.create_session("c1", "hello agent").await;
    assert_eq!(assistant_text(&frames), format!("got: hello agent in {a}"));
    assert_eq!(frames.last().unwrap()["reason"], "completed");
    server.stop().await;
}

#[tokio::test]
async fn output_is_streamed_as_it_arrives() {
    let script = r#"python3 -u -c '
import sys, time
for word in ["one ", "two ", "three"]:
    sys.stdout.write(word); sys.stdout.flush(); time.sleep(0.15)
'"#;
    let server = command_server(script).await;
    let mut client = server.client().await;
    let (_, frames) = client.create_session("c1", "go").await;
    let deltas: Vec<&str> = frames
        .iter()
        .filter(|f| ty(f) == "block_delta")
        .map(|f| f["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, ["one ", "two ", "three"]);
    server.stop().await;
}

#[tokio::test]
async fn a_non_zero_exit_ends_the_turn_with_error() {
    let server = command_server("echo partial; exit 3").await;
    let mut client = server.client().await;
    let (_, frames) = client.create_session("c1", "go").await;
    let end = frames.last().unwrap();
    assert_eq!(end["reason"], "error");
    assert!(end["error"].as_str().unwrap().contains('3'), "{end}");
    assert_eq!(assistant_text(&frames), "partial\n");
    server.stop().await;
}

fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

#[tokio::test]
async fn an_interrupt_kills_the_program_and_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    // A child in the background that would outlive a kill of `sh` alone.
    let command = format!(
        "sleep 60 & echo $! > {}; echo started; wait",
        pid_file.display()
    );
    let server = command_server(&command).await;
    let mut client = server.client().await;
    client.send_message(None, "c1", "go").await;
    let frames = client.recv_until(|f| ty(f) == "block_delta").await;
    let a = frames[0]["sessionId"].as_str().unwrap().to_owned();
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(pid));
    client
        .send(json!({"type": "interrupt", "sessionId": a, "clientMsgId": "i1"}))
        .await;
    let frames = client.recv_until(is_turn_end).await;
    assert_eq!(frames.last().unwrap()["reason"], "interrupted");
    // Failure guard only: the kill is immediate, reaping by init may take a moment.
    tokio::time::timeout(GUARD, async {
        while alive(pid) && !zombie(pid) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the background child survived the interrupt");
    server.stop().await;
}

/// A killed process not yet reaped by its parent shows as state Z.
fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn a_stop_kills_the_program_and_ends_the_session() {
    let server = command_server("echo started; sleep 60").await;
    let mut client = server.client().await;
    client.send_message(None, "c1", "go").await;
    let frames = client.recv_until(|f| ty(f) == "block_delta").await;
    let a = frames[0]["sessionId"].as_str().unwrap().to_owned();
    client.send(json!({"type": "stop", "sessionId": a})).await;
    let frames = client.recv_until(|f| f["state"] == "ENDED").await;
    assert!(frames
        .iter()
        .any(|f| is_turn_end(f) && f["reason"] == "interrupted"));
    assert_eq!(frames.last().unwrap()["reason"], "stopped");
    server.stop().await;
}

//! Replay on `reconnect` and `switch_session`, and recovery after a crash.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn reconnect_replays_every_missed_event_densely_with_an_exact_count() {
    let server = start().await;
    let mut client = server.client().await;
    let (a, frames) = client.create_session("a1", "one").await;
    let held = events_of(&frames, &a).last().unwrap()["seq"]
        .as_u64()
        .unwrap();
    drop(client);
    // Events happen while the first client is away.
    let mut other = server.client().await;
    other.send_message(Some(&a), "a2", "two").await;
    other.recv_until(is_turn_end).await;
    drop(other);

    let mut client = server.client().await;
    client
        .send(json!({"type": "reconnect", "sessions": [{"sessionId": a, "lastSeq": held}]}))
        .await;
    let frames = client.recv_until(|f| ty(f) == "reconnected").await;
    let reply = frames.last().unwrap();
    let replayed = &frames[..frames.len() - 1];
    let events = events_of(replayed, &a);
    assert_eq!(events.len(), replayed.len());
    assert_dense(&events, held + 1);
    let session = &reply["sessions"][0];
    assert_eq!(session["replayed"].as_u64().unwrap(), events.len() as u64);
    assert_eq!(
        session["lastSeq"].as_u64().unwrap(),
        held + events.len() as u64
    );
    assert_eq!(session["running"], false);
    assert!(replayed
        .iter()
        .any(|f| ty(f) == "user_message" && f["messageId"] == "a2"));
    assert_eq!(assistant_text(replayed), "echo: two");
    server.stop().await;
}

#[tokio::test]
async fn reconnect_during_a_turn_joins_replay_and_live_without_gap_or_duplicate() {
    let server = start().await;
    let mut client = server.client().await;
    client
        .send_message(None, "a1", "/slow 20 abcdefghijklmnopqrstuvwxyz")
        .await;
    let frames = client.recv_until(|f| ty(f) == "block_delta").await;
    let a = frames[0]["sessionId"].as_str().unwrap().to_owned();
    drop(client);
    let mut client = server.client().await;
    client
        .send(json!({"type": "reconnect", "sessions": [{"sessionId": a, "lastSeq": 2}]}))
        .await;
    let frames = client.recv_until(is_turn_end).await;
    let reconnected = frames.iter().position(|f| ty(f) == "reconnected").unwrap();
    assert_eq!(
        frames[reconnected]["sessions"][0]["replayed"]
            .as_u64()
            .unwrap(),
        reconnected as u64
    );
    assert_eq!(frames[reconnected]["sessions"][0]["running"], true);
    let events = events_of(&frames, &a);
    assert_dense(&events, 3);
    assert_eq!(assistant_text(&frames), "echo: abcdefghijklmnopqrstuvwxyz");
    server.stop().await;
}

#[tokio::test]
async fn reconnect_to_an_unknown_session_is_an_error_for_that_session_only() {
    let server = start().await;
    let mut client = server.client().await;
    let (a, _) = client.create_session("a1", "one").await;
    client
        .send(json!({"type": "reconnect", "sessions": [{"sessionId": "nope", "lastSeq": 0}, {"sessionId": a, "lastSeq": 1000}]}))
        .await;
    let frames = client.recv_until(|f| ty(f) == "reconnected").await;
    assert_eq!(frames[0]["code"], "session_not_found");
    assert_eq!(frames[0]["sessionId"], "nope");
    let sessions = frames.last().unwrap()["sessions"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["replayed"], 0);
    server.stop().await;
}

/// A crash mid-turn: the server is dropped without shutdown and the database reopened. The open
/// turn is ended with `error`, the session is ENDED (`server_restart`), a reconnect replays it,
/// a send resumes it, and a retried clientMsgId is refused as a duplicate.
#[tokio::test]
async fn crash_then_reconnect_resume_and_duplicate_refused() {
    let server = start().await;
    let epoch1 = {
        let mut client = Client::connect(&server.url()).await;
        client.hello(None).await["epoch"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let mut client = server.client().await;
    let (a, frames) = client.create_session("m1", "before").await;
    let first_ack = frames.iter().find(|f| ty(f) == "ack").unwrap()["seq"].clone();
    client
        .send_message(
            Some(&a),
            "m2",
            "/slow 50 abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmn",
        )
        .await;
    let frames = client.recv_until(|f| ty(f) == "block_delta").await;
    let held = events_of(&frames, &a).last().unwrap()["seq"]
        .as_u64()
        .unwrap();
    drop(client);
    let (dir, config) = server.crash().await;

    let server = start_with(dir, config).await;
    let mut client = Client::connect(&server.url()).await;
    let welcome = client.hello(None).await;
    assert_ne!(
        welcome["epoch"].as_str().unwrap(),
        epoch1,
        "a new epoch per process"
    );
    client
        .send(json!({"type": "reconnect", "sessions": [{"sessionId": a, "lastSeq": held}]}))
        .await;
    let frames = client.recv_until(|f| ty(f) == "reconnected").await;
    let reply = frames.last().unwrap()["sessions"][0].clone();
    let replayed = &frames[..frames.len() - 1];
    assert_eq!(reply["replayed"].as_u64().unwrap(), replayed.len() as u64);
    assert_eq!(reply["state"], "ENDED");
    assert_eq!(reply["running"], false);
    assert_dense(&events_of(replayed, &a), held + 1);
    let turn_end = replayed
        .iter()
        .find(|f| is_turn_end(f))
        .expect("the open turn is closed");
    assert_eq!(turn_end["reason"], "error");
    assert_eq!(turn_end["error"], "server_restart");
    let last = replayed.last().unwrap();
    assert_eq!(last["state"], "ENDED");
    assert_eq!(last["reason"], "server_restart");

    // Resume.
    client.send_message(Some(&a), "m3", "after").await;
    let frames = client.recv_until(is_turn_end).await;
    assert_eq!(frames[0]["state"], "CREATED");
    assert_eq!(frames[0]["previous"], "ENDED");
    assert_eq!(assistant_text(&frames), "echo: after");
    // A clientMsgId from before the crash is a duplicate.
    client.send_message(Some(&a), "m1", "before").await;
    let dup = client.recv_until(|f| ty(f) == "ack").await.pop().unwrap();
    assert_eq!(dup["duplicate"], true);
    assert_eq!(dup["seq"], first_ack);
    server.stop().await;
}

#[tokio::test]
async fn a_graceful_restart_keeps_every_event_and_ends_running_sessions() {
    let server = start().await;
    let mut client = server.client().await;
    let (a, frames) = client.create_session("m1", "kept").await;
    let held = events_of(&frames, &a).last().unwrap()["seq"]
        .as_u64()
        .unwrap();
    let dir = server.dir.clone();
    let config = server.config.clone();
    drop(client);
    server.stop().await;
    let server = start_with(dir, config).await;
    let mut client = server.client().await;
    client
        .send(json!({"type": "switch_session", "sessionId": a}))
        .await;
    let switched = client.recv().await;
    assert_eq!(switched["state"], "ENDED");
    let frames = client.recv_until(|f| f["state"] == "ENDED").await;
    assert_dense(&events_of(&frames, &a), 1);
    assert!(frames.len() as u64 > held);
    assert_eq!(frames.last().unwrap()["reason"], "server_shutdown");
    server.stop().await;
}

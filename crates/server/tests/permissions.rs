//! Permission requests (PROTOCOL.md §5.1) through the echo agent's `/perm`: the first answer
//! wins across connections, retries are duplicates, bad answers are refused, and a request is
//! cancelled by interrupt, stop and close and expires on a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};

fn is_request(frame: &Value) -> bool {
    ty(frame) == "permission_request"
}

/// Creates a session whose first turn is `/perm text` and reads up to its permission request;
/// returns the session id, the request id and the frames so far.
async fn ask(client: &mut Client, client_msg_id: &str, text: &str) -> (String, String, Vec<Value>) {
    client
        .send_message(None, client_msg_id, &format!("/perm {text}"))
        .await;
    let frames = client.recv_until(is_request).await;
    let session = frames.iter().find(|f| ty(f) == "session_created").unwrap()["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let request = frames.last().unwrap();
    assert_eq!(request["title"], "Edit notes.txt");
    assert_eq!(
        request["options"],
        json!([
            {"optionId": "allow", "name": "Allow", "kind": "allow_once"},
            {"optionId": "reject", "name": "Reject", "kind": "reject_once"}
        ])
    );
    assert_eq!(request["content"][0]["type"], "diff");
    assert_eq!(request["content"][0]["newText"], text);
    let tool = frames
        .iter()
        .find(|f| ty(f) == "tool_update")
        .expect("the tool's update before the request");
    assert_eq!(tool["status"], "pending");
    assert_eq!(request["toolId"], tool["toolId"]);
    let request_id = request["requestId"].as_str().unwrap().to_owned();
    (session, request_id, frames)
}

fn answer(session: &str, client_msg_id: &str, request: &str, option: &str) -> Value {
    json!({"type": "respond_permission", "sessionId": session, "clientMsgId": client_msg_id,
        "requestId": request, "optionId": option})
}

/// Every event of the session, replayed on a fresh connection.
async fn log_of(server: &TestServer, session: &str) -> Vec<Value> {
    let mut reader = server.client().await;
    reader
        .send(json!({"type": "reconnect", "sessions": [{"sessionId": session, "lastSeq": 0}]}))
        .await;
    let mut frames = reader.recv_until(|f| ty(f) == "reconnected").await;
    frames.pop();
    frames
}

/// Reads until the turn's end and the reply (ack or error) to this connection's answer
/// `client_msg_id`, in whichever order they come: nothing orders a losing answer's error
/// before the turn the winner let run.
async fn until_turn_end_and_reply(client: &mut Client, client_msg_id: &str) -> Vec<Value> {
    let is_reply = |f: &Value| {
        (ty(f) == "ack" && f["clientMsgId"] == client_msg_id)
            || (ty(f) == "error" && f["ref"] == client_msg_id)
    };
    let mut frames = client.recv_until(|f| is_turn_end(f) || is_reply(f)).await;
    let rest = if is_turn_end(frames.last().unwrap()) {
        client.recv_until(is_reply).await
    } else {
        client.recv_until(is_turn_end).await
    };
    frames.extend(rest);
    frames
}

fn of_type<'a>(frames: &'a [Value], kind: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| ty(f) == kind).collect()
}

#[tokio::test]
async fn the_first_answer_wins_across_connections_and_a_retry_is_a_duplicate() {
    let server = start().await;
    let mut a = server.client().await;
    let (session, request, _) = ask(&mut a, "m1", "hello").await;
    // Another tab switches to the session: the request is in its replay, still pending.
    let mut b = server.client().await;
    b.send(json!({"type": "switch_session", "sessionId": session, "lastSeq": 0}))
        .await;
    b.recv_until(is_request).await;

    // Both answer at once: exactly one wins.
    a.send(answer(&session, "a-1", &request, "allow")).await;
    b.send(answer(&session, "b-1", &request, "reject")).await;
    let from_a = until_turn_end_and_reply(&mut a, "a-1").await;
    let from_b = until_turn_end_and_reply(&mut b, "b-1").await;
    let acks: Vec<&Value> = [&from_a, &from_b]
        .iter()
        .flat_map(|frames| of_type(frames, "ack"))
        .filter(|f| f["clientMsgId"] == "a-1" || f["clientMsgId"] == "b-1")
        .collect();
    let errors: Vec<&Value> = [&from_a, &from_b]
        .iter()
        .flat_map(|frames| of_type(frames, "error"))
        .collect();
    assert_eq!(acks.len(), 1, "one answer won: {acks:?}");
    assert_eq!(errors.len(), 1, "the other was refused: {errors:?}");
    assert_eq!(errors[0]["code"], "permission_resolved");
    let winner = acks[0]["clientMsgId"].as_str().unwrap().to_owned();
    assert_ne!(errors[0]["ref"], winner.as_str());

    // Both connections saw the same single resolution, right before the winner's ack.
    for frames in [&from_a, &from_b] {
        let resolved = of_type(frames, "permission_resolved");
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0]["outcome"], "selected");
        assert_eq!(resolved[0]["requestId"], request.as_str());
        assert_eq!(resolved[0]["clientMsgId"], winner.as_str());
    }
    let resolved_seq = of_type(&from_a, "permission_resolved")[0]["seq"].clone();
    assert_eq!(acks[0]["seq"], resolved_seq, "the ack names the resolution");
    let (option, reply, status) = if winner == "a-1" {
        ("allow", "echo: hello", "completed")
    } else {
        ("reject", "denied", "failed")
    };
    assert_eq!(
        of_type(&from_a, "permission_resolved")[0]["optionId"],
        option
    );
    assert_eq!(assistant_text(&from_a), reply);
    let last_update = *of_type(&from_a, "tool_update").last().unwrap();
    assert_eq!(last_update["status"], status);
    assert_eq!(of_type(&from_a, "turn_end")[0]["reason"], "completed");

    // The winner retries (its ack was "lost"): a duplicate, with the same seq, and nothing runs.
    let (retrier, retry) = if winner == "a-1" {
        (&mut a, "a-1")
    } else {
        (&mut b, "b-1")
    };
    let option = if retry == "a-1" { "allow" } else { "reject" };
    retrier
        .send(answer(&session, retry, &request, option))
        .await;
    let ack = retrier.recv_until(|f| ty(f) == "ack").await.pop().unwrap();
    assert_eq!(ack["duplicate"], true);
    assert_eq!(ack["seq"], resolved_seq);
    let log = log_of(&server, &session).await;
    assert_eq!(of_type(&log, "permission_request").len(), 1);
    assert_eq!(of_type(&log, "permission_resolved").len(), 1);
    assert_dense(&events_of(&log, &session), 1);
    server.stop().await;
}

#[tokio::test]
async fn bad_answers_are_refused_and_the_request_stays_pending() {
    let server = start_config(|config| config.tokens = vec!["alpha".into(), "beta".into()]).await;
    let mut client = server.client_with_token("alpha").await;
    let (session, request, _) = ask(&mut client, "m1", "x").await;
    client
        .send(answer(&session, "a-1", "no-such-request", "allow"))
        .await;
    let error = client.recv_until(|f| ty(f) == "error").await.pop().unwrap();
    assert_eq!(error["code"], "invalid_field");
    assert_eq!(error["ref"], "a-1");
    assert!(
        error["message"].as_str().unwrap().starts_with("requestId:"),
        "{error}"
    );

    client
        .send(answer(&session, "a-2", &request, "maybe"))
        .await;
    let error = client.recv_until(|f| ty(f) == "error").await.pop().unwrap();
    assert_eq!(error["code"], "invalid_field");
    assert!(
        error["message"].as_str().unwrap().starts_with("optionId:"),
        "{error}"
    );

    client
        .send(answer(&session, "bad id", &request, "allow"))
        .await;
    let error = client.recv_until(|f| ty(f) == "error").await.pop().unwrap();
    assert_eq!(error["code"], "invalid_field");

    // Another user's session does not exist for them.
    let mut stranger = server.client_with_token("beta").await;
    stranger
        .send(answer(&session, "s-1", &request, "allow"))
        .await;
    let error = stranger
        .recv_until(|f| ty(f) == "error")
        .await
        .pop()
        .unwrap();
    assert_eq!(error["code"], "session_not_found");

    // Still pending: a good answer now wins (reject: the reply is `denied`).
    client
        .send(answer(&session, "a-3", &request, "reject"))
        .await;
    let frames = client.recv_until(is_turn_end).await;
    assert_eq!(of_type(&frames, "ack")[0]["clientMsgId"], "a-3");
    assert_eq!(assistant_text(&frames), "denied");
    server.stop().await;
}

#[tokio::test]
async fn interrupt_stop_and_close_cancel_a_waiting_request_before_the_turn_ends() {
    let server = start().await;
    let mut client = server.client().await;
    for (n, how) in ["interrupt", "stop", "close_session"]
        .into_iter()
        .enumerate()
    {
        let (session, request, _) = ask(&mut client, &format!("m{n}"), "x").await;
        let frame = match how {
            "interrupt" => {
                json!({"type": "interrupt", "sessionId": session, "clientMsgId": format!("i{n}")})
            }
            other => json!({"type": other, "sessionId": session}),
        };
        client.send(frame).await;
        let frames = client.recv_until(is_turn_end).await;
        let resolved = of_type(&frames, "permission_resolved");
        assert_eq!(resolved.len(), 1, "{how}");
        assert_eq!(resolved[0]["outcome"], "cancelled", "{how}");
        assert_eq!(resolved[0]["requestId"], request.as_str());
        assert!(resolved[0]["seq"].as_u64() < frames.last().unwrap()["seq"].as_u64());
        assert_eq!(frames.last().unwrap()["reason"], "interrupted", "{how}");
        // Too late now.
        client
            .send(answer(&session, &format!("late{n}"), &request, "allow"))
            .await;
        let error = client
            .recv_until(|f| ty(f) == "error" && f["ref"] == format!("late{n}").as_str())
            .await
            .pop()
            .unwrap();
        assert_eq!(error["code"], "permission_resolved", "{how}");
        let log = log_of(&server, &session).await;
        assert_eq!(of_type(&log, "permission_resolved").len(), 1, "{how}");
        assert_dense(&events_of(&log, &session), 1);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_request_survives_a_disconnect_and_expires_on_a_restart() {
    let server = start().await;
    let mut client = server.client().await;
    let (session, request, _) = ask(&mut client, "m1", "x").await;
    drop(client);
    // A tab that comes back sees the request in its replay, still pending.
    let log = log_of(&server, &session).await;
    assert_eq!(of_type(&log, "permission_request").len(), 1);
    assert!(of_type(&log, "permission_resolved").is_empty());

    let (dir, config) = server.crash().await;
    let server = start_with(dir, config).await;
    let log = log_of(&server, &session).await;
    let resolved = of_type(&log, "permission_resolved");
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["outcome"], "expired");
    assert_eq!(resolved[0]["requestId"], request.as_str());
    let turn_end = *of_type(&log, "turn_end").last().unwrap();
    assert_eq!(turn_end["error"], "server_restart");
    assert!(resolved[0]["seq"].as_u64() < turn_end["seq"].as_u64());
    assert_dense(&events_of(&log, &session), 1);
    // This process never held the request: the store says it was asked, and is resolved.
    let mut client = server.client().await;
    client
        .send(answer(&session, "a-1", &request, "allow"))
        .await;
    let error = client.recv_until(|f| ty(f) == "error").await.pop().unwrap();
    assert_eq!(error["code"], "permission_resolved");
    client
        .send(answer(&session, "a-2", "never-asked", "allow"))
        .await;
    let error = client.recv_until(|f| ty(f) == "error").await.pop().unwrap();
    assert_eq!(error["code"], "invalid_field");
    server.stop().await;
}

//! Every error code of PROTOCOL.md §6 that a client can provoke, auth and ownership, and limits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn hello_is_required_first_and_only_once() {
    let server = start().await;
    let mut client = Client::connect(&server.url()).await;
    client.send(json!({"type": "list_sessions"})).await;
    let error = client.recv().await;
    assert_eq!(error["code"], "hello_required");
    assert_eq!(error["ref"], "list_sessions");
    // Still open: hello now works.
    assert_eq!(ty(&client.hello(None).await), "welcome");
    let again = client.hello(None).await;
    assert_eq!(again["code"], "bad_frame");
    assert_eq!(again["ref"], "hello");
    server.stop().await;
}

#[tokio::test]
async fn an_unsupported_protocol_is_refused_and_closed_with_1002() {
    let server = start().await;
    let mut client = Client::connect(&server.url()).await;
    client.send(json!({"type": "hello", "protocol": 2})).await;
    let (frames, code) = client.recv_close().await;
    assert_eq!(frames[0]["code"], "unsupported_protocol");
    assert_eq!(code, Some(1002));
    server.stop().await;
}

#[tokio::test]
async fn malformed_frames_get_precise_errors_and_the_connection_stays_open() {
    let server = start().await;
    let mut client = server.client().await;
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("not json", "bad_frame", None),
        ("[1,2]", "bad_frame", None),
        (r#"{"kind":"send"}"#, "bad_frame", None),
        (r#"{"type":7}"#, "bad_frame", None),
        (r#"{"type":"teleport"}"#, "unknown_type", Some("teleport")),
        (
            r#"{"type":"send","sessionId":null,"text":"x"}"#,
            "invalid_field",
            Some("send"),
        ),
        (
            r#"{"type":"send","sessionId":null,"clientMsgId":"bad id!","text":"x"}"#,
            "invalid_field",
            Some("bad id!"),
        ),
        (
            r#"{"type":"switch_session","sessionId":5}"#,
            "invalid_field",
            Some("switch_session"),
        ),
        (
            r#"{"type":"reconnect","sessions":[{"sessionId":"x"}]}"#,
            "invalid_field",
            Some("reconnect"),
        ),
    ];
    for (text, code, reference) in cases {
        client.send_text(text).await;
        let error = client.recv().await;
        assert_eq!(ty(&error), "error", "{text}");
        assert_eq!(error["code"], *code, "{text}: {error}");
        assert_eq!(error["ref"].as_str(), *reference, "{text}: {error}");
    }
    let missing = {
        client
            .send_text(r#"{"type":"send","sessionId":null,"text":"x"}"#)
            .await;
        client.recv().await
    };
    assert!(
        missing["message"].as_str().unwrap().contains("clientMsgId"),
        "{missing}"
    );
    client.send_binary(vec![1, 2, 3]).await;
    assert_eq!(client.recv().await["code"], "bad_frame");
    // Unknown sessions.
    client
        .send(json!({"type": "send", "sessionId": "nope", "clientMsgId": "c1", "text": "x"}))
        .await;
    let error = client.recv().await;
    assert_eq!(error["code"], "session_not_found");
    assert_eq!(error["sessionId"], "nope");
    assert_eq!(error["ref"], "c1");
    for kind in ["watch", "unwatch", "stop", "close_session", "suspend"] {
        client
            .send(json!({"type": kind, "sessionId": "nope"}))
            .await;
        let error = client.recv().await;
        assert_eq!(error["code"], "session_not_found", "{kind}");
        assert_eq!(error["ref"], kind);
        assert_eq!(error["sessionId"], "nope");
    }
    client
        .send(json!({"type": "switch_session", "sessionId": "nope"}))
        .await;
    assert_eq!(client.recv().await["code"], "session_not_found");
    client
        .send(json!({"type": "interrupt", "sessionId": "nope", "clientMsgId": "c2"}))
        .await;
    assert_eq!(client.recv().await["ref"], "c2");
    // Still open and well.
    client.send(json!({"type": "ping", "nonce": "n"})).await;
    assert_eq!(client.recv().await, json!({"type": "pong", "nonce": "n"}));
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_frame_is_refused_and_closed_with_1009() {
    let server = start().await;
    let mut client = server.client().await;
    let text = "x".repeat(sessionwire_core::MAX_FRAME_BYTES);
    client
        .send(json!({"type": "send", "sessionId": null, "clientMsgId": "big", "text": text}))
        .await;
    let (frames, code) = client.recv_close().await;
    assert_eq!(frames[0]["code"], "frame_too_large");
    assert_eq!(code, Some(1009));
    // Nothing was stored.
    let mut other = server.client().await;
    other.send(json!({"type": "list_sessions"})).await;
    assert_eq!(other.recv().await["sessions"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn a_frame_of_exactly_the_limit_is_accepted() {
    let server = start().await;
    let mut client = server.client().await;
    let overhead = json!({"type": "ping", "nonce": ""}).to_string().len();
    let nonce = "n".repeat(sessionwire_core::MAX_FRAME_BYTES - overhead);
    client.send(json!({"type": "ping", "nonce": nonce})).await;
    assert_eq!(ty(&client.recv().await), "pong");
    server.stop().await;
}

#[tokio::test]
async fn the_rate_limit_answers_rate_limited() {
    let server = start_config(|config| {
        config.rate_limit = sessionwire_server::RateLimit {
            per_second: 0.001,
            burst: 3.0,
        };
    })
    .await;
    let mut client = server.client().await; // hello took one token
    client.send(json!({"type": "ping"})).await;
    client.send(json!({"type": "ping"})).await;
    client
        .send(json!({"type": "send", "sessionId": null, "clientMsgId": "r1", "text": "x"}))
        .await;
    assert_eq!(ty(&client.recv().await), "pong");
    assert_eq!(ty(&client.recv().await), "pong");
    let error = client.recv().await;
    assert_eq!(error["code"], "rate_limited");
    assert_eq!(error["ref"], "r1");
    server.stop().await;
}

#[tokio::test]
async fn tokens_are_required_when_configured() {
    let server = start_config(|config| config.tokens = vec!["alpha".into(), "beta".into()]).await;
    for hello in [
        json!({"type": "hello", "protocol": 1}),
        json!({"type": "hello", "protocol": 1, "token": "gamma"}),
    ] {
        let mut client = Client::connect(&server.url()).await;
        client.send(hello).await;
        let (frames, code) = client.recv_close().await;
        assert_eq!(frames[0]["code"], "unauthorized");
        assert_eq!(code, Some(1008));
    }
    server.stop().await;
}

#[tokio::test]
async fn another_users_sessions_do_not_exist_for_them() {
    let server = start_config(|config| config.tokens = vec!["alpha".into(), "beta".into()]).await;
    let mut alice = server.client_with_token("alpha").await;
    let (a, _) = alice.create_session("a1", "secret").await;
    let mut bob = server.client_with_token("beta").await;
    bob.send(json!({"type": "list_sessions"})).await;
    assert_eq!(bob.recv().await["sessions"], json!([]));
    let attempts = [
        json!({"type": "switch_session", "sessionId": a}),
        json!({"type": "send", "sessionId": a, "clientMsgId": "b1", "text": "hi"}),
        json!({"type": "interrupt", "sessionId": a, "clientMsgId": "b2"}),
        json!({"type": "watch", "sessionId": a}),
        json!({"type": "stop", "sessionId": a}),
        json!({"type": "close_session", "sessionId": a}),
    ];
    for attempt in attempts {
        bob.send(attempt.clone()).await;
        let error = bob.recv().await;
        assert_eq!(error["code"], "session_not_found", "{attempt}");
    }
    bob.send(json!({"type": "reconnect", "sessions": [{"sessionId": a, "lastSeq": 0}]}))
        .await;
    let frames = bob.recv_until(|f| ty(f) == "reconnected").await;
    assert_eq!(frames[0]["code"], "session_not_found");
    assert_eq!(frames.len(), 2, "no event leaked: {frames:?}");
    // clientMsgIds are per user: bob may use alice's.
    let (b, _) = bob.create_session("a1", "mine").await;
    assert_ne!(a, b);
    // Alice still sees hers, untouched and still live.
    alice.send(json!({"type": "list_sessions"})).await;
    let listed = alice.recv().await;
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(listed["sessions"][0]["sessionId"], a.as_str());
    assert_eq!(listed["sessions"][0]["state"], "ACTIVE");
    server.stop().await;
}

#[tokio::test]
async fn echo_plan_streams_three_entries_each_in_progress_then_completed() {
    let server = start().await;
    let mut client = server.client().await;
    let (a, frames) = client.create_session("c1", "/plan").await;
    let plans: Vec<Vec<String>> = frames
        .iter()
        .filter(|f| ty(f) == "plan")
        .map(|f| {
            f["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    format!(
                        "{}:{}",
                        e["content"].as_str().unwrap(),
                        e["status"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .collect();
    let step = |s: [&str; 3]| -> Vec<String> {
        ["Read the code", "Write the fix", "Run the tests"]
            .iter()
            .zip(s)
            .map(|(c, s)| format!("{c}:{s}"))
            .collect()
    };
    assert_eq!(
        plans,
        [
            step(["in_progress", "pending", "pending"]),
            step(["completed", "pending", "pending"]),
            step(["completed", "in_progress", "pending"]),
            step(["completed", "completed", "pending"]),
            step(["completed", "completed", "in_progress"]),
            step(["completed", "completed", "completed"]),
        ]
    );
    assert_eq!(assistant_text(&frames), "echo: /plan");
    // Plans are events: a replay has them, in order.
    let mut other = server.client().await;
    other
        .send(serde_json::json!({"type": "switch_session", "sessionId": a, "lastSeq": 0}))
        .await;
    let replay = other.recv_until(is_turn_end).await;
    assert_eq!(replay.iter().filter(|f| ty(f) == "plan").count(), 6);
    server.stop().await;
}

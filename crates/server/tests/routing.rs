//! The routing traces of PROTOCOL.md §4, against a real server over real WebSockets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;
use sessionwire_core::SessionState;

#[tokio::test]
async fn a_new_session_is_seen_from_seq_1_with_ack_after_its_user_message() {
    let server = start().await;
    let mut client = server.client().await;
    let (session, frames) = client.create_session("m1", "hello world").await;
    let kinds: Vec<&str> = frames.iter().map(ty).collect();
    assert_eq!(kinds[0], "session_created");
    assert_eq!(frames[0]["clientMsgId"], "m1");
    assert_eq!(
        &kinds[1..7],
        [
            "session_state",
            "session_state",
            "session_state",
            "user_message",
            "ack",
            "turn_start"
        ]
    );
    assert_eq!(frames[1]["state"], "CREATED");
    assert_eq!(frames[1]["previous"], serde_json::Value::Null);
    assert_eq!(frames[2]["state"], "STARTING");
    assert_eq!(frames[3]["state"], "ACTIVE");
    assert_eq!(frames[5]["seq"], frames[4]["seq"]);
    assert_eq!(frames[5]["running"], true);
    assert_eq!(frames[5]["duplicate"], false);
    assert_eq!(assistant_text(&frames), "echo: hello world");
    assert!(
        frames.iter().filter(|f| ty(f) == "block_delta").count() >= 2,
        "several chunks"
    );
    assert_eq!(frames.last().unwrap()["reason"], "completed");
    let events = events_of(&frames, &session);
    assert_dense(&events, 1);
    server.stop().await;
}

/// The double-message bug: a running session, switch away, switch back. `running` must be true,
/// events must flow again before any send, and the next message gets exactly one reply.
#[tokio::test]
async fn double_message_bug_switch_away_and_back_while_running() {
    let server = start().await;
    let mut client = server.client().await;
    client
        .send_message(None, "a1", "/slow 12 abcdefghijklmnopqrstuvwx")
        .await;
    let frames = client.recv_until(|f| ty(f) == "block_delta").await;
    let a = frames[0]["sessionId"].as_str().unwrap().to_owned();
    let last_a = events_of(&frames, &a).last().unwrap()["seq"]
        .as_u64()
        .unwrap();

    // Switch away: a second session created by a null send becomes current.
    let (b, _) = client.create_session("b1", "other").await;
    assert_ne!(a, b);
    // Switch back to A with the last seq we hold.
    client
        .send(json!({"type": "switch_session", "sessionId": a, "lastSeq": last_a}))
        .await;
    let mut frames = client.recv_until(|f| ty(f) == "session_switched").await;
    let switched = frames.pop().unwrap();
    assert_eq!(switched["running"], true, "{switched}");
    assert_eq!(switched["state"], "ACTIVE");
    // Events of A flow again, before any send: replay and live, dense after last_a, to turn_end.
    let mut after = client
        .recv_until(|f| is_turn_end(f) && f["sessionId"] == a.as_str())
        .await;
    let events = events_of(&after, &a);
    assert_dense(&events, last_a + 1);
    assert!(after.iter().any(|f| ty(f) == "block_delta"));
    // The first message afterwards gets exactly one reply.
    client.send_message(Some(&a), "a2", "second").await;
    after = client
        .recv_until(|f| is_turn_end(f) && f["sessionId"] == a.as_str())
        .await;
    after.extend(client.sync().await);
    assert_eq!(after.iter().filter(|f| ty(f) == "ack").count(), 1);
    assert_eq!(after.iter().filter(|f| ty(f) == "turn_start").count(), 1);
    assert_eq!(after.iter().filter(|f| ty(f) == "turn_end").count(), 1);
    assert_eq!(assistant_text(&after), "echo: second");
    server.stop().await;
}

#[tokio::test]
async fn idle_return_reattaches_and_runs_the_next_message_once() {
    let server = start().await;
    let mut client = server.client().await;
    let (a, frames) = client.create_session("a1", "first").await;
    let last = events_of(&frames, &a).last().unwrap()["seq"]
        .as_u64()
        .unwrap();
    client
        .send(json!({"type": "switch_session", "sessionId": null}))
        .await;
    assert_eq!(ty(&client.recv().await), "session_cleared");
    // Nobody watches A: it is DETACHED.
    let mut other = server.client().await;
    other.send(json!({"type": "list_sessions"})).await;
    let listed = other.recv().await;
    assert_eq!(listed["sessions"][0]["state"], "DETACHED", "{listed}");
    assert_eq!(listed["sessions"][0]["running"], false);
    drop(other);

    client
        .send(json!({"type": "switch_session", "sessionId": a, "lastSeq": last}))
        .await;
    let switched = client.recv().await;
    assert_eq!(ty(&switched), "session_switched");
    assert_eq!(switched["running"], false);
    assert_eq!(switched["state"], "ACTIVE");
    // Replay and live: DETACHED, then ACTIVE (the reattach), nothing else.
    let replay = client.recv_until(|f| f["state"] == "ACTIVE").await;
    let states: Vec<&str> = replay
        .iter()
        .map(|f| f["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["DETACHED", "ACTIVE"]);
    assert_dense(&events_of(&replay, &a), last + 1);
    client.send_message(Some(&a), "a2", "again").await;
    let mut frames = client.recv_until(is_turn_end).await;
    frames.extend(client.sync().await);
    assert_eq!(frames.iter().filter(|f| ty(f) == "turn_start").count(), 1);
    assert_eq!(assistant_text(&frames), "echo: again");
    server.stop().await;
}

#[tokio::test]
async fn a_send_to_an_ended_session_resumes_it() {
    let server = start().await;
    let mut client = server.client().await;
    let (a, _) = client.create_session("a1", "first").await;
    client.send(json!({"type": "stop", "sessionId": a})).await;
    let frames = client.recv_until(|f| f["state"] == "ENDED").await;
    assert_eq!(frames.last().unwrap()["reason"], "stopped");
    client.send_message(Some(&a), "a2", "back").await;
    let frames = client.recv_until(is_turn_end).await;
    let states: Vec<(&str, &str)> = frames
        .iter()
        .filter(|f| ty(f) == "session_state")
        .map(|f| {
            (
                f["previous"].as_str().unwrap(),
                f["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("ENDED", "CREATED"),
            ("CREATED", "STARTING"),
            ("STARTING", "ACTIVE")
        ]
    );
    let kinds: Vec<&str> = frames.iter().map(ty).collect();
    assert_eq!(&kinds[3..6], ["user_message", "ack", "turn_start"]);
    assert_eq!(frames[4]["running"], true);
    assert_eq!(assistant_text(&frames), "echo: back");
    server.stop().await;
}

/// A zombie: a live runtime whose session is CLOSING. It is aborted by signal and a new runtime
/// (never the old one) takes the message.
#[tokio::test]
async fn a_closing_zombie_is_aborted_and_never_reused() {
    let server = start().await;
    let mut client = server.client().await;
    client
        .send_message(None, "a1", "/slow 30 abcdefghijklmnopqrstuvwxyz0123")
        .await;
    let frames = client.recv_until(|f| ty(f) == "block_delta").await;
    let a = frames[0]["sessionId"].as_str().unwrap().to_owned();
    let old_generation = server.hub().runtimes.get(&a).unwrap().generation;
    client
        .send(json!({"type": "close_session", "sessionId": a}))
        .await;
    client.recv_until(|f| f["state"] == "CLOSING").await;
    client.send_message(Some(&a), "a2", "after close").await;
    let frames = client
        .recv_until(|f| is_turn_end(f) && f["reason"] == "completed")
        .await;
    // The old turn was cut short by the abort, then ENDED, then the resume.
    let interrupted = frames
        .iter()
        .position(|f| is_turn_end(f) && f["reason"] == "interrupted")
        .unwrap();
    let ended = frames.iter().position(|f| f["state"] == "ENDED").unwrap();
    assert!(interrupted < ended);
    assert_eq!(frames[ended]["reason"], "zombie_aborted");
    assert_eq!(frames[ended]["previous"], "CLOSING");
    assert_eq!(frames[ended + 1]["state"], "CREATED");
    assert_eq!(assistant_text(&frames[ended..]), "echo: after close");
    let new_generation = server.hub().runtimes.get(&a).unwrap().generation;
    assert_ne!(old_generation, new_generation);
    server.stop().await;
}

/// A zombie whose session is ENDED (its durable state moved on without it, as a stale instance
/// would leave it): the send aborts it and resumes with a new runtime.
#[tokio::test]
async fn an_ended_zombie_is_aborted_and_never_reused() {
    let server = start().await;
    let mut client = server.client().await;
    let (a, _) = client.create_session("a1", "first").await;
    let hub = server.hub();
    let old_generation = hub.runtimes.get(&a).unwrap().generation;
    let entry = hub.entry(&a).await.unwrap().unwrap();
    assert!(hub.transition(&entry, SessionState::Ended, "test_forced"));
    client.recv_until(|f| f["state"] == "ENDED").await;
    // The zombie is never running.
    client
        .send(json!({"type": "switch_session", "sessionId": a}))
        .await;
    let switched = client.recv().await;
    assert_eq!(switched["running"], false);
    assert_eq!(switched["state"], "ENDED");
    client.sync().await;

    client.send_message(Some(&a), "a2", "wake").await;
    let frames = client.recv_until(is_turn_end).await;
    let states: Vec<&str> = frames
        .iter()
        .filter(|f| ty(f) == "session_state")
        .map(|f| f["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["CREATED", "STARTING", "ACTIVE"]);
    assert_eq!(assistant_text(&frames), "echo: wake");
    let new_generation = hub.runtimes.get(&a).unwrap().generation;
    assert_ne!(old_generation, new_generation);
    drop(hub);
    server.stop().await;
}

#[tokio::test]
async fn interrupt_after_switching_back_stops_the_turn_and_runs_its_text() {
    let server = start().await;
    let mut client = server.client().await;
    client
        .send_message(
            None,
            "a1",
            "/slow 40 abcdefghijklmnopqrstuvwxyz0123456789ABCD",
        )
        .await;
    let frames = client.recv_until(|f| ty(f) == "block_delta").await;
    let a = frames[0]["sessionId"].as_str().unwrap().to_owned();
    client.create_session("b1", "other").await;
    client
        .send(json!({"type": "switch_session", "sessionId": a, "lastSeq": 0}))
        .await;
    let switched = client.recv_until(|f| ty(f) == "session_switched").await;
    assert_eq!(switched.last().unwrap()["running"], true);
    client
        .send(json!({"type": "interrupt", "sessionId": a, "clientMsgId": "i1", "text": "instead"}))
        .await;
    let frames = client
        .recv_until(|f| is_turn_end(f) && f["reason"] == "completed")
        .await;
    let user = frames
        .iter()
        .position(|f| ty(f) == "user_message" && f["messageId"] == "i1")
        .unwrap();
    assert_eq!(ty(&frames[user + 1]), "ack");
    assert_eq!(frames[user + 1]["seq"], frames[user]["seq"]);
    let interrupted = frames
        .iter()
        .position(|f| is_turn_end(f) && f["reason"] == "interrupted")
        .unwrap();
    assert!(interrupted > user);
    assert_eq!(assistant_text(&frames[interrupted..]), "echo: instead");
    server.stop().await;
}

#[tokio::test]
async fn an_interrupt_without_text_acks_the_last_seq_and_stops_running() {
    let server = start().await;
    let mut client = server.client().await;
    client
        .send_message(
            None,
            "a1",
            "/slow 40 abcdefghijklmnopqrstuvwxyz0123456789ABCD",
        )
        .await;
    let frames = client.recv_until(|f| ty(f) == "block_delta").await;
    let a = frames[0]["sessionId"].as_str().unwrap().to_owned();
    client
        .send(json!({"type": "interrupt", "sessionId": a, "clientMsgId": "i1"}))
        .await;
    let frames = client.recv_until(|f| ty(f) == "ack").await;
    let ack = frames.last().unwrap();
    assert_eq!(ack["running"], false);
    let frames = client.recv_until(is_turn_end).await;
    assert_eq!(frames.last().unwrap()["reason"], "interrupted");
    assert!(frames.last().unwrap()["seq"].as_u64().unwrap() > ack["seq"].as_u64().unwrap());
    // A retry is a duplicate with the same seq.
    client
        .send(json!({"type": "interrupt", "sessionId": a, "clientMsgId": "i1"}))
        .await;
    let dup = client.recv_until(|f| ty(f) == "ack").await.pop().unwrap();
    assert_eq!(dup["duplicate"], true);
    assert_eq!(dup["seq"], ack["seq"]);
    server.stop().await;
}

#[tokio::test]
async fn a_duplicate_client_msg_id_is_acked_and_never_run_again() {
    let server = start().await;
    let mut client = server.client().await;
    let (a, frames) = client.create_session("m1", "once").await;
    let seq = frames.iter().find(|f| ty(f) == "ack").unwrap()["seq"].clone();
    client.send_message(Some(&a), "m1", "once").await;
    let mut frames = vec![client.recv().await];
    frames.extend(client.sync().await);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(ty(&frames[0]), "ack");
    assert_eq!(frames[0]["duplicate"], true);
    assert_eq!(frames[0]["seq"], seq);
    assert_eq!(frames[0]["running"], false);
    server.stop().await;
}

#[tokio::test]
async fn a_retried_null_send_never_makes_a_second_session() {
    let server = start().await;
    let mut first = server.client().await;
    let (a, frames) = first.create_session("n1", "create me").await;
    let seq = frames.iter().find(|f| ty(f) == "ack").unwrap()["seq"].clone();
    drop(first);
    // The outbox resends it on a new connection.
    let mut client = server.client().await;
    client.send_message(None, "n1", "create me").await;
    let frames = client.recv_until(|f| ty(f) == "ack").await;
    assert_eq!(ty(&frames[0]), "session_created");
    assert_eq!(frames[0]["sessionId"], a.as_str());
    let ack = frames.last().unwrap();
    assert_eq!(ack["duplicate"], true);
    assert_eq!(ack["seq"], seq);
    client.send(json!({"type": "list_sessions"})).await;
    // (A live `session_state` may come first: the first connection's leaving detaches A.)
    let listed = client
        .recv_until(|f| ty(f) == "sessions")
        .await
        .pop()
        .unwrap();
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn two_watchers_get_the_same_events_in_order() {
    let server = start().await;
    let mut one = server.client().await;
    let (a, _) = one.create_session("a1", "hi").await;
    let mut two = server.client().await;
    two.send(json!({"type": "watch", "sessionId": a})).await;
    assert_eq!(ty(&two.recv().await), "watched");
    one.send_message(Some(&a), "a2", "both of you").await;
    let from_one = one.recv_until(is_turn_end).await;
    let from_two = two.recv_until(is_turn_end).await;
    let one_events = events_of(&from_one, &a);
    let two_events = events_of(&from_two, &a);
    assert_eq!(one_events, two_events);
    assert_dense(&one_events, one_events[0]["seq"].as_u64().unwrap());
    assert_eq!(assistant_text(&from_two), "echo: both of you");
    // The ack goes only to the sender.
    assert_eq!(from_one.iter().filter(|f| ty(f) == "ack").count(), 1);
    assert_eq!(from_two.iter().filter(|f| ty(f) == "ack").count(), 0);
    server.stop().await;
}

#[tokio::test]
async fn queued_messages_run_one_at_a_time_in_order() {
    let server = start().await;
    let mut client = server.client().await;
    client.send_message(None, "q1", "/slow 3 abc").await;
    let first = client.recv_until(|f| ty(f) == "ack").await;
    let a = first[0]["sessionId"].as_str().unwrap().to_owned();
    client.send_message(Some(&a), "q2", "two").await;
    client.send_message(Some(&a), "q3", "three").await;
    let mut frames = first;
    while frames.iter().filter(|f| is_turn_end(f)).count() < 3 {
        frames.push(client.recv().await);
    }
    let kinds: Vec<&str> = frames
        .iter()
        .map(ty)
        .filter(|k| *k == "turn_start" || *k == "turn_end")
        .collect();
    assert_eq!(
        kinds,
        [
            "turn_start",
            "turn_end",
            "turn_start",
            "turn_end",
            "turn_start",
            "turn_end"
        ]
    );
    assert_eq!(assistant_text(&frames), "echo: abcecho: twoecho: three");
    for ack in frames.iter().filter(|f| ty(f) == "ack") {
        assert_eq!(ack["running"], true);
    }
    assert_dense(&events_of(&frames, &a), 1);
    server.stop().await;
}

#[tokio::test]
async fn close_session_lets_the_turn_finish_then_ends() {
    let server = start().await;
    let mut client = server.client().await;
    client.send_message(None, "c1", "/slow 4 abcdefgh").await;
    let frames = client.recv_until(|f| ty(f) == "block_delta").await;
    let a = frames[0]["sessionId"].as_str().unwrap().to_owned();
    client
        .send(json!({"type": "close_session", "sessionId": a}))
        .await;
    let frames = client.recv_until(|f| f["state"] == "ENDED").await;
    let closing = frames.iter().position(|f| f["state"] == "CLOSING").unwrap();
    let turn_end = frames.iter().position(is_turn_end).unwrap();
    assert!(closing < turn_end);
    assert_eq!(frames[turn_end]["reason"], "completed");
    assert_eq!(frames.last().unwrap()["reason"], "closed");
    server.stop().await;
}

#[tokio::test]
async fn timers_suspend_grace_then_detach_ttl_close_the_session() {
    let server = start_config(|config| {
        config.suspend_grace = std::time::Duration::from_millis(100);
        config.detach_ttl = std::time::Duration::from_millis(200);
    })
    .await;
    let mut client = server.client().await;
    let (a, _) = client.create_session("t1", "hi").await;
    client
        .send(json!({"type": "suspend", "sessionId": a}))
        .await;
    let frames = client.recv_until(|f| f["state"] == "ENDED").await;
    let transitions: Vec<(&str, &str)> = frames
        .iter()
        .filter(|f| ty(f) == "session_state")
        .map(|f| (f["state"].as_str().unwrap(), f["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        transitions,
        [
            ("SUSPENDED", "suspended"),
            ("DETACHED", "suspend_grace_expired"),
            ("CLOSING", "detach_ttl_expired"),
            ("ENDED", "closed")
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_watcher_coming_back_makes_a_suspended_session_active() {
    let server = start().await;
    let mut client = server.client().await;
    let (a, _) = client.create_session("s1", "hi").await;
    client
        .send(json!({"type": "suspend", "sessionId": a}))
        .await;
    client.recv_until(|f| f["state"] == "SUSPENDED").await;
    client
        .send(json!({"type": "switch_session", "sessionId": a, "lastSeq": 1000}))
        .await;
    let switched = client.recv().await;
    assert_eq!(switched["state"], "ACTIVE");
    let frames = client.recv_until(|f| ty(f) == "session_state").await;
    assert_eq!(frames.last().unwrap()["reason"], "watcher_joined");
    server.stop().await;
}

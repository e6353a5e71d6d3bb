//! One user's sends at once, against a real server: the same `clientMsgId` from two connections
//! runs once (the other is a duplicate with the same seq), 100 sessions of one user all run, and
//! sends to different sessions of one user wait for durability together, not one after another.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{is_turn_end, ty, until, Client, TestServer, GUARD};
use serde_json::{json, Value};
use sessionwire_server::hub::Hub;
use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

/// The stored events of a session, by type (read off the async workers, as the server reads).
async fn stored_kinds(hub: &Hub, session: &str) -> Vec<String> {
    let session = session.to_owned();
    let events = hub
        .read(move |store| store.events_page(&session, 0, u64::from(u32::MAX), 1_000_000))
        .await
        .unwrap();
    events.iter().map(|event| event.kind.to_owned()).collect()
}

fn count(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

/// Reads until the ack of `client_msg_id`.
async fn ack_of(client: &mut Client, client_msg_id: &str) -> (Vec<Value>, Value) {
    let mut frames = client
        .recv_until(|f| ty(f) == "ack" && f["clientMsgId"] == client_msg_id)
        .await;
    let ack = frames.pop().unwrap();
    (frames, ack)
}

/// Reads until the ack of `client_msg_id` and a `turn_end` (in either order: a duplicate's ack
/// may come after the original's turn ended).
async fn ack_and_turn_end(client: &mut Client, client_msg_id: &str) -> (Vec<Value>, Value) {
    let (mut frames, ack) = ack_of(client, client_msg_id).await;
    if !frames.iter().any(is_turn_end) {
        frames.extend(client.recv_until(is_turn_end).await);
    }
    (frames, ack)
}

async fn two_clients(server: &TestServer) -> (Client, Client) {
    (server.client().await, server.client().await)
}

#[tokio::test]
async fn the_same_client_msg_id_from_two_connections_at_once_runs_once() {
    let server = common::start().await;
    let hub = server.hub();
    let (mut a, mut b) = two_clients(&server).await;
    for round in 0..10 {
        // A new session from both at once: one session, one turn, one duplicate.
        let id = format!("race-new-{round}");
        let frame = json!({"type": "send", "sessionId": null, "clientMsgId": id, "text": "once"});
        tokio::join!(a.send(frame.clone()), b.send(frame));
        let ((a_frames, a_ack), (b_frames, b_ack)) =
            tokio::join!(ack_and_turn_end(&mut a, &id), ack_and_turn_end(&mut b, &id));
        assert_eq!(a_ack["seq"], b_ack["seq"], "{a_ack} {b_ack}");
        assert_eq!(a_ack["sessionId"], b_ack["sessionId"]);
        let duplicates = [&a_ack, &b_ack]
            .iter()
            .filter(|ack| ack["duplicate"] == true)
            .count();
        assert_eq!(duplicates, 1, "{a_ack} {b_ack}");
        let session = a_ack["sessionId"].as_str().unwrap().to_owned();
        for frames in [&a_frames, &b_frames] {
            let created = frames.iter().find(|f| ty(f) == "session_created").unwrap();
            assert_eq!(created["sessionId"], session.as_str());
        }
        // Both watch it now and saw its turn end: look at what is stored.
        a.sync().await;
        b.sync().await;
        let kinds = stored_kinds(&hub, &session).await;
        assert_eq!(count(&kinds, "user_message"), 1, "{kinds:?}");
        assert_eq!(count(&kinds, "turn_start"), 1, "{kinds:?}");
        assert_eq!(count(&kinds, "turn_end"), 1, "{kinds:?}");

        // To that existing session from both at once.
        let id = format!("race-old-{round}");
        let frame =
            json!({"type": "send", "sessionId": session, "clientMsgId": id, "text": "again"});
        tokio::join!(a.send(frame.clone()), b.send(frame));
        let ((_, a_ack), (_, b_ack)) =
            tokio::join!(ack_and_turn_end(&mut a, &id), ack_and_turn_end(&mut b, &id));
        assert_eq!(a_ack["seq"], b_ack["seq"], "{a_ack} {b_ack}");
        assert_ne!(a_ack["duplicate"], b_ack["duplicate"], "{a_ack} {b_ack}");
        a.sync().await;
        b.sync().await;
        let kinds = stored_kinds(&hub, &session).await;
        assert_eq!(count(&kinds, "user_message"), 2, "{kinds:?}");
        assert_eq!(count(&kinds, "turn_start"), 2, "{kinds:?}");
    }
    assert_eq!(hub.reserved_count(), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_hundred_sessions_of_one_user_sending_at_once_all_run_once() {
    let server = common::start().await;
    let hub = server.hub();
    let mut clients = Vec::new();
    for _ in 0..100 {
        clients.push(server.client().await);
    }
    // Everything is sent before anything is read.
    for (i, client) in clients.iter_mut().enumerate() {
        client
            .send_message(None, &format!("many-{i}"), &format!("turn {i}"))
            .await;
    }
    let mut sessions = Vec::new();
    for (i, client) in clients.iter_mut().enumerate() {
        let frames = client.recv_until(is_turn_end).await;
        let ack = frames
            .iter()
            .find(|f| ty(f) == "ack")
            .unwrap_or_else(|| panic!("no ack before the turn's end: {frames:?}"));
        assert_eq!(ack["clientMsgId"], format!("many-{i}"));
        assert_eq!(ack["duplicate"], false);
        assert_eq!(common::assistant_text(&frames), format!("echo: turn {i}"));
        sessions.push(ack["sessionId"].as_str().unwrap().to_owned());
    }
    for client in &mut clients {
        client.sync().await;
    }
    sessions.sort();
    sessions.dedup();
    assert_eq!(sessions.len(), 100, "one session each");
    for session in &sessions {
        let kinds = stored_kinds(&hub, session).await;
        assert_eq!(count(&kinds, "user_message"), 1, "{kinds:?}");
        assert_eq!(count(&kinds, "turn_start"), 1, "{kinds:?}");
        assert_eq!(count(&kinds, "turn_end"), 1, "{kinds:?}");
    }
    assert_eq!(hub.reserved_count(), 0);
    server.stop().await;
}

/// The store's writer is held after a commit (a slow fsync, made certain): sends to other
/// sessions of the same user are all submitted and wait for durability together, and the next
/// batch commits them all. Under a per-user lock only the first could be waiting.
#[tokio::test]
async fn one_users_sends_to_different_sessions_share_a_group_commit() {
    const N: usize = 20;
    let server = common::start().await;
    let hub: Arc<Hub> = server.hub();
    let mut clients = Vec::new();
    let mut sessions = Vec::new();
    for i in 0..N {
        let mut client = server.client().await;
        let (session, _) = client.create_session(&format!("setup-{i}"), "setup").await;
        client.sync().await;
        sessions.push(session);
        clients.push(client);
    }
    let hooks = &hub.hooks;
    hooks.hold_commits(true);
    let batches_before = hooks.user_message_batches.load(Ordering::SeqCst);
    // The first send's batch holds the writer...
    clients[0]
        .send_message(Some(&sessions[0]), "held-0", "first")
        .await;
    until("the first send waits for durability", || {
        hooks.awaiting_durability.load(Ordering::SeqCst) >= 1
    })
    .await;
    // ...and the others, to other sessions of the same user, still get submitted.
    for i in 1..N {
        clients[i]
            .send_message(Some(&sessions[i]), &format!("held-{i}"), "together")
            .await;
    }
    until("every send waits for durability at once", || {
        hooks.awaiting_durability.load(Ordering::SeqCst) == N
    })
    .await;
    hooks.hold_commits(false);
    for (i, client) in clients.iter_mut().enumerate() {
        let (_, ack) = ack_of(client, &format!("held-{i}")).await;
        assert_eq!(ack["duplicate"], false);
        client.recv_until(is_turn_end).await;
    }
    let batches = hooks.user_message_batches.load(Ordering::SeqCst) - batches_before;
    assert!(
        batches <= 2,
        "{N} user messages took {batches} batches: the first, then all the others"
    );
    assert_eq!(hooks.awaiting_durability.load(Ordering::SeqCst), 0);
    server.stop().await;
}

/// A reservation is held by nothing but itself: a second claim of the same id waits until the
/// first is dropped, a claim of another id (or another user's) does not wait at all.
#[tokio::test]
async fn a_reserved_client_msg_id_waits_for_its_release_only() {
    use sessionwire_server::auth::User;
    let server = common::start().await;
    let hub = server.hub();
    let (alice, bob) = (User("alice".into()), User("bob".into()));
    let first = hub.reserve(&alice, "same").await;
    // Other ids and other users are not held up.
    let other = tokio::time::timeout(GUARD, hub.reserve(&alice, "other")).await;
    let bobs = tokio::time::timeout(GUARD, hub.reserve(&bob, "same")).await;
    assert!(other.is_ok() && bobs.is_ok());
    assert_eq!(hub.reserved_count(), 3);
    let waiting = {
        let hub = hub.clone();
        tokio::spawn(async move {
            let _second = hub.reserve(&User("alice".into()), "same").await;
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !waiting.is_finished(),
        "the retry waits for the original's answer"
    );
    drop(first);
    tokio::time::timeout(GUARD, waiting).await.unwrap().unwrap();
    drop((other, bobs));
    assert_eq!(hub.reserved_count(), 0);
    server.stop().await;
}

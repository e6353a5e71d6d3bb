//! The PostgreSQL store beyond what every store passes (PROTOCOL.md §9.2): a database outage
//! is answered `unavailable`, loses nothing acked, and service resumes by itself once the
//! database is back. Runs in the PostgreSQL pass (scripts/test-postgres.sh), on a cluster of its
//! own that it stops and starts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{postgres::PgCluster, *};
use serde_json::{json, Value};
use sessionwire_server::Database;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// Sends `text` as `client_msg_id` until it is acked (a refusal must be `unavailable`, the
/// database still coming back); returns the frames up to its turn's end.
async fn send_until_acked(
    client: &mut Client,
    session: &str,
    client_msg_id: &str,
    text: &str,
) -> Vec<Value> {
    let deadline = Instant::now() + GUARD;
    loop {
        client
            .send_message(Some(session), client_msg_id, text)
            .await;
        let frames = client
            .recv_until(|f| {
                (ty(f) == "ack" && f["clientMsgId"] == client_msg_id)
                    || (ty(f) == "error" && f["ref"] == client_msg_id)
            })
            .await;
        let last = frames.last().unwrap();
        if ty(last) == "ack" {
            let mut all = frames;
            all.extend(client.recv_until(is_turn_end).await);
            return all;
        }
        assert_eq!(last["code"], "unavailable", "{last}");
        assert!(Instant::now() < deadline, "the database never came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_database_outage_answers_unavailable_loses_nothing_acked_and_service_resumes() {
    if postgres_cluster().is_none() {
        eprintln!("a PostgreSQL test: it runs in the PostgreSQL pass (scripts/test-postgres.sh)");
        return;
    }
    let cluster = tokio::task::spawn_blocking(PgCluster::start).await.unwrap();
    let database = {
        let cluster_url = cluster.url();
        tokio::task::spawn_blocking(move || fresh_postgres_database(&cluster_url))
            .await
            .unwrap()
    };
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = config_in(&dir);
    config.db = Database::Postgres(database);
    let server = start_with(dir, config).await;
    let mut client = server.client().await;
    let (session, _) = client.create_session("before", "before the outage").await;

    // The database goes away: a send is refused with `unavailable`, naming the message, and
    // the connection stays open.
    let cluster = Arc::new(cluster);
    let stopping = cluster.clone();
    tokio::task::spawn_blocking(move || stopping.stop())
        .await
        .unwrap();
    client
        .send_message(Some(&session), "during", "typed during the outage")
        .await;
    let refused = client
        .recv_until(|f| ty(f) == "error" || ty(f) == "ack")
        .await;
    let error = refused.last().unwrap();
    assert_eq!(ty(error), "error", "{refused:#?}");
    assert_eq!(error["code"], "unavailable", "{error}");
    assert_eq!(error["ref"], "during");
    client.send(json!({"type": "ping", "nonce": "alive"})).await;
    let pong = client.recv_until(|f| ty(f) == "pong").await;
    assert_eq!(pong.last().unwrap()["nonce"], "alive");

    // It comes back: the client's retry goes through with nothing else done by anyone.
    let resuming = cluster.clone();
    tokio::task::spawn_blocking(move || resuming.resume())
        .await
        .unwrap();
    let frames = send_until_acked(&mut client, &session, "during", "typed during the outage").await;
    assert_eq!(assistant_text(&frames), "echo: typed during the outage");

    // Nothing acked was lost, nothing ran twice, and the log is dense.
    let mut reader = server.client().await;
    reader
        .send(json!({"type": "switch_session", "sessionId": session, "lastSeq": 0}))
        .await;
    let switched = reader.recv().await;
    assert_eq!(ty(&switched), "session_switched", "{switched}");
    let log = reader.sync().await;
    let events = events_of(&log, &session);
    assert_dense(&events, 1);
    let sent: Vec<&str> = events
        .iter()
        .filter(|f| ty(f) == "user_message")
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(sent, ["before the outage", "typed during the outage"]);
    let replies = events.iter().filter(|f| is_turn_end(f)).count();
    assert_eq!(replies, 2, "{log:#?}");
    server.stop().await;
}

#[tokio::test]
async fn a_second_server_on_one_database_is_refused_while_the_first_runs() {
    let Some(cluster) = postgres_cluster() else {
        eprintln!("a PostgreSQL test: it runs in the PostgreSQL pass (scripts/test-postgres.sh)");
        return;
    };
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = config_in(&dir);
    config.db = Database::Postgres(
        tokio::task::spawn_blocking(move || fresh_postgres_database(&cluster))
            .await
            .unwrap(),
    );
    let first = start_with(dir.clone(), config.clone()).await;
    let refused = sessionwire_server::Server::open(config.clone())
        .await
        .expect_err("a second writer of one database");
    let message = format!("{refused:#}");
    assert!(
        message.contains("another sessionwire-server is already using"),
        "{message}"
    );
    first.stop().await;

    // Once the first is gone, a server starts on the database (PostgreSQL may take a moment
    // to end the first one's session).
    let deadline = Instant::now() + GUARD;
    loop {
        match sessionwire_server::Server::open(config.clone()).await {
            Ok(server) => {
                server.hub().shutdown().await;
                break;
            }
            Err(error) => {
                assert!(Instant::now() < deadline, "{error:#}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

//! The PostgreSQL store beyond what every store passes (PROTOCOL.md §9.2): a database outage
//! is answered `unavailable`, loses nothing acked, and service resumes by itself once the
//! database is back (on a cluster of its own, which it stops and starts); and three real server
//! processes on one database, the one serving the user SIGKILLed mid-turn. Runs in the
//! PostgreSQL pass (scripts/test-postgres.sh).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{postgres::PgCluster, *};
use futures_util::StreamExt;
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

    // Nothing acked was lost, nothing ran twice, and the log is dense. (A connection relayed
    // to another process right after the outage may be told to reconnect, as the package does.)
    let log = loop {
        let mut reader = server.client().await;
        reader
            .send(json!({"type": "switch_session", "sessionId": session, "lastSeq": 0}))
            .await;
        let answered = tokio::time::timeout(GUARD, reader.ws_mut().next()).await;
        if let Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) = answered {
            let switched: Value = serde_json::from_str(text.as_str()).unwrap();
            assert_eq!(ty(&switched), "session_switched", "{switched}");
            break reader.sync().await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
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
async fn a_database_that_takes_only_tls_is_served_over_checked_tls_with_scram() {
    if postgres_cluster().is_none() {
        eprintln!("a PostgreSQL test: it runs in the PostgreSQL pass (scripts/test-postgres.sh)");
        return;
    }
    let cluster = tokio::task::spawn_blocking(|| {
        let cluster = PgCluster::start_tls();
        let mut admin = cluster.admin();
        admin
            .batch_execute("CREATE ROLE sessionwire LOGIN PASSWORD 'secret'")
            .unwrap();
        admin
            .batch_execute("CREATE DATABASE sw OWNER sessionwire")
            .unwrap();
        cluster
    })
    .await
    .unwrap();
    let base = format!(
        "postgres://sessionwire:secret@127.0.0.1:{}/sw",
        cluster.port
    );
    let ca = cluster.ca().display().to_string();
    let url = format!("{base}?sslmode=verify-full&sslrootcert={ca}");

    // Served: a whole turn stored and answered.
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = config_in(&dir);
    config.db = Database::Postgres(url.clone());
    let server = start_with(dir, config).await;
    let mut client = server.client().await;
    let (session, frames) = client.create_session("tls", "over TLS").await;
    assert_eq!(assistant_text(&frames), "echo: over TLS");

    // Every connection of the server is TLS (the database refuses any other on TCP, and its
    // statistics say so), with the password sent by SCRAM.
    let cluster = Arc::new(cluster);
    let admin = cluster.clone();
    let (encrypted, plain): (i64, i64) = tokio::task::spawn_blocking(move || {
        let row = admin
            .admin()
            .query_one(
                "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
                 FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
                 WHERE a.usename = 'sessionwire'",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    })
    .await
    .unwrap();
    assert!(
        encrypted >= 3,
        "the writer's, the cluster's and the relay's connections: {encrypted}"
    );
    assert_eq!(plain, 0);
    client
        .send_message(Some(&session), "again", "still TLS")
        .await;
    let frames = client.recv_until(is_turn_end).await;
    assert_eq!(assistant_text(&frames), "echo: still TLS");
    server.stop().await;

    // Refused, each saying why: no TLS where the database insists on it; TLS checked against
    // the system's roots, which do not know this CA.
    for (url, expected) in [
        (format!("{base}?sslmode=disable"), "no encryption"),
        (format!("{base}?sslmode=require"), "certificate"),
    ] {
        let outcome = tokio::task::spawn_blocking(move || {
            let target =
                sessionwire_server::store::postgres::Target::parse(&url, "the test database")?;
            target.connect().map(drop).map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
        let error = format!("{:#}", outcome.unwrap_err());
        assert!(error.contains(expected), "{expected}: {error}");
    }
    drop(cluster);
}

/// A `sessionwire-server` process on `db`, SIGKILLed when dropped.
struct Process {
    child: std::process::Child,
    addr: String,
}

impl Process {
    fn start(db: &str, lease_timeout_secs: u32) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sessionwire-server"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--db",
                db,
                "--lease-timeout-secs",
            ])
            .arg(lease_timeout_secs.to_string())
            .arg("--www")
            .arg(std::env::temp_dir())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("no listening line: {line:?}"))
            .to_owned();
        // Keep reading, so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while stdout.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        Self { child, addr }
    }

    fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A connected client (welcome read) of the server at `url`.
async fn connect(url: &str) -> Client {
    let mut client = Client::connect(url).await;
    let welcome = client.hello(None).await;
    assert_eq!(ty(&welcome), "welcome", "{welcome}");
    client
}

/// Connects to `url` until the server there serves the user again (its holder died: the
/// relayed connection is closed until the lease moved), bounded by [`GUARD`].
async fn switch_when_served(url: &str, session: &str, last_seq: u64) -> (Client, Vec<Value>) {
    let deadline = Instant::now() + GUARD * 2;
    loop {
        let mut client = connect(url).await;
        client
            .send(json!({"type": "switch_session", "sessionId": session, "lastSeq": last_seq}))
            .await;
        let reply = tokio::time::timeout(Duration::from_secs(3), client.recv()).await;
        if let Ok(reply) = reply {
            if ty(&reply) == "session_switched" {
                let replay = client.sync().await;
                return (client, replay);
            }
        }
        assert!(
            Instant::now() < deadline,
            "the session was never served again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn three_processes_a_killed_holder_its_watchers_elsewhere_see_the_turn_end_and_the_lease_moves(
) {
    let Some(cluster) = postgres_cluster() else {
        eprintln!("a PostgreSQL test: it runs in the PostgreSQL pass (scripts/test-postgres.sh)");
        return;
    };
    let db = tokio::task::spawn_blocking(move || fresh_postgres_database(&cluster))
        .await
        .unwrap();
    let mut processes: Vec<Process> = (0..3).map(|_| Process::start(&db, 2)).collect();

    // The user's first connection is on process 0, which therefore serves the user.
    let mut writer = connect(&processes[0].url()).await;
    let (session, created) = writer.create_session("m1", "hello").await;
    let first_turn = created
        .iter()
        .filter_map(|f| f["seq"].as_u64())
        .max()
        .unwrap();
    // A watcher on process 1 (relayed to 0) sees the next turn stream in.
    let mut watcher = connect(&processes[1].url()).await;
    watcher
        .send(json!({"type": "switch_session", "sessionId": session, "lastSeq": first_turn}))
        .await;
    let switched = watcher.recv().await;
    assert_eq!(ty(&switched), "session_switched", "{switched}");
    assert_eq!(switched["running"], false);
    watcher.sync().await;
    writer
        .send_message(Some(&session), "m2", "/slow 40 a long answer that is cut")
        .await;
    let seen = watcher
        .recv_until(|f| ty(f) == "block_delta" && f["seq"].as_u64() > Some(first_turn))
        .await;
    let mut last_seq = seen.iter().filter_map(|f| f["seq"].as_u64()).max().unwrap();

    // The holder dies mid-turn. The relayed watcher is told to reconnect, and once the lease
    // moved (2 s), its reconnect is served again: the cut turn ended with an error.
    processes[0].kill();
    let close = loop {
        use tokio_tungstenite::tungstenite::Message;
        match tokio::time::timeout(GUARD, watcher.ws_mut().next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                if let Some(seq) = frame["seq"].as_u64() {
                    last_seq = last_seq.max(seq);
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => break None,
            Err(_) => panic!("the relayed watcher was never told its server died"),
        }
    };
    assert_eq!(close, Some(1012), "closed with service restart");
    let (mut watcher, replay) = switch_when_served(&processes[1].url(), &session, last_seq).await;
    let turn_end = replay
        .iter()
        .find(|f| is_turn_end(f))
        .unwrap_or_else(|| panic!("no turn_end in the replay: {replay:#?}"));
    assert_eq!(turn_end["reason"], "error");
    assert_eq!(turn_end["error"], "server_restart");

    // The writer, reconnected to process 2, sends m3 once, and retries m2 (already stored):
    // a duplicate, run once cluster-wide.
    let mut writer = connect(&processes[2].url()).await;
    writer
        .send(json!({"type": "switch_session", "sessionId": session, "lastSeq": last_seq}))
        .await;
    assert_eq!(ty(&writer.recv().await), "session_switched");
    writer.sync().await;
    writer
        .send_message(Some(&session), "m2", "/slow 40 a long answer that is cut")
        .await;
    let ack = writer.recv_until(|f| ty(f) == "ack").await.pop().unwrap();
    assert_eq!(ack["duplicate"], true, "{ack}");
    writer.send_message(Some(&session), "m3", "after").await;
    let frames = writer.recv_until(is_turn_end).await;
    assert_eq!(assistant_text(&frames), "echo: after");
    let live = watcher.recv_until(is_turn_end).await;
    assert_eq!(assistant_text(&live), "echo: after");

    // The whole log, read on process 1: dense, each message stored once.
    let (_, log) = switch_when_served(&processes[1].url(), &session, 0).await;
    let events = events_of(&log, &session);
    assert_dense(&events, 1);
    let sent: Vec<&str> = events
        .iter()
        .filter(|f| ty(f) == "user_message")
        .map(|f| f["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        sent,
        ["hello", "/slow 40 a long answer that is cut", "after"],
        "{log:#?}"
    );
    for process in &mut processes {
        process.kill();
    }
}

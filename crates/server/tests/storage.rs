//! Durability beyond the happy path (PROTOCOL.md §2 and §3): acked messages still queued when
//! the server dies run after the restart, exactly once; and a full disk (a real one: a small
//! tmpfs this test mounts and unmounts, so it runs as root) never leaves a seq hole, answers
//! `unavailable`, ends the cut turn once space is back, and does not keep the server from
//! starting.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

/// The text of every completed assistant reply in a log, in order.
fn replies(frames: &[Value]) -> Vec<String> {
    let mut replies = Vec::new();
    let mut current = String::new();
    for frame in frames {
        match ty(frame) {
            "block_delta" => current.push_str(frame["delta"].as_str().unwrap()),
            "turn_end" => replies.push(std::mem::take(&mut current)),
            _ => {}
        }
    }
    replies
}

/// The whole log of a session, read by a new connection.
async fn whole_log(server: &TestServer, session: &str) -> Vec<Value> {
    let mut client = server.client().await;
    client
        .send(json!({"type": "switch_session", "sessionId": session, "lastSeq": 0}))
        .await;
    let switched = client.recv().await;
    assert_eq!(ty(&switched), "session_switched", "{switched}");
    client.sync().await
}

/// Reads until `done` holds for the session's whole log read afresh (bounded by [`GUARD`]).
async fn wait_for_log(
    server: &TestServer,
    session: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + GUARD;
    loop {
        let log = whole_log(server, session).await;
        if done(&log) {
            return log;
        }
        assert!(Instant::now() < deadline, "never reached: {log:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends `/slow` to a new session, then two more messages that queue behind it, and returns
/// the session once all three are acked.
async fn session_with_two_queued(client: &mut Client) -> String {
    client
        .send_message(None, "first", "/slow 30 a long first answer")
        .await;
    let frames = client.recv_until(|f| ty(f) == "ack").await;
    let session = frames.iter().find(|f| ty(f) == "session_created").unwrap()["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in ["q1", "q2"] {
        client.send_message(Some(&session), id, id).await;
        let ack = client
            .recv_until(|f| ty(f) == "ack" && f["clientMsgId"] == id)
            .await
            .pop()
            .unwrap();
        assert_eq!(ack["running"], true);
    }
    session
}

#[tokio::test]
async fn acked_messages_queued_at_a_crash_run_after_the_restart_exactly_once() {
    let server = start().await;
    let mut client = server.client().await;
    let session = session_with_two_queued(&mut client).await;
    drop(client);
    let (dir, config) = server.crash().await;

    let server = start_with(dir, config).await;
    let log = wait_for_log(&server, &session, |log| replies(log).len() >= 3).await;
    let replies = replies(&log);
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert!(
        "echo: a long first answer".starts_with(&replies[0]),
        "the cut first turn: {replies:?}"
    );
    assert_eq!(replies[1..], ["echo: q1", "echo: q2"]);
    let turn_ends: Vec<&Value> = log.iter().filter(|f| is_turn_end(f)).collect();
    assert_eq!(turn_ends[0]["error"], "server_restart");
    assert_eq!(turn_ends[1]["reason"], "completed");
    assert_dense(&log.iter().collect::<Vec<_>>(), 1);

    // A second restart runs nothing again.
    let before = whole_log(&server, &session).await.len();
    let (dir, config) = server.crash().await;
    let server = start_with(dir, config).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = whole_log(&server, &session).await;
    assert_eq!(replies_count(&after), 3);
    assert!(after.len() >= before);
    server.stop().await;
}

fn replies_count(log: &[Value]) -> usize {
    replies(log).len()
}

#[tokio::test]
async fn acked_messages_queued_at_a_graceful_shutdown_run_after_the_restart() {
    let server = start().await;
    let mut client = server.client().await;
    let session = session_with_two_queued(&mut client).await;
    drop(client);
    let (dir, config) = (server.dir.clone(), server.config.clone());
    server.stop().await;
    let server = start_with(dir, config).await;
    let log = wait_for_log(&server, &session, |log| replies(log).len() >= 3).await;
    assert_eq!(replies(&log)[1..], ["echo: q1", "echo: q2"]);
    server.stop().await;
}

#[tokio::test]
async fn messages_queued_when_the_user_stops_a_session_do_not_run_after_a_restart() {
    let server = start().await;
    let mut client = server.client().await;
    let session = session_with_two_queued(&mut client).await;
    client
        .send(json!({"type": "stop", "sessionId": session}))
        .await;
    client.recv_until(is_turn_end).await;
    client.sync().await;
    drop(client);
    let (dir, config) = server.crash().await;
    let server = start_with(dir, config).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = whole_log(&server, &session).await;
    assert_eq!(replies(&log).len(), 1, "only the stopped turn: {log:#?}");
    let texts: Vec<&str> = log
        .iter()
        .filter(|f| ty(f) == "user_message")
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 3, "the queued messages stay in the history");
    server.stop().await;
}

/// A tmpfs of `size` mounted on a new temporary directory, unmounted when dropped.
struct SmallDisk {
    dir: Arc<tempfile::TempDir>,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("running mount");
        assert!(
            status.success(),
            "this test mounts a small tmpfs to fill it for real: run it as root"
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the disk is full.
    fn fill(&self) -> PathBuf {
        let path = self.path().join(format!("filler-{}", rand()));
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![7u8; 4096];
        while file.write_all(&block).and_then(|()| file.flush()).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn rand() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[tokio::test]
async fn a_full_disk_leaves_no_seq_hole_answers_unavailable_and_recovers() {
    if postgres_cluster().is_some() {
        // The disk here is SQLite's file; PostgreSQL's outage has its own test.
        eprintln!("the SQLite store's full-disk test: it runs in the SQLite pass");
        return;
    }
    let disk = SmallDisk::mount("8m");
    let mut config = config_in(&disk.dir);
    config.slow_interval = Duration::from_millis(150);
    let server = start_with(disk.dir.clone(), config.clone()).await;
    let mut client = server.client().await;
    let (session, _) = client.create_session("m0", "hello").await;

    // A turn streams; the disk fills up in the middle of it.
    client
        .send_message(
            Some(&session),
            "long",
            &format!("/slow 40 {}", "word ".repeat(80)),
        )
        .await;
    let mut seen = client.recv_until(|f| ty(f) == "block_delta").await;
    let filler = disk.fill();
    // Nothing more of the turn is stored, so nothing more is shown; a new message is refused.
    tokio::time::sleep(Duration::from_millis(600)).await;
    seen.extend(client.sync().await);
    client
        .send_message(Some(&session), "offline", "typed on a full disk")
        .await;
    let refused = client.recv_until(|f| ty(f) == "error").await;
    let error = refused.last().unwrap();
    assert_eq!(error["code"], "unavailable", "{error}");
    assert_eq!(error["ref"], "offline");
    seen.extend(refused);

    // Space comes back: the cut turn ends with `storage`, the session is ENDED, and the
    // message the client kept in its outbox goes through on its retry.
    std::fs::remove_file(&filler).unwrap();
    let repaired = client
        .recv_until(|f| ty(f) == "session_state" && f["state"] == "ENDED")
        .await;
    let turn_end = repaired
        .iter()
        .find(|f| is_turn_end(f))
        .unwrap_or_else(|| panic!("no turn_end: {repaired:#?}"));
    assert_eq!(turn_end["reason"], "error");
    assert_eq!(turn_end["error"], "storage");
    seen.extend(repaired);
    let live = events_of(&seen, &session);
    let first = live[0]["seq"].as_u64().unwrap();
    assert_dense(&live, first);
    // (The repair's events can reach the client a moment before the server lifts the fence:
    // a retry then is answered `unavailable` once more, and the client retries again, as the
    // package's outbox does.)
    let deadline = Instant::now() + GUARD;
    let frames = loop {
        client
            .send_message(Some(&session), "offline", "typed on a full disk")
            .await;
        let frames = client
            .recv_until(|f| is_turn_end(f) || (ty(f) == "error" && f["ref"] == "offline"))
            .await;
        let last = frames.last().unwrap();
        if is_turn_end(last) {
            break frames;
        }
        assert_eq!(last["code"], "unavailable", "{last}");
        assert!(Instant::now() < deadline, "the retry was never accepted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(assistant_text(&frames), "echo: typed on a full disk");

    // The stored log has no hole and nothing the client did not see.
    let log = whole_log(&server, &session).await;
    let all: Vec<&Value> = log.iter().collect();
    assert_dense(&all, 1);
    let shown: Vec<u64> = live.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    for event in &all {
        let seq = event["seq"].as_u64().unwrap();
        if shown.contains(&seq) {
            let original = live.iter().find(|e| e["seq"] == seq).unwrap();
            assert_eq!(*original, *event, "seq {seq} was shown as something else");
        }
    }
    drop(client);

    // The server restarts on a full disk and serves what is stored.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let filler = disk.fill();
    let (dir, config) = server.crash().await;
    let server = start_with(dir, config).await;
    let log_on_full_disk = whole_log(&server, &session).await;
    assert_eq!(log_on_full_disk[..log.len()], log[..]);
    assert_dense(&log_on_full_disk.iter().collect::<Vec<_>>(), 1);
    std::fs::remove_file(filler).unwrap();
    server.stop().await;
}

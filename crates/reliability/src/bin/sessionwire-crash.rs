//! Crash test of the real binary: clients stream turns, the server is SIGKILLed at a random
//! moment, restarted on the same database, and every client reconnects, replays, resends its
//! unacknowledged messages with the same ids, and resumes. Repeated `--iterations` times.
//!
//! Checked: every acknowledged message is stored exactly once and run exactly once (one
//! `turn_start` per `user_message`: a message acked and still queued at the kill runs after the
//! restart, without being sent again); every session's seqs are dense from 1; every client gets
//! a reply to a new message after each restart. Exits non-zero on the first violation. All
//! traffic is on 127.0.0.1.

#![allow(clippy::print_stdout)] // A command-line tool reports on stdout.

use anyhow::{bail, ensure, Result};
use clap::Parser;
use sessionwire_reliability::client::Client;
use sessionwire_reliability::server::{default_binary, ServerProcess};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    /// How many kill-and-restart rounds.
    #[arg(long, default_value_t = 10)]
    iterations: u32,
    /// How many concurrent clients, each with its own session.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// The server binary (default: next to this tool, or $SESSIONWIRE_SERVER).
    #[arg(long)]
    server: Option<PathBuf>,
    /// The store (`--db` of the server): a `postgres://` URL of an empty database, or by
    /// default an SQLite file in a temporary directory.
    #[arg(long)]
    db: Option<String>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let binary = args.server.unwrap_or_else(default_binary);
    let dir = tempfile::tempdir()?;
    let db = args
        .db
        .clone()
        .map_or_else(|| dir.path().join("crash.db").into_os_string(), Into::into);
    let started = Instant::now();

    let mut server = ServerProcess::start(&binary, &db, "127.0.0.1:0", &[]).await?;
    let address = server.address.clone();
    let mut clients: Vec<Client> = (0..args.clients)
        .map(|i| Client::new(&format!("c{i}")))
        .collect();
    let mut sessions: Vec<String> = Vec::new();
    for client in &mut clients {
        client.connect(&address).await?;
        client.send_text(None, "hello").await?;
        let created = client
            .next_until(|f| f["type"] == "session_created")
            .await?;
        sessions.push(created["sessionId"].as_str().unwrap_or_default().to_owned());
        client.next_until(|f| f["type"] == "turn_end").await?;
    }

    let mut kills = 0;
    for round in 0..args.iterations {
        // Every client starts a slow turn and queues a plain message behind it.
        for (client, session) in clients.iter_mut().zip(&sessions) {
            client
                .send_text(Some(session), &format!("/slow 8 round {round} streaming"))
                .await?;
            client
                .send_text(Some(session), &format!("queued {round}"))
                .await?;
        }
        // Let the turns stream for a while, reading as they go, then kill mid-stream.
        let deadline = Instant::now() + Duration::from_millis(150 + u64::from(round % 5) * 60);
        while Instant::now() < deadline {
            for client in &mut clients {
                let _ = tokio::time::timeout(Duration::from_millis(10), client.next_frame()).await;
            }
        }
        server.kill().await?;
        kills += 1;
        for client in &mut clients {
            client.disconnect();
        }

        server = ServerProcess::start(&binary, &db, &address, &[]).await?;
        for (client, session) in clients.iter_mut().zip(&sessions) {
            let welcome = client.connect(&address).await?;
            ensure!(welcome["type"] == "welcome", "no welcome after restart");
            let reconnected = client.resync().await?;
            let row = &reconnected["sessions"][0];
            ensure!(
                row["sessionId"] == session.as_str(),
                "reconnected names another session: {reconnected}"
            );
            // `running` may be true: a message acked and queued at the kill runs again now.
            // Resent messages are acked (as duplicates when they were stored before the kill).
            let deadline = Instant::now() + Duration::from_secs(30);
            while !client.outbox.is_empty() {
                ensure!(
                    Instant::now() < deadline,
                    "{}: outbox never drained: {:?}",
                    client.name,
                    client.outbox
                );
                client.next_frame().await?;
            }
            // The client resumes: a new message gets its reply.
            let text = format!("after restart {round}");
            client.send_text(Some(session), &text).await?;
            client.wait_for_echo(&text).await?;
        }
    }

    // Final audit: every session's whole history, from seq 1.
    let mut stored_messages = 0;
    let mut runs = 0;
    let mut events = 0;
    for (client, session) in clients.iter_mut().zip(&sessions) {
        let history = client.full_history(session).await?;
        for (index, event) in history.iter().enumerate() {
            ensure!(
                event["seq"].as_u64() == Some(index as u64 + 1),
                "seqs of {session} are not dense at {index}"
            );
        }
        let mut counts: BTreeMap<String, u32> = BTreeMap::new();
        for event in history.iter().filter(|e| e["type"] == "user_message") {
            *counts
                .entry(event["messageId"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
        for id in &client.acked {
            match counts.get(id) {
                Some(1) => {}
                other => bail!("acked message {id} is stored {other:?} times"),
            }
        }
        let turns = history.iter().filter(|e| e["type"] == "turn_start").count();
        let messages: usize = counts.values().map(|n| *n as usize).sum();
        ensure!(
            turns == messages,
            "{session}: {messages} messages stored but {turns} turns run: an acked message was dropped or run twice"
        );
        runs += turns;
        ensure!(
            client.errors.is_empty(),
            "{}: error frames: {:?}",
            client.name,
            client.errors
        );
        stored_messages += counts.len();
        events += history.len();
    }
    server.kill().await?;
    println!(
        "crash test: {} rounds, {kills} SIGKILLs, {} clients, {stored_messages} messages stored and {runs} run exactly once, {events} events dense, {:.1}s",
        args.iterations,
        args.clients,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

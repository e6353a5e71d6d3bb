//! Crash test of the real binary: clients stream turns, the server is SIGKILLed at a random
//! moment, restarted on the same database, and every client reconnects, replays, resends its
//! unacknowledged messages with the same ids, and resumes. Repeated `--iterations` times.
//!
//! With `--processes N` (a `postgres://` `--db`), N servers share the database; clients are
//! spread over them, each round kills one of them at random (sometimes the one serving the
//! user, sometimes one only relaying to it), and every client reconnects to one at random.
//! The moment, the victim and the reconnections come from `--seed` (printed at the start, so
//! a failing run can be replayed).
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
    /// How many server processes share the database (more than one needs a `postgres://` --db).
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// The seed of the kills' moments, victims and reconnections (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
}

/// Connects and resyncs, again while the server answers by closing (a process that relayed
/// to one that was just killed, or one that is taking the user over, tells its clients to
/// reconnect, as the package does).
async fn reconnect(client: &mut Client, address: &str) -> Result<serde_json::Value> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let tried = async {
            let welcome = client.connect(address).await?;
            ensure!(welcome["type"] == "welcome", "no welcome after restart");
            client.resync().await
        }
        .await;
        match tried {
            Ok(reconnected) => return Ok(reconnected),
            Err(error) if attempt < 50 => {
                client.disconnect();
                let _ = error;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => return Err(error),
        }
    }
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
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |since| since.as_nanos() as u64)
    });
    println!("crash test: seed {seed} (--seed {seed} replays its choices)");
    // Seeded: a run replays the same choices.
    let mut choices = fastrand::Rng::with_seed(seed);

    ensure!(
        args.processes >= 1 && (args.processes == 1 || args.db.is_some()),
        "--processes above 1 needs a postgres:// --db"
    );
    let mut servers = Vec::new();
    for _ in 0..args.processes {
        servers.push(ServerProcess::start(&binary, &db, "127.0.0.1:0", &[]).await?);
    }
    let addresses: Vec<String> = servers.iter().map(|s| s.address.clone()).collect();
    let mut clients: Vec<Client> = (0..args.clients)
        .map(|i| Client::new(&format!("c{i}")))
        .collect();
    let mut sessions: Vec<String> = Vec::new();
    for (index, client) in clients.iter_mut().enumerate() {
        client.connect(&addresses[index % addresses.len()]).await?;
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
        let streaming = 100 + choices.u64(0..400);
        let deadline = Instant::now() + Duration::from_millis(streaming);
        while Instant::now() < deadline {
            for client in &mut clients {
                let _ = tokio::time::timeout(Duration::from_millis(10), client.next_frame()).await;
            }
        }
        let victim = choices.usize(..servers.len());
        let killed = servers.remove(victim);
        killed.kill().await?;
        kills += 1;
        for client in &mut clients {
            client.disconnect();
        }

        servers.insert(
            victim,
            ServerProcess::start(&binary, &db, &addresses[victim], &[]).await?,
        );
        for (client, session) in clients.iter_mut().zip(&sessions) {
            let address = &addresses[choices.usize(..addresses.len())];
            let reconnected = reconnect(client, address).await?;
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
    for server in servers {
        server.kill().await?;
    }
    println!(
        "crash test: {} server process(es), {} rounds, {kills} SIGKILLs at random, {} clients, {stored_messages} messages stored and {runs} run exactly once, {events} events dense, seed {seed}, {:.1}s",
        args.processes,
        args.iterations,
        args.clients,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

//! Load and soak test of the real binary: many concurrent WebSocket connections on loopback,
//! each with its own session, doing sends, switches, reconnects and interrupts for a bounded
//! time. Checks that no error frame arrives, that every acknowledged message is stored once
//! and answered exactly once, and reports connections, messages, errors and the server's RSS.

#![allow(clippy::print_stdout)] // A command-line tool reports on stdout.

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use serde_json::json;
use sessionwire_reliability::client::Client;
use sessionwire_reliability::server::{default_binary, ServerProcess};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// How long the mixed workload runs, after every connection is open.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Pause between two operations of one connection.
    #[arg(long, default_value_t = 500)]
    pause_ms: u64,
    #[arg(long)]
    server: Option<PathBuf>,
}

#[derive(Default)]
struct Totals {
    sends: AtomicU64,
    replies: AtomicU64,
    reconnects: AtomicU64,
    switches: AtomicU64,
    interrupts: AtomicU64,
    /// Interrupts that arrived after their turn had already ended (nothing to stop).
    late_interrupts: AtomicU64,
    events: AtomicU64,
}

/// One connection's life: create a session, then a mix of operations until `until`.
async fn connection(
    index: usize,
    address: String,
    until: Instant,
    pause: Duration,
    totals: Arc<Totals>,
) -> Result<Client> {
    let mut client = Client::new(&format!("k{index}"));
    client.connect(&address).await?;
    client.send_text(None, "hi").await?;
    let created = client
        .next_until(|f| f["type"] == "session_created")
        .await?;
    let session = created["sessionId"].as_str().unwrap_or_default().to_owned();
    client.wait_for_echo("hi").await?;
    let mut step = 0u64;
    // Interrupts without text are acked but store no user_message.
    let mut textless = std::collections::BTreeSet::new();
    while Instant::now() < until {
        tokio::time::sleep(pause).await;
        step += 1;
        match step % 10 {
            3 => {
                client.disconnect();
                client
                    .connect(&address)
                    .await
                    .context("reconnect: connect")?;
                client.resync().await.context("reconnect: resync")?;
                totals.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            6 => {
                let held = client.last_seq.get(&session).copied().unwrap_or(0);
                client
                    .send_frame(
                        json!({"type": "switch_session", "sessionId": session, "lastSeq": held}),
                    )
                    .await?;
                client
                    .next_until(|f| f["type"] == "session_switched")
                    .await
                    .context("switch: waiting for session_switched")?;
                totals.switches.fetch_add(1, Ordering::Relaxed);
            }
            9 => {
                client
                    .send_text(Some(&session), "/slow 6 interrupted soon")
                    .await?;
                let mut turn_over = false;
                client
                    .next_until(|f| {
                        turn_over |= f["type"] == "turn_end";
                        f["type"] == "block_delta" || turn_over
                    })
                    .await
                    .context("interrupt: waiting for the slow turn to stream")?;
                let id = client.fresh_id();
                textless.insert(id.clone());
                client
                    .send_frame(
                        json!({"type": "interrupt", "sessionId": session, "clientMsgId": id}),
                    )
                    .await?;
                // Under load the slow turn may finish before the interrupt lands: then the
                // interrupt is acked and stops nothing. Either way the turn is over once both
                // the ack and a turn_end have arrived.
                let mut acked = false;
                let mut interrupted = false;
                client
                    .next_until(|f| {
                        acked |= f["type"] == "ack" && f["clientMsgId"] == id.as_str();
                        if f["type"] == "turn_end" {
                            turn_over = true;
                            interrupted |= f["reason"] == "interrupted";
                        }
                        acked && turn_over
                    })
                    .await
                    .context("interrupt: waiting for its ack and the turn's end")?;
                if interrupted {
                    totals.interrupts.fetch_add(1, Ordering::Relaxed);
                } else {
                    totals.late_interrupts.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {
                let text = format!("m{index}-{step}");
                client.send_text(Some(&session), &text).await?;
                totals.sends.fetch_add(1, Ordering::Relaxed);
                client
                    .wait_for_echo(&text)
                    .await
                    .with_context(|| format!("send: waiting for the reply to {text}"))?;
                totals.replies.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    // Audit this connection's session: each acked message stored once, each plain message
    // answered exactly once.
    let history = client
        .full_history(&session)
        .await
        .context("audit: reading the whole history")?;
    let mut stored: BTreeMap<&str, u32> = BTreeMap::new();
    let mut replies: BTreeMap<String, String> = BTreeMap::new();
    for event in &history {
        match event["type"].as_str() {
            Some("user_message") => {
                *stored
                    .entry(event["messageId"].as_str().unwrap_or_default())
                    .or_default() += 1
            }
            Some("block_delta") => replies
                .entry(event["messageId"].as_str().unwrap_or_default().to_owned())
                .or_default()
                .push_str(event["delta"].as_str().unwrap_or_default()),
            _ => {}
        }
    }
    for id in client.acked.difference(&textless) {
        ensure!(
            stored.get(id.as_str()) == Some(&1),
            "k{index}: acked {id} stored {:?} times",
            stored.get(id.as_str())
        );
    }
    for step in 1..=step {
        let expected = format!("echo: m{index}-{step}");
        let answers = replies.values().filter(|text| **text == expected).count();
        if step % 10 != 3 && step % 10 != 6 && step % 10 != 9 {
            ensure!(
                answers == 1,
                "k{index}: {expected} answered {answers} times"
            );
        }
    }
    ensure!(
        client.errors.is_empty(),
        "k{index}: error frames {:?}",
        client.errors
    );
    totals.events.fetch_add(client.events, Ordering::Relaxed);
    Ok(client)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let binary = args.server.unwrap_or_else(default_binary);
    let dir = tempfile::tempdir()?;
    let server =
        ServerProcess::start(&binary, &dir.path().join("soak.db"), "127.0.0.1:0", &[]).await?;
    let rss_start = server.rss_kib();
    let started = Instant::now();
    let until = started + Duration::from_secs(args.seconds);
    let totals = Arc::new(Totals::default());
    let mut tasks = Vec::with_capacity(args.connections);
    for index in 0..args.connections {
        let (address, totals) = (server.address.clone(), totals.clone());
        let pause = Duration::from_millis(args.pause_ms);
        tasks.push(tokio::spawn(connection(
            index, address, until, pause, totals,
        )));
        if index % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut rss_peak = rss_start.unwrap_or(0);
    // RSS every 10 s of the run: stable memory shows as a flat series once all are connected.
    let mut rss_series = Vec::new();
    let mut next_sample = started;
    let mut failures = Vec::new();
    let mut clients = Vec::new();
    for task in tasks {
        while !task.is_finished() {
            let rss = server.rss_kib().unwrap_or(0);
            rss_peak = rss_peak.max(rss);
            if Instant::now() >= next_sample {
                rss_series.push(format!("{}s:{}", started.elapsed().as_secs(), rss / 1024));
                next_sample += Duration::from_secs(10);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        match task.await.context("task panicked")? {
            Ok(client) => clients.push(client),
            Err(error) => failures.push(format!("{error:#}")),
        }
    }
    let rss_end = server.rss_kib();
    server.kill().await?;
    let t = &totals;
    println!(
        "soak: {} connections for {:.0}s: {} sends, {} replies, {} reconnects, {} switches, {} interrupts ({} after their turn ended), {} events; \
         {} failed connections; server RSS {} KiB at start, {} KiB peak, {} KiB at end",
        args.connections,
        started.elapsed().as_secs_f64(),
        t.sends.load(Ordering::Relaxed),
        t.replies.load(Ordering::Relaxed),
        t.reconnects.load(Ordering::Relaxed),
        t.switches.load(Ordering::Relaxed),
        t.interrupts.load(Ordering::Relaxed),
        t.late_interrupts.load(Ordering::Relaxed),
        t.events.load(Ordering::Relaxed),
        failures.len(),
        rss_start.unwrap_or(0),
        rss_peak,
        rss_end.unwrap_or(0),
    );
    println!("server RSS (MiB) over time: {}", rss_series.join(" "));
    drop(clients);
    if !failures.is_empty() {
        bail!(
            "{} connections failed; first: {}",
            failures.len(),
            failures[0]
        );
    }
    Ok(())
}

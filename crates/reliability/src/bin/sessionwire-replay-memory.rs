//! Benchmark (not a test): server memory while it replays a long history to clients that read
//! slowly (PROTOCOL.md §1.2: replays are read from the store in pages as the socket drains).
//!
//! It fills one session with `--events` events through the real binary, then measures the
//! server's resident memory above idle while 1, then `--clients` connections replay the whole
//! history at `--read-rate` frames a second each, and once more with one `reconnect` that names
//! the session 40 times. Goal (issue 11): under 64 MiB above idle for one reader and for 30.
//!
//! `cargo run --release -p sessionwire-reliability --bin sessionwire-replay-memory`

#![allow(clippy::print_stdout)] // A command-line tool reports on stdout.

use anyhow::{ensure, Context, Result};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sessionwire_reliability::server::{default_binary, rss_kib, ServerProcess};
use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser, Debug)]
struct Args {
    /// Events in the replayed session (at least).
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Characters of each prompt (the echo agent replies with as many).
    #[arg(long, default_value_t = 2000)]
    text_bytes: usize,
    /// Concurrent slow readers in the second round.
    #[arg(long, default_value_t = 30)]
    clients: usize,
    /// Frames a second each slow reader reads.
    #[arg(long, default_value_t = 5_000)]
    read_rate: u64,
    /// The server binary (default: next to this tool, or $SESSIONWIRE_SERVER).
    #[arg(long)]
    server: Option<PathBuf>,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(address: &str) -> Result<Socket> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{address}/ws")).await?;
    ws.send(Message::Text(
        json!({"type": "hello", "protocol": 1}).to_string().into(),
    ))
    .await?;
    let welcome = next(&mut ws).await?;
    ensure!(welcome["type"] == "welcome", "{welcome}");
    Ok(ws)
}

async fn next(ws: &mut Socket) -> Result<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .context("no frame in 60 s")?
            .context("connection ended")??;
        if let Message::Text(text) = message {
            return Ok(serde_json::from_str(text.as_str())?);
        }
    }
}

/// Fills a new session with at least `events` events; returns its id and last seq.
async fn fill(address: &str, events: u64, text_bytes: usize) -> Result<(String, u64)> {
    let mut ws = connect(address).await?;
    let text = "x".repeat(text_bytes);
    let send = |session: Option<&str>, id: u64| {
        json!({"type": "send", "sessionId": session, "clientMsgId": format!("m{id}"), "text": text})
            .to_string()
    };
    ws.send(Message::Text(send(None, 0).into())).await?;
    let mut session = String::new();
    let mut last_seq = 0;
    let mut sent = 1;
    let mut acked = 0;
    let window = 100;
    while last_seq < events || acked < sent {
        let frame = next(&mut ws).await?;
        match frame["type"].as_str() {
            Some("session_created") => {
                session = frame["sessionId"].as_str().unwrap_or_default().to_owned()
            }
            Some("ack") => acked += 1,
            Some("error") => anyhow::bail!("error while filling: {frame}"),
            _ => {}
        }
        if let Some(seq) = frame["seq"].as_u64().filter(|_| frame["type"] != "ack") {
            last_seq = last_seq.max(seq);
        }
        // Keep a window of sends in flight until the session is long enough.
        while !session.is_empty()
            && sent - acked < window
            && last_seq + (sent - acked) * 11 < events
        {
            ws.send(Message::Text(send(Some(&session), sent).into()))
                .await?;
            sent += 1;
        }
        if last_seq >= events && acked == sent {
            break;
        }
    }
    // Wait for the last turn to end.
    while last_seq < events {
        let frame = next(&mut ws).await?;
        if let Some(seq) = frame["seq"].as_u64() {
            last_seq = last_seq.max(seq);
        }
    }
    Ok((session, last_seq))
}

/// One reader that replays the whole session at `rate` frames a second; returns how many
/// events it read.
async fn slow_replay(address: String, frame: Value, until: u64, rate: u64) -> Result<u64> {
    let mut ws = connect(&address).await?;
    ws.send(Message::Text(frame.to_string().into())).await?;
    let started = Instant::now();
    let mut read = 0u64;
    let mut highest = 0;
    while highest < until {
        let frame = next(&mut ws).await?;
        if let Some(seq) = frame["seq"].as_u64() {
            highest = highest.max(seq);
            read += 1;
        }
        // Pace: `read` frames should take `read / rate` seconds.
        let due = Duration::from_secs_f64(read as f64 / rate as f64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    Ok(read)
}

/// Samples the server's RSS every 50 ms until `done`; returns the peak in KiB.
fn sample_peak(pid: u32, done: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    let peak = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while !done.load(Ordering::SeqCst) {
            if let Some(rss) = rss_kib(pid) {
                peak.fetch_max(rss, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        peak.load(Ordering::SeqCst)
    })
}

async fn round(
    name: &str,
    server: &ServerProcess,
    frames: Vec<Value>,
    until: u64,
    rate: u64,
    idle: u64,
) -> Result<u64> {
    let pid = server.pid().context("server pid")?;
    let done = Arc::new(AtomicBool::new(false));
    let sampler = sample_peak(pid, done.clone());
    let started = Instant::now();
    let readers: Vec<_> = frames
        .into_iter()
        .map(|frame| tokio::spawn(slow_replay(server.address.clone(), frame, until, rate)))
        .collect();
    let count = readers.len();
    let mut events = 0;
    for reader in readers {
        events += reader.await??;
    }
    done.store(true, Ordering::SeqCst);
    let peak = sampler.await?;
    let above = peak.saturating_sub(idle);
    println!(
        "{name}: {count} reader(s), {events} events replayed in {:.1} s; server RSS peak {} KiB = {:.1} MiB above idle",
        started.elapsed().as_secs_f64(),
        peak,
        above as f64 / 1024.0
    );
    Ok(above)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let binary = args.server.unwrap_or_else(default_binary);
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("replay.db");
    // No per-connection rate limit while filling: the point is the replay, not the limiter.
    let extra = ["--rate-limit", "1000000", "--rate-burst", "1000000"];
    let server = ServerProcess::start(&binary, &db, "127.0.0.1:0", &extra).await?;
    let started = Instant::now();
    let (session, last_seq) = fill(&server.address, args.events, args.text_bytes).await?;
    let db_bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.path().join("replay.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!(
        "filled session {session}: {last_seq} events, database {:.1} MiB, in {:.1} s",
        db_bytes as f64 / 1_048_576.0,
        started.elapsed().as_secs_f64()
    );
    // Restart so idle is measured on a server that has not just written everything.
    drop(server);
    let server = ServerProcess::start(&binary, &db, "127.0.0.1:0", &extra).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = server.rss_kib().context("server RSS")?;
    println!("idle: server RSS {idle} KiB");
    let switch = json!({"type": "switch_session", "sessionId": session, "lastSeq": 0});
    let one = round(
        "switch",
        &server,
        vec![switch.clone()],
        last_seq,
        args.read_rate,
        idle,
    )
    .await?;
    let many = round(
        "switch",
        &server,
        vec![switch; args.clients],
        last_seq,
        args.read_rate,
        idle,
    )
    .await?;
    let cursors: Vec<Value> = (0..40)
        .map(|_| json!({"sessionId": session, "lastSeq": 0}))
        .collect();
    let reconnect = json!({"type": "reconnect", "sessions": cursors});
    let merged = round(
        "reconnect x40",
        &server,
        vec![reconnect],
        last_seq,
        args.read_rate,
        idle,
    )
    .await?;
    let limit = 64 * 1024;
    println!(
        "goal: under 64 MiB above idle: one reader {}, {} readers {}, reconnect naming it 40 times {}",
        if one < limit { "met" } else { "NOT met" },
        args.clients,
        if many < limit { "met" } else { "NOT met" },
        if merged < limit { "met" } else { "NOT met" },
    );
    Ok(())
}

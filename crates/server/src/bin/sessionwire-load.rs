//! `sessionwire-load`: a load generator for the server (issue 4, item 10).
//!
//! It opens N connections, each with its own session on the echo agent, sends M messages per
//! connection one after the other, and measures the events/s delivered and the latency from a
//! `send` to the first event of its turn (p50/p99). In the same run it measures a raw
//! tokio-tungstenite server that answers each `send` with as many frames of the same size and no
//! storage at all: the ceiling. It also reports the memory of idle sessions.
//!
//! `cargo run --release -p sessionwire-server --bin sessionwire-load -- [CONNECTIONS] [MESSAGES] [PACE_MS]`
//!
//! With `PACE_MS` 0 (the default) every connection sends its next message as soon as the last
//! turn ended: a closed loop that saturates the machine and measures throughput. With a pace,
//! each connection sends one message every `PACE_MS` (connections spread evenly over the
//! interval): an open loop below saturation, which measures the latency a user would see.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sessionwire_server::{Config, Server};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

struct Report {
    events: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// One client: hello, create a session, then `messages` sends, each awaited to its `turn_end`,
/// the i-th sent no earlier than `offset + i * pace` after the session exists.
async fn client(
    url: String,
    messages: usize,
    pace: Duration,
    offset: Duration,
) -> (u64, Vec<Duration>) {
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(&url, None, true)
        .await
        .expect("connect");
    let send = |frame: Value| Message::Text(frame.to_string().into());
    ws.send(send(json!({"type": "hello", "protocol": 1})))
        .await
        .unwrap();
    let mut session: Option<String> = None;
    let (mut events, mut latencies) = (0u64, Vec::with_capacity(messages));
    let mut origin = Instant::now();
    for i in 0..=messages {
        if i == 1 {
            origin = Instant::now() + offset;
        }
        if i > 0 && !pace.is_zero() {
            tokio::time::sleep_until((origin + pace * (i as u32 - 1)).into()).await;
        }
        let start = Instant::now();
        let frame = json!({"type": "send", "sessionId": session, "clientMsgId": format!("m{i}"), "text": "hello load"});
        ws.send(send(frame)).await.unwrap();
        let mut first = true;
        loop {
            let Some(Ok(Message::Text(text))) = ws.next().await else {
                panic!("connection lost")
            };
            let frame: Value = serde_json::from_str(text.as_str()).unwrap();
            let kind = frame["type"].as_str().unwrap_or("");
            if kind == "session_created" {
                session = frame["sessionId"].as_str().map(str::to_owned);
            }
            if frame.get("seq").is_some() && kind != "ack" {
                if first && i > 0 {
                    latencies.push(start.elapsed());
                }
                first = false;
                if i > 0 {
                    events += 1;
                }
            }
            if kind == "turn_end" {
                break;
            }
        }
    }
    (events, latencies)
}

async fn drive(url: &str, connections: usize, messages: usize, pace: Duration) -> Report {
    let start = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|index| {
            let offset = pace * index as u32 / connections.max(1) as u32;
            tokio::spawn(client(url.to_owned(), messages, pace, offset))
        })
        .collect();
    let mut report = Report {
        events: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for task in tasks {
        let (events, latencies) = task.await.unwrap();
        report.events += events;
        report.latencies.extend(latencies);
    }
    report.elapsed = start.elapsed();
    report.latencies.sort();
    report
}

/// The ceiling: a WebSocket server that answers each `send` with `per_turn` frames shaped like
/// echo events (the last one a `turn_end`), stores nothing and routes nothing.
async fn raw_server(listener: TcpListener, per_turn: usize) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            let mut seq = 0u64;
            while let Some(Ok(message)) = ws.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                if !text.as_str().contains("\"send\"") {
                    continue;
                }
                for i in 0..per_turn {
                    seq += 1;
                    let kind = if i + 1 == per_turn {
                        "turn_end"
                    } else {
                        "block_delta"
                    };
                    let frame = json!({"type": kind, "sessionId": "0192f0a0-0000-7000-8000-000000000000", "seq": seq,
                        "ts": 0, "messageId": "0192f0a0-0000-7000-8000-000000000001",
                        "blockId": "0192f0a0-0000-7000-8000-000000000002", "delta": "echo"});
                    if ws
                        .send(Message::Text(frame.to_string().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        });
    }
}

fn print(name: &str, report: &Report) {
    let rate = report.events as f64 / report.elapsed.as_secs_f64();
    println!(
        "{name:<22} {:>9} events in {:>7.2?}  {:>10.0} events/s  send->first event p50 {:>9.2?} p99 {:>9.2?}",
        report.events,
        report.elapsed,
        rate,
        percentile(&report.latencies, 0.50),
        percentile(&report.latencies, 0.99)
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let connections: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let messages: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let pace = Duration::from_millis(args.next().and_then(|a| a.parse().ok()).unwrap_or(0));
    let dir = tempfile::tempdir()?;

    let server = Server::open(Config::new(dir.path().join("load.db"))).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}/ws", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));

    println!(
        "{connections} connections x {messages} messages, pace {pace:?} (0: closed loop), echo agent, SQLite synchronous=FULL"
    );
    let sessionwire = drive(&url, connections, messages, pace).await;
    let per_turn = (sessionwire.events as usize / (connections * messages).max(1)).max(1);

    let raw = TcpListener::bind("127.0.0.1:0").await?;
    let raw_url = format!("ws://{}", raw.local_addr()?);
    tokio::spawn(raw_server(raw, per_turn));
    let ceiling = drive(&raw_url, connections, messages, pace).await;

    print("sessionwire-server", &sessionwire);
    print("raw tungstenite ceiling", &ceiling);
    let ratio = (sessionwire.events as f64 / sessionwire.elapsed.as_secs_f64())
        / (ceiling.events as f64 / ceiling.elapsed.as_secs_f64());
    println!("ratio to ceiling: {ratio:.2}x ({per_turn} events per turn)");

    // Memory of idle sessions: RSS growth per session created and then left idle (detached).
    let idle = 1000;
    let before = rss_kib();
    for _ in 0..idle / 100 {
        let tasks: Vec<_> = (0..100)
            .map(|_| tokio::spawn(client(url.clone(), 0, Duration::ZERO, Duration::ZERO)))
            .collect();
        for task in tasks {
            task.await?;
        }
    }
    let after = rss_kib();
    println!(
        "memory: {:.1} KiB RSS per idle session ({idle} sessions, runtime kept alive, DETACHED)",
        after.saturating_sub(before) as f64 / f64::from(idle)
    );
    let _ = stop.send(());
    serving.await??;
    Ok(())
}

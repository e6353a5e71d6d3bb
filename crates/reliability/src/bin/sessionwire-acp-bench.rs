//! Benchmark (not a test): events/s through the `acp` agent against the built-in `echo` agent,
//! on the same real server binary, the same machine and the same run (issue 15: the ACP path at
//! least 0.5× the echo agent's events/s, so the JSON-RPC hop does not dominate).
//!
//! Each agent answers `/chunks N` with N chunks and no pause: the echo agent in-process, the
//! fake ACP agent (`crates/fake-acp-agent`) as a child process over JSON-RPC. `--conns`
//! connections each create a session and run `--turns` turns one after the other; every turn's
//! streamed text is checked (`"1 2 … N "`, nothing lost or doubled) and its events counted.
//!
//! Then the permission round trip (issue 15: an answer reaches the agent < 5 ms p99 after the
//! browser sends it): `--permissions` times, one session asks `/perm` and the client answers the
//! moment it sees the `permission_request`. "Reached the agent" is the wall-clock time the fake
//! agent logs as the answer arrives (`FAKE_ACP_ANSWER_LOG`; same machine, same clock), against
//! the client's clock as it sent the answer; the time until the client sees the tool completed
//! (the agent acted, and its update was stored and delivered) is reported too.
//!
//! `cargo build --release -p sessionwire-server -p sessionwire-fake-acp-agent -p sessionwire-reliability`
//! then `target/release/sessionwire-acp-bench [--chunks 1000] [--turns 10] [--conns 4] [--permissions 200]`

#![allow(clippy::print_stdout)] // A command-line tool reports on stdout.

use anyhow::{ensure, Context, Result};
use clap::Parser;
use serde_json::Value;
use sessionwire_reliability::{
    client::Client,
    server::{default_binary, ServerProcess},
};
use std::{path::PathBuf, time::Instant};

#[derive(Parser, Debug)]
struct Args {
    /// Chunks per turn.
    #[arg(long, default_value_t = 1000)]
    chunks: usize,
    /// Turns per connection, one after the other.
    #[arg(long, default_value_t = 10)]
    turns: usize,
    /// Connections, each with its own session (and, for ACP, its own agent process).
    #[arg(long, default_value_t = 4)]
    conns: usize,
    /// Permission round trips to time.
    #[arg(long, default_value_t = 200)]
    permissions: usize,
    /// The fake ACP agent (default: next to this binary).
    #[arg(long)]
    fake_agent: Option<PathBuf>,
}

/// Runs the load against a server started with `extra` flags; returns events/s.
async fn measure(args: &Args, extra: &[&str]) -> Result<(f64, u64)> {
    let dir = tempfile::tempdir()?;
    let server = ServerProcess::start(
        &default_binary(),
        &dir.path().join("bench.db"),
        "127.0.0.1:0",
        extra,
    )
    .await?;
    let address = server.address.clone();
    let expected: String = (1..=args.chunks).map(|k| format!("{k} ")).collect();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for conn in 0..args.conns {
        let (address, expected, turns, chunks) =
            (address.clone(), expected.clone(), args.turns, args.chunks);
        tasks.push(tokio::spawn(async move {
            let mut client = Client::new(&format!("bench{conn}"));
            client.connect(&address).await?;
            let mut session: Option<String> = None;
            let mut events = 0u64;
            for _ in 0..turns {
                client
                    .send_text(session.as_deref(), &format!("/chunks {chunks}"))
                    .await?;
                let mut text = String::new();
                loop {
                    let frame: Value = client.next_frame().await?;
                    if frame["seq"].is_u64() && frame["type"] != "ack" {
                        events += 1;
                    }
                    match frame["type"].as_str() {
                        Some("session_created") => {
                            session = frame["sessionId"].as_str().map(str::to_owned)
                        }
                        Some("block_delta") => {
                            text.push_str(frame["delta"].as_str().unwrap_or_default())
                        }
                        Some("turn_end") => {
                            ensure!(frame["reason"] == "completed", "a turn ended {frame}");
                            break;
                        }
                        Some("error") => anyhow::bail!("error frame {frame}"),
                        _ => {}
                    }
                }
                ensure!(
                    text == expected,
                    "a turn streamed {} chars, not the {} expected",
                    text.len(),
                    expected.len()
                );
            }
            anyhow::Ok(events)
        }));
    }
    let mut events = 0;
    for task in tasks {
        events += task.await.context("a connection task")??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    server.kill().await?;
    Ok((events as f64 / elapsed, events))
}

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
        })
}

/// The `q` quantile of `samples` (sorted here), in ms.
fn quantile_ms(samples: &mut [u64], q: f64) -> f64 {
    samples.sort_unstable();
    let at = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples.get(at).copied().unwrap_or(0) as f64 / 1000.0
}

/// Times `count` permission round trips through the ACP agent; returns (to the agent, to the
/// tool completed) in µs per answer.
async fn permission_round_trips(
    fake: &std::path::Path,
    count: usize,
) -> Result<(Vec<u64>, Vec<u64>)> {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("answers.log");
    let command = format!(
        "FAKE_ACP_ANSWER_LOG={} exec {}",
        log.display(),
        fake.display()
    );
    let server = ServerProcess::start(
        &default_binary(),
        &dir.path().join("bench.db"),
        "127.0.0.1:0",
        &[
            "--rate-limit",
            "1000000",
            "--rate-burst",
            "1000000",
            "--agent",
            "acp",
            "--agent-cmd",
            &command,
        ],
    )
    .await?;
    let mut client = Client::new("perm");
    client.connect(&server.address).await?;
    let mut session: Option<String> = None;
    let (mut sent_at, mut completed) = (Vec::new(), Vec::new());
    for n in 0..count {
        client.send_text(session.as_deref(), "/perm bench").await?;
        let request = client
            .next_until(|frame| {
                if frame["type"] == "session_created" {
                    session = frame["sessionId"].as_str().map(str::to_owned);
                }
                frame["type"] == "permission_request"
            })
            .await?;
        let sent = now_micros();
        let started = Instant::now();
        client
            .send_frame(serde_json::json!({"type": "respond_permission",
                "sessionId": session, "clientMsgId": format!("answer-{n}"),
                "requestId": request["requestId"], "optionId": "allow_once"}))
            .await?;
        client
            .next_until(|frame| frame["type"] == "tool_update" && frame["status"] == "completed")
            .await?;
        completed.push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        sent_at.push(sent);
        let end = client
            .next_until(|frame| frame["type"] == "turn_end")
            .await?;
        ensure!(end["reason"] == "completed", "a /perm turn ended {end}");
    }
    server.kill().await?;
    let arrived: Vec<u64> = std::fs::read_to_string(&log)?
        .lines()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    ensure!(
        arrived.len() == count,
        "the agent logged {} answers of {count}",
        arrived.len()
    );
    let reached = arrived
        .iter()
        .zip(&sent_at)
        .map(|(arrived, sent)| arrived.saturating_sub(*sent))
        .collect();
    Ok((reached, completed))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let fake = args
        .fake_agent
        .clone()
        .unwrap_or_else(|| default_binary().with_file_name("sessionwire-fake-acp-agent"));
    ensure!(
        fake.exists(),
        "{} not found: cargo build --release -p sessionwire-fake-acp-agent",
        fake.display()
    );
    let limits = ["--rate-limit", "1000000", "--rate-burst", "1000000"];
    let (echo, echo_events) = measure(&args, &[&limits[..], &["--agent", "echo"]].concat()).await?;
    let command = fake.display().to_string();
    let (acp, acp_events) = measure(
        &args,
        &[&limits[..], &["--agent", "acp", "--agent-cmd", &command]].concat(),
    )
    .await?;
    println!(
        "chunks={} turns={} conns={} echo_events={echo_events} echo_events_per_s={echo:.0} acp_events={acp_events} acp_events_per_s={acp:.0} acp_over_echo={:.2}",
        args.chunks,
        args.turns,
        args.conns,
        acp / echo
    );
    if args.permissions > 0 {
        let (mut reached, mut completed) = permission_round_trips(&fake, args.permissions).await?;
        println!(
            "permissions={} answer_to_agent_ms p50={:.2} p99={:.2} max={:.2} answer_to_tool_completed_ms p50={:.2} p99={:.2}",
            args.permissions,
            quantile_ms(&mut reached, 0.5),
            quantile_ms(&mut reached, 0.99),
            quantile_ms(&mut reached, 1.0),
            quantile_ms(&mut completed, 0.5),
            quantile_ms(&mut completed, 0.99),
        );
    }
    Ok(())
}

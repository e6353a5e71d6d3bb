//! Benchmark (not a test): events/s through the `acp` agent against the built-in `echo` agent,
//! on the same real server binary, the same machine and the same run (issue 15: the ACP path at
//! least 0.5× the echo agent's events/s, so the JSON-RPC hop does not dominate).
//!
//! Each agent answers `/chunks N` with N chunks and no pause: the echo agent in-process, the
//! fake ACP agent (`crates/fake-acp-agent`) as a child process over JSON-RPC. `--conns`
//! connections each create a session and run `--turns` turns one after the other; every turn's
//! streamed text is checked (`"1 2 … N "`, nothing lost or doubled) and its events counted.
//!
//! `cargo build --release -p sessionwire-server -p sessionwire-fake-acp-agent -p sessionwire-reliability`
//! then `target/release/sessionwire-acp-bench [--chunks 1000] [--turns 10] [--conns 4]`

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
    Ok(())
}

//! Store benchmarks: throughput on a 100k-frame streamed trace, the cost of one `block_delta` on
//! a 1 KB versus a 1 MB message (it must be flat: O(delta), not O(message)), and a long
//! conversation replayed into a fresh view (10,000 short turns: every new message is looked up
//! first), also with two unechoed sends that every replayed message goes in before.
//!
//! Run with `cargo bench -p sessionwire-core --bench store`; numbers go in docs/benchmarks.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sessionwire_core::store::Store;
use std::hint::black_box;
use std::time::{Duration, Instant};

const SESSION: &str = "0190d7a4-8b1c-7c3e-9f00-5a1b2c3d4e5f";

fn event(seq: u64, body: &str) -> String {
    format!(r#"{{"sessionId":"{SESSION}","seq":{seq},"ts":1732400000000,{body}}}"#)
}

/// A streamed trace like an agent's: turns of one user message and 998 deltas of ~24 bytes.
pub fn streamed_trace(frames: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(frames);
    let mut seq = 0;
    let mut turn = 0;
    while out.len() < frames {
        turn += 1;
        let mut push = |body: String| {
            seq += 1;
            out.push(event(seq, &body));
        };
        push(format!(
            r#""type":"user_message","messageId":"u{turn}","text":"please continue""#
        ));
        push(format!(r#""type":"turn_start","turnId":"t{turn}""#));
        push(format!(r#""type":"message_start","messageId":"a{turn}""#));
        push(format!(
            r#""type":"block_start","messageId":"a{turn}","blockId":"b0","blockType":"text""#
        ));
        for chunk in 0..992 {
            push(format!(
                r#""type":"block_delta","messageId":"a{turn}","blockId":"b0","delta":"token {chunk:05} of the stream ""#
            ));
        }
        push(format!(
            r#""type":"block_end","messageId":"a{turn}","blockId":"b0""#
        ));
        push(format!(r#""type":"message_end","messageId":"a{turn}""#));
        push(format!(
            r#""type":"turn_end","turnId":"t{turn}","reason":"completed""#
        ));
    }
    out.truncate(frames);
    out
}

/// Benchmarks `store/name`: `trace` fed to a fresh store, in the session it streams, after
/// `pending` sends the server has not echoed yet (their messages stay after the logged ones).
fn receive_trace(c: &mut Criterion, name: &str, trace: &[String], pending: usize) {
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(trace.len() as u64));
    group.sample_size(10);
    group.bench_function(name, |b| {
        b.iter(|| {
            let mut store = Store::new("bench");
            store.switch_session(Some(SESSION));
            for _ in 0..pending {
                store.send("typed while offline");
            }
            for frame in trace {
                black_box(store.receive(frame).expect("valid frame"));
            }
            store
        })
    });
    group.finish();
}

fn stream(c: &mut Criterion) {
    receive_trace(
        c,
        "receive_100k_streamed_frames",
        &streamed_trace(100_000),
        0,
    );
}

/// A store whose current message already holds `length` bytes of text, and the next seq.
fn store_with_message(length: usize) -> (Store, u64) {
    let mut store = Store::new("bench");
    store.switch_session(Some(SESSION));
    let chunk = "x".repeat(1024);
    let mut seq = 0;
    let mut feed = |store: &mut Store, body: &str| {
        seq += 1;
        store.receive(&event(seq, body)).expect("valid frame");
    };
    feed(&mut store, r#""type":"message_start","messageId":"a1""#);
    feed(
        &mut store,
        r#""type":"block_start","messageId":"a1","blockId":"b0","blockType":"text""#,
    );
    for _ in 0..length / 1024 {
        feed(
            &mut store,
            &format!(r#""type":"block_delta","messageId":"a1","blockId":"b0","delta":"{chunk}""#),
        );
    }
    (store, seq + 1)
}

fn delta_cost(c: &mut Criterion) {
    let mut group = c.benchmark_group("block_delta_on_message_of");
    for (label, length) in [("1KB", 1024), ("1MB", 1024 * 1024)] {
        group.bench_with_input(BenchmarkId::from_parameter(label), &length, |b, &length| {
            b.iter_custom(|iterations| {
                let (mut store, first) = store_with_message(length);
                let frames: Vec<String> = (0..iterations)
                    .map(|i| event(first + i, r#""type":"block_delta","messageId":"a1","blockId":"b0","delta":"token of 24 bytes here ""#))
                    .collect();
                let start = Instant::now();
                for frame in &frames {
                    black_box(store.receive(frame).expect("valid frame"));
                }
                let elapsed: Duration = start.elapsed();
                elapsed
            })
        });
    }
    group.finish();
}

/// `turns` short turns (a user message and a one-delta reply): 7 frames per turn.
fn conversation(turns: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(turns * 7);
    for turn in 0..turns {
        let bodies = [
            format!(r#""type":"user_message","messageId":"u{turn}","text":"question {turn}""#),
            format!(r#""type":"turn_start","turnId":"t{turn}""#),
            format!(r#""type":"message_start","messageId":"a{turn}""#),
            format!(
                r#""type":"block_start","messageId":"a{turn}","blockId":"b0","blockType":"text""#
            ),
            format!(
                r#""type":"block_delta","messageId":"a{turn}","blockId":"b0","delta":"answer {turn}""#
            ),
            format!(r#""type":"message_end","messageId":"a{turn}""#),
            format!(r#""type":"turn_end","turnId":"t{turn}","reason":"completed""#),
        ];
        for body in bodies {
            let seq = out.len() as u64 + 1;
            out.push(event(seq, &body));
        }
    }
    out
}

fn long_conversation(c: &mut Criterion) {
    let trace = conversation(10_000);
    receive_trace(c, "replay_10k_turn_conversation", &trace, 0);
    receive_trace(
        c,
        "replay_10k_turn_conversation_with_2_pending_sends",
        &trace,
        2,
    );
}

criterion_group!(benches, stream, delta_cost, long_conversation);
criterion_main!(benches);

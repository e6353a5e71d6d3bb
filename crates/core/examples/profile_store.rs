//! Splits the store's per-frame cost into parsing and reducing, on a streamed trace.
//! `cargo run --release -p sessionwire-core --example profile_store`

#![allow(clippy::print_stdout)] // An example prints its measurements.

use sessionwire_core::protocol::parse_server_frame;
use sessionwire_core::store::Store;
use std::time::Instant;

fn main() {
    let session = "0190d7a4-8b1c-7c3e-9f00-5a1b2c3d4e5f";
    let frames: Vec<String> = (1..=100_000u64)
        .map(|seq| {
            format!(
                r#"{{"type":"block_delta","sessionId":"{session}","seq":{seq},"ts":1732400000000,"messageId":"a1","blockId":"b0","delta":"token {seq:05} of the stream "}}"#
            )
        })
        .collect();
    baseline(&frames);
    for round in 0..3 {
        let start = Instant::now();
        for frame in &frames {
            std::hint::black_box(parse_server_frame(frame).expect("valid"));
        }
        let parse = start.elapsed();
        let mut store = Store::new("p");
        store.switch_session(Some(session));
        store.receive(&format!(r#"{{"type":"message_start","sessionId":"{session}","seq":0,"ts":1,"messageId":"a1"}}"#)).ok();
        let start = Instant::now();
        for frame in &frames {
            std::hint::black_box(store.receive(frame).expect("valid"));
        }
        let total = start.elapsed();
        // The bindings' path: the delta applied in place, nothing copied.
        let mut store = Store::new("p");
        store.switch_session(Some(session));
        store.receive(&format!(r#"{{"type":"message_start","sessionId":"{session}","seq":0,"ts":1,"messageId":"a1"}}"#)).ok();
        let start = Instant::now();
        for frame in &frames {
            std::hint::black_box(store.receive_in_place(frame).expect("valid"));
        }
        let in_place = start.elapsed();
        let per = |d: std::time::Duration| d.as_nanos() as f64 / frames.len() as f64;
        println!(
            "round {round}: parse {:.0} ns/frame, receive {:.0} ns/frame, receive_in_place (in place) {:.0} ns/frame",
            per(parse),
            per(total),
            per(in_place)
        );
    }
}

#[allow(dead_code)]
fn baseline(frames: &[String]) {
    let start = Instant::now();
    for frame in frames {
        std::hint::black_box(serde_json::from_str::<serde_json::Value>(frame).expect("json"));
    }
    println!(
        "serde_json::Value baseline {:.0} ns/frame",
        start.elapsed().as_nanos() as f64 / frames.len() as f64
    );
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Skip {
        #[serde(rename = "type")]
        kind: String,
    }
    let start = Instant::now();
    for frame in frames {
        std::hint::black_box(serde_json::from_str::<Skip>(frame).expect("json"));
    }
    println!(
        "one-field struct (skips the rest) {:.0} ns/frame",
        start.elapsed().as_nanos() as f64 / frames.len() as f64
    );
}

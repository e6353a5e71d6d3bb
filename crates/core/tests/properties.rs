//! Property tests: frames round-trip, the store converges under duplication, redelivery and gaps
//! repaired by replay, and no input panics a parser or the store.

// Test helpers outside `#[test]` functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{json, Value};
use sessionwire_core::protocol::{
    encode, parse_client_frame, parse_server_frame, parse_server_frame_in_place, ParsedFrame,
};
use sessionwire_core::store::{HotChange, Received, Store};

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:-]{1,12}"
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,20}",
        "[\\u{0}-\\u{7f}]{0,8}",
        Just("\"\\\n\u{1F600}".to_owned())
    ]
}

fn state() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "CREATED",
        "STARTING",
        "ACTIVE",
        "DETACHED",
        "SUSPENDED",
        "CLOSING",
        "ENDED",
    ])
}

fn small_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        text().prop_map(Value::from)
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..3)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Any client frame, as JSON with optional fields sometimes absent.
fn client_frame() -> impl Strategy<Value = Value> {
    prop_oneof![
        (any::<u32>(), prop::option::of(text()), prop::option::of(text())).prop_map(|(p, t, c)| {
            let mut v = json!({"type": "hello", "protocol": p});
            if let Some(t) = t { v["token"] = t.into(); }
            if let Some(c) = c { v["clientId"] = c.into(); }
            v
        }),
        (prop::option::of(any::<u32>()), prop::option::of(text())).prop_map(|(l, b)| {
            let mut v = json!({"type": "list_sessions"});
            if let Some(l) = l { v["limit"] = l.into(); }
            if let Some(b) = b { v["before"] = b.into(); }
            v
        }),
        (prop::option::of(id()), prop::option::of(any::<u64>())).prop_map(|(s, l)| {
            let mut v = json!({"type": "switch_session", "sessionId": s});
            if let Some(l) = l { v["lastSeq"] = l.into(); }
            v
        }),
        (prop::option::of(id()), id(), text()).prop_map(|(s, m, t)| json!({"type": "send", "sessionId": s, "clientMsgId": m, "text": t})),
        (id(), id(), prop::option::of(text())).prop_map(|(s, m, t)| {
            let mut v = json!({"type": "interrupt", "sessionId": s, "clientMsgId": m});
            if let Some(t) = t { v["text"] = t.into(); }
            v
        }),
        (prop::sample::select(vec!["stop", "close_session", "suspend", "watch", "unwatch"]), id())
            .prop_map(|(k, s)| json!({"type": k, "sessionId": s})),
        prop::collection::vec((id(), any::<u64>()), 0..4).prop_map(|v| {
            json!({"type": "reconnect", "sessions": v.into_iter().map(|(s, l)| json!({"sessionId": s, "lastSeq": l})).collect::<Vec<_>>()})
        }),
        prop::option::of(text()).prop_map(|n| match n { Some(n) => json!({"type": "ping", "nonce": n}), None => json!({"type": "ping"}) }),
    ]
}

/// Any server frame, as JSON.
fn server_frame() -> impl Strategy<Value = Value> {
    let event = (id(), 1..u64::MAX, any::<u64>()).prop_flat_map(|(s, seq, ts)| {
        let head =
            move |kind: &str| json!({"type": kind, "sessionId": s.clone(), "seq": seq, "ts": ts});
        let h = head.clone();
        prop_oneof![
            (id(), text()).prop_map({
                let h = h.clone();
                move |(m, t)| merge(h("user_message"), json!({"messageId": m, "text": t}))
            }),
            id().prop_map({
                let h = h.clone();
                move |t| merge(h("turn_start"), json!({"turnId": t}))
            }),
            id().prop_map({
                let h = h.clone();
                move |m| merge(h("message_start"), json!({"messageId": m}))
            }),
            (
                id(),
                id(),
                prop::sample::select(vec!["text", "thinking", "tool_use"]),
                prop::option::of(id())
            )
                .prop_map({
                    let h = h.clone();
                    move |(m, b, k, tn)| {
                        let mut v = merge(
                            h("block_start"),
                            json!({"messageId": m, "blockId": b, "blockType": k}),
                        );
                        if let Some(tn) = tn {
                            v["toolName"] = tn.into();
                        }
                        v
                    }
                }),
            (id(), id(), text()).prop_map({
                let h = h.clone();
                move |(m, b, d)| {
                    merge(
                        h("block_delta"),
                        json!({"messageId": m, "blockId": b, "delta": d}),
                    )
                }
            }),
            (
                id(),
                id(),
                prop::option::of(
                    small_json().prop_filter("null input reads as absent", |v| !v.is_null())
                )
            )
                .prop_map({
                    let h = h.clone();
                    move |(m, b, i)| {
                        let mut v = merge(h("block_end"), json!({"messageId": m, "blockId": b}));
                        if let Some(i) = i {
                            v["input"] = i;
                        }
                        v
                    }
                }),
            (id(), id(), small_json(), any::<bool>()).prop_map({
                let h = h.clone();
                move |(m, t, r, e)| {
                    merge(
                        h("tool_result"),
                        json!({"messageId": m, "toolId": t, "result": r, "isError": e}),
                    )
                }
            }),
            id().prop_map({
                let h = h.clone();
                move |m| merge(h("message_end"), json!({"messageId": m}))
            }),
            (
                id(),
                prop::sample::select(vec!["completed", "interrupted", "error"]),
                prop::option::of(text())
            )
                .prop_map({
                    let h = h.clone();
                    move |(t, r, e)| {
                        let mut v = merge(h("turn_end"), json!({"turnId": t, "reason": r}));
                        if let Some(e) = e {
                            v["error"] = e.into();
                        }
                        v
                    }
                }),
            (state(), prop::option::of(state()), text()).prop_map(move |(s, p, r)| merge(
                h("session_state"),
                json!({"state": s, "previous": p, "reason": r})
            )),
        ]
    });
    let reply = prop_oneof![
        (any::<u32>(), id(), id()).prop_map(|(p, c, e)| json!({"type": "welcome", "protocol": p, "connectionId": c, "epoch": e, "server": {"name": "n", "version": "v"}})),
        (prop::collection::vec((id(), text(), state(), any::<bool>(), any::<u64>(), any::<u64>()), 0..3), prop::option::of(text())).prop_map(|(rows, next)| {
            let mut v = json!({"type": "sessions", "sessions":
                rows.into_iter().map(|(s, t, st, r, l, u)| json!({"sessionId": s, "title": t, "state": st, "running": r, "lastSeq": l, "updatedAt": u})).collect::<Vec<_>>()});
            if let Some(next) = next { v["next"] = next.into(); }
            v
        }),
        (id(), state(), any::<bool>(), any::<u64>(), text()).prop_map(|(s, st, r, l, t)| json!({"type": "session_switched", "sessionId": s, "state": st, "running": r, "lastSeq": l, "title": t})),
        Just(json!({"type": "session_cleared"})),
        (id(), id()).prop_map(|(s, m)| json!({"type": "session_created", "sessionId": s, "clientMsgId": m})),
        (id(), id(), any::<u64>(), any::<bool>(), any::<bool>()).prop_map(|(s, m, q, d, r)| json!({"type": "ack", "sessionId": s, "clientMsgId": m, "seq": q, "duplicate": d, "running": r})),
        prop::collection::vec((id(), any::<u64>(), state(), any::<bool>(), any::<u64>()), 0..3).prop_map(|rows| json!({"type": "reconnected", "sessions":
            rows.into_iter().map(|(s, n, st, r, l)| json!({"sessionId": s, "replayed": n, "state": st, "running": r, "lastSeq": l})).collect::<Vec<_>>()})),
        id().prop_map(|s| json!({"type": "watched", "sessionId": s})),
        id().prop_map(|s| json!({"type": "unwatched", "sessionId": s})),
        prop::option::of(text()).prop_map(|n| match n { Some(n) => json!({"type": "pong", "nonce": n}), None => json!({"type": "pong"}) }),
        (prop::sample::select(vec!["bad_frame", "unknown_type", "invalid_field", "hello_required", "unsupported_protocol", "unauthorized", "session_not_found", "frame_too_large", "rate_limited", "internal"]),
         text(), prop::option::of(id()), prop::option::of(id())).prop_map(|(c, m, s, r)| {
            let mut v = json!({"type": "error", "code": c, "message": m});
            if let Some(s) = s { v["sessionId"] = s.into(); }
            if let Some(r) = r { v["ref"] = r.into(); }
            v
        }),
    ];
    prop_oneof![event, reply]
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// A clean trace: several turns over up to three sessions, each session's seqs dense from 1.
fn clean_trace() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(
        (
            0..3usize,
            prop::collection::vec("[a-z ]{1,5}", 1..5),
            prop::sample::select(vec!["completed", "interrupted", "error"]),
        ),
        1..8,
    )
    .prop_map(|turns| {
        let mut seqs = [0u64; 3];
        let mut frames = Vec::new();
        for (turn, (session, chunks, reason)) in turns.into_iter().enumerate() {
            let sid = format!("s{session}");
            let mut push = |kind: &str, fields: Value| {
                seqs[session] += 1;
                frames.push(merge(
                    json!({"type": kind, "sessionId": sid, "seq": seqs[session], "ts": 1}),
                    fields,
                ));
            };
            let mid = format!("a{turn}");
            push(
                "user_message",
                json!({"messageId": format!("u{turn}"), "text": "q"}),
            );
            push("turn_start", json!({"turnId": format!("t{turn}")}));
            push("message_start", json!({"messageId": mid}));
            push(
                "block_start",
                json!({"messageId": mid, "blockId": "b", "blockType": "text"}),
            );
            for chunk in chunks {
                push(
                    "block_delta",
                    json!({"messageId": mid, "blockId": "b", "delta": chunk}),
                );
            }
            push("block_end", json!({"messageId": mid, "blockId": "b"}));
            push("message_end", json!({"messageId": mid}));
            push(
                "turn_end",
                json!({"turnId": format!("t{turn}"), "reason": reason}),
            );
        }
        frames
    })
}

/// What the network does to one frame of the clean trace.
#[derive(Debug, Clone, Copy)]
enum Fate {
    Deliver,
    Drop,
    Duplicate,
    /// Deliver it, then redeliver an earlier frame (by offset back).
    Redeliver(usize),
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![6 => Just(Fate::Deliver), 1 => Just(Fate::Drop), 1 => Just(Fate::Duplicate), 1 => (1..20usize).prop_map(Fate::Redeliver)]
}

/// Replays, like the server on `reconnect`, every event of a session after the seq held.
fn replay(store: &mut Store, trace: &[Value], session_id: &str) {
    let held = store
        .state()
        .views
        .get(session_id)
        .map_or(0, |view| view.last_seq);
    for frame in trace
        .iter()
        .filter(|f| f["sessionId"] == session_id && f["seq"].as_u64().unwrap_or(0) > held)
    {
        store.receive(&frame.to_string()).unwrap();
    }
}

fn snapshot(store: &Store) -> Value {
    serde_json::to_value(store.state()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn client_frames_round_trip(frame in client_frame()) {
        let parsed = parse_client_frame(&frame.to_string());
        // Generated ids are valid, so only a protocol-level constraint could refuse one.
        let parsed = parsed.unwrap();
        let encoded: Value = serde_json::from_str(&encode(&parsed)).unwrap();
        prop_assert_eq!(encoded, frame);
    }

    #[test]
    fn server_frames_round_trip(frame in server_frame()) {
        let parsed = parse_server_frame(&frame.to_string()).unwrap();
        let encoded: Value = serde_json::from_str(&encode(&parsed)).unwrap();
        prop_assert_eq!(encoded, frame);
    }

    #[test]
    fn store_converges_under_duplication_redelivery_and_gaps(trace in clean_trace(), fates in prop::collection::vec(fate(), 200)) {
        let mut clean = Store::new("c");
        clean.switch_session(Some("s0"));
        for frame in &trace {
            prop_assert!(!clean.receive(&frame.to_string()).unwrap().is_empty());
        }

        let mut noisy = Store::new("c");
        noisy.switch_session(Some("s0"));
        for (index, frame) in trace.iter().enumerate() {
            let mut deliveries = Vec::new();
            match fates[index % fates.len()] {
                Fate::Deliver => deliveries.push(frame),
                Fate::Drop => {}
                Fate::Duplicate => { deliveries.push(frame); deliveries.push(frame); }
                Fate::Redeliver(back) => { deliveries.push(frame); deliveries.push(&trace[index.saturating_sub(back)]); }
            }
            for delivered in deliveries {
                // The bindings' path, which applies a streamed delta in place.
                let actions = noisy
                    .receive_in_place(&delivered.to_string())
                    .unwrap()
                    .into_actions();
                // A gap is repaired the way a client does: reconnect, and the server replays.
                if actions.iter().any(|a| a.type_name() == "GAP_DETECTED") {
                    let sid = delivered["sessionId"].as_str().unwrap().to_owned();
                    replay(&mut noisy, &trace[..=index], &sid);
                }
            }
        }
        // The network heals: a final reconnect replays whatever is still missing.
        for sid in ["s0", "s1", "s2"] {
            replay(&mut noisy, &trace, sid);
        }
        prop_assert_eq!(snapshot(&noisy), snapshot(&clean));
    }

    #[test]
    fn arbitrary_text_never_panics(input in ".{0,200}") {
        let _ = parse_server_frame(&input);
        let _ = parse_client_frame(&input);
        let mut store = Store::new("c");
        let before = snapshot(&store);
        if store.receive(&input).is_err() {
            prop_assert_eq!(snapshot(&store), before);
        }
    }

    #[test]
    fn json_shaped_text_never_panics(input in r#"[{}\[\]":,0-9a-zA-Z_\-. ]{0,120}"#) {
        let _ = parse_server_frame(&input);
        let _ = parse_client_frame(&input);
        let _ = Store::new("c").receive(&input);
    }

    #[test]
    fn mutated_frames_never_panic(frame in server_frame(), cut in 0usize..400, byte in any::<u8>()) {
        let mut text = frame.to_string().into_bytes();
        if !text.is_empty() {
            let at = cut % text.len();
            text[at] = byte;
        }
        let text = String::from_utf8_lossy(&text).into_owned();
        let mut store = Store::new("c");
        let before = snapshot(&store);
        if store.receive(&text).is_err() {
            prop_assert_eq!(snapshot(&store), before);
        }
    }
}

/// The Wasm package's predicted deltas, in Rust (src/transfer.rs, src/transfer.js): after a
/// streamed delta the store applied as a hot patch, if [`Store::predict_next`] says yes, the
/// next frames that are the same block's next deltas are only held (the package appends them
/// to its snapshot itself), and told to the store in one [`Store::apply_predicted`] before
/// anything else reaches it. Like the package, it takes every patch after each frame.
struct Predicting {
    store: Store,
    /// The block and the seq predicted next.
    expected: Option<(String, String, String, u64)>,
    /// The texts of the deltas held.
    held: Vec<String>,
    /// How many deltas were held (the test's check that it predicted at all).
    predicted: usize,
}

impl Predicting {
    fn new() -> Self {
        let mut store = Store::new("c");
        store.switch_session(Some("s0"));
        Self {
            store,
            expected: None,
            held: Vec::new(),
            predicted: 0,
        }
    }

    /// The store, once it was told of what was held.
    fn store(&mut self) -> &mut Store {
        if self.expected.take().is_some() {
            let joined = self.held.concat();
            let count = self.held.len() as u64;
            assert_eq!(self.store.apply_predicted(count, &joined), count > 0);
            self.held.clear();
        }
        &mut self.store
    }

    /// Receives a frame in the server's form; whether it was a gap.
    fn receive(&mut self, frame: &str) -> bool {
        if let (Some((sid, mid, bid, seq)), Ok(ParsedFrame::Delta(delta))) =
            (&mut self.expected, parse_server_frame_in_place(frame))
        {
            if (
                delta.session_id,
                delta.message_id,
                delta.block_id,
                delta.seq,
            ) == (sid.as_str(), mid.as_str(), bid.as_str(), *seq)
            {
                self.held.push(delta.delta.to_owned());
                self.predicted += 1;
                *seq += 1;
                return false;
            }
        }
        let store = self.store();
        let received = store.receive_in_place(frame).unwrap();
        let hot = store.take_hot().and_then(HotChange::appended);
        let mut expected = None;
        let gap = match received {
            Received::Delta(delta) => {
                if hot.is_some_and(|hot| store.predict_next(&delta, hot)) {
                    let ids = (delta.session_id, delta.message_id, delta.block_id);
                    expected = Some((ids.0.into(), ids.1.into(), ids.2.into(), delta.seq + 1));
                }
                false
            }
            Received::Actions(actions) => actions.iter().any(|a| a.type_name() == "GAP_DETECTED"),
        };
        if hot.is_none() {
            store.append_patch(&mut String::new());
        }
        self.expected = expected;
        gap
    }
}

/// The server's form of a trace frame (envelope first), which the fast path reads.
fn server_form(frame: &Value) -> String {
    encode(&parse_server_frame(&frame.to_string()).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Deltas the package held and told the store of at once leave the store exactly as
    /// receiving each one does, under duplication, redelivery and gaps repaired by replay.
    #[test]
    fn predicted_deltas_leave_the_store_as_receiving_each_does(trace in clean_trace(), fates in prop::collection::vec(fate(), 200)) {
        let mut each = Store::new("c");
        each.switch_session(Some("s0"));
        let mut predicting = Predicting::new();
        let trace = Vec::from_iter(trace.iter().map(server_form));
        for (index, frame) in trace.iter().enumerate() {
            let deliveries = match fates[index % fates.len()] {
                Fate::Deliver => vec![frame],
                Fate::Drop => vec![],
                Fate::Duplicate => vec![frame, frame],
                Fate::Redeliver(back) => vec![frame, &trace[index.saturating_sub(back)]],
            };
            for delivered in deliveries {
                each.receive_in_place(delivered).unwrap();
                if predicting.receive(delivered) {
                    let sid = serde_json::from_str::<Value>(delivered).unwrap()["sessionId"].as_str().unwrap().to_owned();
                    for frame in trace.iter().filter(|f| f.contains(&format!(r#""sessionId":"{sid}""#))) {
                        each.receive(frame).unwrap();
                        predicting.receive(frame);
                    }
                }
            }
        }
        let store = predicting.store();
        prop_assert_eq!(snapshot(store), snapshot(&each));
    }
}

#[test]
fn a_stream_of_plain_deltas_is_predicted_after_its_first() {
    let mut predicting = Predicting::new();
    let mut seq = 0;
    let mut frame = |kind: &str, fields: Value| {
        seq += 1;
        server_form(&merge(
            json!({"type": kind, "sessionId": "s0", "seq": seq, "ts": 1}),
            fields,
        ))
    };
    let mut frames = vec![
        frame("turn_start", json!({"turnId": "t"})),
        frame("message_start", json!({"messageId": "m"})),
        frame(
            "block_start",
            json!({"messageId": "m", "blockId": "b", "blockType": "text"}),
        ),
    ];
    for word in ["one ", "two ", "three ", "fou\"r ", "five "] {
        frames.push(frame(
            "block_delta",
            json!({"messageId": "m", "blockId": "b", "delta": word}),
        ));
    }
    frames.push(frame(
        "block_end",
        json!({"messageId": "m", "blockId": "b"}),
    ));
    for frame in &frames {
        assert!(!predicting.receive(frame));
    }
    // The first is the store's, then two held; the escaped one is the store's (the fast path
    // does not read it), and so is the one after it, which predicts again.
    assert_eq!(predicting.predicted, 2);
    let text = &predicting.store().state().views["s0"].messages[0].text;
    assert_eq!(text, "one two three fou\"r five ");
}

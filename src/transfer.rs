//! How a frame crosses into Wasm and its applied actions come back out as plain JavaScript
//! objects: the Rust half (`src/transfer.js` is the JavaScript half).
//!
//! Why not wasm-bindgen's own string passing and JSON for the result: per 156-byte event frame,
//! passing the string costs a malloc, a per-character copy loop and a free (~0.5 µs), and turning
//! the actions into objects through JSON text costs a decode and a `JSON.parse` (~0.6 µs); that
//! was more than a hand-written JavaScript reducer spends on the whole frame. Here the frame is
//! written into a buffer Wasm keeps (one `TextEncoder.encodeInto`), and a streamed delta's action
//! is described as numbers: its layout, and for each string the range of the frame string it is
//! a slice of (the parser records where the frame's string values sit), so JavaScript builds the
//! object with `frame.slice` instead of decoding bytes. Strings that are not slices of the frame
//! (escaped ones, ids the store made) go through a side text; actions without a layout go whole
//! as JSON in it. The layouts below must match the actions' serde form exactly: the unit test
//! here and every golden vector in the Wasm suites check it.

use crate::error::{js_error, store_error, BAD_FRAME};
use sessionwire_core::protocol::{write::ToJson, BlockDeltaRef, TextSpan};
use sessionwire_core::store::{Action, Received, Store};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/transfer.js")]
extern "C" {
    /// The JavaScript half: writes frames into Wasm memory and builds the action objects.
    #[derive(Debug, Clone)]
    pub(crate) type FrameTransfer;

    #[wasm_bindgen(constructor)]
    fn new(memory: &JsValue, layouts: &str, mirror: &StateMirror) -> FrameTransfer;

    /// Where frames are written: Wasm memory [ptr, ptr + capacity).
    #[wasm_bindgen(method, js_name = setInput)]
    fn set_input(this: &FrameTransfer, ptr: u32, capacity: u32);

    #[wasm_bindgen(method)]
    fn write(this: &FrameTransfer, frame: &JsValue) -> i32;

    #[wasm_bindgen(method)]
    fn build(this: &FrameTransfer, frame: &JsValue, out: u32) -> JsValue;

    /// Stops taking predicted deltas; returns how many it took since it was last asked.
    #[wasm_bindgen(method, js_name = stopPredicting)]
    fn stop_predicting(this: &FrameTransfer) -> u32;

    /// The texts of the predicted deltas it took, joined (and forgets them).
    #[wasm_bindgen(method, js_name = takeHeld)]
    fn take_held(this: &FrameTransfer) -> String;

    /// The structurally shared state `getState()` returns, kept by applying patches.
    #[derive(Debug, Clone)]
    pub(crate) type StateMirror;

    #[wasm_bindgen(constructor)]
    pub(crate) fn new() -> StateMirror;

    #[wasm_bindgen(method)]
    pub(crate) fn patch(this: &StateMirror, patch: &str);

    #[wasm_bindgen(method)]
    pub(crate) fn state(this: &StateMirror) -> JsValue;

    /// Adds a subscriber; returns the function that removes it.
    #[wasm_bindgen(method)]
    pub(crate) fn subscribe(this: &StateMirror, listener: &JsValue) -> JsValue;

    /// Whether anyone subscribed (so actions are turned into objects only for someone).
    #[wasm_bindgen(method)]
    pub(crate) fn listening(this: &StateMirror) -> bool;

    /// Calls every subscriber with the state and these actions.
    #[wasm_bindgen(method)]
    pub(crate) fn notify(this: &StateMirror, actions: &JsValue);
}

/// The layouts `transfer.js` builds actions from, by number: `[type, [key, kind, ...]]`, where
/// kind 0 is a string (two numbers: a range of the frame or of the side text) and 1 a number.
/// Layout 0 (`null`) is "the whole action as JSON in the side text".
///
/// Only `BLOCK_DELTA` has one, described by [`Encoder::block_delta`] in this key order (serde's,
/// which the unit test checks): it is nearly every frame of a stream. Every event type once had
/// a layout; measured on bench/store.mjs, the others made no difference to frames/s (they are
/// one frame in a hundred), and their code was 0.7 KB of the gzipped package.
const LAYOUTS: &str =
    r#"[null,["BLOCK_DELTA",["sessionId",0,"seq",1,"messageId",0,"blockId",0,"delta",0]]]"#;

/// Layout numbers (positions in [`LAYOUTS`]).
const JSON_LAYOUT: f64 = 0.0;
const BLOCK_DELTA_LAYOUT: f64 = 1.0;

/// Writes the description of a list of actions.
struct Encoder<'a> {
    /// The frame's text and where its string values sit in it.
    frame: &'a str,
    spans: &'a [TextSpan],
    /// Whether the frame is all ASCII (byte offsets are then JavaScript string offsets).
    ascii: bool,
    out: &'a mut Vec<f64>,
    side: &'a mut String,
}

impl Encoder<'_> {
    #[cfg_attr(sessionwire_size, optimize(speed))]
    fn pair(&mut self, a: f64, b: f64) {
        self.out.push(a);
        self.out.push(b);
    }

    /// Describes one action: a `BLOCK_DELTA` by its layout, anything else as JSON.
    fn action(&mut self, action: &Action) {
        match action {
            Action::BlockDelta {
                session_id,
                seq,
                message_id,
                block_id,
                delta,
            } => self.block_delta(
                &BlockDeltaRef {
                    session_id,
                    seq: *seq,
                    ts: 0,
                    message_id,
                    block_id,
                    delta,
                    numbers_at: [(0, 0); 2],
                },
                None,
                false,
            ),
            other => {
                self.out.push(JSON_LAYOUT);
                self.json(other);
            }
        }
    }

    /// The fields of a `block_delta`, in the order of its layout in [`LAYOUTS`] (the unit test
    /// checks it against serde's form of the action), then the hot patch's message and block
    /// positions (`-1` when the delta is in the state's next patch instead); after a hot
    /// patch, the places of the frame's seq and ts digits when the store predicts the block's
    /// next delta (`predicted`; else `-1`), which `transfer.js` then takes without Wasm.
    #[cfg_attr(sessionwire_size, optimize(speed))]
    fn block_delta(&mut self, delta: &BlockDeltaRef<'_>, hot: Option<(u32, u32)>, predicted: bool) {
        self.out.push(BLOCK_DELTA_LAYOUT);
        self.string(delta.session_id);
        // Exactly what JSON.parse makes of the integer: the nearest double.
        self.pair(delta.seq as f64, 0.0);
        self.string(delta.message_id);
        self.string(delta.block_id);
        self.string(delta.delta);
        match hot {
            Some((message, block)) => {
                self.pair(f64::from(message), f64::from(block));
                let [seq, ts] = delta.numbers_at.map(|(a, b)| (a as f64, b as f64));
                match predicted {
                    true => {
                        self.pair(seq.0, seq.1);
                        self.pair(ts.0, ts.1);
                    }
                    false => {
                        self.pair(-1.0, 0.0);
                        self.pair(0.0, 0.0);
                    }
                }
            }
            None => self.pair(-1.0, 0.0),
        }
    }

    /// A string: a slice of the frame when it is one (borrowed from it), or when one of the
    /// frame's string values is exactly this text; else a copy in the side text.
    #[cfg_attr(sessionwire_size, optimize(speed))]
    fn string(&mut self, text: &str) {
        let frame = self.frame;
        // A `&str` borrowed from the frame lies inside it: its offset is the pointer difference.
        let offset = (text.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
        let span = if offset <= frame.len() && text.len() <= frame.len() - offset {
            Some(offset..offset + text.len())
        } else {
            self.spans
                .iter()
                .find(|span| span.len() == text.len() && frame.get((*span).clone()) == Some(text))
                .cloned()
        };
        match span {
            Some(span) if self.ascii => self.pair(span.start as f64, span.end as f64),
            Some(span) => {
                // JavaScript strings count UTF-16 units.
                let start = frame
                    .get(..span.start)
                    .map_or(0, |s| s.encode_utf16().count());
                let len = text.encode_utf16().count();
                self.pair(start as f64, (start + len) as f64);
            }
            None => {
                let start = self.side.len();
                self.side.push_str(text);
                self.pair(-1.0 - start as f64, self.side.len() as f64);
            }
        }
    }

    /// A JSON value, written into the side text.
    fn json(&mut self, value: &dyn ToJson) {
        let start = self.side.len();
        value.write_json(self.side);
        self.pair(start as f64, self.side.len() as f64);
    }
}

/// What a frame did.
#[derive(Debug)]
pub(crate) struct Applied {
    /// The actions applied, in Rust form, except a streamed `BLOCK_DELTA` (applied in place:
    /// nothing for the client to act on).
    pub(crate) actions: Vec<Action>,
    /// Whether anything was applied, and whether its change is in the mirror already.
    pub(crate) described: Described,
    /// All the actions applied, as the array of plain objects `receive` returns.
    pub(crate) js: JsValue,
}

/// What a frame did, before its actions are built.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Described {
    /// Whether anything was applied (subscribers hear of it).
    pub(crate) changed: bool,
    /// Whether the state's change is already in the mirror (a hot delta): no patch to take.
    pub(crate) mirrored: bool,
}

/// The buffers a store reuses for every frame, and the JavaScript half.
#[derive(Debug)]
pub(crate) struct Transfer {
    pub(crate) js: FrameTransfer,
    /// Whether the store predicted the next delta of a block (`Store::predict_next`), which
    /// JavaScript may then take without Wasm.
    predicted: bool,
    /// The frame's UTF-8, written by JavaScript.
    input: Vec<u8>,
    spans: Vec<TextSpan>,
    out: Vec<f64>,
    side: String,
}

impl Transfer {
    pub(crate) fn new(mirror: &StateMirror) -> Self {
        let mut transfer = Self {
            js: FrameTransfer::new(&wasm_bindgen::memory(), LAYOUTS, mirror),
            input: vec![0; 4096],
            spans: Vec::with_capacity(16),
            out: Vec::with_capacity(64),
            side: String::new(),
            predicted: false,
        };
        transfer.register_input();
        transfer
    }

    /// Tells the store of the predicted deltas JavaScript took since the last call (it
    /// appended them to its snapshot already), and ends the prediction: every call into the
    /// store starts with this, so the store has every frame in order before anything else.
    pub(crate) fn take_predicted(&mut self, store: &mut Store) {
        if !std::mem::take(&mut self.predicted) {
            return;
        }
        let count = self.js.stop_predicting();
        let held = if count > 0 {
            self.js.take_held()
        } else {
            String::new()
        };
        store.apply_predicted(u64::from(count), &held);
    }

    /// Tells JavaScript where to write frames (again after the buffer moved).
    fn register_input(&mut self) {
        self.js
            .set_input(self.input.as_mut_ptr() as u32, self.input.len() as u32);
    }

    /// Parses and applies `frame` (a JavaScript string) in `store`. A bad frame is an `Error`
    /// with its §6 code, and changes nothing.
    pub(crate) fn receive(
        &mut self,
        store: &mut Store,
        frame: &JsValue,
    ) -> Result<Applied, JsValue> {
        let (len, ascii) = loop {
            if let Some(written) = self.written(self.js.write(frame))? {
                break written;
            }
        };
        let (actions, described) = self.apply(store, len, ascii)?;
        let js = self.js.build(frame, self.out.as_ptr() as u32);
        Ok(Applied {
            actions,
            described,
            js,
        })
    }

    /// [`Self::receive`] for a frame JavaScript wrote already (`written`: what `write`
    /// returned), whose actions JavaScript builds itself from the description this returns the
    /// address of: the path `ClientStore.receive` takes (src/js/store.js), with no call from
    /// Wasm back into JavaScript for a streamed delta. `None`: the buffer grew, write again.
    #[cfg_attr(sessionwire_size, optimize(speed))]
    pub(crate) fn receive_written(
        &mut self,
        store: &mut Store,
        written: i32,
    ) -> Result<Option<(u32, Described)>, JsValue> {
        let Some((len, ascii)) = self.written(written)? else {
            return Ok(None);
        };
        let (_, described) = self.apply(store, len, ascii)?;
        Ok(Some((self.out.as_ptr() as u32, described)))
    }

    /// Parses and applies the frame in `input[..len]`, and describes its actions in `out`: the
    /// side text's address, their count, then each one (see [`Encoder`]).
    #[cfg_attr(sessionwire_size, optimize(speed))]
    fn apply(
        &mut self,
        store: &mut Store,
        len: usize,
        ascii: bool,
    ) -> Result<(Vec<Action>, Described), JsValue> {
        let Self {
            input,
            spans,
            out,
            side,
            predicted: next,
            ..
        } = self;
        let text = std::str::from_utf8(input.get(..len).unwrap_or_default())
            .map_err(|_| js_error(BAD_FRAME, "frame is not UTF-8", None))?;
        let received = store
            .receive_spans(text, spans)
            .map_err(|error| store_error(&error))?;
        out.clear();
        side.clear();
        // The side text's address, set below once it is written (it may move as it grows).
        out.push(0.0);
        let mut encoder = Encoder {
            frame: text,
            spans,
            ascii,
            out,
            side,
        };
        let hot = store.take_hot();
        let (actions, changed) = match received {
            Received::Delta(delta) => {
                // The next delta of the block, in this frame's form (byte offsets are string
                // offsets then), is JavaScript's to take, if the store predicts it.
                let predicted = ascii && hot.is_some_and(|hot| store.predict_next(&delta, hot));
                *next = predicted;
                encoder.out.push(1.0);
                encoder.block_delta(&delta, hot, predicted);
                (Vec::new(), true)
            }
            Received::Actions(actions) => {
                encoder.out.push(actions.len() as f64);
                for action in &actions {
                    encoder.action(action);
                }
                let changed = !actions.is_empty();
                (actions, changed)
            }
        };
        if let Some(first) = out.first_mut() {
            *first = f64::from(side.as_ptr() as u32);
        }
        Ok((
            actions,
            Described {
                changed,
                mirrored: hot.is_some(),
            },
        ))
    }

    /// What JavaScript's `write` returned, read: the frame's byte length and whether it is all
    /// ASCII; `None` when the buffer was too small (it has grown: write again).
    #[cfg_attr(sessionwire_size, optimize(speed))]
    fn written(&mut self, result: i32) -> Result<Option<(usize, bool)>, JsValue> {
        match result {
            -1 => Err(js_error(BAD_FRAME, "frame is not a string", None)),
            needed if needed < -1 => {
                let needed = usize::try_from(-2 - i64::from(needed)).unwrap_or(0);
                self.input.resize(needed.max(self.input.len() * 2), 0);
                self.register_input();
                Ok(None)
            }
            written => {
                let written = u32::try_from(written).unwrap_or(0);
                Ok(Some(((written / 2) as usize, written % 2 == 1)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    //! The layouts against serde: every action with a layout, described and rebuilt the way
    //! `transfer.js` builds it, equals its serde JSON form, key order included.
    use super::*;
    use serde_json::{json, Value};
    use sessionwire_core::protocol::{parse_server_frame_spans, ParsedFrame};

    /// The JSON text of what `transfer.js` builds from a description (for an ASCII frame), keys
    /// in the order it sets them.
    fn rebuild(frame: &str, out: &[f64], side: &str) -> Vec<String> {
        let layouts: Value = serde_json::from_str(LAYOUTS).unwrap();
        let text = |a: f64, b: f64| -> Value {
            Value::String(if a >= 0.0 {
                frame[a as usize..b as usize].to_owned()
            } else {
                side[(-1.0 - a) as usize..b as usize].to_owned()
            })
        };
        let mut p = 1;
        let mut actions = Vec::new();
        for _ in 0..out[0] as usize {
            let layout = &layouts[out[p] as usize];
            p += 1;
            if layout.is_null() {
                actions.push(side[out[p] as usize..out[p + 1] as usize].to_owned());
                p += 2;
                continue;
            }
            let mut members = vec![format!("\"type\":{}", layout[0])];
            for field in layout[1].as_array().unwrap().chunks(2) {
                let (a, b) = (out[p], out[p + 1]);
                p += 2;
                let value = match field[1].as_u64().unwrap() {
                    0 => text(a, b),
                    1 => json!(a as u64),
                    kind => panic!("unknown kind {kind}"),
                };
                members.push(format!("{}:{value}", field[0]));
            }
            actions.push(format!("{{{}}}", members.join(",")));
            // The hot patch's positions (none in these tests).
            assert_eq!(out[p], -1.0);
            p += 2;
        }
        actions
    }

    /// The description `receive` writes for `actions` (an ASCII frame): the numbers and the side text.
    fn describe(frame: &str, spans: &[TextSpan], actions: &[Action]) -> (Vec<f64>, String) {
        let (mut out, mut side) = (vec![actions.len() as f64], String::new());
        let mut encoder = Encoder {
            frame,
            spans,
            ascii: true,
            out: &mut out,
            side: &mut side,
        };
        for action in actions {
            encoder.action(action);
        }
        (out, side)
    }

    /// `transfer.js` builds the streamed delta's action as a literal when its layout is the
    /// one it names (`DELTA_LAYOUT`): that must be the layout here, or every delta would take
    /// the slower general loop.
    #[test]
    fn transfer_js_knows_the_block_delta_layout() {
        let js = include_str!("transfer.js");
        let line = js
            .lines()
            .find(|line| line.starts_with("const DELTA_LAYOUT = "))
            .unwrap();
        let named = line
            .trim_start_matches("const DELTA_LAYOUT = ")
            .trim_end_matches(';')
            .replace("STR", "0")
            .replace("NUM", "1");
        let named: Value = serde_json::from_str(&named).unwrap();
        let layouts: Value = serde_json::from_str(LAYOUTS).unwrap();
        assert_eq!(layouts[BLOCK_DELTA_LAYOUT as usize], named);
    }

    #[test]
    fn every_layout_rebuilds_the_serde_form() {
        // One frame whose string values cover some of the actions' strings, so both the frame
        // slices and the side text are used.
        let frame = r#"{"sessionId":"s1","messageId":"m1","text":"hi","blockId":"b1"}"#;
        let spans: Vec<TextSpan> = ["s1", "m1", "hi", "b1"]
            .iter()
            .map(|value| {
                let start = frame.find(&format!("\"{value}\"")).unwrap() + 1;
                start..start + value.len()
            })
            .collect();
        let actions: Vec<Action> = serde_json::from_value(json!([
            {"type": "USER_MESSAGE_RECEIVED", "sessionId": "s1", "seq": 1, "messageId": "m1", "text": "hi"},
            {"type": "TURN_START", "sessionId": "s1", "seq": 2, "turnId": "t1"},
            {"type": "MESSAGE_START", "sessionId": "s1", "seq": 3, "messageId": "m2"},
            {"type": "BLOCK_START", "sessionId": "s1", "seq": 4, "messageId": "m2", "blockId": "b1", "blockType": "tool_use", "toolName": "grep"},
            {"type": "BLOCK_START", "sessionId": "s1", "seq": 4, "messageId": "m2", "blockId": "b1", "blockType": "text"},
            {"type": "BLOCK_DELTA", "sessionId": "s1", "seq": 5, "messageId": "m2", "blockId": "b1", "delta": "é\"\\"},
            {"type": "BLOCK_END", "sessionId": "s1", "seq": 6, "messageId": "m2", "blockId": "b1", "input": {"q": [1, 2.5, null]}},
            {"type": "BLOCK_END", "sessionId": "s1", "seq": 6, "messageId": "m2", "blockId": "b1"},
            {"type": "TOOL_RESULT", "sessionId": "s1", "seq": 7, "messageId": "m2", "toolId": "b1", "result": "ok", "isError": false},
            {"type": "MESSAGE_END", "sessionId": "s1", "seq": 8, "messageId": "m2"},
            {"type": "TURN_END", "sessionId": "s1", "seq": 9, "turnId": "t1", "reason": "error", "error": "boom"},
            {"type": "TURN_END", "sessionId": "s1", "seq": 9, "turnId": "t1", "reason": "completed"},
            {"type": "SESSION_STATE_CHANGED", "sessionId": "s1", "seq": 10, "state": "ACTIVE", "previous": null, "reason": ""},
            {"type": "SESSION_STATE_CHANGED", "sessionId": "s1", "seq": 11, "state": "ENDED", "previous": "ACTIVE", "reason": "closed"},
            {"type": "SESSION_SWITCHED", "sessionId": "s1", "state": "DETACHED", "lastSeq": 11, "title": "T"},
            {"type": "SET_RUNNING", "sessionId": "s1", "running": true},
            {"type": "ACK", "sessionId": "s1", "clientMsgId": "c-1", "seq": 12, "duplicate": true, "running": false},
            {"type": "GAP_DETECTED", "sessionId": "s1", "expectedSeq": 3, "receivedSeq": 4_503_599_627_370_497u64},
            {"type": "WELCOME", "protocol": 1, "connectionId": "c", "epoch": "e"},
            {"type": "CONNECTION_LOST"}
        ]))
        .unwrap();
        let (out, side) = describe(frame, &spans, &actions);
        // serde writes the keys in declaration order, and so must the layouts.
        let expected: Vec<String> = actions
            .iter()
            .map(|a| serde_json::to_string(a).unwrap())
            .collect();
        assert_eq!(rebuild(frame, &out, &side), expected);
        // A laid-out action's ids and texts found in the frame are sliced from it, not copied.
        let delta = &actions[5];
        assert!(matches!(delta, Action::BlockDelta { .. }));
        let (out, side) = describe(frame, &spans, std::slice::from_ref(delta));
        assert_eq!(side, "m2é\"\\");
        assert_eq!(
            rebuild(frame, &out, &side),
            [serde_json::to_string(delta).unwrap()]
        );
    }

    #[test]
    fn a_borrowed_block_delta_is_described_like_the_owned_action() {
        let frame = r#"{"type":"block_delta","sessionId":"s1","seq":5,"ts":1,"messageId":"m2","blockId":"b1","delta":"d"}"#;
        let mut spans = Vec::new();
        let ParsedFrame::Delta(delta) = parse_server_frame_spans(frame, &mut spans).unwrap() else {
            panic!("not read in place");
        };
        let (mut out, mut side) = (vec![1.0], String::new());
        let mut encoder = Encoder {
            frame,
            spans: &[],
            ascii: true,
            out: &mut out,
            side: &mut side,
        };
        encoder.block_delta(&delta, None, false);
        let owned = Received::Delta(delta).into_actions();
        assert_eq!(
            rebuild(frame, &out, &side),
            vec![serde_json::to_string(&owned[0]).unwrap()]
        );
        // Every string is a slice of the frame, found by its address (no spans were given).
        assert_eq!(side, "");
    }
}

//! How a frame crosses into Wasm and its applied actions come back out as plain JavaScript
//! objects: the Rust half (`src/transfer.js` is the JavaScript half).
//!
//! Why not wasm-bindgen's own string passing and JSON for the result: per 156-byte event frame,
//! passing the string costs a malloc, a per-character copy loop and a free (~0.5 µs), and turning
//! the actions into objects through JSON text costs a decode and a `JSON.parse` (~0.6 µs); that
//! was more than a hand-written JavaScript reducer spends on the whole frame. Here the frame is
//! written into a buffer Wasm keeps (one `TextEncoder.encodeInto` or a copy loop), and a
//! streamed delta read in place (whose strings are all slices of the frame) is described as
//! numbers: where in the frame string each of its strings is, so JavaScript builds its action
//! with `frame.slice`, plus where its message and block are (a hot patch) and, when the store
//! predicts the block's next delta, where its seq and ts digits are. Every other frame's
//! actions come as one JSON array in a side text, with the state's patch beside them
//! (`[actions, patch]`): they are a few frames in a hundred. The texts of the deltas
//! JavaScript took as predicted come back as UTF-8 it wrote into the `held` buffer.

use crate::error::{js_error, store_error, BAD_FRAME};
use sessionwire_core::protocol::{write::ToJson, BlockDeltaRef};
use sessionwire_core::store::{Action, HotChange, Received, Store};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/transfer.js")]
extern "C" {
    /// The JavaScript half: writes frames into Wasm memory and builds the action objects.
    #[derive(Debug, Clone)]
    pub(crate) type FrameTransfer;

    /// `held`: where in Wasm memory [ptr, ptr + capacity) the texts of predicted deltas go.
    #[wasm_bindgen(constructor)]
    fn new(
        memory: &JsValue,
        mirror: &StateMirror,
        held_ptr: u32,
        held_capacity: u32,
    ) -> FrameTransfer;

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

    /// How many bytes of UTF-8 the texts of the predicted deltas it took are, joined, at the
    /// start of the held buffer (and forgets them).
    #[wasm_bindgen(method, js_name = takeHeld)]
    fn take_held(this: &FrameTransfer) -> u32;

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

/// The first number of a description: the frame's actions as one JSON array in the side text
/// (then where it is; [`Encoder::json`]), or a streamed delta read in place (then its fields;
/// [`Encoder::delta`]).
const JSON_ACTIONS: f64 = 0.0;
const IN_PLACE_DELTA: f64 = 1.0;

/// How many UTF-16 units the UTF-8 `bytes` (whole characters) are: one per character, two for
/// one of four bytes (outside the BMP). A byte loop: `str::encode_utf16().count()` was 0.7 KB
/// of the package.
fn utf16_units(bytes: &[u8]) -> usize {
    let mut units = 0;
    for &byte in bytes {
        units += usize::from(byte & 0xC0 != 0x80) + usize::from(byte >= 0xF0);
    }
    units
}

/// Writes the description of a frame's actions, in numbers JavaScript reads from Wasm memory.
struct Encoder<'a> {
    /// The frame's text.
    frame: &'a str,
    /// Whether the frame is all ASCII (byte offsets are then JavaScript string offsets).
    ascii: bool,
    out: &'a mut Vec<f64>,
}

impl Encoder<'_> {
    #[cfg_attr(sessionwire_size, optimize(speed))]
    fn pair(&mut self, a: f64, b: f64) {
        self.out.push(a);
        self.out.push(b);
    }

    /// Where the frame's bytes [start, end) are in the frame string (JavaScript counts UTF-16
    /// units).
    #[cfg_attr(sessionwire_size, optimize(speed))]
    fn place(&mut self, start: usize, end: usize) {
        if self.ascii {
            return self.pair(start as f64, end as f64);
        }
        let bytes = self.frame.as_bytes();
        let a = utf16_units(bytes.get(..start).unwrap_or_default());
        let b = a + utf16_units(bytes.get(start..end).unwrap_or_default());
        self.pair(a as f64, b as f64);
    }

    /// Where `text`, a slice of the frame, is in the frame string.
    #[cfg_attr(sessionwire_size, optimize(speed))]
    fn slice(&mut self, text: &str) {
        // A `&str` borrowed from the frame lies inside it: its offset is the pointer difference.
        let start = (text.as_ptr() as usize).wrapping_sub(self.frame.as_ptr() as usize);
        self.place(start, start + text.len());
    }

    /// A streamed delta read in place: `IN_PLACE_DELTA`, where its session id is, its seq,
    /// where its message id, block id and text are, then the hot patch's message and block
    /// positions (`-1` when the delta is in the state's next patch instead), then, when the
    /// store predicts the block's next delta (`predicted`), where the frame's seq and ts digits
    /// are (else `-1`), which `transfer.js` takes that delta's form from. Sixteen numbers.
    #[cfg_attr(sessionwire_size, optimize(speed))]
    fn delta(&mut self, delta: &BlockDeltaRef<'_>, hot: Option<(u32, u32)>, predicted: bool) {
        self.out.push(IN_PLACE_DELTA);
        self.slice(delta.session_id);
        // Exactly what JSON.parse makes of the integer: the nearest double.
        self.out.push(delta.seq as f64);
        self.slice(delta.message_id);
        self.slice(delta.block_id);
        self.slice(delta.delta);
        match hot {
            Some((message, block)) => self.pair(f64::from(message), f64::from(block)),
            None => self.pair(-1.0, 0.0),
        }
        match predicted {
            true => {
                let [seq, ts] = delta.numbers_at;
                self.place(seq.0, seq.1);
                self.place(ts.0, ts.1);
            }
            false => {
                self.pair(-1.0, 0.0);
                self.pair(0.0, 0.0);
            }
        }
    }

    /// Other actions: `JSON_ACTIONS`, then the address and length of one JSON text in `side`:
    /// `[actions]`, or `[actions, patch]` with the store's patch (`Store::append_patch`) when
    /// the state changed; empty when neither; then the frame's hot change, if any. One text,
    /// so one decode and one `JSON.parse` for both (a patch of its own cost a call into
    /// JavaScript and a decode more per frame).
    /// Not inlined into the per-frame `apply`, which is built for speed: it is the rarer path.
    #[inline(never)]
    fn json(
        &mut self,
        actions: &[Action],
        hot: Option<HotChange>,
        store: &mut Store,
        side: &mut String,
    ) {
        side.clear();
        side.push('[');
        actions.write_json(side);
        side.push(',');
        let patched = store.append_patch(side);
        if !patched {
            side.pop();
        }
        side.push(']');
        if actions.is_empty() && !patched {
            side.clear();
        }
        self.out.push(JSON_ACTIONS);
        self.pair(f64::from(side.as_ptr() as u32), side.len() as f64);
        // The hot change JavaScript makes itself: its kind (`CHANGES` in transfer.js; 0: none)
        // and its message and block positions (-1: none).
        let (kind, message, block) = match hot {
            Some(HotChange::BlockDone(m, b)) => (1.0, f64::from(m), f64::from(b)),
            Some(HotChange::MessageComplete(m)) => (2.0, f64::from(m), -1.0),
            Some(HotChange::Running(true)) => (3.0, -1.0, -1.0),
            Some(HotChange::Running(false)) => (4.0, -1.0, -1.0),
            // A delta's is described with the delta.
            Some(HotChange::Appended(..)) | None => (0.0, -1.0, -1.0),
        };
        self.out.push(kind);
        self.pair(message, block);
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
    /// Whether the state's change is in the mirror already (a hot delta) or in the
    /// description (other actions bring their patch): no patch to take then.
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
    /// The texts of the predicted deltas JavaScript took, as UTF-8 it writes as it takes them
    /// (a JavaScript string handed over cost a rope of one piece per delta, then its copy into
    /// a fresh allocation). Never resized: JavaScript holds its address.
    held: Vec<u8>,
    /// The description of its actions, and their JSON when they are not a delta in place.
    out: Vec<f64>,
    side: String,
}

impl Transfer {
    pub(crate) fn new(mirror: &StateMirror) -> Self {
        let held = vec![0; 4096];
        let mut transfer = Self {
            js: FrameTransfer::new(
                &wasm_bindgen::memory(),
                mirror,
                held.as_ptr() as u32,
                held.len() as u32,
            ),
            held,
            input: vec![0; 4096],
            out: Vec::with_capacity(16),
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
        let len = if count > 0 { self.js.take_held() } else { 0 };
        // Always UTF-8: JavaScript writes whole characters, each of the BMP and no surrogate
        // (it takes no delta with one), and such a character always encodes to valid UTF-8.
        let held = std::str::from_utf8(self.held.get(..len as usize).unwrap_or_default());
        store.apply_predicted(u64::from(count), held.unwrap_or_default());
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

    /// Parses and applies the frame in `input[..len]`, and describes its actions in `out` (see
    /// [`Encoder`]).
    #[cfg_attr(sessionwire_size, optimize(speed))]
    fn apply(
        &mut self,
        store: &mut Store,
        len: usize,
        ascii: bool,
    ) -> Result<(Vec<Action>, Described), JsValue> {
        let Self {
            input,
            out,
            side,
            predicted: next,
            ..
        } = self;
        let text = std::str::from_utf8(input.get(..len).unwrap_or_default())
            .map_err(|_| js_error(BAD_FRAME, "frame is not UTF-8", None))?;
        let received = store
            .receive_in_place(text)
            .map_err(|error| store_error(&error))?;
        out.clear();
        let mut encoder = Encoder {
            frame: text,
            ascii,
            out,
        };
        let hot = store.take_hot();
        let (actions, changed, mirrored) = match received {
            Received::Delta(delta) => {
                let hot = hot.and_then(HotChange::appended);
                // The next delta of the block, in this frame's form, is JavaScript's to take,
                // if the store predicts it.
                let predicted = hot.is_some_and(|hot| store.predict_next(&delta, hot));
                *next = predicted;
                encoder.delta(&delta, hot, predicted);
                // A hot delta is in the mirror already; any other is in the next patch.
                (Vec::new(), true, hot.is_some())
            }
            Received::Actions(actions) => {
                // Their patch and hot change come with them.
                encoder.json(&actions, hot, store, side);
                let changed = !actions.is_empty();
                (actions, changed, true)
            }
        };
        Ok((actions, Described { changed, mirrored }))
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
    //! The description of a delta read in place, rebuilt the way `transfer.js` builds it,
    //! equals the serde form of its action, key order included.
    use super::*;
    use sessionwire_core::protocol::{parse_server_frame_in_place, ParsedFrame};

    /// The JSON text of the action `transfer.js` builds from a delta's description, keys in the
    /// order it sets them; and the rest of the description.
    fn rebuild(frame: &str, out: &[f64]) -> (String, Vec<f64>) {
        // JavaScript's `frame.slice(a, b)`, in UTF-16 units.
        let units: Vec<u16> = frame.encode_utf16().collect();
        let slice = |i: usize| {
            let text = String::from_utf16(&units[out[i] as usize..out[i + 1] as usize]).unwrap();
            serde_json::to_string(&text).unwrap()
        };
        assert_eq!(out[0], IN_PLACE_DELTA);
        let action = [
            r#"{"type":"BLOCK_DELTA","sessionId":"#.to_owned(),
            slice(1),
            r#","seq":"#.to_owned(),
            (out[3] as u64).to_string(),
            r#","messageId":"#.to_owned(),
            slice(4),
            r#","blockId":"#.to_owned(),
            slice(6),
            r#","delta":"#.to_owned(),
            slice(8),
            "}".to_owned(),
        ]
        .concat();
        (action, out[10..].to_vec())
    }

    fn describe(frame: &str, hot: Option<(u32, u32)>, predicted: bool) -> Vec<f64> {
        let ParsedFrame::Delta(delta) = parse_server_frame_in_place(frame).unwrap() else {
            panic!("not read in place: {frame}");
        };
        let mut out = Vec::new();
        let mut encoder = Encoder {
            frame,
            ascii: frame.is_ascii(),
            out: &mut out,
        };
        encoder.delta(&delta, hot, predicted);
        let owned = Received::Delta(delta).into_actions();
        let (rebuilt, rest) = rebuild(frame, &out);
        assert_eq!(
            rebuilt,
            serde_json::to_string(&owned[0]).unwrap(),
            "{frame}"
        );
        rest
    }

    #[test]
    fn a_delta_read_in_place_is_rebuilt_as_its_action() {
        let frame = r#"{"sessionId":"s1","seq":5,"ts":17,"type":"block_delta","messageId":"m2","blockId":"b1","delta":"d"}"#;
        assert_eq!(
            describe(frame, None, false),
            [-1.0, 0.0, -1.0, 0.0, 0.0, 0.0]
        );
        // Hot, and predicted: where the seq digits ("5") and the ts digits ("17") are.
        let seq = frame.find("5,").unwrap() as f64;
        let ts = frame.find("17").unwrap() as f64;
        assert_eq!(
            describe(frame, Some((3, 1)), true),
            [3.0, 1.0, seq, seq + 1.0, ts, ts + 2.0]
        );
    }

    #[test]
    fn places_in_a_frame_that_is_not_ascii_count_utf16_units() {
        // "é" is two bytes and one unit, "😀" four bytes and two units; both come before the
        // seq, so every place after them differs from its byte offset.
        let frame = r#"{"sessionId":"sé😀","seq":5,"ts":17,"type":"block_delta","messageId":"漢字","blockId":"b1","delta":"☃ 😀 snow"}"#;
        let units: Vec<u16> = frame.encode_utf16().collect();
        let find = |needle: &str| {
            let needle: Vec<u16> = needle.encode_utf16().collect();
            units
                .windows(needle.len())
                .position(|w| w == needle)
                .unwrap() as f64
        };
        let (seq, ts) = (find("5,"), find("17"));
        assert_eq!(
            describe(frame, Some((0, 0)), true),
            [0.0, 0.0, seq, seq + 1.0, ts, ts + 2.0]
        );
    }
}

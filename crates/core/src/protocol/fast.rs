//! A fast path for the frame a streaming session is mostly made of: `block_delta`.
//!
//! The general parser reads every frame into a JSON tree, decodes the tree through tables that
//! keep serde's exact error rules, and copies every string out; for a streamed delta that is
//! most of the work a client does per frame. This module reads a `block_delta` in one pass and
//! leaves its strings borrowed from the frame, so the store applies it without copying anything
//! ([`BlockDeltaRef`]). It takes only frames it is sure about: one flat object with exactly the
//! seven keys of a `block_delta`, in the order and form sessionwire-server writes them (no
//! whitespace), strings without escapes, integers without fraction, exponent or sign. Anything
//! else returns `None` and goes through the general parser, so every
//! result and every error stays the general parser's (tests/parse_equivalence.rs and the fuzz
//! targets compare both with serde).

use super::server::{BlockDelta, Event, EventKind, ServerFrame};

/// A `block_delta` frame read in place, its strings borrowed from the frame's text: the frame a
/// streaming session is mostly made of, applied without copying anything (see
/// `Store::receive_in_place`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockDeltaRef<'a> {
    pub session_id: &'a str,
    pub seq: u64,
    pub ts: u64,
    pub message_id: &'a str,
    pub block_id: &'a str,
    pub delta: &'a str,
    /// Where the digits of `seq` and of `ts` are in the frame's text (byte ranges; `(0, 0)`
    /// for a delta not read from a frame): with the string values' places, the frame's form,
    /// which the Wasm package matches the next delta of the same block against.
    pub numbers_at: [(usize, usize); 2],
}

impl BlockDeltaRef<'_> {
    /// The owned frame.
    pub fn to_frame(&self) -> ServerFrame {
        ServerFrame::Event(Event {
            session_id: self.session_id.to_owned(),
            seq: self.seq,
            ts: self.ts,
            kind: EventKind::BlockDelta(BlockDelta {
                message_id: self.message_id.to_owned(),
                block_id: self.block_id.to_owned(),
                delta: self.delta.to_owned(),
            }),
        })
    }
}

/// A server frame, with a `block_delta` left borrowed.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsedFrame<'a> {
    Delta(BlockDeltaRef<'a>),
    Frame(ServerFrame),
}

impl ParsedFrame<'_> {
    /// The owned frame.
    pub fn into_frame(self) -> ServerFrame {
        match self {
            Self::Delta(delta) => delta.to_frame(),
            Self::Frame(frame) => frame,
        }
    }
}

/// The keys of a `block_delta`, by member number.
const KEYS: [&str; 7] = [
    "type",
    "sessionId",
    "seq",
    "ts",
    "messageId",
    "blockId",
    "delta",
];

/// The two key orders the fast path reads ([`KEYS`] numbers): sessionwire-server's (serde
/// writes an event's envelope before its flattened, tagged kind), and `type` first, as
/// PROTOCOL.md's examples and a `JSON.stringify({ type, ...fields })` writer have it.
const ORDERS: [[usize; 7]; 2] = [[1, 2, 3, 0, 4, 5, 6], [0, 1, 2, 3, 4, 5, 6]];

/// A member's value, as the fast path accepts them.
#[derive(Debug, Clone, Copy)]
enum Scalar<'a> {
    /// A string without escapes (a slice of the text).
    Str(&'a str),
    /// An integer, and where its digits are in the text.
    Int(u64, (usize, usize)),
}

/// The `block_delta` `text` is, when the fast path is sure of it.
#[cfg_attr(sessionwire_size, optimize(speed))]
pub(super) fn block_delta(text: &str) -> Option<BlockDeltaRef<'_>> {
    let members = read_canonical(text)?;
    let [Some(Scalar::Str("block_delta")), Some(Scalar::Str(session_id)), Some(Scalar::Int(seq, seq_at)), Some(Scalar::Int(ts, ts_at)), Some(Scalar::Str(message_id)), Some(Scalar::Str(block_id)), Some(Scalar::Str(delta))] =
        members
    else {
        return None;
    };
    Some(BlockDeltaRef {
        session_id,
        seq,
        ts,
        message_id,
        block_id,
        delta,
        numbers_at: [seq_at, ts_at],
    })
}

/// Reads `text` when it is a `block_delta` in exactly the form servers write: keys in one of
/// the [`ORDERS`], no whitespace, strings without escapes or control characters, integers of at most 19
/// digits without fraction, exponent, sign or leading zero. Each key is compared where it must
/// be, a word at a time, with no lookup among the seven. `None` for anything else, which the
/// general parser then reads (a client of another writer loses only the fast path).
///
/// Why these forms only: looking each key up among the seven (any order, any whitespace) was the
/// larger half of the fast path's time, and the fast path a fifth of a streamed frame's
/// `receive` in Chromium; sessionwire-server writes every `block_delta` in the first form.
#[cfg_attr(sessionwire_size, optimize(speed))]
fn read_canonical(text: &str) -> Option<[Option<Scalar<'_>>; 7]> {
    let bytes = text.as_bytes();
    let mut members = [None; 7];
    let order = ORDERS.get(usize::from(bytes.get(2) == Some(&b't')))?;
    let mut pos = 0;
    for (at, &index) in order.iter().enumerate() {
        let key = KEYS.get(index)?;
        // `{"key":` for the first member, `,"key":` for the others.
        let opening = if at == 0 { b'{' } else { b',' };
        let key_end = pos + 2 + key.len();
        if bytes.get(pos) != Some(&opening)
            || bytes.get(pos + 1) != Some(&b'"')
            || !crate::bytes::same(text.get(pos + 2..key_end)?, key)
            || bytes.get(key_end..key_end + 2) != Some(&b"\":"[..])
        {
            return None;
        }
        pos = key_end + 2;
        let (value, end) = match *bytes.get(pos)? {
            b'"' => {
                let (value, end) = plain_string(text, pos + 1)?;
                (Scalar::Str(value), end)
            }
            b'0'..=b'9' => integer(bytes, pos)?,
            _ => return None,
        };
        *members.get_mut(index)? = Some(value);
        pos = end;
    }
    (bytes.get(pos..) == Some(&b"}"[..])).then_some(members)
}

/// A string starting at `start` (after its quote) that has no escape and no control character;
/// returns it and the position after its closing quote.
#[inline]
fn plain_string(text: &str, start: usize) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    let mut pos = start;
    // Eight bytes at a time while none of them is special: most strings are ids and short
    // texts, and this loop runs over every byte of every string of every frame.
    while let Some(word) = bytes.get(pos..pos + 8) {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(word).ok()?);
        if has_special_byte(word) {
            break;
        }
        pos += 8;
    }
    loop {
        match *bytes.get(pos)? {
            b'"' => return Some((text.get(start..pos)?, pos + 1)),
            b'\\' | 0..=0x1f => return None,
            _ => pos += 1,
        }
    }
}

/// Each byte of a word set to `0x01`.
const ONES: u64 = u64::from_le_bytes([1; 8]);
/// Each byte of a word set to `0x80`.
const HIGHS: u64 = ONES * 0x80;

/// Whether a byte of `word` is a quote, a backslash or a control character (below `0x20`): the
/// classic word-at-a-time tests, exact as a yes or no (a byte below `n`, for `n <= 0x80`, and a
/// zero byte after xor with the byte looked for).
#[inline]
fn has_special_byte(word: u64) -> bool {
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGHS != 0;
    below(word, 0x20)
        || below(word ^ (ONES * u64::from(b'"')), 1)
        || below(word ^ (ONES * u64::from(b'\\')), 1)
}

/// An unsigned integer of at most 19 digits (so it fits a `u64` without an overflow check),
/// without fraction or exponent, in JSON's grammar (no leading zero); returns it and the
/// position after it.
fn integer(bytes: &[u8], start: usize) -> Option<(Scalar<'static>, usize)> {
    let mut pos = start;
    let mut value: u64 = 0;
    while let Some(digit @ b'0'..=b'9') = bytes.get(pos) {
        if pos - start == 19 {
            return None;
        }
        value = value * 10 + u64::from(digit - b'0');
        pos += 1;
    }
    let leading_zero = bytes.get(start) == Some(&b'0') && pos - start > 1;
    match bytes.get(pos) {
        _ if leading_zero => None,
        Some(b'.' | b'e' | b'E') => None,
        _ => Some((Scalar::Int(value, (start, pos)), pos)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::parse_server_frame_general;
    use super::*;

    const DELTA: &str = r#"{"type":"block_delta","sessionId":"s1","seq":7,"ts":1700000000000,"messageId":"m1","blockId":"b0","delta":"héllo "}"#;

    /// Frames the fast path takes: the result is the general parser's.
    #[test]
    fn takes_plain_block_deltas_and_agrees_with_the_general_parser() {
        let frames = [
            DELTA,
            r#"{"type":"block_delta","sessionId":"s1","seq":0,"ts":18446744073709551,"messageId":"","blockId":"b","delta":"d"}"#,
            r#"{"type":"block_delta","sessionId":"sé","seq":7,"ts":1,"messageId":"漢字","blockId":"b0","delta":"☃ snow"}"#,
            r#"{"sessionId":"s1","seq":7,"ts":1,"type":"block_delta","messageId":"m1","blockId":"b0","delta":"x"}"#,
        ];
        for frame in frames {
            let fast = block_delta(frame);
            assert!(fast.is_some(), "not taken: {frame}");
            assert_eq!(
                fast.unwrap().to_frame(),
                parse_server_frame_general(frame).unwrap(),
                "{frame}"
            );
        }
    }

    /// Every `block_delta` the core writes (the server's encoder) is in the one form the fast
    /// path takes.
    #[test]
    fn takes_every_block_delta_the_core_writes() {
        let texts = ["", "d", "two words", "é☃漢字", "a\"b\\c\n", "\u{1}"];
        for (i, delta) in texts.iter().enumerate() {
            let frame = BlockDeltaRef {
                session_id: "0193a2b4-7c1d-7e2f-9a3b-000000000001",
                seq: i as u64 * 1_000_003,
                ts: 1_760_000_000_000,
                message_id: "m-1",
                block_id: "b0",
                delta,
                numbers_at: [(0, 0); 2],
            }
            .to_frame();
            let text = crate::protocol::encode(&frame);
            let plain = !delta.contains(['"', '\\', '\u{1}', '\n']);
            // Strings with escapes are the general parser's, by design.
            assert_eq!(block_delta(&text).is_some(), plain, "{text}");
            if plain {
                assert_eq!(block_delta(&text).unwrap().to_frame(), frame);
            }
        }
    }

    /// Frames the fast path leaves to the general parser (which then decides, error or not).
    #[test]
    fn leaves_everything_else_to_the_general_parser() {
        let frames = [
            r#"{"type":"block_delta","sessionId":"s1","seq":7,"ts":1,"messageId":"m1","blockId":"b0","delta":"a\"b"}"#,
            r#"{"type":"block_delta","sessionId":"s1","seq":7,"ts":1,"messageId":"m1","blockId":"b0","delta":"x","delta":"y"}"#,
            r#"{"type":"block_delta","sessionId":"s1","seq":7,"ts":1,"messageId":"m1","blockId":"b0","delta":"x","extra":1}"#,
            r#"{"type":"block_delta","sessionId":"s1","seq":7.0,"ts":1,"messageId":"m1","blockId":"b0","delta":"x"}"#,
            r#"{"type":"block_delta","sessionId":"s1","seq":07,"ts":1,"messageId":"m1","blockId":"b0","delta":"x"}"#,
            r#"{"type":"block_delta","sessionId":"s1","seq":-7,"ts":1,"messageId":"m1","blockId":"b0","delta":"x"}"#,
            r#"{"type":"block_delta","sessionId":"s1","seq":18446744073709551615,"ts":1,"messageId":"m1","blockId":"b0","delta":"x"}"#,
            r#"{"type":"block_delta","sessionId":"s1","seq":7,"ts":1,"messageId":"m1","blockId":"b0"}"#,
            r#"{"type":"block_delta","sessionId":"s1","seq":"7","ts":1,"messageId":"m1","blockId":"b0","delta":"x"}"#,
            r#"{"type":"block_delta","sessionId":"s1","seq":,"ts":1,"messageId":"m1","blockId":"b0","delta":"x"}"#,
            r#"{"type":"block_delta","sessionId":"s1","seq":7,"ts":,"messageId":"m1","blockId":"b0","delta":"x"}"#,
            r#"{"type":"block_delta","sessionId":"s1","seq":7,"ts":1,"messageId":"m1","blockId":"b0","delta":"x"}}"#,
            r#"{"type":"block_delta","sessionId":"s1","seq":7,"ts":1,"messageId":"m1","blockId":"b0","delta":"x"#,
            r#"{"type":"block_delta","sessionId":"s1","seq":7,"ts":1,"messageId":"m1","blockId":"b0","delta":"x"} x"#,
            r#"{"type":"block_delta","sessionId":"s1","seq":7,"ts":1,"messageId":"m1","blockId":"b0","delta":"x",}"#,
            r#"{"type":"block_end","sessionId":"s1","seq":7,"ts":1,"messageId":"m1","blockId":"b0"}"#,
            r#"{"type":"user_message","sessionId":"s1","seq":1,"ts":5,"messageId":"c-1","text":"hi"}"#,
            r#"{"type":"turn_start","sessionId":"s1","seq":2,"ts":5,"turnId":"t1"}"#,
            r#"{"type":"message_start","sessionId":"s1","seq":3,"ts":5,"messageId":"m1"}"#,
            r#"{"type":"message_end","sessionId":"s1","seq":3,"ts":5,"messageId":"m1"}"#,
            r#"{"type":"block_start","sessionId":"s1","seq":4,"ts":5,"messageId":"m1","blockId":"b0","blockType":"tool_use","toolName":"grep"}"#,
            r#"{"type":"block_start","sessionId":"s1","seq":4,"ts":5,"messageId":"m1","blockId":"b0","blockType":"text","toolName":null}"#,
            r#"{"type":"turn_end","sessionId":"s1","seq":9,"ts":5,"turnId":"t1","reason":"error","error":"boom"}"#,
            r#"{"type":"turn_end","sessionId":"s1","seq":9,"ts":5,"turnId":"t1","reason":"completed"}"#,
            r#"{"type":"session_state","sessionId":"s1","seq":1,"ts":5,"state":"ACTIVE","previous":null,"reason":"created"}"#,
            r#"{"type":"session_state","sessionId":"s1","seq":2,"ts":5,"state":"ENDED","previous":"CLOSING","reason":""}"#,
            r#"{"type":"turn_end","sessionId":"s1","seq":9,"ts":5,"turnId":"t1","reason":"done"}"#,
            r#"{"type":"turn_end","sessionId":"s1","seq":9,"ts":5,"turnId":"t1","reason":"completed","usage":null}"#,
            r#"{"type":"session_state","sessionId":"s1","seq":1,"ts":5,"state":"ACTIVE","reason":"created"}"#,
            r#"{"type":"welcome","protocol":1,"connectionId":"c","epoch":"e","server":{"name":"n","version":"v"}}"#,
            r#"[1]"#,
            "",
            // Valid, in another form: the general parser's.
            r#" { "type" : "block_delta" , "sessionId":"s1","seq":0,"ts":0,"messageId":"","blockId":"b","delta":"d" } "#,
            r#"{"delta":"x","blockId":"b","messageId":"m","ts":1,"seq":18446744073709551,"sessionId":"s","type":"block_delta"}"#,
            r#"{"type":"block_delta","sessionId":"s1","seq":7,"ts":1,"messageId":"m1","blockId":"b0","delta":"x"} "#,
            r#"{"type":"block_delta","seq":7,"sessionId":"s1","ts":1,"messageId":"m1","blockId":"b0","delta":"x"}"#,
        ];
        for frame in frames {
            assert!(block_delta(frame).is_none(), "taken: {frame}");
        }
    }

    /// The word-at-a-time test against the byte-by-byte rule, for every byte value at every
    /// position, alone and after another special byte.
    #[test]
    fn special_bytes_are_found_in_any_position() {
        let special = |b: u8| b == b'"' || b == b'\\' || b < 0x20;
        for value in 0..=255u8 {
            for position in 0..8 {
                let mut word = [b'a'; 8];
                word[position] = value;
                assert_eq!(has_special_byte(u64::from_le_bytes(word)), special(value));
                word[(position + 3) % 8] = b'"';
                assert!(has_special_byte(u64::from_le_bytes(word)));
            }
        }
    }
}

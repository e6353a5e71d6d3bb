//! A fast path for the frames a streaming session is made of: flat event frames.
//!
//! Most frames a client receives are events like `block_delta`: one flat object of strings and
//! integers. The general parser reads every frame into a JSON tree and decodes the tree through
//! tables that keep serde's exact error rules, which costs about three times what the frame
//! needs. This module reads such a frame in one pass, straight into the event, and takes only
//! frames it is sure about: an object whose keys are each an expected key of the event, each
//! present once, with values of exactly the expected kind, no escapes, no floats, no nesting.
//! Anything else returns `None` and goes through the general parser, so every result and every
//! error stays the general parser's (tests/parse_equivalence.rs and the fuzz targets compare both
//! paths with serde).

use super::server::{
    BlockDelta, BlockStart, BlockType, Event, EventKind, MessageRef, ServerFrame,
    SessionStateChange, TurnEnd, TurnEndReason, TurnStart, UserMessage,
};
use super::TextSpan;
use crate::SessionState;

/// The most members a frame on the fast path has (`block_start` with `toolName` has eight).
const MAX_MEMBERS: usize = 8;

/// A member's value, as the fast path accepts them.
#[derive(Debug, Clone, Copy)]
enum Scalar<'a> {
    /// A string without escapes, and where its contents start in the text.
    Str(&'a str, usize),
    Int(u64),
    Null,
}

/// The members of one flat object, each marked when an expected key takes it.
struct Members<'a> {
    keys: [&'a str; MAX_MEMBERS],
    values: [Scalar<'a>; MAX_MEMBERS],
    taken: [bool; MAX_MEMBERS],
    len: usize,
    /// Where the next search for a key starts.
    next: usize,
}

impl<'a> Members<'a> {
    /// The value of `key`, marked as taken.
    #[inline]
    fn take(&mut self, key: &str) -> Option<Scalar<'a>> {
        // Servers write the keys in the order they are taken here, so the search starts after
        // the last key taken and usually matches at once.
        let index = (self.next..self.len)
            .chain(0..self.next)
            .find(|index| self.keys[*index] == key)?;
        self.taken[index] = true;
        self.next = index + 1;
        Some(self.values[index])
    }

    #[inline]
    fn str(&mut self, key: &str) -> Option<&'a str> {
        match self.take(key)? {
            Scalar::Str(text, _) => Some(text),
            _ => None,
        }
    }

    #[inline]
    fn string(&mut self, key: &str) -> Option<String> {
        self.str(key).map(str::to_owned)
    }

    /// An optional string: absent or `null` is `None`.
    #[inline]
    fn opt_string(&mut self, key: &str) -> Option<Option<String>> {
        match self.take(key) {
            None | Some(Scalar::Null) => Some(None),
            Some(Scalar::Str(text, _)) => Some(Some(text.to_owned())),
            Some(_) => None,
        }
    }

    #[inline]
    fn int(&mut self, key: &str) -> Option<u64> {
        match self.take(key)? {
            Scalar::Int(n) => Some(n),
            _ => None,
        }
    }

    /// A unit enum given by name.
    fn name<T: Copy>(
        &mut self,
        key: &str,
        variants: &[T],
        as_str: fn(T) -> &'static str,
    ) -> Option<T> {
        match self.take(key)? {
            Scalar::Str(text, _) => variants.iter().copied().find(|v| as_str(*v) == text),
            _ => None,
        }
    }

    /// Whether every member was taken by an expected key (no unknown or duplicate keys).
    fn all_taken(&self) -> bool {
        self.taken[..self.len].iter().all(|taken| *taken)
    }
}

/// A `block_delta` frame read in place, its strings borrowed from the frame's text: the frame a
/// streaming session is mostly made of, applied without copying anything (see
/// `Store::receive_spans`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockDeltaRef<'a> {
    pub session_id: &'a str,
    pub seq: u64,
    pub ts: u64,
    pub message_id: &'a str,
    pub block_id: &'a str,
    pub delta: &'a str,
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

/// The event `text` stands for, when it is a flat event frame the fast path is sure about. Also
/// records the spans of its string values, as `parse_server_frame_spans` does.
pub(super) fn event_frame<'a>(
    text: &'a str,
    spans: Option<&mut Vec<TextSpan>>,
) -> Option<ParsedFrame<'a>> {
    let mut members = read_flat_object(text)?;
    let Scalar::Str(kind, _) = members.take("type")? else {
        return None;
    };
    let frame = if kind == "block_delta" {
        ParsedFrame::Delta(BlockDeltaRef {
            session_id: members.str("sessionId")?,
            seq: members.int("seq")?,
            ts: members.int("ts")?,
            message_id: members.str("messageId")?,
            block_id: members.str("blockId")?,
            delta: members.str("delta")?,
        })
    } else {
        ParsedFrame::Frame(ServerFrame::Event(owned_event(kind, &mut members)?))
    };
    if !members.all_taken() {
        return None;
    }
    if let Some(spans) = spans {
        spans.clear();
        for value in &members.values[..members.len] {
            if let Scalar::Str(text, start) = value {
                spans.push(*start..start + text.len());
            }
        }
    }
    Some(frame)
}

/// Any other event the fast path reads, owned.
fn owned_event(kind: &str, members: &mut Members<'_>) -> Option<Event> {
    let session_id = members.string("sessionId")?;
    let seq = members.int("seq")?;
    let ts = members.int("ts")?;
    let kind = match kind {
        "user_message" => EventKind::UserMessage(UserMessage {
            message_id: members.string("messageId")?,
            text: members.string("text")?,
        }),
        "turn_start" => EventKind::TurnStart(TurnStart {
            turn_id: members.string("turnId")?,
        }),
        "message_start" => EventKind::MessageStart(MessageRef {
            message_id: members.string("messageId")?,
        }),
        "message_end" => EventKind::MessageEnd(MessageRef {
            message_id: members.string("messageId")?,
        }),
        "block_start" => EventKind::BlockStart(BlockStart {
            message_id: members.string("messageId")?,
            block_id: members.string("blockId")?,
            block_type: members.name("blockType", &BLOCK_TYPES, BlockType::as_str)?,
            tool_name: members.opt_string("toolName")?,
        }),
        "turn_end" => EventKind::TurnEnd(TurnEnd {
            turn_id: members.string("turnId")?,
            reason: members.name("reason", &REASONS, TurnEndReason::as_str)?,
            error: members.opt_string("error")?,
            usage: None,
        }),
        "session_state" => EventKind::SessionState(SessionStateChange {
            state: members.name("state", &STATES, SessionState::as_str)?,
            previous: match members.take("previous")? {
                Scalar::Null => None,
                Scalar::Str(text, _) => Some(SessionState::parse(text)?),
                _ => return None,
            },
            reason: members.string("reason")?,
        }),
        // `block_end` and `tool_result` carry JSON payloads: the general parser reads those.
        _ => return None,
    };
    Some(Event {
        session_id,
        seq,
        ts,
        kind,
    })
}

const BLOCK_TYPES: [BlockType; 3] = [BlockType::Text, BlockType::Thinking, BlockType::ToolUse];
const REASONS: [TurnEndReason; 3] = [
    TurnEndReason::Completed,
    TurnEndReason::Interrupted,
    TurnEndReason::Error,
];
const STATES: [SessionState; 7] = [
    SessionState::Created,
    SessionState::Starting,
    SessionState::Active,
    SessionState::Detached,
    SessionState::Suspended,
    SessionState::Closing,
    SessionState::Ended,
];

/// Reads `text` as one flat JSON object of plain strings, unsigned integers and `null`, with at most [`MAX_MEMBERS`] members; `None` for anything else.
fn read_flat_object(text: &str) -> Option<Members<'_>> {
    let bytes = text.as_bytes();
    let mut members = Members {
        keys: [""; MAX_MEMBERS],
        values: [Scalar::Null; MAX_MEMBERS],
        taken: [false; MAX_MEMBERS],
        len: 0,
        next: 0,
    };
    let mut pos = skip_whitespace(bytes, 0);
    if bytes.get(pos) != Some(&b'{') {
        return None;
    }
    pos = skip_whitespace(bytes, pos + 1);
    if bytes.get(pos) == Some(&b'}') {
        return None;
    }
    loop {
        if members.len == MAX_MEMBERS || bytes.get(pos) != Some(&b'"') {
            return None;
        }
        let (key, key_end) = plain_string(text, pos + 1)?;
        pos = skip_whitespace(bytes, key_end);
        if bytes.get(pos) != Some(&b':') {
            return None;
        }
        pos = skip_whitespace(bytes, pos + 1);
        let (value, value_end) = match *bytes.get(pos)? {
            b'"' => {
                let (value, end) = plain_string(text, pos + 1)?;
                (Scalar::Str(value, pos + 1), end)
            }
            b'0'..=b'9' => integer(bytes, pos)?,
            b'n' if bytes.get(pos..pos + 4) == Some(b"null") => (Scalar::Null, pos + 4),
            _ => return None,
        };
        members.keys[members.len] = key;
        members.values[members.len] = value;
        members.len += 1;
        pos = skip_whitespace(bytes, value_end);
        match bytes.get(pos)? {
            b',' => pos = skip_whitespace(bytes, pos + 1),
            b'}' => break,
            _ => return None,
        }
    }
    (skip_whitespace(bytes, pos + 1) == bytes.len()).then_some(members)
}

#[inline]
fn skip_whitespace(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = bytes.get(pos) {
        pos += 1;
    }
    pos
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
        _ => Some((Scalar::Int(value), pos)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::{parse_server_frame_general, parse_server_frame_spans_general};
    use super::*;

    const DELTA: &str = r#"{"type":"block_delta","sessionId":"s1","seq":7,"ts":1700000000000,"messageId":"m1","blockId":"b0","delta":"héllo "}"#;

    /// Frames the fast path takes: the result is the general parser's, and so are the spans.
    #[test]
    fn takes_flat_event_frames_and_agrees_with_the_general_parser() {
        let frames = [
            DELTA,
            r#" { "type" : "block_delta" , "sessionId":"s1","seq":0,"ts":0,"messageId":"","blockId":"b","delta":"d" } "#,
            r#"{"delta":"x","blockId":"b","messageId":"m","ts":1,"seq":18446744073709551,"sessionId":"s","type":"block_delta"}"#,
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
        ];
        for frame in frames {
            let fast = event_frame(frame, None);
            assert!(fast.is_some(), "not taken: {frame}");
            assert_eq!(
                fast.unwrap().into_frame(),
                parse_server_frame_general(frame).unwrap(),
                "{frame}"
            );
            let (mut fast_spans, mut general_spans) = (Vec::new(), Vec::new());
            event_frame(frame, Some(&mut fast_spans)).unwrap();
            parse_server_frame_spans_general(frame, &mut general_spans).unwrap();
            assert_eq!(fast_spans, general_spans, "{frame}");
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
            r#"{"type":"block_delta","sessionId":"s1","seq":7,"ts":1,"messageId":"m1","blockId":"b0","delta":"x"} x"#,
            r#"{"type":"block_delta","sessionId":"s1","seq":7,"ts":1,"messageId":"m1","blockId":"b0","delta":"x",}"#,
            r#"{"type":"block_end","sessionId":"s1","seq":7,"ts":1,"messageId":"m1","blockId":"b0"}"#,
            r#"{"type":"turn_end","sessionId":"s1","seq":9,"ts":5,"turnId":"t1","reason":"done"}"#,
            r#"{"type":"turn_end","sessionId":"s1","seq":9,"ts":5,"turnId":"t1","reason":"completed","usage":null}"#,
            r#"{"type":"session_state","sessionId":"s1","seq":1,"ts":5,"state":"ACTIVE","reason":"created"}"#,
            r#"{"type":"welcome","protocol":1,"connectionId":"c","epoch":"e","server":{"name":"n","version":"v"}}"#,
            r#"[1]"#,
            "",
        ];
        for frame in frames {
            assert!(event_frame(frame, None).is_none(), "taken: {frame}");
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

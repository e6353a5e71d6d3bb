//! A small JSON reader: text to a borrowed tree ([`Json`]), read the way serde_json reads a
//! `serde_json::Value` (same grammar, same number conversion, same nesting limit, later
//! duplicate keys win when looked up).
//!
//! It exists for size and speed: frames are decoded from this tree by hand (see `decode.rs`)
//! instead of through serde's `Deserialize`, whose generic machinery was most of the Wasm
//! binary. Strings without escapes are borrowed from the frame text, so a streamed
//! `block_delta` allocates only for the one vector of its fields.

use super::floats;
use super::write::{concat, u64_text};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::fmt;

/// A parsed JSON value, borrowing its strings from the text when it can.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(Num),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// The members in text order, duplicates included (see [`Json::get`]).
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

/// A JSON number as serde_json holds it: an integer when it is one and fits, else a float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    U64(u64),
    I64(i64),
    F64(f64),
}

/// Why a text is not JSON, with the byte offset where reading stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    problem: &'static str,
    line: usize,
    column: usize,
}

impl JsonError {
    /// What went wrong and where, e.g. `trailing characters at line 1 column 3` (serde_json's
    /// wording). Built without `format!`, like every message the Wasm package can show.
    pub fn message(&self) -> String {
        concat(&[
            self.problem,
            " at line ",
            &u64_text(self.line as u64),
            " column ",
            &u64_text(self.column as u64),
        ])
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// serde_json refuses containers nested this deep (its `remaining_depth` of 128).
const MAX_DEPTH: u32 = 128;

/// Parses one JSON text (surrounding whitespace allowed, nothing else after the value).
pub fn parse(text: &str) -> Result<Json<'_>, JsonError> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    let value = reader.value()?;
    reader.skip_whitespace();
    if reader.pos < reader.bytes.len() {
        reader.pos += 1;
        return Err(reader.error("trailing characters"));
    }
    Ok(value)
}

impl<'a> Json<'a> {
    /// The member `key` of an object (the last one, as in a `serde_json::Map`).
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|m| &m.1),
            _ => None,
        }
    }

    /// The `serde_json::Value` this is (for the payloads kept as any JSON).
    pub fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(Num::U64(n)) => Value::Number(Number::from(*n)),
            Json::Number(Num::I64(n)) => Value::Number(Number::from(*n)),
            // Parsed floats are always finite, so `from_f64` never refuses one.
            Json::Number(Num::F64(n)) => Number::from_f64(*n).map_or(Value::Null, Value::Number),
            Json::String(s) => Value::String(s.clone().into_owned()),
            Json::Array(items) => Value::Array(Vec::from_iter(items.iter().map(Json::to_value))),
            Json::Object(members) => {
                let mut map = Map::new();
                for (key, value) in members {
                    map.insert(key.clone().into_owned(), value.to_value());
                }
                Value::Object(map)
            }
        }
    }
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: u32,
}

/// serde_json's overflow test for `a * 10 + b` against `max`.
fn overflows<T: Copy + Into<u64>>(a: T, b: T, max: T) -> bool {
    let (a, b, max) = (a.into(), b.into(), max.into());
    a >= max / 10 && (a > max / 10 || b > max % 10)
}

impl<'a> Reader<'a> {
    #[cold]
    fn error(&self, problem: &'static str) -> JsonError {
        let consumed = &self.bytes[..self.pos.min(self.bytes.len())];
        let line = 1 + consumed.iter().filter(|&&b| b == b'\n').count();
        let column = consumed.iter().rev().take_while(|&&b| b != b'\n').count();
        JsonError {
            problem,
            line,
            column,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<Json<'a>, JsonError> {
        self.skip_whitespace();
        let Some(byte) = self.peek() else {
            return Err(self.error("EOF while parsing a value"));
        };
        self.pos += 1;
        match byte {
            b'"' => self.string().map(Json::String),
            b'{' => self.nested(Self::object),
            b'[' => self.nested(Self::array),
            b'n' => self.ident(b"ull").map(|()| Json::Null),
            b't' => self.ident(b"rue").map(|()| Json::Bool(true)),
            b'f' => self.ident(b"alse").map(|()| Json::Bool(false)),
            b'-' => self.number(false).map(Json::Number),
            b'0'..=b'9' => {
                self.pos -= 1;
                self.number(true).map(Json::Number)
            }
            _ => Err(self.error("expected value")),
        }
    }

    fn nested(
        &mut self,
        read: fn(&mut Self) -> Result<Json<'a>, JsonError>,
    ) -> Result<Json<'a>, JsonError> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        let value = read(self);
        self.depth -= 1;
        value
    }

    fn ident(&mut self, rest: &[u8]) -> Result<(), JsonError> {
        for expected in rest {
            match self.peek() {
                None => return Err(self.error("EOF while parsing a value")),
                Some(byte) => {
                    self.pos += 1;
                    if byte != *expected {
                        return Err(self.error("expected ident"));
                    }
                }
            }
        }
        Ok(())
    }

    fn array(&mut self) -> Result<Json<'a>, JsonError> {
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_whitespace();
            let next = self.peek();
            self.pos += 1;
            match next {
                Some(b',') => {
                    self.skip_whitespace();
                    if self.peek() == Some(b']') {
                        return Err(self.error("trailing comma"));
                    }
                }
                Some(b']') => return Ok(Json::Array(items)),
                Some(_) => return Err(self.error("expected `,` or `]`")),
                None => {
                    self.pos -= 1;
                    return Err(self.error("EOF while parsing a list"));
                }
            }
        }
    }

    fn object(&mut self) -> Result<Json<'a>, JsonError> {
        // Frames have about eight members: one allocation for the usual case.
        let mut members = Vec::with_capacity(8);
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_whitespace();
            match self.peek() {
                Some(b'"') => self.pos += 1,
                Some(_) => {
                    self.pos += 1;
                    return Err(self.error("key must be a string"));
                }
                None => return Err(self.error("EOF while parsing an object")),
            }
            let key = self.string()?;
            self.skip_whitespace();
            match self.peek() {
                Some(b':') => self.pos += 1,
                Some(_) => {
                    self.pos += 1;
                    return Err(self.error("expected `:`"));
                }
                None => return Err(self.error("EOF while parsing an object")),
            }
            let value = self.value()?;
            members.push((key, value));
            self.skip_whitespace();
            let next = self.peek();
            self.pos += 1;
            match next {
                Some(b',') => {
                    self.skip_whitespace();
                    if self.peek() == Some(b'}') {
                        return Err(self.error("trailing comma"));
                    }
                }
                Some(b'}') => return Ok(Json::Object(members)),
                Some(_) => return Err(self.error("expected `,` or `}`")),
                None => {
                    self.pos -= 1;
                    return Err(self.error("EOF while parsing an object"));
                }
            }
        }
    }

    /// A string whose opening quote was read. Borrowed unless it has escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b'"') => {
                    // Both ends sit next to an ASCII quote, so they are char boundaries.
                    let text = self.text.get(start..self.pos).unwrap_or_default();
                    self.pos += 1;
                    return Ok(Cow::Borrowed(text));
                }
                Some(b'\\') => break,
                Some(0..=0x1f) => {
                    self.pos += 1;
                    return Err(self.control_error());
                }
                Some(_) => self.pos += 1,
                None => return Err(self.error("EOF while parsing a string")),
            }
        }
        let mut owned = String::from(self.text.get(start..self.pos).unwrap_or_default());
        loop {
            let run = self.pos;
            loop {
                match self.peek() {
                    Some(b'"' | b'\\') => break,
                    Some(0..=0x1f) => {
                        self.pos += 1;
                        return Err(self.control_error());
                    }
                    Some(_) => self.pos += 1,
                    None => return Err(self.error("EOF while parsing a string")),
                }
            }
            owned.push_str(self.text.get(run..self.pos).unwrap_or_default());
            let quote = self.peek() == Some(b'"');
            self.pos += 1;
            if quote {
                return Ok(Cow::Owned(owned));
            }
            self.escape(&mut owned)?;
        }
    }

    #[cold]
    fn control_error(&self) -> JsonError {
        self.error("control character (\\u0000-\\u001F) found while parsing a string")
    }

    /// One escape after its backslash, with serde_json's rules for surrogate pairs.
    fn escape(&mut self, out: &mut String) -> Result<(), JsonError> {
        let Some(byte) = self.peek() else {
            return Err(self.error("EOF while parsing a string"));
        };
        self.pos += 1;
        let ch = match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\x08',
            b'f' => '\x0c',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(out),
            _ => return Err(self.error("invalid escape")),
        };
        out.push(ch);
        Ok(())
    }

    fn unicode_escape(&mut self, out: &mut String) -> Result<(), JsonError> {
        let first = self.hex4()?;
        if (0xDC00..=0xDFFF).contains(&first) {
            return Err(self.error("lone leading surrogate in hex escape"));
        }
        if !(0xD800..=0xDBFF).contains(&first) {
            out.push(char::from_u32(u32::from(first)).unwrap_or('\u{fffd}'));
            return Ok(());
        }
        for expected in [b'\\', b'u'] {
            match self.peek() {
                Some(byte) if byte == expected => self.pos += 1,
                Some(_) => {
                    self.pos += 1;
                    return Err(self.error("unexpected end of hex escape"));
                }
                None => return Err(self.error("EOF while parsing a string")),
            }
        }
        let second = self.hex4()?;
        if !(0xDC00..=0xDFFF).contains(&second) {
            return Err(self.error("lone leading surrogate in hex escape"));
        }
        let code = (((u32::from(first) - 0xD800) << 10) | (u32::from(second) - 0xDC00)) + 0x1_0000;
        out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16, JsonError> {
        let mut n: u16 = 0;
        for _ in 0..4 {
            let Some(byte) = self.peek() else {
                return Err(self.error("EOF while parsing a string"));
            };
            self.pos += 1;
            let digit = match byte {
                b'0'..=b'9' => byte - b'0',
                b'a'..=b'f' => byte - b'a' + 10,
                b'A'..=b'F' => byte - b'A' + 10,
                _ => return Err(self.error("invalid escape")),
            };
            n = (n << 4) | u16::from(digit);
        }
        Ok(n)
    }

    /// A number (after its `-`, if any). Integers convert as serde_json converts them. A float
    /// is checked against the grammar below (which finds its end and its errors, as serde_json
    /// does), then converted from its whole text with correct rounding (`floats.rs`), as
    /// serde_json's `float_roundtrip` does: a float survives a round trip through `encode`
    /// (serde_json's default multiply-by-a-power-of-ten conversion read `8888888888888888.88888`
    /// one ULP off, and refused `1.7976931348623158e308`, which rounds to `f64::MAX`).
    fn number(&mut self, positive: bool) -> Result<Num, JsonError> {
        let start = self.pos - usize::from(!positive);
        match self.number_grammar(positive)? {
            Some(number) => Ok(number),
            None => {
                let exact = floats::parse(&self.text[start..self.pos])
                    .map_err(|problem| self.error(problem))?;
                Ok(Num::F64(exact))
            }
        }
    }

    /// Reads a number's text and returns it if it is an integer that serde_json keeps as one,
    /// or `None` for a float, to be converted from its text.
    fn number_grammar(&mut self, positive: bool) -> Result<Option<Num>, JsonError> {
        let Some(first) = self.peek() else {
            return Err(self.error("EOF while parsing a value"));
        };
        self.pos += 1;
        let mut significand = match first {
            b'0' => {
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.error("invalid number"));
                }
                0
            }
            b'1'..=b'9' => u64::from(first - b'0'),
            _ => return Err(self.error("invalid number")),
        };
        if first != b'0' {
            while let Some(c @ b'0'..=b'9') = self.peek() {
                let digit = u64::from(c - b'0');
                if overflows(significand, digit, u64::MAX) {
                    self.long_integer(significand)?;
                    return Ok(None);
                }
                self.pos += 1;
                significand = significand * 10 + digit;
            }
        }
        Ok(match self.peek() {
            Some(b'.') => {
                self.decimal(significand)?;
                None
            }
            Some(b'e' | b'E') => {
                self.exponent(significand)?;
                None
            }
            _ if positive => Some(Num::U64(significand)),
            _ => {
                let negative = (significand as i64).wrapping_neg();
                // A float on underflow, or for `-0`, as serde_json does.
                if negative >= 0 {
                    Some(Num::F64(-(significand as f64)))
                } else {
                    Some(Num::I64(negative))
                }
            }
        })
    }

    /// The rest of an integer too long for a `u64`.
    #[cold]
    fn long_integer(&mut self, significand: u64) -> Result<(), JsonError> {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'.') => self.decimal(significand),
            Some(b'e' | b'E') => self.exponent(significand),
            _ => Ok(()),
        }
    }

    /// A fraction, after the digits before its point. The significand is kept (as serde_json
    /// keeps it, up to what fits in a `u64`) only to know whether it is zero in [`Self::exponent`].
    fn decimal(&mut self, mut significand: u64) -> Result<(), JsonError> {
        self.pos += 1;
        let mut digits = false;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            digits = true;
            let digit = u64::from(c - b'0');
            if overflows(significand, digit, u64::MAX) {
                // Further digits cannot make the significand zero: skip them.
                while let Some(b'0'..=b'9') = self.peek() {
                    self.pos += 1;
                }
                break;
            }
            self.pos += 1;
            significand = significand * 10 + digit;
        }
        if !digits {
            return Err(match self.peek() {
                Some(_) => self.error("invalid number"),
                None => self.error("EOF while parsing a value"),
            });
        }
        match self.peek() {
            Some(b'e' | b'E') => self.exponent(significand),
            _ => Ok(()),
        }
    }

    /// An exponent, after the significand. An exponent beyond `i32` is refused as out of range
    /// for a non-zero significand and a positive exponent, as serde_json refuses it (the
    /// conversion of the text would give infinity, or zero, anyway).
    fn exponent(&mut self, significand: u64) -> Result<(), JsonError> {
        self.pos += 1;
        let positive_exp = match self.peek() {
            Some(b'+') => {
                self.pos += 1;
                true
            }
            Some(b'-') => {
                self.pos += 1;
                false
            }
            _ => true,
        };
        let mut exp = match self.peek() {
            Some(c @ b'0'..=b'9') => i32::from(c - b'0'),
            Some(_) => {
                self.pos += 1;
                return Err(self.error("invalid number"));
            }
            None => return Err(self.error("EOF while parsing a value")),
        };
        self.pos += 1;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            self.pos += 1;
            let digit = i32::from(c - b'0');
            if exp >= i32::MAX / 10 && (exp > i32::MAX / 10 || digit > i32::MAX % 10) {
                if significand != 0 && positive_exp {
                    return Err(self.error("number out of range"));
                }
                while let Some(b'0'..=b'9') = self.peek() {
                    self.pos += 1;
                }
                return Ok(());
            }
            exp = exp * 10 + digit;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

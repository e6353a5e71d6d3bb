//! A small JSON writer for everything the core hands out as text: frames the store returns,
//! actions, parsed frames and the state snapshot.
//!
//! Why not serde: `Serialize` derives plus `serde_json`'s serializer were about a fifth of the
//! Wasm binary, one monomorphized copy per type. Here each type writes its fields through one
//! non-generic [`Obj`] helper and `&dyn ToJson`, so the per-type code is a few calls. The output
//! is byte for byte what `serde_json::to_string` writes for the same value (same key order,
//! same skipped `None`s, same escapes, same number forms); `tests/write_equivalence.rs` checks
//! it against the serde derives, which stay on the types for native users and the server.

/// A value that can write itself as JSON text.
pub trait ToJson {
    /// Appends this value's JSON text to `out`.
    fn write_json(&self, out: &mut String);
}

/// The JSON text of a value.
pub fn to_json(value: &dyn ToJson) -> String {
    let mut out = String::with_capacity(128);
    value.write_json(&mut out);
    out
}

/// An object being written: `{`, then `"key":value` pairs with commas, then `}`.
#[derive(Debug)]
pub struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    /// Opens an object.
    pub fn open(out: &'a mut String) -> Self {
        out.push('{');
        Self { out, first: true }
    }

    /// Opens an internally tagged object: `{"type":tag`.
    pub fn tagged(out: &'a mut String, tag: &str) -> Self {
        let mut obj = Self::open(out);
        obj.field("type", &tag);
        obj
    }

    /// Writes `"key":` (keys are our own ASCII names: no escaping needed).
    fn key(&mut self, key: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
        self.out
    }

    /// Writes one field.
    pub fn field(&mut self, key: &str, value: &dyn ToJson) -> &mut Self {
        value.write_json(self.key(key));
        self
    }

    /// Writes one field unless it is `None` (serde's `skip_serializing_if = "Option::is_none"`).
    pub fn some<T: ToJson>(&mut self, key: &str, value: &Option<T>) -> &mut Self {
        if let Some(value) = value {
            self.field(key, value);
        }
        self
    }

    /// Writes `"key":` for a key that is data (say, a session id), escaped, and returns the
    /// text for the caller to write the value into.
    pub fn raw_key(&mut self, key: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        write_str(self.out, key);
        self.out.push(':');
        self.out
    }

    /// Closes the object.
    pub fn close(self) {
        self.out.push('}');
    }
}

/// Writes a string with serde_json's escapes: `\"`, `\\`, `\b \f \n \r \t`, and `\u00xx`
/// (lowercase hex) for the other control characters; everything else as is.
pub fn write_str(out: &mut String, text: &str) {
    out.push('"');
    let bytes = text.as_bytes();
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: &str = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // Escapes are ASCII, so `index` is always a char boundary.
        out.push_str(&text[start..index]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        } else {
            out.push_str(escape);
        }
        start = index + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// The pieces one after the other, as `pieces.concat()` does: messages are built with this and
/// [`u64_text`] instead of `format!`, so the Wasm package links no `core::fmt`. Not `concat()`
/// itself: its generic joiner is three times this size in the Wasm binary.
pub fn concat(pieces: &[&str]) -> String {
    let mut out = String::with_capacity(pieces.iter().map(|piece| piece.len()).sum());
    for piece in pieces {
        out.push_str(piece);
    }
    out
}

/// The decimal text of `n`, as `n.to_string()` writes it. Messages are built with these and
/// `concat` instead of `format!`, so the Wasm package links no `core::fmt` (about 2 KB gzipped).
pub fn u64_text(n: u64) -> String {
    let mut out = String::new();
    write_u64(&mut out, n);
    out
}

/// The decimal text of `n`, as `n.to_string()` writes it (see [`u64_text`]).
pub fn i64_text(n: i64) -> String {
    let mut out = String::new();
    if n < 0 {
        out.push('-');
    }
    write_u64(&mut out, n.unsigned_abs());
    out
}

/// Writes an unsigned integer in decimal (what `itoa` writes).
pub fn write_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &digit in &digits[at..] {
        out.push(char::from(digit));
    }
}

impl ToJson for str {
    fn write_json(&self, out: &mut String) {
        write_str(out, self);
    }
}

impl ToJson for String {
    fn write_json(&self, out: &mut String) {
        write_str(out, self);
    }
}

impl<T: ToJson + ?Sized> ToJson for &T {
    fn write_json(&self, out: &mut String) {
        (**self).write_json(out);
    }
}

impl ToJson for bool {
    fn write_json(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
}

impl ToJson for u64 {
    fn write_json(&self, out: &mut String) {
        write_u64(out, *self);
    }
}

impl ToJson for u32 {
    fn write_json(&self, out: &mut String) {
        write_u64(out, u64::from(*self));
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn write_json(&self, out: &mut String) {
        match self {
            Some(value) => value.write_json(out),
            None => out.push_str("null"),
        }
    }
}

impl<T: ToJson> ToJson for [T] {
    fn write_json(&self, out: &mut String) {
        write_seq(out, &mut self.iter().map(|item| item as &dyn ToJson));
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn write_json(&self, out: &mut String) {
        self.as_slice().write_json(out);
    }
}

/// Writes `[a,b,...]` (one copy for every element type).
pub fn write_seq(out: &mut String, items: &mut dyn Iterator<Item = &dyn ToJson>) {
    out.push('[');
    for (index, item) in items.enumerate() {
        if index > 0 {
            out.push(',');
        }
        item.write_json(out);
    }
    out.push(']');
}

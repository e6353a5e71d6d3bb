//! [`RawJson`]: a payload the protocol carries without looking inside it (a tool's `input` and
//! `result`, a turn's `usage`), kept as canonical JSON text.
//!
//! Why text and not a `serde_json::Value`: neither the core nor the client ever reads inside a
//! payload. They carry it from a frame into the state and on to JavaScript, which wants text
//! anyway. A `Value` is a tree of B-tree maps with its own clone, drop and writer code: about
//! 8 KB of the Wasm binary (3 KB gzipped) spent on nothing the client does.
//!
//! The text is canonical: exactly what serde_json writes for the equivalent `Value` (compact,
//! object keys in byte order, the last value of a duplicated key, numbers as serde_json writes
//! them). So two payloads are equal exactly when their `Value`s are, and a payload reads and
//! writes as it did when it was a `Value` (tests/write_equivalence.rs checks both).

use super::json::{self, Json, JsonError, Num};
use super::write::{write_str, write_u64, ToJson};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// Any JSON value, held as its canonical text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RawJson(Box<str>);

impl RawJson {
    /// JSON `null`.
    pub fn null() -> Self {
        Self("null".into())
    }

    /// Reads a JSON text (whitespace and key order are not kept; see the module doc).
    pub fn parse(text: &str) -> Result<Self, JsonError> {
        Ok(Self::from_json(&json::parse(text)?))
    }

    /// The canonical text of a parsed value.
    pub fn from_json(json: &Json<'_>) -> Self {
        let mut text = String::new();
        write_canonical(json, &mut text);
        Self(text.into_boxed_str())
    }

    /// The canonical text of a `serde_json::Value`: serde_json's own text of it, by definition.
    /// (Only native code holds `Value`s, so this links nothing into the Wasm package.)
    pub fn from_value(value: &Value) -> Self {
        // Writing a `Value` cannot fail: its map keys are strings.
        Self(
            serde_json::to_string(value)
                .unwrap_or_default()
                .into_boxed_str(),
        )
    }

    /// The canonical JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The payload as a `serde_json::Value`, for code that wants to look inside it.
    pub fn to_value(&self) -> Value {
        // The text is JSON this module wrote, which serde_json always reads back.
        serde_json::from_str(&self.0).unwrap_or_default()
    }
}

impl Default for RawJson {
    fn default() -> Self {
        Self::null()
    }
}

impl From<Value> for RawJson {
    fn from(value: Value) -> Self {
        Self::from_value(&value)
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ToJson for RawJson {
    fn write_json(&self, out: &mut String) {
        out.push_str(&self.0);
    }
}

/// serde sees the `Value`, so serialized frames and snapshots are what they were.
impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Self::from)
    }
}

/// Writes `json` as serde_json writes the `Value` it reads as.
fn write_canonical(json: &Json<'_>, out: &mut String) {
    match json {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(Num::U64(n)) => write_u64(out, *n),
        Json::Number(Num::I64(n)) => {
            if *n < 0 {
                out.push('-');
            }
            write_u64(out, n.unsigned_abs());
        }
        // The reader only produces finite floats (`-0` included, which serde_json also reads
        // as the float `-0.0`).
        Json::Number(Num::F64(n)) => super::floats::write(*n, out),
        Json::String(s) => write_str(out, s),
        Json::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Json::Object(members) => {
            // Keys in byte order, as a `Map` (a B-tree) iterates them. Sorting positions by
            // (key, position) and keeping the last of each run of equal keys is the `Map`'s
            // "a later duplicate replaces the value".
            let mut order = Vec::from_iter(0..members.len());
            order.sort_unstable_by(|&a, &b| members[a].0.cmp(&members[b].0).then(a.cmp(&b)));
            out.push('{');
            let mut first = true;
            for (rank, &position) in order.iter().enumerate() {
                let (key, value) = &members[position];
                let replaced = order
                    .get(rank + 1)
                    .is_some_and(|&next| members[next].0 == *key);
                if replaced {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                write_str(out, key);
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RawJson;
    use serde_json::{json, Value};

    #[test]
    fn the_text_is_what_serde_json_writes_for_the_value() {
        let texts = [
            "null",
            "true",
            " [1, -2, -0, 2.5, 1e300, 18446744073709551615, -9223372036854775808] ",
            r#"{"b": 1, "a": {"z": [], "y": {}}, "b": 2, "é": "x\"\u0001"}"#,
            r#"{"k": 1, "k": {"k": 3}, "a": null}"#,
        ];
        for text in texts {
            let value: Value = serde_json::from_str(text).unwrap();
            let raw = RawJson::parse(text).unwrap();
            assert_eq!(
                raw.as_str(),
                serde_json::to_string(&value).unwrap(),
                "{text}"
            );
            assert_eq!(raw, RawJson::from(value.clone()));
            assert_eq!(raw.to_value(), value);
        }
    }

    #[test]
    fn serde_sees_the_value() {
        let raw = RawJson::parse(r#"{"q": [1, 2.5, null]}"#).unwrap();
        assert_eq!(
            serde_json::to_value(&raw).unwrap(),
            json!({"q": [1, 2.5, null]})
        );
        let back: RawJson = serde_json::from_str(r#"{"q":[1,2.5,null]}"#).unwrap();
        assert_eq!(back, raw);
        assert!(RawJson::parse("{").is_err());
        assert_eq!(RawJson::default().as_str(), "null");
    }
}

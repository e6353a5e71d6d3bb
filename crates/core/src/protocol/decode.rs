//! Decoding typed values from the JSON tree by hand, with the error semantics frames had when
//! serde (through `serde_path_to_error`) decoded them from a `serde_json::Value`:
//!
//! - the bad field is named by its path (`sessions[0].lastSeq`), and the message is serde's
//!   (`invalid type: string "1", expected u64`, `missing field `x``);
//! - a `Value`'s members are visited in key order and the first bad one stops decoding, so each
//!   decoder asks for its fields **in byte order of their keys**; missing fields are reported
//!   after that, in declaration order;
//! - an optional field sent as `null` is absent, a required-but-nullable one must be present;
//! - unknown members are ignored;
//! - where serde accepts more than the protocol writes, the protocol's form alone is accepted
//!   (PROTOCOL.md; `docs/protocol.md` lists the forms): a struct is an object (never serde's
//!   array of its fields), a unit enum a string (never `{"NAME": null}`).

use super::json::{Json, Num};
use super::write::{concat, i64_text, u64_text, write_u64};
use super::ProtocolError;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// A field that could not be decoded: its path and serde's description of the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub field: String,
    pub message: String,
}

impl From<DecodeError> for ProtocolError {
    fn from(error: DecodeError) -> Self {
        ProtocolError::invalid_field(&error.field, &error.message)
    }
}

/// Where a value sits in a frame, displayed as `serde_path_to_error` displays it.
#[derive(Debug, Clone, Copy)]
pub enum Path<'p> {
    Root,
    Key(&'p Path<'p>, &'p str),
    Index(&'p Path<'p>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl Path<'_> {
    /// The path as `serde_path_to_error` displays it, e.g. `sessions[2].id`.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Path::Root => out.push('.'),
            Path::Key(parent, key) => {
                if !matches!(parent, Path::Root) {
                    parent.write(out);
                    out.push('.');
                }
                out.push_str(key);
            }
            Path::Index(parent, index) => {
                if !matches!(parent, Path::Root) {
                    parent.write(out);
                }
                out.push('[');
                write_u64(out, *index as u64);
                out.push(']');
            }
        }
    }

    #[cold]
    pub fn error(&self, message: String) -> DecodeError {
        DecodeError {
            field: self.text(),
            message,
        }
    }
}

/// serde's `Unexpected` as serde_json displays it.
fn unexpected(json: &Json<'_>) -> String {
    match json {
        Json::Null => "null".to_owned(),
        Json::Bool(b) => concat(&["boolean `", if *b { "true" } else { "false" }, "`"]),
        Json::Number(Num::U64(n)) => concat(&["integer `", &u64_text(*n), "`"]),
        Json::Number(Num::I64(n)) => concat(&["integer `", &i64_text(*n), "`"]),
        // serde_json's own float formatting, as its error messages use: a `Value`'s `Display`
        // is its compact JSON text, which our writer produces byte for byte without linking
        // serde_json's serializer.
        Json::Number(Num::F64(_)) => concat(&[
            "floating point `",
            super::RawJson::from_json(json).as_str(),
            "`",
        ]),
        Json::String(s) => concat(&["string ", &quoted(s)]),
        Json::Array(_) => "sequence".to_owned(),
        Json::Object(_) => "map".to_owned(),
    }
}

/// `s` quoted as JSON text. serde's message quotes with `{s:?}`; the two agree on printable
/// text (the equivalence tests check it) and differ only in how control and other unprintable
/// characters are escaped. Not `Debug` itself: the Wasm package is built with `-Zfmt-debug=none`
/// (scripts/build-pkg.sh), where `{:?}` writes nothing, and `char::escape_debug` would bring in
/// the Unicode tables, 3.4 KB of the gzipped package.
fn quoted(s: &str) -> String {
    let mut quoted = String::with_capacity(s.len() + 2);
    super::write::write_str(&mut quoted, s);
    quoted
}

#[cold]
pub fn invalid_type(json: &Json<'_>, path: Path<'_>, expected: &str) -> DecodeError {
    path.error(concat(&[
        "invalid type: ",
        &unexpected(json),
        ", expected ",
        expected,
    ]))
}

#[cold]
fn invalid_integer(integer: &str, path: Path<'_>, expected: &str) -> DecodeError {
    path.error(concat(&[
        "invalid value: integer `",
        integer,
        "`, expected ",
        expected,
    ]))
}

/// A type read from the JSON tree.
pub trait FromJson: Sized {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError>;
}

impl FromJson for String {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        match json {
            Json::String(s) => Ok(s.as_ref().to_owned()),
            other => Err(invalid_type(other, path, "a string")),
        }
    }
}

impl FromJson for bool {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        match json {
            Json::Bool(b) => Ok(*b),
            other => Err(invalid_type(other, path, "a boolean")),
        }
    }
}

/// An unsigned integer field: `expected` is serde's name for the type (`u64`, `u32`).
fn unsigned(json: &Json<'_>, path: Path<'_>, max: u64, expected: &str) -> Result<u64, DecodeError> {
    match json {
        Json::Number(Num::U64(n)) if *n <= max => Ok(*n),
        Json::Number(Num::U64(n)) => Err(invalid_integer(&u64_text(*n), path, expected)),
        Json::Number(Num::I64(n)) => Err(invalid_integer(&i64_text(*n), path, expected)),
        other => Err(invalid_type(other, path, expected)),
    }
}

impl FromJson for u64 {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        unsigned(json, path, u64::MAX, "u64")
    }
}

impl FromJson for u32 {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        unsigned(json, path, u64::from(u32::MAX), "u32").map(|n| n as u32)
    }
}

impl FromJson for f64 {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        match json {
            Json::Number(Num::U64(n)) => Ok(*n as f64),
            Json::Number(Num::I64(n)) => Ok(*n as f64),
            Json::Number(Num::F64(n)) => Ok(*n),
            other => Err(invalid_type(other, path, "f64")),
        }
    }
}

impl FromJson for Value {
    fn from_json(json: &Json<'_>, _: Path<'_>) -> Result<Self, DecodeError> {
        Ok(json.to_value())
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(json: &Json<'_>, path: Path<'_>) -> Result<Self, DecodeError> {
        match json {
            // A plain loop, not `collect()` into a `Result`: its adapter was 0.7 KB of the Wasm
            // binary per element type.
            Json::Array(items) => {
                let mut decoded = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    decoded.push(T::from_json(item, Path::Index(&path, index))?);
                }
                Ok(decoded)
            }
            other => Err(invalid_type(other, path, "a sequence")),
        }
    }
}

/// A fieldless enum, written as its variant's name (only: serde's one-member map form
/// `{"NAME": null}` is not accepted).
/// Returns the position of the name in `names` (one function for every enum: `wire_unit_enum!`
/// maps the position to the variant).
pub fn unit_enum(json: &Json<'_>, path: Path<'_>, names: &[&str]) -> Result<usize, DecodeError> {
    let name = match json {
        Json::String(name) => name.as_ref(),
        other => return Err(invalid_type(other, path, "a string")),
    };
    match names.iter().position(|wire| *wire == name) {
        Some(index) => Ok(index),
        None => {
            let mut message = concat(&["unknown variant `", name, "`, expected one of "]);
            for (index, wire) in names.iter().enumerate() {
                if index > 0 {
                    message.push_str(", ");
                }
                message.push('`');
                message.push_str(wire);
                message.push('`');
            }
            Err(path.error(message))
        }
    }
}

/// The members of one struct being decoded (objects only: PROTOCOL.md's frames are objects, and
/// serde's array form of a struct is not accepted). The table decoder (`table.rs`) asks for
/// them in byte order of their keys (see the module docs) and reports missing ones.
#[derive(Debug)]
pub(crate) struct Fields<'j, 'a, 'p> {
    members: &'j [(Cow<'a, str>, Json<'a>)],
    path: Path<'p>,
}

impl<'j, 'a, 'p> Fields<'j, 'a, 'p> {
    /// The members of `json`, which must be an object (`name` is serde's `expecting` text,
    /// `struct SessionCursor`, for the error otherwise).
    pub(crate) fn of(
        json: &'j Json<'a>,
        path: Path<'p>,
        name: &'static str,
    ) -> Result<Self, DecodeError> {
        match json {
            Json::Object(members) => Ok(Self { members, path }),
            other => Err(invalid_type(other, path, name)),
        }
    }

    /// A member's value (the last one, when a key is repeated).
    pub(crate) fn member(&self, key: &str) -> Option<&'j Json<'a>> {
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value)
    }

    /// The path of the struct itself.
    pub(crate) fn path(&self) -> Path<'p> {
        self.path
    }

    #[cold]
    pub(crate) fn missing(&self, key: &str) -> DecodeError {
        Path::Key(&self.path, key).error(concat(&["missing field `", key, "`"]))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_macros)]
    use super::{quoted, Path};

    #[test]
    fn paths_read_as_serde_path_to_error_writes_them() {
        let root = Path::Root;
        let sessions = Path::Key(&root, "sessions");
        let third = Path::Index(&sessions, 2);
        let nested = Path::Index(&third, 0);
        let cases = [
            (Path::Root, "."),
            (sessions, "sessions"),
            (Path::Key(&sessions, "x"), "sessions.x"),
            (Path::Index(&root, 0), "[0]"),
            (third, "sessions[2]"),
            (Path::Key(&third, "lastSeq"), "sessions[2].lastSeq"),
            (nested, "sessions[2][0]"),
        ];
        for (path, text) in cases {
            assert_eq!(path.text(), text);
            assert_eq!(path.to_string(), text);
        }
    }

    #[test]
    fn quoted_matches_str_debug_on_printable_text() {
        let printable = [
            "",
            "plain",
            "it's",
            "say \"hi\"",
            "back\\slash",
            "é café",
            "emoji 😀",
        ];
        for s in printable {
            assert_eq!(quoted(s), format!("{s:?}"), "{s}");
        }
        assert_eq!(quoted("tab\tnul\u{0}"), r#""tab\tnul\u0000""#);
    }
}

//! Table-driven struct decoding: one field loop for every payload struct and action variant.
//!
//! Why: the hand-written decoders were one monomorphized function per struct, each with its own
//! copy of the field lookups, the `FromJson` calls and the clean-up code for every way a later
//! field can fail; together about a fifth of the Wasm binary. Here a struct is a small static
//! table of `(key, kind, need)` in declaration order; [`decode`] reads the fields into
//! [`Slots`] with the rules of `decode.rs` (fields read in byte order of their keys, so the first
//! bad one named is serde's; then the missing ones in declaration order; then the array form's
//! length), and the caller only moves the slots into its struct.

use super::client::SessionCursor;
use super::decode::{DecodeError, Fields, FromJson, Path};
use super::json::Json;
use super::server::{BlockType, ReconnectedSession, ServerInfo, SessionSummary, TurnEndReason};
use super::ErrorCode;
use super::RawJson;
use crate::SessionState;

/// The type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    U32,
    U64,
    Bool,
    Value,
    State,
    BlockType,
    Reason,
    Code,
    Server,
    Summaries,
    Reconnected,
    Cursors,
}

/// Whether a field must be there: serde's plain field, `Option` with `default` (absent or
/// `null` is `None`), or the protocol's required-but-nullable field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Req,
    Opt,
    Nullable,
}

/// One field of a table: its wire key, type and need, in declaration order.
pub type Field = (&'static str, Kind, Need);

/// A struct's fields in declaration order, and their positions sorted by key (computed at
/// compile time, so decoding a frame sorts nothing).
#[derive(Debug)]
pub struct Table {
    fields: &'static [Field],
    by_key: [u8; MAX_FIELDS],
    len: usize,
}

impl Table {
    /// The table of `fields` (at most [`MAX_FIELDS`]; checked when the constant is built).
    pub const fn new(fields: &'static [Field]) -> Self {
        assert!(fields.len() <= MAX_FIELDS, "raise MAX_FIELDS");
        let mut by_key = [0u8; MAX_FIELDS];
        let mut i = 0;
        while i < fields.len() {
            by_key[i] = i as u8;
            i += 1;
        }
        // Insertion sort by key bytes (`const fn` cannot call the library's sort).
        let mut i = 1;
        while i < fields.len() {
            let mut j = i;
            while j > 0
                && key_less(
                    fields[by_key[j] as usize].0,
                    fields[by_key[j - 1] as usize].0,
                )
            {
                let swap = by_key[j];
                by_key[j] = by_key[j - 1];
                by_key[j - 1] = swap;
                j -= 1;
            }
            i += 1;
        }
        Self {
            fields,
            by_key,
            len: fields.len(),
        }
    }

    /// The fields in declaration order.
    pub fn fields(&self) -> &'static [Field] {
        self.fields
    }
}

/// `a < b` by bytes, as `str`'s `Ord`.
const fn key_less(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a.len() < b.len()
}

/// The most fields a table may have.
pub(crate) const MAX_FIELDS: usize = 10;

/// A decoded field value (`Empty`: absent, or `null` for an optional field).
#[derive(Debug, Default)]
enum Slot {
    #[default]
    Empty,
    Null,
    Str(String),
    U64(u64),
    Bool(bool),
    Value(RawJson),
    State(SessionState),
    BlockType(BlockType),
    Reason(TurnEndReason),
    Code(ErrorCode),
    Server(ServerInfo),
    Summaries(Vec<SessionSummary>),
    Reconnected(Vec<ReconnectedSession>),
    Cursors(Vec<SessionCursor>),
}

/// The decoded fields of one struct, by declaration position. Every required field is known to
/// be present with its kind, so the takers below cannot fail (their fallbacks are unreachable).
#[derive(Debug, Default)]
pub struct Slots([Slot; MAX_FIELDS]);

/// Reads one field's value.
fn read(kind: Kind, json: &Json<'_>, path: Path<'_>) -> Result<Slot, DecodeError> {
    Ok(match kind {
        Kind::Str => Slot::Str(String::from_json(json, path)?),
        Kind::U32 => Slot::U64(u64::from(u32::from_json(json, path)?)),
        Kind::U64 => Slot::U64(u64::from_json(json, path)?),
        Kind::Bool => Slot::Bool(bool::from_json(json, path)?),
        Kind::Value => Slot::Value(RawJson::from_json(json)),
        Kind::State => Slot::State(SessionState::from_json(json, path)?),
        Kind::BlockType => Slot::BlockType(BlockType::from_json(json, path)?),
        Kind::Reason => Slot::Reason(TurnEndReason::from_json(json, path)?),
        Kind::Code => Slot::Code(ErrorCode::from_json(json, path)?),
        Kind::Server => Slot::Server(ServerInfo::from_json(json, path)?),
        Kind::Summaries => Slot::Summaries(Vec::from_json(json, path)?),
        Kind::Reconnected => Slot::Reconnected(Vec::from_json(json, path)?),
        Kind::Cursors => Slot::Cursors(Vec::from_json(json, path)?),
    })
}

/// Decodes a struct described by `table` from an object (or an array of its fields).
/// `name` is serde's `expecting` text, e.g. `struct Ack`.
pub fn decode(
    json: &Json<'_>,
    path: Path<'_>,
    name: &'static str,
    table: &'static Table,
) -> Result<Slots, DecodeError> {
    let fields = table.fields;
    let f = Fields::with_table(json, path, name, fields)?;
    let mut slots = Slots::default();
    // Declaration positions sorted by key: the order serde visited a `Value`'s members in.
    for &position in table.by_key.iter().take(table.len) {
        let (key, kind, need) = fields[usize::from(position)];
        slots.0[usize::from(position)] = match f.member_at(key) {
            None => Slot::Empty,
            Some((Json::Null, _)) if need == Need::Opt => Slot::Empty,
            Some((Json::Null, _)) if need == Need::Nullable => Slot::Null,
            Some((json, Some(index))) => read(kind, json, Path::Index(&f.path(), index))?,
            Some((json, None)) => read(kind, json, Path::Key(&f.path(), key))?,
        };
    }
    for (position, &(key, _, need)) in fields.iter().enumerate() {
        if need != Need::Opt && matches!(slots.0[position], Slot::Empty) {
            return Err(f.missing(key));
        }
    }
    f.done(slots)
}

// The takers are out of line on purpose: inlined, each call site would carry its own copy of the
// match and of the clean-up of a slot; out of line, a struct's construction is a few calls.
impl Slots {
    fn take(&mut self, position: usize) -> Slot {
        self.0
            .get_mut(position)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// An optional (or nullable) string.
    #[inline(never)]
    pub fn opt_str(&mut self, position: usize) -> Option<String> {
        match self.take(position) {
            Slot::Str(text) => Some(text),
            _ => None,
        }
    }

    #[inline(never)]
    pub fn str(&mut self, position: usize) -> String {
        self.opt_str(position).unwrap_or_default()
    }

    #[inline(never)]
    pub fn opt_u64(&mut self, position: usize) -> Option<u64> {
        match self.take(position) {
            Slot::U64(n) => Some(n),
            _ => None,
        }
    }

    #[inline(never)]
    pub fn u64(&mut self, position: usize) -> u64 {
        self.opt_u64(position).unwrap_or_default()
    }

    /// An optional `u32` field (range-checked when read).
    #[inline(never)]
    pub fn opt_u32(&mut self, position: usize) -> Option<u32> {
        self.opt_u64(position).and_then(|n| u32::try_from(n).ok())
    }

    /// A `u32` field (range-checked when read).
    #[inline(never)]
    pub fn u32(&mut self, position: usize) -> u32 {
        u32::try_from(self.u64(position)).unwrap_or_default()
    }

    #[inline(never)]
    pub fn bool(&mut self, position: usize) -> bool {
        matches!(self.take(position), Slot::Bool(true))
    }

    #[inline(never)]
    pub fn opt_value(&mut self, position: usize) -> Option<RawJson> {
        match self.take(position) {
            Slot::Value(value) => Some(value),
            _ => None,
        }
    }

    #[inline(never)]
    pub fn value(&mut self, position: usize) -> RawJson {
        self.opt_value(position).unwrap_or_default()
    }

    #[inline(never)]
    pub fn opt_state(&mut self, position: usize) -> Option<SessionState> {
        match self.take(position) {
            Slot::State(state) => Some(state),
            _ => None,
        }
    }

    #[inline(never)]
    pub fn state(&mut self, position: usize) -> SessionState {
        self.opt_state(position).unwrap_or(SessionState::Created)
    }

    #[inline(never)]
    pub fn block_type(&mut self, position: usize) -> BlockType {
        match self.take(position) {
            Slot::BlockType(block_type) => block_type,
            _ => BlockType::Text,
        }
    }

    #[inline(never)]
    pub fn reason(&mut self, position: usize) -> TurnEndReason {
        match self.take(position) {
            Slot::Reason(reason) => reason,
            _ => TurnEndReason::Completed,
        }
    }

    #[inline(never)]
    pub fn code(&mut self, position: usize) -> ErrorCode {
        match self.take(position) {
            Slot::Code(code) => code,
            _ => ErrorCode::Internal,
        }
    }

    #[inline(never)]
    pub fn server(&mut self, position: usize) -> ServerInfo {
        match self.take(position) {
            Slot::Server(server) => server,
            _ => ServerInfo {
                name: String::new(),
                version: String::new(),
            },
        }
    }

    #[inline(never)]
    pub fn summaries(&mut self, position: usize) -> Vec<SessionSummary> {
        match self.take(position) {
            Slot::Summaries(items) => items,
            _ => Vec::new(),
        }
    }

    #[inline(never)]
    pub fn reconnected(&mut self, position: usize) -> Vec<ReconnectedSession> {
        match self.take(position) {
            Slot::Reconnected(items) => items,
            _ => Vec::new(),
        }
    }

    #[inline(never)]
    pub fn cursors(&mut self, position: usize) -> Vec<SessionCursor> {
        match self.take(position) {
            Slot::Cursors(items) => items,
            _ => Vec::new(),
        }
    }
}

/// Implements `FromJson` for a struct through a table: `$key => $kind $need` in declaration
/// order, then the struct built from the slots `$s` (taken by declaration position).
macro_rules! table_struct {
    ($ty:ty, $name:literal, [$($key:literal => $kind:ident $need:ident),* $(,)?], |$s:ident| $body:expr) => {
        impl $crate::protocol::decode::FromJson for $ty {
            fn from_json(
                json: &$crate::protocol::json::Json<'_>,
                path: $crate::protocol::decode::Path<'_>,
            ) -> Result<Self, $crate::protocol::decode::DecodeError> {
                #[allow(unused_imports)]
                use $crate::protocol::table::{Kind, Need, Table};
                const TABLE: Table = Table::new(&[$(($key, Kind::$kind, Need::$need)),*]);
                #[allow(unused_mut, unused_variables)]
                let mut $s = $crate::protocol::table::decode(json, path, $name, &TABLE)?;
                Ok($body)
            }
        }
    };
}
pub(crate) use table_struct;

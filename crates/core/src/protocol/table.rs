//! Table-driven struct decoding: one field loop for every payload struct and action variant.
//!
//! Why: the hand-written decoders were one monomorphized function per struct, each with its own
//! copy of the field lookups, the `FromJson` calls and the clean-up code for every way a later
//! field can fail; together about a fifth of the Wasm binary. Here a struct is a small static
//! table of `(key, kind, need)` in declaration order; [`decode`] reads the fields into
//! [`Slots`] with the rules of `decode.rs` (fields read in byte order of their keys, so the first
//! bad one named is serde's; then the missing ones in declaration order), and the caller moves
//! the slots into its struct in declaration order.

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
pub enum Slot {
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
pub struct Slots([Slot; MAX_FIELDS], usize);

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

/// Decodes a struct described by `table` from an object.
/// `name` is serde's `expecting` text, e.g. `struct Ack`.
pub fn decode(
    json: &Json<'_>,
    path: Path<'_>,
    name: &'static str,
    table: &'static Table,
) -> Result<Slots, DecodeError> {
    let fields = table.fields;
    let f = Fields::of(json, path, name)?;
    let mut slots = Slots::default();
    // Declaration positions sorted by key: the order serde visited a `Value`'s members in.
    for &position in table.by_key.iter().take(table.len) {
        let (key, kind, need) = fields[usize::from(position)];
        slots.0[usize::from(position)] = match f.member(key) {
            None => Slot::Empty,
            Some(Json::Null) if need == Need::Opt => Slot::Empty,
            Some(Json::Null) if need == Need::Nullable => Slot::Null,
            Some(json) => read(kind, json, Path::Key(&f.path(), key))?,
        };
    }
    for (position, &(key, _, need)) in fields.iter().enumerate() {
        if need != Need::Opt && matches!(slots.0[position], Slot::Empty) {
            return Err(f.missing(key));
        }
    }
    Ok(slots)
}

impl Slots {
    fn take(&mut self, position: usize) -> Slot {
        self.0
            .get_mut(position)
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

/// A struct declared with `wire_struct!`: its fields, as its decoder reads them.
pub trait WireStruct {
    const TABLE: &'static Table;
}

/// A field type a wire struct may have: its [`Kind`] in the decode table and how it is taken out
/// of its slot (`Option<T>` fields are `T`'s kind, taken with [`Slots::opt`]). Implemented
/// once per type, so a struct's decoder is derived from its field types by `wire_struct!` and a
/// field can never be read as another kind.
pub trait WireField: Sized {
    const KIND: Kind;
    /// The value of a present slot of this kind.
    fn take(slot: Slot) -> Option<Self>;
    /// What an absent required field would be; never used, since the decoder refuses a struct
    /// that misses one (it spares the package a panic path).
    fn fallback() -> Self;
}

macro_rules! wire_field {
    ($($ty:ty => $kind:ident($slot:ident) $value:ident => $convert:expr, or $fallback:expr;)*) => {
        $(impl WireField for $ty {
            const KIND: Kind = Kind::$kind;
            fn take(slot: Slot) -> Option<Self> {
                match slot {
                    Slot::$slot($value) => Some($convert),
                    _ => None,
                }
            }
            fn fallback() -> Self {
                $fallback
            }
        })*
    };
}

wire_field! {
    String => Str(Str) v => v, or String::new();
    u64 => U64(U64) v => v, or 0;
    u32 => U32(U64) v => u32::try_from(v).unwrap_or_default(), or 0;
    bool => Bool(Bool) v => v, or false;
    RawJson => Value(Value) v => v, or RawJson::default();
    SessionState => State(State) v => v, or SessionState::Created;
    BlockType => BlockType(BlockType) v => v, or BlockType::Text;
    TurnEndReason => Reason(Reason) v => v, or TurnEndReason::Completed;
    ErrorCode => Code(Code) v => v, or ErrorCode::Internal;
    ServerInfo => Server(Server) v => v, or ServerInfo { name: String::new(), version: String::new() };
    Vec<SessionSummary> => Summaries(Summaries) v => v, or Vec::new();
    Vec<ReconnectedSession> => Reconnected(Reconnected) v => v, or Vec::new();
    Vec<SessionCursor> => Cursors(Cursors) v => v, or Vec::new();
}

impl Slots {
    /// The next field's slot, in declaration order (`wire_struct!` builds its struct with one
    /// call per field, in the order of the table).
    fn next_slot(&mut self) -> Slot {
        let slot = self.take(self.1);
        self.1 += 1;
        slot
    }

    /// The next field, required: present, since the decoder checked it.
    #[inline(never)]
    pub fn req<T: WireField>(&mut self) -> T {
        T::take(self.next_slot()).unwrap_or_else(T::fallback)
    }

    /// The next field, optional or nullable.
    #[inline(never)]
    pub fn opt<T: WireField>(&mut self) -> Option<T> {
        T::take(self.next_slot())
    }
}

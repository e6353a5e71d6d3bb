//! The decoder of an event's header. The payload structs' decoders are derived from their
//! declarations (`wire_struct!` in `server.rs`), the enums' from theirs (`wire_unit_enum!`).

use super::decode::{DecodeError, Path};
use super::json::Json;
use super::table::{self, Kind, Need, Table};

/// The fields every event has besides its kind, decoded before the kind (as serde did).
pub(super) fn event_header(json: &Json<'_>) -> Result<(String, u64, u64), DecodeError> {
    const TABLE: Table = Table::new(&[
        ("sessionId", Kind::Str, Need::Req),
        ("seq", Kind::U64, Need::Req),
        ("ts", Kind::U64, Need::Req),
    ]);
    let mut s = table::decode(json, Path::Root, "struct EventHeader", &TABLE)?;
    Ok((s.req(), s.req(), s.req()))
}

//! Reading an [`Action`] from its JSON text (`ClientStore.dispatch`, the golden vectors) with
//! the hand-written decoder of the protocol module instead of serde's `Deserialize`: the
//! internally tagged enum's generic machinery was the largest part of the Wasm binary.
//!
//! Same acceptance as serde's derive: `type` names the variant, fields are camelCase, optional
//! fields may be absent or `null`, unknown fields are ignored, a field given twice is refused.
//!
//! One table row per variant, in declaration order: its `type`, its fields (read by the shared
//! loop of `protocol/table.rs`) and a small function that moves the decoded fields into the
//! variant. A `match` per variant instead compiled to one large function (most of this module's
//! share of the Wasm binary).

use super::Action;
use crate::protocol::decode::{invalid_type, DecodeError, Path};
use crate::protocol::json::{self, Json};
use crate::protocol::table::{self, Slots, Table};
use crate::protocol::write::concat;

impl Action {
    /// Reads an action from JSON text, e.g. `{"type":"SET_RUNNING","sessionId":"s","running":true}`.
    /// The error is a sentence for people.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let json = json::parse(text).map_err(|error| error.message())?;
        decode(&json).map_err(|error| error.message)
    }
}

fn decode(json: &Json<'_>) -> Result<Action, DecodeError> {
    let Json::Object(members) = json else {
        return Err(invalid_type(
            json,
            Path::Root,
            "internally tagged enum Action",
        ));
    };
    let mut tags = members.iter().filter(|(key, _)| key == "type");
    let kind = match (tags.next(), tags.next()) {
        (None, _) => return Err(Path::Root.error("missing field `type`".to_owned())),
        (Some(_), Some(_)) => return Err(Path::Root.error("duplicate field `type`".to_owned())),
        (Some((_, Json::String(kind))), None) => kind.as_ref(),
        (Some((_, other)), None) => {
            return Err(invalid_type(other, Path::Root, "variant identifier"));
        }
    };
    let Some((_, table, build)) = Action::VARIANTS.iter().find(|(name, _, _)| *name == kind) else {
        let mut names = String::new();
        for (index, (name, _, _)) in Action::VARIANTS.iter().enumerate() {
            if index > 0 {
                names.push_str(", ");
            }
            names.push('`');
            names.push_str(name);
            names.push('`');
        }
        return Err(Path::Root.error(concat(&[
            "unknown variant `",
            kind,
            "`, expected one of ",
            &names,
        ])));
    };
    // Unit variants read no fields (their table is empty), as serde's derive.
    let mut slots = fields(json, table)?;
    Ok(build(&mut slots))
}

/// The fields of a variant, decoded by its table, refusing a known field given twice (as
/// serde's derive does).
fn fields(json: &Json<'_>, table: &'static Table) -> Result<Slots, DecodeError> {
    if let Json::Object(members) = json {
        for (key, _, _) in table.fields() {
            if members.iter().filter(|(k, _)| k == key).count() > 1 {
                return Err(Path::Root.error(concat(&["duplicate field `", key, "`"])));
            }
        }
    }
    table::decode(json, Path::Root, "struct variant", table)
}

//! Rust values to plain JavaScript values and back, through JSON text: the core's own JSON writer
//! (`protocol::write`) on the Rust side and the engine's `JSON.parse`/`JSON.stringify` on the
//! other. One string crosses the boundary per conversion (not one call per field, as with
//! serde-wasm-bindgen), which is faster for the per-frame actions. The writer writes exactly
//! what serde_json would, but without serde's `Serialize` machinery, which would be a fifth of
//! the binary. Maps become plain objects, `None` becomes `null` (or an absent key where the type
//! says so) and integers become numbers.
//!
//! The way back is the core's own JSON reader and hand-written decoders (`Action::from_json`,
//! `Options::from_js`), never serde's `Deserialize`: its generic machinery would be most of the
//! binary.

use crate::error::js_error;
use js_sys::JSON;
use sessionwire_core::protocol::{to_json, ToJson};
use wasm_bindgen::JsValue;

/// Serializes a value to a plain JavaScript value.
pub(crate) fn to_js(value: &dyn ToJson) -> JsValue {
    json_to_js(&to_json(value))
}

/// JSON text the core's writer wrote, as a plain JavaScript value.
pub(crate) fn json_to_js(json: &str) -> JsValue {
    // The writer always writes valid JSON, so the parse cannot fail.
    JSON::parse(json).unwrap_or(JsValue::NULL)
}

/// A plain JavaScript value as JSON text (`JSON.stringify`); a failure becomes an `Error` with
/// `code`.
pub(crate) fn json_text(value: &JsValue, code: &str) -> Result<String, JsValue> {
    JSON::stringify(value)
        .map(String::from)
        .map_err(|_| js_error(code, "the value cannot be converted to JSON", None))
}

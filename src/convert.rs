//! Rust values to plain JavaScript values and back, through JSON text: `serde_json` on the Rust
//! side and the engine's `JSON.parse`/`JSON.stringify` on the other. One string crosses the
//! boundary per conversion (not one call per field, as with serde-wasm-bindgen), which is both
//! faster for the per-frame actions and much smaller: the core already carries serde_json, so no
//! second set of serde instantiations is compiled in. Maps become plain objects, `None` becomes
//! `null` (or an absent key where the type says so) and integers become numbers.
//!
//! The way back is the core's own JSON reader and hand-written decoders (`Action::from_json`,
//! `Options::from_js`), never serde's `Deserialize`: its generic machinery would be most of the
//! binary.

use crate::error::js_error;
use js_sys::JSON;
use serde::Serialize;
use wasm_bindgen::JsValue;

/// Serializes a value to a plain JavaScript value.
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> JsValue {
    // Our types contain only strings, numbers, booleans and JSON values: this cannot fail.
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
    JSON::parse(&text).unwrap_or(JsValue::NULL)
}

/// A plain JavaScript value as JSON text (`JSON.stringify`); a failure becomes an `Error` with
/// `code`.
pub(crate) fn json_text(value: &JsValue, code: &str) -> Result<String, JsValue> {
    JSON::stringify(value)
        .map(String::from)
        .map_err(|_| js_error(code, "the value cannot be converted to JSON", None))
}

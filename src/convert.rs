//! Rust values to plain JavaScript values and back, through JSON text: `serde_json` on the Rust
//! side and the engine's `JSON.parse`/`JSON.stringify` on the other. One string crosses the
//! boundary per conversion (not one call per field, as with serde-wasm-bindgen), which is both
//! faster for the per-frame actions and much smaller: the core already carries serde_json, so no
//! second set of serde instantiations is compiled in. Maps become plain objects, `None` becomes
//! `null` (or an absent key where the type says so) and integers become numbers.

use crate::error::js_error;
use js_sys::JSON;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::JsValue;

/// Serializes a value to a plain JavaScript value.
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> JsValue {
    // Our types contain only strings, numbers, booleans and JSON values: this cannot fail.
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
    JSON::parse(&text).unwrap_or(JsValue::NULL)
}

/// Deserializes a plain JavaScript value; a failure becomes an `Error` with `code`.
pub(crate) fn from_js<T: DeserializeOwned>(value: JsValue, code: &str) -> Result<T, JsValue> {
    let text: String = JSON::stringify(&value)
        .map_err(|_| js_error(code, "the value cannot be converted to JSON", None))?
        .into();
    serde_json::from_str(&text).map_err(|error| js_error(code, &error.to_string(), None))
}

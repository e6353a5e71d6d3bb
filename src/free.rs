//! Free functions of the package.

use crate::convert::to_js;
use crate::error::store_error;
use sessionwire_core::protocol;
use sessionwire_core::store::StoreError;
use wasm_bindgen::prelude::*;

/// Parses one server frame into its plain object form (validated; nothing else happens).
/// Throws an `Error` with a `code` (PROTOCOL.md §6) for a bad frame, like `ClientStore.receive`.
#[wasm_bindgen(js_name = parseServerFrame, unchecked_return_type = "ServerFrame")]
pub fn parse_server_frame(frame: &str) -> Result<JsValue, JsValue> {
    crate::floats::install();
    protocol::parse_server_frame(frame)
        .map(|frame| to_js(&frame))
        .map_err(|error| store_error(&StoreError::Protocol(error)))
}

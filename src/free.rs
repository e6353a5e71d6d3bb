//! Free functions of the package.

use crate::error::{js_error, store_error, BAD_FRAME};
use sessionwire_core::protocol;
use sessionwire_core::store::StoreError;
use wasm_bindgen::prelude::*;

/// Parses one server frame into its plain object form: the core validates it exactly as
/// `ClientStore.receive` does (and throws the same `Error` with a `code`, PROTOCOL.md §6), then
/// the engine's `JSON.parse` makes the object. Writing the validated frame back out as JSON for
/// that parse cost 0.9 KB of the package's gzipped .wasm (a writer for every server frame, which
/// nothing else in the package needs) and a second pass over the text. So fields the protocol
/// does not know are kept as sent, and so are a payload's key order and an optional field sent
/// as `null`; every field the protocol knows has the value the store reads.
#[wasm_bindgen(js_name = parseServerFrame, unchecked_return_type = "ServerFrame")]
pub fn parse_server_frame(frame: &str) -> Result<JsValue, JsValue> {
    crate::floats::install();
    protocol::parse_server_frame(frame)
        .map_err(|error| store_error(&StoreError::Protocol(error)))?;
    // A frame the core accepted is JSON, so the engine's parse does not fail.
    js_sys::JSON::parse(frame).map_err(|_| js_error(BAD_FRAME, "frame is not JSON", None))
}

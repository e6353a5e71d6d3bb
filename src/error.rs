//! The one place that builds the JavaScript errors the package throws: a `SessionwireError`
//! (`src/js/error.js`, so JavaScript's `instanceof` holds) with a string `code` (PROTOCOL.md §6,
//! or one of the package's own codes) and, for `invalid_field`, the bad field's path in `field`.

use sessionwire_core::store::StoreError;
use wasm_bindgen::prelude::*;

/// A package-level code: an action passed to `dispatch` that is not a valid `Action`.
pub(crate) const INVALID_ACTION: &str = "invalid_action";

/// The §6 code for a frame that cannot be read.
pub(crate) const BAD_FRAME: &str = "bad_frame";

#[wasm_bindgen(module = "/src/js/error.js")]
extern "C" {
    type SessionwireError;

    #[wasm_bindgen(constructor)]
    fn new(code: &str, message: &str, field: Option<&str>) -> SessionwireError;
}

/// `new SessionwireError(code, message, field)`.
pub(crate) fn js_error(code: &str, message: &str, field: Option<&str>) -> JsValue {
    SessionwireError::new(code, message, field).into()
}

/// The JavaScript form of a core error.
pub(crate) fn store_error(error: &StoreError) -> JsValue {
    match error {
        StoreError::Protocol(protocol) => {
            js_error(error.code(), protocol.message(), protocol.field())
        }
        StoreError::NoCurrentSession => js_error(error.code(), error.message(), None),
    }
}

//! The one place that builds the JavaScript errors the package throws: a real `Error` with a
//! string `code` (PROTOCOL.md §6, or one of the package's own codes) and, for `invalid_field`,
//! the bad field's path in `field`.

use js_sys::{Error, Reflect};
use sessionwire_core::store::StoreError;
use wasm_bindgen::JsValue;

/// A package-level code: an action passed to `dispatch` that is not a valid `Action`.
pub(crate) const INVALID_ACTION: &str = "invalid_action";
/// A package-level code: an option or argument of the wrong type.
pub(crate) const INVALID_ARGUMENT: &str = "invalid_argument";
/// A package-level code: `connect()` was cut short by `close()`.
pub(crate) const CLOSED: &str = "closed";

/// `new Error(message)` with `code` (and `field` when given) set on it.
pub(crate) fn js_error(code: &str, message: &str, field: Option<&str>) -> JsValue {
    let error = Error::new(message);
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&error, &JsValue::from_str("code"), &JsValue::from_str(code));
    if let Some(field) = field {
        let _ = Reflect::set(
            &error,
            &JsValue::from_str("field"),
            &JsValue::from_str(field),
        );
    }
    error.into()
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

//! The JavaScript engine's float conversions, installed as the core's float codec.
//!
//! Why: the Wasm build of the core leaves out its own float parser and writer (the core's
//! `std-floats` feature, off for `wasm32` in Cargo.toml): their tables of powers of ten were a
//! quarter of the gzipped package, while the engine already converts both ways, correctly
//! rounded (`Number(text)`) and in the shortest form that reads back (`String(x)`).

use sessionwire_core::protocol::floats::{install_float_codec, write_from_ecmascript, FloatCodec};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `Number(text)`: the nearest double to a decimal text (ties to even).
    #[wasm_bindgen(js_name = Number)]
    fn js_number(text: &str) -> f64;

    /// `String(x)`: the shortest decimal text that reads back as `x`.
    #[wasm_bindgen(js_name = String)]
    fn js_string(x: f64) -> String;
}

/// The nearest `f64` to a JSON number's text, or `None` when that is not finite.
fn parse(text: &str) -> Option<f64> {
    Some(js_number(text)).filter(|value| value.is_finite())
}

/// Writes a finite `f64` exactly as serde_json does, from the engine's shortest digits.
fn format(value: f64, out: &mut String) {
    write_from_ecmascript(value, &js_string(value), out);
}

/// Makes the core convert floats through the engine; called by every entry point that may read
/// or write a float (store and client creation, `parseServerFrame`), since a
/// `#[wasm_bindgen(start)]` function is not run by the Wasm test runner. Only the first call
/// installs anything; the rest are one atomic load.
pub(crate) fn install() {
    install_float_codec(FloatCodec { parse, format });
}

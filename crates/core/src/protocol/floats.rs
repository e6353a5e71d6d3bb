//! JSON floats: the one place the core converts a float from its text and back to text.
//!
//! Why a seam here: reading a float correctly rounded and writing it in the shortest form that
//! reads back each need tables of powers of ten (the standard library's `dec2flt`, zmij), about
//! a quarter of the Wasm package once gzipped, although floats only occur inside free-form JSON
//! payloads. The JavaScript engine that hosts the Wasm build has both conversions built in
//! (`Number(text)`, `String(x)`). So, like time and ids, the conversion can be passed in:
//! - with the `std-floats` feature (the default), the core uses the standard library's parser
//!   and zmij, exactly what serde_json uses;
//! - without it, the embedder installs a [`FloatCodec`] once, before the first float is read
//!   (the Wasm bindings install one that calls the JavaScript engine). Until then reading a
//!   float fails with [`NO_CODEC`], and writing one panics with the same text: a missing codec
//!   is a build mistake, and a wrong number must never come out silently.

/// How floats are converted when the `std-floats` feature is off.
#[derive(Debug, Clone, Copy)]
pub struct FloatCodec {
    /// The `f64` nearest to `text` (ties to even), or `None` if that is not finite. `text` is
    /// always a JSON number already checked against the JSON grammar.
    pub parse: fn(text: &str) -> Option<f64>,
    /// Appends the text serde_json writes for the finite `value`: the shortest digits that read
    /// back as `value` (see [`write_from_ecmascript`] for the exact form).
    pub format: fn(value: f64, out: &mut String),
}

/// Whether this build converts floats with the standard library and zmij (`std-floats`); when
/// it does, an installed codec is never used.
pub const USES_STD: bool = cfg!(feature = "std-floats");

/// The error text of reading a float when `std-floats` is off and no codec was installed.
pub const NO_CODEC: &str =
    "no float codec installed (sessionwire_core::protocol::floats::install_float_codec)";

static CODEC: std::sync::OnceLock<FloatCodec> = std::sync::OnceLock::new();

/// Installs the float conversion for builds without `std-floats`. Only the first call counts;
/// returns whether `codec` is now the one in use (never with `std-floats`, which wins so that
/// the feature stays additive).
pub fn install_float_codec(codec: FloatCodec) -> bool {
    CODEC.set(codec).is_ok() && !USES_STD
}

/// The value of a float's text (already checked against the JSON grammar), correctly rounded,
/// or the reason it has none: `"number out of range"` when it rounds to infinity.
pub(crate) fn parse(text: &str) -> Result<f64, &'static str> {
    let value = if USES_STD {
        parse_std(text)?
    } else {
        match CODEC.get() {
            Some(codec) => (codec.parse)(text).unwrap_or(f64::INFINITY),
            None => return Err(NO_CODEC),
        }
    };
    if value.is_finite() {
        Ok(value)
    } else {
        Err("number out of range")
    }
}

/// Appends the text serde_json writes for a finite float.
pub(crate) fn write(value: f64, out: &mut String) {
    if USES_STD {
        write_std(value, out);
    } else {
        match CODEC.get() {
            Some(codec) => (codec.format)(value, out),
            None => panic!("{NO_CODEC}"),
        }
    }
}

#[cfg(feature = "std-floats")]
fn parse_std(text: &str) -> Result<f64, &'static str> {
    text.parse().map_err(|_| "invalid number")
}

#[cfg(feature = "std-floats")]
fn write_std(value: f64, out: &mut String) {
    out.push_str(zmij::Buffer::new().format_finite(value));
}

// Never called without the feature (`USES_STD` is false); they keep the code above free of
// `cfg`s, so both builds type-check the same lines.
#[cfg(not(feature = "std-floats"))]
fn parse_std(_: &str) -> Result<f64, &'static str> {
    Err(NO_CODEC)
}

#[cfg(not(feature = "std-floats"))]
fn write_std(_: f64, _: &mut String) {}

/// Appends `value` as serde_json (zmij) writes it, given `shortest`: the text ECMAScript's
/// `Number::toString` gives for `value` (what `String(value)` returns), whose digits are the
/// shortest that read back as `value` and the closest of those to it, as zmij's are.
///
/// Only the layout differs. With `d.ddd × 10^e` the value in scientific form, zmij writes
/// `ddd.0`, `d.dd` or `0.000ddd` while `-5 <= e <= 15`, and `d.ddde+N` / `d.ddde-N` otherwise
/// (`1e+16`, `1e-6`, `1.5e+300`); ECMAScript writes plain digits while `-7 <= e <= 20` (no
/// `.0`) and `1e+21` style beyond. The sign comes from `value`, since `String(-0)` is `"0"`.
pub fn write_from_ecmascript(value: f64, shortest: &str, out: &mut String) {
    // One pass over the text: its significant digits (at most 21, as in `1e+20`'s
    // "100000000000000000000"), and `exponent`, that of the first one in scientific form.
    let mut digits = [0u8; 24];
    let mut count = 0;
    let mut exponent: i32 = -1;
    let mut after_point = false;
    let mut bytes = shortest.bytes();
    for byte in bytes.by_ref() {
        match byte {
            b'.' => after_point = true,
            b'e' => break,
            b'0' if count == 0 => exponent -= i32::from(after_point),
            b'0'..=b'9' => {
                if let Some(slot) = digits.get_mut(count) {
                    *slot = byte;
                    count += 1;
                }
                exponent += i32::from(!after_point);
            }
            _ => {}
        }
    }
    // The exponent after an `e`, with its sign.
    let mut shift: i32 = 0;
    let mut negative_shift = false;
    for byte in bytes {
        match byte {
            b'-' => negative_shift = true,
            b'0'..=b'9' => shift = shift * 10 + i32::from(byte - b'0'),
            _ => {}
        }
    }
    exponent += if negative_shift { -shift } else { shift };
    while count > 0 && digits[count - 1] == b'0' {
        count -= 1;
    }
    let digits = &digits[..count];
    let push_digits = |out: &mut String, digits: &[u8]| {
        for &digit in digits {
            out.push(char::from(digit));
        }
    };
    if value.is_sign_negative() {
        out.push('-');
    }
    if digits.is_empty() {
        out.push_str("0.0");
    } else if !(-5..=15).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        push_digits(out, first);
        if !rest.is_empty() {
            out.push('.');
            push_digits(out, rest);
        }
        out.push_str(if exponent < 0 { "e-" } else { "e+" });
        super::write::write_u64(out, u64::from(exponent.unsigned_abs()));
    } else if exponent < 0 {
        out.push_str("0.");
        for _ in 1..-exponent {
            out.push('0');
        }
        push_digits(out, digits);
    } else {
        // `exponent + 1` digits before the point, padded with zeros, and at least one after.
        let before = exponent as usize + 1;
        let (integral, fraction) = digits.split_at(before.min(digits.len()));
        push_digits(out, integral);
        for _ in digits.len()..before {
            out.push('0');
        }
        out.push('.');
        push_digits(out, if fraction.is_empty() { b"0" } else { fraction });
    }
}

#[cfg(test)]
mod tests {
    use super::write_from_ecmascript;

    fn from_ecmascript(value: f64, shortest: &str) -> String {
        let mut out = String::new();
        write_from_ecmascript(value, shortest, &mut out);
        out
    }

    /// What `String(x)` gives in JavaScript, and what serde_json writes.
    #[test]
    fn ecmascript_text_becomes_serde_json_text() {
        for (value, ecmascript, serde_json) in [
            (0.0, "0", "0.0"),
            (-0.0, "0", "-0.0"),
            (5e-324, "5e-324", "5e-324"),
            (
                1.7976931348623157e308,
                "1.7976931348623157e+308",
                "1.7976931348623157e+308",
            ),
            (1e21, "1e+21", "1e+21"),
            (1e20, "100000000000000000000", "1e+20"),
            (1.5e16, "15000000000000000", "1.5e+16"),
            (1e16, "10000000000000000", "1e+16"),
            (1e15, "1000000000000000", "1000000000000000.0"),
            (123.0, "123", "123.0"),
            (-123.5, "-123.5", "-123.5"),
            (0.1, "0.1", "0.1"),
            (1e-5, "0.00001", "0.00001"),
            (1.5e-5, "0.000015", "0.000015"),
            (1e-6, "0.000001", "1e-6"),
            (1.5e-6, "0.0000015", "1.5e-6"),
            (1e-7, "1e-7", "1e-7"),
            (-1.25e-100, "-1.25e-100", "-1.25e-100"),
        ] {
            assert_eq!(
                from_ecmascript(value, ecmascript),
                serde_json,
                "{ecmascript}"
            );
        }
    }
}

/// Without `std-floats`: nothing converts until a codec is installed, then the codec does
/// (`cargo test -p sessionwire-core --no-default-features --lib floats`; the other tests of that
/// build read floats without a codec, so only these are meant to run there).
#[cfg(all(test, not(feature = "std-floats")))]
mod without_std {
    use super::{install_float_codec, write_from_ecmascript, FloatCodec, NO_CODEC};
    use crate::protocol::json::{self, Json, Num};
    use crate::protocol::RawJson;

    #[test]
    fn floats_fail_clearly_until_a_codec_is_installed() {
        let error = json::parse("[1.5]").unwrap_err().to_string();
        assert_eq!(error, format!("{NO_CODEC} at line 1 column 4"));
        assert_eq!(json::parse("15").unwrap().to_value(), 15);
        let written = std::panic::catch_unwind(|| RawJson::from_json(&Json::Number(Num::F64(1.5))));
        assert!(written.is_err(), "a float was written without a codec");

        let codec = FloatCodec {
            parse: |text| text.parse().ok(),
            // Rust's `Display` writes the shortest digits too, without an exponent.
            format: |value, out| write_from_ecmascript(value, &value.to_string(), out),
        };
        assert!(install_float_codec(codec));
        assert!(!install_float_codec(codec), "only the first codec counts");
        let value = json::parse("[1.5e300,1e400]");
        assert_eq!(
            value.unwrap_err().to_string(),
            "number out of range at line 1 column 14"
        );
        let value = json::parse("[2.5e-7,1e21]").unwrap();
        assert_eq!(RawJson::from_json(&value).as_str(), "[2.5e-7,1e+21]");
    }
}

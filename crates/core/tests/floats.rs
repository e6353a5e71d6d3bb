//! The core's float conversions against the golden file `tests/fixtures/floats.json`, which the
//! Wasm suites (`tests/wasm/`) check the JavaScript engine's codec against too, so both builds
//! read and write every float the same way.
//!
//! The file holds `write`: `[f64 bits in hex, the text serde_json writes]`, and `read`:
//! `[a JSON number's text, the bits it reads as, or null when it is out of range]`. The expected
//! values come from serde_json's writer and the standard library's parser, not from the core.
//! `SESSIONWIRE_BLESS=1 cargo test -p sessionwire-core --test floats` regenerates the file.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use sessionwire_core::protocol::floats::write_from_ecmascript;
use sessionwire_core::protocol::json::{self, Json, Num};
use sessionwire_core::protocol::RawJson;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/floats.json")
}

/// A small deterministic generator (splitmix64), so the file is the same on every bless.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The floats to write: edge cases, powers of ten, integers near 2^53, short decimals, and
/// random bit patterns (over the whole range, and where the fixed and exponent forms meet).
fn values_to_write() -> Vec<f64> {
    let mut values = vec![
        0.0,
        -0.0,
        5e-324,
        -5e-324,
        1e-323,
        2.225_073_858_507_201e-308,
        2.225_073_858_507_201_4e-308,
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        1e21,
        1e20,
        1e-7,
        1e-6,
        1e-5,
        0.1,
        0.2,
        0.3,
        0.1 + 0.2,
        123.0,
        -123.5,
        1e15,
        1e16,
        1e17,
        1.5e16,
        999_999_999_999_999.9,
        9_999_999_999_999_998.0,
        0.000_012_345,
        0.000_001_234_5,
        1.0 / 3.0,
        2.0 / 3.0,
        std::f64::consts::PI,
        std::f64::consts::E,
        123_456_789_012_345_680.0,
        4.35,
        2.5e-5,
        1.7976931348623157e308 / 2.0,
    ];
    values.push("8888888888888888.88888".parse().unwrap());
    let two53 = 9_007_199_254_740_992.0_f64;
    for delta in -10..=10 {
        let near = f64::from_bits((two53.to_bits() as i64 + delta) as u64);
        values.extend([near, -near]);
    }
    for exponent in -330..=310 {
        let text = format!("1e{exponent}");
        values.push(text.parse().unwrap());
        let text = format!("9.5e{exponent}");
        values.push(text.parse().unwrap());
    }
    let mut random = SplitMix(0x5e55_1011_f10a_7500);
    for _ in 0..300 {
        let numerator = random.below(1_000_000) as f64;
        let denominator = [10.0, 100.0, 1000.0, 1e4, 1e6, 7.0, 3.0][random.below(7) as usize];
        values.push(numerator / denominator);
    }
    for _ in 0..1000 {
        values.push(f64::from_bits(random.next()));
    }
    // Binary exponents from about 1e-12 to 1e22: where zmij switches between its forms.
    for _ in 0..1000 {
        let exponent = 1023 - 40 + random.below(113);
        let bits = (random.next() & 0x800f_ffff_ffff_ffff) | (exponent << 52);
        values.push(f64::from_bits(bits));
    }
    values.retain(|value| value.is_finite());
    let mut seen = std::collections::HashSet::new();
    values.retain(|value| seen.insert(value.to_bits()));
    values
}

/// `digits` (a decimal integer) times 10^-`shift`, as a JSON number text with a point.
fn with_point(digits: &str, shift: usize) -> String {
    if shift == 0 {
        return format!("{digits}.0");
    }
    let padded = format!("{digits:0>width$}", width = shift + 1);
    let (integral, fraction) = padded.split_at(padded.len() - shift);
    format!("{integral}.{fraction}")
}

/// A decimal text one unit lower in its last digit (the text has no leading sign).
fn one_below(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for byte in bytes.iter_mut().rev() {
        match *byte {
            b'.' => continue,
            b'0' => *byte = b'9',
            _ => {
                *byte -= 1;
                break;
            }
        }
    }
    String::from_utf8(bytes).unwrap()
}

/// The number texts to read: the exact midpoints between neighbouring doubles (ties to even) and
/// texts just above and below them, long and huge or tiny numbers, and out-of-range ones.
fn texts_to_read() -> Vec<String> {
    let mut texts: Vec<String> = [
        "0.0",
        "-0.0",
        "1e-400",
        "-1e-400",
        "2.4703282292062327e-324",
        "2.4703282292062328e-324",
        "4.9406564584124654e-324",
        "2.2250738585072011e-308",
        "2.2250738585072012e-308",
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "-1.7976931348623158e308",
        "1.7976931348623159e308",
        "1e309",
        "-1e400",
        "1e99999",
        "8888888888888888.88888",
        "0.1e1",
        "1E+2",
        "123.456e-7",
        "0.0000000000000000000000000000001234567890123",
        "123456789012345678901234567890.5e-3",
        "9007199254740993.0",
        "9007199254740993.000000000000000000000000001",
        "9007199254740992.999999999999999999999999999",
        "9007199254740995.0",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let max_integer = format!("{}", f64::MAX as u128 as f64);
    texts.push(format!("{max_integer}.0"));
    let mut random = SplitMix(0x0f10_a75e_ad50);
    // Midpoints (2k + 1) × 2^(e - 1) for binary exponents e from -30 to 20: exact in u128.
    for _ in 0..300 {
        let significand = (1u128 << 52) | u128::from(random.next() & ((1 << 52) - 1));
        let exponent = random.below(51) as i32 - 30;
        let odd = 2 * significand + 1;
        let midpoint = if exponent >= 1 {
            with_point(&(odd << (exponent - 1)).to_string(), 0)
        } else {
            let shift = (1 - exponent) as u32;
            with_point(&(odd * 5u128.pow(shift)).to_string(), shift as usize)
        };
        texts.push(format!("{midpoint}00000000000000000001"));
        texts.push(one_below(&format!("{midpoint}00000000000000000000")));
        texts.push(midpoint);
    }
    // Long significands with any exponent, some out of range.
    for _ in 0..400 {
        let length = 17 + random.below(30) as usize;
        let mut digits = String::new();
        digits.push(char::from(b'1' + random.below(9) as u8));
        for _ in 1..length {
            digits.push(char::from(b'0' + random.below(10) as u8));
        }
        let exponent = random.below(700) as i64 - 360;
        let sign = if random.below(2) == 0 { "" } else { "-" };
        texts.push(format!(
            "{sign}{}.{}e{exponent}",
            &digits[..1],
            &digits[1..]
        ));
    }
    texts
}

fn bless() -> String {
    let mut out = String::from("{\n\"comment\": \"Generated by crates/core/tests/floats.rs (SESSIONWIRE_BLESS=1): write = [f64 bits, serde_json's text], read = [text, f64 bits or null when out of range]\",\n\"write\": [\n");
    let values = values_to_write();
    for (index, value) in values.iter().enumerate() {
        let text = serde_json::to_string(value).unwrap();
        let comma = if index + 1 < values.len() { "," } else { "" };
        writeln!(out, "[\"{:016x}\", \"{text}\"]{comma}", value.to_bits()).unwrap();
    }
    out.push_str("],\n\"read\": [\n");
    let texts = texts_to_read();
    for (index, text) in texts.iter().enumerate() {
        let value: f64 = text.parse().unwrap();
        let bits = if value.is_finite() {
            format!("\"{:016x}\"", value.to_bits())
        } else {
            "null".to_owned()
        };
        let comma = if index + 1 < texts.len() { "," } else { "" };
        writeln!(out, "[\"{text}\", {bits}]{comma}").unwrap();
    }
    out.push_str("]\n}\n");
    out
}

/// The parsed file, regenerated first (once, though the tests run in parallel) when blessing.
fn fixture() -> &'static Value {
    static FIXTURE: OnceLock<Value> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let path = fixture_path();
        if std::env::var_os("SESSIONWIRE_BLESS").is_some() {
            std::fs::write(&path, bless()).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!("{}: {error} (SESSIONWIRE_BLESS=1 makes it)", path.display())
        });
        serde_json::from_str(&text).unwrap()
    })
}

fn bits(hex: &Value) -> u64 {
    u64::from_str_radix(hex.as_str().unwrap(), 16).unwrap()
}

/// ECMAScript's `Number::toString(x)` for the value of serde_json's text (its digits are the
/// same shortest, closest ones): what `String(x)` gives in JavaScript.
fn ecmascript_text(serde_json_text: &str) -> String {
    let negative = serde_json_text.starts_with('-');
    let unsigned = serde_json_text.trim_start_matches('-');
    let (mantissa, exponent) = unsigned.split_once('e').unwrap_or((unsigned, "0"));
    let (integral, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = format!("{integral}{fraction}");
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_start_matches('0').trim_end_matches('0');
    if digits.is_empty() {
        return "0".to_owned();
    }
    let exponent: i32 = exponent.trim_start_matches('+').parse().unwrap();
    // n: the position of the decimal point relative to the first significant digit.
    let n = integral.len() as i32 - leading as i32 + exponent;
    let k = digits.len() as i32;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        let sign = if n - 1 < 0 { "-" } else { "+" };
        format!("{first}{point}{rest}e{sign}{}", (n - 1).abs())
    };
    if negative {
        format!("-{body}")
    } else {
        body
    }
}

#[test]
fn floats_are_written_as_serde_json_writes_them() {
    let fixture = fixture();
    let entries = fixture["write"].as_array().unwrap();
    assert!(entries.len() > 2000, "{} write entries", entries.len());
    for entry in entries {
        let value = f64::from_bits(bits(&entry[0]));
        let expected = entry[1].as_str().unwrap();
        let written = RawJson::from_json(&Json::Number(Num::F64(value)));
        assert_eq!(written.as_str(), expected, "{value:?}");
        // What the Wasm build's codec does with the engine's text.
        let mut out = String::new();
        write_from_ecmascript(value, &ecmascript_text(expected), &mut out);
        assert_eq!(
            out,
            expected,
            "from ECMAScript's {}",
            ecmascript_text(expected)
        );
        // And the text reads back as the same bits.
        assert_eq!(read(expected), Ok(value.to_bits()), "{expected}");
    }
}

/// The bits a float text reads as through the core's JSON reader, or its error.
fn read(text: &str) -> Result<u64, String> {
    match json::parse(text) {
        Ok(Json::Number(Num::F64(value))) => Ok(value.to_bits()),
        Ok(other) => Err(format!("not a float: {other:?}")),
        Err(error) => Err(error.to_string()),
    }
}

#[test]
fn floats_are_read_correctly_rounded() {
    let fixture = fixture();
    let entries = fixture["read"].as_array().unwrap();
    assert!(entries.len() > 1000, "{} read entries", entries.len());
    for entry in entries {
        let text = entry[0].as_str().unwrap();
        match &entry[1] {
            Value::Null => {
                let error = read(text).unwrap_err();
                assert!(
                    error.starts_with("number out of range at line 1 column"),
                    "{text}: {error}"
                );
            }
            expected => assert_eq!(read(text), Ok(bits(expected)), "{text}"),
        }
    }
}

#[test]
fn ecmascript_model_matches_known_outputs() {
    // What `String(x)` returns in Node for these, so the model above is the engine's rule.
    for (serde_json, ecmascript) in [
        ("0.0", "0"),
        ("-0.0", "0"),
        ("1e+21", "1e+21"),
        ("1e+20", "100000000000000000000"),
        ("1e-7", "1e-7"),
        ("1e-6", "0.000001"),
        ("123.0", "123"),
        ("-1.5e-6", "-0.0000015"),
        ("1.7976931348623157e+308", "1.7976931348623157e+308"),
        ("5e-324", "5e-324"),
    ] {
        assert_eq!(ecmascript_text(serde_json), ecmascript, "{serde_json}");
    }
}

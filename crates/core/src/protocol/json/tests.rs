//! The reader agrees with serde_json: same values (as `serde_json::Value`), same refusals.
#![allow(clippy::unwrap_used, clippy::disallowed_macros)]

use super::parse;
use serde_json::Value;

const SAMPLES: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-0",
    "1",
    "-1",
    "12345678901234567890",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "1.5",
    "-1.5e3",
    "1e308",
    "1e309",
    // Rounds to `f64::MAX`, though 1.7976931348623158 × 1e308 multiplied out overflows.
    "1.7976931348623158e308",
    "-1.7976931348623158e308",
    "179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368.0",
    "1.7976931348623159e308",
    "8888888888888888.88888",
    "2.4703282292062327e-324",
    "2.4703282292062328e-324",
    "1e-400",
    "2.2250738585072014e-308",
    "0.1",
    "123.456e-7",
    "1E+2",
    "1e",
    "1.",
    ".5",
    "01",
    "-",
    "--1",
    "+1",
    "1.e5",
    "0.0000000000000000000000000000001234567890123",
    "123456789012345678901234567890.5e-3",
    "1e99999999999",
    "0e99999999999",
    "-1e-99999999999",
    r#""""#,
    r#""a\"b\\c\/d\b\f\n\r\t""#,
    r#""\u00e9\u4e2d\ud83d\ude00""#,
    r#""\ud83d""#,
    r#""\ude00""#,
    r#""\ud83dx""#,
    r#""\ud83d\u0041""#,
    r#""\x""#,
    "\"a\u{1}b\"",
    "\"ü€😀\"",
    "[]",
    "[1,2,[3,{}]]",
    "[1,]",
    "[1 2]",
    "{}",
    r#"{"a":1,"a":2}"#,
    r#"{"a":1,}"#,
    r#"{1:2}"#,
    r#"{"a" 1}"#,
    r#"{"a":1"#,
    " \t\n\r{ \"a\" : [ null ] } \n",
    "{} x",
    "nul",
    "tru",
    "falsy",
    "",
    "   ",
    "[",
    "{",
    "\"abc",
    r#"{"type":"ping","n":[1,{"x":"y"}]}"#,
];

#[test]
fn values_and_refusals_match_serde_json() {
    for text in SAMPLES {
        let ours = parse(text).map(|json| json.to_value());
        let theirs = serde_json::from_str::<Value>(text);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{text:?}: ours {ours:?}, serde_json {theirs:?}"),
        }
    }
}

#[test]
fn nesting_limit_matches_serde_json() {
    for depth in [126, 127, 128, 129] {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(
            parse(&text).is_ok(),
            serde_json::from_str::<Value>(&text).is_ok(),
            "depth {depth}"
        );
    }
}

#[test]
fn plain_strings_are_borrowed() {
    let json = parse(r#"{"a":"plain","b":"esc\"aped"}"#).unwrap();
    assert!(matches!(
        json.get("a"),
        Some(super::Json::String(std::borrow::Cow::Borrowed(_)))
    ));
    assert_eq!(json.get("b").unwrap().to_value(), Value::from("esc\"aped"));
}

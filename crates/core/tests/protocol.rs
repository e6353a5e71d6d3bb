//! Parsing and encoding of every frame, and the exact error code and field for bad ones.

use sessionwire_core::protocol::{
    encode, parse_client_frame, parse_server_frame, ClientFrame, ErrorCode, Reply, ServerFrame,
};
use sessionwire_core::{EventKind, SessionState};

fn client_error(text: &str) -> (ErrorCode, Option<String>) {
    let error = parse_client_frame(text).expect_err(text);
    (error.code(), error.field().map(str::to_owned))
}

fn server_error(text: &str) -> (ErrorCode, Option<String>) {
    let error = parse_server_frame(text).expect_err(text);
    (error.code(), error.field().map(str::to_owned))
}

#[test]
fn every_client_frame_type_parses_and_round_trips() {
    let frames = [
        r#"{"type":"hello","protocol":1,"token":"t","clientId":"tab-1"}"#,
        r#"{"type":"hello","protocol":1}"#,
        r#"{"type":"list_sessions"}"#,
        r#"{"type":"list_sessions","limit":20,"before":"c1"}"#,
        r#"{"type":"switch_session","sessionId":"s1","lastSeq":4}"#,
        r#"{"type":"switch_session","sessionId":null}"#,
        r#"{"type":"send","sessionId":null,"clientMsgId":"a:b.c_d-1","text":"hi"}"#,
        r#"{"type":"send","sessionId":"s1","clientMsgId":"m1","text":""}"#,
        r#"{"type":"interrupt","sessionId":"s1","clientMsgId":"m2","text":"instead"}"#,
        r#"{"type":"interrupt","sessionId":"s1","clientMsgId":"m3"}"#,
        r#"{"type":"stop","sessionId":"s1"}"#,
        r#"{"type":"close_session","sessionId":"s1"}"#,
        r#"{"type":"suspend","sessionId":"s1"}"#,
        r#"{"type":"reconnect","sessions":[{"sessionId":"s1","lastSeq":0},{"sessionId":"s2","lastSeq":9}]}"#,
        r#"{"type":"watch","sessionId":"s1"}"#,
        r#"{"type":"unwatch","sessionId":"s1"}"#,
        r#"{"type":"ping","nonce":"n"}"#,
        r#"{"type":"ping"}"#,
        r#"{"type":"respond_permission","sessionId":"s1","clientMsgId":"m4","requestId":"r1","optionId":"allow"}"#,
    ];
    for text in frames {
        let frame = parse_client_frame(text).expect(text);
        let expected: serde_json::Value = serde_json::from_str(text).unwrap();
        let encoded: serde_json::Value = serde_json::from_str(&encode(&frame)).unwrap();
        assert_eq!(encoded, expected, "{text}");
    }
    assert_eq!(ClientFrame::TYPES.len(), 13);
}

#[test]
fn every_server_frame_type_parses_and_round_trips() {
    let frames = [
        r#"{"type":"welcome","protocol":1,"connectionId":"c","epoch":"e","server":{"name":"n","version":"1"}}"#,
        r#"{"type":"sessions","sessions":[{"sessionId":"s","title":"t","state":"ACTIVE","running":true,"lastSeq":3,"updatedAt":9}]}"#,
        r#"{"type":"sessions","sessions":[],"next":"c2"}"#,
        r#"{"type":"session_switched","sessionId":"s","state":"DETACHED","running":false,"lastSeq":0,"title":""}"#,
        r#"{"type":"session_cleared"}"#,
        r#"{"type":"session_created","sessionId":"s","clientMsgId":"m"}"#,
        r#"{"type":"ack","sessionId":"s","clientMsgId":"m","seq":4,"duplicate":false,"running":true}"#,
        r#"{"type":"reconnected","sessions":[{"sessionId":"s","replayed":2,"state":"ENDED","running":false,"lastSeq":5}]}"#,
        r#"{"type":"watched","sessionId":"s"}"#,
        r#"{"type":"unwatched","sessionId":"s"}"#,
        r#"{"type":"pong","nonce":"n"}"#,
        r#"{"type":"error","code":"session_not_found","message":"m","sessionId":"s","ref":"m1"}"#,
        r#"{"type":"user_message","sessionId":"s","seq":1,"ts":2,"messageId":"m","text":"t"}"#,
        r#"{"type":"turn_start","sessionId":"s","seq":1,"ts":2,"turnId":"t"}"#,
        r#"{"type":"message_start","sessionId":"s","seq":1,"ts":2,"messageId":"m"}"#,
        r#"{"type":"block_start","sessionId":"s","seq":1,"ts":2,"messageId":"m","blockId":"b","blockType":"tool_use","toolName":"x"}"#,
        r#"{"type":"block_delta","sessionId":"s","seq":1,"ts":2,"messageId":"m","blockId":"b","delta":"d"}"#,
        r#"{"type":"block_end","sessionId":"s","seq":1,"ts":2,"messageId":"m","blockId":"b","input":{"a":[1,2]}}"#,
        r#"{"type":"tool_result","sessionId":"s","seq":1,"ts":2,"messageId":"m","toolId":"b","result":{"ok":true},"isError":false}"#,
        r#"{"type":"tool_result","sessionId":"s","seq":1,"ts":2,"messageId":"m","toolId":"b","result":null,"isError":true}"#,
        r#"{"type":"message_end","sessionId":"s","seq":1,"ts":2,"messageId":"m"}"#,
        r#"{"type":"turn_end","sessionId":"s","seq":1,"ts":2,"turnId":"t","reason":"error","error":"x","usage":{"tokens":3}}"#,
        r#"{"type":"turn_end","sessionId":"s","seq":1,"ts":2,"turnId":"t","reason":"completed","stopReason":"refusal"}"#,
        r#"{"type":"tool_update","sessionId":"s","seq":1,"ts":2,"messageId":"m","toolId":"b","status":"failed","content":[{"type":"text","text":"no"}]}"#,
        r#"{"type":"plan","sessionId":"s","seq":1,"ts":2,"entries":[]}"#,
        r#"{"type":"permission_request","sessionId":"s","seq":1,"ts":2,"requestId":"r","toolId":"b","title":"Edit","options":[{"optionId":"a","name":"Allow","kind":"allow_once"}],"content":[{"type":"diff","path":"p","newText":"x"}]}"#,
        r#"{"type":"permission_resolved","sessionId":"s","seq":1,"ts":2,"requestId":"r","outcome":"selected","optionId":"a","clientMsgId":"m"}"#,
        r#"{"type":"session_state","sessionId":"s","seq":1,"ts":2,"state":"CREATED","previous":null,"reason":"created"}"#,
        r#"{"type":"session_state","sessionId":"s","seq":2,"ts":2,"state":"STARTING","previous":"CREATED","reason":"r"}"#,
    ];
    for text in frames {
        let frame = parse_server_frame(text).expect(text);
        let expected: serde_json::Value = serde_json::from_str(text).unwrap();
        let encoded: serde_json::Value = serde_json::from_str(&encode(&frame)).unwrap();
        assert_eq!(encoded, expected, "{text}");
    }
}

#[test]
fn typed_values_come_through() {
    let ServerFrame::Event(event) =
        parse_server_frame(r#"{"type":"session_state","sessionId":"s","seq":7,"ts":2,"state":"ENDED","previous":"CLOSING","reason":"closed"}"#)
            .unwrap()
    else {
        panic!("not an event");
    };
    assert_eq!(
        (event.session_id.as_str(), event.seq, event.ts),
        ("s", 7, 2)
    );
    let EventKind::SessionState(change) = event.kind else {
        panic!("not session_state")
    };
    assert_eq!(
        (change.state, change.previous),
        (SessionState::Ended, Some(SessionState::Closing))
    );
    let ServerFrame::Reply(Reply::Ack(ack)) =
        parse_server_frame(r#"{"type":"ack","sessionId":"s","clientMsgId":"m","seq":4,"duplicate":true,"running":false}"#).unwrap()
    else {
        panic!("not an ack");
    };
    assert!(ack.duplicate && !ack.running);
}

#[test]
fn bad_frames_get_bad_frame() {
    for text in [
        "",
        "nope",
        "{",
        "[]",
        "[{\"type\":\"ping\"}]",
        "\"ping\"",
        "3",
        "null",
        "{}",
        r#"{"type":1}"#,
        r#"{"type":null}"#,
        r#"{"Type":"ping"}"#,
    ] {
        assert_eq!(client_error(text), (ErrorCode::BadFrame, None), "{text:?}");
        assert_eq!(server_error(text), (ErrorCode::BadFrame, None), "{text:?}");
    }
}

#[test]
fn unknown_types_get_unknown_type() {
    for text in [
        r#"{"type":"welcome"}"#,
        r#"{"type":"PING"}"#,
        r#"{"type":""}"#,
    ] {
        assert_eq!(client_error(text).0, ErrorCode::UnknownType, "{text}");
    }
    for text in [
        r#"{"type":"hello","protocol":1}"#,
        r#"{"type":"block_deltas"}"#,
    ] {
        assert_eq!(server_error(text).0, ErrorCode::UnknownType, "{text}");
    }
}

#[test]
fn invalid_fields_are_named() {
    let cases = [
        (r#"{"type":"hello"}"#, "protocol"),
        (r#"{"type":"hello","protocol":"1"}"#, "protocol"),
        (r#"{"type":"hello","protocol":1,"token":5}"#, "token"),
        (
            r#"{"type":"send","clientMsgId":"m","text":"x"}"#,
            "sessionId",
        ),
        (
            r#"{"type":"send","sessionId":null,"text":"x"}"#,
            "clientMsgId",
        ),
        (
            r#"{"type":"send","sessionId":null,"clientMsgId":"m"}"#,
            "text",
        ),
        (
            r#"{"type":"send","sessionId":null,"clientMsgId":"m","text":null}"#,
            "text",
        ),
        (
            r#"{"type":"send","sessionId":7,"clientMsgId":"m","text":"x"}"#,
            "sessionId",
        ),
        (
            r#"{"type":"send","sessionId":null,"clientMsgId":"","text":"x"}"#,
            "clientMsgId",
        ),
        (
            r#"{"type":"send","sessionId":null,"clientMsgId":"has space","text":"x"}"#,
            "clientMsgId",
        ),
        (
            r#"{"type":"interrupt","sessionId":"s","clientMsgId":"ü","text":"x"}"#,
            "clientMsgId",
        ),
        (
            r#"{"type":"interrupt","sessionId":null,"clientMsgId":"m"}"#,
            "sessionId",
        ),
        (r#"{"type":"switch_session"}"#, "sessionId"),
        (
            r#"{"type":"switch_session","sessionId":"s","lastSeq":-1}"#,
            "lastSeq",
        ),
        (
            r#"{"type":"switch_session","sessionId":"s","lastSeq":1.5}"#,
            "lastSeq",
        ),
        (r#"{"type":"reconnect"}"#, "sessions"),
        (r#"{"type":"reconnect","sessions":{}}"#, "sessions"),
        (
            r#"{"type":"reconnect","sessions":[{"sessionId":"s"}]}"#,
            "sessions[0].lastSeq",
        ),
        (
            r#"{"type":"reconnect","sessions":[{"sessionId":"s","lastSeq":1},{"sessionId":2,"lastSeq":1}]}"#,
            "sessions[1].sessionId",
        ),
        (r#"{"type":"stop"}"#, "sessionId"),
        (r#"{"type":"watch","sessionId":["s"]}"#, "sessionId"),
        (r#"{"type":"ping","nonce":1}"#, "nonce"),
        (r#"{"type":"list_sessions","limit":-1}"#, "limit"),
        (r#"{"type":"list_sessions","limit":4294967296}"#, "limit"),
        (r#"{"type":"list_sessions","before":7}"#, "before"),
    ];
    for (text, field) in cases {
        let (code, named) = client_error(text);
        assert_eq!(
            (code, named.as_deref()),
            (ErrorCode::InvalidField, Some(field)),
            "{text}"
        );
        assert!(
            parse_client_frame(text)
                .unwrap_err()
                .message()
                .contains(field),
            "{text}"
        );
    }
    let long_id = "x".repeat(129);
    let text =
        format!(r#"{{"type":"send","sessionId":null,"clientMsgId":"{long_id}","text":"x"}}"#);
    assert_eq!(
        client_error(&text),
        (ErrorCode::InvalidField, Some("clientMsgId".into()))
    );
    let max_id = "x".repeat(128);
    let text = format!(r#"{{"type":"send","sessionId":null,"clientMsgId":"{max_id}","text":"x"}}"#);
    assert!(parse_client_frame(&text).is_ok());
}

#[test]
fn invalid_server_fields_are_named() {
    let cases = [
        (
            r#"{"type":"block_delta","sessionId":"s","seq":1,"ts":1,"messageId":"m","blockId":"b"}"#,
            "delta",
        ),
        (
            r#"{"type":"block_delta","sessionId":"s","seq":"1","ts":1,"messageId":"m","blockId":"b","delta":"d"}"#,
            "seq",
        ),
        (
            r#"{"type":"block_delta","seq":1,"ts":1,"messageId":"m","blockId":"b","delta":"d"}"#,
            "sessionId",
        ),
        (
            r#"{"type":"turn_end","sessionId":"s","seq":1,"ts":1,"turnId":"t","reason":"bored"}"#,
            "reason",
        ),
        (
            r#"{"type":"session_state","sessionId":"s","seq":1,"ts":1,"state":"ACTIVE","reason":"r"}"#,
            "previous",
        ),
        (
            r#"{"type":"ack","sessionId":"s","clientMsgId":"m","seq":1,"duplicate":"no","running":true}"#,
            "duplicate",
        ),
        (r#"{"type":"error","code":"oops","message":"m"}"#, "code"),
        (
            r#"{"type":"sessions","sessions":[{"sessionId":"s","title":"t","state":"ACTIVE","running":true,"lastSeq":3}]}"#,
            "sessions[0].updatedAt",
        ),
        (r#"{"type":"sessions","sessions":[],"next":1}"#, "next"),
    ];
    for (text, field) in cases {
        let (code, named) = server_error(text);
        assert_eq!(
            (code, named.as_deref()),
            (ErrorCode::InvalidField, Some(field)),
            "{text}"
        );
    }
}

#[test]
fn extra_fields_of_any_type_are_ignored() {
    // The fast path reads `text` as a string for every event; a block_delta carrying an
    // unrelated `text` of another type must still parse (through the slow path).
    let text = r#"{"type":"block_delta","sessionId":"s","seq":1,"ts":1,"messageId":"m","blockId":"b","delta":"d","text":42}"#;
    assert!(matches!(
        parse_server_frame(text),
        Ok(ServerFrame::Event(_))
    ));
    let text = r#"{"type":"ping","future":{"x":[1]}}"#;
    assert!(parse_client_frame(text).is_ok());
}

#[test]
fn error_codes_have_their_wire_names() {
    let codes = [
        (ErrorCode::BadFrame, "bad_frame"),
        (ErrorCode::UnknownType, "unknown_type"),
        (ErrorCode::InvalidField, "invalid_field"),
        (ErrorCode::HelloRequired, "hello_required"),
        (ErrorCode::UnsupportedProtocol, "unsupported_protocol"),
        (ErrorCode::Unauthorized, "unauthorized"),
        (ErrorCode::SessionNotFound, "session_not_found"),
        (ErrorCode::FrameTooLarge, "frame_too_large"),
        (ErrorCode::RateLimited, "rate_limited"),
        (ErrorCode::PermissionResolved, "permission_resolved"),
        (ErrorCode::Unavailable, "unavailable"),
        (ErrorCode::Internal, "internal"),
    ];
    for (code, name) in codes {
        assert_eq!(code.as_str(), name);
        assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{name}\""));
    }
}

/// Inputs the fuzzers found, kept as regression tests: each must parse, encode and parse back
/// to the same frame.
#[test]
fn fuzz_regressions_round_trip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let frame = parse_server_frame(&text).unwrap();
        assert_eq!(parse_server_frame(&encode(&frame)).unwrap(), frame);
        count += 1;
    }
    assert!(count >= 1);
}

#[test]
fn floats_are_read_correctly_rounded() {
    let text = r#"{"type":"tool_result","sessionId":"s","seq":1,"ts":1,"messageId":"m","toolId":"t","isError":false,"result":[8888888888888888.88888,0.1,1e-320,-2.5e300,123456789012345678901234567890]}"#;
    let ServerFrame::Event(event) = parse_server_frame(text).unwrap() else {
        panic!("not an event")
    };
    let EventKind::ToolResult(result) = event.kind else {
        panic!("not a tool_result")
    };
    let numbers: Vec<f64> = result
        .result
        .to_value()
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_f64().unwrap())
        .collect();
    let expected: Vec<f64> = [
        "8888888888888888.88888",
        "0.1",
        "1e-320",
        "-2.5e300",
        "123456789012345678901234567890",
    ]
    .iter()
    .map(|t| t.parse().unwrap())
    .collect();
    assert_eq!(numbers, expected);
    assert_eq!(numbers[0], 8888888888888889.0);
}

/// The accepted forms of docs/protocol.md: a struct only as an object, a unit enum only as a
/// string, even where serde would take an array of the fields or a `{"NAME": null}` map.
#[test]
fn structs_are_objects_and_enums_are_strings_only() {
    let cases = [
        (
            r#"{"type":"reconnect","sessions":[["s1",3]]}"#,
            "sessions[0]",
            "invalid type: sequence, expected struct SessionCursor",
        ),
        (
            r#"{"type":"hello","protocol":1,"token":["t"]}"#,
            "token",
            "invalid type: sequence, expected a string",
        ),
    ];
    for (text, field, message) in cases {
        let error = parse_client_frame(text).unwrap_err();
        assert_eq!(error.field(), Some(field), "{text}");
        let expected = format!("invalid field `{field}`: {message}");
        assert_eq!(error.message(), expected, "{text}");
    }
    let cases = [
        (
            r#"{"type":"welcome","protocol":1,"connectionId":"c","epoch":"e","server":["n","v"]}"#,
            "server",
            "invalid type: sequence, expected struct ServerInfo",
        ),
        (
            r#"{"type":"session_state","sessionId":"s","seq":1,"ts":2,"state":{"ACTIVE":null},"previous":null,"reason":"r"}"#,
            "state",
            "invalid type: map, expected a string",
        ),
        (
            r#"{"type":"block_start","sessionId":"s","seq":1,"ts":2,"messageId":"m","blockId":"b","blockType":7}"#,
            "blockType",
            "invalid type: integer `7`, expected a string",
        ),
    ];
    for (text, field, message) in cases {
        let error = parse_server_frame(text).unwrap_err();
        assert_eq!(error.code(), ErrorCode::InvalidField, "{text}");
        assert_eq!(error.field(), Some(field), "{text}");
        let expected = format!("invalid field `{field}`: {message}");
        assert_eq!(error.message(), expected, "{text}");
    }
}

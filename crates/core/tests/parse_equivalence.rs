//! The hand-written frame parsers against the serde-based ones they replaced: for every frame of
//! a corpus and thousands of mutations of it (each field removed, set to `null` and to values of
//! every JSON type; extra and duplicate members), both give the same frame, or the same error
//! code, field and message.
#![allow(clippy::unwrap_used)]

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use sessionwire_core::protocol::*;

/// The old decoder: a `Value`, then each payload through `serde_path_to_error`.
fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, ProtocolError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner().to_string();
        let field = inner
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(|name| {
                if path == "." {
                    name.to_owned()
                } else {
                    format!("{path}.{name}")
                }
            })
            .unwrap_or(path);
        ProtocolError::invalid_field(&field, &inner)
    })
}

fn head(text: &str, known: &[&str]) -> Result<(Value, String), ProtocolError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|error| ProtocolError::bad_frame(format!("frame is not JSON: {error}")))?;
    if !value.is_object() {
        return Err(ProtocolError::bad_frame("frame is not a JSON object"));
    }
    let Some(kind) = value.get("type").and_then(Value::as_str).map(str::to_owned) else {
        return Err(ProtocolError::bad_frame("frame has no string field `type`"));
    };
    if !known.contains(&kind.as_str()) {
        return Err(ProtocolError::unknown_type(&kind));
    }
    Ok((value, kind))
}

fn old_client(text: &str) -> Result<ClientFrame, ProtocolError> {
    let (v, kind) = head(text, ClientFrame::TYPES)?;
    let frame = match kind.as_str() {
        "hello" => ClientFrame::Hello(decode(&v)?),
        "list_sessions" => ClientFrame::ListSessions(decode(&v)?),
        "switch_session" => ClientFrame::SwitchSession(decode(&v)?),
        "send" => ClientFrame::Send(decode(&v)?),
        "interrupt" => ClientFrame::Interrupt(decode(&v)?),
        "stop" => ClientFrame::Stop(decode(&v)?),
        "close_session" => ClientFrame::CloseSession(decode(&v)?),
        "suspend" => ClientFrame::Suspend(decode(&v)?),
        "reconnect" => ClientFrame::Reconnect(decode(&v)?),
        "watch" => ClientFrame::Watch(decode(&v)?),
        "unwatch" => ClientFrame::Unwatch(decode(&v)?),
        "ping" => ClientFrame::Ping(decode(&v)?),
        "respond_permission" => ClientFrame::RespondPermission(decode(&v)?),
        other => unreachable!("{other}"),
    };
    match &frame {
        ClientFrame::Send(f) => validate_client_msg_id(&f.client_msg_id)?,
        ClientFrame::Interrupt(f) => validate_client_msg_id(&f.client_msg_id)?,
        ClientFrame::RespondPermission(f) => validate_client_msg_id(&f.client_msg_id)?,
        _ => {}
    }
    Ok(frame)
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventHeader {
    session_id: String,
    seq: u64,
    ts: u64,
}

fn old_server(text: &str) -> Result<ServerFrame, ProtocolError> {
    let (v, kind) = head(text, ServerFrame::TYPES)?;
    let reply = |r| Ok(ServerFrame::Reply(r));
    let event_kind = match kind.as_str() {
        "welcome" => return reply(Reply::Welcome(decode(&v)?)),
        "sessions" => return reply(Reply::Sessions(decode(&v)?)),
        "session_switched" => return reply(Reply::SessionSwitched(decode(&v)?)),
        "session_cleared" => return reply(Reply::SessionCleared(decode(&v)?)),
        "session_created" => return reply(Reply::SessionCreated(decode(&v)?)),
        "ack" => return reply(Reply::Ack(decode(&v)?)),
        "reconnected" => return reply(Reply::Reconnected(decode(&v)?)),
        "watched" => return reply(Reply::Watched(decode(&v)?)),
        "unwatched" => return reply(Reply::Unwatched(decode(&v)?)),
        "pong" => return reply(Reply::Pong(decode(&v)?)),
        "error" => return reply(Reply::Error(decode(&v)?)),
        _ => {
            let header: EventHeader = decode(&v)?;
            let kind = match kind.as_str() {
                "user_message" => EventKind::UserMessage(decode(&v)?),
                "turn_start" => EventKind::TurnStart(decode(&v)?),
                "message_start" => EventKind::MessageStart(decode(&v)?),
                "block_start" => EventKind::BlockStart(decode(&v)?),
                "block_delta" => EventKind::BlockDelta(decode(&v)?),
                "block_end" => EventKind::BlockEnd(decode(&v)?),
                "tool_result" => EventKind::ToolResult(decode(&v)?),
                "tool_update" => EventKind::ToolUpdate(decode(&v)?),
                "plan" => EventKind::Plan(decode(&v)?),
                "permission_request" => EventKind::PermissionRequest(decode(&v)?),
                "permission_resolved" => EventKind::PermissionResolved(decode(&v)?),
                "message_end" => EventKind::MessageEnd(decode(&v)?),
                "turn_end" => EventKind::TurnEnd(decode(&v)?),
                "session_state" => EventKind::SessionState(decode(&v)?),
                other => unreachable!("{other}"),
            };
            (header, kind)
        }
    };
    let (header, kind) = event_kind;
    Ok(ServerFrame::Event(Event {
        session_id: header.session_id,
        seq: header.seq,
        ts: header.ts,
        kind,
    }))
}

/// The value at an error's field path (`sessions[0].lastSeq`) in the frame `text`.
fn at_path<'v>(frame: &'v Value, path: &str) -> Option<&'v Value> {
    let mut value = frame;
    for part in path.split('.') {
        let (key, indexes) = part
            .split_once('[')
            .map_or((part, ""), |(k, rest)| (k, rest));
        if !key.is_empty() {
            value = value.get(key)?;
        }
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            value = value.get(index.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(value)
}

/// Where the protocol accepts less than serde (docs/protocol.md, "Accepted forms"): our error
/// names a value written in a form only serde takes, a struct as an array or a unit enum as
/// anything but a string, and says what the protocol expects there.
fn serde_only_form(text: &str, new: &ProtocolError) -> bool {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        return false;
    };
    let (Some(field), message) = (new.field(), new.message()) else {
        return false;
    };
    let Some(value) = at_path(&frame, field) else {
        return false;
    };
    let struct_as_array = value.is_array() && message.contains(", expected struct ");
    let enum_not_a_string = !value.is_string() && message.ends_with(", expected a string");
    struct_as_array || enum_not_a_string
}

/// Same outcome; for `bad_frame` the JSON error's position may be worded differently, and where
/// the protocol's accepted forms are narrower than serde's, our refusal says so.
fn same<T: PartialEq + std::fmt::Debug>(
    text: &str,
    new: Result<T, ProtocolError>,
    old: Result<T, ProtocolError>,
) {
    match (new, old) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
        (Err(a), Err(b)) if a.code() == ErrorCode::BadFrame => {
            assert_eq!(a.code(), b.code(), "{text}")
        }
        (Err(a), _) if serde_only_form(text, &a) => {}
        (Err(a), Err(b)) => assert_eq!(a, b, "{text}"),
        (a, b) => panic!("{text}\n  new: {a:?}\n  old: {b:?}"),
    }
}

fn client_corpus() -> Vec<Value> {
    vec![
        json!({"type":"hello","protocol":1,"token":"t","clientId":"tab-1"}),
        json!({"type":"list_sessions"}),
        json!({"type":"list_sessions","limit":50}),
        json!({"type":"list_sessions","before":"cursor-1"}),
        json!({"type":"list_sessions","limit":500,"before":"cé\"x"}),
        json!({"type":"switch_session","sessionId":"s1","lastSeq":4}),
        json!({"type":"send","sessionId":null,"clientMsgId":"a:b.c_d-1","text":"hi"}),
        json!({"type":"interrupt","sessionId":"s1","clientMsgId":"m2","text":"instead"}),
        json!({"type":"stop","sessionId":"s1"}),
        json!({"type":"close_session","sessionId":"s1"}),
        json!({"type":"suspend","sessionId":"s1"}),
        json!({"type":"reconnect","sessions":[{"sessionId":"s1","lastSeq":0},{"sessionId":"s2","lastSeq":9}]}),
        json!({"type":"reconnect","sessions":[["s1",3]]}),
        json!({"type":"watch","sessionId":"s1"}),
        json!({"type":"unwatch","sessionId":"s1"}),
        json!({"type":"ping","nonce":"n"}),
        json!({"type":"respond_permission","sessionId":"s1","clientMsgId":"m3","requestId":"r1","optionId":"allow"}),
        json!({"type":"respond_permission","sessionId":"s1","clientMsgId":"bad id","requestId":"r1","optionId":"allow"}),
        json!({"type":"respond_permission","sessionId":"s1","clientMsgId":"m3","requestId":"r1"}),
    ]
}

fn server_corpus() -> Vec<Value> {
    vec![
        json!({"type":"welcome","protocol":1,"connectionId":"c","epoch":"e","server":{"name":"n","version":"1"}}),
        json!({"type":"welcome","protocol":1,"connectionId":"c","epoch":"e","server":["n","1"]}),
        json!({"type":"sessions","sessions":[{"sessionId":"s","title":"t","state":"ACTIVE","running":true,"lastSeq":3,"updatedAt":9}]}),
        json!({"type":"sessions","sessions":[{"sessionId":"s","title":"t","state":"ACTIVE","running":true,"lastSeq":3,"updatedAt":9}],"next":"cursor-2"}),
        json!({"type":"sessions","sessions":[],"next":"c"}),
        json!({"type":"session_switched","sessionId":"s","state":"DETACHED","running":false,"lastSeq":0,"title":""}),
        json!({"type":"session_cleared"}),
        json!({"type":"session_created","sessionId":"s","clientMsgId":"m"}),
        json!({"type":"ack","sessionId":"s","clientMsgId":"m","seq":4,"duplicate":false,"running":true}),
        json!({"type":"reconnected","sessions":[{"sessionId":"s","replayed":2,"state":"ENDED","running":false,"lastSeq":5}]}),
        json!({"type":"watched","sessionId":"s"}),
        json!({"type":"unwatched","sessionId":"s"}),
        json!({"type":"pong","nonce":"n"}),
        json!({"type":"error","code":"session_not_found","message":"m","sessionId":"s","ref":"m1"}),
        json!({"type":"user_message","sessionId":"s","seq":1,"ts":2,"messageId":"m","text":"t"}),
        json!({"type":"turn_start","sessionId":"s","seq":1,"ts":2,"turnId":"t"}),
        json!({"type":"message_start","sessionId":"s","seq":1,"ts":2,"messageId":"m"}),
        json!({"type":"block_start","sessionId":"s","seq":1,"ts":2,"messageId":"m","blockId":"b","blockType":"tool_use","toolName":"x"}),
        json!({"type":"block_delta","sessionId":"s","seq":1,"ts":2,"messageId":"m","blockId":"b","delta":"d"}),
        json!({"type":"block_end","sessionId":"s","seq":1,"ts":2,"messageId":"m","blockId":"b","input":{"a":[1,2.5,-3]}}),
        json!({"type":"tool_result","sessionId":"s","seq":1,"ts":2,"messageId":"m","toolId":"b","result":{"ok":true},"isError":false}),
        json!({"type":"message_end","sessionId":"s","seq":1,"ts":2,"messageId":"m"}),
        json!({"type":"turn_end","sessionId":"s","seq":1,"ts":2,"turnId":"t","reason":"error","error":"x","usage":{"tokens":3}}),
        json!({"type":"turn_end","sessionId":"s","seq":1,"ts":2,"turnId":"t","reason":"completed","stopReason":"max_tokens"}),
        json!({"type":"tool_update","sessionId":"s","seq":1,"ts":2,"messageId":"m","toolId":"b","status":"completed","title":"t","kind":"edit","content":[{"type":"diff","path":"p","newText":"x"}],"locations":[{"path":"p","line":1}]}),
        json!({"type":"tool_update","sessionId":"s","seq":1,"ts":2,"messageId":"m","toolId":"b"}),
        json!({"type":"plan","sessionId":"s","seq":1,"ts":2,"entries":[{"content":"c","priority":"high","status":"pending"}]}),
        json!({"type":"permission_request","sessionId":"s","seq":1,"ts":2,"requestId":"r","toolId":"b","title":"Edit a.txt","options":[{"optionId":"allow","name":"Allow","kind":"allow_once"}],"content":[{"type":"diff","path":"a.txt","oldText":"x","newText":"y"}]}),
        json!({"type":"permission_request","sessionId":"s","seq":1,"ts":2,"requestId":"r","title":"t","options":[]}),
        json!({"type":"permission_request","sessionId":"s","seq":1,"ts":2,"requestId":"r","options":[]}),
        json!({"type":"permission_resolved","sessionId":"s","seq":1,"ts":2,"requestId":"r","outcome":"selected","optionId":"allow","clientMsgId":"m"}),
        json!({"type":"permission_resolved","sessionId":"s","seq":1,"ts":2,"requestId":"r","outcome":"expired"}),
        json!({"type":"permission_resolved","sessionId":"s","seq":1,"ts":2,"requestId":7,"outcome":"expired"}),
        json!({"type":"session_state","sessionId":"s","seq":1,"ts":2,"state":"CREATED","previous":null,"reason":"created"}),
        json!({"type":"session_state","sessionId":"s","seq":2,"ts":2,"state":"STARTING","previous":"CREATED","reason":"r"}),
    ]
}

/// Values of every JSON type, including ones that are valid for some fields.
fn replacements() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(7),
        json!(4294967296u64),
        json!(-1),
        json!(1.5),
        json!(""),
        json!("x"),
        json!("ACTIVE"),
        json!("text"),
        json!("completed"),
        json!("bad_frame"),
        json!({"ACTIVE": null}),
        json!({"a": 1, "b": 2}),
        json!({}),
        json!([]),
        json!(["s", 1]),
        json!([{"sessionId": "s", "lastSeq": 1}]),
        json!([{"sessionId": 5}]),
        json!([["s", "x"]]),
        json!(["s", 1, 2]),
        json!(["n"]),
    ]
}

/// Every frame of the corpus with one member removed, replaced or added, and with pairs of
/// members replaced (to check which of two bad fields is named).
fn mutations(corpus: &[Value]) -> Vec<String> {
    let mut texts = Vec::new();
    let values = replacements();
    for frame in corpus {
        let map = frame.as_object().unwrap();
        texts.push(frame.to_string());
        let keys: Vec<&String> = map.keys().filter(|k| *k != "type").collect();
        for key in &keys {
            let mut without = map.clone();
            without.remove(*key);
            texts.push(Value::Object(without).to_string());
            for value in &values {
                let mut changed = map.clone();
                changed.insert((*key).clone(), value.clone());
                texts.push(Value::Object(changed).to_string());
                for other in &keys {
                    let mut both = map.clone();
                    both.insert((*key).clone(), value.clone());
                    both.insert((*other).clone(), json!([1]));
                    texts.push(Value::Object(both.clone()).to_string());
                    both.remove(*other);
                    texts.push(Value::Object(both).to_string());
                }
            }
        }
        let text = frame.to_string();
        let body = &text[1..text.len() - 1];
        texts.push(format!(r#"{{{body},"extra":{{"x":[1]}}}}"#));
        texts.push(format!(r#"{{{body},{body}}}"#));
        if let Some(key) = keys.first() {
            texts.push(format!(r#"{{{body},"{key}":null}}"#));
            texts.push(format!(r#"{{"{key}":17,{body}}}"#));
        }
    }
    texts
}

#[test]
fn client_frames_parse_as_before() {
    let texts = mutations(&client_corpus());
    assert!(texts.len() > 1000);
    for text in &texts {
        same(text, parse_client_frame(text), old_client(text));
    }
}

#[test]
fn server_frames_parse_as_before() {
    let texts = mutations(&server_corpus());
    assert!(texts.len() > 5000);
    for text in &texts {
        same(text, parse_server_frame(text), old_server(text));
    }
}

#[test]
fn malformed_texts_fail_as_before() {
    for text in [
        "",
        " ",
        "nope",
        "{",
        "}",
        "[]",
        "3",
        "null",
        "\"x\"",
        "{}",
        r#"{"type":1}"#,
        r#"{"type":"ping",}"#,
        r#"{"type":"ping"} x"#,
        r#"{"type":"nope"}"#,
        r#"{"type":"ping","type":"stop"}"#,
        r#"{"type":"stop","type":"ping"}"#,
        r#"{"type":"ping","nonce":"\ud800"}"#,
        r#"{"type":"ping","nonce":"a\u0041\n"}"#,
        r#"{"type":"ping","n":1e999}"#,
    ] {
        same(text, parse_client_frame(text), old_client(text));
        same(text, parse_server_frame(text), old_server(text));
    }
}

/// `Action::from_json` (what `dispatch` uses) against serde's derive, on every action of the
/// golden vectors and mutations of them.
#[test]
fn actions_decode_as_before() {
    use sessionwire_core::store::Action;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors");
    let mut corpus = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let vector: Value = serde_json::from_str(&text).unwrap();
        for step in vector["steps"].as_array().unwrap() {
            for key in ["actions"] {
                if let Some(actions) = step[key].as_array() {
                    corpus.extend(actions.iter().cloned());
                }
            }
            if step.get("dispatch").is_some() {
                corpus.push(step["dispatch"].clone());
            }
        }
    }
    corpus.push(json!({"type":"CONNECTION_OPENED","x":1}));
    corpus.push(json!({"type":"SWITCH_REQUESTED"}));
    corpus.push(json!({"type":"SESSION_STATE_CHANGED","sessionId":"s","seq":1,"state":"ENDED","reason":"r"}));
    corpus.push(json!({"type":"TOOL_RESULT","sessionId":"s","seq":1,"messageId":"m","toolId":"t","result":null,"isError":true}));
    corpus.push(json!({"type":"SESSIONS_LISTED","sessions":[{"sessionId":"s","title":"t","state":"ACTIVE","running":true,"lastSeq":3,"updatedAt":9}]}));
    corpus.push(json!({"type":"SESSIONS_LISTED","sessions":[],"next":"c"}));
    assert!(corpus.len() > 100);
    let mut checked = 0;
    for text in mutations(&corpus) {
        let new = Action::from_json(&text);
        let old = serde_json::from_str::<Action>(&text);
        match (new, old) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
            (Err(_), Err(_)) => {}
            // (An action's error has no field path: the message alone says which form.)
            (Err(a), Ok(_))
                if a.starts_with("invalid type: sequence, expected struct ")
                    || a.ends_with(", expected a string") => {}
            (a, b) => panic!("{text}\n  new: {a:?}\n  old: {b:?}"),
        }
        checked += 1;
    }
    assert!(checked > 10_000);
    for text in [
        "",
        "[]",
        "{}",
        r#"{"type":5}"#,
        r#"{"type":"NOPE"}"#,
        r#"{"type":"ACK","type":"ACK"}"#,
    ] {
        assert!(Action::from_json(text).is_err(), "{text}");
    }
}

/// A sample value of a field kind (nested structs from their own declarations).
fn sample(kind: table::Kind) -> Value {
    use sessionwire_core::protocol::table::{Kind, WireStruct};
    match kind {
        Kind::Str => json!("x-1"),
        Kind::U32 => json!(1),
        Kind::U64 => json!(2),
        Kind::Bool => json!(true),
        Kind::Value => json!({"k": [1, "two"]}),
        Kind::State => json!("ACTIVE"),
        Kind::BlockType => json!("tool_use"),
        Kind::Reason => json!("completed"),
        Kind::Code => json!("internal"),
        Kind::Server => full(ServerInfo::TABLE),
        Kind::Summaries => json!([full(SessionSummary::TABLE)]),
        Kind::Reconnected => json!([full(ReconnectedSession::TABLE)]),
        Kind::Cursors => json!([full(SessionCursor::TABLE)]),
    }
}

/// An object with every field of `table`.
fn full(table: &table::Table) -> Value {
    Value::Object(
        table
            .fields()
            .iter()
            .map(|(key, kind, _)| ((*key).to_owned(), sample(*kind)))
            .collect(),
    )
}

/// Frames built from the declarations themselves: for each `type`, every field present, then
/// each optional one absent, each nullable one `null`, and each required one missing.
fn declared_corpus(tables: &[(&str, &table::Table)], event_types: &[&str]) -> Vec<Value> {
    use sessionwire_core::protocol::table::Need;
    let mut corpus = Vec::new();
    for (tag, table) in tables {
        let mut frame = full(table);
        let map = frame.as_object_mut().unwrap();
        map.insert("type".into(), json!(tag));
        if event_types.contains(tag) {
            map.insert("sessionId".into(), json!("s"));
            map.insert("seq".into(), json!(3));
            map.insert("ts".into(), json!(4));
        }
        corpus.push(frame.clone());
        for (key, _, need) in table.fields() {
            let mut changed = frame.as_object().unwrap().clone();
            match need {
                Need::Opt => {
                    changed.remove(*key);
                }
                Need::Nullable => {
                    changed.insert((*key).to_owned(), Value::Null);
                }
                Need::Req => {
                    changed.remove(*key);
                }
            }
            corpus.push(Value::Object(changed));
        }
    }
    corpus
}

#[test]
fn frames_built_from_the_declarations_parse_as_serde_does() {
    let client = declared_corpus(ClientFrame::TABLES, &[]);
    for (tag, table) in ClientFrame::TABLES {
        let mut frame = full(table);
        frame["type"] = json!(tag);
        let text = frame.to_string();
        let parsed = parse_client_frame(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let written: Value = serde_json::from_str(&to_json(&parsed)).unwrap();
        assert_eq!(
            written, frame,
            "{tag}: every field, written back as it came"
        );
    }
    for frame in &client {
        let text = frame.to_string();
        same(&text, parse_client_frame(&text), old_client(&text));
    }
    let mut server = declared_corpus(Reply::TABLES, &[]);
    server.extend(declared_corpus(EventKind::TABLES, EventKind::TYPES));
    for (tag, table) in Reply::TABLES.iter().chain(EventKind::TABLES) {
        let mut frame = full(table);
        frame["type"] = json!(tag);
        if EventKind::TYPES.contains(tag) {
            frame["sessionId"] = json!("s");
            frame["seq"] = json!(3);
            frame["ts"] = json!(4);
        }
        let text = frame.to_string();
        let parsed = parse_server_frame(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        // And it writes back the same object (every field, in declaration order).
        let written: Value = serde_json::from_str(&to_json(&parsed)).unwrap();
        assert_eq!(written, frame, "{tag}");
    }
    for frame in &server {
        let text = frame.to_string();
        same(&text, parse_server_frame(&text), old_server(&text));
    }
    // And every mutation of them.
    for text in mutations(&client) {
        same(&text, parse_client_frame(&text), old_client(&text));
    }
    for text in mutations(&server) {
        same(&text, parse_server_frame(&text), old_server(&text));
    }
}

//! The hand-written JSON writer (`protocol::write`) against the serde derives it replaced for
//! what the core hands out as text: for every golden vector, every action returned, every frame
//! received (parsed), every frame the store returns and the state after every step are written
//! byte for byte as `serde_json::to_string` writes them; plus generated strings and JSON values
//! (escapes, negative and float numbers, nested objects) and every client frame shape.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};
use sessionwire_core::protocol::*;
use sessionwire_core::store::{Action, Store};
use sessionwire_core::vectors::{run_vector, Driver, NativeDriver};
use std::path::Path;

fn same<T: Serialize + ToJson>(value: &T) {
    assert_eq!(to_json(value), serde_json::to_string(value).unwrap());
}

/// The native driver, checking the writer on everything that passes through.
struct Checking(NativeDriver);

impl Driver for Checking {
    fn receive(&mut self, frame: &str) -> Result<Value, String> {
        if let Ok(parsed) = parse_server_frame(frame) {
            same(&parsed);
        }
        let before = self.0 .0.clone();
        let result = self.0.receive(frame);
        // The same frame on a copy of the store, to check the writer on the actions themselves.
        let mut copy = before;
        if let Ok(actions) = copy.receive(frame) {
            same(&actions);
        }
        result
    }

    fn call(&mut self, name: &str, args: &[Value]) -> Result<Value, String> {
        let result = self.0.call(name, args)?;
        // Frames the store returns: the writer's text must equal serde's encoding of the frame.
        for frame in result
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![result.clone()])
        {
            if let Value::String(text) = frame {
                if !text.is_empty() {
                    let parsed = parse_client_frame(&text).unwrap();
                    assert_eq!(text, encode(&parsed));
                }
            }
        }
        Ok(result)
    }

    fn dispatch(&mut self, action: &Value) -> Result<(), String> {
        self.0.dispatch(action)
    }

    fn state(&mut self) -> Value {
        let state = self.0 .0.state();
        assert_eq!(
            to_json(&state.snapshot()),
            serde_json::to_string(state).unwrap()
        );
        self.0.state()
    }
}

#[test]
fn every_golden_vector_writes_as_serde_does() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            run_vector(&text, |prefix| Checking(NativeDriver(Store::new(prefix))))
                .unwrap_or_else(|problem| panic!("{}: {problem}", path.display()));
            count += 1;
        }
    }
    assert!(count >= 25);
}

#[test]
fn every_client_frame_shape_writes_as_serde_does() {
    let frames = [
        json!({"type": "hello", "protocol": 1}),
        json!({"type": "hello", "protocol": 1, "token": "t\"\\\n", "clientId": "c"}),
        json!({"type": "list_sessions"}),
        json!({"type": "list_sessions", "limit": 20}),
        json!({"type": "list_sessions", "before": "c\"\\1"}),
        json!({"type": "list_sessions", "limit": 500, "before": "c"}),
        json!({"type": "switch_session", "sessionId": null}),
        json!({"type": "switch_session", "sessionId": "s", "lastSeq": 7}),
        json!({"type": "send", "sessionId": null, "clientMsgId": "m", "text": "\u{1}é😀"}),
        json!({"type": "interrupt", "sessionId": "s", "clientMsgId": "m"}),
        json!({"type": "interrupt", "sessionId": "s", "clientMsgId": "m", "text": "x"}),
        json!({"type": "stop", "sessionId": "s"}),
        json!({"type": "close_session", "sessionId": "s"}),
        json!({"type": "suspend", "sessionId": "s"}),
        json!({"type": "reconnect", "sessions": [{"sessionId": "a", "lastSeq": 0}]}),
        json!({"type": "watch", "sessionId": "s"}),
        json!({"type": "unwatch", "sessionId": "s"}),
        json!({"type": "ping"}),
        json!({"type": "ping", "nonce": "n"}),
    ];
    for frame in frames {
        same(&parse_client_frame(&frame.to_string()).unwrap());
    }
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn strings_and_values_write_as_serde_does(text in any::<String>(), value in arb_value()) {
        let action = Action::ToolResult {
            session_id: text.clone(),
            seq: 3,
            message_id: "m".into(),
            tool_id: text,
            result: value.clone().into(),
            is_error: false,
        };
        same(&action);
        // A payload read from any spelling of the value holds serde_json's compact text of it.
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        let raw = RawJson::parse(&pretty).unwrap();
        prop_assert_eq!(raw.as_str(), serde_json::to_string(&value).unwrap());
        prop_assert_eq!(raw.to_value(), value);
    }
}

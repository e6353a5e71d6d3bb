//! The Wasm test suite, shared by `tests/node.rs` (run by `wasm-pack test --node`) and
//! `tests/browser.rs` (run by `wasm-pack test --headless --chrome`): both run every test here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use js_sys::{Array, Function, Object, Reflect, JSON};
use serde_json::Value;
use sessionwire::{parse_server_frame, ClientStore};
use sessionwire_core::protocol::json::{Json, Num};
use sessionwire_core::protocol::RawJson;
use sessionwire_core::vectors::{run_vector, Driver};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

include!(concat!(env!("OUT_DIR"), "/vectors.rs"));

/// A JavaScript value as JSON (through `JSON.stringify`, exactly what a JS caller would see).
fn to_json(value: &JsValue) -> Value {
    if value.is_undefined() {
        return Value::Null;
    }
    let text: String = JSON::stringify(value).unwrap().into();
    serde_json::from_str(&text).unwrap()
}

fn from_json(value: &Value) -> JsValue {
    JSON::parse(&value.to_string()).unwrap()
}

/// The `code` of a thrown value, after checking it is a real `Error`.
fn error_code(error: &JsValue) -> String {
    assert!(
        error.is_instance_of::<js_sys::Error>(),
        "thrown value is not an Error: {error:?}"
    );
    Reflect::get(error, &"code".into())
        .unwrap()
        .as_string()
        .expect("Error.code is a string")
}

/// `ClientStore.receive` as JavaScript calls it, with a string.
fn receive(store: &ClientStore, frame: &str) -> Result<JsValue, JsValue> {
    store.receive(&JsValue::from_str(frame))
}

/// The golden-vector driver that goes through the JavaScript-facing API only. After every
/// step it checks the structural sharing of PROTOCOL.md §7 against the state before the step.
pub struct JsDriver(ClientStore, JsValue);

#[wasm_bindgen(inline_js = r#"
export function sharing_problems(before, after) {
  const out = [];
  const same = (x, y) => JSON.stringify(x) === JSON.stringify(y);
  if (after !== before && same(after, before)) out.push("a new state object with the same content");
  const messages = new Map(before.messages.map((m) => [m.id, m]));
  for (const m of after.messages) {
    const old = messages.get(m.id);
    if (!old || old === m) continue;
    if (same(old, m)) out.push(`message ${m.id}: a new object with the same content`);
    const blocks = new Map(old.blocks.map((b) => [b.id, b]));
    for (const b of m.blocks) {
      const o = blocks.get(b.id);
      if (o && o !== b && same(o, b)) out.push(`block ${b.id} of ${m.id}: a new object with the same content`);
    }
  }
  for (const id in after.sessions) {
    const old = before.sessions[id];
    if (old && old !== after.sessions[id] && same(old, after.sessions[id])) out.push(`sessions.${id}: a new object with the same content`);
  }
  if (after.sessions !== before.sessions && same(after.sessions, before.sessions)) out.push("a new sessions object with the same content");
  return out.join("; ");
}
"#)]
extern "C" {
    fn sharing_problems(before: &JsValue, after: &JsValue) -> String;
}

impl JsDriver {
    fn call_store(&mut self, name: &str, args: &[Value]) -> Result<Value, String> {
        let store = &self.0;
        let strings =
            |frames: Vec<String>| Value::Array(frames.into_iter().map(Value::String).collect());
        Ok(match name {
            "hello" => Value::String(store.hello(arg(args, 0))),
            // `send` returns "" when the message waits for a session being created.
            "send" => frame_or_null(store.send(&arg(args, 0).unwrap_or_default())),
            "createSession" => {
                Value::String(store.create_session(&arg(args, 0).unwrap_or_default()))
            }
            "switchSession" => Value::String(store.switch_session(arg(args, 0))),
            "interrupt" => {
                Value::String(store.interrupt(arg(args, 0)).map_err(|e| error_code(&e))?)
            }
            "respondPermission" => Value::String(
                store
                    .respond_permission(
                        arg(args, 0).unwrap_or_default(),
                        arg(args, 1).unwrap_or_default(),
                    )
                    .map_err(|e| error_code(&e))?,
            ),
            "stop" => Value::String(store.stop().map_err(|e| error_code(&e))?),
            "closeSession" => Value::String(store.close_session().map_err(|e| error_code(&e))?),
            "suspend" => Value::String(store.suspend().map_err(|e| error_code(&e))?),
            "listSessions" => Value::String(store.list_sessions(arg(args, 0))),
            "connectionOpened" => {
                store.connection_opened();
                Value::Null
            }
            "connectionLost" => {
                store.connection_lost();
                Value::Null
            }
            "pendingFrames" => strings(store.pending_frames()),
            "takeReadyFrames" => strings(store.take_ready_frames()),
            other => return Err(format!("unknown call `{other}`")),
        })
    }

    fn new(store: ClientStore) -> Self {
        let state = store.get_state();
        Self(store, state)
    }

    /// Fails the test if the step just run made new objects for parts it did not change, or if
    /// `getState()` is not the same object when asked twice.
    fn check_sharing(&mut self, step: &str) {
        let now = self.0.get_state();
        assert!(
            Object::is(&now, &self.0.get_state()),
            "{step}: getState() returned two objects with nothing between"
        );
        let problems = sharing_problems(&self.1, &now);
        assert!(problems.is_empty(), "{step}: {problems}");
        self.1 = now;
    }
}

fn arg(args: &[Value], index: usize) -> Option<String> {
    args.get(index).and_then(Value::as_str).map(str::to_owned)
}

fn frame_or_null(frame: String) -> Value {
    if frame.is_empty() {
        Value::Null
    } else {
        Value::String(frame)
    }
}

impl Driver for JsDriver {
    fn receive(&mut self, frame: &str) -> Result<Value, String> {
        let result = receive(&self.0, frame)
            .map(|actions| to_json(&actions))
            .map_err(|error| error_code(&error));
        self.check_sharing(frame);
        result
    }

    fn call(&mut self, name: &str, args: &[Value]) -> Result<Value, String> {
        let result = self.call_store(name, args);
        self.check_sharing(name);
        result
    }

    fn dispatch(&mut self, action: &Value) -> Result<(), String> {
        let result = self
            .0
            .dispatch(from_json(action))
            .map_err(|error| error_code(&error));
        self.check_sharing("dispatch");
        result
    }

    fn state(&mut self) -> Value {
        to_json(&self.0.get_state())
    }
}

pub fn every_golden_vector_passes_through_the_js_api() {
    assert!(
        VECTORS.len() >= 25,
        "expected at least 25 vectors, found {}",
        VECTORS.len()
    );
    let failures: Vec<String> = VECTORS
        .iter()
        .filter_map(|(name, text)| {
            run_vector(text, |prefix| {
                JsDriver::new(ClientStore::with_prefix(prefix))
            })
            .err()
            .map(|p| format!("{name}: {p}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        VECTORS.len(),
        failures.join("\n\n")
    );
}

const WELCOME: &str = r#"{"type":"welcome","protocol":1,"connectionId":"c1","epoch":"e1","server":{"name":"t","version":"0"}}"#;

pub fn a_bad_frame_throws_a_real_error_and_changes_nothing() {
    let store = ClientStore::with_prefix("t");
    receive(&store, WELCOME).unwrap();
    let before = to_json(&store.get_state());
    for (frame, code) in [
        ("not json", "bad_frame"),
        ("[1,2]", "bad_frame"),
        (r#"{"type":7}"#, "bad_frame"),
        (r#"{"type":"nope"}"#, "unknown_type"),
        (
            r#"{"type":"welcome","protocol":2,"connectionId":"c2","epoch":"e2","server":{"name":"t","version":"0"}}"#,
            "unsupported_protocol",
        ),
        (
            r#"{"type":"block_delta","sessionId":"s","seq":1,"ts":1,"messageId":"m","blockId":"b"}"#,
            "invalid_field",
        ),
    ] {
        let error = receive(&store, frame).expect_err(frame);
        assert_eq!(error_code(&error), code, "{frame}");
        let message = Reflect::get(&error, &"message".into())
            .unwrap()
            .as_string()
            .unwrap();
        assert!(!message.is_empty());
        assert_eq!(
            to_json(&store.get_state()),
            before,
            "state changed after {frame}"
        );
    }
    let error = receive(&store, r#"{"type":"ack","sessionId":"s","clientMsgId":"x","seq":"one","duplicate":false,"running":false}"#).unwrap_err();
    assert_eq!(error_code(&error), "invalid_field");
    assert_eq!(
        Reflect::get(&error, &"field".into())
            .unwrap()
            .as_string()
            .as_deref(),
        Some("seq")
    );
    // parseServerFrame throws the same way and returns a plain object otherwise.
    assert_eq!(
        error_code(&parse_server_frame("{").unwrap_err()),
        "bad_frame"
    );
    let frame = parse_server_frame(WELCOME).unwrap();
    assert_eq!(to_json(&frame)["connectionId"], "c1");
    // A call that needs a current session throws too.
    assert_eq!(
        error_code(&store.interrupt(None).unwrap_err()),
        "no_current_session"
    );
    // A bad action for dispatch.
    assert_eq!(
        error_code(
            &store
                .dispatch(from_json(&serde_json::json!({"type": "NOPE"})))
                .unwrap_err()
        ),
        "invalid_action"
    );
}

pub fn state_is_a_plain_object_snapshot() {
    let store = ClientStore::with_prefix("t");
    receive(&store, WELCOME).unwrap();
    receive(&store, r#"{"type":"sessions","sessions":[{"sessionId":"s1","title":"T","state":"ACTIVE","running":true,"lastSeq":3,"updatedAt":5}]}"#).unwrap();
    let state = store.get_state();
    let sessions = Reflect::get(&state, &"sessions".into()).unwrap();
    // A plain object keyed by session id, not a Map.
    assert!(!sessions.is_instance_of::<js_sys::Map>());
    assert!(Reflect::get(&sessions, &"s1".into()).unwrap().is_object());
    assert_eq!(
        Reflect::get(&state, &"connection".into())
            .unwrap()
            .as_string()
            .as_deref(),
        Some("open")
    );
    // A snapshot: later changes do not show in it.
    store.connection_lost();
    assert_eq!(
        Reflect::get(&state, &"connection".into())
            .unwrap()
            .as_string()
            .as_deref(),
        Some("open")
    );
}

pub fn subscribe_and_unsubscribe() {
    let store = ClientStore::with_prefix("t");
    let seen: Rc<RefCell<Vec<(String, usize)>>> = Rc::default();
    let listener = {
        let seen = seen.clone();
        Closure::<dyn FnMut(JsValue, JsValue)>::new(move |state: JsValue, actions: JsValue| {
            let connection = Reflect::get(&state, &"connection".into())
                .unwrap()
                .as_string()
                .unwrap();
            seen.borrow_mut()
                .push((connection, Array::from(&actions).length() as usize));
        })
    };
    let unsubscribe = store.subscribe(listener.as_ref().unchecked_ref::<Function>().clone());
    store.connection_opened();
    receive(&store, WELCOME).unwrap();
    // A duplicate-free frame with no actions would not notify; a bad frame does not either.
    assert!(receive(&store, "nope").is_err());
    assert_eq!(
        *seen.borrow(),
        vec![("connecting".to_owned(), 1), ("open".to_owned(), 1)]
    );
    unsubscribe.call0(&JsValue::UNDEFINED).unwrap();
    store.connection_lost();
    assert_eq!(seen.borrow().len(), 2, "notified after unsubscribe");
    // A listener may call back into the store.
    let store = Rc::new(store);
    let reentrant = {
        let store = store.clone();
        let seen = seen.clone();
        Closure::<dyn FnMut(JsValue, JsValue)>::new(move |_: JsValue, _: JsValue| {
            let state = to_json(&store.get_state());
            seen.borrow_mut()
                .push((state["connection"].as_str().unwrap().to_owned(), 0));
        })
    };
    store.subscribe(reentrant.as_ref().unchecked_ref::<Function>().clone());
    store.connection_opened();
    assert_eq!(seen.borrow().last().unwrap().0, "connecting");
}

pub fn the_outbox_survives_a_lost_connection() {
    let store = ClientStore::with_prefix("t");
    store.connection_opened();
    assert_eq!(to_json(&store.get_state())["connection"], "connecting");
    receive(&store, WELCOME).unwrap();
    receive(&store, r#"{"type":"session_switched","sessionId":"s1","state":"ACTIVE","running":false,"lastSeq":0,"title":"T"}"#).unwrap();
    let first: Value = serde_json::from_str(&store.send("one")).unwrap();
    store.connection_lost();
    let second: Value = serde_json::from_str(&store.send("two")).unwrap();
    let state = to_json(&store.get_state());
    assert_eq!(state["connection"], "closed");
    assert_eq!(state["outbox"].as_array().unwrap().len(), 2);
    assert_eq!(
        state["messages"][1]["text"], "two",
        "shows at once while disconnected"
    );
    assert_eq!(state["messages"][1]["status"], "pending");
    store.connection_opened();
    receive(&store, WELCOME).unwrap();
    let pending: Vec<Value> = store
        .pending_frames()
        .iter()
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    assert_eq!(pending[0]["type"], "reconnect");
    // Resent with the same clientMsgIds.
    assert_eq!(pending[1]["clientMsgId"], first["clientMsgId"]);
    assert_eq!(pending[2]["clientMsgId"], second["clientMsgId"]);
    let ack = |id: &Value, seq: u64| {
        format!(
            r#"{{"type":"ack","sessionId":"s1","clientMsgId":{id},"seq":{seq},"duplicate":false,"running":true}}"#
        )
    };
    receive(&store, &ack(&first["clientMsgId"], 1)).unwrap();
    receive(&store, &ack(&second["clientMsgId"], 2)).unwrap();
    let state = to_json(&store.get_state());
    assert_eq!(state["outbox"], serde_json::json!([]));
    assert_eq!(state["messages"][1]["status"], "sent");
    assert_eq!(
        store.pending_frames().len(),
        1,
        "only the reconnect is left"
    );
}

pub fn client_msg_ids_are_unique_across_stores() {
    let a = ClientStore::new(None);
    let b = ClientStore::new(None);
    let id = |store: &ClientStore| -> String {
        let frame: Value = serde_json::from_str(&store.send("x")).unwrap();
        frame["clientMsgId"].as_str().unwrap().to_owned()
    };
    let (ida, idb) = (id(&a), id(&b));
    assert_ne!(ida, idb);
    assert!(
        ida.len() <= 128
            && ida
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(&c))
    );
}

/// Defines one `#[wasm_bindgen_test]` per shared test.
/// The strings of the returned actions are exact whatever the frame holds: non-ASCII text
/// (string offsets differ from byte offsets), escapes (not slices of the frame), a frame larger
/// than the store's first buffer; and a frame that is not a string is a bad frame.
pub fn frames_cross_with_exact_strings() {
    let store = ClientStore::with_prefix("t");
    receive(&store, WELCOME).unwrap();
    let big = "x".repeat(100_000);
    // (the delta as written in the frame, the text it stands for)
    let deltas = [
        (
            "h\u{e9}llo \u{1f600} w\u{f6}rld",
            "h\u{e9}llo \u{1f600} w\u{f6}rld",
        ),
        (
            r#"a \"quoted\" \\ \n line \u00e9 \ud83d\ude00"#,
            "a \"quoted\" \\ \n line \u{e9} \u{1f600}",
        ),
        (big.as_str(), big.as_str()),
        ("", ""),
    ];
    let session = "s-\u{e9}\u{1f600}";
    let message = "m\u{e9}";
    let start = format!(
        r#"{{"type":"block_start","sessionId":"{session}","seq":1,"ts":1,"messageId":"{message}","blockId":"b","blockType":"text"}}"#
    );
    receive(&store, &start).unwrap();
    for (index, (written, text)) in deltas.iter().enumerate() {
        let seq = index + 2;
        let frame = format!(
            r#"{{"type":"block_delta","sessionId":"{session}","seq":{seq},"ts":1,"messageId":"{message}","blockId":"b","delta":"{written}"}}"#
        );
        let actions = to_json(&receive(&store, &frame).unwrap());
        let expected = serde_json::json!([{"type": "BLOCK_DELTA", "sessionId": session,
            "seq": seq, "messageId": message, "blockId": "b", "delta": text}]);
        assert_eq!(actions, expected);
    }
    let state = to_json(&store.get_state());
    assert_eq!(state["sessions"][session]["lastSeq"], 5);
    let error = store.receive(&JsValue::from_f64(42.0)).unwrap_err();
    assert_eq!(error_code(&error), "bad_frame");
}

/// Declares every test of this module as a `#[wasm_bindgen_test]` of the including suite
/// (`tests/node.rs`, `tests/browser.rs`): the list lives here, once.
#[macro_export]
macro_rules! wasm_suite {
    () => {
        wasm_suite!(
            every_golden_vector_passes_through_the_js_api,
            a_bad_frame_throws_a_real_error_and_changes_nothing,
            state_is_a_plain_object_snapshot,
            subscribe_and_unsubscribe,
            the_outbox_survives_a_lost_connection,
            client_msg_ids_are_unique_across_stores,
            frames_cross_with_exact_strings,
            floats_read_and_write_as_the_golden_file_says,
        );
    };
    ($($name:ident),* $(,)?) => {
        $(
            #[wasm_bindgen_test::wasm_bindgen_test]
            fn $name() {
                wasm::$name();
            }
        )*
    };
}

/// The float golden file the native core is checked against (`crates/core/tests/floats.rs`).
const FLOATS: &str = include_str!("../fixtures/floats.json");

fn fixture_bits(hex: &Value) -> u64 {
    u64::from_str_radix(hex.as_str().unwrap(), 16).unwrap()
}

/// A `tool_result` event whose `result` is `result` (any JSON text).
fn tool_result(result: &str) -> String {
    format!(
        r#"{{"type":"tool_result","sessionId":"s","seq":1,"ts":1,"messageId":"m","toolId":"t","result":{result},"isError":false}}"#
    )
}

// The Wasm build must not link the core's `std-floats`: a dependency turning the feature back
// on would fail this at compile time.
const _: () = assert!(
    !sessionwire_core::protocol::floats::USES_STD,
    "the Wasm build links the core's std-floats: a dependency turned the feature back on"
);

/// Floats go through the JavaScript engine's codec (the bindings install it; the core is built
/// without `std-floats` here) and come out exactly as the native core's std codec has them.
pub fn floats_read_and_write_as_the_golden_file_says() {
    let fixture: Value = serde_json::from_str(FLOATS).unwrap();
    let bits_of = |value: JsValue| value.as_f64().map(f64::to_bits);

    // Written: through `parseServerFrame` (the core reads each text and writes it back for
    // the engine's `JSON.parse`), then the core's exact text.
    let written = fixture["write"].as_array().unwrap();
    assert!(written.len() > 2000);
    let texts: Vec<&str> = written.iter().map(|e| e[1].as_str().unwrap()).collect();
    let frame = parse_server_frame(&tool_result(&format!("[{}]", texts.join(",")))).unwrap();
    let result = Array::from(&Reflect::get(&frame, &"result".into()).unwrap());
    assert_eq!(result.length() as usize, written.len());
    for (index, entry) in written.iter().enumerate() {
        let (bits, text) = (fixture_bits(&entry[0]), texts[index]);
        assert_eq!(bits_of(result.get(index as u32)), Some(bits), "{text}");
        let value = Json::Number(Num::F64(f64::from_bits(bits)));
        assert_eq!(RawJson::from_json(&value).as_str(), text);
    }

    // Read: each text alone, correctly rounded, or refused as out of range.
    let read = fixture["read"].as_array().unwrap();
    assert!(read.len() > 1000);
    for entry in read {
        let text = entry[0].as_str().unwrap();
        let parsed = parse_server_frame(&tool_result(text));
        match &entry[1] {
            Value::Null => {
                let error = parsed.expect_err(text);
                assert_eq!(error_code(&error), "bad_frame", "{text}");
                let message = Reflect::get(&error, &"message".into()).unwrap();
                let message = message.as_string().unwrap();
                assert!(message.contains("number out of range"), "{text}: {message}");
            }
            bits => {
                let frame = parsed.unwrap();
                let result = Reflect::get(&frame, &"result".into()).unwrap();
                assert_eq!(bits_of(result), Some(fixture_bits(bits)), "{text}");
            }
        }
    }

    // And through a store: floats in a tool's input and result come back in the actions
    // `receive` returns.
    let store = ClientStore::with_prefix("t");
    store.switch_session(Some("s".to_owned()));
    let floats = "[8888888888888888.88888,-0.0,1e21,5e-324,0.1]";
    let engine = "[8888888888888889,0,1e+21,5e-324,0.1]"; // `JSON.stringify`'s forms
    for frame in [
        r#"{"type":"message_start","sessionId":"s","seq":1,"ts":1,"messageId":"m"}"#.to_owned(),
        r#"{"type":"block_start","sessionId":"s","seq":2,"ts":2,"messageId":"m","blockId":"t","blockType":"tool_use","toolName":"f"}"#.to_owned(),
        format!(r#"{{"type":"block_end","sessionId":"s","seq":3,"ts":3,"messageId":"m","blockId":"t","input":{{"x":{floats}}}}}"#),
        tool_result(floats).replace(r#""seq":1,"ts":1"#, r#""seq":4,"ts":4"#),
    ] {
        let actions = receive(&store, &frame).unwrap();
        let text: String = JSON::stringify(&actions).unwrap().into();
        if frame.contains(floats) {
            assert!(text.contains(engine), "{frame} gave {text}");
        }
    }
    let state: String = JSON::stringify(&store.get_state()).unwrap().into();
    assert!(state.contains(engine), "{state}");
}

//! The golden test-vector runner: one set of scenarios (`tests/vectors/*.json` at the
//! repository root) replayed against any implementation of the client store.
//!
//! The core runs them against [`Store`] directly; the Wasm tests run the same files through the
//! JavaScript API. Each implementation supplies a [`Driver`]; the checks live here, once.
//!
//! A vector is `{"name", "description", "idPrefix", "steps": [...]}`. A step does one thing and
//! states what must follow:
//! - `{"receive": <frame object>}` or `{"receiveText": "<raw text>"}`: a server frame arrives.
//!   Expect `"actions"` (the exact list applied) or `"error"` (the code thrown).
//! - `{"call": "send" | "createSession" | "switchSession" | "interrupt" | "respondPermission" |
//!   "hello" | "stop" |
//!   "closeSession" | "suspend" | "listSessions" | "connectionOpened" | "connectionLost" |
//!   "pendingFrames" | "takeReadyFrames", "args": [...]}`: a client call (`listSessions` takes
//!   an optional `before` cursor). Expect `"frame"` (the frame it returned, as an object, or
//!   `null` for none), `"frames"` (for the calls that return a list) or `"error"`.
//! - `{"dispatch": <action object>}`: an action applied directly.
//!
//! Any step may carry `"state"`: every key given must equal the snapshot's value (objects are
//! compared key by key, recursively, for the keys given; arrays and scalars exactly), and
//! `"sessionIds"`: the keys of the snapshot's `sessions`, all of them, in order (what `"state"`
//! cannot say: that a session is not there).

// A test tool (serde_json, messages with format!): the package never links it.
#![allow(clippy::disallowed_macros)]

use crate::store::{Action, Store};
use serde_json::Value;

/// An implementation of the client store under test.
pub trait Driver {
    /// Feeds a server frame. Ok: the applied actions as a JSON array. Err: the error code.
    fn receive(&mut self, frame: &str) -> Result<Value, String>;
    /// Makes a client call. Ok: what it returned as JSON (a frame string, `null`, or an array
    /// of frame strings; `null` for calls that return nothing). Err: the error code.
    fn call(&mut self, name: &str, args: &[Value]) -> Result<Value, String>;
    /// Applies an action given as JSON.
    fn dispatch(&mut self, action: &Value) -> Result<(), String>;
    /// The state snapshot as JSON.
    fn state(&mut self) -> Value;
}

/// Runs one vector (its JSON text) against a driver made by `make` from the vector's id prefix.
/// Returns a description of the first mismatch.
pub fn run_vector<D: Driver>(text: &str, make: impl FnOnce(&str) -> D) -> Result<(), String> {
    let vector: Value =
        serde_json::from_str(text).map_err(|error| format!("vector is not JSON: {error}"))?;
    let name = vector["name"].as_str().unwrap_or("(unnamed)").to_owned();
    let steps = vector["steps"]
        .as_array()
        .ok_or_else(|| format!("{name}: no steps"))?;
    let mut driver = make(vector["idPrefix"].as_str().unwrap_or("c"));
    for (index, step) in steps.iter().enumerate() {
        run_step(&mut driver, step)
            .map_err(|problem| format!("{name}, step {index}: {problem}\n  step: {step}"))?;
    }
    Ok(())
}

fn run_step<D: Driver>(driver: &mut D, step: &Value) -> Result<(), String> {
    let outcome: Result<Value, String> = if let Some(frame) = step.get("receive") {
        driver.receive(&frame.to_string())
    } else if let Some(text) = step.get("receiveText") {
        driver.receive(text.as_str().ok_or("receiveText must be a string")?)
    } else if let Some(action) = step.get("dispatch") {
        driver.dispatch(action).map(|()| Value::Null)
    } else if let Some(name) = step.get("call").and_then(Value::as_str) {
        let args = step
            .get("args")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        driver.call(name, &args)
    } else {
        return Err("a step needs receive, receiveText, dispatch or call".into());
    };
    match (outcome, step.get("error")) {
        (Err(code), Some(expected)) if expected == code.as_str() => {}
        (Err(code), _) => return Err(format!("unexpected error `{code}`")),
        (Ok(got), Some(expected)) => return Err(format!("expected error {expected}, got {got}")),
        (Ok(got), None) => check_outcome(step, got)?,
    }
    if let Some(expected) = step.get("state") {
        let state = driver.state();
        subset_matches(expected, &state, "state")?;
    }
    if let Some(expected) = step.get("sessionIds") {
        let got: Vec<Value> = driver.state()["sessions"]
            .as_object()
            .map(|sessions| Vec::from_iter(sessions.keys().cloned().map(Value::String)))
            .unwrap_or_default();
        if expected.as_array() != Some(&got) {
            return Err(format!(
                "session ids differ\n  expected: {expected}\n  got:      {}",
                Value::Array(got)
            ));
        }
    }
    Ok(())
}

fn check_outcome(step: &Value, got: Value) -> Result<(), String> {
    if let Some(expected) = step.get("actions") {
        if *expected != got {
            return Err(format!(
                "actions differ\n  expected: {expected}\n  got:      {got}"
            ));
        }
    }
    if let Some(expected) = step.get("frame") {
        let got = frame_json(&got)?;
        if *expected != got {
            return Err(format!(
                "frame differs\n  expected: {expected}\n  got:      {got}"
            ));
        }
    }
    if let Some(expected) = step.get("frames") {
        let mut frames = Vec::new();
        for item in got.as_array().ok_or("call returned no list")? {
            frames.push(frame_json(item)?);
        }
        let got = frames;
        if expected.as_array() != Some(&got) {
            return Err(format!(
                "frames differ\n  expected: {expected}\n  got:      {}",
                Value::Array(got)
            ));
        }
    }
    Ok(())
}

/// A returned frame (a JSON string) as an object; `null` stays `null`.
fn frame_json(value: &Value) -> Result<Value, String> {
    match value {
        Value::Null => Ok(Value::Null),
        Value::String(text) => serde_json::from_str(text)
            .map_err(|error| format!("returned frame is not JSON: {error}")),
        other => Err(format!("expected a frame string, got {other}")),
    }
}

/// Every key of `expected` must match in `actual`, recursively for objects.
pub fn subset_matches(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => {
            for (key, value) in expected {
                let inner = format!("{path}.{key}");
                let got = actual
                    .get(key)
                    .ok_or_else(|| format!("{inner} is missing"))?;
                subset_matches(value, got, &inner)?;
            }
            Ok(())
        }
        (Value::Array(expected), Value::Array(actual)) => {
            if expected.len() != actual.len() {
                return Err(format!(
                    "{path}: expected {} items, got {}: {}",
                    expected.len(),
                    actual.len(),
                    Value::Array(actual.clone())
                ));
            }
            for (index, (e, a)) in expected.iter().zip(actual).enumerate() {
                subset_matches(e, a, &format!("{path}[{index}]"))?;
            }
            Ok(())
        }
        _ if expected == actual => Ok(()),
        _ => Err(format!("{path}: expected {expected}, got {actual}")),
    }
}

/// The native driver: the core's [`Store`] itself.
#[derive(Debug)]
pub struct NativeDriver(pub Store);

fn string_arg(args: &[Value], index: usize) -> Option<&str> {
    args.get(index).and_then(Value::as_str)
}

impl Driver for NativeDriver {
    fn receive(&mut self, frame: &str) -> Result<Value, String> {
        let actions = self
            .0
            .receive(frame)
            .map_err(|error| error.code().to_owned())?;
        serde_json::to_value(actions).map_err(|error| error.to_string())
    }

    fn call(&mut self, name: &str, args: &[Value]) -> Result<Value, String> {
        let store = &mut self.0;
        let frame = |text: String| Value::String(text);
        let result = match name {
            "hello" => frame(store.hello(string_arg(args, 0).map(str::to_owned))),
            "send" => store
                .send(string_arg(args, 0).unwrap_or_default())
                .map_or(Value::Null, frame),
            "createSession" => frame(store.create_session(string_arg(args, 0).unwrap_or_default())),
            "switchSession" => frame(store.switch_session(string_arg(args, 0))),
            "interrupt" => frame(
                store
                    .interrupt(string_arg(args, 0))
                    .map_err(|error| error.code().to_owned())?,
            ),
            "respondPermission" => frame(
                store
                    .respond_permission(
                        string_arg(args, 0).unwrap_or_default(),
                        string_arg(args, 1).unwrap_or_default(),
                    )
                    .map_err(|error| error.code().to_owned())?,
            ),
            "stop" => frame(store.stop().map_err(|error| error.code().to_owned())?),
            "closeSession" => frame(
                store
                    .close_session()
                    .map_err(|error| error.code().to_owned())?,
            ),
            "suspend" => frame(store.suspend().map_err(|error| error.code().to_owned())?),
            "listSessions" => frame(store.list_sessions(string_arg(args, 0).map(str::to_owned))),
            "connectionOpened" => {
                store.connection_opened();
                Value::Null
            }
            "connectionLost" => {
                store.connection_lost();
                Value::Null
            }
            "pendingFrames" => Value::Array(Vec::from_iter(
                store.pending_frames().into_iter().map(frame),
            )),
            "takeReadyFrames" => Value::Array(Vec::from_iter(
                store.take_ready_frames().into_iter().map(frame),
            )),
            other => return Err(format!("unknown call `{other}`")),
        };
        Ok(result)
    }

    fn dispatch(&mut self, action: &Value) -> Result<(), String> {
        // The same text decoder `ClientStore.dispatch` uses.
        let action = Action::from_json(&action.to_string())
            .map_err(|error| format!("bad action: {error}"))?;
        self.0.dispatch(action);
        Ok(())
    }

    fn state(&mut self) -> Value {
        serde_json::to_value(self.0.state()).unwrap_or(Value::Null)
    }
}

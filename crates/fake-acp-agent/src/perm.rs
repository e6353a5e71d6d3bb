//! `/perm T`: an edit that asks the client's permission first.

use serde_json::{json, Value};

use crate::dispatch::{INTERNAL_ERROR, INVALID_PARAMS};
use crate::script::{echo, PERM_PATH};
use crate::turn::{End, Turn};

/// What the client's answer to `session/request_permission` means for the turn.
enum Answer {
    Allow,
    Reject,
    Cancelled,
    Unknown,
    Failed,
}

/// Runs `/perm text`.
pub fn run(turn: &mut Turn, text: &str) -> End<'static> {
    let call = format!("call-{}", turn.number);
    let title = format!("Edit {PERM_PATH}");
    let diff = json!({"type": "diff", "path": PERM_PATH, "oldText": "old text", "newText": text});
    turn.update(json!({
        "sessionUpdate": "tool_call",
        "toolCallId": call,
        "title": title,
        "kind": "edit",
        "status": "pending",
        "rawInput": {"path": PERM_PATH, "newText": text},
        "content": [diff],
        "locations": [{"path": PERM_PATH}],
    }));
    let params = json!({
        "sessionId": turn.session_id,
        "toolCall": {
            "toolCallId": call,
            "title": title,
            "kind": "edit",
            "status": "pending",
            "content": [diff],
        },
        "options": [
            {"optionId": "allow_once", "name": "Allow once", "kind": "allow_once"},
            {"optionId": "reject_once", "name": "Reject once", "kind": "reject_once"},
        ],
    });
    let reply = turn.ask("session/request_permission", params);
    log_answer_time();
    let answer = match reply {
        _ if turn.cancel_seen => Answer::Cancelled,
        Err(_) => Answer::Failed,
        Ok(result) => read(&result),
    };
    let status = |status: &str| json!({"sessionUpdate": "tool_call_update", "toolCallId": call, "status": status});
    match answer {
        Answer::Allow => {
            let mut done = status("completed");
            done["content"] = json!([diff]);
            done["rawOutput"] = json!({"applied": true});
            turn.update(done);
            echo(turn, text, 3)
        }
        Answer::Reject => {
            turn.update(status("failed"));
            turn.message("denied");
            End::Stop("end_turn")
        }
        Answer::Cancelled => {
            turn.update(status("failed"));
            End::Stop("cancelled")
        }
        Answer::Unknown => End::Error(INVALID_PARAMS, "Invalid params: unknown optionId"),
        Answer::Failed => End::Error(INTERNAL_ERROR, "the permission request failed"),
    }
}

/// With env `FAKE_ACP_ANSWER_LOG` set, the wall-clock time (µs since the Unix epoch) at which
/// each permission answer arrived is appended to that file, one per line: the benchmark's
/// "the answer reached the agent" (`sessionwire-acp-bench`).
fn log_answer_time() {
    use std::io::Write;
    let Some(path) = std::env::var_os("FAKE_ACP_ANSWER_LOG") else {
        return;
    };
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_micros());
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| writeln!(file, "{micros}"));
    if let Err(error) = written {
        eprintln!(
            "fake-acp-agent: cannot log to {}: {error}",
            path.to_string_lossy()
        );
    }
}

fn read(result: &Value) -> Answer {
    let outcome = &result["outcome"];
    match (outcome["outcome"].as_str(), outcome["optionId"].as_str()) {
        (Some("cancelled"), _) => Answer::Cancelled,
        (Some("selected"), Some("allow_once")) => Answer::Allow,
        (Some("selected"), Some("reject_once")) => Answer::Reject,
        _ => Answer::Unknown,
    }
}

//! The built-in `echo` agent (PROTOCOL.md §9), the embedded default.
//!
//! - `T` → one assistant message whose text is exactly `echo: T`, streamed as several
//!   `block_delta` chunks with no pause (so benchmarks measure the server, not the agent), or
//!   with `--echo-delay-ms` between chunks.
//! - `/slow N T` → `echo: T` over N non-empty chunks (fewer if the text is shorter), 100 ms apart.
//! - `/tool` → one `tool_use` block and its `tool_result`.
//! - `/plan` → a plan of three entries, each going in_progress then completed (one `plan` event
//!   per change), then `echo: /plan`.
//! - `/chunks N` → one message of N chunks `"1 "`, `"2 "`, …, `"N "` with no pause (for
//!   benchmarks; the fake ACP agent answers it the same way).
//! - `/perm T` → an edit of `notes.txt` (a `tool_use` block, kind `edit`, with a diff) that asks
//!   for permission first (options allow_once `allow`, reject_once `reject`) and waits: allowed,
//!   the tool goes completed and the reply is `echo: T`; rejected, it goes failed and the reply is
//!   `denied`; cancelled (interrupt, stop, close), it goes failed and the turn is interrupted.
//! - `/fail` → the turn ends with reason `error`.

use super::{Agent, EventSink, Turn, TurnFuture, TurnOutcome};
use super::{Ask, AskPermission, Choice};
use serde_json::json;
use sessionwire_core::protocol::{BlockType, Plan, ToolResult, ToolUpdate};
use sessionwire_core::EventKind;
use std::time::Duration;

/// How many chunks a plain echo is streamed in.
const ECHO_CHUNKS: usize = 4;

/// The echo agent.
#[derive(Debug, Clone)]
pub struct EchoAgent {
    delay: Duration,
    slow_interval: Duration,
}

impl EchoAgent {
    /// `delay`: pause between the chunks of a plain echo; `slow_interval`: between `/slow` chunks.
    pub fn new(delay: Duration, slow_interval: Duration) -> Self {
        Self {
            delay,
            slow_interval,
        }
    }
}

/// What a prompt asks the echo agent for.
#[derive(Debug, PartialEq, Eq)]
enum Command<'a> {
    Echo(&'a str),
    Slow(usize, &'a str),
    Tool(&'a str),
    Chunks(usize),
    Plan,
    Perm(&'a str),
    Fail,
}

fn parse(prompt: &str) -> Command<'_> {
    let (word, rest) = match prompt.split_once(' ') {
        Some((word, rest)) => (word, rest),
        None => (prompt, ""),
    };
    match word {
        "/fail" => Command::Fail,
        "/tool" => Command::Tool(rest),
        "/plan" => Command::Plan,
        "/perm" => Command::Perm(rest),
        "/chunks" => match rest.parse::<usize>() {
            Ok(n) if n > 0 => Command::Chunks(n),
            _ => Command::Echo(prompt),
        },
        "/slow" => {
            // `/slow N T`; a malformed N makes it a plain echo of the whole prompt.
            let (count, text) = rest.split_once(' ').unwrap_or((rest, ""));
            match count.parse::<usize>() {
                Ok(n) if n > 0 => Command::Slow(n, text),
                _ => Command::Echo(prompt),
            }
        }
        _ => Command::Echo(prompt),
    }
}

/// Splits `text` into at most `n` non-empty chunks of nearly equal length (in characters).
pub fn split_chunks(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = n.min(chars.len()).max(1);
    let (base, extra) = (chars.len() / n, chars.len() % n);
    let mut chunks = Vec::with_capacity(n);
    let mut start = 0;
    for i in 0..n {
        let len = base + usize::from(i < extra);
        chunks.push(chars[start..start + len].iter().collect());
        start += len;
    }
    chunks
}

impl Agent for EchoAgent {
    fn run_turn(&self, turn: Turn) -> TurnFuture {
        let this = self.clone();
        Box::pin(async move {
            let events = turn.events;
            match parse(&turn.prompt) {
                Command::Fail => Err("the echo agent was asked to fail (/fail)".to_owned().into()),
                Command::Tool(text) => {
                    let message = events.start_message();
                    let block = events.start_block(&message, BlockType::ToolUse, Some("echo"));
                    events.end_block(&message, &block, Some(json!({ "text": text })));
                    events.emit(EventKind::ToolResult(ToolResult {
                        message_id: message.clone(),
                        tool_id: block,
                        result: json!({ "echo": text }).into(),
                        is_error: false,
                    }));
                    events.end_message(&message);
                    Ok(TurnOutcome::default())
                }
                Command::Chunks(n) => {
                    // For benchmarks against other agents (the fake ACP agent has the same
                    // command): N chunks `"1 "`, `"2 "`, … with no pause.
                    let message = events.start_message();
                    let block = events.start_block(&message, BlockType::Text, None);
                    for k in 1..=n {
                        events.delta(&message, &block, &format!("{k} "));
                    }
                    events.end_block(&message, &block, None);
                    events.end_message(&message);
                    Ok(TurnOutcome::default())
                }
                Command::Plan => {
                    // Three entries, each going in_progress then completed: one plan event per
                    // change (PROTOCOL.md §9), `slow_interval` apart like `/slow`.
                    let names = [
                        ("Read the code", "high"),
                        ("Write the fix", "medium"),
                        ("Run the tests", "low"),
                    ];
                    let mut statuses = ["pending"; 3];
                    for step in 0..names.len() * 2 {
                        statuses[step / 2] = if step % 2 == 0 {
                            "in_progress"
                        } else {
                            "completed"
                        };
                        let entries: Vec<_> = names
                            .iter()
                            .zip(statuses)
                            .map(|((content, priority), status)| {
                                json!({"content": content, "priority": priority, "status": status})
                            })
                            .collect();
                        events.emit(EventKind::Plan(Plan {
                            entries: json!(entries).into(),
                        }));
                        tokio::time::sleep(this.delay).await;
                    }
                    stream(&events, "echo: /plan", ECHO_CHUNKS, this.delay).await;
                    Ok(TurnOutcome::default())
                }
                Command::Perm(text) => {
                    Ok(edit_with_permission(&events, &*turn.permissions, text).await)
                }
                Command::Slow(n, text) => {
                    stream(&events, &format!("echo: {text}"), n, this.slow_interval).await;
                    Ok(TurnOutcome::default())
                }
                Command::Echo(text) => {
                    stream(&events, &format!("echo: {text}"), ECHO_CHUNKS, this.delay).await;
                    Ok(TurnOutcome::default())
                }
            }
        })
    }
}

/// `/perm T`: the edit of `notes.txt` that waits for the user's permission.
async fn edit_with_permission(
    events: &EventSink,
    permissions: &dyn AskPermission,
    text: &str,
) -> TurnOutcome {
    const PATH: &str = "notes.txt";
    let diff = json!([{"type": "diff", "path": PATH, "oldText": "", "newText": text}]);
    let message = events.start_message();
    let tool = events.start_block(&message, BlockType::ToolUse, Some("edit"));
    events.end_block(&message, &tool, Some(json!({"path": PATH, "text": text})));
    let update = |status: &str| {
        events.emit(EventKind::ToolUpdate(ToolUpdate {
            message_id: message.clone(),
            tool_id: tool.clone(),
            status: Some(status.to_owned()),
            title: Some(format!("Edit {PATH}")),
            kind: Some("edit".to_owned()),
            content: Some(diff.clone().into()),
            locations: Some(json!([{ "path": PATH }]).into()),
        }));
    };
    update("pending");
    let choice = |option_id: &str, name: &str, kind: &str| Choice {
        option_id: option_id.to_owned(),
        name: name.to_owned(),
        kind: kind.to_owned(),
    };
    let answer = permissions
        .ask(Ask {
            tool_id: Some(tool.clone()),
            title: format!("Edit {PATH}"),
            options: vec![
                choice("allow", "Allow", "allow_once"),
                choice("reject", "Reject", "reject_once"),
            ],
            content: Some(diff.clone()),
        })
        .await;
    let (status, reply) = match answer.as_deref() {
        Some("allow") => ("completed", Some(format!("echo: {text}"))),
        Some(_) => ("failed", Some("denied".to_owned())),
        None => ("failed", None),
    };
    update(status);
    events.emit(EventKind::ToolResult(ToolResult {
        message_id: message.clone(),
        tool_id: tool.clone(),
        result: json!({ "path": PATH, "written": status == "completed" }).into(),
        is_error: status == "failed",
    }));
    if let Some(reply) = &reply {
        text_block(events, &message, reply, ECHO_CHUNKS, Duration::ZERO).await;
    }
    events.end_message(&message);
    TurnOutcome {
        interrupted: reply.is_none(),
        stop_reason: None,
    }
}

/// One assistant message with one text block, streamed in chunks `pause` apart.
async fn stream(events: &EventSink, text: &str, chunks: usize, pause: Duration) {
    let message = events.start_message();
    text_block(events, &message, text, chunks, pause).await;
    events.end_message(&message);
}

/// One text block of `message`, streamed in chunks `pause` apart.
async fn text_block(events: &EventSink, message: &str, text: &str, chunks: usize, pause: Duration) {
    let block = events.start_block(message, BlockType::Text, None);
    for (i, chunk) in split_chunks(text, chunks).iter().enumerate() {
        if i > 0 && !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        events.delta(message, &block, chunk);
    }
    events.end_block(message, &block, None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_non_empty_and_join_back() {
        for (text, n) in [
            ("echo: hello world", 4),
            ("echo: é", 10),
            ("ab", 5),
            ("abcdef", 3),
        ] {
            let chunks = split_chunks(text, n);
            assert_eq!(chunks.concat(), text);
            assert!(chunks.iter().all(|c| !c.is_empty()));
            assert_eq!(chunks.len(), n.min(text.chars().count()));
        }
    }

    #[test]
    fn prompts_parse() {
        assert_eq!(parse("hi"), Command::Echo("hi"));
        assert_eq!(
            parse("/slow 5 hello there"),
            Command::Slow(5, "hello there")
        );
        assert_eq!(parse("/slow x y"), Command::Echo("/slow x y"));
        assert_eq!(parse("/tool"), Command::Tool(""));
        assert_eq!(parse("/fail"), Command::Fail);
        assert_eq!(parse("/plan"), Command::Plan);
        assert_eq!(parse("/chunks 3"), Command::Chunks(3));
        assert_eq!(parse("/chunks x"), Command::Echo("/chunks x"));
    }
}

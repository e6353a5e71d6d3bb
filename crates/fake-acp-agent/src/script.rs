//! The scripted turns: what each prompt text makes the agent do.

use std::time::Duration;

use serde_json::{json, Value};

use crate::dispatch::INTERNAL_ERROR;
use crate::turn::{End, Turn};

/// The pause between `/slow` chunks.
const SLOW_PAUSE: Duration = Duration::from_millis(100);
/// How many chunks a plain echo is cut into.
const ECHO_CHUNKS: usize = 3;
/// The file `/tool` reads.
pub const TOOL_PATH: &str = "/fake/README.md";
/// The file `/perm` asks to edit.
pub const PERM_PATH: &str = "/fake/notes.txt";

/// Runs the turn for prompt `text` and answers it.
pub fn run(mut turn: Turn, text: &str) {
    let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
    let count = || {
        let (n, t) = rest.split_once(' ').unwrap_or((rest, ""));
        n.parse::<usize>().ok().map(|n| (n, t))
    };
    let end = match (word, count()) {
        ("/slow", Some((n, t))) => slow(&mut turn, n.max(1), t),
        ("/chunks", Some((n, _))) => {
            (1..=n).for_each(|i| turn.message(&format!("{i} ")));
            End::Stop("end_turn")
        }
        ("/tool", _) => tool(&mut turn),
        ("/thought", _) => {
            turn.thought("Thinking ");
            turn.thought("it over.");
            echo(&mut turn, rest, 1)
        }
        ("/plan", _) => plan(&mut turn),
        ("/perm", _) => crate::perm::run(&mut turn, rest),
        ("/wait", _) => {
            turn.wait_cancel();
            End::Stop("cancelled")
        }
        ("/late", _) => {
            turn.wait_cancel();
            turn.cancelled_then(&["late 1", "late 2"]);
            return;
        }
        ("/crash", _) => {
            turn.message("crashing");
            eprintln!("fake-acp-agent: /crash: exiting with status 3");
            std::process::exit(3);
        }
        ("/garbage", _) => {
            turn.raw_line("this line is not JSON {");
            echo(&mut turn, rest, ECHO_CHUNKS)
        }
        ("/error", _) => End::Error(INTERNAL_ERROR, "scripted error"),
        ("/maxtokens", _) => {
            echo(&mut turn, rest, 1);
            End::Stop("max_tokens")
        }
        ("/refusal", _) => {
            echo(&mut turn, rest, 1);
            End::Stop("refusal")
        }
        _ => echo(&mut turn, text, ECHO_CHUNKS),
    };
    turn.finish(end);
}

/// Sends `echo: text` as `chunks` pieces and ends the turn.
pub fn echo(turn: &mut Turn, text: &str, chunks: usize) -> End<'static> {
    for piece in split(&format!("echo: {text}"), chunks) {
        turn.message(&piece);
    }
    End::Stop("end_turn")
}

fn slow(turn: &mut Turn, chunks: usize, text: &str) -> End<'static> {
    for (i, piece) in split(&format!("echo: {text}"), chunks).iter().enumerate() {
        let pause = if i == 0 { Duration::ZERO } else { SLOW_PAUSE };
        if turn.pause(pause) {
            return End::Stop("cancelled");
        }
        turn.message(piece);
    }
    End::Stop("end_turn")
}

fn tool(turn: &mut Turn) -> End<'static> {
    let call = format!("call-{}", turn.number);
    turn.update(json!({
        "sessionUpdate": "tool_call",
        "toolCallId": call,
        "title": format!("Read {TOOL_PATH}"),
        "kind": "read",
        "status": "pending",
        "rawInput": {"path": TOOL_PATH},
        "locations": [{"path": TOOL_PATH, "line": 1}],
    }));
    turn.update(
        json!({"sessionUpdate": "tool_call_update", "toolCallId": call, "status": "in_progress"}),
    );
    turn.update(json!({
        "sessionUpdate": "tool_call_update",
        "toolCallId": call,
        "status": "completed",
        "content": [{"type": "content", "content": {"type": "text", "text": "# fake README"}}],
        "rawOutput": {"text": "# fake README"},
    }));
    turn.message("read it");
    End::Stop("end_turn")
}

fn plan(turn: &mut Turn) -> End<'static> {
    let steps = [
        ["pending", "pending", "pending"],
        ["completed", "in_progress", "pending"],
        ["completed", "completed", "completed"],
    ];
    for statuses in steps {
        let entries: Vec<Value> = PLAN
            .iter()
            .zip(statuses)
            .map(|((content, priority), status)| {
                json!({"content": content, "priority": priority, "status": status})
            })
            .collect();
        turn.update(json!({"sessionUpdate": "plan", "entries": entries}));
    }
    turn.message("planned");
    End::Stop("end_turn")
}

/// `/plan`'s entries: content and priority.
const PLAN: [(&str, &str); 3] = [
    ("Read the code", "high"),
    ("Write the fix", "medium"),
    ("Run the tests", "low"),
];

/// Cuts `text` into `n` non-empty pieces of near-equal length in chars (the first ones one char
/// longer), or one piece per char if it has fewer than `n`.
pub fn split(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = n.clamp(1, chars.len().max(1));
    let (base, extra) = (chars.len() / n, chars.len() % n);
    let mut pieces = Vec::with_capacity(n);
    let mut start = 0;
    for i in 0..n {
        let len = base + usize::from(i < extra);
        pieces.push(chars[start..start + len].iter().collect());
        start += len;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_cuts_near_equal_non_empty_pieces() {
        assert_eq!(split("echo: hi", 3), ["ech", "o: ", "hi"]);
        assert_eq!(split("ab", 5), ["a", "b"]);
        assert_eq!(split("abc", 1), ["abc"]);
        assert_eq!(split("éàü", 2), ["éà", "ü"]);
    }
}

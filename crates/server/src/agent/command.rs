//! The `command` agent: runs a real program for every turn (`sh -c CMD`), the prompt on stdin
//! and the session id in `SESSIONWIRE_SESSION_ID`. Its stdout is streamed as `block_delta`s as it
//! arrives, its stderr is logged, and a non-zero exit ends the turn with `error`.
//!
//! The program runs in its own process group, so an interrupt or a stop kills it *and* its
//! children: dropping the turn drops a [`GroupKill`] guard that signals the whole group.

use super::{Agent, Turn, TurnFuture, TurnOutcome};
use nix::{sys::signal::Signal, unistd::Pid};
use sessionwire_core::protocol::BlockType;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// The command agent.
#[derive(Debug, Clone)]
pub struct CommandAgent {
    command: String,
}

impl CommandAgent {
    /// An agent running `command` through `sh -c`.
    pub fn new(command: String) -> Self {
        Self { command }
    }
}

/// Kills a process group when dropped, unless disarmed (the turn ended normally and the group
/// leader was reaped).
#[derive(Debug)]
pub(super) struct GroupKill {
    pub(super) pgid: Option<i32>,
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            // ESRCH (already gone) is fine.
            let _ = nix::sys::signal::killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
}

/// Turns a byte stream into UTF-8 text without splitting a character across two deltas.
#[derive(Debug, Default)]
struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            // An incomplete character at the end waits for the next read; invalid bytes in the
            // middle become U+FFFD.
            Err(error) if error.error_len().is_none() => error.valid_up_to(),
            Err(_) => self.pending.len(),
        };
        let rest = self.pending.split_off(valid);
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending = rest;
        text
    }

    fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }
}

impl Agent for CommandAgent {
    fn run_turn(&self, turn: Turn) -> TurnFuture {
        let command = self.command.clone();
        Box::pin(async move {
            let mut child = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(&command)
                .env("SESSIONWIRE_SESSION_ID", &turn.session_id)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0)
                .kill_on_drop(true)
                .spawn()
                .map_err(|error| format!("cannot start the agent command: {error}"))?;
            let mut guard = GroupKill {
                pgid: child.id().and_then(|pid| i32::try_from(pid).ok()),
            };

            // Feed the prompt from its own task so a program that writes before reading all of
            // stdin cannot deadlock against us.
            if let Some(mut stdin) = child.stdin.take() {
                let prompt = turn.prompt.clone();
                tokio::spawn(async move {
                    let _ = stdin.write_all(prompt.as_bytes()).await;
                    let _ = stdin.shutdown().await;
                });
            }
            if let Some(stderr) = child.stderr.take() {
                let session = turn.session_id.clone();
                tokio::spawn(async move {
                    let mut lines = BufReader::new(stderr).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        tracing::info!(session = %session, "agent stderr: {line}");
                    }
                });
            }

            let events = turn.events;
            let mut block: Option<(String, String)> = None;
            if let Some(mut stdout) = child.stdout.take() {
                let mut decoder = Utf8Stream::default();
                let mut buffer = vec![0u8; 8192];
                loop {
                    let read = stdout
                        .read(&mut buffer)
                        .await
                        .map_err(|error| format!("reading the agent's output: {error}"))?;
                    let text = if read == 0 {
                        decoder.finish()
                    } else {
                        decoder.push(&buffer[..read])
                    };
                    if !text.is_empty() {
                        let (message, block_id) = block.get_or_insert_with(|| {
                            let message = events.start_message();
                            let block_id = events.start_block(&message, BlockType::Text, None);
                            (message, block_id)
                        });
                        events.delta(message, block_id, &text);
                    }
                    if read == 0 {
                        break;
                    }
                }
            }
            if let Some((message, block_id)) = &block {
                events.end_block(message, block_id, None);
                events.end_message(message);
            }
            let status = child
                .wait()
                .await
                .map_err(|error| format!("waiting for the agent: {error}"))?;
            // Reaped: the group id may be reused from now on, so do not signal it any more.
            guard.pgid = None;
            if status.success() {
                Ok(TurnOutcome::default())
            } else {
                Err(format!("agent command failed: {status}").into())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Utf8Stream;

    #[test]
    fn utf8_is_never_split() {
        let mut stream = Utf8Stream::default();
        let bytes = "é!".as_bytes();
        assert_eq!(stream.push(&bytes[..1]), "");
        assert_eq!(stream.push(&bytes[1..]), "é!");
        assert_eq!(stream.finish(), "");
    }
}

//! One ACP agent process and the JSON-RPC 2.0 connection to it (one JSON object per line over
//! its stdin/stdout). A small loop of our own rather than the `agent-client-protocol` crate: the
//! server needs a handful of methods, must survive an agent that writes garbage or dies
//! mid-request, and the crate's majors change often (ARCHITECTURE.md says more).
//!
//! Invariants: every request gets an answer (the agent's, or an error when it exits or a
//! deadline passes), so nothing waits forever; no lock is held across an await; dropping the
//! [`Process`] kills the agent's whole process group.

use super::super::command::GroupKill;
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    path::Path,
    process::Stdio,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    sync::{mpsc, oneshot, watch},
};

/// A JSON-RPC answer: the result, or the error's message (with its code).
pub(super) type Answer = Result<Value, String>;

/// What the agent sends the prompt in progress, in the order it sent it.
#[derive(Debug)]
pub(super) enum Incoming {
    /// A `session/update`'s `update`.
    Update(Value),
    /// A `session/request_permission`: its JSON-RPC id (answered with
    /// [`Process::answer_permission`]) and its params.
    Permission { id: Value, params: Value },
}

/// Where what the agent sends the prompt in progress goes. Bounded: when the turn cannot keep
/// up, the reader waits, and so the agent's writes to its stdout wait.
pub(super) type Updates = mpsc::Sender<Incoming>;

/// The updates a prompt may have waiting before the agent is held back.
pub(super) const UPDATES_BOUND: usize = 1024;

#[derive(Default)]
struct Shared {
    pending: HashMap<u64, oneshot::Sender<Answer>>,
    /// The prompt in progress: its agent session id and where its updates go.
    updates: Option<(String, Updates)>,
    /// The JSON-RPC ids of the agent's permission requests not answered yet: a cancel answers
    /// them all `cancelled`, as ACP requires.
    asked: Vec<Value>,
}

/// A running agent process.
pub(super) struct Process {
    writer: mpsc::UnboundedSender<String>,
    shared: Arc<Mutex<Shared>>,
    next_id: AtomicU64,
    /// `Some(why)` once the process is gone (its stdout closed or it exited).
    exited: watch::Receiver<Option<String>>,
    group: GroupKill,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process").finish_non_exhaustive()
    }
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    // A panic while holding it leaves plain data behind, still usable.
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Process {
    /// Starts `sh -c command` in `cwd`, in its own process group; its stderr goes to the log.
    pub(super) fn spawn(command: &str, cwd: &Path, session: &str) -> Result<Self, String> {
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(cwd)
            .env("SESSIONWIRE_SESSION_ID", session)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("cannot start the ACP agent ({command}): {error}"))?;
        let kill = GroupKill {
            pgid: child.id().and_then(|pid| i32::try_from(pid).ok()),
        };
        let (stdin, stdout, stderr) =
            match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
                (Some(stdin), Some(stdout), Some(stderr)) => (stdin, stdout, stderr),
                _ => return Err("the ACP agent's pipes could not be opened".to_owned()),
            };
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (exited_tx, exited) = watch::channel(None);
        let exited_tx = Arc::new(exited_tx);

        let (writer, mut lines) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            let mut stdin = stdin;
            while let Some(mut line) = lines.recv().await {
                line.push('\n');
                if stdin.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
            }
        });

        let session_log = session.to_owned();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(session = %session_log, "acp agent stderr: {line}");
            }
        });

        // The reader: answers, updates, and the agent's own requests, in the order they come.
        {
            let shared = shared.clone();
            let writer = writer.clone();
            let exited_tx = exited_tx.clone();
            let session = session.to_owned();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stdout);
                let mut line = String::new();
                // Answers read but not handed over yet (see below).
                let mut answers = Vec::new();
                loop {
                    line.clear();
                    match reader.read_line(&mut line).await {
                        Ok(0) => break,
                        Ok(_) => {
                            let text = line.trim_end_matches(['\n', '\r']);
                            // Sent outside the lock: a full channel waits for the turn.
                            if let Some((updates, update)) =
                                handle_line(&shared, &writer, &session, text, &mut answers)
                            {
                                let _ = updates.send(update).await;
                            }
                            // An answer is handed over once the lines that came with it are
                            // handled: updates an agent wrote after answering a cancelled
                            // prompt are dropped before the next prompt can claim them.
                            if !reader.buffer().contains(&b'\n') {
                                hand_over(&mut answers);
                            }
                        }
                        Err(error) => {
                            tracing::warn!(session = %session, %error, "acp agent: unreadable output");
                            break;
                        }
                    }
                }
                hand_over(&mut answers);
                // Its exit status, when it exits right after, says more than "closed its output".
                let mut status = exited_tx.subscribe();
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), status.wait_for(Option::is_some))
                        .await;
                exited_tx.send_if_modified(|slot| {
                    slot.get_or_insert_with(|| "the agent closed its output".to_owned());
                    true
                });
                let why = exited_tx.borrow().clone().unwrap_or_default();
                let pending = std::mem::take(&mut lock(&shared).pending);
                for (_, answer) in pending {
                    let _ = answer.send(Err(why.clone()));
                }
            });
        }
        tokio::spawn(async move {
            let status = child.wait().await;
            let why = match status {
                Ok(status) => format!("the agent exited ({status})"),
                Err(error) => format!("the agent is gone: {error}"),
            };
            exited_tx.send_modify(|slot| *slot = Some(why));
        });

        Ok(Self {
            writer,
            shared,
            next_id: AtomicU64::new(1),
            exited,
            group: kill,
        })
    }

    /// Kills the agent's process group now (it ignored a cancel).
    pub(super) fn kill(&self) {
        if let Some(pgid) = self.group.pgid {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }

    /// Why the process is gone, if it is.
    pub(super) fn exited(&self) -> Option<String> {
        self.exited.borrow().clone()
    }

    /// Sends a request; the receiver gets its answer (or an error if the agent exits first).
    pub(super) fn send_request(&self, method: &str, params: Value) -> oneshot::Receiver<Answer> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Some(why) = self.exited() {
            let _ = tx.send(Err(why));
            return rx;
        }
        lock(&self.shared).pending.insert(id, tx);
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let _ = self.writer.send(line.to_string());
        rx
    }

    /// A request answered within `deadline`.
    pub(super) async fn request(&self, method: &str, params: Value, deadline: Duration) -> Answer {
        let answer = self.send_request(method, params);
        match tokio::time::timeout(deadline, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(self
                .exited()
                .unwrap_or_else(|| "the agent exited".to_owned())),
            Err(_) => Err(format!(
                "the agent did not answer {method} within {} s",
                deadline.as_secs()
            )),
        }
    }

    /// Sends a notification.
    pub(super) fn notify(&self, method: &str, params: Value) {
        let line = json!({"jsonrpc": "2.0", "method": method, "params": params});
        let _ = self.writer.send(line.to_string());
    }

    /// Routes the updates of `agent_session` to `updates` (`None`: drop them from now on, as
    /// after a cancel, and answer every permission request still open `cancelled`).
    pub(super) fn route_updates(&self, route: Option<(String, Updates)>) {
        let asked = {
            let mut shared = lock(&self.shared);
            shared.updates = route;
            if shared.updates.is_some() {
                return;
            }
            std::mem::take(&mut shared.asked)
        };
        for id in asked {
            self.write_permission_answer(&id, None);
        }
    }

    /// Answers a permission request of the agent: the option chosen, or `None` for cancelled.
    /// A request already answered (by a cancel) is not answered twice.
    pub(super) fn answer_permission(&self, id: &Value, option_id: Option<&str>) {
        let open = {
            let mut shared = lock(&self.shared);
            let at = shared.asked.iter().position(|asked| asked == id);
            at.map(|at| shared.asked.remove(at)).is_some()
        };
        if open {
            self.write_permission_answer(id, option_id);
        }
    }

    fn write_permission_answer(&self, id: &Value, option_id: Option<&str>) {
        let outcome = match option_id {
            Some(option_id) => json!({"outcome": "selected", "optionId": option_id}),
            None => json!({"outcome": "cancelled"}),
        };
        let line = json!({"jsonrpc": "2.0", "id": id, "result": {"outcome": outcome}});
        let _ = self.writer.send(line.to_string());
    }
}

/// One line of the agent's stdout. An update for the prompt in progress is returned with its
/// channel, for the reader to send without holding the lock.
/// Gives each waiting request its answer.
fn hand_over(answers: &mut Vec<(oneshot::Sender<Answer>, Answer)>) {
    for (waiter, answer) in answers.drain(..) {
        let _ = waiter.send(answer);
    }
}

fn handle_line(
    shared: &Mutex<Shared>,
    writer: &mpsc::UnboundedSender<String>,
    session: &str,
    line: &str,
    answers: &mut Vec<(oneshot::Sender<Answer>, Answer)>,
) -> Option<(Updates, Incoming)> {
    let Ok(mut message) = serde_json::from_str::<Value>(line) else {
        // An agent that prints to stdout what belongs to stderr: the line is logged and skipped.
        tracing::warn!(session = %session, "acp agent wrote a line that is not JSON-RPC: {line}");
        return None;
    };
    let method = message.get("method").and_then(Value::as_str);
    let id = message.get("id").filter(|id| !id.is_null());
    match (method, id) {
        // An answer to one of our requests.
        (None, Some(id)) => {
            let id = id.as_u64()?;
            // Taken, not cloned: the message is ours.
            let result = message.get_mut("result").map(Value::take);
            let answer = match (result, message.get("error")) {
                (_, Some(error)) => Err(format!(
                    "{} (JSON-RPC error {})",
                    error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("no message"),
                    error.get("code").and_then(Value::as_i64).unwrap_or(0)
                )),
                (Some(result), None) => Ok(result),
                (None, None) => Err("an answer with neither result nor error".to_owned()),
            };
            if let Some(waiter) = lock(shared).pending.remove(&id) {
                answers.push((waiter, answer));
            }
        }
        (Some("session/update"), None) => {
            let mut params = message
                .get_mut("params")
                .map(Value::take)
                .unwrap_or(Value::Null);
            let from = params
                .get("sessionId")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let shared = lock(shared);
            match &shared.updates {
                Some((agent_session, updates)) if agent_session == from => {
                    let update = params.get_mut("update").map(Value::take);
                    let update = Incoming::Update(update.unwrap_or(Value::Null));
                    return Some((updates.clone(), update));
                }
                // Updates with no prompt in progress (after a cancel, or a session/load's
                // replay, which sessionwire's own log already holds) are not shown.
                _ => {
                    tracing::debug!(session = %session, "acp agent: update outside a prompt dropped")
                }
            }
        }
        // The agent asks the client something.
        (Some(method), Some(id)) => {
            let answer = if method == "session/request_permission" {
                let id = id.clone();
                let params = message
                    .get_mut("params")
                    .map(Value::take)
                    .unwrap_or(Value::Null);
                let from = params
                    .get("sessionId")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let mut shared = lock(shared);
                if let Some((agent_session, updates)) = &shared.updates {
                    if agent_session == from {
                        // The turn asks the user; the answer (or a cancel) comes later.
                        let updates = updates.clone();
                        shared.asked.push(id.clone());
                        return Some((updates, Incoming::Permission { id, params }));
                    }
                }
                // No prompt in progress to ask for: nobody can answer it.
                tracing::warn!(session = %session, "acp agent asked for permission outside a prompt; answered cancelled");
                json!({"jsonrpc": "2.0", "id": id, "result": {"outcome": {"outcome": "cancelled"}}})
            } else {
                // No `fs` or `terminal` capability was offered: nothing else is answered.
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}})
            };
            let _ = writer.send(answer.to_string());
        }
        (Some(other), None) => {
            tracing::debug!(session = %session, "acp agent notification {other} dropped");
        }
        (None, None) => {
            tracing::warn!(session = %session, "acp agent: a message with no id and no method")
        }
    }
    None
}

//! The `acp` agent (PROTOCOL.md §9.1): real coding agents over the Agent Client Protocol. One
//! agent process per session runtime, started on the runtime's first turn: `initialize`, then
//! the agent's session (`session/resume` of the id stored with the session when the agent offers
//! it, else `session/load`, else `session/new`), then one `session/prompt` per turn.
//!
//! An interrupt drops the turn's future: its [`InFlight`] guard sends `session/cancel` and keeps
//! the session's one prompt slot until the agent answers that prompt, so the next prompt goes out
//! only after the cancelled one is over (a deadline kills an agent that never answers). An agent
//! that exits, hangs at `initialize`, or answers with an error ends the turn with `error`; an exit
//! also ends the runtime (the next message starts a new process, which resumes the session).

mod mapping;
mod rpc;

use super::{Agent, Turn, TurnFailure, TurnFuture, TurnOutcome};
use futures_util::stream::{FuturesUnordered, StreamExt};
use mapping::Mapper;
use rpc::{Incoming, Process};
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// `initialize` must be answered within this long.
const INITIALIZE_DEADLINE: Duration = Duration::from_secs(10);
/// `session/new`, `session/load` and `session/resume` must be answered within this long.
const SESSION_DEADLINE: Duration = Duration::from_secs(30);
/// A cancelled prompt must be answered within this long, else the agent is killed.
const CANCEL_DEADLINE: Duration = Duration::from_secs(10);

/// The ACP agent: the command to run and the sessions it runs.
#[derive(Debug)]
pub struct AcpAgent {
    command: String,
    cwd: PathBuf,
    sessions: Mutex<HashMap<String, Arc<AcpSession>>>,
}

impl AcpAgent {
    pub fn new(command: String, cwd: PathBuf) -> Self {
        Self {
            command,
            cwd,
            sessions: Mutex::default(),
        }
    }

    fn session(&self, id: &str) -> Arc<AcpSession> {
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions
            .entry(id.to_owned())
            .or_insert_with(|| {
                Arc::new(AcpSession {
                    command: self.command.clone(),
                    cwd: self.cwd.clone(),
                    live: Mutex::default(),
                    slot: Arc::new(Semaphore::new(1)),
                })
            })
            .clone()
    }
}

impl Agent for AcpAgent {
    fn run_turn(&self, turn: Turn) -> TurnFuture {
        let session = self.session(&turn.session_id);
        Box::pin(async move { session.prompt(turn).await })
    }

    fn runtime_ended(&self, session_id: &str) {
        // Dropping the session drops its process, which kills the agent's process group.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(session_id);
    }
}

/// A started agent process and the agent's id of the session in it.
#[derive(Debug)]
struct Live {
    process: Arc<Process>,
    agent_session: String,
}

/// One sessionwire session's agent.
#[derive(Debug)]
struct AcpSession {
    command: String,
    cwd: PathBuf,
    /// Set once the process is up; cleared when it is found gone.
    live: Mutex<Option<Arc<Live>>>,
    /// One prompt at a time at the agent, a cancelled one included (see [`InFlight`]).
    slot: Arc<Semaphore>,
}

fn lost(message: String) -> TurnFailure {
    TurnFailure {
        message,
        runtime_lost: true,
    }
}

impl AcpSession {
    fn live(&self) -> Option<Arc<Live>> {
        let mut live = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if live.as_ref().is_some_and(|l| l.process.exited().is_some()) {
            *live = None;
        }
        live.clone()
    }

    /// The running agent, started (and its session opened) if there is none.
    async fn start(&self, turn: &Turn) -> Result<Arc<Live>, TurnFailure> {
        if let Some(live) = self.live() {
            return Ok(live);
        }
        let process =
            Arc::new(Process::spawn(&self.command, &self.cwd, &turn.session_id).map_err(lost)?);
        let init = process
            .request(
                "initialize",
                json!({
                    "protocolVersion": 1,
                    // No `fs`, no `terminal`: the agent works on its own files itself.
                    "clientCapabilities": {"fs": {"readTextFile": false, "writeTextFile": false}, "terminal": false},
                    "clientInfo": {"name": "sessionwire-server", "version": env!("CARGO_PKG_VERSION")},
                }),
                INITIALIZE_DEADLINE,
            )
            .await
            .map_err(|error| lost(format!("the ACP agent did not initialize: {error}")))?;
        let capabilities = init
            .get("agentCapabilities")
            .cloned()
            .unwrap_or(Value::Null);
        let memory = turn.memory.clone();
        let stored = tokio::task::spawn_blocking(move || memory.agent_session())
            .await
            .unwrap_or(None);
        let agent_session = self
            .open(&process, &capabilities, stored.as_deref())
            .await?;
        if stored.as_deref() != Some(agent_session.as_str()) {
            turn.memory.remember(&agent_session);
        }
        let live = Arc::new(Live {
            process,
            agent_session,
        });
        *self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(live.clone());
        Ok(live)
    }

    /// The agent's session: the stored one resumed or loaded when the agent can, else a new one.
    async fn open(
        &self,
        process: &Process,
        capabilities: &Value,
        stored: Option<&str>,
    ) -> Result<String, TurnFailure> {
        let cwd = self.cwd.to_string_lossy().into_owned();
        if let Some(id) = stored {
            let params = json!({"sessionId": id, "cwd": cwd, "mcpServers": []});
            let resume = capabilities
                .pointer("/sessionCapabilities/resume")
                .is_some_and(|v| !v.is_null());
            let load = capabilities.get("loadSession").and_then(Value::as_bool) == Some(true);
            // session/load replays the history as updates; no prompt is in progress, so the
            // replay is dropped: sessionwire's own log already holds it.
            for (offered, method) in [(resume, "session/resume"), (load, "session/load")] {
                if !offered {
                    continue;
                }
                match process
                    .request(method, params.clone(), SESSION_DEADLINE)
                    .await
                {
                    Ok(_) => return Ok(id.to_owned()),
                    Err(error) => {
                        tracing::warn!(agent_session = %id, %error, "{method} failed; trying the next way")
                    }
                }
            }
        }
        let created = process
            .request(
                "session/new",
                json!({"cwd": cwd, "mcpServers": []}),
                SESSION_DEADLINE,
            )
            .await
            .map_err(|error| lost(format!("the ACP agent did not open a session: {error}")))?;
        created
            .get("sessionId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| lost("the ACP agent's session/new gave no sessionId".to_owned()))
    }

    /// One turn: `session/prompt`, its updates as events, its result as the turn's end.
    async fn prompt(&self, turn: Turn) -> Result<TurnOutcome, TurnFailure> {
        // The slot is free once any cancelled prompt before this one has been answered.
        let permit = tokio::time::timeout(CANCEL_DEADLINE, self.slot.clone().acquire_owned())
            .await
            .map_err(|_| lost("the ACP agent did not finish its cancelled prompt".to_owned()))?
            .map_err(|_| lost("the ACP session is closed".to_owned()))?;
        let live = self.start(&turn).await?;
        let process = live.process.clone();
        let (updates, mut received) = mpsc::channel(rpc::UPDATES_BOUND);
        process.route_updates(Some((live.agent_session.clone(), updates)));
        let answer = process.send_request(
            "session/prompt",
            json!({"sessionId": live.agent_session, "prompt": [{"type": "text", "text": turn.prompt}]}),
        );
        let mut in_flight = InFlight {
            live: live.clone(),
            permit: Some(permit),
            answer: Some(answer),
        };
        let mut mapper = Mapper::new(&turn.events);
        // The agent's permission requests waiting for the user, each with its JSON-RPC id.
        let mut asks = FuturesUnordered::new();
        let mut open = true;
        let result = loop {
            let Some(answer) = in_flight.answer.as_mut() else {
                break Err("the prompt's answer was lost".to_owned());
            };
            tokio::select! {
                biased;
                update = received.recv(), if open => match update {
                    Some(Incoming::Update(update)) => mapper.apply(&update),
                    Some(Incoming::Permission { id, params }) => {
                        let ask = mapper.permission(&params);
                        let asker = turn.permissions.clone();
                        asks.push(Box::pin(async move { (id, asker.ask(ask).await) }));
                    }
                    None => open = false,
                },
                Some((id, choice)) = asks.next(), if !asks.is_empty() => {
                    process.answer_permission(&id, choice.as_deref());
                }
                answer = answer => {
                    in_flight.answer = None;
                    break answer.unwrap_or_else(|_| Err("the agent exited".to_owned()));
                }
            }
        };
        // Updates that came before the answer are the turn's too.
        while let Ok(incoming) = received.try_recv() {
            if let Incoming::Update(update) = incoming {
                mapper.apply(&update);
            }
        }
        // Requests still open when the prompt is over are answered cancelled (their events are
        // resolved by the runtime as the turn ends).
        process.route_updates(None);
        in_flight.permit.take();
        mapper.finish();
        match result {
            Ok(result) => {
                let stop = result
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                Ok(TurnOutcome {
                    interrupted: stop.as_deref() == Some("cancelled"),
                    stop_reason: stop.filter(|stop| stop != "cancelled"),
                })
            }
            Err(error) => match process.exited() {
                Some(why) => Err(lost(format!("{why} during the turn"))),
                None => Err(format!("the agent answered the prompt with an error: {error}").into()),
            },
        }
    }
}

/// A prompt sent to the agent. Dropped before its answer (the turn was interrupted or stopped):
/// `session/cancel` goes out, later updates are dropped, and the prompt slot stays taken until the
/// agent answers (or is killed after [`CANCEL_DEADLINE`]).
struct InFlight {
    live: Arc<Live>,
    permit: Option<OwnedSemaphorePermit>,
    answer: Option<tokio::sync::oneshot::Receiver<rpc::Answer>>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let Some(answer) = self.answer.take() else {
            return;
        };
        let live = self.live.clone();
        live.process.route_updates(None);
        live.process
            .notify("session/cancel", json!({"sessionId": live.agent_session}));
        let permit = self.permit.take();
        tokio::spawn(async move {
            if tokio::time::timeout(CANCEL_DEADLINE, answer).await.is_err() {
                tracing::warn!(agent_session = %live.agent_session, "the ACP agent ignored session/cancel; killing it");
                // Killing it: the process's group goes with the last reference, and the next
                // prompt finds it gone and starts another.
                live.process.kill();
            }
            drop(permit);
        });
    }
}

//! A minimal protocol client: JSON frames over a WebSocket, every server frame checked by the
//! core's parser, and the bookkeeping a real client does (last seq per session, an outbox of
//! unacknowledged sends).

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sessionwire_core::protocol::parse_server_frame;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One connection with its client-side memory, which outlives the socket (like a browser tab).
#[derive(Debug)]
pub struct Client {
    socket: Option<Socket>,
    pub name: String,
    /// The highest seq applied per session, dense from 1.
    pub last_seq: BTreeMap<String, u64>,
    /// Sends not acknowledged yet: clientMsgId -> (sessionId or None, text).
    pub outbox: BTreeMap<String, (Option<String>, String)>,
    pub acked: BTreeSet<String>,
    /// Error frames received (a healthy run has none).
    pub errors: Vec<Value>,
    /// Replies seen per user message: `echo: T` texts completed, by the text.
    pub events: u64,
    next_id: u64,
}

impl Client {
    pub fn new(name: &str) -> Self {
        Self {
            socket: None,
            name: name.to_owned(),
            last_seq: BTreeMap::new(),
            outbox: BTreeMap::new(),
            acked: BTreeSet::new(),
            errors: Vec::new(),
            events: 0,
            next_id: 0,
        }
    }

    /// Opens the socket and says hello; returns the welcome frame.
    pub async fn connect(&mut self, address: &str) -> Result<Value> {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/ws"))
            .await
            .context("connect")?;
        self.socket = Some(socket);
        self.send_frame(json!({"type": "hello", "protocol": 1}))
            .await?;
        self.next_until(|f| f["type"] == "welcome").await
    }

    pub fn disconnect(&mut self) {
        self.socket = None;
    }

    pub async fn send_frame(&mut self, frame: Value) -> Result<()> {
        let socket = self
            .socket
            .as_mut()
            .ok_or_else(|| anyhow!("not connected"))?;
        socket
            .send(Message::text(frame.to_string()))
            .await
            .context("send")?;
        Ok(())
    }

    /// The next server frame, parsed and checked. Events are checked for density and counted.
    pub async fn next_frame(&mut self) -> Result<Value> {
        let socket = self
            .socket
            .as_mut()
            .ok_or_else(|| anyhow!("not connected"))?;
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
                .await
                .context("no frame from the server in 30 s")?
                .ok_or_else(|| anyhow!("the server closed the connection"))??;
            let Message::Text(text) = message else {
                continue;
            };
            parse_server_frame(&text)
                .map_err(|e| anyhow!("the server sent a frame the core refuses ({e}): {text}"))?;
            let frame: Value = serde_json::from_str(&text)?;
            self.observe(&frame)?;
            return Ok(frame);
        }
    }

    /// Reads frames until one satisfies `done`; returns it.
    pub async fn next_until(&mut self, mut done: impl FnMut(&Value) -> bool) -> Result<Value> {
        loop {
            let frame = self.next_frame().await?;
            if done(&frame) {
                return Ok(frame);
            }
        }
    }

    fn observe(&mut self, frame: &Value) -> Result<()> {
        match frame["type"].as_str().unwrap_or_default() {
            "error" => self.errors.push(frame.clone()),
            "ack" => {
                let id = frame["clientMsgId"].as_str().unwrap_or_default().to_owned();
                self.outbox.remove(&id);
                self.acked.insert(id);
            }
            _ => {}
        }
        if let (Some(session), Some(seq)) = (frame["sessionId"].as_str(), frame["seq"].as_u64()) {
            if frame["type"] == "ack" {
                return Ok(());
            }
            let held = self.last_seq.entry(session.to_owned()).or_insert(0);
            if seq <= *held {
                return Ok(()); // A duplicate across a replay: dropped, like the store does.
            }
            if seq != *held + 1 {
                bail!("{}: gap in {session}: held {held}, got {seq}", self.name);
            }
            *held = seq;
            self.events += 1;
        }
        Ok(())
    }

    pub fn fresh_id(&mut self) -> String {
        self.next_id += 1;
        format!("{}-{}", self.name, self.next_id)
    }

    /// Sends a message (into the outbox until acked); returns its clientMsgId.
    pub async fn send_text(&mut self, session_id: Option<&str>, text: &str) -> Result<String> {
        let id = self.fresh_id();
        self.outbox
            .insert(id.clone(), (session_id.map(str::to_owned), text.to_owned()));
        self.send_frame(
            json!({"type": "send", "sessionId": session_id, "clientMsgId": id, "text": text}),
        )
        .await?;
        Ok(id)
    }

    /// After a reconnect: re-watch and replay every session held, then resend the outbox with
    /// the same ids. Returns the `reconnected` frame.
    pub async fn resync(&mut self) -> Result<Value> {
        let sessions: Vec<Value> = self
            .last_seq
            .iter()
            .map(|(id, seq)| json!({"sessionId": id, "lastSeq": seq}))
            .collect();
        self.send_frame(json!({"type": "reconnect", "sessions": sessions}))
            .await?;
        let reconnected = self.next_until(|f| f["type"] == "reconnected").await?;
        let pending: Vec<(String, (Option<String>, String))> =
            self.outbox.clone().into_iter().collect();
        for (id, (session_id, text)) in pending {
            self.send_frame(
                json!({"type": "send", "sessionId": session_id, "clientMsgId": id, "text": text}),
            )
            .await?;
        }
        Ok(reconnected)
    }

    /// Reads until a turn ends whose streamed text ends with the echo agent's answer to `text`.
    pub async fn wait_for_echo(&mut self, text: &str) -> Result<()> {
        let reply = format!("echo: {text}");
        let mut streamed = String::new();
        self.next_until(|f| {
            if f["type"] == "block_delta" {
                streamed.push_str(f["delta"].as_str().unwrap_or_default());
            }
            f["type"] == "turn_end" && streamed.ends_with(&reply)
        })
        .await?;
        Ok(())
    }

    /// Asks for a session's whole history and returns its events.
    pub async fn full_history(&mut self, session_id: &str) -> Result<Vec<Value>> {
        self.send_frame(json!({"type": "switch_session", "sessionId": session_id, "lastSeq": 0}))
            .await?;
        let switched = self.next_until(|f| f["type"] == "session_switched").await?;
        let total = switched["lastSeq"].as_u64().unwrap_or(0);
        // The replay comes first, in order; live events of a running turn may follow it.
        let mut events = BTreeMap::new();
        while (events.len() as u64) < total {
            let frame = self.next_frame().await?;
            let seq = frame["seq"].as_u64().unwrap_or(0);
            if frame["sessionId"] == session_id
                && frame["type"] != "ack"
                && (1..=total).contains(&seq)
            {
                events.insert(seq, frame);
            }
        }
        Ok(events.into_values().collect())
    }
}

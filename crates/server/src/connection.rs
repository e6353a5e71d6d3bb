//! One WebSocket connection: `hello` first, then frames in, replies and events out.
//!
//! The connection task is the only writer of its socket. It reads client frames and its live
//! event queue in one loop; while a frame is being handled, live events wait in the queue, so a
//! handler's replies (and replays) go out first. On the way out it enforces the per-connection
//! ordering rules:
//!
//! - a live event whose seq this connection already sent (for instance in a replay) is dropped,
//!   so a replay and the live stream join with no gap and no duplicate;
//! - an `ack` waits for the `user_message` it names and goes out right after it, before any
//!   later event of that session.

use crate::{
    auth::authenticate,
    clock::new_id,
    hub::Hub,
    rate_limit::TokenBucket,
    registry::ConnHandle,
    routing::{self, error_reply, ConnCtx, Out},
    store::StoredEvent,
};
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use futures_util::{stream::SplitSink, SinkExt, StreamExt};
use sessionwire_core::{
    protocol::{encode, parse_client_frame, Ack, ServerInfo, Welcome},
    ClientFrame, ErrorCode, Reply, PROTOCOL_VERSION,
};
use std::{
    collections::{HashMap, HashSet},
    ops::ControlFlow,
    sync::{atomic::Ordering, Arc},
};

/// Live events a connection may have queued before it is considered too slow and closed.
const EVENT_QUEUE: usize = 65_536;

/// A socket write failed: the peer is gone.
#[derive(Debug)]
struct Gone;

struct Connection {
    hub: Arc<Hub>,
    sink: SplitSink<WebSocket, Message>,
    handle: ConnHandle,
    /// Set once `hello` was accepted.
    ctx: Option<ConnCtx>,
    /// Per session, the highest seq sent on this connection.
    sent: HashMap<Arc<str>, u64>,
    /// Acks waiting for their `user_message`: (session, seq) → ack.
    pending_acks: HashMap<(Arc<str>, u64), Ack>,
    bucket: TokenBucket,
}

/// Serves one upgraded WebSocket until it closes or the server shuts down.
pub async fn serve(hub: Arc<Hub>, socket: WebSocket) {
    let id = hub.next_connection.fetch_add(1, Ordering::Relaxed) + 1;
    let (handle, mut events, overflowed) = ConnHandle::new(id, EVENT_QUEUE);
    let (sink, mut stream) = socket.split();
    let mut shutdown = hub.shutdown_signal();
    let mut conn = Connection {
        bucket: TokenBucket::new(hub.config.rate_limit),
        hub,
        sink,
        handle,
        ctx: None,
        sent: HashMap::new(),
        pending_acks: HashMap::new(),
    };
    tracing::debug!(connection = id, "connection opened");
    loop {
        let step = tokio::select! {
            () = async { let _ = shutdown.wait_for(|down| *down).await; } => {
                conn.close(close_code::AWAY, "server shutting down").await;
                ControlFlow::Break(())
            }
            () = overflowed.1.notified() => {
                conn.close(close_code::AGAIN, "too slow to receive events; reconnect").await;
                ControlFlow::Break(())
            }
            message = stream.next() => match message {
                Some(Ok(message)) => conn.on_message(message).await,
                _ => ControlFlow::Break(()),
            },
            Some(event) = events.recv() => match conn.send_event(event, false).await {
                Ok(()) => ControlFlow::Continue(()),
                Err(Gone) => ControlFlow::Break(()),
            },
        };
        if step.is_break() {
            break;
        }
        // Frames are fed without flushing; they go out together once no event is waiting, so
        // a streamed turn costs one write per burst instead of one per event. (Past the write
        // buffer's size tungstenite writes anyway, so a busy stream never waits long.)
        if events.is_empty() && conn.sink.flush().await.is_err() {
            break;
        }
    }
    // Leaving in any way unwatches everything (the last watcher leaving detaches a session).
    if let Some(ctx) = conn.ctx.take() {
        for session in &ctx.watched {
            conn.hub.unwatch(session, ctx.id);
        }
    }
    tracing::debug!(connection = id, "connection closed");
}

/// `ref` and `sessionId` for the error answering a frame that could not be fully parsed.
fn frame_ref(text: &str) -> (Option<String>, Option<String>) {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) else {
        return (None, None);
    };
    let string = |key: &str| map.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    (
        string("clientMsgId").or_else(|| string("type")),
        string("sessionId"),
    )
}

impl Connection {
    async fn write(&mut self, text: String) -> Result<(), Gone> {
        self.sink
            .feed(Message::Text(text.into()))
            .await
            .map_err(|_| Gone)
    }

    async fn reply(&mut self, reply: &Reply) -> Result<(), Gone> {
        self.write(encode(reply)).await
    }

    async fn error(
        &mut self,
        code: ErrorCode,
        message: String,
        session_id: Option<String>,
        reference: Option<String>,
    ) -> Result<(), Gone> {
        self.reply(&error_reply(code, message, session_id, reference))
            .await
    }

    async fn close(&mut self, code: u16, reason: &'static str) {
        let _ = self
            .sink
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })))
            .await;
    }

    async fn on_message(&mut self, message: Message) -> ControlFlow<()> {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                let sent = self
                    .error(
                        ErrorCode::BadFrame,
                        "binary frames are not accepted".into(),
                        None,
                        None,
                    )
                    .await;
                return if sent.is_ok() {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(())
                };
            }
            Message::Close(_) => return ControlFlow::Break(()),
            // Protocol-level pings are answered by the WebSocket layer.
            Message::Ping(_) | Message::Pong(_) => return ControlFlow::Continue(()),
        };
        match self.on_text(text.as_str()).await {
            Ok(flow) => flow,
            Err(Gone) => ControlFlow::Break(()),
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<ControlFlow<()>, Gone> {
        let limit = self.hub.config.max_frame_bytes;
        if text.len() > limit {
            let (reference, session_id) = (None, None);
            self.error(
                ErrorCode::FrameTooLarge,
                format!(
                    "frame of {} bytes is over the limit of {limit} bytes",
                    text.len()
                ),
                session_id,
                reference,
            )
            .await?;
            self.close(close_code::SIZE, "frame too large").await;
            return Ok(ControlFlow::Break(()));
        }
        if !self.bucket.try_take() {
            let (reference, session_id) = frame_ref(text);
            self.error(
                ErrorCode::RateLimited,
                "too many frames; slow down".into(),
                session_id,
                reference,
            )
            .await?;
            return Ok(ControlFlow::Continue(()));
        }
        let frame = match parse_client_frame(text) {
            Ok(frame) => frame,
            Err(error) => {
                let (reference, session_id) = frame_ref(text);
                self.error(
                    error.code(),
                    error.message().to_owned(),
                    session_id,
                    reference,
                )
                .await?;
                return Ok(ControlFlow::Continue(()));
            }
        };
        let Some(ctx) = self.ctx.as_mut() else {
            return self.on_first_frame(frame).await;
        };
        let outs = routing::handle(&self.hub, ctx, frame).await;
        for out in outs {
            self.emit(out).await?;
        }
        Ok(ControlFlow::Continue(()))
    }

    /// Before `hello` only `hello` is accepted.
    async fn on_first_frame(&mut self, frame: ClientFrame) -> Result<ControlFlow<()>, Gone> {
        let ClientFrame::Hello(hello) = frame else {
            let reference = frame
                .client_msg_id()
                .unwrap_or(frame.type_name())
                .to_owned();
            let session_id = frame.session_id().map(str::to_owned);
            self.error(
                ErrorCode::HelloRequired,
                "the first frame must be hello".into(),
                session_id,
                Some(reference),
            )
            .await?;
            return Ok(ControlFlow::Continue(()));
        };
        if hello.protocol != PROTOCOL_VERSION {
            self.error(
                ErrorCode::UnsupportedProtocol,
                format!(
                    "protocol {} is not supported; this server speaks {PROTOCOL_VERSION}",
                    hello.protocol
                ),
                None,
                Some("hello".into()),
            )
            .await?;
            self.close(close_code::PROTOCOL, "unsupported protocol")
                .await;
            return Ok(ControlFlow::Break(()));
        }
        let Some(user) = authenticate(&self.hub.config.tokens, hello.token.as_deref()) else {
            self.error(
                ErrorCode::Unauthorized,
                "a valid token is required".into(),
                None,
                Some("hello".into()),
            )
            .await?;
            self.close(close_code::POLICY, "unauthorized").await;
            return Ok(ControlFlow::Break(()));
        };
        self.ctx = Some(ConnCtx {
            id: self.handle.id,
            user,
            handle: self.handle.clone(),
            current: None,
            watched: HashSet::new(),
        });
        let welcome = Reply::Welcome(Welcome {
            protocol: PROTOCOL_VERSION,
            connection_id: new_id(),
            epoch: self.hub.epoch.clone(),
            server: ServerInfo {
                name: "sessionwire-server".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
        });
        self.reply(&welcome).await?;
        Ok(ControlFlow::Continue(()))
    }

    async fn emit(&mut self, out: Out) -> Result<(), Gone> {
        match out {
            Out::Reply(reply) => self.reply(&reply).await,
            Out::Replay(event) => self.send_event(event, true).await,
            Out::AckAfter { seq, ack } => {
                let session: Arc<str> = Arc::from(ack.session_id.as_str());
                if self.sent.get(&session).is_some_and(|sent| *sent >= seq) {
                    self.reply(&Reply::Ack(ack)).await
                } else {
                    self.pending_acks.insert((session, seq), ack);
                    Ok(())
                }
            }
        }
    }

    /// Sends one event. A live event of a session no longer watched, or with a seq already sent
    /// here, is dropped; a replayed one is always sent (the client asked for it).
    async fn send_event(&mut self, event: StoredEvent, replay: bool) -> Result<(), Gone> {
        if !replay {
            let watching = self
                .ctx
                .as_ref()
                .is_some_and(|ctx| ctx.watched.contains(&*event.session_id));
            let already_sent = self
                .sent
                .get(&event.session_id)
                .is_some_and(|sent| event.seq <= *sent);
            if !watching || already_sent {
                return Ok(());
            }
        }
        self.write(event.text.to_string()).await?;
        let sent = self.sent.entry(event.session_id.clone()).or_insert(0);
        *sent = (*sent).max(event.seq);
        if let Some(ack) = self.pending_acks.remove(&(event.session_id, event.seq)) {
            self.reply(&Reply::Ack(ack)).await?;
        }
        Ok(())
    }
}

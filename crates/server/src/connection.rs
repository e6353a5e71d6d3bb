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
    accept::Peer,
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
    time::Duration,
};
use tokio::time::Instant;

/// Events read from the store per page of a replay: the replay of a long history costs one
/// page of memory at a time, whatever its length.
const REPLAY_PAGE: usize = 256;

/// How long a close frame may take to go out to a peer that may not be reading.
const CLOSE_DEADLINE: Duration = Duration::from_secs(1);

/// Why the connection stops.
#[derive(Debug)]
enum Stop {
    /// A socket write failed: the peer is gone.
    Gone,
    /// Its event queue passed its bound (close 1013: reconnect and replay).
    Overflow,
    /// A write made no progress for the idle timeout (the peer stopped reading).
    Stalled,
    /// The server is shutting down.
    Shutdown,
}

struct Connection {
    hub: Arc<Hub>,
    sink: SplitSink<WebSocket, Message>,
    handle: ConnHandle,
    queue_state: Arc<crate::registry::QueueState>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    peer: Peer,
    /// Set once `hello` was accepted.
    ctx: Option<ConnCtx>,
    /// Per session, the highest seq sent on this connection.
    sent: HashMap<Arc<str>, u64>,
    /// Acks waiting for their `user_message`: (session, seq) → ack.
    pending_acks: HashMap<(Arc<str>, u64), Ack>,
    bucket: TokenBucket,
}

/// Completes once the server is shutting down.
async fn shut_down(signal: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = signal.wait_for(|down| *down).await;
}

/// The close code RFC 6455 asks for when a peer breaks the WebSocket framing.
fn violation_close(error: axum::Error) -> Option<(u16, &'static str)> {
    use tokio_tungstenite::tungstenite::Error;
    match error
        .into_inner()
        .downcast::<Error>()
        .ok()
        .map(|error| *error)
    {
        Some(Error::Utf8(_)) => Some((close_code::INVALID, "invalid UTF-8 in a text frame")),
        Some(Error::Protocol(_)) => Some((close_code::PROTOCOL, "WebSocket protocol violation")),
        Some(Error::Capacity(_)) => Some((close_code::SIZE, "message too big")),
        _ => None,
    }
}

/// Serves one upgraded WebSocket until it closes or the server shuts down.
pub async fn serve(hub: Arc<Hub>, socket: WebSocket, peer: Peer) {
    let id = hub.next_connection.fetch_add(1, Ordering::Relaxed) + 1;
    let (handle, mut events) = ConnHandle::new(id, hub.config.max_queued_bytes);
    let (sink, mut stream) = socket.split();
    let hello_deadline = Instant::now() + hub.config.hello_deadline;
    let idle_timeout = hub.config.idle_timeout;
    let mut conn = Connection {
        bucket: TokenBucket::new(hub.config.rate_limit),
        shutdown: hub.shutdown_signal(),
        queue_state: events.state.clone(),
        hub,
        sink,
        handle,
        peer,
        ctx: None,
        sent: HashMap::new(),
        pending_acks: HashMap::new(),
    };
    tracing::debug!(connection = id, addr = %conn.peer.addr, "connection opened");
    let mut heard = Instant::now();
    let stop = loop {
        if conn.queue_state.has_overflowed() {
            break Some(Stop::Overflow);
        }
        let deadline = if conn.ctx.is_none() {
            hello_deadline
        } else {
            heard + idle_timeout
        };
        let mut shutdown = conn.shutdown.clone();
        let queue_state = conn.queue_state.clone();
        let step: Result<ControlFlow<()>, Stop> = tokio::select! {
            () = shut_down(&mut shutdown) => Err(Stop::Shutdown),
            () = queue_state.overflow.notified() => Err(Stop::Overflow),
            () = tokio::time::sleep_until(deadline) => {
                if conn.ctx.is_none() {
                    let _ = conn
                        .error(ErrorCode::HelloRequired, "no hello within the deadline".into(), None, Some("hello".into()))
                        .await;
                    conn.close(close_code::POLICY, "no hello").await;
                } else {
                    conn.close(close_code::AWAY, "idle").await;
                }
                Ok(ControlFlow::Break(()))
            }
            message = stream.next() => {
                match message {
                    Some(Ok(message)) => {
                        let flow = conn.on_message(message).await;
                        // Idleness counts from the end of the handling: a long handler (a
                        // replay to a slow reader) is not the client being idle.
                        heard = Instant::now();
                        flow
                    }
                    Some(Err(error)) => {
                        tracing::debug!(connection = id, %error, "websocket read failed");
                        if let Some((code, reason)) = violation_close(error) {
                            conn.close(code, reason).await;
                        }
                        Ok(ControlFlow::Break(()))
                    }
                    None => Ok(ControlFlow::Break(())),
                }
            }
            Some(event) = events.recv() => conn.send_event(event, false).await.map(|()| ControlFlow::Continue(())),
        };
        match step {
            Ok(ControlFlow::Continue(())) => {}
            Ok(ControlFlow::Break(())) => break None,
            Err(stop) => break Some(stop),
        }
        // Frames are fed without flushing; they go out together once no event is waiting, so
        // a streamed turn costs one write per burst instead of one per event. (Past the write
        // buffer's size tungstenite writes anyway, so a busy stream never waits long.)
        if events.is_empty() {
            if let Err(stop) = conn.flush().await {
                break Some(stop);
            }
        }
    };
    match stop {
        Some(Stop::Shutdown) => conn.close(close_code::AWAY, "server shutting down").await,
        Some(Stop::Overflow) => {
            tracing::info!(
                connection = id,
                queued = events.queued_bytes(),
                "closing a connection that does not keep up"
            );
            // The peer is behind on reading: its close frame waits behind what it has not read
            // yet, up to the idle timeout. Nothing more is queued meanwhile, so the wait holds
            // no more memory than the socket's own buffer.
            let deadline = conn.hub.config.idle_timeout;
            conn.close_within(
                deadline,
                close_code::AGAIN,
                "too slow to receive events; reconnect",
            )
            .await;
        }
        Some(Stop::Stalled) => {
            tracing::info!(connection = id, "closing a connection that stopped reading");
            conn.close(close_code::AGAIN, "not reading; reconnect")
                .await;
        }
        Some(Stop::Gone) | None => {}
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
    /// Queues one frame on the socket. A write blocks while the peer's socket is full: it is
    /// given up when the event queue overflows meanwhile, when the server shuts down, or when
    /// it makes no progress for the idle timeout, so no wait is unbounded.
    async fn write(&mut self, text: String) -> Result<(), Stop> {
        let mut shutdown = self.shutdown.clone();
        let queue = self.queue_state.clone();
        let deadline = self.hub.config.idle_timeout;
        tokio::select! {
            written = tokio::time::timeout(deadline, self.sink.feed(Message::Text(text.into()))) => match written {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(Stop::Gone),
                Err(_) => Err(Stop::Stalled),
            },
            () = queue.overflow.notified() => Err(Stop::Overflow),
            () = shut_down(&mut shutdown) => Err(Stop::Shutdown),
        }
    }

    async fn flush(&mut self) -> Result<(), Stop> {
        let mut shutdown = self.shutdown.clone();
        let queue = self.queue_state.clone();
        let deadline = self.hub.config.idle_timeout;
        tokio::select! {
            flushed = tokio::time::timeout(deadline, self.sink.flush()) => match flushed {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(Stop::Gone),
                Err(_) => Err(Stop::Stalled),
            },
            () = queue.overflow.notified() => Err(Stop::Overflow),
            () = shut_down(&mut shutdown) => Err(Stop::Shutdown),
        }
    }

    async fn reply(&mut self, reply: &Reply) -> Result<(), Stop> {
        self.write(encode(reply)).await
    }

    async fn error(
        &mut self,
        code: ErrorCode,
        message: String,
        session_id: Option<String>,
        reference: Option<String>,
    ) -> Result<(), Stop> {
        self.reply(&error_reply(code, message, session_id, reference))
            .await
    }

    /// Sends a close frame, giving up after a short deadline (the peer may not be reading).
    async fn close(&mut self, code: u16, reason: &'static str) {
        self.close_within(CLOSE_DEADLINE, code, reason).await;
    }

    async fn close_within(&mut self, deadline: Duration, code: u16, reason: &'static str) {
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = tokio::time::timeout(deadline, self.sink.send(frame)).await;
    }

    async fn on_message(&mut self, message: Message) -> Result<ControlFlow<()>, Stop> {
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
                return sent.map(|()| ControlFlow::Continue(()));
            }
            Message::Close(_) => return Ok(ControlFlow::Break(())),
            // Protocol-level pings are answered by the WebSocket layer.
            Message::Ping(_) | Message::Pong(_) => return Ok(ControlFlow::Continue(())),
        };
        self.on_text(text.as_str()).await
    }

    async fn on_text(&mut self, text: &str) -> Result<ControlFlow<()>, Stop> {
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
    async fn on_first_frame(&mut self, frame: ClientFrame) -> Result<ControlFlow<()>, Stop> {
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
            // Failed hellos are answered at most so many a second per client address, so
            // opening many sockets does not make guessing tokens faster.
            let delay = self.hub.failed_hellos.delay(self.peer.addr.ip());
            if !delay.is_zero() {
                let mut shutdown = self.shutdown.clone();
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shut_down(&mut shutdown) => return Err(Stop::Shutdown),
                }
            }
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

    async fn emit(&mut self, out: Out) -> Result<(), Stop> {
        match out {
            Out::Reply(reply) => self.reply(&reply).await,
            Out::Replay {
                session_id,
                after,
                through,
            } => self.replay(session_id, after, through).await,
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

    /// Streams a replay from the store page by page; each page is read once the previous one
    /// has gone into the socket, so a slow reader holds one page, not the whole history.
    async fn replay(
        &mut self,
        session_id: Arc<str>,
        mut after: u64,
        through: u64,
    ) -> Result<(), Stop> {
        while after < through {
            let id = session_id.to_string();
            let page = self
                .hub
                .read(move |store| store.events_page(&id, after, through, REPLAY_PAGE))
                .await;
            let page = match page {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(session = %session_id, %error, "replay read failed");
                    let reply = error_reply(
                        ErrorCode::Unavailable,
                        "the session's history could not be read; reconnect to retry".into(),
                        Some(session_id.to_string()),
                        None,
                    );
                    return self.reply(&reply).await;
                }
            };
            let Some(last) = page.last().map(|event| event.seq) else {
                break;
            };
            for event in page {
                self.send_event(event, true).await?;
            }
            after = last;
        }
        Ok(())
    }

    /// Sends one event. A live event of a session no longer watched, or with a seq already sent
    /// here, is dropped; a replayed one is always sent (the client asked for it).
    async fn send_event(&mut self, event: StoredEvent, replay: bool) -> Result<(), Stop> {
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

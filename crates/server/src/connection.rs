//! One WebSocket connection: the driver of its protocol half, `sessionwire_core::engine::
//! ConnectionProtocol`.
//!
//! The connection task is the only writer of its socket. It reads client frames and its live
//! event queue in one loop; while a frame is being handled, live events wait in the queue, so a
//! handler's replies (and replays) go out first. What to answer, what to route, which event goes
//! out and where an `ack` goes is the engine's (its module docs state the rules); this file
//! moves frames between the socket, the engine, the routing and the store, and keeps the
//! timers (the `hello` deadline, idleness) and the bounds on every write.

use crate::{
    accept::Peer,
    auth::{authenticate, User},
    clock::new_id,
    hub::Hub,
    registry::ConnHandle,
    routing::{self, error_reply, ConnCtx, Out},
    store::StoredEvent,
};
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use futures_util::{stream::SplitSink, SinkExt, StreamExt};
use sessionwire_core::{
    engine::{ConnectionLimits, ConnectionProtocol, Inbound, LiveEvent},
    protocol::{encode, HelloFrame, ServerInfo, Welcome},
    ErrorCode, PROTOCOL_VERSION,
};
use std::{
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
    /// The engine's half: what this connection said, watches and was sent.
    protocol: ConnectionProtocol,
    /// The origin of the times the engine is given.
    opened: Instant,
    /// Set once `hello` was accepted.
    user: Option<User>,
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
    let limits = ConnectionLimits {
        max_frame_bytes: hub.config.max_frame_bytes,
        rate: hub.config.rate_limit,
    };
    let opened = Instant::now();
    let mut conn = Connection {
        protocol: ConnectionProtocol::new(limits, Duration::ZERO),
        opened,
        shutdown: hub.shutdown_signal(),
        queue_state: events.state.clone(),
        hub,
        sink,
        handle,
        peer,
        user: None,
    };
    tracing::debug!(connection = id, addr = %conn.peer.addr, "connection opened");
    let mut heard = Instant::now();
    let stop = loop {
        if conn.queue_state.has_overflowed() {
            break Some(Stop::Overflow);
        }
        let deadline = if conn.protocol.is_greeted() {
            heard + idle_timeout
        } else {
            hello_deadline
        };
        let mut shutdown = conn.shutdown.clone();
        let queue_state = conn.queue_state.clone();
        let step: Result<ControlFlow<()>, Stop> = tokio::select! {
            () = shut_down(&mut shutdown) => Err(Stop::Shutdown),
            () = queue_state.overflow.notified() => Err(Stop::Overflow),
            () = tokio::time::sleep_until(deadline) => {
                if conn.protocol.is_greeted() {
                    conn.protocol.handle_idle();
                } else {
                    conn.protocol.handle_hello_deadline();
                }
                conn.drain().await
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
    for session in conn.protocol.watched() {
        conn.hub.unwatch(session, id);
    }
    tracing::debug!(connection = id, "connection closed");
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

    /// Writes every reply the engine has queued, in order; then its close, if it asked for
    /// one (the connection ends).
    async fn drain(&mut self) -> Result<ControlFlow<()>, Stop> {
        self.write_replies().await?;
        match self.protocol.poll_close() {
            Some(close) => {
                self.close(close.code, close.reason).await;
                Ok(ControlFlow::Break(()))
            }
            None => Ok(ControlFlow::Continue(())),
        }
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

    /// Writes every reply the engine has queued, in order.
    async fn write_replies(&mut self) -> Result<(), Stop> {
        while let Some(reply) = self.protocol.poll_reply() {
            self.write(encode(&reply)).await?;
        }
        Ok(())
    }

    async fn on_message(&mut self, message: Message) -> Result<ControlFlow<()>, Stop> {
        match message {
            Message::Text(text) => self.on_text(text.as_str()).await,
            Message::Binary(_) => {
                self.protocol.handle_binary();
                self.drain().await
            }
            Message::Close(_) => Ok(ControlFlow::Break(())),
            // Protocol-level pings are answered by the WebSocket layer.
            Message::Ping(_) | Message::Pong(_) => Ok(ControlFlow::Continue(())),
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<ControlFlow<()>, Stop> {
        match self.protocol.handle_text(text, self.opened.elapsed()) {
            Inbound::Answered => {}
            Inbound::Hello(hello) => self.on_hello(hello).await?,
            Inbound::Route(frame) => {
                let Some(user) = &self.user else {
                    // (The engine routes nothing before an accepted hello.)
                    return Ok(ControlFlow::Continue(()));
                };
                let mut ctx = ConnCtx {
                    id: self.handle.id,
                    user,
                    handle: &self.handle,
                    protocol: &mut self.protocol,
                };
                let outs = routing::handle(&self.hub, &mut ctx, frame).await;
                for out in outs {
                    self.emit(out).await?;
                }
            }
        }
        self.drain().await
    }

    /// A `hello` of the right protocol: its token names a user, or it is refused.
    async fn on_hello(&mut self, hello: HelloFrame) -> Result<(), Stop> {
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
            self.protocol.refuse_hello();
            return Ok(());
        };
        self.user = Some(user);
        self.protocol.accept_hello(Welcome {
            protocol: PROTOCOL_VERSION,
            connection_id: new_id(),
            epoch: self.hub.epoch.clone(),
            server: ServerInfo {
                name: "sessionwire-server".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
        });
        Ok(())
    }

    async fn emit(&mut self, out: Out) -> Result<(), Stop> {
        match out {
            Out::Reply(reply) => self.protocol.push_reply(reply),
            Out::Replay {
                session_id,
                after,
                through,
            } => {
                // The replies before it go first.
                self.write_replies().await?;
                self.replay(session_id, after, through).await?;
            }
            Out::AckAfter { seq, ack } => self.protocol.push_ack_after(seq, ack),
        }
        Ok(())
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
                    self.protocol.push_reply(error_reply(
                        ErrorCode::Unavailable,
                        "the session's history could not be read; reconnect to retry".into(),
                        Some(session_id.to_string()),
                        None,
                    ));
                    return Ok(());
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

    /// Sends one event, if the engine says it goes (a replayed one always does), and then the
    /// `ack` waiting for it, if any.
    async fn send_event(&mut self, event: StoredEvent, replay: bool) -> Result<(), Stop> {
        if !replay && self.protocol.live_event(&event.session_id, event.seq) == LiveEvent::Drop {
            return Ok(());
        }
        self.write(event.text.to_string()).await?;
        self.protocol.event_sent(&event.session_id, event.seq);
        self.write_replies().await
    }
}

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
    cluster::{relay::Kind, HostedLink, Placement, ProxyLink, ToClient},
    hub::Hub,
    registry::ConnHandle,
    routing::{self, error_reply, ConnCtx, Out},
    store::StoredEvent,
};
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use sessionwire_core::{
    engine::{ConnectionLimits, ConnectionProtocol, Inbound, LiveEvent},
    protocol::{encode, HelloFrame, ServerInfo, Welcome},
    ErrorCode, PROTOCOL_VERSION,
};
use std::pin::Pin;
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

/// Where a connection's frames go: its WebSocket, or (hosted for another process) the relay.
type FrameSink = Pin<Box<dyn Sink<Message, Error = axum::Error> + Send>>;

/// Where they come from.
type FrameStream = Pin<Box<dyn Stream<Item = Result<Message, axum::Error>> + Send>>;

/// The holder of this connection's user, when it is another process (crate::cluster): the
/// client's frames go there, and what comes back goes to the client.
struct Upstream {
    link: ProxyLink,
    /// Bytes written to the client and not yet credited to the host.
    taken: usize,
    /// Until the holder says it serves the link, the time by which it must.
    open_by: Option<Instant>,
}

/// How long a holder has to say it serves a relayed connection.
const OPEN_DEADLINE: Duration = Duration::from_secs(5);

impl Upstream {
    /// Completes once a relayed client's queue overflowed (never for a local client).
    async fn overflowed(queue: Option<Arc<crate::registry::QueueState>>) {
        match queue {
            Some(queue) => queue.overflow.notified().await,
            None => std::future::pending().await,
        }
    }

    async fn recv(upstream: &mut Option<Self>) -> Option<ToClient> {
        match upstream {
            Some(up) => {
                let relayed = match up.open_by {
                    // Nothing by the deadline: nobody is there (the holder was not listening
                    // when the link was opened), and the client reconnects.
                    Some(deadline) => tokio::time::timeout_at(deadline, up.link.from_host.recv())
                        .await
                        .unwrap_or_default(),
                    None => up.link.from_host.recv().await,
                };
                match &relayed {
                    Some(ToClient::Frame(text)) => up.link.queue.taken(text.len()),
                    Some(ToClient::Opened) => up.open_by = None,
                    _ => {}
                }
                relayed
            }
            None => std::future::pending().await,
        }
    }
}

struct Connection {
    hub: Arc<Hub>,
    sink: FrameSink,
    handle: ConnHandle,
    queue_state: Arc<crate::registry::QueueState>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    /// The client's socket (none for a connection hosted for another process).
    peer: Option<Peer>,
    upstream: Option<Upstream>,
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
    let (sink, stream) = socket.split();
    run(hub, Box::pin(sink), Box::pin(stream), Some(peer), None).await;
}

/// Serves a connection whose client is connected to another process (its proxy end, which
/// checked its `hello`): frames come and go through the relay, and everything else is as for a
/// socket of this process.
pub async fn serve_hosted(hub: Arc<Hub>, user: User, link: HostedLink) {
    let Some(cluster) = hub.cluster().cloned() else {
        return;
    };
    let HostedLink {
        proxy,
        link: id,
        from_proxy,
        credit,
    } = link;
    // In flight to the client at most half of what a local connection may queue: the client's
    // process holds that much for it (crate::cluster::ProxyQueue), so it never overflows there.
    let window = (hub.config.max_queued_bytes / 2).max(1);
    let stream = futures_util::stream::unfold(from_proxy, |mut from_proxy| async move {
        let text = from_proxy.recv().await?;
        Some((Ok(Message::Text(text.into())), from_proxy))
    });
    let to = proxy.clone();
    let relay_cluster = cluster.clone();
    let sink = futures_util::sink::unfold((), move |(), message: Message| {
        let (cluster, to, credit) = (relay_cluster.clone(), to.clone(), credit.clone());
        async move {
            let (kind, data) = match message {
                Message::Text(text) => {
                    credit.reserve(text.len(), window).await;
                    (Kind::ToProxy, text.to_string())
                }
                Message::Close(frame) => {
                    let (code, reason) = frame.map_or((close_code::AWAY, String::new()), |f| {
                        (f.code, f.reason.to_string())
                    });
                    (Kind::EndProxy, format!("{code} {reason}"))
                }
                _ => return Ok(()),
            };
            cluster
                .relay
                .send(&to, kind, id, data)
                .await
                .map_err(axum::Error::new)
        }
    });
    let _ = cluster
        .relay
        .send(&proxy, Kind::Opened, id, String::new())
        .await;
    run(hub, Box::pin(sink), Box::pin(stream), None, Some(user)).await;
    cluster.links.close_hosted(&proxy, id);
    // However it ended (its client left, or this process's relay lost the database and ended
    // it), the proxy end hears it; if it sent a close frame already, this is ignored there.
    let _ = cluster
        .relay
        .send(
            &proxy,
            Kind::EndProxy,
            id,
            format!("{} ", close_code::RESTART),
        )
        .await;
}

/// The connection loop: `user` is given for a hosted connection (its `hello` was checked by
/// its proxy end); otherwise the client must send `hello` first.
async fn run(
    hub: Arc<Hub>,
    sink: FrameSink,
    mut stream: FrameStream,
    peer: Option<Peer>,
    user: Option<User>,
) {
    let id = hub.next_connection.fetch_add(1, Ordering::Relaxed) + 1;
    let (handle, mut events) = ConnHandle::new(id, hub.config.max_queued_bytes);
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
        upstream: None,
        user: None,
    };
    if let Some(user) = user {
        // Hosted: greeted already (the welcome went from the proxy end, not from here).
        conn.user = Some(user);
        conn.protocol
            .accept_hello(conn.welcome(conn.hub.epoch.clone()));
        let _ = conn.protocol.poll_reply();
    }
    tracing::debug!(connection = id, "connection opened");
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
            relayed = Upstream::recv(&mut conn.upstream) => conn.on_relayed(relayed).await,
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
    // A relayed client's holder hears that it left.
    if let Some(up) = conn.upstream.take() {
        if let Some(cluster) = conn.hub.cluster() {
            cluster.links.close_proxy(up.link.link);
            let _ = cluster
                .relay
                .send(&up.link.host, Kind::EndHost, up.link.link, String::new())
                .await;
        }
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
        let relayed = self.relayed_queue();
        let deadline = self.hub.config.idle_timeout;
        tokio::select! {
            written = tokio::time::timeout(deadline, self.sink.feed(Message::Text(text.into()))) => match written {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(Stop::Gone),
                Err(_) => Err(Stop::Stalled),
            },
            () = queue.overflow.notified() => Err(Stop::Overflow),
            () = Upstream::overflowed(relayed) => Err(Stop::Overflow),
            () = shut_down(&mut shutdown) => Err(Stop::Shutdown),
        }
    }

    async fn flush(&mut self) -> Result<(), Stop> {
        let mut shutdown = self.shutdown.clone();
        let queue = self.queue_state.clone();
        let relayed = self.relayed_queue();
        let deadline = self.hub.config.idle_timeout;
        tokio::select! {
            flushed = tokio::time::timeout(deadline, self.sink.flush()) => match flushed {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(Stop::Gone),
                Err(_) => Err(Stop::Stalled),
            },
            () = queue.overflow.notified() => Err(Stop::Overflow),
            () = Upstream::overflowed(relayed) => Err(Stop::Overflow),
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
            Inbound::Route(_) if self.upstream.is_some() => {
                // The holder of this user decides (the frame was checked here: its size, its
                // rate, that it parses).
                if let (Some(up), Some(cluster)) = (&self.upstream, self.hub.cluster()) {
                    let (host, link) = (up.link.host.clone(), up.link.link);
                    if cluster
                        .relay
                        .send(&host, Kind::ToHost, link, text.to_owned())
                        .await
                        .is_err()
                    {
                        self.close(close_code::RESTART, "the relay stopped; reconnect")
                            .await;
                        return Ok(ControlFlow::Break(()));
                    }
                }
            }
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

    /// Tells the holder that the client took `bytes` more (every eighth of the queue bound, so
    /// the holder, whose window is half of it, never waits on credit the client has earned).
    async fn credit(&mut self, bytes: usize) {
        let step = (self.hub.config.max_queued_bytes / 8).max(1);
        let Some(up) = self.upstream.as_mut() else {
            return;
        };
        up.taken += bytes;
        if up.taken < step {
            return;
        }
        let (host, link, taken) = (up.link.host.clone(), up.link.link, up.taken);
        up.taken = 0;
        if let Some(cluster) = self.hub.cluster() {
            let _ = cluster
                .relay
                .send(&host, Kind::Credit, link, taken.to_string())
                .await;
        }
    }

    /// The queue of what the holder sends a relayed client (none for a local one).
    fn relayed_queue(&self) -> Option<Arc<crate::registry::QueueState>> {
        self.upstream.as_ref().map(|up| up.link.queue.clone())
    }

    /// What comes back from the holder of a relayed client's user.
    async fn on_relayed(&mut self, relayed: Option<ToClient>) -> Result<ControlFlow<()>, Stop> {
        match relayed {
            Some(ToClient::Opened) => Ok(ControlFlow::Continue(())),
            Some(ToClient::Frame(text)) => {
                let size = text.len();
                self.write(text).await?;
                self.credit(size).await;
                Ok(ControlFlow::Continue(()))
            }
            Some(ToClient::End(code, _)) => {
                // The holder's connection for it ended (shutting down, too slow, a policy
                // close): so does this one, with its code.
                let reason = if code == close_code::AWAY {
                    "server shutting down"
                } else {
                    "the session's server ended the connection"
                };
                self.close(code, reason).await;
                Ok(ControlFlow::Break(()))
            }
            None => {
                // (The holder hears that this connection ended as it ends.)
                let overflowed = self
                    .upstream
                    .as_ref()
                    .is_some_and(|up| up.link.queue.has_overflowed());
                if overflowed {
                    // Too slow for its events, as a local connection would be (its client
                    // reconnects and replays).
                    self.close(close_code::AGAIN, "too slow to receive events; reconnect")
                        .await;
                } else {
                    // The holder died, or the relay lost the database: the client reconnects
                    // and replays what it missed, from whichever process serves its user then.
                    self.close(
                        close_code::RESTART,
                        "the session's server went away; reconnect",
                    )
                    .await;
                }
                Ok(ControlFlow::Break(()))
            }
        }
    }

    fn welcome(&self, epoch: String) -> Welcome {
        Welcome {
            protocol: PROTOCOL_VERSION,
            connection_id: new_id(),
            epoch,
            server: ServerInfo {
                name: "sessionwire-server".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
        }
    }

    /// A `hello` of the right protocol: its token names a user, or it is refused. The user is
    /// then served here, or relayed to the process that serves it (crate::cluster), whose
    /// epoch the welcome carries: its runtimes are the ones the client talks to.
    async fn on_hello(&mut self, hello: HelloFrame) -> Result<(), Stop> {
        let Some(user) = authenticate(&self.hub.config.tokens, hello.token.as_deref()) else {
            // Failed hellos are answered at most so many a second per client address, so
            // opening many sockets does not make guessing tokens faster.
            let delay = match &self.peer {
                Some(peer) => self.hub.failed_hellos.delay(peer.addr.ip()),
                None => Duration::ZERO,
            };
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
        let epoch = match crate::recovery::place_user(&self.hub, &user.0).await {
            Ok(Placement::Here) => self.hub.epoch.clone(),
            Ok(Placement::There(host)) => {
                let Some(cluster) = self.hub.cluster().cloned() else {
                    self.protocol.refuse_hello_unavailable();
                    return Ok(());
                };
                let link = cluster
                    .links
                    .open_proxy(&host, self.hub.config.max_queued_bytes);
                let opened = cluster
                    .relay
                    .send(&host, Kind::Open, link.link, user.0.clone())
                    .await;
                if let Err(error) = opened {
                    tracing::warn!(%error, "cannot relay a client to its user's server");
                    cluster.links.close_proxy(link.link);
                    self.protocol.refuse_hello_unavailable();
                    return Ok(());
                }
                self.upstream = Some(Upstream {
                    link,
                    taken: 0,
                    open_by: Some(Instant::now() + OPEN_DEADLINE),
                });
                host
            }
            Err(error) => {
                tracing::warn!(%error, "cannot place a user");
                self.protocol.refuse_hello_unavailable();
                return Ok(());
            }
        };
        self.user = Some(user);
        let welcome = self.welcome(epoch);
        self.protocol.accept_hello(welcome);
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

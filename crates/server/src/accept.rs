//! The TCP accept loop (PROTOCOL.md §1.2): HTTP/1.1 on each socket with a deadline for the
//! request head, a count of open sockets for `--max-connections`, and each request tagged with
//! the socket it came on ([`Peer`]), so handlers know the client address and hold the socket's
//! slot for as long as they use it (an upgraded WebSocket keeps it until it closes).
//!
//! axum's own `serve` has no head deadline, so a client that sends `GET /ws HT` and stops
//! would hold its socket forever; 1,100 of them exhausted the process's file descriptors.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::{net::TcpListener, sync::watch};
use tower::ServiceExt;

/// Sockets accepted beyond `--max-connections` (so that those upgrades can be answered 503
/// instead of being dropped); past this many more the accept loop closes new sockets at once.
const ACCEPT_HEADROOM: usize = 256;

/// The number of open sockets, shared by the accept loop and the WebSocket handler.
#[derive(Debug, Default)]
pub struct SocketCount(AtomicUsize);

impl SocketCount {
    /// How many sockets are open now.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// One open socket's place in the count, released when the last holder drops it.
#[derive(Debug)]
pub struct SocketSlot(Arc<SocketCount>);

impl SocketSlot {
    fn take(count: &Arc<SocketCount>) -> Self {
        count.0.fetch_add(1, Ordering::SeqCst);
        Self(count.clone())
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Added to every request: where it came from, and its socket's slot.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    pub slot: Arc<SocketSlot>,
}

/// The limits the accept loop enforces.
#[derive(Debug, Clone, Copy)]
pub struct AcceptLimits {
    /// The request head must arrive within this long of the accept.
    pub head_deadline: Duration,
    /// Sockets beyond this many get HTTP 503 on upgrade (checked by the WebSocket handler).
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, asks idle
/// HTTP connections to close and returns (WebSockets are closed by the hub's own shutdown).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    count: Arc<SocketCount>,
    limits: AcceptLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.head_deadline)
        .keep_alive(true);
    loop {
        let (stream, addr) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and the like: back off instead of spinning; established sockets go on.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if count.get() >= limits.max_connections.saturating_add(ACCEPT_HEADROOM) {
            tracing::warn!(%addr, open = count.get(), "too many open sockets; closing a new one");
            drop(stream);
            continue;
        }
        // Events are many small frames: without TCP_NODELAY, Nagle's algorithm and delayed
        // ACKs add tens of milliseconds to a turn.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let peer = Peer {
            addr,
            slot: Arc::new(SocketSlot::take(&count)),
        };
        let service = router
            .clone()
            .map_request(move |mut request: axum::extract::Request<_>| {
                request.extensions_mut().insert(peer.clone());
                request.map(axum::body::Body::new)
            });
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection.with_upgrades());
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "http connection ended with an error");
                    }
                    return;
                }
                _ = stop.wait_for(|stopped| *stopped) => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
    let _ = stop_tx.send(true);
}

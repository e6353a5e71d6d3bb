//! HTTP: the WebSocket endpoint at `/ws` and the static files of `--www DIR` at `/` (the web
//! build of the package lives in `DIR/pkg/`, so pages load `/pkg/sessionwire.js`).

use crate::{connection, hub::Hub};
use axum::{
    extract::{State, WebSocketUpgrade},
    response::Response,
    routing::get,
    Router,
};
use std::sync::Arc;
use tower_http::services::ServeDir;

/// The WebSocket layer accepts messages this much larger than the protocol's limit, so that an
/// oversized frame can still be answered with `frame_too_large` (and a 1009 close) instead of a
/// dropped connection. Anything beyond it is cut off by the WebSocket layer itself.
const WS_LIMIT_FACTOR: usize = 16;

/// The server's routes.
pub fn router(hub: Arc<Hub>) -> Router {
    let www = ServeDir::new(&hub.config.www_dir).append_index_html_on_directories(true);
    Router::new()
        .route("/ws", get(upgrade))
        .fallback_service(www)
        .with_state(hub)
}

/// The WebSocket read buffer: enough for a typical frame; larger frames are read in pieces.
const READ_BUFFER_BYTES: usize = 8 * 1024;

async fn upgrade(ws: WebSocketUpgrade, State(hub): State<Arc<Hub>>) -> Response {
    let limit = hub.config.max_frame_bytes.saturating_mul(WS_LIMIT_FACTOR);
    // tungstenite zero-fills its whole read buffer as it grows; the 128 KiB default made that
    // memset the hottest function under load, while frames here are small.
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| connection::serve(hub, socket))
}

//! HTTP: the WebSocket endpoint at `/ws` and the static files of `--www DIR` at `/` (the web
//! build of the package lives in `DIR/pkg/`, so pages load `/pkg/sessionwire.js`).
//!
//! Every request passes [`guard`] first (PROTOCOL.md §1.1): without tokens the server answers
//! only requests whose `Host` names a loopback address (a DNS-rebinding page gets 403), and
//! every response says `X-Content-Type-Options: nosniff`. A WebSocket upgrade must also come
//! from an allowed `Origin` ([`origin_allowed`]); otherwise any web page the user opens could
//! drive their agents. Static files never leave `--www` (no symlink out of it, no dotfile).

use crate::{accept::Peer, connection, hub::Hub};
use axum::{
    body::Body,
    extract::{Request, State, WebSocketUpgrade},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
    Extension, Router,
};
use std::{
    net::IpAddr,
    path::{Component, Path, PathBuf},
    sync::Arc,
};
use tower_http::services::ServeDir;

/// The WebSocket layer accepts messages this much larger than the protocol's limit, so that an
/// oversized frame can still be answered with `frame_too_large` (and a 1009 close) instead of a
/// dropped connection. Anything beyond it is cut off by the WebSocket layer itself.
const WS_LIMIT_FACTOR: usize = 16;

/// The WebSocket read buffer: enough for a typical frame; larger frames are read in pieces.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// Longest path segment a file system serves (NAME_MAX); a longer one is simply not found.
const MAX_SEGMENT_BYTES: usize = 255;

/// The server's routes.
pub fn router(hub: Arc<Hub>) -> Router {
    let www = ServeDir::new(&hub.config.www_dir).append_index_html_on_directories(true);
    let files = Router::new()
        .fallback_service(www)
        .layer(middleware::from_fn_with_state(hub.clone(), static_guard));
    Router::new()
        .route("/ws", get(upgrade))
        .merge(files)
        .layer(middleware::from_fn_with_state(hub.clone(), guard))
        .with_state(hub)
}

fn refuse(status: StatusCode, why: &'static str) -> Response {
    (status, why).into_response()
}

/// Is `host` (a `Host` header: `name[:port]`) a loopback address or `localhost`?
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // `[::1]:8787`
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Is a WebSocket upgrade with these headers from an origin that may connect? No `Origin`
/// (not a browser), the server's own origin (`http://` + the request's `Host`), or one listed
/// with `--allow-origin`. Anything else, `null` included, is refused.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let same_origin = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .and_then(|host| origin.strip_prefix("http://").map(|rest| (rest, host)))
        .is_some_and(|(rest, host)| rest.eq_ignore_ascii_case(host));
    same_origin || allowed.iter().any(|allowed| allowed == origin)
}

/// Host check (without tokens) and `nosniff`, for every request.
async fn guard(State(hub): State<Arc<Hub>>, request: Request, next: Next) -> Response {
    if hub.config.tokens.is_empty() {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .unwrap_or_default();
        if !is_loopback_host(host) {
            return nosniff(refuse(
                StatusCode::FORBIDDEN,
                "this server answers only requests for a loopback host (it has no tokens)",
            ));
        }
    }
    nosniff(next.run(request).await)
}

fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Static files: no dotfile, no over-long segment, nothing outside `--www` (a symlink that
/// leads out of it is not followed): each is simply not found.
async fn static_guard(State(hub): State<Arc<Hub>>, request: Request, next: Next) -> Response {
    if !static_path_allowed(&hub.config.www_dir, request.uri().path()) {
        return refuse(StatusCode::NOT_FOUND, "not found");
    }
    next.run(request).await
}

fn static_path_allowed(www: &Path, path: &str) -> bool {
    let mut relative = PathBuf::new();
    for segment in path.split('/').filter(|segment| !segment.is_empty()) {
        let decoded = crate::percent::decode(segment);
        let Some(decoded) = decoded else {
            return false;
        };
        if decoded.len() > MAX_SEGMENT_BYTES
            || decoded.starts_with('.')
            || decoded.contains(['/', '\\', '\0'])
        {
            return false;
        }
        relative.push(decoded);
    }
    if relative
        .components()
        .any(|component| !matches!(component, Component::Normal(_)))
    {
        return false;
    }
    // Whatever exists of the path must resolve inside the www directory.
    let Ok(root) = www.canonicalize() else {
        return true; // no www directory: ServeDir answers 404 itself
    };
    let mut candidate = root.join(&relative);
    while !candidate.exists() {
        if !candidate.pop() {
            return true;
        }
    }
    candidate
        .canonicalize()
        .is_ok_and(|resolved| resolved.starts_with(&root))
}

async fn upgrade(
    State(hub): State<Arc<Hub>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    if !origin_allowed(&headers, &hub.config.allowed_origins) {
        tracing::warn!(addr = %peer.addr, origin = ?headers.get(header::ORIGIN), "WebSocket from a foreign origin refused");
        return refuse(
            StatusCode::FORBIDDEN,
            "this origin may not connect (see --allow-origin)",
        );
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    // The socket making this request is counted itself.
    if hub.sockets.get() > hub.config.max_connections {
        tracing::warn!(addr = %peer.addr, "too many connections; upgrade refused");
        return Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .header(header::RETRY_AFTER, "5")
            .body(Body::from("too many connections; retry later"))
            .unwrap_or_else(|_| StatusCode::SERVICE_UNAVAILABLE.into_response());
    }
    let limit = hub.config.max_frame_bytes.saturating_mul(WS_LIMIT_FACTOR);
    // tungstenite zero-fills its whole read buffer as it grows; the 128 KiB default made that
    // memset the hottest function under load, while frames here are small.
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| connection::serve(hub, socket, peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1:8787",
            "127.0.0.1",
            "127.1.2.3:1",
            "localhost",
            "LOCALHOST:80",
            "[::1]:8787",
            "[::1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "evil.example:8787",
            "10.0.0.1:8787",
            "localhost.evil.example",
            "[::2]:1",
            "127.0.0.1.nip.io",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                *name,
                HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
            );
        }
        map
    }

    #[test]
    fn origins() {
        let allowed = vec!["http://localhost:5173".to_owned()];
        assert!(origin_allowed(
            &headers(&[("host", "127.0.0.1:8787")]),
            &allowed
        ));
        assert!(origin_allowed(
            &headers(&[
                ("host", "127.0.0.1:8787"),
                ("origin", "http://127.0.0.1:8787")
            ]),
            &allowed
        ));
        assert!(origin_allowed(
            &headers(&[
                ("host", "127.0.0.1:8787"),
                ("origin", "http://localhost:5173")
            ]),
            &allowed
        ));
        for origin in [
            "null",
            "http://evil.example",
            "https://127.0.0.1:8787",
            "http://127.0.0.1:8788",
        ] {
            assert!(
                !origin_allowed(
                    &headers(&[("host", "127.0.0.1:8787"), ("origin", origin)]),
                    &allowed
                ),
                "{origin}"
            );
        }
    }

    #[test]
    fn static_paths() {
        let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
        let www = dir.path().join("www");
        std::fs::create_dir_all(www.join("pkg")).unwrap_or_else(|error| panic!("{error}"));
        std::fs::write(dir.path().join("secret"), "s").unwrap_or_else(|error| panic!("{error}"));
        std::os::unix::fs::symlink(dir.path().join("secret"), www.join("leak"))
            .unwrap_or_else(|error| panic!("{error}"));
        assert!(static_path_allowed(&www, "/"));
        assert!(static_path_allowed(&www, "/pkg/sessionwire.js"));
        assert!(static_path_allowed(&www, "/missing/deeper.txt"));
        assert!(!static_path_allowed(&www, "/leak"));
        assert!(!static_path_allowed(&www, "/.env"));
        assert!(!static_path_allowed(&www, "/pkg/.hidden"));
        assert!(!static_path_allowed(&www, "/%2e%2e/secret"));
        assert!(!static_path_allowed(&www, &format!("/{}", "a".repeat(256))));
    }
}

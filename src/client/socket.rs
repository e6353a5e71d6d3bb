//! One browser WebSocket and its event handlers, which forward to the client.

use super::Inner;
use std::rc::Weak;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, WebSocket};

/// An event handler. The three handlers share this one closure type (the event as a plain
/// `JsValue`), so wasm-bindgen generates one set of glue for them, not three.
type Handler = Closure<dyn FnMut(JsValue)>;

/// A WebSocket with its handlers; dropping it detaches them.
pub(super) struct Socket {
    ws: WebSocket,
    _on_open: Handler,
    _on_message: Handler,
    _on_close: Handler,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("url", &self.ws.url())
            .finish_non_exhaustive()
    }
}

impl Socket {
    /// Opens a socket to `url`; its events go to `client` (weakly held, so a dropped client
    /// is collected even with a socket open). Throws (a `SyntaxError`) for an invalid URL.
    pub(super) fn open(url: &str, client: Weak<Inner>) -> Result<Self, JsValue> {
        let ws = WebSocket::new(url)?;
        let on_open = {
            let client = client.clone();
            Handler::new(move |_: JsValue| {
                if let Some(client) = client.upgrade() {
                    client.on_open();
                }
            })
        };
        let on_message = {
            let client = client.clone();
            Handler::new(move |event: JsValue| {
                // Text frames only (PROTOCOL.md §1); anything else is ignored.
                let data = event.unchecked_into::<MessageEvent>().data();
                if let (Some(client), true) = (client.upgrade(), data.is_string()) {
                    client.on_frame(&data);
                }
            })
        };
        let on_close = Handler::new(move |_: JsValue| {
            if let Some(client) = client.upgrade() {
                client.on_lost();
            }
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // `error` is always followed by `close`, which is where the client reacts.
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Self {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    /// Sends a text frame; `false` when the socket is not open.
    pub(super) fn send(&self, frame: &str) -> bool {
        self.ws.ready_state() == WebSocket::OPEN && self.ws.send_with_str(frame).is_ok()
    }

    /// Detaches the handlers and closes the socket (normal closure).
    pub(super) fn close(&self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close_with_code(1000);
    }
}

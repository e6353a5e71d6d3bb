//! `SessionwireClient`: a browser `WebSocket` driving a [`crate::ClientStore`].
//!
//! The transport only: it sends `hello` on open, the store's `pendingFrames()` after `welcome`,
//! `takeReadyFrames()` after each frame and a `reconnect` for the session on `GAP_DETECTED`;
//! it reconnects with capped exponential backoff and jitter, and pings on an interval (a `pong`
//! missing at the next tick means a dead socket). What to send, what to show and what to resend
//! is all the core store's decision.

mod options;
mod socket;

use crate::error::{js_error, CLOSED, INVALID_ARGUMENT};
use crate::shared::Shared;
use crate::store::random_prefix;
use crate::timers::Timer;
use js_sys::{Function, Promise};
use options::Options;
use sessionwire_core::protocol::write::u64_text;
use sessionwire_core::store::{Action, Connection};
use socket::Socket;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;

/// A sessionwire connection for browsers: one WebSocket plus the client store.
#[wasm_bindgen]
#[derive(Debug)]
pub struct SessionwireClient {
    inner: Rc<Inner>,
}

#[derive(Debug)]
struct Inner {
    me: Weak<Inner>,
    url: String,
    options: Options,
    shared: Rc<Shared>,
    socket: RefCell<Option<Socket>>,
    /// `connect()` was called and `close()` was not: reconnect when the socket dies.
    wanted: Cell<bool>,
    /// Failed attempts since the last `welcome` (drives the backoff).
    attempt: Cell<u32>,
    reconnect_timer: RefCell<Option<Timer>>,
    ping_timer: RefCell<Option<Timer>>,
    awaiting_pong: Cell<bool>,
    ping_count: Cell<u64>,
    /// `connect()` promises waiting for `welcome`: (resolve, reject).
    waiters: RefCell<Vec<(Function, Function)>>,
    /// `stop`, `close_session`, `suspend` and `list_sessions` frames made while disconnected,
    /// sent after `welcome` (requests with a `clientMsgId` wait in the store's outbox instead).
    control: RefCell<Vec<String>>,
    /// The latest `switch_session` made while disconnected, sent after `welcome`.
    pending_switch: RefCell<Option<String>>,
}

#[wasm_bindgen]
impl SessionwireClient {
    /// A client for `url`, the full WebSocket URL (e.g. `ws://127.0.0.1:8787/ws`). Nothing
    /// connects until `connect()`. Options: `token`, `pingIntervalMs` (default 15000),
    /// `reconnectBaseMs` (500), `reconnectMaxMs` (30000).
    #[wasm_bindgen(constructor)]
    pub fn new(
        url: String,
        #[wasm_bindgen(unchecked_param_type = "SessionwireClientOptions")] options: Option<JsValue>,
    ) -> Result<SessionwireClient, JsValue> {
        crate::floats::install();
        // Checked now, not at the first connect (PROTOCOL.md §8).
        let scheme = url
            .strip_prefix("ws://")
            .or_else(|| url.strip_prefix("wss://"));
        if scheme.is_none_or(str::is_empty) {
            return Err(js_error(
                INVALID_ARGUMENT,
                "url: a ws:// or wss:// URL, e.g. ws://127.0.0.1:8787/ws",
                None,
            ));
        }
        let options = Options::from_js(options)?;
        let inner = Rc::new_cyclic(|me| Inner {
            me: me.clone(),
            url,
            options,
            shared: Shared::new(&random_prefix()),
            socket: RefCell::default(),
            wanted: Cell::new(false),
            attempt: Cell::new(0),
            reconnect_timer: RefCell::default(),
            ping_timer: RefCell::default(),
            awaiting_pong: Cell::new(false),
            ping_count: Cell::new(0),
            waiters: RefCell::default(),
            control: RefCell::default(),
            pending_switch: RefCell::default(),
        });
        Ok(Self { inner })
    }

    /// Opens the connection (and keeps it open, reconnecting on its own, until `close()`).
    /// Resolves at `welcome`; rejects only if `close()` is called first or the URL is invalid.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn connect(&self) -> Promise {
        let inner = &self.inner;
        if inner.is_open() {
            return Promise::resolve(&JsValue::UNDEFINED);
        }
        let promise =
            Promise::new(&mut |resolve, reject| inner.waiters.borrow_mut().push((resolve, reject)));
        inner.wanted.set(true);
        if inner.socket.borrow().is_none() {
            inner.reconnect_timer.borrow_mut().take();
            inner.open_socket();
        }
        promise
    }

    /// Closes the connection for good (no reconnect). Pending `connect()` promises reject with
    /// code `closed`. Unacknowledged sends stay in the outbox for a later `connect()`.
    pub fn close(&self) {
        let inner = &self.inner;
        inner.wanted.set(false);
        inner.reconnect_timer.borrow_mut().take();
        inner.lose_socket();
        let error = js_error(CLOSED, "the client was closed", None);
        for (_, reject) in inner.waiters.borrow_mut().drain(..).collect::<Vec<_>>() {
            let _ = reject.call1(&JsValue::UNDEFINED, &error);
        }
    }

    /// Sends `text` to the current session (or to a new one when there is none). It shows at
    /// once and, while disconnected, waits in the outbox; it is sent exactly once as far as
    /// the server is concerned (same `clientMsgId` on every retry). Returns its `clientMsgId`.
    pub fn send(&self, text: &str) -> String {
        let frame = self.inner.shared.with(|store| store.send(text));
        self.inner.shared.notify_outbox_push();
        if let Some(frame) = frame {
            self.inner.send_if_open(&frame);
        }
        self.last_client_msg_id()
    }

    /// Sends `text` to a new session, which becomes current when `session_created` arrives.
    /// Returns its `clientMsgId`.
    #[wasm_bindgen(js_name = createSession)]
    pub fn create_session(&self, text: &str) -> String {
        let frame = self.inner.shared.with(|store| store.create_session(text));
        self.inner.shared.notify_outbox_push();
        self.inner.send_if_open(&frame);
        self.last_client_msg_id()
    }

    /// Switches to `sessionId` (`null` clears): the conversation held shows at once and only
    /// the events after it are asked for.
    #[wasm_bindgen(js_name = switchSession)]
    pub fn switch_session(&self, session_id: Option<String>) {
        let frame = self
            .inner
            .shared
            .with(|store| store.switch_session(session_id.as_deref()));
        self.inner
            .shared
            .notify_action(&Action::SwitchRequested { session_id });
        if !self.inner.send_if_open(&frame) {
            *self.inner.pending_switch.borrow_mut() = Some(frame);
        }
    }

    /// Interrupts the current turn, with `text` to run next if given (throws
    /// `no_current_session`). Waits in the outbox like a send.
    pub fn interrupt(&self, text: Option<String>) -> Result<(), JsValue> {
        let frame = self
            .inner
            .shared
            .with(|store| store.interrupt(text.as_deref()))
            .map_err(|error| crate::error::store_error(&error))?;
        self.inner.shared.notify_outbox_push();
        self.inner.send_if_open(&frame);
        Ok(())
    }

    /// Stops the current session's runtime; the session ends (throws `no_current_session`).
    pub fn stop(&self) -> Result<(), JsValue> {
        let frame = self
            .inner
            .shared
            .store()
            .stop()
            .map_err(|error| crate::error::store_error(&error))?;
        self.inner.send_or_queue(frame);
        Ok(())
    }

    /// Closes the current session gracefully: its turn finishes, then it ends (throws
    /// `no_current_session`).
    #[wasm_bindgen(js_name = closeSession)]
    pub fn close_session(&self) -> Result<(), JsValue> {
        let frame = self
            .inner
            .shared
            .store()
            .close_session()
            .map_err(|error| crate::error::store_error(&error))?;
        self.inner.send_or_queue(frame);
        Ok(())
    }

    /// Suspends the current session (throws `no_current_session`).
    pub fn suspend(&self) -> Result<(), JsValue> {
        let frame = self
            .inner
            .shared
            .store()
            .suspend()
            .map_err(|error| crate::error::store_error(&error))?;
        self.inner.send_or_queue(frame);
        Ok(())
    }

    /// Asks for the user's sessions; they arrive in `state.sessions`, page by page (the client
    /// asks for each following page itself, as `takeReadyFrames()` says), and the last page
    /// drops the sessions the listing did not name.
    #[wasm_bindgen(js_name = listSessions)]
    pub fn list_sessions(&self) {
        let frame = self.inner.shared.with(|store| store.list_sessions(None));
        self.inner.send_or_queue(frame);
    }

    /// Calls `listener(state, actions)` after every change; returns the unsubscribe function.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(state: ClientState, actions: Action[]) => void")]
        listener: Function,
    ) -> Function {
        self.inner.shared.subscribe(listener)
    }

    /// The state snapshot (its `connection` is `closed`, `connecting` or `open`).
    #[wasm_bindgen(js_name = getState, unchecked_return_type = "ClientState")]
    pub fn get_state(&self) -> JsValue {
        self.inner.shared.state_js()
    }
}

impl SessionwireClient {
    fn last_client_msg_id(&self) -> String {
        let store = self.inner.shared.store();
        store
            .state()
            .outbox
            .last()
            .map(|entry| entry.client_msg_id.clone())
            .unwrap_or_default()
    }
}

impl Inner {
    fn is_open(&self) -> bool {
        self.socket.borrow().is_some() && self.shared.store().state().connection == Connection::Open
    }

    /// Sends a frame if `welcome` has arrived; returns whether it was sent.
    fn send_if_open(&self, frame: &str) -> bool {
        if !self.is_open() || frame.is_empty() {
            return false;
        }
        self.socket
            .borrow()
            .as_ref()
            .is_some_and(|socket| socket.send(frame))
    }

    fn send_or_queue(&self, frame: String) {
        if !self.send_if_open(&frame) {
            self.control.borrow_mut().push(frame);
        }
    }

    fn open_socket(&self) {
        match Socket::open(&self.url, self.me.clone()) {
            Ok(socket) => *self.socket.borrow_mut() = Some(socket),
            Err(error) => {
                // An invalid URL will not get better: give up and tell the waiters.
                self.wanted.set(false);
                for (_, reject) in self.waiters.borrow_mut().drain(..).collect::<Vec<_>>() {
                    let _ = reject.call1(&JsValue::UNDEFINED, &error);
                }
            }
        }
    }

    /// The socket opened: the store hears of it, and `hello` goes out.
    fn on_open(&self) {
        self.shared.with(|store| store.connection_opened());
        self.shared.notify_action(&Action::ConnectionOpened);
        let hello = self.shared.store().hello(self.options.token.clone());
        if let Some(socket) = self.socket.borrow().as_ref() {
            socket.send(&hello);
        }
    }

    /// A text frame arrived.
    fn on_frame(&self, frame: &JsValue) {
        let this = self;
        let actions = match this.shared.receive(frame) {
            Ok((actions, _)) => actions,
            Err(error) => {
                crate::shared::report("sessionwire: refused a frame from the server", &error);
                return;
            }
        };
        for action in &actions {
            match action {
                Action::Welcome { .. } => this.on_welcome(),
                Action::GapDetected { session_id, .. } => {
                    let frame = this.shared.store().reconnect_frame(Some(session_id));
                    if let Some(frame) = frame {
                        this.send_if_open(&frame);
                    }
                }
                Action::Pong { .. } => this.awaiting_pong.set(false),
                _ => {}
            }
        }
        let ready = this.shared.with(|store| store.take_ready_frames());
        for frame in ready {
            this.send_if_open(&frame);
        }
    }

    fn on_welcome(&self) {
        let this = self;
        this.attempt.set(0);
        let mut frames = this.shared.with(|store| store.pending_frames());
        frames.append(&mut this.control.borrow_mut());
        frames.extend(this.pending_switch.borrow_mut().take());
        for frame in &frames {
            this.send_if_open(frame);
        }
        this.start_ping();
        for (resolve, _) in this.waiters.borrow_mut().drain(..).collect::<Vec<_>>() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }

    fn start_ping(&self) {
        self.awaiting_pong.set(false);
        let weak = self.me.clone();
        let timer = Timer::every(self.options.ping_interval_ms, move || {
            if let Some(inner) = weak.upgrade() {
                inner.ping_tick();
            }
        });
        *self.ping_timer.borrow_mut() = Some(timer);
    }

    fn ping_tick(&self) {
        if self.awaiting_pong.get() {
            // No pong since the last tick: the socket is dead even if it does not know yet.
            self.on_lost();
            return;
        }
        self.awaiting_pong.set(true);
        let count = self.ping_count.get() + 1;
        self.ping_count.set(count);
        let ping = self.shared.store().ping(Some(u64_text(count)));
        self.send_if_open(&ping);
    }

    /// The socket closed or was found dead: the store hears of it and, unless `close()` was
    /// called, a reconnect is scheduled.
    fn on_lost(&self) {
        if !self.lose_socket() {
            return;
        }
        if self.wanted.get() {
            self.schedule_reconnect();
        }
    }

    /// Drops the socket and the ping timer; returns whether there was a socket.
    fn lose_socket(&self) -> bool {
        self.ping_timer.borrow_mut().take();
        let socket = self.socket.borrow_mut().take();
        let Some(socket) = socket else {
            return false;
        };
        socket.close();
        drop(socket);
        if self.shared.store().state().connection != Connection::Closed {
            self.shared.with(|store| store.connection_lost());
            self.shared.notify_action(&Action::ConnectionLost);
        }
        true
    }

    fn schedule_reconnect(&self) {
        let attempt = self.attempt.get();
        self.attempt.set(attempt.saturating_add(1));
        let delay = self.options.backoff(attempt, js_sys::Math::random());
        let weak = self.me.clone();
        let timer = Timer::once(delay, move || {
            if let Some(inner) = weak.upgrade() {
                inner.reconnect_timer.borrow_mut().take();
                if inner.wanted.get() && inner.socket.borrow().is_none() {
                    inner.open_socket();
                }
            }
        });
        *self.reconnect_timer.borrow_mut() = Some(timer);
    }
}

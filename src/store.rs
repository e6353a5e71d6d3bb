//! `ClientStore`: the client store of PROTOCOL.md §8 for JavaScript. Pure conversion: every
//! decision is the core's `Store`.

use crate::convert::json_text;
use crate::error::{js_error, store_error, INVALID_ACTION};
use crate::shared::{actions_js, Shared};
use js_sys::Function;
use sessionwire_core::store::Action;
use wasm_bindgen::prelude::*;

/// A random prefix for `clientMsgId`s, so ids are unique per user across tabs and reloads.
pub(crate) fn random_prefix() -> String {
    let mut prefix = String::with_capacity(20);
    for _ in 0..2 {
        // 2 × 48 random bits in base 36.
        let mut n = (js_sys::Math::random() * 281_474_976_710_656.0) as u64;
        for _ in 0..10 {
            let digit = (n % 36) as u32;
            prefix.push(char::from_digit(digit, 36).unwrap_or('0'));
            n /= 36;
        }
    }
    prefix
}

/// The sessionwire client store: feed it every server frame, render `getState()`, and send the
/// frames its calls return. It has no socket of its own (see `SessionwireClient` for one that
/// does).
#[wasm_bindgen]
#[derive(Debug)]
pub struct ClientStore {
    shared: Shared,
}

impl ClientStore {
    /// A store whose `clientMsgId`s start with `prefix` (tests use a fixed one).
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            shared: Shared::new(prefix),
        }
    }

    /// `receive` (its type is in [`JS_METHODS`]) in Rust: the same steps, errors and
    /// notifications as JavaScript's, which src/js/store.js implements with `receiveWritten`
    /// and the frame transfer, and which this shares its parsing, applying and describing
    /// with. The Wasm suites drive it; it is not exported (the package never called it).
    pub fn receive(&self, frame: &JsValue) -> Result<JsValue, JsValue> {
        self.shared.receive(frame).map(|(_, js)| js)
    }

    /// `getState` in Rust, for the Wasm suites: src/js/store.js reads the mirror itself.
    pub fn get_state(&self) -> JsValue {
        self.shared.state_js()
    }

    /// `subscribe` in Rust, for the Wasm suites: src/js/store.js adds to the mirror itself.
    pub fn subscribe(&self, listener: Function) -> Function {
        self.shared.subscribe(&listener).unchecked_into()
    }
}

/// The types of the `ClientStore` methods src/js/store.js implements without a Wasm export of
/// their own (each was a call into Wasm that only reached the JavaScript mirror), merged into
/// wasm-bindgen's class.
#[wasm_bindgen(typescript_custom_section)]
const JS_METHODS: &'static str = r#"
export interface ClientStore {
  /**
   * Parses a server frame and applies it (PROTOCOL.md §7). Returns the actions applied: none
   * for a duplicate event, `GAP_DETECTED` (once) for an event after a gap. A bad frame throws
   * an `Error` whose `code` is the §6 code (`bad_frame`, `unknown_type`, `invalid_field`
   * with `field` set) and changes nothing.
   */
  receive(frame: string): Action[];
  /**
   * The state: a plain object, a snapshot (it does not change afterwards).
   */
  getState(): ClientState;
  /**
   * Calls `listener(state, actions)` after every change; returns the function that
   * unsubscribes it. A listener that throws is reported on the console and does not stop
   * the others.
   */
  subscribe(listener: (state: ClientState, actions: Action[]) => void): () => void;
}
"#;

impl Default for ClientStore {
    fn default() -> Self {
        Self::new(None)
    }
}

#[wasm_bindgen]
impl ClientStore {
    /// A new, empty store (connection `closed`, no sessions). New `clientMsgId`s are
    /// `idPrefix` (default: a random one) plus a counter. Give a prefix only for deterministic
    /// tests: two stores of one user with the same prefix would reuse ids, which the server
    /// takes as retries.
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(js_name = idPrefix)] id_prefix: Option<String>) -> Self {
        match id_prefix {
            Some(prefix) => Self::with_prefix(&prefix),
            None => Self::with_prefix(&random_prefix()),
        }
    }

    /// `receive` for a frame written by `frameTransfer().write(frame)`; returns the address
    /// of the actions' description, which `frameTransfer().finish(frame, address)` builds (0:
    /// write again). What `ClientStore.receive` of src/js/store.js calls: not API.
    #[wasm_bindgen(js_name = receiveWritten, skip_typescript)]
    pub fn receive_written(&self, written: i32) -> Result<u32, JsValue> {
        self.shared.receive_written(written)
    }

    /// The JavaScript half of the frame transfer, for `ClientStore.receive` of
    /// src/js/store.js: not API.
    #[wasm_bindgen(js_name = frameTransfer, skip_typescript)]
    pub fn frame_transfer(&self) -> JsValue {
        self.shared.frame_transfer()
    }

    /// Applies one action directly (throws `invalid_action` for an object that is not one).
    pub fn dispatch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Action")] action: JsValue,
    ) -> Result<(), JsValue> {
        let text = json_text(&action, INVALID_ACTION)?;
        let parsed =
            Action::from_json(&text).map_err(|message| js_error(INVALID_ACTION, &message, None))?;
        // The JavaScript form first, so the store can take the action itself: no copy of it.
        let js = actions_js(std::slice::from_ref(&parsed));
        self.shared.with(|store| store.dispatch(parsed));
        self.shared.notify(&js);
        Ok(())
    }

    /// The `hello` frame to send when the socket opens.
    pub fn hello(&self, token: Option<String>) -> String {
        self.shared.store().hello(token)
    }

    /// Sends `text` to the current session, or creates a session when there is none. The
    /// message shows at once (pending) and waits in the outbox, with a fresh `clientMsgId`,
    /// until its `ack`. Returns the frame to send now, or `""` when there is nothing to send
    /// yet: the message waits for a session still being created and comes out of
    /// `takeReadyFrames()` once `session_created` arrives.
    pub fn send(&self, text: &str) -> String {
        let frame = self.shared.with(|store| store.send(text));
        self.shared.notify_outbox_push();
        frame.unwrap_or_default()
    }

    /// Sends `text` to a new session (it becomes current when `session_created` arrives).
    #[wasm_bindgen(js_name = createSession)]
    pub fn create_session(&self, text: &str) -> String {
        let frame = self.shared.with(|store| store.create_session(text));
        self.shared.notify_outbox_push();
        frame
    }

    /// Makes `sessionId` current (`null` clears it) and returns the `switch_session` frame. The
    /// conversation held for it shows at once; only later events are asked for.
    #[wasm_bindgen(js_name = switchSession)]
    pub fn switch_session(&self, session_id: Option<String>) -> String {
        let frame = self
            .shared
            .with(|store| store.switch_session(session_id.as_deref()));
        self.shared
            .notify_action(Action::SwitchRequested { session_id });
        frame
    }

    /// Interrupts the current session's turn, with `text` to run next if given. Throws
    /// `no_current_session` when there is no current session.
    pub fn interrupt(&self, text: Option<String>) -> Result<String, JsValue> {
        let frame = self
            .shared
            .with(|store| store.interrupt(text.as_deref()))
            .map_err(|error| store_error(&error))?;
        self.shared.notify_outbox_push();
        Ok(frame)
    }

    /// Answers a pending permission request with one of its options; returns the
    /// `respond_permission` frame. The answer waits in the outbox until acked. Throws
    /// `no_current_session` when no session holds the request and none is current.
    #[wasm_bindgen(js_name = respondPermission)]
    pub fn respond_permission(
        &self,
        request_id: String,
        option_id: String,
    ) -> Result<String, JsValue> {
        let frame = self
            .shared
            .with(|store| store.respond_permission(&request_id, &option_id))
            .map_err(|error| store_error(&error))?;
        self.shared.notify_outbox_push();
        Ok(frame)
    }

    /// The transport opened (`connection` becomes `connecting` until `welcome`).
    #[wasm_bindgen(js_name = connectionOpened)]
    pub fn connection_opened(&self) {
        self.shared.with(|store| store.connection_opened());
        self.shared.notify_action(Action::ConnectionOpened {});
    }

    /// The transport closed: sends wait in the outbox from now on.
    #[wasm_bindgen(js_name = connectionLost)]
    pub fn connection_lost(&self) {
        self.shared.with(|store| store.connection_lost());
        self.shared.notify_action(Action::ConnectionLost {});
    }

    /// The frames to send after `welcome`: a `reconnect` for the sessions held, then every
    /// unacknowledged request with its original `clientMsgId`.
    #[wasm_bindgen(js_name = pendingFrames)]
    pub fn pending_frames(&self) -> Vec<String> {
        self.shared.with(|store| store.pending_frames())
    }

    /// The frame that stops the current session's runtime (throws `no_current_session`).
    pub fn stop(&self) -> Result<String, JsValue> {
        self.shared
            .store()
            .stop()
            .map_err(|error| store_error(&error))
    }

    /// The frame that closes the current session gracefully (throws `no_current_session`).
    #[wasm_bindgen(js_name = closeSession)]
    pub fn close_session(&self) -> Result<String, JsValue> {
        self.shared
            .store()
            .close_session()
            .map_err(|error| store_error(&error))
    }

    /// The frame that suspends the current session (throws `no_current_session`).
    pub fn suspend(&self) -> Result<String, JsValue> {
        self.shared
            .store()
            .suspend()
            .map_err(|error| store_error(&error))
    }

    /// The `list_sessions` frame: the first page of the user's sessions, or with `before` (the
    /// `next` of a `SESSIONS_LISTED`) the page after it. A first page starts a listing that
    /// replaces `sessions` once its last page has arrived; send every frame this returns (replies
    /// are matched to requests in order).
    #[wasm_bindgen(js_name = listSessions)]
    pub fn list_sessions(&self, before: Option<String>) -> String {
        self.shared.with(|store| store.list_sessions(before))
    }

    /// A `ping` frame.
    pub fn ping(&self, nonce: Option<String>) -> String {
        self.shared.store().ping(nonce)
    }

    /// A `reconnect` frame for one session (to repair a gap after `GAP_DETECTED`), or for every
    /// session held; `undefined` when there is none.
    #[wasm_bindgen(js_name = reconnectFrame)]
    pub fn reconnect_frame(&self, session_id: Option<String>) -> Option<String> {
        self.shared.store().reconnect_frame(session_id.as_deref())
    }

    /// The frames to send now: messages that waited for a session being created and can go
    /// now, and the `list_sessions` for the next page of a session listing in progress (after a
    /// page with `next`, or after `welcome` when a lost connection cut the listing short). Call
    /// it after `receive`; each frame comes out once.
    #[wasm_bindgen(js_name = takeReadyFrames)]
    pub fn take_ready_frames(&self) -> Vec<String> {
        self.shared.with(|store| store.take_ready_frames())
    }
}

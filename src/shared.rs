//! The store, its state mirror (which holds the listeners) and the buffers frames cross in:
//! what a [`crate::ClientStore`] is made of.
//!
//! Every method borrows the store only for the duration of the core call and releases it before
//! any listener runs, so a listener may call back into the store (say, `getState()`).

use crate::convert::{json_to_js, to_js};
use crate::transfer::{StateMirror, Transfer};
use js_sys::Array;
use sessionwire_core::store::{Action, OutboxEntry, OutboxKind, Store};
use std::cell::{Ref, RefCell, RefMut};
use wasm_bindgen::prelude::*;

/// The store, the state mirror (with the subscribers), and the patch buffer.
#[derive(Debug)]
pub(crate) struct Shared {
    store: RefCell<Store>,
    /// The buffers frames cross the boundary in (made on the first frame).
    transfer: RefCell<Option<Transfer>>,
    /// The structurally shared state JavaScript reads, and the text patches cross in.
    mirror: StateMirror,
    patch: RefCell<String>,
}

impl Shared {
    pub(crate) fn new(id_prefix: &str) -> Self {
        crate::floats::install();
        Self {
            store: RefCell::new(Store::new(id_prefix)),
            transfer: RefCell::default(),
            mirror: StateMirror::new(),
            patch: RefCell::default(),
        }
    }

    /// Hands what changed in the store since the last patch to the mirror.
    fn flush(&self) {
        let mut patch = self.patch.borrow_mut();
        patch.clear();
        if self.store.borrow_mut().append_patch(&mut patch) {
            self.mirror.patch(&patch);
        }
    }

    /// Tells the store of the deltas JavaScript took as predicted: first thing in every call
    /// that reads or changes the store.
    fn take_predicted(&self) {
        if let Some(transfer) = self.transfer.borrow_mut().as_mut() {
            transfer.take_predicted(&mut self.store.borrow_mut());
        }
    }

    /// The store, borrowed (never across a listener call).
    pub(crate) fn store(&self) -> Ref<'_, Store> {
        self.take_predicted();
        self.store.borrow()
    }

    /// Runs a core call that changes the store.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        self.take_predicted();
        let result = f(&mut self.store.borrow_mut());
        self.flush();
        result
    }

    /// The state: the same object until something changes, shared structurally with the one
    /// before (PROTOCOL.md §7).
    pub(crate) fn state_js(&self) -> JsValue {
        self.mirror.state()
    }

    /// Parses and applies a frame (a JavaScript string); returns the applied actions: in Rust
    /// form those the client acts on (see [`crate::transfer::Applied`]), in JS form all of them.
    #[cfg_attr(sessionwire_size, optimize(speed))]
    pub(crate) fn receive(&self, frame: &JsValue) -> Result<(Vec<Action>, JsValue), JsValue> {
        self.take_predicted();
        let applied = self
            .transfer()
            .receive(&mut self.store.borrow_mut(), frame)?;
        if !applied.described.mirrored {
            self.flush();
        }
        if applied.described.changed {
            self.notify(&applied.js);
        }
        Ok((applied.actions, applied.js))
    }

    /// The receive path of `ClientStore.receive` (src/js/store.js): the frame is written by
    /// JavaScript already (`written`: what `write` returned) and its actions are built there,
    /// from the description whose address this returns (0: the buffer grew, write again).
    #[cfg_attr(sessionwire_size, optimize(speed))]
    pub(crate) fn receive_written(&self, written: i32) -> Result<u32, JsValue> {
        self.take_predicted();
        let applied = self
            .transfer()
            .receive_written(&mut self.store.borrow_mut(), written)?;
        let Some((out, described)) = applied else {
            return Ok(0);
        };
        if !described.mirrored {
            self.flush();
        }
        Ok(out)
    }

    /// The JavaScript half of the frame transfer (made on first use), which
    /// `ClientStore.receive` writes frames with and builds actions with.
    pub(crate) fn frame_transfer(&self) -> JsValue {
        self.transfer().js.clone().into()
    }

    /// The frame transfer, made on first use (borrowed for one call, never across a listener).
    fn transfer(&self) -> RefMut<'_, Transfer> {
        RefMut::map(self.transfer.borrow_mut(), |transfer| {
            transfer.get_or_insert_with(|| Transfer::new(&self.mirror))
        })
    }

    /// Tells every subscriber about a change (they live in the mirror, with the state).
    pub(crate) fn notify(&self, actions: &JsValue) {
        self.mirror.notify(actions);
    }

    /// Notifies subscribers of one action the store applied for a client call. The action
    /// goes to the core whole even with no subscriber (`Action::into_json_array` says why).
    pub(crate) fn notify_action(&self, action: Action) {
        let json = action.into_json_array();
        if self.mirror.listening() {
            self.notify(&json_to_js(&json));
        }
    }

    /// Notifies subscribers of the request the last client call put in the outbox.
    pub(crate) fn notify_outbox_push(&self) {
        let action = self.store.borrow().state().outbox.last().map(outbox_action);
        if let Some(action) = action {
            self.notify_action(action);
        }
    }

    /// Adds a listener; the returned function removes it.
    pub(crate) fn subscribe(&self, listener: &JsValue) -> JsValue {
        self.mirror.subscribe(listener)
    }
}

/// The actions as a JavaScript array of plain objects (one JSON text, one `JSON.parse`).
pub(crate) fn actions_js(actions: &[Action]) -> JsValue {
    if actions.is_empty() {
        return Array::new().into();
    }
    to_js(&actions)
}

/// The action an outbox entry was made by (`USER_SEND`, `USER_INTERRUPT` or
/// `PERMISSION_RESPONSE`).
fn outbox_action(entry: &OutboxEntry) -> Action {
    match entry.kind {
        OutboxKind::Send => Action::UserSend {
            client_msg_id: entry.client_msg_id.clone(),
            session_id: entry.session_id.clone(),
            text: entry.text.clone().unwrap_or_default(),
        },
        OutboxKind::Interrupt => Action::UserInterrupt {
            client_msg_id: entry.client_msg_id.clone(),
            session_id: entry.session_id.clone().unwrap_or_default(),
            text: entry.text.clone(),
        },
        OutboxKind::Permission => Action::PermissionResponse {
            client_msg_id: entry.client_msg_id.clone(),
            session_id: entry.session_id.clone().unwrap_or_default(),
            request_id: entry.request_id.clone().unwrap_or_default(),
            option_id: entry.option_id.clone().unwrap_or_default(),
        },
    }
}

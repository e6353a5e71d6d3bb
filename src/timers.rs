//! `setTimeout`/`setInterval` from the global scope (browsers, workers and Node alike).

use js_sys::Function;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
    #[wasm_bindgen(js_name = setInterval)]
    fn set_interval(handler: &Function, ms: f64) -> JsValue;
}

/// A running timer and the closure it calls; dropping it cancels the timer.
pub(crate) struct Timer {
    id: JsValue,
    _closure: Closure<dyn FnMut()>,
}

impl Timer {
    /// Calls `f` once after `ms` milliseconds.
    pub(crate) fn once(ms: f64, f: impl FnMut() + 'static) -> Self {
        let closure = Closure::<dyn FnMut()>::new(f);
        let id = set_timeout(closure.as_ref().unchecked_ref(), ms);
        Self {
            id,
            _closure: closure,
        }
    }

    /// Calls `f` every `ms` milliseconds.
    pub(crate) fn every(ms: f64, f: impl FnMut() + 'static) -> Self {
        let closure = Closure::<dyn FnMut()>::new(f);
        let id = set_interval(closure.as_ref().unchecked_ref(), ms);
        Self {
            id,
            _closure: closure,
        }
    }
}

impl Drop for Timer {
    /// `clearTimeout` cancels an interval too: browsers and Node keep one list of timers for
    /// both (the HTML standard's "map of active timers"), so one import serves both kinds.
    fn drop(&mut self) {
        clear_timeout(&self.id);
    }
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timer").finish_non_exhaustive()
    }
}

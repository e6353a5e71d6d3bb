//! The Wasm suite in headless Chromium (`wasm-pack test --headless --chrome`): the same tests
//! as `tests/node.rs` (the WebSocket client is JavaScript: tests/node/ and tests/consumers/).
#![cfg(target_arch = "wasm32")]

mod wasm;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

wasm_suite!();

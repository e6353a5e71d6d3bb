//! The TypeScript declarations of the core's types (`Action`, `ClientState`, frames), generated
//! from the Rust types by ts-rs (see `tests/typescript.rs`, which fails when the committed
//! file is stale) and inserted into the package's `.d.ts`.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = include_str!("types.d.ts");

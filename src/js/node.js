// The package's entry for Node (and for server-side rendering): importing it loads nothing;
// `init()` reads the .wasm next to this file synchronously and compiles it.
import { initSync } from "#glue";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { markReady } from "./ready.js";

export * from "./api.js";

let loaded = false;

/// Loads the .wasm once (later calls resolve at once). `input` may pass the bytes or a module.
export default function init(input) {
  if (!loaded) {
    // `__dirname`: this file is shipped as CommonJS (node.cjs; node.mjs re-exports it).
    initSync({ module: input ?? readFileSync(join(__dirname, "sessionwire_bg.wasm")) });
    loaded = true;
    markReady();
  }
  return Promise.resolve();
}

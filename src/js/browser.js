// The package's entry for browsers and bundlers (Vite, webpack: no plugin, no config). `init()`
// fetches and instantiates the .wasm next to this file; bundlers see the `new URL(...,
// import.meta.url)` below and ship the file.
import initWasm from "#glue";
import { markReady } from "./ready.js";

export * from "./api.js";

let loading = null;

/// Loads the .wasm once (later calls return the same promise). `input` may name another URL or
/// pass the bytes or a compiled module.
export default function init(input) {
  loading ??= initWasm({ module_or_path: input ?? wasmUrl() }).then(
    () => markReady(),
    (error) => {
      loading = null; // a failed fetch may be retried
      throw error;
    },
  );
  return loading;
}

function wasmUrl() {
  const url = new URL("sessionwire_bg.wasm", import.meta.url);
  // Vite's dev server pre-bundles dependencies into node_modules/.vite/deps/ without the files
  // they load (vitejs/vite#8427); the .wasm is still where npm installed it.
  const deps = "/node_modules/.vite/deps/";
  const at = url.pathname.lastIndexOf(deps);
  if (at < 0) return url;
  const installed = url.pathname.slice(0, at) + "/node_modules/sessionwire/sessionwire_bg.wasm";
  return new URL(installed, url);
}

// The JavaScript faces of the Wasm exports: `ClientStore` and `parseServerFrame` refuse to run
// before `init()`, and every store method works unbound.
import { ClientStore as WasmClientStore, parseServerFrame as wasmParseServerFrame } from "#glue";
import { assertReady } from "./ready.js";
import { bindMethods } from "./bind.js";

bindMethods(WasmClientStore);

export class ClientStore extends WasmClientStore {
  constructor(idPrefix) {
    assertReady();
    super(idPrefix);
  }
}

export function parseServerFrame(frame) {
  assertReady();
  return wasmParseServerFrame(frame);
}

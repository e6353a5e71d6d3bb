// The JavaScript faces of the Wasm exports: `ClientStore` and `parseServerFrame` refuse to run
// before `init()`, every store method works unbound, and `receive` takes its fast path.
import { ClientStore as WasmClientStore, parseServerFrame as wasmParseServerFrame } from "#glue";
import { assertReady } from "./ready.js";
import { bindMethods } from "./bind.js";

bindMethods(WasmClientStore);

export class ClientStore extends WasmClientStore {
  #transfer = null;

  constructor(idPrefix) {
    assertReady();
    super(idPrefix);
  }

  // The Wasm `receive`, with its two calls back into JavaScript made from here instead: the
  // frame is written into Wasm memory before the call, and its actions built after it
  // (src/transfer.rs says why neither is wasm-bindgen's own). The same steps, errors and
  // notifications as the Wasm `receive`, which the Wasm suites drive. A delta the store
  // predicted does not cross into Wasm (`FrameTransfer.predict`).
  receive(frame) {
    const transfer = (this.#transfer ??= this.frameTransfer());
    // The block's next delta, when the store predicted it: no Wasm at all.
    const action = transfer.predict(frame);
    if (action !== null) {
      const actions = [action];
      transfer.mirror.notify(actions);
      return actions;
    }
    let out;
    do out = this.receiveWritten(transfer.write(frame));
    while (out === 0);
    return transfer.finish(frame, out);
  }

  // The state and its subscribers live in the mirror (src/transfer.js): read and added to here,
  // with no call into Wasm (a UI reads the state after every frame).
  getState() {
    return (this.#transfer ??= this.frameTransfer()).mirror.state();
  }

  subscribe(listener) {
    return (this.#transfer ??= this.frameTransfer()).mirror.subscribe(listener);
  }
}

bindMethods(ClientStore);

export function parseServerFrame(frame) {
  assertReady();
  return wasmParseServerFrame(frame);
}

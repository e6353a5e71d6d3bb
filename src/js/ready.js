// The package's `init()` state: every entry point checks it, so a call before `await init()`
// throws `not_initialized` instead of failing deep inside the Wasm glue (PROTOCOL.md §8).
import { SessionwireError, NOT_INITIALIZED } from "./error.js";

let ready = false;

export function markReady() {
  ready = true;
}

export function assertReady() {
  if (!ready)
    throw new SessionwireError(
      NOT_INITIALIZED,
      'sessionwire: call `await init()` (the default export of "sessionwire") before using the package',
    );
}

// What every entry of the package exports besides `init` (PROTOCOL.md §8).
export { ClientStore, parseServerFrame } from "./store.js";
export { SessionwireClient } from "./client.js";
export { SessionwireError } from "./error.js";
// Replaced by scripts/build-pkg.sh (esbuild `define`) with PROTOCOL_VERSION of crates/core.
export const PROTOCOL_VERSION = __SESSIONWIRE_PROTOCOL__;

// SessionwireError: every error the package throws (PROTOCOL.md §6 and §8). The Wasm side makes
// them through this class too (src/error.rs imports it), so `instanceof SessionwireError` holds
// for a bad frame as much as for a call before `init()`.
export class SessionwireError extends Error {
  constructor(code, message, field) {
    super(message);
    this.name = "SessionwireError";
    this.code = code;
    if (field != null) this.field = field;
  }
}

// The package's own codes, next to the §6 codes a server sends.
export const NOT_INITIALIZED = "not_initialized";
export const INVALID_ARGUMENT = "invalid_argument";
export const CLOSED = "closed";

//! `SessionwireClient` options and the reconnect backoff.

use crate::convert::from_js;
use crate::error::INVALID_ARGUMENT;
use serde::Deserialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const OPTIONS_TS: &'static str = r#"
/** Options of `new SessionwireClient(url, options)`. */
export interface SessionwireClientOptions {
  /** Sent in `hello`; the server maps it to a user. */
  token?: string;
  /** How often to ping; a `pong` missing at the next tick means a dead socket. Default 15000. */
  pingIntervalMs?: number;
  /** First reconnect delay; it doubles per failed attempt, with jitter. Default 500. */
  reconnectBaseMs?: number;
  /** The cap on the reconnect delay. Default 30000. */
  reconnectMaxMs?: number;
}
"#;

/// The options, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Options {
    pub(crate) token: Option<String>,
    pub(crate) ping_interval_ms: f64,
    pub(crate) reconnect_base_ms: f64,
    pub(crate) reconnect_max_ms: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            token: None,
            ping_interval_ms: 15_000.0,
            reconnect_base_ms: 500.0,
            reconnect_max_ms: 30_000.0,
        }
    }
}

impl Options {
    pub(crate) fn from_js(value: Option<JsValue>) -> Result<Self, JsValue> {
        match value {
            Some(value) if !value.is_undefined() && !value.is_null() => {
                from_js(value, INVALID_ARGUMENT)
            }
            _ => Ok(Self::default()),
        }
    }

    /// The delay before reconnect attempt `attempt` (0-based): exponential, capped, with
    /// "equal jitter" (between half and all of it) so that many tabs do not reconnect at once.
    /// `random` is in [0, 1).
    pub(crate) fn backoff(&self, attempt: u32, random: f64) -> f64 {
        let exponential = self.reconnect_base_ms * 2f64.powi(attempt.min(30) as i32);
        let capped = exponential.min(self.reconnect_max_ms).max(0.0);
        capped / 2.0 + random * capped / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::Options;

    #[test]
    fn backoff_doubles_then_caps_with_jitter() {
        let options = Options::default();
        assert_eq!(options.backoff(0, 0.0), 250.0);
        assert_eq!(options.backoff(0, 1.0), 500.0);
        assert_eq!(options.backoff(1, 1.0), 1000.0);
        assert_eq!(options.backoff(20, 1.0), 30_000.0);
        assert_eq!(options.backoff(u32::MAX, 0.0), 15_000.0);
    }
}

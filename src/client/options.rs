//! `SessionwireClient` options and the reconnect backoff.

use crate::convert::json_text;
use crate::error::{js_error, INVALID_ARGUMENT};
use sessionwire_core::protocol::decode::{DecodeError, Fields, Path};
use sessionwire_core::protocol::json;
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
#[derive(Debug, Clone, PartialEq)]
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
                Self::from_json(&json_text(&value, INVALID_ARGUMENT)?)
                    .map_err(|message| js_error(INVALID_ARGUMENT, &message, None))
            }
            _ => Ok(Self::default()),
        }
    }

    /// Reads the options from JSON text: every field may be absent (its default), `token` may
    /// be `null`, unknown fields are ignored (the rules serde's `#[serde(default)]` had).
    fn from_json(text: &str) -> Result<Self, String> {
        let json = json::parse(text).map_err(|error| error.message())?;
        let read = || -> Result<Self, DecodeError> {
            const ORDER: &[&str] = &[
                "token",
                "pingIntervalMs",
                "reconnectBaseMs",
                "reconnectMaxMs",
            ];
            let defaults = Self::default();
            let f = Fields::new(&json, Path::Root, "struct Options", ORDER)?;
            // In byte order of the keys, as serde visits them.
            let ping_interval_ms = f.req("pingIntervalMs")?;
            let reconnect_base_ms = f.req("reconnectBaseMs")?;
            let reconnect_max_ms = f.req("reconnectMaxMs")?;
            let token = f.opt("token")?;
            f.done(Self {
                token,
                ping_interval_ms: ping_interval_ms.unwrap_or(defaults.ping_interval_ms),
                reconnect_base_ms: reconnect_base_ms.unwrap_or(defaults.reconnect_base_ms),
                reconnect_max_ms: reconnect_max_ms.unwrap_or(defaults.reconnect_max_ms),
            })
        };
        read().map_err(|error| error.message)
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Options;

    #[test]
    fn options_read_like_serde_default() {
        let defaults = Options::default();
        assert_eq!(Options::from_json("{}"), Ok(defaults.clone()));
        let read = Options::from_json(r#"{"token":"t","pingIntervalMs":5,"x":[1]}"#).unwrap();
        assert_eq!(read.token.as_deref(), Some("t"));
        assert_eq!(read.ping_interval_ms, 5.0);
        assert_eq!(read.reconnect_max_ms, defaults.reconnect_max_ms);
        assert_eq!(Options::from_json(r#"{"token":null}"#), Ok(defaults));
        for bad in [
            r#"{"token":1}"#,
            r#"{"pingIntervalMs":null}"#,
            r#"{"reconnectMaxMs":"1"}"#,
            "5",
        ] {
            assert!(Options::from_json(bad).is_err(), "{bad}");
        }
    }

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

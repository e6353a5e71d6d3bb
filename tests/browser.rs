//! The Wasm suite in headless Chromium (`wasm-pack test --headless --chrome`): the same tests
//! as `tests/node.rs`, plus the WebSocket client.
#![cfg(target_arch = "wasm32")]

mod wasm;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

wasm_suite!();

mod client {
    #![allow(clippy::unwrap_used)]

    use js_sys::{Promise, Reflect, JSON};
    use serde_json::Value;
    use sessionwire::SessionwireClient;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn state(client: &SessionwireClient) -> Value {
        let text: String = JSON::stringify(&client.get_state()).unwrap().into();
        serde_json::from_str(&text).unwrap()
    }

    async fn sleep(ms: i32) {
        let promise = Promise::new(&mut |resolve, _| {
            let window = web_sys::window().unwrap();
            window
                .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
                .unwrap();
        });
        JsFuture::from(promise).await.unwrap();
    }

    fn code(error: &JsValue) -> String {
        Reflect::get(error, &"code".into())
            .unwrap()
            .as_string()
            .unwrap_or_default()
    }

    /// With no server to reach: calls show at once and wait in the outbox, the client keeps
    /// retrying (state `closed` between attempts), and `close()` rejects `connect()`.
    #[wasm_bindgen_test]
    async fn client_offline_outbox_retries_and_close() {
        let options =
            JSON::parse(r#"{"reconnectBaseMs":10,"reconnectMaxMs":40,"pingIntervalMs":1000}"#)
                .unwrap();
        let client = SessionwireClient::new("ws://127.0.0.1:9/ws".into(), Some(options)).unwrap();
        let id = client.send("typed while offline");
        let s = state(&client);
        assert_eq!(s["connection"], "closed");
        assert_eq!(s["messages"][0]["text"], "typed while offline");
        assert_eq!(s["messages"][0]["status"], "pending");
        assert_eq!(s["outbox"][0]["clientMsgId"], Value::String(id));
        let connected = client.connect();
        sleep(300).await;
        assert_ne!(state(&client)["connection"], "open");
        client.close();
        let error = JsFuture::from(connected).await.unwrap_err();
        assert_eq!(code(&error), "closed");
        assert_eq!(
            state(&client)["outbox"].as_array().unwrap().len(),
            1,
            "the outbox is kept"
        );
    }

    #[wasm_bindgen_test]
    async fn client_rejects_an_invalid_url_and_bad_options() {
        let client = SessionwireClient::new("ws://[invalid".into(), None).unwrap();
        assert!(JsFuture::from(client.connect()).await.is_err());
        let bad = JSON::parse(r#"{"pingIntervalMs":"soon"}"#).unwrap();
        let error = SessionwireClient::new("ws://127.0.0.1:9/ws".into(), Some(bad)).unwrap_err();
        assert_eq!(code(&error), "invalid_argument");
    }
}

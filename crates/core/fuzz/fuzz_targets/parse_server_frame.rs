//! Any text through `parse_server_frame`: never a panic, and whatever parses re-encodes to a
//! frame that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessionwire_core::protocol::{encode, parse_server_frame};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(frame) = parse_server_frame(text) {
        let again = parse_server_frame(&encode(&frame)).expect("an encoded frame parses");
        assert_eq!(again, frame, "round trip of {text}");
    }
});

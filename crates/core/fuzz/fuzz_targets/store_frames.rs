//! The client store fed an arbitrary sequence of frames (one per line) and client calls: never
//! a panic, a refused frame changes nothing, and no view ever holds a gap it did not report.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessionwire_core::protocol::parse_server_frame;
use sessionwire_core::store::Store;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut store = Store::new("f");
    for line in text.lines() {
        // A line starting with `!` is a client call, so calls interleave with frames.
        match line.strip_prefix('!') {
            Some("send") => drop(store.send("x")),
            Some("create") => drop(store.create_session("x")),
            Some("interrupt") => drop(store.interrupt(Some("y"))),
            Some("lost") => store.connection_lost(),
            Some("opened") => store.connection_opened(),
            Some("pending") => drop(store.pending_frames()),
            Some("ready") => drop(store.take_ready_frames()),
            Some(session) => drop(store.switch_session(Some(session).filter(|s| !s.is_empty()))),
            None => {
                // `receive` is parse + apply, and only parsing can refuse a frame: so the state
                // is copied (the expensive part) only for the lines the parser refuses.
                if parse_server_frame(line).is_ok() {
                    store.receive(line).expect("a frame the parser accepts is applied");
                } else {
                    let before = store.state().clone();
                    assert!(store.receive(line).is_err(), "the store accepted a refused frame");
                    assert!(*store.state() == before, "a refused frame changed the state");
                }
            }
        }
    }
    // The snapshot is always serializable, whatever happened.
    serde_json::to_string(store.state()).expect("state serializes");
});

//! The client store fed an arbitrary sequence of frames (one per line) and client calls: never
//! a panic, a refused frame changes nothing, and no view ever holds a gap it did not report.
//! A second store takes every frame through the bindings' path (`receive_in_place`, which applies
//! a streamed delta in place) and must report the same actions and reach the same state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessionwire_core::protocol::parse_server_frame;
use sessionwire_core::store::{Received, Store};
use sessionwire_core::{Reply, ServerFrame, PROTOCOL_VERSION};

/// Whether the store refuses the frame: the parser refuses it, or it is a `welcome` of another
/// protocol version (well-formed, so the parser takes it, but the store must not).
fn refused(line: &str) -> bool {
    match parse_server_frame(line) {
        Ok(ServerFrame::Reply(Reply::Welcome(welcome))) => welcome.protocol != PROTOCOL_VERSION,
        Ok(_) => false,
        Err(_) => true,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut store = Store::new("f");
    let mut in_place = Store::new("f");
    for line in text.lines() {
        // A line starting with `!` is a client call, so calls interleave with frames.
        match line.strip_prefix('!') {
            Some(call) => {
                for store in [&mut store, &mut in_place] {
                    match call {
                        "send" => drop(store.send("x")),
                        "create" => drop(store.create_session("x")),
                        "interrupt" => drop(store.interrupt(Some("y"))),
                        "lost" => store.connection_lost(),
                        "opened" => store.connection_opened(),
                        "pending" => drop(store.pending_frames()),
                        "ready" => drop(store.take_ready_frames()),
                        session => {
                            drop(store.switch_session(Some(session).filter(|s| !s.is_empty())))
                        }
                    }
                }
            }
            None => {
                let other = in_place
                    .receive_in_place(line)
                    .map(Received::into_actions);
                // `receive` is parse + apply, and only parsing can refuse a frame: so the state
                // is copied (the expensive part) only for the lines the parser refuses.
                if !refused(line) {
                    let actions = store
                        .receive(line)
                        .expect("a frame the parser accepts is applied");
                    assert_eq!(other.ok(), Some(actions), "the in-place path differs");
                    assert!(
                        in_place.state() == store.state(),
                        "the in-place path's state differs"
                    );
                } else {
                    assert!(other.is_err(), "the in-place path accepted a refused frame");
                    let before = store.state().clone();
                    assert!(
                        store.receive(line).is_err(),
                        "the store accepted a refused frame"
                    );
                    assert!(
                        *store.state() == before,
                        "a refused frame changed the state"
                    );
                }
            }
        }
    }
    // The snapshot is always serializable, whatever happened.
    serde_json::to_string(store.state()).expect("state serializes");
});

//! The routing decisions with arbitrary states, runtimes, ownership and stored ids: never a
//! panic, and every decision respects the contract's invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessionwire_core::lifecycle::transition;
use sessionwire_core::routing::*;
use sessionwire_core::SessionState;

fuzz_target!(|data: &[u8]| {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let state = SessionState::ALL[byte(0) as usize % 7];
    let runtime = (byte(1) & 1 == 1).then(|| RuntimeView {
        generation: u64::from(byte(2)),
        turn_active: byte(1) & 2 == 2,
    });
    let session = (byte(1) & 4 == 4).then_some(SessionView {
        state,
        owned_by_caller: byte(1) & 8 == 8,
    });
    let lookup = Lookup { session, runtime };
    let stored = (byte(1) & 16 == 16).then(|| StoredMessage {
        session_id: "s".into(),
        seq: u64::from(byte(3)),
    });
    let named = (byte(1) & 32 == 32).then_some("s");
    let visible = session.filter(|s| s.owned_by_caller).map(|s| s.state);

    match decide_send(named, lookup, stored.clone()) {
        SendDecision::Duplicate {
            announce_session, ..
        } => assert!(stored.is_some() && announce_session == named.is_none()),
        SendDecision::Create => assert!(named.is_none() && stored.is_none()),
        SendDecision::NotFound => assert!(visible.is_none()),
        SendDecision::Deliver {
            generation,
            reattach,
        } => {
            let state = visible.expect("deliver needs a visible session");
            assert!(state.is_routable());
            assert_eq!(Some(generation), runtime.map(|r| r.generation));
            if let Some(to) = reattach {
                assert!(transition(state, to).is_ok());
            }
        }
        SendDecision::AbortZombieThenResume { .. } => {
            assert!(runtime.is_some() && !visible.expect("visible").is_routable())
        }
        SendDecision::Resume => assert!(runtime.is_none() && visible.is_some()),
    }
    let _ = decide_interrupt(byte(4) & 1 == 1, lookup, stored);
    if let SwitchDecision::Switch {
        running: r,
        reattach,
        ..
    } = decide_switch(named, Some(u64::from(byte(5))), Some("t"), lookup)
    {
        let state = visible.expect("switch needs a visible session");
        if state == SessionState::Ended {
            assert!(!r, "an ENDED session is never running");
        }
        if let Some(to) = reattach {
            assert!(transition(state, to).is_ok());
        }
    }
    if let ReconnectDecision::Resync {
        running: r,
        abort_zombie,
        ..
    } = decide_reconnect(u64::from(byte(6)), lookup)
    {
        let state = visible.expect("resync needs a visible session");
        if abort_zombie.is_some() || state == SessionState::Ended {
            assert!(!r);
        }
    }
    for state in SessionState::ALL {
        assert_eq!(
            running(runtime, state),
            runtime.is_some_and(|r| r.turn_active) && state != SessionState::Ended
        );
    }
});

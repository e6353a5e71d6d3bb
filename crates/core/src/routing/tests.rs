//! Table-driven tests: one row per case of PROTOCOL.md §4, for every state where it matters.

// A table row is a tuple of the inputs and the expected decision; naming each tuple type would
// hide the table's shape, which is the point of these tests.
#![allow(clippy::type_complexity)]

use super::*;
use crate::lifecycle::SessionState::{self, *};

const LIVE: RuntimeView = RuntimeView {
    generation: 7,
    turn_active: true,
};
const IDLE: RuntimeView = RuntimeView {
    generation: 7,
    turn_active: false,
};

fn mine(state: SessionState, runtime: Option<RuntimeView>) -> Lookup {
    Lookup {
        session: Some(SessionView {
            state,
            owned_by_caller: true,
        }),
        runtime,
    }
}

fn theirs(state: SessionState, runtime: Option<RuntimeView>) -> Lookup {
    Lookup {
        session: Some(SessionView {
            state,
            owned_by_caller: false,
        }),
        runtime,
    }
}

const MISSING: Lookup = Lookup {
    session: None,
    runtime: None,
};

fn stored() -> StoredMessage {
    StoredMessage {
        session_id: "s1".into(),
        seq: 4,
    }
}

#[test]
fn running_needs_a_turn_and_a_session_that_is_not_ended() {
    for state in SessionState::ALL {
        assert!(!running(None, state), "no runtime, {state}");
        assert!(!running(Some(IDLE), state), "idle runtime, {state}");
        assert_eq!(
            running(Some(LIVE), state),
            state != Ended,
            "live turn, {state}"
        );
    }
    // A CLOSING session is running while its last turn still streams.
    assert!(running(Some(LIVE), Closing));
}

#[test]
fn send_table() {
    let rows: Vec<(
        &str,
        Option<&str>,
        Lookup,
        Option<StoredMessage>,
        SendDecision,
    )> = vec![
        (
            "null session creates",
            None,
            MISSING,
            None,
            SendDecision::Create,
        ),
        (
            "null session retried from the outbox is a duplicate that announces its session",
            None,
            MISSING,
            Some(stored()),
            SendDecision::Duplicate {
                original: stored(),
                announce_session: true,
            },
        ),
        (
            "unknown session",
            Some("s1"),
            MISSING,
            None,
            SendDecision::NotFound,
        ),
        (
            "another user's session",
            Some("s1"),
            theirs(Active, Some(LIVE)),
            None,
            SendDecision::NotFound,
        ),
        (
            "duplicate id on a live session",
            Some("s1"),
            mine(Active, Some(LIVE)),
            Some(stored()),
            SendDecision::Duplicate {
                original: stored(),
                announce_session: false,
            },
        ),
        (
            "duplicate id on an ended session runs nothing",
            Some("s1"),
            mine(Ended, None),
            Some(stored()),
            SendDecision::Duplicate {
                original: stored(),
                announce_session: false,
            },
        ),
        (
            "live and ACTIVE",
            Some("s1"),
            mine(Active, Some(LIVE)),
            None,
            SendDecision::Deliver {
                generation: 7,
                reattach: None,
            },
        ),
        (
            "live, idle, ACTIVE",
            Some("s1"),
            mine(Active, Some(IDLE)),
            None,
            SendDecision::Deliver {
                generation: 7,
                reattach: None,
            },
        ),
        (
            "live and CREATED",
            Some("s1"),
            mine(Created, Some(IDLE)),
            None,
            SendDecision::Deliver {
                generation: 7,
                reattach: None,
            },
        ),
        (
            "live and STARTING",
            Some("s1"),
            mine(Starting, Some(IDLE)),
            None,
            SendDecision::Deliver {
                generation: 7,
                reattach: None,
            },
        ),
        (
            "live and DETACHED reattaches",
            Some("s1"),
            mine(Detached, Some(LIVE)),
            None,
            SendDecision::Deliver {
                generation: 7,
                reattach: Some(Active),
            },
        ),
        (
            "live and SUSPENDED reattaches",
            Some("s1"),
            mine(Suspended, Some(IDLE)),
            None,
            SendDecision::Deliver {
                generation: 7,
                reattach: Some(Active),
            },
        ),
        (
            "zombie: CLOSING",
            Some("s1"),
            mine(Closing, Some(LIVE)),
            None,
            SendDecision::AbortZombieThenResume { generation: 7 },
        ),
        (
            "zombie: ENDED",
            Some("s1"),
            mine(Ended, Some(IDLE)),
            None,
            SendDecision::AbortZombieThenResume { generation: 7 },
        ),
        (
            "no runtime, ENDED resumes",
            Some("s1"),
            mine(Ended, None),
            None,
            SendDecision::Resume,
        ),
        (
            "no runtime, DETACHED resumes",
            Some("s1"),
            mine(Detached, None),
            None,
            SendDecision::Resume,
        ),
    ];
    for (name, session_id, lookup, stored, expected) in rows {
        assert_eq!(decide_send(session_id, lookup, stored), expected, "{name}");
    }
}

#[test]
fn interrupt_table() {
    use InterruptDecision as I;
    let rows: Vec<(&str, bool, Lookup, Option<StoredMessage>, InterruptDecision)> = vec![
        ("unknown", true, MISSING, None, I::NotFound),
        (
            "not the caller's",
            true,
            theirs(Active, Some(LIVE)),
            None,
            I::NotFound,
        ),
        (
            "duplicate",
            true,
            mine(Active, Some(LIVE)),
            Some(stored()),
            I::Duplicate { original: stored() },
        ),
        (
            "live with text",
            true,
            mine(Active, Some(LIVE)),
            None,
            I::InterruptTurn {
                generation: 7,
                reattach: None,
                run_text: true,
            },
        ),
        (
            "live without text",
            false,
            mine(Active, Some(LIVE)),
            None,
            I::InterruptTurn {
                generation: 7,
                reattach: None,
                run_text: false,
            },
        ),
        (
            "live and DETACHED (interrupt after switching back)",
            true,
            mine(Detached, Some(LIVE)),
            None,
            I::InterruptTurn {
                generation: 7,
                reattach: Some(Active),
                run_text: true,
            },
        ),
        (
            "zombie CLOSING with text",
            true,
            mine(Closing, Some(LIVE)),
            None,
            I::AbortZombie {
                generation: 7,
                resume_with_text: true,
            },
        ),
        (
            "zombie ENDED without text",
            false,
            mine(Ended, Some(IDLE)),
            None,
            I::AbortZombie {
                generation: 7,
                resume_with_text: false,
            },
        ),
        (
            "no runtime with text",
            true,
            mine(Ended, None),
            None,
            I::Resume,
        ),
        (
            "no runtime without text",
            false,
            mine(Ended, None),
            None,
            I::NoOp,
        ),
    ];
    for (name, has_text, lookup, stored, expected) in rows {
        assert_eq!(
            decide_interrupt(has_text, lookup, stored),
            expected,
            "{name}"
        );
    }
}

#[test]
fn switch_table() {
    use SwitchDecision as W;
    let rows: Vec<(
        &str,
        Option<&str>,
        Option<u64>,
        Option<&str>,
        Lookup,
        SwitchDecision,
    )> = vec![
        (
            "null clears the current session",
            None,
            None,
            Some("s0"),
            MISSING,
            W::Clear {
                unwatch: Some("s0".into()),
            },
        ),
        (
            "null with no current session",
            None,
            None,
            None,
            MISSING,
            W::Clear { unwatch: None },
        ),
        ("unknown", Some("s1"), None, None, MISSING, W::NotFound),
        (
            "not the caller's",
            Some("s1"),
            None,
            None,
            theirs(Active, Some(LIVE)),
            W::NotFound,
        ),
        (
            "the double-message bug: back to a DETACHED session whose turn still runs",
            Some("s1"),
            Some(12),
            Some("s2"),
            mine(Detached, Some(LIVE)),
            W::Switch {
                unwatch: Some("s2".into()),
                reattach: Some(Active),
                running: true,
                replay_after: 12,
            },
        ),
        (
            "idle return",
            Some("s1"),
            Some(3),
            None,
            mine(Detached, Some(IDLE)),
            W::Switch {
                unwatch: None,
                reattach: Some(Active),
                running: false,
                replay_after: 3,
            },
        ),
        (
            "switch to the current session again keeps watching it",
            Some("s1"),
            None,
            Some("s1"),
            mine(Active, Some(LIVE)),
            W::Switch {
                unwatch: None,
                reattach: None,
                running: true,
                replay_after: 0,
            },
        ),
        (
            "zombie: ENDED with a live turn is not running",
            Some("s1"),
            None,
            None,
            mine(Ended, Some(LIVE)),
            W::Switch {
                unwatch: None,
                reattach: None,
                running: false,
                replay_after: 0,
            },
        ),
        (
            "CLOSING with its last turn streaming is running",
            Some("s1"),
            None,
            None,
            mine(Closing, Some(LIVE)),
            W::Switch {
                unwatch: None,
                reattach: None,
                running: true,
                replay_after: 0,
            },
        ),
        (
            "ENDED without a runtime",
            Some("s1"),
            None,
            None,
            mine(Ended, None),
            W::Switch {
                unwatch: None,
                reattach: None,
                running: false,
                replay_after: 0,
            },
        ),
    ];
    for (name, target, last_seq, current, lookup, expected) in rows {
        assert_eq!(
            decide_switch(target, last_seq, current, lookup),
            expected,
            "{name}"
        );
    }
}

#[test]
fn reconnect_table() {
    use ReconnectDecision as R;
    let rows: Vec<(&str, Lookup, ReconnectDecision)> = vec![
        ("unknown", MISSING, R::NotFound),
        ("not the caller's", theirs(Active, Some(LIVE)), R::NotFound),
        (
            "live and DETACHED with a running turn",
            mine(Detached, Some(LIVE)),
            R::Resync {
                abort_zombie: None,
                reattach: Some(Active),
                running: true,
                replay_after: 5,
            },
        ),
        (
            "live and ACTIVE, idle",
            mine(Active, Some(IDLE)),
            R::Resync {
                abort_zombie: None,
                reattach: None,
                running: false,
                replay_after: 5,
            },
        ),
        (
            "zombie ENDED is aborted, not trusted",
            mine(Ended, Some(LIVE)),
            R::Resync {
                abort_zombie: Some(7),
                reattach: None,
                running: false,
                replay_after: 5,
            },
        ),
        (
            "zombie CLOSING is aborted",
            mine(Closing, Some(LIVE)),
            R::Resync {
                abort_zombie: Some(7),
                reattach: None,
                running: false,
                replay_after: 5,
            },
        ),
        (
            "no runtime after a restart",
            mine(Ended, None),
            R::Resync {
                abort_zombie: None,
                reattach: None,
                running: false,
                replay_after: 5,
            },
        ),
    ];
    for (name, lookup, expected) in rows {
        assert_eq!(decide_reconnect(5, lookup), expected, "{name}");
    }
}

fn cursor(id: &str, last_seq: u64) -> SessionCursor {
    SessionCursor {
        session_id: id.into(),
        last_seq,
    }
}

#[test]
fn reconnect_cursors_merge_to_the_lowest_last_seq_and_are_capped() {
    let merged = merge_cursors(vec![
        cursor("a", 9),
        cursor("b", 4),
        cursor("a", 3),
        cursor("a", 7),
    ]);
    assert_eq!(merged, Ok(vec![cursor("a", 3), cursor("b", 4)]));
    let many: Vec<_> = (0..MAX_RECONNECT_SESSIONS)
        .map(|n| cursor(&n.to_string(), 0))
        .collect();
    let mut repeated = many.clone();
    repeated.extend(many.iter().cloned());
    assert_eq!(
        merge_cursors(repeated).map(|m| m.len()),
        Ok(MAX_RECONNECT_SESSIONS)
    );
    let mut over = many;
    over.push(cursor("one more", 0));
    assert_eq!(merge_cursors(over), Err(MAX_RECONNECT_SESSIONS + 1));
}

#[test]
fn list_limits() {
    assert_eq!(list_limit(None), Some(100));
    assert_eq!(list_limit(Some(1)), Some(1));
    assert_eq!(list_limit(Some(500)), Some(500));
    assert_eq!(list_limit(Some(0)), None);
    assert_eq!(list_limit(Some(501)), None);
}

#[test]
fn permission_answers_first_wins_and_retries_are_duplicates() {
    use PermissionDecision as D;
    use PermissionStanding as S;
    let offered = S::Pending {
        option_offered: true,
    };
    let not_offered = S::Pending {
        option_offered: false,
    };
    let table = [
        (None, offered, D::Answer),
        (None, not_offered, D::UnknownOption),
        (None, S::Resolved, D::AlreadyResolved),
        (None, S::Unknown, D::UnknownRequest),
    ];
    for (stored, standing, expected) in table {
        assert_eq!(decide_permission_answer(stored, standing), expected);
    }
    // A retry of the answer that won is a duplicate, whatever became of the request.
    for standing in [offered, not_offered, S::Resolved, S::Unknown] {
        assert_eq!(
            decide_permission_answer(Some(stored()), standing),
            D::Duplicate { original: stored() }
        );
    }
}

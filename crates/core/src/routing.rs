//! Pure routing decisions of PROTOCOL.md §4.
//!
//! The server looks up what it knows (the live runtime in its registry, the durable state, who
//! owns the session, whether the `clientMsgId` was already stored), asks one of these functions,
//! and carries out the answer. The decision never depends on anything else, so the same table
//! drives the real server, the simulator and the tests. The original system kept an in-memory
//! "is running" boolean for reconnect; here every decision reads the durable state.

use crate::lifecycle::{triggers, SessionState};
use crate::protocol::SessionCursor;

/// What the runtime registry knows about a session's live runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeView {
    /// Unique per runtime, so an old runtime's clean-up never removes its replacement.
    pub generation: u64,
    /// A turn is in progress or queued.
    pub turn_active: bool,
}

/// What the durable store knows about a session, as seen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionView {
    pub state: SessionState,
    /// Sessions of other users are reported as not found, never revealed.
    pub owned_by_caller: bool,
}

/// Where a `clientMsgId` was stored the first time it was used (per user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub session_id: String,
    pub seq: u64,
}

/// Everything a decision about one session reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookup {
    /// `None`: no such session, or not the caller's.
    pub session: Option<SessionView>,
    /// `None`: no live runtime in the registry.
    pub runtime: Option<RuntimeView>,
}

impl Lookup {
    /// The session as the caller may see it: other users' sessions do not exist for them.
    fn visible(&self) -> Option<SessionState> {
        self.session.filter(|s| s.owned_by_caller).map(|s| s.state)
    }
}

/// `running` for every reply that carries it: a live runtime has a turn in progress or queued,
/// and the session is not ENDED. A zombie (live runtime, session ENDED) is never running; a
/// CLOSING session is running while its last turn still streams.
pub fn running(runtime: Option<RuntimeView>, state: SessionState) -> bool {
    runtime.is_some_and(|r| r.turn_active) && state != SessionState::Ended
}

/// How to bring a live, routable session back to ACTIVE when a watcher joins.
fn reattach(state: SessionState) -> Option<SessionState> {
    triggers::watcher_joined(state)
}

/// Where a permission request named by `respond_permission` stands (PROTOCOL.md §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionStanding {
    /// Waiting for an answer; `option_offered`: the answer's `optionId` is one of its options.
    Pending { option_offered: bool },
    /// Already answered, cancelled or expired.
    Resolved,
    /// Never asked in this session.
    Unknown,
}

/// The decision for `respond_permission`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionDecision {
    /// This `clientMsgId` was stored before: `ack{duplicate:true}` with the original seq.
    Duplicate { original: StoredMessage },
    /// The first answer: it wins, is stored as `permission_resolved{selected}` and acked.
    Answer,
    /// A later answer: `error{code:"permission_resolved"}`.
    AlreadyResolved,
    /// `error{code:"invalid_field"}` on `requestId`.
    UnknownRequest,
    /// `error{code:"invalid_field"}` on `optionId`.
    UnknownOption,
}

/// Decides an answer to a permission request. A retry of a stored answer is a duplicate whatever
/// became of the request since; otherwise the first answer with an offered option wins.
pub fn decide_permission_answer(
    stored: Option<StoredMessage>,
    standing: PermissionStanding,
) -> PermissionDecision {
    match (stored, standing) {
        (Some(original), _) => PermissionDecision::Duplicate { original },
        (
            None,
            PermissionStanding::Pending {
                option_offered: true,
            },
        ) => PermissionDecision::Answer,
        (
            None,
            PermissionStanding::Pending {
                option_offered: false,
            },
        ) => PermissionDecision::UnknownOption,
        (None, PermissionStanding::Resolved) => PermissionDecision::AlreadyResolved,
        (None, PermissionStanding::Unknown) => PermissionDecision::UnknownRequest,
    }
}

/// The decision for `send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendDecision {
    /// `sessionId` was null: create a session, start a runtime, deliver the text.
    Create,
    /// Unknown session, or not the caller's: `error{code:"session_not_found"}`.
    NotFound,
    /// This `clientMsgId` was stored before: ack it as a duplicate with the original seq and run
    /// nothing. `announce_session` is set when the retried send had `sessionId: null`: the
    /// client then gets `session_created` for the session made the first time.
    Duplicate {
        original: StoredMessage,
        announce_session: bool,
    },
    /// A live runtime and a routable state: watch, reattach to ACTIVE if `reattach` is set, and
    /// deliver (queued behind the current turn if one is running).
    Deliver {
        generation: u64,
        reattach: Option<SessionState>,
    },
    /// A live runtime but a CLOSING or ENDED session (a zombie): abort it by signal, then resume.
    AbortZombieThenResume { generation: u64 },
    /// No live runtime: start one from the session's history and deliver the text.
    Resume,
}

/// Decides a `send`. `session_id` is the frame's (None for a new session); `lookup` describes
/// that session when it is given; `stored` is the earlier use of the same `clientMsgId`.
pub fn decide_send(
    session_id: Option<&str>,
    lookup: Lookup,
    stored: Option<StoredMessage>,
) -> SendDecision {
    if let Some(original) = stored {
        return SendDecision::Duplicate {
            original,
            announce_session: session_id.is_none(),
        };
    }
    if session_id.is_none() {
        return SendDecision::Create;
    }
    let Some(state) = lookup.visible() else {
        return SendDecision::NotFound;
    };
    match lookup.runtime {
        Some(runtime) if state.is_routable() => SendDecision::Deliver {
            generation: runtime.generation,
            reattach: reattach(state),
        },
        Some(runtime) => SendDecision::AbortZombieThenResume {
            generation: runtime.generation,
        },
        None => SendDecision::Resume,
    }
}

/// The decision for `interrupt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterruptDecision {
    NotFound,
    /// Ack as a duplicate; nothing runs.
    Duplicate {
        original: StoredMessage,
    },
    /// Live and routable: stop the current turn (`turn_end` reason `interrupted`) and run the
    /// text next if there is one, ahead of anything queued.
    InterruptTurn {
        generation: u64,
        reattach: Option<SessionState>,
        run_text: bool,
    },
    /// A zombie: abort it, then resume with the text if there is one.
    AbortZombie {
        generation: u64,
        resume_with_text: bool,
    },
    /// No live runtime, with text: resume with it.
    Resume,
    /// No live runtime and no text: nothing runs; the ack says `running:false`.
    NoOp,
}

/// Decides an `interrupt`.
pub fn decide_interrupt(
    has_text: bool,
    lookup: Lookup,
    stored: Option<StoredMessage>,
) -> InterruptDecision {
    if let Some(original) = stored {
        return InterruptDecision::Duplicate { original };
    }
    let Some(state) = lookup.visible() else {
        return InterruptDecision::NotFound;
    };
    match lookup.runtime {
        Some(runtime) if state.is_routable() => InterruptDecision::InterruptTurn {
            generation: runtime.generation,
            reattach: reattach(state),
            run_text: has_text,
        },
        Some(runtime) => InterruptDecision::AbortZombie {
            generation: runtime.generation,
            resume_with_text: has_text,
        },
        None if has_text => InterruptDecision::Resume,
        None => InterruptDecision::NoOp,
    }
}

/// The decision for `switch_session`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchDecision {
    /// `sessionId: null`: unwatch the current session (if any) and reply `session_cleared`.
    Clear {
        unwatch: Option<String>,
    },
    NotFound,
    /// Unwatch `unwatch` (the previous current session, if it is another one), watch the new
    /// one **before** replying, reattach if needed, reply `session_switched` with `running`,
    /// then replay every event after `replay_after`.
    Switch {
        unwatch: Option<String>,
        reattach: Option<SessionState>,
        running: bool,
        replay_after: u64,
    },
}

/// Decides a `switch_session`. `current` is the connection's current session.
pub fn decide_switch(
    target: Option<&str>,
    last_seq: Option<u64>,
    current: Option<&str>,
    lookup: Lookup,
) -> SwitchDecision {
    let Some(target) = target else {
        return SwitchDecision::Clear {
            unwatch: current.map(str::to_owned),
        };
    };
    let Some(state) = lookup.visible() else {
        return SwitchDecision::NotFound;
    };
    let reattach = if lookup.runtime.is_some() {
        reattach(state)
    } else {
        None
    };
    let state_after = reattach.unwrap_or(state);
    SwitchDecision::Switch {
        unwatch: current.filter(|c| *c != target).map(str::to_owned),
        reattach,
        running: running(lookup.runtime, state_after),
        replay_after: last_seq.unwrap_or(0),
    }
}

/// The decision for one session of `reconnect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReconnectDecision {
    NotFound,
    /// Abort `abort_zombie` if set (its session is ENDED or CLOSING), watch, reattach if needed,
    /// replay every event after `replay_after`, and report `running`.
    Resync {
        abort_zombie: Option<u64>,
        reattach: Option<SessionState>,
        running: bool,
        replay_after: u64,
    },
}

/// Decides one session of `reconnect`, with the same state-based zombie check as `send`.
pub fn decide_reconnect(last_seq: u64, lookup: Lookup) -> ReconnectDecision {
    let Some(state) = lookup.visible() else {
        return ReconnectDecision::NotFound;
    };
    match lookup.runtime {
        Some(runtime) if !state.is_routable() => ReconnectDecision::Resync {
            abort_zombie: Some(runtime.generation),
            reattach: None,
            // The zombie is aborted before the reply, so nothing runs any more.
            running: false,
            replay_after: last_seq,
        },
        Some(runtime) => {
            let reattach = reattach(state);
            ReconnectDecision::Resync {
                abort_zombie: None,
                reattach,
                running: running(Some(runtime), reattach.unwrap_or(state)),
                replay_after: last_seq,
            }
        }
        None => ReconnectDecision::Resync {
            abort_zombie: None,
            reattach: None,
            running: false,
            replay_after: last_seq,
        },
    }
}

/// A `reconnect` names at most this many sessions (PROTOCOL.md §1.2).
pub const MAX_RECONNECT_SESSIONS: usize = 1000;

/// The sessions of a `reconnect`, each once, in the order they first appear; a session named
/// twice keeps its lowest `lastSeq` (so nothing it may have missed is skipped). More than
/// [`MAX_RECONNECT_SESSIONS`] distinct sessions is refused with their count.
pub fn merge_cursors(cursors: Vec<SessionCursor>) -> Result<Vec<SessionCursor>, usize> {
    let mut merged: Vec<SessionCursor> =
        Vec::with_capacity(cursors.len().min(MAX_RECONNECT_SESSIONS));
    let mut index = std::collections::BTreeMap::new();
    for cursor in cursors {
        match index.get(&cursor.session_id) {
            Some(&at) => {
                let kept: &mut SessionCursor = &mut merged[at];
                kept.last_seq = kept.last_seq.min(cursor.last_seq);
            }
            None => {
                index.insert(cursor.session_id.clone(), merged.len());
                merged.push(cursor);
            }
        }
    }
    if merged.len() > MAX_RECONNECT_SESSIONS {
        return Err(merged.len());
    }
    Ok(merged)
}

/// `list_sessions.limit` when absent, and its largest allowed value (PROTOCOL.md §5).
pub const DEFAULT_LIST_LIMIT: u32 = 100;
pub const MAX_LIST_LIMIT: u32 = 500;

/// The page size a `list_sessions` asks for, or `None` if it is out of range (1 to 500).
pub fn list_limit(limit: Option<u32>) -> Option<usize> {
    match limit.unwrap_or(DEFAULT_LIST_LIMIT) {
        0 => None,
        n if n > MAX_LIST_LIMIT => None,
        n => Some(n as usize),
    }
}

#[cfg(test)]
mod tests;

//! Patches: what changed in the state since the last one, for the bindings' structurally shared
//! snapshot (PROTOCOL.md §7, "what the UI reads costs what changed").
//!
//! The reducer marks what it changes (`ViewMarks`, `StateMarks`); [`Store::append_patch`] writes
//! those parts only and clears the marks. JavaScript keeps an immutable snapshot and applies a
//! patch along its path: the state object, the changed `sessions` entries, a view's messages
//! array, and the changed messages are new objects; every other message, block and entry is the
//! object it was. A patch is one JSON object:
//!
//! - `top`: `{connection, epoch, connectionId, currentSessionId, outbox, errors}`, when any of
//!   them may have changed;
//! - `sessions`: the changed entries of the `sessions` object by id, an entry whose only change
//!   is its `lastSeq` as that number alone (most events change nothing else of it); with
//!   `all: true` it is the whole object (views were dropped), every entry whole;
//! - `views`: `[[sessionId, ids | null, [[position, message], ...]], ...]`, one per view whose
//!   messages changed (`""` is the draft): `ids` is the new order of the view's message ids when
//!   messages were added, removed or moved (unchanged ones are found by id), and each listed
//!   message replaces the one at its position.
//!
//! A received event whose change is small and the only one in its view since the last patch
//! is not in a patch: `StateMarks::hot` gives the change and its positions ([`HotChange`]: a
//! streamed delta's text appended, a block ended, a message completed, `running` set), and
//! JavaScript makes it itself (see `src/transfer.js`).

use super::state::{HotChange, SessionView, StateMarks};
use super::Store;
use crate::protocol::write::{write_str, Obj, ToJson};

/// Writes a view's `sessions` entry.
pub(crate) fn write_entry(out: &mut String, view: &SessionView) {
    let mut entry = Obj::open(out);
    entry
        .field("state", &view.state)
        .field("running", &view.running)
        .field("lastSeq", &view.last_seq)
        .field("title", &view.title)
        .field("gap", &view.gap.is_some())
        .field("plan", &view.plan)
        .field("pendingPermissions", &view.permissions);
    entry.close();
}

/// Writes `[id, ids | null, [[position, message], ...]]` for a view with changed messages, and
/// clears its message marks. False (and nothing written) when its messages did not change.
fn write_view(out: &mut String, id: &str, view: &mut SessionView, first: bool) -> bool {
    let marks = std::mem::take(&mut view.marks.touched);
    let reshaped = std::mem::take(&mut view.marks.reshaped);
    if marks.is_empty() && !reshaped {
        return false;
    }
    if !first {
        out.push(',');
    }
    out.push('[');
    write_str(out, id);
    out.push(',');
    if reshaped {
        out.push('[');
        for (n, message) in view.messages.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            write_str(out, &message.id);
        }
        out.push(']');
    } else {
        out.push_str("null");
    }
    out.push_str(",[");
    let mut written = 0;
    for (n, id) in marks.iter().enumerate() {
        // A message touched twice, or touched then removed, is written at most once.
        let Some(position) = view.position(id) else {
            continue;
        };
        if marks[..n].contains(id) {
            continue;
        }
        if written > 0 {
            out.push(',');
        }
        written += 1;
        out.push('[');
        (position as u64).write_json(out);
        out.push(',');
        view.messages[position].write_patch(out);
        out.push(']');
    }
    out.push_str("]]");
    true
}

impl Store {
    /// The change of the frame just received, when it is one the bindings make to their
    /// snapshot themselves (a hot patch: no patch is written for it); clears it.
    pub fn take_hot(&mut self) -> Option<HotChange> {
        self.state.marks.hot.take()
    }

    /// Appends the patch of everything changed since the last one to `out` and clears the
    /// marks; false, and `out` as it was, when nothing changed.
    pub fn append_patch(&mut self, out: &mut String) -> bool {
        let start = out.len();
        let state = &mut self.state;
        let StateMarks {
            top, all_sessions, ..
        } = std::mem::take(&mut state.marks);
        let mut o = Obj::open(out);
        if top {
            let out = o.raw_key("top");
            let mut t = Obj::open(out);
            t.field("connection", &state.connection)
                .field("epoch", &state.epoch)
                .field("connectionId", &state.connection_id)
                .field("currentSessionId", &state.current_session_id)
                .field("outbox", &state.outbox)
                .field("errors", &state.errors);
            t.close();
        }
        if all_sessions {
            o.field("all", &true);
        }
        let mut entries = false;
        let mut views = false;
        {
            let out = o.raw_key("sessions");
            out.push('{');
            for (id, view) in state.views.iter_mut() {
                let seq = std::mem::take(&mut view.marks.seq);
                let whole = std::mem::take(&mut view.marks.entry) || all_sessions;
                if whole || seq {
                    if entries {
                        out.push(',');
                    }
                    entries = true;
                    write_str(out, id);
                    out.push(':');
                    match whole {
                        true => write_entry(out, view),
                        // Only its `lastSeq` changed (every event moves it): that number alone.
                        false => view.last_seq.write_json(out),
                    }
                }
            }
            out.push('}');
        }
        {
            let out = o.raw_key("views");
            out.push('[');
            views |= write_view(out, "", &mut state.draft, !views);
            for (id, view) in state.views.iter_mut() {
                views |= write_view(out, id, view, !views);
            }
            out.push(']');
        }
        o.close();
        let changed = top || all_sessions || entries || views;
        if !changed {
            out.truncate(start);
        }
        changed
    }
}

//! The session list (PROTOCOL.md §5 `list_sessions`): what a session is listed as, and how the
//! list is cut into pages.
//!
//! Invariants: a page's `next` is the cursor of its last session, so the next page starts right
//! after it whatever was created or touched meanwhile; a `sessions` reply never passes the frame
//! limit (a page that would is cut short, and its `next` then points after what it kept).

use crate::protocol::write::{concat, u64_text};
use crate::protocol::{encode, SessionSummary, Sessions};
use crate::Reply;

/// How long a title is, in characters, before it is cut (and ends with `…`).
pub const TITLE_CHARS: usize = 60;

/// The title of a session: the first line of its first message, trimmed, at most
/// [`TITLE_CHARS`] characters.
pub fn title_of(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    let mut title = String::from_iter(line.chars().take(TITLE_CHARS));
    if line.chars().nth(TITLE_CHARS).is_some() {
        title.push('…');
    }
    title
}

/// The cursor after a session: `updatedAt:sessionId` (the list is newest `updatedAt` first).
pub fn cursor_after(session: &SessionSummary) -> String {
    concat(&[&u64_text(session.updated_at), ":", &session.session_id])
}

/// The `(updatedAt, sessionId)` a cursor of [`cursor_after`] names; `None` for anything else.
pub fn parse_cursor(cursor: &str) -> Option<(u64, String)> {
    let (updated_at, id) = cursor.split_once(':')?;
    if id.is_empty() || !updated_at.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((updated_at.parse().ok()?, id.to_owned()))
}

/// The `sessions` reply for a page: `more` says whether sessions follow the ones given (the
/// caller read one more than the page size to know). Cut short to fit in `max_frame_bytes`.
pub fn sessions_page(
    mut sessions: Vec<SessionSummary>,
    more: bool,
    max_frame_bytes: usize,
) -> Reply {
    let mut next = if more {
        sessions.last().map(cursor_after)
    } else {
        None
    };
    while sessions.len() > 1 && encoded_len(&sessions, &next) > max_frame_bytes {
        sessions.truncate(sessions.len() / 2);
        next = sessions.last().map(cursor_after);
    }
    Reply::Sessions(Sessions { sessions, next })
}

/// How long the `sessions` reply of this page is on the wire.
fn encoded_len(sessions: &[SessionSummary], next: &Option<String>) -> usize {
    encode(&Reply::Sessions(Sessions {
        sessions: sessions.to_vec(),
        next: next.clone(),
    }))
    .len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SessionState;

    fn summary(n: u64) -> SessionSummary {
        SessionSummary {
            session_id: concat(&["s-", &u64_text(n)]),
            title: "x".repeat(50),
            state: SessionState::Detached,
            running: false,
            last_seq: n,
            updated_at: 1_000 - n,
        }
    }

    #[test]
    fn titles_are_the_first_line_cut_at_sixty_characters() {
        assert_eq!(title_of("  hello \nworld"), "hello");
        assert_eq!(title_of(""), "");
        let sixty = "é".repeat(60);
        assert_eq!(title_of(&sixty), sixty);
        assert_eq!(title_of(&"é".repeat(61)), concat(&[&sixty, "…"]));
    }

    #[test]
    fn cursors_round_trip_and_nothing_else_parses() {
        let cursor = cursor_after(&summary(7));
        assert_eq!(cursor, "993:s-7");
        assert_eq!(parse_cursor(&cursor), Some((993, "s-7".into())));
        // A session id may itself hold a colon: only the first one splits.
        assert_eq!(parse_cursor("5:a:b"), Some((5, "a:b".into())));
        for bad in [
            "",
            "5",
            "5:",
            ":s",
            "x:s",
            "+5:s",
            "-5:s",
            "99999999999999999999:s",
        ] {
            assert_eq!(parse_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_page_says_where_the_next_starts_and_fits_in_a_frame() {
        let sessions = Vec::from_iter((1..=8).map(summary));
        let Reply::Sessions(page) = sessions_page(sessions.clone(), true, 1 << 20) else {
            panic!("not a sessions reply")
        };
        assert_eq!(page.sessions.len(), 8);
        assert_eq!(page.next.as_deref(), Some("992:s-8"));
        let Reply::Sessions(last) = sessions_page(sessions.clone(), false, 1 << 20) else {
            panic!("not a sessions reply")
        };
        assert_eq!(last.next, None);
        // Room for about three: halved until it fits, `next` after the last one kept.
        let Reply::Sessions(cut) = sessions_page(sessions, false, 600) else {
            panic!("not a sessions reply")
        };
        assert_eq!(cut.sessions.len(), 2);
        assert_eq!(cut.next.as_deref(), Some("998:s-2"));
    }
}

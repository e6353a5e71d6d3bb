//! The connection's protocol half driven as the server drives it: text in, replies and closes
//! out, events checked against what was sent.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::protocol::ServerInfo;

const T0: Duration = Duration::from_secs(100);

fn limits() -> ConnectionLimits {
    ConnectionLimits {
        max_frame_bytes: 200,
        rate: RateLimit {
            per_second: 10.0,
            burst: 5.0,
        },
    }
}

fn welcome() -> Welcome {
    Welcome {
        protocol: PROTOCOL_VERSION,
        connection_id: "c1".into(),
        epoch: "e1".into(),
        server: ServerInfo {
            name: "test".into(),
            version: "0".into(),
        },
    }
}

fn greeted() -> ConnectionProtocol {
    let mut conn = ConnectionProtocol::new(limits(), T0);
    let hello = conn.handle_text(r#"{"type":"hello","protocol":1}"#, T0);
    assert!(matches!(hello, Inbound::Hello(_)));
    conn.accept_hello(welcome());
    assert!(matches!(conn.poll_reply(), Some(Reply::Welcome(_))));
    conn
}

fn error(reply: Option<Reply>) -> ErrorReply {
    match reply {
        Some(Reply::Error(error)) => error,
        other => panic!("expected an error reply, got {other:?}"),
    }
}

fn ack(seq: u64) -> Ack {
    Ack {
        session_id: "s1".into(),
        client_msg_id: "m1".into(),
        seq,
        duplicate: false,
        running: true,
    }
}

#[test]
fn only_hello_is_answered_before_hello() {
    let mut conn = ConnectionProtocol::new(limits(), T0);
    let text = r#"{"type":"send","sessionId":"s1","clientMsgId":"m1","text":"hi"}"#;
    assert_eq!(conn.handle_text(text, T0), Inbound::Answered);
    let refused = error(conn.poll_reply());
    assert_eq!(refused.code, ErrorCode::HelloRequired);
    assert_eq!(refused.reference.as_deref(), Some("m1"));
    assert_eq!(refused.session_id.as_deref(), Some("s1"));
    assert_eq!(conn.poll_close(), None);
    assert!(!conn.is_greeted());
}

#[test]
fn a_hello_of_another_protocol_is_refused_and_closes() {
    let mut conn = ConnectionProtocol::new(limits(), T0);
    let inbound = conn.handle_text(r#"{"type":"hello","protocol":7}"#, T0);
    assert_eq!(inbound, Inbound::Answered);
    // The close waits for the reply before it.
    assert_eq!(conn.poll_close(), None);
    let refused = error(conn.poll_reply());
    assert_eq!(refused.code, ErrorCode::UnsupportedProtocol);
    assert_eq!(
        refused.message,
        "protocol 7 is not supported; this server speaks 1"
    );
    assert_eq!(conn.poll_close().map(|c| c.code), Some(Close::PROTOCOL));
}

#[test]
fn a_greeted_connection_routes_frames_and_refuses_a_second_hello() {
    let mut conn = greeted();
    let text = r#"{"type":"send","sessionId":null,"clientMsgId":"m1","text":"hi"}"#;
    assert!(matches!(
        conn.handle_text(text, T0),
        Inbound::Route(ClientFrame::Send(_))
    ));
    assert_eq!(
        conn.handle_text(r#"{"type":"hello","protocol":1}"#, T0),
        Inbound::Answered
    );
    let refused = error(conn.poll_reply());
    assert_eq!(refused.code, ErrorCode::BadFrame);
    assert_eq!(refused.reference.as_deref(), Some("hello"));
}

#[test]
fn a_refused_token_is_unauthorized_and_closes() {
    let mut conn = ConnectionProtocol::new(limits(), T0);
    assert!(matches!(
        conn.handle_text(r#"{"type":"hello","protocol":1,"token":"x"}"#, T0),
        Inbound::Hello(HelloFrame { token: Some(_), .. })
    ));
    conn.refuse_hello();
    assert_eq!(error(conn.poll_reply()).code, ErrorCode::Unauthorized);
    assert_eq!(conn.poll_close().map(|c| c.code), Some(Close::POLICY));
}

#[test]
fn the_hello_deadline_closes_only_an_ungreeted_connection() {
    let mut conn = ConnectionProtocol::new(limits(), T0);
    conn.handle_hello_deadline();
    assert_eq!(error(conn.poll_reply()).code, ErrorCode::HelloRequired);
    assert_eq!(conn.poll_close().map(|c| c.code), Some(Close::POLICY));
    let mut conn = greeted();
    conn.handle_hello_deadline();
    assert_eq!(conn.poll_reply(), None);
    assert_eq!(conn.poll_close(), None);
}

#[test]
fn an_oversized_frame_is_refused_closes_and_nothing_after_it_counts() {
    let mut conn = greeted();
    let text = "x".repeat(201);
    assert_eq!(conn.handle_text(&text, T0), Inbound::Answered);
    let refused = error(conn.poll_reply());
    assert_eq!(refused.code, ErrorCode::FrameTooLarge);
    assert_eq!(
        refused.message,
        "frame of 201 bytes is over the limit of 200 bytes"
    );
    assert_eq!(conn.poll_close().map(|c| c.code), Some(Close::SIZE));
    let ping = r#"{"type":"ping"}"#;
    assert_eq!(conn.handle_text(ping, T0), Inbound::Answered);
    assert_eq!(conn.poll_reply(), None);
}

#[test]
fn frames_past_the_burst_are_rate_limited_until_tokens_refill() {
    let mut conn = greeted();
    let ping = r#"{"type":"ping","nonce":"n"}"#;
    // The hello took one of the five tokens.
    for _ in 0..4 {
        assert!(matches!(conn.handle_text(ping, T0), Inbound::Route(_)));
    }
    assert_eq!(conn.handle_text(ping, T0), Inbound::Answered);
    let refused = error(conn.poll_reply());
    assert_eq!(refused.code, ErrorCode::RateLimited);
    assert_eq!(refused.reference.as_deref(), Some("ping"));
    let later = T0 + Duration::from_millis(100);
    assert!(matches!(conn.handle_text(ping, later), Inbound::Route(_)));
}

#[test]
fn a_bad_frame_is_answered_with_its_code_field_and_ref() {
    let mut conn = greeted();
    let text = r#"{"type":"send","sessionId":"s1","clientMsgId":"m9"}"#;
    assert_eq!(conn.handle_text(text, T0), Inbound::Answered);
    let refused = error(conn.poll_reply());
    assert_eq!(refused.code, ErrorCode::InvalidField);
    assert_eq!(refused.reference.as_deref(), Some("m9"));
    assert_eq!(refused.session_id.as_deref(), Some("s1"));
    assert_eq!(conn.handle_text("not json", T0), Inbound::Answered);
    let refused = error(conn.poll_reply());
    assert_eq!(refused.code, ErrorCode::BadFrame);
    assert_eq!(refused.reference, None);
    conn.handle_binary();
    assert_eq!(error(conn.poll_reply()).code, ErrorCode::BadFrame);
}

#[test]
fn a_replay_and_the_live_stream_join_without_gap_or_duplicate() {
    let mut conn = greeted();
    // Not watched: live events are dropped.
    assert_eq!(conn.live_event("s1", 1), LiveEvent::Drop);
    conn.watch("s1");
    for seq in 1..=3 {
        conn.event_sent("s1", seq);
    }
    // Live events the replay already carried are dropped; the next one goes.
    assert_eq!(conn.live_event("s1", 2), LiveEvent::Drop);
    assert_eq!(conn.live_event("s1", 3), LiveEvent::Drop);
    assert_eq!(conn.live_event("s1", 4), LiveEvent::Send);
    assert_eq!(conn.live_event("s2", 1), LiveEvent::Drop);
    assert!(conn.unwatch("s1"));
    assert!(!conn.unwatch("s1"));
    assert_eq!(conn.live_event("s1", 4), LiveEvent::Drop);
}

#[test]
fn an_ack_goes_right_after_its_user_message() {
    let mut conn = greeted();
    conn.watch("s1");
    conn.event_sent("s1", 1);
    // Its user_message is still on its way: the ack waits for it.
    conn.push_ack_after(2, ack(2));
    assert_eq!(conn.poll_reply(), None);
    conn.event_sent("s1", 2);
    assert_eq!(conn.poll_reply(), Some(Reply::Ack(ack(2))));
    // Its user_message went out already (a duplicate's ack): at once.
    conn.push_ack_after(1, ack(1));
    assert_eq!(conn.poll_reply(), Some(Reply::Ack(ack(1))));
    assert_eq!(conn.poll_reply(), None);
}

#[test]
fn an_ack_whose_event_will_not_come_here_is_not_kept_waiting() {
    let mut conn = greeted();
    // The session is not watched here (an answer from a connection that does not watch it):
    // its event will never arrive on this connection, so the ack goes at once.
    conn.push_ack_after(3, ack(3));
    assert_eq!(conn.poll_reply(), Some(Reply::Ack(ack(3))));

    // Watched, then left before its user_message arrived: the waiting acks go out at the
    // unwatch, in seq order, and nothing is left waiting.
    conn.watch("s1");
    conn.push_ack_after(5, ack(5));
    conn.push_ack_after(4, ack(4));
    assert_eq!(conn.poll_reply(), None);
    assert!(conn.unwatch("s1"));
    assert_eq!(conn.poll_reply(), Some(Reply::Ack(ack(4))));
    assert_eq!(conn.poll_reply(), Some(Reply::Ack(ack(5))));
    assert_eq!(conn.poll_reply(), None);
    conn.event_sent("s1", 5);
    assert_eq!(conn.poll_reply(), None);
}

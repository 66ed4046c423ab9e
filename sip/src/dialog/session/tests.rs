//! Unit tests of INVITE sessions, one per rule, on a virtual clock.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::wire::message::ParseLimits;

fn parse(s: &str) -> Message {
    Message::parse(Bytes::copy_from_slice(s.as_bytes()), ParseLimits::default()).expect("parses")
}

/// The peer's INVITE to us (we are UAS), with `extra` header lines.
fn invite(cseq: u32, extra: &str) -> String {
    format!(
        "INVITE sip:juliet@xmpp.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK{cseq}\r\n\
         Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:romeo@sip.example>;tag=theirs\r\n\
         To: <sip:juliet@xmpp.example>\r\n\
         Call-ID: call-1@phone\r\n\
         CSeq: {cseq} INVITE\r\n\
         Contact: <sip:romeo@192.0.2.7:5062>\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
}

/// A request of the peer within the session (our tag in To).
fn in_dialog(method: &str, cseq: u32, extra: &str) -> Message {
    parse(
        &invite(cseq, extra)
            .replace("INVITE sip:", &format!("{method} sip:"))
            .replace(
                &format!("CSeq: {cseq} INVITE"),
                &format!("CSeq: {cseq} {method}"),
            )
            .replace(
                "To: <sip:juliet@xmpp.example>",
                "To: <sip:juliet@xmpp.example>;tag=ours",
            ),
    )
}

fn uas_session(extra: &str, now: Instant) -> Session {
    let request = parse(&invite(1, extra));
    let answer = decide_timer(&request, 90);
    Session::uas(&request, "ours", answer, now).expect("session")
}

/// The 2xx to our INVITE (we are UAC), with `extra` header lines.
fn ok(extra: &str) -> Message {
    parse(&format!(
        "SIP/2.0 200 OK\r\n\
         Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
         Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\n\
         From: <sip:juliet@xmpp.example>;tag=ours\r\n\
         To: <sip:romeo@sip.example>;tag=theirs\r\n\
         Call-ID: call-2@parley\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:romeo@192.0.2.7:5062>\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    ))
}

fn ok_bytes() -> Vec<u8> {
    let msg = ok("");
    let mut out = b"SIP/2.0 200 OK\r\n".to_vec();
    for name in ["Via", "From", "To", "Call-ID", "CSeq", "Contact"] {
        out.extend(format!("{name}: {}\r\n", msg.header(name).unwrap_or_default()).bytes());
    }
    out.extend(b"Content-Length: 0\r\n\r\n");
    out
}

const NEVER: fn() -> u32 = || panic!("no Retry-After here");

/// RFC 3261 §12.1.1: as UAS the route set is Record-Route in order, the
/// remote target the INVITE's Contact, the remote CSeq the INVITE's.
#[test]
fn uas_session_keeps_record_route_in_order_and_the_invites_contact() {
    let mut session = uas_session("", Instant::now());
    assert_eq!(session.role, Role::Uas);
    assert_eq!(
        session.dialog.route_set,
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    let bye = session.bye();
    assert_eq!(bye.request_uri, "sip:romeo@192.0.2.7:5062");
    assert_eq!(bye.cseq, 1);
    assert_eq!(bye.to, "<sip:romeo@sip.example>;tag=theirs");
    assert_eq!(session.dialog.remote_seq, Some(1));
    assert!(session.is_ended());
}

/// RFC 3261 §12.1.2, §13.2.2.4: as UAC the route set is the 2xx's
/// Record-Route reversed; the ACK repeats the INVITE's CSeq; the BYE takes
/// the next one.
#[test]
fn uac_session_reverses_the_route_set_and_acks_with_the_invites_cseq() {
    let mut session = Session::uac(&ok(""), Instant::now()).expect("session");
    assert_eq!(
        session.dialog.route_set,
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    let ack = session.ack(1);
    assert_eq!((ack.method.as_str(), ack.cseq), ("ACK", 1));
    assert_eq!(ack.request_uri, "sip:romeo@192.0.2.7:5062");
    let bye = session.bye();
    assert_eq!((bye.method.as_str(), bye.cseq), ("BYE", 2));
}

/// RFC 3261 §12.2.2: a request with a lower CSeq is out of order: 500.
#[test]
fn lower_cseq_is_refused_500() {
    let mut session = uas_session("", Instant::now());
    let update = in_dialog("UPDATE", 5, "");
    assert_eq!(session.handle_request(&update, NEVER), Ok(InDialog::Update));
    let late = in_dialog("INFO", 4, "");
    assert_eq!(
        session.handle_request(&late, NEVER).map_err(|r| r.status),
        Err(500)
    );
}

/// RFC 3261 §12.2.2: a request naming no known dialog gets 481.
#[test]
fn request_for_an_unknown_dialog_gets_481() {
    let mut sessions = Sessions::default();
    sessions.insert(uas_session("", Instant::now()));
    let stranger = parse(
        &invite(2, "")
            .replace("CSeq: 2 INVITE", "CSeq: 2 BYE")
            .replace("INVITE sip:", "BYE sip:")
            .replace(
                "To: <sip:juliet@xmpp.example>",
                "To: <sip:juliet@xmpp.example>;tag=other",
            ),
    );
    let refusal = sessions.handle_request(&stranger, NEVER).expect_err("481");
    assert_eq!(
        (refusal.status, refusal.reason),
        (481, "Call/Transaction Does Not Exist")
    );
    let bye = in_dialog("BYE", 2, "");
    assert_eq!(
        sessions.handle_request(&bye, NEVER).map(|(_, w)| w),
        Ok(InDialog::Bye)
    );
    assert!(sessions.is_empty(), "a BYE ends the session");
    assert_eq!(
        sessions.handle_request(&bye, NEVER).map_err(|r| r.status),
        Err(481),
        "and then it is unknown"
    );
}

/// RFC 3261 §14.2: a second INVITE before the first is answered: 500 with a
/// Retry-After of 0–10 s.
#[test]
fn overlapping_reinvite_is_refused_500_with_retry_after() {
    let mut session = uas_session("", Instant::now());
    assert_eq!(
        session.handle_request(&in_dialog("INVITE", 2, ""), NEVER),
        Ok(InDialog::Reinvite)
    );
    let refusal = session
        .handle_request(&in_dialog("INVITE", 3, ""), || 7)
        .expect_err("500");
    assert_eq!((refusal.status, refusal.retry_after), (500, Some(7)));
    assert_eq!(
        refusal.headers(),
        [("Retry-After".to_owned(), "7".to_owned())]
    );
}

/// RFC 3261 §14.2: an INVITE while our own re-INVITE is in progress: 491;
/// and §14.1: we start none while one is in progress.
#[test]
fn reinvite_while_ours_is_pending_is_refused_491() {
    let mut session = uas_session("", Instant::now());
    let ours = session.reinvite().expect("a re-INVITE");
    assert_eq!(ours.cseq, 1);
    assert!(session.reinvite().is_none(), "one at a time");
    let refusal = session
        .handle_request(&in_dialog("INVITE", 2, ""), NEVER)
        .expect_err("491");
    assert_eq!(refusal.status, 491);
    let answer = parse(
        &format!("{}", String::from_utf8_lossy(&ok_bytes()))
            .replace("<sip:romeo@192.0.2.7:5062>", "<sip:romeo@192.0.2.99>"),
    );
    session.handle_response(&answer, Instant::now());
    assert_eq!(
        session.dialog.remote_target, "sip:romeo@192.0.2.99",
        "§12.2.1.2: the 2xx refreshes the remote target"
    );
    assert!(
        session.reinvite().is_some(),
        "free again after the final response"
    );
}

/// RFC 3261 §14.2 and §12.2.2: a re-INVITE the TU refuses with 488 leaves
/// the session as it was; one it accepts refreshes the remote target.
#[test]
fn refused_reinvite_leaves_the_session_and_accepted_one_refreshes_the_target() {
    let t0 = Instant::now();
    let mut session = uas_session("", t0);
    let moved = "Contact: <sip:romeo@192.0.2.8>\r\n";
    let reinvite = parse(
        &invite(2, "")
            .replace("Contact: <sip:romeo@192.0.2.7:5062>\r\n", moved)
            .replace(
                "To: <sip:juliet@xmpp.example>",
                "To: <sip:juliet@xmpp.example>;tag=ours",
            ),
    );
    assert_eq!(
        session.handle_request(&reinvite, NEVER),
        Ok(InDialog::Reinvite)
    );
    session.answered(2, 488, TimerAnswer::None, t0);
    assert_eq!(session.dialog.remote_target, "sip:romeo@192.0.2.7:5062");
    let again = parse(
        &invite(3, "")
            .replace("Contact: <sip:romeo@192.0.2.7:5062>\r\n", moved)
            .replace(
                "To: <sip:juliet@xmpp.example>",
                "To: <sip:juliet@xmpp.example>;tag=ours",
            ),
    );
    assert_eq!(
        session.handle_request(&again, NEVER),
        Ok(InDialog::Reinvite)
    );
    session.answered(3, 200, TimerAnswer::None, t0);
    assert_eq!(session.dialog.remote_target, "sip:romeo@192.0.2.8");
}

/// RFC 4028 §9: below our minimum, with Supported: timer, the answer is 422
/// with our Min-SE (never below 90 s).
#[test]
fn session_interval_below_our_minimum_gets_422_with_min_se() {
    let request = parse(&invite(1, "Supported: timer\r\nSession-Expires: 100\r\n"));
    let answer = decide_timer(&request, 1800);
    assert_eq!(answer, TimerAnswer::TooSmall { min_se: 1800 });
    assert_eq!(answer.headers(), [("Min-SE".to_owned(), "1800".to_owned())]);
    let low = decide_timer(&parse(&invite(1, "Supported: timer\r\nx: 60\r\n")), 30);
    assert_eq!(low, TimerAnswer::TooSmall { min_se: 90 });
}

/// RFC 4028 §9 Table 2: the refresher in our 2xx, and Require: timer.
#[test]
fn timer_answer_follows_table_2() {
    let cases = [
        ("Session-Expires: 1800\r\n", Refresher::Uas, false),
        (
            "Supported: timer\r\nSession-Expires: 1800\r\n",
            Refresher::Uac,
            true,
        ),
        (
            "Supported: timer\r\nSession-Expires: 1800;refresher=uac\r\n",
            Refresher::Uac,
            true,
        ),
        (
            "Supported: timer\r\nSession-Expires: 1800;refresher=uas\r\n",
            Refresher::Uas,
            true,
        ),
    ];
    for (extra, refresher, require) in cases {
        let answer = decide_timer(&parse(&invite(1, extra)), 90);
        assert_eq!(
            answer,
            TimerAnswer::Accept {
                session_expires: SessionExpires {
                    interval: 1800,
                    refresher: Some(refresher)
                },
                require
            },
            "{extra}"
        );
    }
    assert_eq!(
        decide_timer(&parse(&invite(1, "Supported: timer\r\n")), 90),
        TimerAnswer::None
    );
}

/// RFC 4028 §9: the refresher refreshes at half the interval; a successful
/// refresh starts the interval again.
#[test]
fn refresh_is_due_at_half_the_interval_when_we_refresh() {
    let t0 = Instant::now();
    let mut session = uas_session(
        "Supported: timer\r\nSession-Expires: 1800;refresher=uas\r\n",
        t0,
    );
    assert_eq!(session.we_refresh(), Some(true));
    let at = session.poll_timeout().expect("refresh");
    assert_eq!(at - t0, Duration::from_secs(900));
    assert_eq!(session.handle_timeout(at), Some(SessionEvent::RefreshDue));
    let update = session.update();
    assert_eq!(update.method, "UPDATE");
    let t1 = at + Duration::from_secs(1);
    session.handle_response(&ok("Session-Expires: 1800;refresher=uac\r\n"), t1);
    assert_eq!(session.poll_timeout(), Some(t1 + Duration::from_secs(900)));
}

/// RFC 4028 §10: when the peer refreshes and none came, the session ends
/// min(32 s, interval/3) before its expiration.
#[test]
fn session_expires_early_when_the_peer_does_not_refresh() {
    let t0 = Instant::now();
    let mut session = Session::uac(&ok("Session-Expires: 90;refresher=uas\r\n"), t0).expect("s");
    assert_eq!(session.we_refresh(), Some(false));
    let at = session.poll_timeout().expect("expiry");
    assert_eq!(at - t0, Duration::from_secs(60), "90 s less a third");
    assert_eq!(session.handle_timeout(at - Duration::from_millis(1)), None);
    assert_eq!(session.handle_timeout(at), Some(SessionEvent::Expired));
    let long = Session::uac(&ok("Session-Expires: 1800;refresher=uas\r\n"), t0).expect("s");
    assert_eq!(long.poll_timeout(), Some(t0 + Duration::from_secs(1768)));
}

/// RFC 4028 §7.2: a 2xx without Session-Expires means no expiration.
#[test]
fn no_session_expires_means_no_timer() {
    let session = Session::uac(&ok(""), Instant::now()).expect("s");
    assert_eq!(session.poll_timeout(), None);
    assert_eq!(session.we_refresh(), None);
}

//! REPORTs on received messages decided by the application (RFC 4975
//! §7.1.3, §7.1.4; RFC 7573 §7), against the sans-IO session core.
//!
//! A gateway's success REPORT says the recipient on the other network got
//! the message, so with `application_reports` the session delivers a
//! message and waits for `report_success` or `report_failure`. The RFC
//! examples' REPORTs (RFC 4975 §11.6, RFC 7573 §7 Example 25) are compared
//! byte for byte, but for their Byte-Range: both examples give a range that
//! does not match the body sent (`tests/fixtures/README.md`), and §7.1.3's
//! report "covers the complete message", the bytes that arrived. RFC 7573's
//! SEND (`1-25/25` for 22 bytes) is taken as printed; RFC 4975 §11.6's body
//! is longer than its range and is given the range of its bytes.

#![allow(clippy::unwrap_used)]

use parley_msrp::ReportError;
use parley_msrp::chunk::ReassemblyLimits;
use parley_msrp::session::{Event, Paths, Session, SessionConfig};
use parley_msrp::status::StatusCode;
use parley_msrp::uri::Uri;
use parley_msrp::wire::{self, ByteRange, Continuation, Frame, MessageId, Method, TransactionId};

/// The bytes of `tests/fixtures/<name>.msrp`, compiled in.
macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/", $name, ".msrp")).as_slice()
    };
}

/// RFC 4975 §11.6's endpoints.
const ALICE: &str = "msrp://alicepc.example.com:7777/iau39soe2843z;tcp";
const BOB: &str = "msrp://bob.example.com:8888/9di4eae923wzd;tcp";

type Ids = Box<dyn FnMut() -> TransactionId>;

/// Transaction ids for the requests the session writes: `first`, then
/// `tid00002`, `tid00003`, ...
fn ids(first: &'static str) -> Ids {
    let mut n = 0;
    Box::new(move || {
        n += 1;
        let text = if n == 1 {
            first.to_owned()
        } else {
            format!("tid{n:05}")
        };
        TransactionId::new(&text).unwrap()
    })
}

fn config(local: &str, remote: &str, application_reports: bool) -> SessionConfig {
    SessionConfig {
        paths: Paths {
            local: Uri::parse(local).unwrap(),
            remote: vec![Uri::parse(remote).unwrap()],
        },
        accept_types: Vec::new(),
        limits: ReassemblyLimits {
            max_message_size: 10_000,
            max_incomplete: 4,
        },
        max_chunk: 2048,
        max_pending: 16,
        application_reports,
        max_awaiting_reports: 16,
        nickname_requests: parley_msrp::session::NicknameRequests::Unsupported,
        message_answers: parley_msrp::session::MessageAnswers::Session,
    }
}

/// Bob, whose application decides the REPORTs.
fn bob(first_report_id: &'static str) -> Session<Ids> {
    Session::new(config(BOB, ALICE, true), ids(first_report_id))
}

fn id(text: &str) -> MessageId {
    MessageId::new(text).unwrap()
}

/// A SEND from Alice to Bob carrying `body` whole.
fn send(message_id: &str, report_fields: &str, body: &str) -> Frame {
    let bytes = format!(
        "MSRP s{message_id} SEND\r\nTo-Path: {BOB}\r\nFrom-Path: {ALICE}\r\n\
         Message-ID: {message_id}\r\nByte-Range: 1-{len}/{len}\r\n{report_fields}\
         Content-Type: text/plain\r\n\r\n{body}\r\n-------s{message_id}$\r\n",
        len = body.len()
    );
    wire::parse(bytes.as_bytes()).unwrap()
}

fn transmitted(session: &mut Session<Ids>) -> Vec<Frame> {
    std::iter::from_fn(|| session.poll_transmit()).collect()
}

fn events(session: &mut Session<Ids>) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn reports(frames: &[Frame]) -> Vec<&Frame> {
    frames
        .iter()
        .filter(|f| f.method() == Some(&Method::Report))
        .collect()
}

/// `fixture` as text, its one Byte-Range line `rfc` replaced by `actual`.
fn with_byte_range(fixture: &[u8], rfc: &str, actual: &str) -> String {
    let text = String::from_utf8(fixture.to_vec()).unwrap();
    let line = format!("Byte-Range: {rfc}\r\n");
    assert_eq!(text.matches(&line).count(), 1, "{line:?} in the fixture");
    text.replace(&line, &format!("Byte-Range: {actual}\r\n"))
}

/// RFC 4975 §11.6's SEND (Figure 16) with the Byte-Range of its 121 body
/// bytes: as printed (`1-106/106`) the body is longer than its range, a
/// contradiction the session refuses (`chunk::reassembly`).
fn rfc4975_11_6_send() -> Frame {
    let text = with_byte_range(fixture!("rfc4975-11.6-send"), "1-106/106", "1-121/121");
    let frame = wire::parse(text.as_bytes()).unwrap();
    assert_eq!(frame.body.as_ref().map(|b| b.len()), Some(121));
    frame
}

#[test]
fn rfc4975_11_6_success_report_waits_for_the_application() {
    let mut bob = bob("dkei38sd");
    bob.handle_frame(rfc4975_11_6_send());
    // Failure-Report: no, so no 200 (§7.1.4); and no REPORT yet.
    assert!(transmitted(&mut bob).is_empty());
    let [Event::Message(delivered)] = &events(&mut bob)[..] else {
        panic!("one message");
    };
    assert_eq!(delivered.message.message_id, Some(id("12339sdqwer")));
    assert_eq!(bob.awaiting_reports(), 1);

    assert_eq!(bob.report_success(&id("12339sdqwer")), Ok(true));
    let out = transmitted(&mut bob);
    assert_eq!(out.len(), 1);
    // Figure 17, the Byte-Range over the 121 bytes that came.
    assert_eq!(
        String::from_utf8(out[0].to_bytes()).unwrap(),
        with_byte_range(fixture!("rfc4975-11.6-report"), "1-106/106", "1-121/121")
    );
    assert_eq!(bob.awaiting_reports(), 0);
}

#[test]
fn rfc7573_7_example25_report_is_sent_when_the_receipt_comes() {
    // The MSRP-to-XMPP gateway (s2x) receives Example 24, asks the XMPP
    // recipient for a receipt, and on <received/> sends Example 25.
    let s2x = "msrp://s2x.example.net:7313/jshA7weztas;tcp";
    let x2s = "msrp://x2s.example.com:8763/lkjh37s2s20w2a;tcp";
    let mut gateway = Session::new(config(s2x, x2s, true), ids("hx74g336"));
    gateway.handle_frame(wire::parse(fixture!("rfc7573-7-example24-send")).unwrap());
    assert!(
        transmitted(&mut gateway).is_empty(),
        "no REPORT before <received/>"
    );
    assert!(matches!(&events(&mut gateway)[..], [Event::Message(_)]));

    let message_id = id("6187CF9B-317A-41DA-BB6A-5E48A9C794EF");
    assert_eq!(gateway.report_success(&message_id), Ok(true));
    let out = transmitted(&mut gateway);
    assert_eq!(out.len(), 1);
    // "What man art thou ...?" is 22 bytes.
    assert_eq!(
        String::from_utf8(out[0].to_bytes()).unwrap(),
        with_byte_range(
            fixture!("rfc7573-7-example25-report"),
            "1-106/106",
            "1-22/22"
        )
    );
}

#[test]
fn default_session_still_reports_success_on_arrival() {
    let mut bob = Session::new(config(BOB, ALICE, false), ids("dkei38sd"));
    bob.handle_frame(rfc4975_11_6_send());
    let out = transmitted(&mut bob);
    assert_eq!(out.len(), 1);
    assert_eq!(
        String::from_utf8(out[0].to_bytes()).unwrap(),
        with_byte_range(fixture!("rfc4975-11.6-report"), "1-106/106", "1-121/121")
    );
    // Nothing awaits the application: it cannot report a second time.
    assert_eq!(bob.awaiting_reports(), 0);
    assert_eq!(
        bob.report_success(&id("12339sdqwer")),
        Err(ReportError::UnknownMessage)
    );
    assert!(transmitted(&mut bob).is_empty());
}

#[test]
fn success_report_is_not_sent_when_the_send_did_not_ask() {
    // §7.1.3: "The endpoint MUST NOT send a success report for a SEND
    // request that either contained no Success-Report header field or
    // contained such a field with a value of "no"."
    let mut bob = bob("r0000001");
    bob.handle_frame(send("m1", "", "hi"));
    bob.handle_frame(send("m2", "Success-Report: no\r\n", "hi"));
    let out = transmitted(&mut bob);
    assert_eq!(out.len(), 2, "the two 200s");
    assert!(reports(&out).is_empty());
    assert_eq!(bob.report_success(&id("m1")), Ok(false));
    assert_eq!(bob.report_success(&id("m2")), Ok(false));
    assert!(transmitted(&mut bob).is_empty());
    // Decided: both are forgotten.
    assert_eq!(bob.awaiting_reports(), 0);
}

#[test]
fn failure_report_is_sent_when_failure_report_is_yes_or_partial() {
    let mut bob = bob("r0000001");
    bob.handle_frame(send("m1", "", "hi"));
    bob.handle_frame(send("m2", "Failure-Report: partial\r\n", "hello"));
    transmitted(&mut bob);
    assert_eq!(
        bob.report_failure(&id("m1"), StatusCode::REQUEST_TIMEOUT),
        Ok(true)
    );
    // §7.1.4: built like a success REPORT, "except the Status header field
    // code field MUST contain the appropriate error code", with a
    // Byte-Range "indicating the actual range being reported on".
    let out = transmitted(&mut bob);
    assert_eq!(
        String::from_utf8(out[0].to_bytes()).unwrap(),
        format!(
            "MSRP r0000001 REPORT\r\nTo-Path: {ALICE}\r\nFrom-Path: {BOB}\r\n\
             Message-ID: m1\r\nByte-Range: 1-2/2\r\nStatus: 000 408 Request Timeout\r\n\
             -------r0000001$\r\n"
        )
    );
    assert_eq!(
        bob.report_failure(&id("m2"), StatusCode::FORBIDDEN),
        Ok(true)
    );
    let out = transmitted(&mut bob);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status().map(|s| s.code), Some(StatusCode::FORBIDDEN));
    assert_eq!(out[0].byte_range(), Some(ByteRange::whole(5)));
    assert_eq!(out[0].message_id(), Some(&id("m2")));
}

#[test]
fn failure_report_no_gets_no_failure_report() {
    // §7.1.4: with "no" the endpoint "MUST NOT send a failure REPORT
    // request". The message (kept for its success REPORT) is decided.
    let mut bob = bob("r0000001");
    bob.handle_frame(send(
        "m1",
        "Success-Report: yes\r\nFailure-Report: no\r\n",
        "hi",
    ));
    assert!(transmitted(&mut bob).is_empty());
    assert_eq!(
        bob.report_failure(&id("m1"), StatusCode::REQUEST_TIMEOUT),
        Ok(false)
    );
    assert!(transmitted(&mut bob).is_empty());
    assert_eq!(
        bob.report_success(&id("m1")),
        Err(ReportError::UnknownMessage)
    );
}

#[test]
fn message_that_can_be_owed_no_report_is_not_kept() {
    let mut bob = bob("r0000001");
    bob.handle_frame(send("m1", "Failure-Report: no\r\n", "hi"));
    assert_eq!(bob.awaiting_reports(), 0);
    assert_eq!(
        bob.report_failure(&id("m1"), StatusCode::REQUEST_TIMEOUT),
        Err(ReportError::UnknownMessage)
    );
}

#[test]
fn failure_report_with_a_success_status_is_refused_and_the_message_kept() {
    let mut bob = bob("r0000001");
    bob.handle_frame(send("m1", "Success-Report: yes\r\n", "hi"));
    transmitted(&mut bob);
    assert_eq!(
        bob.report_failure(&id("m1"), StatusCode::OK),
        Err(ReportError::NotAFailure(StatusCode::OK))
    );
    assert!(transmitted(&mut bob).is_empty());
    assert_eq!(bob.report_success(&id("m1")), Ok(true));
    let out = transmitted(&mut bob);
    assert_eq!(out[0].status().map(|s| s.code), Some(StatusCode::OK));
}

#[test]
fn unknown_message_id_is_an_error() {
    let mut bob = bob("r0000001");
    assert_eq!(
        bob.report_success(&id("never-received")),
        Err(ReportError::UnknownMessage)
    );
    assert_eq!(
        bob.report_failure(&id("never-received"), StatusCode::FORBIDDEN),
        Err(ReportError::UnknownMessage)
    );
    assert!(transmitted(&mut bob).is_empty());
    assert!(events(&mut bob).is_empty());
}

#[test]
fn message_reported_on_is_forgotten() {
    let mut bob = bob("r0000001");
    bob.handle_frame(send("m1", "Success-Report: yes\r\n", "hi"));
    transmitted(&mut bob);
    assert_eq!(bob.report_success(&id("m1")), Ok(true));
    assert_eq!(
        bob.report_success(&id("m1")),
        Err(ReportError::UnknownMessage)
    );
    assert_eq!(
        bob.report_failure(&id("m1"), StatusCode::FORBIDDEN),
        Err(ReportError::UnknownMessage)
    );
    assert_eq!(reports(&transmitted(&mut bob)).len(), 1, "one REPORT only");
}

#[test]
fn awaiting_reports_are_bounded_and_the_forgotten_one_is_an_event() {
    let mut config = config(BOB, ALICE, true);
    config.max_awaiting_reports = 2;
    let mut bob = Session::new(config, ids("r0000001"));
    for m in ["m1", "m2", "m3"] {
        bob.handle_frame(send(m, "Success-Report: yes\r\n", "hi"));
        assert!(bob.awaiting_reports() <= 2);
    }
    let forgotten: Vec<_> = events(&mut bob)
        .into_iter()
        .filter_map(|e| match e {
            Event::ReportForgotten(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(forgotten, vec![id("m1")]);
    assert_eq!(
        bob.report_success(&id("m1")),
        Err(ReportError::UnknownMessage)
    );
    assert_eq!(bob.report_success(&id("m2")), Ok(true));
    assert_eq!(bob.report_success(&id("m3")), Ok(true));
}

#[test]
fn chunked_message_gets_one_report_over_all_its_bytes() {
    // §7.1.3: the receiver "MAY wait until it receives the last chunk of a
    // message, and send a success report that covers the complete message".
    let mut bob = bob("r0000001");
    let chunk = |tid: &str, range: &str, body: &str, end: char| {
        let bytes = format!(
            "MSRP {tid} SEND\r\nTo-Path: {BOB}\r\nFrom-Path: {ALICE}\r\n\
             Message-ID: big\r\nByte-Range: {range}\r\nSuccess-Report: yes\r\n\
             Content-Type: text/plain\r\n\r\n{body}\r\n-------{tid}{end}\r\n"
        );
        wire::parse(bytes.as_bytes()).unwrap()
    };
    let first = chunk("c1", "1-4/10", "abcd", '+');
    assert_eq!(first.continuation, Continuation::More);
    bob.handle_frame(first);
    bob.handle_frame(chunk("c2", "5-10/10", "efghij", '$'));
    let out = transmitted(&mut bob);
    assert_eq!(out.len(), 2, "a 200 per chunk");
    assert!(reports(&out).is_empty());
    assert_eq!(bob.report_success(&id("big")), Ok(true));
    let out = transmitted(&mut bob);
    assert_eq!(out[0].byte_range(), Some(ByteRange::whole(10)));
}

//! The response to a received message's SEND given by the application
//! (`MessageAnswers::Application`), against the sans-IO session core.
//!
//! RFC 7701 §6: an MSRP switch refuses a SEND for what its Message/CPIM
//! wrapper says — "MUST reject the MSRP SEND request with a 403 response"
//! (several To, §6.1; a From that does not belong to the sender, §6.3),
//! "a 404 response" (a To that is no participant, §6.2), "a 428 response"
//! (no private messages, §6.2). Only the application knows the room, so
//! the session holds the response to the SEND that completes a message
//! until the application answers.

#![allow(clippy::unwrap_used)]

use parley_msrp::AnswerError;
use parley_msrp::chunk::ReassemblyLimits;
use parley_msrp::session::{
    Event, MessageAnswers, NicknameRequests, Paths, Session, SessionConfig,
};
use parley_msrp::status::StatusCode;
use parley_msrp::uri::Uri;
use parley_msrp::wire::{self, Frame, Method, TransactionId};

const ALICE: &str = "msrp://alicepc.example.com:7777/iau39soe2843z;tcp";
const BOB: &str = "msrp://bob.example.com:8888/9di4eae923wzd;tcp";

type Ids = Box<dyn FnMut() -> TransactionId>;

/// Bob is the room; his application answers; `application_reports` as given.
fn room(application_reports: bool, max_pending: usize) -> Session<Ids> {
    let mut n = 0;
    let ids: Ids = Box::new(move || {
        n += 1;
        TransactionId::new(&format!("bob{n:05}")).unwrap()
    });
    Session::new(
        SessionConfig {
            paths: Paths {
                local: Uri::parse(BOB).unwrap(),
                remote: vec![Uri::parse(ALICE).unwrap()],
            },
            accept_types: vec!["message/cpim".into()],
            limits: ReassemblyLimits {
                max_message_size: 10_000,
                max_incomplete: 4,
            },
            max_chunk: 2048,
            max_pending,
            application_reports,
            max_awaiting_reports: 16,
            nickname_requests: NicknameRequests::Application,
            message_answers: MessageAnswers::Application,
        },
        ids,
    )
}

/// A chunk of a SEND from Alice: `range` of `total`, continuation `end`.
fn chunk(
    tid: &str,
    message_id: &str,
    report_fields: &str,
    range: &str,
    body: &str,
    end: char,
) -> Frame {
    let bytes = format!(
        "MSRP {tid} SEND\r\nTo-Path: {BOB}\r\nFrom-Path: {ALICE}\r\n\
         Message-ID: {message_id}\r\nByte-Range: {range}\r\n{report_fields}\
         Content-Type: message/cpim\r\n\r\n{body}\r\n-------{tid}{end}\r\n"
    );
    wire::parse(bytes.as_bytes()).unwrap()
}

/// A whole message in one SEND.
fn send(tid: &str, message_id: &str, report_fields: &str) -> Frame {
    let body = "To: <sip:room@example.com>\r\n\r\nContent-Type: text/plain\r\n\r\nhi";
    chunk(
        tid,
        message_id,
        report_fields,
        &format!("1-{n}/{n}", n = body.len()),
        body,
        '$',
    )
}

fn transmitted(session: &mut Session<Ids>) -> Vec<Frame> {
    std::iter::from_fn(|| session.poll_transmit()).collect()
}

/// The one message delivered, and the transaction its answer goes to.
fn delivered(session: &mut Session<Ids>) -> TransactionId {
    let events: Vec<Event> = std::iter::from_fn(|| session.poll_event()).collect();
    let [Event::Message(delivered)] = events.as_slice() else {
        panic!("one message: {events:?}")
    };
    delivered.answer.clone().expect("the application answers")
}

fn statuses(frames: &[Frame]) -> Vec<(String, u16)> {
    frames
        .iter()
        .filter_map(|f| Some((f.transaction_id.as_str().to_owned(), f.status_code()?.0)))
        .collect()
}

fn reports(frames: &[Frame]) -> usize {
    frames
        .iter()
        .filter(|f| f.method() == Some(&Method::Report))
        .count()
}

#[test]
fn rfc7701_6_1_a_refused_send_gets_the_applications_403_and_no_report() {
    let mut bob = room(false, 16);
    bob.handle_frame(send("t1", "m1", "Success-Report: yes\r\n"));
    assert!(
        transmitted(&mut bob).is_empty(),
        "nothing before the answer"
    );
    let tid = delivered(&mut bob);
    assert_eq!(bob.awaiting_message_answers(), 1);
    bob.answer_message(&tid, StatusCode::FORBIDDEN).unwrap();
    let out = transmitted(&mut bob);
    assert_eq!(statuses(&out), vec![("t1".into(), 403)]);
    assert_eq!(
        reports(&out),
        0,
        "a refused message is owed no success REPORT"
    );
    assert_eq!(
        bob.answer_message(&tid, StatusCode::OK),
        Err(AnswerError::UnknownMessage),
        "answered once"
    );
}

#[test]
fn an_accepted_send_gets_200_then_the_success_report_it_asked_for() {
    let mut bob = room(false, 16);
    bob.handle_frame(send("t1", "m1", "Success-Report: yes\r\n"));
    let tid = delivered(&mut bob);
    bob.answer_message(&tid, StatusCode::OK).unwrap();
    let out = transmitted(&mut bob);
    assert_eq!(statuses(&out), vec![("t1".into(), 200)]);
    assert_eq!(reports(&out), 1, "RFC 4975 §7.1.3");
}

#[test]
fn a_refusal_forgets_what_the_application_would_report_on() {
    let mut bob = room(true, 16);
    bob.handle_frame(send("t1", "m1", "Success-Report: yes\r\n"));
    let tid = delivered(&mut bob);
    assert_eq!(bob.awaiting_reports(), 1);
    bob.answer_message(&tid, StatusCode::RECIPIENT_NOT_FOUND)
        .unwrap();
    assert_eq!(statuses(&transmitted(&mut bob)), vec![("t1".into(), 404)]);
    assert_eq!(bob.awaiting_reports(), 0);
    assert!(
        bob.report_success(&wire::MessageId::new("m1").unwrap())
            .is_err()
    );
}

#[test]
fn chunks_before_the_last_are_answered_on_arrival() {
    let mut bob = room(false, 16);
    bob.handle_frame(chunk("c1", "m1", "", "1-5/10", "To: <", '+'));
    assert_eq!(statuses(&transmitted(&mut bob)), vec![("c1".into(), 200)]);
    bob.handle_frame(chunk("c2", "m1", "", "6-10/10", "x>\r\n\r", '$'));
    assert!(transmitted(&mut bob).is_empty(), "the last waits");
    let tid = delivered(&mut bob);
    assert_eq!(tid.as_str(), "c2");
    bob.answer_message(&tid, StatusCode::OK).unwrap();
    assert_eq!(statuses(&transmitted(&mut bob)), vec![("c2".into(), 200)]);
}

#[test]
fn past_the_bound_a_message_is_refused_with_403_and_the_others_still_wait() {
    let mut bob = room(false, 2);
    bob.handle_frame(send("t1", "m1", ""));
    bob.handle_frame(send("t2", "m2", ""));
    bob.handle_frame(send("t3", "m3", ""));
    assert_eq!(statuses(&transmitted(&mut bob)), vec![("t3".into(), 403)]);
    assert_eq!(bob.awaiting_message_answers(), 2);
    let events: Vec<Event> = std::iter::from_fn(|| bob.poll_event()).collect();
    assert!(
        matches!(events.last(), Some(Event::Refused(e)) if e.kind() == "too_many_unanswered_messages")
    );
    let answers: Vec<TransactionId> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message(d) => d.answer.clone(),
            _ => None,
        })
        .collect();
    for tid in &answers {
        bob.answer_message(tid, StatusCode::OK).unwrap();
    }
    assert_eq!(
        statuses(&transmitted(&mut bob)),
        vec![("t1".into(), 200), ("t2".into(), 200)]
    );
}

#[test]
fn failure_report_no_sends_no_refusal_response() {
    // RFC 4975 §7.1.4 still rules: with Failure-Report "no" no response is
    // sent, whatever the application says.
    let mut bob = room(false, 16);
    bob.handle_frame(send("t1", "m1", "Failure-Report: no\r\n"));
    let tid = delivered(&mut bob);
    bob.answer_message(&tid, StatusCode::FORBIDDEN).unwrap();
    assert!(statuses(&transmitted(&mut bob)).is_empty());
}

#[test]
fn rfc7701_6_2_a_failure_report_carries_the_cpim_wrapper_it_is_given() {
    let mut bob = room(true, 16);
    bob.handle_frame(send("t1", "m1", "Failure-Report: yes\r\n"));
    let tid = delivered(&mut bob);
    bob.answer_message(&tid, StatusCode::OK).unwrap();
    let wrapper = "From: <sip:alice@example.com>\r\nTo: <sip:room@example.com;gr=Nick>\r\n\r\n";
    assert!(
        bob.report_failure_with_body(
            &wire::MessageId::new("m1").unwrap(),
            StatusCode::PRIVATE_MESSAGES_NOT_SUPPORTED,
            "message/cpim",
            bytes::Bytes::from_static(wrapper.as_bytes()),
        )
        .unwrap()
    );
    let out = transmitted(&mut bob);
    let report = out
        .iter()
        .find(|f| f.method() == Some(&Method::Report))
        .expect("a REPORT");
    let written = String::from_utf8(report.to_bytes().to_vec()).unwrap();
    assert!(written.contains("Status: 000 428"), "{written}");
    assert!(
        written.contains("Content-Type: message/cpim\r\n"),
        "{written}"
    );
    assert!(written.contains(wrapper), "{written}");
    // Written as a REPORT it parses back whole (not interruptible, §7.1.2).
    assert_eq!(wire::parse(&report.to_bytes()).as_ref(), Ok(report));
}

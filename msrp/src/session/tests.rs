//! Two sessions talking through the wire format, and one fed hostile frames.

use super::*;
use crate::uri::Uri;
use crate::wire::{self, Decoder, Header, Limits, StartLine};

const ALICE: &str = "msrp://alicepc.example.com:7777/iau39soe2843z;tcp";
const BOB: &str = "msrp://bob.example.com:8888/9di4eae923wzd;tcp";

fn uri(text: &str) -> Uri {
    Uri::parse(text).expect("uri")
}

fn ids(prefix: &'static str) -> impl FnMut() -> TransactionId {
    let mut n = 0;
    move || {
        n += 1;
        TransactionId::new(&format!("{prefix}{n:04}")).expect("ident")
    }
}

fn config(local: &str, remote: &str) -> SessionConfig {
    SessionConfig {
        paths: Paths {
            local: uri(local),
            remote: vec![uri(remote)],
        },
        accept_types: vec!["text/plain".into(), "message/cpim".into()],
        limits: ReassemblyLimits {
            max_message_size: 1000,
            max_incomplete: 2,
        },
        max_chunk: 2048,
        max_pending: 16,
        application_reports: false,
        max_awaiting_reports: 16,
        nickname_requests: NicknameRequests::Unsupported,
        message_answers: MessageAnswers::Session,
    }
}

type Peer = Session<Box<dyn FnMut() -> TransactionId>>;

fn pair() -> (Peer, Peer) {
    (
        Session::new(config(ALICE, BOB), Box::new(ids("alice"))),
        Session::new(config(BOB, ALICE), Box::new(ids("bob"))),
    )
}

/// Moves every queued frame from `from` to `to` through bytes and a decoder.
fn deliver(from: &mut Peer, to: &mut Peer) -> usize {
    let mut decoder = Decoder::new(Limits::default());
    let mut n = 0;
    while let Some(frame) = from.poll_transmit() {
        decoder.handle_bytes(&frame.to_bytes());
        n += 1;
    }
    loop {
        match decoder.poll_frame() {
            Ok(Some(frame)) => to.handle_frame(frame),
            Ok(None) => return n,
            Err(error) => to.handle_decode_error(&error),
        }
    }
}

fn events(session: &mut Peer) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn transmitted(session: &mut Peer) -> Vec<Frame> {
    std::iter::from_fn(|| session.poll_transmit()).collect()
}

fn text(id: &str, body: &'static str) -> NewMessage {
    NewMessage {
        message_id: MessageId::new(id).expect("ident"),
        content_type: "text/plain".into(),
        body: Bytes::from_static(body.as_bytes()),
        success_report: SuccessReport::No,
        failure_report: FailureReport::Yes,
    }
}

/// A SEND to Bob written by hand, to vary what Alice's session never would.
fn send_to_bob(extra: &str, body: &str) -> Frame {
    let bytes = format!(
        "MSRP hand0001 SEND\r\nTo-Path: {BOB}\r\nFrom-Path: {ALICE}\r\n\
         Message-ID: m1\r\n{extra}Content-Type: text/plain\r\n\r\n{body}\r\n-------hand0001$\r\n"
    );
    wire::parse(bytes.as_bytes()).expect("valid")
}

fn status_of(frames: &[Frame]) -> Vec<u16> {
    frames
        .iter()
        .filter_map(|f| f.status_code())
        .map(|s| s.0)
        .collect()
}

#[test]
fn basic_im_session_delivers_and_answers_200() {
    // RFC 4975 §11.1, steps 4 and 5.
    let (mut alice, mut bob) = pair();
    alice
        .send_message(text("12339sdqwer", "Hi, I'm Alice!"))
        .expect("sends");
    assert_eq!(deliver(&mut alice, &mut bob), 1);
    let [Event::Message(delivered)] = &events(&mut bob)[..] else {
        panic!("one message");
    };
    assert_eq!(&delivered.message.body[..], b"Hi, I'm Alice!");
    assert_eq!(
        delivered.message.content_type.as_deref(),
        Some("text/plain")
    );
    assert_eq!(deliver(&mut bob, &mut alice), 1, "the 200");
    assert_eq!(
        events(&mut alice),
        vec![Event::Response {
            message_id: MessageId::new("12339sdqwer").expect("ident"),
            status: StatusCode::OK
        }]
    );
}

#[test]
fn success_report_yes_gets_a_report_that_the_sender_matches() {
    // RFC 4975 §7.1.3; RFC 7573 §7 (XEP-0184 receipts).
    let (mut alice, mut bob) = pair();
    let mut message = text("6187CF9B", "What man art thou ...?");
    message.success_report = SuccessReport::Yes;
    message.failure_report = FailureReport::No;
    alice.send_message(message).expect("sends");
    deliver(&mut alice, &mut bob);
    let out = transmitted(&mut bob);
    assert_eq!(
        out.len(),
        1,
        "no 200 with Failure-Report no, only the REPORT"
    );
    let report = &out[0];
    assert_eq!(report.method(), Some(&Method::Report));
    assert_eq!(report.to_path(), &[uri(ALICE)]);
    assert_eq!(report.byte_range(), Some(ByteRange::whole(22)));
    assert!(
        !report
            .headers
            .iter()
            .any(|h| matches!(h, Header::SuccessReport(_) | Header::FailureReport(_)))
    );
    alice.handle_frame(report.clone());
    let [Event::Report { status, .. }] = &events(&mut alice)[..] else {
        panic!("one report");
    };
    assert_eq!(status.code, StatusCode::OK);
    assert!(
        transmitted(&mut alice).is_empty(),
        "REPORTs get no response"
    );
}

#[test]
fn report_for_an_unknown_message_id_is_ignored() {
    let (mut alice, _) = pair();
    let report = report(
        TransactionId::new("r0000001").expect("ident"),
        &ReportSubject {
            message_id: MessageId::new("never-sent").expect("ident"),
            from_path: vec![uri(ALICE)],
            byte_range: ByteRange::whole(1),
        },
        StatusCode::OK,
        &uri(BOB),
    );
    alice.handle_frame(report);
    assert!(events(&mut alice).is_empty());
    assert!(transmitted(&mut alice).is_empty());
}

#[test]
fn failure_report_partial_gets_no_200_but_gets_errors() {
    let (_, mut bob) = pair();
    bob.handle_frame(send_to_bob("Failure-Report: partial\r\n", "hi"));
    assert!(transmitted(&mut bob).is_empty());
    let mut bad = send_to_bob("Failure-Report: partial\r\n", "hi");
    bad.headers[0] = Header::ToPath(vec![uri("msrp://bob.example.com:8888/other;tcp")]);
    bob.handle_frame(bad);
    assert_eq!(status_of(&transmitted(&mut bob)), vec![481]);
}

#[test]
fn request_for_another_session_is_481_and_not_delivered() {
    let (_, mut bob) = pair();
    let mut frame = send_to_bob("", "hi");
    frame.headers[0] = Header::ToPath(vec![uri("msrp://bob.example.com:8888/other;tcp")]);
    bob.handle_frame(frame);
    let out = transmitted(&mut bob);
    assert_eq!(status_of(&out), vec![481]);
    assert_eq!(out[0].to_path(), &[uri(ALICE)]);
    assert_eq!(
        events(&mut bob),
        vec![Event::Refused(Error::Request(RequestError::ToPathMismatch))]
    );
}

#[test]
fn request_for_another_session_with_failure_report_no_gets_no_response() {
    // §7.3: "if the Failure-Report header field had a value of 'no', then
    // no error report would be sent".
    let (_, mut bob) = pair();
    let mut frame = send_to_bob("Failure-Report: no\r\n", "hi");
    frame.headers[0] = Header::ToPath(vec![uri("msrp://bob.example.com:8888/other;tcp")]);
    bob.handle_frame(frame);
    assert!(transmitted(&mut bob).is_empty());
}

#[test]
fn send_from_someone_else_is_481() {
    let (_, mut bob) = pair();
    let mut frame = send_to_bob("", "hi");
    frame.headers[1] = Header::FromPath(vec![uri("msrp://mallory.example:1/m;tcp")]);
    bob.handle_frame(frame);
    assert_eq!(status_of(&transmitted(&mut bob)), vec![481]);
}

#[test]
fn unsupported_media_type_is_415() {
    let (_, mut bob) = pair();
    let mut frame = send_to_bob("", "<p>hi</p>");
    frame
        .headers
        .retain(|h| !matches!(h, Header::ContentType(_)));
    frame.headers.push(Header::ContentType("text/html".into()));
    bob.handle_frame(frame);
    assert_eq!(status_of(&transmitted(&mut bob)), vec![415]);
}

#[test]
fn unknown_method_is_501() {
    let (_, mut bob) = pair();
    let mut frame = send_to_bob("", "hi");
    frame.start = StartLine::Request(Method::Other("AUTH".into()));
    bob.handle_frame(frame);
    assert_eq!(status_of(&transmitted(&mut bob)), vec![501]);
}

/// Alice a participant, Bob the chat room (RFC 7701 §7.1).
fn room_pair() -> (Peer, Peer) {
    let mut room = config(BOB, ALICE);
    room.nickname_requests = NicknameRequests::Application;
    (
        Session::new(config(ALICE, BOB), Box::new(ids("alice"))),
        Session::new(room, Box::new(ids("bob"))),
    )
}

fn nickname_to_bob(extra: &str) -> Frame {
    let bytes = format!(
        "MSRP nick0001 NICKNAME\r\nTo-Path: {BOB}\r\nFrom-Path: {ALICE}\r\n{extra}-------nick0001$\r\n"
    );
    wire::parse(bytes.as_bytes()).expect("valid")
}

/// RFC 7701 §9.2: a first proposal refused with 425, a second accepted.
#[test]
fn rfc7701_9_2_nickname_refused_then_accepted_reaches_both_applications() {
    let (mut alice, mut bob) = room_pair();
    let first = alice.send_nickname("Alice the great").expect("valid");
    let sent = transmitted(&mut alice);
    assert_eq!(sent[0].use_nickname(), Some("Alice the great"));
    // §7.1: "MUST NOT include Success-Report or Failure-Report".
    assert!(
        sent[0]
            .headers
            .iter()
            .all(|h| !matches!(h, Header::SuccessReport(_) | Header::FailureReport(_)))
    );
    for frame in sent {
        bob.handle_frame(frame);
    }
    let asked = events(&mut bob);
    let [
        Event::NicknameRequest {
            transaction_id,
            nickname,
        },
    ] = asked.as_slice()
    else {
        panic!("{asked:?}")
    };
    assert_eq!(nickname, "Alice the great");
    assert_eq!(bob.awaiting_nickname_answers(), 1);
    bob.answer_nickname(transaction_id, StatusCode::NICKNAME_UNAVAILABLE)
        .expect("awaited");
    assert_eq!(bob.awaiting_nickname_answers(), 0);
    deliver(&mut bob, &mut alice);
    assert_eq!(
        events(&mut alice),
        vec![Event::NicknameResponse {
            transaction_id: first,
            status: StatusCode(425)
        }]
    );
    let second = alice.send_nickname("Alice in Wonderland").expect("valid");
    deliver(&mut alice, &mut bob);
    let Some(Event::NicknameRequest { transaction_id, .. }) = bob.poll_event() else {
        panic!("no request")
    };
    bob.answer_nickname(&transaction_id, StatusCode::OK)
        .expect("awaited");
    deliver(&mut bob, &mut alice);
    assert_eq!(
        events(&mut alice),
        vec![Event::NicknameResponse {
            transaction_id: second,
            status: StatusCode::OK
        }]
    );
}

#[test]
fn nickname_to_a_session_that_is_no_chat_room_is_501() {
    let (_, mut bob) = pair();
    bob.handle_frame(nickname_to_bob("Use-Nickname: \"x\"\r\n"));
    assert_eq!(status_of(&transmitted(&mut bob)), vec![501]);
}

/// RFC 7701 §7.1: "The NICKNAME request MUST include a new Use-Nickname header".
#[test]
fn nickname_without_use_nickname_is_400() {
    let (_, mut bob) = room_pair();
    bob.handle_frame(nickname_to_bob(""));
    assert_eq!(status_of(&transmitted(&mut bob)), vec![400]);
    assert!(matches!(
        events(&mut bob).as_slice(),
        [Event::Refused(Error::Request(
            RequestError::MissingUseNickname
        ))]
    ));
}

/// RFC 7701 §7.1: a malformed Use-Nickname is answered 424 (the decoder
/// refuses it; the session answers).
#[test]
fn rfc7701_7_1_malformed_use_nickname_is_424() {
    let (_, mut bob) = room_pair();
    let bytes = format!(
        "MSRP nick0001 NICKNAME\r\nTo-Path: {BOB}\r\nFrom-Path: {ALICE}\r\nUse-Nickname: Alice\r\n-------nick0001$\r\n"
    );
    let error = wire::parse(bytes.as_bytes()).expect_err("malformed");
    bob.handle_decode_error(&error);
    assert_eq!(status_of(&transmitted(&mut bob)), vec![424]);
}

/// A NICKNAME flood: past the bound (max_pending, 16) each is refused 403
/// and nothing more is held.
#[test]
fn nickname_flood_is_refused_past_the_bound() {
    let (_, mut bob) = room_pair();
    for _ in 0..20 {
        bob.handle_frame(nickname_to_bob("Use-Nickname: \"x\"\r\n"));
    }
    assert_eq!(bob.awaiting_nickname_answers(), 16);
    assert_eq!(status_of(&transmitted(&mut bob)), vec![403; 4]);
}

#[test]
fn answering_a_nickname_nobody_asked_is_an_error() {
    let (_, mut bob) = room_pair();
    let tid = TransactionId::new("nope0001").expect("ident");
    assert_eq!(
        bob.answer_nickname(&tid, StatusCode::OK),
        Err(AnswerError::UnknownNicknameRequest)
    );
}

#[test]
fn nickname_over_1023_octets_or_with_controls_is_not_sent() {
    let (mut alice, _) = room_pair();
    assert_eq!(
        alice.send_nickname(&"n".repeat(1024)),
        Err(SendError::BadNickname)
    );
    assert_eq!(alice.send_nickname("a\nb"), Err(SendError::BadNickname));
    assert!(transmitted(&mut alice).is_empty());
    // §7.3: the empty string removes the nickname.
    alice.send_nickname("").expect("removal");
    assert_eq!(transmitted(&mut alice)[0].use_nickname(), Some(""));
}

#[test]
fn nickname_timeout_is_a_408_response_once() {
    let (mut alice, _) = room_pair();
    let tid = alice.send_nickname("A").expect("valid");
    alice.handle_nickname_timeout(&tid);
    alice.handle_nickname_timeout(&tid);
    assert_eq!(
        events(&mut alice),
        vec![Event::NicknameResponse {
            transaction_id: tid,
            status: StatusCode::REQUEST_TIMEOUT
        }]
    );
}

#[test]
fn byte_range_total_over_the_limit_is_413() {
    // RFC 7573 §8; the hostile 10 MB total of issue 21.
    let (_, mut bob) = pair();
    let mut frame = send_to_bob("Byte-Range: 1-2/10485760\r\n", "hi");
    frame.continuation = crate::wire::Continuation::More;
    bob.handle_frame(frame);
    assert_eq!(status_of(&transmitted(&mut bob)), vec![413]);
    assert!(
        events(&mut bob)
            .iter()
            .all(|e| matches!(e, Event::Refused(_)))
    );
}

#[test]
fn malformed_request_is_400_from_what_was_salvaged() {
    let (_, mut bob) = pair();
    let bytes = format!(
        "MSRP bad00001 SEND\r\nTo-Path: {BOB}\r\nFrom-Path: {ALICE}\r\n\
         Byte-Range: banana\r\n-------bad00001$\r\n"
    );
    let mut decoder = Decoder::new(Limits::default());
    decoder.handle_bytes(bytes.as_bytes());
    let error = decoder.poll_frame().expect_err("malformed");
    bob.handle_decode_error(&error);
    let out = transmitted(&mut bob);
    assert_eq!(status_of(&out), vec![400]);
    assert_eq!(out[0].transaction_id.as_str(), "bad00001");
}

#[test]
fn chunked_message_out_of_order_is_delivered_once_with_200_per_chunk() {
    let (alice, mut bob) = pair();
    let mut config = alice.config().clone();
    config.max_chunk = 4;
    let mut alice: Peer = Session::new(config, Box::new(ids("alice")));
    alice
        .send_message(text("4564dpWd", "abcdEFGHij"))
        .expect("sends");
    let mut chunks = transmitted(&mut alice);
    assert_eq!(chunks.len(), 3);
    chunks.reverse();
    for chunk in chunks {
        bob.handle_frame(chunk);
    }
    assert_eq!(status_of(&transmitted(&mut bob)), vec![200, 200, 200]);
    let delivered: Vec<_> = events(&mut bob)
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(d) => Some(d.message.body),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, vec![Bytes::from_static(b"abcdEFGHij")]);
}

#[test]
fn aborted_message_is_not_delivered() {
    let (_, mut bob) = pair();
    let mut first = send_to_bob("Byte-Range: 1-2/4\r\n", "ab");
    first.continuation = crate::wire::Continuation::More;
    bob.handle_frame(first);
    let mut abort = send_to_bob("Byte-Range: 3-3/4\r\n", "c");
    abort.continuation = crate::wire::Continuation::Abort;
    bob.handle_frame(abort);
    assert_eq!(
        events(&mut bob),
        vec![Event::Aborted(Some(MessageId::new("m1").expect("ident")))]
    );
}

#[test]
fn response_413_stops_the_rest_of_the_message() {
    // §10.5: "it MUST NOT send any further chunks in the message".
    let mut config = config(ALICE, BOB);
    config.max_chunk = 2;
    let mut alice: Peer = Session::new(config, Box::new(ids("alice")));
    alice.send_message(text("big", "abcdef")).expect("sends");
    let first = alice.poll_transmit().expect("first chunk");
    let stop = response(&first, StatusCode::STOP_SENDING, &uri(BOB));
    alice.handle_frame(stop);
    assert!(transmitted(&mut alice).is_empty(), "queued chunks dropped");
    assert!(matches!(
        &events(&mut alice)[..],
        [Event::Response { status, .. }] if status.0 == 413
    ));
}

#[test]
fn bodiless_send_binds_and_is_answered_200() {
    let (mut alice, mut bob) = pair();
    alice.send_bodiless(MessageId::new("bind0001").expect("ident"));
    deliver(&mut alice, &mut bob);
    assert!(events(&mut bob).is_empty(), "nothing to deliver");
    assert_eq!(status_of(&transmitted(&mut bob)), vec![200]);
}

#[test]
fn pending_transactions_are_bounded() {
    let mut config = config(ALICE, BOB);
    config.max_pending = 2;
    let mut alice: Peer = Session::new(config, Box::new(ids("alice")));
    for id in ["m1", "m2", "m3"] {
        alice.send_message(text(id, "x")).expect("sends");
    }
    let sent = transmitted(&mut alice);
    // The oldest was forgotten: its response is ignored.
    alice.handle_frame(response(&sent[0], StatusCode::OK, &uri(BOB)));
    assert!(events(&mut alice).is_empty());
    alice.handle_frame(response(&sent[2], StatusCode::OK, &uri(BOB)));
    assert_eq!(events(&mut alice).len(), 1);
}

#[test]
fn accept_types_wildcards_match() {
    let accept = vec!["message/cpim".to_owned(), "text/*".to_owned()];
    assert!(accepts(&accept, "text/plain; charset=utf-8"));
    assert!(accepts(&accept, "Message/CPIM"));
    assert!(!accepts(&accept, "image/png"));
    assert!(accepts(&["*".to_owned()], "image/png"));
    assert!(accepts(&[], "anything/else"));
}

#[test]
fn oversized_chunk_is_413_and_drops_the_message_in_progress() {
    let (_, mut bob) = pair();
    let mut first = send_to_bob("Byte-Range: 1-2/900\r\n", "ab");
    first.continuation = crate::wire::Continuation::More;
    bob.handle_frame(first);
    transmitted(&mut bob);
    let big = "x".repeat(600);
    let bytes = format!(
        "MSRP big00001 SEND\r\nTo-Path: {BOB}\r\nFrom-Path: {ALICE}\r\n\
         Message-ID: m1\r\nByte-Range: 3-602/900\r\nContent-Type: text/plain\r\n\r\n{big}\r\n-------big00001+\r\n"
    );
    let mut decoder = Decoder::new(Limits {
        max_head: 1024,
        max_body: 512,
    });
    decoder.handle_bytes(bytes.as_bytes());
    let error = decoder.poll_frame().expect_err("too large");
    bob.handle_decode_error(&error);
    assert_eq!(status_of(&transmitted(&mut bob)), vec![413]);
    assert_eq!(bob.reassembler.incomplete(), 0);
}

#[test]
fn malformed_request_for_another_session_is_481() {
    let (_, mut bob) = pair();
    let bytes = format!(
        "MSRP bad00002 SEND\r\nTo-Path: msrp://bob.example.com:8888/other;tcp\r\n\
         From-Path: {ALICE}\r\nByte-Range: banana\r\n-------bad00002$\r\n"
    );
    let error = wire::parse(bytes.as_bytes()).expect_err("malformed");
    bob.handle_decode_error(&error);
    assert_eq!(status_of(&transmitted(&mut bob)), vec![481]);
}

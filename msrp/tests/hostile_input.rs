//! Issue 21's hostile input, at the crate's public API: each is refused as
//! RFC 4975 says, and the other sessions on the connection go on.
//!
//! One connection carries two sessions (§5.4 lets sessions share one); the
//! test routes each decoded frame by its To-Path, as the driver will.

#![allow(clippy::unwrap_used)]

use parley_msrp::chunk::ReassemblyLimits;
use parley_msrp::session::{self, Event, Paths, Session, SessionConfig};
use parley_msrp::uri::Uri;
use parley_msrp::wire::{Decoder, Frame, Limits, TransactionId};
use parley_msrp::{Error, FramingError, StatusCode};

const PEER: &str = "msrp://phone.example.net:2855/peer1;tcp";
const ONE: &str = "msrp://gw.example.com:2855/sessionone;tcp";
const TWO: &str = "msrp://gw.example.com:2855/sessiontwo;tcp";

type Ids = Box<dyn FnMut() -> TransactionId>;

fn session(local: &str) -> Session<Ids> {
    let mut n = 0;
    let ids: Ids = Box::new(move || {
        n += 1;
        TransactionId::new(&format!("gw{n:06}")).unwrap()
    });
    Session::new(
        SessionConfig {
            paths: Paths {
                local: Uri::parse(local).unwrap(),
                remote: vec![Uri::parse(PEER).unwrap()],
            },
            accept_types: vec!["text/plain".into()],
            limits: ReassemblyLimits {
                max_message_size: 10_000,
                max_incomplete: 4,
            },
            max_chunk: 2048,
            max_pending: 64,
            application_reports: false,
            max_awaiting_reports: 64,
            nickname_requests: parley_msrp::session::NicknameRequests::Application,
            message_answers: parley_msrp::session::MessageAnswers::Session,
        },
        ids,
    )
}

fn send(tid: &str, to: &str, range: &str, flag: char, body: &str) -> String {
    format!(
        "MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {PEER}\r\nMessage-ID: m{tid}\r\n\
         Byte-Range: {range}\r\nContent-Type: text/plain\r\n\r\n{body}\r\n-------{tid}{flag}\r\n"
    )
}

/// Decodes `stream` and routes each frame to the session its To-Path names;
/// a frame for no session is answered 481 by the connection. Returns the
/// statuses written back, in order.
fn run(stream: &str, sessions: &mut [Session<Ids>]) -> Vec<u16> {
    let mut decoder = Decoder::new(Limits::default());
    decoder.handle_bytes(stream.as_bytes());
    let mut written: Vec<Frame> = Vec::new();
    loop {
        match decoder.poll_frame() {
            Ok(Some(frame)) => {
                let target = sessions.iter_mut().find(|s| {
                    frame
                        .to_path()
                        .first()
                        .is_some_and(|u| u.equivalent(&s.config().paths.local))
                });
                match target {
                    Some(s) => s.handle_frame(frame),
                    None => written.push(session::response(
                        &frame,
                        StatusCode::NO_SESSION,
                        &frame.to_path()[0],
                    )),
                }
            }
            Ok(None) => break,
            Err(error) if error.is_fatal() => {
                assert_eq!(error.error, Error::Framing(FramingError::BadStartLine));
                break;
            }
            Err(error) => sessions[0].handle_decode_error(&error),
        }
    }
    for s in sessions.iter_mut() {
        written.extend(std::iter::from_fn(|| s.poll_transmit()));
    }
    written
        .iter()
        .filter_map(|f| f.status_code())
        .map(|s| s.0)
        .collect()
}

fn delivered(s: &mut Session<Ids>) -> Vec<String> {
    std::iter::from_fn(|| s.poll_event())
        .filter_map(|e| match e {
            Event::Message(d) => Some(String::from_utf8(d.message.body.to_vec()).unwrap()),
            _ => None,
        })
        .collect()
}

#[test]
fn send_for_an_unknown_session_is_481_and_the_others_deliver() {
    let mut sessions = [session(ONE), session(TWO)];
    let stream = [
        send("aaaa0001", ONE, "1-5/5", '$', "hello"),
        send(
            "aaaa0002",
            "msrp://gw.example.com:2855/guessed;tcp",
            "1-3/3",
            '$',
            "bad",
        ),
        send("aaaa0003", TWO, "1-5/5", '$', "world"),
    ]
    .concat();
    let mut statuses = run(&stream, &mut sessions);
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 200, 481]);
    assert_eq!(delivered(&mut sessions[0]), vec!["hello"]);
    assert_eq!(delivered(&mut sessions[1]), vec!["world"]);
}

#[test]
fn ten_megabyte_byte_range_total_is_413_and_the_other_session_delivers() {
    let mut sessions = [session(ONE), session(TWO)];
    let stream = [
        send("bbbb0001", ONE, "1-4/10485760", '+', "abcd"),
        send("bbbb0002", TWO, "1-2/2", '$', "ok"),
    ]
    .concat();
    let statuses = run(&stream, &mut sessions);
    assert_eq!(statuses, vec![413, 200]);
    assert!(delivered(&mut sessions[0]).is_empty());
    assert_eq!(delivered(&mut sessions[1]), vec!["ok"]);
}

#[test]
fn malformed_frame_is_400_and_the_stream_goes_on() {
    let mut sessions = [session(ONE)];
    let bad = format!(
        "MSRP cccc0001 SEND\r\nTo-Path: {ONE}\r\nFrom-Path: {PEER}\r\n\
         Byte-Range: one-two/three\r\n-------cccc0001$\r\n"
    );
    let stream = [bad, send("cccc0002", ONE, "1-2/2", '$', "ok")].concat();
    assert_eq!(run(&stream, &mut sessions), vec![400, 200]);
    assert_eq!(delivered(&mut sessions[0]), vec!["ok"]);
}

#[test]
fn garbage_on_the_port_fails_the_connection_before_any_frame() {
    let mut sessions = [session(ONE)];
    let stream = format!(
        "\x16\x03\x01\x02\x00garbage{}",
        send("dddd0001", ONE, "1-2/2", '$', "ok")
    );
    assert_eq!(run(&stream, &mut sessions), Vec::<u16>::new());
    assert!(delivered(&mut sessions[0]).is_empty());
}

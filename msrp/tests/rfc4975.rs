//! RFC 4975's example frames (and RFC 7573's, RFC 4976's relay paths)
//! against the wire layer.
//!
//! One test per example, named after its section. The bytes are in
//! `tests/fixtures/`, written from the RFC text; the README there says what
//! was changed (indentation, page breaks, RFC 4976's folding) and which
//! examples are not quite right. Each frame must parse, read right, and be
//! written back byte for byte.

#![allow(clippy::unwrap_used)]

use parley_msrp::chunk::{Reassembled, Reassembler, ReassemblyLimits};
use parley_msrp::status::StatusCode;
use parley_msrp::uri::Scheme;
use parley_msrp::wire::{
    self, ByteRange, Continuation, Decoder, FailureReport, Frame, Limits, Method, SuccessReport,
};
use parley_msrp::{Error, ParseError};

/// The bytes of `tests/fixtures/<name>.msrp`, compiled in.
macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/", $name, ".msrp")).as_slice()
    };
}

/// Parses a fixture, checks that it writes back unchanged, returns it.
fn round_trip(bytes: &[u8]) -> Frame {
    let frame = wire::parse(bytes).unwrap_or_else(|e| panic!("does not parse: {e:?}"));
    assert_eq!(
        String::from_utf8_lossy(&frame.to_bytes()),
        String::from_utf8_lossy(bytes),
        "written back differently"
    );
    frame
}

fn body(frame: &Frame) -> &str {
    std::str::from_utf8(frame.body.as_deref().unwrap()).unwrap()
}

#[test]
fn rfc4975_4_fig2_send_parses() {
    let frame = round_trip(fixture!("rfc4975-4-fig2-send"));
    assert_eq!(frame.transaction_id.as_str(), "a786hjs2");
    assert_eq!(frame.method(), Some(&Method::Send));
    assert_eq!(frame.to_path().len(), 1);
    assert_eq!(
        frame.to_path()[0].to_string(),
        "msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp"
    );
    assert_eq!(frame.message_id().unwrap().as_str(), "87652491");
    assert_eq!(
        frame.byte_range(),
        Some(ByteRange {
            start: 1,
            end: Some(25),
            total: Some(25)
        })
    );
    assert_eq!(frame.content_type(), Some("text/plain"));
    assert_eq!(body(&frame), "Hey Bob, are you there?");
    assert_eq!(frame.continuation, Continuation::End);
    // §7.1.1: absent report fields mean Success-Report no, Failure-Report yes.
    assert_eq!(frame.success_report(), SuccessReport::No);
    assert_eq!(frame.failure_report(), FailureReport::Yes);
}

#[test]
fn rfc4975_4_fig2_ok_parses() {
    let frame = round_trip(fixture!("rfc4975-4-fig2-ok"));
    assert_eq!(frame.status_code(), Some(StatusCode::OK));
    assert_eq!(frame.body, None);
}

#[test]
fn rfc4975_5_1_fig3_chunks_frame_but_lack_the_paths_9_requires() {
    for (bytes, range, flag, data) in [
        (
            fixture!("rfc4975-5.1-fig3-chunk1"),
            "1-*/8",
            Continuation::More,
            "abcd",
        ),
        (
            fixture!("rfc4975-5.1-fig3-chunk2"),
            "5-8/8",
            Continuation::End,
            "EFGH",
        ),
    ] {
        let error = wire::parse(bytes).unwrap_err();
        assert_eq!(error.error, Error::Parse(ParseError::MissingToPath));
        assert_eq!(StatusCode::from(&error.error), StatusCode::BAD_REQUEST);
        let salvage = error.salvage.unwrap();
        assert_eq!(salvage.message_id().unwrap().as_str(), "4564dpWd");
        assert_eq!(salvage.byte_range().unwrap().to_string(), range);
        assert_eq!(salvage.continuation, flag);
        assert_eq!(body(&salvage), data);
        assert_eq!(salvage.to_bytes(), bytes, "what was read writes back");
    }
}

#[test]
fn rfc4975_11_1_basic_session_frames_parse() {
    let send = round_trip(fixture!("rfc4975-11.1-step4-send"));
    assert_eq!(body(&send), "Hi, I'm Alice!");
    let ok = round_trip(fixture!("rfc4975-11.1-step5-ok"));
    assert_eq!(ok.transaction_id, send.transaction_id);
    // §7.2: the response's To-Path is the request's From-Path, and back.
    assert!(ok.to_path()[0].equivalent(&send.from_path()[0]));
    assert!(ok.from_path()[0].equivalent(&send.to_path()[0]));
    let reply = round_trip(fixture!("rfc4975-11.1-step6-send"));
    assert_eq!(body(&reply), "Hi, Alice!  I'm Bob!");
    let ok = round_trip(fixture!("rfc4975-11.1-step7-ok"));
    assert_eq!(ok.transaction_id, reply.transaction_id);
}

#[test]
fn rfc4975_11_2_xhtml_parses() {
    let frame = round_trip(fixture!("rfc4975-11.2-xhtml"));
    assert_eq!(frame.content_type(), Some("application/xhtml+xml"));
    assert!(body(&frame).starts_with("<?xml version=\"1.0\""));
    assert!(body(&frame).ends_with("</html>"));
}

#[test]
fn rfc4975_11_4_cpim_chunks_parse() {
    let first = round_trip(fixture!("rfc4975-11.4-cpim-chunk1"));
    assert_eq!(first.continuation, Continuation::More);
    assert_eq!(first.content_type(), Some("message/cpim"));
    // The body is exactly the 137 bytes its Byte-Range announces.
    assert_eq!(first.body.as_ref().unwrap().len(), 137);
    let second = round_trip(fixture!("rfc4975-11.4-cpim-chunk2"));
    assert_eq!(second.continuation, Continuation::End);
    assert_eq!(second.byte_range().unwrap().start, 138);
    assert_eq!(first.message_id(), second.message_id());
}

#[test]
fn rfc4975_11_5_system_message_parses() {
    let frame = round_trip(fixture!("rfc4975-11.5-system"));
    assert_eq!(frame.failure_report(), FailureReport::No);
    assert_eq!(frame.success_report(), SuccessReport::No);
}

#[test]
fn rfc4975_11_6_positive_report_parses() {
    let send = round_trip(fixture!("rfc4975-11.6-send"));
    assert_eq!(send.success_report(), SuccessReport::Yes);
    assert_eq!(send.failure_report(), FailureReport::No);
    let report = round_trip(fixture!("rfc4975-11.6-report"));
    assert_eq!(report.method(), Some(&Method::Report));
    assert_eq!(report.message_id(), send.message_id());
    let status = report.status().unwrap();
    assert_eq!((status.namespace, status.code), (0, StatusCode::OK));
    assert_eq!(status.comment.as_deref(), Some("OK"));
}

#[test]
fn rfc7573_examples_parse() {
    for bytes in [
        fixture!("rfc7573-4-example5-send"),
        fixture!("rfc7573-4-example6-send"),
        fixture!("rfc7573-5-example13-send"),
        fixture!("rfc7573-5-example16-send"),
        fixture!("rfc7573-7-example24-send"),
        fixture!("rfc7573-7-example25-report"),
    ] {
        let frame = round_trip(bytes);
        assert_eq!(frame.to_path().len(), 1);
        assert_eq!(frame.from_path().len(), 1);
    }
    // RFC 7573 §7: a gateway SHOULD set Failure-Report to "no".
    let receipt = round_trip(fixture!("rfc7573-7-example24-send"));
    assert_eq!(receipt.success_report(), SuccessReport::Yes);
    assert_eq!(receipt.failure_report(), FailureReport::No);
}

#[test]
fn rfc4976_3_relay_paths_parse() {
    let send = round_trip(fixture!("rfc4976-3-send-to-relay"));
    assert_eq!(send.to_path().len(), 3);
    assert!(send.to_path().iter().all(|u| u.scheme == Scheme::Msrps));
    assert_eq!(send.byte_range().unwrap().to_string(), "1-*/*");
    let ok = round_trip(fixture!("rfc4976-3-ok-from-relay"));
    assert_eq!(ok.message_id().unwrap().as_str(), "87652");
    let last_hop = round_trip(fixture!("rfc4976-3-send-from-relay"));
    assert_eq!(last_hop.from_path().len(), 3);
}

#[test]
fn every_fixture_back_to_back_decodes_in_one_byte_pieces() {
    let all: &[&[u8]] = &[
        fixture!("rfc4975-4-fig2-send"),
        fixture!("rfc4975-4-fig2-ok"),
        fixture!("rfc4975-11.1-step4-send"),
        fixture!("rfc4975-11.2-xhtml"),
        fixture!("rfc4975-11.4-cpim-chunk1"),
        fixture!("rfc4975-11.4-cpim-chunk2"),
        fixture!("rfc4975-11.6-report"),
        fixture!("rfc4976-3-send-to-relay"),
    ];
    let stream: Vec<u8> = all.concat();
    let mut decoder = Decoder::new(Limits::default());
    let mut frames = Vec::new();
    for byte in stream {
        decoder.handle_bytes(&[byte]);
        while let Some(frame) = decoder.poll_frame().unwrap() {
            frames.push(frame.to_bytes());
        }
    }
    assert_eq!(frames, all);
}

#[test]
fn rfc4975_11_4_cpim_chunks_reassemble_in_either_order() {
    let first = round_trip(fixture!("rfc4975-11.4-cpim-chunk1"));
    let second = round_trip(fixture!("rfc4975-11.4-cpim-chunk2"));
    for order in [[&first, &second], [&second, &first]] {
        let mut reassembler = Reassembler::new(ReassemblyLimits::default());
        assert_eq!(
            reassembler.handle_chunk(order[0]),
            Ok(Reassembled::Incomplete)
        );
        let Ok(Reassembled::Complete(message)) = reassembler.handle_chunk(order[1]) else {
            panic!("complete");
        };
        // §7.3.1: "the chunk that has a termination character of '$'
        // defines the total length": 137 + 10 bytes, not the 148 announced.
        assert_eq!(message.body.len(), 147);
        assert_eq!(message.content_type.as_deref(), Some("message/cpim"));
        assert!(
            message
                .body
                .starts_with(b"To: Bob <sip:bob@example.com>\r\n")
        );
        assert!(message.body.ends_with(b"ABCD1234567890"));
    }
}

#[test]
fn rfc7573_8_total_over_the_limit_is_413_at_the_first_chunk() {
    // RFC 7573 §8: the 148-byte CPIM message against a 100-byte limit.
    let first = round_trip(fixture!("rfc4975-11.4-cpim-chunk1"));
    let mut reassembler = Reassembler::new(ReassemblyLimits {
        max_message_size: 100,
        max_incomplete: 1,
    });
    let error = reassembler.handle_chunk(&first).unwrap_err();
    assert_eq!(StatusCode::from(&error), StatusCode::STOP_SENDING);
}

//! RFC 7701 §9.2's NICKNAME exchange against the wire layer, byte for byte
//! (the frames are in `tests/fixtures/`, see its README).

#![allow(clippy::unwrap_used)]

use parley_msrp::status::StatusCode;
use parley_msrp::wire::{self, Frame, Header, Method};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/", $name, ".msrp")).as_slice()
    };
}

fn round_trip(bytes: &[u8]) -> Frame {
    let frame = wire::parse(bytes).unwrap_or_else(|e| panic!("does not parse: {e:?}"));
    assert_eq!(
        String::from_utf8_lossy(&frame.to_bytes()),
        String::from_utf8_lossy(bytes),
        "written back differently"
    );
    frame
}

#[test]
fn rfc7701_9_2_f1_nickname_request_reads_use_nickname() {
    let frame = round_trip(fixture!("rfc7701-9.2-f1-nickname"));
    assert_eq!(frame.method(), Some(&Method::Nickname));
    assert_eq!(frame.transaction_id.as_str(), "d93kswow");
    assert_eq!(frame.use_nickname(), Some("Alice the great"));
    assert_eq!(frame.body, None);
}

#[test]
fn rfc7701_9_2_f2_425_is_nickname_in_use() {
    let frame = round_trip(fixture!("rfc7701-9.2-f2-425"));
    assert_eq!(frame.status_code(), Some(StatusCode::NICKNAME_UNAVAILABLE));
    assert_eq!(
        StatusCode::NICKNAME_UNAVAILABLE.comment(),
        "Nickname reserved or already in use"
    );
}

#[test]
fn rfc7701_9_2_f3_second_proposal_reads_use_nickname() {
    let frame = round_trip(fixture!("rfc7701-9.2-f3-nickname"));
    assert_eq!(frame.method(), Some(&Method::Nickname));
    assert_eq!(frame.use_nickname(), Some("Alice in Wonderland"));
}

#[test]
fn rfc7701_9_2_f4_200_accepts_the_nickname() {
    let frame = round_trip(fixture!("rfc7701-9.2-f4-ok"));
    assert_eq!(frame.status_code(), Some(StatusCode::OK));
}

/// The request Parley builds is F1's bytes.
#[test]
fn rfc7701_9_2_f1_is_written_from_its_parts() {
    let f1 = wire::parse(fixture!("rfc7701-9.2-f1-nickname")).unwrap();
    let mut built = Frame::request(
        f1.transaction_id.clone(),
        Method::Nickname,
        f1.to_path().to_vec(),
        f1.from_path().to_vec(),
    );
    built
        .headers
        .push(Header::UseNickname("Alice the great".into()));
    assert_eq!(built.to_bytes(), fixture!("rfc7701-9.2-f1-nickname"));
}

/// RFC 7701 §7.1: a malformed Use-Nickname is answered 424.
#[test]
fn rfc7701_7_1_malformed_use_nickname_is_424() {
    let bad = String::from_utf8_lossy(fixture!("rfc7701-9.2-f1-nickname"))
        .replace("\"Alice the great\"", "Alice the great");
    let err = wire::parse(bad.as_bytes()).unwrap_err();
    assert_eq!(StatusCode::from(&err.error), StatusCode::MALFORMED_NICKNAME);
    let salvage = err.salvage.unwrap();
    assert_eq!(salvage.method(), Some(&Method::Nickname));
}

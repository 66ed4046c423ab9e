//! The SDP examples of RFC 4975, RFC 4976, RFC 7573 and RFC 4145, parsed.
//!
//! Files in `tests/fixtures/sdp/` are named `<rfc>-<section>-<what>.sdp` and
//! use CRLF. Where the RFC prints only the media part (RFC 4975 §4 and
//! §14.4, RFC 4976 §11, RFC 7573 F3/F5/F17/F19), the file adds the session
//! lines the RFC left out ("Some lines in the examples are removed for
//! clarity"): `v=0`, `o=<user> 1 1 IN IP4 <the c= host>`, `s=-` before the
//! RFC's `c=`, and `t=0 0` after it; the RFC's lines follow unchanged.
//! `rfc4975-4-offer-fragment.sdp` keeps the RFC 4975 §4 text as printed.
//! Folded lines are joined: RFC 4975 §14.4's `a=fingerprint` (with its `\`)
//! and RFC 4976 §11's two-URI `a=path` (one space between the URIs).
//! RFC 4145 §7's examples print `m=` and `c=` lines only; the files put
//! `v=0`, `o=- 1 1 IN IP4 <c= address>`, `s=-`, `t=0 0` before them.
//! RFC 7701 §9.1's F1 and F2 print no `t=` line; the files add `t=0 0` after
//! `c=`.
//! `own-*.sdp` are Parley's own edge cases.

#![allow(clippy::unwrap_used)]

use parley_msrp::sdp::{MediaError, MediaLimits, MsrpMedia, SessionDescription, Setup, Transport};

const MAX_SDP: usize = 8192;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/sdp/", $name, ".sdp")).as_slice()
    };
}

fn parse(bytes: &[u8]) -> SessionDescription {
    SessionDescription::parse(bytes, MAX_SDP).unwrap()
}

/// The typed MSRP view of the only (or given) m-line.
fn msrp(bytes: &[u8], index: usize) -> MsrpMedia {
    parse(bytes)
        .msrp_media(index, MediaLimits::default())
        .unwrap()
}

fn written(sdp: &SessionDescription) -> String {
    let mut out = String::new();
    sdp.write_to(&mut out);
    out
}

#[test]
fn rfc4975_8_2_path_example_parses_and_writes_back_byte_for_byte() {
    let bytes = fixture!("rfc4975-8.2-path");
    let m = msrp(bytes, 0);
    assert_eq!(m.transport, Transport::TcpMsrp);
    assert_eq!(m.port, 7394);
    assert_eq!(
        m.path.to_string(),
        "msrp://alice.example.com:7394/2s93i9ek2a;tcp"
    );
    assert_eq!(m.accept_types.to_string(), "text/plain");
    assert_eq!(m.setup, None);
    assert_eq!(m.connection.unwrap().address(), "alice.example.com");
    assert_eq!(written(&parse(bytes)).as_bytes(), bytes);
}

#[test]
fn rfc4975_8_7_offer_and_answer_parse() {
    let offer = msrp(fixture!("rfc4975-8.7-offer"), 0);
    assert_eq!(
        offer.accept_types.to_string(),
        "message/cpim text/plain text/html"
    );
    let answer = msrp(fixture!("rfc4975-8.7-answer"), 0);
    assert_eq!(answer.accept_types.to_string(), "message/cpim text/plain");
    assert_eq!(
        answer.path.target().as_str(),
        "msrp://bob.example.com:8493/si438dsaodes;tcp"
    );
}

#[test]
fn rfc4975_11_1_offer_and_answer_parse() {
    assert_eq!(
        msrp(fixture!("rfc4975-11.1-offer"), 0).path.target().port(),
        7777
    );
    assert_eq!(
        msrp(fixture!("rfc4975-11.1-answer"), 0)
            .path
            .target()
            .port(),
        8888
    );
}

#[test]
fn rfc4975_4_session_setup_parses_when_completed() {
    assert_eq!(msrp(fixture!("rfc4975-4-offer"), 0).port, 7654);
    assert_eq!(msrp(fixture!("rfc4975-4-answer"), 0).port, 12763);
}

#[test]
fn rfc4975_4_fragment_without_session_lines_is_refused() {
    // RFC 8866 §5: v= comes first; the RFC text omits it for brevity.
    let err = SessionDescription::parse(fixture!("rfc4975-4-offer-fragment"), MAX_SDP).unwrap_err();
    assert_eq!(err.kind(), "sdp_syntax");
}

#[test]
fn rfc4975_14_4_tls_with_fingerprint_parses() {
    let m = msrp(fixture!("rfc4975-14.4-fingerprint"), 0);
    assert_eq!(m.transport, Transport::TcpTlsMsrp);
    assert!(m.path.target().is_secure());
}

#[test]
fn rfc4976_11_offer_with_space_after_accept_types_colon_parses() {
    let m = msrp(fixture!("rfc4976-11-offer"), 0);
    assert_eq!(
        m.accept_types.to_string(),
        "message/cpim text/plain text/html"
    );
}

#[test]
fn rfc4976_11_answer_with_relay_path_parses() {
    let m = msrp(fixture!("rfc4976-11-answer-relay"), 0);
    assert_eq!(m.path.uris().len(), 2);
    assert_eq!(
        m.path.adjacent_hop().as_str(),
        "msrps://relay.example.com:9000/hjdhfha;tcp"
    );
    assert_eq!(
        m.path.target().as_str(),
        "msrps://bob.example.com:1234/fuige;tcp"
    );
}

#[test]
fn rfc7573_examples_parse() {
    for (bytes, port) in [
        (fixture!("rfc7573-4-f3-offer"), 7654),
        (fixture!("rfc7573-4-f5-answer"), 12763),
        (fixture!("rfc7573-5-f17-offer"), 7313),
        (fixture!("rfc7573-5-f19-answer"), 8763),
    ] {
        let m = msrp(bytes, 0);
        assert_eq!(m.path.target().port(), port);
        assert_eq!(m.accept_types.to_string(), "text/plain");
    }
}

#[test]
fn rfc4145_7_image_lines_parse_but_are_not_msrp() {
    for (bytes, setup) in [
        (fixture!("rfc4145-7.1-offer-passive"), "passive"),
        (fixture!("rfc4145-7.2-offer-actpass"), "actpass"),
        (fixture!("rfc4145-7.2-answer-passive"), "passive"),
    ] {
        let sdp = parse(bytes);
        let line = sdp.media_lines().next().unwrap();
        assert_eq!((line.media, line.proto, line.fmt), ("image", "TCP", "t38"));
        assert_eq!(
            sdp.msrp_media(0, MediaLimits::default()),
            Err(MediaError::NotMessage)
        );
        assert!(Setup::parse(setup).is_ok());
        assert_eq!(written(&sdp).as_bytes(), bytes);
    }
}

#[test]
fn own_tls_cpim_wrapped_reads_every_attribute() {
    let m = msrp(fixture!("own-tls-cpim-wrapped"), 0);
    assert_eq!(m.accept_wrapped_types.to_string(), "*");
    assert_eq!(m.max_size, Some(65536));
    assert_eq!(m.setup, Some(Setup::ActPass));
}

#[test]
fn own_ipv6_audio_and_message_with_unknown_attribute() {
    let sdp = parse(fixture!("own-ipv6-audio-message"));
    assert_eq!(sdp.media_lines().len(), 2);
    assert_eq!(
        sdp.msrp_media(0, MediaLimits::default()),
        Err(MediaError::NotMessage)
    );
    let m = sdp.msrp_media(1, MediaLimits::default()).unwrap();
    assert_eq!(m.connection.unwrap().address(), "2001:db8::7");
    assert_eq!(m.path.target().host(), "2001:db8::7");
    assert_eq!(m.setup, Some(Setup::Active));
}

#[test]
fn own_relay_two_paths_keeps_both() {
    let m = msrp(fixture!("own-relay-two-paths"), 0);
    assert_eq!(m.path.uris().len(), 2);
    assert_eq!(m.accept_wrapped_types.to_string(), "text/plain text/html");
}

#[test]
fn own_lf_only_is_accepted_and_written_with_crlf() {
    // RFC 8866 §5: "parsers SHOULD be tolerant and also accept lines
    // terminated with a single newline character".
    let sdp = parse(fixture!("own-lf-only"));
    assert_eq!(msrp(fixture!("own-lf-only"), 0).port, 7394);
    let out = written(&sdp);
    assert_eq!(out.matches("\r\n").count(), out.matches('\n').count());
}

#[test]
fn own_no_s_line_is_tolerated() {
    // RFC 8866 §5.3 requires s=; sdp-types accepts its absence and nothing
    // in MSRP depends on it, so Parley does not refuse a session for it.
    assert_eq!(msrp(fixture!("own-no-s-line"), 0).port, 7394);
}

#[test]
fn own_audio_only_has_no_msrp_line() {
    let sdp = parse(fixture!("own-audio-only"));
    assert_eq!(
        sdp.msrp_media(0, MediaLimits::default()),
        Err(MediaError::NotMessage)
    );
}

#[test]
fn body_over_the_limit_is_refused_before_parsing() {
    let err = SessionDescription::parse(fixture!("rfc4975-8.7-offer"), 16).unwrap_err();
    assert_eq!(err.kind(), "sdp_too_large");
}

#[test]
fn every_fixture_parses_except_the_fragment() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sdp");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "sdp") {
            continue;
        }
        count += 1;
        let bytes = std::fs::read(&path).unwrap();
        let result = SessionDescription::parse(&bytes, MAX_SDP);
        let fragment = path.to_string_lossy().ends_with("-fragment.sdp");
        assert_eq!(result.is_ok(), !fragment, "{}", path.display());
    }
    assert_eq!(count, 26);
}

/// RFC 7701 §9.1 F1 and F2 (each with the `t=0 0` line the RFC left out).
#[test]
fn rfc7701_9_1_chatroom_attribute_is_read_and_written_back() {
    for bytes in [
        fixture!("rfc7701-9.1-f1-offer"),
        fixture!("rfc7701-9.1-f2-answer"),
    ] {
        let m = msrp(bytes, 0);
        let room = m.chatroom.clone().unwrap();
        assert!(room.nicknames && room.private_messages);
        assert_eq!(written(&parse(bytes)).as_bytes(), bytes);
    }
    let answer = msrp(fixture!("rfc7701-9.1-f2-answer"), 0);
    assert_eq!(answer.accept_types.to_string(), "message/cpim");
}

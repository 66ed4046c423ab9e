//! Property tests: the SDP path never panics on arbitrary input, and what
//! Parley writes parses back to the same value.

#![allow(clippy::unwrap_used)]

use parley_msrp::sdp::{self, FormatList, LocalEndpoint, Origin, SessionDescription, fuzzing};
use proptest::prelude::*;

/// Lines that look like SDP, so the parser gets past `v=0` often.
fn sdp_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("v=0".to_owned()),
        Just("o=- 1 1 IN IP4 192.0.2.9".to_owned()),
        Just("s=-".to_owned()),
        Just("t=0 0".to_owned()),
        Just("c=IN IP6 2001:db8::1".to_owned()),
        "m=(message|audio|image) [0-9]{1,6} (TCP/MSRP|TCP/TLS/MSRP|RTP/AVP|TCP) (\\*|0|t38)",
        "a=path:(msrps?://[a-z0-9.:\\[\\]]{0,20}(:[0-9]{0,6})?(/[a-z0-9]{0,6})?(;tcp)? ?){0,3}",
        "a=accept-types:( ?(\\*|[a-z*]{0,8}/[a-z*+.-]{0,10}(;[a-z]{1,4}=[a-z0-9\"]{0,4})?)){0,4}",
        "a=accept-wrapped-types:[ a-z/*]{0,20}",
        "a=max-size:[0-9a-z]{0,22}",
        "a=setup:(active|passive|actpass|holdconn|[a-z]{0,6})",
        "[a-z]=[ -~]{0,30}",
    ]
}

fn sdp_text() -> impl Strategy<Value = String> {
    (prop::collection::vec(sdp_line(), 0..14), prop::bool::ANY).prop_map(|(lines, crlf)| {
        let end = if crlf { "\r\n" } else { "\n" };
        let mut text = String::from("v=0");
        text.push_str(end);
        for line in lines {
            text.push_str(&line);
            text.push_str(end);
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzzing::offer_answer(&data);
    }

    #[test]
    fn sdp_like_text_never_panics(text in sdp_text()) {
        fuzzing::offer_answer(text.as_bytes());
    }

    #[test]
    fn own_offer_parses_back_and_our_answer_to_it_is_accepted(
        host in "(([a-z]{1,8}\\.){1,3}example|192\\.0\\.2\\.[0-9]{1,2}|2001:db8::[0-9a-f]{1,4})",
        // From 2: the TLS port is `port ^ 1`, which is 0 (no port) for 1.
        port in 2u16..,
        tls in prop::bool::ANY,
        prefer_tls in prop::bool::ANY,
        reachable in prop::bool::ANY,
        session_id in "[A-Za-z0-9+=/._~-]{1,24}",
        cpim in prop::bool::ANY,
        max_size in any::<u64>(),
        version in any::<u64>(),
    ) {
        let origin = Origin { username: "parley".to_owned(), session_id: 7, session_version: version };
        let mut local = LocalEndpoint::new(&host, port, tls.then_some(port ^ 1), &session_id, origin).unwrap();
        local.accept_types =
            FormatList::parse(if cpim { "message/cpim text/plain" } else { "text/plain" }, 8).unwrap();
        local.accept_wrapped_types = FormatList::parse("text/plain", 8).unwrap();
        local.max_size = max_size;
        local.reachable = reachable;
        local.prefer_tls = prefer_tls;

        let offer = sdp::offer(&local);
        let mut text = String::new();
        offer.write_to(&mut text);
        prop_assert_eq!(&SessionDescription::parse(text.as_bytes(), usize::MAX).unwrap(), &offer);

        let mut peer = local.clone();
        peer.reachable = true;
        let answer = sdp::answer(&offer, &peer).unwrap();
        let mut answer_text = String::new();
        answer.sdp.write_to(&mut answer_text);
        let answer_sdp = SessionDescription::parse(answer_text.as_bytes(), usize::MAX).unwrap();
        prop_assert_eq!(&answer_sdp, &answer.sdp);
        let session = sdp::accept_answer(&offer, &answer_sdp, &local).unwrap();
        // Exactly one side connects.
        prop_assert_ne!(session.role, answer.session.role);
        prop_assert_eq!(session.remote_path, answer.session.local_path);
    }
}

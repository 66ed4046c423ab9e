//! RFC 3264 §6/§7 with RFC 4975 §8 and RFC 6135: answers and offers written
//! by Parley, checked as whole SDP text.

#![allow(clippy::unwrap_used)]

use parley_msrp::sdp::{
    self, AnswerError, FormatList, LocalEndpoint, Origin, Refusal, Role, SessionDescription, Setup,
    Transport,
};

const MAX_SDP: usize = 8192;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/sdp/", $name, ".sdp")).as_slice()
    };
}

/// Parley at x2s.example.com, as in RFC 7573's examples; TLS on 7655 when `tls`.
fn local(tls: bool) -> LocalEndpoint {
    let origin = Origin {
        username: "parley".to_owned(),
        session_id: 3724394400,
        session_version: 1,
    };
    let tls_port = tls.then_some(7655);
    let mut local =
        LocalEndpoint::new("x2s.example.com", 7654, tls_port, "s3ss10n", origin).unwrap();
    local.accept_types = FormatList::parse("message/cpim text/plain", 8).unwrap();
    local.accept_wrapped_types = FormatList::parse("text/plain", 8).unwrap();
    local.max_size = 65536;
    local
}

fn parse(bytes: &[u8]) -> SessionDescription {
    SessionDescription::parse(bytes, MAX_SDP).unwrap()
}

fn text(sdp: &SessionDescription) -> String {
    let mut out = String::new();
    sdp.write_to(&mut out);
    out
}

/// `base` with `from` replaced by `to` (which must occur).
fn edit(base: &[u8], from: &str, to: &str) -> Vec<u8> {
    let s = std::str::from_utf8(base).unwrap();
    assert!(s.contains(from), "{from}");
    s.replace(from, to).into_bytes()
}

fn refusal(offer: &[u8], local: &LocalEndpoint) -> Refusal {
    sdp::answer(&parse(offer), local).unwrap_err()
}

const ANSWER_HEAD: &str = "v=0\r\n\
    o=parley 3724394400 1 IN IP4 x2s.example.com\r\n\
    s=-\r\n\
    c=IN IP4 x2s.example.com\r\n\
    t=0 0\r\n";

// --- Answerer (Parley as UAS) ---

#[test]
fn rfc4975_8_7_offer_is_answered_with_the_common_types_and_passive_setup() {
    let answer = sdp::answer(&parse(fixture!("rfc4975-8.7-offer")), &local(false)).unwrap();
    let expected = format!(
        "{ANSWER_HEAD}\
        m=message 7654 TCP/MSRP *\r\n\
        a=accept-types:message/cpim text/plain\r\n\
        a=accept-wrapped-types:text/plain\r\n\
        a=max-size:65536\r\n\
        a=path:msrp://x2s.example.com:7654/s3ss10n;tcp\r\n\
        a=setup:passive\r\n"
    );
    assert_eq!(text(&answer.sdp), expected);
    let session = answer.session;
    assert_eq!(session.media_index, 0);
    assert_eq!(
        session.role,
        Role::Passive,
        "RFC 4975 §5.4: the offerer connects"
    );
    assert_eq!(
        session.remote_path.to_string(),
        "msrp://alice.example.com:7394/2s93i93idj;tcp"
    );
    assert_eq!(session.remote_path.adjacent_hop().port(), 7394);
    assert!(
        session.may_send("text/html", None),
        "the offerer listed text/html"
    );
    assert!(!session.may_send("image/png", None));
}

#[test]
fn rfc7573_f17_text_plain_offer_gets_text_plain_only_and_no_wrapped_types() {
    let answer = sdp::answer(&parse(fixture!("rfc7573-5-f17-offer")), &local(false)).unwrap();
    let expected = format!(
        "{ANSWER_HEAD}\
        m=message 7654 TCP/MSRP *\r\n\
        a=accept-types:text/plain\r\n\
        a=max-size:65536\r\n\
        a=path:msrp://x2s.example.com:7654/s3ss10n;tcp\r\n\
        a=setup:passive\r\n"
    );
    assert_eq!(text(&answer.sdp), expected);
    assert!(!answer.session.may_send("message/cpim", Some("text/plain")));
}

#[test]
fn audio_beside_message_is_refused_with_port_zero_and_message_accepted() {
    // RFC 3264 §6: one m-line per offered m-line, same order; the audio
    // line keeps its media type and formats with port 0.
    let answer = sdp::answer(&parse(fixture!("own-ipv6-audio-message")), &local(false)).unwrap();
    let expected = format!(
        "{ANSWER_HEAD}\
        m=audio 0 RTP/AVP 0 8\r\n\
        m=message 7654 TCP/MSRP *\r\n\
        a=accept-types:text/plain\r\n\
        a=max-size:65536\r\n\
        a=path:msrp://x2s.example.com:7654/s3ss10n;tcp\r\n\
        a=setup:passive\r\n"
    );
    assert_eq!(text(&answer.sdp), expected);
    assert_eq!(answer.session.media_index, 1);
    assert_eq!(
        answer.session.remote_path.adjacent_hop().host(),
        "2001:db8::7"
    );
    // The offer said a=setup:active: it connects (RFC 4145 §4.1).
    assert_eq!(answer.session.role, Role::Passive);
}

#[test]
fn second_message_line_is_refused_with_port_zero() {
    let two = edit(
        fixture!("rfc4975-8.7-offer"),
        "a=path:msrp://alice.example.com:7394/2s93i93idj;tcp\r\n",
        "a=path:msrp://alice.example.com:7394/2s93i93idj;tcp\r\n\
         m=message 7394 TCP/MSRP *\r\n\
         a=accept-types:text/plain\r\n\
         a=path:msrp://alice.example.com:7394/second;tcp\r\n",
    );
    let answer = sdp::answer(&parse(&two), &local(false)).unwrap();
    let out = text(&answer.sdp);
    assert!(
        out.ends_with("a=setup:passive\r\nm=message 0 TCP/MSRP *\r\n"),
        "{out}"
    );
    assert_eq!(answer.session.media_index, 0);
}

#[test]
fn tls_offer_is_answered_over_tls_when_allowed() {
    let answer = sdp::answer(&parse(fixture!("own-tls-cpim-wrapped")), &local(true)).unwrap();
    let expected = format!(
        "{ANSWER_HEAD}\
        m=message 7655 TCP/TLS/MSRP *\r\n\
        a=accept-types:message/cpim text/plain\r\n\
        a=accept-wrapped-types:text/plain\r\n\
        a=max-size:65536\r\n\
        a=path:msrps://x2s.example.com:7655/s3ss10n;tcp\r\n\
        a=setup:passive\r\n"
    );
    assert_eq!(text(&answer.sdp), expected);
    let session = answer.session;
    assert_eq!(session.transport, Transport::TcpTlsMsrp);
    assert_eq!(session.remote_max_size, Some(65536));
    // The peer takes any type inside CPIM (a=accept-wrapped-types:*).
    assert!(session.may_send("message/cpim", Some("application/im-iscomposing+xml")));
    assert!(!session.may_send("application/im-iscomposing+xml", None));
}

#[test]
fn tls_offer_without_tls_configured_is_refused_with_302() {
    let refused = refusal(fixture!("own-tls-cpim-wrapped"), &local(false));
    assert_eq!(refused, Refusal::TransportNotAvailable);
    assert_eq!(
        (refused.warn_code(), refused.warn_text()),
        (302, "Incompatible transport protocol")
    );
}

#[test]
fn plain_offer_is_not_upgraded_to_tls() {
    let answer = sdp::answer(&parse(fixture!("rfc4975-8.7-offer")), &local(true)).unwrap();
    assert_eq!(answer.session.transport, Transport::TcpMsrp);
    assert!(text(&answer.sdp).contains("m=message 7654 TCP/MSRP *\r\n"));
}

#[test]
fn relay_path_in_the_offer_is_kept_whole() {
    let answer = sdp::answer(&parse(fixture!("own-relay-two-paths")), &local(false)).unwrap();
    let path = &answer.session.remote_path;
    assert_eq!(path.uris().len(), 2);
    assert_eq!(path.adjacent_hop().host(), "relay.example.com");
    assert_eq!(path.target().as_str(), "msrp://bob.example.com:1234/b2;tcp");
    // The offer said passive: we connect (RFC 4145 §4.1), m-line port 9
    // (RFC 6135 §4.2.2).
    assert_eq!(answer.session.role, Role::Active);
    assert!(text(&answer.sdp).contains("m=message 9 TCP/MSRP *\r\n"));
    assert!(text(&answer.sdp).contains("a=setup:active\r\n"));
}

#[test]
fn offer_without_message_line_is_refused_with_304() {
    for offer in [
        fixture!("own-audio-only"),
        fixture!("rfc4145-7.2-offer-actpass"),
    ] {
        let refused = refusal(offer, &local(true));
        assert_eq!(refused, Refusal::NoMessageMedia);
        assert_eq!(
            (refused.warn_code(), refused.warn_text()),
            (304, "Media type not available")
        );
    }
}

#[test]
fn message_line_already_refused_in_the_offer_counts_as_absent() {
    let zero = edit(
        fixture!("rfc4975-8.7-offer"),
        "m=message 7394",
        "m=message 0",
    );
    assert_eq!(refusal(&zero, &local(false)), Refusal::NoMessageMedia);
}

#[test]
fn no_common_accept_type_is_refused_with_305() {
    let html = edit(
        fixture!("rfc4975-8.7-offer"),
        "a=accept-types:message/cpim text/plain text/html",
        "a=accept-types:text/html image/png",
    );
    let refused = refusal(&html, &local(false));
    assert_eq!(refused, Refusal::NoCommonFormat);
    assert_eq!(refused.warn_code(), 305);
}

#[test]
fn star_accept_types_is_answered_with_all_of_ours() {
    let star = edit(
        fixture!("rfc4975-8.7-offer"),
        "a=accept-types:message/cpim text/plain text/html",
        "a=accept-types:*",
    );
    let answer = sdp::answer(&parse(&star), &local(false)).unwrap();
    assert!(text(&answer.sdp).contains("a=accept-types:message/cpim text/plain\r\n"));
}

#[test]
fn message_line_without_path_is_refused_with_399() {
    let nopath = edit(
        fixture!("rfc4975-8.7-offer"),
        "a=path:msrp://alice.example.com:7394/2s93i93idj;tcp\r\n",
        "",
    );
    let refused = refusal(&nopath, &local(false));
    assert_eq!(refused, Refusal::InvalidMedia(sdp::MediaError::MissingPath));
    assert_eq!(refused.warn_code(), 399);
}

#[test]
fn answer_keeps_the_offers_time_line() {
    // RFC 3264 §6: "The "t=" line in the answer MUST equal that of the offer."
    let timed = edit(
        fixture!("rfc4975-8.7-offer"),
        "t=0 0",
        "t=3034423619 3042462419",
    );
    let answer = sdp::answer(&parse(&timed), &local(false)).unwrap();
    assert!(text(&answer.sdp).contains("\r\nt=3034423619 3042462419\r\n"));
}

/// RFC 4145 §4.1 / RFC 6135 §4.2 / RFC 4975 §5.4, end to end through SDP:
/// (offer's a=setup line, answerer reachable, answer's a=setup, m-line port, our role).
#[test]
fn setup_combinations_table() {
    let table = [
        ("", true, "passive", 7654, Role::Passive),
        ("", false, "passive", 7654, Role::Passive),
        ("a=setup:actpass\r\n", true, "passive", 7654, Role::Passive),
        ("a=setup:actpass\r\n", false, "active", 9, Role::Active),
        ("a=setup:active\r\n", true, "passive", 7654, Role::Passive),
        ("a=setup:active\r\n", false, "passive", 7654, Role::Passive),
        ("a=setup:passive\r\n", true, "active", 9, Role::Active),
        ("a=setup:holdconn\r\n", true, "passive", 7654, Role::Passive),
    ];
    for (line, reachable, setup, port, role) in table {
        let offer = edit(
            fixture!("rfc4975-8.7-offer"),
            "a=path:msrp://alice.example.com:7394/2s93i93idj;tcp\r\n",
            &format!("a=path:msrp://alice.example.com:7394/2s93i93idj;tcp\r\n{line}"),
        );
        let mut ours = local(false);
        ours.reachable = reachable;
        let answer = sdp::answer(&parse(&offer), &ours).unwrap();
        let out = text(&answer.sdp);
        assert!(
            out.contains(&format!("a=setup:{setup}\r\n")),
            "{line:?} {reachable}: {out}"
        );
        assert!(
            out.contains(&format!("m=message {port} TCP/MSRP *\r\n")),
            "{line:?} {reachable}: {out}"
        );
        assert_eq!(answer.session.role, role, "{line:?} {reachable}");
    }
}

#[test]
fn session_level_setup_applies_to_the_message_line() {
    // RFC 4145 §4: "can be a session-level or a media-level attribute".
    let offer = edit(
        fixture!("rfc4975-8.7-offer"),
        "t=0 0\r\n",
        "t=0 0\r\na=setup:passive\r\n",
    );
    let answer = sdp::answer(&parse(&offer), &local(false)).unwrap();
    assert_eq!(answer.session.role, Role::Active);
}

#[test]
fn answers_round_trip_through_the_parser() {
    for offer in [
        fixture!("rfc4975-8.7-offer"),
        fixture!("own-ipv6-audio-message"),
        fixture!("own-tls-cpim-wrapped"),
        fixture!("own-relay-two-paths"),
    ] {
        let answer = sdp::answer(&parse(offer), &local(true)).unwrap();
        assert_eq!(parse(text(&answer.sdp).as_bytes()), answer.sdp);
    }
}

// --- Offerer (Parley as UAC) ---

#[test]
fn offer_is_one_message_line_with_actpass() {
    let offer = sdp::offer(&local(false));
    let expected = format!(
        "{ANSWER_HEAD}\
        m=message 7654 TCP/MSRP *\r\n\
        a=accept-types:message/cpim text/plain\r\n\
        a=accept-wrapped-types:text/plain\r\n\
        a=max-size:65536\r\n\
        a=path:msrp://x2s.example.com:7654/s3ss10n;tcp\r\n\
        a=setup:actpass\r\n"
    );
    assert_eq!(text(&offer), expected);
    assert_eq!(parse(text(&offer).as_bytes()), offer);
}

#[test]
fn offer_behind_nat_says_active_with_port_9_and_tls_when_preferred() {
    let mut ours = local(true);
    ours.reachable = false;
    ours.prefer_tls = true;
    let out = text(&sdp::offer(&ours));
    assert!(out.contains("m=message 9 TCP/TLS/MSRP *\r\n"), "{out}");
    assert!(
        out.contains("a=path:msrps://x2s.example.com:7655/s3ss10n;tcp\r\n"),
        "{out}"
    );
    assert!(out.contains("a=setup:active\r\n"), "{out}");
}

#[test]
fn rfc7573_f5_answer_without_setup_makes_us_connect() {
    let ours = local(false);
    let offer = sdp::offer(&ours);
    let session =
        sdp::accept_answer(&offer, &parse(fixture!("rfc7573-4-f5-answer")), &ours).unwrap();
    // RFC 4975 §5.4: no a=setup in the answer, so the offerer is active.
    assert_eq!(session.role, Role::Active);
    assert_eq!(
        session.remote_path.to_string(),
        "msrp://s2x.example.net:12763/kjhd37s2s20w2a;tcp"
    );
    assert!(session.may_send("text/plain", None));
    assert!(!session.may_send("message/cpim", None));
}

#[test]
fn answer_with_active_setup_makes_us_wait() {
    let ours = local(false);
    let offer = sdp::offer(&ours);
    let answer = edit(
        fixture!("rfc7573-4-f5-answer"),
        "kjhd37s2s20w2a;tcp\r\n",
        "kjhd37s2s20w2a;tcp\r\na=setup:active\r\n",
    );
    let session = sdp::accept_answer(&offer, &parse(&answer), &ours).unwrap();
    assert_eq!(session.role, Role::Passive);
}

#[test]
fn unusable_answers_are_typed_errors() {
    let ours = local(false);
    let offer = sdp::offer(&ours);
    let f5 = fixture!("rfc7573-4-f5-answer");
    let cases: [(Vec<u8>, AnswerError); 5] = [
        (
            edit(f5, "m=message 12763", "m=message 0"),
            AnswerError::Rejected,
        ),
        (
            edit(
                f5,
                "a=path:msrp://s2x.example.net:12763/kjhd37s2s20w2a;tcp\r\n",
                "a=path:msrp://s2x.example.net:12763/k;tcp\r\nm=audio 0 RTP/AVP 0\r\n",
            ),
            AnswerError::MediaCount {
                offered: 1,
                answered: 2,
            },
        ),
        (
            edit(f5, "TCP/MSRP", "TCP/TLS/MSRP"),
            AnswerError::Media(sdp::MediaError::PathSchemeMismatch),
        ),
        (
            edit(f5, "a=accept-types:text/plain", "a=accept-types:text/html"),
            AnswerError::NoCommonFormat,
        ),
        (
            edit(
                f5,
                "kjhd37s2s20w2a;tcp\r\n",
                "kjhd37s2s20w2a;tcp\r\na=setup:actpass\r\n",
            ),
            AnswerError::SetupConflict,
        ),
    ];
    for (answer, expected) in cases {
        assert_eq!(
            sdp::accept_answer(&offer, &parse(&answer), &ours),
            Err(expected.clone()),
            "{}",
            expected.kind()
        );
    }
}

#[test]
fn answer_switching_to_tls_is_refused() {
    let ours = local(false);
    let offer = sdp::offer(&ours);
    let tls = edit(
        fixture!("rfc7573-4-f5-answer"),
        "m=message 12763 TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:msrp://",
        "m=message 12763 TCP/TLS/MSRP *\r\na=accept-types:text/plain\r\na=path:msrps://",
    );
    assert_eq!(
        sdp::accept_answer(&offer, &parse(&tls), &ours),
        Err(AnswerError::TransportChanged)
    );
}

#[test]
fn our_answer_is_accepted_by_our_offerer() {
    // Both sides of Parley: the answer of one is what the other accepts.
    let offerer = local(false);
    let offer = sdp::offer(&offerer);
    let mut answerer = local(false);
    answerer.reachable = true;
    let answer = sdp::answer(&parse(text(&offer).as_bytes()), &answerer).unwrap();
    let session = sdp::accept_answer(&offer, &answer.sdp, &offerer).unwrap();
    assert_eq!(answer.session.role, Role::Passive);
    assert_eq!(session.role, Role::Active);
    assert_eq!(Setup::parse("passive"), Ok(Setup::Passive));
}

/// RFC 7701 §9.1 F1 answered by Parley as the chat room (RFC 7702 §6.1):
/// the answer declares `a=chatroom:nickname private-messages`, and the
/// offerer's declaration is kept.
#[test]
fn rfc7701_9_1_f1_offer_is_answered_with_a_chatroom_declaration() {
    let mut room = local(false);
    room.chatroom = Some(sdp::Chatroom::nicknames_and_private_messages());
    let answer = sdp::answer(&parse(fixture!("rfc7701-9.1-f1-offer")), &room).unwrap();
    assert!(
        text(&answer.sdp).contains("\r\na=chatroom:nickname private-messages\r\n"),
        "{}",
        text(&answer.sdp)
    );
    assert_eq!(
        answer.session.remote_chatroom,
        Some(sdp::Chatroom::nicknames_and_private_messages())
    );
    // Without a declaration of ours, none is written (a plain chat session).
    let plain = sdp::answer(&parse(fixture!("rfc7701-9.1-f1-offer")), &local(false)).unwrap();
    assert!(!text(&plain.sdp).contains("chatroom"));
}

/// RFC 7702 §5.1 Example 2 → Example 3: Parley offers to a focus with
/// `a=chatroom`, and reads the focus's (RFC 7701 §9.1 F2) from the answer.
#[test]
fn rfc7701_9_1_f2_answer_tells_the_participant_what_the_room_allows() {
    let mut user = local(false);
    user.chatroom = Some(sdp::Chatroom::nicknames_and_private_messages());
    let offer = sdp::offer(&user);
    assert!(text(&offer).contains("\r\na=chatroom:nickname private-messages\r\n"));
    let session =
        sdp::accept_answer(&offer, &parse(fixture!("rfc7701-9.1-f2-answer")), &user).unwrap();
    let room = session.remote_chatroom.unwrap();
    assert!(room.nicknames && room.private_messages);
    assert_eq!(
        session.local_chatroom,
        Some(sdp::Chatroom::nicknames_and_private_messages())
    );
}

/// RFC 7701 §8: "a=chatroom" alone declares support without nicknames or
/// private messages; an answer without it means no multi-party chat.
#[test]
fn rfc7701_8_bare_or_absent_chatroom_in_the_answer() {
    let mut user = local(false);
    user.chatroom = Some(sdp::Chatroom::nicknames_and_private_messages());
    let offer = sdp::offer(&user);
    let f2 = fixture!("rfc7701-9.1-f2-answer");
    let bare = edit(f2, "a=chatroom:nickname private-messages", "a=chatroom");
    let session = sdp::accept_answer(&offer, &parse(&bare), &user).unwrap();
    assert_eq!(session.remote_chatroom, Some(sdp::Chatroom::default()));
    let none = edit(f2, "a=chatroom:nickname private-messages\r\n", "");
    let session = sdp::accept_answer(&offer, &parse(&none), &user).unwrap();
    assert_eq!(session.remote_chatroom, None);
}

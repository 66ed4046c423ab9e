//! RFC 7247 §7.1 (Table 2): when the XMPP side refuses a message Parley
//! forwarded from SIP, the SIP sender gets the mapped final response — not a
//! 200 and not a hang. Unmappable input is refused before it reaches XMPP
//! (design §2: `484`/`400`, never passed through raw).

mod support;

use parley_harness::sipp::SippTransport;
use support::{COMPONENT, Options, SipMessage, World, XMPP_DOMAIN};

/// Prosody bounces a message to a user that does not exist with
/// `<service-unavailable/>` (RFC 6121 §8.5.1); Table 2 note 5 makes that 403.
#[test]
fn unknown_xmpp_user_gets_the_mapped_sip_error() {
    // A long window proves the answer comes from the error, not the window.
    let world = World::start(Options {
        delivery_window_ms: Some(10_000),
        ..Options::default()
    });
    let started = std::time::Instant::now();
    SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:nobody@{XMPP_DOMAIN}"),
        call_id: "unknown-user",
        content_type: "text/plain",
        headers: &[],
        body: "is anyone there?",
        expect: 403,
    }
    .send(&world, SippTransport::Udp);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "answer waited for the window"
    );
}

/// design §2: an address that cannot be mapped is refused, never passed through.
#[test]
fn sip_user_of_a_foreign_domain_is_refused_when_policy_says_so() {
    let world = World::start(Options::default());
    SipMessage {
        from: "sip:mallory@elsewhere.example",
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "foreign-domain",
        content_type: "text/plain",
        headers: &[],
        body: "let me in",
        expect: 403,
    }
    .send(&world, SippTransport::Udp);
}

/// RFC 3428 §11.1 / RFC 7572: a body type Parley cannot translate gets 415.
#[test]
fn unsupported_media_type_gets_415() {
    let world = World::start(Options::default());
    SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "bad-media",
        content_type: "application/x-unknown-thing",
        headers: &[],
        body: "???",
        expect: 415,
    }
    .send(&world, SippTransport::Udp);
}

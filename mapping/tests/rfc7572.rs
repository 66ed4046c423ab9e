//! RFC 7572 §5 and §8, and what real phones send: SIP MESSAGE fixtures in,
//! `<message/>` fields out.
#![allow(clippy::unwrap_used)]

mod common;

use common::{fixture, sip_message};
use parley_mapping::message::{self, MessageOptions};
use parley_mapping::{AddressMapper, ForeignDomainPolicy, MappingError};

fn mapper(domain: &str) -> AddressMapper {
    AddressMapper {
        component_domain: domain.into(),
        sip_domain: domain.into(),
        foreign_domains: ForeignDomainPolicy::Allow,
    }
}

/// RFC 7572 §5, Example 4 → Example 5: `<message from='romeo@example.net'
/// to='juliet@example.com'><body>Neither, fair saint, if either thee dislike.</body>`.
#[test]
fn rfc7572_example4_becomes_example5() {
    let sip = sip_message(&fixture("sip/rfc7572-5-example4.sip"));
    let m = message::to_xmpp(&sip, &mapper("example.net"), &MessageOptions::default()).unwrap();
    assert_eq!(m.from.as_deref(), Some("romeo@example.net"));
    assert_eq!(m.to.as_deref(), Some("juliet@example.com"));
    assert_eq!(m.message_type, None, "§5: no type attribute");
    assert_eq!(
        m.body.as_deref(),
        Some("Neither, fair saint, if either thee dislike.")
    );
    assert_eq!(
        m.thread.as_deref(),
        Some("9E97FB43-85F4-4A00-8751-1124FD4C7B2E")
    );
}

/// RFC 7572 §8, Example 6 → Example 7: `xml:lang='cs'` and the Czech text.
#[test]
fn rfc7572_example6_becomes_example7() {
    let sip = sip_message(&fixture("sip/rfc7572-8-example6.sip"));
    let m = message::to_xmpp(&sip, &mapper("example.net"), &MessageOptions::default()).unwrap();
    assert_eq!(m.lang.as_deref(), Some("cs"));
    assert_eq!(
        m.body.as_deref(),
        Some("Nic z obého, má děvo spanilá,\nnenavidíš-li jedno nebo druhé.")
    );
}

/// RFC 7572 §4, Example 1 → Example 2: the stanza's fields give the MESSAGE's.
#[test]
fn rfc7572_example1_becomes_example2() {
    let expected = sip_message(&fixture("sip/rfc7572-4-example2.sip"));
    let stanza = parley_xmpp::stanza::Message {
        from: Some("juliet@example.com/yn0cl4bnw0yr3vym".into()),
        to: Some("romeo@example.net".into()),
        body: Some("Art thou not Romeo, and a Montague?".into()),
        ..Default::default()
    };
    let s = message::to_sip(&stanza, &mapper("example.net")).unwrap();
    assert_eq!(s.request_uri, expected.request_uri);
    assert_eq!(s.to, expected.to);
    assert_eq!(s.from, expected.from);
    assert_eq!(s.body, expected.body);
}

/// real-clients README: "text/plain with no charset (UTF-8 is meant)".
#[test]
fn linphone_and_baresip_plain_messages_keep_their_utf8_text() {
    // The captures: phones at sip.localhost, XMPP users at localhost.
    let m = mapper("sip.localhost");
    for (file, text) in [
        (
            "sip/linphone-5.1-message-plain.sip",
            "Plain héllo ✓ <&> \"quoted\"",
        ),
        ("sip/baresip-1.0-message.sip", "Hello from baresip é ✓ <&>"),
    ] {
        let msg =
            message::to_xmpp(&sip_message(&fixture(file)), &m, &MessageOptions::default()).unwrap();
        assert_eq!(msg.from.as_deref(), Some("alice@sip.localhost"), "{file}");
        assert_eq!(msg.to.as_deref(), Some("juliet@localhost"), "{file}");
        assert_eq!(msg.body.as_deref(), Some(text), "{file}");
    }
}

/// real-clients README: linphone's `message/cpim` with IMDN headers: the inner text.
#[test]
fn linphone_cpim_message_is_unwrapped() {
    // The captures: phones at sip.localhost, XMPP users at localhost.
    let m = mapper("sip.localhost");
    let sip = sip_message(&fixture("sip/linphone-5.1-message-cpim-imdn.sip"));
    let msg = message::to_xmpp(&sip, &m, &MessageOptions::default()).unwrap();
    assert_eq!(msg.body.as_deref(), Some("CPIM héllo ✓ <&>"));
}

/// real-clients README: deflated CPIM isComposing / IMDN are inflated and
/// recognised, never passed on as text: isComposing becomes a XEP-0085 chat
/// state, IMDN (not mapped) is refused with 415.
#[test]
fn linphone_deflated_notifications_are_not_passed_on_as_text() {
    // The captures: phones at sip.localhost, XMPP users at localhost.
    let m = mapper("sip.localhost");
    let composing = sip_message(&fixture("sip/linphone-5.1-iscomposing.sip"));
    assert_eq!(composing.content_encoding.as_deref(), Some("deflate"));
    let stanza = message::to_xmpp(&composing, &m, &MessageOptions::default()).unwrap();
    assert_eq!(stanza.body, None);
    assert_eq!(stanza.payloads[0].name, "composing");
    assert_eq!(
        stanza.payloads[0].ns,
        "http://jabber.org/protocol/chatstates"
    );

    let idle = sip_message(&fixture("sip/linphone-5.1-iscomposing-idle.sip"));
    let stanza = message::to_xmpp(&idle, &m, &MessageOptions::default()).unwrap();
    assert_eq!(stanza.payloads[0].name, "paused");

    let imdn = sip_message(&fixture("sip/linphone-5.1-imdn-delivered.sip"));
    let err = message::to_xmpp(&imdn, &m, &MessageOptions::default()).unwrap_err();
    assert_eq!(err, MappingError::UnsupportedMediaType);
    assert_eq!(err.sip_status().code, 415);
}

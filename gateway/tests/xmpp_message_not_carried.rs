//! Nothing dropped in silence (issue 26 §3b, design §4b): an XMPP
//! `<message/>` Parley cannot carry to SIP gets a stanza error back to its
//! sender (RFC 6120 §8.3.3) with a `<text/>` saying what was not carried, and
//! nothing reaches the SIP side. End-to-end encrypted messages (XEP-0384
//! OMEMO, XEP-0373, XEP-0027) are refused rather than having their fallback
//! `<body/>` sent as the message; an RFC 3923 `<e2e/>` that holds no MIME
//! object and a body-less message with an unknown payload are refused. A standalone chat
//! state or receipt is a notification, not an error.
//!
//! Each test sends the refused stanzas and then one plain message; the SIP
//! UAS (sipp) takes exactly one MESSAGE and checks that its body is the plain
//! one, so a refused stanza that slipped through fails the test.

mod support;

use std::time::Duration;

use parley_harness::sipp::SippUas;
use parley_harness::xmpp_client::XmppClient;
use support::{COMPONENT, Options, World, assert_no_error, uas_message};
use tokio_xmpp::minidom::Element;

const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// A world whose outbound proxy is a sipp UAS that takes one MESSAGE whose
/// body is `plain after` and answers 200.
fn world_with_one_message_uas() -> (World, SippUas) {
    let scenario = uas_message(&[("body", "^plain after")], Some((200, "OK")));
    World::start_with_uas(&scenario, |uas| uas, Options::default())
}

/// The error stanza for message `id`, checked for `condition` and its type;
/// returns its `<text/>`.
async fn expect_error(
    world: &World,
    juliet: &mut XmppClient,
    id: &str,
    condition: &str,
    error_type: &str,
) -> String {
    let stanza = juliet
        .recv_matching(Duration::from_secs(10), |e| {
            e.name() == "message" && e.attr("type") == Some("error") && e.attr("id") == Some(id)
        })
        .await
        .unwrap_or_else(|| panic!("no error for {id}\n{}", world.parley.log()));
    let xml = String::from(&stanza);
    assert_eq!(
        stanza.attr("from"),
        Some(&*format!("bob@{COMPONENT}")),
        "{xml}"
    );
    let error: &Element = stanza
        .get_child("error", "jabber:client")
        .unwrap_or_else(|| panic!("no <error/>: {xml}"));
    assert_eq!(error.attr("type"), Some(error_type), "{xml}");
    assert!(error.get_child(condition, STANZAS).is_some(), "{xml}");
    error
        .get_child("text", STANZAS)
        .map(Element::text)
        .unwrap_or_else(|| panic!("no <text/>: {xml}"))
}

/// The plain message that must be the only one the UAS gets; then the UAS's verdict.
async fn plain_message_alone_reaches_sip(world: &World, juliet: &mut XmppClient, uas: SippUas) {
    juliet
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' id='plain' type='chat'><body>plain after</body></message>"
        ))
        .await;
    let out = uas.wait();
    world.assert_sipp(&out);
    assert_eq!(out.received("MESSAGE "), 1, "{}", out.report());
}

/// XEP-0384 (both namespaces), XEP-0373 and XEP-0027 with the fallback bodies
/// clients send: each refused with `not-acceptable` (RFC 6120 §8.3.3.9, type
/// modify), none sent to SIP, each counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_messages_are_refused_and_their_fallback_body_is_not_sent() {
    let (world, uas) = world_with_one_message_uas();
    let mut juliet = world.client("juliet").await;
    let encrypted = [
        (
            "omemo-axolotl",
            "<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='27183'>\
             <key rid='31415'>b64/encoded/data</key><iv>aXYtZGF0YQ==</iv></header>\
             <payload>cGF5bG9hZA==</payload></encrypted>\
             <encryption xmlns='urn:xmpp:eme:0' namespace='eu.siacs.conversations.axolotl'/>\
             <body>I sent you an OMEMO encrypted message but your client doesn't seem to support that.</body>\
             <store xmlns='urn:xmpp:hints'/>",
        ),
        (
            "omemo-2",
            "<encrypted xmlns='urn:xmpp:omemo:2'><header sid='27183'><keys jid='bob@sip.example.net'>\
             <key rid='1337'>b64/encoded/data</key></keys></header>\
             <payload>base64/encoded/message</payload></encrypted>\
             <body>This message is OMEMO encrypted.</body>",
        ),
        (
            "openpgp",
            "<openpgp xmlns='urn:xmpp:openpgp:0'>BASE64_OPENPGP_MESSAGE</openpgp>\
             <body>This message is encrypted with OpenPGP.</body>",
        ),
        (
            "legacy-openpgp",
            "<body>This message is encrypted.</body>\
             <x xmlns='jabber:x:encrypted'>qANQR1DBwU4DX7jmYZnncmUQB/9KuKBddzQH+tZ1ZywKK0yHKnq57kWq</x>",
        ),
    ];
    for (id, payload) in encrypted {
        juliet
            .send_xml(&format!(
                "<message to='bob@{COMPONENT}' id='{id}' type='chat'>{payload}</message>"
            ))
            .await;
        let text = expect_error(&world, &mut juliet, id, "not-acceptable", "modify").await;
        assert!(
            text.contains("encrypted") && text.contains("cannot cross to SIP"),
            "{text}"
        );
    }
    plain_message_alone_reaches_sip(&world, &mut juliet, uas).await;
    assert_eq!(
        world
            .parley
            .metric("parley_xmpp_messages_not_carried_total{reason=\"encrypted\"}"),
        4.0
    );
}

/// RFC 3923 §9: `<e2e/>` wraps a signed or encrypted MIME object. One whose
/// text is no such object (here the object's body without its header block)
/// gets `bad-request` (RFC 6120 §8.3.3.1), and its fallback body is not
/// sent in its place. Carried objects: `rfc3923_e2e.rs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc3923_e2e_that_is_not_mime_gets_bad_request() {
    let (world, uas) = world_with_one_message_uas();
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' id='e2e' type='chat'>\
             <body>This message is encrypted.</body>\
             <e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'><![CDATA[\
MIIBsQYJKoZIhvcNAQcDoIIBojCCAZ4CAQAx\r\n]]></e2e></message>"
        ))
        .await;
    let text = expect_error(&world, &mut juliet, "e2e", "bad-request", "modify").await;
    assert!(text.contains("RFC 3923"), "{text}");
    plain_message_alone_reaches_sip(&world, &mut juliet, uas).await;
    assert_eq!(
        world
            .parley
            .metric("parley_xmpp_messages_not_carried_total{reason=\"rfc3923_e2e\"}"),
        1.0
    );
}

/// RFC 6120 §8.3.3.3: a body-less message with a payload Parley does not
/// translate (here XEP-0066 out-of-band data) gets `feature-not-implemented`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_less_message_with_an_unknown_payload_gets_feature_not_implemented() {
    let (world, uas) = world_with_one_message_uas();
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' id='oob' type='chat'>\
             <x xmlns='jabber:x:oob'><url>https://xmpp.example/balcony.jpg</url></x></message>"
        ))
        .await;
    let text = expect_error(
        &world,
        &mut juliet,
        "oob",
        "feature-not-implemented",
        "cancel",
    )
    .await;
    assert!(text.contains("no text body"), "{text}");
    plain_message_alone_reaches_sip(&world, &mut juliet, uas).await;
    assert_eq!(
        world
            .parley
            .metric("parley_xmpp_messages_not_carried_total{reason=\"no_text\"}"),
        1.0
    );
}

/// XEP-0085 chat states (off towards SIP here), a XEP-0184 receipt and a
/// XEP-0333 marker on their own are notifications: no error, nothing sent,
/// nothing counted as not carried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_chat_states_and_receipts_get_no_error() {
    let (world, uas) = world_with_one_message_uas();
    let mut juliet = world.client("juliet").await;
    for (id, payload) in [
        (
            "cs",
            "<composing xmlns='http://jabber.org/protocol/chatstates'/><no-store xmlns='urn:xmpp:hints'/>",
        ),
        (
            "rcpt",
            "<received xmlns='urn:xmpp:receipts' id='parley-1'/>",
        ),
        (
            "mark",
            "<displayed xmlns='urn:xmpp:chat-markers:0' id='parley-1'/>",
        ),
    ] {
        juliet
            .send_xml(&format!(
                "<message to='bob@{COMPONENT}' id='{id}' type='chat'>{payload}</message>"
            ))
            .await;
    }
    assert_no_error(&mut juliet, Duration::from_secs(1)).await;
    plain_message_alone_reaches_sip(&world, &mut juliet, uas).await;
    for reason in ["encrypted", "rfc3923_e2e", "no_text"] {
        assert_eq!(
            world.parley.metric(&format!(
                "parley_xmpp_messages_not_carried_total{{reason=\"{reason}\"}}"
            )),
            0.0
        );
    }
}

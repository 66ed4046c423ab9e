//! RFC 7247 §7: errors both ways, taken through the router: an XMPP error
//! for a message that came from SIP becomes the SIP final response (§7.1,
//! Table 2), a SIP failure for a message that came from XMPP becomes an
//! error stanza (§7.2, Table 3); and a SIP MESSAGE that cannot be read is
//! refused on the SIP side with nothing sent to XMPP.

use std::time::Duration;

use super::world::{World, shape};

/// Romeo's MESSAGE to Juliet (RFC 7572 Example 4) with `content_type` and `body`.
fn message(call_id: &str, content_type: &str, body: &str) -> String {
    format!(
        "MESSAGE sip:juliet@xmpp.example SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bK{call_id}\n\
         Max-Forwards: 70\n\
         To: sip:juliet@xmpp.example\n\
         From: sip:romeo@sip.example.net;tag=vwxyz\n\
         Call-ID: {call_id}\n\
         CSeq: 1 MESSAGE\n\
         Content-Type: {content_type}\n\
         Content-Length: {len}\n\
         \n\
         {body}",
        len = body.len(),
    )
}

/// The answer's start line and the fields that tie it to the request.
const ANSWER: &[&str] = &["Call-ID", "CSeq", "Accept", "Retry-After"];

/// §7.1 Table 2: "<item-not-found/> | 404 or 604 (2)", note 2: "If the error
/// relates to a \"bare JID\" (localpart@domainpart), the SIP response code
/// from the 6xx series is RECOMMENDED." The answer goes out when the error
/// arrives, before the delivery window closes.
#[tokio::test]
async fn item_not_found_for_a_bare_jid_answers_604() {
    let mut world = World::start().await;
    world
        .sip_in(&message("inf", "text/plain", "are you there?"))
        .await;
    let stanza = world.stanza_out().await;
    assert!(stanza.contains("id='parley-1'"), "{stanza}");
    world.stanza_in(
        "<message from='juliet@xmpp.example' to='romeo@sip.example.net' id='parley-1' \
         type='error'><error type='cancel'>\
         <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
    );
    assert_eq!(
        shape(&world.sip_out().await, ANSWER, false),
        "SIP/2.0 604 Does Not Exist Anywhere\n\
         Call-ID: inf\n\
         CSeq: 1 MESSAGE\n"
    );
}

/// §7.1 Table 2: "<service-unavailable/> | see note (5) below"; note 5:
/// mapping it to 503 "is NOT RECOMMENDED ... the SIP 403 Forbidden and 405
/// Method Not Allowed response codes are closest in meaning".
#[tokio::test]
async fn service_unavailable_is_not_answered_503() {
    let mut world = World::start().await;
    world.sip_in(&message("su", "text/plain", "hello")).await;
    world.stanza_out().await;
    world.stanza_in(
        "<message from='juliet@xmpp.example' to='romeo@sip.example.net' id='parley-1' \
         type='error'><error type='cancel'>\
         <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
    );
    assert_eq!(
        shape(&world.sip_out().await, ANSWER, false),
        "SIP/2.0 403 Forbidden\n\
         Call-ID: su\n\
         CSeq: 1 MESSAGE\n"
    );
}

/// §7.2 Table 3: "480 | <recipient-unavailable/>", for a message from XMPP.
#[tokio::test]
async fn sip_480_becomes_recipient_unavailable() {
    let mut world = World::start().await;
    world.stanza_in(
        "<message from='juliet@xmpp.example/balcony' to='romeo@sip.example.net' id='m-480'>\
         <body>hi</body></message>",
    );
    let request = world.sip_out().await;
    world
        .sip_answer(&request, "480 Temporarily Unavailable", "")
        .await;
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example/balcony' id='m-480' \
         type='error'><body>hi</body><error type='wait'>\
         <recipient-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    );
}

/// §7.2: "If a gateway encounters a SIP response code that is not listed
/// below, it SHOULD map ... a 4xx-series code to <bad-request/>".
#[tokio::test]
async fn unlisted_4xx_becomes_bad_request() {
    let mut world = World::start().await;
    world.stanza_in(
        "<message from='juliet@xmpp.example/balcony' to='romeo@sip.example.net' id='m-499'>\
         <body>hi</body></message>",
    );
    let request = world.sip_out().await;
    world.sip_answer(&request, "499 Unlisted", "").await;
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example/balcony' id='m-499' \
         type='error'><body>hi</body><error type='modify'>\
         <bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    );
}

/// A text/plain body with a character XML 1.0 cannot carry (U+0001) cannot
/// become a `<body/>`: 400 Bad Request (RFC 3261 §21.4.1), nothing sent to
/// XMPP.
#[tokio::test]
async fn body_xml_cannot_carry_answers_400_and_sends_nothing() {
    let mut world = World::start().await;
    world
        .sip_in(&message("ctl", "text/plain", "bell \u{1} here"))
        .await;
    assert_eq!(
        shape(&world.sip_out().await, ANSWER, false),
        "SIP/2.0 400 Bad Request\n\
         Call-ID: ctl\n\
         CSeq: 1 MESSAGE\n"
    );
    world.no_stanza_out(Duration::from_millis(50)).await;
}

/// A body type with no XMPP form: 415 Unsupported Media Type, whose Accept
/// lists what is taken (RFC 3261 §21.4.13), nothing sent to XMPP.
#[tokio::test]
async fn unsupported_body_type_answers_415_with_accept_and_sends_nothing() {
    let mut world = World::start().await;
    world
        .sip_in(&message("oct", "application/octet-stream", "\u{7f}ELF"))
        .await;
    assert_eq!(
        shape(&world.sip_out().await, ANSWER, false),
        "SIP/2.0 415 Unsupported Media Type\n\
         Call-ID: oct\n\
         CSeq: 1 MESSAGE\n\
         Accept: text/plain, text/html, message/cpim, message/imdn+xml, \
         application/im-iscomposing+xml, multipart/signed, application/pkcs7-mime\n"
    );
    world.no_stanza_out(Duration::from_millis(50)).await;
}

/// Not §7's table: the MESSAGE never left, because Parley's own SIP
/// transaction table is full (`limits.sip_pending_transactions`). That is
/// no answer from the SIP side and it passes: RFC 6120 §8.3.3.18
/// `resource-constraint`, type `wait` ("busy or lacks the system resources
/// necessary to service the request"), not a lasting error.
#[tokio::test]
async fn a_full_sip_transaction_table_is_resource_constraint_wait() {
    let mut world = World::with("", "[limits]\nsip_pending_transactions = 2\n").await;
    let mut sent = Vec::new();
    for n in 1..=2 {
        world.stanza_in(&format!(
            "<message from='juliet{n}@xmpp.example/balcony' to='romeo@sip.example.net' \
             id='m-{n}'><body>hi</body></message>"
        ));
        sent.push(world.sip_out().await.header("Call-ID"));
    }
    world.stanza_in(
        "<message from='juliet3@xmpp.example/balcony' to='romeo@sip.example.net' id='m-3'>\
         <body>hi</body></message>",
    );
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet3@xmpp.example/balcony' id='m-3' \
         type='error'><body>hi</body><error type='wait'>\
         <resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
         <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>the gateway's SIP side is at \
         capacity; try again shortly</text></error></message>"
    );
    // Only the two unanswered MESSAGEs' retransmissions: the third never left.
    while let Some(m) = world.sip_out_within(Duration::from_millis(300)).await {
        assert!(sent.contains(&m.header("Call-ID")), "{m:?}");
    }
}

//! RFC 7572 §5, Table 2 (SIP → XMPP): each row, a literal SIP MESSAGE in,
//! the literal `<message/>` out, and the SIP sender's final response.

use std::time::Duration;

use super::world::{DELIVERY_WINDOW, World, shape};

/// A MESSAGE from `romeo` at the gateway's SIP domain to `juliet` on the
/// XMPP side, as RFC 7572 Example 4 has it, with `from` as its From value,
/// `headers` (whole lines) after CSeq and `body` as text/plain.
fn message(call_id: &str, from: &str, headers: &str, body: &str) -> String {
    format!(
        "MESSAGE sip:juliet@xmpp.example SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bK{call_id}\n\
         Max-Forwards: 70\n\
         To: sip:juliet@xmpp.example\n\
         From: {from}\n\
         Call-ID: {call_id}\n\
         CSeq: 1 MESSAGE\n\
         {headers}\
         Content-Type: text/plain\n\
         Content-Length: {len}\n\
         \n\
         {body}",
        len = body.len(),
    )
}

/// Romeo's From, with the tag of Example 4.
const ROMEO: &str = "sip:romeo@sip.example.net;tag=vwxyz";

/// RFC 7572 §5, Example 4 (SIP User Sends Message), with the gateway's
/// domains, answered 200 once the delivery window closes without an error:
///
/// ```text
/// MESSAGE sip:juliet@example.com SIP/2.0
/// To: sip:juliet@example.com
/// From: sip:romeo@example.net;tag=vwxyz
/// Call-ID: 9E97FB43-85F4-4A00-8751-1124FD4C7B2E
/// CSeq: 1 MESSAGE
/// Content-Type: text/plain
///
/// Neither, fair saint, if either thee dislike.
/// ```
///
/// Table 2 rows: "body of MESSAGE | <body/>", "Call-ID | <thread/>",
/// "From | from", "Request-URI or To | to".
#[tokio::test]
async fn example_4_sip_message_becomes_example_5_message() {
    let mut world = World::start().await;
    world
        .sip_in(
            "MESSAGE sip:juliet@xmpp.example SIP/2.0\n\
             Via: SIP/2.0/UDP {peer};branch=z9hG4bKeskdgs677\n\
             Max-Forwards: 70\n\
             To: sip:juliet@xmpp.example\n\
             From: sip:romeo@sip.example.net;tag=vwxyz\n\
             Call-ID: 9E97FB43-85F4-4A00-8751-1124FD4C7B2E\n\
             CSeq: 1 MESSAGE\n\
             Content-Type: text/plain\n\
             Content-Length: 44\n\
             \n\
             Neither, fair saint, if either thee dislike.",
        )
        .await;
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example' id='parley-1'>\
         <body>Neither, fair saint, if either thee dislike.</body>\
         <thread>9E97FB43-85F4-4A00-8751-1124FD4C7B2E</thread></message>"
    );
    world.no_sip_out(Duration::from_millis(50)).await;
    world.reap_after(DELIVERY_WINDOW + Duration::from_millis(1));
    let ok = world.sip_out().await;
    assert_eq!(
        shape(&ok, &["Via", "From", "To", "Call-ID", "CSeq"], false),
        "SIP/2.0 200 OK\n\
         Via: SIP/2.0/UDP {peer};branch=z9hG4bK*\n\
         From: sip:romeo@sip.example.net;tag=*\n\
         To: sip:juliet@xmpp.example;tag=*\n\
         Call-ID: 9E97FB43-85F4-4A00-8751-1124FD4C7B2E\n\
         CSeq: 1 MESSAGE\n"
            .replace("{peer}", &world.peer_addr().to_string())
    );
}

/// RFC 7572 §5: the gateway is "responsible for translating the request
/// into an XMPP message stanza ... and returning a SIP 200 OK message to the
/// sender"; while the component stream is down it cannot, so the sender
/// hears 503 with Retry-After (RFC 3261 §21.5.4) and nothing is queued.
#[tokio::test]
async fn component_stream_down_answers_503_and_queues_nothing() {
    let mut world = World::start().await;
    world.component.set_connected(false);
    world
        .sip_in(
            "MESSAGE sip:juliet@xmpp.example SIP/2.0\n\
             Via: SIP/2.0/UDP {peer};branch=z9hG4bKdown1\n\
             Max-Forwards: 70\n\
             To: sip:juliet@xmpp.example\n\
             From: sip:romeo@sip.example.net;tag=vwxyz\n\
             Call-ID: stream-down\n\
             CSeq: 1 MESSAGE\n\
             Content-Type: text/plain\n\
             Content-Length: 5\n\
             \n\
             hello",
        )
        .await;
    let answer = world.sip_out().await;
    assert_eq!(
        shape(&answer, &["Call-ID", "CSeq", "Retry-After"], false),
        "SIP/2.0 503 XMPP Server Unavailable\n\
         Call-ID: stream-down\n\
         CSeq: 1 MESSAGE\n\
         Retry-After: 30\n"
    );
    world.no_stanza_out(Duration::from_millis(50)).await;
}

/// Table 2: "Subject | <subject/>".
#[tokio::test]
async fn subject_becomes_subject() {
    let mut world = World::start().await;
    world
        .sip_in(&message("subject", ROMEO, "Subject: Balcony\n", "hi"))
        .await;
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example' id='parley-1'>\
         <subject>Balcony</subject><body>hi</body><thread>subject</thread></message>"
    );
}

/// Table 2: "Content-Language | xml:lang" (and RFC 7572 §8: "the gateway
/// MUST map the Content-Language header to the 'xml:lang' attribute").
#[tokio::test]
async fn content_language_becomes_xml_lang() {
    let mut world = World::start().await;
    world
        .sip_in(&message("lang", ROMEO, "Content-Language: cs\n", "Ahoj"))
        .await;
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example' id='parley-1' \
         xml:lang='cs'><body>Ahoj</body><thread>lang</thread></message>"
    );
}

/// Table 2: "From | from (1)", note 1: with "information about the GRUU
/// [RFC5627] of the particular endpoint that sent the SIP message, then it
/// MUST map the sender's address to a full JID ... and include the GRUU as
/// the resourcepart" (Example 5: `from='romeo@example.net/dr4hcr0st3lup4c'`).
#[tokio::test]
async fn from_with_gruu_becomes_full_jid() {
    let mut world = World::start().await;
    world
        .sip_in(&message(
            "gruu",
            "<sip:romeo@sip.example.net;gr=dr4hcr0st3lup4c>;tag=vwxyz",
            "",
            "hi",
        ))
        .await;
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net/dr4hcr0st3lup4c' to='juliet@xmpp.example' \
         id='parley-1'><body>hi</body><thread>gruu</thread></message>"
    );
}

/// Table 2: "Request-URI or To | to": the Request-URI's user and host are
/// the JID (RFC 7247 §6), whatever To displays.
#[tokio::test]
async fn request_uri_becomes_to() {
    let mut world = World::start().await;
    let text = message("ruri", ROMEO, "", "hi").replace(
        "To: sip:juliet@xmpp.example",
        "To: \"Juliet\" <sip:juliet@xmpp.example>",
    );
    world.sip_in(&text).await;
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example' id='parley-1'>\
         <body>hi</body><thread>ruri</thread></message>"
    );
}

/// Table 2: "body of MESSAGE | <body/>": the exact text, escaped as XML
/// requires and nothing else.
#[tokio::test]
async fn body_becomes_body_exactly() {
    let mut world = World::start().await;
    world
        .sip_in(&message("body", ROMEO, "", "Grüße <&> \"' 🌹"))
        .await;
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example' id='parley-1'>\
         <body>Grüße &lt;&amp;&gt; \"' 🌹</body><thread>body</thread></message>"
    );
}

/// Table 2: "transaction identifier | id": each MESSAGE transaction gets
/// its own stanza id, which is how an XMPP error finds its transaction.
#[tokio::test]
async fn each_transaction_gets_its_own_id() {
    let mut world = World::start().await;
    world.sip_in(&message("first", ROMEO, "", "one")).await;
    world.sip_in(&message("second", ROMEO, "", "two")).await;
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example' id='parley-1'>\
         <body>one</body><thread>first</thread></message>"
    );
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example' id='parley-2'>\
         <body>two</body><thread>second</thread></message>"
    );
}

/// Table 2: "CSeq | (no mapping)": a MESSAGE with another CSeq number gives
/// the same stanza.
#[tokio::test]
async fn cseq_is_not_mapped() {
    let mut world = World::start().await;
    let text = message("cseq", ROMEO, "", "hi").replace("CSeq: 1 MESSAGE", "CSeq: 4711 MESSAGE");
    world.sip_in(&text).await;
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example' id='parley-1'>\
         <body>hi</body><thread>cseq</thread></message>"
    );
}

/// RFC 7572 §5: "an IM-capable SIP-to-XMPP gateway MUST specify no XMPP
/// 'type' attribute or, equivalently, a 'type' attribute whose value is
/// \"normal\""; `messages.xmpp_type = "chat"` is the documented switch for
/// deployments whose clients need chat (design §3).
#[tokio::test]
async fn type_is_absent_unless_configured_chat() {
    let mut world = World::start().await;
    world.sip_in(&message("normal", ROMEO, "", "hi")).await;
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example' id='parley-1'>\
         <body>hi</body><thread>normal</thread></message>"
    );

    let mut world = World::with("xmpp_type = \"chat\"", "").await;
    world.sip_in(&message("chat", ROMEO, "", "hi")).await;
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example' id='parley-1' \
         type='chat'><body>hi</body><thread>chat</thread></message>"
    );
}

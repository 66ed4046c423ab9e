//! RFC 7572 §4, Table 1 (XMPP → SIP): each row, a literal `<message/>` in,
//! the SIP MESSAGE out, and what the XMPP sender hears of its final response.

use std::time::Duration;

use super::world::{World, shape};

/// The header fields Table 1 names, plus the framing the body needs.
const TABLE_1: &[&str] = &[
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Subject",
    "Content-Type",
    "Content-Language",
];

/// RFC 7572 §4, Example 1 (XMPP User Sends Message) becomes Example 2:
///
/// ```text
/// <message from='juliet@example.com/yn0cl4bnw0yr3vym'
///          to='romeo@example.net'>
///   <body>Art thou not Romeo, and a Montague?</body>
/// </message>
///
/// MESSAGE sip:romeo@example.net SIP/2.0
/// To: sip:romeo@example.net
/// From: <sip:juliet@example.com;gr=yn0cl4bnw0yr3vym>;tag=12345
/// Call-ID: D9AA95FD-2BD5-46E2-AF0F-6CFAA96BDDFA
/// CSeq: 1 MESSAGE
/// Content-Type: text/plain
/// ```
///
/// Table 1 rows: "<body/> | body of MESSAGE", "from | From (1)",
/// "to | To or Request-URI"; the 200 (Example 3) sends nothing back.
#[tokio::test]
async fn example_1_message_becomes_example_2_sip_message() {
    let mut world = World::start().await;
    world.stanza_in(
        "<message from='juliet@xmpp.example/yn0cl4bnw0yr3vym' to='romeo@sip.example.net'>\
         <body>Art thou not Romeo, and a Montague?</body></message>",
    );
    let request = world.sip_out().await;
    assert_eq!(
        shape(&request, TABLE_1, true),
        "MESSAGE sip:romeo@sip.example.net SIP/2.0\n\
         From: <sip:juliet@xmpp.example;gr=yn0cl4bnw0yr3vym>;tag=*\n\
         To: <sip:romeo@sip.example.net>\n\
         Call-ID: *\n\
         CSeq: 1 MESSAGE\n\
         Content-Type: text/plain;charset=UTF-8\n"
    );
    assert_eq!(&request.body[..], b"Art thou not Romeo, and a Montague?");
    world.sip_answer(&request, "200 OK", "").await;
    world.no_stanza_out(Duration::from_millis(100)).await;
}

/// Table 1: "<subject/> | Subject".
#[tokio::test]
async fn subject_becomes_subject() {
    let mut world = World::start().await;
    world.stanza_in(
        "<message from='juliet@xmpp.example/balcony' to='romeo@sip.example.net'>\
         <subject>Balcony</subject><body>hi</body></message>",
    );
    let request = world.sip_out().await;
    assert_eq!(
        shape(&request, TABLE_1, true),
        "MESSAGE sip:romeo@sip.example.net SIP/2.0\n\
         From: <sip:juliet@xmpp.example;gr=balcony>;tag=*\n\
         To: <sip:romeo@sip.example.net>\n\
         Call-ID: *\n\
         CSeq: 1 MESSAGE\n\
         Subject: Balcony\n\
         Content-Type: text/plain;charset=UTF-8\n"
    );
    world.sip_answer(&request, "200 OK", "").await;
    world.no_stanza_out(Duration::from_millis(50)).await;
}

/// Table 1: "<thread/> | Call-ID": the thread is the Call-ID, not a random one.
#[tokio::test]
async fn thread_becomes_call_id() {
    let mut world = World::start().await;
    world.stanza_in(
        "<message from='juliet@xmpp.example/balcony' to='romeo@sip.example.net'>\
         <body>hi</body><thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread></message>",
    );
    let request = world.sip_out().await;
    assert_eq!(
        shape(&request, TABLE_1, false),
        "MESSAGE sip:romeo@sip.example.net SIP/2.0\n\
         From: <sip:juliet@xmpp.example;gr=balcony>;tag=*\n\
         To: <sip:romeo@sip.example.net>\n\
         Call-ID: e0ffe42b28561960c6b12b944a092794b9683a38\n\
         CSeq: 1 MESSAGE\n\
         Content-Type: text/plain;charset=UTF-8\n"
    );
    world.sip_answer(&request, "200 OK", "").await;
    world.no_stanza_out(Duration::from_millis(50)).await;
}

/// Table 1: "xml:lang | Content-Language" (RFC 7572 §8: "the gateway MUST
/// map the 'xml:lang' attribute to the Content-Language header").
#[tokio::test]
async fn xml_lang_becomes_content_language() {
    let mut world = World::start().await;
    world.stanza_in(
        "<message from='juliet@xmpp.example/balcony' to='romeo@sip.example.net' \
         xml:lang='cs'><body>Ahoj</body></message>",
    );
    let request = world.sip_out().await;
    assert_eq!(
        shape(&request, TABLE_1, true),
        "MESSAGE sip:romeo@sip.example.net SIP/2.0\n\
         From: <sip:juliet@xmpp.example;gr=balcony>;tag=*\n\
         To: <sip:romeo@sip.example.net>\n\
         Call-ID: *\n\
         CSeq: 1 MESSAGE\n\
         Content-Type: text/plain;charset=UTF-8\n\
         Content-Language: cs\n"
    );
    world.sip_answer(&request, "200 OK", "").await;
    world.no_stanza_out(Duration::from_millis(50)).await;
}

/// Table 1: "from | From (1)", without a resource: the bare JID and no GRUU.
#[tokio::test]
async fn bare_from_becomes_from_without_gruu() {
    let mut world = World::start().await;
    world.stanza_in(
        "<message from='juliet@xmpp.example' to='romeo@sip.example.net'>\
         <body>hi</body></message>",
    );
    let request = world.sip_out().await;
    assert_eq!(
        shape(&request, &["From"], true),
        "MESSAGE sip:romeo@sip.example.net SIP/2.0\n\
         From: <sip:juliet@xmpp.example>;tag=*\n"
    );
    world.sip_answer(&request, "200 OK", "").await;
    world.no_stanza_out(Duration::from_millis(50)).await;
}

/// Table 1: "type | (no mapping) (2)": a `type='chat'` message is the same
/// MESSAGE as the `normal` one of Example 2.
#[tokio::test]
async fn type_is_not_mapped() {
    let mut world = World::start().await;
    world.stanza_in(
        "<message from='juliet@xmpp.example/yn0cl4bnw0yr3vym' to='romeo@sip.example.net' \
         type='chat'><body>Art thou not Romeo, and a Montague?</body></message>",
    );
    let request = world.sip_out().await;
    assert_eq!(
        shape(&request, TABLE_1, true),
        "MESSAGE sip:romeo@sip.example.net SIP/2.0\n\
         From: <sip:juliet@xmpp.example;gr=yn0cl4bnw0yr3vym>;tag=*\n\
         To: <sip:romeo@sip.example.net>\n\
         Call-ID: *\n\
         CSeq: 1 MESSAGE\n\
         Content-Type: text/plain;charset=UTF-8\n"
    );
    assert_eq!(&request.body[..], b"Art thou not Romeo, and a Montague?");
    world.sip_answer(&request, "200 OK", "").await;
    world.no_stanza_out(Duration::from_millis(100)).await;
}

/// Table 1: "id | transaction identifier": the MESSAGE transaction stands
/// for the stanza, so its final response comes back under the stanza's id
/// (here a 404, RFC 7247 §7.2 Table 3: "404 | <item-not-found/>").
#[tokio::test]
async fn id_is_the_transaction_and_its_failure_comes_back_under_it() {
    let mut world = World::start().await;
    world.stanza_in(
        "<message from='juliet@xmpp.example/balcony' to='romeo@sip.example.net' id='m-42'>\
         <body>hi</body></message>",
    );
    let request = world.sip_out().await;
    world.sip_answer(&request, "404 Not Found", "").await;
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example/balcony' id='m-42' \
         type='error'><body>hi</body><error type='cancel'>\
         <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    );
}

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
    let mut world = World::start("").await;
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

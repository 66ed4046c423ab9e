//! RFC 7572 §5, Table 2 (SIP → XMPP): each row, a literal SIP MESSAGE in,
//! the literal `<message/>` out, and the SIP sender's final response.

use std::time::Duration;

use super::world::{DELIVERY_WINDOW, World, shape};

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
    let mut world = World::start("").await;
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
    let mut world = World::start("").await;
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

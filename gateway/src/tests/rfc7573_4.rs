//! RFC 7573 §4, Figure 1: Parley starts an MSRP chat session for an XMPP
//! user (`sessions.start = always`), and falls back to SIP MESSAGE (RFC
//! 7572) when the phone cannot take one. Literal XML in, literal SIP out
//! and in over loopback UDP, and a real MSRP TCP connection to the
//! harness's independent peer (`parley_harness::msrp_peer`), listening as
//! the phone's MSRP endpoint.

use std::time::Duration;

use parley_harness::msrp_peer::{MsrpFrame, MsrpPeer};
use parley_sip::wire::{Message as SipWire, StartLine};
use tokio::net::TcpListener;

use super::world::{WAIT, World};

/// `[sessions]` on, Parley starting sessions; INVITEs answered within 1 s.
const ALWAYS: &str = "[sessions]\nenabled = true\nmsrp_listen = \"127.0.0.1:0\"\n\
                      start = \"always\"\nanswer_secs = 1\n";

/// Example 1 (F1–F2): Juliet's chat message to Romeo, on the component domain.
fn juliet_says(id: &str, body: &str) -> String {
    format!(
        "<message from='juliet@xmpp.example/yn0cl4bnw0yr3vym' to='romeo@sip.example.net' \
         id='{id}' type='chat'><thread>29377446-0CBB-4296-8958-590D79094C50</thread>\
         <body>{body}</body></message>"
    )
}

/// The next SIP message that is not a retransmission of `skip`'s method
/// or a 100 Trying.
async fn next_request(world: &World, method: &str) -> SipWire {
    loop {
        let m = world.sip_out().await;
        if let StartLine::Request { method: got, .. } = &m.start
            && got.as_str() == method
        {
            return m;
        }
    }
}

/// The phone's final response to Parley's INVITE, with an SDP `body` when given.
async fn phone_answers(world: &World, invite: &SipWire, status: &str, sdp: Option<&str>) {
    let copy = |name: &str| invite.header(name).expect("the INVITE has it");
    let (content, body) = match sdp {
        Some(b) => ("Content-Type: application/sdp\n", b),
        None => ("", ""),
    };
    let text = format!(
        "SIP/2.0 {status}\nVia: {via}\nFrom: {from}\nTo: {to};tag=dr4hcr0st3lup4c\n\
         Call-ID: {call_id}\nCSeq: {cseq}\nContact: <sip:romeo@{{peer}}>\n{content}\
         Content-Length: {len}\n\n{body}",
        via = copy("Via"),
        from = copy("From"),
        to = copy("To"),
        call_id = copy("Call-ID"),
        cseq = copy("CSeq"),
        len = body.len(),
    );
    world.sip_send(&text).await;
}

/// Example 3 (F5): Romeo's answer, his MSRP endpoint at `path`; passive,
/// so Parley connects (RFC 6135 §4.2.2 answer to `actpass`).
fn answer_sdp(port: u16, path: &str) -> String {
    format!(
        "v=0\r\no=romeo 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message {port} TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:{path}\r\n\
         a=setup:passive\r\n"
    )
}

/// The value of `a=path` in an SDP body.
fn path_of(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .lines()
        .find_map(|l| l.strip_prefix("a=path:"))
        .expect("an a=path line")
        .to_owned()
}

/// An MSRP frame within WAIT, skipping responses.
async fn next_request_frame(peer: &mut MsrpPeer) -> MsrpFrame {
    loop {
        let f = peer.next_frame(WAIT).await.expect("an MSRP frame in time");
        if f.status.is_none() {
            return f;
        }
    }
}

/// F1–F9 up to the first SEND: the INVITE (returned), the phone's 200,
/// Parley's ACK and its MSRP connection to the phone's listener.
async fn session_started(world: &World, listener: &TcpListener) -> (SipWire, MsrpPeer) {
    let invite = next_request(world, "INVITE").await;
    let port = listener.local_addr().expect("bound").port();
    let phone_path = format!("msrp://127.0.0.1:{port}/kjhd37s2s20w2a;tcp");
    phone_answers(
        world,
        &invite,
        "200 OK",
        Some(&answer_sdp(port, &phone_path)),
    )
    .await;
    let ack = next_request(world, "ACK").await;
    assert_eq!(
        ack.header("CSeq").as_deref(),
        Some("1 ACK"),
        "RFC 3261 §13.2.2.4: the INVITE's CSeq number"
    );
    let parley_path = path_of(&invite.body);
    let peer = MsrpPeer::accept(listener, &phone_path, &parley_path, WAIT)
        .await
        .expect("Parley connects to the phone's MSRP endpoint");
    (invite, peer)
}

/// Figure 1 end to end: F1–F3 (a chat message → INVITE with an MSRP offer,
/// `actpass` as RFC 6135 §4.2.2 asks of a reachable UA), F5–F7 (200 with
/// the answer, ACK), F9 (the message as a SEND with `Failure-Report: no`,
/// §7), F10–F12 (the phone's SEND → `<message type='chat'>` to the full
/// JID that wrote, with her thread, Example 7), F13–F16 (BYE → 200 and
/// `gone`, §6.1).
#[tokio::test]
async fn figure_1_a_chat_message_starts_a_session_and_goes_in_it() {
    let mut world = World::with("", ALWAYS).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    world.stanza_in(&juliet_says(
        "a786hjs2",
        "Art thou not Romeo, and a Montague?",
    ));
    let (invite, mut phone) = session_started(&world, &listener).await;
    assert_eq!(
        invite.start,
        StartLine::Request {
            method: "INVITE".into(),
            uri: invite_uri(&invite).into(),
        }
    );
    assert_eq!(invite_uri(&invite), "sip:romeo@sip.example.net");
    let from = invite.header("From").expect("a From");
    assert!(
        from.starts_with("<sip:juliet@xmpp.example;gr=yn0cl4bnw0yr3vym>;tag="),
        "RFC 7572 addressing: {from}"
    );
    assert_eq!(
        invite.header("Content-Type").as_deref(),
        Some("application/sdp")
    );
    let offer = String::from_utf8_lossy(&invite.body).into_owned();
    let m_line = offer.split_once("m=").expect("an m-line").1;
    let port = world.msrp_addr().port();
    assert!(
        m_line.starts_with(&format!("message {port} TCP/MSRP *\r\n")),
        "{offer}"
    );
    for attr in [
        "a=accept-types:message/cpim text/plain application/im-iscomposing+xml\r\n",
        "a=max-size:65536\r\n",
        "a=setup:actpass\r\n",
    ] {
        assert!(m_line.contains(attr), "{attr} in {offer}");
    }
    // RFC 4975 §5.4 / RFC 6135: the active side sends a SEND at once; F9
    // follows it.
    let mut send = next_request_frame(&mut phone).await;
    if send.body.is_empty() {
        phone.respond(&send, 200, "OK").await;
        send = next_request_frame(&mut phone).await;
    }
    assert_eq!(send.method.as_deref(), Some("SEND"));
    assert_eq!(send.text(), "Art thou not Romeo, and a Montague?");
    assert_eq!(send.header("Failure-Report"), Some("no"));
    phone.respond(&send, 200, "OK").await;

    // F10–F12.
    phone
        .send(
            "6480C096",
            "text/plain",
            b"Neither, fair saint, if either thee dislike.",
            &["Failure-Report: no"],
        )
        .await;
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example/yn0cl4bnw0yr3vym' \
         id='parley-1' type='chat'><body>Neither, fair saint, if either thee dislike.</body>\
         <thread>29377446-0CBB-4296-8958-590D79094C50</thread></message>"
    );

    // F13–F16.
    let to = invite.header("To").expect("a To");
    world
        .sip_in(&format!(
            "BYE sip:juliet@{{peer}} SIP/2.0\n\
             Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKbye1\n\
             Max-Forwards: 70\n\
             From: {to};tag=dr4hcr0st3lup4c\n\
             To: {from}\n\
             Call-ID: {call_id}\n\
             CSeq: 1 BYE\n\
             Content-Length: 0\n\n",
            call_id = invite.header("Call-ID").expect("a Call-ID"),
        ))
        .await;
    let ok = next_response(&world, "BYE").await;
    assert_eq!(status(&ok), 200);
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example/yn0cl4bnw0yr3vym' \
         id='parley-2' type='chat'><thread>29377446-0CBB-4296-8958-590D79094C50</thread>\
         <gone xmlns='http://jabber.org/protocol/chatstates'/></message>"
    );
    assert_eq!(
        world.metric(r#"parley_msrp_session_starts_total{outcome="opened"}"#),
        Some(1.0)
    );
}

/// Messages written while the INVITE is out wait for the session and go
/// into it in order (F9), not as page mode beside it.
#[tokio::test]
async fn messages_written_while_the_invite_is_out_follow_the_first_in_order() {
    let world = World::with("", ALWAYS).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    world.stanza_in(&juliet_says("m1", "one"));
    world.stanza_in(&juliet_says("m2", "two"));
    world.stanza_in(&juliet_says("m3", "three"));
    let (_, mut phone) = session_started(&world, &listener).await;
    let mut texts = Vec::new();
    while texts.len() < 3 {
        let send = next_request_frame(&mut phone).await;
        phone.respond(&send, 200, "OK").await;
        if !send.body.is_empty() {
            texts.push(send.text());
        }
    }
    assert_eq!(texts, ["one", "two", "three"]);
}

/// §4: "if that is not the case then MSRP session initiation might result
/// in an error". A phone that refuses (488) gets the same message as a SIP
/// MESSAGE, and the next one too without another INVITE (remembered for
/// `sessions.fallback_secs`): nothing is lost to the attempt.
#[tokio::test]
async fn a_phone_that_refuses_the_session_gets_sip_message_and_no_second_invite() {
    let mut world = World::with("", ALWAYS).await;
    world.stanza_in(&juliet_says("m1", "Art thou not Romeo?"));
    let invite = next_request(&world, "INVITE").await;
    phone_answers(&world, &invite, "488 Not Acceptable Here", None).await;
    let message = next_request(&world, "MESSAGE").await;
    assert_eq!(&message.body[..], b"Art thou not Romeo?");
    world.sip_answer(&message, "200 OK", "").await;

    world.stanza_in(&juliet_says("m2", "and a Montague?"));
    let next = world.sip_out().await;
    assert!(
        matches!(&next.start, StartLine::Request { method, .. } if method.as_str() == "MESSAGE"),
        "no second INVITE: {next:?}"
    );
    assert_eq!(&next.body[..], b"and a Montague?");
    world.sip_answer(&next, "200 OK", "").await;
    world.no_stanza_out(Duration::from_millis(300)).await;
    for (series, want) in [
        (
            r#"parley_msrp_session_starts_total{outcome="refused"}"#,
            1.0,
        ),
        (
            r#"parley_msrp_fallback_messages_total{reason="session_failed"}"#,
            1.0,
        ),
        (
            r#"parley_msrp_fallback_messages_total{reason="declined"}"#,
            1.0,
        ),
    ] {
        assert_eq!(world.metric(series), Some(want), "{series}");
    }
}

/// An INVITE that rings but is not answered within `sessions.answer_secs`
/// is cancelled (RFC 3261 §9.1, after the provisional response), and the
/// message goes as SIP MESSAGE.
#[tokio::test]
async fn an_unanswered_invite_is_cancelled_and_the_message_goes_as_sip_message() {
    let world = World::with("", ALWAYS).await;
    world.stanza_in(&juliet_says("m1", "Wherefore art thou?"));
    let invite = next_request(&world, "INVITE").await;
    phone_answers(&world, &invite, "180 Ringing", None).await;
    let cancel = next_request(&world, "CANCEL").await;
    assert_eq!(cancel.header("Call-ID"), invite.header("Call-ID"));
    world.sip_answer(&cancel, "200 OK", "").await;
    phone_answers(&world, &invite, "487 Request Terminated", None).await;
    let message = next_request(&world, "MESSAGE").await;
    assert_eq!(&message.body[..], b"Wherefore art thou?");
    world.sip_answer(&message, "200 OK", "").await;
    assert_eq!(
        world.metric(r#"parley_msrp_session_starts_total{outcome="timeout"}"#),
        Some(1.0)
    );
}

/// A 2xx whose SDP Parley cannot use (its message line refused) is ACKed and ended with
/// a BYE (RFC 3261 §13.2.2.4, §15.1.1), and the message goes as SIP MESSAGE.
#[tokio::test]
async fn a_2xx_without_usable_msrp_is_acked_and_ended_and_the_message_goes_as_sip_message() {
    let world = World::with("", ALWAYS).await;
    world.stanza_in(&juliet_says("m1", "O Romeo, Romeo!"));
    let invite = next_request(&world, "INVITE").await;
    // The message line answered with port 0: RFC 3264 §5.1, "a zero port
    // indicating a rejected stream".
    let refused = "v=0\r\no=romeo 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
                 t=0 0\r\nm=message 0 TCP/MSRP *\r\n";
    phone_answers(&world, &invite, "200 OK", Some(refused)).await;
    let mut seen = Vec::new();
    let mut message = None;
    while message.is_none() || !seen.contains(&"BYE".to_owned()) {
        let m = world.sip_out().await;
        if let StartLine::Request { method, .. } = &m.start {
            seen.push(method.as_str().to_owned());
            match method.as_str() {
                "BYE" => world.sip_answer(&m, "200 OK", "").await,
                "MESSAGE" => {
                    world.sip_answer(&m, "200 OK", "").await;
                    message = Some(m);
                }
                _ => {}
            }
        }
    }
    assert!(seen.iter().position(|m| m == "ACK") < seen.iter().position(|m| m == "BYE"));
    assert_eq!(&message.expect("a MESSAGE").body[..], b"O Romeo, Romeo!");
    assert_eq!(
        world.metric(r#"parley_msrp_session_starts_total{outcome="bad_answer"}"#),
        Some(1.0)
    );
}

/// `sessions.start = auto` (the default): Parley starts no session; the
/// message goes as SIP MESSAGE as before.
#[tokio::test]
async fn under_auto_a_chat_message_goes_as_sip_message() {
    let world = World::with(
        "",
        "[sessions]\nenabled = true\nmsrp_listen = \"127.0.0.1:0\"\n",
    )
    .await;
    world.stanza_in(&juliet_says("m1", "Good night, good night!"));
    let first = world.sip_out().await;
    assert!(
        matches!(&first.start, StartLine::Request { method, .. } if method.as_str() == "MESSAGE"),
        "{first:?}"
    );
    world.sip_answer(&first, "200 OK", "").await;
    assert_eq!(
        world.metric(r#"parley_msrp_session_starts_total{outcome="opened"}"#),
        Some(0.0)
    );
}

fn invite_uri(m: &SipWire) -> String {
    match &m.start {
        StartLine::Request { uri, .. } => uri.to_string(),
        StartLine::Response { .. } => panic!("not a request"),
    }
}

fn status(m: &SipWire) -> u16 {
    match m.start {
        StartLine::Response { status, .. } => status,
        StartLine::Request { .. } => panic!("not a response"),
    }
}

/// The next response to a `method` request.
async fn next_response(world: &World, method: &str) -> SipWire {
    loop {
        let m = world.sip_out().await;
        if matches!(m.start, StartLine::Response { .. })
            && m.header("CSeq").is_some_and(|c| c.ends_with(method))
        {
            return m;
        }
    }
}

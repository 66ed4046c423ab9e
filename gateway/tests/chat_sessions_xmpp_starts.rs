//! RFC 7573 §4, Figure 1, end to end: an XMPP user's chat `<message/>`
//! to a SIP user starts an MSRP session (`[sessions] start = "always"`),
//! against the real `parley` binary and Prosody, with the test phone as
//! the SIP user (Parley's outbound proxy, so every request reaches it) and
//! the harness's independent MSRP peer as its MSRP end.
//!
//! §4: "since there is no reliable way for the gateway to determine
//! whether Romeo's client supports MSRP, if that is not the case then MSRP
//! session initiation might result in an error": a phone that refuses the
//! INVITE (488, 415, 606) or never answers it within `answer_secs` gets
//! the message as a SIP MESSAGE (RFC 7572), and so do the next ones within
//! `fallback_secs`, with no new INVITE. Under `start = "auto"` no INVITE
//! is sent at all.

#[path = "support/chat.rs"]
mod chat;
#[path = "support/ejabberd_world.rs"]
mod ejabberd_world;
#[path = "support/sip_phone.rs"]
mod sip_phone;
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parley_harness::msrp_peer::MsrpPeer;
use parley_harness::parley::Parley;
use parley_harness::port::free_tcp_port;
use parley_harness::xmpp_client::XmppClient;
use parley_sip::wire::validate::RequestHead;

use chat::{
    PhoneMsrp, WAIT, attr, chat_message, chat_state, m_line, next_request, path_addr, phone_says,
};
use ejabberd_world::EjabberdWorld;
use sip_phone::{Dialog, InvitePolicy, Phone, Received, status, tag_of, uri_of};
use support::{COMPONENT, Options, World, XMPP_DOMAIN, child_text, sessions_toml};

/// romeo's address, as juliet writes it and as Parley calls it.
const ROMEO_JID: &str = "romeo@sip.example.net";
const ROMEO_SIP: &str = "sip:romeo@sip.example.net";

/// Parley with `[sessions]` (`extra` lines in it) and romeo's phone as the
/// outbound proxy; juliet logged in.
async fn start(extra: &str) -> (World, SocketAddr, XmppClient, Phone) {
    let phone = Phone::bind("romeo").await;
    let msrp: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let world = World::start(Options {
        outbound_proxy: Some(format!("sip:{}", phone.addr)),
        extra: sessions_toml(msrp, extra),
        ..Options::default()
    });
    let juliet = world.client("juliet").await;
    (world, msrp, juliet, phone)
}

const ALWAYS: &str = "start = \"always\"\nanswer_secs = 3\n";
/// `answer_secs` in [`ALWAYS`].
const ANSWER_SECS: Duration = Duration::from_secs(3);

/// juliet says `text` to romeo (RFC 7573 Example 1, F1).
async fn juliet_says(juliet: &mut XmppClient, id: &str, text: &str) {
    juliet
        .send_xml(&format!(
            "<message to='{ROMEO_JID}' type='chat' id='{id}'>\
             <body>{text}</body><thread>thread-{id}</thread></message>"
        ))
        .await;
}

/// The phone's SDP answer (RFC 4975 §8.1) with `a=setup:<setup>` and its
/// MSRP URI as `a=path`.
fn answer_sdp(msrp_uri: &str, port: u16, setup: &str) -> String {
    format!(
        "v=0\r\no=romeo 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message {port} TCP/MSRP *\r\na=accept-types:text/plain\r\n\
         a=path:{msrp_uri}\r\na=setup:{setup}\r\n"
    )
}

/// The first INVITE at the phone, checked against the contract: Request-URI
/// and To romeo as page mode addresses him, From juliet as page mode maps
/// her (RFC 7572 §4), and an SDP offer per RFC 4975 §8.1 / RFC 6135 §4.2.2
/// (`actpass`, "MUST use" for a UA with a reachable address) / RFC 7573 §8
/// (`a=max-size`). Returns the request and Parley's `a=path`.
async fn parleys_invite(parley: &Parley, phone: &Phone) -> (RequestHead, Received, String) {
    let (head, invite) = phone
        .nth_request("INVITE", 0, WAIT)
        .await
        .unwrap_or_else(|| panic!("no INVITE at the phone\n{}", parley.log()));
    assert_eq!(head.request_uri, ROMEO_SIP);
    assert_eq!(uri_of(&invite.header("To")), ROMEO_SIP);
    assert!(
        uri_of(&invite.header("From")).starts_with(&format!("sip:juliet@{XMPP_DOMAIN}")),
        "{invite:?}"
    );
    assert_eq!(invite.header("Content-Type"), "application/sdp");
    let offer = invite.body();
    let path = attr(&offer, "path").unwrap_or_else(|| panic!("no a=path: {offer}"));
    let port = path_addr(&path).port();
    assert_eq!(
        m_line(&offer),
        format!("m=message {port} TCP/MSRP *"),
        "{offer}"
    );
    assert!(
        path.starts_with("msrp://") && path.ends_with(";tcp"),
        "{offer}"
    );
    assert_eq!(attr(&offer, "setup").as_deref(), Some("actpass"), "{offer}");
    assert!(
        attr(&offer, "accept-types").is_some_and(|t| t.split(' ').any(|t| t == "text/plain")),
        "{offer}"
    );
    assert!(attr(&offer, "max-size").is_some(), "{offer}");
    (head, invite, path)
}

/// The next SEND with a body on `peer`, each request answered 200 (a
/// bodiless SEND may open the connection, RFC 4975 §5.4).
async fn next_text(peer: &mut MsrpPeer) -> String {
    loop {
        let request = next_request(peer).await;
        peer.respond(&request, 200, "OK").await;
        if request.method.as_deref() == Some("SEND") && !request.body.is_empty() {
            return request.text();
        }
    }
}

/// Parley's ACK of the phone's 2xx: RFC 3261 §13.2.2.4, "The sequence
/// number of the CSeq header field MUST be the same as the INVITE being
/// acknowledged", in the dialog (the phone's To tag).
async fn parleys_ack(parley: &Parley, phone: &Phone, invite: &Received) {
    let ack = phone
        .ack(&invite.header("Call-ID"), WAIT)
        .await
        .unwrap_or_else(|| panic!("the 2xx is never ACKed\n{}", parley.log()));
    let number = |r: &Received| r.header("CSeq").split(' ').next().map(str::to_owned);
    assert_eq!(number(&ack), number(invite), "{ack:?}");
    assert_eq!(ack.header("CSeq").split(' ').nth(1), Some("ACK"));
    assert_eq!(tag_of(&ack.header("To")), "romeo-inv", "{ack:?}");
}

/// F10–F12: the phone's SEND reaches juliet as `<message type='chat'>`.
async fn phone_reply_reaches_juliet(juliet: &mut XmppClient, peer: &mut MsrpPeer) {
    phone_says(peer, "f10", "text/plain", "Neither, fair saint.", &[]).await;
    let got = chat_message(juliet).await;
    assert_eq!(got.attr("type"), Some("chat"));
    assert_eq!(got.attr("from"), Some(ROMEO_JID));
    assert_eq!(
        child_text(&got, "body").as_deref(),
        Some("Neither, fair saint.")
    );
}

/// F13–F16: the phone's BYE in the dialog gets 200 and reaches juliet as
/// `<gone/>` (§6.1), and no session is left.
async fn phone_hangs_up(
    parley: &Parley,
    sip: SocketAddr,
    phone: &Phone,
    juliet: &mut XmppClient,
    invite: &Received,
) {
    let mut dialog = Dialog::called(phone, invite);
    let ok = phone
        .in_dialog_via(&mut dialog, "BYE", sip, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status(&ok), 200, "{ok:?}");
    chat_state(juliet, "gone").await;
    assert_eq!(parley.metric("parley_msrp_sessions"), 0.0);
}

/// Figure 1, F1–F16, the phone answering `passive` (RFC 6135 §4.2.2: the
/// answerer "SHOULD include an a=setup "passive" attribute value"): Parley
/// ACKs, connects to the phone's `a=path` and sends juliet's message as a
/// SEND (F9); her next message goes in the same session, no new INVITE;
/// the phone's SEND reaches her (F10–F12); its BYE → `gone` (F13–F16).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figure_1_always_invites_and_connects_to_a_passive_phone() {
    let (world, _msrp, mut juliet, phone) = start(ALWAYS).await;
    let msrp = PhoneMsrp::bind("romeopassive1").await;
    let sdp = answer_sdp(&msrp.uri, msrp.port(), "passive");
    phone.on_invite(InvitePolicy::Accept(Arc::new(move |_| sdp.clone())));
    juliet_says(&mut juliet, "f1", "Art thou not Romeo, and a Montague?").await;
    let (_, invite, parley_path) = parleys_invite(&world.parley, &phone).await;
    parleys_ack(&world.parley, &phone, &invite).await;
    let mut peer = MsrpPeer::accept(&msrp.listener, &msrp.uri, &parley_path, WAIT)
        .await
        .unwrap_or_else(|| panic!("Parley never connected\n{}", world.parley.log()));
    assert_eq!(
        next_text(&mut peer).await,
        "Art thou not Romeo, and a Montague?"
    );
    juliet_says(&mut juliet, "f1b", "Deny thy father and refuse thy name.").await;
    assert_eq!(
        next_text(&mut peer).await,
        "Deny thy father and refuse thy name."
    );
    assert_eq!(phone.requests("INVITE").len(), 1, "one session, one INVITE");
    assert!(phone.requests("MESSAGE").is_empty());
    phone_reply_reaches_juliet(&mut juliet, &mut peer).await;
    phone_hangs_up(
        &world.parley,
        world.sip_addr(),
        &phone,
        &mut juliet,
        &invite,
    )
    .await;
}

/// Figure 1 with the phone answering `active` (RFC 6135 §4.2.2: "the SDP
/// answerer MAY include an a=setup "active" attribute value"; its port 9,
/// "In accordance with [RFC4145]"): the phone connects to Parley's
/// `a=path` and sends a SEND at once, as RFC 6135 says the active UA
/// "must"; juliet's message arrives on that connection; her `<gone/>`
/// ends the session with a BYE to the phone in the dialog (§6.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figure_1_always_with_an_active_phone_that_connects_and_gone_sends_bye() {
    let (world, _msrp, mut juliet, phone) = start(ALWAYS).await;
    let uri = "msrp://127.0.0.1:9/romeoactive1;tcp";
    let sdp = answer_sdp(uri, 9, "active");
    phone.on_invite(InvitePolicy::Accept(Arc::new(move |_| sdp.clone())));
    juliet_says(&mut juliet, "a1", "Wherefore art thou Romeo?").await;
    let (_, invite, parley_path) = parleys_invite(&world.parley, &phone).await;
    parleys_ack(&world.parley, &phone, &invite).await;
    let mut peer = MsrpPeer::connect(path_addr(&parley_path), uri, &parley_path).await;
    // RFC 4975 §5.4: "the active endpoint MUST immediately issue a SEND
    // request", which "MAY have no body at all".
    let tid = peer.send("open1", "text/plain", b"", &[]).await;
    let opened = peer.next_frame(WAIT).await.expect("an answer");
    assert_eq!((opened.transaction_id, opened.status), (tid, Some(200)));
    assert_eq!(next_text(&mut peer).await, "Wherefore art thou Romeo?");
    phone_reply_reaches_juliet(&mut juliet, &mut peer).await;

    juliet
        .send_xml(&format!(
            "<message to='{ROMEO_JID}' type='chat'><thread>thread-a1</thread>\
             <gone xmlns='http://jabber.org/protocol/chatstates'/></message>"
        ))
        .await;
    let (_, bye) = phone
        .nth_request("BYE", 0, WAIT)
        .await
        .unwrap_or_else(|| panic!("no BYE\n{}", world.parley.log()));
    assert_eq!(bye.header("Call-ID"), invite.header("Call-ID"));
    assert_eq!(tag_of(&bye.header("To")), "romeo-inv");
    assert_eq!(
        tag_of(&bye.header("From")),
        tag_of(&invite.header("From")),
        "RFC 3261 §12.2.1.1: in the dialog"
    );
    assert_eq!(world.parley.metric("parley_msrp_sessions"), 0.0);
}

/// Under `always`, a phone that answers the INVITE with `policy` gets
/// juliet's message as a SIP MESSAGE (RFC 7572) instead; her next message
/// within `fallback_secs` goes as MESSAGE too, with no second INVITE. A
/// phone that gives no final answer gets the MESSAGE after `answer_secs`
/// (3 s), no sooner, and a CANCEL then if it rang (RFC 3261 §9.1).
async fn refusal_falls_back_to_page_mode(policy: InvitePolicy) {
    let unanswered = matches!(policy, InvitePolicy::Ring | InvitePolicy::Silent);
    let rang = matches!(policy, InvitePolicy::Ring);
    let (world, _msrp, mut juliet, phone) = start(ALWAYS).await;
    phone.on_invite(policy);
    juliet_says(&mut juliet, "p1", "Art thou there?").await;
    let (_, invite, _) = parleys_invite(&world.parley, &phone).await;
    let (_, first) = phone
        .nth_request("MESSAGE", 0, ANSWER_SECS + WAIT)
        .await
        .unwrap_or_else(|| panic!("no MESSAGE after the refusal\n{}", world.parley.log()));
    assert_eq!(first.body(), "Art thou there?");
    assert_eq!(uri_of(&first.header("To")), ROMEO_SIP);
    if unanswered {
        let waited = first.at - invite.at;
        assert!(
            waited >= ANSWER_SECS - Duration::from_millis(100),
            "the MESSAGE came {waited:?} after the INVITE, before answer_secs"
        );
        // RFC 3261 §9.1: "If no provisional response has been received,
        // the CANCEL request MUST NOT be sent".
        if rang {
            let (_, cancel) = phone
                .nth_request("CANCEL", 0, WAIT)
                .await
                .unwrap_or_else(|| panic!("no CANCEL\n{}", world.parley.log()));
            assert_eq!(cancel.header("Call-ID"), invite.header("Call-ID"));
        } else {
            assert!(phone.requests("CANCEL").is_empty(), "CANCEL with no 1xx");
        }
    }
    juliet_says(&mut juliet, "p2", "Then hear me by MESSAGE.").await;
    let (_, second) = phone
        .nth_request("MESSAGE", 1, WAIT)
        .await
        .unwrap_or_else(|| panic!("no second MESSAGE\n{}", world.parley.log()));
    assert_eq!(second.body(), "Then hear me by MESSAGE.");
    assert_eq!(
        phone.requests("INVITE").len(),
        1,
        "fallback_secs: no second INVITE"
    );
    assert_eq!(world.parley.metric("parley_msrp_sessions"), 0.0);
}

/// RFC 3261 §21.4.26: 488 Not Acceptable Here, the phone takes no MSRP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_with_a_phone_that_answers_488_falls_back_to_message() {
    refusal_falls_back_to_page_mode(InvitePolicy::Refuse(488)).await;
}

/// RFC 3261 §21.4.13: 415 Unsupported Media Type (no SDP on that phone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_with_a_phone_that_answers_415_falls_back_to_message() {
    refusal_falls_back_to_page_mode(InvitePolicy::Refuse(415)).await;
}

/// RFC 3261 §21.6.4: 606 Not Acceptable, from anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_with_a_phone_that_answers_606_falls_back_to_message() {
    refusal_falls_back_to_page_mode(InvitePolicy::Refuse(606)).await;
}

/// A phone that rings and is never picked up: after `answer_secs` (3 s)
/// Parley CANCELs (RFC 3261 §9.1; the phone answers 200 and 487, §9.2)
/// and sends the MESSAGE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_with_a_phone_that_only_rings_cancels_and_falls_back() {
    refusal_falls_back_to_page_mode(InvitePolicy::Ring).await;
}

/// A phone that answers nothing at all: after `answer_secs` the message
/// goes as MESSAGE all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_with_a_silent_phone_falls_back_after_answer_secs() {
    refusal_falls_back_to_page_mode(InvitePolicy::Silent).await;
}

/// `start = "auto"` (the default): no INVITE from the XMPP side; juliet's
/// chat message goes as a SIP MESSAGE (RFC 7572), as before sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_sends_message_and_no_invite() {
    let (world, _msrp, mut juliet, phone) = start("start = \"auto\"\n").await;
    phone.on_invite(InvitePolicy::Refuse(488));
    juliet_says(&mut juliet, "u1", "Good night, good night!").await;
    let (_, message) = phone
        .nth_request("MESSAGE", 0, WAIT)
        .await
        .unwrap_or_else(|| panic!("no MESSAGE\n{}", world.parley.log()));
    assert_eq!(message.body(), "Good night, good night!");
    assert!(phone.requests("INVITE").is_empty());
}

/// `fallback_secs` (here 2 s) runs out: the next message to the phone that
/// refused tries a session again, with a new INVITE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_fallback_secs_the_next_message_invites_again() {
    let (world, _msrp, mut juliet, phone) = start(&format!("{ALWAYS}fallback_secs = 2\n")).await;
    phone.on_invite(InvitePolicy::Refuse(488));
    juliet_says(&mut juliet, "b1", "Art thou there?").await;
    parleys_invite(&world.parley, &phone).await;
    phone
        .nth_request("MESSAGE", 0, WAIT)
        .await
        .unwrap_or_else(|| panic!("no MESSAGE\n{}", world.parley.log()));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    juliet_says(&mut juliet, "b2", "Art thou there now?").await;
    let (_, second) = phone
        .nth_request("INVITE", 1, WAIT)
        .await
        .unwrap_or_else(|| panic!("no second INVITE\n{}", world.parley.log()));
    assert_ne!(
        second.header("Call-ID"),
        phone.requests("INVITE")[0].1.header("Call-ID"),
        "a new session, a new Call-ID"
    );
    let (_, message) = phone
        .nth_request("MESSAGE", 1, WAIT)
        .await
        .unwrap_or_else(|| panic!("no second MESSAGE\n{}", world.parley.log()));
    assert_eq!(message.body(), "Art thou there now?");
}

/// Figure 1 through a real ejabberd: juliet's message there starts the
/// session, the phone (answering `passive`) gets it as a SEND, its reply
/// reaches her, and its BYE reaches her as `<gone/>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figure_1_through_ejabberd() {
    let phone = Phone::bind("romeo").await;
    let world = EjabberdWorld::start(ALWAYS, Some(format!("sip:{}", phone.addr)));
    let mut juliet = world.juliet().await;
    let msrp = PhoneMsrp::bind("romeoejabberd1").await;
    let sdp = answer_sdp(&msrp.uri, msrp.port(), "passive");
    phone.on_invite(InvitePolicy::Accept(Arc::new(move |_| sdp.clone())));
    juliet_says(&mut juliet, "e1", "Art thou not Romeo?").await;
    let (_, invite, parley_path) = parleys_invite(&world.parley, &phone).await;
    parleys_ack(&world.parley, &phone, &invite).await;
    let mut peer = MsrpPeer::accept(&msrp.listener, &msrp.uri, &parley_path, WAIT)
        .await
        .unwrap_or_else(|| panic!("Parley never connected\n{}", world.parley.log()));
    assert_eq!(next_text(&mut peer).await, "Art thou not Romeo?");
    phone_reply_reaches_juliet(&mut juliet, &mut peer).await;
    phone_hangs_up(&world.parley, world.sip, &phone, &mut juliet, &invite).await;
}

//! Hostile input on Parley's MSRP port (issue 21), end to end against the
//! real `parley` binary and Prosody: garbage, a SEND for another session's
//! path, a message whose Byte-Range total is 10 MB, and a connection that
//! never sends; each is refused as RFC 4975 / RFC 7573 say, while another
//! open session goes on carrying messages.

#[path = "support/chat.rs"]
mod chat;
#[path = "support/sip_phone.rs"]
mod sip_phone;
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use parley_harness::msrp_peer::MsrpPeer;
use parley_harness::port::free_tcp_port;
use parley_harness::xmpp_client::XmppClient;

use chat::{PhoneSession, WAIT, chat_message, next_frame, phone_says};
use sip_phone::Phone;
use support::{COMPONENT, Options, World, XMPP_DOMAIN, child_text, sessions_toml};

/// Parley with sessions on, juliet at Prosody, and a session romeo's phone
/// opened with her.
async fn start() -> (World, SocketAddr, XmppClient, Phone, PhoneSession) {
    let msrp: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let world = World::start(Options {
        extra: sessions_toml(msrp, ""),
        ..Options::default()
    });
    let juliet = world.client("juliet").await;
    let phone = Phone::bind("romeo").await;
    let session = open(&world, &phone, "hostile-romeo").await;
    (world, msrp, juliet, phone, session)
}

async fn open(world: &World, phone: &Phone, call_id: &str) -> PhoneSession {
    chat::open_from_phone(
        phone,
        world.sip_addr(),
        &format!("juliet@{XMPP_DOMAIN}"),
        call_id,
        "text/plain",
        "a=setup:actpass\r\n",
    )
    .await
}

/// The open session still carries a message from the phone to juliet.
async fn still_carries(s: &mut PhoneSession, juliet: &mut XmppClient, text: &str) {
    // RFC 4975 §9: a Message-ID is an ident, no spaces.
    let id: String = text.chars().filter(char::is_ascii_alphanumeric).collect();
    phone_says(&mut s.peer, &id, "text/plain", text, &[]).await;
    let got = chat_message(juliet).await;
    assert_eq!(child_text(&got, "body").as_deref(), Some(text));
}

/// Bytes that are not MSRP (RFC 4975 §9's start line is `MSRP` SP
/// transact-id SP method/status): the connection is dropped, nothing is
/// answered, and the open session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_msrp_port_is_dropped_and_the_session_goes_on() {
    let (_world, msrp, mut juliet, _phone, mut s) = start().await;
    still_carries(&mut s, &mut juliet, "before the garbage").await;
    let mut intruder = MsrpPeer::connect(msrp, "msrp://127.0.0.1:9/x;tcp", &s.parley_path).await;
    intruder
        .send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff\xfe garbage\r\n\r\n")
        .await;
    assert!(
        intruder.closed_within(WAIT).await,
        "the garbage's connection is closed"
    );
    still_carries(&mut s, &mut juliet, "after the garbage").await;
}

/// A SEND on romeo's connection for mercutio's session, which is bound
/// to mercutio's own connection: RFC 4975 §10.10, "A 506 response
/// indicates that a request arrived on a session that is already bound to
/// another network connection" (the more specific of §7.3's 481 and it).
/// A SEND for a path that names no session: §7.3, the To-Path "MUST map to
/// an existing session ... If this is not true, then the receiver MUST
/// generate a 481 error and ignore the request." Neither reaches juliet,
/// and both sessions go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_for_another_sessions_path_gets_506_and_for_no_session_481() {
    let (world, _msrp, mut juliet, _phone, mut romeo) = start().await;
    let mercutio_phone = Phone::bind("mercutio").await;
    let mut mercutio = open(&world, &mercutio_phone, "hostile-mercutio").await;
    still_carries(&mut mercutio, &mut juliet, "mercutio's first").await;
    still_carries(&mut romeo, &mut juliet, "romeo's first").await;

    let no_session = mercutio
        .parley_path
        .rsplit_once('/')
        .map(|(authority, _)| format!("{authority}/nosuchsession0000;tcp"))
        .expect("a path");
    for (to, expected) in [(&mercutio.parley_path, 506), (&no_session, 481)] {
        let forged = romeo.peer.new_id();
        let send = format!(
            "MSRP {forged} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
             Message-ID: forged{expected}\r\nByte-Range: 1-6/6\r\nContent-Type: text/plain\r\n\r\n\
             forged\r\n-------{forged}$\r\n",
            from = romeo.msrp.uri,
        );
        romeo.peer.send_raw(send.as_bytes()).await;
        let answer = next_frame(&mut romeo.peer).await;
        assert_eq!(
            (answer.transaction_id.as_str(), answer.status),
            (forged.as_str(), Some(expected)),
            "To-Path {to}: {answer:?}"
        );
    }
    let leaked = juliet
        .recv_matching(Duration::from_secs(1), |e| {
            child_text(e, "body").as_deref() == Some("forged")
        })
        .await;
    assert!(leaked.is_none(), "a forged SEND reached juliet: {leaked:?}");
    still_carries(&mut mercutio, &mut juliet, "mercutio's second").await;
    still_carries(&mut romeo, &mut juliet, "romeo's second").await;
}

/// RFC 7573 §8: a gateway receiving a message over its limit "MUST return
/// an MSRP 413 error (e.g., in response to the first SEND request whose
/// Byte-Range header field indicates a byte total exceeding the limit)".
/// A first chunk announcing 10 MB gets 413 (RFC 4975 §10.5), and the
/// session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mb_byte_range_total_gets_413_at_the_first_chunk() {
    let (world, _msrp, mut juliet, _phone, mut s) = start().await;
    let total = 10 * 1024 * 1024;
    let tid = s
        .peer
        .send_chunk(
            "huge1",
            "text/plain",
            b"The first of ten megabytes",
            &format!("1-26/{total}"),
            '+',
            &[],
        )
        .await;
    let answer = next_frame(&mut s.peer).await;
    assert_eq!(
        (answer.transaction_id.as_str(), answer.status),
        (tid.as_str(), Some(413)),
        "{answer:?}"
    );
    still_carries(&mut s, &mut juliet, "small again").await;
    assert_eq!(world.parley.metric("parley_msrp_sessions"), 1.0);
}

/// A TCP connection to the MSRP port that never sends is closed by the
/// endpoint's first-frame timeout (10 s: RFC 4975 §5.4 binds a connection
/// to a session by its first request, so one without any holds nothing),
/// while the open session goes on meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_sends_is_closed_by_the_first_frame_timeout() {
    let (_world, msrp, mut juliet, _phone, mut s) = start().await;
    let opened = tokio::time::Instant::now();
    let mut silent = MsrpPeer::connect(msrp, "msrp://127.0.0.1:9/silent;tcp", "").await;
    still_carries(&mut s, &mut juliet, "while one says nothing").await;
    assert!(
        silent.closed_within(Duration::from_secs(20)).await,
        "the silent connection is never closed"
    );
    let after = opened.elapsed();
    assert!(
        after >= Duration::from_secs(9),
        "closed after {after:?}, before the timeout"
    );
    still_carries(&mut s, &mut juliet, "after it was closed").await;
}

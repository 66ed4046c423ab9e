//! RFC 7573 §5, Figure 2, end to end: a SIP phone (a UDP socket read with
//! Parley's own SIP parser) opens an MSRP chat session with an XMPP user
//! on a real Prosody through the real `parley` binary; the phone's MSRP
//! end is the harness's independent peer (`parley_harness::msrp_peer`).
//! Messages both ways, chunked and CPIM-wrapped, receipts (§7), chat
//! states (§6, Tables 3 and 4), `gone` and BYE (§6.1), and the XMPP user
//! going away.

#[path = "support/chat.rs"]
mod chat;
#[path = "support/sip_phone.rs"]
mod sip_phone;
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use parley_harness::port::free_tcp_port;
use parley_harness::xmpp_client::XmppClient;
use tokio_xmpp::minidom::Element;

use chat::{
    PhoneSession, WAIT, attr, chat_message, chat_state, m_line, next_frame, next_request,
    phone_says,
};
use sip_phone::{Phone, status};
use support::{COMPONENT, Options, World, XMPP_DOMAIN, child_text, sessions_toml};

/// Parley with `[sessions]` on (and `extra` lines in it), juliet logged in
/// at Prosody, and romeo's phone.
async fn start(extra: &str) -> (World, SocketAddr, XmppClient, Phone) {
    let msrp: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let world = World::start(Options {
        extra: sessions_toml(msrp, extra),
        ..Options::default()
    });
    let juliet = world.client("juliet").await;
    let phone = Phone::bind("romeo").await;
    (world, msrp, juliet, phone)
}

/// romeo's phone opens a session with juliet, offering `accept_types`.
async fn romeo_calls(
    world: &World,
    phone: &Phone,
    call_id: &str,
    accept_types: &str,
) -> PhoneSession {
    chat::open_from_phone(
        phone,
        world.sip_addr(),
        &format!("juliet@{XMPP_DOMAIN}"),
        call_id,
        accept_types,
        "a=setup:actpass\r\n",
    )
    .await
}

/// The session's MSRP URI is gone with it: a SEND to it gets 481 (RFC
/// 4975 §7.3: the To-Path "MUST map to an existing session"; §10.8). The
/// connection may stay open (§4: nodes "can ... close these connections
/// when no sessions have used them for some period of time").
async fn session_is_gone(s: &mut PhoneSession) {
    let tid = s.peer.send("late1", "text/plain", b"anyone?", &[]).await;
    let answer = next_frame(&mut s.peer).await;
    assert_eq!((answer.transaction_id, answer.status), (tid, Some(481)));
}

fn thread(message: &Element) -> Option<String> {
    child_text(message, "thread")
}

/// Figure 2 end to end: F17–F22 (INVITE with an offer, 200 with an answer
/// whose `a=path` is Parley's MSRP listener and whose `a=setup` is
/// `passive`, as RFC 6135 §4.2.2 says an answerer "SHOULD include" to an
/// `actpass` offer; `a=max-size`, RFC 7573 §8; ACK), F23–F25 (SEND →
/// `<message type='chat'>` with the Call-ID as `<thread/>`, Example 14),
/// F26–F28 (reply → SEND with `Failure-Report: no`, §7), F29–F32 (BYE →
/// 200 and `gone`, §6.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figure_2_phone_opens_session_messages_go_both_ways_and_bye_ends_it() {
    let (world, msrp, mut juliet, phone) = start("").await;
    let mut s = romeo_calls(&world, &phone, "fig2-call-1", "text/plain").await;
    assert_eq!(
        s.call.answer.header("Content-Type"),
        "application/sdp",
        "{:?}",
        s.call.answer
    );
    assert_eq!(
        m_line(&s.answer_sdp),
        format!("m=message {} TCP/MSRP *", msrp.port()),
        "{}",
        s.answer_sdp
    );
    assert!(
        s.parley_path
            .starts_with(&format!("msrp://127.0.0.1:{}/", msrp.port()))
            && s.parley_path.ends_with(";tcp"),
        "{}",
        s.answer_sdp
    );
    assert_eq!(attr(&s.answer_sdp, "max-size").as_deref(), Some("65536"));
    assert_eq!(
        attr(&s.answer_sdp, "accept-types").as_deref(),
        Some("text/plain")
    );
    assert_eq!(attr(&s.answer_sdp, "setup").as_deref(), Some("passive"));

    // F23–F25.
    phone_says(
        &mut s.peer,
        "m1",
        "text/plain",
        "Art thou not Romeo, and a Montague?",
        &[],
    )
    .await;
    let got = chat_message(&mut juliet).await;
    assert_eq!(got.attr("type"), Some("chat"));
    assert_eq!(got.attr("from"), Some(&*format!("romeo@{COMPONENT}")));
    assert_eq!(
        child_text(&got, "body").as_deref(),
        Some("Art thou not Romeo, and a Montague?")
    );
    assert_eq!(thread(&got).as_deref(), Some("fig2-call-1"));

    // F26–F28.
    juliet
        .send_xml(&format!(
            "<message to='romeo@{COMPONENT}' type='chat' id='j1'>\
             <body>Neither, fair saint, if either thee dislike.</body>\
             <thread>fig2-call-1</thread></message>"
        ))
        .await;
    let send = next_request(&mut s.peer).await;
    assert_eq!(send.method.as_deref(), Some("SEND"));
    assert_eq!(send.text(), "Neither, fair saint, if either thee dislike.");
    assert_eq!(send.header("To-Path"), Some(s.msrp.uri.as_str()));
    assert_eq!(send.header("From-Path"), Some(s.parley_path.as_str()));
    assert_eq!(send.header("Failure-Report"), Some("no"));
    s.peer.respond(&send, 200, "OK").await;

    // F29–F32.
    let ok = phone
        .in_dialog(&mut s.dialog, "BYE", WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status(&ok), 200, "{ok:?}");
    let gone = chat_state(&mut juliet, "gone").await;
    assert_eq!(thread(&gone).as_deref(), Some("fig2-call-1"));
    session_is_gone(&mut s).await;
    assert_eq!(world.parley.metric("parley_msrp_sessions"), 0.0);
}

/// RFC 7573 §5: the mapping "MUST be as specified in [RFC7572]", which
/// unwraps `message/cpim` (RFC 3862) to the text inside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpim_wrapped_send_arrives_as_its_inner_text() {
    let (world, _msrp, mut juliet, phone) = start("").await;
    let mut s = chat::open_from_phone(
        &phone,
        world.sip_addr(),
        &format!("juliet@{XMPP_DOMAIN}"),
        "cpim-call-1",
        "message/cpim text/plain",
        "a=accept-wrapped-types:text/plain\r\na=setup:actpass\r\n",
    )
    .await;
    let cpim = format!(
        "From: <sip:romeo@{COMPONENT}>\r\nTo: <sip:juliet@{XMPP_DOMAIN}>\r\n\
         DateTime: 2026-12-05T23:00:00Z\r\n\r\n\
         Content-Type: text/plain\r\n\r\nWherefore art thou Romeo?"
    );
    phone_says(&mut s.peer, "cpim1", "message/cpim", &cpim, &[]).await;
    let got = chat_message(&mut juliet).await;
    assert_eq!(
        child_text(&got, "body").as_deref(),
        Some("Wherefore art thou Romeo?")
    );
    assert_eq!(thread(&got).as_deref(), Some("cpim-call-1"));
}

/// RFC 4975 §5.1: a message in three chunks (Byte-Range, `+`, `+`, `$`),
/// each answered 200 (§7.2), reaches the XMPP user once and whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_in_three_chunks_arrives_whole_and_once() {
    let (world, _msrp, mut juliet, phone) = start("").await;
    let mut s = romeo_calls(&world, &phone, "chunk-call-1", "text/plain").await;
    let parts = [
        "Two households, ",
        "both alike in dignity, ",
        "in fair Verona",
    ];
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut start = 1;
    for (i, part) in parts.iter().enumerate() {
        let end = start + part.len() - 1;
        let flag = if i + 1 == parts.len() { '$' } else { '+' };
        let tid = s
            .peer
            .send_chunk(
                "chunked1",
                "text/plain",
                part.as_bytes(),
                &format!("{start}-{end}/{total}"),
                flag,
                &[],
            )
            .await;
        let answer = next_frame(&mut s.peer).await;
        assert_eq!((answer.transaction_id, answer.status), (tid, Some(200)));
        start = end + 1;
    }
    let got = chat_message(&mut juliet).await;
    assert_eq!(child_text(&got, "body"), Some(parts.concat()));
    let again = juliet
        .recv_matching(Duration::from_secs(1), |e| {
            e.get_child("body", "jabber:client").is_some()
        })
        .await;
    assert!(again.is_none(), "delivered twice: {again:?}");
}

/// RFC 7573 §7: `Success-Report: yes` on the phone's SEND becomes
/// `<request xmlns='urn:xmpp:receipts'/>`, and her `<received/>` the
/// REPORT (Example 25); the XMPP user's `<request/>`
/// becomes `Success-Report: yes`, and the phone's REPORT on it (Example
/// 25) becomes `<received/>` with her message's id (Example 26).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_reports_and_receipts_map_both_ways() {
    let (world, _msrp, mut juliet, phone) = start("").await;
    let mut s = romeo_calls(&world, &phone, "receipt-call-1", "text/plain").await;
    phone_says(
        &mut s.peer,
        "r1",
        "text/plain",
        "Wilt thou be gone?",
        &["Success-Report: yes"],
    )
    .await;
    let got = chat_message(&mut juliet).await;
    assert!(
        got.has_child("request", "urn:xmpp:receipts"),
        "{}",
        String::from(&got)
    );
    // §7, Example 25: the REPORT says her client got it, so it goes when her
    // `<received/>` comes, not on arrival.
    assert!(
        s.peer
            .next_frame(Duration::from_millis(500))
            .await
            .is_none(),
        "no REPORT before the receipt"
    );
    let id = got.attr("id").expect("Parley's stanza has an id");
    juliet
        .send_xml(&format!(
            "<message to='romeo@{COMPONENT}'><received xmlns='urn:xmpp:receipts' id='{id}'/></message>"
        ))
        .await;
    let report = next_request(&mut s.peer).await;
    assert_eq!(report.method.as_deref(), Some("REPORT"), "{report:?}");
    assert_eq!(report.header("Message-ID"), Some("r1"));
    assert_eq!(report.header("Byte-Range"), Some("1-18/18"));
    assert_eq!(
        report
            .header("Status")
            .map(|s| s.split(' ').take(2).collect::<Vec<_>>()),
        Some(vec!["000", "200"])
    );

    juliet
        .send_xml(&format!(
            "<message to='romeo@{COMPONENT}' type='chat' id='j2'>\
             <body>It is not yet near day.</body><thread>receipt-call-1</thread>\
             <request xmlns='urn:xmpp:receipts'/></message>"
        ))
        .await;
    let send = loop {
        let frame = next_request(&mut s.peer).await;
        if frame.method.as_deref() == Some("SEND") {
            break frame;
        }
    };
    assert_eq!(send.header("Success-Report"), Some("yes"));
    s.peer.respond(&send, 200, "OK").await;
    let message_id = send.header("Message-ID").expect("a Message-ID").to_owned();
    let len = send.body.len();
    let tid = s.peer.new_id();
    let report = format!(
        "MSRP {tid} REPORT\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
         Message-ID: {message_id}\r\nByte-Range: 1-{len}/{len}\r\nStatus: 000 200 OK\r\n\
         -------{tid}$\r\n",
        to = s.parley_path,
        from = s.msrp.uri,
    );
    s.peer.send_raw(report.as_bytes()).await;
    let receipt = chat::message_where(&mut juliet, "a receipt", |e| {
        e.has_child("received", "urn:xmpp:receipts")
    })
    .await;
    let received = receipt
        .get_child("received", "urn:xmpp:receipts")
        .expect("received");
    assert_eq!(
        received.attr("id"),
        Some("j2"),
        "{}",
        String::from(&receipt)
    );
}

/// RFC 7573 §6, Table 3: isComposing `active` → `<composing/>`, `idle` →
/// `<active/>`; Table 4: `<composing/>` → `active`, `<paused/>` → `idle`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iscomposing_maps_to_chat_states_both_ways() {
    let (world, _msrp, mut juliet, phone) = start("").await;
    let mut s = romeo_calls(
        &world,
        &phone,
        "composing-call-1",
        "text/plain application/im-iscomposing+xml",
    )
    .await;
    let document = |state: &str| {
        format!(
            "<?xml version='1.0' encoding='UTF-8'?>\
             <isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'>\
             <state>{state}</state><contenttype>text/plain</contenttype></isComposing>"
        )
    };
    for (i, (state, chat_state)) in [("active", "composing"), ("idle", "active")]
        .into_iter()
        .enumerate()
    {
        phone_says(
            &mut s.peer,
            &format!("c{i}"),
            "application/im-iscomposing+xml",
            &document(state),
            &[],
        )
        .await;
        let got = chat::chat_state(&mut juliet, chat_state).await;
        assert!(
            got.get_child("body", "jabber:client").is_none(),
            "{}",
            String::from(&got)
        );
    }
    for (chat_state, state) in [("composing", "active"), ("paused", "idle")] {
        juliet
            .send_xml(&format!(
                "<message to='romeo@{COMPONENT}' type='chat'><thread>composing-call-1</thread>\
                 <{chat_state} xmlns='http://jabber.org/protocol/chatstates'/></message>"
            ))
            .await;
        let send = next_request(&mut s.peer).await;
        assert_eq!(
            send.header("Content-Type"),
            Some("application/im-iscomposing+xml"),
            "{send:?}"
        );
        assert!(
            send.text().contains(&format!("<state>{state}</state>")),
            "{chat_state}: {}",
            send.text()
        );
        s.peer.respond(&send, 200, "OK").await;
    }
}

/// RFC 7573 §6.1: the XMPP user's `<gone/>` ends the session: BYE to the
/// phone in the dialog (RFC 3261 §15.1.1), and the MSRP connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmpp_gone_sends_bye_to_the_phone() {
    let (world, _msrp, mut juliet, phone) = start("").await;
    let mut s = romeo_calls(&world, &phone, "gone-call-1", "text/plain").await;
    phone_says(
        &mut s.peer,
        "g1",
        "text/plain",
        "Good night, good night!",
        &[],
    )
    .await;
    chat_message(&mut juliet).await;
    juliet
        .send_xml(&format!(
            "<message to='romeo@{COMPONENT}' type='chat'><thread>gone-call-1</thread>\
             <gone xmlns='http://jabber.org/protocol/chatstates'/></message>"
        ))
        .await;
    let (bye, received) = phone
        .nth_request("BYE", 0, WAIT)
        .await
        .unwrap_or_else(|| panic!("no BYE\n{}", world.parley.log()));
    assert_eq!(received.header("Call-ID"), "gone-call-1");
    assert_eq!(
        sip_phone::tag_of(&received.header("To")),
        s.dialog.local_tag,
        "in the dialog: the phone's tag"
    );
    assert_eq!(bye.method, "BYE");
    session_is_gone(&mut s).await;
    assert_eq!(world.parley.metric("parley_msrp_sessions"), 0.0);
}

/// The XMPP user logs out with a session open. RFC 7573 does not say what
/// a gateway does then (Parley does not watch her presence); it must stay
/// sane: the phone's next SEND is still answered 200 and Prosody keeps
/// the message for her (she gets it when she is back), and the session
/// still ends by `sessions.idle_secs` (here 5 s, room for the logout): BYE
/// to the phone, after which the phone's own BYE gets 481 (RFC 3261
/// §15.1.2) and no session is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_xmpp_user_going_away_leaves_a_session_that_ends_when_idle() {
    let (world, _msrp, mut juliet, phone) = start("idle_secs = 5\n").await;
    let mut s = romeo_calls(&world, &phone, "away-call-1", "text/plain").await;
    phone_says(&mut s.peer, "a1", "text/plain", "Art thou there?", &[]).await;
    chat_message(&mut juliet).await;
    juliet.disconnect().await;
    phone_says(&mut s.peer, "a2", "text/plain", "Juliet?", &[]).await;
    let (_, bye) = phone
        .nth_request("BYE", 0, Duration::from_secs(5) + WAIT)
        .await
        .unwrap_or_else(|| panic!("no BYE by idle_secs\n{}", world.parley.log()));
    assert_eq!(bye.header("Call-ID"), "away-call-1");
    let ours = phone
        .in_dialog(&mut s.dialog, "BYE", WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status(&ours), 481, "{ours:?}\n{}", world.parley.log());
    assert_eq!(world.parley.metric("parley_msrp_sessions"), 0.0);
    session_is_gone(&mut s).await;
    let mut back = world.client("juliet").await;
    let kept = chat_message(&mut back).await;
    assert_eq!(child_text(&kept, "body").as_deref(), Some("Juliet?"));
}

/// The SIP user goes away: his MSRP connection drops. RFC 4975 §5.4: "If
/// a connection fails for any reason, then an MSRP endpoint MUST consider
/// any sessions associated with the connection as also having failed."
/// Parley ends the session on both sides: BYE to the phone in the dialog,
/// `<gone/>` to juliet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phones_connection_dropping_ends_the_session_on_both_sides() {
    let (world, _msrp, mut juliet, phone) = start("").await;
    let mut s = romeo_calls(&world, &phone, "drop-call-1", "text/plain").await;
    phone_says(&mut s.peer, "d1", "text/plain", "Farewell!", &[]).await;
    chat_message(&mut juliet).await;
    drop(s.peer);
    let (_, bye) = phone
        .nth_request("BYE", 0, WAIT)
        .await
        .unwrap_or_else(|| panic!("no BYE\n{}", world.parley.log()));
    assert_eq!(bye.header("Call-ID"), "drop-call-1");
    assert_eq!(sip_phone::tag_of(&bye.header("To")), s.dialog.local_tag);
    let gone = chat_state(&mut juliet, "gone").await;
    assert_eq!(thread(&gone).as_deref(), Some("drop-call-1"));
    assert_eq!(world.parley.metric("parley_msrp_sessions"), 0.0);
}

/// Two phones each open a session with juliet (mercutio's offer has no
/// `a=setup`, so RFC 4975 §5.4 alone decides: the offerer connects); each
/// of her replies (one with no `<thread/>`, as many clients send) goes in
/// the session with its addressee, on that phone's connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_each_reply_reaches_its_own_phone() {
    let (world, _msrp, mut juliet, romeo_phone) = start("").await;
    let mercutio_phone = Phone::bind("mercutio").await;
    let mut romeo = romeo_calls(&world, &romeo_phone, "pair-romeo", "text/plain").await;
    let mut mercutio = chat::open_from_phone(
        &mercutio_phone,
        world.sip_addr(),
        &format!("juliet@{XMPP_DOMAIN}"),
        "pair-mercutio",
        "text/plain",
        "",
    )
    .await;
    phone_says(&mut romeo.peer, "p1", "text/plain", "From Romeo", &[]).await;
    phone_says(&mut mercutio.peer, "p2", "text/plain", "From Mercutio", &[]).await;
    for _ in 0..2 {
        chat_message(&mut juliet).await;
    }
    for (to, text, thread) in [
        ("mercutio", "To Mercutio", ""),
        ("romeo", "To Romeo", "<thread>pair-romeo</thread>"),
    ] {
        juliet
            .send_xml(&format!(
                "<message to='{to}@{COMPONENT}' type='chat'><body>{text}</body>{thread}</message>"
            ))
            .await;
    }
    let to_mercutio = next_request(&mut mercutio.peer).await;
    assert_eq!(to_mercutio.text(), "To Mercutio");
    mercutio.peer.respond(&to_mercutio, 200, "OK").await;
    let to_romeo = next_request(&mut romeo.peer).await;
    assert_eq!(to_romeo.text(), "To Romeo");
    romeo.peer.respond(&to_romeo, 200, "OK").await;
    assert_eq!(world.parley.metric("parley_msrp_sessions"), 2.0);
}

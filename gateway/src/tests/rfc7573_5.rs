//! RFC 7573 §5, Figure 2: a SIP user opens an MSRP chat session with an
//! XMPP user. Literal SIP in over loopback UDP, literal XML out, and a real
//! MSRP TCP connection from the harness's independent peer
//! (`parley_harness::msrp_peer`) to the endpoint Parley bound.

use std::time::Duration;

use parley_harness::msrp_peer::{MsrpFrame, MsrpPeer};
use parley_sip::wire::{Message as SipWire, StartLine};

use super::world::{WAIT, World, shape};

/// `[sessions]` on, MSRP on a free loopback port.
const SESSIONS: &str = "[sessions]\nenabled = true\nmsrp_listen = \"127.0.0.1:0\"\n";

/// The phone's MSRP URI (F17's `a=path`, on loopback).
const PHONE_PATH: &str = "msrp://127.0.0.1:7313/ansp71weztas;tcp";

/// The Call-ID of the session, the `<thread/>` of its stanzas (Example 14).
const CALL_ID: &str = "711609sa";

/// RFC 7573 F17: Romeo's INVITE with an MSRP offer (text/plain), the SDP
/// on loopback; `sdp` is the body.
fn invite(call_id: &str, sdp: &str) -> String {
    format!(
        "INVITE sip:juliet@xmpp.example SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKinv{call_id}\n\
         Max-Forwards: 70\n\
         To: <sip:juliet@xmpp.example>\n\
         From: <sip:romeo@sip.example.net>;tag=786\n\
         Call-ID: {call_id}\n\
         CSeq: 1 INVITE\n\
         Contact: <sip:romeo@{{peer}}>\n\
         Content-Type: application/sdp\n\
         Content-Length: {len}\n\
         \n\
         {sdp}",
        len = sdp.len(),
    )
}

/// F17's SDP offer, on loopback.
fn offer() -> String {
    format!(
        "v=0\r\no=romeo 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 7313 TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:{PHONE_PATH}\r\n"
    )
}

/// An in-dialog request of the phone (`method`, CSeq `cseq`) in the
/// session the 200 `ok` created.
fn in_dialog(ok: &SipWire, method: &str, cseq: u32) -> String {
    let to = ok.header("To").expect("the 200 has a To");
    format!(
        "{method} sip:juliet@xmpp.example SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bK{method}{cseq}\n\
         Max-Forwards: 70\n\
         To: {to}\n\
         From: <sip:romeo@sip.example.net>;tag=786\n\
         Call-ID: {call_id}\n\
         CSeq: {cseq} {method}\n\
         Content-Length: 0\n\n",
        call_id = ok.header("Call-ID").expect("a Call-ID"),
    )
}

/// The next SIP message that is neither a 100 Trying (RFC 3261 §17.2.1)
/// nor a retransmitted 200 to the INVITE (§13.3.1.4: sent until the ACK).
async fn next_sip(world: &World) -> SipWire {
    loop {
        let m = world.sip_out().await;
        let skipped = match m.start {
            StartLine::Response { status: 100, .. } => true,
            StartLine::Response { status: 200, .. } => {
                m.header("CSeq").is_some_and(|c| c.ends_with("INVITE"))
            }
            _ => false,
        };
        if !skipped {
            return m;
        }
    }
}

/// The INVITE's final response (its 100 Trying skipped).
async fn invite_answer(world: &World) -> SipWire {
    loop {
        let m = world.sip_out().await;
        if !matches!(m.start, StartLine::Response { status: 100, .. }) {
            return m;
        }
    }
}

/// An open session: the world, the 200 to the INVITE, the phone's MSRP
/// connection (which has sent a first SEND, as RFC 4975 §5.4 asks of the
/// active side) and the stanza that SEND became.
struct Open {
    world: World,
    ok: SipWire,
    phone: MsrpPeer,
}

/// F17–F22, then the phone connects: INVITE → 200 with the SDP answer →
/// ACK → MSRP connection.
async fn open(sessions: &str) -> Open {
    let mut world = World::with("", sessions).await;
    world.sip_in(&invite(CALL_ID, &offer())).await;
    let ok = invite_answer(&world).await;
    world.sip_send(&in_dialog(&ok, "ACK", 1)).await;
    let sdp = String::from_utf8(ok.body.to_vec()).expect("SDP is text");
    let path = sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=path:"))
        .expect("the answer has a=path")
        .to_owned();
    let phone = MsrpPeer::connect(world.msrp_addr(), PHONE_PATH, &path).await;
    Open { world, ok, phone }
}

/// The phone's SEND of `body` and Parley's 200 to it (RFC 4975 §7.2).
async fn phone_says(phone: &mut MsrpPeer, message_id: &str, body: &str, extra: &[&str]) {
    let tid = phone
        .send(message_id, "text/plain", body.as_bytes(), extra)
        .await;
    let answer = next_frame(phone).await;
    assert_eq!(
        (answer.transaction_id.as_str(), answer.status),
        (tid.as_str(), Some(200))
    );
}

async fn next_frame(phone: &mut MsrpPeer) -> MsrpFrame {
    phone.next_frame(WAIT).await.expect("an MSRP frame in time")
}

/// Figure 2 end to end: F17–F22 (INVITE, 200 with SDP whose `a=path` is
/// the bound endpoint), F23–F25 (SEND → Example 14's stanza), F26–F28
/// (XMPP reply → SEND with the text, `Failure-Report: no` per §7), F29–F32
/// (BYE → 200 and `gone`, §6.1 Example 22).
#[tokio::test]
async fn figure_2_invite_send_reply_and_bye() {
    let Open {
        mut world,
        ok,
        mut phone,
    } = open(SESSIONS).await;
    assert_eq!(
        shape(
            &ok,
            &["From", "To", "Call-ID", "CSeq", "Content-Type"],
            false
        ),
        "SIP/2.0 200 OK\n\
         From: <sip:romeo@sip.example.net>;tag=*\n\
         To: <sip:juliet@xmpp.example>;tag=*\n\
         Call-ID: 711609sa\n\
         CSeq: 1 INVITE\n\
         Content-Type: application/sdp\n"
    );
    assert!(
        ok.header("Contact").is_some(),
        "RFC 3261 §12.1.1: a Contact"
    );
    let sdp = String::from_utf8(ok.body.to_vec()).expect("SDP is text");
    let port = world.msrp_addr().port();
    let sdp_tail = sdp.split_once("m=").expect("an m-line").1;
    let path = sdp_tail
        .lines()
        .find_map(|l| l.strip_prefix("a=path:"))
        .expect("a=path");
    assert!(
        path.starts_with(&format!("msrp://127.0.0.1:{port}/")) && path.ends_with(";tcp"),
        "{sdp}"
    );
    assert_eq!(
        sdp_tail.replace(path, "PATH"),
        format!(
            "message {port} TCP/MSRP *\r\n\
             a=accept-types:text/plain\r\n\
             a=max-size:65536\r\n\
             a=path:PATH\r\n\
             a=setup:passive\r\n"
        )
    );

    // F23–F25.
    phone_says(
        &mut phone,
        "msg1",
        "Art thou not Romeo, and a Montague?",
        &[],
    )
    .await;
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example' id='parley-1' type='chat'>\
         <body>Art thou not Romeo, and a Montague?</body><thread>711609sa</thread></message>"
    );

    // F26–F28.
    world.stanza_in(
        "<message from='juliet@xmpp.example/balcony' to='romeo@sip.example.net' type='chat' id='j1'>\
         <body>Neither, fair saint, if either thee dislike.</body><thread>711609sa</thread></message>",
    );
    let send = next_frame(&mut phone).await;
    assert_eq!(send.method.as_deref(), Some("SEND"));
    assert_eq!(send.text(), "Neither, fair saint, if either thee dislike.");
    assert_eq!(send.header("To-Path"), Some(PHONE_PATH));
    assert_eq!(send.header("Failure-Report"), Some("no"));
    assert_eq!(
        send.header("Content-Type"),
        Some("text/plain;charset=UTF-8")
    );
    world.no_stanza_out(Duration::from_millis(50)).await;

    // F29–F32.
    world.sip_in(&in_dialog(&ok, "BYE", 2)).await;
    let bye_ok = next_sip(&world).await;
    assert_eq!(
        shape(&bye_ok, &["CSeq"], false),
        "SIP/2.0 200 OK\nCSeq: 2 BYE\n"
    );
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example' id='parley-2' type='chat'>\
         <thread>711609sa</thread><gone xmlns='http://jabber.org/protocol/chatstates'/></message>"
    );
    assert_eq!(world.metric("parley_msrp_sessions"), Some(0.0));
    assert_eq!(
        world.metric(r#"parley_msrp_messages_total{direction="sip_to_xmpp"}"#),
        Some(1.0)
    );

    // The session is gone: a second BYE gets 481 (RFC 3261 §15.1.2), and
    // an XMPP message goes by page mode again.
    world.sip_in(&in_dialog(&ok, "BYE", 3)).await;
    assert_eq!(
        shape(&next_sip(&world).await, &["CSeq"], false),
        "SIP/2.0 481 Call/Transaction Does Not Exist\nCSeq: 3 BYE\n"
    );
}

/// RFC 4975 §8.6, RFC 3261 §20.43: an offer with audio only gets 488 with
/// a Warning saying why, and nothing is left open.
#[tokio::test]
async fn audio_only_offer_gets_488_with_warning() {
    let mut world = World::with("", SESSIONS).await;
    let sdp = "v=0\r\no=romeo 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 49170 RTP/AVP 0\r\n";
    world.sip_in(&invite("audio1", sdp)).await;
    let refused = invite_answer(&world).await;
    assert_eq!(
        shape(&refused, &["CSeq", "Warning"], false),
        "SIP/2.0 488 Not Acceptable Here\n\
         CSeq: 1 INVITE\n\
         Warning: 304 sip.example.net \"Media type not available\"\n"
    );
    assert_eq!(world.metric("parley_msrp_sessions"), Some(0.0));
    assert_eq!(
        world.metric(r#"parley_msrp_session_refusals_total{reason="not_acceptable"}"#),
        Some(1.0)
    );
}

/// RFC 7573 §7: `Success-Report: yes` ↔ `<request/>`; the XMPP user's
/// `<received/>` → the REPORT (Example 25, sent then and not on arrival);
/// and the phone's REPORT on Parley's SEND → `<received/>` (Example 26).
#[tokio::test]
async fn success_reports_map_to_receipts_both_ways() {
    let Open {
        mut world,
        mut phone,
        ..
    } = open(SESSIONS).await;
    phone_says(
        &mut phone,
        "msg1",
        "Wilt thou be gone?",
        &["Success-Report: yes"],
    )
    .await;
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example' id='parley-1' type='chat'>\
         <body>Wilt thou be gone?</body><thread>711609sa</thread>\
         <request xmlns='urn:xmpp:receipts'/></message>"
    );
    // §7: the REPORT says Juliet's client got it, so it waits for her
    // `<received/>` (nothing comes on arrival).
    assert!(
        phone.next_frame(Duration::from_millis(300)).await.is_none(),
        "no REPORT before the receipt"
    );
    world.stanza_in(
        "<message from='juliet@xmpp.example/balcony' to='romeo@sip.example.net'>\
         <received xmlns='urn:xmpp:receipts' id='parley-1'/></message>",
    );
    let report = next_frame(&mut phone).await;
    assert_eq!(report.method.as_deref(), Some("REPORT"));
    assert_eq!(report.header("Message-ID"), Some("msg1"));
    assert_eq!(report.header("Status"), Some("000 200 OK"));
    assert_eq!(report.header("Byte-Range"), Some("1-18/18"));

    world.stanza_in(
        "<message from='juliet@xmpp.example/balcony' to='romeo@sip.example.net' type='chat' id='j2'>\
         <body>It is not yet near day.</body><request xmlns='urn:xmpp:receipts'/></message>",
    );
    let send = loop {
        let frame = next_frame(&mut phone).await;
        if frame.method.as_deref() == Some("SEND") {
            break frame;
        }
    };
    assert_eq!(send.header("Success-Report"), Some("yes"));
    let message_id = send.header("Message-ID").expect("a Message-ID").to_owned();
    let len = send.body.len();
    let tid = phone.new_id();
    let report = format!(
        "MSRP {tid} REPORT\r\nTo-Path: {to}\r\nFrom-Path: {PHONE_PATH}\r\n\
         Message-ID: {message_id}\r\nByte-Range: 1-{len}/{len}\r\nStatus: 000 200 OK\r\n\
         -------{tid}$\r\n",
        to = phone.to_path,
    );
    phone.send_raw(report.as_bytes()).await;
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example/balcony'>\
         <received xmlns='urn:xmpp:receipts' id='j2'/></message>"
    );
    for (series, want) in [
        (r#"parley_msrp_reports_total{direction="xmpp_to_sip"}"#, 1.0),
        (r#"parley_msrp_reports_total{direction="sip_to_xmpp"}"#, 1.0),
        // "Wilt thou be gone?" and "It is not yet near day."
        (r#"parley_msrp_bytes_total{direction="sip_to_xmpp"}"#, 18.0),
        (r#"parley_msrp_bytes_total{direction="xmpp_to_sip"}"#, 23.0),
    ] {
        assert_eq!(world.metric(series), Some(want), "{series}");
    }
}

/// RFC 7573 §8: a message over `sessions.max_message_bytes` gets 413, and
/// the session goes on.
#[tokio::test]
async fn a_message_over_the_limit_gets_413_and_the_session_goes_on() {
    let Open {
        mut world,
        mut phone,
        ..
    } = open(&format!("{SESSIONS}max_message_bytes = 100\n")).await;
    let tid = phone.send("big1", "text/plain", &[b'a'; 200], &[]).await;
    let answer = next_frame(&mut phone).await;
    assert_eq!(
        (answer.transaction_id.as_str(), answer.status),
        (tid.as_str(), Some(413))
    );
    world.no_stanza_out(Duration::from_millis(50)).await;
    phone_says(&mut phone, "small1", "short", &[]).await;
    assert!(world.stanza_out().await.contains("<body>short</body>"));
}

/// Issue 21, hostile input: garbage on the MSRP port does not disturb an
/// open session.
#[tokio::test]
async fn garbage_on_the_msrp_port_leaves_the_session_alone() {
    let Open {
        mut world,
        mut phone,
        ..
    } = open(SESSIONS).await;
    let mut intruder = MsrpPeer::connect(world.msrp_addr(), PHONE_PATH, PHONE_PATH).await;
    intruder
        .send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff garbage\r\n")
        .await;
    assert!(
        intruder.closed_within(WAIT).await,
        "the garbage's connection is closed"
    );
    phone_says(&mut phone, "msg1", "still here", &[]).await;
    assert!(world.stanza_out().await.contains("<body>still here</body>"));
}

/// `sessions.idle_secs`: a session with no message either way for that
/// long gets BYE and `gone`.
#[tokio::test]
async fn an_idle_session_gets_bye_and_gone() {
    let Open {
        mut world,
        ok: _,
        phone: _phone,
    } = open(&format!("{SESSIONS}idle_secs = 1\n")).await;
    world.reap_after(Duration::from_millis(500));
    world.no_stanza_out(Duration::from_millis(20)).await;
    world.reap_after(Duration::from_millis(1100));
    let bye = next_sip(&world).await;
    assert_eq!(
        shape(&bye, &["To", "Call-ID", "CSeq"], false),
        format!(
            "BYE sip:romeo@{peer} SIP/2.0\n\
             To: <sip:romeo@sip.example.net>;tag=*\n\
             Call-ID: 711609sa\n\
             CSeq: 1 BYE\n",
            peer = world.peer_addr()
        )
    );
    world.sip_answer(&bye, "200 OK", "").await;
    assert!(world.stanza_out().await.contains(
        "<thread>711609sa</thread><gone xmlns='http://jabber.org/protocol/chatstates'/>"
    ));
}

/// Issue 21 item 6: at shutdown every session gets BYE and `gone`.
#[tokio::test]
async fn shutdown_sends_bye_and_gone() {
    let Open {
        mut world,
        ok: _,
        phone: _phone,
    } = open(SESSIONS).await;
    world.stop_router();
    let bye = next_sip(&world).await;
    assert!(matches!(&bye.start, StartLine::Request { method, .. } if method == "BYE"));
    world.sip_answer(&bye, "200 OK", "").await;
    assert!(world.stanza_out().await.contains("<gone xmlns="));
}

/// RFC 4975 §5.4: the connection failing fails the session; Parley ends
/// it on both sides, BYE to the phone and `gone` to the XMPP user.
#[tokio::test]
async fn the_msrp_connection_failing_ends_the_session_on_both_sides() {
    let Open {
        mut world,
        mut phone,
        ..
    } = open(SESSIONS).await;
    // The SEND binds the session to the connection (§5.4).
    phone_says(&mut phone, "msg1", "farewell", &[]).await;
    assert!(world.stanza_out().await.contains("<body>farewell</body>"));
    drop(phone);
    let bye = next_sip(&world).await;
    assert!(matches!(&bye.start, StartLine::Request { method, .. } if method == "BYE"));
    world.sip_answer(&bye, "200 OK", "").await;
    assert!(
        world
            .stanza_out()
            .await
            .contains("<thread>711609sa</thread><gone xmlns=")
    );
    assert_eq!(world.metric("parley_msrp_sessions"), Some(0.0));
}

/// `sessions.max_sessions_per_user`: a second session for the same XMPP
/// user gets 486 Busy Here (RFC 3261 §21.4.24).
#[tokio::test]
async fn a_user_over_the_session_limit_gets_486() {
    let Open { mut world, .. } = open(&format!("{SESSIONS}max_sessions_per_user = 1\n")).await;
    let from_mercutio = invite("second1", &offer()).replace(
        "From: <sip:romeo@sip.example.net>",
        "From: <sip:mercutio@sip.example.net>",
    );
    world.sip_in(&from_mercutio).await;
    assert_eq!(
        shape(&next_sip(&world).await, &["CSeq"], false),
        "SIP/2.0 486 Busy Here\nCSeq: 1 INVITE\n"
    );
    assert_eq!(
        world.metric(r#"parley_msrp_session_refusals_total{reason="user_limit"}"#),
        Some(1.0)
    );
}

/// RFC 7573 §6, Table 3: an isComposing SEND (offered in `a=accept-types`)
/// becomes a chat state; Table 4: `<composing/>` becomes one back.
#[tokio::test]
async fn iscomposing_maps_to_chat_states_both_ways() {
    let mut world = World::with("", SESSIONS).await;
    let sdp = offer().replace(
        "a=accept-types:text/plain",
        "a=accept-types:text/plain application/im-iscomposing+xml",
    );
    world.sip_in(&invite(CALL_ID, &sdp)).await;
    let ok = invite_answer(&world).await;
    world.sip_send(&in_dialog(&ok, "ACK", 1)).await;
    let answer = String::from_utf8(ok.body.to_vec()).expect("SDP is text");
    let path = answer
        .lines()
        .find_map(|l| l.strip_prefix("a=path:"))
        .expect("a=path");
    let mut phone = MsrpPeer::connect(world.msrp_addr(), PHONE_PATH, path).await;
    let composing = "<?xml version='1.0' encoding='UTF-8'?>\
        <isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'>\
        <state>active</state><contenttype>text/plain</contenttype></isComposing>";
    let tid = phone
        .send(
            "c1",
            "application/im-iscomposing+xml",
            composing.as_bytes(),
            &[],
        )
        .await;
    assert_eq!(next_frame(&mut phone).await.transaction_id, tid);
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example' id='parley-1' type='chat'>\
         <thread>711609sa</thread>\
         <composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
    );
    world.stanza_in(
        "<message from='juliet@xmpp.example/balcony' to='romeo@sip.example.net' type='chat'>\
         <composing xmlns='http://jabber.org/protocol/chatstates'/></message>",
    );
    let send = next_frame(&mut phone).await;
    assert_eq!(
        send.header("Content-Type"),
        Some("application/im-iscomposing+xml")
    );
    assert!(
        send.text().contains("<state>active</state>"),
        "{}",
        send.text()
    );
}

/// RFC 7573 §6.1: the XMPP user's `<gone/>` ends the session, BYE to the
/// phone; after it her messages go by page mode again (RFC 7572).
#[tokio::test]
async fn xmpp_gone_sends_bye_and_page_mode_takes_over() {
    let Open { mut world, .. } = open(SESSIONS).await;
    world.stanza_in(
        "<message from='juliet@xmpp.example/balcony' to='romeo@sip.example.net' type='chat'>\
         <gone xmlns='http://jabber.org/protocol/chatstates'/></message>",
    );
    let bye = next_sip(&world).await;
    assert_eq!(
        shape(&bye, &["Call-ID", "CSeq"], false),
        format!(
            "BYE sip:romeo@{peer} SIP/2.0\nCall-ID: 711609sa\nCSeq: 1 BYE\n",
            peer = world.peer_addr()
        )
    );
    world.sip_answer(&bye, "200 OK", "").await;
    world.no_stanza_out(Duration::from_millis(50)).await;
    world.stanza_in(
        "<message from='juliet@xmpp.example/balcony' to='romeo@sip.example.net' type='chat' id='j9'>\
         <body>Good night.</body></message>",
    );
    let message = next_sip(&world).await;
    assert!(
        matches!(&message.start, StartLine::Request { method, .. } if method == "MESSAGE"),
        "{message:?}"
    );
}

/// RFC 3261 §9.2: a CANCEL before the answer: the endpoint answers 487,
/// and Parley leaves nothing open.
#[tokio::test]
async fn a_cancelled_invite_leaves_nothing_open() {
    let mut world = World::with("", SESSIONS).await;
    let invite = invite("cancel1", &offer());
    world.sip_send(&invite).await;
    let cancel = invite
        .split_once("\n\n")
        .expect("a head")
        .0
        .replace(
            "INVITE sip:juliet@xmpp.example SIP/2.0",
            "CANCEL sip:juliet@xmpp.example SIP/2.0",
        )
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL")
        .lines()
        .filter(|l| !l.starts_with("Content-") && !l.starts_with("Contact"))
        .collect::<Vec<_>>()
        .join("\n");
    world
        .sip_send(&format!("{cancel}\nContent-Length: 0\n\n"))
        .await;
    // The INVITE reaches the router after the CANCEL ended it.
    let mut answers = Vec::new();
    for _ in 0..3 {
        if let Some(m) = world.sip_out_within(Duration::from_millis(300)).await
            && let StartLine::Response { status, .. } = m.start
        {
            answers.push((status, m.header("CSeq").unwrap_or_default()));
        }
    }
    assert!(
        answers.contains(&(487, "1 INVITE".to_owned())),
        "{answers:?}"
    );
    world.route_sip().await;
    // Only the 487's retransmissions (Timer G: the test sends no ACK), no 200.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Some(m) = world
        .sip_out_within(deadline.saturating_duration_since(tokio::time::Instant::now()))
        .await
    {
        assert!(
            matches!(
                m.start,
                StartLine::Response {
                    status: 487 | 100,
                    ..
                }
            ),
            "{m:?}"
        );
    }
    world.no_stanza_out(Duration::from_millis(20)).await;
    assert_eq!(world.metric("parley_msrp_sessions"), Some(0.0));
}

/// RFC 3261 §11.2, §20.5: with sessions on, OPTIONS lists the methods of a
/// session beside page mode's, and so does a 405 (§21.4.6).
#[tokio::test]
async fn options_and_405_list_the_session_methods() {
    let mut world = World::with("", SESSIONS).await;
    for (method, status) in [("OPTIONS", "200 OK"), ("PUBLISH", "405 Method Not Allowed")] {
        world
            .sip_in(&format!(
                "{method} sip:juliet@xmpp.example SIP/2.0\n\
                 Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKallow{method}\n\
                 From: <sip:romeo@sip.example.net>;tag=a1\n\
                 To: <sip:juliet@xmpp.example>\n\
                 Call-ID: allow-{method}\n\
                 CSeq: 1 {method}\n\
                 Max-Forwards: 70\n\
                 Content-Length: 0\n\n"
            ))
            .await;
        let answer = next_sip(&world).await;
        assert_eq!(
            shape(&answer, &["CSeq", "Allow"], false),
            format!(
                "SIP/2.0 {status}\nCSeq: 1 {method}\n\
                 Allow: ACK, BYE, CANCEL, INVITE, MESSAGE, NOTIFY, OPTIONS, SUBSCRIBE, UPDATE\n"
            )
        );
    }
}

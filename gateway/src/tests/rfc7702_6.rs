//! RFC 7702 §6: a SIP user joins an XMPP room through Parley. Literal SIP
//! in over loopback UDP, literal XML in and out (the room played by the
//! test), and a real MSRP TCP connection from the harness's peer.

use std::time::Duration;

use parley_harness::msrp_peer::{MsrpFrame, MsrpPeer};
use parley_sip::wire::{Message as SipWire, StartLine};

use super::world::{WAIT, World};

/// `[sessions]` (the MSRP endpoint) and `[groupchat]` for `rooms.example.com`.
pub(super) const GROUPCHAT: &str = "[sessions]\nenabled = true\nmsrp_listen = \"127.0.0.1:0\"\n\n\
    [groupchat]\nenabled = true\nroom_domains = [\"rooms.example.com\"]\n\
    max_rooms_per_user = 1\nmax_message_bytes = 2000\njoin_secs = 1\n";

/// The phone's MSRP URI (Example 27's `a=path`, on loopback).
const PHONE_PATH: &str = "msrp://127.0.0.1:7313/ansp71weztas;tcp";

/// Example 27 (F35): Romeo's INVITE to the room, the SDP on loopback.
pub(super) fn invite(call_id: &str) -> String {
    invite_with_chatroom(call_id, "a=chatroom:nickname private-messages")
}

/// Example 27 with `chatroom` as its `a=chatroom` line.
pub(super) fn invite_with_chatroom(call_id: &str, chatroom: &str) -> String {
    let sdp = format!(
        "v=0\r\no=romeo 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 7313 TCP/MSRP *\r\na=accept-types:message/cpim text/plain text/html\r\n\
         a=accept-wrapped-types:text/plain text/html\r\na=path:{PHONE_PATH}\r\n\
         {chatroom}\r\n"
    );
    format!(
        "INVITE sip:capulet@rooms.example.com SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKinv{call_id}\n\
         Max-Forwards: 70\n\
         From: \"Romeo\" <sip:romeo@sip.example.net>;tag=43524545\n\
         To: <sip:capulet@rooms.example.com>\n\
         Contact: <sip:romeo@{{peer}}>\n\
         Call-ID: {call_id}\n\
         CSeq: 1 INVITE\n\
         Content-Type: application/sdp\n\
         Content-Length: {len}\n\
         \n\
         {sdp}",
        len = sdp.len(),
    )
}

/// A request of the phone in the dialog the 200 `ok` created.
pub(super) fn in_dialog(ok: &SipWire, method: &str, cseq: u32, extra: &str) -> String {
    let to = ok.header("To").expect("the 200 has a To");
    format!(
        "{method} sip:capulet@rooms.example.com SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bK{method}{cseq}\n\
         Max-Forwards: 70\n\
         To: {to}\n\
         From: \"Romeo\" <sip:romeo@sip.example.net>;tag=43524545\n\
         Call-ID: {call_id}\n\
         CSeq: {cseq} {method}\n\
         {extra}Content-Length: 0\n\n",
        call_id = ok.header("Call-ID").expect("a Call-ID"),
    )
}

/// The next SIP message that is not a 100 or a retransmitted 2xx to the INVITE.
pub(super) async fn next_sip(world: &World) -> SipWire {
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

/// The INVITE's final response.
pub(super) async fn invite_answer(world: &World) -> SipWire {
    loop {
        let m = world.sip_out().await;
        if !matches!(m.start, StartLine::Response { status: 100, .. }) {
            return m;
        }
    }
}

/// The final answer to the INVITE with Call-ID `call_id`, skipping a 2xx
/// of an earlier INVITE retransmitted before its ACK arrived (RFC 3261
/// §13.3.1.4): for a second join in one world.
pub(super) async fn invite_answer_to(world: &World, call_id: &str) -> SipWire {
    loop {
        let answer = invite_answer(world).await;
        if answer.header("Call-ID").as_deref() == Some(call_id) {
            return answer;
        }
    }
}

pub(super) fn status(m: &SipWire) -> u16 {
    match m.start {
        StartLine::Response { status, .. } => status,
        _ => 0,
    }
}

/// The value of attribute `name` in the first element of `xml`.
pub(super) fn attr(xml: &str, name: &str) -> String {
    let start = xml.find(&format!("{name}='")).expect("the attribute") + name.len() + 2;
    xml[start..]
        .split('\'')
        .next()
        .expect("a quoted value")
        .to_owned()
}

/// Example 31: an occupant's presence from the room to the client `me`.
pub(super) fn occupant(nick: &str, me: &str, status: &str) -> String {
    format!(
        "<presence from='capulet@rooms.example.com/{nick}' to='{me}'>\
         <x xmlns='http://jabber.org/protocol/muc#user'>\
         <item affiliation='none' role='participant'/>{status}</x></presence>"
    )
}

/// A joined room: the world, the 200, the occupant client's JID and the
/// phone's MSRP connection.
pub(super) struct Joined {
    pub(super) world: World,
    pub(super) ok: SipWire,
    pub(super) me: String,
    pub(super) phone: MsrpPeer,
}

/// F35–F37, F40, F41: INVITE → join presence → the roster (JuliC, Ben,
/// then Romeo with 110) → 200 → ACK → the phone connects.
pub(super) async fn join(call_id: &str) -> Joined {
    join_with(&invite(call_id)).await
}

/// [`join`] with the INVITE `invite`.
pub(super) async fn join_with(invite: &str) -> Joined {
    let mut world = World::with("", GROUPCHAT).await;
    world.sip_in(invite).await;
    let join = world.stanza_out().await;
    let me = attr(&join, "from");
    assert!(me.starts_with("romeo@sip.example.net/"), "{join}");
    assert_eq!(
        join.replace(&me, "ME"),
        "<presence from='ME' to='capulet@rooms.example.com/Romeo'>\
         <x xmlns='http://jabber.org/protocol/muc'/></presence>"
    );
    world.stanza_in(&occupant("JuliC", &me, ""));
    world.stanza_in(&occupant("Ben", &me, ""));
    world.stanza_in(&occupant("Romeo", &me, "<status code='110'/>"));
    let ok = invite_answer(&world).await;
    assert_eq!(status(&ok), 200);
    // The endpoint absorbs the ACK of a 2xx (RFC 3261 §17.2.1).
    world.sip_send(&in_dialog(&ok, "ACK", 1, "")).await;
    let sdp = String::from_utf8(ok.body.to_vec()).expect("SDP is text");
    let path = sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=path:"))
        .expect("the answer has a=path")
        .to_owned();
    let mut phone = MsrpPeer::connect(world.msrp_addr(), PHONE_PATH, &path).await;
    // RFC 4975 §5.4: the active side's bodiless SEND binds the session.
    let tid = phone.send("bind1", "", b"", &[]).await;
    let answer = next_frame(&mut phone).await;
    assert_eq!((answer.transaction_id, answer.status), (tid, Some(200)));
    Joined {
        world,
        ok,
        me,
        phone,
    }
}

pub(super) async fn next_frame(phone: &mut MsrpPeer) -> MsrpFrame {
    phone.next_frame(WAIT).await.expect("an MSRP frame in time")
}

/// A CPIM SEND of the phone to `to`.
async fn phone_says(phone: &mut MsrpPeer, message_id: &str, to: &str, text: &str) -> String {
    let body = format!(
        "To: {to}\r\nFrom: \"Romeo\" <sip:romeo@sip.example.net>\r\n\r\n\
         Content-Type: text/plain\r\n\r\n{text}"
    );
    let tid = phone
        .send(message_id, "message/cpim", body.as_bytes(), &[])
        .await;
    let answer = next_frame(phone).await;
    assert_eq!(
        (answer.transaction_id.as_str(), answer.status),
        (tid.as_str(), Some(200))
    );
    tid
}

/// §6.3.1 (Examples 33–35), §6.3.2 (Examples 36–37) and the room's
/// messages back as CPIM SENDs; then §6.6 (F59–F62): BYE → unavailable.
#[tokio::test]
async fn rfc7702_6_3_messages_both_ways_and_6_6_bye_leaves_the_room() {
    let Joined {
        mut world,
        ok,
        me,
        mut phone,
    } = join("msgs1").await;
    // Example 33 → Example 34.
    phone_says(
        &mut phone,
        "87652492",
        "<sip:capulet@rooms.example.com>",
        "Romeo is here!",
    )
    .await;
    let out = world.stanza_out().await;
    let id = attr(&out, "id");
    assert_eq!(
        out.replace(&me, "ME").replace(&id, "ID"),
        "<message from='ME' to='capulet@rooms.example.com' id='ID' type='groupchat'>\
         <body>Romeo is here!</body></message>"
    );
    // The reflection (§6.3.1) is not sent back to the phone.
    world.stanza_in(&format!(
        "<message from='capulet@rooms.example.com/Romeo' to='{me}' id='{id}' type='groupchat'>\
         <body>Romeo is here!</body></message>"
    ));
    // Example 36 → Example 37.
    phone_says(
        &mut phone,
        "87652493",
        "<sip:capulet@rooms.example.com;gr=JuliC>",
        "I am here!!!",
    )
    .await;
    let out = world.stanza_out().await;
    let id = attr(&out, "id");
    assert_eq!(
        out.replace(&me, "ME").replace(&id, "ID"),
        "<message from='ME' to='capulet@rooms.example.com/JuliC' id='ID' type='chat'>\
         <body>I am here!!!</body></message>"
    );
    // JuliC to the room, then privately.
    world.stanza_in(&format!(
        "<message from='capulet@rooms.example.com/JuliC' to='{me}' type='groupchat'>\
         <body>Wherefore art thou?</body></message>"
    ));
    let send = next_frame(&mut phone).await;
    assert_eq!(send.method.as_deref(), Some("SEND"));
    assert_eq!(send.header("Content-Type"), Some("message/cpim"));
    assert_eq!(
        send.text(),
        "From: \"JuliC\" <sip:capulet@rooms.example.com;gr=JuliC>\r\n\
         To: <sip:capulet@rooms.example.com>\r\n\r\n\
         Content-Type: text/plain;charset=utf-8\r\n\r\nWherefore art thou?"
    );
    phone.respond(&send, 200, "OK").await;
    world.stanza_in(&format!(
        "<message from='capulet@rooms.example.com/JuliC' to='{me}' type='chat'>\
         <body>Only to thee</body></message>"
    ));
    let send = next_frame(&mut phone).await;
    assert_eq!(
        send.text(),
        "From: \"JuliC\" <sip:capulet@rooms.example.com;gr=JuliC>\r\n\
         To: <sip:romeo@sip.example.net>\r\n\r\n\
         Content-Type: text/plain;charset=utf-8\r\n\r\nOnly to thee"
    );
    phone.respond(&send, 200, "OK").await;

    // F59–F62.
    world.sip_in(&in_dialog(&ok, "BYE", 3, "")).await;
    let answer = next_sip(&world).await;
    assert_eq!(status(&answer), 200);
    assert_eq!(
        world.stanza_out().await.replace(&me, "ME"),
        "<presence from='ME' to='capulet@rooms.example.com/Romeo' type='unavailable'></presence>"
    );
    assert_eq!(world.metric("parley_groupchat_occupancies"), Some(0.0));
    assert_eq!(
        world.metric(r#"parley_groupchat_joins_total{outcome="joined"}"#),
        Some(1.0)
    );
}

/// §6.1 with XEP-0045 §7.2.6 and the error mapping: a members-only room
/// refuses the join with `<registration-required/>` → 403; no such room
/// (`<item-not-found/>`) → 404.
#[tokio::test]
async fn rfc7702_6_1_refused_joins_get_the_mapped_sip_status() {
    for (condition, expected) in [("registration-required", 403), ("item-not-found", 404)] {
        let mut world = World::with("", GROUPCHAT).await;
        world.sip_in(&invite(&format!("refused-{condition}"))).await;
        let join = world.stanza_out().await;
        let me = attr(&join, "from");
        world.stanza_in(&format!(
            "<presence from='capulet@rooms.example.com/Romeo' to='{me}' type='error'>\
             <error type='auth'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             </error></presence>"
        ));
        let answer = invite_answer(&world).await;
        assert_eq!(status(&answer), expected, "{condition}");
        assert_eq!(
            world.metric(r#"parley_groupchat_joins_total{outcome="refused"}"#),
            Some(1.0)
        );
        assert_eq!(world.metric("parley_groupchat_occupancies"), Some(0.0));
    }
}

/// RFC 7702 §7: a taken nickname is adjusted: `Romeo (2)`.
#[tokio::test]
async fn rfc7702_7_a_taken_nickname_is_adjusted() {
    let mut world = World::with("", GROUPCHAT).await;
    world.sip_in(&invite("conflict1")).await;
    let join = world.stanza_out().await;
    let me = attr(&join, "from");
    world.stanza_in(&format!(
        "<presence from='capulet@rooms.example.com/Romeo' to='{me}' type='error'>\
         <error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
         </error></presence>"
    ));
    let again = world.stanza_out().await;
    assert_eq!(attr(&again, "to"), "capulet@rooms.example.com/Romeo (2)");
    world.stanza_in(&occupant("Romeo (2)", &me, "<status code='110'/>"));
    assert_eq!(status(&invite_answer(&world).await), 200);
}

/// No answer from the room within `groupchat.join_secs`: 504, and the
/// join is withdrawn with unavailable presence.
#[tokio::test]
async fn a_room_that_does_not_answer_gives_504() {
    let mut world = World::with("", GROUPCHAT).await;
    world.sip_in(&invite("silent1")).await;
    let _join = world.stanza_out().await;
    let answer = tokio::time::timeout(Duration::from_secs(3), invite_answer(&world))
        .await
        .expect("an answer after join_secs");
    assert_eq!(status(&answer), 504);
    let leave = world.stanza_out().await;
    assert!(leave.contains("type='unavailable'"), "{leave}");
}

/// Hostile: a SEND over `groupchat.max_message_bytes` gets 413 (RFC 7702
/// §8) and nothing reaches the room; a second room for the same user over
/// `groupchat.max_rooms_per_user` gets 486.
#[tokio::test]
async fn oversize_send_gets_413_and_a_room_too_many_gets_486() {
    let Joined {
        mut world,
        mut phone,
        ..
    } = join("hostile1").await;
    let body = format!(
        "To: <sip:capulet@rooms.example.com>\r\n\r\nContent-Type: text/plain\r\n\r\n{}",
        "x".repeat(3000)
    );
    let tid = phone
        .send("big1", "message/cpim", body.as_bytes(), &[])
        .await;
    let answer = next_frame(&mut phone).await;
    assert_eq!((answer.transaction_id, answer.status), (tid, Some(413)));
    world.no_stanza_out(Duration::from_millis(200)).await;

    world.sip_in(&invite("hostile2")).await;
    let answer = invite_answer_to(&world, "hostile2").await;
    assert_eq!(status(&answer), 486);
    assert_eq!(
        world.metric(r#"parley_groupchat_joins_total{outcome="user_limit"}"#),
        Some(1.0)
    );
}

/// §6.6: the room kicks the SIP user (status 307): BYE to the phone.
#[tokio::test]
async fn rfc7702_6_6_a_kick_sends_bye() {
    let Joined {
        mut world,
        me,
        phone: _phone,
        ..
    } = join("kick1").await;
    world.stanza_in(&format!(
        "<presence from='capulet@rooms.example.com/Romeo' to='{me}' type='unavailable'>\
         <x xmlns='http://jabber.org/protocol/muc#user'>\
         <item affiliation='none' role='none'/><status code='307'/><status code='110'/></x></presence>"
    ));
    let bye = next_sip(&world).await;
    assert!(
        matches!(bye.start, StartLine::Request { ref method, .. } if method == "BYE"),
        "{bye:?}"
    );
    world.no_stanza_out(Duration::from_millis(200)).await;
}

/// XEP-0045 §7.2.13 history with its XEP-0203 `<delay/>`: sent to the phone
/// with the stamp as CPIM DateTime (RFC 3862 §4.4), not dropped.
#[tokio::test]
async fn room_history_goes_to_the_phone_with_its_datetime() {
    let Joined {
        mut world,
        me,
        mut phone,
        ..
    } = join("history1").await;
    world.stanza_in(&format!(
        "<message from='capulet@rooms.example.com/Ben' to='{me}' type='groupchat'>\
         <body>Earlier words</body>\
         <delay xmlns='urn:xmpp:delay' from='capulet@rooms.example.com' \
         stamp='2002-10-13T23:58:37Z'/></message>"
    ));
    let send = next_frame(&mut phone).await;
    assert_eq!(
        send.text(),
        "From: \"Ben\" <sip:capulet@rooms.example.com;gr=Ben>\r\n\
         To: <sip:capulet@rooms.example.com>\r\n\
         DateTime: 2002-10-13T23:58:37Z\r\n\r\n\
         Content-Type: text/plain;charset=utf-8\r\n\r\nEarlier words"
    );
    phone.respond(&send, 200, "OK").await;
    world.no_stanza_out(Duration::from_millis(100)).await;
}

/// The phone's MSRP connection closing ends the occupancy both ways: BYE
/// to the phone, unavailable presence to the room.
#[tokio::test]
async fn a_lost_msrp_connection_sends_bye_and_leaves_the_room() {
    let Joined {
        mut world,
        me,
        phone,
        ..
    } = join("lost1").await;
    drop(phone);
    let bye = next_sip(&world).await;
    assert!(
        matches!(bye.start, StartLine::Request { ref method, .. } if method == "BYE"),
        "{bye:?}"
    );
    assert_eq!(
        world.stanza_out().await.replace(&me, "ME"),
        "<presence from='ME' to='capulet@rooms.example.com/Romeo' type='unavailable'></presence>"
    );
}

/// §6.6 at shutdown: every SIP user leaves its room and gets a BYE.
#[tokio::test]
async fn shutdown_leaves_the_room_and_sends_bye() {
    let Joined {
        mut world,
        me,
        phone: _phone,
        ..
    } = join("stop1").await;
    world.stop_router();
    assert_eq!(
        world.stanza_out().await.replace(&me, "ME"),
        "<presence from='ME' to='capulet@rooms.example.com/Romeo' type='unavailable'></presence>"
    );
    let bye = next_sip(&world).await;
    assert!(
        matches!(bye.start, StartLine::Request { ref method, .. } if method == "BYE"),
        "{bye:?}"
    );
}

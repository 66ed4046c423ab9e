//! RFC 7701 §6 on the switch Parley is for SIP users in an XMPP room (RFC
//! 7702 §6), the rows the other files leave: several sessions of one URI
//! (7701-17, 7701-26), the wrapped types a phone accepts (7701-12,
//! 7701-S5), and the answer to a room writing to an occupancy that is gone
//! (XEP-0045 §18.1, no ghosts after a restart). Literal SIP, XML and MSRP;
//! the room is played by the test.

use std::time::Duration;

use parley_harness::msrp_peer::{MsrpFrame, MsrpPeer};

use super::rfc7702_6::{
    GROUPCHAT, attr, in_dialog, invite_answer_to, join_with, next_frame, occupant, status,
};
use super::world::World;

/// Romeo's INVITE to the room with his phone at `path`, `accept` as the
/// offer's `a=accept-types` and `a=accept-wrapped-types` lines.
fn invite(call_id: &str, path: &str, accept: &str) -> String {
    invite_as(
        "Romeo",
        call_id,
        path,
        accept,
        Some("nickname private-messages"),
    )
}

/// `name`'s (`sip:<name lower case>@sip.example.net`) INVITE to the room,
/// `chatroom` the offer's `a=chatroom` tokens (RFC 7701 §8), `None` for an
/// offer without the attribute.
fn invite_as(
    name: &str,
    call_id: &str,
    path: &str,
    accept: &str,
    chatroom: Option<&str>,
) -> String {
    let user = name.to_lowercase();
    let chatroom = chatroom
        .map(|tokens| format!("a=chatroom:{tokens}\r\n"))
        .unwrap_or_default();
    let sdp = format!(
        "v=0\r\no={user} 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 7313 TCP/MSRP *\r\n{accept}a=path:{path}\r\n\
         {chatroom}"
    );
    format!(
        "INVITE sip:capulet@rooms.example.com SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKinv{call_id}\n\
         Max-Forwards: 70\n\
         From: \"{name}\" <sip:{user}@sip.example.net>;tag=t{call_id}\n\
         To: <sip:capulet@rooms.example.com>\n\
         Contact: <sip:{user}@{{peer}}>\n\
         Call-ID: {call_id}\n\
         CSeq: 1 INVITE\n\
         Content-Type: application/sdp\n\
         Content-Length: {len}\n\
         \n\
         {sdp}",
        len = sdp.len(),
    )
}

const TEXT: &str = "a=accept-types:message/cpim\r\na=accept-wrapped-types:text/plain\r\n";

/// One session of Romeo enters the room as `nick` (the room answers with
/// JuliC and his self-presence), and his phone at `path` connects: the
/// occupant client's JID and the phone.
async fn enter(world: &mut World, call_id: &str, path: &str, nick: &str) -> (String, MsrpPeer) {
    enter_with(world, &invite(call_id, path, TEXT), call_id, path, nick).await
}

/// [`enter`] with the INVITE `invite` (another user, another offer).
async fn enter_with(
    world: &mut World,
    invite: &str,
    call_id: &str,
    path: &str,
    nick: &str,
) -> (String, MsrpPeer) {
    world.sip_in(invite).await;
    let join = world.stanza_out().await;
    assert_eq!(
        attr(&join, "to"),
        format!("capulet@rooms.example.com/{nick}")
    );
    let me = attr(&join, "from");
    world.stanza_in(&occupant("JuliC", &me, ""));
    world.stanza_in(&occupant(nick, &me, "<status code='110'/>"));
    let ok = invite_answer_to(world, call_id).await;
    assert_eq!(status(&ok), 200);
    world.sip_send(&in_dialog(&ok, "ACK", 1, "")).await;
    let sdp = String::from_utf8(ok.body.to_vec()).expect("SDP is text");
    let parley = sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=path:"))
        .expect("the answer has a=path")
        .to_owned();
    let mut phone = MsrpPeer::connect(world.msrp_addr(), path, &parley).await;
    let tid = phone.send(&format!("bind-{call_id}"), "", b"", &[]).await;
    let answer = next_frame(&mut phone).await;
    assert_eq!((answer.transaction_id, answer.status), (tid, Some(200)));
    (me, phone)
}

/// The next SEND to `phone`, answered 200 as a phone does.
async fn next_send(phone: &mut MsrpPeer) -> MsrpFrame {
    let send = next_frame(phone).await;
    assert_eq!(send.method.as_deref(), Some("SEND"), "{send:?}");
    send
}

/// No SEND reaches `phone` within 300 ms.
async fn no_send(phone: &mut MsrpPeer) {
    if let Some(frame) = phone.next_frame(Duration::from_millis(300)).await {
        assert_ne!(frame.method.as_deref(), Some("SEND"), "{frame:?}");
    }
}

/// The CPIM headers of a private message from JuliC to Romeo's phone
/// (RFC 7701 §6.2: From the sender's identifier, a single To the
/// recipient's URI).
const PRIVATE_FROM_JULIC: &str = "From: \"JuliC\" <sip:capulet@rooms.example.com;gr=JuliC>\r\n\
     To: <sip:romeo@sip.example.net>\r\n";

/// RFC 7701 §6.1: "If the policy of the chat room allows simultaneous
/// access, the MSRP switch MUST copy all regular messages intended to the
/// recipient through each MSRP session mapped to the recipient's URI", and
/// §6.2, the same of private messages. Romeo is in the room twice (`Romeo`
/// and `Romeo (2)`, RFC 7701 §7.1): the room's message to all reaches each
/// phone once; JuliC's private message to either nickname reaches both
/// phones once, with the same CPIM From and To; nothing goes back to XMPP.
#[tokio::test]
async fn rfc7701_6_1_and_6_2_each_session_of_one_uri_gets_regular_and_private_messages() {
    let config = GROUPCHAT.replace("max_rooms_per_user = 1", "max_rooms_per_user = 2");
    let mut world = World::with("", &config).await;
    let (me1, mut phone1) = enter(
        &mut world,
        "twin-1",
        "msrp://127.0.0.1:7313/twin1;tcp",
        "Romeo",
    )
    .await;
    let (me2, mut phone2) = enter(
        &mut world,
        "twin-2",
        "msrp://127.0.0.1:7314/twin2;tcp",
        "Romeo (2)",
    )
    .await;
    assert_ne!(me1, me2);

    // §6.1: the room broadcasts to each occupant, so to each session.
    for me in [&me1, &me2] {
        world.stanza_in(&format!(
            "<message from='capulet@rooms.example.com/JuliC' to='{me}' id='g1' \
             type='groupchat'><body>to all</body></message>"
        ));
    }
    for phone in [&mut phone1, &mut phone2] {
        let send = next_send(phone).await;
        assert!(
            send.text()
                .contains("To: <sip:capulet@rooms.example.com>\r\n"),
            "{send:?}"
        );
        assert!(send.text().ends_with("to all"), "{send:?}");
        no_send(phone).await;
    }

    // §6.2: a private message to `Romeo`, then one to `Romeo (2)`.
    for (me, text) in [(&me1, "to Romeo"), (&me2, "to Romeo (2)")] {
        world.stanza_in(&format!(
            "<message from='capulet@rooms.example.com/JuliC' to='{me}' id='p-{text}' \
             type='chat'><body>{text}</body></message>"
        ));
        for phone in [&mut phone1, &mut phone2] {
            let send = next_send(phone).await;
            assert!(send.text().starts_with(PRIVATE_FROM_JULIC), "{send:?}");
            assert!(send.text().ends_with(text), "{send:?}");
        }
        for phone in [&mut phone1, &mut phone2] {
            no_send(phone).await;
        }
    }
    world.no_stanza_out(Duration::from_millis(300)).await;
}

/// RFC 7701 §6.1: the switch "MUST evaluate the wrapped media types that
/// the recipient is able to accept" and "SHOULD NOT forward" a message
/// whose wrapped type it is aware the recipient does not accept. Romeo's
/// offer takes `text/html` inside CPIM only (RFC 4975 §8.6); Parley wraps
/// `text/plain`: the room's messages are not sent to his phone, and
/// JuliC's private message comes back to her as `<not-acceptable/>` (RFC
/// 7247 §7: SIP 415 → `<not-acceptable/>`). What he sends still goes.
#[tokio::test]
async fn rfc7701_6_1_a_phone_that_takes_no_wrapped_text_gets_no_copy() {
    let html = "a=accept-types:message/cpim\r\na=accept-wrapped-types:text/html\r\n";
    let path = "msrp://127.0.0.1:7313/ansp71weztas;tcp";
    let super::rfc7702_6::Joined {
        mut world,
        me,
        mut phone,
        ..
    } = join_with(&invite("wrapped-html", path, html)).await;
    world.stanza_in(&format!(
        "<message from='capulet@rooms.example.com/JuliC' to='{me}' id='g1' type='groupchat'>\
         <body>to all</body></message>"
    ));
    no_send(&mut phone).await;
    world.stanza_in(&format!(
        "<message from='capulet@rooms.example.com/JuliC' to='{me}' id='pm1' type='chat'>\
         <body>psst</body></message>"
    ));
    assert_eq!(
        world.stanza_out().await,
        format!(
            "<message from='{me}' to='capulet@rooms.example.com/JuliC' id='pm1' type='error'>\
             <body>psst</body><error type='modify'>\
             <not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             </error></message>"
        )
    );
    no_send(&mut phone).await;
    let body = "To: <sip:capulet@rooms.example.com>\r\nFrom: <sip:romeo@sip.example.net>\r\n\r\n\
                Content-Type: text/plain\r\n\r\nstill here";
    phone
        .send("up1", "message/cpim", body.as_bytes(), &[])
        .await;
    let out = world.stanza_out().await;
    assert!(out.contains("<body>still here</body>"), "{out}");
}

/// XEP-0045 §18.1: "a MUC service SHOULD remove a user if the service
/// receives a delivery-related error in relation to a stanza it has
/// previously sent to the user". A room writing to an occupant client no
/// occupancy is behind (Parley restarted) gets `<item-not-found/>` back,
/// for a message and for a presence; an error or an unavailable presence
/// gets nothing (RFC 6120 §8.3.1, no loop).
#[tokio::test]
async fn xep0045_18_1_a_room_writing_to_a_gone_occupancy_gets_item_not_found() {
    let mut world = World::with("", GROUPCHAT).await;
    let ghost = "romeo@sip.example.net/gc00c0ffee0042";
    world.stanza_in(&format!(
        "<message from='capulet@rooms.example.com/JuliC' to='{ghost}' id='g1' \
         type='groupchat'><body>anyone?</body></message>"
    ));
    assert_eq!(
        world.stanza_out().await,
        format!(
            "<message from='{ghost}' to='capulet@rooms.example.com/JuliC' id='g1' \
             type='error'><error type='cancel'>\
             <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        )
    );
    world.stanza_in(&occupant("Nurse", ghost, ""));
    let back = world.stanza_out().await;
    assert!(
        back.starts_with(&format!(
            "<presence from='{ghost}' to='capulet@rooms.example.com/Nurse' type='error'>"
        )),
        "{back}"
    );
    assert!(back.contains("<item-not-found "), "{back}");
    world.stanza_in(&format!(
        "<message from='capulet@rooms.example.com/JuliC' to='{ghost}' type='error'>\
         <error type='cancel'><item-not-found \
         xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    ));
    world.stanza_in(&format!(
        "<presence from='capulet@rooms.example.com/Romeo' to='{ghost}' type='unavailable'/>"
    ));
    world.no_stanza_out(Duration::from_millis(300)).await;
}

/// RFC 7701 §6.2: "If the recipient does not support private messages, the
/// MSRP switch MUST reject the request with a 428 response." Mercutio's
/// phone offered `a=chatroom:nickname` without `private-messages` (§8);
/// Romeo's private SEND to Mercutio's nickname is answered 428, with
/// nothing sent to the room, while his SEND to an XMPP occupant goes on.
#[tokio::test]
async fn rfc7701_6_2_a_private_message_to_a_phone_without_private_messages_is_428() {
    let config = GROUPCHAT.replace("max_rooms_per_user = 1", "max_rooms_per_user = 2");
    let mut world = World::with("", &config).await;
    let (romeo, mut phone) = enter(
        &mut world,
        "pm-romeo",
        "msrp://127.0.0.1:7313/pmromeo;tcp",
        "Romeo",
    )
    .await;
    let mercutio_invite = invite_as(
        "Mercutio",
        "pm-mercutio",
        "msrp://127.0.0.1:7315/pmmerc;tcp",
        TEXT,
        Some("nickname"),
    );
    let (_mercutio, _mercutio_phone) = enter_with(
        &mut world,
        &mercutio_invite,
        "pm-mercutio",
        "msrp://127.0.0.1:7315/pmmerc;tcp",
        "Mercutio",
    )
    .await;
    // The room tells Romeo's client that Mercutio came in.
    world.stanza_in(&occupant("Mercutio", &romeo, ""));
    let private_to = |nick: &str, text: &str| {
        format!(
            "To: <sip:capulet@rooms.example.com;gr={nick}>\r\n\
             From: \"Romeo\" <sip:romeo@sip.example.net>\r\n\r\n\
             Content-Type: text/plain\r\n\r\n{text}"
        )
    };
    let tid = phone
        .send(
            "pm-1",
            "message/cpim",
            private_to("Mercutio", "psst").as_bytes(),
            &[],
        )
        .await;
    let answer = next_frame(&mut phone).await;
    assert_eq!((answer.transaction_id, answer.status), (tid, Some(428)));
    world.no_stanza_out(Duration::from_millis(300)).await;

    let tid = phone
        .send(
            "pm-2",
            "message/cpim",
            private_to("JuliC", "psst").as_bytes(),
            &[],
        )
        .await;
    let answer = next_frame(&mut phone).await;
    assert_eq!((answer.transaction_id, answer.status), (tid, Some(200)));
    let out = world.stanza_out().await;
    assert_eq!(attr(&out, "to"), "capulet@rooms.example.com/JuliC");
}

/// RFC 7701 §11: a UA that is not chat room aware (no `a=chatroom` in its
/// offer, §8) is sent "a regular MSRP message indicating that the SIP UA
/// is actually part of a chat room" and "a regular MSRP text message
/// including the list of participants", from the room, before anything
/// the room says.
#[tokio::test]
async fn rfc7701_11_a_phone_that_is_not_chat_room_aware_is_told_where_it_is_and_who_is_there() {
    let mut world = World::with("", GROUPCHAT).await;
    let path = "msrp://127.0.0.1:7316/benvolio;tcp";
    let offer = invite_as("Benvolio", "unaware-1", path, TEXT, None);
    let (me, mut phone) = enter_with(&mut world, &offer, "unaware-1", path, "Benvolio").await;
    let cpim_of = |send: &MsrpFrame| String::from_utf8_lossy(&send.body).into_owned();
    let first = next_send(&mut phone).await;
    assert_eq!(
        cpim_of(&first),
        "From: <sip:capulet@rooms.example.com>\r\n\
         To: <sip:benvolio@sip.example.net>\r\n\r\n\
         Content-Type: text/plain;charset=utf-8\r\n\r\n\
         You are in the chat room capulet@rooms.example.com as Benvolio: \
         every message you send here goes to all its participants."
    );
    let second = next_send(&mut phone).await;
    assert!(
        cpim_of(&second).ends_with("\r\n\r\nParticipants: Benvolio (you), JuliC."),
        "{}",
        cpim_of(&second)
    );
    // Then the room's own messages, as to any phone.
    world.stanza_in(&format!(
        "<message from='capulet@rooms.example.com/JuliC' to='{me}' type='groupchat' id='g1'>\
         <body>welcome</body></message>"
    ));
    assert!(cpim_of(&next_send(&mut phone).await).ends_with("welcome"));
}

/// A chat-room-aware phone (the others in this file) gets no such notice:
/// the room's first message is the first SEND.
#[tokio::test]
async fn rfc7701_11_a_chat_room_aware_phone_gets_no_notice() {
    let mut world = World::with("", GROUPCHAT).await;
    let (me, mut phone) = enter(
        &mut world,
        "aware-1",
        "msrp://127.0.0.1:7317/aware;tcp",
        "Romeo",
    )
    .await;
    world.stanza_in(&format!(
        "<message from='capulet@rooms.example.com/JuliC' to='{me}' type='groupchat' id='g1'>\
         <body>first</body></message>"
    ));
    let send = next_send(&mut phone).await;
    assert!(String::from_utf8_lossy(&send.body).ends_with("first"));
}

//! What the RFC 7702 §6 end-to-end tests share, whichever XMPP server holds
//! the room: occupants entering (XEP-0045 §7.2), a phone joining through
//! Parley with the harness's MSRP peer on its end (§6.1), and the story of
//! one SIP user in a room of two XMPP occupants: the roster NOTIFY (§6.2),
//! messages to all and private both ways (§6.3), BYE (§6.6).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use parley_harness::xmpp_client::XmppClient;
use tokio_xmpp::minidom::Element;

use crate::chat::{self, PhoneSession, WAIT, next_request, phone_says};
use crate::sip_phone::{Phone, status};
use crate::support::{COMPONENT, child_text};

/// An SDP offer whose MSRP path nobody listens on: enough for INVITEs the
/// room refuses before any MSRP happens.
pub(crate) const DEAD_OFFER: &str = "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\n\
    c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 7 TCP/MSRP *\r\n\
    a=accept-types:message/cpim\r\na=path:msrp://127.0.0.1:7/x1;tcp\r\n";

/// `client` enters `room` as `nick` and waits for its self-presence
/// (XEP-0045 §7.2.2: status 110); the presence is returned.
pub(crate) async fn enter(client: &mut XmppClient, room: &str, nick: &str) -> Element {
    client
        .send_xml(&format!(
            "<presence to='{room}/{nick}'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        ))
        .await;
    let own = format!("{room}/{nick}");
    client
        .recv_matching(WAIT, |e| {
            e.name() == "presence" && e.attr("from") == Some(own.as_str()) && has_status(e, "110")
        })
        .await
        .unwrap_or_else(|| panic!("{nick} entered {room}"))
}

/// Whether a MUC presence carries `<status code='…'/>` (XEP-0045 §15.6).
pub(crate) fn has_status(e: &Element, code: &str) -> bool {
    e.children()
        .filter(|c| c.name() == "x")
        .flat_map(|x| x.children())
        .any(|s| s.name() == "status" && s.attr("code") == Some(code))
}

/// `room`'s owner (`client`, in the room) makes it members-only
/// (XEP-0045 §10.2, `muc#roomconfig_membersonly`).
pub(crate) async fn make_members_only(client: &mut XmppClient, room: &str) {
    client
        .send_xml(&format!(
            "<iq type='set' id='cfg1' to='{room}'>\
             <query xmlns='http://jabber.org/protocol/muc#owner'>\
             <x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>\
             <field var='muc#roomconfig_membersonly'><value>1</value></field>\
             </x></query></iq>"
        ))
        .await;
    client
        .recv_matching(WAIT, |e| {
            e.name() == "iq" && e.attr("id") == Some("cfg1") && e.attr("type") == Some("result")
        })
        .await
        .expect("the room configured");
}

/// The next `<message/>` of `type_` from `from` with a body.
pub(crate) async fn message_from(client: &mut XmppClient, from: &str, type_: &str) -> Element {
    client
        .recv_matching(WAIT, |e| {
            e.name() == "message"
                && e.attr("from") == Some(from)
                && e.attr("type") == Some(type_)
                && child_text(e, "body").is_some()
        })
        .await
        .unwrap_or_else(|| panic!("a {type_} message from {from}"))
}

/// The next presence at `client` from `from` (any type).
pub(crate) async fn presence_from(client: &mut XmppClient, from: &str) -> Element {
    client
        .recv_matching(WAIT, |e| {
            e.name() == "presence" && e.attr("from") == Some(from)
        })
        .await
        .unwrap_or_else(|| panic!("a presence from {from} at {}", client.jid()))
}

/// Whether `client` sees `occupant` leave the room (unavailable presence)
/// within 10 s: a ghost dropped after a restart (XEP-0045 §18.1).
pub(crate) async fn leaves_within_10_s(client: &mut XmppClient, occupant: &str) -> bool {
    client
        .recv_matching(Duration::from_secs(10), |e| {
            e.name() == "presence"
                && e.attr("from") == Some(occupant)
                && e.attr("type") == Some("unavailable")
        })
        .await
        .is_some()
}

/// `phone` INVITEs `room` at Parley (`sip`) (Example 27, CPIM) and binds
/// the MSRP session.
pub(crate) async fn phone_joins(
    sip: SocketAddr,
    phone: &Phone,
    room: &str,
    call_id: &str,
) -> PhoneSession {
    let mut s = chat::open_from_phone(
        phone,
        sip,
        room,
        call_id,
        "message/cpim",
        // Example 27's chat-tokens: without `private-messages` no private
        // message reaches the phone (RFC 7701 §6.2, §8).
        "a=accept-wrapped-types:text/plain\r\na=setup:actpass\r\n\
         a=chatroom:nickname private-messages\r\n",
    )
    .await;
    // RFC 4975 §5.4: the active side's first SEND binds the session.
    phone_says(&mut s.peer, "bind1", "", "", &[]).await;
    s
}

/// The SIP status of `phone`'s INVITE to `uri` (a room Parley may not enter).
pub(crate) async fn refused(phone: &Phone, sip: SocketAddr, uri: &str, call_id: &str) -> u16 {
    let call = phone
        .invite(uri, sip, call_id, DEAD_OFFER, WAIT)
        .await
        .expect("an answer");
    status(&call.answer)
}

/// A CPIM wrapper from romeo's phone to `to` (RFC 7702 Example 33).
pub(crate) fn cpim(to: &str, text: &str) -> String {
    format!(
        "To: <{to}>\r\nFrom: <sip:romeo@{COMPONENT}>\r\n\r\n\
         Content-Type: text/plain\r\n\r\n{text}"
    )
}

/// §6.1–§6.3, §6.6 with juliet (`JuliC`) and the nurse (`Nurse`) in `room`:
/// romeo's phone joins as `romeo` (§6.1: the From user, there being no
/// display name), subscribes (Example 29) and gets the three occupants in
/// the NOTIFY (Example 32); a message to all reaches both, a private one
/// only juliet; their messages reach the phone as CPIM from
/// `room;gr=Nick`; BYE makes romeo leave the room.
pub(crate) async fn sip_user_talks_and_leaves(
    sip: SocketAddr,
    room: &str,
    juliet: &mut XmppClient,
    nurse: &mut XmppClient,
) {
    let phone = Phone::bind("romeo").await;
    let mut s = phone_joins(sip, &phone, room, "gc-e2e-1").await;
    assert!(
        s.answer_sdp
            .contains("a=chatroom:nickname private-messages"),
        "{}",
        s.answer_sdp
    );
    // juliet sees romeo arrive.
    let romeo = format!("{room}/romeo");
    presence_from(juliet, &romeo).await;

    // §6.2: SUBSCRIBE in the INVITE's dialog, NOTIFY with the roster.
    let (subscribe, branch) = s.dialog.request(
        &phone,
        "SUBSCRIBE",
        "Event: conference\r\nExpires: 600\r\nAccept: application/conference-info+xml\r\n",
        "",
    );
    let answer = phone
        .request(&subscribe, &branch, s.dialog.destination(), WAIT)
        .await
        .expect("an answer to SUBSCRIBE");
    assert_eq!(status(&answer), 200);
    let (_, notify) = phone
        .nth_request("NOTIFY", 0, WAIT)
        .await
        .expect("a conference NOTIFY");
    let doc = notify.body();
    for nick in ["JuliC", "Nurse", "romeo"] {
        assert!(
            doc.contains(&format!("entity=\"sip:{room};gr={nick}\"")),
            "{nick} in {doc}"
        );
    }

    // §6.3.1: to everyone.
    phone_says(
        &mut s.peer,
        "m1",
        "message/cpim",
        &cpim(&format!("sip:{room}"), "Romeo is here!"),
        &[],
    )
    .await;
    for client in [&mut *juliet, &mut *nurse] {
        let m = message_from(client, &romeo, "groupchat").await;
        assert_eq!(child_text(&m, "body").as_deref(), Some("Romeo is here!"));
    }
    // §6.3.2: privately to JuliC only.
    phone_says(
        &mut s.peer,
        "m2",
        "message/cpim",
        &cpim(&format!("sip:{room};gr=JuliC"), "I am here!!!"),
        &[],
    )
    .await;
    let m = message_from(juliet, &romeo, "chat").await;
    assert_eq!(child_text(&m, "body").as_deref(), Some("I am here!!!"));
    assert!(
        nurse
            .recv_matching(Duration::from_millis(500), |e| e.name() == "message"
                && child_text(e, "body").as_deref() == Some("I am here!!!"))
            .await
            .is_none(),
        "the private message reached only JuliC"
    );

    // The room's messages to the phone: to all, then privately.
    juliet
        .send_xml(&format!(
            "<message to='{room}' type='groupchat'><body>Wherefore art thou?</body></message>"
        ))
        .await;
    let send = next_request(&mut s.peer).await;
    let text = send.text();
    assert!(
        text.starts_with(&format!(
            "From: \"JuliC\" <sip:{room};gr=JuliC>\r\nTo: <sip:{room}>\r\n"
        )) && text.ends_with("Wherefore art thou?"),
        "{text}"
    );
    s.peer.respond(&send, 200, "OK").await;
    juliet
        .send_xml(&format!(
            "<message to='{romeo}' type='chat'><body>Only to thee</body></message>"
        ))
        .await;
    let send = next_request(&mut s.peer).await;
    let text = send.text();
    assert!(
        text.starts_with(&format!("From: \"JuliC\" <sip:{room};gr=JuliC>\r\n"))
            && text.contains(&format!("To: <sip:romeo@{COMPONENT}>\r\n"))
            && text.ends_with("Only to thee"),
        "{text}"
    );
    s.peer.respond(&send, 200, "OK").await;

    // §6.6: BYE → romeo leaves the room; both occupants see it.
    let bye = phone
        .in_dialog(&mut s.dialog, "BYE", WAIT)
        .await
        .expect("an answer to BYE");
    assert_eq!(status(&bye), 200);
    for client in [&mut *juliet, &mut *nurse] {
        client
            .recv_matching(WAIT, |e| {
                e.name() == "presence"
                    && e.attr("from") == Some(romeo.as_str())
                    && e.attr("type") == Some("unavailable")
            })
            .await
            .unwrap_or_else(|| panic!("romeo left the room, seen by {}", client.jid()));
    }
}

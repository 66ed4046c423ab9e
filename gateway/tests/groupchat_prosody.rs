//! RFC 7702 §6 end to end: a SIP phone (a UDP socket read with Parley's own
//! SIP parser, its MSRP end the harness's independent peer) joins a room of
//! a real Prosody's built-in MUC service through the real `parley` binary,
//! with two XMPP occupants: the roster NOTIFY (§6.2), messages to all and
//! private both ways (§6.3), BYE (§6.6); a nickname change and a taken
//! nickname (§6.4), an invitation (§6.5); and rooms Parley may not enter.

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

use chat::{PhoneSession, WAIT, next_request, phone_says};
use parley_harness::msrp_peer::MsrpPeer;
use sip_phone::{Phone, status};
use support::XMPP_DOMAIN;
use support::{COMPONENT, Options, World, child_text, sessions_toml};

/// Prosody's MUC service (`restrict_room_creation = "local"` lets
/// `xmpp.example` users create rooms here).
const MUC: &str = "rooms.xmpp.example";

const ROOM: &str = "capulet@rooms.xmpp.example";

/// Parley with `[sessions]` and `[groupchat]` for [`MUC`], Prosody with it.
fn start() -> World {
    let msrp: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    World::start(Options {
        extra: sessions_toml(
            msrp,
            &format!(
                "\n[groupchat]\nenabled = true\nroom_domains = [\"{MUC}\"]\n\
                 max_rooms_per_user = 1\njoin_secs = 5\n"
            ),
        ),
        muc_domain: Some(MUC.into()),
        ..Options::default()
    })
}

/// `client` enters `room` as `nick` and waits for its self-presence
/// (XEP-0045 §7.2.2: status 110).
async fn enter(client: &mut XmppClient, room: &str, nick: &str) {
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
        .unwrap_or_else(|| panic!("{nick} entered {room}"));
}

fn has_status(e: &Element, code: &str) -> bool {
    e.children()
        .filter(|c| c.name() == "x")
        .flat_map(|x| x.children())
        .any(|s| s.name() == "status" && s.attr("code") == Some(code))
}

/// The next `<message/>` of `type_` from `from` with a body.
async fn message_from(client: &mut XmppClient, from: &str, type_: &str) -> Element {
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

/// romeo's phone INVITEs `room` (Example 27, CPIM).
async fn phone_joins(world: &World, phone: &Phone, room: &str, call_id: &str) -> PhoneSession {
    let mut s = chat::open_from_phone(
        phone,
        world.sip_addr(),
        room,
        call_id,
        "message/cpim",
        "a=accept-wrapped-types:text/plain\r\na=setup:actpass\r\n",
    )
    .await;
    // RFC 4975 §5.4: the active side's first SEND binds the session.
    phone_says(&mut s.peer, "bind1", "", "", &[]).await;
    s
}

fn cpim(to: &str, text: &str) -> String {
    format!(
        "To: <{to}>\r\nFrom: <sip:romeo@{COMPONENT}>\r\n\r\n\
         Content-Type: text/plain\r\n\r\n{text}"
    )
}

/// §6.1–§6.3, §6.6 against Prosody's MUC: juliet (JuliC) and the nurse
/// are in the room; romeo's phone joins as `romeo` (§6.1: the From user,
/// there being no display name), subscribes (Example 29) and gets the
/// three occupants in the NOTIFY (Example 32); a message to all reaches
/// both, a private one only juliet; their messages reach the phone as
/// CPIM from `room;gr=Nick`; BYE makes romeo leave the room.
#[tokio::test(flavor = "multi_thread")]
async fn sip_user_joins_a_prosody_room_talks_and_leaves() {
    let world = start();
    world.prosody.add_user("nurse", support::PASSWORD);
    let mut juliet = world.client("juliet").await;
    let mut nurse = world.client("nurse").await;
    enter(&mut juliet, ROOM, "JuliC").await;
    enter(&mut nurse, ROOM, "Nurse").await;
    let phone = Phone::bind("romeo").await;
    let mut s = phone_joins(&world, &phone, ROOM, "gc-e2e-1").await;
    assert!(
        s.answer_sdp
            .contains("a=chatroom:nickname private-messages"),
        "{}",
        s.answer_sdp
    );
    // juliet sees romeo arrive.
    let romeo = format!("{ROOM}/romeo");
    juliet
        .recv_matching(WAIT, |e| {
            e.name() == "presence" && e.attr("from") == Some(romeo.as_str())
        })
        .await
        .expect("romeo's occupant presence at juliet");

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
            doc.contains(&format!("entity=\"sip:{ROOM};gr={nick}\"")),
            "{nick} in {doc}"
        );
    }

    // §6.3.1: to everyone.
    phone_says(
        &mut s.peer,
        "m1",
        "message/cpim",
        &cpim(&format!("sip:{ROOM}"), "Romeo is here!"),
        &[],
    )
    .await;
    for client in [&mut juliet, &mut nurse] {
        let m = message_from(client, &romeo, "groupchat").await;
        assert_eq!(child_text(&m, "body").as_deref(), Some("Romeo is here!"));
    }
    // §6.3.2: privately to JuliC only.
    phone_says(
        &mut s.peer,
        "m2",
        "message/cpim",
        &cpim(&format!("sip:{ROOM};gr=JuliC"), "I am here!!!"),
        &[],
    )
    .await;
    let m = message_from(&mut juliet, &romeo, "chat").await;
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
            "<message to='{ROOM}' type='groupchat'><body>Wherefore art thou?</body></message>"
        ))
        .await;
    let send = next_request(&mut s.peer).await;
    let text = send.text();
    assert!(
        text.starts_with(&format!(
            "From: \"JuliC\" <sip:{ROOM};gr=JuliC>\r\nTo: <sip:{ROOM}>\r\n"
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
        text.starts_with(&format!("From: \"JuliC\" <sip:{ROOM};gr=JuliC>\r\n"))
            && text.contains("To: <sip:romeo@sip.example.net>\r\n")
            && text.ends_with("Only to thee"),
        "{text}"
    );
    s.peer.respond(&send, 200, "OK").await;

    // §6.6: BYE → romeo leaves the room.
    let bye = phone
        .in_dialog(&mut s.dialog, "BYE", WAIT)
        .await
        .expect("an answer to BYE");
    assert_eq!(status(&bye), 200);
    juliet
        .recv_matching(WAIT, |e| {
            e.name() == "presence"
                && e.attr("from") == Some(romeo.as_str())
                && e.attr("type") == Some("unavailable")
        })
        .await
        .expect("romeo left the room");
}

/// §6.1 refusals from Prosody: a room that does not exist (a SIP user may
/// not create one: `<not-allowed/>`, RFC 7247 §7.1 Table 2: 403) and a
/// members-only room (`<registration-required/>`, 403 per
/// `join_refusal_to_sip`); a second room for the same user over
/// `groupchat.max_rooms_per_user` gets 486.
#[tokio::test(flavor = "multi_thread")]
async fn rooms_parley_may_not_enter_get_the_mapped_sip_error() {
    let world = start();
    let mut juliet = world.client("juliet").await;
    let phone = Phone::bind("romeo").await;
    let offer = "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
        m=message 7 TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
        a=path:msrp://127.0.0.1:7/x1;tcp\r\n";
    let call = phone
        .invite(
            &format!("sip:nosuchroom@{MUC}"),
            world.sip_addr(),
            "gc-none",
            offer,
            WAIT,
        )
        .await
        .expect("an answer");
    assert_eq!(status(&call.answer), 403, "{:?}", call.answer);

    // juliet makes `private` members-only (XEP-0045 §10.2).
    let private = format!("private@{MUC}");
    enter(&mut juliet, &private, "JuliC").await;
    juliet
        .send_xml(&format!(
            "<iq type='set' id='cfg1' to='{private}'>\
             <query xmlns='http://jabber.org/protocol/muc#owner'>\
             <x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>\
             <field var='muc#roomconfig_membersonly'><value>1</value></field>\
             </x></query></iq>"
        ))
        .await;
    juliet
        .recv_matching(WAIT, |e| {
            e.name() == "iq" && e.attr("id") == Some("cfg1") && e.attr("type") == Some("result")
        })
        .await
        .expect("the room configured");
    let call = phone
        .invite(
            &format!("sip:{private}"),
            world.sip_addr(),
            "gc-members",
            offer,
            WAIT,
        )
        .await
        .expect("an answer");
    assert_eq!(status(&call.answer), 403, "{:?}", call.answer);

    // One room at a time for romeo (max_rooms_per_user = 1).
    enter(&mut juliet, ROOM, "JuliC").await;
    let _s = phone_joins(&world, &phone, ROOM, "gc-first").await;
    let call = phone
        .invite(
            &format!("sip:{private}"),
            world.sip_addr(),
            "gc-second",
            offer,
            WAIT,
        )
        .await
        .expect("an answer");
    assert_eq!(status(&call.answer), 486, "{:?}", call.answer);
}

/// RFC 7701 §7.1 NICKNAME (RFC 7702 Example 38 with its end-line flag).
async fn nickname(peer: &mut MsrpPeer, tid: &str, nick: &str) -> u16 {
    let frame = format!(
        "MSRP {tid} NICKNAME\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
         Use-Nickname: \"{nick}\"\r\n-------{tid}$\r\n",
        to = peer.to_path,
        from = peer.local_uri,
    );
    peer.send_raw(frame.as_bytes()).await;
    let answer = peer
        .next_frame(WAIT)
        .await
        .unwrap_or_else(|| panic!("an answer to NICKNAME {nick}"));
    assert_eq!(answer.transaction_id, tid, "{answer:?}");
    answer.status.expect("a response")
}

/// §6.4 and §6.5 against Prosody's MUC: romeo's phone asks for JuliC's
/// nickname (Prosody's `<conflict/>`, Example 40 → 425, Example 41), then
/// for `montecchi` (200; juliet sees XEP-0045 §7.6's 303 pair); its REFER
/// (Example 42) to the nurse, a Prosody user outside the room, gets 200
/// and Example 43's NOTIFY, and the room's invitation reaches the nurse.
#[tokio::test(flavor = "multi_thread")]
async fn sip_user_changes_nickname_and_invites_a_prosody_user() {
    let world = start();
    world.prosody.add_user("nurse", support::PASSWORD);
    let mut juliet = world.client("juliet").await;
    let mut nurse = world.client("nurse").await;
    enter(&mut juliet, ROOM, "JuliC").await;
    let phone = Phone::bind("romeo").await;
    let mut s = phone_joins(&world, &phone, ROOM, "gc-e2e-nick").await;

    assert_eq!(nickname(&mut s.peer, "nick0001", "JuliC").await, 425);
    assert_eq!(nickname(&mut s.peer, "nick0002", "montecchi").await, 200);
    let romeo = format!("{ROOM}/romeo");
    juliet
        .recv_matching(WAIT, |e| {
            e.name() == "presence"
                && e.attr("from") == Some(romeo.as_str())
                && e.attr("type") == Some("unavailable")
                && has_status(e, "303")
        })
        .await
        .expect("romeo's unavailable presence with 303 at juliet");
    let montecchi = format!("{ROOM}/montecchi");
    juliet
        .recv_matching(WAIT, |e| {
            e.name() == "presence"
                && e.attr("from") == Some(montecchi.as_str())
                && e.attr("type").is_none()
        })
        .await
        .expect("montecchi's presence at juliet");
    // A message now comes from the new nickname.
    phone_says(
        &mut s.peer,
        "m1",
        "message/cpim",
        &cpim(&format!("sip:{ROOM}"), "A rose by any other name"),
        &[],
    )
    .await;
    let m = message_from(&mut juliet, &montecchi, "groupchat").await;
    assert_eq!(
        child_text(&m, "body").as_deref(),
        Some("A rose by any other name")
    );

    // §6.5: REFER → 200, NOTIFY, the room's invitation at the nurse.
    let (refer, branch) = s.dialog.request(
        &phone,
        "REFER",
        &format!(
            "Accept: message/sipfrag\r\nRefer-To: <sip:nurse@{XMPP_DOMAIN}>\r\n\
             Supported: replaces\r\n"
        ),
        "",
    );
    let answer = phone
        .request(&refer, &branch, s.dialog.destination(), WAIT)
        .await
        .expect("an answer to REFER");
    assert_eq!(status(&answer), 200);
    let (_, notify) = phone
        .nth_request("NOTIFY", 0, WAIT)
        .await
        .expect("the REFER's NOTIFY");
    assert_eq!(notify.header("Event"), "refer");
    assert_eq!(
        notify.header("Subscription-State"),
        "terminated;reason=noresource"
    );
    assert!(
        notify.body().starts_with("SIP/2.0 100 Trying"),
        "{}",
        notify.body()
    );
    let invitation = nurse
        .recv_matching(WAIT, |e| {
            e.name() == "message"
                && e.attr("from") == Some(ROOM)
                && e.children()
                    .filter(|x| x.name() == "x")
                    .flat_map(|x| x.children())
                    .any(|i| i.name() == "invite")
        })
        .await
        .expect("the room's invitation at the nurse (XEP-0045 §7.8.2)");
    let inviter = invitation
        .children()
        .filter(|x| x.name() == "x")
        .flat_map(|x| x.children())
        .find(|i| i.name() == "invite")
        .and_then(|i| i.attr("from").map(str::to_owned))
        .expect("the invite names its sender");
    // XEP-0045 §7.8.2: "the bare JID, full JID, or occupant JID of the
    // inviter" (Prosody writes the occupant JID).
    assert!(
        inviter == montecchi || inviter.starts_with("romeo@sip.example.net"),
        "{inviter}"
    );
}

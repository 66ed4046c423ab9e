//! RFC 7702 §6 end to end against ejabberd's `mod_muc`: the story of
//! `groupchat_prosody.rs` (`support/groupchat.rs`) with a real ejabberd
//! 23.01 holding the room, a nickname already taken (§7), and the rooms
//! Parley may not enter, whose refusals differ from Prosody's.

#[path = "support/chat.rs"]
mod chat;
#[path = "support/ejabberd_world.rs"]
mod ejabberd_world;
#[path = "support/groupchat.rs"]
mod groupchat;
#[path = "support/sip_phone.rs"]
mod sip_phone;
mod support;

use std::net::SocketAddr;

use parley_harness::port::free_tcp_port;

use chat::{next_request, phone_says};
use ejabberd_world::EjabberdWorld;
use groupchat::{
    cpim, enter, leaves_within_10_s, make_members_only, message_from, phone_joins, presence_from,
    refused, sip_user_talks_and_leaves,
};
use sip_phone::Phone;
use support::{COMPONENT, PASSWORD, child_text, sessions_toml};

/// ejabberd's MUC service; only `xmpp.example` users may create rooms.
const MUC: &str = "rooms.xmpp.example";

const ROOM: &str = "capulet@rooms.xmpp.example";

/// Parley with `[sessions]` and `[groupchat]` for [`MUC`], ejabberd with
/// `mod_muc` serving it, users juliet and the nurse.
fn start() -> EjabberdWorld {
    start_with_rooms_per_user(1)
}

/// [`start`] with `groupchat.max_rooms_per_user = rooms`.
fn start_with_rooms_per_user(rooms: u32) -> EjabberdWorld {
    let msrp: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let world = EjabberdWorld::with_muc(
        &sessions_toml(
            msrp,
            &format!(
                "\n[groupchat]\nenabled = true\nroom_domains = [\"{MUC}\"]\n\
                 max_rooms_per_user = {rooms}\njoin_secs = 5\n"
            ),
        ),
        None,
        Some(MUC),
    );
    world.ejabberd.add_user("nurse", PASSWORD);
    world
}

/// §6.1–§6.3, §6.6 against ejabberd's MUC (the same story as Prosody's):
/// juliet creates the room (ejabberd answers with status 201 and 110 and
/// the room is open at once), the nurse enters, romeo's phone joins, sees
/// both in the NOTIFY, talks to all and privately both ways, and leaves
/// with BYE; both occupants see the unavailable presence.
#[tokio::test(flavor = "multi_thread")]
async fn sip_user_joins_an_ejabberd_room_talks_and_leaves() {
    let world = start();
    let mut juliet = world.juliet().await;
    let mut nurse = world.client("nurse").await;
    let created = enter(&mut juliet, ROOM, "JuliC").await;
    assert!(groupchat::has_status(&created, "201"), "{created:?}");
    enter(&mut nurse, ROOM, "Nurse").await;
    sip_user_talks_and_leaves(world.sip, ROOM, &mut juliet, &mut nurse).await;
}

/// RFC 7702 §7: the nickname `romeo` is held by juliet; ejabberd answers
/// Parley's join with `<conflict/>` and Parley joins again as
/// `adjusted_nickname("romeo", 1)` = `romeo (2)`: the room shows the phone
/// under that nickname and its message comes from it.
#[tokio::test(flavor = "multi_thread")]
async fn a_taken_nickname_is_adjusted_in_an_ejabberd_room() {
    let world = start();
    let mut juliet = world.juliet().await;
    enter(&mut juliet, ROOM, "romeo").await;
    let phone = Phone::bind("romeo").await;
    let mut s = phone_joins(world.sip, &phone, ROOM, "gc-nick").await;
    let adjusted = format!("{ROOM}/romeo (2)");
    let presence = presence_from(&mut juliet, &adjusted).await;
    assert_eq!(presence.attr("type"), None, "{presence:?}");
    phone_says(
        &mut s.peer,
        "n1",
        "message/cpim",
        &cpim(&format!("sip:{ROOM}"), "By any other name"),
        &[],
    )
    .await;
    let m = message_from(&mut juliet, &adjusted, "groupchat").await;
    assert_eq!(child_text(&m, "body").as_deref(), Some("By any other name"));
}

/// §6.1 refusals from ejabberd: a room that does not exist, which a SIP
/// user may not create (`access_create`), is refused with `<forbidden/>`
/// (Prosody: `<not-allowed/>`), RFC 7247 §7.1 Table 2: 403; a
/// members-only room with `<registration-required/>`, 403 per
/// `join_refusal_to_sip`.
#[tokio::test(flavor = "multi_thread")]
async fn rooms_parley_may_not_enter_in_ejabberd_get_the_mapped_sip_error() {
    let world = start();
    let mut juliet = world.juliet().await;
    let phone = Phone::bind("romeo").await;
    let none = refused(
        &phone,
        world.sip,
        &format!("sip:nosuchroom@{MUC}"),
        "gc-none",
    )
    .await;
    assert_eq!(none, 403, "{}", world.ejabberd.log());

    let private = format!("private@{MUC}");
    enter(&mut juliet, &private, "JuliC").await;
    make_members_only(&mut juliet, &private).await;
    let members = refused(&phone, world.sip, &format!("sip:{private}"), "gc-members").await;
    assert_eq!(members, 403, "{}", world.ejabberd.log());
}

/// RFC 7701 §7.1: "The MSRP switch MUST NOT automatically assign the same
/// nickname to more than one MSRP session established from the same URI".
/// romeo's second phone joins the room his first phone is in: Parley is
/// the switch, and each session is its own occupant client of the bare JID
/// `romeo@sip.example.net`. XEP-0045 §7.2.8: "if the bare JID ... of the
/// present occupant matches the bare JID of the user seeking to enter the
/// room, then the service SHOULD allow entry to the user, so that the user
/// has two (or more) in-room "sessions" with the same roomnick", and
/// ejabberd does (its `nick_collision` compares bare JIDs): the second join
/// under `romeo` is no `<conflict/>`, and the second session must still
/// get a nickname of its own.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_session_of_one_sip_user_gets_a_nickname_of_its_own_in_ejabberd() {
    let world = start_with_rooms_per_user(2);
    let mut juliet = world.juliet().await;
    enter(&mut juliet, ROOM, "JuliC").await;
    let first = Phone::bind("romeo").await;
    let mut s1 = phone_joins(world.sip, &first, ROOM, "gc-first").await;
    presence_from(&mut juliet, &format!("{ROOM}/romeo")).await;
    let second = Phone::bind("romeo").await;
    let mut s2 = phone_joins(world.sip, &second, ROOM, "gc-second").await;
    let adjusted = format!("{ROOM}/romeo (2)");
    let presence = presence_from(&mut juliet, &adjusted).await;
    assert_eq!(presence.attr("type"), None, "{presence:?}");
    // Nor by a NICKNAME (§7.1: 425, "already in use"): the second session
    // asks for the first one's nickname, which ejabberd would grant.
    let peer = &mut s2.peer;
    let frame = format!(
        "MSRP nick2 NICKNAME\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
         Use-Nickname: \"romeo\"\r\n-------nick2$\r\n",
        to = peer.to_path,
        from = peer.local_uri,
    );
    peer.send_raw(frame.as_bytes()).await;
    let answer = loop {
        let f = peer
            .next_frame(std::time::Duration::from_secs(5))
            .await
            .expect("the NICKNAME's response");
        if f.transaction_id == "nick2" {
            break f;
        }
    };
    assert_eq!(answer.status, Some(425), "{answer:?}");

    // RFC 7701 §6.1: "If the policy of the chat room allows simultaneous
    // access, the MSRP switch MUST copy all regular messages intended to the
    // recipient through each MSRP session mapped to the recipient's URI":
    // ejabberd broadcasts to each occupant, so each phone gets it once.
    juliet
        .send_xml(&format!(
            "<message to='{ROOM}' type='groupchat'><body>To you both</body></message>"
        ))
        .await;
    for s in [&mut s1, &mut s2] {
        let send = next_request(&mut s.peer).await;
        let got = send.text();
        assert!(
            got.contains(&format!("To: <sip:{ROOM}>\r\n")) && got.ends_with("To you both"),
            "{got}"
        );
        s.peer.respond(&send, 200, "OK").await;
    }

    // RFC 7701 §6.2: "if the policy of the chat room allows simultaneous
    // access, the MSRP switch MUST copy all private messages intended to
    // the recipient through each MSRP session mapped to the recipient's
    // URI": juliet's private message to either nickname reaches both
    // phones, once each.
    for (nick, text) in [("romeo", "To the first"), ("romeo (2)", "To the second")] {
        juliet
            .send_xml(&format!(
                "<message to='{ROOM}/{nick}' type='chat'><body>{text}</body></message>"
            ))
            .await;
        for s in [&mut s1, &mut s2] {
            let send = next_request(&mut s.peer).await;
            let got = send.text();
            assert!(
                got.starts_with(&format!("From: \"JuliC\" <sip:{ROOM};gr=JuliC>\r\n"))
                    && got.contains(&format!("To: <sip:romeo@{COMPONENT}>\r\n"))
                    && got.ends_with(text),
                "{got}"
            );
            s.peer.respond(&send, 200, "OK").await;
        }
    }
}

/// No ghosts after a restart, in ejabberd (as
/// `groupchat_prosody.rs::a_killed_parley_leaves_no_ghost_in_a_prosody_room`):
/// romeo's phone is in the room, Parley is killed and started again, juliet
/// speaks; Parley answers the room's message to romeo's occupant client
/// with `<item-not-found/>` (XEP-0045 §18.1), and ejabberd removes him.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_parley_leaves_no_ghost_in_an_ejabberd_room() {
    let mut world = start();
    let mut juliet = world.juliet().await;
    enter(&mut juliet, ROOM, "JuliC").await;
    let phone = Phone::bind("romeo").await;
    let s = phone_joins(world.sip, &phone, ROOM, "gc-ghost").await;
    let romeo = format!("{ROOM}/romeo");
    presence_from(&mut juliet, &romeo).await;
    let config = std::fs::read_to_string(&world.parley.config_path).expect("parley's config");
    let earlier = world.parley.log();
    world.parley.kill();
    drop(s);
    world.parley = parley_harness::parley::Parley::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_parley")),
        &config,
        world.parley.metrics,
    );
    world.parley.wait_ready(std::time::Duration::from_secs(30));
    juliet
        .send_xml(&format!(
            "<message to='{ROOM}' type='groupchat'><body>Romeo?</body></message>"
        ))
        .await;
    let gone = leaves_within_10_s(&mut juliet, &romeo).await;
    let log = world.parley.log();
    assert!(
        gone,
        "the ghost stayed in the room\n{earlier}\n---- restarted ----\n{log}\n--- ejabberd ---\n{}",
        world.ejabberd.log()
    );
    assert!(
        log.contains("a room wrote to an occupancy that is gone"),
        "{log}"
    );
}

/// As [`a_killed_parley_leaves_no_ghost_in_an_ejabberd_room`], with no one
/// speaking: after the restart the nurse enters, ejabberd sends her
/// presence to romeo's occupant client, Parley answers it with a presence
/// error `<item-not-found/>`, and ejabberd removes romeo.
#[tokio::test(flavor = "multi_thread")]
async fn a_ghost_is_dropped_when_someone_enters_an_ejabberd_room() {
    let mut world = start();
    let mut juliet = world.juliet().await;
    enter(&mut juliet, ROOM, "JuliC").await;
    let phone = Phone::bind("romeo").await;
    let s = phone_joins(world.sip, &phone, ROOM, "gc-ghost-p").await;
    let romeo = format!("{ROOM}/romeo");
    presence_from(&mut juliet, &romeo).await;
    let config = std::fs::read_to_string(&world.parley.config_path).expect("parley's config");
    world.parley.kill();
    drop(s);
    world.parley = parley_harness::parley::Parley::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_parley")),
        &config,
        world.parley.metrics,
    );
    world.parley.wait_ready(std::time::Duration::from_secs(30));
    let mut nurse = world.client("nurse").await;
    enter(&mut nurse, ROOM, "Nurse").await;
    let gone = leaves_within_10_s(&mut juliet, &romeo).await;
    assert!(
        gone,
        "the ghost stayed in the room\n{}\n--- ejabberd ---\n{}",
        world.parley.log(),
        world.ejabberd.log()
    );
}

//! RFC 7702 §6 end to end: a SIP phone (a UDP socket read with Parley's own
//! SIP parser, its MSRP end the harness's independent peer) joins a room of
//! a real Prosody's built-in MUC service through the real `parley` binary,
//! with two XMPP occupants: the roster NOTIFY (§6.2), messages to all and
//! private both ways (§6.3), BYE (§6.6); a nickname change and a taken
//! nickname (§6.4), an invitation (§6.5); and rooms Parley may not enter.
//! The story is `support/groupchat.rs`'s, shared with `groupchat_ejabberd.rs`.

#[path = "support/chat.rs"]
mod chat;
#[path = "support/groupchat.rs"]
mod groupchat;
#[path = "support/sip_phone.rs"]
mod sip_phone;
mod support;

use std::net::SocketAddr;

use parley_harness::port::free_tcp_port;

use chat::{WAIT, phone_says};
use groupchat::{
    cpim, enter, has_status, leaves_within_10_s, make_members_only, message_from, phone_joins,
    presence_from, refused, sip_user_talks_and_leaves,
};
use parley_harness::msrp_peer::MsrpPeer;
use sip_phone::{Phone, status};
use support::{COMPONENT, Options, World, XMPP_DOMAIN, child_text, sessions_toml};

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

/// §6.1–§6.3, §6.6 against Prosody's MUC: juliet (JuliC) and the nurse
/// are in the room; the story of `support/groupchat.rs`.
#[tokio::test(flavor = "multi_thread")]
async fn sip_user_joins_a_prosody_room_talks_and_leaves() {
    let world = start();
    world.prosody.add_user("nurse", support::PASSWORD);
    let mut juliet = world.client("juliet").await;
    let mut nurse = world.client("nurse").await;
    enter(&mut juliet, ROOM, "JuliC").await;
    enter(&mut nurse, ROOM, "Nurse").await;
    sip_user_talks_and_leaves(world.sip_addr(), ROOM, &mut juliet, &mut nurse).await;
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
    let sip = world.sip_addr();
    let none = refused(&phone, sip, &format!("sip:nosuchroom@{MUC}"), "gc-none").await;
    assert_eq!(none, 403);

    let private = format!("private@{MUC}");
    enter(&mut juliet, &private, "JuliC").await;
    make_members_only(&mut juliet, &private).await;
    let members = refused(&phone, sip, &format!("sip:{private}"), "gc-members").await;
    assert_eq!(members, 403);

    // One room at a time for romeo (max_rooms_per_user = 1).
    enter(&mut juliet, ROOM, "JuliC").await;
    let _s = phone_joins(sip, &phone, ROOM, "gc-first").await;
    let second = refused(&phone, sip, &format!("sip:{private}"), "gc-second").await;
    assert_eq!(second, 486);
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
    let mut s = phone_joins(world.sip_addr(), &phone, ROOM, "gc-e2e-nick").await;

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

/// No ghosts after a restart (README "Rooms both ways"). Occupancies live
/// in memory: romeo's phone is in the room, Parley is killed (no leave
/// reaches the room) and started again; the room still holds romeo. When
/// juliet speaks, Prosody sends the message to romeo's occupant client,
/// Parley answers `<item-not-found/>` (XEP-0045 §18.1: "a MUC service
/// SHOULD remove a user if the service receives a delivery-related error
/// in relation to a stanza it has previously sent to the user"), and
/// Prosody removes him: juliet sees his unavailable presence.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_parley_leaves_no_ghost_in_a_prosody_room() {
    let mut world = start();
    let mut juliet = world.client("juliet").await;
    enter(&mut juliet, ROOM, "JuliC").await;
    let phone = Phone::bind("romeo").await;
    let s = phone_joins(world.sip_addr(), &phone, ROOM, "gc-ghost").await;
    let romeo = format!("{ROOM}/romeo");
    presence_from(&mut juliet, &romeo).await;
    world.parley.kill();
    drop(s);
    world.restart_parley_after_exit();
    juliet
        .send_xml(&format!(
            "<message to='{ROOM}' type='groupchat'><body>Romeo?</body></message>"
        ))
        .await;
    let gone = leaves_within_10_s(&mut juliet, &romeo).await;
    assert!(
        gone,
        "the ghost stayed in the room\n{}\n--- prosody ---\n{}",
        world.logs(),
        world.prosody.log()
    );
    assert!(
        world
            .logs()
            .contains("a room wrote to an occupancy that is gone"),
        "{}",
        world.logs()
    );
}

/// As [`a_killed_parley_leaves_no_ghost_in_a_prosody_room`], with no one
/// speaking: after the restart the nurse enters, Prosody sends her presence
/// to romeo's occupant client, Parley answers it with a presence error
/// `<item-not-found/>`, and Prosody removes romeo.
#[tokio::test(flavor = "multi_thread")]
async fn a_ghost_is_dropped_when_someone_enters_a_prosody_room() {
    let mut world = start();
    world.prosody.add_user("nurse", support::PASSWORD);
    let mut juliet = world.client("juliet").await;
    enter(&mut juliet, ROOM, "JuliC").await;
    let phone = Phone::bind("romeo").await;
    let s = phone_joins(world.sip_addr(), &phone, ROOM, "gc-ghost-p").await;
    let romeo = format!("{ROOM}/romeo");
    presence_from(&mut juliet, &romeo).await;
    world.parley.kill();
    drop(s);
    world.restart_parley_after_exit();
    let mut nurse = world.client("nurse").await;
    enter(&mut nurse, ROOM, "Nurse").await;
    let gone = leaves_within_10_s(&mut juliet, &romeo).await;
    assert!(
        gone,
        "the ghost stayed in the room\n{}\n--- prosody ---\n{}",
        world.logs(),
        world.prosody.log()
    );
}

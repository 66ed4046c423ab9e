//! RFC 7702 §6 end to end: a SIP phone (a UDP socket read with Parley's own
//! SIP parser, its MSRP end the harness's independent peer) joins a room of
//! a real Prosody's built-in MUC service through the real `parley` binary,
//! with two XMPP occupants: the roster NOTIFY (§6.2), messages to all and
//! private both ways (§6.3), BYE (§6.6); and rooms Parley may not enter.
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

use groupchat::{enter, make_members_only, phone_joins, refused, sip_user_talks_and_leaves};
use sip_phone::Phone;
use support::{COMPONENT, Options, World, sessions_toml};

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

//! No ghosts after a restart (issue 23): occupancies live in memory, so a
//! fresh gateway gets stanzas of a client that still believes it is in
//! `room@<component>`. XEP-0045 tells the client it is out, so it can join
//! again; nothing of it reaches the focus. Literal XML in and out.

use std::time::Duration;

use parley_sip::wire::StartLine;

use super::world::World;

/// `[sessions]` (the MSRP endpoint) and `[conference]`, as `rfc7702_5.rs`.
const CONFERENCE: &str = "[sessions]\nenabled = true\nmsrp_listen = \"127.0.0.1:0\"\n\n\
    [conference]\nenabled = true\nmax_per_user = 1\nmax_occupants = 4\njoin_secs = 2\n";

const JULIET: &str = "juliet@example.com/balcony";
const ROOM: &str = "montague@sip.example.net";

/// Nothing more within this long: neither a stanza nor a SIP request.
const QUIET: Duration = Duration::from_millis(300);

/// XEP-0045 §7.4: "If the sender is not an occupant of the room, the
/// service SHOULD return a <not-acceptable/> error to the sender and SHOULD
/// NOT reflect the message to all occupants". A fresh gateway (as after a
/// restart) that never had Juliet's occupancy answers her groupchat
/// message so, `by` the room, and sends nothing to SIP.
#[tokio::test]
async fn xep0045_7_4_a_groupchat_message_from_a_non_occupant_is_not_acceptable() {
    let mut world = World::with("", CONFERENCE).await;
    world.stanza_in(&format!(
        "<message from='{JULIET}' to='{ROOM}' type='groupchat' id='g1'><body>hi</body></message>"
    ));
    assert_eq!(
        world.stanza_out().await,
        format!(
            "<message from='{ROOM}' to='{JULIET}' id='g1' type='error'><body>hi</body>\
             <error type='modify' by='{ROOM}'>\
             <not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        )
    );
    world.no_sip_out(QUIET).await;
}

/// XEP-0045 §7.5: "If the sender is not an occupant of the room in which
/// the intended recipient is visiting, the service MUST return a
/// <not-acceptable/> error". A private message marked with the `muc#user`
/// `<x/>` (as §7.5's sending client adds it) from a non-occupant is
/// refused, no SIP MESSAGE to the conference (before: one to
/// `sip:montague@sip.example.net;gr=Romeo`).
#[tokio::test]
async fn xep0045_7_5_a_private_message_from_a_non_occupant_is_not_acceptable() {
    let mut world = World::with("", CONFERENCE).await;
    world.stanza_in(&format!(
        "<message from='{JULIET}' to='{ROOM}/Romeo' type='chat' id='p1'><body>psst</body>\
         <x xmlns='http://jabber.org/protocol/muc#user'/></message>"
    ));
    assert_eq!(
        world.stanza_out().await,
        format!(
            "<message from='{ROOM}/Romeo' to='{JULIET}' id='p1' type='error'><body>psst</body>\
             <error type='modify' by='{ROOM}'>\
             <not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        )
    );
    world.no_sip_out(QUIET).await;
}

/// The client leaving a room Parley has no occupancy for: no INVITE, no
/// BYE, no error (so no loop of errors and unavailable presences), and the
/// gateway takes a join afterwards as any other.
#[tokio::test]
async fn an_exit_from_a_conference_parley_does_not_know_is_dropped_quietly() {
    let mut world = World::with("", CONFERENCE).await;
    world.stanza_in(&format!(
        "<presence from='{JULIET}' to='{ROOM}/JuliC' type='unavailable'/>"
    ));
    world.no_stanza_out(QUIET).await;
    world.no_sip_out(QUIET).await;
    world.stanza_in(&format!(
        "<presence from='{JULIET}' to='{ROOM}/JuliC'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
    ));
    let invite = world.sip_out().await;
    assert!(
        matches!(&invite.start, StartLine::Request { method, .. } if method == "INVITE"),
        "{:?}",
        invite.start
    );
}

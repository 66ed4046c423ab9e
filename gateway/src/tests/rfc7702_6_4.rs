//! RFC 7702 §6.4 with RFC 7701 §7: the phone's MSRP NICKNAME in a room is
//! a XEP-0045 §7.6 nickname change; the room's answer is the NICKNAME's
//! response. Literal MSRP in and out, literal XML out. RFC 7702's
//! NICKNAME examples (38, 41) lack the end-line flag; here it is `$`.

use std::time::Duration;

use parley_harness::msrp_peer::{MsrpFrame, MsrpPeer};
use parley_sip::wire::StartLine;

use super::rfc7702_6::{Joined, attr, in_dialog, join, next_frame, next_sip, status};
use super::world::World;

/// Example 38 (F51), with `$` and the session's own paths.
async fn nickname(phone: &mut MsrpPeer, tid: &str, use_nickname: &str) {
    let frame = format!(
        "MSRP {tid} NICKNAME\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
         Use-Nickname: {use_nickname}\r\n-------{tid}$\r\n",
        to = phone.to_path,
        from = phone.local_uri,
    );
    phone.send_raw(frame.as_bytes()).await;
}

/// The response to the NICKNAME `tid`.
async fn nickname_answer(phone: &mut MsrpPeer, tid: &str) -> MsrpFrame {
    let frame = next_frame(phone).await;
    assert_eq!(frame.transaction_id, tid, "{frame:?}");
    frame
}

/// The SUBSCRIBE of Example 29, its 200 and the first (full) NOTIFY answered.
async fn subscribed(world: &mut World, ok: &parley_sip::wire::Message) {
    world
        .sip_in(&in_dialog(ok, "SUBSCRIBE", 2, "Event: conference\n"))
        .await;
    let mut seen = 0;
    while seen < 2 {
        let m = next_sip(world).await;
        if matches!(m.start, StartLine::Request { .. }) {
            world.sip_answer(&m, "200 OK", "").await;
        }
        seen += 1;
    }
}

/// Example 38 → Example 39; the room's 303 pair (XEP-0045 §7.6) → 200
/// (RFC 7701 §7.1) and one partial NOTIFY (RFC 4575 §4.4: the old entity
/// deleted, the new one there); the BYE then leaves as the new nickname.
#[tokio::test]
async fn rfc7702_6_4_example_38_to_39_then_the_303_pair_gives_200_and_one_notify() {
    let Joined {
        mut world,
        ok,
        me,
        mut phone,
    } = join("nick1").await;
    subscribed(&mut world, &ok).await;
    nickname(&mut phone, "a786hjs2", "\"montecchi\"").await;
    let presence = world.stanza_out().await;
    let id = attr(&presence, "id");
    assert_eq!(
        presence.replace(&me, "ME").replace(&id, "ID"),
        "<presence from='ME' to='capulet@rooms.example.com/montecchi' id='ID'></presence>"
    );
    world.stanza_in(&format!(
        "<presence from='capulet@rooms.example.com/Romeo' to='{me}' type='unavailable'>\
         <x xmlns='http://jabber.org/protocol/muc#user'>\
         <item affiliation='none' nick='montecchi' role='participant'/>\
         <status code='303'/><status code='110'/></x></presence>"
    ));
    world.stanza_in(&format!(
        "<presence from='capulet@rooms.example.com/montecchi' to='{me}'>\
         <x xmlns='http://jabber.org/protocol/muc#user'>\
         <item affiliation='none' role='participant'/><status code='110'/></x></presence>"
    ));
    let answer = nickname_answer(&mut phone, "a786hjs2").await;
    assert_eq!(answer.status, Some(200));
    let notify = next_sip(&world).await;
    let doc = String::from_utf8(notify.body.to_vec()).expect("XML");
    assert!(doc.contains("state=\"partial\""), "{doc}");
    assert!(doc.contains("version=\"2\""), "{doc}");
    assert!(
        doc.contains("entity=\"sip:capulet@rooms.example.com;gr=Romeo\" state=\"deleted\""),
        "{doc}"
    );
    assert!(
        doc.contains("entity=\"sip:capulet@rooms.example.com;gr=montecchi\""),
        "{doc}"
    );
    world.sip_answer(&notify, "200 OK", "").await;
    // One NOTIFY for the pair, not one for each half.
    assert!(
        world
            .sip_out_within(Duration::from_millis(200))
            .await
            .is_none()
    );
    world.sip_in(&in_dialog(&ok, "BYE", 3, "")).await;
    assert_eq!(status(&next_sip(&world).await), 200);
    assert_eq!(
        world.stanza_out().await.replace(&me, "ME"),
        "<presence from='ME' to='capulet@rooms.example.com/montecchi' \
         type='unavailable'></presence>"
    );
}

/// Example 40 (F53) → Example 41 (F54): `<conflict/>` → 425, and the
/// nickname held stays (RFC 7701 §7.2); locked-down nicknames
/// (`<not-acceptable/>`, XEP-0045 §7.6) → 403 (RFC 7701 §7.1).
#[tokio::test]
async fn rfc7702_6_4_example_40_conflict_is_425_and_not_acceptable_403() {
    let Joined {
        mut world,
        ok,
        me,
        mut phone,
    } = join("nick2").await;
    for (tid, condition, code) in [
        ("a786hjs2", "conflict", 425),
        ("b786hjs2", "not-acceptable", 403),
    ] {
        nickname(&mut phone, tid, "\"montecchi\"").await;
        let _presence = world.stanza_out().await;
        world.stanza_in(&format!(
            "<presence from='capulet@rooms.example.com/Romeo' to='{me}' type='error'>\
             <x xmlns='http://jabber.org/protocol/muc'/>\
             <error type='cancel' by='capulet@rooms.example.com'>\
             <{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
        ));
        let answer = nickname_answer(&mut phone, tid).await;
        assert_eq!(answer.status, Some(code), "{condition}");
    }
    world.sip_in(&in_dialog(&ok, "BYE", 3, "")).await;
    assert_eq!(status(&next_sip(&world).await), 200);
    assert_eq!(
        world.stanza_out().await.replace(&me, "ME"),
        "<presence from='ME' to='capulet@rooms.example.com/Romeo' type='unavailable'></presence>"
    );
}

/// Answered without the room: the nickname held → 200 (RFC 7702 §6.1: the
/// first NICKNAME after joining with the temporary nickname); the empty
/// one (RFC 7701 §7.3) → 403; one that is no resourcepart (RFC 7622 §3.4,
/// here an unassigned code point) → 424. A room that does not answer →
/// 408 after `groupchat.join_secs`.
#[tokio::test]
async fn nicknames_answered_without_the_room_and_a_silent_room_408() {
    let Joined {
        mut world,
        mut phone,
        ..
    } = join("nick3").await;
    nickname(&mut phone, "same0001", "\"Romeo\"").await;
    assert_eq!(
        nickname_answer(&mut phone, "same0001").await.status,
        Some(200)
    );
    nickname(&mut phone, "empty001", "\"\"").await;
    assert_eq!(
        nickname_answer(&mut phone, "empty001").await.status,
        Some(403)
    );
    nickname(&mut phone, "badres01", "\"Ro\u{378}meo\"").await;
    assert_eq!(
        nickname_answer(&mut phone, "badres01").await.status,
        Some(424)
    );
    world.no_stanza_out(Duration::from_millis(100)).await;
    nickname(&mut phone, "silent01", "\"montecchi\"").await;
    let _presence = world.stanza_out().await;
    let answer = tokio::time::timeout(
        Duration::from_secs(3),
        nickname_answer(&mut phone, "silent01"),
    )
    .await
    .expect("an answer after join_secs");
    assert_eq!(answer.status, Some(408));
}

/// Two at once: the second waits for the first's answer, then goes to the
/// room. A flood past the session's bound (`max_pending`, 64) is answered
/// 403 by the MSRP session (RFC 7701 §7.1), and the occupancy goes on.
#[tokio::test]
async fn nicknames_go_one_at_a_time_and_a_flood_is_refused() {
    let Joined {
        mut world,
        me,
        mut phone,
        ..
    } = join("nick4").await;
    nickname(&mut phone, "first001", "\"montecchi\"").await;
    nickname(&mut phone, "second01", "\"Romeo2\"").await;
    assert!(world.stanza_out().await.contains("/montecchi'"));
    world.no_stanza_out(Duration::from_millis(100)).await;
    world.stanza_in(&format!(
        "<presence from='capulet@rooms.example.com/Romeo' to='{me}' type='error'>\
         <error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
         </error></presence>"
    ));
    assert_eq!(
        nickname_answer(&mut phone, "first001").await.status,
        Some(425)
    );
    assert!(world.stanza_out().await.contains("/Romeo2'"));
    // The flood: 100 more while "Romeo2" is in flight.
    for i in 0..100 {
        nickname(&mut phone, &format!("flood{i:03}"), "\"x\"").await;
    }
    let mut refused = 0;
    while let Some(f) = phone.next_frame(Duration::from_millis(300)).await {
        if f.status == Some(403) {
            refused += 1;
        }
    }
    assert!(refused >= 100 - 64, "{refused} refused");
    // The room still answers the one in flight.
    world.stanza_in(&format!(
        "<presence from='capulet@rooms.example.com/Romeo2' to='{me}'>\
         <x xmlns='http://jabber.org/protocol/muc#user'>\
         <item affiliation='none' role='participant'/><status code='110'/></x></presence>"
    ));
    assert_eq!(
        nickname_answer(&mut phone, "second01").await.status,
        Some(200)
    );
}

/// Another occupant's nickname change (XEP-0045 §7.6's 303 pair) is one
/// partial NOTIFY too: JuliC's entity deleted, CapuletGirl's added.
#[tokio::test]
async fn another_occupants_303_pair_is_one_partial_notify() {
    let Joined {
        mut world,
        ok,
        me,
        phone: _phone,
    } = join("nick5").await;
    subscribed(&mut world, &ok).await;
    world.stanza_in(&format!(
        "<presence from='capulet@rooms.example.com/JuliC' to='{me}' type='unavailable'>\
         <x xmlns='http://jabber.org/protocol/muc#user'>\
         <item affiliation='none' nick='CapuletGirl' role='participant'/>\
         <status code='303'/></x></presence>"
    ));
    world.stanza_in(&super::rfc7702_6::occupant("CapuletGirl", &me, ""));
    let notify = next_sip(&world).await;
    let doc = String::from_utf8(notify.body.to_vec()).expect("XML");
    assert!(doc.contains("version=\"2\""), "{doc}");
    assert!(
        doc.contains("gr=JuliC\" state=\"deleted\"") && doc.contains("gr=CapuletGirl\""),
        "{doc}"
    );
    world.sip_answer(&notify, "200 OK", "").await;
    assert!(
        world
            .sip_out_within(Duration::from_millis(200))
            .await
            .is_none()
    );
}

/// A room that answers a NICKNAME after its 408: the late error (its id,
/// RFC 6120 §8.3.1) is not the answer to the NICKNAME in flight since.
#[tokio::test]
async fn a_late_error_for_an_earlier_nickname_does_not_answer_the_next() {
    let Joined {
        mut world,
        me,
        mut phone,
        ..
    } = join("nick6").await;
    nickname(&mut phone, "late0001", "\"montecchi\"").await;
    let first = world.stanza_out().await;
    let first_id = attr(&first, "id");
    let answer = tokio::time::timeout(
        Duration::from_secs(3),
        nickname_answer(&mut phone, "late0001"),
    )
    .await
    .expect("408 after join_secs");
    assert_eq!(answer.status, Some(408));
    nickname(&mut phone, "late0002", "\"Romeo2\"").await;
    let _second = world.stanza_out().await;
    world.stanza_in(&format!(
        "<presence from='capulet@rooms.example.com/montecchi' to='{me}' type='error' \
         id='{first_id}'><error type='cancel'>\
         <conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    ));
    assert!(
        phone.next_frame(Duration::from_millis(200)).await.is_none(),
        "no answer to late0002 from the late error"
    );
    world.stanza_in(&format!(
        "<presence from='capulet@rooms.example.com/Romeo2' to='{me}'>\
         <x xmlns='http://jabber.org/protocol/muc#user'>\
         <item affiliation='none' role='participant'/><status code='110'/></x></presence>"
    ));
    assert_eq!(
        nickname_answer(&mut phone, "late0002").await.status,
        Some(200)
    );
}

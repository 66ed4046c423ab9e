//! RFC 8048 §5.2, XMPP to SIP: an XMPP user subscribes to a SIP contact
//! (F1–F15), and cancels (F16–F25). One test per step, each running the
//! flow up to its step; the SIP side is the test's peer, the XMPP side the
//! in-memory component.

use std::time::Duration;

use parley_sip::wire::Message as SipWire;

use super::romeo::{PIDF_AWAY, SUBSCRIBE, notify, notify_answer};
use super::world::{World, shape};

/// F1 in, F2 out: Juliet's `subscribe` and the SUBSCRIBE it became.
async fn f1_subscribe(world: &World) -> SipWire {
    world.stanza_in(
        "<presence from='juliet@xmpp.example' to='romeo@sip.example.net' type='subscribe'/>",
    );
    world.sip_out().await
}

/// F1–F5: the SUBSCRIBE accepted with 200 (Example 3), Romeo's To tag
/// `peer-tag`.
async fn f5_accepted(world: &World) -> SipWire {
    let subscribe = f1_subscribe(world).await;
    world
        .sip_answer(
            &subscribe,
            "200 OK",
            "Contact: <sip:romeo@sip.example.net;gr=dr4hcr0st3lup4c>\nExpires: 3600\n",
        )
        .await;
    subscribe
}

/// F1 → F2, Example 1 → Example 2:
///
/// ```text
/// <presence from='juliet@example.com' to='romeo@example.net' type='subscribe'/>
///
/// SUBSCRIBE sip:romeo@example.net SIP/2.0
/// From: <sip:juliet@example.com>;tag=j89d
/// Event: presence
/// CSeq: 1 SUBSCRIBE
/// Contact: <sip:juliet@example.com>;gr=yn0cl4bnw0yr3vym
/// Accept: application/pidf+xml
/// Expires: 3600
/// ```
///
/// Parley's Contact is its own address (where the NOTIFYs must come), not
/// the JID's; Juliet subscribed from her bare JID, so there is no GRUU.
#[tokio::test]
async fn f2_subscribe_becomes_sip_subscribe() {
    let world = World::start().await;
    let subscribe = f1_subscribe(&world).await;
    assert_eq!(
        shape(&subscribe, SUBSCRIBE, true).replace(&world.endpoint_addr().to_string(), "{gw}"),
        "SUBSCRIBE sip:romeo@sip.example.net SIP/2.0\n\
         From: <sip:juliet@xmpp.example>;tag=*\n\
         To: <sip:romeo@sip.example.net>\n\
         Call-ID: *\n\
         CSeq: 1 SUBSCRIBE\n\
         Event: presence\n\
         Accept: application/pidf+xml\n\
         Expires: 3600\n\
         Contact: <sip:juliet@{gw}>\n"
    );
}

/// F5, Example 3 (200 OK to the SUBSCRIBE): RFC 8048 §5.2.1, "the
/// XMPP-to-SIP gateway needs to consider the state to be \"neutral\" until it
/// receives a NOTIFY message ... whose value is \"active\"": no `subscribed` yet.
#[tokio::test]
async fn f5_200_to_subscribe_says_nothing_to_xmpp_yet() {
    let mut world = World::start().await;
    f5_accepted(&world).await;
    world.no_stanza_out(Duration::from_millis(100)).await;
}

/// F7 → F8: "If the XMPP-to-SIP gateway initially receives one or more
/// NOTIFY messages with a Subscription-State header whose value is
/// \"pending\" (F6), then it MUST respond to them on the SIP side but refrain
/// from sending any presence stanzas".
#[tokio::test]
async fn f8_pending_notify_is_answered_and_not_forwarded() {
    let mut world = World::start().await;
    let subscribe = f5_accepted(&world).await;
    world
        .sip_in(&notify(&world, &subscribe, 1, "pending", ""))
        .await;
    assert_eq!(
        notify_answer(&world).await,
        "SIP/2.0 200 OK\nCSeq: 1 NOTIFY\n"
    );
    world.no_stanza_out(Duration::from_millis(50)).await;
}

/// F6 with a body: RFC 6665 §4.1.2.3 lets a pending NOTIFY carry state,
/// but RFC 8048 §5.2.1 still has the gateway "refrain from sending any
/// presence stanzas" until one says "active" — and then Juliet hears
/// `subscribed` before any presence, as in F14, F15.
#[tokio::test]
async fn pending_notify_with_a_pidf_is_not_forwarded_until_active() {
    let mut world = World::start().await;
    let subscribe = f5_accepted(&world).await;
    world
        .sip_in(&notify(&world, &subscribe, 1, "pending", PIDF_AWAY))
        .await;
    assert_eq!(
        notify_answer(&world).await,
        "SIP/2.0 200 OK\nCSeq: 1 NOTIFY\n"
    );
    world.no_stanza_out(Duration::from_millis(50)).await;
    world
        .sip_in(&notify(
            &world,
            &subscribe,
            2,
            "active;expires=499",
            PIDF_AWAY,
        ))
        .await;
    assert_eq!(
        notify_answer(&world).await,
        "SIP/2.0 200 OK\nCSeq: 2 NOTIFY\n"
    );
    assert_eq!(
        world.stanza_out().await,
        "<presence from='romeo@sip.example.net' to='juliet@xmpp.example' type='subscribed'></presence>"
    );
    assert_eq!(
        world.stanza_out().await,
        "<presence from='romeo@sip.example.net' to='juliet@xmpp.example'>\
         <show>away</show></presence>"
    );
}

/// F11 → F12, F14, F15: the first active NOTIFY (Example 4) is answered 200,
/// then Juliet gets `subscribed` (Example 5) and the presence (Example 6):
///
/// ```text
/// <presence from='romeo@example.net' to='juliet@example.com' type='subscribed'/>
/// <presence from='romeo@example.net/dr4hcr0st3lup4c' to='juliet@example.com'/>
/// ```
///
/// The presence's `from` is the bare JID, as §6.3 Table 2 ("From | from")
/// and Example 21 have it; Example 6's resource (the tuple id) is not
/// required by the table. The `<show/>` is note 3's `jabber:client` extension.
#[tokio::test]
async fn f14_f15_active_notify_gives_subscribed_then_presence() {
    let mut world = World::start().await;
    let subscribe = f5_accepted(&world).await;
    world
        .sip_in(&notify(
            &world,
            &subscribe,
            2,
            "active;expires=499",
            PIDF_AWAY,
        ))
        .await;
    assert_eq!(
        notify_answer(&world).await,
        "SIP/2.0 200 OK\nCSeq: 2 NOTIFY\n"
    );
    assert_eq!(
        world.stanza_out().await,
        "<presence from='romeo@sip.example.net' to='juliet@xmpp.example' type='subscribed'></presence>"
    );
    assert_eq!(
        world.stanza_out().await,
        "<presence from='romeo@sip.example.net' to='juliet@xmpp.example'>\
         <show>away</show></presence>"
    );
}

/// F16 → F17, Example 7 → Example 8: `unsubscribe` becomes a SUBSCRIBE in
/// the same dialog with Expires: 0; F20 (its 200) → F21, Example 9:
///
/// ```text
/// <presence from='romeo@example.net' to='juliet@example.com' type='unsubscribed'/>
/// ```
#[tokio::test]
async fn f17_f21_unsubscribe_becomes_expires_0_then_unsubscribed() {
    let mut world = World::start().await;
    let subscribe = f5_accepted(&world).await;
    world
        .sip_in(&notify(
            &world,
            &subscribe,
            2,
            "active;expires=499",
            PIDF_AWAY,
        ))
        .await;
    notify_answer(&world).await;
    world.stanza_out().await;
    world.stanza_out().await;

    world.stanza_in(
        "<presence from='juliet@xmpp.example' to='romeo@sip.example.net' type='unsubscribe'/>",
    );
    let unsubscribe = world.sip_out().await;
    assert_eq!(
        shape(&unsubscribe, SUBSCRIBE, false),
        shape(&subscribe, SUBSCRIBE, false)
            .replace(
                "To: <sip:romeo@sip.example.net>",
                "To: <sip:romeo@sip.example.net>;tag=*"
            )
            .replace("CSeq: 1 SUBSCRIBE", "CSeq: 2 SUBSCRIBE")
            .replace("Expires: 3600", "Expires: 0")
            .replace(
                "SUBSCRIBE sip:romeo@sip.example.net",
                "SUBSCRIBE sip:romeo@sip.example.net;gr=dr4hcr0st3lup4c"
            )
    );
    world.no_stanza_out(Duration::from_millis(50)).await;
    world
        .sip_answer(&unsubscribe, "200 OK", "Expires: 0\n")
        .await;
    assert_eq!(
        world.stanza_out().await,
        "<presence from='romeo@sip.example.net' to='juliet@xmpp.example' type='unsubscribed'></presence>"
    );

    // F22–F25, Example 10: the notifier's NOTIFY "terminated" ends the
    // dialog; it is answered, and Juliet, already told, hears nothing more.
    world
        .sip_in(&notify(&world, &subscribe, 3, "terminated", ""))
        .await;
    assert_eq!(
        notify_answer(&world).await,
        "SIP/2.0 200 OK\nCSeq: 3 NOTIFY\n"
    );
}

/// RFC 8048 §5.2.2: the gateway "MUST consider the XMPP presence
/// authorization to be permanently cancelled (and so inform the XMPP user)
/// if it receives a SIP response of 403, 489, or 603".
#[tokio::test]
async fn subscribe_refused_403_is_unsubscribed() {
    let mut world = World::start().await;
    let subscribe = f1_subscribe(&world).await;
    world.sip_answer(&subscribe, "403 Forbidden", "").await;
    assert_eq!(
        world.stanza_out().await,
        "<presence from='romeo@sip.example.net' to='juliet@xmpp.example' type='unsubscribed'></presence>"
    );
}

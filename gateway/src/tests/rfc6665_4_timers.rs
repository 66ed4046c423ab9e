//! RFC 6665 §4's timers, as RFC 8048 §5.2.2 and §5.3 use them, driven by
//! the reaper's tick (`Router::reap(now)`) at a future instant, as the
//! Table 2 tests close the delivery window: the subscriber's refresh
//! (§4.1.2.2) and Timer N (§4.1.2.4), and the notifier's expiry (§4.2.1.2).
//!
//! Each deadline is pinned from both sides: the state machine set it at
//! some instant between `before` (taken before the SIP message that set it
//! was sent) and `after` (taken once its effects were seen), so a tick at
//! `before + wait - 1 ms` must do nothing and one at `after + wait` must act.

use std::time::Duration;

use tokio::time::Instant;

use parley_sip::wire::Message as SipWire;

use super::romeo::{PIDF_AWAY, SUBSCRIBE, f5_granted, f15_active, notify};
use super::world::{T1, World, shape};

/// One millisecond, to tick just before a deadline.
const MS: Duration = Duration::from_millis(1);

/// What Romeo's 200 grants Juliet's subscription: less than the 3600 s
/// asked for, so the refresh is seen to follow the grant (RFC 6665
/// §4.1.2.1: the 200's Expires "indicates the actual duration").
const GRANTED: &str = "Expires: 600\n";

/// 80 % of [`GRANTED`]'s 600 s, as Parley schedules the refresh
/// (`subscriber::state::refresh_wait`: 80 % of a second less than granted).
const REFRESH_AT: Duration = Duration::from_secs(479);

/// RFC 6665 §4.1.2.4: "a subscriber starts a Timer N, set to 64*T1".
const TIMER_N: Duration = T1.saturating_mul(64);

/// The refreshing SUBSCRIBE the reaper sends at 80 % of the grant.
async fn refresh_due(world: &World, before: Instant, after: Instant) -> SipWire {
    world.reap_at(before + REFRESH_AT - MS);
    world.no_sip_out(Duration::from_millis(50)).await;
    world.reap_at(after + REFRESH_AT);
    world.sip_out().await
}

/// RFC 8048 §5.2.2: "The XMPP-to-SIP gateway SHOULD also send a new
/// SUBSCRIBE request to the SIP contact sufficiently in advance of when the
/// SIP notification dialog is scheduled to expire"; RFC 6665 §4.1.2.2: "by
/// sending another SUBSCRIBE request on the same dialog". At 80 % of the
/// 600 s granted: the same Call-ID and both tags, CSeq up by one, sent to
/// Romeo's Contact (his GRUU, the dialog's remote target), asking the full
/// hour again. Granted, it changes nothing on the XMPP side.
#[tokio::test]
async fn refresh_goes_in_the_dialog_at_80_percent_of_the_grant() {
    let mut world = World::start().await;
    let (subscribe, before, after) = f15_active(&mut world, GRANTED).await;
    let refresh = refresh_due(&world, before, after).await;
    assert_eq!(
        shape(&refresh, SUBSCRIBE, false),
        shape(&subscribe, SUBSCRIBE, false)
            .replace(
                "SUBSCRIBE sip:romeo@sip.example.net SIP/2.0",
                "SUBSCRIBE sip:romeo@sip.example.net;gr=dr4hcr0st3lup4c SIP/2.0"
            )
            .replace(
                "To: <sip:romeo@sip.example.net>",
                "To: <sip:romeo@sip.example.net>;tag=*"
            )
            .replace("CSeq: 1 SUBSCRIBE", "CSeq: 2 SUBSCRIBE")
    );
    assert_eq!(refresh.header("Call-ID"), subscribe.header("Call-ID"));
    assert_eq!(refresh.header("From"), subscribe.header("From"));
    assert_eq!(
        refresh.header("To").as_deref(),
        Some("<sip:romeo@sip.example.net>;tag=peer-tag")
    );
    world.sip_answer(&refresh, "200 OK", GRANTED).await;
    world.no_stanza_out(Duration::from_millis(50)).await;
}

/// RFC 6665 §4.1.2.2: "If a SUBSCRIBE request to refresh a subscription
/// receives a 404, 405, 410, 416, 480-485, 489, 501, or 604 response, the
/// subscriber MUST consider the subscription terminated. ... If the
/// subscriber wishes to re-subscribe to the state, he does so by composing
/// an unrelated initial SUBSCRIBE request with a freshly generated Call-ID
/// and a new, unique "From" tag." Romeo's side has lost the dialog (481),
/// which RFC 8048 §5.2.2 has "a transient error" that leaves Juliet's
/// authorization standing: Parley subscribes afresh (new Call-ID, new From
/// tag, no To tag, CSeq 1, to Romeo's address of record, not his GRUU) and
/// tells Juliet nothing. The old subscription is gone, so a NOTIFY in its
/// dialog now gets 481 (RFC 6665 §4.1.3).
#[tokio::test]
async fn a_refresh_refused_481_subscribes_afresh() {
    let mut world = World::start().await;
    let (subscribe, before, after) = f15_active(&mut world, GRANTED).await;
    let refresh = refresh_due(&world, before, after).await;
    world
        .sip_answer(&refresh, "481 Call/Transaction Does Not Exist", "")
        .await;
    let fresh = world.sip_out().await;
    assert_eq!(
        shape(&fresh, SUBSCRIBE, true),
        shape(&subscribe, SUBSCRIBE, true)
    );
    assert_ne!(fresh.header("Call-ID"), subscribe.header("Call-ID"));
    assert_ne!(fresh.header("From"), subscribe.header("From"));
    world.no_stanza_out(Duration::from_millis(50)).await;
    world
        .sip_in(&notify(
            &world,
            &subscribe,
            2,
            "active;expires=100",
            PIDF_AWAY,
        ))
        .await;
    assert_eq!(
        shape(&world.sip_out().await, &["CSeq"], false),
        "SIP/2.0 481 Call/Transaction Does Not Exist\nCSeq: 2 NOTIFY\n"
    );
    world.no_stanza_out(Duration::from_millis(50)).await;
}

/// RFC 6665 §4.1.2.4: "If this Timer N expires prior to the receipt of a
/// NOTIFY request, the subscriber considers the subscription failed, and
/// cleans up any state associated with the subscription attempt." Timer N
/// is 64·T1 (6.4 s here), counted by Parley from the 200; when it fires,
/// Juliet hears `unsubscribed` (RFC 8048 §5.2: a failed subscription), and
/// a NOTIFY after it gets 481 ("the subscriber SHOULD reject any such
/// NOTIFY requests ... with a 481").
#[tokio::test]
async fn timer_n_without_a_notify_is_unsubscribed() {
    let mut world = World::start().await;
    let (subscribe, before) = f5_granted(&mut world, GRANTED).await;
    let after = Instant::now();
    world.reap_at(before + TIMER_N - MS);
    world.no_stanza_out(Duration::from_millis(50)).await;
    world.reap_at(after + TIMER_N);
    assert_eq!(
        world.stanza_out().await,
        "<presence from='romeo@sip.example.net' to='juliet@xmpp.example' type='unsubscribed'></presence>"
    );
    world.no_sip_out(Duration::from_millis(50)).await;
    world
        .sip_in(&notify(
            &world,
            &subscribe,
            1,
            "active;expires=600",
            PIDF_AWAY,
        ))
        .await;
    assert_eq!(
        shape(&world.sip_out().await, &["CSeq"], false),
        "SIP/2.0 481 Call/Transaction Does Not Exist\nCSeq: 1 NOTIFY\n"
    );
    world.no_stanza_out(Duration::from_millis(50)).await;
}

/// RFC 8048 Example 11 with the test's domains, asking 600 s.
const ROMEO_SUBSCRIBES: &str = "SUBSCRIBE sip:juliet@xmpp.example SIP/2.0\n\
     Via: SIP/2.0/UDP {peer};branch=z9hG4bKsub1\n\
     From: <sip:romeo@sip.example.net>;tag=xfg9\n\
     To: <sip:juliet@xmpp.example>\n\
     Call-ID: AA5A8BE5-CBB7-42B9-8181-6230012B1E11\n\
     Event: presence\n\
     Max-Forwards: 70\n\
     CSeq: 1 SUBSCRIBE\n\
     Contact: <sip:romeo@{peer}>;gr=dr4hcr0st3lup4c\n\
     Accept: application/pidf+xml\n\
     Expires: 600\n\
     Content-Length: 0\n\
     \n";

/// RFC 6665 §4.2.1.2: "If no refresh for a notification address is
/// received before its expiration time, the subscription is removed. When
/// removing a subscription, the notifier SHOULD send a NOTIFY request with
/// a "Subscription-State" value of "terminated" ... [which] SHOULD contain
/// a "reason=timeout" parameter." Romeo's subscription to Juliet (RFC 8048
/// §5.3, F26–F28), granted 600 s and never refreshed, ends with that NOTIFY,
/// the next in its dialog; Juliet's side hears nothing.
#[tokio::test]
async fn an_unrefreshed_subscription_expires_with_notify_terminated_timeout() {
    let mut world = World::start().await;
    let before = Instant::now();
    world.sip_in(ROMEO_SUBSCRIBES).await;
    let after = Instant::now();
    let ok = world.sip_out().await;
    assert_eq!(
        shape(&ok, &["CSeq", "Expires"], false),
        "SIP/2.0 200 OK\nCSeq: 1 SUBSCRIBE\nExpires: 600\n"
    );
    let pending = world.sip_out().await;
    assert_eq!(
        pending.header("Subscription-State").as_deref(),
        Some("pending")
    );
    world.sip_answer(&pending, "200 OK", "").await;
    assert_eq!(
        world.stanza_out().await,
        "<presence from='romeo@sip.example.net' to='juliet@xmpp.example' type='subscribe'>\
         </presence>"
    );

    let expires = Duration::from_secs(600);
    world.reap_at(before + expires - MS);
    world.no_sip_out(Duration::from_millis(50)).await;
    world.reap_at(after + expires);
    let terminated = world.sip_out().await;
    assert_eq!(
        shape(
            &terminated,
            &[
                "From",
                "To",
                "Call-ID",
                "CSeq",
                "Event",
                "Subscription-State"
            ],
            false
        )
        .replace(&world.peer_addr().to_string(), "{peer}"),
        "NOTIFY sip:romeo@{peer} SIP/2.0\n\
         From: <sip:juliet@xmpp.example>;tag=*\n\
         To: <sip:romeo@sip.example.net>;tag=*\n\
         Call-ID: AA5A8BE5-CBB7-42B9-8181-6230012B1E11\n\
         CSeq: 2 NOTIFY\n\
         Event: presence\n\
         Subscription-State: terminated;reason=timeout\n"
    );
    assert_eq!(terminated.header("From"), pending.header("From"));
    assert_eq!(terminated.header("To"), pending.header("To"));
    world.sip_answer(&terminated, "200 OK", "").await;
    world.no_stanza_out(Duration::from_millis(50)).await;
}

//! RFC 8048 §5.2.2, "Refreshing a Notification Dialog", when the refresh
//! fails: "an XMPP-to-SIP gateway MUST consider the XMPP presence
//! authorization to be permanently cancelled (and so inform the XMPP user)
//! if it receives a SIP response of 403, 489, or 603. By contrast, it is
//! appropriate to consider a SIP response of 423 or 481 to be a transient
//! error and to honor the long-lived XMPP presence authorization." For
//! the rest it defers to RFC 6665 §4.1.2.2: a code it lists terminates the
//! subscription (and a re-subscription is "an unrelated initial SUBSCRIBE
//! request with a freshly generated Call-ID and a new, unique "From" tag");
//! "any error code other than those listed above, the original subscription
//! is still considered valid for the duration of the most recently known
//! "Expires" value".
//!
//! Juliet watches Romeo (F1–F15, granted 600 s); the reaper's tick at 80 %
//! of the grant sends the refresh, answered here with a literal 403, 481
//! or 500. Deadlines are pinned from both sides, as in `rfc6665_4_timers`.

use std::time::Duration;

use tokio::time::Instant;

use parley_sip::wire::Message as SipWire;

use super::romeo::{PIDF_AWAY, ROMEO_AWAY, SUBSCRIBE, f15_active, notify};
use super::world::{World, shape};

/// One millisecond, to tick just before a deadline.
const MS: Duration = Duration::from_millis(1);

/// What Romeo's 200 grants: less than the 3600 s asked for.
const GRANTED: &str = "Expires: 600\n";

/// [`GRANTED`] as a duration: the subscription's expiry after the 200.
const EXPIRES: Duration = Duration::from_secs(600);

/// When Parley refreshes it: 80 % of a second less than granted
/// (`subscriber::state::refresh_wait`).
const REFRESH_AT: Duration = Duration::from_secs(479);

/// Romeo's presence server sends an active NOTIFY with [`PIDF_AWAY`] in the
/// dialog `subscribe` made; returns the status line of Parley's answer
/// (its CSeq checked).
async fn notify_in(world: &mut World, subscribe: &SipWire, cseq: u32) -> String {
    world
        .sip_in(&notify(
            world,
            subscribe,
            cseq,
            "active;expires=600",
            PIDF_AWAY,
        ))
        .await;
    let answer = shape(&world.sip_out().await, &["CSeq"], false);
    let (status, cseq_line) = answer
        .trim_end()
        .split_once('\n')
        .expect("a status line and a CSeq");
    assert_eq!(cseq_line, format!("CSeq: {cseq} NOTIFY"));
    status.to_owned()
}

/// The refreshing SUBSCRIBE the reaper sends at 80 % of the grant (none a
/// millisecond before), in the dialog: same Call-ID, CSeq 2.
async fn refresh_due(
    world: &World,
    subscribe: &SipWire,
    before: Instant,
    after: Instant,
) -> SipWire {
    world.reap_at(before + REFRESH_AT - MS);
    world.no_sip_out(Duration::from_millis(50)).await;
    world.reap_at(after + REFRESH_AT);
    let refresh = world.sip_out().await;
    assert_eq!(refresh.header("Call-ID"), subscribe.header("Call-ID"));
    assert_eq!(refresh.header("CSeq").as_deref(), Some("2 SUBSCRIBE"));
    refresh
}

/// A new subscription replacing `old`: the same request as F2 but for "a
/// freshly generated Call-ID and a new, unique "From" tag" (RFC 6665
/// §4.1.2.2), outside any dialog (no To tag, CSeq 1, to Romeo's address of
/// record).
fn assert_afresh(fresh: &SipWire, old: &SipWire) {
    assert_eq!(shape(fresh, SUBSCRIBE, true), shape(old, SUBSCRIBE, true));
    assert_ne!(fresh.header("Call-ID"), old.header("Call-ID"));
    assert_ne!(fresh.header("From"), old.header("From"));
}

/// 403 (and so 489 and 603): Juliet's authorization is over. She is told
/// as for a `terminated` NOTIFY, `unavailable` then `unsubscribed` (RFC 8048
/// §5.2: a refusal is `unsubscribed`); nothing is sent to Romeo, the store
/// forgets the subscription, and a NOTIFY in its dialog gets 481 (RFC 6665
/// §4.1.3).
#[tokio::test]
async fn refresh_refused_403_cancels_the_authorization() {
    let mut world = World::persistent().await;
    let (subscribe, before, after) = f15_active(&mut world, GRANTED).await;
    assert_eq!(world.stored().await.watches.len(), 1);
    let refresh = refresh_due(&world, &subscribe, before, after).await;
    world.sip_answer(&refresh, "403 Forbidden", "").await;
    assert_eq!(
        world.stanza_out().await,
        "<presence from='romeo@sip.example.net' to='juliet@xmpp.example' type='unavailable'></presence>"
    );
    assert_eq!(
        world.stanza_out().await,
        "<presence from='romeo@sip.example.net' to='juliet@xmpp.example' type='unsubscribed'></presence>"
    );
    world.no_sip_out(Duration::from_millis(50)).await;
    let stored = world.stored().await;
    assert!(stored.watches.is_empty(), "{stored:?}");
    assert_eq!(
        notify_in(&mut world, &subscribe, 2).await,
        "SIP/2.0 481 Call/Transaction Does Not Exist"
    );
    world.no_stanza_out(Duration::from_millis(50)).await;
}

/// 481: "a transient error", her authorization honoured. Parley subscribes
/// afresh and tells Juliet nothing; the store holds the new subscription in
/// place of the old one. Romeo grants it and notifies: Juliet gets his
/// presence, and no second `subscribed` (she has had it).
#[tokio::test]
async fn refresh_refused_481_subscribes_afresh_and_keeps_the_authorization() {
    let mut world = World::persistent().await;
    let (subscribe, before, after) = f15_active(&mut world, GRANTED).await;
    let refresh = refresh_due(&world, &subscribe, before, after).await;
    world
        .sip_answer(&refresh, "481 Call/Transaction Does Not Exist", "")
        .await;
    let fresh = world.sip_out().await;
    assert_afresh(&fresh, &subscribe);
    world.no_stanza_out(Duration::from_millis(50)).await;
    let stored = world.stored().await;
    assert_eq!(
        stored
            .watches
            .iter()
            .map(|w| (w.call_id.as_str(), w.watcher.as_str(), w.contact.as_str()))
            .collect::<Vec<_>>(),
        [(
            fresh.header("Call-ID").expect("a Call-ID").as_str(),
            "juliet@xmpp.example",
            "romeo@sip.example.net"
        )]
    );

    world.sip_answer(&fresh, "200 OK", GRANTED).await;
    world.no_stanza_out(Duration::from_millis(50)).await;
    assert_eq!(notify_in(&mut world, &fresh, 1).await, "SIP/2.0 200 OK");
    assert_eq!(world.stanza_out().await, ROMEO_AWAY);
    world.no_stanza_out(Duration::from_millis(50)).await;
}

/// 500: not a listed code, so the subscription is "still considered valid"
/// until its expiry. Juliet hears nothing, a NOTIFY in the dialog is still
/// taken (200, her presence), and Parley tries the refresh again in the
/// dialog halfway between the failure and the expiry (CSeq 3), which Romeo
/// grants.
#[tokio::test]
async fn refresh_failing_500_keeps_it_and_retries_halfway_to_expiry() {
    let mut world = World::start().await;
    let (subscribe, before, after) = f15_active(&mut world, GRANTED).await;
    let refresh = refresh_due(&world, &subscribe, before, after).await;
    let failed_before = Instant::now();
    world
        .sip_answer(&refresh, "500 Server Internal Error", "")
        .await;
    world.no_stanza_out(Duration::from_millis(50)).await;
    let failed_after = Instant::now();
    world.no_sip_out(Duration::from_millis(10)).await;

    assert_eq!(notify_in(&mut world, &subscribe, 2).await, "SIP/2.0 200 OK");
    assert_eq!(world.stanza_out().await, ROMEO_AWAY);

    let earliest = failed_before + (before + EXPIRES - failed_before) / 2;
    let latest = failed_after + (after + EXPIRES - failed_after) / 2;
    world.reap_at(earliest - MS);
    world.no_sip_out(Duration::from_millis(50)).await;
    world.reap_at(latest);
    let retry = world.sip_out().await;
    assert_eq!(
        shape(&retry, SUBSCRIBE, false),
        shape(&refresh, SUBSCRIBE, false).replace("CSeq: 2 SUBSCRIBE", "CSeq: 3 SUBSCRIBE")
    );
    assert_eq!(retry.header("Call-ID"), subscribe.header("Call-ID"));
    world.sip_answer(&retry, "200 OK", GRANTED).await;
    world.no_stanza_out(Duration::from_millis(50)).await;
    world.no_sip_out(Duration::from_millis(10)).await;
}

/// 500, and the retries failing too: up to the expiry the subscription is
/// refreshed in its dialog (a tick a millisecond before it retries, CSeq
/// 3); at the expiry, with no refresh granted, it has lapsed and is
/// replaced by a new subscription, Juliet told nothing.
#[tokio::test]
async fn refresh_failing_500_until_expiry_subscribes_afresh() {
    let mut world = World::start().await;
    let (subscribe, before, after) = f15_active(&mut world, GRANTED).await;
    let refresh = refresh_due(&world, &subscribe, before, after).await;
    world
        .sip_answer(&refresh, "500 Server Internal Error", "")
        .await;
    world.no_stanza_out(Duration::from_millis(50)).await;

    world.reap_at(before + EXPIRES - MS);
    let retry = world.sip_out().await;
    assert_eq!(retry.header("Call-ID"), subscribe.header("Call-ID"));
    assert_eq!(retry.header("CSeq").as_deref(), Some("3 SUBSCRIBE"));
    world
        .sip_answer(&retry, "500 Server Internal Error", "")
        .await;
    world.no_stanza_out(Duration::from_millis(50)).await;
    world.no_sip_out(Duration::from_millis(10)).await;

    world.reap_at(after + EXPIRES);
    let fresh = world.sip_out().await;
    assert_afresh(&fresh, &subscribe);
    world.no_stanza_out(Duration::from_millis(50)).await;
}

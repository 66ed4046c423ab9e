//! Design §4: after a restart the gateway takes up its stored subscriptions,
//! refreshing each of Parley's own SIP subscriptions in its stored dialog
//! (RFC 6665 §4.1.2.1: "by sending another SUBSCRIBE request on the same
//! dialog"). A refresh that the SIP endpoint refuses to start because
//! Parley's own transaction table is full (`limits.sip_pending_transactions`)
//! never reached the SIP side: it is no answer from it. It waits and is
//! sent again; the subscription is not forgotten, not replaced, and the
//! XMPP user hears nothing. The same holds for the NOTIFYs Parley sends as
//! notifier (RFC 6665 §4.2.2) when it takes up SIP users' subscriptions.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use parley_sip::dialog::{Dialog, DialogId};
use parley_sip::wire::Message as SipWire;

use super::world::World;
use crate::store::{Loaded, WatchRow, WatcherRow, unix_after};

/// Stored subscriptions, five times the transaction table.
const STORED: usize = 40;

/// A transaction table far smaller than the store, and a restore that
/// takes every stored subscription up at once.
const LOW_LIMIT: &str = "[limits]\nsip_pending_transactions = 8\n\n\
                         [store]\nrestore_in_flight = 40\n";

/// What the SIP side grants each refresh after the restart (RFC 6665
/// §4.1.2.1: the 200's Expires "indicates the actual duration").
const GRANTED: &str = "Expires: 600\n";

/// The longest the whole restore may take in the test.
const RESTORE_WITHIN: Duration = Duration::from_secs(20);

/// What the last NOTIFY before the restart carried (so the subscription was
/// active, and the XMPP user had her `subscribed`).
const PIDF_OPEN: &str = "<?xml version='1.0' encoding='UTF-8'?>\n\
<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:romeo@sip.example.net'>\n\
  <tuple id='t1'><status><basic>open</basic></status></tuple>\n\
</presence>";

/// Juliet `i`'s stored subscription to Romeo `i`, its dialog's CSeq at 1 and
/// Romeo's contact at the test's SIP peer.
fn stored_watch(i: usize, peer: SocketAddr) -> WatchRow {
    let call_id = format!("stored-{i}@sip.example.net");
    WatchRow {
        call_id: call_id.clone(),
        watcher: format!("juliet{i}@xmpp.example"),
        contact: format!("romeo{i}@sip.example.net"),
        expires_at: unix_after(Duration::from_secs(600)),
        last_pidf: Some(PIDF_OPEN.to_owned()),
        dialog: Some(dialog(i, call_id, peer)),
    }
}

/// The forty stored subscriptions restored (by [`World::restore`]).
async fn restarted() -> World {
    let mut world = World::restarted(LOW_LIMIT, |peer| Loaded {
        watches: (0..STORED).map(|i| stored_watch(i, peer)).collect(),
        watchers: Vec::new(),
    })
    .await;
    world.restore();
    world
}

/// Every refresh the SIP peer gets until each stored subscription had one
/// answered 200 granting `expires`, the reaper ticking at `clock()`
/// meanwhile; no stanza may reach XMPP. Returns each Call-ID's CSeq number
/// of its answered refresh.
async fn refreshes_until_each(
    world: &mut World,
    expires: &str,
    clock: impl Fn() -> Instant,
) -> BTreeMap<String, u32> {
    let deadline = Instant::now() + RESTORE_WITHIN;
    let mut refreshed = BTreeMap::new();
    while refreshed.len() < STORED {
        assert!(
            Instant::now() < deadline,
            "only {} of {STORED} subscriptions refreshed",
            refreshed.len()
        );
        if let Some(stanza) = world.stanza_queued() {
            panic!("an XMPP user was told: {stanza}");
        }
        world.reap_at(clock());
        while let Some(request) = world.sip_out_within(Duration::from_millis(20)).await {
            let call_id = request.header("Call-ID").expect("a Call-ID");
            assert!(
                call_id.starts_with("stored-"),
                "a stored subscription was replaced by a new SUBSCRIBE: {call_id}"
            );
            let cseq = request.header("CSeq").expect("a CSeq");
            let number = match cseq.split_once(' ') {
                Some((n, "SUBSCRIBE")) => n.parse::<u32>().expect("a CSeq number"),
                _ => panic!("{call_id}: not a refresh: CSeq {cseq}"),
            };
            assert!(
                number > refreshed.get(&call_id).copied().unwrap_or(1),
                "{call_id}'s refresh continues the dialog"
            );
            world.sip_answer(&request, "200 OK", expires).await;
            refreshed.insert(call_id, number);
        }
    }
    world.no_stanza_out(Duration::from_millis(200)).await;
    refreshed
}

/// Deferred refreshes counted so far.
fn deferred_refreshes(world: &World) -> f64 {
    world
        .metric("parley_presence_requests_deferred_total{request=\"refresh\"}")
        .expect("deferred refreshes are counted")
}

/// Forty stored subscriptions taken up at once, a transaction table of
/// eight: every one is refreshed in its own dialog (a higher CSeq, RFC 3261
/// §12.2.1.1; one refused by the endpoint leaves a gap, which §12.2.2 has
/// the peer accept), each refresh answered 200; none is replaced by a new
/// SUBSCRIBE, no XMPP user hears `unavailable` or `unsubscribed`, and all
/// forty stay in the gateway and in the store with the dialog as refreshed.
/// The refusals happened, and were counted as deferred.
#[tokio::test]
async fn a_restore_larger_than_the_transaction_table_refreshes_every_subscription() {
    let mut world = restarted().await;
    let refreshed = refreshes_until_each(&mut world, GRANTED, Instant::now).await;

    world.reap_at(Instant::now());
    assert_eq!(
        world.metric("parley_registry_entries{kind=\"sip_subscriptions_out\"}"),
        Some(STORED as f64)
    );
    assert!(
        deferred_refreshes(&world) >= 1.0,
        "the table of 8 refused some of the {STORED} refreshes"
    );
    let stored: BTreeMap<String, u32> = world
        .stored()
        .await
        .watches
        .into_iter()
        .filter_map(|w| Some((w.call_id, w.dialog?.local_seq)))
        .collect();
    assert_eq!(stored, refreshed, "every subscription stored, refreshed");
}

/// RFC 6665 §4.1.2.1: the forty refreshes, restored together, come due
/// together at 80 % of the 600 s granted; eight fit the table, the others
/// are made again until each went out in its dialog and was answered.
#[tokio::test]
async fn refreshes_due_together_beyond_the_table_are_each_made() {
    let mut world = restarted().await;
    refreshes_until_each(&mut world, GRANTED, Instant::now).await;
    let before = deferred_refreshes(&world);
    // The reaper's clock 80 % of the grant ahead, running on from there.
    // (Only the reaper's: the subscriptions count their next refresh from
    // the real now, so these refreshes grant an hour, lest the ones answered
    // come due again at once on the clock ahead.)
    let (started, ahead) = (Instant::now(), Instant::now() + Duration::from_secs(480));
    refreshes_until_each(&mut world, "Expires: 3600\n", || ahead + started.elapsed()).await;
    assert!(
        deferred_refreshes(&world) > before,
        "the table of 8 refused some of the {STORED} refreshes"
    );
}

/// SIP user Romeo `i`'s stored subscription to Juliet `i` (RFC 8048 §5.3),
/// approved, its NOTIFYs' CSeq at 1, ending in `expires_at` (Unix seconds).
fn stored_watcher(i: usize, peer: SocketAddr, expires_at: u64) -> WatcherRow {
    let call_id = format!("watched-{i}@sip.example.net");
    WatcherRow {
        call_id: call_id.clone(),
        watcher: format!("romeo{i}@sip.example.net"),
        target: format!("juliet{i}@xmpp.example"),
        expires_at,
        active: true,
        last_pidf: None,
        dialog: dialog(i, call_id, peer),
    }
}

/// SIP users' stored subscriptions, fewer than the queue the World's
/// component handle holds.
const WATCHERS: usize = 20;

/// Every NOTIFY the SIP peer gets until each of the stored watchers'
/// dialogs had one that `wanted` accepts, each answered 200, the reaper
/// ticking meanwhile; no stanza may reach XMPP but what `stanza` allows.
/// Returns each dialog's accepted NOTIFY's Subscription-State.
async fn notifies_until_each(
    world: &mut World,
    wanted: impl Fn(&SipWire) -> bool,
    stanza: impl Fn(&mut World, &str),
) -> BTreeMap<String, String> {
    let deadline = Instant::now() + RESTORE_WITHIN;
    let mut seen = BTreeMap::new();
    while seen.len() < WATCHERS {
        assert!(
            Instant::now() < deadline,
            "only {} of {WATCHERS} dialogs notified: {seen:?}",
            seen.len()
        );
        while let Some(xml) = world.stanza_queued() {
            stanza(world, &xml);
        }
        world.reap_at(Instant::now());
        while let Some(request) = world.sip_out_within(Duration::from_millis(20)).await {
            let call_id = request.header("Call-ID").expect("a Call-ID");
            assert!(call_id.starts_with("watched-"), "{call_id}");
            let cseq = request.header("CSeq").expect("a CSeq");
            assert!(cseq.ends_with(" NOTIFY"), "{call_id}: {cseq}");
            assert_ne!(cseq, "1 NOTIFY", "{call_id}'s dialog continues above 1");
            world.sip_answer(&request, "200 OK", "").await;
            if wanted(&request) {
                let state = request
                    .header("Subscription-State")
                    .expect("a Subscription-State");
                seen.insert(call_id, state);
            }
        }
    }
    seen
}

/// Twenty SIP users' stored subscriptions to XMPP users, a transaction
/// table of eight: each XMPP user is probed again (RFC 6121 §4.3), and
/// her answer goes to her SIP watcher as NOTIFY `active` with her presence
/// (RFC 8048 §6.2). The twenty NOTIFYs the answers bring at once do not fit
/// the table; those refused are made good later, so every watcher hears.
#[tokio::test]
async fn a_restore_of_sip_watchers_notifies_every_one_despite_a_full_table() {
    let mut world = World::restarted(LOW_LIMIT, |peer| Loaded {
        watches: Vec::new(),
        watchers: (0..WATCHERS)
            .map(|i| stored_watcher(i, peer, unix_after(Duration::from_secs(600))))
            .collect(),
    })
    .await;
    world.restore();
    // Every probe is answered at once, as a server does from its sessions.
    let mut probes = Vec::new();
    while let Some(xml) = world.stanza_queued() {
        probes.push(xml);
    }
    assert_eq!(probes.len(), WATCHERS, "one probe each: {probes:#?}");
    for i in 0..WATCHERS {
        let probe = format!(
            "<presence from='romeo{i}@sip.example.net' to='juliet{i}@xmpp.example' \
             type='probe'></presence>"
        );
        assert!(probes.contains(&probe), "{probe} in {probes:#?}");
        world.stanza_in(&format!(
            "<presence from='juliet{i}@xmpp.example/balcony' to='romeo{i}@sip.example.net'/>"
        ));
    }
    let seen = notifies_until_each(
        &mut world,
        |n| String::from_utf8_lossy(&n.body).contains("<basic>open</basic>"),
        |_, xml| panic!("unexpected stanza: {xml}"),
    )
    .await;
    assert!(
        seen.values().all(|s| s.starts_with("active;expires=")),
        "{seen:#?}"
    );
    let deferred = world
        .metric("parley_presence_requests_deferred_total{request=\"notify\"}")
        .expect("deferred NOTIFYs are counted");
    assert!(
        deferred >= 1.0,
        "the table of 8 refused some of the NOTIFYs"
    );
}

/// Twenty stored subscriptions that ran out while the gateway was down
/// end at their turn with NOTIFY `terminated;reason=timeout` (RFC 6665
/// §4.2.1.2), twenty at once into a table of eight: the final NOTIFYs
/// refused are sent again, so every subscriber hears it; XMPP hears
/// nothing, and the store forgets them.
#[tokio::test]
async fn expired_stored_watchers_each_get_their_final_notify_despite_a_full_table() {
    let mut world = World::restarted(LOW_LIMIT, |peer| Loaded {
        watches: Vec::new(),
        watchers: (0..WATCHERS)
            .map(|i| stored_watcher(i, peer, 1_000_000_000))
            .collect(),
    })
    .await;
    world.restore();
    let seen = notifies_until_each(
        &mut world,
        |_| true,
        |_, xml| panic!("unexpected stanza: {xml}"),
    )
    .await;
    assert!(
        seen.values().all(|s| s == "terminated;reason=timeout"),
        "{seen:#?}"
    );
    assert_eq!(
        world.metric(
            "parley_subscriptions_restored_total{kind=\"sip_subscriptions_in\",outcome=\"expired\"}"
        ),
        Some(WATCHERS as f64)
    );
    let deferred = world
        .metric("parley_presence_requests_deferred_total{request=\"notify\"}")
        .expect("deferred NOTIFYs are counted");
    assert!(
        deferred >= 1.0,
        "the table of 8 refused some of the NOTIFYs"
    );
    assert!(world.stored().await.watchers.is_empty(), "all forgotten");
}

/// The dialog of stored subscription `i` between juliet`i` (here) and
/// romeo`i` at `peer`.
fn dialog(i: usize, call_id: String, peer: SocketAddr) -> Dialog {
    Dialog {
        id: DialogId {
            call_id,
            local_tag: format!("juliet-tag-{i}"),
            remote_tag: format!("romeo-tag-{i}"),
        },
        local_uri: format!("sip:juliet{i}@xmpp.example"),
        remote_uri: format!("sip:romeo{i}@sip.example.net"),
        remote_target: format!("sip:romeo{i}@{peer}"),
        route_set: Vec::new(),
        local_seq: 1,
        remote_seq: Some(1),
    }
}

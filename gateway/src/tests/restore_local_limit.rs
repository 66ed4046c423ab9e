//! Design §4: after a restart the gateway takes up its stored subscriptions,
//! refreshing each of Parley's own SIP subscriptions in its stored dialog
//! (RFC 6665 §4.1.2.1: "by sending another SUBSCRIBE request on the same
//! dialog"). A refresh that the SIP endpoint refuses to start because
//! Parley's own transaction table is full (`limits.sip_pending_transactions`)
//! never reached the SIP side: it is no answer from it. It waits and is
//! sent again; the subscription is not forgotten, not replaced, and the
//! XMPP user hears nothing.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use parley_sip::dialog::{Dialog, DialogId};

use super::world::World;
use crate::store::{Loaded, WatchRow, unix_after};

/// Stored subscriptions, five times the transaction table.
const STORED: usize = 40;

/// A transaction table far smaller than the store.
const LOW_LIMIT: &str = "[limits]\nsip_pending_transactions = 8\n";

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
        dialog: Some(Dialog {
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
        }),
    }
}

/// Forty stored subscriptions, a transaction table of eight: every one is
/// refreshed in its own dialog with the next CSeq (RFC 3261 §12.2.1.1: a
/// request that never left gives its number back), each refresh answered
/// 200; none is replaced by a new SUBSCRIBE, no XMPP user hears
/// `unavailable` or `unsubscribed`, and all forty stay in the gateway and in
/// the store. The refusals happened, and were counted as deferred.
#[tokio::test]
async fn a_restore_larger_than_the_transaction_table_refreshes_every_subscription() {
    let mut world = World::restarted(LOW_LIMIT, |peer| Loaded {
        watches: (0..STORED).map(|i| stored_watch(i, peer)).collect(),
        watchers: Vec::new(),
    })
    .await;
    world.restore();

    let deadline = Instant::now() + RESTORE_WITHIN;
    let mut refreshed = BTreeSet::new();
    while refreshed.len() < STORED {
        assert!(
            Instant::now() < deadline,
            "only {} of {STORED} subscriptions refreshed",
            refreshed.len()
        );
        if let Some(stanza) = world.stanza_queued() {
            panic!("an XMPP user was told: {stanza}");
        }
        world.reap_at(Instant::now());
        while let Some(request) = world.sip_out_within(Duration::from_millis(20)).await {
            let call_id = request.header("Call-ID").expect("a Call-ID");
            assert!(
                call_id.starts_with("stored-"),
                "a stored subscription was replaced by a new SUBSCRIBE: {call_id}"
            );
            assert_eq!(
                request.header("CSeq").as_deref(),
                Some("2 SUBSCRIBE"),
                "{call_id}'s refresh"
            );
            world.sip_answer(&request, "200 OK", "Expires: 600\n").await;
            refreshed.insert(call_id);
        }
    }
    world.no_stanza_out(Duration::from_millis(200)).await;

    world.reap_at(Instant::now());
    assert_eq!(
        world.metric("parley_registry_entries{kind=\"sip_subscriptions_out\"}"),
        Some(STORED as f64)
    );
    let deferred = world
        .metric("parley_presence_requests_deferred_total{request=\"refresh\"}")
        .expect("deferred refreshes are counted");
    assert!(
        deferred >= 1.0,
        "the table of 8 refused some of the {STORED} refreshes"
    );
    let stored: BTreeSet<String> = world
        .stored()
        .await
        .watches
        .into_iter()
        .filter(|w| w.dialog.as_ref().is_some_and(|d| d.local_seq == 2))
        .map(|w| w.call_id)
        .collect();
    assert_eq!(stored, refreshed, "every subscription stored, refreshed");
}

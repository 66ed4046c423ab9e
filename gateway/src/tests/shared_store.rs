//! Design §4a: two instances on one PostgreSQL store (the harness's, on
//! loopback), each a router with its own SIP peer and component stand-in,
//! as two Parley processes behind one SIP proxy and one XMPP server. Every
//! subscription has one owner; what reaches another instance goes to the
//! owner (presence, `presence/shared.rs`), or moves the subscription
//! (an in-dialog SIP request); a dead owner's subscriptions are claimed
//! once its lease runs out, and a cleanly stopped one's at once. An XMPP
//! error for one instance's message that reaches another goes to the
//! first (`message/shared.rs`).

use std::time::Duration;

use tokio::time::Instant;

use parley_harness::postgres::Postgres;
use parley_sip::dialog::{Dialog, DialogId};

use super::romeo::{self, PIDF_AWAY, ROMEO_AWAY, ROMEO_SUBSCRIBED};
use super::world::{WAIT, World, shape};
use crate::store::{Store, WatchRow, unix_after};

/// The `[store]` section of instance `id` on `pg`, its lease `lease_ms`.
fn shared(pg: &Postgres, id: &str, lease_ms: u64) -> String {
    format!(
        "[store]\nurl = \"{}\"\ninstance = \"{id}\"\nlease_ms = {lease_ms}\n",
        pg.url()
    )
}

/// Romeo's SUBSCRIBE to Juliet (RFC 8048 F26, as in `rfc8048_5_3.rs`);
/// `to_tag` empty for the first, `;tag=…` for a refresh.
fn romeo_subscribes(cseq: u32, to_tag: &str, expires: u32) -> String {
    format!(
        "SUBSCRIBE sip:juliet@xmpp.example SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKshared{cseq}\n\
         From: <sip:romeo@sip.example.net>;tag=xfg9\n\
         To: <sip:juliet@xmpp.example>{to_tag}\n\
         Call-ID: shared-AA5A8BE5\n\
         Event: presence\n\
         Max-Forwards: 70\n\
         CSeq: {cseq} SUBSCRIBE\n\
         Contact: <sip:romeo@{{peer}}>\n\
         Accept: application/pidf+xml\n\
         Expires: {expires}\n\
         Content-Length: 0\n\
         \n"
    )
}

/// What Juliet's server says: her `subscribe` to Romeo, as Parley sends it.
const ASK_JULIET: &str = "<presence from='romeo@sip.example.net' to='juliet@xmpp.example' \
     type='subscribe'></presence>";
/// Parley asking for Juliet's presence (RFC 6121 §4.3).
const PROBE_JULIET: &str = "<presence from='romeo@sip.example.net' to='juliet@xmpp.example' \
     type='probe'></presence>";
/// Juliet approves Romeo.
const JULIET_APPROVES: &str =
    "<presence from='juliet@xmpp.example' to='romeo@sip.example.net' type='subscribed'/>";
/// Juliet is online.
const JULIET_ONLINE: &str =
    "<presence from='juliet@xmpp.example/balcony' to='romeo@sip.example.net'/>";

/// Romeo subscribes to Juliet at `world`, which answers 200 and NOTIFY
/// `pending` (answered) and asks Juliet; the subscription is in the store
/// when this returns. Returns the To tag of the 200.
async fn romeo_asks(world: &mut World) -> String {
    world.sip_in(&romeo_subscribes(1, "", 3600)).await;
    let ok = world.sip_out().await;
    assert_eq!(
        shape(&ok, &["CSeq"], false),
        "SIP/2.0 200 OK\nCSeq: 1 SUBSCRIBE\n"
    );
    let pending = world.sip_out().await;
    assert_eq!(
        pending.header("Subscription-State").as_deref(),
        Some("pending")
    );
    world.sip_answer(&pending, "200 OK", "").await;
    assert_eq!(world.stanza_out().await, ASK_JULIET);
    world.flush_store().await;
    let to = ok.header("To").expect("a To");
    let tag = to.split(";tag=").nth(1).expect("the 200 has a To tag");
    format!(";tag={tag}")
}

/// A subscription count of `world`, as its gauge says after a reap.
fn held(world: &World, kind: &str) -> f64 {
    world.reap_after(Duration::ZERO);
    world
        .metric(&format!("parley_registry_entries{{kind=\"{kind}\"}}"))
        .expect("the subscription gauge is exported")
}

/// One series of `world`'s metrics, which must be exported.
fn count(world: &World, series: &str) -> f64 {
    world
        .metric(series)
        .unwrap_or_else(|| panic!("{series} is exported"))
}

/// ejabberd hands each stanza to a random component connection: Juliet's
/// answer and her presence reach instance B, which does not hold Romeo's
/// subscription. B hands them to A, the owner, through the store; A asks
/// for her presence and sends the active NOTIFY in the dialog it holds. B
/// says nothing to either side.
#[tokio::test]
async fn presence_at_another_instance_reaches_the_owner() {
    let pg = Postgres::start();
    let mut a = World::with("", &shared(&pg, "a", 10_000)).await;
    let mut b = World::with("", &shared(&pg, "b", 10_000)).await;
    romeo_asks(&mut a).await;

    b.stanza_in(JULIET_APPROVES);
    assert!(
        a.ownership_until("handed_over", WAIT).await,
        "A got Juliet's answer"
    );
    assert_eq!(a.stanza_out().await, PROBE_JULIET);
    b.stanza_in(JULIET_ONLINE);
    assert!(
        a.ownership_until("handed_over", WAIT).await,
        "A got her presence"
    );
    let active = a.sip_out().await;
    assert_eq!(
        shape(&active, &["Call-ID", "CSeq"], false),
        "NOTIFY sip:romeo@{peer} SIP/2.0\nCall-ID: shared-AA5A8BE5\nCSeq: 2 NOTIFY\n"
            .replace("{peer}", &a.peer_addr().to_string())
    );
    assert!(
        active
            .header("Subscription-State")
            .is_some_and(|s| s.starts_with("active;expires=")),
        "{active:?}"
    );
    let body = String::from_utf8_lossy(&active.body).into_owned();
    assert!(body.contains("<basic>open</basic>"), "{body}");
    a.sip_answer(&active, "200 OK", "").await;

    b.no_sip_out(Duration::from_millis(200)).await;
    b.no_stanza_out(Duration::from_millis(50)).await;
    assert_eq!(
        count(&b, "parley_store_handoffs_total{direction=\"sent\"}"),
        2.0
    );
    assert_eq!(
        count(&a, "parley_store_handoffs_total{direction=\"received\"}"),
        2.0
    );
    assert_eq!(held(&a, "sip_subscriptions_in"), 1.0);
    assert_eq!(held(&b, "sip_subscriptions_in"), 0.0);
}

/// Romeo's refresh comes to B (the proxy's failover, or its Call-ID hash):
/// B takes the subscription over, answers 200, and asks Juliet again (she
/// had not answered); A lets go without a word. Juliet's answer, handed
/// to A by the XMPP server, now goes to B, whose active NOTIFY continues
/// the dialog: the next CSeq, and B's own Contact (RFC 6665 §3.2: NOTIFY
/// is a target refresh request, so Romeo's next requests go to B).
#[tokio::test]
async fn an_in_dialog_subscribe_at_another_instance_moves_the_subscription() {
    let pg = Postgres::start();
    let mut a = World::with("", &shared(&pg, "a", 10_000)).await;
    let mut b = World::with("", &shared(&pg, "b", 10_000)).await;
    let tag = romeo_asks(&mut a).await;

    b.sip_in(&romeo_subscribes(2, &tag, 600)).await;
    let ok = b.sip_out().await;
    assert_eq!(
        shape(&ok, &["CSeq", "Expires"], false),
        "SIP/2.0 200 OK\nCSeq: 2 SUBSCRIBE\nExpires: 600\n"
    );
    assert_eq!(b.stanza_out().await, ASK_JULIET);
    assert!(a.ownership_until("lost", WAIT).await, "A was told");
    assert_eq!(held(&a, "sip_subscriptions_in"), 0.0);
    assert_eq!(held(&b, "sip_subscriptions_in"), 1.0);
    assert_eq!(
        count(
            &b,
            "parley_store_takeovers_total{kind=\"sip_subscriptions_in\",reason=\"in_dialog\"}"
        ),
        1.0
    );

    a.stanza_in(JULIET_APPROVES);
    assert!(
        b.ownership_until("handed_over", WAIT).await,
        "B got Juliet's answer"
    );
    assert_eq!(b.stanza_out().await, PROBE_JULIET);
    b.stanza_in(JULIET_ONLINE);
    let active = b.sip_out().await;
    assert_eq!(
        shape(&active, &["Call-ID", "CSeq"], false),
        "NOTIFY sip:romeo@{peer} SIP/2.0\nCall-ID: shared-AA5A8BE5\nCSeq: 2 NOTIFY\n"
            .replace("{peer}", &a.peer_addr().to_string())
    );
    let contact = active.header("Contact").expect("NOTIFY carries a Contact");
    assert!(
        contact.contains(&b.endpoint_addr().to_string()),
        "B's NOTIFY retargets the dialog to B: {contact}"
    );
    b.sip_answer(&active, "200 OK", "").await;
    a.no_sip_out(Duration::from_millis(200)).await;
}

/// A NOTIFY of one of Parley's subscriptions comes to B: B takes it over,
/// answers 200 and tells Juliet, then refreshes the subscription in its
/// dialog with the next CSeq (which also retargets it to B).
#[tokio::test]
async fn a_notify_at_another_instance_moves_the_subscription() {
    let pg = Postgres::start();
    let mut a = World::with("", &shared(&pg, "a", 10_000)).await;
    let mut b = World::with("", &shared(&pg, "b", 10_000)).await;
    let (subscribe, _) = romeo::f5_granted(&mut a, "Expires: 600\n").await;
    a.flush_store().await;

    b.sip_in(&romeo::notify(
        &b,
        &subscribe,
        1,
        "active;expires=600",
        PIDF_AWAY,
    ))
    .await;
    assert_eq!(
        romeo::notify_answer(&b).await,
        "SIP/2.0 200 OK\nCSeq: 1 NOTIFY\n"
    );
    assert_eq!(b.stanza_out().await, ROMEO_SUBSCRIBED);
    assert_eq!(b.stanza_out().await, ROMEO_AWAY);
    let refresh = b.sip_out().await;
    assert_eq!(refresh.header("Call-ID"), subscribe.header("Call-ID"));
    assert_eq!(refresh.header("CSeq").as_deref(), Some("2 SUBSCRIBE"));
    b.sip_answer(&refresh, "200 OK", "Expires: 600\n").await;
    assert!(a.ownership_until("lost", WAIT).await, "A was told");
    assert_eq!(held(&a, "sip_subscriptions_out"), 0.0);
    assert_eq!(held(&b, "sip_subscriptions_out"), 1.0);
    a.no_sip_out(Duration::from_millis(200)).await;
    a.no_stanza_out(Duration::from_millis(50)).await;
}

/// Juliet's subscription to Romeo as instance `owner` stored it: its
/// dialog at CSeq 5, its remote target at the SIP peer of `world`.
fn stored_watch(world: &World) -> WatchRow {
    let call_id = "stored-shared@sip.example.net".to_owned();
    WatchRow {
        call_id: call_id.clone(),
        watcher: "juliet@xmpp.example".into(),
        contact: "romeo@sip.example.net".into(),
        expires_at: unix_after(Duration::from_secs(600)),
        last_pidf: Some(PIDF_AWAY.to_owned()),
        dialog: Some(Dialog {
            id: DialogId {
                call_id,
                local_tag: "juliet-tag".into(),
                remote_tag: "romeo-tag".into(),
            },
            local_uri: "sip:juliet@xmpp.example".into(),
            remote_uri: "sip:romeo@sip.example.net".into(),
            remote_target: format!("sip:romeo@{}", world.peer_addr()),
            route_set: vec![],
            local_seq: 5,
            remote_seq: Some(9),
        }),
    }
}

/// Instance `id` on `pg` with a lease of `lease_ms`, holding `row`.
async fn owner_of(
    pg: &Postgres,
    id: &str,
    lease_ms: u64,
    row: WatchRow,
) -> (Store, crate::store::StoreTask) {
    let settings = crate::store::Settings {
        url: toml::from_str::<crate::config::StoreConfig>(&format!("url = \"{}\"", pg.url()))
            .expect("a store url")
            .url,
        instance: Some(id.to_owned()),
        lease: Duration::from_millis(lease_ms),
        ..crate::store::Settings::embedded(std::path::Path::new("/nonexistent"))
    };
    let (store, task, _, _) = Store::open(&settings, |_| {}).await;
    store.put_watch(row);
    store.flush().await;
    (store, task)
}

/// B's refresh of the stored subscription, within `within`: the same
/// dialog, the next CSeq, answered 200.
async fn refreshed_in_dialog(b: &mut World, within: Duration) -> Duration {
    let start = Instant::now();
    assert!(
        b.ownership_until("claimed", within).await,
        "B claimed the subscription"
    );
    let took = start.elapsed();
    let refresh = b.sip_out().await;
    assert_eq!(
        refresh.header("Call-ID").as_deref(),
        Some("stored-shared@sip.example.net")
    );
    assert_eq!(refresh.header("CSeq").as_deref(), Some("6 SUBSCRIBE"));
    assert!(
        refresh
            .header("From")
            .is_some_and(|f| f.ends_with(";tag=juliet-tag")),
        "{refresh:?}"
    );
    b.sip_answer(&refresh, "200 OK", "Expires: 600\n").await;
    assert_eq!(held(b, "sip_subscriptions_out"), 1.0);
    assert_eq!(
        count(
            b,
            "parley_store_takeovers_total{kind=\"sip_subscriptions_out\",reason=\"orphaned\"}"
        ),
        1.0
    );
    took
}

/// Instance A dies (no `release`, its lease no longer renewed): once the
/// lease runs out, B claims A's subscription and continues its dialog.
#[tokio::test]
async fn a_dead_instances_subscriptions_are_claimed_when_its_lease_runs_out() {
    let pg = Postgres::start();
    let mut b = World::with("", &shared(&pg, "b", 10_000)).await;
    let lease = Duration::from_millis(2_000);
    let died = Instant::now();
    let (_a, _a_task) = owner_of(&pg, "a", 2_000, stored_watch(&b)).await;
    // Nothing renews A's lease from here on.
    let took = refreshed_in_dialog(&mut b, lease + Duration::from_secs(5)).await;
    assert!(
        died.elapsed() >= lease,
        "claimed {:?} after A's last renewal, before its lease of {lease:?} ran out",
        died.elapsed()
    );
    println!("takeover {took:?} after the test began waiting, lease {lease:?}");
}

/// Instance A stops cleanly: its last writes and then its lease go back to
/// the store, and B claims at once, long before A's lease would run out.
#[tokio::test]
async fn a_clean_stop_hands_the_subscriptions_over_at_once() {
    let pg = Postgres::start();
    let mut b = World::with("", &shared(&pg, "b", 10_000)).await;
    let (a, a_task) = owner_of(&pg, "a", 60_000, stored_watch(&b)).await;
    a_task.close(&a).await;
    refreshed_in_dialog(&mut b, Duration::from_secs(5)).await;
}

/// The store goes away for longer than A's lease: A cannot know whether
/// another instance takes its subscriptions over, so it lets go of every
/// one and says so (`parley_store_leases{state="lapsed"}`). When the store
/// answers again, A takes back what nobody claimed meanwhile, as after a
/// restart: Romeo's pending subscription asks Juliet again.
#[tokio::test]
async fn an_instance_that_loses_the_store_lets_go_then_takes_its_own_back() {
    let mut pg = Postgres::start();
    let mut a = World::with("", &shared(&pg, "a", 1_000)).await;
    romeo_asks(&mut a).await;
    assert_eq!(count(&a, "parley_store_leases{state=\"held\"}"), 1.0);

    pg.pause();
    assert!(
        a.ownership_until("lapsed", Duration::from_secs(5)).await,
        "A noticed its lease lapsed"
    );
    assert_eq!(held(&a, "sip_subscriptions_in"), 0.0);
    assert_eq!(count(&a, "parley_store_leases{state=\"lapsed\"}"), 1.0);
    assert!(count(&a, "parley_store_lease_renewals_total{outcome=\"failed\"}") >= 1.0);

    pg.start_again();
    assert!(
        a.ownership_until("claimed", Duration::from_secs(20)).await,
        "A took its own subscription back"
    );
    assert_eq!(held(&a, "sip_subscriptions_in"), 1.0);
    assert_eq!(count(&a, "parley_store_leases{state=\"held\"}"), 1.0);
    assert_eq!(a.stanza_out().await, ASK_JULIET);
}

/// The XMPP server hands the error for A's `<message/>` to B. A minted the
/// stanza id (`parley-a-…`), so B hands the error to A, which answers the
/// SIP MESSAGE as RFC 7247 §7.1 Table 2 maps it ("<item-not-found/> | 404
/// or 604", 604 for a bare JID); B answers nothing.
#[tokio::test]
async fn an_error_for_another_instances_message_reaches_it() {
    let pg = Postgres::start();
    let mut a = World::with("", &shared(&pg, "a", 10_000)).await;
    let mut b = World::with("", &shared(&pg, "b", 10_000)).await;
    a.sip_in(
        "MESSAGE sip:juliet@xmpp.example SIP/2.0\n\
         Via: SIP/2.0/UDP {peer};branch=z9hG4bKshared-msg\n\
         Max-Forwards: 70\n\
         To: sip:juliet@xmpp.example\n\
         From: sip:romeo@sip.example.net;tag=vwxyz\n\
         Call-ID: shared-msg\n\
         CSeq: 1 MESSAGE\n\
         Content-Type: text/plain\n\
         Content-Length: 14\n\
         \n\
         are you there?",
    )
    .await;
    let stanza = a.stanza_out().await;
    assert!(stanza.contains(" id='parley-a-1'"), "{stanza}");
    b.stanza_in(
        "<message from='juliet@xmpp.example' to='romeo@sip.example.net' id='parley-a-1' \
         type='error'><error type='cancel'>\
         <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
    );
    assert!(
        a.ownership_until("handed_over", WAIT).await,
        "A got the error"
    );
    assert_eq!(
        shape(&a.sip_out().await, &["Call-ID", "CSeq"], false),
        "SIP/2.0 604 Does Not Exist Anywhere\nCall-ID: shared-msg\nCSeq: 1 MESSAGE\n"
    );
    b.no_sip_out(Duration::from_millis(100)).await;
    b.no_stanza_out(Duration::from_millis(50)).await;
    assert_eq!(
        count(&b, "parley_store_handoffs_total{direction=\"sent\"}"),
        1.0
    );
    assert_eq!(
        count(&a, "parley_store_handoffs_total{direction=\"received\"}"),
        1.0
    );
}

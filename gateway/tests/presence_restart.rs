//! Design §4, issue 15: subscription state lives in the store, so restarting
//! `parley` loses nothing. After a SIGTERM and a new start, presence keeps
//! flowing both ways without a new subscribe from either user: Parley refreshes
//! its own SIP subscriptions in their stored dialogs (RFC 6665 §4.1.2.1) and
//! probes the XMPP users its SIP watchers follow, continuing their dialogs
//! with higher CSeq numbers (RFC 3261 §12.2.1.1). What ran out while it was
//! down ends with `terminated;reason=timeout` (RFC 6665 §4.2.2); a store that
//! is not a database is moved aside and the gateway starts empty.

mod support;

use std::time::Duration;

use parley_harness::sipp::Sipp;
use parley_harness::xmpp_client::XmppClient;
use support::{
    COMPONENT, OK, Options, World, sipp_agent_accepts, sipp_agent_notifies, sipp_subscribe,
};

/// Bob (sipp) subscribes to juliet for `expires` seconds, takes NOTIFYs until
/// one says open, then `rest`.
fn subscriber(expires: u32, rest: &str) -> String {
    let subscribe = sipp_subscribe(1, &expires.to_string());
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="presence subscriber across a restart">
{subscribe}<recv response="200"><action>
<ereg regexp="tag=[^;&gt;]*" search_in="hdr" header="To:" check_it="true" assign_to="totag"/>
</action></recv>
<recv request="NOTIFY"/>
{OK}
<label id="wait"/>
<recv request="NOTIFY"><action>
<ereg regexp="basic&gt;open" search_in="body" check_it="false" assign_to="open"/>
</action></recv>
{OK}
<nop hide="true" test="open" next="opened"/>
<nop hide="true" next="wait"/>
<label id="opened"/>
{rest}</scenario>
"#
    )
}

/// After the restart: NOTIFYs until one carries juliet's new status, then an
/// un-SUBSCRIBE in the same dialog and its terminating NOTIFY.
fn until_back_soon_then_unsubscribe() -> String {
    let unsubscribe = sipp_subscribe(2, "0");
    format!(
        r#"<label id="again"/>
<recv request="NOTIFY" timeout="30000"><action>
<ereg regexp="Back soon" search_in="body" check_it="false" assign_to="back"/>
<ereg regexp="^ *active" search_in="hdr" header="Subscription-State:" check_it="true" assign_to="still"/>
</action></recv>
{OK}
<nop hide="true" test="back" next="seen"/>
<nop hide="true" next="again"/>
<label id="seen"/>
{unsubscribe}<recv response="200"/>
<recv request="NOTIFY"><action>
<ereg regexp="^ *terminated" search_in="hdr" header="Subscription-State:" check_it="true" assign_to="ended"/>
</action></recv>
{OK}
<Reference variables="still,ended"/>
"#
    )
}

/// The CSeq numbers of the NOTIFYs sipp saw (its 200s echo them), in order.
fn notify_cseqs(messages_log: &str) -> Vec<u32> {
    let mut seen: Vec<u32> = Vec::new();
    for line in messages_log.lines() {
        let Some(rest) = line.trim().strip_prefix("CSeq:") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(n), Some("NOTIFY")) = (parts.next(), parts.next()) else {
            continue;
        };
        if let Ok(n) = n.parse()
            && seen.last() != Some(&n)
        {
            seen.push(n);
        }
    }
    seen
}

async fn approve(world: &World, juliet: &mut XmppClient) {
    let bob = format!("bob@{COMPONENT}");
    let request = juliet
        .recv_matching(Duration::from_secs(10), |e| {
            e.name() == "presence" && e.attr("type") == Some("subscribe")
        })
        .await
        .unwrap_or_else(|| panic!("no subscribe reached juliet\n{}", world.logs()));
    assert_eq!(request.attr("from"), Some(bob.as_str()));
    juliet
        .send_xml(&format!("<presence to='{bob}' type='subscribed'/>"))
        .await;
}

async fn wait_metric(world: &World, sample: &str, at_least: f64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while world.parley.metric(sample) < at_least {
        assert!(
            std::time::Instant::now() < deadline,
            "{sample} stayed below {at_least}\n{}",
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const IN_SUBSCRIPTIONS: &str = r#"parley_registry_entries{kind="sip_subscriptions_in"}"#;

/// SIP user watches XMPP user; parley restarts; juliet's next presence still
/// reaches bob as a NOTIFY in the same dialog, with a higher CSeq, and bob
/// never subscribes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_watcher_keeps_getting_presence_after_restart() {
    let mut world = World::start(Options::default());
    let mut juliet = world.client("juliet").await;
    let scenario = subscriber(600, &until_back_soon_then_unsubscribe());
    let sipp =
        Sipp::new(world.scenario("subscriber.xml", &scenario)).timeout(Duration::from_secs(60));
    let addr = world.sip_addr();
    let bob = std::thread::spawn(move || sipp.run_uac(addr));
    approve(&world, &mut juliet).await;
    wait_metric(&world, IN_SUBSCRIPTIONS, 1.0).await;
    // The active NOTIFY has gone out once the out-requests counter moved past pending.
    wait_metric(
        &world,
        r#"parley_sip_requests_total{direction="out",method="NOTIFY"}"#,
        2.0,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    tokio::task::block_in_place(|| world.restart_parley(|_| {}));
    wait_metric(
        &world,
        r#"parley_subscriptions_restored_total{kind="sip_subscriptions_in",outcome="reprobed"}"#,
        1.0,
    )
    .await;
    wait_metric(&world, IN_SUBSCRIPTIONS, 1.0).await;
    juliet
        .send_xml("<presence><show>away</show><status>Back soon</status></presence>")
        .await;

    let out = tokio::task::block_in_place(|| bob.join()).expect("sipp thread");
    assert!(
        out.success,
        "{}\n--- parley ---\n{}",
        out.report(),
        world.logs()
    );
    // One SUBSCRIBE to start and one to end: nobody subscribed again.
    assert_eq!(out.sent("SUBSCRIBE "), 2, "{}", out.report());
    let cseqs = notify_cseqs(&out.messages_log);
    assert!(cseqs.len() >= 4, "{cseqs:?}\n{}", out.report());
    assert!(
        cseqs.windows(2).all(|w| w[0] < w[1]),
        "RFC 3261 §12.2.1.1: CSeq must grow across the restart: {cseqs:?}"
    );
}

/// bob's presence agent (sipp): 200 + NOTIFY open; after parley's restart a
/// refresh SUBSCRIBE in the same dialog (To tag kept), 200 + NOTIFY with a new
/// note; then juliet's un-SUBSCRIBE.
fn notifier() -> String {
    let accept = sipp_agent_accepts("200 OK", "");
    let open = sipp_agent_notifies(1, "active;expires=600", &pidf("At the balcony"));
    let back = sipp_agent_notifies(2, "active;expires=600", &pidf("Back after the restart"));
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="presence notifier across a restart">
{accept}{open}<recv request="SUBSCRIBE" timeout="40000"><action>
<ereg regexp="tag=[0-9]+bob" search_in="hdr" header="To:" check_it="true" assign_to="indialog"/>
<ereg regexp="^ *[1-9]" search_in="hdr" header="Expires:" check_it="true" assign_to="refresh"/>
</action></recv>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:bob@[local_ip]:[local_port]>
Expires: 600
Content-Length: 0

]]></send>
{back}<Reference variables="indialog,refresh"/>
</scenario>
"#
    )
}

/// bob's PIDF with `note`.
fn pidf(note: &str) -> String {
    format!(
        r#"<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@sip.example.net"><tuple id="t1"><status><basic>open</basic></status><note>{note}</note></tuple></presence>"#
    )
}

/// The status text of the next available presence from bob.
async fn bob_status(world: &World, juliet: &mut XmppClient) -> Option<String> {
    let bob = format!("bob@{COMPONENT}");
    let p = juliet
        .recv_matching(Duration::from_secs(20), |e| {
            e.name() == "presence"
                && e.attr("type").is_none()
                && e.attr("from")
                    .is_some_and(|f| f.split('/').next() == Some(bob.as_str()))
        })
        .await
        .unwrap_or_else(|| panic!("no presence from bob\n{}", world.logs()));
    support::child_text(&p, "status")
}

/// XMPP user watches SIP user; parley restarts; it refreshes the stored SIP
/// dialog on its own and bob's next NOTIFY reaches juliet, who never
/// subscribed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmpp_watcher_keeps_getting_presence_after_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notifier.xml");
    std::fs::write(&path, notifier()).expect("write scenario");
    let uas = Sipp::new(&path)
        .timeout(Duration::from_secs(60))
        .spawn_uas();
    let mut world = World::start(Options {
        outbound_proxy: Some(format!("sip:{}", uas.addr())),
        ..Options::default()
    });
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!(
            "<presence to='bob@{COMPONENT}' type='subscribe'/>"
        ))
        .await;
    assert_eq!(
        bob_status(&world, &mut juliet).await.as_deref(),
        Some("At the balcony")
    );

    tokio::task::block_in_place(|| world.restart_parley(|_| {}));
    assert_eq!(
        bob_status(&world, &mut juliet).await.as_deref(),
        Some("Back after the restart"),
        "{}",
        world.logs()
    );
    assert_eq!(
        world.parley.metric(
            r#"parley_subscriptions_restored_total{kind="sip_subscriptions_out",outcome="resumed"}"#
        ),
        1.0,
        "{}",
        world.logs()
    );
    let out = tokio::task::block_in_place(|| uas.wait());
    assert!(
        out.success,
        "{}\n--- parley ---\n{}",
        out.report(),
        world.logs()
    );
    assert_eq!(out.received("SUBSCRIBE "), 2, "{}", out.report());
}

/// RFC 6665 §4.2.2: a subscription that ran out while parley was down ends
/// with NOTIFY `terminated;reason=timeout` when it comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_subscription_that_expired_while_down_is_terminated() {
    let mut world = World::start(Options::default());
    let mut juliet = world.client("juliet").await;
    let rest = format!(
        r#"<recv request="NOTIFY" timeout="30000"><action>
<ereg regexp="^ *terminated;reason=timeout" search_in="hdr" header="Subscription-State:" check_it="true" assign_to="ended"/>
</action></recv>
{OK}
<Reference variables="ended,totag"/>
"#
    );
    let scenario = subscriber(4, &rest);
    let sipp =
        Sipp::new(world.scenario("subscriber.xml", &scenario)).timeout(Duration::from_secs(60));
    let addr = world.sip_addr();
    let bob = std::thread::spawn(move || sipp.run_uac(addr));
    approve(&world, &mut juliet).await;
    wait_metric(&world, IN_SUBSCRIPTIONS, 1.0).await;
    wait_metric(
        &world,
        r#"parley_sip_requests_total{direction="out",method="NOTIFY"}"#,
        2.0,
    )
    .await;
    tokio::task::block_in_place(|| {
        world.restart_parley(|_| std::thread::sleep(Duration::from_secs(5)));
    });
    let out = tokio::task::block_in_place(|| bob.join()).expect("sipp thread");
    assert!(
        out.success,
        "{}\n--- parley ---\n{}",
        out.report(),
        world.logs()
    );
    assert_eq!(
        world.parley.metric(
            r#"parley_subscriptions_restored_total{kind="sip_subscriptions_in",outcome="expired"}"#
        ),
        1.0,
        "{}",
        world.logs()
    );
    assert_eq!(world.parley.metric(IN_SUBSCRIPTIONS), 0.0);
}

/// A store file that is not a database is moved aside (kept for the operator),
/// logged loudly, and parley starts with an empty store instead of crash-looping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_store_is_moved_aside_and_parley_starts() {
    let mut world = World::start(Options::default());
    let store = world.store_dir();
    tokio::task::block_in_place(|| {
        world.restart_parley(|_| {
            for f in ["parley.sqlite3-wal", "parley.sqlite3-shm"] {
                let _ = std::fs::remove_file(store.join(f));
            }
            std::fs::write(
                store.join("parley.sqlite3"),
                b"garbage where the database was, long enough to look like a header ...",
            )
            .expect("corrupt the store");
        });
    });
    let log = world.parley.log();
    assert!(log.contains("STORE CORRUPT"), "{log}");
    assert_eq!(world.parley.metric("parley_store_persistent"), 1.0, "{log}");
    assert_eq!(
        world
            .parley
            .metric(r#"parley_errors_total{reason="store_recreated"}"#),
        1.0
    );
    let aside: Vec<_> = std::fs::read_dir(&store)
        .expect("store dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{log}");
    let kept = std::fs::read(aside[0].path()).expect("read moved file");
    assert!(kept.starts_with(b"garbage where the database was"));
    // And it works: a message still goes through.
    assert_eq!(world.parley.http_get("/readyz").map(|r| r.0), Some(200));
}

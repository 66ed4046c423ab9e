//! RFC 8048 §7, presence "polling", end to end against Prosody and sipp.
//!
//! §7.1: an XMPP probe for a SIP contact becomes "a SUBSCRIBE request with an
//! Expires header value of zero ("0") in a new dialog"; the NOTIFY it
//! triggers (RFC 6665 §4.4.3: "terminated", reason "timeout") becomes one
//! `<presence/>` for the prober; a failed fetch is `unavailable`. RFC 8048
//! §8.1: a burst of probes is one SUBSCRIBE.
//!
mod support;

use std::time::{Duration, Instant};

use parley_harness::sipp::{Sipp, SippUas};
use parley_harness::xmpp_client::XmppClient;
use support::{COMPONENT, Options, World, XMPP_DOMAIN};

const BOB_PIDF: &str = r#"<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@sip.example.net"><tuple id="t1"><status><basic>open</basic></status><note>At the balcony</note></tuple></presence>"#;

/// sipp as bob's presence agent for fetches: checks each SUBSCRIBE is a
/// fetch (Expires: 0, Event: presence, Accept: PIDF, From an XMPP user),
/// waits `hold_ms`, then `answer` (from [`fetch_ok`] or [`fetch_refused`]),
/// then `after`.
fn notifier(hold_ms: u32, answer: &str, after: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="fetch notifier">
<recv request="SUBSCRIBE"><action>
<ereg regexp="^ *0$" search_in="hdr" header="Expires:" check_it="true" assign_to="zero"/>
<ereg regexp="^ *presence" search_in="hdr" header="Event:" check_it="true" assign_to="ev"/>
<ereg regexp="application/pidf\+xml" search_in="hdr" header="Accept:" check_it="true" assign_to="acc"/>
<ereg regexp="sip:(juliet|romeo)@{XMPP_DOMAIN}&gt;" search_in="hdr" header="From:" check_it="true" assign_to="who"/>
<ereg regexp="&lt;.*$" search_in="hdr" header="From:" check_it="true" assign_to="subfrom"/>
<ereg regexp="&lt;[^&gt;]*&gt;" search_in="hdr" header="To:" check_it="true" assign_to="subto"/>
<ereg regexp="sip:[^&gt;]*" search_in="hdr" header="Contact:" check_it="true" assign_to="subcontact"/>
<ereg regexp="[^ ].*$" search_in="hdr" header="Via:" check_it="true" assign_to="subvia"/>
<ereg regexp="[0-9]+ SUBSCRIBE" search_in="hdr" header="CSeq:" check_it="true" assign_to="subcseq"/>
</action></recv>
<Reference variables="zero,ev,acc,who,subfrom,subto,subcontact,subvia,subcseq"/>
<pause milliseconds="{hold_ms}"/>
{answer}{after}</scenario>
"#
    )
}

/// The 200 to the fetch SUBSCRIBE, Expires: 0.
const FETCH_200: &str = r#"<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]bob
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:bob@[local_ip]:[local_port]>
Expires: 0
Content-Length: 0

]]></send>
"#;

/// The fetch's one NOTIFY, terminated;reason=timeout with `pidf` (RFC 6665 §4.4.3).
fn fetch_notify(pidf: &str) -> String {
    format!(
        r#"<send><![CDATA[
NOTIFY [$subcontact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: [$subto];tag=[pid]bob
To: [$subfrom]
Call-ID: [call_id]
CSeq: 1 NOTIFY
Contact: <sip:bob@[local_ip]:[local_port]>
Event: presence
Subscription-State: terminated;reason=timeout
Content-Type: application/pidf+xml
Content-Length: [len]

{pidf}
]]></send>
"#
    )
}

/// 200, then the NOTIFY, which Parley answers 200.
fn fetch_ok(pidf: &str) -> String {
    format!(
        "{FETCH_200}{}<recv response=\"200\"/>\n",
        fetch_notify(pidf)
    )
}

/// The NOTIFY first, then the 200, as RFC 6665 §4.1.2.4 allows. (sipp
/// takes the 200's headers from the SUBSCRIBE as captured: its `[last_…]`
/// would be the NOTIFY's 200 by then.)
fn fetch_notify_first(pidf: &str) -> String {
    format!(
        r#"{}<recv response="200"/>
<send><![CDATA[
SIP/2.0 200 OK
Via: [$subvia]
From: [$subfrom]
To: [$subto];tag=[pid]bob
Call-ID: [call_id]
CSeq: [$subcseq]
Contact: <sip:bob@[local_ip]:[local_port]>
Expires: 0
Content-Length: 0

]]></send>
"#,
        fetch_notify(pidf)
    )
}

/// A NOTIFY in the fetch's dialog after its final one: the dialog is gone,
/// so RFC 6665 §4.1.3's 481.
const LATE_NOTIFY_GETS_481: &str = r#"<send><![CDATA[
NOTIFY [$subcontact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: [$subto];tag=[pid]bob
To: [$subfrom]
Call-ID: [call_id]
CSeq: 2 NOTIFY
Contact: <sip:bob@[local_ip]:[local_port]>
Event: presence
Subscription-State: terminated;reason=timeout
Content-Length: 0

]]></send>
<recv response="481"/>
"#;

fn fetch_refused(code: u16, reason: &str) -> String {
    format!(
        r#"<send><![CDATA[
SIP/2.0 {code} {reason}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]bob
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"#
    )
}

/// A world whose SIP requests go to a sipp UAS running `scenario` for `calls` calls.
fn world_with_notifier(scenario: &str, calls: u32) -> (World, SippUas, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notifier.xml");
    std::fs::write(&path, scenario).expect("write scenario");
    let uas = Sipp::new(&path)
        .calls(calls)
        .timeout(Duration::from_secs(20))
        .spawn_uas();
    let world = World::start(Options {
        outbound_proxy: Some(format!("sip:{}", uas.addr())),
        ..Options::default()
    });
    (world, uas, dir)
}

/// The distinct dialogs sipp saw SUBSCRIBEs in (UDP retransmissions count once).
fn fetch_dialogs(out: &parley_harness::sipp::SippOutcome) -> std::collections::BTreeSet<String> {
    out.messages_log
        .split("-----------------------------------------------")
        .filter(|block| block.contains("message received") && block.contains("\nSUBSCRIBE "))
        .filter_map(|block| {
            block
                .lines()
                .find_map(|l| l.strip_prefix("Call-ID:"))
                .map(|c| c.trim().to_owned())
        })
        .collect()
}

fn bob() -> String {
    format!("bob@{COMPONENT}")
}

fn from_bob(e: &tokio_xmpp::minidom::Element) -> bool {
    e.name() == "presence"
        && e.attr("from")
            .is_some_and(|f| f.split('/').next() == Some(bob().as_str()))
}

/// Wait for a metric sample to reach `want` (gauges follow within 50 ms).
async fn metric_reaches(world: &World, sample: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = world.parley.metric(sample);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{sample} = {got}, want {want}\n{}",
            world.parley.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn fetches(direction: &str, outcome: &str) -> String {
    format!(r#"parley_presence_fetches_total{{direction="{direction}",outcome="{outcome}"}}"#)
}

/// No stanza matching `pred` within `wait`.
async fn nothing_like(
    world: &World,
    client: &mut XmppClient,
    wait: Duration,
    what: &str,
    pred: impl FnMut(&tokio_xmpp::minidom::Element) -> bool,
) {
    if let Some(e) = client.recv_matching(wait, pred).await {
        panic!(
            "unexpected {what}: {}\n{}",
            String::from(&e),
            world.parley.log()
        );
    }
}

/// RFC 8048 §7.1 with the probe Prosody sends for juliet at login (RFC 6121
/// §4.3.1; her roster says she is subscribed to bob): one SUBSCRIBE with
/// Expires: 0, the NOTIFY's PIDF (here overtaking the 200, RFC 6665
/// §4.1.2.4) becomes bob's presence for her. The fetch
/// is not a subscription: no `unsubscribed`, nothing kept, and a NOTIFY in
/// its dialog afterwards gets 481.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_at_login_is_answered_by_a_fetch() {
    let (world, uas, _dir) = world_with_notifier(
        &notifier(0, &fetch_notify_first(BOB_PIDF), LATE_NOTIFY_GETS_481),
        1,
    );
    world.prosody.set_roster("juliet", &[(&bob(), "to")]);
    let mut juliet = world.client("juliet").await;
    juliet.send_xml("<presence/>").await;
    let seen = juliet
        .recv_matching(Duration::from_secs(10), |e| {
            from_bob(e) && e.attr("type").is_none()
        })
        .await
        .unwrap_or_else(|| panic!("no presence from bob\n{}", world.parley.log()));
    assert_eq!(
        support::child_text(&seen, "status").as_deref(),
        Some("At the balcony")
    );
    let out = tokio::task::block_in_place(|| uas.wait());
    assert!(
        out.success,
        "{}\n--- parley ---\n{}",
        out.report(),
        world.parley.log()
    );
    assert_eq!(fetch_dialogs(&out).len(), 1, "{}", out.report());
    nothing_like(
        &world,
        &mut juliet,
        Duration::from_secs(1),
        "presence from bob after the fetch",
        from_bob,
    )
    .await;
    metric_reaches(&world, &fetches("xmpp_to_sip", "presence"), 1.0).await;
    metric_reaches(
        &world,
        r#"parley_registry_entries{kind="sip_subscriptions_out"}"#,
        0.0,
    )
    .await;
}

/// RFC 8048 §7.1: a fetch refused (404) answers the probe `unavailable`
/// (RFC 6121 §4.3.2 rule 3), not `unsubscribed`: no subscription ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_fetch_answers_unavailable() {
    let (world, uas, _dir) =
        world_with_notifier(&notifier(0, &fetch_refused(404, "Not Found"), ""), 1);
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!("<presence to='{}' type='probe'/>", bob()))
        .await;
    let answer = juliet
        .recv_matching(Duration::from_secs(10), from_bob)
        .await
        .unwrap_or_else(|| panic!("no answer from bob\n{}", world.parley.log()));
    assert_eq!(
        answer.attr("type"),
        Some("unavailable"),
        "{}",
        String::from(&answer)
    );
    let out = tokio::task::block_in_place(|| uas.wait());
    assert!(
        out.success,
        "{}\n--- parley ---\n{}",
        out.report(),
        world.parley.log()
    );
    nothing_like(
        &world,
        &mut juliet,
        Duration::from_secs(1),
        "a second answer",
        from_bob,
    )
    .await;
    metric_reaches(&world, &fetches("xmpp_to_sip", "refused"), 1.0).await;
}

/// RFC 8048 §8.1: five probes at once are one SUBSCRIBE (which bob's agent
/// holds half a second) and one answer; three more right
/// after are answered from it. Romeo's probe is not: his fetch is his own
/// (RFC 8048 §8.2), a second SUBSCRIBE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_probes_is_one_subscribe_per_prober() {
    let (world, uas, _dir) = world_with_notifier(&notifier(500, &fetch_ok(BOB_PIDF), ""), 2);
    let mut juliet = world.client("juliet").await;
    let probe = format!("<presence to='{}' type='probe'/>", bob());
    for _ in 0..5 {
        juliet.send_xml(&probe).await;
    }
    let Some(first) = juliet
        .recv_matching(Duration::from_secs(10), from_bob)
        .await
    else {
        let out = uas.stop();
        panic!(
            "no answer from bob\n{}\n{}",
            out.report(),
            world.parley.log()
        );
    };

    assert_eq!(
        support::child_text(&first, "status").as_deref(),
        Some("At the balcony")
    );
    nothing_like(
        &world,
        &mut juliet,
        Duration::from_millis(500),
        "a second answer to one burst",
        from_bob,
    )
    .await;
    for _ in 0..3 {
        juliet.send_xml(&probe).await;
    }
    for _ in 0..3 {
        let again = juliet
            .recv_matching(Duration::from_secs(5), from_bob)
            .await
            .unwrap_or_else(|| panic!("no answer from the reused fetch\n{}", world.parley.log()));
        assert_eq!(
            support::child_text(&again, "status").as_deref(),
            Some("At the balcony")
        );
    }
    let mut romeo = world.client("romeo").await;
    romeo.send_xml(&probe).await;
    let his = romeo
        .recv_matching(Duration::from_secs(10), from_bob)
        .await
        .unwrap_or_else(|| panic!("no answer for romeo\n{}", world.parley.log()));
    assert!(his.attr("type").is_none(), "{}", String::from(&his));
    let out = tokio::task::block_in_place(|| uas.wait());
    assert!(
        out.success,
        "{}\n--- parley ---\n{}",
        out.report(),
        world.parley.log()
    );
    assert_eq!(fetch_dialogs(&out).len(), 2, "{}", out.report());
    assert!(
        out.messages_log
            .contains(&format!("From: <sip:romeo@{XMPP_DOMAIN}>")),
        "{}",
        out.report()
    );
    metric_reaches(&world, &fetches("xmpp_to_sip", "presence"), 2.0).await;
    metric_reaches(&world, &fetches("xmpp_to_sip", "cached"), 3.0).await;
    let coalesced = world.parley.metric(&fetches("xmpp_to_sip", "coalesced"));
    assert_eq!(coalesced, 4.0, "{}", world.parley.log());
}

//! RFC 8048 presence, the cases beyond the happy path, end to end with real
//! Prosody and sipp (or the captured bytes of real phones):
//! one PIDF tuple per XMPP resource (§6.2), refusal → `terminated;reason=rejected`
//! (§5.3), expiry without refresh (RFC 6665 §4.2.2), RPID and notes from real
//! phones' PIDF → `<show/>`/`<status/>`, baresip's `<basic>unknown</basic>` →
//! nothing claimed, `terminated` → `unavailable` + `unsubscribed` (§5.2), a
//! refused SUBSCRIBE → `unsubscribed`, and SUBSCRIBEs from linphone and baresip
//! (no Accept header: RFC 3856 §6.7 says PIDF is then meant).

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use parley_harness::sipp::Sipp;
use parley_harness::xmpp_client::XmppClient;
use support::{
    COMPONENT, OK, Options, World, XMPP_DOMAIN, sipp_agent_accepts, sipp_agent_notifies,
    sipp_subscribe,
};

/// Bob (sipp) subscribes to juliet for `expires` s; then `rest`.
fn subscriber(expires: u32, rest: &str) -> String {
    let subscribe = sipp_subscribe(1, &expires.to_string());
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="presence subscriber">
{subscribe}<recv response="200"/>
<recv request="NOTIFY"><action>
<ereg regexp="^ *pending" search_in="hdr" header="Subscription-State:" check_it="true" assign_to="pending"/>
</action></recv>
{OK}
{rest}<Reference variables="pending"/>
</scenario>
"#
    )
}

/// NOTIFYs until one whose Subscription-State matches `state` (a regex).
fn until_state(state: &str) -> String {
    format!(
        r#"<label id="more"/>
<recv request="NOTIFY" timeout="20000"><action>
<ereg regexp="{state}" search_in="hdr" header="Subscription-State:" check_it="false" assign_to="done"/>
</action></recv>
{OK}
<nop hide="true" test="done" next="finished"/>
<nop hide="true" next="more"/>
<label id="finished"/>
"#
    )
}

async fn subscribe_request(world: &World, juliet: &mut XmppClient) {
    juliet
        .recv_matching(Duration::from_secs(10), |e| {
            e.name() == "presence" && e.attr("type") == Some("subscribe")
        })
        .await
        .unwrap_or_else(|| panic!("no subscribe reached juliet\n{}", world.parley.log()));
}

/// RFC 8048 §6.2: one XMPP user with two resources is one PIDF document with
/// one tuple per resource, each `ID-<resource>`. The subscriber is linphone's
/// captured SUBSCRIBE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_watcher_gets_one_tuple_per_xmpp_resource() {
    let world = World::start(Options::default());
    let mut phone = world.client("juliet").await;
    let laptop = world.client("juliet").await;
    let resources: Vec<String> = [phone.jid(), laptop.jid()]
        .iter()
        .map(|j| j.split('/').nth(1).expect("a full JID").to_owned())
        .collect();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let fixture = include_bytes!("fixtures/linphone-5.1-subscribe-presence.sip");
    let request = readdress(fixture, "alice", socket.local_addr().expect("addr"));
    socket.send_to(&request, world.sip_addr()).expect("send");
    subscribe_request(&world, &mut phone).await;
    phone
        .send_xml(&format!(
            "<presence to='alice@{COMPONENT}' type='subscribed'/>"
        ))
        .await;
    let wanted: Vec<String> = resources
        .iter()
        // `_` and other characters outside xs:ID are escaped (§6.2 note 2).
        .map(|r| {
            format!(
                "<tuple id=\"{}\">",
                parley_mapping::presence::tuple_id(Some(r))
            )
        })
        .collect();
    tokio::task::block_in_place(|| {
        let mut seen = Vec::new();
        loop {
            let notify = expect_on(&socket, "NOTIFY ").unwrap_or_else(|| {
                panic!(
                    "no NOTIFY with a tuple for each of {resources:?}: {seen:#?}\n{}",
                    world.parley.log()
                )
            });
            if notify.contains("Subscription-State: active")
                && wanted.iter().all(|w| notify.contains(w.as_str()))
            {
                break;
            }
            seen.push(notify);
            assert!(
                seen.len() < 6,
                "no NOTIFY with a tuple for each of {resources:?}: {seen:#?}"
            );
        }
    });
    drop(laptop);
}

/// RFC 8048 §5.3: the XMPP user refuses → NOTIFY `terminated;reason=rejected`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusal_ends_sip_subscription_as_rejected() {
    let world = World::start(Options::default());
    let mut juliet = world.client("juliet").await;
    let scenario = subscriber(600, &until_state("^ *terminated;reason=rejected"));
    let sipp = Sipp::new(world.scenario("sub.xml", &scenario)).timeout(Duration::from_secs(30));
    let addr = world.sip_addr();
    let bob = std::thread::spawn(move || sipp.run_uac(addr));
    subscribe_request(&world, &mut juliet).await;
    juliet
        .send_xml(&format!(
            "<presence to='bob@{COMPONENT}' type='unsubscribed'/>"
        ))
        .await;
    let out = tokio::task::block_in_place(|| bob.join()).expect("sipp thread");
    assert!(out.success, "{}\n{}", out.report(), world.parley.log());
}

/// RFC 6665 §4.2.2: a subscription not refreshed in time ends with
/// `terminated;reason=timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrefreshed_sip_subscription_expires() {
    let world = World::start(Options::default());
    let scenario = subscriber(2, &until_state("^ *terminated;reason=timeout"));
    let sipp = Sipp::new(world.scenario("sub.xml", &scenario)).timeout(Duration::from_secs(30));
    let out = tokio::task::block_in_place(|| sipp.run_uac(world.sip_addr()));
    assert!(out.success, "{}\n{}", out.report(), world.parley.log());
    let gauge = r#"parley_registry_entries{kind="sip_subscriptions_in"}"#;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while world.parley.metric(gauge) != 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            world.parley.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The body of a captured request.
fn body_of(fixture: &[u8]) -> String {
    let at = fixture
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head ends")
        + 4;
    String::from_utf8(fixture[at..].to_vec())
        .expect("UTF-8 body")
        .trim()
        .to_owned()
}

/// bob's presence agent (sipp): answers the SUBSCRIBE with `status` (200 or
/// 202), then sends one NOTIFY per step — `(Subscription-State, PIDF body or
/// "", pause in ms after its 200)` — with CSeq 1, 2, ….
fn notifier_steps(status: &str, steps: &[(&str, &str, u32)]) -> String {
    let mut notifies = String::new();
    for (i, (state, body, pause_ms)) in steps.iter().enumerate() {
        let cseq = u32::try_from(i + 1).expect("few steps");
        notifies.push_str(&sipp_agent_notifies(cseq, state, body));
        notifies.push_str(&format!("<pause milliseconds=\"{pause_ms}\"/>\n"));
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="presence notifier">
{accept}{notifies}<Reference variables="subfrom,subto,subcontact"/>
</scenario>
"#,
        accept = sipp_agent_accepts(status, ""),
    )
}

/// bob's presence agent (sipp): 200, then NOTIFYs carrying linphone's and
/// baresip's real PIDF documents, then `terminated;reason=noresource`.
fn notifier(linphone_pidf: &str, baresip_pidf: &str) -> String {
    notifier_steps(
        "200 OK",
        &[
            ("active;expires=600", linphone_pidf, 300),
            ("active;expires=600", baresip_pidf, 300),
            ("terminated;reason=noresource", "", 0),
        ],
    )
}

/// bob's agent (sipp, running `scenario`) as Parley's outbound proxy, and
/// juliet logged in with her roster asked for (Prosody hands subscription
/// stanzas only to resources that asked for it, RFC 6121 §2.1.6 "interested
/// resources"). Keep the temp dir alive while the agent runs.
async fn juliet_and_bobs_agent(
    scenario: &str,
    t1_ms: Option<u64>,
) -> (
    World,
    XmppClient,
    parley_harness::sipp::SippUas,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notifier.xml");
    std::fs::write(&path, scenario).expect("write scenario");
    let uas = Sipp::new(&path)
        .timeout(Duration::from_secs(30))
        .spawn_uas();
    let world = World::start(Options {
        outbound_proxy: Some(format!("sip:{}", uas.addr())),
        t1_ms,
        ..Options::default()
    });
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml("<iq type='get' id='roster1'><query xmlns='jabber:iq:roster'/></iq>")
        .await;
    (world, juliet, uas, dir)
}

/// Juliet asks for bob's presence (RFC 6121 §3.1.1).
async fn subscribe_to_bob(juliet: &mut XmppClient) {
    juliet
        .send_xml(&format!(
            "<presence to='bob@{COMPONENT}' type='subscribe'/>"
        ))
        .await;
}

/// The `type` of each presence, in order (`None`: available).
fn types(seen: &[tokio_xmpp::minidom::Element]) -> Vec<Option<&str>> {
    seen.iter().map(|p| p.attr("type")).collect()
}

/// Presence stanzas from bob to juliet, in order, until `unsubscribed`.
async fn bob_presences(
    world: &World,
    juliet: &mut XmppClient,
) -> Vec<tokio_xmpp::minidom::Element> {
    let bob = format!("bob@{COMPONENT}");
    let mut seen = Vec::new();
    loop {
        let p = juliet
            .recv_matching(Duration::from_secs(15), |e| {
                e.name() == "presence"
                    && e.attr("from")
                        .is_some_and(|f| f.split('/').next() == Some(bob.as_str()))
            })
            .await
            .unwrap_or_else(|| panic!("presence stopped after {seen:?}\n{}", world.parley.log()));
        let last = p.attr("type") == Some("unsubscribed");
        seen.push(p);
        if last {
            return seen;
        }
    }
}

/// Real phones' PIDF through a SIP subscription: linphone's RPID `<away/>`
/// under `<dm:person>` and its note inside the tuple become `<show>away</show>`
/// and `<status/>`; baresip's `<basic>unknown</basic>` claims nothing, so no
/// stanza; `terminated` becomes `unavailable` then `unsubscribed` (RFC 8048 §5.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_phone_pidf_maps_to_show_and_status_and_terminated_unsubscribes() {
    let linphone = body_of(include_bytes!(
        "fixtures/linphone-5.1-publish-pidf-rpid-note.sip"
    ));
    let baresip = body_of(include_bytes!("fixtures/baresip-1.0-publish-pidf.sip"));
    let (world, mut juliet, uas, _dir) =
        juliet_and_bobs_agent(&notifier(&linphone, &baresip), None).await;
    subscribe_to_bob(&mut juliet).await;
    let seen = bob_presences(&world, &mut juliet).await;
    let kinds = types(&seen);
    assert_eq!(
        kinds,
        vec![
            Some("subscribed"),
            None,
            Some("unavailable"),
            Some("unsubscribed")
        ],
        "{seen:?}"
    );
    let available = &seen[1];
    assert_eq!(
        support::child_text(available, "show").as_deref(),
        Some("away")
    );
    assert_eq!(
        support::child_text(available, "status").as_deref(),
        Some("In a meeting ✓")
    );
    let out = tokio::task::block_in_place(|| uas.wait());
    assert!(out.success, "{}", out.report());
}

/// RFC 8048 §5.2.1, with a pending NOTIFY that carries state (RFC 6665
/// §4.1.2.3 allows it): the gateway "MUST respond to them on the SIP side
/// but refrain from sending any presence stanzas" until one says active, so
/// juliet's first word from bob is still `subscribed`, not the pending
/// document's presence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_notify_with_a_body_tells_juliet_nothing() {
    let open = "<?xml version='1.0' encoding='UTF-8'?>\n\
        <presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:bob@example.net'>\
        <tuple id='t1'><status><basic>open</basic></status></tuple></presence>";
    let scenario = notifier_steps(
        "202 Accepted",
        &[
            ("pending;expires=600", open, 1000),
            ("active;expires=600", open, 300),
            ("terminated;reason=noresource", "", 0),
        ],
    );
    let (world, mut juliet, uas, _dir) = juliet_and_bobs_agent(&scenario, None).await;
    subscribe_to_bob(&mut juliet).await;
    let seen = bob_presences(&world, &mut juliet).await;
    let kinds = types(&seen);
    assert_eq!(
        kinds,
        vec![
            Some("subscribed"),
            None,
            Some("unavailable"),
            Some("unsubscribed")
        ],
        "{seen:?}"
    );
    let out = tokio::task::block_in_place(|| uas.wait());
    assert!(out.success, "{}", out.report());
}

/// RFC 8048 §5.2.2 against a real SIP peer: a refresh answered 403 means
/// the XMPP presence authorization "MUST [be considered] permanently
/// cancelled (and so inform the XMPP user)": juliet gets `unavailable` and
/// `unsubscribed`, and the subscription is gone. bob's agent (sipp) grants
/// 5 s, so Parley refreshes after 3.2 s (80 % of a second less).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_refused_403_cancels_the_subscription() {
    let linphone = body_of(include_bytes!(
        "fixtures/linphone-5.1-publish-pidf-rpid-note.sip"
    ));
    let scenario = format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="presence agent refusing the refresh">
{accept}{notify}<recv request="SUBSCRIBE"/>
{forbidden}
<Reference variables="subfrom,subto,subcontact"/>
</scenario>
"#,
        accept = sipp_agent_accepts("200 OK", "").replace("Expires: 600", "Expires: 5"),
        notify = sipp_agent_notifies(1, "active;expires=5", &linphone),
        forbidden = support::OK.replace("200 OK", "403 Forbidden"),
    );
    let (world, mut juliet, uas, _dir) = juliet_and_bobs_agent(&scenario, None).await;
    subscribe_to_bob(&mut juliet).await;
    let subscribed_at = std::time::Instant::now();
    let seen = bob_presences(&world, &mut juliet).await;
    let kinds = types(&seen);
    assert_eq!(
        kinds,
        vec![
            Some("subscribed"),
            None,
            Some("unavailable"),
            Some("unsubscribed")
        ],
        "{seen:?}"
    );
    // Cancelled, not merely failed: nothing is tried again, not even when
    // the granted 5 s have run out (a transient failure would subscribe
    // afresh then, RFC 6665 §4.1.2.2). Two SUBSCRIBEs in all: the first and
    // the refused refresh.
    let past_expiry = subscribed_at + Duration::from_secs(7);
    tokio::time::sleep(past_expiry.saturating_duration_since(std::time::Instant::now())).await;
    assert_eq!(
        world
            .parley
            .metric(r#"parley_sip_requests_total{direction="out",method="SUBSCRIBE"}"#),
        2.0,
        "{}",
        world.parley.log()
    );
    let out = tokio::task::block_in_place(|| uas.wait());
    assert!(out.success, "{}", out.report());
    // The gauge follows on the reaper's next tick (50 ms).
    let gauge = r#"parley_registry_entries{kind="sip_subscriptions_out"}"#;
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while world.parley.metric(gauge) != 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the subscription is still counted\n{}",
            world.parley.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// RFC 8048 §5.2: a SUBSCRIBE refused with a 4xx → `unsubscribed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_sip_subscribe_is_unsubscribed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("refuser.xml");
    std::fs::write(
        &path,
        support::uas_message(&[], Some((403, "Forbidden")))
            .replace("request=\"MESSAGE\"", "request=\"SUBSCRIBE\""),
    )
    .expect("write scenario");
    let uas = Sipp::new(&path)
        .timeout(Duration::from_secs(30))
        .spawn_uas();
    let world = World::start(Options {
        outbound_proxy: Some(format!("sip:{}", uas.addr())),
        ..Options::default()
    });
    let mut juliet = world.client("juliet").await;
    // Prosody hands subscription stanzas only to resources that asked for the
    // roster (RFC 6121 §2.1.6 "interested resources").
    juliet
        .send_xml("<iq type='get' id='roster1'><query xmlns='jabber:iq:roster'/></iq>")
        .await;
    subscribe_to_bob(&mut juliet).await;
    let seen = bob_presences(&world, &mut juliet).await;
    assert_eq!(seen.len(), 1, "only `unsubscribed`: {seen:?}");
    let out = tokio::task::block_in_place(|| uas.wait());
    assert!(out.success, "{}", out.report());
    // The registry gauges are refreshed on the reaper's 50 ms tick: give it
    // a few before reading.
    let sample = r#"parley_registry_entries{kind="sip_subscriptions_out"}"#;
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while world.parley.metric(sample) != 0.0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(world.parley.metric(sample), 0.0);
}

/// A captured SUBSCRIBE, readdressed to juliet via this parley from
/// `<user>@COMPONENT`, with Via and Contact pointing at `socket`.
fn readdress(fixture: &[u8], user: &str, socket: std::net::SocketAddr) -> Vec<u8> {
    let text = String::from_utf8(fixture.to_vec()).expect("ASCII request");
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        if line.starts_with("Route:") {
            continue;
        }
        let line = line
            .replace("alice@sip.localhost", &format!("{user}@sip.localhost"))
            .replace("juliet@localhost", &format!("juliet@{XMPP_DOMAIN}"))
            .replace("sip.localhost", COMPONENT)
            .replace("127.0.0.1:25080", &socket.to_string())
            .replace("127.0.0.1:25090", &socket.to_string());
        out.push_str(&line);
    }
    out.into_bytes()
}

/// Read SIP messages from `socket` until one starts with `start`; answer
/// requests with 200 (echoing the transaction headers).
fn expect_on(socket: &UdpSocket, start: &str) -> Option<String> {
    let mut buf = [0u8; 8192];
    loop {
        let (n, from) = socket.recv_from(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with("SIP/2.0") {
            let echo: String = text
                .split("\r\n")
                .filter(|l| {
                    ["Via:", "From:", "To:", "Call-ID:", "CSeq:"]
                        .iter()
                        .any(|h| l.starts_with(h))
                })
                .map(|l| format!("{l}\r\n"))
                .collect();
            let ok = format!("SIP/2.0 200 OK\r\n{echo}Content-Length: 0\r\n\r\n");
            socket.send_to(ok.as_bytes(), from).expect("answer");
        }
        if text.starts_with(start) {
            return Some(text);
        }
    }
}

/// linphone's and baresip's SUBSCRIBE (no Accept; baresip's empty Supported)
/// are accepted: 200, NOTIFY `pending`, and a subscribe request to juliet
/// from the phone user's JID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_phone_subscribes_are_accepted() {
    let world = World::start(Options::default());
    let mut juliet = world.client("juliet").await;
    // Two users, so that Prosody delivers both requests (RFC 6121 §3.1.3).
    for (user, fixture) in [
        (
            "alice",
            &include_bytes!("fixtures/linphone-5.1-subscribe-presence.sip")[..],
        ),
        (
            "carol",
            &include_bytes!("fixtures/baresip-1.0-subscribe-presence.sip")[..],
        ),
    ] {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let request = readdress(fixture, user, socket.local_addr().expect("addr"));
        socket.send_to(&request, world.sip_addr()).expect("send");
        let answer = tokio::task::block_in_place(|| expect_on(&socket, "SIP/2.0 2"))
            .unwrap_or_else(|| panic!("no 2xx\n{}", world.parley.log()));
        assert!(answer.contains("Expires: 600"), "{answer}");
        let notify = tokio::task::block_in_place(|| expect_on(&socket, "NOTIFY "))
            .unwrap_or_else(|| panic!("no NOTIFY\n{}", world.parley.log()));
        assert!(notify.contains("Subscription-State: pending"), "{notify}");
        let asked = juliet
            .recv_matching(Duration::from_secs(5), |e| {
                e.name() == "presence" && e.attr("type") == Some("subscribe")
            })
            .await
            .unwrap_or_else(|| panic!("no subscribe\n{}", world.parley.log()));
        assert_eq!(asked.attr("from"), Some(&*format!("{user}@{COMPONENT}")));
    }
}

/// RFC 8048 §5.2.1: `subscribed` goes to the XMPP user "upon receiving the
/// first NOTIFY with a state of active" (F14), followed by the presence that
/// NOTIFY carries (F15) — not on a 202 whose NOTIFY says `pending` while bob
/// has not yet decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribed_waits_for_the_first_active_notify() {
    let open = "<?xml version='1.0' encoding='UTF-8'?>\n\
        <presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:bob@example.net'>\
        <tuple id='t1'><status><basic>open</basic></status></tuple></presence>";
    let scenario = notifier_steps(
        "202 Accepted",
        &[
            ("pending;expires=600", "", 3000),
            ("active;expires=600", open, 300),
            ("terminated;reason=noresource", "", 0),
        ],
    );
    let (world, mut juliet, uas, _dir) = juliet_and_bobs_agent(&scenario, None).await;
    subscribe_to_bob(&mut juliet).await;
    // While bob's agent says pending (3 s), juliet hears nothing from him.
    let bob = format!("bob@{COMPONENT}");
    let early = juliet
        .recv_matching(Duration::from_millis(1500), |e| {
            e.name() == "presence" && e.attr("from") == Some(bob.as_str())
        })
        .await;
    assert!(
        early.is_none(),
        "presence before any active NOTIFY: {early:?}\n{}",
        world.parley.log()
    );
    let seen = bob_presences(&world, &mut juliet).await;
    let kinds = types(&seen);
    assert_eq!(
        kinds,
        vec![
            Some("subscribed"),
            None,
            Some("unavailable"),
            Some("unsubscribed")
        ],
        "{seen:?}"
    );
    assert!(uas.wait().success);
}

/// RFC 6665 §4.1.2.4: "If this Timer N expires prior to the receipt of a
/// NOTIFY request, the subscriber considers the subscription failed". bob's
/// agent answers 200 and never notifies; with T1 = 50 ms Timer N (64·T1) is
/// 3.2 s, after which juliet hears `unsubscribed` (RFC 8048 §5.2) and never
/// `subscribed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_notify_within_timer_n_fails_the_subscription() {
    let (world, mut juliet, uas, _dir) =
        juliet_and_bobs_agent(&notifier_steps("200 OK", &[]), Some(50)).await;
    let asked = std::time::Instant::now();
    subscribe_to_bob(&mut juliet).await;
    let seen = bob_presences(&world, &mut juliet).await;
    let kinds = types(&seen);
    assert_eq!(kinds, vec![Some("unsubscribed")], "{seen:?}");
    assert!(
        asked.elapsed() >= Duration::from_secs(3),
        "unsubscribed before Timer N ran out: {:?}",
        asked.elapsed()
    );
    assert!(uas.wait().success);
}

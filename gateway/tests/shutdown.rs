//! design §2: SIGTERM stops intake, answers every in-flight request, closes the
//! component stream with `</stream:stream>` and exits 0 — and no message that
//! got its 200 is lost.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use parley_harness::sipp::{Sipp, SippTransport};
use support::{
    COMPONENT, Options, SipMessage, World, XMPP_DOMAIN, child_text, sipp_agent_accepts,
    sipp_agent_notifies, sipp_subscribe_ok,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_traffic_loses_no_accepted_message() {
    let mut world = World::start(Options::default());
    let mut juliet = world.client("juliet").await;
    let msg = SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "shutdown-%u",
        content_type: "text/plain",
        headers: &[],
        body: "message [call_number]",
        expect: 200,
    };
    let sipp = msg
        .sipp(world.scenario("uac-shutdown.xml", &msg.scenario()))
        .transport(SippTransport::Udp)
        .calls(40)
        .rate(20)
        .timeout(Duration::from_secs(15));
    let addr = world.sip_addr();
    let sender = std::thread::spawn(move || sipp.run_uac(addr));

    // Collect what juliet gets while the traffic runs and parley is stopped.
    let mut bodies = HashSet::new();
    let stop_at = tokio::time::Instant::now() + Duration::from_millis(1000);
    while tokio::time::Instant::now() < stop_at {
        if let Some(m) = juliet
            .recv_matching(Duration::from_millis(100), |e| e.name() == "message")
            .await
        {
            bodies.insert(
                child_text(&m, "body")
                    .unwrap_or_default()
                    .trim_end()
                    .to_owned(),
            );
        }
    }
    let code = world.parley.terminate(Duration::from_secs(40));
    assert_eq!(
        code,
        Some(0),
        "parley exits 0 on SIGTERM\n{}",
        world.parley.log()
    );
    while let Some(m) = juliet
        .recv_matching(Duration::from_secs(2), |e| e.name() == "message")
        .await
    {
        bodies.insert(
            child_text(&m, "body")
                .unwrap_or_default()
                .trim_end()
                .to_owned(),
        );
    }
    let out = sender.join().expect("sipp thread");
    // Distinct calls answered 200: a retransmitted request gets the 200 again
    // (RFC 3261 §17.2.2), so sipp may log one call's 200 twice.
    let accepted = answered_200(&out.messages_log);
    assert!(
        accepted > 0,
        "some messages went through before SIGTERM:\n{}",
        out.report()
    );
    assert!(
        accepted < 40,
        "SIGTERM came while traffic still ran:\n{}",
        out.report()
    );
    assert!(
        bodies.len() >= accepted,
        "{accepted} messages got 200 but juliet got only {}:\n{}",
        bodies.len(),
        world.parley.log()
    );
    assert!(
        world.parley.log().contains("parley stopped"),
        "{}",
        world.parley.log()
    );
}

/// The Call-IDs of every 200 sipp received, counted once each.
fn answered_200(messages_log: &str) -> usize {
    let mut calls = HashSet::new();
    let mut in_200 = false;
    for line in messages_log.lines() {
        if line.contains("message received") || line.contains("message sent") {
            in_200 = false;
        } else if line.starts_with("SIP/2.0 200") {
            in_200 = true;
        } else if in_200 && let Some(id) = line.strip_prefix("Call-ID:") {
            calls.insert(id.trim().to_owned());
        }
    }
    calls.len()
}

/// bob's agent (sipp UAS): answers juliet's SUBSCRIBE and sends one NOTIFY
/// (the first exchange), then drops everything: a MESSAGE (a new Call-ID,
/// so a new sipp call) and its retransmissions are read and never answered.
fn answers_once_then_drops() -> String {
    let accept = sipp_agent_accepts("200 OK", "");
    let open = sipp_agent_notifies(1, "active;expires=600", BOB_PIDF);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="answers once, then drops everything">
<recv request="MESSAGE" optional="true" next="silent"/>
{accept}{open}<pause milliseconds="30000"/>
<nop hide="true" next="end"/>
<label id="silent"/>
<recv request="MESSAGE" optional="true" timeout="30000" ontimeout="end"/>
<label id="end"/>
</scenario>
"#
    )
}

/// After the restart: the stored subscription comes back as a refresh
/// SUBSCRIBE in the same dialog (a To tag), answered 200.
fn takes_the_refresh() -> String {
    let ok = sipp_subscribe_ok(600);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="takes the refresh">
<recv request="SUBSCRIBE"><action>
<ereg regexp="tag=" search_in="hdr" header="To:" check_it="true" assign_to="indialog"/>
</action></recv>
<Reference variables="indialog"/>
{ok}</scenario>
"#
    )
}

const BOB_PIDF: &str = r#"<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@sip.example.net"><tuple id="t1"><status><basic>open</basic></status></tuple></presence>"#;

const GRACE_MS: u64 = 2_000;

/// Issue 26 §1: a SIP peer that stops answering cannot hold SIGTERM for
/// Timer F (64·T1 = 32 s at the default T1 of 500 ms). Parley waits
/// `shutdown.grace_ms` for it, refuses new work meanwhile (503 + Retry-After,
/// `<service-unavailable/>`), tells the XMPP sender whose message got no SIP
/// answer (`<remote-server-timeout/>`, RFC 7247 §7.1's 408 row), keeps the
/// subscription in the store, and exits 0 within the grace period + 1 s; the
/// next start takes the subscription up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_an_unanswering_peer_exits_within_the_grace_period() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bob.xml");
    std::fs::write(&path, answers_once_then_drops()).expect("write scenario");
    let bob_agent = Sipp::new(&path)
        .calls(2)
        .timeout(Duration::from_secs(60))
        .spawn_uas();
    let bob_addr = bob_agent.addr();
    let mut world = World::start(Options {
        outbound_proxy: Some(format!("sip:{bob_addr}")),
        // The default T1: Timer F is 32 s, as on a real deployment.
        t1_ms: Some(500),
        extra: format!("[shutdown]\ngrace_ms = {GRACE_MS}\n"),
        ..Options::default()
    });
    let mut juliet = world.client("juliet").await;
    let bob = format!("bob@{COMPONENT}");
    juliet
        .send_xml(&format!("<presence to='{bob}' type='subscribe'/>"))
        .await;
    // bob's NOTIFY reached her: the first exchange is over.
    juliet
        .recv_matching(Duration::from_secs(10), |e| {
            e.name() == "presence"
                && e.attr("type").is_none()
                && e.attr("from").is_some_and(|f| f.starts_with(&bob))
        })
        .await
        .unwrap_or_else(|| panic!("no presence from bob\n{}", world.logs()));

    // The message bob's agent never answers.
    juliet
        .send_xml(&format!(
            "<message to='{bob}' id='unanswered' type='chat'><body>are you there?</body></message>"
        ))
        .await;
    let out_messages = r#"parley_sip_requests_total{direction="out",method="MESSAGE"}"#;
    let deadline = Instant::now() + Duration::from_secs(10);
    while world.parley.metric(out_messages) < 1.0 {
        assert!(
            Instant::now() < deadline,
            "no MESSAGE sent\n{}",
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let signalled = Instant::now();
    world.parley.signal_term();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Draining: a new stanza is refused, not dropped.
    juliet
        .send_xml(&format!(
            "<message to='{bob}' id='too-late' type='chat'><body>one more</body></message>"
        ))
        .await;
    // Draining: a new SIP request gets 503 with Retry-After.
    let late = SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "during-drain",
        content_type: "text/plain",
        headers: &[],
        body: "while you stop",
        expect: 503,
    };
    let late_sipp = late
        .sipp(world.scenario("uac-during-drain.xml", &late.scenario()))
        .timeout(Duration::from_secs(5));
    let sip_addr = world.sip_addr();
    let late_out = tokio::task::spawn_blocking(move || late_sipp.run_uac(sip_addr))
        .await
        .expect("sipp thread");
    world.assert_sipp(&late_out);
    assert!(
        late_out.messages_log.contains("Retry-After:"),
        "503 without Retry-After:\n{}",
        late_out.report()
    );

    let code = tokio::task::block_in_place(|| world.parley.wait_exit(Duration::from_secs(40)));
    let took = signalled.elapsed();
    assert_eq!(code, Some(0), "{}", world.logs());
    eprintln!("SIGTERM to exit: {took:?}");
    let grace = Duration::from_millis(GRACE_MS);
    assert!(
        took >= grace,
        "parley left after {took:?}, before the peer's grace period of {grace:?} ran out\n{}",
        world.logs()
    );
    assert!(
        took <= grace + Duration::from_secs(1),
        "parley took {took:?} to exit, more than shutdown.grace_ms + 1 s\n{}",
        world.logs()
    );

    let mut errors = std::collections::HashMap::new();
    while errors.len() < 2 {
        let Some(e) = juliet
            .recv_matching(Duration::from_secs(5), |e| {
                e.name() == "message" && e.attr("type") == Some("error")
            })
            .await
        else {
            panic!("errors so far: {errors:?}\n{}", world.logs());
        };
        let condition = e
            .get_child("error", "jabber:client")
            .and_then(|err| err.children().next().map(|c| c.name().to_owned()))
            .unwrap_or_default();
        errors.insert(e.attr("id").unwrap_or_default().to_owned(), condition);
    }
    assert_eq!(
        errors.get("unanswered").map(String::as_str),
        Some("remote-server-timeout"),
        "{errors:?}"
    );
    assert_eq!(
        errors.get("too-late").map(String::as_str),
        Some("service-unavailable"),
        "{errors:?}"
    );
    // The unanswered MESSAGE reached bob's agent (with its retransmissions);
    // the one refused while draining never went out.
    let bob_out = bob_agent.stop();
    assert!(bob_out.received("MESSAGE ") >= 1, "{}", bob_out.report());
    assert!(
        bob_out.messages_log.contains("are you there?")
            && !bob_out.messages_log.contains("one more"),
        "{}",
        bob_out.report()
    );
    assert!(world.logs().contains("parley stopped"), "{}", world.logs());

    // The store kept juliet's subscription: the next start refreshes it in
    // its dialog at bob's address.
    let path = dir.path().join("refresh.xml");
    std::fs::write(&path, takes_the_refresh()).expect("write scenario");
    let refresh = Sipp::new(&path)
        .local_port(bob_addr.port())
        .timeout(Duration::from_secs(30))
        .spawn_uas();
    tokio::task::block_in_place(|| world.restart_parley_after_exit());
    let out = tokio::task::spawn_blocking(move || refresh.wait())
        .await
        .expect("sipp thread");
    world.assert_sipp(&out);
}

/// Issue 26 §1 with §2: stanzas still waiting for their sender's rate at
/// SIGTERM were accepted but never handled; each gets
/// `<service-unavailable/>` (type `wait`) instead of vanishing with the
/// process, and none reaches SIP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_the_stanzas_still_waiting_in_the_shaper() {
    let (mut world, uas) = World::start_with_uas(
        &support::uas_message(&[], Some((200, "OK"))),
        |uas| uas.calls(1),
        Options {
            // One goes at once; the rest wait a minute each.
            extra: "[limits]\nxmpp_stanzas_per_second = 1\nxmpp_stanza_burst = 1\nxmpp_sender_queue = 10\n[shutdown]\ngrace_ms = 1000\n"
                .into(),
            ..Options::default()
        },
    );
    let mut juliet = world.client("juliet").await;
    for i in 1..=4 {
        juliet
            .send_xml(&format!(
                "<message to='bob@{COMPONENT}' id='w{i}'><body>waiting {i}</body></message>"
            ))
            .await;
    }
    let shaped = "parley_xmpp_stanzas_shaped_total";
    let deadline = Instant::now() + Duration::from_secs(10);
    while world.parley.metric(shaped) < 3.0 {
        assert!(Instant::now() < deadline, "not shaped\n{}", world.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let code = tokio::task::block_in_place(|| world.parley.terminate(Duration::from_secs(10)));
    assert_eq!(code, Some(0), "{}", world.logs());

    let mut refused = HashSet::new();
    while let Some(e) = juliet
        .recv_matching(Duration::from_secs(3), |e| e.attr("type") == Some("error"))
        .await
    {
        assert_eq!(
            support::error_condition(&e).as_deref(),
            Some("wait/service-unavailable"),
            "{}",
            String::from(&e)
        );
        refused.insert(e.attr("id").unwrap_or_default().to_owned());
    }
    // w1 went at once (its 200 arrived or not, it left before SIGTERM); at
    // most one more was released in the time it took to signal.
    assert!(
        refused.len() >= 2 && !refused.contains("w1"),
        "refused {refused:?}\n{}",
        world.logs()
    );
    let out = uas.stop();
    for id in &refused {
        let body = format!("waiting {}", &id[1..]);
        assert!(
            !out.messages_log.contains(&body),
            "{body} reached SIP\n{}",
            out.report()
        );
    }
}

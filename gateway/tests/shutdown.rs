//! design §2: SIGTERM stops intake, answers every in-flight request, closes the
//! component stream with `</stream:stream>` and exits 0 — and no message that
//! got its 200 is lost.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use parley_harness::sipp::SippTransport;
use support::{COMPONENT, Options, SipMessage, World, XMPP_DOMAIN, child_text};

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

//! design §2 "Health and metrics": `/metrics` counters move by exactly the
//! traffic sent; `/readyz` follows the component link.

mod support;

use parley_harness::sipp::SippTransport;
use support::{COMPONENT, Options, SipMessage, World, XMPP_DOMAIN};

fn message<'a>(to: &'a str, call_id: &'a str, expect: u16) -> SipMessage<'a> {
    SipMessage {
        from: "sip:bob@sip.example.net",
        to,
        call_id,
        content_type: "text/plain",
        headers: &[],
        body: "counted",
        expect,
    }
}

#[test]
fn counters_move_by_exactly_the_traffic_sent() {
    let world = World::start(Options::default());
    let juliet = format!("sip:juliet@{XMPP_DOMAIN}");
    let nobody = format!("sip:nobody@{XMPP_DOMAIN}");
    // TCP: no retransmissions, so every request is counted once.
    message(&juliet, "metrics-1", 200).send(&world, SippTransport::Tcp);
    message(&juliet, "metrics-2", 200).send(&world, SippTransport::Tcp);
    message(&nobody, "metrics-3", 403).send(&world, SippTransport::Tcp);

    let m = |sample: &str| world.parley.metric(sample);
    assert_eq!(
        m(r#"parley_messages_total{direction="sip_to_xmpp",outcome="delivered"}"#),
        2.0
    );
    assert_eq!(
        m(r#"parley_messages_total{direction="sip_to_xmpp",outcome="failed"}"#),
        1.0
    );
    assert_eq!(
        m(r#"parley_sip_requests_total{direction="in",method="MESSAGE"}"#),
        3.0
    );
    assert_eq!(
        m(r#"parley_sip_responses_total{class="2xx",direction="out"}"#),
        2.0
    );
    assert_eq!(
        m(r#"parley_sip_responses_total{class="4xx",direction="out"}"#),
        1.0
    );
    assert_eq!(
        m(r#"parley_xmpp_stanzas_total{direction="out",kind="message"}"#),
        3.0
    );
    assert_eq!(m("parley_component_connected"), 1.0);
    assert_eq!(
        m(r#"parley_registry_entries{kind="pending_sip"}"#),
        0.0,
        "nothing left in flight"
    );
    let (_, text) = world.parley.http_get("/metrics").expect("metrics");
    assert!(
        !text.contains("juliet") && !text.contains("nobody") && !text.contains(COMPONENT),
        "labels must not carry addresses"
    );
}

#[test]
fn readyz_follows_the_component_link() {
    let mut world = World::start(Options::default());
    assert_eq!(world.parley.http_get("/readyz").map(|r| r.0), Some(200));
    world.prosody.stop();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while world.parley.http_get("/readyz").map(|r| r.0) != Some(503) {
        assert!(std::time::Instant::now() < deadline, "readyz stayed 200");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(world.parley.http_get("/healthz").map(|r| r.0), Some(200));
    world.prosody.restart();
    world.parley.wait_ready(std::time::Duration::from_secs(15));
}

//! RFC 8048 §5.3 and §6.2, RFC 6665 §4.2: a SIP user subscribes to an XMPP
//! user. Parley answers 200, sends NOTIFY `pending`, turns the SUBSCRIBE into
//! `<presence type='subscribe'/>`; once she answers `subscribed`, NOTIFY
//! `active` carries her presence as PIDF; an un-SUBSCRIBE ends it with NOTIFY
//! `terminated`.

mod support;

use std::time::Duration;

use support::{COMPONENT, OK, Options, World, XMPP_DOMAIN, sipp_subscribe};

/// SUBSCRIBE, NOTIFY pending, NOTIFY active until one says open, then `ending`.
fn subscriber_scenario(ending: &str) -> String {
    let subscribe = sipp_subscribe(1, "600");
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="presence subscriber">
{subscribe}<recv response="200"><action>
<ereg regexp="tag=[^;&gt;]*" search_in="hdr" header="To:" check_it="true" assign_to="totag"/>
</action></recv>
<recv request="NOTIFY"><action>
<ereg regexp="^ *pending" search_in="hdr" header="Subscription-State:" check_it="true" assign_to="pending"/>
</action></recv>
{OK}
<label id="wait"/>
<recv request="NOTIFY"><action>
<ereg regexp="basic&gt;open" search_in="body" check_it="false" assign_to="open"/>
<ereg regexp="^ *active" search_in="hdr" header="Subscription-State:" check_it="true" assign_to="active"/>
</action></recv>
{OK}
<nop hide="true" test="open" next="opened"/>
<nop hide="true" next="wait"/>
<label id="opened"/>
{ending}<Reference variables="pending,active,ended,totag"/>
</scenario>
"#
    )
}

/// The subscriber ends it: un-SUBSCRIBE, 200, NOTIFY terminated.
fn unsubscribe_ending() -> String {
    let unsubscribe = sipp_subscribe(2, "0");
    format!(
        r#"{unsubscribe}<recv response="200"/>
<recv request="NOTIFY"><action>
<ereg regexp="^ *terminated" search_in="hdr" header="Subscription-State:" check_it="true" assign_to="ended"/>
</action></recv>
{OK}
"#
    )
}

/// Parley ends it at shutdown: NOTIFY terminated;reason=deactivated.
fn deactivated_ending() -> String {
    format!(
        r#"<recv request="NOTIFY" timeout="15000"><action>
<ereg regexp="^ *terminated;reason=deactivated" search_in="hdr" header="Subscription-State:" check_it="true" assign_to="ended"/>
</action></recv>
{OK}
"#
    )
}

/// Juliet approves bob's subscription when it reaches her.
async fn approve(world: &World, juliet: &mut parley_harness::xmpp_client::XmppClient) {
    let bob = format!("bob@{COMPONENT}");
    let request = juliet
        .recv_matching(Duration::from_secs(10), |e| {
            e.name() == "presence" && e.attr("type") == Some("subscribe")
        })
        .await
        .unwrap_or_else(|| panic!("no subscribe reached juliet\n{}", world.parley.log()));
    assert_eq!(request.attr("from"), Some(bob.as_str()));
    juliet
        .send_xml(&format!("<presence to='{bob}' type='subscribed'/>"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_user_subscribes_to_xmpp_user_and_gets_her_presence() {
    let world = World::start(Options::default());
    let mut juliet = world.client("juliet").await;
    let scenario = subscriber_scenario(&unsubscribe_ending());
    let sipp = parley_harness::sipp::Sipp::new(world.scenario("subscriber.xml", &scenario))
        .timeout(Duration::from_secs(20));
    let addr = world.sip_addr();
    let subscriber = std::thread::spawn(move || sipp.run_uac(addr));
    approve(&world, &mut juliet).await;

    let out = subscriber.join().expect("sipp thread");
    world.assert_sipp(&out);
    assert!(out.received("NOTIFY ") >= 3, "{}", out.report());
}

/// RFC 6665 §4.1.3: when the store cannot keep them (here `store.path` names a
/// plain file), SIGTERM ends each subscription with
/// `terminated;reason=deactivated`, asking the subscriber to come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_store_shutdown_deactivates_sip_subscriptions() {
    let not_a_dir = tempfile::NamedTempFile::new().expect("temp file");
    let mut world = World::start(Options {
        store_path: Some(not_a_dir.path().to_owned()),
        ..Options::default()
    });
    assert_eq!(world.parley.metric("parley_store_persistent"), 0.0);
    assert!(
        world.parley.log().contains("STORE UNUSABLE"),
        "{}",
        world.parley.log()
    );
    let mut juliet = world.client("juliet").await;
    let scenario = subscriber_scenario(&deactivated_ending());
    let sipp = parley_harness::sipp::Sipp::new(world.scenario("subscriber.xml", &scenario))
        .timeout(Duration::from_secs(20));
    let addr = world.sip_addr();
    let subscriber = std::thread::spawn(move || sipp.run_uac(addr));
    approve(&world, &mut juliet).await;
    // Wait until the subscription is active before stopping parley.
    let active = r#"parley_registry_entries{kind="sip_subscriptions_in"}"#;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while world.parley.metric(active) < 1.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            world.parley.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let code = tokio::task::block_in_place(|| world.parley.terminate(Duration::from_secs(40)));
    assert_eq!(code, Some(0), "{}", world.parley.log());
    let out = subscriber.join().expect("sipp thread");
    world.assert_sipp(&out);
}

fn subscribe_bytes(
    local: std::net::SocketAddr,
    call_id: &str,
    to_tag: &str,
    event: &str,
) -> String {
    format!(
        "SUBSCRIBE sip:juliet@{XMPP_DOMAIN} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:bob@{COMPONENT}>;tag=b1\r\n\
         To: <sip:juliet@{XMPP_DOMAIN}>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 7 SUBSCRIBE\r\n\
         Contact: <sip:bob@{local}>\r\n\
         Event: {event}\r\n\
         Expires: 600\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// RFC 3261 §12.2.2: a refresh in a dialog Parley does not know gets 481;
/// RFC 6665 §8.3.2: an event package Parley does not serve gets 489.
#[test]
fn unknown_dialog_gets_481_and_unknown_event_gets_489() {
    let world = World::start(Options::default());
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let local = socket.local_addr().expect("addr");
    let mut buf = [0u8; 4096];
    for (call_id, tag, event, expect) in [
        ("stale-dialog", ";tag=gone", "presence", "SIP/2.0 481"),
        ("other-event", "", "message-summary", "SIP/2.0 489"),
    ] {
        socket
            .send_to(
                subscribe_bytes(local, call_id, tag, event).as_bytes(),
                world.sip_addr(),
            )
            .expect("send");
        let (n, _) = socket.recv_from(&mut buf).expect("a response");
        let answer = String::from_utf8_lossy(&buf[..n]);
        assert!(answer.starts_with(expect), "{call_id}: {answer}");
    }
}

/// RFC 6665 §4.2.1.1 and RFC 3261 §8.1.1.8: the 200 to a SUBSCRIBE and the
/// NOTIFYs carry a Contact the subscriber can send its refreshes to. With
/// `sip.advertise` set (Parley behind NAT or a Kubernetes Service) that is the
/// advertised host with the listen port, in the 200 and in the NOTIFY alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_contact_is_the_advertised_host() {
    let world = World::start(Options {
        sip_extra: "advertise = \"gw.example.net\"\n".to_owned(),
        ..Options::default()
    });
    let port = world.sip_port;
    let subscribe = sipp_subscribe(1, "600");
    let scenario = format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="advertised contact">
{subscribe}<recv response="200"><action>
<ereg regexp="^ *&lt;sip:gw\.example\.net:{port}&gt;" search_in="hdr" header="Contact:" check_it="true" assign_to="answer"/>
</action></recv>
<recv request="NOTIFY"><action>
<ereg regexp="^ *&lt;sip:juliet@gw\.example\.net:{port}&gt;" search_in="hdr" header="Contact:" check_it="true" assign_to="notify"/>
<ereg regexp="^ *SIP/2.0/UDP gw\.example\.net:{port};" search_in="hdr" header="Via:" check_it="true" assign_to="via"/>
</action></recv>
{OK}
<Reference variables="answer,notify,via"/>
</scenario>
"#
    );
    let out = parley_harness::sipp::Sipp::new(world.scenario("advertise.xml", &scenario))
        .timeout(Duration::from_secs(10))
        .run_uac(world.sip_addr());
    world.assert_sipp(&out);
}

//! RFC 7572 §4 (Table 1, XMPP → SIP): an XMPP `<message/>` to `bob@<component>` becomes a
//! SIP MESSAGE to bob through the outbound proxy — From is the sender's bare
//! JID with the resource as GRUU `gr`, `<thread/>` → Call-ID, `xml:lang` →
//! Content-Language, body as `text/plain` — and a SIP failure comes back to the
//! XMPP sender as a message error per RFC 7247 §7 Table 3.

mod support;

use std::time::Duration;

use parley_harness::sipp::SippTransport;
use support::{COMPONENT, Options, World, XMPP_DOMAIN, uas_message};

/// Start a sipp UAS running `scenario` and a world whose outbound proxy it is.
fn world_with_uas(scenario: &str, t1_ms: u64) -> (World, parley_harness::sipp::SippUas) {
    world_with_uas_over(scenario, t1_ms, SippTransport::Udp)
}

fn world_with_uas_over(
    scenario: &str,
    t1_ms: u64,
    transport: SippTransport,
) -> (World, parley_harness::sipp::SippUas) {
    world_with_uas_options(
        scenario,
        transport,
        Options {
            t1_ms: Some(t1_ms),
            ..Options::default()
        },
    )
}

fn world_with_uas_options(
    scenario: &str,
    transport: SippTransport,
    options: Options,
) -> (World, parley_harness::sipp::SippUas) {
    World::start_with_uas(scenario, |uas| uas.transport(transport), options)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmpp_message_becomes_sip_message_with_gruu_call_id_and_language() {
    let uas_xml = uas_message(
        &[
            ("From", &format!("<sip:juliet@{XMPP_DOMAIN};gr=[^>]+>")),
            ("To", &format!("sip:bob@{COMPONENT}")),
            ("Call-ID", "^ *thread-4711"),
            ("Content-Language", "^ *fr"),
            ("Content-Type", "^ *text/plain"),
            ("body", "^Bonjour <&>\"' ünï$"),
        ],
        Some((200, "OK")),
    );
    let (world, uas) = world_with_uas(&uas_xml, 100);
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!(
            "<message xmlns='jabber:client' to='bob@{COMPONENT}' id='m1' type='chat' xml:lang='fr'>\
             <body>Bonjour &lt;&amp;&gt;&quot;&apos; ünï</body><thread>thread-4711</thread></message>"
        ))
        .await;
    let out = uas.wait();
    world.assert_sipp(&out);
    assert_eq!(out.received("MESSAGE "), 1, "{}", out.report());
    // A delivered message produces no error stanza.
    let error = juliet
        .recv_matching(Duration::from_millis(500), |e| {
            e.name() == "message" && e.attr("type") == Some("error")
        })
        .await;
    assert!(error.is_none(), "unexpected error: {error:?}");
}

/// RFC 7247 §7 Table 3: "404 Not Found | <item-not-found/>".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_404_comes_back_as_item_not_found() {
    let (world, uas) = world_with_uas(&uas_message(&[], Some((404, "Not Found"))), 100);
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!(
            "<message xmlns='jabber:client' to='nobody@{COMPONENT}' id='m404'><body>anyone?</body></message>"
        ))
        .await;
    let error = juliet
        .recv_matching(Duration::from_secs(10), |e| {
            e.name() == "message" && e.attr("type") == Some("error")
        })
        .await
        .unwrap_or_else(|| panic!("no error came back\n{}", world.parley.log()));
    assert_eq!(error.attr("id"), Some("m404"));
    assert_eq!(error.attr("from"), Some(&*format!("nobody@{COMPONENT}")));
    let condition = error
        .get_child("error", "jabber:client")
        .and_then(|e| e.get_child("item-not-found", "urn:ietf:params:xml:ns:xmpp-stanzas"));
    assert!(condition.is_some(), "{}", String::from(&error));
    let out = uas.wait();
    assert!(out.success, "{}", out.report());
}

/// design §3: a timeout on the SIP side becomes `remote-server-timeout` (Timer F = 64·T1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sip_peer_yields_remote_server_timeout() {
    let (world, uas) = world_with_uas(&uas_message(&[], None), 50);
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!(
            "<message xmlns='jabber:client' to='bob@{COMPONENT}' id='mslow'><body>hello?</body></message>"
        ))
        .await;
    // T1 = 50 ms, so Timer F fires after 3.2 s.
    let error = juliet
        .recv_matching(Duration::from_secs(15), |e| {
            e.name() == "message" && e.attr("type") == Some("error")
        })
        .await
        .unwrap_or_else(|| panic!("no timeout error came back\n{}", world.parley.log()));
    assert_eq!(error.attr("id"), Some("mslow"));
    let condition = error.get_child("error", "jabber:client").and_then(|e| {
        e.get_child(
            "remote-server-timeout",
            "urn:ietf:params:xml:ns:xmpp-stanzas",
        )
    });
    assert!(condition.is_some(), "{}", String::from(&error));
    let out = uas.stop();
    assert!(
        out.received("MESSAGE ") >= 2,
        "Timer E retransmits over UDP:\n{}",
        out.report()
    );
}

/// RFC 3261 §18.1.1: with `;transport=tcp` on the outbound proxy the MESSAGE goes over TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmpp_message_reaches_a_tcp_outbound_proxy() {
    let uas_xml = uas_message(&[("Via", "SIP/2.0/TCP")], Some((200, "OK")));
    let (world, uas) = world_with_uas_over(&uas_xml, 100, SippTransport::Tcp);
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!(
            "<message xmlns='jabber:client' to='bob@{COMPONENT}' id='tcp1'><body>via tcp</body></message>"
        ))
        .await;
    let out = uas.wait();
    world.assert_sipp(&out);
    let delivered = r#"parley_messages_total{direction="xmpp_to_sip",outcome="delivered"}"#;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while world.parley.metric(delivered) < 1.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "not counted as delivered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// RFC 3994 ↔ XEP-0085, when `messages.send_chat_states` is on: a standalone
/// `<composing/>` becomes an isComposing MESSAGE, never a text message; a
/// refusal by the phone (415) is not reported to the XMPP user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_state_becomes_iscomposing_and_a_refusal_is_not_bounced() {
    let uas_xml = uas_message(
        &[
            ("Content-Type", "^ *application/im-iscomposing\\+xml"),
            ("body", "<state>active</state>"),
        ],
        Some((415, "Unsupported Media Type")),
    );
    let (world, uas) = world_with_uas_options(
        &uas_xml,
        SippTransport::Udp,
        Options {
            send_chat_states: true,
            ..Options::default()
        },
    );
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!(
            "<message xmlns='jabber:client' to='bob@{COMPONENT}' type='chat' id='cs1'>\
             <composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
        ))
        .await;
    let out = uas.wait();
    world.assert_sipp(&out);
    let error = juliet
        .recv_matching(Duration::from_secs(1), |e| e.attr("type") == Some("error"))
        .await;
    assert!(
        error.is_none(),
        "a chat state refusal must not bounce: {error:?}"
    );
}

//! XEP-0114 against a real Prosody: the component endpoint connects to the
//! component port, a real c2s client (tokio-xmpp) talks to it through the
//! server. Each test has its own Prosody on free loopback ports.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use parley_harness::prosody::{Prosody, ProsodyConfig};
use parley_harness::xmpp_client::XmppClient;
use parley_xmpp::stanza::{Element, Iq, IqType, Message, MessageType, Presence, PresenceType};
use parley_xmpp::{
    ComponentConfig, ComponentEvent, ComponentHandle, Error, HandshakeError, Stanza, spawn,
};
use tokio::sync::mpsc::Receiver;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);
const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

fn config(prosody: &Prosody) -> ComponentConfig {
    ComponentConfig {
        server: prosody.component_addr(),
        component_domain: prosody.component_domain().to_owned(),
        secret: prosody.component_secret().to_owned(),
        reconnect_min: Duration::from_millis(100),
        reconnect_max: Duration::from_millis(500),
        disco_features: vec!["urn:xmpp:receipts".into()],
        ..ComponentConfig::default()
    }
}

async fn connected(
    prosody: &Prosody,
) -> (ComponentHandle, Receiver<ComponentEvent>, CancellationToken) {
    let shutdown = CancellationToken::new();
    let (handle, mut events) = spawn(config(prosody), shutdown.clone());
    wait_for(&mut events, |e| *e == ComponentEvent::Connected).await;
    assert!(handle.is_connected());
    (handle, events, shutdown)
}

async fn wait_for(
    events: &mut Receiver<ComponentEvent>,
    mut pred: impl FnMut(&ComponentEvent) -> bool,
) -> ComponentEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            let e = events.recv().await.expect("component events ended");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("expected component event did not arrive")
}

async fn next_stanza(events: &mut Receiver<ComponentEvent>) -> Stanza {
    match wait_for(events, |e| matches!(e, ComponentEvent::Stanza(_))).await {
        ComponentEvent::Stanza(s) => *s,
        _ => unreachable!(),
    }
}

fn bare(jid: &str) -> &str {
    jid.split('/').next().unwrap_or(jid)
}

async fn stop(handle: ComponentHandle, shutdown: CancellationToken) {
    shutdown.cancel();
    tokio::time::timeout(WAIT, handle.closed())
        .await
        .expect("component stopped");
}

/// XEP-0114 §2 and RFC 6121 §5: a message from a user at the component
/// reaches a c2s client, and the client's reply reaches the component.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_flow_both_ways_through_prosody() {
    let prosody = Prosody::start(ProsodyConfig::default());
    prosody.add_user("juliet", "pw");
    let mut juliet = XmppClient::connect(&prosody, "juliet", "pw").await;
    let (handle, mut events, shutdown) = connected(&prosody).await;

    handle
        .send(Stanza::Message(Message {
            from: Some("romeo@sip.example".into()),
            to: Some("juliet@xmpp.example".into()),
            message_type: Some(MessageType::Chat),
            body: Some("It is the east, & Juliet is <the sun> 🌞".into()),
            ..Default::default()
        }))
        .await
        .unwrap();
    let got = juliet
        .recv_matching(WAIT, |e| e.name() == "message")
        .await
        .expect("juliet got the message");
    assert_eq!(got.attr("from"), Some("romeo@sip.example"));
    let body = got.get_child("body", "jabber:client").expect("body");
    assert_eq!(body.text(), "It is the east, & Juliet is <the sun> 🌞");

    juliet
        .send_xml("<message to='romeo@sip.example' type='chat' id='m1'><body>Ay me! &amp; &lt;</body><request xmlns='urn:xmpp:receipts'/></message>")
        .await;
    let Stanza::Message(m) = next_stanza(&mut events).await else {
        panic!("not a message")
    };
    assert_eq!(m.to.as_deref(), Some("romeo@sip.example"));
    assert_eq!(m.from.as_deref().map(bare), Some("juliet@xmpp.example"));
    assert_eq!(m.from.as_deref(), Some(juliet.jid()));
    assert_eq!(m.body.as_deref(), Some("Ay me! & <"));
    assert_eq!(m.id.as_deref(), Some("m1"));
    assert_eq!(m.payloads.len(), 1);
    assert_eq!(m.payloads[0].ns, "urn:xmpp:receipts");

    let stats = handle.stats();
    assert!(stats.stanzas_out.message >= 1);
    assert!(stats.stanzas_in.message >= 1);
    stop(handle, shutdown).await;
}

/// RFC 6121 §4.6 and §3.1: directed presence and subscription requests
/// cross the server in both directions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_flows_both_ways_through_prosody() {
    let prosody = Prosody::start(ProsodyConfig::default());
    prosody.add_user("juliet", "pw");
    let mut juliet = XmppClient::connect(&prosody, "juliet", "pw").await;
    let (handle, mut events, shutdown) = connected(&prosody).await;

    handle
        .send(Stanza::Presence(Presence {
            from: Some("romeo@sip.example/phone".into()),
            to: Some(juliet.jid().to_owned()),
            status: Some("in the orchard".into()),
            ..Default::default()
        }))
        .await
        .unwrap();
    let got = juliet
        .recv_matching(WAIT, |e| {
            e.name() == "presence" && e.attr("from") == Some("romeo@sip.example/phone")
        })
        .await
        .expect("juliet got romeo's presence");
    assert_eq!(
        got.get_child("status", "jabber:client").map(|s| s.text()),
        Some("in the orchard".into())
    );

    juliet
        .send_xml("<presence to='romeo@sip.example' type='subscribe'/>")
        .await;
    let s = next_stanza(&mut events).await;
    let Stanza::Presence(p) = s else {
        panic!("not a presence: {s:?}")
    };
    assert_eq!(p.presence_type, Some(PresenceType::Subscribe));
    assert_eq!(p.to.as_deref(), Some("romeo@sip.example"));
    assert_eq!(p.from.as_deref(), Some("juliet@xmpp.example"));

    juliet
        .send_xml("<presence to='romeo@sip.example/phone'><show>away</show></presence>")
        .await;
    let s = next_stanza(&mut events).await;
    let Stanza::Presence(p) = s else {
        panic!("not a presence: {s:?}")
    };
    assert_eq!(p.presence_type, None);
    assert_eq!(p.show, Some(parley_xmpp::stanza::Show::Away));
    stop(handle, shutdown).await;
}

/// XEP-0030 §3.1, XEP-0199 §3 and RFC 6120 §8.4: the component answers
/// disco#info and ping itself, refuses what nobody handles, and hands IQs for
/// its users up to the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_answers_disco_ping_and_unhandled_iqs() {
    let prosody = Prosody::start(ProsodyConfig::default());
    prosody.add_user("juliet", "pw");
    let mut juliet = XmppClient::connect(&prosody, "juliet", "pw").await;
    let (handle, mut events, shutdown) = connected(&prosody).await;

    juliet
        .send_xml(&format!(
            "<iq type='get' to='sip.example' id='d1'><query xmlns='{DISCO_INFO}'/></iq>"
        ))
        .await;
    let r = juliet
        .recv_matching(WAIT, |e| e.attr("id") == Some("d1"))
        .await
        .expect("disco#info answered");
    assert_eq!(r.attr("type"), Some("result"));
    assert_eq!(r.attr("from"), Some("sip.example"));
    let q = r.get_child("query", DISCO_INFO).expect("query");
    let identity = q.get_child("identity", DISCO_INFO).expect("identity");
    assert_eq!(identity.attr("category"), Some("gateway"));
    assert_eq!(identity.attr("type"), Some("simple"));
    let features: Vec<_> = q
        .children()
        .filter(|c| c.name() == "feature")
        .filter_map(|c| c.attr("var"))
        .collect();
    assert_eq!(features, [DISCO_INFO, "urn:xmpp:ping", "urn:xmpp:receipts"]);

    juliet
        .send_xml("<iq type='get' to='sip.example' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    let r = juliet
        .recv_matching(WAIT, |e| e.attr("id") == Some("p1"))
        .await
        .unwrap_or_else(|| panic!("ping not answered:\n{}", prosody.log()));
    assert_eq!(r.attr("type"), Some("result"));

    juliet
        .send_xml("<iq type='get' to='sip.example' id='i1'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
        .await;
    let r = juliet
        .recv_matching(WAIT, |e| e.attr("id") == Some("i1"))
        .await
        .expect("unhandled iq answered");
    assert_eq!(r.attr("type"), Some("error"));
    let err = r.get_child("error", "jabber:client").expect("error");
    assert!(err.has_child("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas"));

    // An IQ to a user at the component goes up; the gateway answers it.
    juliet
        .send_xml(&format!(
            "<iq type='get' to='romeo@sip.example' id='u1'><query xmlns='{DISCO_INFO}'/></iq>"
        ))
        .await;
    let s = next_stanza(&mut events).await;
    let Stanza::Iq(iq) = s else {
        panic!("not an iq: {s:?}")
    };
    assert_eq!((iq.id.as_str(), iq.iq_type), ("u1", IqType::Get));
    assert_eq!(iq.payload.as_ref().map(|p| p.ns.as_str()), Some(DISCO_INFO));
    handle
        .send(Stanza::Iq(Iq {
            from: iq.to.clone(),
            to: iq.from.clone(),
            id: iq.id.clone(),
            iq_type: IqType::Result,
            payload: Some(Element::new("query", DISCO_INFO)),
            error: None,
        }))
        .await
        .unwrap();
    let r = juliet
        .recv_matching(WAIT, |e| e.attr("id") == Some("u1"))
        .await
        .expect("gateway's answer delivered");
    assert_eq!(r.attr("from"), Some("romeo@sip.example"));
    assert_eq!(handle.stats().iqs_answered, 3);
    stop(handle, shutdown).await;
}

/// XEP-0114 §2: a wrong secret is refused with `<not-authorized/>`, reported
/// as a typed error, and the component never claims to be connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_is_refused_as_not_authorized() {
    let prosody = Prosody::start(ProsodyConfig::default());
    let shutdown = CancellationToken::new();
    let (handle, mut events) = spawn(
        ComponentConfig {
            secret: "wrong".into(),
            ..config(&prosody)
        },
        shutdown.clone(),
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while handle.stats().connect_failures == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no handshake failure recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = handle.last_error().expect("an error is recorded");
    assert!(
        matches!(
            &*err,
            Error::Handshake(HandshakeError::NotAuthorized { .. })
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), "handshake-not-authorized");
    assert!(
        err.to_string().contains("rejected the component secret"),
        "{err}"
    );
    assert!(!handle.is_connected());
    assert!(events.try_recv().is_err(), "no Connected event");
    stop(handle, shutdown).await;
}

/// XEP-0114 has no acknowledgements, so the queue is the only guarantee:
/// stanzas sent while Prosody is down wait, are sent after the next
/// handshake, and arrive exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prosody_restart_delivers_queued_stanzas_exactly_once() {
    let mut prosody = Prosody::start(ProsodyConfig::default());
    prosody.add_user("juliet", "pw");
    let (handle, mut events, shutdown) = connected(&prosody).await;

    prosody.stop();
    wait_for(&mut events, |e| {
        matches!(e, ComponentEvent::Disconnected { .. })
    })
    .await;
    assert!(!handle.is_connected());
    for i in 0..5 {
        handle
            .send(Stanza::Message(Message {
                from: Some("romeo@sip.example".into()),
                to: Some("juliet@xmpp.example".into()),
                message_type: Some(MessageType::Chat),
                body: Some(format!("queued {i}")),
                ..Default::default()
            }))
            .await
            .unwrap();
    }
    assert_eq!(handle.stats().queue_len, 5);

    prosody.restart();
    wait_for(&mut events, |e| *e == ComponentEvent::Connected).await;
    // mod_offline keeps what arrives before juliet logs in.
    let mut juliet = XmppClient::connect(&prosody, "juliet", "pw").await;
    let mut bodies = Vec::new();
    while let Some(m) = juliet
        .recv_matching(Duration::from_secs(2), |e| e.name() == "message")
        .await
    {
        bodies.push(
            m.get_child("body", "jabber:client")
                .map(|b| b.text())
                .unwrap_or_default(),
        );
    }
    assert_eq!(
        bodies,
        (0..5).map(|i| format!("queued {i}")).collect::<Vec<_>>(),
        "each queued stanza exactly once, in order"
    );
    let stats = handle.stats();
    assert_eq!(stats.reconnects, 1);
    assert_eq!(stats.queue_len, 0);
    stop(handle, shutdown).await;
}

/// Shutdown: the component closes its stream with `</stream:stream>` and
/// `closed()` resolves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_the_stream() {
    let prosody = Prosody::start(ProsodyConfig::default());
    let (handle, mut events, shutdown) = connected(&prosody).await;
    shutdown.cancel();
    tokio::time::timeout(WAIT, handle.closed())
        .await
        .expect("closed");
    assert_eq!(
        wait_for(&mut events, |e| matches!(
            e,
            ComponentEvent::Disconnected { .. }
        ))
        .await,
        ComponentEvent::Disconnected { reason: "shutdown" }
    );
    assert!(!handle.is_connected());
    let err = handle.send(Stanza::Message(Message::default())).await;
    assert_eq!(err, Err(parley_xmpp::SendError::Closed));
}

/// XEP-0199 through the server: on an idle stream the component pings its
/// own domain, Prosody routes the ping back, the component answers itself,
/// and the round trip keeps the stream up through many keepalive intervals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_stream_stays_up_on_self_pings_through_prosody() {
    let prosody = Prosody::start(ProsodyConfig::default());
    let shutdown = CancellationToken::new();
    let (handle, mut events) = spawn(
        ComponentConfig {
            keepalive_interval: Duration::from_millis(200),
            ..config(&prosody)
        },
        shutdown.clone(),
    );
    wait_for(&mut events, |e| *e == ComponentEvent::Connected).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(handle.is_connected());
    assert!(events.try_recv().is_err(), "no disconnect while idle");
    let stats = handle.stats();
    // Each ping comes back as an iq get (answered here) and its result.
    assert!(stats.iqs_answered >= 4, "{stats:?}");
    assert!(stats.stanzas_in.iq >= 8, "{stats:?}");
    stop(handle, shutdown).await;
}

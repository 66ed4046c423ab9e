//! The component against a scripted server socket, for what a real Prosody
//! never sends: hostile stream input (RFC 6120 §11.1, §4.9.3), a silent dead
//! server, whitespace-only traffic, and a full queue.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use parley_xmpp::stanza::Message;
use parley_xmpp::{
    ComponentConfig, ComponentEvent, ComponentHandle, SendError, Stanza, StreamErrorCondition,
    spawn,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::Receiver;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

/// Prosody 0.12's real stream header and handshake answer.
const HEADER: &[u8] = include_bytes!("fixtures/prosody-0.12-stream-header.xml");
const HANDSHAKE_OK: &[u8] = include_bytes!("fixtures/prosody-0.12-handshake-success.xml");
const WAIT: Duration = Duration::from_secs(10);

struct FakeServer {
    listener: TcpListener,
}

impl FakeServer {
    async fn bind() -> Self {
        Self {
            listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        }
    }

    fn config(&self) -> ComponentConfig {
        ComponentConfig {
            server: self.listener.local_addr().unwrap().to_string(),
            component_domain: "sip.example".into(),
            secret: "s3cret".into(),
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_millis(200),
            ..ComponentConfig::default()
        }
    }

    /// Accept one component connection and complete the XEP-0114 handshake,
    /// checking the hash the component sent.
    async fn accept_authenticated(&self) -> TcpStream {
        let (mut sock, _) = timeout(WAIT, self.listener.accept())
            .await
            .expect("component connected")
            .unwrap();
        let opened = read_until(&mut sock, b"'sip.example'>").await;
        assert!(opened.starts_with(b"<?xml version='1.0'?><stream:stream"));
        sock.write_all(HEADER).await.unwrap();
        let hs = read_until(&mut sock, b"</handshake>").await;
        // XEP-0114 §2: SHA-1 of the fixture's stream id and "s3cret".
        assert_eq!(
            hs,
            b"<handshake>1bb893855c39027d6e8d9917a7db8314d6814c58</handshake>"
        );
        sock.write_all(HANDSHAKE_OK).await.unwrap();
        sock
    }
}

async fn read_until(sock: &mut TcpStream, end: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(end) {
        let n = timeout(WAIT, sock.read(&mut b))
            .await
            .expect("read in time")
            .unwrap();
        assert!(
            n == 1,
            "EOF before {:?}; got {:?}",
            String::from_utf8_lossy(end),
            String::from_utf8_lossy(&got)
        );
        got.push(b[0]);
    }
    got
}

async fn wait_for(
    events: &mut Receiver<ComponentEvent>,
    mut pred: impl FnMut(&ComponentEvent) -> bool,
) -> ComponentEvent {
    timeout(WAIT, async {
        loop {
            let e = events.recv().await.expect("events ended");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("expected event")
}

async fn start(
    server: &FakeServer,
    config: ComponentConfig,
) -> (
    ComponentHandle,
    Receiver<ComponentEvent>,
    CancellationToken,
    TcpStream,
) {
    let shutdown = CancellationToken::new();
    let (handle, events) = spawn(config, shutdown.clone());
    let sock = server.accept_authenticated().await;
    (handle, events, shutdown, sock)
}

/// Send `hostile` after the handshake; the component must close with
/// `<condition/>`, report `reason`, and connect again.
async fn hostile(hostile: Vec<u8>, condition: StreamErrorCondition, reason: &str) {
    let server = FakeServer::bind().await;
    let (handle, mut events, shutdown, mut sock) = start(&server, server.config()).await;
    wait_for(&mut events, |e| *e == ComponentEvent::Connected).await;
    // Written from another task: the component may stop reading mid-way.
    let (mut rd, mut wr) = sock.split();
    let write = async {
        let _ = wr.write_all(&hostile).await;
    };
    let mut got = Vec::new();
    let read = async {
        timeout(WAIT, rd.read_to_end(&mut got))
            .await
            .expect("closed")
            .ok()
    };
    let ((), _) = tokio::join!(write, read);
    let got = String::from_utf8_lossy(&got).into_owned();
    let expected = format!(
        "<stream:error><{} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>",
        condition.name()
    );
    assert!(got.ends_with(&expected), "expected {expected}, got {got:?}");
    let e = wait_for(&mut events, |e| {
        matches!(e, ComponentEvent::Disconnected { .. })
    })
    .await;
    assert_eq!(
        e,
        ComponentEvent::Disconnected {
            reason: leak(reason)
        }
    );
    assert!(handle.stats().parse_errors >= 1);
    // …and it reconnects.
    let _again = server.accept_authenticated().await;
    wait_for(&mut events, |e| *e == ComponentEvent::Connected).await;
    shutdown.cancel();
    timeout(WAIT, handle.closed()).await.unwrap();
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// RFC 6120 §4.9.3.14: a 300 KiB stanza exceeds the 256 KiB default.
#[tokio::test]
async fn oversized_stanza_closes_with_policy_violation() {
    let mut s = b"<message to='a@sip.example'><body>".to_vec();
    s.extend(std::iter::repeat_n(b'x', 300 * 1024));
    s.extend_from_slice(b"</body></message>");
    hostile(s, StreamErrorCondition::PolicyViolation, "stanza-too-large").await;
}

/// crates.md §5.3: one endless start tag never completes an event, so only
/// the read cap stops quick-xml's buffer from growing.
#[tokio::test]
async fn endless_start_tag_is_cut_at_the_limit() {
    let mut s = b"<message to='".to_vec();
    s.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024));
    hostile(s, StreamErrorCondition::PolicyViolation, "stanza-too-large").await;
}

#[tokio::test]
async fn deep_nesting_closes_with_policy_violation() {
    let mut s = b"<message to='a@sip.example'>".to_vec();
    for _ in 0..200 {
        s.extend_from_slice(b"<x xmlns='urn:example'>");
    }
    hostile(s, StreamErrorCondition::PolicyViolation, "too-deep").await;
}

/// RFC 6120 §11.1: DTDs (and the entity declarations inside them).
#[tokio::test]
async fn dtd_with_entity_declarations_closes_with_restricted_xml() {
    let s = b"<!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;'>]><message><body>&lol2;</body></message>".to_vec();
    hostile(s, StreamErrorCondition::RestrictedXml, "restricted-xml").await;
}

/// RFC 6120 §11.1: only the predefined entities.
#[tokio::test]
async fn undeclared_entity_closes_with_restricted_xml() {
    let s = b"<message to='a@sip.example'><body>&xxe;</body></message>".to_vec();
    hostile(s, StreamErrorCondition::RestrictedXml, "restricted-xml").await;
}

#[tokio::test]
async fn comment_closes_with_restricted_xml() {
    hostile(
        b"<!-- hello -->".to_vec(),
        StreamErrorCondition::RestrictedXml,
        "restricted-xml",
    )
    .await;
}

/// RFC 6120 §4.9.3.22, §11.6: bytes that are not UTF-8.
#[tokio::test]
async fn invalid_utf8_closes_with_unsupported_encoding() {
    let mut s = b"<message to='a@sip.example'><body>caf".to_vec();
    s.extend_from_slice(&[0xC3, 0x28, 0xFF]);
    s.extend_from_slice(b"</body></message>");
    hostile(
        s,
        StreamErrorCondition::UnsupportedEncoding,
        "unsupported-encoding",
    )
    .await;
}

#[tokio::test]
async fn mismatched_tags_close_with_not_well_formed() {
    hostile(
        b"<message><body></message>".to_vec(),
        StreamErrorCondition::NotWellFormed,
        "not-well-formed",
    )
    .await;
}

/// XEP-0199 over the server, then dead-server detection: a server that
/// accepts the handshake and then never sends a byte is given up on after
/// two keepalive intervals, and the component reconnects.
#[tokio::test]
async fn silent_server_is_pinged_then_dropped() {
    let server = FakeServer::bind().await;
    let config = ComponentConfig {
        keepalive_interval: Duration::from_millis(200),
        ..server.config()
    };
    let started = Instant::now();
    let (handle, mut events, shutdown, mut sock) = start(&server, config).await;
    let ping = read_until(&mut sock, b"</iq>").await;
    let ping = String::from_utf8_lossy(&ping);
    assert!(ping.contains("<ping xmlns='urn:xmpp:ping'/>"), "{ping}");
    assert!(ping.contains("from='sip.example'"), "{ping}");
    let e = wait_for(&mut events, |e| {
        matches!(e, ComponentEvent::Disconnected { .. })
    })
    .await;
    assert_eq!(
        e,
        ComponentEvent::Disconnected {
            reason: "server-silent"
        }
    );
    assert!(started.elapsed() >= Duration::from_millis(400));
    let _again = server.accept_authenticated().await;
    shutdown.cancel();
    timeout(WAIT, handle.closed()).await.unwrap();
}

/// The `id` attribute of the IQ in `xml`.
fn iq_id(xml: &str) -> String {
    let start = xml.find("id='").expect("an id") + 4;
    let end = xml[start..].find('\'').expect("quoted") + start;
    xml[start..end].to_owned()
}

/// Several components on one domain (ejabberd routes each stanza to any of
/// its connections for the domain): the answer to one component's ping may
/// reach another. Another component's answer arriving here is delivered to
/// the gateway, not swallowed; the answers to this component's own pings,
/// handed back by the gateway (`keepalive_answered`), keep its stream up
/// though the server itself never answers on it.
#[tokio::test]
async fn pings_answered_to_another_component_keep_the_stream_when_handed_back() {
    let server = FakeServer::bind().await;
    let interval = Duration::from_millis(200);
    let config = ComponentConfig {
        keepalive_interval: interval,
        keepalive_id_prefix: "parley-keepalive-a-".into(),
        ..server.config()
    };
    let (handle, mut events, shutdown, mut sock) = start(&server, config).await;
    wait_for(&mut events, |e| *e == ComponentEvent::Connected).await;
    sock.write_all(
        b"<iq type='result' id='parley-keepalive-b-1f' from='sip.example' to='sip.example'/>",
    )
    .await
    .unwrap();
    let e = wait_for(&mut events, |e| matches!(e, ComponentEvent::Stanza(_))).await;
    assert!(
        matches!(&e, ComponentEvent::Stanza(s) if matches!(&**s, Stanza::Iq(iq) if iq.id == "parley-keepalive-b-1f")),
        "{e:?}"
    );
    // Five pings in a row, none answered on this stream, each handed back.
    let started = Instant::now();
    for _ in 0..5 {
        let ping = read_until(&mut sock, b"</iq>").await;
        let id = iq_id(&String::from_utf8_lossy(&ping));
        assert!(id.starts_with("parley-keepalive-a-"), "{id}");
        handle.keepalive_answered("parley-keepalive-b-ff"); // not ours: ignored
        handle.keepalive_answered(&id);
    }
    assert!(started.elapsed() >= interval * 5, "{:?}", started.elapsed());
    while let Ok(e) = events.try_recv() {
        assert!(
            !matches!(e, ComponentEvent::Disconnected { .. }),
            "the stream was dropped: {e:?}"
        );
    }
    assert!(handle.is_connected());
    // Not handed back: dropped after two intervals, as with any silent server.
    let e = wait_for(&mut events, |e| {
        matches!(e, ComponentEvent::Disconnected { .. })
    })
    .await;
    assert_eq!(
        e,
        ComponentEvent::Disconnected {
            reason: "server-silent"
        }
    );
    shutdown.cancel();
    timeout(WAIT, handle.closed()).await.unwrap();
}

/// RFC 6120 §4.6.1: with nothing to send, the component writes a single
/// space every keepalive interval; server whitespace counts as liveness.
#[tokio::test]
async fn idle_stream_gets_whitespace_keepalives() {
    let server = FakeServer::bind().await;
    let config = ComponentConfig {
        keepalive_interval: Duration::from_millis(150),
        ..server.config()
    };
    let (handle, mut events, shutdown, sock) = start(&server, config).await;
    wait_for(&mut events, |e| *e == ComponentEvent::Connected).await;
    let (mut rd, mut wr) = sock.into_split();
    let chatter = tokio::spawn(async move {
        for _ in 0..20 {
            if wr.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        wr
    });
    let mut got = Vec::new();
    let _ = timeout(Duration::from_millis(900), async {
        let mut b = [0u8; 64];
        while let Ok(n) = rd.read(&mut b).await {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&b[..n]);
        }
    })
    .await;
    let _wr = chatter.await.unwrap();
    assert!(got.len() >= 3, "keepalives seen: {got:?}");
    assert!(
        got.iter().all(|b| *b == b' '),
        "only whitespace: {:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(handle.is_connected());
    assert!(handle.stats().keepalives >= 3);
    shutdown.cancel();
    timeout(WAIT, handle.closed()).await.unwrap();
}

/// Shutdown while connected: what is queued goes out first, then
/// `</stream:stream>`, then `closed()` resolves.
#[tokio::test]
async fn shutdown_sends_queued_stanzas_then_closes_the_stream() {
    let server = FakeServer::bind().await;
    let (handle, mut events, shutdown, mut sock) = start(&server, server.config()).await;
    wait_for(&mut events, |e| *e == ComponentEvent::Connected).await;
    handle
        .send(Stanza::Message(Message {
            to: Some("juliet@xmpp.example".into()),
            body: Some("bye".into()),
            ..Default::default()
        }))
        .await
        .unwrap();
    shutdown.cancel();
    let reader = tokio::spawn(async move {
        let got = read_until(&mut sock, b"</stream:stream>").await;
        sock.write_all(b"</stream:stream>").await.unwrap();
        String::from_utf8(got).unwrap()
    });
    timeout(WAIT, handle.closed()).await.unwrap();
    let got = reader.await.unwrap();
    assert_eq!(
        got,
        "<message from='sip.example' to='juliet@xmpp.example'><body>bye</body></message></stream:stream>"
    );
}

/// Stanzas queued while the stream is down go out after the handshake in
/// batches, every one of them, in the order queued.
#[tokio::test]
async fn a_full_queue_goes_out_whole_and_in_order() {
    const COUNT: usize = 2000;
    let server = FakeServer::bind().await;
    let shutdown = CancellationToken::new();
    let (handle, _events) = spawn(
        ComponentConfig {
            queue_capacity: COUNT,
            ..server.config()
        },
        shutdown.clone(),
    );
    for i in 0..COUNT {
        handle
            .try_send(Stanza::Message(Message {
                to: Some("juliet@xmpp.example".into()),
                id: Some(format!("m{i}")),
                body: Some("queued".into()),
                ..Default::default()
            }))
            .unwrap();
    }
    let mut sock = server.accept_authenticated().await;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while got.windows(10).filter(|w| w == b"</message>").count() < COUNT {
        let n = timeout(WAIT, sock.read(&mut buf))
            .await
            .expect("read in time")
            .unwrap();
        assert!(n > 0, "EOF after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    let expected: String = (0..COUNT)
        .map(|i| {
            format!(
                "<message from='sip.example' to='juliet@xmpp.example' id='m{i}'><body>queued</body></message>"
            )
        })
        .collect();
    assert_eq!(String::from_utf8(got).unwrap(), expected);
    assert_eq!(handle.stats().stanzas_out.message, COUNT as u64);
    shutdown.cancel();
}

/// Back-pressure is visible: `try_send` on a full queue says so, and a
/// `from` outside the component's domain is refused before it can cost the
/// stream (XEP-0114 §2).
#[tokio::test]
async fn full_queue_and_foreign_from_are_errors_not_drops() {
    // Nothing listens here, so nothing drains the queue.
    let port = parley_harness::port::free_tcp_port();
    let shutdown = CancellationToken::new();
    let (handle, _events) = spawn(
        ComponentConfig {
            server: format!("127.0.0.1:{port}"),
            component_domain: "sip.example".into(),
            secret: "x".into(),
            queue_capacity: 2,
            ..ComponentConfig::default()
        },
        shutdown.clone(),
    );
    let m = |from: &str| {
        Stanza::Message(Message {
            from: Some(from.into()),
            to: Some("juliet@xmpp.example".into()),
            ..Default::default()
        })
    };
    handle.try_send(m("a@sip.example")).unwrap();
    handle.try_send(m("b@sip.example")).unwrap();
    assert_eq!(
        handle.try_send(m("c@sip.example")),
        Err(SendError::QueueFull { capacity: 2 })
    );
    assert_eq!(
        handle.try_send(m("c@other.example")),
        Err(SendError::ForeignFrom)
    );
    assert_eq!(handle.stats().queue_len, 2);
    assert!(
        timeout(Duration::from_millis(100), handle.send(m("c@sip.example")))
            .await
            .is_err(),
        "send waits while the queue is full"
    );
    shutdown.cancel();
    timeout(WAIT, handle.closed()).await.unwrap();
}

/// crates.md §5.1–5.2: stanzas arriving in 7-byte pieces (splitting tags,
/// attributes, entities and a 4-byte emoji) come out whole, with the spaces
/// around entities kept.
#[tokio::test]
async fn stanza_split_into_small_chunks_arrives_whole() {
    let server = FakeServer::bind().await;
    let (handle, mut events, shutdown, mut sock) = start(&server, server.config()).await;
    wait_for(&mut events, |e| *e == ComponentEvent::Connected).await;
    let stanza = "<message from='juliet@xmpp.example/balcony' to='romeo@sip.example' type='chat' xml:lang='en'><body> thou? &#x1F339; &lt;3 🌹 </body><active xmlns='http://jabber.org/protocol/chatstates'/></message>";
    for chunk in stanza.as_bytes().chunks(7) {
        sock.write_all(chunk).await.unwrap();
        sock.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let ComponentEvent::Stanza(stanza) =
        wait_for(&mut events, |e| matches!(e, ComponentEvent::Stanza(_))).await
    else {
        panic!("not a stanza");
    };
    let Stanza::Message(m) = *stanza else {
        panic!("not a message");
    };
    assert_eq!(m.body.as_deref(), Some(" thou? 🌹 <3 🌹 "));
    assert_eq!(m.lang.as_deref(), Some("en"));
    assert_eq!(m.payloads[0].name, "active");
    shutdown.cancel();
    timeout(WAIT, handle.closed()).await.unwrap();
}

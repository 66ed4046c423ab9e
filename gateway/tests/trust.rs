//! Issue 7, trust, end to end with the `parley` binary: only
//! `sip.trusted_peers` may send requests whose From claims one of our users
//! (others get 403, RFC 3261 §21.4.4); a stanza whose `from` is in the
//! component's own domain is refused with `forbidden` (RFC 6120 §8.3.3.4);
//! a `<subject/>` carrying CR/LF cannot put a header on the SIP wire
//! (RFC 3261 §25.1: header values hold no control characters).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use parley_harness::parley::Parley;
use parley_harness::port::{free_tcp_port, free_udp_tcp_port};
use parley_harness::sipp::SippTransport;
use support::{COMPONENT, Options, SipMessage, World, XMPP_DOMAIN};

/// A MESSAGE claiming `bob@COMPONENT`, sent by sipp bound to `local_ip`.
fn claim_from(world: &World, local_ip: &str, call_id: &str, expect: u16) -> bool {
    let message = SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id,
        content_type: "text/plain",
        headers: &[],
        body: call_id,
        expect,
    };
    let path = world.scenario(&format!("{call_id}.xml"), &message.scenario());
    let out = message
        .sipp(path)
        .arg("-i")
        .arg(local_ip)
        .transport(SippTransport::Udp)
        .run_uac(world.sip_addr());
    if !out.success {
        eprintln!("{}\n--- parley ---\n{}", out.report(), world.parley.log());
    }
    out.success
}

/// "only trusted peers may originate requests whose From claims a user of
/// `sip.domain`; others get 403" — 127.0.0.2 is not in the list, 127.0.0.1 is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_peer_claiming_our_user_gets_403_and_a_trusted_peer_passes() {
    let world = World::start(Options {
        sip_extra: "trusted_peers = [\"127.0.0.1/32\"]\n".into(),
        ..Options::default()
    });
    let mut juliet = world.client("juliet").await;
    assert!(claim_from(&world, "127.0.0.2", "spoofed-claim", 403));
    assert!(claim_from(&world, "127.0.0.1", "trusted-claim", 200));
    let mut bodies = Vec::new();
    while let Some(el) = juliet.recv(Duration::from_secs(1)).await {
        if let Some(body) = support::child_text(&el, "body") {
            bodies.push(body.trim().to_owned());
        }
    }
    assert_eq!(
        bodies,
        ["trusted-claim"],
        "only the trusted peer's message reaches XMPP"
    );
    assert_eq!(
        world
            .parley
            .metric("parley_trust_rejections_total{side=\"sip\"}"),
        1.0
    );
}

/// RFC 3261 §25.1 (no CTLs in header values): an XMPP `<subject/>` with a
/// line break and a nick with one cannot add a header line to the SIP MESSAGE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_breaks_in_a_subject_do_not_reach_the_sip_wire_as_a_header() {
    let proxy = UdpSocket::bind("127.0.0.1:0").expect("bind proxy");
    proxy
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let world = World::start(Options {
        outbound_proxy: Some(format!("sip:{}", proxy.local_addr().expect("addr"))),
        ..Options::default()
    });
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' id='inj1'>\
             <subject>hi&#13;&#10;X-Evil: 1</subject>\
             <nick xmlns='http://jabber.org/protocol/nick'>Mallory&#13;&#10;X-Nick: 1</nick>\
             <body>payload</body></message>"
        ))
        .await;
    let mut buf = vec![0u8; 65536];
    let (n, from) = proxy
        .recv_from(&mut buf)
        .expect("the MESSAGE reaches the proxy");
    let wire = String::from_utf8_lossy(&buf[..n]).into_owned();
    let head = wire.split("\r\n\r\n").next().unwrap_or_default();
    for line in head.split("\r\n") {
        assert!(
            !line.starts_with("X-Evil") && !line.starts_with("X-Nick"),
            "injected header on the wire:\n{wire}"
        );
    }
    let subject = head
        .split("\r\n")
        .find(|l| l.starts_with("Subject:"))
        .unwrap_or_else(|| panic!("no Subject:\n{wire}"));
    assert!(subject.starts_with("Subject: hi"), "{subject}");
    assert!(
        subject.ends_with("X-Evil: 1"),
        "kept on its own line: {subject}"
    );
    assert!(!head.contains('\n') || head.split("\r\n").all(|l| !l.contains(['\n', '\r'])));
    // Answer, so the transaction ends cleanly.
    let copy = |name: &str| {
        head.split("\r\n")
            .filter(|l| l.starts_with(name))
            .map(|l| format!("{l}\r\n"))
            .collect::<String>()
    };
    let ok = format!(
        "SIP/2.0 200 OK\r\n{}{}{}{}{}Content-Length: 0\r\n\r\n",
        copy("Via:"),
        copy("From:"),
        copy("To:"),
        copy("Call-ID:"),
        copy("CSeq:")
    );
    proxy.send_to(ok.as_bytes(), from).expect("answer");
}

/// A scripted XMPP server for what Prosody never forwards: a stanza whose
/// `from` claims the component's own domain (Prosody stamps c2s `from`s and
/// checks components'). XEP-0114 §2 handshake, accepting any hash.
fn fake_xmpp_server(listener: TcpListener) -> TcpStream {
    let (mut sock, _) = listener.accept().expect("parley connects");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    read_until(&mut sock, "'>");
    sock.write_all(
        format!(
            "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
             xmlns='jabber:component:accept' id='fake-stream-1' from='{COMPONENT}'>"
        )
        .as_bytes(),
    )
    .expect("header");
    read_until(&mut sock, "</handshake>");
    sock.write_all(b"<handshake/>").expect("handshake");
    sock
}

fn read_until(sock: &mut TcpStream, end: &str) -> String {
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(end.as_bytes()) {
        match sock.read(&mut b) {
            Ok(1) => got.push(b[0]),
            other => panic!(
                "no {end:?} from parley ({other:?}); got {}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// RFC 6120 §8.3.3.4: only the component may speak for addresses in its own
/// domain; a stanza from the server claiming one is answered `forbidden`
/// (type `auth`) and never becomes a SIP request. A stanza from a real XMPP
/// user right after it still does.
/// Parley attached to a fake XMPP server (the test writes the server's
/// stanzas itself, `from` and all), its SIP requests going to a UDP socket;
/// `xmpp_extra` adds lines to `[xmpp]`.
fn parley_on_a_fake_server(xmpp_extra: &str) -> (Parley, TcpStream, UdpSocket, tempfile::TempDir) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake server");
    let server = listener.local_addr().expect("addr");
    let proxy = UdpSocket::bind("127.0.0.1:0").expect("bind proxy");
    proxy
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let sip_port = free_udp_tcp_port();
    let metrics: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let store = tempfile::tempdir().expect("store dir");
    let config = format!(
        r#"
[xmpp]
component_domain = "{COMPONENT}"
server = "{server}"
secret = "component-secret"
{xmpp_extra}

[sip]
domain = "{COMPONENT}"
listen = ["udp:127.0.0.1:{sip_port}"]
outbound_proxy = "sip:{proxy}"
t1_ms = 100

[metrics]
listen = "{metrics}"

[store]
path = "{store}"
"#,
        proxy = proxy.local_addr().expect("addr"),
        store = store.path().display(),
    );
    let accept = std::thread::spawn(move || fake_xmpp_server(listener));
    let parley = Parley::start(
        &PathBuf::from(env!("CARGO_BIN_EXE_parley")),
        &config,
        metrics,
    );
    let sock = accept.join().expect("fake server");
    parley.wait_ready(Duration::from_secs(20));
    (parley, sock, proxy, store)
}

/// The first `<message>…</message>` Parley writes to the fake server.
fn first_message(sock: &mut TcpStream, parley: &Parley) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "no reply:\n{seen}\n{}",
            parley.log()
        );
        seen.push_str(&read_until(sock, ">"));
        if let Some(start) = seen.find("<message")
            && let Some(end) = seen[start..].find("</message>")
        {
            return seen[start..start + end + "</message>".len()].to_owned();
        }
    }
}

#[test]
fn stanza_from_the_component_domain_is_refused_with_forbidden() {
    let (parley, mut sock, proxy, _store) = parley_on_a_fake_server("");
    sock.write_all(
        format!(
            "<message from='bob@{COMPONENT}/phone' to='alice@{COMPONENT}' id='forged1'>\
             <body>spoof</body></message>\
             <message from='juliet@{XMPP_DOMAIN}/balcony' to='alice@{COMPONENT}' id='real1'>\
             <body>genuine</body></message>"
        )
        .as_bytes(),
    )
    .expect("send stanzas");
    let reply = first_message(&mut sock, &parley);
    assert_eq!(
        reply,
        format!(
            "<message from='alice@{COMPONENT}' to='bob@{COMPONENT}/phone' id='forged1' type='error'>\
             <error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        )
    );
    // Only the genuine message reaches SIP.
    let mut buf = vec![0u8; 65536];
    let (n, _) = proxy.recv_from(&mut buf).expect("the genuine MESSAGE");
    let wire = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        wire.contains("genuine") && !wire.contains("spoof"),
        "{wire}"
    );
    assert!(
        wire.contains(&format!("sip:juliet@{XMPP_DOMAIN}")),
        "{wire}"
    );
    assert_eq!(
        parley.metric("parley_trust_rejections_total{side=\"xmpp\"}"),
        1.0
    );
}

/// RFC 8048 §8.1: access to the gateway "SHOULD be restricted", a gateway
/// "ought to be associated with only a single domain or trust realm". With
/// `xmpp.user_domains` set, a user of another domain (reaching the component
/// over s2s) is answered `forbidden` (type `auth`) and nothing goes to SIP;
/// a user of the listed domain right after it is served.
#[test]
fn users_outside_the_user_domains_are_refused_with_forbidden() {
    let (parley, mut sock, proxy, _store) =
        parley_on_a_fake_server(&format!("user_domains = [\"{XMPP_DOMAIN}\"]"));
    sock.write_all(
        format!(
            "<message from='mallory@example.org/x' to='alice@{COMPONENT}' id='foreign1'>\
             <body>relay me</body></message>\
             <message from='juliet@{XMPP_DOMAIN}/balcony' to='alice@{COMPONENT}' id='local1'>\
             <body>from home</body></message>"
        )
        .as_bytes(),
    )
    .expect("send stanzas");
    let reply = first_message(&mut sock, &parley);
    assert_eq!(
        reply,
        format!(
            "<message from='alice@{COMPONENT}' to='mallory@example.org/x' id='foreign1' type='error'>\
             <error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        )
    );
    let mut buf = vec![0u8; 65536];
    let (n, _) = proxy.recv_from(&mut buf).expect("juliet's MESSAGE");
    let wire = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        wire.contains("from home") && !wire.contains("relay me"),
        "{wire}"
    );
    assert_eq!(
        parley.metric("parley_trust_rejections_total{side=\"xmpp_domain\"}"),
        1.0
    );
}

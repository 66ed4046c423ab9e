//! RFC 3263 §4: requests without an outbound proxy find their server through
//! DNS — NAPTR (§4.1) → SRV (§4.2) → A — asked of a DNS server started inside
//! the test on 127.0.0.1 (the system resolver is never consulted), and fail
//! over to the next SRV target on a transport error, a 503 or a timeout
//! without any response (§4.3).

use std::net::Ipv4Addr;
use std::time::Duration;

use hickory_resolver::proto::rr::RecordType;
use parley_harness::sipp::{Sipp, SippTransport, scenario};
use parley_sip::{DnsConfig, Endpoint, EndpointConfig, Timers, TransactionError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

mod common;
use common::dns::{DnsServer, a, naptr, srv};
use common::message_to;

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

struct Ua {
    endpoint: Endpoint,
    shutdown: CancellationToken,
}

impl Drop for Ua {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A UA on loopback whose only DNS is `dns`.
async fn ua(dns: &DnsServer, timers: Timers) -> Ua {
    let config = EndpointConfig {
        listen: vec![
            "udp:127.0.0.1:0".parse().expect("listen"),
            "tcp:127.0.0.1:0".parse().expect("listen"),
        ],
        dns: DnsConfig {
            nameservers: vec![dns.addr],
            ..DnsConfig::default()
        },
        timers,
        ..EndpointConfig::default()
    };
    let shutdown = CancellationToken::new();
    let (endpoint, _incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    Ua { endpoint, shutdown }
}

/// A port on 127.0.0.1 where nothing listens (TCP connect is refused).
async fn dead_tcp_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A response to `request` with `status`, echoing its transaction headers.
fn response_to(request: &str, status: u16) -> String {
    let copy = |name: &str| {
        request
            .lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .unwrap_or_default()
            .to_owned()
    };
    format!(
        "SIP/2.0 {status} Whatever\r\n{}\r\n{}\r\n{};tag=peer\r\n{}\r\n{}\r\nContent-Length: 0\r\n\r\n",
        copy("Via"),
        copy("From"),
        copy("To"),
        copy("Call-ID"),
        copy("CSeq")
    )
}

fn branch_of(request: &str) -> String {
    request
        .split(";branch=")
        .nth(1)
        .and_then(|rest| rest.split([';', '\r']).next())
        .unwrap_or_default()
        .to_owned()
}

/// Receives one request on `socket`; answers `status` unless `None`.
async fn udp_peer(socket: UdpSocket, status: Option<u16>) -> String {
    let mut buf = vec![0u8; 65_535];
    let (n, from) = tokio::time::timeout(Duration::from_secs(10), socket.recv_from(&mut buf))
        .await
        .expect("request in time")
        .expect("recv");
    let request = String::from_utf8_lossy(&buf[..n]).into_owned();
    if let Some(status) = status {
        socket
            .send_to(response_to(&request, status).as_bytes(), from)
            .await
            .expect("send");
    }
    // Keep the socket (and so the port) until retransmissions are over.
    tokio::time::sleep(Duration::from_millis(200)).await;
    request
}

/// Accepts one TCP connection, reads one request, answers 200.
async fn tcp_peer(listener: TcpListener) -> String {
    let (mut stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("connection in time")
        .expect("accept");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed before a whole request");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                stream
                    .write_all(response_to(&text, 200).as_bytes())
                    .await
                    .expect("write");
                return text;
            }
        }
    }
}

/// RFC 3263 §4.1: without transport or port, NAPTR picks the transport (the
/// lowest order, SIP+D2T here, over SIP+D2U); §4.2: its SRV record names the
/// port and target, whose A record gives the address. The MESSAGE for
/// `sip:bob@sip.test` reaches the sipp UAS at the SRV port over TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_to_a_domain_follows_naptr_and_srv_to_the_named_port() {
    let uas = Sipp::new(scenario("uas-message.xml"))
        .transport(SippTransport::Tcp)
        .spawn_uas();
    let dns = DnsServer::start(vec![
        naptr("sip.test.", 10, 10, "SIP+D2T", "_sip._tcp.sip.test."),
        naptr("sip.test.", 20, 10, "SIP+D2U", "_sip._udp.sip.test."),
        srv(
            "_sip._tcp.sip.test.",
            0,
            1,
            uas.addr().port(),
            "uas.sip.test.",
        ),
        srv(
            "_sip._udp.sip.test.",
            0,
            1,
            dead_tcp_port().await,
            "uas.sip.test.",
        ),
        a("uas.sip.test.", LOOPBACK),
    ])
    .await;
    let ua = ua(&dns, Timers::default()).await;
    let response = ua
        .endpoint
        .send_request(message_to("sip:bob@sip.test".into(), "found you"))
        .await
        .expect("response");
    assert_eq!(response.status, 200);
    let out = tokio::task::spawn_blocking(move || uas.wait())
        .await
        .expect("sipp thread");
    assert!(out.success, "{}", out.report());
    assert_eq!(out.received("MESSAGE"), 1);
    let questions = dns.questions();
    assert_eq!(
        questions[..2],
        [
            ("sip.test.".to_owned(), RecordType::NAPTR),
            ("_sip._tcp.sip.test.".to_owned(), RecordType::SRV),
        ],
        "{questions:?}"
    );
    // A and AAAA of the SRV target come next (asked together, either first).
    let mut address: Vec<_> = questions[2..4].to_vec();
    address.sort_by_key(|(_, t)| u16::from(*t));
    assert_eq!(
        address,
        [
            ("uas.sip.test.".to_owned(), RecordType::A),
            ("uas.sip.test.".to_owned(), RecordType::AAAA),
        ],
        "{questions:?}"
    );
}

/// RFC 3263 §4.3: "failure occurs if the transaction layer reports … a
/// transport failure" (a refused TCP connection): the request goes to the
/// next SRV target, in priority order. No NAPTR here: §4.1's SRV queries per
/// transport find `_sip._tcp`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connection_at_the_first_srv_target_moves_to_the_next() {
    let live = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let live_port = live.local_addr().expect("addr").port();
    let dns = DnsServer::start(vec![
        srv(
            "_sip._tcp.failover.test.",
            10,
            1,
            dead_tcp_port().await,
            "dead.failover.test.",
        ),
        srv(
            "_sip._tcp.failover.test.",
            20,
            1,
            live_port,
            "live.failover.test.",
        ),
        a("dead.failover.test.", LOOPBACK),
        a("live.failover.test.", LOOPBACK),
    ])
    .await;
    let ua = ua(&dns, Timers::default()).await;
    let peer = tokio::spawn(tcp_peer(live));
    let response = ua
        .endpoint
        .send_request(message_to("sip:bob@failover.test".into(), "second try"))
        .await
        .expect("response");
    assert_eq!(response.status, 200);
    let request = peer.await.expect("peer");
    assert!(
        request.starts_with("MESSAGE sip:bob@failover.test SIP/2.0\r\n"),
        "{request}"
    );
    assert!(request.contains("\r\nVia: SIP/2.0/TCP "), "{request}");
    let names: Vec<String> = dns.questions().into_iter().map(|(n, _)| n).collect();
    assert!(
        names.contains(&"dead.failover.test.".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"live.failover.test.".to_owned()),
        "{names:?}"
    );
}

/// RFC 3263 §4.3: a 503 is a failure; the client "SHOULD create a new
/// request, which is identical to the previous, but has a different value of
/// the Via branch ID" and send it to the next target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_moves_to_the_next_srv_target_with_a_new_branch() {
    let busy = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let spare = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let dns = DnsServer::start(vec![
        naptr("busy.test.", 10, 10, "SIP+D2U", "_sip._udp.busy.test."),
        srv(
            "_sip._udp.busy.test.",
            1,
            1,
            busy.local_addr().expect("addr").port(),
            "a.busy.test.",
        ),
        srv(
            "_sip._udp.busy.test.",
            2,
            1,
            spare.local_addr().expect("addr").port(),
            "b.busy.test.",
        ),
        a("a.busy.test.", LOOPBACK),
        a("b.busy.test.", LOOPBACK),
    ])
    .await;
    let ua = ua(&dns, Timers::default()).await;
    let first = tokio::spawn(udp_peer(busy, Some(503)));
    let second = tokio::spawn(udp_peer(spare, Some(200)));
    let response = ua
        .endpoint
        .send_request(message_to("sip:bob@busy.test".into(), "are you busy"))
        .await
        .expect("response");
    assert_eq!(response.status, 200);
    let first = first.await.expect("first peer");
    let second = second.await.expect("second peer");
    assert_eq!(first.lines().next(), second.lines().next());
    assert!(second.contains("are you busy"));
    assert_ne!(branch_of(&first), branch_of(&second), "a new transaction");
}

/// RFC 3263 §4.3: "Failure also occurs if the transaction layer times out
/// without ever having received any response" (Timer F, 64·T1; T1 = 10 ms
/// here): the next target gets the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_without_any_response_moves_to_the_next_srv_target() {
    let silent = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let spare = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let dns = DnsServer::start(vec![
        srv(
            "_sip._udp.quiet.test.",
            1,
            1,
            silent.local_addr().expect("addr").port(),
            "a.quiet.test.",
        ),
        srv(
            "_sip._udp.quiet.test.",
            2,
            1,
            spare.local_addr().expect("addr").port(),
            "b.quiet.test.",
        ),
        a("a.quiet.test.", LOOPBACK),
        a("b.quiet.test.", LOOPBACK),
    ])
    .await;
    let timers = Timers {
        t1: Duration::from_millis(10),
        t2: Duration::from_millis(40),
        ..Timers::default()
    };
    let ua = ua(&dns, timers).await;
    let first = tokio::spawn(udp_peer(silent, None));
    let second = tokio::spawn(udp_peer(spare, Some(200)));
    let response = ua
        .endpoint
        .send_request(message_to(
            "sip:bob@quiet.test;transport=udp".into(),
            "hello?",
        ))
        .await
        .expect("response");
    assert_eq!(response.status, 200);
    first.await.expect("first peer saw the request");
    assert!(second.await.expect("second peer").contains("hello?"));
    assert_eq!(ua.endpoint.stats().timeouts, 1);
}

/// RFC 3263 §4.2: no NAPTR, no SRV and no address: nothing to send to.
#[tokio::test]
async fn a_domain_without_records_is_unresolvable() {
    let dns = DnsServer::start(vec![a("other.test.", LOOPBACK)]).await;
    let ua = ua(&dns, Timers::default()).await;
    let result = ua
        .endpoint
        .send_request(message_to("sip:bob@nowhere.test".into(), "lost"))
        .await;
    assert!(
        matches!(result, Err(TransactionError::Unresolvable(_))),
        "{result:?}"
    );
    // NAPTR, then SRV for UDP and TCP, then A/AAAA of the domain (§4.1, §4.2).
    let questions = dns.questions();
    assert_eq!(
        questions[0],
        ("nowhere.test.".to_owned(), RecordType::NAPTR)
    );
    assert!(questions.contains(&("_sip._udp.nowhere.test.".to_owned(), RecordType::SRV)));
    assert!(questions.contains(&("_sip._tcp.nowhere.test.".to_owned(), RecordType::SRV)));
    assert!(questions.contains(&("nowhere.test.".to_owned(), RecordType::A)));
}

//! RFC 3428 MESSAGE through the user agent against a real sipp, over UDP and
//! TCP on loopback, both directions; RFC 3261 §17 retransmission behaviour.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parley_harness::sipp::{Sipp, SippTransport, scenario};
use parley_sip::StatusCode;
use parley_sip::{Endpoint, EndpointConfig, Transport};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod common;
use common::message_to;

struct Ua {
    endpoint: Endpoint,
    shutdown: CancellationToken,
    received: Arc<AtomicUsize>,
    bodies: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
}

impl Drop for Ua {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A UA on loopback UDP+TCP that answers every request 200 after `delay`.
async fn ua(delay: Duration) -> Ua {
    let config = EndpointConfig {
        listen: vec![
            "udp:127.0.0.1:0".parse().expect("listen"),
            "tcp:127.0.0.1:0".parse().expect("listen"),
        ],
        ..EndpointConfig::default()
    };
    let shutdown = CancellationToken::new();
    let (endpoint, mut incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    let received = Arc::new(AtomicUsize::new(0));
    let (tx, bodies) = mpsc::unbounded_channel();
    let count = received.clone();
    tokio::spawn(async move {
        while let Some(request) = incoming.recv().await {
            count.fetch_add(1, Ordering::SeqCst);
            let _ = tx.send((request.method().to_owned(), request.body().to_vec()));
            tokio::time::sleep(delay).await;
            request.respond(StatusCode::OK, None, Vec::new(), None);
        }
    });
    Ua {
        endpoint,
        shutdown,
        received,
        bodies,
    }
}

async fn run_uac(sipp: Sipp, target: std::net::SocketAddr) -> parley_harness::sipp::SippOutcome {
    tokio::task::spawn_blocking(move || sipp.run_uac(target))
        .await
        .expect("sipp thread")
}

/// RFC 3428 §7: a MESSAGE received over UDP reaches the TU and is answered 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_in_over_udp_is_answered_200() {
    let mut ua = ua(Duration::ZERO).await;
    let target = ua.endpoint.local_addr(Transport::Udp).expect("udp");
    let out = run_uac(Sipp::new(scenario("uac-message.xml")), target).await;
    assert!(out.success, "{}", out.report());
    let (method, body) = ua.bodies.recv().await.expect("request reached the TU");
    assert_eq!(method, "MESSAGE");
    assert_eq!(body, b"Hello from sipp\r\n");
    assert_eq!(ua.endpoint.stats().responses_out_class(2), 1);
}

/// RFC 3261 §18.3: a MESSAGE over TCP, framed by Content-Length, answered on the same connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_in_over_tcp_is_answered_200() {
    let ua = ua(Duration::ZERO).await;
    let target = ua.endpoint.local_addr(Transport::Tcp).expect("tcp");
    let sipp = Sipp::new(scenario("uac-message.xml")).transport(SippTransport::Tcp);
    let out = run_uac(sipp, target).await;
    assert!(out.success, "{}", out.report());
    assert_eq!(ua.received.load(Ordering::SeqCst), 1);
}

/// RFC 3428 §4: a MESSAGE sent over UDP resolves to sipp's 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_out_over_udp_gets_200() {
    let ua = ua(Duration::ZERO).await;
    let uas = Sipp::new(scenario("uas-message.xml")).spawn_uas();
    let response = ua
        .endpoint
        .send_request(message_to(uas.uri("bob"), "hi bob"))
        .await
        .expect("final response");
    assert_eq!(response.status, 200);
    let out = uas.wait();
    assert!(out.success, "{}", out.report());
    assert_eq!(ua.endpoint.stats().requests_out[6], 1, "one MESSAGE out");
}

/// RFC 3261 §18.1.1: `transport=tcp` sends over a TCP connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_out_over_tcp_gets_200() {
    let ua = ua(Duration::ZERO).await;
    let uas = Sipp::new(scenario("uas-message.xml"))
        .transport(SippTransport::Tcp)
        .spawn_uas();
    let response = ua
        .endpoint
        .send_request(message_to(uas.uri("bob"), "hi bob over tcp"))
        .await
        .expect("final response");
    assert_eq!(response.status, 200);
    let out = uas.wait();
    assert!(out.success, "{}", out.report());
    assert!(
        out.messages_log.contains("hi bob over tcp"),
        "{}",
        out.report()
    );
}

/// RFC 3261 §17.1.2.2: while sipp stays silent, Timer E retransmits the
/// MESSAGE at T1 and 2·T1 later (0.5 s, 1.5 s); the late 200 still completes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_message_is_retransmitted_by_timer_e() {
    let ua = ua(Duration::ZERO).await;
    let uas = Sipp::new(scenario("uas-message-late.xml")).spawn_uas();
    let response = ua
        .endpoint
        .send_request(message_to(uas.uri("bob"), "are you there"))
        .await
        .expect("final response");
    assert_eq!(response.status, 200);
    let out = uas.wait();
    assert!(out.success, "{}", out.report());
    let stats = ua.endpoint.stats();
    assert_eq!(stats.retransmissions_sent, 2, "{stats:?}");
    assert_eq!(out.received("MESSAGE "), 3, "{}", out.report());
}

/// RFC 3261 §17.2.2: duplicates of a request are absorbed (Trying) or answered
/// with the stored final response (Completed); the TU sees the request once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_requests_are_absorbed_by_the_server_transaction() {
    let ua = ua(Duration::from_millis(300)).await;
    let target = ua.endpoint.local_addr(Transport::Udp).expect("udp");
    // -nr: sipp's own retransmissions would make the duplicate count depend on load.
    let sipp = Sipp::new(scenario("uac-message-duplicates.xml")).arg("-nr");
    let out = run_uac(sipp, target).await;
    assert!(out.success, "{}", out.report());
    assert_eq!(ua.received.load(Ordering::SeqCst), 1, "the TU saw it once");
    let stats = ua.endpoint.stats();
    assert_eq!(stats.retransmissions_absorbed, 2, "{stats:?}");
    // Give the repeated 200 time to leave.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = ua.endpoint.stats();
    assert_eq!(
        stats.retransmissions_sent, 1,
        "200 repeated once: {stats:?}"
    );
}

/// RFC 4475 §3.1.2.6: unterminated quote in To → 400, the TU never sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_request_gets_400() {
    let ua = ua(Duration::ZERO).await;
    let target = ua.endpoint.local_addr(Transport::Udp).expect("udp");
    let out = run_uac(
        Sipp::new(scenario("uac-message-unterminated-quote.xml")),
        target,
    )
    .await;
    assert!(out.success, "{}", out.report());
    assert_eq!(ua.received.load(Ordering::SeqCst), 0);
    assert_eq!(ua.endpoint.stats().rejected_requests, 1);
}

/// A garbage datagram is dropped (nothing to answer) and the next MESSAGE is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_datagram_is_ignored_and_next_message_served() {
    let ua = ua(Duration::ZERO).await;
    let target = ua.endpoint.local_addr(Transport::Udp).expect("udp");
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    socket
        .send_to(b"\x00\x01\xffnot sip at all\r\n\r\n", target)
        .await
        .expect("send");
    let out = run_uac(Sipp::new(scenario("uac-message.xml")), target).await;
    assert!(out.success, "{}", out.report());
    let stats = ua.endpoint.stats();
    assert_eq!(stats.parse_errors, 1, "{stats:?}");
    assert_eq!(ua.received.load(Ordering::SeqCst), 1);
}

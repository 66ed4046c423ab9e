//! Issue 24: `Endpoint::start_request` sends a request whose destination
//! needs no DNS and no connection before it returns, so requests started
//! one after the other leave in that order — inside a `SendBatch`, together
//! when it closes — and the `OnOutcome` it was given is called with what
//! `Endpoint::send_request` would return: the final response, a digest
//! challenge answered (RFC 3261 §22.2), the next target after a 503 (RFC
//! 3263 §4.3), Timer F (§17.1.2.2), `ShuttingDown` once the endpoint's
//! requests are abandoned. A destination that needs DNS is given back
//! unchanged, with its `OnOutcome` uncalled.

use std::net::SocketAddr;
use std::time::Duration;

use parley_sip::config::{Credential, Timers};
use parley_sip::{Endpoint, EndpointConfig, OutgoingRequest, Response, TransactionError};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

mod common;
use common::message_to;

const DEADLINE: Duration = Duration::from_secs(5);

async fn endpoint(config: EndpointConfig) -> (Endpoint, CancellationToken) {
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        ..config
    };
    let shutdown = CancellationToken::new();
    let (endpoint, _incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    (endpoint, shutdown)
}

async fn request_at(peer: &UdpSocket) -> (String, SocketAddr) {
    let mut buf = vec![0u8; 65_535];
    let (n, from) = tokio::time::timeout(DEADLINE, peer.recv_from(&mut buf))
        .await
        .expect("a request in time")
        .expect("recv");
    (String::from_utf8_lossy(&buf[..n]).into_owned(), from)
}

fn header<'a>(request: &'a str, name: &str) -> &'a str {
    request
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_default()
}

fn body(request: &str) -> &str {
    request.split("\r\n\r\n").nth(1).unwrap_or_default()
}

async fn answer(peer: &UdpSocket, request: &str, to: SocketAddr, status: &str, extra: &str) {
    let response = format!(
        "SIP/2.0 {status}\r\n{}\r\n{}\r\n{};tag=peer\r\n{}\r\n{}\r\n{extra}Content-Length: 0\r\n\r\n",
        header(request, "Via"),
        header(request, "From"),
        header(request, "To"),
        header(request, "Call-ID"),
        header(request, "CSeq"),
    );
    peer.send_to(response.as_bytes(), to).await.expect("send");
}

type Outcome = Result<Response, TransactionError>;

/// Starts `request`; the receiver gets what its `OnOutcome` was called with.
fn start(endpoint: &Endpoint, request: OutgoingRequest) -> oneshot::Receiver<Outcome> {
    let (tx, rx) = oneshot::channel();
    endpoint
        .start_request(request, move |outcome| {
            let _ = tx.send(outcome);
        })
        .map_err(|(request, _)| request)
        .expect("a numeric UDP destination starts at once");
    rx
}

/// What the `OnOutcome` of a started request was called with.
async fn outcome(rx: oneshot::Receiver<Outcome>) -> Outcome {
    tokio::time::timeout(DEADLINE, rx)
        .await
        .expect("an outcome in time")
        .expect("called")
}

fn to_peer(peer: &UdpSocket, body: &'static str) -> OutgoingRequest {
    let addr = peer.local_addr().expect("addr");
    message_to(format!("sip:bob@{addr}"), body)
}

#[tokio::test]
async fn requests_started_in_a_batch_leave_when_it_closes_in_order_and_each_gets_its_answer() {
    let (endpoint, shutdown) = endpoint(EndpointConfig::default()).await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let bodies = ["one", "two", "three", "four", "five"];
    let mut pending = Vec::new();
    {
        let _batch = endpoint.send_batch();
        for body in bodies {
            pending.push(start(&endpoint, to_peer(&peer, body)));
        }
        let mut buf = [0u8; 2048];
        assert!(
            peer.try_recv_from(&mut buf).is_err(),
            "a request left before its batch closed"
        );
    }
    for (n, expected) in bodies.iter().enumerate() {
        let (request, from) = request_at(&peer).await;
        assert_eq!(body(&request), *expected, "out of order: {request}");
        let status = if n == 2 { "404 Not Found" } else { "200 OK" };
        answer(&peer, &request, from, status, "").await;
    }
    let mut statuses = Vec::new();
    for p in pending {
        statuses.push(outcome(p).await.expect("a response").status);
    }
    assert_eq!(statuses, [200, 200, 404, 200, 200]);
    shutdown.cancel();
}

#[tokio::test]
async fn rfc3261_22_2_a_challenge_to_a_started_request_is_answered_with_credentials() {
    let (endpoint, shutdown) = endpoint(EndpointConfig {
        credentials: vec![Credential {
            realm: "parley.test".into(),
            username: "alice".into(),
            password: "secret".into(),
        }],
        ..EndpointConfig::default()
    })
    .await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let waiting = start(&endpoint, to_peer(&peer, "hi"));
    let (first, from) = request_at(&peer).await;
    assert!(header(&first, "CSeq").contains(" 1 "), "{first}");
    answer(
        &peer,
        &first,
        from,
        "401 Unauthorized",
        "WWW-Authenticate: Digest realm=\"parley.test\", nonce=\"abc\", algorithm=MD5, qop=\"auth\"\r\n",
    )
    .await;
    let (second, from) = request_at(&peer).await;
    assert!(
        header(&second, "Authorization").contains("username=\"alice\""),
        "{second}"
    );
    assert!(header(&second, "CSeq").contains(" 2 "), "{second}");
    assert_eq!(header(&second, "Call-ID"), header(&first, "Call-ID"));
    answer(&peer, &second, from, "200 OK", "").await;
    assert_eq!(outcome(waiting).await.expect("a response").status, 200);
    shutdown.cancel();
}

#[tokio::test]
async fn rfc3261_17_1_2_2_a_started_request_nobody_answers_times_out_with_timer_f() {
    let (endpoint, shutdown) = endpoint(EndpointConfig {
        timers: Timers {
            t1: Duration::from_millis(10),
            ..Timers::default()
        },
        ..EndpointConfig::default()
    })
    .await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let pending = start(&endpoint, to_peer(&peer, "hi"));
    // Timer F = 64·T1 = 640 ms.
    let outcome = outcome(pending).await;
    assert!(
        matches!(outcome, Err(TransactionError::Timeout)),
        "{outcome:?}"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn abandoning_the_endpoints_requests_ends_a_started_requests_wait() {
    let (endpoint, shutdown) = endpoint(EndpointConfig::default()).await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let waiting = start(&endpoint, to_peer(&peer, "hi"));
    let _ = request_at(&peer).await;
    endpoint.abandon_requests();
    let outcome = outcome(waiting).await;
    assert!(
        matches!(outcome, Err(TransactionError::ShuttingDown)),
        "{outcome:?}"
    );
    // Nothing starts once abandoned, and nothing is called: the full path
    // says why.
    let (tx, mut rx) = oneshot::channel::<Outcome>();
    let again = endpoint.start_request(to_peer(&peer, "later"), move |o| {
        let _ = tx.send(o);
    });
    let Err((_, not_called)) = again else {
        panic!("started after abandon");
    };
    drop(not_called);
    assert!(rx.try_recv().is_err(), "called although given back");
    shutdown.cancel();
}

#[tokio::test]
async fn a_destination_that_needs_dns_is_given_back_unchanged() {
    let (endpoint, shutdown) = endpoint(EndpointConfig::default()).await;
    let request = message_to("sip:bob@example.invalid".into(), "hi");
    let (given_back, _) = endpoint
        .start_request(request.clone(), |_| {})
        .expect_err("a host name needs a lookup");
    assert_eq!(format!("{given_back:?}"), format!("{request:?}"));
    shutdown.cancel();
}

#[tokio::test]
async fn rfc3263_4_3_a_503_to_a_started_request_goes_on_through_the_full_path() {
    let (endpoint, shutdown) = endpoint(EndpointConfig::default()).await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let waiting = start(&endpoint, to_peer(&peer, "hi"));
    let (request, from) = request_at(&peer).await;
    answer(&peer, &request, from, "503 Service Unavailable", "").await;
    // A numeric host is its only target: there is no next one to try, so
    // the 503 is the answer, as `send_request` gives it.
    let outcome = outcome(waiting).await;
    assert_eq!(outcome.expect("a response").status, 503);
    shutdown.cancel();
}

#[tokio::test]
async fn a_started_request_hears_shutting_down_when_its_endpoint_shuts_down() {
    let (endpoint, shutdown) = endpoint(EndpointConfig::default()).await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let waiting = start(&endpoint, to_peer(&peer, "hi"));
    let _ = request_at(&peer).await;
    shutdown.cancel();
    let outcome = outcome(waiting).await;
    assert!(
        matches!(outcome, Err(TransactionError::ShuttingDown)),
        "{outcome:?}"
    );
    // Nothing holds the endpoint's tasks any more.
    tokio::time::timeout(DEADLINE, endpoint.closed())
        .await
        .expect("closed in time");
}

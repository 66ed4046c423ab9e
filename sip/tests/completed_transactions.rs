//! RFC 3261 §17.2.2: "When the server transaction enters the "Completed"
//! state, it MUST set Timer J to fire in 64*T1 seconds for unreliable
//! transports" and until then answers a retransmitted request with "the
//! final response". Such a transaction waits for nothing: it counts under
//! `max_completed_transactions`, not `max_pending_transactions`, and at its
//! own bound new requests are refused rather than a completed one forgotten
//! (its retransmission would reach the TU twice). On tokio's paused clock.

use std::net::SocketAddr;
use std::time::Duration;

use parley_sip::config::Limits;
use parley_sip::{Endpoint, EndpointConfig, StatusCode, Transport};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

mod common;
use common::{raw_message, status_of};

async fn endpoint(
    limits: Limits,
) -> (
    Endpoint,
    tokio::sync::mpsc::Receiver<parley_sip::IncomingRequest>,
    CancellationToken,
) {
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        limits,
        ..EndpointConfig::default()
    };
    let shutdown = CancellationToken::new();
    let (endpoint, incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    (endpoint, incoming, shutdown)
}

async fn answer(peer: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 65_535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
        .await
        .expect("an answer in time")
        .expect("recv");
    buf[..n].to_vec()
}

#[tokio::test(start_paused = true)]
async fn completed_requests_wait_out_timer_j_apart_from_pending_work() {
    let (endpoint, mut incoming, shutdown) = endpoint(Limits {
        max_pending_transactions: 1,
        max_completed_transactions: 3,
        ..Limits::default()
    })
    .await;
    let target: SocketAddr = endpoint.local_addr(Transport::Udp).expect("udp");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");

    // Three requests one after another: each is answered, so only one is
    // ever pending, and all three are admitted.
    let mut first_200 = Vec::new();
    for n in 0..3 {
        let request = raw_message(&format!("z9hG4bKc{n}"), "hi");
        peer.send_to(request.as_bytes(), target)
            .await
            .expect("send");
        let req = incoming.recv().await.expect("delivered");
        req.respond(StatusCode::OK, None, vec![], None);
        let ok = answer(&peer).await;
        assert_eq!(status_of(&ok), 200);
        if n == 0 {
            first_200 = ok;
        }
    }
    let stats = endpoint.stats();
    assert_eq!(
        (stats.pending_transactions, stats.completed_transactions),
        (0, 3)
    );

    // A retransmission gets the very bytes of the 200 again, and the TU
    // does not see the request twice.
    peer.send_to(raw_message("z9hG4bKc0", "hi").as_bytes(), target)
        .await
        .expect("send");
    assert_eq!(answer(&peer).await, first_200);
    assert!(incoming.try_recv().is_err(), "absorbed, not delivered");

    // At the completed bound a new request is refused; none is forgotten.
    peer.send_to(raw_message("z9hG4bKc3", "hi").as_bytes(), target)
        .await
        .expect("send");
    assert_eq!(status_of(&answer(&peer).await), 503);
    let stats = endpoint.stats();
    assert_eq!((stats.overloaded, stats.overloaded_completed), (1, 1));
    assert!(incoming.try_recv().is_err());

    // Timer J (64·T1 = 32 s) ends them; then the same request is new.
    tokio::time::sleep(Duration::from_secs(33)).await;
    assert_eq!(endpoint.stats().completed_transactions, 0);
    peer.send_to(raw_message("z9hG4bKc3", "hi").as_bytes(), target)
        .await
        .expect("send");
    let req = incoming.recv().await.expect("admitted after Timer J");
    req.respond(StatusCode::OK, None, vec![], None);
    assert_eq!(status_of(&answer(&peer).await), 200);
    shutdown.cancel();
}

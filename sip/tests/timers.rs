//! RFC 3261 §17.1.2.2 and §17.2.1 on tokio's paused clock: the endpoint's
//! timer task drives the transaction layer, so retransmission schedules and
//! timeouts are asserted in milliseconds of virtual time.

use std::net::SocketAddr;
use std::time::Duration;

use parley_sip::StatusCode;
use parley_sip::{Endpoint, EndpointConfig, TransactionError, Transport};
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod common;
use common::{message_to, status_of};

async fn endpoint() -> (
    Endpoint,
    tokio::sync::mpsc::Receiver<parley_sip::IncomingRequest>,
    CancellationToken,
) {
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        ..EndpointConfig::default()
    };
    let shutdown = CancellationToken::new();
    let (endpoint, incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    (endpoint, incoming, shutdown)
}

/// Collects datagrams already delivered to `socket` (no waiting).
fn drain(socket: &UdpSocket) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65_535];
    while let Ok((n, _)) = socket.try_recv_from(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

/// RFC 3261 §17.1.2.2: to a peer that never answers, the MESSAGE goes out at
/// 0 and is retransmitted at 0.5, 1.5, 3.5, 7.5 s, then every T2 = 4 s; Timer F
/// ends it at 64·T1 = 32 s with a timeout.
#[tokio::test(start_paused = true)]
async fn silent_peer_sees_timer_e_schedule_and_timer_f_times_out_at_32_s() {
    let (endpoint, _incoming, shutdown) = endpoint().await;
    let silent = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let uri = format!("sip:bob@{}", silent.local_addr().expect("addr"));
    let start = Instant::now();
    let sender = tokio::spawn({
        let endpoint = endpoint.clone();
        async move { endpoint.send_request(message_to(uri, "hello?")).await }
    });
    let mut arrivals = Vec::new();
    let mut buf = vec![0u8; 65_535];
    while arrivals.len() < 11 {
        silent.recv_from(&mut buf).await.expect("recv");
        arrivals.push((Instant::now() - start).as_millis());
    }
    let result = sender.await.expect("task");
    let elapsed = (Instant::now() - start).as_millis();
    assert!(
        matches!(result, Err(TransactionError::Timeout)),
        "{result:?}"
    );
    assert_eq!(
        arrivals,
        [
            0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(elapsed, 32_000);
    let stats = endpoint.stats();
    assert_eq!(stats.retransmissions_sent, 10);
    assert_eq!(stats.timeouts, 1);
    shutdown.cancel();
}

/// RFC 3261 §17.2.2: after the final response, a retransmitted request within
/// Timer J (32 s) gets the response again; after it, a new transaction.
#[tokio::test(start_paused = true)]
async fn server_transaction_lives_until_timer_j() {
    let (endpoint, mut incoming, shutdown) = endpoint().await;
    let target: SocketAddr = endpoint.local_addr(Transport::Udp).expect("udp");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let request = common::raw_message("z9hG4bKj1", "hi");
    peer.send_to(request.as_bytes(), target)
        .await
        .expect("send");
    let req = incoming.recv().await.expect("delivered");
    req.respond(StatusCode::OK, None, vec![], None);
    let mut buf = vec![0u8; 65_535];
    let (n, _) = peer.recv_from(&mut buf).await.expect("200");
    assert_eq!(status_of(&buf[..n]), 200);

    tokio::time::sleep(Duration::from_secs(31)).await;
    peer.send_to(request.as_bytes(), target)
        .await
        .expect("send");
    let (n, _) = peer.recv_from(&mut buf).await.expect("200 again");
    assert_eq!(status_of(&buf[..n]), 200);
    assert!(incoming.try_recv().is_err(), "absorbed, not delivered");

    tokio::time::sleep(Duration::from_secs(2)).await;
    peer.send_to(request.as_bytes(), target)
        .await
        .expect("send");
    let again = incoming
        .recv()
        .await
        .expect("new transaction after Timer J");
    assert_eq!(again.call_id(), "z9hG4bKj1@test");
    drop(again);
    let _ = drain(&peer);
    shutdown.cancel();
}

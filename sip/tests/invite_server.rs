//! RFC 3261 §17.2.1: an INVITE is answered 100 at once, the final response
//! is retransmitted by Timer G until the ACK, and the ACK is absorbed (the TU
//! never sees it). Paused clock, real UDP bytes.

use std::time::Duration;

use parley_sip::StatusCode;
use parley_sip::{Endpoint, EndpointConfig, Transport};
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod common;
use common::status_of;

fn invite(method: &str) -> String {
    format!(
        "{method} sip:bob@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKinv1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@127.0.0.1>;tag=a1\r\n\
         To: <sip:bob@127.0.0.1>{}\r\n\
         Call-ID: inv1@test\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:alice@127.0.0.1:5999>\r\n\
         Content-Length: 0\r\n\r\n",
        if method == "ACK" {
            ";tag=placeholder"
        } else {
            ""
        }
    )
}

#[tokio::test(start_paused = true)]
async fn invite_rejection_is_retransmitted_until_ack_and_ack_is_absorbed() {
    let shutdown = CancellationToken::new();
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        ..EndpointConfig::default()
    };
    let (endpoint, mut incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    let target = endpoint.local_addr(Transport::Udp).expect("udp");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let mut buf = vec![0u8; 65_535];

    peer.send_to(invite("INVITE").as_bytes(), target)
        .await
        .expect("send");
    let (n, _) = peer.recv_from(&mut buf).await.expect("100");
    assert_eq!(status_of(&buf[..n]), 100, "100 Trying at once");

    let request = incoming.recv().await.expect("INVITE delivered");
    assert_eq!(request.method(), "INVITE");
    let start = Instant::now();
    request.respond(StatusCode::BUSY_HERE, None, vec![], None);
    let (n, _) = peer.recv_from(&mut buf).await.expect("486");
    let final_response = buf[..n].to_vec();
    assert_eq!(status_of(&final_response), 486);
    let to_tag = String::from_utf8_lossy(&final_response)
        .lines()
        .find_map(|l| l.strip_prefix("To: ").map(str::to_owned))
        .expect("To");

    let (n, _) = peer.recv_from(&mut buf).await.expect("486 again");
    assert_eq!(
        &buf[..n],
        &final_response[..],
        "Timer G repeats the same bytes"
    );
    assert_eq!((Instant::now() - start).as_millis(), 500);

    // RFC 3261 §17.1.1.3: the ACK of a non-2xx has the INVITE's branch and the response's To.
    let ack = invite("ACK").replace(
        "To: <sip:bob@127.0.0.1>;tag=placeholder",
        &format!("To: {to_tag}"),
    );
    peer.send_to(ack.as_bytes(), target)
        .await
        .expect("send ACK");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut more = 0;
    while peer.try_recv_from(&mut buf).is_ok() {
        more += 1;
    }
    assert_eq!(more, 0, "no retransmission after the ACK");
    assert!(
        incoming.try_recv().is_err(),
        "the ACK is absorbed, not delivered"
    );
    let stats = endpoint.stats();
    assert_eq!(stats.retransmissions_sent, 1);
    assert_eq!(
        stats.pending_transactions, 0,
        "Timer I ended the transaction"
    );
    shutdown.cancel();
}

/// Binds a UA and sends it an INVITE; returns the 2xx the TU answered with,
/// its arrival time and the pieces to go on with.
async fn accepted_invite() -> (
    CancellationToken,
    Endpoint,
    UdpSocket,
    std::net::SocketAddr,
    Vec<u8>,
    Instant,
) {
    let shutdown = CancellationToken::new();
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        ..EndpointConfig::default()
    };
    let (endpoint, mut incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    let target = endpoint.local_addr(Transport::Udp).expect("udp");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let mut buf = vec![0u8; 65_535];
    peer.send_to(invite("INVITE").as_bytes(), target)
        .await
        .expect("send");
    let (n, _) = peer.recv_from(&mut buf).await.expect("100");
    assert_eq!(status_of(&buf[..n]), 100);
    let request = incoming.recv().await.expect("INVITE delivered");
    request.respond(StatusCode::OK, None, vec![], None);
    let (n, _) = peer.recv_from(&mut buf).await.expect("200");
    assert_eq!(status_of(&buf[..n]), 200);
    (
        shutdown,
        endpoint,
        peer,
        target,
        buf[..n].to_vec(),
        Instant::now(),
    )
}

/// RFC 3261 §13.3.1.4: the 2xx is passed to the transport again at an
/// interval that "starts at T1 seconds and doubles for each retransmission
/// until it reaches T2 seconds", and after "64*T1 seconds without receiving
/// an ACK" no more. Paused clock: T1 = 500 ms, T2 = 4 s.
#[tokio::test(start_paused = true)]
async fn invite_2xx_is_retransmitted_t1_doubling_to_t2_until_64_t1() {
    let (shutdown, endpoint, peer, _, ok, start) = accepted_invite().await;
    let mut buf = vec![0u8; 65_535];
    let mut at = Vec::new();
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_secs(10), peer.recv_from(&mut buf)).await
    {
        assert_eq!(&buf[..n], &ok[..], "the same 2xx bytes");
        at.push((Instant::now() - start).as_millis());
    }
    assert_eq!(
        at,
        [
            500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500
        ]
    );
    assert_eq!(endpoint.stats().retransmissions_sent, 10);
    assert_eq!(
        endpoint.stats().pending_transactions,
        0,
        "given up at 64·T1"
    );
    shutdown.cancel();
}

/// RFC 3261 §13.3.1.4: "Response retransmissions cease when an ACK request
/// for the response is received" — the ACK of a 2xx is a new transaction
/// (new branch, §17.1.1.3), matched by Call-ID, tags and CSeq number.
#[tokio::test(start_paused = true)]
async fn ack_with_a_new_branch_stops_2xx_retransmission() {
    let (shutdown, endpoint, peer, target, ok, start) = accepted_invite().await;
    let mut buf = vec![0u8; 65_535];
    let (n, _) = peer.recv_from(&mut buf).await.expect("2xx again");
    assert_eq!(&buf[..n], &ok[..]);
    assert_eq!((Instant::now() - start).as_millis(), 500);
    let to = String::from_utf8_lossy(&ok)
        .lines()
        .find_map(|l| l.strip_prefix("To: ").map(str::to_owned))
        .expect("To");
    let ack = invite("ACK")
        .replace("branch=z9hG4bKinv1", "branch=z9hG4bKack2")
        .replace(
            "To: <sip:bob@127.0.0.1>;tag=placeholder",
            &format!("To: {to}"),
        );
    peer.send_to(ack.as_bytes(), target).await.expect("ACK");
    let more = tokio::time::timeout(Duration::from_secs(40), peer.recv_from(&mut buf)).await;
    assert!(more.is_err(), "no retransmission after the ACK");
    assert_eq!(endpoint.stats().retransmissions_sent, 1);
    assert_eq!(endpoint.stats().pending_transactions, 0);
    shutdown.cancel();
}

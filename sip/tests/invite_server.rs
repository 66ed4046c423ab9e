//! RFC 3261 §17.2.1: an INVITE is answered 100 at once, the final response
//! is retransmitted by Timer G until the ACK, and the ACK is absorbed (the TU
//! never sees it). Paused clock, real UDP bytes.

use std::time::Duration;

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
    request.respond(486, None, vec![], None);
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

//! Issue 24: responses sent while a [`parley_sip::SendBatch`] is open leave
//! together when it closes (one `sendmmsg`), each once, in the order they
//! were sent, and their transactions behave as if sent one by one: a
//! retransmitted request still gets its final response again (RFC 3261
//! §17.2.2).

use std::time::Duration;

use parley_sip::{Endpoint, EndpointConfig, StatusCode, Transport};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

mod common;
use common::{raw_message, status_of};

const DEADLINE: Duration = Duration::from_secs(5);

async fn answer(peer: &UdpSocket) -> String {
    let mut buf = vec![0u8; 65_535];
    let (n, _) = tokio::time::timeout(DEADLINE, peer.recv_from(&mut buf))
        .await
        .expect("an answer in time")
        .expect("recv");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn call_id(response: &str) -> &str {
    response
        .lines()
        .find_map(|l| l.strip_prefix("Call-ID: "))
        .unwrap_or_default()
}

#[tokio::test]
async fn responses_sent_in_a_batch_leave_when_it_closes_in_order_once_each() {
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        ..EndpointConfig::default()
    };
    let shutdown = CancellationToken::new();
    let (endpoint, mut incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    let target = endpoint.local_addr(Transport::Udp).expect("udp");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");

    let branches: Vec<String> = (0..5).map(|n| format!("z9hG4bKbatch{n}")).collect();
    for branch in &branches {
        peer.send_to(raw_message(branch, "hi").as_bytes(), target)
            .await
            .expect("send");
    }
    let mut requests = Vec::new();
    for _ in &branches {
        let request = tokio::time::timeout(DEADLINE, incoming.recv())
            .await
            .expect("delivered in time")
            .expect("delivered");
        requests.push(request);
    }
    // Answered last-received first, inside one batch.
    let mut order = Vec::new();
    {
        let _batch = endpoint.send_batch();
        for request in requests.into_iter().rev() {
            order.push(request.call_id().to_owned());
            request.respond(StatusCode::OK, None, vec![], None);
        }
        // Nothing has left while the batch is open.
        let mut buf = [0u8; 2048];
        assert!(
            peer.try_recv_from(&mut buf).is_err(),
            "a response left before its batch closed"
        );
    }
    for expected in &order {
        let ok = answer(&peer).await;
        assert_eq!(status_of(ok.as_bytes()), 200, "{ok}");
        assert_eq!(call_id(&ok), expected.as_str());
    }
    // Each once: nothing more comes.
    let mut buf = [0u8; 2048];
    let more = tokio::time::timeout(Duration::from_millis(200), peer.recv_from(&mut buf)).await;
    assert!(more.is_err(), "a response arrived twice");

    // §17.2.2: the transaction completed as usual; a retransmission gets
    // the same final response, outside any batch.
    peer.send_to(raw_message(&branches[0], "hi").as_bytes(), target)
        .await
        .expect("send");
    let again = answer(&peer).await;
    assert_eq!(status_of(again.as_bytes()), 200, "{again}");
    assert_eq!(call_id(&again), format!("{}@test", branches[0]));
    shutdown.cancel();
}

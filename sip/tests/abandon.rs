//! `Endpoint::abandon_requests`: a shutdown's grace period must be able to
//! end the wait for a peer that never answers, which would otherwise last
//! Timer F (64·T1 = 32 s at the default T1, RFC 3261 §17.1.2.2).

use std::time::Duration;

use parley_sip::{Endpoint, EndpointConfig, OutgoingRequest, TransactionError};
use tokio_util::sync::CancellationToken;

fn message_to(uri: String, call_id: &str) -> OutgoingRequest {
    OutgoingRequest {
        method: "MESSAGE".into(),
        request_uri: uri.clone(),
        from: "sip:alice@example.com".into(),
        to: uri,
        call_id: Some(call_id.into()),
        headers: vec![],
        body: Some(("text/plain".into(), "hello".into())),
    }
}

#[tokio::test]
async fn abandoned_requests_end_at_once_and_new_ones_are_not_sent() {
    // A peer that reads and never answers.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let uri = format!("sip:bob@{}", silent.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let (endpoint, _incoming) = Endpoint::bind(
        EndpointConfig {
            listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
            ..EndpointConfig::default()
        },
        shutdown.clone(),
    )
    .await
    .expect("bind");

    let sending = {
        let endpoint = endpoint.clone();
        let uri = uri.clone();
        tokio::spawn(async move { endpoint.send_request(message_to(uri, "first@test")).await })
    };
    let mut buf = [0u8; 2048];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), silent.recv_from(&mut buf))
        .await
        .expect("the MESSAGE reached the peer")
        .expect("recv");
    assert!(buf[..n].starts_with(b"MESSAGE "));

    endpoint.abandon_requests();
    // Well inside Timer F (32 s): only the abandon can end it this soon.
    let result = tokio::time::timeout(Duration::from_secs(5), sending)
        .await
        .expect("the send ended when abandoned")
        .expect("task");
    assert!(
        matches!(result, Err(TransactionError::ShuttingDown)),
        "{result:?}"
    );

    // A request after the abandon is refused without being sent: within
    // 500 ms nothing with its Call-ID arrives (the abandoned transaction's
    // own retransmissions may; they carry the first Call-ID).
    let later = endpoint.send_request(message_to(uri, "later@test")).await;
    assert!(
        matches!(later, Err(TransactionError::ShuttingDown)),
        "{later:?}"
    );
    let seen_later = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            let (n, _) = silent.recv_from(&mut buf).await.expect("recv");
            if String::from_utf8_lossy(&buf[..n]).contains("later@test") {
                return;
            }
        }
    })
    .await;
    assert!(seen_later.is_err(), "the later request went out");
    shutdown.cancel();
}

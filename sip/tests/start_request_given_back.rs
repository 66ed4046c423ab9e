//! Issue 24: `Endpoint::start_request` moves a request's Call-ID and header
//! fields into its sending state rather than copying them; a request it
//! does not start after that point (too large for UDP, RFC 3261 §18.1.1:
//! the full path decides) is still given back exactly as it came.

use bytes::Bytes;
use parley_sip::{Endpoint, EndpointConfig, OutgoingRequest};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_request_too_large_for_udp_is_given_back_with_its_call_id_and_headers() {
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("peer");
    let addr = peer.local_addr().expect("addr");
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        ..EndpointConfig::default()
    };
    let shutdown = CancellationToken::new();
    let (endpoint, _incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    let large = Bytes::from(vec![b'x'; 4000]);
    for call_id in [Some("given@example.com".to_owned()), None] {
        let request = OutgoingRequest {
            method: "MESSAGE".into(),
            request_uri: format!("sip:bob@{addr}"),
            from: "sip:alice@127.0.0.1".into(),
            to: format!("sip:bob@{addr}"),
            call_id,
            headers: vec![
                ("Subject".into(), "large".into()),
                ("Content-Language".into(), "en".into()),
            ],
            body: Some(("text/plain".into(), large.clone())),
        };
        let (given_back, _) = endpoint
            .start_request(request.clone(), |_| {})
            .expect_err("larger than the UDP allowance");
        assert_eq!(format!("{given_back:?}"), format!("{request:?}"));
    }
    shutdown.cancel();
}

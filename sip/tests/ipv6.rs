//! RFC 3261 §19.1.1 / RFC 5954: IPv6 listen addresses, Via sent-by and
//! Request-URI hosts in brackets — one endpoint sends MESSAGE to another on
//! `[::1]` over UDP and TCP.

use bytes::Bytes;
use parley_sip::StatusCode;
use parley_sip::{Endpoint, EndpointConfig, OutgoingRequest, Transport};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn message_over_ipv6_loopback_udp_and_tcp() {
    if let Err(e) = std::net::UdpSocket::bind("[::1]:0") {
        // A developer's container may lack ::1; CI (which sets `CI`) must
        // not, or this test would pass there without proving anything.
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "CI is set but [::1] cannot be bound ({e}): the IPv6 test must run in CI"
        );
        eprintln!("no IPv6 loopback here ({e}); skipping (set CI=1 to make this a failure)");
        return;
    }
    let shutdown = CancellationToken::new();
    let config = EndpointConfig {
        listen: vec![
            "udp:[::1]:0".parse().expect("listen"),
            "tcp:[::1]:0".parse().expect("listen"),
        ],
        ..EndpointConfig::default()
    };
    let (server, mut incoming) = Endpoint::bind(config.clone(), shutdown.clone())
        .await
        .expect("bind");
    let (client, _unused) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    tokio::spawn(async move {
        while let Some(request) = incoming.recv().await {
            let via = request.header("Via").unwrap_or_default();
            let ok = via.contains("[::1]:");
            request.respond(
                if ok {
                    StatusCode::OK
                } else {
                    StatusCode::BAD_REQUEST
                },
                None,
                vec![],
                None,
            );
        }
    });
    for (transport, param) in [(Transport::Udp, ""), (Transport::Tcp, ";transport=tcp")] {
        let addr = server.local_addr(transport).expect("listener");
        let uri = format!("sip:bob@{addr}{param}");
        let response = client
            .send_request(OutgoingRequest {
                method: "MESSAGE".into(),
                request_uri: uri.clone(),
                from: "sip:alice@[::1]".into(),
                to: uri,
                body: Some(("text/plain".into(), Bytes::from_static(b"v6"))),
                ..OutgoingRequest::default()
            })
            .await
            .expect("response");
        assert_eq!(response.status, 200, "{transport}");
    }
    shutdown.cancel();
}

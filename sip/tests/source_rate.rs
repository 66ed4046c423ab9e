//! Design §5 and RFC 3261 §21.5.4: a source over its request rate gets 503
//! with Retry-After, then (over UDP) silence, while another source is served.
//! Real datagrams over loopback; 127.0.0.2 is a second source address.

use std::net::SocketAddr;
use std::time::Duration;

use parley_sip::StatusCode;
use parley_sip::config::Limits;
use parley_sip::rate::RateLimit;
use parley_sip::{Endpoint, EndpointConfig, OutgoingRequest, Transport};
use tokio::net::UdpSocket;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

mod common;
use common::{raw_message, status_of};

async fn recv(socket: &UdpSocket, wait: Duration) -> Option<String> {
    let mut buf = vec![0u8; 70_000];
    let (len, _) = timeout(wait, socket.recv_from(&mut buf)).await.ok()?.ok()?;
    Some(String::from_utf8_lossy(&buf[..len]).into_owned())
}

/// One UDP listener on loopback; each source may send 3 at once, then 1/s;
/// 2 refusals before silence.
fn low_rate_config() -> EndpointConfig {
    EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        limits: Limits {
            source_rate: RateLimit {
                per_second: 1,
                burst: 3,
                max_sources: 16,
                refusals_before_silence: 2,
            },
            ..Limits::default()
        },
        ..EndpointConfig::default()
    }
}

#[tokio::test]
async fn flooding_source_gets_503_retry_after_then_silence_while_another_is_served() {
    let config = low_rate_config();
    let shutdown = CancellationToken::new();
    let (endpoint, mut incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    let server: SocketAddr = endpoint.local_addr(Transport::Udp).expect("udp");
    tokio::spawn(async move {
        while let Some(request) = incoming.recv().await {
            request.respond(StatusCode::OK, None, vec![], None);
        }
    });

    let flooder = UdpSocket::bind("127.0.0.1:0").await.expect("bind flooder");
    let mut statuses = Vec::new();
    let mut retry_after = Vec::new();
    for i in 0..5 {
        let bytes = raw_message(&format!("z9hG4bKflood{i}"), "x");
        flooder
            .send_to(bytes.as_bytes(), server)
            .await
            .expect("send");
        let answer = recv(&flooder, Duration::from_secs(2))
            .await
            .expect("answer");
        statuses.push(status_of(answer.as_bytes()));
        if let Some(line) = answer.lines().find(|l| l.starts_with("Retry-After:")) {
            retry_after.push(line.to_owned());
        }
    }
    // Burst of 3 served; then 503 with Retry-After.
    assert_eq!(statuses, [200, 200, 200, 503, 503]);
    assert_eq!(retry_after, ["Retry-After: 1", "Retry-After: 1"]);
    // After 2 refusals the rest is dropped: no reflection of a flood at a
    // spoofed address (RFC 3261 §21.5.4: "MAY ... drop the request"), and
    // new requests (branches no transaction holds) before they are parsed.
    let parsed_before: u64 = endpoint.stats().requests_in.iter().sum();
    for i in 5..8 {
        let bytes = raw_message(&format!("z9hG4bKflood{i}"), "x");
        flooder
            .send_to(bytes.as_bytes(), server)
            .await
            .expect("send");
    }
    let silence = recv(&flooder, Duration::from_millis(300)).await;
    assert_eq!(silence, None);
    let parsed_after: u64 = endpoint.stats().requests_in.iter().sum();
    assert_eq!(parsed_after, parsed_before, "dropped before parsing");

    // Another source address is served meanwhile.
    let other = UdpSocket::bind("127.0.0.2:0")
        .await
        .expect("bind 127.0.0.2");
    let bytes = raw_message("z9hG4bKother", "x");
    other.send_to(bytes.as_bytes(), server).await.expect("send");
    let answer = recv(&other, Duration::from_secs(2)).await.expect("answer");
    assert_eq!(status_of(answer.as_bytes()), 200, "{answer}");

    // A retransmission of an admitted request is absorbed, not counted as new.
    let again = raw_message("z9hG4bKflood0", "x");
    flooder
        .send_to(again.as_bytes(), server)
        .await
        .expect("send");
    let answer = recv(&flooder, Duration::from_secs(2))
        .await
        .expect("repeat");
    assert_eq!(status_of(answer.as_bytes()), 200);

    let stats = endpoint.stats();
    assert_eq!(stats.rate_limited, 2);
    assert_eq!(stats.rate_limited_dropped, 3);
    shutdown.cancel();
}

/// A trusted proxy carries many users' traffic from one address: it is not
/// rate limited, while an untrusted source at the same rate is.
#[tokio::test]
async fn trusted_peer_is_exempt_from_the_source_rate() {
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        limits: Limits {
            source_rate: RateLimit {
                per_second: 1,
                burst: 1,
                max_sources: 16,
                refusals_before_silence: 10,
            },
            ..Limits::default()
        },
        rate_exempt: parley_sip::trust::TrustedPeers::parse(&["127.0.0.1"]).expect("valid"),
        ..EndpointConfig::default()
    };
    let shutdown = CancellationToken::new();
    let (endpoint, mut incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    let server = endpoint.local_addr(Transport::Udp).expect("udp");
    tokio::spawn(async move {
        while let Some(request) = incoming.recv().await {
            request.respond(StatusCode::OK, None, vec![], None);
        }
    });
    for (ip, expected) in [
        ("127.0.0.1", [200, 200, 200]),
        ("127.0.0.2", [200, 503, 503]),
    ] {
        let socket = UdpSocket::bind((ip, 0)).await.expect("bind");
        let mut statuses = Vec::new();
        for i in 0..3 {
            let bytes = raw_message(&format!("z9hG4bK{ip}-{i}"), "x");
            socket
                .send_to(bytes.as_bytes(), server)
                .await
                .expect("send");
            let answer = recv(&socket, Duration::from_secs(2)).await.expect("answer");
            statuses.push(status_of(answer.as_bytes()));
        }
        assert_eq!(statuses, expected, "from {ip}");
    }
    shutdown.cancel();
}

/// Sends five requests spoiled by `spoil` from one source to an endpoint with
/// the low rate; returns the endpoint (still running), the source, and the
/// status of each answer.
async fn five_spoiled(
    spoil: impl Fn(String) -> String,
) -> (Endpoint, UdpSocket, SocketAddr, CancellationToken, Vec<u16>) {
    let config = low_rate_config();
    let shutdown = CancellationToken::new();
    let (endpoint, _incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    let server: SocketAddr = endpoint.local_addr(Transport::Udp).expect("udp");
    let flooder = UdpSocket::bind("127.0.0.1:0").await.expect("bind flooder");
    let mut statuses = Vec::new();
    for i in 0..5 {
        let bad = spoil(raw_message(&format!("z9hG4bKbad{i}"), "x"));
        flooder.send_to(bad.as_bytes(), server).await.expect("send");
        let answer = recv(&flooder, Duration::from_secs(2))
            .await
            .expect("answer");
        statuses.push(status_of(answer.as_bytes()));
    }
    (endpoint, flooder, server, shutdown, statuses)
}

/// Design §5: garbage costs its source a token too. A request the endpoint can
/// only refuse (a header line without a colon: 400) is answered while the source is
/// within its rate, then 503, then nothing — a garbage flood is not answered
/// datagram for datagram.
#[tokio::test]
async fn malformed_requests_count_against_their_source_rate() {
    let (endpoint, flooder, server, shutdown, statuses) = five_spoiled(|bytes| {
        bytes.replacen(
            "Max-Forwards:",
            "this line has no colon\r\nMax-Forwards:",
            1,
        )
    })
    .await;
    assert_eq!(statuses, [400, 400, 400, 503, 503]);
    let before = endpoint.stats();
    flooder
        .send_to(b"\x00\x01 not SIP at all\r\n\r\n", server)
        .await
        .expect("send");
    assert_eq!(recv(&flooder, Duration::from_millis(300)).await, None);
    // Dropped before it was parsed: counted as dropped, not as a parse error.
    let after = endpoint.stats();
    assert_eq!(after.rate_limited_dropped, before.rate_limited_dropped + 1);
    assert_eq!(after.parse_errors, before.parse_errors);
    // Silenced as it is, the source's answers to Parley's own requests
    // still get through (responses never count against a rate).
    let peer = flooder.local_addr().expect("addr");
    let endpoint = std::sync::Arc::new(endpoint);
    let sender = tokio::spawn({
        let endpoint = std::sync::Arc::clone(&endpoint);
        async move {
            endpoint
                .send_request(OutgoingRequest {
                    method: "MESSAGE".into(),
                    request_uri: format!("sip:flooder@{peer}"),
                    from: "<sip:juliet@xmpp.example>".into(),
                    to: format!("<sip:flooder@{peer}>"),
                    ..OutgoingRequest::default()
                })
                .await
        }
    });
    let request = recv(&flooder, Duration::from_secs(2))
        .await
        .expect("Parley's MESSAGE");
    let copy = |name: &str| {
        request
            .lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .unwrap_or_default()
            .to_owned()
    };
    let ok = format!(
        "SIP/2.0 200 OK\r\n{}\r\n{}\r\n{};tag=f\r\n{}\r\n{}\r\nContent-Length: 0\r\n\r\n",
        copy("Via"),
        copy("From"),
        copy("To"),
        copy("Call-ID"),
        copy("CSeq")
    );
    flooder
        .send_to(ok.as_bytes(), server)
        .await
        .expect("send 200");
    let response = timeout(Duration::from_secs(2), sender)
        .await
        .expect("answered in time")
        .expect("task")
        .expect("a response");
    assert_eq!(response.status, 200);
    shutdown.cancel();
}

/// The same for a request that parses but fails validation (RFC 3261 §8.2:
/// a CSeq whose number is not a number gets 400): within the rate it is
/// answered 400, beyond it 503, then nothing.
#[tokio::test]
async fn invalid_requests_count_against_their_source_rate() {
    let (endpoint, flooder, server, shutdown, statuses) =
        five_spoiled(|bytes| bytes.replacen("CSeq: 1 MESSAGE", "CSeq: one MESSAGE", 1)).await;
    assert_eq!(statuses, [400, 400, 400, 503, 503]);
    let before = endpoint.stats();
    let bad = raw_message("z9hG4bKbad9", "x").replacen("CSeq: 1 MESSAGE", "CSeq: one MESSAGE", 1);
    flooder.send_to(bad.as_bytes(), server).await.expect("send");
    assert_eq!(recv(&flooder, Duration::from_millis(300)).await, None);
    assert_eq!(
        endpoint.stats().rate_limited_dropped,
        before.rate_limited_dropped + 1
    );
    shutdown.cancel();
}

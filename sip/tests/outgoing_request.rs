//! RFC 3261 §8.1.1 and §12.2.1.1: what the endpoint writes for a request —
//! mandatory headers, our From tag unless one is given, a caller's CSeq and
//! route set for in-dialog requests, Contact on SUBSCRIBE (RFC 6665 §3.1.4) —
//! read back as bytes by a raw UDP peer that answers 200.

use std::time::Duration;

use bytes::Bytes;
use parley_sip::StatusCode;
use parley_sip::{Endpoint, EndpointConfig, OutgoingRequest};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// Sends `req` to a raw peer, which answers 200; returns what the peer got.
async fn sent_bytes(mut req: OutgoingRequest) -> (String, u16) {
    let shutdown = CancellationToken::new();
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        ..EndpointConfig::default()
    };
    let (endpoint, _incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = peer.local_addr().expect("addr");
    req.request_uri = format!("sip:bob@{addr}");
    // A Route sends the request to its first URI (RFC 3261 §8.1.2): `PEER`
    // in a header names the peer.
    for (_, value) in &mut req.headers {
        *value = value.replace("PEER", &addr.to_string());
    }
    let sender = tokio::spawn(async move { endpoint.send_request(req).await });
    let mut buf = vec![0u8; 65_535];
    let (n, from) = tokio::time::timeout(Duration::from_secs(2), peer.recv_from(&mut buf))
        .await
        .expect("request in time")
        .expect("recv");
    let request = String::from_utf8_lossy(&buf[..n]).into_owned();
    let copy = |name: &str| {
        request
            .lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .unwrap_or_default()
            .to_owned()
    };
    let response = format!(
        "SIP/2.0 200 OK\r\n{}\r\n{}\r\n{};tag=peer\r\n{}\r\n{}\r\nContent-Length: 0\r\n\r\n",
        copy("Via"),
        copy("From"),
        copy("To"),
        copy("Call-ID"),
        copy("CSeq")
    );
    peer.send_to(response.as_bytes(), from).await.expect("send");
    let status = sender.await.expect("task").expect("response").status;
    shutdown.cancel();
    (request, status)
}

fn request(method: &str) -> OutgoingRequest {
    OutgoingRequest {
        method: method.to_owned().into(),
        from: "\"Juliet\" <sip:juliet@xmpp.example>".into(),
        to: "sip:bob@sip.example".into(),
        ..OutgoingRequest::default()
    }
}

/// RFC 3261 §8.1.1: Via with branch and rport, Max-Forwards 70, From with our
/// tag, To, Call-ID, CSeq 1, Content-Length.
#[tokio::test]
async fn new_request_carries_the_mandatory_headers() {
    let mut req = request("MESSAGE");
    req.body = Some(("text/plain".into(), Bytes::from_static(b"hi")));
    let (sent, status) = sent_bytes(req).await;
    assert_eq!(status, 200);
    assert!(sent.starts_with("MESSAGE sip:bob@127.0.0.1:"), "{sent}");
    assert!(sent.contains(";branch=z9hG4bK"), "{sent}");
    assert!(sent.contains(";rport\r\n"), "{sent}");
    assert!(sent.contains("\r\nMax-Forwards: 70\r\n"), "{sent}");
    assert!(
        sent.contains("\r\nFrom: \"Juliet\" <sip:juliet@xmpp.example>;tag="),
        "{sent}"
    );
    assert!(sent.contains("\r\nTo: <sip:bob@sip.example>\r\n"), "{sent}");
    assert!(sent.contains("\r\nCSeq: 1 MESSAGE\r\n"), "{sent}");
    assert!(
        sent.contains("\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"),
        "{sent}"
    );
}

/// RFC 3261 §12.2.1.1: an in-dialog request keeps the caller's From tag, To
/// tag, CSeq number and route set.
#[tokio::test]
async fn in_dialog_request_keeps_tags_cseq_and_route() {
    let mut req = request("NOTIFY");
    req.from = "<sip:juliet@xmpp.example>;tag=ours1".into();
    req.to = "<sip:bob@sip.example>;tag=theirs2".into();
    req.call_id = Some("dialog-7@parley".into());
    req.headers = vec![
        ("CSeq".into(), "5 NOTIFY".into()),
        ("Route".into(), "<sip:PEER;lr>".into()),
        ("Event".into(), "presence".into()),
        ("Subscription-State".into(), "active;expires=600".into()),
        ("Contact".into(), "<sip:gw@192.0.2.1>".into()),
    ];
    let (sent, _) = sent_bytes(req).await;
    assert!(
        sent.contains("\r\nFrom: <sip:juliet@xmpp.example>;tag=ours1\r\n"),
        "{sent}"
    );
    assert!(
        sent.contains("\r\nTo: <sip:bob@sip.example>;tag=theirs2\r\n"),
        "{sent}"
    );
    assert!(sent.contains("\r\nCall-ID: dialog-7@parley\r\n"), "{sent}");
    assert!(sent.contains("\r\nCSeq: 5 NOTIFY\r\n"), "{sent}");
    assert_eq!(sent.matches("CSeq:").count(), 1, "{sent}");
    assert!(
        sent.lines()
            .any(|l| l.starts_with("Route: <sip:127.0.0.1:") && l.ends_with(";lr>")),
        "{sent}"
    );
    assert_eq!(
        sent.matches("Contact:").count(),
        1,
        "the caller's Contact only: {sent}"
    );
}

/// RFC 6665 §3.1.4: a SUBSCRIBE without a Contact gets one naming us.
#[tokio::test]
async fn subscribe_gets_a_contact() {
    let mut req = request("SUBSCRIBE");
    req.headers = vec![("Event".into(), "presence".into())];
    let (sent, _) = sent_bytes(req).await;
    assert!(
        sent.contains("\r\nContact: <sip:juliet@127.0.0.1:"),
        "{sent}"
    );
}

/// RFC 3261 §17.1.4: when the TCP connection carrying a request closes
/// before an answer, the request fails with a transport error at once, not
/// after Timer F.
#[tokio::test]
async fn closed_connection_fails_the_request_at_once() {
    use tokio::io::AsyncReadExt;
    let shutdown = CancellationToken::new();
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        ..EndpointConfig::default()
    };
    let (endpoint, _incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut buf = vec![0u8; 4096];
        let _ = stream.read(&mut buf).await;
        // Hang up without answering.
    });
    let mut req = request("MESSAGE");
    req.request_uri = format!("sip:bob@{addr};transport=tcp");
    let started = tokio::time::Instant::now();
    let result = endpoint.send_request(req).await;
    assert!(
        matches!(result, Err(parley_sip::TransactionError::Transport { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    shutdown.cancel();
}

/// Sends a 2000-byte MESSAGE to `port` and returns the transport the
/// receiving endpoint saw it on, with the sender's count of UDP→TCP switches.
async fn send_large(
    client: &Endpoint,
    receiver: &mut tokio::sync::mpsc::Receiver<parley_sip::IncomingRequest>,
    port: u16,
) -> (parley_sip::Transport, u64) {
    let mut req = request("MESSAGE");
    req.request_uri = format!("sip:bob@127.0.0.1:{port}");
    req.body = Some(("text/plain".into(), Bytes::from(vec![b'x'; 2000])));
    let sender = tokio::spawn({
        let client = client.clone();
        async move { client.send_request(req).await }
    });
    let incoming = tokio::time::timeout(Duration::from_secs(5), receiver.recv())
        .await
        .expect("delivered in time")
        .expect("open");
    let transport = incoming.transport;
    assert_eq!(incoming.body().len(), 2000);
    incoming.respond(StatusCode::OK, None, vec![], None);
    let response = sender.await.expect("task").expect("response");
    assert_eq!(response.status, 200);
    (transport, client.stats().udp_to_tcp_switches)
}

/// RFC 3261 §18.1.1: a request over the 1300-byte UDP allowance goes over
/// TCP to the same address; where TCP is refused, it falls back to UDP.
#[tokio::test]
async fn large_request_switches_from_udp_to_tcp() {
    let shutdown = CancellationToken::new();
    let port = parley_harness::port::free_udp_tcp_port();
    let both = EndpointConfig {
        listen: vec![
            format!("udp:127.0.0.1:{port}").parse().expect("listen"),
            format!("tcp:127.0.0.1:{port}").parse().expect("listen"),
        ],
        ..EndpointConfig::default()
    };
    let (_server, mut incoming) = Endpoint::bind(both, shutdown.clone()).await.expect("bind");
    let udp_only_port = parley_harness::port::free_udp_tcp_port();
    let udp_only = EndpointConfig {
        listen: vec![
            format!("udp:127.0.0.1:{udp_only_port}")
                .parse()
                .expect("listen"),
        ],
        ..EndpointConfig::default()
    };
    let (_fallback, mut fallback_in) = Endpoint::bind(udp_only, shutdown.clone())
        .await
        .expect("bind");
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        ..EndpointConfig::default()
    };
    let (client, _incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");

    let (transport, switches) = send_large(&client, &mut incoming, port).await;
    assert_eq!(transport, parley_sip::Transport::Tcp);
    assert_eq!(switches, 1);

    let (transport, switches) = send_large(&client, &mut fallback_in, udp_only_port).await;
    assert_eq!(
        transport,
        parley_sip::Transport::Udp,
        "TCP refused: UDP after all"
    );
    assert_eq!(switches, 1);
    shutdown.cancel();
}

//! RFC 3261 §8.2, §18.3, §21 and design §5: malformed, oversized and
//! overloading input gets the right answer (or none), is counted, and leaves
//! the endpoint serving others. Real bytes over loopback sockets.

use std::net::SocketAddr;
use std::time::Duration;

use parley_sip::StatusCode;
use parley_sip::config::Limits;
use parley_sip::{Endpoint, EndpointConfig, IncomingRequest, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

mod common;
use common::{raw_message, status_of};

struct Ua {
    endpoint: Endpoint,
    incoming: mpsc::Receiver<IncomingRequest>,
    shutdown: CancellationToken,
}

impl Drop for Ua {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn ua(limits: Limits) -> Ua {
    let config = EndpointConfig {
        listen: vec![
            "udp:127.0.0.1:0".parse().expect("listen"),
            "tcp:127.0.0.1:0".parse().expect("listen"),
        ],
        limits,
        ..EndpointConfig::default()
    };
    let shutdown = CancellationToken::new();
    let (endpoint, incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    Ua {
        endpoint,
        incoming,
        shutdown,
    }
}

impl Ua {
    fn udp(&self) -> SocketAddr {
        self.endpoint.local_addr(Transport::Udp).expect("udp")
    }
    fn tcp(&self) -> SocketAddr {
        self.endpoint.local_addr(Transport::Tcp).expect("tcp")
    }
}

async fn peer() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.expect("bind peer")
}

/// Sends `bytes` and waits up to 2 s for one answer.
async fn exchange(socket: &UdpSocket, to: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    socket.send_to(bytes, to).await.expect("send");
    recv(socket, Duration::from_secs(2)).await
}

async fn recv(socket: &UdpSocket, wait: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 70_000];
    let (len, _) = timeout(wait, socket.recv_from(&mut buf)).await.ok()?.ok()?;
    buf.truncate(len);
    Some(buf)
}

/// RFC 4475 §3.1.2.17: CSeq method ≠ request method → 400, not delivered.
#[tokio::test]
async fn cseq_method_mismatch_gets_400_with_reason() {
    let mut ua = ua(Limits::default()).await;
    let socket = peer().await;
    let bad = raw_message("z9hG4bKcseq", "x").replace("CSeq: 1 MESSAGE", "CSeq: 1 OPTIONS");
    let answer = exchange(&socket, ua.udp(), bad.as_bytes())
        .await
        .expect("answer");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("SIP/2.0 400 CSeq Method Mismatch\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Call-ID: z9hG4bKcseq@test"),
        "salvaged headers copied: {text}"
    );
    assert!(ua.incoming.try_recv().is_err());
    assert_eq!(ua.endpoint.stats().rejected_requests, 1);
}

/// RFC 3261 §8.1.1: a request without Call-ID is refused; as a response must
/// copy the Call-ID (§8.2.6.2), none can be formed and it is dropped, counted.
#[tokio::test]
async fn request_without_call_id_is_refused_and_dropped() {
    let ua = ua(Limits::default()).await;
    let socket = peer().await;
    let bad = raw_message("z9hG4bKnocid", "x").replace("Call-ID: z9hG4bKnocid@test\r\n", "");
    let answer = exchange(&socket, ua.udp(), bad.as_bytes()).await;
    // No Call-ID means no response can be addressed (§8.2.6.2 copies it): dropped.
    assert_eq!(answer, None);
    assert_eq!(ua.endpoint.stats().rejected_requests, 1);
}

/// RFC 3261 §21.5.14: a datagram over the message limit → 513.
#[tokio::test]
async fn oversize_datagram_gets_513() {
    let ua = ua(Limits {
        max_message_bytes: 2000,
        ..Limits::default()
    })
    .await;
    let socket = peer().await;
    let big = raw_message("z9hG4bKbig", &"x".repeat(3000));
    let answer = exchange(&socket, ua.udp(), big.as_bytes())
        .await
        .expect("answer");
    assert_eq!(
        status_of(&answer),
        513,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(ua.endpoint.stats().oversize_messages, 1);
}

/// RFC 3261 §21.4.11, §18.3: on TCP a Content-Length over the limit → 413
/// before the body is read; the connection closes; UDP keeps serving.
#[tokio::test]
async fn oversize_body_on_tcp_gets_413_and_others_are_undisturbed() {
    let mut ua = ua(Limits {
        max_message_bytes: 4096,
        ..Limits::default()
    })
    .await;
    let mut stream = TcpStream::connect(ua.tcp()).await.expect("connect");
    let head = raw_message("z9hG4bKhuge", "")
        .replace("Content-Length: 0", "Content-Length: 100000")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    timeout(Duration::from_secs(2), stream.read_to_end(&mut answer))
        .await
        .expect("connection closed in time")
        .expect("read");
    assert_eq!(
        status_of(&answer),
        413,
        "{}",
        String::from_utf8_lossy(&answer)
    );

    let socket = peer().await;
    socket
        .send_to(raw_message("z9hG4bKfine", "ok").as_bytes(), ua.udp())
        .await
        .expect("send");
    let request = timeout(Duration::from_secs(2), ua.incoming.recv())
        .await
        .expect("delivered")
        .expect("open");
    request.respond(StatusCode::OK, None, vec![], None);
    assert_eq!(
        status_of(&recv(&socket, Duration::from_secs(2)).await.expect("200")),
        200
    );
}

/// RFC 3261 §18.3: pipelined messages in one segment and a message split over
/// three segments are all framed and answered on the connection.
#[tokio::test]
async fn pipelined_and_split_messages_on_tcp_are_all_served() {
    let mut ua = ua(Limits::default()).await;
    let mut stream = TcpStream::connect(ua.tcp()).await.expect("connect");
    let tcp = |b: &str, body: &str| raw_message(b, body).replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let two = format!("{}{}", tcp("z9hG4bKp1", "one"), tcp("z9hG4bKp2", "two"));
    stream.write_all(two.as_bytes()).await.expect("write");
    let third = tcp("z9hG4bKp3", "three");
    let (a, rest) = third.split_at(40);
    let (b, c) = rest.split_at(rest.len() - 3);
    for part in [a, b, c] {
        stream.write_all(part.as_bytes()).await.expect("write");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let request = timeout(Duration::from_secs(2), ua.incoming.recv())
            .await
            .expect("delivered")
            .expect("open");
        bodies.push(String::from_utf8_lossy(request.body()).into_owned());
        request.respond(StatusCode::OK, None, vec![], None);
    }
    assert_eq!(bodies, ["one", "two", "three"]);
    let mut answers = String::new();
    let mut buf = vec![0u8; 4096];
    while answers.matches("SIP/2.0 200 OK").count() < 3 {
        let n = timeout(Duration::from_secs(2), stream.read(&mut buf))
            .await
            .expect("answers in time")
            .expect("read");
        assert!(n > 0, "connection closed early: {answers}");
        answers.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

/// A head that never ends (no empty line) in a datagram cannot be answered:
/// dropped and counted.
#[tokio::test]
async fn truncated_datagram_is_dropped_and_counted() {
    let ua = ua(Limits::default()).await;
    let socket = peer().await;
    let answer = exchange(&socket, ua.udp(), b"OPTIONS sip:a@b SIP/2.0\r\nMax-For").await;
    assert_eq!(answer, None);
    assert_eq!(ua.endpoint.stats().parse_errors, 1);
}

/// Header-count limit: more fields than allowed → 400.
#[tokio::test]
async fn too_many_headers_get_400() {
    let ua = ua(Limits {
        max_headers: 20,
        ..Limits::default()
    })
    .await;
    let socket = peer().await;
    let many = raw_message("z9hG4bKmany", "x").replace(
        "Max-Forwards",
        &format!("{}Max-Forwards", "X-Filler: 1\r\n".repeat(30)),
    );
    let answer = exchange(&socket, ua.udp(), many.as_bytes())
        .await
        .expect("answer");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("SIP/2.0 400 Too Many Header Fields"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

/// RFC 3261 §16.3 item 2: Max-Forwards 0 on a request we would relay → 483.
#[tokio::test]
async fn spent_max_forwards_gets_483() {
    let ua = ua(Limits::default()).await;
    let socket = peer().await;
    let req = raw_message("z9hG4bKmf0", "x").replace("Max-Forwards: 70", "Max-Forwards: 0");
    let answer = exchange(&socket, ua.udp(), req.as_bytes())
        .await
        .expect("answer");
    assert_eq!(status_of(&answer), 483);
}

/// Design §5: a full incoming channel answers 503 with Retry-After.
#[tokio::test]
async fn full_incoming_queue_gets_503_with_retry_after() {
    let ua = ua(Limits {
        incoming_queue: 1,
        retry_after_secs: 7,
        ..Limits::default()
    })
    .await;
    let socket = peer().await;
    socket
        .send_to(raw_message("z9hG4bKq1", "queued").as_bytes(), ua.udp())
        .await
        .expect("send");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = exchange(
        &socket,
        ua.udp(),
        raw_message("z9hG4bKq2", "over").as_bytes(),
    )
    .await
    .expect("answer");
    let text = String::from_utf8_lossy(&answer);
    assert_eq!(status_of(&answer), 503, "{text}");
    assert!(text.contains("Retry-After: 7\r\n"), "{text}");
    assert_eq!(ua.endpoint.stats().queue_full, 1);
}

/// No silent drop: a responder dropped without an answer sends 500.
#[tokio::test]
async fn dropped_responder_answers_500() {
    let mut ua = ua(Limits::default()).await;
    let socket = peer().await;
    socket
        .send_to(raw_message("z9hG4bKdrop", "x").as_bytes(), ua.udp())
        .await
        .expect("send");
    let request = timeout(Duration::from_secs(2), ua.incoming.recv())
        .await
        .expect("delivered")
        .expect("open");
    let (_view, responder) = request.into_responder();
    drop(responder);
    let answer = recv(&socket, Duration::from_secs(2)).await.expect("answer");
    assert_eq!(status_of(&answer), 500);
}

/// RFC 3966: a tel: Request-URI is delivered as sent (ezk alone rejects it).
#[tokio::test]
async fn tel_request_uri_is_delivered_as_sent() {
    let mut ua = ua(Limits::default()).await;
    let socket = peer().await;
    let req = raw_message("z9hG4bKtel", "call me")
        .replace(
            "MESSAGE sip:bob@127.0.0.1 SIP/2.0",
            "MESSAGE tel:+15551234;phone-context=example.com SIP/2.0",
        )
        .replace("To: <sip:bob@127.0.0.1>", "To: <tel:+15551234>");
    socket
        .send_to(req.as_bytes(), ua.udp())
        .await
        .expect("send");
    let request = timeout(Duration::from_secs(2), ua.incoming.recv())
        .await
        .expect("delivered")
        .expect("open");
    assert_eq!(
        request.request_uri(),
        "tel:+15551234;phone-context=example.com"
    );
    assert_eq!(request.to_uri(), "tel:+15551234");
    assert_eq!(request.from_uri(), "sip:alice@127.0.0.1");
    request.respond(StatusCode::OK, None, vec![], None);
}

/// Design §5: a stream connection that goes quiet (or trickles a message) is
/// closed after the idle limit, freeing its slot.
#[tokio::test(start_paused = true)]
async fn idle_tcp_connection_is_closed() {
    let ua = ua(Limits {
        idle_connection: Duration::from_secs(30),
        ..Limits::default()
    })
    .await;
    let mut stream = TcpStream::connect(ua.tcp()).await.expect("connect");
    stream
        .write_all(b"MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\nVia: ")
        .await
        .expect("write");
    let started = tokio::time::Instant::now();
    let mut buf = Vec::new();
    let n = stream
        .read_to_end(&mut buf)
        .await
        .expect("closed by the endpoint");
    assert_eq!(n, 0);
    assert!(started.elapsed() >= Duration::from_secs(30));
}

//! design §5 and RFC 3261 §8.2 / §21.4.1: garbage is ignored, a malformed
//! request that can still be answered gets 400, and the gateway goes on serving
//! the next message as if nothing happened.

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use parley_harness::sipp::SippTransport;
use support::{COMPONENT, Options, SipMessage, World, XMPP_DOMAIN, child_text};

fn exchange(socket: &UdpSocket, world: &World, bytes: &[u8]) -> Option<String> {
    socket
        .send_to(bytes, world.sip_addr())
        .expect("send datagram");
    let mut buf = [0u8; 65536];
    match socket.recv_from(&mut buf) {
        Ok((n, _)) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_malformed_requests_do_not_disturb_the_next_message() {
    let world = World::start(Options::default());
    let mut juliet = world.client("juliet").await;
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(700)))
        .expect("timeout");
    let local = socket.local_addr().expect("addr");

    // Binary garbage: no response can be formed, so none is sent.
    assert_eq!(
        exchange(&socket, &world, b"\x00\x01\x02\xffGARBAGE\r\n\r\n"),
        None
    );

    // RFC 3261 §8.1.1.5: the CSeq method must match the request method
    // (RFC 4475 §3.1.2.13 "mismatch01"); the request is answered 400.
    let mismatch = format!(
        "MESSAGE sip:juliet@{XMPP_DOMAIN} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-hostile-1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:bob@{COMPONENT}>;tag=h1\r\n\
         To: <sip:juliet@{XMPP_DOMAIN}>\r\n\
         Call-ID: hostile-1\r\n\
         CSeq: 1 INVITE\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let answer = exchange(&socket, &world, mismatch.as_bytes()).expect("a response");
    assert!(answer.starts_with("SIP/2.0 400"), "{answer}");
    assert!(answer.contains("hostile-1"), "Call-ID echoed: {answer}");

    // A Content-Length that claims more than the datagram holds (RFC 3261 §18.3: 400).
    let short_body = format!(
        "MESSAGE sip:juliet@{XMPP_DOMAIN} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-hostile-2\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:bob@{COMPONENT}>;tag=h2\r\n\
         To: <sip:juliet@{XMPP_DOMAIN}>\r\n\
         Call-ID: hostile-2\r\n\
         CSeq: 1 MESSAGE\r\n\
         Content-Type: text/plain\r\n\
         Content-Length: 9999\r\n\r\nshort"
    );
    let answer = exchange(&socket, &world, short_body.as_bytes()).expect("a response");
    assert!(answer.starts_with("SIP/2.0 400"), "{answer}");

    // The next well-formed message is served normally.
    let addr = world.sip_addr();
    let msg = SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "after-hostile",
        content_type: "text/plain",
        headers: &[],
        body: "still here",
        expect: 200,
    };
    let sipp = msg.sipp(world.scenario("uac-after.xml", &msg.scenario()));
    let sender = std::thread::spawn(move || sipp.run_uac(addr));
    let got = juliet
        .recv_matching(Duration::from_secs(10), |e| e.name() == "message")
        .await
        .unwrap_or_else(|| panic!("no message after hostile input\n{}", world.parley.log()));
    assert_eq!(
        child_text(&got, "body").map(|b| b.trim_end().to_owned()),
        Some("still here".into())
    );
    let out = sender.join().expect("sipp thread");
    assert!(out.success, "{}", out.report());
    assert!(
        world.parley.metric("parley_sip_parse_errors_total") >= 2.0,
        "parse errors are counted"
    );
}

/// design §5: an oversize request over TCP is refused with 513 and the
/// connection's next request still gets served.
#[test]
fn oversize_request_over_tcp_is_refused() {
    use std::io::{Read, Write};
    let world = World::start(Options::default());
    let mut tcp = std::net::TcpStream::connect(world.sip_addr()).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let body = "x".repeat(70 * 1024);
    let local = tcp.local_addr().expect("addr");
    let big = format!(
        "MESSAGE sip:juliet@{XMPP_DOMAIN} SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bK-big-1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:bob@{COMPONENT}>;tag=b1\r\n\
         To: <sip:juliet@{XMPP_DOMAIN}>\r\n\
         Call-ID: big-1\r\n\
         CSeq: 1 MESSAGE\r\n\
         Content-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(big.as_bytes());
    let mut buf = vec![0u8; 4096];
    let n = tcp.read(&mut buf).expect("a response");
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(
        answer.starts_with("SIP/2.0 513") || answer.starts_with("SIP/2.0 413"),
        "{answer}"
    );
    // Other users are unaffected: a fresh message over UDP is delivered.
    SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "after-big",
        content_type: "text/plain",
        headers: &[],
        body: "small",
        expect: 200,
    }
    .send(&world, SippTransport::Udp);
}

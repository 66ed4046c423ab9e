//! Issue 22 item 5, hostile input: a registrar (a raw UDP socket here) that
//! answers 403, a challenge that is not Digest, or bytes that are not SIP.
//! Each is logged, counted and retried after backoff; Parley is not ready
//! meanwhile and stays up. The un-REGISTER at shutdown, unanswered, does not
//! hold the exit past `shutdown.grace_ms`.

mod trunk;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use trunk::{PASSWORD, start_gateway};

/// One SIP request read from a socket: its text and where it came from.
fn recv_request(socket: &UdpSocket) -> (String, SocketAddr) {
    let mut buf = [0u8; 16384];
    let (n, from) = socket.recv_from(&mut buf).expect("a REGISTER from Parley");
    (String::from_utf8_lossy(&buf[..n]).into_owned(), from)
}

/// The values of header `name` in `message`, in order.
fn headers<'a>(message: &'a str, name: &str) -> Vec<&'a str> {
    message
        .lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .collect()
}

/// A response to `request` with `status_line` (e.g. `403 Forbidden`) and `extra` header lines.
fn response_to(request: &str, status_line: &str, extra: &str) -> String {
    let mut out = format!("SIP/2.0 {status_line}\r\n");
    for via in headers(request, "Via") {
        out.push_str(&format!("Via: {via}\r\n"));
    }
    for name in ["From", "Call-ID", "CSeq"] {
        out.push_str(&format!("{name}: {}\r\n", headers(request, name)[0]));
    }
    out.push_str(&format!("To: {};tag=fake\r\n", headers(request, "To")[0]));
    out.push_str(extra);
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// Bad registrar answers — 403, a challenge that is not Digest, bytes that
/// are not SIP — are each logged, counted and retried after backoff; Parley
/// is not ready meanwhile and stays up, and registers once the registrar
/// answers 200.
#[test]
fn refusals_and_garbage_from_the_registrar_leave_parley_up_and_not_ready() {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the fake registrar");
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let uri = format!("sip:{}", socket.local_addr().expect("addr"));
    let gateway = start_gateway(&uri, None, PASSWORD, 60);
    let parley = &gateway.parley;
    let registrations = |outcome: &str| {
        parley.metric(&format!(
            "parley_trunk_registrations_total{{outcome=\"{outcome}\"}}"
        ))
    };
    let wait_outcome = |outcome: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while registrations(outcome) < 1.0 {
            assert!(Instant::now() < deadline, "no {outcome}\n{}", parley.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        let (status, body) = parley.http_get("/readyz").unwrap_or_default();
        assert_eq!(status, 503, "{body}");
        assert!(
            body.contains(&format!("trunk: not registered: {outcome}")),
            "{body}"
        );
        assert_eq!(parley.http_get("/healthz").map(|r| r.0), Some(200));
    };
    // The CSeq number (method REGISTER).
    let cseq = |request: &str| -> u32 {
        let value = headers(request, "CSeq")[0];
        assert!(value.ends_with(" REGISTER"), "{value}");
        value
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .parse()
            .unwrap_or(0)
    };

    let (first, from) = recv_request(&socket);
    assert!(
        first.starts_with(&format!("REGISTER {uri} SIP/2.0")),
        "{first}"
    );
    assert_eq!(headers(&first, "Expires"), ["60"]);
    socket
        .send_to(response_to(&first, "403 Forbidden", "").as_bytes(), from)
        .expect("send 403");
    wait_outcome("refused");
    // The log is read from Parley's stderr by another thread: it may lag.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !parley.log().contains("registrar refused with 403") {
        assert!(Instant::now() < deadline, "{}", parley.log());
        std::thread::sleep(Duration::from_millis(50));
    }

    let (second, from) = recv_request(&socket);
    assert_eq!(headers(&second, "Call-ID"), headers(&first, "Call-ID"));
    socket
        .send_to(
            response_to(
                &second,
                "401 Unauthorized",
                "WWW-Authenticate: Digest realm\r\n",
            )
            .as_bytes(),
            from,
        )
        .expect("send 401");
    wait_outcome("unusable_challenge");

    let (third, from) = recv_request(&socket);
    socket
        .send_to(b"\x00\x01 this is not SIP \xff\r\n\r\n", from)
        .expect("send garbage");
    // Its retransmissions come until Timer F (64·T1 = 6.4 s) ends it.
    let fourth = loop {
        let (next, _) = recv_request(&socket);
        if cseq(&next) != cseq(&third) {
            break next;
        }
    };
    wait_outcome("unreachable");
    let cseqs: Vec<u32> = [&first, &second, &third, &fourth]
        .iter()
        .map(|r| cseq(r))
        .collect();
    assert!(cseqs.windows(2).all(|w| w[1] > w[0]), "{cseqs:?}");

    let contact = headers(&fourth, "Contact")[0].to_owned();
    socket
        .send_to(
            response_to(
                &fourth,
                "200 OK",
                &format!("Contact: {contact};expires=60\r\n"),
            )
            .as_bytes(),
            from,
        )
        .expect("send 200");
    let deadline = Instant::now() + Duration::from_secs(10);
    while parley.http_get("/readyz").map(|r| r.0) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "not ready after 200\n{}",
            parley.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(parley.metric("parley_trunk_registered"), 1.0);

    // SIGTERM: the un-REGISTER (Expires 0, same Call-ID, next CSeq) goes
    // out; unanswered, it does not hold the exit past shutdown.grace_ms (2 s).
    let mut gateway = gateway;
    let stopping = Instant::now();
    gateway.parley.signal_term();
    let (bye, _) = recv_request(&socket);
    assert_eq!(headers(&bye, "Expires"), ["0"], "{bye}");
    assert_eq!(headers(&bye, "Call-ID"), headers(&first, "Call-ID"));
    assert!(cseq(&bye) > cseq(&fourth), "{bye}");
    assert_eq!(gateway.parley.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopping.elapsed()
    );
}

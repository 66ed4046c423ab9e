//! The SIP side of the load: a UAC that sends MESSAGEs over UDP and reads
//! their final answers, a UAS that answers Parley's MESSAGEs and SUBSCRIBEs
//! (with a NOTIFY, RFC 6665 §4.2.1) and a flood source of hostile datagrams.
//! Messages are written by hand and read by scanning header lines: cheap, and
//! enough for the requests Parley sends.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::tracker::{Phases, Tracker, body as message_body};

/// Largest datagram read.
const RECV: usize = 65_536;

/// Receive buffer asked for on every UDP socket (Parley's default too): with
/// the kernel's ~200 KB, a burst of answers after Parley's delivery window
/// can overflow it, and the load tool would count its own drops as Parley's.
const SOCKET_BUFFER: usize = 4 << 20;

/// Binds a UDP socket with a `SOCKET_BUFFER` receive buffer (the kernel may
/// cap it at `net.core.rmem_max`).
async fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_recv_buffer_size(SOCKET_BUFFER)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// The sending side of SIP → XMPP load.
#[derive(Debug, Clone)]
pub(crate) struct Uac {
    socket: Arc<UdpSocket>,
    target: SocketAddr,
    local: SocketAddr,
    /// Bodies are padded to this many bytes.
    body_bytes: usize,
    /// Final answers that matched no phase.
    pub(crate) stray: Arc<AtomicUsize>,
}

impl Uac {
    /// Binds `bind` and starts reading answers; message bodies are padded
    /// to `body_bytes`.
    pub(crate) async fn bind(
        bind: SocketAddr,
        target: SocketAddr,
        body_bytes: usize,
        phases: Arc<Phases>,
    ) -> io::Result<Uac> {
        let socket = Arc::new(bind_udp(bind).await?);
        let local = socket.local_addr()?;
        let stray = Arc::new(AtomicUsize::new(0));
        tokio::spawn(read_answers(socket.clone(), phases, stray.clone()));
        Ok(Uac {
            socket,
            target,
            local,
            body_bytes,
            stray,
        })
    }

    /// Sends MESSAGE number `seq` of the tracker's phase from `user` to `to`.
    pub(crate) async fn send(&self, tracker: &Tracker, seq: usize, user: &str, to: &str) {
        let body = message_body(tracker.phase, seq, self.body_bytes);
        let bytes = message(self.local, tracker.phase, seq, user, to, &body);
        tracker.mark_sent(seq);
        let _ = self.socket.send_to(&bytes, self.target).await;
    }
}

/// One MESSAGE (RFC 3428 §4) whose Call-ID and body carry the load tag.
fn message(local: SocketAddr, phase: u32, seq: usize, user: &str, to: &str, body: &str) -> Vec<u8> {
    format!(
        "MESSAGE sip:{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK.lg.{phase}.{seq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@sip.localhost>;tag=lg{phase}\r\n\
         To: <sip:{to}>\r\n\
         Call-ID: lg.{phase}.{seq}@{local}\r\n\
         CSeq: 1 MESSAGE\r\n\
         Content-Type: text/plain;charset=UTF-8\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn read_answers(socket: Arc<UdpSocket>, phases: Arc<Phases>, stray: Arc<AtomicUsize>) {
    let mut buf = vec![0u8; RECV];
    while let Ok((n, _)) = socket.recv_from(&mut buf).await {
        let text = String::from_utf8_lossy(&buf[..n]);
        let Some(status) = status(&text) else {
            continue;
        };
        if status < 200 {
            continue;
        }
        match header(&text, "Call-ID", "i").and_then(|c| phases.find(c)) {
            Some((tracker, seq)) => {
                // RFC 3261 §21.5.4: a 503 "MAY" carry Retry-After; the bench
                // counts only one that does as a refusal (retry later).
                let retry_after = header(&text, "Retry-After", "").is_some();
                tracker.mark_answered(seq, status, retry_after);
            }
            None => {
                stray.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// What the UAS saw.
#[derive(Debug, Default)]
pub(crate) struct UasCounters {
    pub(crate) messages: AtomicUsize,
    pub(crate) subscribes: AtomicUsize,
    pub(crate) unsubscribes: AtomicUsize,
    pub(crate) notifies_sent: AtomicUsize,
    pub(crate) other_requests: AtomicUsize,
    pub(crate) responses: AtomicUsize,
}

/// Binds the UAS Parley sends to (its `sip.outbound_proxy`) and serves it.
pub(crate) async fn uas(
    bind: SocketAddr,
    phases: Arc<Phases>,
) -> io::Result<(SocketAddr, Arc<UasCounters>)> {
    let socket = Arc::new(bind_udp(bind).await?);
    let local = socket.local_addr()?;
    let counters = Arc::new(UasCounters::default());
    tokio::spawn(serve(socket, local, phases, counters.clone()));
    Ok((local, counters))
}

async fn serve(
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    phases: Arc<Phases>,
    counters: Arc<UasCounters>,
) {
    let mut buf = vec![0u8; RECV];
    let mut cseq = 0u32;
    while let Ok((n, source)) = socket.recv_from(&mut buf).await {
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("SIP/2.0") {
            counters.responses.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let method = text.split(' ').next().unwrap_or_default().to_owned();
        if method == "ACK" {
            continue;
        }
        let expires = header(&text, "Expires", "").and_then(|e| e.trim().parse::<u32>().ok());
        let mut extra = String::new();
        match method.as_str() {
            "MESSAGE" => {
                counters.messages.fetch_add(1, Ordering::Relaxed);
                if let Some((tracker, seq)) = phases.find(body(&text)) {
                    tracker.mark_delivered_request(seq, branch(&text).unwrap_or_default());
                }
            }
            "SUBSCRIBE" => {
                let e = expires.unwrap_or(3600);
                extra = format!("Expires: {e}\r\nContact: <sip:loadgen@{local}>\r\n");
                if e == 0 {
                    counters.unsubscribes.fetch_add(1, Ordering::Relaxed);
                } else {
                    counters.subscribes.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {
                counters.other_requests.fetch_add(1, Ordering::Relaxed);
            }
        }
        let answer = ok(&text, &extra);
        let _ = socket.send_to(answer.as_bytes(), source).await;
        if method == "SUBSCRIBE" {
            cseq += 1;
            if let Some(notify) = notify(&text, local, cseq, expires.unwrap_or(3600)) {
                let _ = socket.send_to(notify.as_bytes(), source).await;
                counters.notifies_sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// RFC 3261 §8.2.6.2: a 200 copying Via, From, To (tagged), Call-ID, CSeq.
fn ok(request: &str, extra: &str) -> String {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for via in headers(request, "Via", "v") {
        out.push_str("Via: ");
        out.push_str(via);
        out.push_str("\r\n");
    }
    let to = header(request, "To", "t").unwrap_or_default();
    let to = if to.contains(";tag=") {
        to.to_owned()
    } else {
        format!("{to};tag=lguas")
    };
    for (name, value) in [
        ("From", header(request, "From", "f").unwrap_or_default()),
        ("To", &to),
        (
            "Call-ID",
            header(request, "Call-ID", "i").unwrap_or_default(),
        ),
        ("CSeq", header(request, "CSeq", "").unwrap_or_default()),
    ] {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str(extra);
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// RFC 6665 §4.2.1: the NOTIFY a notifier sends right after accepting a
/// SUBSCRIBE (RFC 3856 PIDF body; `terminated` for Expires: 0).
fn notify(subscribe: &str, local: SocketAddr, cseq: u32, expires: u32) -> Option<String> {
    let contact = header(subscribe, "Contact", "m")?;
    let target = contact.split('<').nth(1)?.split('>').next()?;
    let entity = subscribe.split(' ').nth(1)?;
    let to = header(subscribe, "To", "t")?;
    let from = if to.contains(";tag=") {
        to.to_owned()
    } else {
        format!("{to};tag=lguas")
    };
    let state = if expires == 0 {
        "terminated;reason=timeout".to_owned()
    } else {
        format!("active;expires={expires}")
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" \
         entity=\"{entity}\"><tuple id=\"t1\"><status><basic>open</basic></status>\
         <note>loadgen</note></tuple></presence>"
    );
    Some(format!(
        "NOTIFY {target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK.lgn.{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: {from}\r\n\
         To: {}\r\n\
         Call-ID: {}\r\n\
         CSeq: {cseq} NOTIFY\r\n\
         Contact: <sip:loadgen@{local}>\r\n\
         Event: presence\r\n\
         Subscription-State: {state}\r\n\
         Content-Type: application/pidf+xml\r\n\
         Content-Length: {}\r\n\r\n{body}",
        header(subscribe, "From", "f")?,
        header(subscribe, "Call-ID", "i")?,
        body.len()
    ))
}

/// The status code of a response.
fn status(text: &str) -> Option<u16> {
    text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// Every value of a header (full or compact name), in order.
fn headers<'a>(text: &'a str, name: &'a str, compact: &'a str) -> impl Iterator<Item = &'a str> {
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    head.split("\r\n").skip(1).filter_map(move |line| {
        let (n, v) = line.split_once(':')?;
        let n = n.trim();
        (n.eq_ignore_ascii_case(name) || (!compact.is_empty() && n.eq_ignore_ascii_case(compact)))
            .then(|| v.trim())
    })
}

fn header<'a>(text: &'a str, name: &'a str, compact: &'a str) -> Option<&'a str> {
    headers(text, name, compact).next()
}

/// The branch parameter of the top Via (RFC 3261 §8.1.1.7).
fn branch(text: &str) -> Option<&str> {
    let via = header(text, "Via", "v")?;
    let rest = &via[via.find(";branch=")? + ";branch=".len()..];
    Some(rest.split([';', ',', ' ']).next().unwrap_or(rest))
}

fn body(text: &str) -> &str {
    text.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// What the flood source got back.
#[derive(Debug, Default)]
pub(crate) struct FloodCounters {
    pub(crate) sent: AtomicUsize,
    pub(crate) answers: AtomicUsize,
    pub(crate) answers_2xx: AtomicUsize,
    pub(crate) answers_4xx: AtomicUsize,
    pub(crate) answers_5xx: AtomicUsize,
}

/// Sends hostile datagrams from `bind` at `rate`/s until `stop`: in turn
/// random bytes, a request whose CSeq is broken (salvageable: 400), one whose
/// Content-Length exceeds its body (400), a 60 000-byte MESSAGE, and plain
/// valid MESSAGEs (what a per-source rate limit should refuse).
pub(crate) async fn flood(
    bind: SocketAddr,
    target: SocketAddr,
    rate: u32,
    stop: Arc<AtomicBool>,
) -> io::Result<Arc<FloodCounters>> {
    let socket = Arc::new(bind_udp(bind).await?);
    let local = socket.local_addr()?;
    let counters = Arc::new(FloodCounters::default());
    let reader = {
        let (socket, counters) = (socket.clone(), counters.clone());
        async move {
            let mut buf = vec![0u8; RECV];
            while let Ok((n, _)) = socket.recv_from(&mut buf).await {
                let text = String::from_utf8_lossy(&buf[..n]);
                counters.answers.fetch_add(1, Ordering::Relaxed);
                match status(&text).unwrap_or(0) / 100 {
                    2 => counters.answers_2xx.fetch_add(1, Ordering::Relaxed),
                    4 => counters.answers_4xx.fetch_add(1, Ordering::Relaxed),
                    5 => counters.answers_5xx.fetch_add(1, Ordering::Relaxed),
                    _ => 0,
                };
            }
        }
    };
    tokio::spawn(reader);
    let sender = {
        let counters = counters.clone();
        async move {
            let start = tokio::time::Instant::now();
            let mut sent = 0u64;
            let mut rng = 0x9E37_79B9_7F4A_7C15u64;
            let big = "x".repeat(60_000);
            while !stop.load(Ordering::Relaxed) {
                let due = (start.elapsed().as_secs_f64() * f64::from(rate)) as u64;
                while sent < due {
                    let bytes = hostile(sent, local, &mut rng, &big);
                    let _ = socket.send_to(&bytes, target).await;
                    sent += 1;
                    counters.sent.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    };
    tokio::spawn(sender);
    Ok(counters)
}

fn hostile(n: u64, local: SocketAddr, rng: &mut u64, big: &str) -> Vec<u8> {
    let head = |cseq: &str, length: usize| {
        format!(
            "MESSAGE sip:juliet@localhost SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK.fl.{n}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:flood@sip.localhost>;tag=fl\r\n\
             To: <sip:juliet@localhost>\r\n\
             Call-ID: fl.{n}@{local}\r\n\
             CSeq: {cseq}\r\n\
             Content-Type: text/plain\r\n\
             Content-Length: {length}\r\n\r\n"
        )
    };
    match n % 5 {
        0 => {
            let len = 200 + (next(rng) % 1200) as usize;
            (0..len).map(|_| next(rng) as u8).collect()
        }
        1 => (head("one MESSAGE", 5) + "flood").into_bytes(),
        2 => (head("1 MESSAGE", 100_000) + "flood").into_bytes(),
        3 => (head("1 MESSAGE", big.len()) + big).into_bytes(),
        _ => (head("1 MESSAGE", 5) + "flood").into_bytes(),
    }
}

/// xorshift64: cheap bytes for garbage datagrams.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBSCRIBE: &str = "SUBSCRIBE sip:bob@sip.localhost SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1;rport\r\n\
        From: <sip:juliet@sip.localhost>;tag=p1\r\n\
        To: <sip:bob@sip.localhost>\r\n\
        Call-ID: c1\r\nCSeq: 1 SUBSCRIBE\r\n\
        Contact: <sip:gw@127.0.0.1:5060>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn ok_copies_the_dialog_headers_and_tags_to() {
        let answer = ok(SUBSCRIBE, "");
        assert!(answer.starts_with(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1;rport\r\n"
        ));
        assert!(answer.contains("To: <sip:bob@sip.localhost>;tag=lguas\r\n"));
        assert!(answer.contains("CSeq: 1 SUBSCRIBE\r\n"));
    }

    #[test]
    fn notify_goes_to_the_contact_in_the_dialog() {
        let local: SocketAddr = "127.0.0.1:7000".parse().expect("addr");
        let n = notify(SUBSCRIBE, local, 1, 3600).expect("notify");
        assert!(n.starts_with("NOTIFY sip:gw@127.0.0.1:5060 SIP/2.0\r\n"));
        assert!(n.contains("From: <sip:bob@sip.localhost>;tag=lguas\r\n"));
        assert!(n.contains("To: <sip:juliet@sip.localhost>;tag=p1\r\n"));
        assert!(n.contains("Subscription-State: active;expires=3600\r\n"));
    }

    #[test]
    fn compact_headers_are_read() {
        let text = "SIP/2.0 200 OK\r\ni: lg.1.2@x\r\n\r\n";
        assert_eq!(header(text, "Call-ID", "i"), Some("lg.1.2@x"));
        assert_eq!(status(text), Some(200));
    }

    #[test]
    fn the_top_via_branch_is_read() {
        assert_eq!(branch(SUBSCRIBE), Some("z9hG4bK1"));
    }
}

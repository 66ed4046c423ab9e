//! A SIP endpoint on TCP that keeps every octet it receives: a UAS that
//! answers each MESSAGE 200, and a UAC that sends one and reads its answer.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::support::{COMPONENT, World, XMPP_DOMAIN};

/// One SIP request as received: its header block (text) and its body octets.
pub(crate) struct SipRequest {
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

impl SipRequest {
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    /// The MIME entity this request's body is: its Content-* fields, then the body.
    pub(crate) fn entity(&self) -> Vec<u8> {
        let mut e = String::new();
        for name in [
            "MIME-Version",
            "Content-Disposition",
            "Content-Type",
            "Content-Transfer-Encoding",
        ] {
            if let Some(v) = self.header(name) {
                e.push_str(&format!("{name}: {v}\r\n"));
            }
        }
        e.push_str("\r\n");
        let mut e = e.into_bytes();
        e.extend_from_slice(&self.body);
        e
    }
}

/// Read one SIP message (head and Content-Length body) off a stream.
async fn read_sip(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<SipRequest> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    matches!(
                        n.trim().to_ascii_lowercase().as_str(),
                        "content-length" | "l"
                    )
                    .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let body = buf[end + 4..end + 4 + len].to_vec();
                buf.drain(..end + 4 + len);
                return Some(SipRequest { head, body });
            }
        }
        let mut chunk = [0u8; 16384];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A SIP UAS on TCP (Parley's outbound proxy): every MESSAGE gets 200 and is
/// handed over on the channel, octets as received.
pub(crate) async fn sip_uas() -> (String, mpsc::UnboundedReceiver<SipRequest>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind uas");
    let addr = listener.local_addr().expect("uas addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while let Some(req) = read_sip(&mut stream, &mut buf).await {
                    if req.head.starts_with("SIP/2.0") {
                        continue;
                    }
                    let copy = |n: &str| {
                        req.header(n)
                            .map(|v| format!("{n}: {v}\r\n"))
                            .unwrap_or_default()
                    };
                    // A SUBSCRIBE's 2xx names the agent and the grant
                    // (RFC 6665 §4.2.1.1, RFC 3261 §12.1.1).
                    let subscribe = if req.head.starts_with("SUBSCRIBE ") {
                        format!("Contact: <sip:bob@{addr};transport=tcp>\r\nExpires: 600\r\n")
                    } else {
                        String::new()
                    };
                    let answer = format!(
                        "SIP/2.0 200 OK\r\n{}{}{}{}{}{subscribe}Content-Length: 0\r\n\r\n",
                        req.head
                            .lines()
                            .filter(|l| l.to_ascii_lowercase().starts_with("via:"))
                            .map(|l| format!("{l}\r\n"))
                            .collect::<String>(),
                        copy("From"),
                        req.header("To")
                            .map(|v| format!("To: {v};tag=uas\r\n"))
                            .unwrap_or_default(),
                        copy("Call-ID"),
                        copy("CSeq"),
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = tx.send(req);
                }
            });
        }
    });
    (format!("sip:{addr};transport=tcp"), rx)
}

/// Send a MESSAGE from bob to juliet over TCP with `fields` and `body`; the
/// status of the final response.
pub(crate) async fn send_sip(
    world: &World,
    call_id: &str,
    fields: &[(String, String)],
    body: &[u8],
) -> u16 {
    let head = format!(
        "MESSAGE sip:juliet@{XMPP_DOMAIN} SIP/2.0\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:bob@{COMPONENT}>;tag=bob-{call_id}\r\n\
         To: <sip:juliet@{XMPP_DOMAIN}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 MESSAGE\r\n"
    );
    send_request(world, &head, fields, body).await
}

/// Send the request whose start line and header fields (CRLF-ended, no Via,
/// no Content-Length) are `head`, plus `fields` and `body`, over TCP; the
/// status of its final response.
pub(crate) async fn send_request(
    world: &World,
    head: &str,
    fields: &[(String, String)],
    body: &[u8],
) -> u16 {
    let mut stream = TcpStream::connect(world.sip_addr())
        .await
        .expect("connect to parley");
    let local = stream.local_addr().expect("local addr");
    let (start, rest) = head.split_once("\r\n").expect("a start line");
    let call_id: String = rest
        .lines()
        .find_map(|l| l.strip_prefix("Call-ID: "))
        .unwrap_or("x")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let mut head = format!(
        "{start}\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bK-{call_id}-{}\r\n{rest}",
        rand_suffix()
    );
    for (n, v) in fields {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).await.expect("send request");
    let mut buf = Vec::new();
    let deadline = Duration::from_secs(15);
    loop {
        let resp = tokio::time::timeout(deadline, read_sip(&mut stream, &mut buf))
            .await
            .unwrap_or_else(|_| panic!("no final response to {call_id}\n{}", world.parley.log()))
            .unwrap_or_else(|| panic!("connection closed for {call_id}\n{}", world.parley.log()));
        let code: u16 = resp
            .head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("a status line");
        if code >= 200 {
            return code;
        }
    }
}

/// A branch suffix unique within the test process.
fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub(crate) async fn next_request(
    rx: &mut mpsc::UnboundedReceiver<SipRequest>,
    world: &World,
) -> SipRequest {
    tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no MESSAGE reached the SIP side\n{}", world.parley.log()))
}

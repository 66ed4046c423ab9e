//! A SIP phone for end-to-end tests: one loopback UDP socket, read with
//! Parley's own parser (`parley_sip::wire`), answering every NOTIFY,
//! SUBSCRIBE, MESSAGE and BYE at once and resending what it sends until
//! answered; one end of a SIP dialog as such a phone keeps it (RFC 3261
//! §12); and INVITE sessions both ways: it calls (`invite`, then ACK and
//! BYE in the dialog) and is called (answered as `on_invite` says).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use parley_sip::wire::header::Address;
use parley_sip::wire::validate::{self, RequestHead};
use parley_sip::wire::{Message, ParseLimits};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::COMPONENT;

#[path = "sip_phone_invite.rs"]
mod invite;
use invite::answer_invite;
// Not every test that includes the phone calls or is called.
#[allow(unused_imports)]
pub(crate) use invite::{Call, InvitePolicy};

/// How often a phone resends a request that is not answered yet.
const RESEND: Duration = Duration::from_millis(500);

/// One SIP message a phone received, and when.
#[derive(Clone)]
pub(crate) struct Received {
    pub(crate) at: Instant,
    pub(crate) msg: Message,
    /// As received, for failure messages.
    pub(crate) text: String,
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.text)
    }
}

impl Received {
    pub(crate) fn request(&self) -> Option<RequestHead> {
        validate::request(&self.msg).ok()
    }

    pub(crate) fn header(&self, name: &str) -> String {
        self.msg.header(name).unwrap_or_default()
    }

    pub(crate) fn body(&self) -> String {
        String::from_utf8_lossy(&self.msg.body).into_owned()
    }
}

/// A SIP phone on one loopback UDP socket. It answers every NOTIFY 200 at
/// once (RFC 6665 §4.1.3), and every SUBSCRIBE too, as its own presence
/// agent: its To tag added, its Contact, the request's Record-Route copied
/// (RFC 3261 §12.1.1). What it received is kept, parsed by Parley's own
/// wire parser; what does not parse is kept apart and fails the test.
pub(crate) struct Phone {
    pub(crate) user: &'static str,
    pub(crate) socket: Arc<UdpSocket>,
    pub(crate) addr: SocketAddr,
    pub(crate) received: Arc<Mutex<Vec<Received>>>,
    pub(crate) unparsed: Arc<Mutex<Vec<String>>>,
    /// How an INVITE to this phone is answered.
    policy: Arc<Mutex<InvitePolicy>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Phone {
    pub(crate) async fn bind(user: &'static str) -> Phone {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind a phone"));
        let addr = socket.local_addr().expect("phone address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let unparsed = Arc::new(Mutex::new(Vec::new()));
        let policy = Arc::new(Mutex::new(InvitePolicy::Silent));
        let task = tokio::spawn({
            let (socket, received, unparsed, policy) = (
                Arc::clone(&socket),
                Arc::clone(&received),
                Arc::clone(&unparsed),
                Arc::clone(&policy),
            );
            async move {
                let mut buf = vec![0u8; 65536];
                while let Ok((n, source)) = socket.recv_from(&mut buf).await {
                    let bytes = Bytes::copy_from_slice(&buf[..n]);
                    let Ok(msg) = Message::parse(bytes, ParseLimits::default()) else {
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        unparsed.lock().expect("lock").push(text);
                        continue;
                    };
                    let answers = match answer(&msg, user, addr) {
                        Some(answer) => vec![answer],
                        None => {
                            let policy = policy.lock().expect("lock").clone();
                            answer_invite(&msg, user, addr, &policy)
                        }
                    };
                    for answer in answers {
                        let _ = socket.send_to(answer.as_bytes(), source).await;
                    }
                    received.lock().expect("lock").push(Received {
                        at: Instant::now(),
                        msg,
                        text: String::from_utf8_lossy(&buf[..n]).into_owned(),
                    });
                }
            }
        });
        Phone {
            user,
            socket,
            addr,
            received,
            unparsed,
            policy,
            task,
        }
    }

    /// `sip:<user>@<addr>`, where the phone is reached.
    pub(crate) fn contact(&self) -> String {
        format!("sip:{}@{}", self.user, self.addr)
    }

    /// Send `request` (its Via branch `branch`) to `to` every 500 ms until
    /// a final response to it arrives; that response, or what happened.
    pub(crate) async fn request(
        &self,
        request: &str,
        branch: &str,
        to: SocketAddr,
        within: Duration,
    ) -> Result<Received, String> {
        let deadline = Instant::now() + within;
        loop {
            self.socket
                .send_to(request.as_bytes(), to)
                .await
                .map_err(|e| e.to_string())?;
            let resend = (Instant::now() + RESEND).min(deadline);
            while Instant::now() < resend {
                if let Some(r) = self.final_response(branch) {
                    return Ok(r);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no final answer to\n{request}\nwithin {within:?}; {} got:\n{:#?}",
                    self.user,
                    self.received.lock().expect("lock")
                ));
            }
        }
    }

    pub(crate) fn final_response(&self, branch: &str) -> Option<Received> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .find(|r| {
                validate::response(&r.msg)
                    .is_ok_and(|head| head.status >= 200 && head.branch.as_deref() == Some(branch))
            })
            .cloned()
    }

    /// The requests `method` received, each transaction once (a
    /// retransmission repeats the top Via branch), in arrival order.
    pub(crate) fn requests(&self, method: &str) -> Vec<(RequestHead, Received)> {
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for r in self.received.lock().expect("lock").iter() {
            let Some(head) = r.request() else { continue };
            if head.method != method {
                continue;
            }
            let branch = head.via.branch.clone().unwrap_or_default();
            if !seen.contains(&branch) {
                seen.push(branch);
                out.push((head, r.clone()));
            }
        }
        out
    }

    /// REGISTER with Kamailio (usrloc) at this phone's address.
    pub(crate) async fn register(&self, kamailio: SocketAddr) {
        let branch = format!("z9hG4bK-reg-{}", self.addr.port());
        let request = format!(
            "REGISTER sip:{COMPONENT} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {addr};branch={branch}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@{COMPONENT}>;tag={user}-reg\r\n\
             To: <sip:{user}@{COMPONENT}>\r\n\
             Call-ID: register-{user}-{port}\r\n\
             CSeq: 1 REGISTER\r\n\
             Contact: <{contact}>\r\n\
             Expires: 300\r\n\
             Content-Length: 0\r\n\r\n",
            addr = self.addr,
            user = self.user,
            port = self.addr.port(),
            contact = self.contact(),
        );
        let answer = self
            .request(&request, &branch, kamailio, Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            answer.msg.header("CSeq").is_some() && status(&answer) == 200,
            "REGISTER: {answer:?}"
        );
    }
}

pub(crate) fn status(r: &Received) -> u16 {
    validate::response(&r.msg).map_or(0, |h| h.status)
}

/// The phone's 200 to a NOTIFY, SUBSCRIBE, MESSAGE or BYE (RFC 3261
/// §8.2.6.2: Vias, From, To, Call-ID and CSeq copied), `None` for anything
/// else.
pub(crate) fn answer(msg: &Message, user: &str, addr: SocketAddr) -> Option<String> {
    let method = msg.method()?;
    if !matches!(method, "NOTIFY" | "SUBSCRIBE" | "MESSAGE" | "BYE") {
        return None;
    }
    let mut to = msg.header("To")?;
    let mut extra = String::new();
    // RFC 3261 §8.2.6.2: "the UAS MUST add a tag to the To header field"
    // of a request that has none.
    if Address::parse(&to).ok()?.param("tag").is_none() {
        to.push_str(&format!(";tag={user}-tag"));
    }
    if method == "SUBSCRIBE" {
        // RFC 3261 §12.1.1: the UAS adds its Contact and copies the
        // Record-Route of the request.
        if let Some(rr) = msg.header("Record-Route") {
            extra.push_str(&format!("Record-Route: {rr}\r\n"));
        }
        extra.push_str(&format!(
            "Contact: <sip:{user}@{addr}>\r\nExpires: {}\r\n",
            msg.header("Expires").unwrap_or_else(|| "600".into())
        ));
    }
    Some(format!(
        "SIP/2.0 200 OK\r\n\
         Via: {via}\r\n\
         From: {from}\r\n\
         To: {to}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq}\r\n\
         {extra}Content-Length: 0\r\n\r\n",
        via = msg.header("Via")?,
        from = msg.header("From")?,
        call_id = msg.header("Call-ID")?,
        cseq = msg.header("CSeq")?,
    ))
}

/// The URI of a name-addr (`<sip:…>;params`).
pub(crate) fn uri_of(value: &str) -> String {
    Address::parse(value)
        .map(|a| a.uri_text.as_str().to_owned())
        .unwrap_or_else(|e| panic!("{value}: {e}"))
}

/// The tag parameter of a From or To value.
pub(crate) fn tag_of(value: &str) -> String {
    Address::parse(value)
        .ok()
        .and_then(|a| a.param("tag").map(str::to_owned))
        .unwrap_or_else(|| panic!("no tag in {value}"))
}

/// Where a loose-routing URI (`sip:127.0.0.1:5060;lr`) is reached.
pub(crate) fn route_addr(route: &str) -> SocketAddr {
    let uri = uri_of(route);
    let hostport = uri
        .trim_start_matches("sip:")
        .split([';', '?'])
        .next()
        .unwrap_or_default();
    let hostport = hostport.rsplit('@').next().unwrap_or_default();
    hostport
        .parse()
        .unwrap_or_else(|e| panic!("route {route}: {e}"))
}

/// The values of a comma-separated header such as Record-Route.
pub(crate) fn values(header: &str) -> Vec<String> {
    header
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// One end of a SIP dialog, as a phone keeps it (RFC 3261 §12).
#[derive(Debug, Clone)]
pub(crate) struct Dialog {
    pub(crate) call_id: String,
    pub(crate) local_uri: String,
    pub(crate) local_tag: String,
    pub(crate) remote_uri: String,
    pub(crate) remote_tag: String,
    pub(crate) remote_target: String,
    pub(crate) route: Vec<String>,
    pub(crate) local_seq: u32,
}

impl Dialog {
    /// The next request `method` in the dialog (RFC 3261 §12.2.1.1), with
    /// its Via branch; sent to the first Route's address.
    pub(crate) fn request(
        &mut self,
        phone: &Phone,
        method: &str,
        headers: &str,
        body: &str,
    ) -> (String, String) {
        self.local_seq += 1;
        // A branch is a token (RFC 3261 §25.1): no `@` from the Call-ID.
        let call_id: String = self
            .call_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let branch = format!("z9hG4bK-{call_id}-{method}-{}", self.local_seq);
        let route: String = self
            .route
            .iter()
            .map(|r| format!("Route: {r}\r\n"))
            .collect();
        let request = format!(
            "{method} {target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {addr};branch={branch}\r\n\
             {route}Max-Forwards: 70\r\n\
             From: <{local}>;tag={local_tag}\r\n\
             To: <{remote}>;tag={remote_tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {seq} {method}\r\n\
             Contact: <{contact}>\r\n\
             {headers}Content-Length: {len}\r\n\r\n{body}",
            target = self.remote_target,
            addr = phone.addr,
            local = self.local_uri,
            local_tag = self.local_tag,
            remote = self.remote_uri,
            remote_tag = self.remote_tag,
            call_id = self.call_id,
            seq = self.local_seq,
            contact = phone.contact(),
            len = body.len(),
        );
        (request, branch)
    }

    pub(crate) fn next_hop(&self) -> SocketAddr {
        route_addr(self.route.first().expect("a route set through Kamailio"))
    }
}

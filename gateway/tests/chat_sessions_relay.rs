//! RFC 7573 §5 chat sessions through an MSRP relay (RFC 4976): the SIP
//! user's MSRP peer reaches Parley through a real Kamailio running its
//! `msrp` module (`parley_harness::kamailio_msrp`), with the real `parley`
//! binary and a real Prosody.
//!
//! The peer AUTHs to the relay (§5.1, Digest), offers the `a=path` §5.1
//! builds from the relay's Use-Path (the relay, then the peer), and sends
//! with the To-Path §5.1 builds (the relay, then Parley). RFC 4975 §5.4
//! makes the offerer the side that connects, so Parley, passive, takes the
//! connection the relay opens to it. Each message crosses Kamailio, and the
//! test checks the paths as each hop leaves them: §6.4.1 "the relay removes
//! this URI from the To-Path header and inserts this URI in the From-Path
//! header before any other URIs", and a SEND's 200 comes from the previous
//! hop only. The SIP side is literal SIP over a UDP socket.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio_xmpp::minidom::Element;

use parley_harness::kamailio_msrp::{self, KamailioMsrp};
use parley_harness::msrp_peer::{MsrpFrame, MsrpPeer};
use parley_harness::port::free_tcp_port;
use parley_sip::wire::{Message as SipWire, ParseLimits, StartLine};
use support::{COMPONENT, Options, World, XMPP_DOMAIN, child_text};

/// How long any one answer may take.
const WAIT: Duration = Duration::from_secs(10);

/// The session's Call-ID, the `<thread/>` of its stanzas (RFC 7573 §5).
const CALL_ID: &str = "relay-7573-a1";

/// The MSRP session part of the peer's own URI.
const PEER_SESSION: &str = "peer7573relay";

/// The SIP user's phone: a UDP socket speaking literal SIP to Parley.
struct Phone {
    socket: UdpSocket,
    parley: SocketAddr,
}

impl Phone {
    async fn bind(parley: SocketAddr) -> Phone {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
        Phone { socket, parley }
    }

    /// Send `text` (LF line ends, `{peer}` for this socket's address) with
    /// CRLF in the head.
    async fn send(&self, text: &str) {
        let text = text.replace(
            "{peer}",
            &self.socket.local_addr().expect("bound").to_string(),
        );
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let bytes = format!("{}\r\n\r\n{body}", head.replace('\n', "\r\n"));
        self.socket
            .send_to(bytes.as_bytes(), self.parley)
            .await
            .expect("send SIP");
    }

    /// The next SIP message from Parley that is not a 100 Trying (RFC 3261
    /// §17.2.1) or, when `skip_invite_200`, a retransmitted 200 to the
    /// INVITE (§13.3.1.4: sent until the ACK).
    async fn recv(&self, skip_invite_200: bool) -> SipWire {
        loop {
            let mut buf = vec![0u8; 65_536];
            let (n, _) = tokio::time::timeout(WAIT, self.socket.recv_from(&mut buf))
                .await
                .expect("Parley answered in time")
                .expect("receive SIP");
            buf.truncate(n);
            let m = SipWire::parse(Bytes::from(buf), ParseLimits::default())
                .expect("Parley's SIP parses");
            let skipped = match m.start {
                StartLine::Response { status: 100, .. } => true,
                StartLine::Response { status: 200, .. } => {
                    skip_invite_200 && m.header("CSeq").is_some_and(|c| c.ends_with("INVITE"))
                }
                _ => false,
            };
            if !skipped {
                return m;
            }
        }
    }
}

/// Romeo's INVITE to Juliet (RFC 7573 F17) with `sdp`.
fn invite(sdp: &str) -> String {
    format!(
        "INVITE sip:juliet@{XMPP_DOMAIN} SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKrelayinv1\n\
         Max-Forwards: 70\n\
         To: <sip:juliet@{XMPP_DOMAIN}>\n\
         From: <sip:romeo@{COMPONENT}>;tag=786\n\
         Call-ID: {CALL_ID}\n\
         CSeq: 1 INVITE\n\
         Contact: <sip:romeo@{{peer}}>\n\
         Content-Type: application/sdp\n\
         Content-Length: {len}\n\
         \n\
         {sdp}",
        len = sdp.len(),
    )
}

/// An MSRP offer whose `a=path` is `path`; `c=` and the m-line port name
/// the relay, the first hop (RFC 4976 §11's answer puts the relay first in
/// `a=path` the same way).
fn offer(path: &str, relay_port: u16) -> String {
    format!(
        "v=0\r\no=romeo 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message {relay_port} TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:{path}\r\n"
    )
}

/// An in-dialog request (`method`, CSeq `cseq`) of the dialog `ok` made.
fn in_dialog(ok: &SipWire, method: &str, cseq: u32) -> String {
    let to = ok.header("To").expect("the 200 has a To");
    format!(
        "{method} sip:juliet@{XMPP_DOMAIN} SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKrelay{method}{cseq}\n\
         Max-Forwards: 70\n\
         To: {to}\n\
         From: <sip:romeo@{COMPONENT}>;tag=786\n\
         Call-ID: {CALL_ID}\n\
         CSeq: {cseq} {method}\n\
         Content-Length: 0\n\n"
    )
}

/// The world, the relay, what the peer was granted, and the opened parts.
struct Relayed {
    world: World,
    relay: KamailioMsrp,
    phone: Phone,
    peer: MsrpPeer,
    /// The relay's Use-Path URI.
    relay_hop: String,
    /// Parley's `a=path` from the 200.
    parley_path: String,
    ok: SipWire,
}

impl Relayed {
    /// Both logs, for failure messages.
    fn logs(&self) -> String {
        format!(
            "--- kamailio (MSRP relay) ---\n{}\n--- parley ---\n{}",
            self.relay.log(),
            self.world.logs()
        )
    }

    async fn next_frame(&mut self) -> MsrpFrame {
        match self.peer.next_frame(WAIT).await {
            Some(frame) => frame,
            None => panic!("no MSRP frame through the relay in time\n{}", self.logs()),
        }
    }
}

/// Parley with sessions on, the relay, AUTH, then INVITE → 200 → ACK with
/// the relayed `a=path`, and the peer's To-Path set from the answer.
async fn open() -> Relayed {
    let msrp_port = free_tcp_port();
    let world = World::start(Options {
        extra: format!("[sessions]\nenabled = true\nmsrp_listen = \"127.0.0.1:{msrp_port}\"\n"),
        ..Options::default()
    });
    let relay = KamailioMsrp::start();

    // RFC 4976 §5.1: connect to the relay, AUTH, learn Use-Path.
    let mut peer = MsrpPeer::connect(relay.addr(), "", "").await;
    peer.local_uri = format!(
        "msrp://127.0.0.1:{}/{PEER_SESSION};tcp",
        peer.local_addr().port()
    );
    let grant = peer
        .auth(
            &relay.uri(),
            kamailio_msrp::USER,
            kamailio_msrp::PASSWORD,
            WAIT,
        )
        .await
        .unwrap_or_else(|refused| panic!("the relay refused AUTH: {refused:?}\n{}", relay.log()));
    assert_eq!(grant.use_path.len(), 1, "{grant:?}");
    let relay_hop = grant.use_path[0].clone();
    assert!(
        relay_hop.starts_with(&format!("msrp://127.0.0.1:{}/", relay.port))
            && relay_hop.ends_with(";tcp"),
        "§4.2: a URI of the relay with its port: {relay_hop}"
    );
    assert_eq!(grant.expires, Some(kamailio_msrp::EXPIRES_S));
    let path = grant.sdp_path(&peer.local_uri);
    assert_eq!(path, format!("{relay_hop} {}", peer.local_uri));

    let phone = Phone::bind(world.sip_addr()).await;
    phone.send(&invite(&offer(&path, relay.port))).await;
    let ok = phone.recv(false).await;
    assert!(
        matches!(ok.start, StartLine::Response { status: 200, .. }),
        "the INVITE with a relayed a=path is taken: {ok:?}\n{}",
        world.logs()
    );
    phone.send(&in_dialog(&ok, "ACK", 1)).await;
    let sdp = String::from_utf8(ok.body.to_vec()).expect("SDP is text");
    let parley_path = sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=path:"))
        .expect("the answer has a=path")
        .to_owned();
    assert!(
        parley_path.starts_with(&format!("msrp://127.0.0.1:{msrp_port}/")),
        "Parley's own URI, one hop: {parley_path}"
    );
    peer.to_path = grant.to_path(&parley_path);
    assert_eq!(peer.to_path, format!("{relay_hop} {parley_path}"));
    Relayed {
        world,
        relay,
        phone,
        peer,
        relay_hop,
        parley_path,
        ok,
    }
}

/// Whether `el` is a chat message with a body.
fn is_chat_body(el: &Element) -> bool {
    el.name() == "message" && child_text(el, "body").is_some()
}

/// RFC 4976 §6.4.1 with RFC 7573 §5: one SEND each way across Kamailio.
/// Peer → relay → Parley → Juliet, the relay's own 200 back to the peer
/// (previous hop only); Juliet → Parley → relay → peer, the relay's URI
/// moved from To-Path to the head of From-Path. Then BYE ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_cross_a_kamailio_msrp_relay_both_ways() {
    let mut s = open().await;
    let mut juliet = s.world.client("juliet").await;

    // Peer → relay → Parley (F23–F25 through a relay).
    let tid = s
        .peer
        .send(
            "rm1",
            "text/plain",
            b"Art thou not Romeo, and a Montague?",
            &[],
        )
        .await;
    let ok = s.next_frame().await;
    assert_eq!(
        (ok.transaction_id.as_str(), ok.status),
        (tid.as_str(), Some(200)),
        "{ok:?}"
    );
    // RFC 4975 §7.2 at the relay: To-Path the first From-Path URI (the
    // peer), From-Path the relay's URI.
    assert_eq!(ok.header("To-Path"), Some(s.peer.local_uri.as_str()));
    assert_eq!(ok.header("From-Path"), Some(s.relay_hop.as_str()));
    let Some(message) = juliet.recv_matching(WAIT, is_chat_body).await else {
        panic!("Juliet got no message through the relay\n{}", s.logs());
    };
    assert_eq!(
        (
            message.attr("from"),
            child_text(&message, "body").as_deref(),
            child_text(&message, "thread").as_deref(),
        ),
        (
            Some(format!("romeo@{COMPONENT}").as_str()),
            Some("Art thou not Romeo, and a Montague?"),
            Some(CALL_ID),
        ),
        "{}",
        s.logs()
    );

    // Juliet → Parley → relay → peer (F26–F28 through a relay).
    juliet
        .send_xml(&format!(
            "<message xmlns='jabber:client' to='romeo@{COMPONENT}' id='j1' type='chat'>\
             <body>Neither, fair saint, if either thee dislike.</body>\
             <thread>{CALL_ID}</thread></message>"
        ))
        .await;
    let send = s.next_frame().await;
    assert_eq!(send.method.as_deref(), Some("SEND"), "{send:?}");
    assert_eq!(send.text(), "Neither, fair saint, if either thee dislike.");
    assert_eq!(
        (send.header("To-Path"), send.header("From-Path")),
        (
            Some(s.peer.local_uri.as_str()),
            Some(format!("{} {}", s.relay_hop, s.parley_path).as_str()),
        ),
        "§6.4.1: the relay's URI moved from To-Path to the head of From-Path"
    );
    // RFC 7573 §7 as Parley applies it: no transaction response asked
    // (RFC 4975 §7.1.4: "MUST NOT send a transaction response").
    assert_eq!(send.header("Failure-Report"), Some("no"));

    // F29–F32: BYE → 200.
    s.phone.send(&in_dialog(&s.ok, "BYE", 2)).await;
    let bye_ok = s.phone.recv(true).await;
    assert!(
        matches!(bye_ok.start, StartLine::Response { status: 200, .. })
            && bye_ok.header("CSeq").as_deref() == Some("2 BYE"),
        "{bye_ok:?}"
    );
}

/// RFC 4976 §6.3: the relay checks the credentials. A wrong password gets
/// a second 401 and no Use-Path, so the grant above is Kamailio's check
/// passing, not a relay that takes anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_refuses_auth_with_a_wrong_password() {
    let relay = KamailioMsrp::start();
    let mut peer = MsrpPeer::connect(relay.addr(), "", "").await;
    peer.local_uri = format!(
        "msrp://127.0.0.1:{}/{PEER_SESSION};tcp",
        peer.local_addr().port()
    );
    let refused = peer
        .auth(&relay.uri(), kamailio_msrp::USER, "not-the-password", WAIT)
        .await
        .expect_err("a wrong password is refused");
    assert_eq!(refused.status, Some(401), "{refused:?}\n{}", relay.log());
    assert_eq!(refused.header("Use-Path"), None);
}

/// The peer's REPORT on `send`. RFC 4975 §7.1.3: "a To-Path header field
/// containing the From-Path value from the original request" (here the
/// relay, then Parley), Status 000 200, the SEND's Message-ID.
fn report_on(peer: &mut MsrpPeer, send: &MsrpFrame) -> String {
    let id = peer.new_id();
    let total = send.body.len();
    format!(
        "MSRP {id} REPORT\r\nTo-Path: {}\r\nFrom-Path: {}\r\nMessage-ID: {}\r\n\
         Byte-Range: 1-{total}/{total}\r\nStatus: 000 200 OK\r\n-------{id}$\r\n",
        send.header("From-Path").expect("a From-Path"),
        peer.local_uri,
        send.header("Message-ID").expect("a Message-ID"),
    )
}

/// RFC 4975 §7.1.3 through a relay: REPORTs carry the full path back.
/// Parley's success REPORT on the peer's SEND (sent when Juliet's
/// `<received/>` comes, RFC 7573 §7) goes to the From-Path it
/// received (the relay, then the peer) and reaches the peer with the
/// relay's URI moved to From-Path (RFC 4976 §6.4.2); the peer's REPORT on
/// Parley's SEND for a `<request/>` crosses the relay the other way and
/// becomes Juliet's `<received/>` (RFC 7573 §7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_cross_the_relay_on_the_full_path() {
    let mut s = open().await;
    let mut juliet = s.world.client("juliet").await;

    let tid = s
        .peer
        .send(
            "rm2",
            "text/plain",
            b"With love's light wings",
            &["Success-Report: yes"],
        )
        .await;
    let ok = s.next_frame().await;
    assert_eq!(
        (ok.status, ok.transaction_id.as_str()),
        (Some(200), tid.as_str()),
        "{ok:?}\n{}",
        s.logs()
    );
    let Some(message) = juliet.recv_matching(WAIT, is_chat_body).await else {
        panic!("Juliet got no message through the relay\n{}", s.logs());
    };
    assert_eq!(
        child_text(&message, "body").as_deref(),
        Some("With love's light wings")
    );
    assert!(
        message.get_child("request", "urn:xmpp:receipts").is_some(),
        "RFC 7573 §7: Success-Report: yes → <request/>: {message:?}"
    );
    // §7, Example 25: her `<received/>` is what sends the REPORT.
    let id = message.attr("id").expect("Parley gives its stanzas an id");
    juliet
        .send_xml(&format!(
            "<message xmlns='jabber:client' to='romeo@{COMPONENT}'>\
             <received xmlns='urn:xmpp:receipts' id='{id}'/></message>"
        ))
        .await;
    let report = s.next_frame().await;
    assert_eq!(report.method.as_deref(), Some("REPORT"), "{report:?}");
    assert_eq!(
        (
            report.header("To-Path"),
            report.header("From-Path"),
            report.header("Message-ID"),
            report.header("Status"),
        ),
        (
            Some(s.peer.local_uri.as_str()),
            Some(format!("{} {}", s.relay_hop, s.parley_path).as_str()),
            Some("rm2"),
            Some("000 200 OK"),
        ),
        "{report:?}"
    );

    juliet
        .send_xml(&format!(
            "<message xmlns='jabber:client' to='romeo@{COMPONENT}' id='j2' type='chat'>\
             <body>Ay me!</body><thread>{CALL_ID}</thread>\
             <request xmlns='urn:xmpp:receipts'/></message>"
        ))
        .await;
    let send = s.next_frame().await;
    assert_eq!(
        (
            send.method.as_deref(),
            send.header("Success-Report"),
            send.text()
        ),
        (Some("SEND"), Some("yes"), "Ay me!".to_owned()),
        "{send:?}"
    );
    let back = report_on(&mut s.peer, &send);
    s.peer.send_raw(back.as_bytes()).await;
    let received = juliet
        .recv_matching(WAIT, |el| {
            el.name() == "message" && el.get_child("received", "urn:xmpp:receipts").is_some()
        })
        .await;
    let Some(received) = received else {
        panic!(
            "the peer's REPORT through the relay became no <received/>\n{}",
            s.logs()
        );
    };
    assert_eq!(
        received
            .get_child("received", "urn:xmpp:receipts")
            .and_then(|r| r.attr("id")),
        Some("j2")
    );
    assert_eq!(
        received.attr("from"),
        Some(format!("romeo@{COMPONENT}").as_str())
    );
}

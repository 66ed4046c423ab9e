//! The harness's conference focus and MSRP switch, driven as Parley will
//! drive it for RFC 7702 §5 (an XMPP user joins a SIP conference): raw SIP
//! over UDP from the test (INVITE with an MSRP offer, ACK, SUBSCRIBE,
//! BYE) and the harness's RFC 4975 peer as the joining participant's MSRP
//! endpoint, against simulated participants inside the focus.

use std::net::SocketAddr;
use std::time::Duration;

use parley_harness::conference_focus::sip::{SipMessage, StartLine, param, uri_of};
use parley_harness::conference_focus::{ConferenceFocus, FocusOptions};
use parley_harness::msrp_peer::{MsrpFrame, MsrpPeer};
use tokio::net::{TcpListener, UdpSocket};

const WAIT: Duration = Duration::from_secs(5);
const JULIET: &str = "sip:juliet@example.com";
const ROMEO: &str = "sip:romeo@example.org";
const BEN: &str = "sip:ben@example.org";
/// The MSRP URI Juliet's endpoint offers (it connects, so the port is nominal).
const JULIET_MSRP: &str = "msrp://127.0.0.1:9/jshA7weztas;tcp";

/// Juliet's SIP user agent: one UDP socket, raw text out, parsed SIP in.
struct Ua {
    socket: UdpSocket,
    focus: SocketAddr,
}

impl Ua {
    async fn new(focus: SocketAddr) -> Ua {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        Ua { socket, focus }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("bound")
    }

    async fn send(&self, text: &str) {
        self.socket
            .send_to(text.as_bytes(), self.focus)
            .await
            .expect("send");
    }

    async fn next(&self, within: Duration) -> Option<SipMessage> {
        let mut buf = vec![0u8; 65_536];
        let (n, _) = tokio::time::timeout(within, self.socket.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        Some(SipMessage::parse(&buf[..n]).expect("the focus sends SIP"))
    }

    /// The next response with `status` (provisional ones skipped otherwise).
    async fn response(&self, status: u16) -> SipMessage {
        loop {
            let m = self.next(WAIT).await.expect("a response in time");
            match m.status() {
                Some(s) if s == status => return m,
                Some(s) if s < 200 => continue,
                _ => panic!("expected {status}, got {m:?}"),
            }
        }
    }

    async fn notify(&self) -> SipMessage {
        let m = self.next(WAIT).await.expect("a NOTIFY in time");
        assert_eq!(m.method(), Some("NOTIFY"), "{m:?}");
        assert!(m.status().is_none(), "a request: {m:?}");
        m
    }

    /// Answer a request from the focus with 200.
    async fn ok(&self, request: &SipMessage) {
        let h = |n: &str| request.header(n).expect("header").to_owned();
        let text = format!(
            "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
            h("Via"),
            h("From"),
            h("To"),
            h("Call-ID"),
            h("CSeq")
        );
        self.send(&text).await;
    }
}

/// RFC 7701 §9.1 F1's offer, on loopback, `a=setup` as given.
fn offer(setup: &str, path: &str) -> String {
    format!(
        "v=0\r\no=juliet 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 9 TCP/MSRP *\r\na=accept-types:message/cpim\r\na=accept-wrapped-types:text/plain text/html\r\n\
         a=path:{path}\r\na=setup:{setup}\r\na=chatroom:nickname private-messages\r\n"
    )
}

/// RFC 7702 §5.1 Example 2's INVITE (compact forms for From, To, Call-ID
/// and Via, as a UA may send them), to the focus's URI.
fn invite(ua: &Ua, room: &str, call_id: &str, sdp: &str) -> String {
    format!(
        "INVITE {room} SIP/2.0\r\nv: SIP/2.0/UDP {addr};branch=z9hG4bK{call_id}\r\nMax-Forwards: 70\r\n\
         t: <{room}>\r\nf: \"Juliet\" <{JULIET}>;tag=786\r\nm: <sip:juliet@{addr}>;gr=yn0cl4bnw0yr3vym\r\n\
         i: {call_id}\r\nCSeq: 1 INVITE\r\nc: application/sdp\r\nl: {}\r\n\r\n{sdp}",
        sdp.len(),
        addr = ua.addr()
    )
}

fn ack(ua: &Ua, room: &str, call_id: &str, to: &str) -> String {
    format!(
        "ACK {room} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKack{call_id}\r\nMax-Forwards: 70\r\n\
         To: {to}\r\nFrom: \"Juliet\" <{JULIET}>;tag=786\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        ua.addr()
    )
}

/// RFC 7702 §5.3 Example 7, outside the INVITE dialog (RFC 4579 §3: "The
/// SUBSCRIBE to the conference package SHOULD be sent outside any
/// INVITE-initiated dialog").
fn subscribe(ua: &Ua, room: &str, call_id: &str, expires: u32) -> String {
    format!(
        "SUBSCRIBE {room} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKsub{call_id}{expires}\r\nMax-Forwards: 70\r\n\
         To: <{room}>\r\nFrom: \"Juliet\" <{JULIET}>;tag=sub786\r\nContact: <sip:juliet@{addr}>\r\n\
         Call-ID: {call_id}\r\nCSeq: {} SUBSCRIBE\r\no: conference\r\nExpires: {expires}\r\n\
         Accept: application/conference-info+xml\r\nAllow-Events: conference\r\nContent-Length: 0\r\n\r\n",
        if expires == 0 { 2 } else { 1 },
        addr = ua.addr()
    )
}

fn bye(ua: &Ua, room: &str, call_id: &str, to: &str) -> String {
    format!(
        "BYE {room} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKbye{call_id}\r\nMax-Forwards: 70\r\n\
         To: {to}\r\nFrom: \"Juliet\" <{JULIET}>;tag=786\r\nCall-ID: {call_id}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        ua.addr()
    )
}

fn sdp_attr(body: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(body).lines().find_map(|l| {
        l.strip_prefix(&format!("a={name}"))
            .map(|v| v.trim_start_matches(':').to_owned())
    })
}

fn cpim(from: &str, to: &str, text: &str) -> Vec<u8> {
    format!("To: <{to}>\r\nFrom: <{from}>\r\nDateTime: 2008-10-15T15:02:31-03:00\r\n\r\nContent-Type: text/plain\r\n\r\n{text}")
        .into_bytes()
}

/// The next frame that is a request (responses to the peer's own
/// requests are returned too when `id` names one).
async fn next_frame(peer: &mut MsrpPeer) -> MsrpFrame {
    peer.next_frame(WAIT).await.expect("an MSRP frame in time")
}

async fn response_to(peer: &mut MsrpPeer, id: &str) -> MsrpFrame {
    let frame = next_frame(peer).await;
    assert_eq!(frame.transaction_id, id, "{frame:?}");
    assert!(frame.status.is_some(), "{frame:?}");
    frame
}

async fn nickname(peer: &mut MsrpPeer, value: &str) -> u16 {
    let id = peer.new_id();
    let text = format!(
        "MSRP {id} NICKNAME\r\nTo-Path: {}\r\nFrom-Path: {}\r\nUse-Nickname: {value}\r\n-------{id}$\r\n",
        peer.to_path, peer.local_uri
    );
    peer.send_raw(text.as_bytes()).await;
    response_to(peer, &id).await.status.expect("a status")
}

/// Juliet in the room: INVITE answered, ACKed, MSRP connected with its
/// bodiless SEND answered. The focus (Romeo inside), her UA, her peer,
/// and the To of the dialog.
struct Joined {
    focus: ConferenceFocus,
    ua: Ua,
    peer: MsrpPeer,
    to: String,
    call_id: String,
}

async fn join(options: FocusOptions) -> Joined {
    let focus = ConferenceFocus::start_with(options).await;
    focus.add_participant(ROMEO, "Romeo").await;
    let ua = Ua::new(focus.sip_addr()).await;
    let room = focus.uri().to_owned();
    let call_id = "BC466C1C-E01D-4FD1-B766-9AD174BAF2E7".to_owned();
    ua.send(&invite(&ua, &room, &call_id, &offer("active", JULIET_MSRP)))
        .await;
    let ok = ua.response(200).await;
    // RFC 4579 §4.2 / RFC 7702 §5.1 Example 3: the focus says it is one.
    let contact = ok.header("Contact").expect("Contact");
    assert_eq!(param(contact, "isfocus").as_deref(), Some(""), "{contact}");
    // RFC 7701 §5.2: "it MUST set the 'accept-types' attribute … to a value of 'Message/CPIM'".
    assert_eq!(
        sdp_attr(&ok.body, "accept-types").as_deref(),
        Some("message/cpim")
    );
    assert_eq!(
        sdp_attr(&ok.body, "chatroom").as_deref(),
        Some("nickname private-messages")
    );
    // RFC 6135 §4.2.2: to an active offer, passive.
    assert_eq!(sdp_attr(&ok.body, "setup").as_deref(), Some("passive"));
    let path = sdp_attr(&ok.body, "path").expect("a=path");
    let to = ok.header("To").expect("To").to_owned();
    ua.send(&ack(&ua, &room, &call_id, &to)).await;
    let mut peer = MsrpPeer::connect(focus.msrp_addr(), JULIET_MSRP, &path).await;
    // RFC 7702 §5.1 F6/F7: the bodiless SEND, answered 200.
    let id = peer.send("open1", "text/plain", b"", &[]).await;
    assert_eq!(response_to(&mut peer, &id).await.status, Some(200));
    focus
        .wait_roster(WAIT, |r| r.iter().any(|e| e.uri == JULIET))
        .await
        .expect("Juliet in the roster after her ACK");
    Joined {
        focus,
        ua,
        peer,
        to,
        call_id,
    }
}

/// The whole of RFC 7702 §5 against the focus: join (§5.1), nickname
/// (§5.2), subscription and roster (§5.3, §5.4), messages to all and
/// private (§5.5), nickname conflict (§5.6), exit (§5.8).
#[tokio::test]
async fn rfc7702_5_a_participant_joins_talks_and_leaves() {
    let Joined {
        focus,
        ua,
        mut peer,
        to,
        call_id,
    } = join(FocusOptions::new("montague")).await;
    let room = focus.uri().to_owned();

    // RFC 7701 §9.2: a nickname in use gets 425, a free one 200; §7.1 a
    // value that is not a quoted string 424.
    assert_eq!(nickname(&mut peer, "\"romeo\"").await, 425);
    assert_eq!(nickname(&mut peer, "JuliC").await, 424);
    assert_eq!(nickname(&mut peer, "\"JuliC\"").await, 200);

    // RFC 6665 §4.2.2 / RFC 4575 §3.2: 200, then a NOTIFY with full state.
    ua.send(&subscribe(&ua, &room, "sub-1", 600)).await;
    let ok = ua.response(200).await;
    assert_eq!(ok.header("Expires"), Some("600"));
    let full = ua.notify().await;
    assert_eq!(full.header("Event"), Some("conference"));
    assert_eq!(
        full.header("Content-Type"),
        Some("application/conference-info+xml")
    );
    assert!(
        full.header("Subscription-State")
            .expect("state")
            .starts_with("active;expires=")
    );
    let doc = String::from_utf8_lossy(&full.body).into_owned();
    assert!(doc.contains("state=\"full\""), "{doc}");
    assert!(
        doc.contains(&format!(
            "<user entity=\"{ROMEO}\" state=\"full\" xcon:nickname=\"Romeo\">"
        )),
        "{doc}"
    );
    assert!(
        doc.contains(&format!(
            "<user entity=\"{JULIET}\" state=\"full\" xcon:nickname=\"JuliC\">"
        )),
        "{doc}"
    );
    let version = version_of(&doc);
    ua.ok(&full).await;

    // A join is a partial NOTIFY one version higher (RFC 4575 §4.6).
    focus.add_participant(BEN, "Ben").await;
    let join = ua.notify().await;
    let doc = String::from_utf8_lossy(&join.body).into_owned();
    assert!(doc.contains("state=\"partial\""), "{doc}");
    assert_eq!(version_of(&doc), version + 1);
    assert!(
        doc.contains(&format!(
            "<user entity=\"{BEN}\" state=\"full\" xcon:nickname=\"Ben\">"
        )),
        "{doc}"
    );
    ua.ok(&join).await;

    // RFC 7701 §6.1 / RFC 7702 §5.5.1: to the room, to everyone else.
    let id = peer
        .send(
            "87652491",
            "message/cpim",
            &cpim(JULIET, &room, "Who knows where Romeo is?"),
            &[],
        )
        .await;
    assert_eq!(response_to(&mut peer, &id).await.status, Some(200));
    for who in [ROMEO, BEN] {
        let got = focus.wait_received(who, 1, WAIT).await.expect("delivered");
        assert_eq!(got[0].from, JULIET);
        assert_eq!(got[0].to, room);
        assert!(!got[0].private);
        assert_eq!(got[0].text, "Who knows where Romeo is?");
    }

    // And a simulated participant's message reaches Juliet's peer, CPIM
    // From his URI, To the room (RFC 7701 §9.3 F3).
    assert_eq!(focus.participant_send(ROMEO, "Here, love").await, Ok(2));
    let send = next_frame(&mut peer).await;
    assert_eq!(send.method.as_deref(), Some("SEND"));
    assert_eq!(send.header("Content-Type"), Some("message/cpim"));
    let text = send.text();
    assert!(
        text.contains(&format!("From: <{ROMEO}>")) && text.contains(&format!("To: <{room}>")),
        "{text}"
    );
    assert!(text.ends_with("Here, love"), "{text}");
    peer.respond(&send, 200, "OK").await;

    // RFC 7701 §6.2: private, to Ben only; by the room URI and `gr`
    // (RFC 7702 §5.5.2 Example 17), to Romeo only.
    let id = peer
        .send("p1", "message/cpim", &cpim(JULIET, BEN, "psst, Ben"), &[])
        .await;
    assert_eq!(response_to(&mut peer, &id).await.status, Some(200));
    // (Ben has Juliet's and Romeo's messages to the room before it.)
    let ben = focus
        .wait_received(BEN, 3, WAIT)
        .await
        .expect("Ben's private message");
    assert!(ben[2].private && ben[2].text == "psst, Ben", "{ben:?}");
    let gr = format!("{room};gr=Romeo");
    let id = peer
        .send("p2", "message/cpim", &cpim(JULIET, &gr, "O Romeo"), &[])
        .await;
    assert_eq!(response_to(&mut peer, &id).await.status, Some(200));
    let romeo = focus
        .wait_received(ROMEO, 2, WAIT)
        .await
        .expect("Romeo's private message");
    assert_eq!(romeo.len(), 2, "only his own private message: {romeo:?}");
    assert!(romeo[1].private && romeo[1].text == "O Romeo");
    assert_eq!(
        focus.participant_received(BEN).await.len(),
        3,
        "Ben did not get Romeo's"
    );

    // And a private one from Romeo to Juliet reaches her alone.
    assert_eq!(
        focus
            .participant_send_private(ROMEO, JULIET, "Thy Romeo")
            .await,
        Ok(1)
    );
    let send = next_frame(&mut peer).await;
    assert!(
        send.text().contains(&format!("To: <{JULIET}>")),
        "{}",
        send.text()
    );
    peer.respond(&send, 200, "OK").await;
    assert_eq!(focus.participant_received(BEN).await.len(), 3);

    // RFC 7701 §6.2 and §6.3 refusals: unknown recipient 404, two To 403,
    // someone else's From 403, no Message/CPIM 415.
    for (body, content_type, status) in [
        (cpim(JULIET, "sip:tybalt@example.org", "x"), "message/cpim", 404),
        (
            format!("To: <{ROMEO}>\r\nTo: <{BEN}>\r\nFrom: <{JULIET}>\r\n\r\nContent-Type: text/plain\r\n\r\nx").into_bytes(),
            "message/cpim",
            403,
        ),
        (cpim(ROMEO, &room, "not me"), "message/cpim", 403),
        (b"plain".to_vec(), "text/plain", 415),
    ] {
        let id = peer.send("bad", content_type, &body, &[]).await;
        assert_eq!(response_to(&mut peer, &id).await.status, Some(status), "{}", String::from_utf8_lossy(&body));
    }
    assert_eq!(
        focus.participant_received(ROMEO).await.len(),
        2,
        "nothing refused was delivered"
    );

    // RFC 4975 §7.1.3: Success-Report: yes gets a REPORT with 000 200.
    let id = peer
        .send(
            "rep1",
            "message/cpim",
            &cpim(JULIET, &room, "reported"),
            &["Success-Report: yes"],
        )
        .await;
    assert_eq!(response_to(&mut peer, &id).await.status, Some(200));
    let report = next_frame(&mut peer).await;
    assert_eq!(report.method.as_deref(), Some("REPORT"));
    assert_eq!(report.header("Message-ID"), Some("rep1"));
    assert_eq!(report.header("Status"), Some("000 200 OK"));

    // A nickname change is a partial NOTIFY.
    assert_eq!(nickname(&mut peer, "\"CapuletGirl\"").await, 200);
    let renamed = ua.notify().await;
    assert!(String::from_utf8_lossy(&renamed.body).contains("xcon:nickname=\"CapuletGirl\""));
    ua.ok(&renamed).await;

    // RFC 7702 §5.8: BYE; the roster NOTIFY deletes her, then her own
    // subscription ends; the MSRP connection closes.
    ua.send(&bye(&ua, &room, &call_id, &to)).await;
    let _ok = ua.response(200).await;
    let left = ua.notify().await;
    let doc = String::from_utf8_lossy(&left.body).into_owned();
    assert!(
        doc.contains(&format!("<user entity=\"{JULIET}\" state=\"deleted\"/>")),
        "{doc}"
    );
    ua.ok(&left).await;
    let last = ua.notify().await;
    assert_eq!(
        last.header("Subscription-State"),
        Some("terminated;reason=rejected")
    );
    ua.ok(&last).await;
    assert!(
        peer.closed_within(WAIT).await,
        "the switch closes her MSRP connection"
    );
    let roster = focus.roster().await;
    assert_eq!(
        roster.iter().map(|e| e.uri.as_str()).collect::<Vec<_>>(),
        [ROMEO, BEN]
    );
    let methods: Vec<String> = focus
        .sip_log()
        .await
        .iter()
        .filter_map(|e| match &e.message.start {
            StartLine::Request { method, .. } => Some(method.clone()),
            StartLine::Response { .. } => None,
        })
        .collect();
    assert_eq!(methods, ["INVITE", "ACK", "SUBSCRIBE", "BYE"]);
    assert!(
        focus.wait_for_subscriptions(0, WAIT).await,
        "her subscription ends once its last NOTIFY is answered"
    );
}

fn version_of(doc: &str) -> u32 {
    let root = doc.find("<conference-info").expect("a conference-info");
    let at = root + doc[root..].find("version=\"").expect("a version") + 9;
    doc[at..]
        .split('"')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a number")
}

/// RFC 3261 §17.1.2.2: an unanswered NOTIFY is sent again, Timer E
/// doubling from T1, and given up at Timer F (64·T1), which removes the
/// subscription (RFC 6665 §4.2.2).
#[tokio::test]
async fn rfc3261_17_1_2_2_unanswered_notify_is_resent_then_given_up() {
    let mut options = FocusOptions::new("room");
    options.t1 = Duration::from_millis(20);
    let focus = ConferenceFocus::start_with(options).await;
    let ua = Ua::new(focus.sip_addr()).await;
    ua.send(&subscribe(&ua, focus.uri(), "lost", 600)).await;
    let _ok = ua.response(200).await;
    let first = ua.notify().await;
    let again = ua.notify().await;
    assert_eq!(
        first.header("CSeq"),
        again.header("CSeq"),
        "the same transaction"
    );
    assert_eq!(first.body, again.body);
    let gone = focus
        .wait_for_subscriptions(0, Duration::from_secs(5))
        .await;
    assert!(gone, "the subscription is removed after Timer F");
}

/// RFC 6665 §4.2.1.4 unsubscribe: Expires 0 gets 200 and a final NOTIFY.
#[tokio::test]
async fn rfc6665_expires_zero_ends_with_a_terminated_notify() {
    let focus = ConferenceFocus::start("room").await;
    let ua = Ua::new(focus.sip_addr()).await;
    ua.send(&subscribe(&ua, focus.uri(), "poll", 0)).await;
    let _ok = ua.response(200).await;
    let notify = ua.notify().await;
    assert_eq!(
        notify.header("Subscription-State"),
        Some("terminated;reason=timeout")
    );
    assert!(String::from_utf8_lossy(&notify.body).contains("state=\"full\""));
    ua.ok(&notify).await;
}

/// Refusals on the SIP side: RFC 7702 §5.1 Example 2's `text/cpim`
/// accept-types (RFC 7701 §5.2: 488), an unknown event package (RFC 6665:
/// 489), an Accept without conference-info (406), and a datagram that is
/// not SIP, a body shorter than its Content-Length (RFC 3261 §18.3:
/// 400), after which the focus still answers (RFC 4579 §4.3 OPTIONS with
/// isfocus).
#[tokio::test]
async fn bad_requests_get_their_errors_and_the_focus_stays_up() {
    let focus = ConferenceFocus::start("room").await;
    let ua = Ua::new(focus.sip_addr()).await;
    let room = focus.uri().to_owned();
    let text_cpim =
        offer("active", JULIET_MSRP).replace("accept-types:message/cpim", "accept-types:text/cpim");
    ua.send(&invite(&ua, &room, "bad-offer", &text_cpim)).await;
    let refused = ua.response(488).await;
    assert!(
        refused
            .header("Warning")
            .expect("a Warning")
            .contains("no_message_cpim")
    );
    ua.send(&subscribe(&ua, &room, "ev", 600).replace("o: conference", "Event: presence"))
        .await;
    assert_eq!(
        ua.response(489).await.header("Allow-Events"),
        Some("conference")
    );
    ua.send(&subscribe(&ua, &room, "acc", 600).replace(
        "Accept: application/conference-info+xml",
        "Accept: application/pidf+xml",
    ))
    .await;
    let _ = ua.response(406).await;
    // RFC 3261 §18.3: a body cut short gets 400.
    let cut = invite(&ua, &room, "cut", &offer("active", JULIET_MSRP));
    ua.send(&cut[..cut.len() - 20]).await;
    let _ = ua.response(400).await;
    ua.send("\u{0}\u{1}not SIP at all\r\n\r\n").await;
    ua.send(&format!(
        "OPTIONS {room} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKopt\r\nTo: <{room}>\r\nFrom: <{JULIET}>;tag=o\r\n\
         Call-ID: opt\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        ua.addr()
    ))
    .await;
    let ok = ua.response(200).await;
    assert!(ok.header("Contact").expect("Contact").ends_with(";isfocus"));
    assert!(focus.roster().await.is_empty());
}

/// RFC 6135 §4.2.2: to a passive offer the focus answers active and
/// connects, then "must immediately send an MSRP SEND request".
#[tokio::test]
async fn rfc6135_4_2_2_focus_connects_to_a_passive_offer() {
    let focus = ConferenceFocus::start("room").await;
    let ua = Ua::new(focus.sip_addr()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let path = format!(
        "msrp://{}/passive1;tcp",
        listener.local_addr().expect("bound")
    );
    ua.send(&invite(
        &ua,
        focus.uri(),
        "passive",
        &offer("passive", &path),
    ))
    .await;
    let ok = ua.response(200).await;
    assert_eq!(sdp_attr(&ok.body, "setup").as_deref(), Some("active"));
    let focus_path = sdp_attr(&ok.body, "path").expect("a=path");
    let mut peer = MsrpPeer::accept(&listener, &path, &focus_path, WAIT)
        .await
        .expect("the focus connects");
    let opening = next_frame(&mut peer).await;
    assert_eq!(opening.method.as_deref(), Some("SEND"));
    assert!(opening.body.is_empty());
    assert_eq!(opening.header("To-Path"), Some(path.as_str()));
}

/// RFC 7701 §9.5: a private message in two chunks is delivered once whole.
#[tokio::test]
async fn rfc7701_9_5_chunked_private_message_is_delivered_whole() {
    let Joined {
        focus, mut peer, ..
    } = join(FocusOptions::new("chatroom22")).await;
    let body = cpim(JULIET, ROMEO, "Hello Romeo");
    let (first, rest) = body.split_at(40);
    let total = body.len();
    let id = peer
        .send_chunk(
            "aft4to",
            "message/cpim",
            first,
            &format!("1-40/{total}"),
            '+',
            &[],
        )
        .await;
    assert_eq!(response_to(&mut peer, &id).await.status, Some(200));
    assert!(
        focus.participant_received(ROMEO).await.is_empty(),
        "not before the last chunk"
    );
    let id = peer
        .send_chunk(
            "aft4to",
            "message/cpim",
            rest,
            &format!("41-{total}/{total}"),
            '$',
            &[],
        )
        .await;
    assert_eq!(response_to(&mut peer, &id).await.status, Some(200));
    let got = focus
        .wait_received(ROMEO, 1, WAIT)
        .await
        .expect("delivered");
    assert!(got[0].private && got[0].text == "Hello Romeo", "{got:?}");
}

/// For hostile tests: `notify_raw` sends what it is given (here not XML,
/// then a large user list) on the subscription, in order.
#[tokio::test]
async fn notify_raw_sends_hostile_bodies_in_order() {
    let focus = ConferenceFocus::start("room").await;
    let ua = Ua::new(focus.sip_addr()).await;
    ua.send(&subscribe(&ua, focus.uri(), "hostile", 600)).await;
    let _ok = ua.response(200).await;
    let full = ua.notify().await;
    assert_eq!(
        focus
            .notify_raw(JULIET, "application/conference-info+xml", b"<not xml")
            .await,
        1
    );
    let users: String = (0..5000)
        .map(|i| format!("<user entity=\"sip:u{i}@x\" state=\"full\"/>"))
        .collect();
    let huge = format!(
        "<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\" entity=\"x\" state=\"full\" version=\"9\"><users>{users}</users></conference-info>"
    );
    assert!(huge.len() > 60_000);
    focus
        .notify_raw(
            JULIET,
            "application/conference-info+xml",
            &huge.as_bytes()[..60_000],
        )
        .await;
    ua.ok(&full).await;
    let raw = ua.notify().await;
    assert_eq!(raw.body, b"<not xml");
    ua.ok(&raw).await;
    let big = ua.notify().await;
    assert_eq!(big.body.len(), 60_000);
    assert_eq!(uri_of(big.header("To").expect("To")), JULIET);
}

/// Bytes that are not MSRP close that participant's connection, and the
/// switch keeps serving the others.
#[tokio::test]
async fn what_is_not_msrp_closes_that_connection_only() {
    let Joined {
        focus, mut peer, ..
    } = join(FocusOptions::new("room")).await;
    focus.add_participant(BEN, "Ben").await;
    assert!(
        focus
            .send_raw_msrp(JULIET, b"MSRP x1 SEND\r\n-------x1$\r\n")
            .await
    );
    let raw = next_frame(&mut peer).await;
    assert_eq!(raw.transaction_id, "x1");
    peer.send_raw(b"GET / HTTP/1.1\r\n\r\n").await;
    assert!(peer.closed_within(WAIT).await);
    // Ben gets it; Juliet's connection is gone, so she does not.
    assert_eq!(focus.participant_send(ROMEO, "still here").await, Ok(1));
    assert_eq!(focus.participant_received(BEN).await.len(), 1);
}

/// RFC 7702 §5.3 Example 7: the SUBSCRIBE inside the INVITE dialog (its
/// Call-ID and To tag), to a conference named in Parley's SIP domain; the
/// NOTIFYs come in that dialog. Then the focus ends her session itself:
/// a BYE, the roster change, the end of her subscription.
#[tokio::test]
async fn rfc7702_5_3_subscription_in_the_invite_dialog_and_a_bye_from_the_focus() {
    let mut options = FocusOptions::new("montague");
    options.domain = Some("chat.example.org".into());
    let Joined {
        focus,
        ua,
        mut peer,
        to,
        call_id,
    } = join(options).await;
    assert_eq!(focus.uri(), "sip:montague@chat.example.org");
    let sub = format!(
        "SUBSCRIBE sip:montague@chat.example.org SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKex7\r\n\
         Max-Forwards: 70\r\nTo: {to}\r\nFrom: \"Juliet\" <{JULIET}>;tag=786\r\n\
         Contact: <sip:juliet@{addr}>;gr=yn0cl4bnw0yr3vym\r\nCall-ID: {call_id}\r\nCSeq: 3 SUBSCRIBE\r\n\
         Event: conference\r\nExpires: 600\r\nAccept: application/conference-info+xml\r\n\
         Allow-Events: conference\r\nContent-Length: 0\r\n\r\n",
        addr = ua.addr()
    );
    ua.send(&sub).await;
    let ok = ua.response(200).await;
    assert_eq!(
        ok.header("To"),
        Some(to.as_str()),
        "the INVITE dialog's tag"
    );
    let full = ua.notify().await;
    assert_eq!(full.header("Call-ID"), Some(call_id.as_str()));
    assert_eq!(full.cseq(), Some((1, "NOTIFY")));
    let from = full.header("From").expect("From");
    assert_eq!(uri_of(from), "sip:montague@chat.example.org");
    assert_eq!(param(from, "tag"), param(&to, "tag"));
    assert!(
        String::from_utf8_lossy(&full.body)
            .contains("entity=\"sip:montague@chat.example.org\" state=\"full\""),
        "RFC 7702 Table 2: the entity is the room"
    );
    ua.ok(&full).await;

    // To the room by its URI in Parley's domain (RFC 7702 §5.5.1 Example 13).
    let id = peer
        .send(
            "87652491",
            "message/cpim",
            &cpim(JULIET, "sip:montague@chat.example.org", "hi all"),
            &[],
        )
        .await;
    assert_eq!(response_to(&mut peer, &id).await.status, Some(200));
    assert_eq!(
        focus
            .wait_received(ROMEO, 1, WAIT)
            .await
            .expect("delivered")[0]
            .text,
        "hi all"
    );

    assert!(focus.bye(JULIET).await);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let m = ua.next(WAIT).await.expect("BYE and two NOTIFYs");
        if m.method() == Some("NOTIFY") {
            seen.push(m.header("Subscription-State").expect("state").to_owned());
        } else {
            assert_eq!(m.method(), Some("BYE"));
            assert_eq!(m.header("Call-ID"), Some(call_id.as_str()));
            assert_eq!(
                m.header("To").map(|t| param(t, "tag")),
                Some(Some("786".into()))
            );
            seen.push("BYE".into());
        }
        ua.ok(&m).await;
    }
    assert_eq!(seen[0], "BYE");
    assert!(seen[1].starts_with("active;"), "{seen:?}");
    assert_eq!(seen[2], "terminated;reason=rejected");
    assert!(peer.closed_within(WAIT).await);
    assert_eq!(focus.roster().await.len(), 1);
}

/// RFC 3261 §13.3.1.4: the 2xx is resent until the ACK; a retransmitted
/// INVITE gets the same answer; with no ACK by 64·T1 the focus ends the
/// session with a BYE, and nobody joined.
#[tokio::test]
async fn rfc3261_13_3_1_4_unacked_2xx_is_resent_then_ended_with_bye() {
    let mut options = FocusOptions::new("room");
    options.t1 = Duration::from_millis(20);
    let focus = ConferenceFocus::start_with(options).await;
    let ua = Ua::new(focus.sip_addr()).await;
    let invite = invite(&ua, focus.uri(), "no-ack", &offer("active", JULIET_MSRP));
    ua.send(&invite).await;
    let first = ua.response(200).await;
    let again = ua.response(200).await;
    assert_eq!(first, again, "Timer G resends the same 2xx");
    ua.send(&invite).await;
    loop {
        let m = ua.next(WAIT).await.expect("2xx again, then the BYE");
        if m.status() == Some(200) {
            assert_eq!(m.header("To"), first.header("To"), "one dialog");
            continue;
        }
        assert_eq!(m.method(), Some("BYE"), "{m:?}");
        ua.ok(&m).await;
        break;
    }
    assert!(focus.roster().await.is_empty());
    let answered = focus
        .wait_sip(WAIT, |e| {
            e.message.status() == Some(200) && e.message.method() == Some("BYE")
        })
        .await;
    assert!(answered.is_some(), "the focus saw the 200 to its BYE");
}

/// RFC 7702 §5.7 Example 23 (a mediated invitation as REFER to the focus)
/// and RFC 4579 §5.5 Figure 5: 202 Accepted, NOTIFY (Trying), the focus
/// "dials out" (here: the invitee becomes a simulated participant),
/// NOTIFY (OK) ending the implicit subscription.
#[tokio::test]
async fn rfc7702_5_7_refer_brings_the_invitee_in() {
    let Joined {
        focus, ua, call_id, ..
    } = join(FocusOptions::new("montague")).await;
    let room = focus.uri().to_owned();
    let refer = format!(
        "REFER {room} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKrefer\r\nMax-Forwards: 70\r\n\
         To: <{room}>\r\nFrom: \"Juliet\" <{JULIET}>;tag=786\r\nCall-ID: {call_id}\r\nCSeq: 5 REFER\r\n\
         Contact: <sip:juliet@{addr}>;gr=yn0cl4bnw0yr3vym\r\nAccept: message/sipfrag\r\n\
         Refer-To: <sip:benvolio@example.com>\r\nSupported: replaces\r\nContent-Length: 0\r\n\r\n",
        addr = ua.addr()
    );
    ua.send(&refer).await;
    let accepted = ua.response(202).await;
    assert!(
        accepted
            .header("Contact")
            .expect("Contact")
            .ends_with(";isfocus")
    );
    let trying = ua.notify().await;
    assert_eq!(trying.header("Event"), Some("refer;id=5"));
    assert_eq!(
        trying.header("Content-Type"),
        Some("message/sipfrag;version=2.0")
    );
    assert_eq!(trying.body, b"SIP/2.0 100 Trying\r\n");
    assert_eq!(
        param(trying.header("From").expect("From"), "tag"),
        param(accepted.header("To").expect("To"), "tag")
    );
    ua.ok(&trying).await;
    let done = ua.notify().await;
    assert_eq!(done.body, b"SIP/2.0 200 OK\r\n");
    assert_eq!(
        done.header("Subscription-State"),
        Some("terminated;reason=noresource")
    );
    ua.ok(&done).await;
    let roster = focus.roster().await;
    let benvolio = roster
        .iter()
        .find(|e| e.uri == "sip:benvolio@example.com")
        .expect("in the roster");
    assert_eq!(benvolio.nickname.as_deref(), Some("benvolio"));
    // Two Refer-To headers are refused.
    ua.send(&refer.replace("CSeq: 5 REFER", "CSeq: 6 REFER").replace(
        "Refer-To: <sip:benvolio@example.com>",
        "Refer-To: <sip:a@example.com>\r\nRefer-To: <sip:b@example.com>",
    ))
    .await;
    let _ = ua.response(400).await;
}

/// The API's futures are `Send`, so a test can drive the focus from a
/// spawned task.
#[tokio::test]
async fn the_api_can_be_used_from_spawned_tasks() {
    let focus = std::sync::Arc::new(ConferenceFocus::start("room").await);
    let f = focus.clone();
    let task = tokio::spawn(async move {
        f.add_participant(ROMEO, "Romeo").await;
        f.add_participant(BEN, "Ben").await;
        f.participant_send(ROMEO, "hi").await
    });
    assert_eq!(task.await.expect("the task"), Ok(1));
    let f = focus.clone();
    let waited = tokio::spawn(async move { f.wait_received(BEN, 1, WAIT).await });
    assert_eq!(
        waited.await.expect("the task").expect("delivered")[0].text,
        "hi"
    );
}

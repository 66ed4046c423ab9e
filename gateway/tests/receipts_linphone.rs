//! A real phone on the SIP side of a receipt: linphone-cli 5.1 (Debian
//! package `linphone-cli`, headless `linphonec`, no sound card) receives an
//! XMPP message that asked for a receipt (XEP-0184), sent by Parley as CPIM
//! with an RFC 5438 request, and answers with its own delivery notification,
//! which reaches the XMPP sender as `<received id/>`.
//!
//! linphone holds its IMDNs until its account is registered ("Proxy config
//! not registered, will wait to send pending IMDNs"), so the test gives it a
//! registrar: a loopback UDP socket that answers REGISTER with 200, passes
//! every other request on to Parley unchanged and Parley's responses back
//! (Parley answers the source of a request, RFC 3581 §4, i.e. the registrar).
//!
//! The other side: linphone asking for a receipt. linphone 5.1 sends CPIM,
//! and with it the RFC 5438 request, in a basic (one-to-one, non-Flexisip)
//! chat room only when `BasicChatRoom::canHandleCpim()`
//! (src/chat/chat-room/basic-chat-room.cpp) finds the account whose identity
//! is the room's local address with `cpim_in_basic_chat_rooms_enabled`. In
//! 5.1.x `AccountParams` (src/account/account-params.cpp) reads that key with
//! `linphone_config_get_default_int`, i.e. from `[proxy_default_values]` /
//! `[proxy_N_default_values]`, never from `[proxy_N]` (fixed in 5.2, commit
//! 7ffa1c1e5). `[proxy_default_values]` works for both.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use parley_harness::linphone::Linphone;
use parley_harness::port::free_udp_tcp_port;
use support::{COMPONENT, Options, World, XMPP_DOMAIN, child_text};

const NS_RECEIPTS: &str = "urn:xmpp:receipts";
const NS_CHAT_MARKERS: &str = "urn:xmpp:chat-markers:0";

/// The registrar-and-forwarder linphone uses as its proxy; stops when dropped.
struct Registrar {
    addr: SocketAddr,
    registered: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Registrar {
    fn start(forward_to: SocketAddr) -> Registrar {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind registrar");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let addr = socket.local_addr().expect("addr");
        let registered = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let registered = Arc::clone(&registered);
            let stop = Arc::clone(&stop);
            move || {
                let mut buf = vec![0u8; 65_536];
                let mut phone: Option<SocketAddr> = None;
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    let datagram = &buf[..n];
                    if from == forward_to {
                        // Parley's answer to a request passed on: it went to
                        // the source (RFC 3581 §4), so pass it back.
                        if let Some(phone) = phone.filter(|_| datagram.starts_with(b"SIP/2.0")) {
                            let _ = socket.send_to(datagram, phone);
                        }
                        continue;
                    }
                    phone = Some(from);
                    if datagram.starts_with(b"REGISTER ") {
                        let _ = socket.send_to(&register_ok(datagram), from);
                        registered.fetch_add(1, Ordering::Relaxed);
                    } else if !datagram.starts_with(b"SIP/2.0") {
                        let _ = socket.send_to(datagram, forward_to);
                    }
                }
            }
        });
        Registrar {
            addr,
            registered,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Registrar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// RFC 3261 §10.3: 200 OK to a REGISTER, echoing Via, From, To (+ tag),
/// Call-ID, CSeq and Contact, with an hour's expiry.
fn register_ok(request: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(request);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for line in head.split("\r\n").skip(1) {
        let name = line.split(':').next().unwrap_or_default().trim();
        match name.to_ascii_lowercase().as_str() {
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" => {
                out.push_str(line);
                out.push_str("\r\n");
            }
            "to" | "t" => {
                out.push_str(line);
                out.push_str(";tag=reg\r\n");
            }
            "contact" | "m" => {
                out.push_str(line);
                out.push_str(";expires=3600\r\n");
            }
            _ => {}
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out.into_bytes()
}

/// linphonec as `bob@COMPONENT` on `port`, registered at `registrar`; killed when dropped.
fn start_linphone(port: u16, registrar: SocketAddr, extra_rc: &str) -> Linphone {
    Linphone::start(&format!(
        "[sip]\nsip_port={port}\nsip_tcp_port=-1\nsip_tls_port=-1\ndefault_proxy=0\n\
                 contact=<sip:bob@{COMPONENT}>\n\
                 [proxy_0]\nreg_proxy=<sip:{registrar};transport=udp>\n\
                 reg_route=<sip:{registrar};transport=udp;lr>\n\
                 reg_identity=<sip:bob@{COMPONENT}>\nreg_sendregister=1\nreg_expires=3600\npublish=0\n\
                 [video]\nenabled=0\n[sound]\nechocancellation=0\n{extra_rc}"
    ))
}

/// linphonec on `port`, registered at a [`Registrar`] in front of `world`'s Parley.
async fn registered_phone(world: &World, port: u16, extra_rc: &str) -> (Registrar, Linphone) {
    let registrar = Registrar::start(world.sip_addr());
    let phone = start_linphone(port, registrar.addr, extra_rc);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while registrar.registered.load(Ordering::Relaxed) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "linphonec never registered:\n{}",
            phone.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (registrar, phone)
}

/// The chat-message state changes in a linphone log, in order: (from, to),
/// from liblinphone's "Chat message 0x… of chat room … : moving from A to B".
fn message_states(log: &str) -> Vec<(String, String)> {
    log.lines()
        .filter_map(|line| {
            let change = line
                .split_once("Chat message ")?
                .1
                .split_once(" : moving from ")?
                .1;
            let (from, to) = change.split_once(" to ")?;
            Some((from.to_owned(), to.trim().to_owned()))
        })
        .collect()
}

/// The states linphone's one outgoing message has moved to so far. Not told
/// apart by its pointer: after the 200 liblinphone drops the object and the
/// IMDN finds the message again in its database, under a new one. Messages
/// received (the IMDNs themselves) only ever move from Idle to Delivered;
/// the outgoing one goes Idle → InProgress, and then never from Idle.
fn sent_message_states(log: &str) -> Vec<String> {
    message_states(log)
        .into_iter()
        .filter(|(from, to)| from != "Idle" || to == "InProgress")
        .map(|(_, to)| to)
        .collect()
}

/// Wait (≤ 15 s) until linphone's log holds `text`; the caller asserts it.
async fn wait_for_log(phone: &Linphone, text: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !phone.log().contains(text) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait (≤ 15 s) until linphone's outgoing message has reached `state`.
async fn wait_for_state(phone: &Linphone, world: &World, state: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !sent_message_states(&phone.log()).iter().any(|s| s == state) {
        assert!(
            std::time::Instant::now() < deadline,
            "linphone's message never reached {state} (states: {:?})\n--- linphone ---\n{}\n--- parley ---\n{}",
            sent_message_states(&phone.log()),
            phone.log(),
            world.parley.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// 1. XEP-0184 `<request/>` → RFC 5438 request to linphone → linphone's own
///    IMDN (bare `message/imdn+xml`, deflated) → `<received id/>` at juliet.
/// 2. linphone's reply in that conversation, which linphonec sends as plain
///    text asking for nothing ("Chat room doesn't support CPIM": this phone
///    has no `cpim_in_basic_chat_rooms_enabled`), reaches juliet without a
///    `<request/>`: no receipt request is invented.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphone_answers_a_receipt_request_with_its_own_imdn() {
    let phone_port = free_udp_tcp_port();
    let world = World::start(Options {
        outbound_proxy: Some(format!("sip:127.0.0.1:{phone_port}")),
        ..Options::default()
    });
    let (_registrar, mut phone) = registered_phone(&world, phone_port, "").await;
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' id='lp1' type='chat'><body>hello linphone</body>\
             <request xmlns='{NS_RECEIPTS}'/></message>"
        ))
        .await;
    let Some(received) = juliet
        .recv_matching(Duration::from_secs(15), |e| {
            e.get_child("received", NS_RECEIPTS).is_some()
        })
        .await
    else {
        panic!(
            "no <received/> from linphone\n--- linphone ---\n{}\n--- parley ---\n{}",
            phone.log(),
            world.parley.log()
        )
    };
    assert_eq!(received.attr("from"), Some(&*format!("bob@{COMPONENT}")));
    let r = received
        .get_child("received", NS_RECEIPTS)
        .expect("received");
    assert_eq!(r.attr("id"), Some("lp1"));

    // 2. linphone answers in the same chat room (peer = juliet's GRUU).
    let resource = juliet.jid().split_once('/').expect("full JID").1.to_owned();
    phone.command(&format!(
        "chat sip:juliet@{XMPP_DOMAIN};gr={resource} reply from linphone"
    ));
    let Some(reply) = juliet
        .recv_matching(Duration::from_secs(15), |e| {
            e.name() == "message" && child_text(e, "body").is_some()
        })
        .await
    else {
        panic!(
            "no reply from linphone\n--- linphone ---\n{}\n--- parley ---\n{}",
            phone.log(),
            world.parley.log()
        )
    };
    assert_eq!(
        child_text(&reply, "body").as_deref(),
        Some("reply from linphone")
    );
    assert!(
        reply.get_child("request", NS_RECEIPTS).is_none(),
        "{}",
        String::from(&reply)
    );
    let printed = phone.stop();
    assert!(
        printed.contains(&format!("Message received from sip:juliet@{XMPP_DOMAIN}")),
        "{printed}"
    );
}

/// The other side of a receipt: linphone asks. With
/// `cpim_in_basic_chat_rooms_enabled` (see the top of this file) linphonec's
/// `chat` sends CPIM with `imdn.Message-ID` and `imdn.Disposition-Notification:
/// positive-delivery, negative-delivery, display`; juliet gets the text with
/// XEP-0184 `<request/>` and XEP-0333 `<markable/>`; her `<received id/>` and
/// `<displayed id/>` become Parley's IMDNs, which linphone takes (200) and
/// applies to its message: InProgress → Delivered (Parley's 200) →
/// DeliveredToUser → Displayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphone_asks_for_a_receipt_and_gets_parleys_imdn() {
    linphone_asks(false).await;
}

/// The same, with linphone writing to juliet's GRUU, as a reply in a
/// conversation she started does (Parley's From for her is
/// `sip:juliet@…;gr=<resource>`). linphone files an incoming IMDN under the
/// chat room of its SIP From and looks for the message there ("Received IMDN
/// for unknown message" otherwise), so Parley's IMDN must come from that GRUU,
/// not from juliet's AOR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphone_writing_to_a_gruu_gets_the_imdn_from_that_gruu() {
    linphone_asks(true).await;
}

/// linphone sends juliet a message asking for IMDNs, to her AOR or (`gruu`)
/// to her GRUU; her receipt and marker must reach linphone's message.
async fn linphone_asks(gruu: bool) {
    let phone_port = free_udp_tcp_port();
    let world = World::start(Options {
        outbound_proxy: Some(format!("sip:127.0.0.1:{phone_port}")),
        ..Options::default()
    });
    let (_registrar, mut phone) = registered_phone(
        &world,
        phone_port,
        "[proxy_default_values]\ncpim_in_basic_chat_rooms_enabled=1\n",
    )
    .await;
    let mut juliet = world.client("juliet").await;
    let to = match juliet.jid().split_once('/') {
        Some((_, resource)) if gruu => format!("sip:juliet@{XMPP_DOMAIN};gr={resource}"),
        _ => format!("sip:juliet@{XMPP_DOMAIN}"),
    };
    phone.command(&format!("chat {to} hello from linphone"));
    let Some(message) = juliet
        .recv_matching(Duration::from_secs(15), |e| {
            e.name() == "message" && child_text(e, "body").is_some()
        })
        .await
    else {
        panic!(
            "no message from linphone\n--- linphone ---\n{}\n--- parley ---\n{}",
            phone.log(),
            world.parley.log()
        )
    };
    let shown = String::from(&message);
    assert_eq!(message.attr("from"), Some(&*format!("bob@{COMPONENT}")));
    assert_eq!(
        child_text(&message, "body").as_deref(),
        Some("hello from linphone"),
        "{shown}"
    );
    assert!(
        message.get_child("request", NS_RECEIPTS).is_some(),
        "{shown}"
    );
    assert!(
        message.get_child("markable", NS_CHAT_MARKERS).is_some(),
        "{shown}"
    );
    let id = message.attr("id").expect("stanza id").to_owned();

    // What linphone asked for, in its own words (its log file can lag the
    // message itself, which reaches juliet within a millisecond).
    let asked = "imdn.Disposition-Notification: positive-delivery";
    wait_for_log(&phone, asked).await;
    let log = phone.log();
    assert!(log.contains(asked), "{log}");
    let asked_id = log
        .lines()
        .find_map(|l| l.strip_prefix("imdn.Message-ID: "))
        .expect("linphone's imdn.Message-ID")
        .trim()
        .to_owned();

    // Parley's 200 to the MESSAGE (after the delivery window) is not a receipt.
    wait_for_state(&phone, &world, "Delivered").await;
    assert!(!sent_message_states(&phone.log()).contains(&"DeliveredToUser".to_owned()));

    juliet
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' type='chat'><received xmlns='{NS_RECEIPTS}' id='{id}'/></message>"
        ))
        .await;
    wait_for_state(&phone, &world, "DeliveredToUser").await;
    let log = phone.log();
    assert!(
        log.contains(&format!("<message-id>{asked_id}</message-id>")),
        "{log}"
    );
    assert!(!log.contains("Received IMDN for unknown message"), "{log}");
    // From the address linphone wrote to, in SIP and in CPIM.
    assert!(log.contains(&format!("From: <{to}>;tag=")), "{log}");
    let cpim_from = format!("From: <{to}>");
    assert!(log.lines().any(|l| l.trim_end() == cpim_from), "{log}");

    juliet
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' type='chat'><displayed xmlns='{NS_CHAT_MARKERS}' id='{id}'/></message>"
        ))
        .await;
    wait_for_state(&phone, &world, "Displayed").await;
    assert_eq!(
        sent_message_states(&phone.log()),
        ["InProgress", "Delivered", "DeliveredToUser", "Displayed"]
    );
    phone.stop();
}

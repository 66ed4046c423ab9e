//! What real phones send (bytes captured from linphone 5.1 and baresip 1.0),
//! replayed at parley with only the addresses changed: a `message/cpim` body is
//! unwrapped to its inner text (RFC 3862, RFC 7572 §5), a plain message without
//! charset is UTF-8, and a deflated CPIM isComposing (RFC 3261 §20.12, RFC 3994)
//! becomes an XEP-0085 chat state, never a visible text message.

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use support::{COMPONENT, Options, World, XMPP_DOMAIN, child_text};

/// The captured request, readdressed to juliet via this parley, from `alice@COMPONENT`.
fn readdress(fixture: &[u8], via: std::net::SocketAddr) -> Vec<u8> {
    let split = fixture
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head ends")
        + 4;
    let (head, body) = fixture.split_at(split);
    let head = String::from_utf8(head.to_vec()).expect("ASCII head");
    let mut out = String::new();
    for line in head.split_inclusive("\r\n") {
        if line.starts_with("Route:") {
            continue;
        }
        if line.starts_with("Via:") {
            out.push_str(&format!(
                "Via: SIP/2.0/UDP {via};branch=z9hG4bK-replay-{};rport\r\n",
                via.port()
            ));
            continue;
        }
        out.push_str(
            &line
                .replace("juliet@localhost", &format!("juliet@{XMPP_DOMAIN}"))
                .replace("sip.localhost", COMPONENT),
        );
    }
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn replay(world: &World, fixture: &[u8]) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let request = readdress(fixture, socket.local_addr().expect("addr"));
    socket.send_to(&request, world.sip_addr()).expect("send");
    let mut buf = [0u8; 4096];
    loop {
        let (n, _) = socket.recv_from(&mut buf).expect("a final response");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with("SIP/2.0 1") {
            return text;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphone_cpim_message_is_unwrapped_to_its_inner_text() {
    let world = World::start(Options::default());
    let mut juliet = world.client("juliet").await;
    let fixture = include_bytes!("fixtures/linphone-5.1-message-cpim-imdn.sip");
    let answer = tokio::task::block_in_place(|| replay(&world, fixture));
    assert!(
        answer.starts_with("SIP/2.0 200"),
        "{answer}\n{}",
        world.parley.log()
    );
    let got = juliet
        .recv_matching(Duration::from_secs(5), |e| e.name() == "message")
        .await
        .expect("juliet gets the message");
    assert_eq!(got.attr("from"), Some(&*format!("alice@{COMPONENT}")));
    assert_eq!(
        child_text(&got, "body").as_deref(),
        Some("CPIM héllo ✓ <&>")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_plain_message_without_charset_is_utf8() {
    let world = World::start(Options::default());
    let mut juliet = world.client("juliet").await;
    let fixture = include_bytes!("fixtures/baresip-1.0-message.sip");
    let answer = tokio::task::block_in_place(|| replay(&world, fixture));
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    let got = juliet
        .recv_matching(Duration::from_secs(5), |e| e.name() == "message")
        .await
        .expect("juliet gets the message");
    assert_eq!(
        child_text(&got, "body").as_deref(),
        Some("Hello from baresip é ✓ <&>")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphone_deflated_iscomposing_becomes_a_chat_state_not_text() {
    let world = World::start(Options::default());
    let mut juliet = world.client("juliet").await;
    let fixture = include_bytes!("fixtures/linphone-5.1-iscomposing.sip");
    let answer = tokio::task::block_in_place(|| replay(&world, fixture));
    assert!(
        answer.starts_with("SIP/2.0 200"),
        "{answer}\n{}",
        world.parley.log()
    );
    let got = juliet
        .recv_matching(Duration::from_secs(5), |e| e.name() == "message")
        .await
        .expect("juliet gets the chat state");
    assert!(
        got.get_child("composing", "http://jabber.org/protocol/chatstates")
            .is_some(),
        "{}",
        String::from(&got)
    );
    assert!(child_text(&got, "body").is_none(), "{}", String::from(&got));
}

//! Design §5 and issue 7, end to end with Prosody, sipp and the `parley`
//! binary: a SIP source over `limits.sip_requests_per_second` gets 503 with
//! Retry-After (RFC 3261 §21.5.4) while another source is served; an XMPP
//! sender over `limits.xmpp_stanzas_per_second` with `limits.xmpp_sender_queue`
//! full gets `resource-constraint` (RFC 6120 §8.3.3.18) while another is
//! served (`xmpp_burst.rs` has the shaping in full); a user at
//! `limits.subscriptions_per_user` gets `policy-violation` (§8.3.3.12). Every
//! refusal is counted in `parley_limit_rejections_total`.

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use parley_harness::sipp::SippTransport;
use support::{COMPONENT, Options, SipMessage, World, XMPP_DOMAIN, error_condition, uas_message};

/// An OPTIONS from a user of another domain (not a claim on ours, so an
/// untrusted source may send it).
fn options(branch: &str, from: &str) -> String {
    format!(
        "OPTIONS sip:{COMPONENT} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@other.example>;tag={branch}\r\n\
         To: <sip:{COMPONENT}>\r\n\
         Call-ID: {branch}@flood\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// A response's Call-ID, status and Retry-After value.
fn call_id_status_and_retry_after(datagram: &[u8]) -> (String, u16, Option<String>) {
    let text = String::from_utf8_lossy(datagram);
    let status = text
        .get(8..11)
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let header = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
    };
    (
        header("Call-ID:").unwrap_or_default(),
        status,
        header("Retry-After:"),
    )
}

/// RFC 3261 §21.5.4, §20.33: a source over its rate gets 503 with
/// Retry-After; another source address (127.0.0.2 vs 127.0.0.1) is served.
/// 127.0.0.1 is a trusted peer here, so it is not rate limited at all.
///
/// The source sends ten OPTIONS at once against a rate of 1/s with a burst of
/// 3. The first three are always served (a new source's bucket is full); of
/// the other seven, at most one more per second that passed can be (the
/// bucket refills at 1/s): so the test holds on a slow machine too, and
/// still sees 503s unless answering ten datagrams took about seven seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_over_its_rate_gets_503_with_retry_after_while_another_is_served() {
    const SENT: usize = 10;
    const BURST: usize = 3;
    let world = World::start(Options {
        sip_extra: "trusted_peers = [\"127.0.0.1/32\"]\n".into(),
        extra: format!("[limits]\nsip_requests_per_second = 1\nsip_request_burst = {BURST}\n"),
        ..Options::default()
    });
    let mut juliet = world.client("juliet").await;

    let flooder = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    flooder
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let local = flooder.local_addr().expect("addr").to_string();
    let started = Instant::now();
    for i in 0..SENT {
        flooder
            .send_to(
                options(&format!("f{i}"), &local).as_bytes(),
                world.sip_addr(),
            )
            .expect("send");
    }
    // Seven refusals stay under the default 10 before UDP silence: every
    // OPTIONS is answered.
    let mut answers: Vec<Option<(u16, Option<String>)>> = vec![None; SENT];
    for _ in 0..SENT {
        let mut buf = [0u8; 4096];
        let (n, _) = flooder.recv_from(&mut buf).unwrap_or_else(|e| {
            panic!(
                "an answer to each OPTIONS ({e}): {answers:?}\n{}",
                world.parley.log()
            )
        });
        let (call_id, status, retry) = call_id_status_and_retry_after(&buf[..n]);
        let i: usize = call_id
            .strip_prefix('f')
            .and_then(|c| c.strip_suffix("@flood"))
            .and_then(|i| i.parse().ok())
            .unwrap_or_else(|| panic!("answer to what? {call_id}"));
        answers[i] = Some((status, retry));
    }
    // Parley decided every answer within this time.
    let elapsed = started.elapsed();
    let answers: Vec<(u16, Option<String>)> = answers.into_iter().flatten().collect();
    let log = || format!("{answers:?} in {elapsed:?}\n{}", world.parley.log());
    assert_eq!(answers.len(), SENT, "one answer each: {}", log());
    assert!(
        answers[..BURST].iter().all(|a| *a == (200, None)),
        "the burst is served: {}",
        log()
    );
    let served = answers.iter().filter(|a| a.0 == 200).count();
    let refill = usize::try_from(elapsed.as_secs()).unwrap_or(usize::MAX) + 1;
    assert!(
        served <= BURST + refill,
        "at most the burst and one per second that passed: {}",
        log()
    );
    let refused: Vec<_> = answers.iter().filter(|a| a.0 != 200).collect();
    assert!(
        !refused.is_empty(),
        "ten at once over a 1/s rate with a burst of 3: {}",
        log()
    );
    assert!(
        refused.iter().all(|a| **a == (503, Some("1".to_owned()))),
        "RFC 3261 §21.5.4: 503 with Retry-After (1 s at 1/s): {}",
        log()
    );
    let refused_count = refused.len();

    // Meanwhile a phone at 127.0.0.1 gets its MESSAGE through.
    SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "rate-other-source",
        content_type: "text/plain",
        headers: &[],
        body: "still served",
        expect: 200,
    }
    .send(&world, SippTransport::Udp);
    let got = juliet
        .recv_matching(Duration::from_secs(5), |el| {
            support::child_text(el, "body").is_some_and(|b| b.trim() == "still served")
        })
        .await;
    assert!(got.is_some(), "message from the other source not delivered");
    assert_eq!(
        world
            .parley
            .metric("parley_limit_rejections_total{limit=\"sip_rate\"}"),
        refused_count as f64
    );
}

/// RFC 6120 §8.3.3.18: an XMPP sender over its stanza rate whose queue is
/// full gets `resource-constraint` (type `wait`); another sender is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmpp_sender_over_its_rate_gets_resource_constraint_while_another_is_served() {
    let (world, uas) = World::start_with_uas(
        &uas_message(&[], Some((200, "OK"))),
        |uas| uas.calls(4),
        Options {
            // Burst 2 goes on at once, one waits, the fourth finds the queue full.
            extra: "[limits]\nxmpp_stanzas_per_second = 1\nxmpp_stanza_burst = 2\nxmpp_sender_queue = 1\n"
                .into(),
            ..Options::default()
        },
    );
    let mut juliet = world.client("juliet").await;
    let mut romeo = world.client("romeo").await;
    for i in 1..=4 {
        juliet
            .send_xml(&format!(
                "<message to='bob@{COMPONENT}' id='j{i}'><body>j{i}</body></message>"
            ))
            .await;
    }
    romeo
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' id='r1'><body>r1</body></message>"
        ))
        .await;
    let mut errors = Vec::new();
    while let Some(el) = juliet.recv(Duration::from_secs(2)).await {
        if el.attr("type") == Some("error") {
            errors.push((
                el.attr("id").unwrap_or_default().to_owned(),
                error_condition(&el),
            ));
        }
    }
    errors.sort();
    assert_eq!(
        errors,
        [("j4".to_owned(), Some("wait/resource-constraint".to_owned()))],
        "{}",
        world.parley.log()
    );
    let romeo_error = romeo
        .recv_matching(Duration::from_secs(1), |el| {
            el.attr("type") == Some("error")
        })
        .await;
    assert!(romeo_error.is_none(), "romeo was refused: {romeo_error:?}");
    let out = uas.wait();
    assert!(
        out.success,
        "j1, j2, j3 and r1 reach SIP:\n{}",
        out.report()
    );
    assert_eq!(
        world
            .parley
            .metric("parley_limit_rejections_total{limit=\"xmpp_rate\"}"),
        1.0
    );
}

/// RFC 6120 §8.3.3.12: a user at `limits.subscriptions_per_user` gets
/// `policy-violation` (type `modify`) for one more subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_over_the_per_user_cap_gets_policy_violation() {
    // A proxy that never answers keeps the first SUBSCRIBE pending (Timer F).
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind silent proxy");
    let world = World::start(Options {
        outbound_proxy: Some(format!("sip:{}", silent.local_addr().expect("addr"))),
        extra: "[limits]\nsubscriptions_per_user = 1\n".into(),
        t1_ms: Some(500),
        ..Options::default()
    });
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!(
            "<presence to='bob@{COMPONENT}' type='subscribe'/>"
        ))
        .await;
    juliet
        .send_xml(&format!(
            "<presence to='carol@{COMPONENT}' type='subscribe' id='s2'/>"
        ))
        .await;
    let refused = juliet
        .recv_matching(Duration::from_secs(5), |el| {
            el.name() == "presence" && el.attr("type") == Some("error")
        })
        .await
        .expect("the second subscription is refused");
    assert_eq!(refused.attr("from"), Some(&*format!("carol@{COMPONENT}")));
    assert_eq!(
        error_condition(&refused).as_deref(),
        Some("modify/policy-violation")
    );
    assert_eq!(
        world
            .parley
            .metric("parley_limit_rejections_total{limit=\"subscriptions_per_user\"}"),
        1.0
    );
}

/// A SUBSCRIBE from `bob@COMPONENT` to `target@XMPP_DOMAIN`, sent from `local`.
fn subscribe(call_id: &str, target: &str, local: &str) -> String {
    format!(
        "SUBSCRIBE sip:{target}@{XMPP_DOMAIN} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:bob@{COMPONENT}>;tag={call_id}\r\n\
         To: <sip:{target}@{XMPP_DOMAIN}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 SUBSCRIBE\r\n\
         Contact: <sip:bob@{local}>\r\n\
         Event: presence\r\n\
         Expires: 600\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// The final response's status line to the request with `call_id`, skipping
/// NOTIFYs and other traffic.
fn final_response(socket: &UdpSocket, call_id: &str) -> String {
    let mut buf = [0u8; 8192];
    loop {
        let (n, _) = socket.recv_from(&mut buf).expect("a response");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("SIP/2.0 ")
            && !text.starts_with("SIP/2.0 1")
            && text.contains(&format!("Call-ID: {call_id}\r\n"))
        {
            return text.lines().next().unwrap_or_default().to_owned();
        }
    }
}

/// RFC 6665 §4.2.1.2: a SIP subscriber at `limits.subscriptions_per_user`
/// ("automatically authoritatively determined that the subscriber is not
/// authorized") gets 403 for one more subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_subscription_over_the_per_user_cap_gets_403() {
    let world = World::start(Options {
        extra: "[limits]\nsubscriptions_per_user = 1\n".into(),
        ..Options::default()
    });
    let phone = UdpSocket::bind("127.0.0.1:0").expect("bind phone");
    phone
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let local = phone.local_addr().expect("addr").to_string();
    phone
        .send_to(
            subscribe("cap-1", "juliet", &local).as_bytes(),
            world.sip_addr(),
        )
        .expect("send");
    assert_eq!(final_response(&phone, "cap-1"), "SIP/2.0 200 OK");
    phone
        .send_to(
            subscribe("cap-2", "romeo", &local).as_bytes(),
            world.sip_addr(),
        )
        .expect("send");
    assert_eq!(
        final_response(&phone, "cap-2"),
        "SIP/2.0 403 Too Many Subscriptions"
    );
    assert_eq!(
        world
            .parley
            .metric("parley_limit_rejections_total{limit=\"subscriptions_per_user\"}"),
        1.0
    );
}

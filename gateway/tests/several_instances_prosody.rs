//! Prosody 0.12 takes one XEP-0114 connection per component: two Parley
//! instances for one domain run active/standby. Prosody's mod_component
//! (`handle_component_auth`) refuses a second authenticated connection with
//! the stream error `<conflict/>` ("Component already connected", its default
//! `component_conflict_resolve = "kick_new"`), so the standby keeps retrying
//! (`xmpp.reconnect_max_ms`) until the active one is gone; meanwhile Prosody
//! bounces stanzas for the domain with `<remote-server-timeout/>`
//! (`handle_stanza`: "Component unavailable"). XEP-0114 §2: "if the server
//! will not service the component name … it MUST return a stream error (e.g.,
//! `<conflict/>`)" — wording checked against Prosody's source, not this repo.

mod support;

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parley_harness::parley::Parley;
use parley_harness::port::{free_tcp_port, free_udp_tcp_port};
use parley_harness::prosody::{Prosody, ProsodyConfig};
use parley_harness::xmpp_client::XmppClient;
use support::{COMPONENT, PASSWORD, XMPP_DOMAIN, error_condition};

/// The standby's longest wait between two attempts.
const RECONNECT_MAX_MS: u64 = 500;

/// bob's phone: a UDP user agent that answers every MESSAGE with 200 and
/// notes when each body (first time per Call-ID) arrived.
struct Phone {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<(Instant, String)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Phone {
    fn start() -> Phone {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind phone");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let addr = socket.local_addr().expect("phone addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        std::thread::spawn({
            let received = Arc::clone(&received);
            let stop = Arc::clone(&stop);
            move || {
                let mut seen = std::collections::HashSet::new();
                let mut buf = vec![0u8; 65536];
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if !msg.starts_with("MESSAGE ") {
                        continue;
                    }
                    let _ = socket.send_to(ok_answer(&msg).as_bytes(), from);
                    let call_id = header(&msg, "call-id").unwrap_or_default().to_owned();
                    if seen.insert(call_id) {
                        let body = msg.split("\r\n\r\n").nth(1).unwrap_or_default();
                        received
                            .lock()
                            .expect("lock")
                            .push((Instant::now(), body.trim_end().to_owned()));
                    }
                }
            }
        });
        Phone {
            addr,
            received,
            stop,
        }
    }

    /// When `body` first arrived, if it did.
    fn arrival(&self, body: &str) -> Option<Instant> {
        let received = self.received.lock().expect("lock");
        received.iter().find(|(_, b)| b == body).map(|(t, _)| *t)
    }

    fn bodies(&self) -> Vec<String> {
        let received = self.received.lock().expect("lock");
        received.iter().map(|(_, b)| b.clone()).collect()
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The value of the first header `name` (lower case, full form) of `msg`.
fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
}

/// RFC 3261 §8.2.6.2: a 200 with the request's Vias, From, To (a tag
/// added), Call-ID and CSeq.
fn ok_answer(request: &str) -> String {
    let mut answer = String::from("SIP/2.0 200 OK\r\n");
    for line in request.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim();
        if ["via", "v", "from", "f", "call-id", "i", "cseq"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
        {
            answer.push_str(line);
            answer.push_str("\r\n");
        } else if name.eq_ignore_ascii_case("to") || name.eq_ignore_ascii_case("t") {
            answer.push_str(line);
            answer.push_str(";tag=phone\r\n");
        }
    }
    answer.push_str("Content-Length: 0\r\n\r\n");
    answer
}

/// One Parley instance attached to `prosody`, sending SIP to `phone`.
fn start_instance(prosody: &Prosody, phone: SocketAddr, dir: &std::path::Path) -> Parley {
    let sip_port = free_udp_tcp_port();
    let metrics: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let config = format!(
        r#"
[xmpp]
component_domain = "{COMPONENT}"
server = "{server}"
secret = "component-secret"
reconnect_min_ms = 100
reconnect_max_ms = {RECONNECT_MAX_MS}

[sip]
domain = "{COMPONENT}"
listen = ["udp:127.0.0.1:{sip_port}"]
outbound_proxy = "sip:{phone}"
t1_ms = 100

[metrics]
listen = "{metrics}"

[store]
path = "{store}"
"#,
        server = prosody.component_addr(),
        store = dir.join(format!("store-{sip_port}")).display(),
    );
    Parley::start(
        &PathBuf::from(env!("CARGO_BIN_EXE_parley")),
        &config,
        metrics,
    )
}

/// Wait until `log()` holds `needle` at least `times` times.
fn wait_for_log(log: impl Fn() -> String, needle: &str, times: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while log().matches(needle).count() < times {
        assert!(
            Instant::now() < deadline,
            "{needle:?} not {times} times in:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// juliet's message to bob whose id and body are `id`.
async fn send(juliet: &mut XmppClient, id: String) {
    juliet
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' id='{id}' type='chat'><body>{id}</body></message>"
        ))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_takes_over_when_the_active_instance_is_killed() {
    let prosody = Prosody::start(ProsodyConfig {
        domain: XMPP_DOMAIN.into(),
        component_domain: COMPONENT.into(),
        component_secret: "component-secret".into(),
    });
    prosody.add_user("juliet", PASSWORD);
    let phone = Phone::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut active = start_instance(&prosody, phone.addr, dir.path());
    tokio::task::block_in_place(|| active.wait_ready(Duration::from_secs(20)));
    let standby = start_instance(&prosody, phone.addr, dir.path());

    // The standby is refused with <conflict/>, says so once, and keeps
    // retrying quietly (at debug) without becoming ready.
    tokio::task::block_in_place(|| {
        wait_for_log(
            || standby.log(),
            "component domain still held by another connection (conflict)",
            3,
            Duration::from_secs(15),
        )
    });
    let log = standby.log();
    assert_eq!(
        log.matches("standing by").count(),
        1,
        "the standby repeats itself:\n{log}"
    );
    assert!(!log.contains("handshake refused"), "{log}");
    assert!(
        prosody
            .log()
            .contains("Second component attempted to connect, denying connection"),
        "{}",
        prosody.log()
    );
    assert_ne!(standby.http_get("/readyz").map(|(s, _)| s), Some(200));

    let mut juliet = XmppClient::connect(&prosody, "juliet", PASSWORD).await;
    send(&mut juliet, "before".into()).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while phone.arrival("before").is_none() {
        assert!(Instant::now() < deadline, "{}", active.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Kill the active instance; juliet sends a message every 50 ms until one
    // reaches the phone through the standby.
    tokio::task::block_in_place(|| active.kill());
    let killed = Instant::now();
    let mut sent = Vec::new();
    let mut bounced = BTreeMap::new();
    let deadline = killed + Duration::from_secs(20);
    let first = loop {
        let id = format!("probe-{}", sent.len());
        send(&mut juliet, id.clone()).await;
        sent.push(id);
        if let Some(t) = sent.iter().find_map(|id| phone.arrival(id)) {
            break t;
        }
        while let Some(e) = juliet
            .recv_matching(Duration::from_millis(50), |e| {
                e.name() == "message" && e.attr("type") == Some("error")
            })
            .await
        {
            let id = e.attr("id").unwrap_or_default().to_owned();
            bounced.insert(id, error_condition(&e).unwrap_or_default());
        }
        assert!(
            Instant::now() < deadline,
            "nothing reached the phone after the kill\n--- standby ---\n{}\n--- prosody ---\n{}",
            standby.log(),
            prosody.log()
        );
    };
    let gap = first - killed;
    let ready = standby.http_get("/readyz").map(|(s, _)| s);
    // Every probe is accounted for: delivered, or bounced by Prosody.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        while let Some(e) = juliet
            .recv_matching(Duration::from_millis(50), |e| {
                e.name() == "message" && e.attr("type") == Some("error")
            })
            .await
        {
            let id = e.attr("id").unwrap_or_default().to_owned();
            bounced.insert(id, error_condition(&e).unwrap_or_default());
        }
        let delivered = phone.bodies();
        let missing: Vec<&String> = sent
            .iter()
            .filter(|id| !delivered.contains(id) && !bounced.contains_key(*id))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "neither delivered nor bounced: {missing:?}\nbounced: {bounced:?}\n--- prosody ---\n{}",
            prosody.log()
        );
    }
    let delivered = sent.iter().filter(|id| phone.bodies().contains(id)).count();
    println!(
        "standby took over: first message delivered {gap:?} after the kill; \
         {} sent meanwhile, {} bounced, {delivered} delivered; bounces: {bounced:?}",
        sent.len(),
        bounced.len()
    );
    assert_eq!(
        ready,
        Some(200),
        "the standby is not ready after taking over"
    );
    for (id, condition) in &bounced {
        assert_eq!(condition, "wait/remote-server-timeout", "{id}");
        assert!(!phone.bodies().contains(id), "{id} bounced and delivered");
    }
    assert!(
        gap < Duration::from_secs(15),
        "took {gap:?} (generous bound; the standby retries every {RECONNECT_MAX_MS} ms at most)"
    );
}

//! The whole message path in one process (issue 24): what the gateway spends,
//! in CPU time, on one translated message, both ways, through the real
//! gateway (`parley_gateway::run_with`) on loopback.
//!
//! - `s2x`: a SIP MESSAGE datagram in → its `<message/>` bytes out on the
//!   component stream → its 200 out once the delivery window has closed;
//! - `x2s`: a `<message/>` in on the component stream → a SIP MESSAGE
//!   datagram out, which the bench's peer answers 200.
//!
//! `cargo bench -p parley-gateway --bench message_path`
//!
//! The figure criterion reports is the gateway's CPU time (user + system,
//! every thread of its runtime, read from `/proc/self/task/*/schedstat`)
//! per message, so it compares with `bench/load.sh`'s "CPU µs/msg" and is
//! less disturbed by other work on the machine than wall time would be. The
//! bench's own peers (the SIP phone/proxy and the XEP-0114 server) run on
//! threads named `bench-*` and the main thread, and are not counted. Each
//! sample sends its messages closed-loop, 64 in flight as in load.sh's `max`
//! phases, and waits for every answer: a message lost or refused stops the
//! bench. The gateway's config is bench/lib.sh's (the load source a trusted
//! peer, the XMPP sender rate out of the way) but for a 10 ms delivery window
//! (see [`DELIVERY_WINDOW_MS`]) and `limits.sip_pending_transactions`,
//! raised so that the completed transactions a long run leaves behind (Timer
//! J, 32 s) are not refused with 503.
//!
//! Numbers are reported, never asserted. Linux only (`/proc`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio_util::sync::CancellationToken;

use parley_gateway::config::Config;
use support::{gateway_cpu_since, gateway_threads_cpu};

const DOMAIN: &str = "sip.localhost";
/// Messages in flight at once (load.sh's `max` phases).
const WINDOW: u64 = 64;
/// The gateway's delivery window: the 200 of a SIP MESSAGE waits this long
/// (and then for the reaper's next tick, every 50 ms). Short, so that a
/// sample ends soon after its last message: criterion sizes its samples by
/// wall time. What a message costs does not depend on it.
const DELIVERY_WINDOW_MS: u64 = 10;
/// The longest any one wait of the bench may take.
const DEADLINE: Duration = Duration::from_secs(20);

/// What the peers saw, and the signals the closed loop waits on.
struct Seen {
    /// One `()` per `<message/>` the XMPP server received.
    stanzas: Receiver<()>,
    /// One `()` per 200 the SIP phone received.
    oks: Receiver<()>,
    /// One `()` per MESSAGE the SIP proxy received (and answered 200).
    messages: Receiver<()>,
    /// Final responses other than 200, and other requests: any is a failure.
    unexpected: Arc<Unexpected>,
}

/// The running gateway and the bench's two peers.
struct World {
    /// The SIP phone (and outbound proxy) socket; the bench sends from it.
    sip: UdpSocket,
    gateway_sip: SocketAddr,
    /// The XEP-0114 server's side of the component stream; the bench writes
    /// stanzas to it.
    xmpp: Mutex<TcpStream>,
    seen: Seen,
    seq: AtomicU64,
    stop: CancellationToken,
    runtime: Option<tokio::runtime::Runtime>,
    _store: tempfile::TempDir,
}

impl World {
    fn start() -> World {
        let xmpp_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let xmpp_port = xmpp_listener.local_addr().unwrap().port();
        let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
        // The 200s leave in bursts, one per reaper tick (every 50 ms): the
        // kernel's default buffer would drop some of them.
        socket2::SockRef::from(&sip)
            .set_recv_buffer_size(4 << 20)
            .unwrap();
        let peer = sip.local_addr().unwrap();
        let store = tempfile::tempdir().unwrap();
        let toml = format!(
            r#"
[xmpp]
component_domain = "{DOMAIN}"
server = "127.0.0.1:{xmpp_port}"
secret = "bench-secret"
queue_capacity = 8192
[sip]
domain = "{DOMAIN}"
listen = ["udp:127.0.0.1:0"]
outbound_proxy = "sip:{peer}"
trusted_peers = ["127.0.0.1/32"]
[metrics]
listen = "127.0.0.1:0"
[store]
path = "{store}"
[messages]
delivery_window_ms = {DELIVERY_WINDOW_MS}
[limits]
xmpp_stanzas_per_second = 1000000
xmpp_stanza_burst = 1000000
xmpp_sender_queue = 1000
xmpp_queued_stanzas = 10000
sip_pending_transactions = 10000000
"#,
            store = store.path().display(),
        );
        let config: Config = toml::from_str(&toml).expect("bench config parses");
        config.validate().expect("bench config is valid");

        // The gateway's runtime, built as `parley` builds it.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("parley-gw")
            .build()
            .unwrap();
        let stop = CancellationToken::new();
        let (bound_tx, bound_rx) = channel();
        runtime.spawn(parley_gateway::run_with(config, stop.clone(), move |b| {
            let _ = bound_tx.send(b);
        }));
        let bound = bound_rx.recv_timeout(DEADLINE).expect("the gateway bound");
        let gateway_sip = bound.sip.first().expect("a SIP listener").1;

        let (stanza_tx, stanzas) = channel();
        let xmpp = accept_component(&xmpp_listener, stanza_tx);
        wait_ready(bound.metrics);
        let (ok_tx, oks) = channel();
        let (message_tx, messages) = channel();
        let unexpected = Arc::new(Unexpected::default());
        let socket = sip.try_clone().unwrap();
        let counter = unexpected.clone();
        std::thread::Builder::new()
            .name("bench-sip".into())
            .spawn(move || sip_peer(&socket, &ok_tx, &message_tx, &counter))
            .unwrap();
        World {
            sip,
            gateway_sip,
            xmpp: Mutex::new(xmpp),
            seen: Seen {
                stanzas,
                oks,
                messages,
                unexpected,
            },
            seq: AtomicU64::new(0),
            stop,
            runtime: Some(runtime),
            _store: store,
        }
    }

    /// `count` SIP MESSAGEs, `WINDOW` at a time (a stanza out frees a
    /// place); returns when every stanza and every 200 is out.
    fn sip_to_xmpp(&self, count: u64) {
        let local = self.sip.local_addr().unwrap();
        let mut in_flight = 0;
        for _ in 0..count {
            if in_flight == WINDOW {
                wait(
                    &self.seen.stanzas,
                    "a <message/> on the component stream",
                    &self.seen.unexpected,
                );
                in_flight -= 1;
            }
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            let body = format!("bench {seq}");
            let datagram = format!(
                "MESSAGE sip:juliet@localhost SIP/2.0\r\n\
                 Via: SIP/2.0/UDP {local};branch=z9hG4bK.b.{seq};rport\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:bob@{DOMAIN}>;tag=b{seq}\r\n\
                 To: <sip:juliet@localhost>\r\n\
                 Call-ID: b.{seq}@{local}\r\n\
                 CSeq: 1 MESSAGE\r\n\
                 Content-Type: text/plain;charset=UTF-8\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
            self.sip
                .send_to(datagram.as_bytes(), self.gateway_sip)
                .unwrap();
            in_flight += 1;
        }
        for _ in 0..in_flight {
            wait(
                &self.seen.stanzas,
                "a <message/> on the component stream",
                &self.seen.unexpected,
            );
        }
        for _ in 0..count {
            wait(
                &self.seen.oks,
                "a 200 for a SIP MESSAGE",
                &self.seen.unexpected,
            );
        }
        self.check();
    }

    /// `count` `<message/>`s, `WINDOW` at a time (a SIP MESSAGE out frees a
    /// place); returns once the gateway has had every 200.
    fn xmpp_to_sip(&self, count: u64) {
        let mut xmpp = self.xmpp.lock().unwrap();
        let mut in_flight = 0;
        for _ in 0..count {
            if in_flight == WINDOW {
                wait(
                    &self.seen.messages,
                    "a SIP MESSAGE at the proxy",
                    &self.seen.unexpected,
                );
                in_flight -= 1;
            }
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            let stanza = format!(
                "<message from='juliet@localhost/bench' to='bob@{DOMAIN}' id='b.{seq}'>\
                 <body>bench {seq}</body></message>"
            );
            xmpp.write_all(stanza.as_bytes()).unwrap();
            in_flight += 1;
        }
        for _ in 0..in_flight {
            wait(
                &self.seen.messages,
                "a SIP MESSAGE at the proxy",
                &self.seen.unexpected,
            );
        }
        // The last 200s are on their way back; the gateway takes them in
        // microseconds (and what this costs per sample is a constant, which
        // criterion's slope leaves out).
        std::thread::sleep(Duration::from_millis(20));
        self.check();
    }

    fn check(&self) {
        self.seen.unexpected.check();
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// What the SIP peer got that it should not have: failures, or requests
/// other than MESSAGE.
#[derive(Default)]
struct Unexpected {
    count: AtomicU64,
    first: Mutex<Option<String>>,
}

impl Unexpected {
    fn note(&self, text: &str) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.first
            .lock()
            .unwrap()
            .get_or_insert_with(|| text.to_owned());
    }

    fn check(&self) {
        let count = self.count.load(Ordering::Relaxed);
        assert!(
            count == 0,
            "the SIP peer got {count} unexpected messages, the first:\n{}",
            self.first.lock().unwrap().as_deref().unwrap_or_default()
        );
    }
}

fn wait(signals: &Receiver<()>, what: &str, unexpected: &Unexpected) {
    if let Err(e) = signals.recv_timeout(DEADLINE) {
        unexpected.check();
        panic!("waited {DEADLINE:?} for {what}: {e}");
    }
}

/// XEP-0114 §2 as the server: takes the component's stream and any
/// handshake, then a `bench-xmpp` thread counts the `<message/>`s sent.
fn accept_component(listener: &TcpListener, stanzas: Sender<()>) -> TcpStream {
    listener.set_nonblocking(false).unwrap();
    let (mut stream, _) = listener.accept().expect("the gateway connects");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut seen = Vec::new();
    read_until(&mut stream, &mut seen, b"<stream:stream");
    read_until(&mut stream, &mut seen, b">");
    stream
        .write_all(
            format!(
                "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
                 xmlns='jabber:component:accept' id='bench' from='{DOMAIN}'>"
            )
            .as_bytes(),
        )
        .unwrap();
    let end = read_until(&mut stream, &mut seen, b"</handshake>");
    seen.drain(..end);
    stream.write_all(b"<handshake/>").unwrap();
    stream.set_read_timeout(None).unwrap();
    let mut reader = stream.try_clone().unwrap();
    std::thread::Builder::new()
        .name("bench-xmpp".into())
        .spawn(move || count_messages(&mut reader, seen, &stanzas))
        .unwrap();
    stream
}

/// Until `/readyz` says 200: the component stream is authenticated.
fn wait_ready(metrics: SocketAddr) {
    let started = Instant::now();
    loop {
        let mut answer = String::new();
        if let Ok(mut http) = TcpStream::connect(metrics) {
            let _ = http.write_all(b"GET /readyz HTTP/1.0\r\n\r\n");
            let _ = http.read_to_string(&mut answer);
        }
        if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200") {
            return;
        }
        assert!(started.elapsed() < DEADLINE, "the gateway never got ready");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn read_until(stream: &mut TcpStream, seen: &mut Vec<u8>, needle: &[u8]) -> usize {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(at) = seen.windows(needle.len()).position(|w| w == needle) {
            return at + needle.len();
        }
        let n = stream.read(&mut buf).expect("the handshake goes on");
        assert!(n > 0, "the gateway closed the component stream");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// Counts `</message>` in the stream (stanzas are not parsed: the server
/// side must stay far cheaper than the gateway).
fn count_messages(stream: &mut TcpStream, mut pending: Vec<u8>, stanzas: &Sender<()>) {
    const END: &[u8] = b"</message>";
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut from = 0;
        while let Some(at) = pending[from..].windows(END.len()).position(|w| w == END) {
            from += at + END.len();
            if stanzas.send(()).is_err() {
                return;
            }
        }
        let keep = pending.len().saturating_sub(END.len() - 1).max(from);
        pending.drain(..keep);
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

/// The SIP phone and proxy: counts the 200s to its MESSAGEs, answers the
/// gateway's MESSAGEs with 200 (RFC 3261 §8.2.6.2: Via, From, To with a tag,
/// Call-ID and CSeq copied); anything else is counted as unexpected.
fn sip_peer(socket: &UdpSocket, oks: &Sender<()>, messages: &Sender<()>, unexpected: &Unexpected) {
    let mut buf = vec![0u8; 65_536];
    while let Ok((n, from)) = socket.recv_from(&mut buf) {
        let text = std::str::from_utf8(&buf[..n]).unwrap_or_default();
        if let Some(status) = text.strip_prefix("SIP/2.0 ") {
            if status.starts_with("200 ") {
                if oks.send(()).is_err() {
                    return;
                }
            } else {
                unexpected.note(text);
            }
            continue;
        }
        if !text.starts_with("MESSAGE ") {
            unexpected.note(text);
            continue;
        }
        let mut ok = String::from("SIP/2.0 200 OK\r\n");
        for line in text.split("\r\n") {
            if ["Via:", "From:", "Call-ID:", "CSeq:"]
                .iter()
                .any(|h| line.starts_with(h))
            {
                ok.push_str(line);
                ok.push_str("\r\n");
            } else if line.starts_with("To:") {
                ok.push_str(line);
                ok.push_str(";tag=bench\r\n");
            }
        }
        ok.push_str("Content-Length: 0\r\n\r\n");
        let _ = socket.send_to(ok.as_bytes(), from);
        if messages.send(()).is_err() {
            return;
        }
    }
}

fn message_path(c: &mut Criterion) {
    let world = World::start();
    let mut group = c.benchmark_group("message_path_cpu");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("s2x", |b| {
        b.iter_custom(|iters| {
            let before = gateway_threads_cpu();
            world.sip_to_xmpp(iters);
            gateway_cpu_since(&before)
        });
    });
    group.bench_function("x2s", |b| {
        b.iter_custom(|iters| {
            let before = gateway_threads_cpu();
            world.xmpp_to_sip(iters);
            gateway_cpu_since(&before)
        });
    });
    group.finish();
    let started = Instant::now();
    drop(world);
    assert!(started.elapsed() < DEADLINE, "the gateway stopped in time");
}

criterion_group!(benches, message_path);
criterion_main!(benches);

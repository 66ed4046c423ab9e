//! Chat sessions at scale (issue 21, "Measure"): RFC 7573 §5 sessions
//! through the real gateway (`parley_gateway::run_with`, `[sessions]`
//! enabled) on loopback.
//!
//! A UDP SIP phone in this process INVITEs XMPP users with an MSRP offer
//! (the SDP of `src/tests/rfc7573_5.rs`), reads the 200, sends ACK and
//! connects to the answer's `a=path`, where it first sends an empty SEND
//! (RFC 4975 §5.4: the active side binds the connection). A minimal
//! XEP-0114 server counts the `<body>`s of the stanzas it gets.
//!
//! 1. `SESSIONS` sessions (default 1 000, one SIP user and one XMPP user
//!    each) are opened and left idle: RSS growth per session after a second
//!    and after 35 s (the INVITE transactions gone);
//!    then one SEND in each (all written, then every 200 awaited):
//!    messages/s and the gateway's CPU per message.
//! 2. One more session: `SESSION_SCALE_MESSAGES` SENDs (default 20 000)
//!    back to back, at most [`WINDOW`] awaiting their 200: messages/s
//!    delivered to the XMPP peer and the gateway's CPU per message.
//!
//! `cargo bench -p parley-gateway --bench session_scale [-- SESSIONS]`
//!
//! The gateway's CPU is that of every thread of the process but the main
//! thread and the bench's `bench-*` peers (`/proc/self/task/*/schedstat`),
//! as in `message_path`. RSS is the whole process's (the bench's own share
//! per session is a socket and a few strings). Every wait has a deadline
//! and panics with what was counted. Numbers are reported, never
//! asserted. Linux only (`/proc`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use parley_gateway::config::Config;
use parley_harness::msrp_peer::split_frame;
use support::{gateway_cpu_since, gateway_threads_cpu, rss_bytes, scrape};

const DOMAIN: &str = "sip.example.net";
/// SENDs awaiting their 200 at once in the one-session run.
const WINDOW: u64 = 64;
/// The longest any one wait of the bench may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// The series the bench reports when a wait fails and at the end.
const REPORTED: [&str; 4] = [
    "parley_msrp_sessions",
    "parley_msrp_session_refusals_total",
    "parley_msrp_messages_total",
    "parley_errors_total",
];

/// A minimal XEP-0114 server on its own thread: accepts parley's stream
/// and handshake, then counts `<body>` in everything it receives.
fn xmpp_peer(listener: TcpListener, bodies: Arc<AtomicU64>, connected: Arc<AtomicU64>) {
    std::thread::Builder::new()
        .name("bench-xmpp".into())
        .spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 1 << 16];
            let mut seen = Vec::new();
            loop {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "parley closed the component stream at its header");
                seen.extend_from_slice(&buf[..n]);
                let header = seen.windows(14).position(|w| w == b"<stream:stream");
                if header.is_some_and(|at| seen[at..].contains(&b'>')) {
                    break;
                }
            }
            stream
                .write_all(
                    format!(
                        "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' \
                         xmlns:stream='http://etherx.jabber.org/streams' from='{DOMAIN}' id='bench1'>"
                    )
                    .as_bytes(),
                )
                .unwrap();
            seen.clear();
            loop {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "parley closed the component stream at its handshake");
                seen.extend_from_slice(&buf[..n]);
                if seen.windows(12).any(|w| w == b"</handshake>") {
                    break;
                }
            }
            stream.write_all(b"<handshake/>").unwrap();
            connected.store(1, Ordering::Relaxed);
            let mut tail: Vec<u8> = Vec::new();
            loop {
                let n = match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                tail.extend_from_slice(&buf[..n]);
                // Count up to the last '>': the needle ends with one.
                let Some(cut) = tail.iter().rposition(|&b| b == b'>') else {
                    continue;
                };
                let count = tail[..=cut]
                    .windows(6)
                    .filter(|w| *w == b"<body>")
                    .count() as u64;
                bodies.fetch_add(count, Ordering::Relaxed);
                tail.drain(..=cut);
            }
        })
        .unwrap();
}

/// RFC 7573 F17 on loopback: `romeo{i}` INVITEs `juliet{i}` with an MSRP
/// offer for text/plain whose path is `path`.
fn invite(i: usize, me: SocketAddr, path: &str) -> String {
    let sdp = format!(
        "v=0\r\no=romeo 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 7313 TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:{path}\r\n"
    );
    format!(
        "INVITE sip:juliet{i}@xmpp.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bKinv{i}\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:juliet{i}@xmpp.example>\r\n\
         From: <sip:romeo{i}@{DOMAIN}>;tag=r{i}\r\n\
         Call-ID: bench-{i}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:romeo{i}@{me}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// A header's value in a SIP message's text.
fn sip_header<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.split("\r\n")
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// One open session on the bench's side: its MSRP connection and paths.
struct Session {
    stream: TcpStream,
    from_path: String,
    to_path: String,
    /// Bytes read and not yet a whole frame.
    buffer: Vec<u8>,
    next_tid: u64,
}

impl Session {
    /// A SEND of `body` (empty: the binding SEND of §5.4); its transaction id.
    fn send_bytes(&mut self, body: &str) -> Vec<u8> {
        self.next_tid += 1;
        let tid = format!("b{:08}", self.next_tid);
        let mut out = format!(
            "MSRP {tid} SEND\r\nTo-Path: {}\r\nFrom-Path: {}\r\nMessage-ID: m{tid}\r\n",
            self.to_path, self.from_path
        );
        if body.is_empty() {
            out.push_str("Byte-Range: 1-0/0\r\n");
        } else {
            let n = body.len();
            out.push_str(&format!(
                "Byte-Range: 1-{n}/{n}\r\nContent-Type: text/plain\r\n\r\n{body}\r\n"
            ));
        }
        out.push_str(&format!("-------{tid}$\r\n"));
        out.into_bytes()
    }

    /// The next frame from parley, or a panic after [`DEADLINE`].
    fn next_status(&mut self, what: &str) -> Option<u16> {
        let deadline = Instant::now() + DEADLINE;
        let mut chunk = [0u8; 8192];
        loop {
            if let Some((frame, used)) = split_frame(&self.buffer).expect("MSRP from parley") {
                self.buffer.drain(..used);
                return frame.status;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no MSRP frame within {DEADLINE:?}: {what}");
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("parley closed the MSRP connection: {what}"),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("no MSRP frame ({e}): {what}"),
            }
        }
    }
}

/// The SIP phone: one UDP socket for every session's INVITE.
struct Phone {
    socket: UdpSocket,
    parley: SocketAddr,
}

impl Phone {
    /// INVITE → 200 (with an SDP answer) → ACK → MSRP connection → the
    /// binding SEND answered 200: session `i` is open.
    fn open(&self, i: usize, metrics: SocketAddr) -> Session {
        let me = self.socket.local_addr().unwrap();
        let from_path = format!("msrp://127.0.0.1:7313/bench{i};tcp");
        let request = invite(i, me, &from_path);
        let call_id = format!("bench-{i}");
        let deadline = Instant::now() + DEADLINE;
        let mut buf = vec![0u8; 65536];
        let mut last_sent = Instant::now();
        self.socket
            .send_to(request.as_bytes(), self.parley)
            .unwrap();
        let ok = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "no final answer to INVITE {i} within {DEADLINE:?}; gateway:\n{}",
                    scrape(metrics, &REPORTED).join("\n")
                );
            }
            self.socket
                .set_read_timeout(Some(left.min(Duration::from_millis(500))))
                .unwrap();
            let Ok((n, _)) = self.socket.recv_from(&mut buf) else {
                // RFC 3261 Timer A, roughly: the INVITE again.
                if last_sent.elapsed() >= Duration::from_millis(500) {
                    self.socket
                        .send_to(request.as_bytes(), self.parley)
                        .unwrap();
                    last_sent = Instant::now();
                }
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if sip_header(&text, "Call-ID") != Some(call_id.as_str())
                || sip_header(&text, "CSeq") != Some("1 INVITE")
            {
                continue;
            }
            if text.starts_with("SIP/2.0 200") {
                break text;
            }
            assert!(
                text.starts_with("SIP/2.0 1"),
                "INVITE {i} refused: {}",
                text.lines().next().unwrap_or_default()
            );
        };
        let to = sip_header(&ok, "To").expect("a To in the 200");
        let ack = format!(
            "ACK sip:juliet{i}@xmpp.example SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bKack{i}\r\n\
             Max-Forwards: 70\r\n\
             To: {to}\r\n\
             From: <sip:romeo{i}@{DOMAIN}>;tag=r{i}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 ACK\r\n\
             Content-Length: 0\r\n\r\n"
        );
        self.socket.send_to(ack.as_bytes(), self.parley).unwrap();
        let to_path = ok
            .lines()
            .find_map(|l| l.strip_prefix("a=path:"))
            .expect("the answer has a=path")
            .trim()
            .to_owned();
        let authority = to_path
            .strip_prefix("msrp://")
            .and_then(|rest| rest.split('/').next())
            .expect("an msrp URI");
        let addr: SocketAddr = authority.parse().expect("a loopback ip:port in a=path");
        let stream = TcpStream::connect_timeout(&addr, DEADLINE).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut session = Session {
            stream,
            from_path,
            to_path,
            buffer: Vec::new(),
            next_tid: 0,
        };
        let bind = session.send_bytes("");
        session.stream.write_all(&bind).unwrap();
        let status = session.next_status(&format!("the binding SEND of session {i}"));
        assert_eq!(status, Some(200), "the binding SEND of session {i}");
        session
    }
}

/// Wait until `bodies` reaches `target`, or panic after [`DEADLINE`].
fn await_bodies(bodies: &AtomicU64, target: u64, metrics: SocketAddr, what: &str) {
    let deadline = Instant::now() + DEADLINE;
    while bodies.load(Ordering::Relaxed) < target {
        if Instant::now() > deadline {
            panic!(
                "{what}: {} of {target} stanzas at the XMPP peer after {DEADLINE:?}; gateway:\n{}",
                bodies.load(Ordering::Relaxed),
                scrape(metrics, &REPORTED).join("\n")
            );
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn main() {
    let sessions: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let messages: u64 = std::env::var("SESSION_SCALE_MESSAGES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(20_000);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();

    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let xmpp_addr = listener.local_addr().unwrap();
    let bodies = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicU64::new(0));
    xmpp_peer(listener, Arc::clone(&bodies), Arc::clone(&connected));
    let toml = format!(
        r#"
[xmpp]
component_domain = "{DOMAIN}"
server = "{xmpp_addr}"
secret = "bench"
keepalive_secs = 3600
queue_capacity = 1000000
[sip]
domain = "{DOMAIN}"
listen = ["udp:127.0.0.1:0"]
[metrics]
listen = "127.0.0.1:0"
[store]
path = "{store}"
[log]
level = "error"
[sessions]
enabled = true
msrp_listen = "127.0.0.1:0"
max_sessions = {max}
"#,
        store = dir.path().join("store").display(),
        max = sessions + 10,
    );
    let path = dir.path().join("parley.toml");
    std::fs::write(&path, toml).unwrap();
    let config = Config::load(&path).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let shutdown = CancellationToken::new();
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let gateway = rt.spawn(parley_gateway::run_with(
        config,
        shutdown.clone(),
        move |bound| {
            let _ = bound_tx.send((bound.metrics, bound.sip));
        },
    ));
    let (metrics, sip) = bound_rx.recv_timeout(DEADLINE).expect("parley listening");
    let parley = sip.first().expect("a SIP listener").1;
    let t0 = Instant::now();
    while connected.load(Ordering::Relaxed) == 0 {
        assert!(t0.elapsed() < DEADLINE, "no component stream from parley");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Let the gateway settle (its first ticks, the store) before the baseline.
    std::thread::sleep(Duration::from_secs(1));
    let phone = Phone {
        socket: UdpSocket::bind("127.0.0.1:0").unwrap(),
        parley,
    };

    // Part 2 first: a baseline RSS the one-session run has not grown.
    let rss_before = rss_bytes();
    let opening = Instant::now();
    let mut open: Vec<Session> = (0..sessions).map(|i| phone.open(i, metrics)).collect();
    let opened_in = opening.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let rss_idle = rss_bytes();
    // Once the INVITE server transactions are gone (RFC 6026 §7.1: 64·T1 =
    // 32 s in Accepted after the 200), what a session itself holds.
    std::thread::sleep(Duration::from_secs(34));
    let rss_later = rss_bytes();
    let gauge = scrape(metrics, &["parley_msrp_sessions "]).join(" ");
    let before = bodies.load(Ordering::Relaxed);
    let cpu = gateway_threads_cpu();
    let t0 = Instant::now();
    for (i, s) in open.iter_mut().enumerate() {
        let send = s.send_bytes(&format!("Hello from session {i}"));
        s.stream.write_all(&send).unwrap();
    }
    for (i, s) in open.iter_mut().enumerate() {
        let status = s.next_status(&format!("the SEND of session {i}"));
        assert_eq!(status, Some(200), "the SEND of session {i}");
    }
    await_bodies(
        &bodies,
        before + sessions as u64,
        metrics,
        "one message in each session",
    );
    let many_time = t0.elapsed();
    let many_cpu = gateway_cpu_since(&cpu);

    // Part 1: one session, `messages` SENDs, WINDOW awaiting their 200.
    let mut one = phone.open(sessions, metrics);
    let mut reader = Session {
        stream: one.stream.try_clone().unwrap(),
        from_path: String::new(),
        to_path: String::new(),
        buffer: Vec::new(),
        next_tid: 0,
    };
    let (acked_tx, acked_rx) = std::sync::mpsc::channel::<()>();
    let acks = std::thread::Builder::new()
        .name("bench-msrp-read".into())
        .spawn(move || {
            for k in 0..messages {
                let status = reader.next_status(&format!("the 200 to SEND {k}"));
                assert_eq!(status, Some(200), "SEND {k}");
                let _ = acked_tx.send(());
            }
        })
        .unwrap();
    let before = bodies.load(Ordering::Relaxed);
    let cpu = gateway_threads_cpu();
    let t0 = Instant::now();
    let (mut sent, mut acked) = (0u64, 0u64);
    let mut batch = Vec::new();
    while sent < messages {
        batch.clear();
        while sent < messages && sent - acked < WINDOW {
            batch.extend_from_slice(&one.send_bytes(&format!("Message number {sent}")));
            sent += 1;
        }
        one.stream.write_all(&batch).unwrap();
        acked_rx.recv_timeout(DEADLINE).unwrap_or_else(|_| {
            panic!(
                "one session: {acked} of {sent} SENDs answered, no 200 within {DEADLINE:?}; \
                 gateway:\n{}",
                scrape(metrics, &REPORTED).join("\n")
            )
        });
        acked += 1;
        while acked_rx.try_recv().is_ok() {
            acked += 1;
        }
    }
    acks.join().expect("every SEND answered 200");
    await_bodies(&bodies, before + messages, metrics, "one session");
    let one_time = t0.elapsed();
    let one_cpu = gateway_cpu_since(&cpu);
    let report = scrape(metrics, &REPORTED);

    let per_session = |rss: u64| rss.saturating_sub(rss_before) as f64 / sessions as f64;
    let mib = |rss: u64| rss.saturating_sub(rss_before) as f64 / (1 << 20) as f64;
    println!(
        "load average at start: {} ({} CPUs)",
        load.join(" "),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
    println!(
        "| run | messages delivered | wall s | msgs/s | gateway CPU s | CPU µs/msg | RSS growth |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| 1 session, {WINDOW} in flight | {messages} | {:.2} | {:.0} | {:.2} | {:.1} | |",
        one_time.as_secs_f64(),
        messages as f64 / one_time.as_secs_f64(),
        one_cpu.as_secs_f64(),
        one_cpu.as_secs_f64() * 1e6 / messages as f64,
    );
    println!(
        "| {sessions} sessions, 1 each | {sessions} | {:.3} | {:.0} | {:.3} | {:.1} | \
         idle 1 s: +{:.1} MiB = {:.0} B/session; 35 s: +{:.1} MiB = {:.0} B/session |",
        many_time.as_secs_f64(),
        sessions as f64 / many_time.as_secs_f64(),
        many_cpu.as_secs_f64(),
        many_cpu.as_secs_f64() * 1e6 / sessions as f64,
        mib(rss_idle),
        per_session(rss_idle),
        mib(rss_later),
        per_session(rss_later),
    );
    println!(
        "{sessions} sessions opened in {:.2} s; gauge when idle: {gauge}",
        opened_in.as_secs_f64()
    );
    println!("gateway at the end:\n  {}", report.join("\n  "));
    let _ = std::io::stdout().flush();

    drop(open);
    drop(one);
    shutdown.cancel();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), gateway)
            .await
            .expect("parley stopped within 60 s")
            .expect("the gateway task")
            .expect("parley ran without error");
    });
    // Stop every bench thread: the process ends here.
    rt.shutdown_timeout(Duration::from_secs(5));
}

//! Several instances, messages per second (issue 25, "Measure"): SIP → XMPP
//! MESSAGEs through one Parley instance and then through two, behind the same
//! Kamailio dispatcher and on the same ejabberd, at the same offered rates.
//!
//! Topology, all on 127.0.0.1 with ports picked at run time:
//!
//! ```text
//! sipp UAC --MESSAGE--> Kamailio (deploy/kamailio/kamailio.cfg, WITH_DISPATCHER)
//!     --hash over the XMPP user--> Parley instance(s) (release binary, one shared PostgreSQL store)
//!     --XEP-0114--> ejabberd (the harness's) --c2s--> USERS receivers (this process)
//! ```
//!
//! Both topologies (a Kamailio in front of 1 instance, another in front of 2)
//! run side by side on the same ejabberd and receivers, and each rate is
//! offered to the one and then to the other, so that other work on the
//! machine weighs on both alike. Per phase (`RATE` MESSAGEs/s for
//! `INSTANCES_RATE_SECS`, default 5, seconds) sipp sends `RATE × SECS`
//! MESSAGEs, one per call, to the `USERS` in turn, each expecting a 200
//! (Parley sends it when its 300 ms delivery window closes). Reported:
//! - *delivered/sent*: distinct bodies the receivers got / MESSAGEs sipp
//!   sent; *not delivered* the difference (nothing is retried but sipp's own
//!   UDP retransmissions); *dup* bodies received more than once;
//! - *SIP failed*: sipp's failed calls (a non-200 final answer, or none
//!   within its timeout); *retrans*: sipp's retransmissions;
//! - *msgs/s*: delivered / (first send → last arrival);
//! - *µs/msg* per instance and summed: user+system CPU of each Parley
//!   process (from `/proc/<pid>/stat`) from the first send until sipp had
//!   every answer, / delivered messages (of the whole phase, so an instance's
//!   figure is its CPU per message the topology delivered);
//! - Kamailio's and ejabberd's CPU µs per delivered message, same span;
//! - the CPU share (% of one core over the same span) of Parley(s), Kamailio
//!   (its whole process tree), ejabberd (the Erlang VM), sipp, and this
//!   process (the c2s receivers), and per instance the messages it
//!   delivered (its `parley_messages_total{direction="sip_to_xmpp",outcome="delivered"}`);
//! - the load average when the phase started: other work on the machine
//!   takes its share of the same cores.
//!
//! Before and after the phases, ejabberd's own ceiling, without Parley,
//! Kamailio or sipp: one c2s user (`sender`) writes
//! `INSTANCES_RATE_CEILING` (default 30 000) `<message/>`s to the receivers
//! as fast as it can; delivered/sent, msgs/s (first send → last arrival),
//! ejabberd's CPU per message and share, and this process's share (the
//! sender and the receivers: near 100 % says the ceiling is theirs).
//!
//! The receivers are raw c2s clients (SASL PLAIN over plain TCP, then the
//! bodies cut from the byte stream), so the receiving side costs little.
//! Kamailio gets `-m 1024` shared memory: its transactions stay for the
//! window and its wait timer (5 s), and with the harness's 16 MB (or 256 MB)
//! `build_cell` runs out of memory and answers 500 from ~4 000/s.
//! Parley runs with `[log] level = "warn"` (the harness's `Parley` forces
//! `RUST_LOG=debug`, which would measure logging), so it is started here.
//!
//! `cargo bench -p parley-gateway --bench instances_rate [-- RATE ...]`
//! (default 1000 2000 4000 6000), about 75 s. A benchmark, not a test: no number is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parley_harness::ejabberd::{Ejabberd, EjabberdConfig};
use parley_harness::kamailio::{Dispatcher, Kamailio, KamailioConfig, Memory, instance_uri};
use parley_harness::port::{free_tcp_port, free_udp_tcp_port};
use parley_harness::postgres::Postgres;
use parley_harness::process::terminate;

const XMPP_DOMAIN: &str = "xmpp.example";
const COMPONENT: &str = "sip.example.net";
const PASSWORD: &str = "pw-for-bench";
/// Receivers: Kamailio's hash over the user spreads them over the instances.
const USERS: usize = 16;
/// Parley's delivery window (the 200 comes when it closes).
const WINDOW_MS: u64 = 300;
/// Kamailio's wait for an instance's final answer: above the window.
const FR_TIMER_MS: u64 = 1500;
const DELIVERED: &str = r#"parley_messages_total{direction="sip_to_xmpp",outcome="delivered"}"#;

fn user(i: usize) -> String {
    format!("rcv{i}")
}

// ---------------------------------------------------------------- /proc

struct ProcStat {
    ppid: u32,
    comm: String,
    ticks: u64,
}

fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_owned();
    // After ") ": state ppid ... utime is field 14, stime 15 (1-based).
    let rest: Vec<&str> = text[close + 2..].split_whitespace().collect();
    let ppid = rest.get(1)?.parse().ok()?;
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some(ProcStat {
        ppid,
        comm,
        ticks: utime + stime,
    })
}

fn all_procs() -> HashMap<u32, ProcStat> {
    let mut map = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok())
            && let Some(stat) = proc_stat(pid)
        {
            map.insert(pid, stat);
        }
    }
    map
}

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------- receivers

/// What the receivers got: per body, how many times; the last arrival.
#[derive(Default)]
struct Received {
    bodies: HashMap<String, u32>,
    last: Option<Instant>,
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

struct C2s {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl C2s {
    /// Read until `needle` has come; returns (and consumes) the text up to its end.
    fn read_until(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(at) = find(&self.buf, needle.as_bytes()) {
                let rest = self.buf.split_off(at + needle.len());
                let got = std::mem::replace(&mut self.buf, rest);
                return String::from_utf8_lossy(&got).into_owned();
            }
            assert!(
                Instant::now() < deadline,
                "c2s: no {needle:?} in {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("c2s closed: {:?}", String::from_utf8_lossy(&self.buf)),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => {}
                Err(e) => panic!("c2s read: {e}"),
            }
        }
    }

    fn send(&mut self, xml: &str) {
        self.stream.write_all(xml.as_bytes()).expect("c2s write");
    }

    fn open_stream(&mut self) -> String {
        self.send(&format!(
            "<?xml version='1.0'?><stream:stream to='{XMPP_DOMAIN}' xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
        ));
        self.read_until("</stream:features>")
    }

    /// Log in with SASL PLAIN, bind, send presence.
    fn login(addr: &str, user: &str) -> C2s {
        let stream = TcpStream::connect(addr).expect("c2s connect");
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut c = C2s {
            stream,
            buf: Vec::new(),
        };
        let features = c.open_stream();
        assert!(
            features.contains(">PLAIN<"),
            "ejabberd offers no SASL PLAIN: {features}"
        );
        let auth = base64(format!("\0{user}\0{PASSWORD}").as_bytes());
        c.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{auth}</auth>"
        ));
        let answer = c.read_until("success");
        assert!(!answer.contains("failure"), "SASL failed: {answer}");
        c.read_until(">");
        c.buf.clear();
        c.open_stream();
        c.send(
            "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
             <resource>bench</resource></bind></iq>",
        );
        c.read_until("</iq>");
        c.send("<presence/>");
        c
    }

    /// Cut `<body>` texts out of the stream until `stop`.
    fn receive(mut self, got: &Arc<Mutex<Received>>, stop: &Arc<std::sync::atomic::AtomicBool>) {
        let mut chunk = vec![0u8; 65536];
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    eprintln!(
                        "c2s closed by ejabberd: {}",
                        String::from_utf8_lossy(&self.buf)
                    );
                    return;
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => continue,
                Err(e) => {
                    eprintln!("c2s read: {e}");
                    return;
                }
            }
            let now = Instant::now();
            let mut bodies = Vec::new();
            let mut consumed = 0;
            while let Some(open) = find(&self.buf[consumed..], b"<body") {
                let start = consumed + open;
                let Some(gt) = find(&self.buf[start..], b">") else {
                    break;
                };
                let text_at = start + gt + 1;
                let Some(end) = find(&self.buf[text_at..], b"</body>") else {
                    break;
                };
                bodies
                    .push(String::from_utf8_lossy(&self.buf[text_at..text_at + end]).into_owned());
                consumed = text_at + end + 7;
            }
            if consumed == 0 && self.buf.len() > 16 && find(&self.buf, b"<body").is_none() {
                // Nothing of a body pending: keep a tail that may start one.
                consumed = self.buf.len() - 8;
            }
            self.buf.drain(..consumed);
            if !bodies.is_empty() {
                let mut g = got.lock().unwrap();
                for b in bodies {
                    *g.bodies.entry(b).or_default() += 1;
                }
                g.last = Some(now);
            }
        }
    }
}

/// A read that may simply be tried again (its timeout, or a signal).
fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------- Kamailio, Parley

/// `deploy/kamailio/kamailio.cfg` with `WITH_DISPATCHER` in front of the
/// instances on `ports` (the harness's Kamailio, with room for the load:
/// its test-sized 16 MB of shared memory run out at 4000/s).
fn start_kamailio(ports: &[u16]) -> Kamailio {
    Kamailio::start_dispatching_sized(
        KamailioConfig {
            sip_domain: COMPONENT.into(),
            xmpp_domains: vec![XMPP_DOMAIN.into()],
            parley_uri: String::new(),
        },
        Dispatcher {
            instances: ports.iter().map(|p| instance_uri(*p)).collect(),
            ping_interval_s: 1,
            fr_timer_ms: u32::try_from(FR_TIMER_MS).unwrap(),
        },
        Memory {
            shared_mb: 1024,
            private_mb: 16,
        },
    )
}

struct Instance {
    child: Option<Child>,
    metrics: SocketAddr,
    dir: tempfile::TempDir,
}

impl Instance {
    /// An instance on `port`, named `name` in the shared store at `store_url`
    /// (README, Scaling and failover: several instances on ejabberd share one).
    fn start(port: u16, ejabberd: &Ejabberd, proxy: u16, store_url: &str, name: &str) -> Instance {
        let dir = tempfile::tempdir().unwrap();
        let metrics: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
        let config = format!(
            r#"
[xmpp]
component_domain = "{COMPONENT}"
server = "{server}"
secret = "{secret}"

[sip]
domain = "{COMPONENT}"
listen = ["udp:127.0.0.1:{port}", "tcp:127.0.0.1:{port}"]
outbound_proxy = "sip:127.0.0.1:{proxy};lr"

[metrics]
listen = "{metrics}"

[store]
url = "{store_url}"
instance = "{name}"

[messages]
delivery_window_ms = {WINDOW_MS}

[log]
level = "warn"
"#,
            server = ejabberd.component_addr(),
            secret = ejabberd.component_secret(),
        );
        let path = dir.path().join("parley.toml");
        std::fs::write(&path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("parley.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_parley"))
            .arg("--config")
            .arg(&path)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start parley");
        let instance = Instance {
            child: Some(child),
            metrics,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_status(metrics, "/readyz") != Some(200) {
            assert!(
                Instant::now() < deadline,
                "parley not ready:\n{}",
                instance.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        instance
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("parley.log")).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Its non-zero message, limit, error and SIP answer counters.
    fn counters(&self) -> Vec<String> {
        http_get(self.metrics, "/metrics")
            .map(|(_, body)| {
                body.lines()
                    .filter(|l| {
                        [
                            "parley_messages_total",
                            "parley_limit_rejections_total",
                            "parley_errors_total",
                            "parley_sip_responses_total",
                        ]
                        .iter()
                        .any(|n| l.starts_with(n))
                            && !l.ends_with(" 0")
                    })
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn delivered(&self) -> f64 {
        http_get(self.metrics, "/metrics")
            .and_then(|(_, body)| {
                body.lines()
                    .find_map(|l| l.strip_prefix(DELIVERED)?.trim().parse().ok())
            })
            .unwrap_or(0.0)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child, Duration::from_secs(5));
        }
    }
}

fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: bench\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    http_get(addr, path).map(|(s, _)| s)
}

// ---------------------------------------------------------------- sipp

struct SippStats {
    sent: u64,
    ok: u64,
    failed: u64,
    retrans: u64,
}

/// The last (cumulative) value of each named column of sipp's `-trace_stat` file.
fn sipp_stats(path: &Path) -> Option<SippStats> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split(';').collect();
    let last: Vec<&str> = lines.rfind(|l| !l.trim().is_empty())?.split(';').collect();
    let col = |name: &str| -> Option<u64> {
        let i = header.iter().position(|h| *h == name)?;
        last.get(i)?.trim().parse().ok()
    };
    Some(SippStats {
        sent: col("OutgoingCall(C)")?,
        ok: col("SuccessfulCall(C)")?,
        failed: col("FailedCall(C)")?,
        retrans: col("Retransmissions(C)")?,
    })
}

// ---------------------------------------------------------------- phases

struct Row {
    instances: usize,
    rate: u32,
    load: String,
    sent: u64,
    delivered: u64,
    dup: u64,
    ok: u64,
    failed: u64,
    retrans: u64,
    rate_got: f64,
    per_instance_us: Vec<f64>,
    per_instance_msgs: Vec<f64>,
    shares: BTreeMap<&'static str, f64>,
    /// Kamailio's and ejabberd's CPU µs per delivered message.
    others_us: (f64, f64),
}

struct World {
    postgres: Postgres,
    ejabberd: Ejabberd,
    received: Arc<Mutex<Received>>,
    dir: tempfile::TempDir,
    hz: f64,
}

fn run_phase(
    world: &World,
    kamailio: &Kamailio,
    instances: &[Instance],
    rate: u32,
    secs: u32,
) -> Row {
    let count = rate * secs;
    let tag = format!("i{}r{rate}", instances.len());
    let csv = world.dir.path().join("users.csv");
    let users: String = (0..USERS).map(|i| format!("{};\n", user(i))).collect();
    std::fs::write(&csv, format!("SEQUENTIAL\n{users}")).unwrap();
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="instances_rate">
<send retrans="500"><![CDATA[
MESSAGE sip:[field0]@{XMPP_DOMAIN} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <sip:alice@{COMPONENT}>;tag=[pid]-[call_number]
To: <sip:[field0]@{XMPP_DOMAIN}>
Call-ID: [call_id]
CSeq: 1 MESSAGE
Content-Type: text/plain
Content-Length: [len]

{tag} [field0] [call_number]
]]></send>
<recv response="200" timeout="10000"/>
</scenario>
"#
    );
    let scenario = world.dir.path().join(format!("{tag}.xml"));
    std::fs::write(&scenario, xml).unwrap();
    let stat = world.dir.path().join(format!("{tag}-stat.csv"));
    let load = loadavg();
    let before: Vec<f64> = instances.iter().map(Instance::delivered).collect();
    let beam = beam_pid();
    let timeout = secs + 30;
    let t0 = Instant::now();
    let mut sipp = Command::new("sipp")
        .arg(format!("127.0.0.1:{}", kamailio.public_port))
        .arg("-sf")
        .arg(&scenario)
        .arg("-inf")
        .arg(&csv)
        .args(["-i", "127.0.0.1", "-p", &free_udp_tcp_port().to_string()])
        .args(["-m", &count.to_string(), "-r", &rate.to_string()])
        .args([
            "-l",
            "100000",
            "-timeout",
            &format!("{timeout}s"),
            "-nostdin",
        ])
        .arg("-trace_stat")
        .arg("-stf")
        .arg(&stat)
        .current_dir(world.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipp (is sip-tester installed?)");
    // The processes of each column: every instance, Kamailio's tree, the
    // Erlang VM's tree, sipp, this process.
    let procs = all_procs();
    let tree = |root: u32| -> Vec<u32> {
        let mut pids = vec![root];
        let mut i = 0;
        while i < pids.len() {
            let parent = pids[i];
            pids.extend(
                procs
                    .iter()
                    .filter(|(_, p)| p.ppid == parent)
                    .map(|(pid, _)| *pid),
            );
            i += 1;
        }
        pids
    };
    let mut groups: Vec<Vec<u32>> = instances.iter().map(|i| tree(i.pid())).collect();
    groups.push(tree(kamailio.pid().unwrap_or(0)));
    groups.push(tree(beam));
    groups.push(vec![sipp.id()]);
    groups.push(vec![std::process::id()]);
    // A process that is gone keeps its last reading.
    let mut last_ticks: HashMap<u32, u64> = HashMap::new();
    let snapshot = |last_ticks: &mut HashMap<u32, u64>| -> (Instant, Vec<u64>) {
        let at = Instant::now();
        let ticks = groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|pid| {
                        let t = proc_stat(*pid)
                            .map_or_else(|| last_ticks.get(pid).copied().unwrap_or(0), |p| p.ticks);
                        last_ticks.insert(*pid, t);
                        t
                    })
                    .sum()
            })
            .collect();
        (at, ticks)
    };
    let mut snapshots = vec![snapshot(&mut last_ticks)];
    // sipp's own ticks are read while it runs: poll it.
    let deadline = Instant::now() + Duration::from_secs(u64::from(timeout) + 10);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        snapshots.push(snapshot(&mut last_ticks));
        if sipp.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = sipp.kill();
            let _ = sipp.wait();
            break;
        }
    }
    let n = instances.len();
    // Stragglers: arrivals after the last 200 (none expected).
    std::thread::sleep(Duration::from_millis(500));
    let stats = sipp_stats(&stat).unwrap_or(SippStats {
        sent: 0,
        ok: 0,
        failed: 0,
        retrans: 0,
    });
    let prefix = format!("{tag} ");
    let (delivered, dup, last) = {
        let g = world.received.lock().unwrap();
        let mut delivered = 0;
        let mut dup = 0;
        for (body, times) in &g.bodies {
            if body.starts_with(&prefix) {
                delivered += 1;
                dup += u64::from(*times - 1);
            }
        }
        (delivered, dup, g.last)
    };
    // CPU from the first send until the last 200 can have left (the window
    // after the last arrival): not the tail of calls sipp waits out.
    let end = last.map_or(t0, |l| l + Duration::from_millis(WINDOW_MS + 100));
    let (t1, c1) = snapshots
        .iter()
        .find(|(at, _)| *at >= end)
        .or(snapshots.last())
        .cloned()
        .unwrap();
    let c0 = &snapshots[0].1;
    let wall = t1.duration_since(snapshots[0].0).as_secs_f64();
    let span = last.map_or(wall, |l| l.duration_since(t0).as_secs_f64());
    let cpu = |i: usize| (c1[i] - c0[i]) as f64 / world.hz;
    let per_instance_us = (0..n)
        .map(|i| cpu(i) * 1e6 / delivered.max(1) as f64)
        .collect();
    let per_instance_msgs = instances
        .iter()
        .zip(before)
        .map(|(i, b)| i.delivered() - b)
        .collect();
    let mut shares = BTreeMap::new();
    shares.insert("parley", (0..n).map(cpu).sum::<f64>() * 100.0 / wall);
    shares.insert("kamailio", cpu(n) * 100.0 / wall);
    shares.insert("ejabberd", cpu(n + 1) * 100.0 / wall);
    shares.insert("sipp", cpu(n + 2) * 100.0 / wall);
    shares.insert("bench", cpu(n + 3) * 100.0 / wall);
    let others_us = (
        cpu(n) * 1e6 / delivered.max(1) as f64,
        cpu(n + 1) * 1e6 / delivered.max(1) as f64,
    );
    Row {
        instances: n,
        rate,
        load,
        sent: stats.sent,
        delivered,
        dup,
        ok: stats.ok,
        failed: stats.failed,
        retrans: stats.retrans,
        rate_got: delivered as f64 / span,
        per_instance_us,
        per_instance_msgs,
        shares,
        others_us,
    }
}

/// The Erlang VM the harness started: a child of this process.
fn beam_pid() -> u32 {
    let me = std::process::id();
    all_procs()
        .into_iter()
        .find(|(_, p)| p.ppid == me && p.comm.starts_with("beam"))
        .map_or(0, |(pid, _)| pid)
}

/// ejabberd on its own: one c2s user sends `count` `<message/>`s (bodies
/// like the phases') to the receivers as fast as it can write them; Parley,
/// Kamailio and sipp are not involved. Returns the table row.
fn ejabberd_ceiling(world: &World, sender: &mut C2s, label: &str, count: usize) -> String {
    let tag = format!("e{label}");
    let prefix = format!("{tag} ");
    let beam = beam_pid();
    let read = || -> (Instant, u64, u64) {
        let procs = all_procs();
        let ticks = |root: u32| -> u64 {
            let mut pids = vec![root];
            let mut i = 0;
            while i < pids.len() {
                let parent = pids[i];
                pids.extend(
                    procs
                        .iter()
                        .filter(|(_, p)| p.ppid == parent)
                        .map(|(pid, _)| *pid),
                );
                i += 1;
            }
            pids.iter()
                .filter_map(|p| procs.get(p))
                .map(|p| p.ticks)
                .sum()
        };
        (Instant::now(), ticks(beam), ticks(std::process::id()))
    };
    let delivered = || {
        let g = world.received.lock().unwrap();
        let n = g.bodies.keys().filter(|b| b.starts_with(&prefix)).count();
        (n, g.last)
    };
    let load = loadavg();
    let start = read();
    let mut batch = String::new();
    for i in 0..count {
        let to = user(i % USERS);
        let _ = write!(
            batch,
            "<message to='{to}@{XMPP_DOMAIN}' type='chat'><body>{tag} {to} {i}</body></message>"
        );
        if batch.len() > 16 * 1024 {
            sender.send(&batch);
            batch.clear();
        }
    }
    sender.send(&batch);
    let sent_at = Instant::now();
    let deadline = sent_at + Duration::from_secs(30);
    let mut quiet_since = Instant::now();
    let mut seen = 0;
    while Instant::now() < deadline {
        let (n, _) = delivered();
        if n >= count {
            break;
        }
        if n != seen {
            seen = n;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() > Duration::from_secs(3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let end = read();
    let (n, last) = delivered();
    let span = last.map_or(0.0, |l| l.duration_since(start.0).as_secs_f64());
    let wall = end.0.duration_since(start.0).as_secs_f64();
    let cpu_e = (end.1 - start.1) as f64 / world.hz;
    let cpu_b = (end.2 - start.2) as f64 / world.hz;
    format!(
        "| ejabberd alone ({label}) | {load} | {n}/{count} | {} | {:.0} | {:.0} µs/msg | {:.0} | {:.0} |",
        count - n,
        n as f64 / span.max(1e-3),
        cpu_e * 1e6 / n.max(1) as f64,
        cpu_e * 100.0 / wall,
        cpu_b * 100.0 / wall,
    )
}

fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| instances | offered/s | load avg at start | delivered/sent | not delivered | dup | SIP 200 / failed | retrans | delivered msgs/s | Parley µs/msg (each) | Parley µs/msg (sum) | messages per instance | Kamailio / ejabberd µs/msg | CPU % Parley / Kamailio / ejabberd / sipp / receivers |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let each: Vec<String> = r
            .per_instance_us
            .iter()
            .map(|u| format!("{u:.1}"))
            .collect();
        let msgs: Vec<String> = r
            .per_instance_msgs
            .iter()
            .map(|m| format!("{m:.0}"))
            .collect();
        let sh = |k: &str| r.shares.get(k).copied().unwrap_or(0.0);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {}/{} | {} | {} | {} / {} | {} | {:.0} | {} | {:.1} | {} | {:.0} / {:.0} | {:.0} / {:.0} / {:.0} / {:.0} / {:.0} |",
            r.instances,
            r.rate,
            r.load,
            r.delivered,
            r.sent,
            r.sent.saturating_sub(r.delivered),
            r.dup,
            r.ok,
            r.failed,
            r.retrans,
            r.rate_got,
            each.join(" + "),
            r.per_instance_us.iter().sum::<f64>(),
            msgs.join(" + "),
            r.others_us.0,
            r.others_us.1,
            sh("parley"),
            sh("kamailio"),
            sh("ejabberd"),
            sh("sipp"),
            sh("bench"),
        );
    }
    s
}

fn main() {
    let mut rates: Vec<u32> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .filter_map(|a| a.parse().ok())
        .collect();
    if rates.is_empty() {
        rates = vec![1000, 2000, 4000, 6000];
    }
    let secs: u32 = std::env::var("INSTANCES_RATE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    for tool in ["erl", "kamailio", "sipp"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .map_or(true, |s| !s.success())
        {
            eprintln!(
                "instances_rate: {tool} is not installed (Debian: ejabberd, kamailio, sip-tester)"
            );
            std::process::exit(1);
        }
    }
    let started = Instant::now();
    println!(
        "instances_rate: SIP → XMPP through Kamailio's dispatcher, 1 then 2 Parley instances; rates {rates:?}/s for {secs} s each; {} cores; load average {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        loadavg()
    );
    let ejabberd = Ejabberd::start(EjabberdConfig {
        domain: XMPP_DOMAIN.into(),
        component_domain: COMPONENT.into(),
        component_secret: "component-secret-for-bench".into(),
    });
    for i in 0..USERS {
        ejabberd.add_user(&user(i), PASSWORD);
    }
    ejabberd.add_user("sender", PASSWORD);
    let received = Arc::new(Mutex::new(Received::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let receivers: Vec<_> = (0..USERS)
        .map(|i| {
            let c = C2s::login(&ejabberd.c2s_addr(), &user(i));
            let got = Arc::clone(&received);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || c.receive(&got, &stop))
        })
        .collect();
    // One shared store for the three instances, as deployed: among other
    // things it hands a keepalive answer that ejabberd routed to another
    // instance back to the pinger (`gateway/src/ping.rs`).
    let postgres = Postgres::start();
    let world = World {
        postgres,
        ejabberd,
        received,
        dir: tempfile::tempdir().unwrap(),
        hz: clk_tck(),
    };
    let ceiling_count: usize = std::env::var("INSTANCES_RATE_CEILING")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30_000);
    let mut sender = C2s::login(&world.ejabberd.c2s_addr(), "sender");
    let mut ceilings = vec![ejabberd_ceiling(
        &world,
        &mut sender,
        "before",
        ceiling_count,
    )];
    println!("{}", ceilings[0]);
    // Both topologies run side by side (the idle one costs its probes), and
    // each rate is offered to one and then to the other, so that other work
    // on the machine weighs on both alike.
    let mut taken: Vec<u16> = Vec::new();
    let topologies: Vec<(Kamailio, Vec<Instance>)> = [1usize, 2]
        .iter()
        .map(|&n| {
            let mut ports: Vec<u16> = Vec::new();
            while ports.len() < n {
                let p = free_udp_tcp_port();
                if !taken.contains(&p) {
                    taken.push(p);
                    ports.push(p);
                }
            }
            let kamailio = start_kamailio(&ports);
            let instances: Vec<Instance> = ports
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let name = format!("i{n}{}", char::from(b'a' + u8::try_from(i).unwrap()));
                    Instance::start(
                        *p,
                        &world.ejabberd,
                        kamailio.gateway_port,
                        &world.postgres.url(),
                        &name,
                    )
                })
                .collect();
            (kamailio, instances)
        })
        .collect();
    let mut rows = Vec::new();
    for &rate in &rates {
        for (kamailio, instances) in &topologies {
            // Probes that failed under the previous phase's load (or before
            // the instances listened) mark an instance down until the next.
            if let Err(e) = kamailio.wait_instances_up(Duration::from_secs(15)) {
                panic!("{e}\n{}", kamailio.log());
            }
            let row = run_phase(&world, kamailio, instances, rate, secs);
            println!(
                "{}",
                table(std::slice::from_ref(&row))
                    .lines()
                    .nth(2)
                    .unwrap_or("")
            );
            rows.push(row);
        }
    }
    for (kamailio, instances) in &topologies {
        let n = instances.len();
        for (i, inst) in instances.iter().enumerate() {
            let log = inst.log();
            println!(
                "instance {i} of {n}: {} log lines (warn and above){}; counters: {}",
                log.lines().count(),
                log.lines()
                    .next()
                    .map_or(String::new(), |l| format!(", the first: {l}")),
                inst.counters().join(", ")
            );
        }
        let klog = kamailio.log();
        let kerr: Vec<&str> = klog
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("CRITICAL"))
            .collect();
        let count = |needle: &str| klog.lines().filter(|l| l.contains(needle)).count();
        println!(
            "Kamailio in front of {n}: {} ERROR/CRITICAL log lines{}; instance marked down {} times \
             (MESSAGE unanswered {} times), MESSAGEs redispatched {} times",
            kerr.len(),
            kerr.first()
                .map_or(String::new(), |l| format!(", the first: {l}")),
            klog.lines()
                .filter(|l| l.contains("Parley instance sip:") && l.trim_end().ends_with(" down"))
                .count(),
            count("no answer from"),
            count("redispatched to"),
        );
    }
    drop(topologies);
    ceilings.push(ejabberd_ceiling(
        &world,
        &mut sender,
        "after",
        ceiling_count,
    ));
    println!("{}", ceilings[1]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in receivers {
        let _ = r.join();
    }
    let mut per_user: BTreeMap<String, u64> = (0..USERS).map(|i| (user(i), 0)).collect();
    for body in world.received.lock().unwrap().bodies.keys() {
        if let Some(u) = body.split(' ').nth(1) {
            *per_user.entry(u.to_owned()).or_default() += 1;
        }
    }
    println!();
    println!("messages received per user: {per_user:?}");
    println!("{}", table(&rows));
    println!(
        "| ejabberd's own ceiling, c2s → c2s | load avg at start | delivered/sent | not delivered | msgs/s | ejabberd CPU | ejabberd CPU % | bench CPU % |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for c in &ceilings {
        println!("{c}");
    }
    println!("({:.0} s in all)", started.elapsed().as_secs_f64());
}

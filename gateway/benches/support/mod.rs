//! What the benches share: a SIP peer that answers 200 to every request and
//! counts the subscriptions it saw refreshed, a minimal XEP-0114 server that
//! counts presence stanzas, the stored dialogs they seed, and readings of
//! RSS, the gateway's CPU time and `/metrics`. Each bench uses part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use parley_sip::dialog::{Dialog, DialogId};

/// The component domain and the SIP domain of the benches' gateway.
pub(crate) const COMPONENT: &str = "sip.example.net";

/// CPU nanoseconds of every thread that is the gateway's: all but the main
/// thread and the bench's `bench-*` peers.
pub(crate) fn gateway_threads_cpu() -> HashMap<u32, u64> {
    let pid = std::process::id();
    let mut cpu = HashMap::new();
    for entry in std::fs::read_dir("/proc/self/task").expect("/proc/self/task (Linux only)") {
        let dir = entry.expect("a task entry").path();
        let Some(tid) = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if tid == pid || comm.starts_with("bench-") {
            continue;
        }
        // A thread that ended between the listing and here has nothing more to count.
        let Ok(schedstat) = std::fs::read_to_string(dir.join("schedstat")) else {
            continue;
        };
        let ns = schedstat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .expect("schedstat starts with the time on the CPU in ns");
        cpu.insert(tid, ns);
    }
    cpu
}

/// The gateway's CPU time from `before` until now.
pub(crate) fn gateway_cpu_since(before: &HashMap<u32, u64>) -> Duration {
    let after = gateway_threads_cpu();
    let ns: u64 = after
        .iter()
        .map(|(tid, ns)| ns.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum();
    Duration::from_nanos(ns)
}

/// This process's resident set (VmRSS), in bytes.
pub(crate) fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// What the SIP responder saw: requests (retransmissions included), and
/// the subscriptions (Call-IDs) refreshed at least once.
#[derive(Default)]
pub(crate) struct Refreshes {
    pub(crate) requests: AtomicU64,
    pub(crate) distinct: AtomicU64,
    /// Of `distinct`, those whose first request continued the stored dialog
    /// (a To tag, and a CSeq above the stored one, 1: RFC 3261 §12.2.1.1).
    pub(crate) in_dialog: AtomicU64,
}

/// A UDP peer that answers every request with 200 and counts them; each
/// answer leaves `rtt` after its request came (a network's round trip).
pub(crate) fn responder(seen: Arc<Refreshes>, rtt: Duration) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let (delayed, due) = std::sync::mpsc::channel::<(Instant, String, SocketAddr)>();
    let answers = socket.try_clone().unwrap();
    std::thread::spawn(move || {
        // One delay for all: they leave in the order they came.
        while let Ok((at, answer, to)) = due.recv() {
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            let _ = answers.send_to(answer.as_bytes(), to);
        }
    });
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        let mut call_ids = std::collections::HashSet::new();
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            if text.starts_with("SIP/2.0") {
                continue;
            }
            seen.requests.fetch_add(1, Ordering::Relaxed);
            let call_id = text
                .split("\r\n")
                .find_map(|l| l.strip_prefix("Call-ID: "))
                .map(str::to_owned);
            if call_id.is_some_and(|c| call_ids.insert(c)) {
                seen.distinct.fetch_add(1, Ordering::Relaxed);
                if continues_dialog(&text) {
                    seen.in_dialog.fetch_add(1, Ordering::Relaxed);
                }
            }
            if rtt.is_zero() {
                let _ = socket.send_to(ok_for(&text).as_bytes(), from);
            } else {
                let _ = delayed.send((Instant::now() + rtt, ok_for(&text), from));
            }
        }
    });
    addr
}

/// `GET /metrics` from the gateway: the lines of the series named.
pub(crate) fn scrape(metrics: SocketAddr, names: &[&str]) -> Vec<String> {
    use std::io::Read as _;
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&metrics, Duration::from_secs(5))
    else {
        return vec!["(metrics unreachable)".to_owned()];
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text.lines()
        .filter(|l| !l.starts_with('#') && names.iter().any(|n| l.starts_with(n)))
        .map(str::to_owned)
        .collect()
}

fn ok_for(request: &str) -> String {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for line in request.split("\r\n") {
        if ["Via:", "From:", "To:", "Call-ID:", "CSeq:"]
            .iter()
            .any(|h| line.starts_with(h))
        {
            out.push_str(line);
            if line.starts_with("To:") && !line.contains("tag=") {
                out.push_str(";tag=bench");
            }
            out.push_str("\r\n");
        }
    }
    out.push_str("Contact: <sip:bench@127.0.0.1>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n");
    out
}

/// What the XMPP peer was sent: presence stanzas, and among them those that
/// tell a user her subscription is gone (none may come from a restore).
#[derive(Default)]
pub(crate) struct Stanzas {
    pub(crate) presences: AtomicU64,
    pub(crate) unsubscribed: AtomicU64,
    pub(crate) unavailable: AtomicU64,
}

/// A minimal XEP-0114 server: accepts parley's stream and handshake, then
/// counts `<presence` in everything it receives.
/// `connected` fires once the handshake is answered.
pub(crate) async fn xmpp_peer(
    listener: TcpListener,
    counts: Arc<Stanzas>,
    connected: tokio::sync::oneshot::Sender<Instant>,
) {
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut seen = Vec::new();
    // Stream header, then <handshake>…</handshake>.
    loop {
        let n = stream.read(&mut buf).await.unwrap();
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
                 xmlns:stream='http://etherx.jabber.org/streams' from='{COMPONENT}' id='bench1'>"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    seen.clear();
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        seen.extend_from_slice(&buf[..n]);
        if seen.windows(12).any(|w| w == b"</handshake>") {
            break;
        }
    }
    stream.write_all(b"<handshake/>").await.unwrap();
    let _ = connected.send(Instant::now());
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let Ok(n) = stream.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        tail.extend_from_slice(&buf[..n]);
        // Count up to the last '>': no needle holds one, so none spans the cut.
        let Some(cut) = tail.iter().rposition(|&b| b == b'>') else {
            continue;
        };
        let done = &tail[..=cut];
        let count =
            |needle: &[u8]| done.windows(needle.len()).filter(|w| *w == needle).count() as u64;
        counts
            .presences
            .fetch_add(count(b"<presence"), Ordering::Relaxed);
        counts
            .unsubscribed
            .fetch_add(count(b"type='unsubscribed'"), Ordering::Relaxed);
        counts
            .unavailable
            .fetch_add(count(b"type='unavailable'"), Ordering::Relaxed);
        tail.drain(..=cut);
    }
}

/// The stored dialog of subscription `i`: local CSeq 1, remote target the responder.
pub(crate) fn dialog(i: usize, responder: SocketAddr) -> Dialog {
    Dialog {
        id: DialogId {
            call_id: format!("bench-{i}"),
            local_tag: format!("l{i}"),
            remote_tag: format!("r{i}"),
        },
        local_uri: format!("sip:juliet{i}@xmpp.example"),
        remote_uri: format!("sip:bob{i}@{COMPONENT}"),
        remote_target: format!("sip:bob{i}@{responder}"),
        route_set: Vec::new(),
        local_seq: 1,
        remote_seq: None,
    }
}

/// Whether `request` continues a stored dialog of [`dialog`]: a To tag and a
/// CSeq above 1.
fn continues_dialog(request: &str) -> bool {
    let mut lines = request.split("\r\n");
    let to_tag = lines
        .clone()
        .find(|l| l.starts_with("To:"))
        .is_some_and(|l| l.contains("tag="));
    let cseq = lines
        .find_map(|l| l.strip_prefix("CSeq: "))
        .and_then(|c| c.split_whitespace().next())
        .and_then(|n| n.parse::<u32>().ok());
    to_tag && cseq.is_some_and(|n| n > 1)
}

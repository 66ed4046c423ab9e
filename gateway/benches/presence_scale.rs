//! Presence at scale (issue 15, issue 24): memory per active subscription,
//! restore time and NOTIFY → `<presence/>` translations per second with
//! 10k, 50k and 100k subscriptions, through the real gateway
//! (`parley_gateway::run_with`) on loopback, with the default restore
//! configuration (`store.restore_in_flight`).
//!
//! For each N: the store is seeded with N subscriptions of XMPP users to SIP
//! users (dialogs pointing at a local UDP responder that answers 200 to
//! everything); the gateway starts against a minimal XEP-0114 peer that
//! counts the stanzas it gets, takes the N subscriptions up (N refresh
//! SUBSCRIBEs), and then receives one NOTIFY per subscription with at most
//! `WINDOW` unanswered at a time. Reported: restore time, RSS growth per
//! subscription once restored, NOTIFY → presence rate.
//!
//! `cargo bench -p parley-gateway --bench presence_scale [-- N ...]`;
//! `PRESENCE_SCALE_RTT_MS=M` has the SIP responder answer M ms late (a
//! network's round trip), `PARLEY_STORE__RESTORE_IN_FLIGHT=W` sets the
//! gateway's restore window as for any config key,
//! `PRESENCE_SCALE_STOP_AFTER_RESTORE=1` ends the process once the RSS after
//! the restore is read (for a heap profiler: what is live then shows as
//! leaked). Transparent huge pages are off unless
//! `PARLEY_RUNTIME__TRANSPARENT_HUGE_PAGES=true`, as in the binary.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::io::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use parley_gateway::config::Config;
use parley_gateway::store::{Settings, Store, WatchRow, unix_after};

use support::{COMPONENT, Refreshes, Stanzas, dialog, responder, rss_bytes, scrape, xmpp_peer};

/// The allocator of the `parley` binary (`src/main.rs`), so that the RSS
/// this bench reports is the one a deployment sees (bench/RESULTS.md, "The
/// allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// NOTIFYs in flight at once (unanswered by parley).
const WINDOW: u64 = 64;

/// The series the bench reports after the restore.
const REPORTED: [&str; 6] = [
    "parley_limit_rejections_total{limit=\"sip_pending_transactions\"}",
    "parley_presence_requests_deferred_total",
    "parley_subscription_refreshes_total",
    "parley_subscriptions_restored_total{kind=\"sip_subscriptions_out\"",
    "parley_sip_transactions",
    "parley_errors_total",
];

fn notify(i: usize, cseq: u32, me: SocketAddr) -> String {
    let body = format!(
        "<?xml version=\"1.0\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" \
         entity=\"sip:bob{i}@{COMPONENT}\"><tuple id=\"t1\"><status><basic>open</basic>\
         </status><note>busy {i}</note></tuple></presence>"
    );
    format!(
        "NOTIFY sip:juliet{i}@xmpp.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bK-n{i}-{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:bob{i}@{COMPONENT}>;tag=r{i}\r\n\
         To: <sip:juliet{i}@xmpp.example>;tag=l{i}\r\n\
         Call-ID: bench-{i}\r\n\
         CSeq: {cseq} NOTIFY\r\n\
         Event: presence\r\n\
         Subscription-State: active;expires=3000\r\n\
         Content-Type: application/pidf+xml\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

async fn one_run(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let refreshes = Arc::new(Refreshes::default());
    // PRESENCE_SCALE_RTT_MS: the SIP side's round trip (0: loopback's).
    let rtt = std::env::var("PRESENCE_SCALE_RTT_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis);
    let sip_peer = responder(Arc::clone(&refreshes), rtt);
    {
        let (store, task, _, _) =
            Store::open(&Settings::embedded(&dir.path().join("store")), |_| {}).await;
        for i in 0..n {
            store.put_watch(WatchRow {
                call_id: format!("bench-{i}"),
                watcher: format!("juliet{i}@xmpp.example"),
                contact: format!("bob{i}@{COMPONENT}"),
                expires_at: unix_after(Duration::from_secs(3000)),
                last_pidf: None,
                dialog: Some(dialog(i, sip_peer)),
            });
        }
        task.close(&store).await;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let xmpp_addr = listener.local_addr().unwrap();
    let stanzas = Arc::new(Stanzas::default());
    let (connected_tx, connected_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(xmpp_peer(listener, Arc::clone(&stanzas), connected_tx));
    let sip_port = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let toml = format!(
        r#"
[xmpp]
component_domain = "{COMPONENT}"
server = "{xmpp_addr}"
secret = "bench"
keepalive_secs = 3600
queue_capacity = 1000000
[sip]
domain = "{COMPONENT}"
listen = ["udp:127.0.0.1:{sip_port}"]
[metrics]
listen = "127.0.0.1:0"
[store]
path = "{store}"
[log]
level = "error"
"#,
        store = dir.path().join("store").display()
    );
    let path = dir.path().join("parley.toml");
    std::fs::write(&path, toml).unwrap();
    let config = Config::load(&path).unwrap();
    // As the binary starts (`main.rs`, `runtime.transparent_huge_pages`,
    // default off): with the allocator's huge pages the RSS grows in 2 MiB
    // steps, which is not what a deployed gateway holds.
    #[cfg(target_os = "linux")]
    if !config.runtime.transparent_huge_pages {
        rustix::thread::disable_transparent_huge_pages(true).unwrap();
    }
    let rss_before = rss_bytes();
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let gateway = tokio::spawn(parley_gateway::run_with(
        config,
        shutdown.clone(),
        move |bound| {
            let _ = bound_tx.send(bound.metrics);
        },
    ));
    let metrics = bound_rx.await.unwrap();
    // Listening: the store is loaded (`run_with` opens it first).
    let loaded_in = started.elapsed();

    eprintln!("N={n}: store seeded, gateway starting");
    // Restore: every stored dialog refreshed at least once. Stalled: no new
    // one for `STALL`; what the gateway counted says why.
    const STALL: Duration = Duration::from_secs(30);
    let (mut last, mut moved) = (0, Instant::now());
    loop {
        let distinct = refreshes.distinct.load(Ordering::Relaxed);
        if distinct >= n as u64 {
            break;
        }
        if distinct > last {
            (last, moved) = (distinct, Instant::now());
        }
        if moved.elapsed() > STALL {
            let report = tokio::task::spawn_blocking(move || scrape(metrics, &REPORTED))
                .await
                .unwrap();
            panic!(
                "restore stalled at {distinct} of {n} subscriptions refreshed after {:?}; \
                 XMPP users told unsubscribed {}, unavailable {}; gateway:\n{}",
                started.elapsed(),
                stanzas.unsubscribed.load(Ordering::Relaxed),
                stanzas.unavailable.load(Ordering::Relaxed),
                report.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let restored_in = started.elapsed();
    let connected_in = connected_rx
        .await
        .map_or(Duration::ZERO, |at| at.duration_since(started));
    // Let the refresh transactions finish (Timer K, 5 s) before measuring.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let rss_restored = rss_bytes();
    let report = tokio::task::spawn_blocking(move || scrape(metrics, &REPORTED))
        .await
        .unwrap();
    eprintln!(
        "N={n}: restored in {restored_in:?} (store loaded in {loaded_in:?}, component up in \
         {connected_in:?}; {} refresh requests for {n}, {} in their stored dialogs; XMPP users told unsubscribed {}, \
         unavailable {}); gateway:\n  {}\nNOTIFYs now",
        refreshes.requests.load(Ordering::Relaxed),
        refreshes.in_dialog.load(Ordering::Relaxed),
        stanzas.unsubscribed.load(Ordering::Relaxed),
        stanzas.unavailable.load(Ordering::Relaxed),
        report.join("\n  ")
    );

    // PRESENCE_SCALE_STOP_AFTER_RESTORE: end here, so that a heap profiler
    // (`heaptrack`) reports what is live once restored as "leaked".
    if std::env::var_os("PRESENCE_SCALE_STOP_AFTER_RESTORE").is_some() {
        let per_sub = rss_restored.saturating_sub(rss_before) as f64 / n as f64;
        println!(
            "N={n:>6}  restore {:>6.2} s  RSS +{:>7.1} MiB ({per_sub:>6.0} B/subscription), stopped after the restore",
            restored_in.as_secs_f64(),
            (rss_restored.saturating_sub(rss_before)) as f64 / (1 << 20) as f64,
        );
        let _ = std::io::stdout().flush();
        std::process::exit(0);
    }

    // NOTIFY blast, WINDOW unanswered at most.
    let parley: SocketAddr = ([127, 0, 0, 1], sip_port).into();
    let before = stanzas.presences.load(Ordering::Relaxed);
    let blast = tokio::task::spawn_blocking(move || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let me = socket.local_addr().unwrap();
        let mut buf = vec![0u8; 4096];
        let mut outstanding = std::collections::HashSet::new();
        let (mut next, mut answered, mut refused) = (0usize, 0u64, 0u64);
        let t0 = Instant::now();
        while answered < n as u64 && t0.elapsed() < Duration::from_secs(120) {
            while next < n && (outstanding.len() as u64) < WINDOW {
                socket
                    .send_to(notify(next, 2, me).as_bytes(), parley)
                    .unwrap();
                outstanding.insert(next);
                next += 1;
            }
            match socket.recv_from(&mut buf) {
                Ok((len, _)) => {
                    let text = String::from_utf8_lossy(&buf[..len]);
                    let i = text
                        .split("\r\n")
                        .find_map(|l| l.strip_prefix("Call-ID: bench-"))
                        .and_then(|i| i.trim().parse::<usize>().ok());
                    if text.starts_with("SIP/2.0 200") && i.is_some_and(|i| outstanding.remove(&i))
                    {
                        answered += 1;
                    } else if text.starts_with("SIP/2.0 503") {
                        // Left outstanding: sent again after the read timeout.
                        refused += 1;
                    }
                }
                // RFC 3261 §17.1.2.2: retransmit what is unanswered (same branch).
                Err(_) => {
                    for &i in &outstanding {
                        socket.send_to(notify(i, 2, me).as_bytes(), parley).unwrap();
                    }
                }
            }
        }
        (answered, refused, t0.elapsed())
    });
    let (answered, refused, sip_time) = blast.await.unwrap();
    let t0 = Instant::now();
    while stanzas.presences.load(Ordering::Relaxed) - before < answered {
        if t0.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delivered = stanzas.presences.load(Ordering::Relaxed) - before;
    let total = sip_time + t0.elapsed();
    let rate = delivered as f64 / total.as_secs_f64();
    let per_sub = rss_restored.saturating_sub(rss_before) as f64 / n as f64;
    println!(
        "N={n:>6}  restore {:>6.2} s  RSS +{:>7.1} MiB ({per_sub:>6.0} B/subscription)  \
         NOTIFY→presence {delivered}/{n} answered {answered} (503: {refused}) in {:.2} s = {rate:>7.0}/s",
        restored_in.as_secs_f64(),
        (rss_restored.saturating_sub(rss_before)) as f64 / (1 << 20) as f64,
        total.as_secs_f64(),
    );
    let _ = std::io::stdout().flush();
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(60), gateway).await;
}

fn main() {
    // cargo bench passes `--bench`; numbers are the sizes.
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 50_000, 100_000]
    } else {
        sizes
    };
    if sizes.len() > 1 {
        // One process per size: RSS the allocator kept from a bigger run
        // would hide a smaller run's growth.
        for n in sizes {
            let status = std::process::Command::new(std::env::current_exe().unwrap())
                .arg(n.to_string())
                .status()
                .unwrap();
            assert!(status.success());
        }
        return;
    }
    for n in sizes {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(one_run(n));
    }
}

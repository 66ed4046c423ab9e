//! `loadgen`: drives a running `parley` on loopback and reports what it
//! delivered, how fast, at what latency and CPU cost (bench/README in the
//! repository README's "Benchmarks" section).
//!
//! It plays both peers at once: the XMPP server Parley's component connects
//! to (or, with `--c2s`, a user on a real XMPP server) and the SIP phones on
//! either side (a UAC sending to Parley, a UAS that is Parley's outbound
//! proxy). Every message carries `lg <phase> <seq>` in its body, so each
//! delivery is matched to its send in the same process and clock.
//!
//! Phases run one after another: `s2x:RATE:COUNT` (SIP MESSAGE → XMPP),
//! `x2s:RATE:COUNT` (XMPP → SIP), `mix:RATE:COUNT` (alternating),
//! `server:RATE:COUNT` (the load tool's own raw component → the XMPP server
//! → the c2s user, Parley not involved: the server's own ceiling); RATE is
//! messages per second or `max` (a closed loop with `--window` messages in
//! flight, or `:window=N`); `:flood=N` adds N hostile datagrams per second
//! from `--flood-bind` while the phase runs. All traffic goes to the
//! addresses given, which the scripts keep on loopback; every phase is
//! bounded by its count, `--max-phase-secs` and `--drain-secs`.

mod c2s;
mod c2s_scan;
mod component;
mod phase;
mod probe;
mod report;
mod sip;
mod stream;
mod tracker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::phase::{Direction, PhaseSpec, parse_phase};
use crate::report::{Costs, PhaseReport};
use crate::tracker::{Phases, Tracker, body};

#[derive(Debug, Parser)]
#[command(about = "Load generator for parley: fake XMPP server + SIP UAC/UAS on loopback")]
struct Args {
    /// Listen here as the XMPP server's component port (Parley's `xmpp.server`).
    #[arg(long, conflicts_with = "c2s")]
    component_listen: Option<SocketAddr>,
    /// Or: the c2s port of a real XMPP server, with `--jid` and `--password`.
    #[arg(long, requires_all = ["jid", "password"])]
    c2s: Option<String>,
    /// The c2s user (gets SIP → XMPP messages, sends XMPP → SIP ones).
    #[arg(long, default_value = "juliet@localhost")]
    jid: String,
    /// The c2s user's password.
    #[arg(long)]
    password: Option<String>,
    /// The c2s client: `tokio-xmpp` parses every stanza (a few thousand a
    /// second through Prosody at most), `scan` cuts them from the byte stream
    /// (cheap enough to follow the server's own ceiling).
    #[arg(long, value_enum, default_value_t = C2sClient::TokioXmpp)]
    c2s_client: C2sClient,
    /// For `server` phases: a real XMPP server's component port, where the
    /// load tool connects as its own raw component (XEP-0114).
    #[arg(long, requires = "server_component_secret")]
    server_component: Option<String>,
    /// That component's domain (configured on the server).
    #[arg(long, default_value = "ceiling.localhost")]
    server_component_domain: String,
    /// That component's secret.
    #[arg(long)]
    server_component_secret: Option<String>,
    /// The XMPP server's pid, for its CPU time per phase.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Pad every message body (SIP and XMPP) to this many bytes (0: just
    /// the load tag, `lg <phase> <seq>`).
    #[arg(long, default_value_t = 0)]
    body_bytes: usize,
    /// Parley's component domain.
    #[arg(long, default_value = "sip.localhost")]
    domain: String,
    /// Parley's SIP UDP listener.
    #[arg(long)]
    parley_sip: SocketAddr,
    /// Where the UAC sends from.
    #[arg(long, default_value = "127.0.0.1:0")]
    uac: SocketAddr,
    /// Where the UAS listens (Parley's `sip.outbound_proxy`).
    #[arg(long)]
    uas: SocketAddr,
    /// Where the flood comes from.
    #[arg(long, default_value = "127.0.0.2:0")]
    flood_bind: SocketAddr,
    /// Parley's pid, for CPU time and RSS.
    #[arg(long)]
    parley_pid: u32,
    /// Parley's metrics endpoint, for registry gauges.
    #[arg(long)]
    metrics: SocketAddr,
    /// Phases, in order: `s2x|x2s|mix:RATE|max:COUNT[:flood=N]`.
    #[arg(long = "phase", required = true)]
    phases: Vec<String>,
    /// Messages in flight in `max` phases. Kept under what a default UDP
    /// receive buffer holds (~90 small datagrams on Linux loopback), so a
    /// burst is not dropped by the kernel before parley reads it.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// How long to wait for stragglers after the last send.
    #[arg(long, default_value_t = 5)]
    drain_secs: u64,
    /// After each phase, wait up to this long for Parley to hold no SIP
    /// transactions (`parley_sip_transactions` 0: server transactions linger
    /// for Timer J, 32 s, and count against `limits.sip_pending_transactions`),
    /// so the next phase starts clean; Parley's CPU over the wait is
    /// reported as the phase's expiry cost.
    #[arg(long, default_value_t = 0)]
    settle_secs: u64,
    /// Stop sending in a phase after this long, whatever its count.
    #[arg(long, default_value_t = 120)]
    max_phase_secs: u64,
    /// Append one `key=value` line per phase to this file (for scripts).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Presence churn during phases: subscribes per second (each unsubscribed
    /// 20 subscribes later), XMPP users watching SIP users (RFC 8048 §5).
    #[arg(long, default_value_t = 0)]
    churn: u32,
    /// Print a memory/registry sample this often (0: only per phase).
    #[arg(long, default_value_t = 0)]
    sample_secs: u64,
    /// How long to wait for Parley's component connection.
    #[arg(long, default_value_t = 30)]
    connect_wait: u64,
}

/// Which c2s client plays the XMPP user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum C2sClient {
    /// The harness's tokio-xmpp client.
    TokioXmpp,
    /// The scanning client (`c2s_scan.rs`).
    Scan,
}

/// How stanzas reach Parley's XMPP side.
#[derive(Clone)]
enum XmppSide {
    Component(component::Component),
    C2s(mpsc::Sender<String>),
    C2sScan(mpsc::Sender<Vec<u8>>),
}

impl XmppSide {
    async fn send(&self, xml: String) {
        match self {
            Self::Component(c) => {
                c.send(xml.into_bytes()).await;
            }
            Self::C2s(tx) => {
                let _ = tx.send(xml).await;
            }
            Self::C2sScan(tx) => {
                let _ = tx.send(xml.into_bytes()).await;
            }
        }
    }

    /// The XMPP user's address as stanzas from it must carry.
    fn sender_attr(&self, jid: &str) -> String {
        match self {
            // A component stream carries full addresses (XEP-0114 §2).
            Self::Component(_) => format!(" from='{jid}/loadgen'"),
            // On c2s the server stamps `from`.
            Self::C2s(_) | Self::C2sScan(_) => String::new(),
        }
    }
}

struct Ctx {
    args: Args,
    phases: Arc<Phases>,
    uac: sip::Uac,
    xmpp: XmppSide,
    /// The raw component for `server` phases.
    server_component: Option<component::Component>,
    uas: Arc<sip::UasCounters>,
    epoch: Instant,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let specs = args
        .phases
        .iter()
        .map(|p| parse_phase(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let phases = Arc::new(Phases::default());
    let (uas_addr, uas) = sip::uas(args.uas, phases.clone())
        .await
        .context("bind UAS")?;
    if specs.iter().any(|s| s.direction == Direction::ServerOnly)
        && (args.server_component.is_none() || args.c2s.is_none())
    {
        bail!("`server` phases need --server-component and --c2s");
    }
    let uac = sip::Uac::bind(args.uac, args.parley_sip, args.body_bytes, phases.clone())
        .await
        .context("bind UAC")?;
    let xmpp = if let Some(listen) = args.component_listen {
        let listener = TcpListener::bind(listen)
            .await
            .context("bind component port")?;
        eprintln!("loadgen: component port {listen}, UAS {uas_addr}; waiting for parley");
        let c = component::accept(
            &listener,
            &args.domain,
            phases.clone(),
            Duration::from_secs(args.connect_wait),
        )
        .await
        .context("component handshake")?;
        XmppSide::Component(c)
    } else if let Some(addr) = &args.c2s {
        let password = args.password.clone().unwrap_or_default();
        match args.c2s_client {
            C2sClient::TokioXmpp => {
                let tx = c2s::start(addr, &args.jid, &password, phases.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!("c2s login: {e}"))?;
                XmppSide::C2s(tx)
            }
            C2sClient::Scan => {
                let tx = c2s_scan::start(addr, &args.jid, &password, phases.clone())
                    .await
                    .context("c2s login")?;
                XmppSide::C2sScan(tx)
            }
        }
    } else {
        bail!("give --component-listen or --c2s");
    };
    let server_component = match (&args.server_component, &args.server_component_secret) {
        (Some(addr), Some(secret)) => Some(
            component::connect(addr, &args.server_component_domain, secret, phases.clone())
                .await
                .context("raw component login")?,
        ),
        _ => None,
    };
    // Let Parley finish its start (disco, probes) before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let ctx = Arc::new(Ctx {
        args,
        phases,
        uac,
        xmpp,
        server_component,
        uas,
        epoch: Instant::now(),
    });
    let sampling = Arc::new(AtomicBool::new(true));
    if ctx.args.sample_secs > 0 {
        tokio::spawn(sample_loop(ctx.clone(), sampling.clone()));
    }
    let churning = Arc::new(AtomicBool::new(true));
    let churn =
        (ctx.args.churn > 0).then(|| tokio::spawn(churn_loop(ctx.clone(), churning.clone())));

    println!(
        "| phase | delivered/sent | loss | msgs/s | p50 ms | p99 ms | max ms | 200 p50/p99 ms | CPU µs/msg | RSS MiB (peak) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (i, spec) in specs.iter().enumerate() {
        let phase = u32::try_from(i + 1).unwrap_or(u32::MAX);
        run_phase(&ctx, spec, phase).await?;
    }
    churning.store(false, Ordering::Relaxed);
    if let Some(churn) = churn {
        let _ = churn.await;
        // Let the last unsubscribes settle, then show the registries.
        tokio::time::sleep(Duration::from_secs(ctx.args.drain_secs)).await;
    }
    sampling.store(false, Ordering::Relaxed);
    sample(&ctx, "final").await;
    print_counters(&ctx);
    Ok(())
}

/// Waits until Parley holds no SIP transactions, up to `--settle-secs`.
async fn settle(ctx: &Ctx, phase: u32) {
    let started = Instant::now();
    let limit = Duration::from_secs(ctx.args.settle_secs);
    loop {
        let held = probe::gauges(ctx.args.metrics)
            .await
            .map_or(f64::NAN, |g| g.sip_transactions);
        if held == 0.0 {
            return;
        }
        if started.elapsed() >= limit {
            eprintln!(
                "loadgen: phase {phase}: parley still holds {held} SIP transactions after {} s (NaN: gauge unreadable); starting anyway",
                ctx.args.settle_secs
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn run_phase(ctx: &Arc<Ctx>, spec: &PhaseSpec, phase: u32) -> anyhow::Result<()> {
    let tracker = Arc::new(Tracker::new(phase, spec.count));
    ctx.phases.add(tracker.clone());
    let stop_flood = Arc::new(AtomicBool::new(false));
    let flood = match spec.flood {
        Some(rate) => Some(
            sip::flood(
                ctx.args.flood_bind,
                ctx.args.parley_sip,
                rate,
                stop_flood.clone(),
            )
            .await
            .context("bind flood source")?,
        ),
        None => None,
    };
    let before = Costs::now(ctx.args.parley_pid, ctx.args.server_pid);
    let started = Instant::now();
    let max_phase = Duration::from_secs(ctx.args.max_phase_secs);
    let window = spec.window.unwrap_or(ctx.args.window);
    let mut sent = 0usize;
    match spec.rate {
        Some(rate) => {
            while sent < spec.count && started.elapsed() < max_phase {
                let due =
                    ((started.elapsed().as_secs_f64() * f64::from(rate)) as usize).min(spec.count);
                while sent < due {
                    send_one(ctx, spec.direction, &tracker, sent).await;
                    sent += 1;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        None => {
            while sent < spec.count && started.elapsed() < max_phase {
                // Refused and failed messages leave the window as delivered
                // ones do; lost ones stay in it.
                while sent < spec.count && sent - tracker.settled().min(sent) < window {
                    send_one(ctx, spec.direction, &tracker, sent).await;
                    sent += 1;
                }
                // No progress for 2 s: what is in flight is lost; go on.
                if tokio::time::timeout(Duration::from_secs(2), tracker.progress.notified())
                    .await
                    .is_err()
                {
                    eprintln!("loadgen: phase {phase}: nothing settled for 2 s with {sent} sent");
                    break;
                }
            }
        }
    }
    if sent < spec.count && started.elapsed() >= max_phase {
        eprintln!(
            "loadgen: phase {phase}: stopped sending after {} s, {sent} of {} sent",
            ctx.args.max_phase_secs, spec.count
        );
    }
    let sent_all = started.elapsed();
    let drain = Instant::now();
    let drain_for = Duration::from_secs(ctx.args.drain_secs);
    while tracker.settled() < sent && drain.elapsed() < drain_for {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // SIP → XMPP answers come after the delivery window; give them that long too.
    if spec.sends_sip() {
        while tracker.answered() + tracker.failures().len() < spec.via_sip(tracker.settled())
            && drain.elapsed() < drain_for
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    stop_flood.store(true, Ordering::Relaxed);
    let end = Costs::now(ctx.args.parley_pid, ctx.args.server_pid);
    let costs = end.since(&before);
    let expiry = if ctx.args.settle_secs > 0 {
        settle(ctx, phase).await;
        Some(Costs::now(ctx.args.parley_pid, ctx.args.server_pid).since(&end))
    } else {
        None
    };
    let (rss, hwm) = probe::memory_kib(ctx.args.parley_pid).unwrap_or((0, 0));
    let outcomes = tracker.outcomes(sent);
    let delivered = outcomes.delivered;
    let lat = tracker.delivery_latencies();
    let ans = tracker.answer_latencies();
    let span = tracker.span().as_secs_f64().max(1e-9);
    let not_delivered = sent - delivered;
    println!(
        "| {} | {delivered}/{sent} | {not_delivered} ({:.2}%) | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.1} ({:.1}) |",
        spec.text,
        100.0 * not_delivered as f64 / sent.max(1) as f64,
        delivered as f64 / span,
        lat.percentile_ms(50.0),
        lat.percentile_ms(99.0),
        lat.max_ms(),
        if spec.sends_sip() {
            format!(
                "{:.0}/{:.0}",
                ans.percentile_ms(50.0),
                ans.percentile_ms(99.0)
            )
        } else {
            "-".to_owned()
        },
        costs.parley_cpu * 1e6 / delivered.max(1) as f64,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
    );
    let failures = tracker.failures();
    let stanza_errors = tracker.stanza_errors();
    let dups = tracker.duplicates.load(Ordering::Relaxed);
    let retransmissions = tracker.retransmissions.load(Ordering::Relaxed);
    eprintln!(
        "loadgen: phase {phase} {}: sent in {:.2} s, {} answered 2xx, {} SIP failure answers {:?}, {} XMPP errors {:?}, {dups} duplicate deliveries, {retransmissions} SIP retransmissions of delivered messages, parley CPU {:.2} s",
        spec.text,
        sent_all.as_secs_f64(),
        tracker.answered(),
        failures.len(),
        summarize(&failures),
        stanza_errors.len(),
        summarize(&stanza_errors),
        costs.parley_cpu,
    );
    eprintln!(
        "loadgen: phase {phase} {}: {} delivered, {} refused (retry later), {} failed, {} lost without a failure answer ({} of them answered 2xx), {} refused yet delivered; {}",
        spec.text,
        outcomes.delivered,
        outcomes.refused,
        outcomes.failed,
        outcomes.lost,
        outcomes.lost_after_2xx,
        outcomes.refused_but_delivered,
        costs.describe(),
    );
    if let Some(e) = &expiry {
        eprintln!(
            "loadgen: phase {phase} {}: then {:.1} s until parley held no SIP transactions, parley CPU {:.2} s meanwhile",
            spec.text, e.wall, e.parley_cpu,
        );
    }
    if let Some(f) = flood {
        let c = |a: &std::sync::atomic::AtomicUsize| a.load(Ordering::Relaxed);
        eprintln!(
            "loadgen: phase {phase} flood: {} datagrams sent from {}, {} answers ({} 2xx, {} 4xx, {} 5xx)",
            c(&f.sent),
            ctx.args.flood_bind.ip(),
            c(&f.answers),
            c(&f.answers_2xx),
            c(&f.answers_4xx),
            c(&f.answers_5xx),
        );
    }
    if let Some(path) = &ctx.args.report {
        let report = PhaseReport {
            spec,
            sent,
            outcomes,
            duplicates: dups,
            retransmissions,
            span_secs: span,
            costs,
            expiry,
        };
        report::append(path, &report.line()).context("write --report")?;
    }
    Ok(())
}

async fn send_one(ctx: &Ctx, direction: Direction, tracker: &Tracker, seq: usize) {
    let body = || body(tracker.phase, seq, ctx.args.body_bytes);
    match direction {
        Direction::SipToXmpp => send_sip(ctx, tracker, seq).await,
        Direction::Mix if seq.is_multiple_of(2) => send_sip(ctx, tracker, seq).await,
        Direction::XmppToSip | Direction::Mix => {
            let from = ctx.xmpp.sender_attr(&ctx.args.jid);
            let xml = format!(
                "<message{from} to='bob@{}' id='lg.{}.{seq}'><body>{}</body></message>",
                ctx.args.domain,
                tracker.phase,
                body()
            );
            tracker.mark_sent(seq);
            ctx.xmpp.send(xml).await;
        }
        Direction::ServerOnly => {
            let Some(component) = &ctx.server_component else {
                return;
            };
            // The shape of what Parley sends for a SIP MESSAGE (RFC 7572 §5:
            // no type; the Call-ID as <thread/>), from the load tool's own
            // component domain.
            let xml = format!(
                "<message from='bob@{domain}' to='{}' id='lg.{phase}.{seq}'><body>{}</body>\
                 <thread>lg.{phase}.{seq}@127.0.0.1</thread></message>",
                ctx.args.jid,
                body(),
                domain = ctx.args.server_component_domain,
                phase = tracker.phase,
            );
            tracker.mark_sent(seq);
            component.send(xml.into_bytes()).await;
        }
    }
}

async fn send_sip(ctx: &Ctx, tracker: &Tracker, seq: usize) {
    ctx.uac.send(tracker, seq, "bob", &ctx.args.jid).await;
}

/// Subscribes the XMPP user to `churn<i>@domain` every 1/churn s and
/// unsubscribes the one 20 before; at the end, the rest.
async fn churn_loop(ctx: Arc<Ctx>, running: Arc<AtomicBool>) {
    const ALIVE: u64 = 20;
    let from = ctx.xmpp.sender_attr(&ctx.args.jid);
    let presence = |kind: &str, i: u64| {
        format!(
            "<presence{from} to='churn{i}@{}' type='{kind}'/>",
            ctx.args.domain
        )
    };
    let every = Duration::from_secs_f64(1.0 / f64::from(ctx.args.churn.max(1)));
    let mut i = 0u64;
    while running.load(Ordering::Relaxed) {
        ctx.xmpp.send(presence("subscribe", i)).await;
        if i >= ALIVE {
            ctx.xmpp.send(presence("unsubscribe", i - ALIVE)).await;
        }
        i += 1;
        tokio::time::sleep(every).await;
    }
    for j in i.saturating_sub(ALIVE)..i {
        ctx.xmpp.send(presence("unsubscribe", j)).await;
    }
    eprintln!("loadgen: churn: {i} subscribes, {i} unsubscribes sent");
}

async fn sample_loop(ctx: Arc<Ctx>, running: Arc<AtomicBool>) {
    let every = Duration::from_secs(ctx.args.sample_secs);
    while running.load(Ordering::Relaxed) {
        sample(&ctx, "sample").await;
        tokio::time::sleep(every).await;
    }
}

async fn sample(ctx: &Ctx, label: &str) {
    let (rss, hwm) = probe::memory_kib(ctx.args.parley_pid).unwrap_or((0, 0));
    let g = probe::gauges(ctx.args.metrics).await.unwrap_or_default();
    println!(
        "{label} t={:.0}s rss_kib={rss} hwm_kib={hwm} pending_sip={} pending_xmpp={} subs_out={} subs_in={} sip_transactions={} xmpp_queue={}",
        ctx.epoch.elapsed().as_secs_f64(),
        g.pending_sip,
        g.pending_xmpp,
        g.subscriptions_out,
        g.subscriptions_in,
        g.sip_transactions,
        g.xmpp_queue,
    );
}

fn print_counters(ctx: &Ctx) {
    let c = |a: &std::sync::atomic::AtomicUsize| a.load(Ordering::Relaxed);
    let u = &ctx.uas;
    eprintln!(
        "loadgen: UAS saw {} MESSAGE, {} SUBSCRIBE, {} un-SUBSCRIBE, sent {} NOTIFY, {} other requests, {} responses; UAC got {} stray answers",
        c(&u.messages),
        c(&u.subscribes),
        c(&u.unsubscribes),
        c(&u.notifies_sent),
        c(&u.other_requests),
        c(&u.responses),
        c(&ctx.uac.stray),
    );
    if let XmppSide::Component(comp) = &ctx.xmpp {
        let k = &comp.counters;
        eprintln!(
            "loadgen: component got {} message, {} message errors, {} presence, {} iq",
            c(&k.messages),
            c(&k.message_errors),
            c(&k.presences),
            c(&k.iqs),
        );
    }
}

/// `[(status or condition, count)]` of failure answers.
fn summarize<T: PartialEq + Clone>(failures: &[T]) -> Vec<(T, usize)> {
    let mut out: Vec<(T, usize)> = Vec::new();
    for s in failures {
        match out.iter_mut().find(|(k, _)| k == s) {
            Some((_, n)) => *n += 1,
            None => out.push((s.clone(), 1)),
        }
    }
    out
}

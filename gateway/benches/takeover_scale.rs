//! Takeover at scale (issue 25, "Measure"): how long a surviving instance
//! takes to continue N subscriptions whose owner died, through the real
//! gateway (`parley_gateway::run_with`) and a real PostgreSQL (the harness's:
//! `initdb` + `pg_ctl` on a free loopback port), with the default
//! `store.lease_ms` (10 s) and `store.restore_in_flight`.
//!
//! For each N:
//! 1. *The owner*: the bench opens the shared store as instance `dead`,
//!    writes N subscriptions of XMPP users to SIP users (stored dialogs at
//!    CSeq 1 pointing at a local UDP responder that answers 200 to
//!    everything), renews its lease once more (`t0`, the last renewal) and
//!    then vanishes the way `SIGKILL` leaves it: its tokio runtime is dropped,
//!    connections cut, no lease handed back.
//! 2. *The survivor*: the gateway, instance `survivor`, starts 0.5 s after
//!    `t0` against the same database and a minimal XEP-0114 peer; it owns
//!    nothing until `dead`'s lease runs out, then claims the rows (1 000 per
//!    claim, a claim every second from its start, so the first comes 0.5 s
//!    after the lapse: the mean of a survivor started at any time;
//!    `TAKEOVER_SCALE_PHASE_MS` sets it) and refreshes each subscription in
//!    its stored dialog.
//! 3. Reported, from `t0`: when the lease ran out (the database's
//!    `lease_until`), when the first and the last row were the survivor's
//!    (polled every 10 ms), when the responder had seen every subscription
//!    refreshed (and how many of those continued the stored dialog: To tag,
//!    CSeq above 1), and the survivor's RSS growth 6 s after (Timer K).
//! 4. *What a claim costs*: the survivor shuts down cleanly (hands its
//!    lease back); a third instance, opened before that, claims the N rows
//!    with `Store::claim_orphans(1000)` while PostgreSQL logs every
//!    statement: the time of each claim and the statements it took.
//!
//! `cargo bench -p parley-gateway --bench takeover_scale [-- N ...]`
//! (default 1000 10000); one process per N.
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
use parley_gateway::store::{Settings, Store, StoreUrl, WatchRow, unix_after};
use parley_harness::postgres::Postgres;

use support::{COMPONENT, Refreshes, Stanzas, dialog, responder, rss_bytes, scrape, xmpp_peer};

/// `store.lease_ms`'s default, for the dead owner as for the survivor.
const LEASE: Duration = Duration::from_secs(10);

/// The longest any phase may take before the bench gives up and says where.
const DEADLINE: Duration = Duration::from_secs(120);

/// The series reported after the takeover.
const REPORTED: [&str; 6] = [
    "parley_store_takeovers_total{kind=\"sip_subscriptions_out\",reason=\"orphaned\"}",
    "parley_store_leases",
    "parley_subscription_refreshes_total",
    "parley_limit_rejections_total{limit=\"sip_pending_transactions\"}",
    "parley_presence_requests_deferred_total",
    "parley_errors_total",
];

fn settings(url: &str, instance: &str, dir: &std::path::Path) -> Settings {
    let mut settings = Settings::embedded(dir);
    settings.url = toml::Value::String(url.to_owned())
        .try_into::<StoreUrl>()
        .unwrap();
    settings.instance = Some(instance.to_owned());
    settings.lease = LEASE;
    settings
}

/// Step 1 on its own runtime: write the N rows as `dead`, renew its lease,
/// and return when it was renewed. Dropping the runtime afterwards is the kill.
fn seed_dead_owner(url: &str, n: usize, sip_peer: SocketAddr, dir: &std::path::Path) -> Instant {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let t0 = rt.block_on(async {
        let (store, _task, loaded, _) = Store::open(&settings(url, "dead", dir), |kind| {
            panic!("seeding: {kind}")
        })
        .await;
        assert!(loaded.is_empty(), "a fresh database has nothing to claim");
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
        store.flush().await;
        store.renew_lease().await.unwrap();
        Instant::now()
    });
    // SIGKILL: no flush, no release; its connections are cut.
    rt.shutdown_timeout(Duration::ZERO);
    t0
}

/// Rows of `watches` owned by `owner`.
async fn owned_by(db: &sqlx::PgPool, owner: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM watches WHERE owner = $1")
        .bind(owner)
        .fetch_one(db)
        .await
        .unwrap()
}

fn gateway_config(dir: &std::path::Path, url: &str, xmpp: SocketAddr) -> Config {
    let sip_port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let toml = format!(
        r#"
[xmpp]
component_domain = "{COMPONENT}"
server = "{xmpp}"
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
url = "{url}"
instance = "survivor"
[log]
level = "error"
"#,
        store = dir.join("store").display()
    );
    let path = dir.join("parley.toml");
    std::fs::write(&path, toml).unwrap();
    Config::load(&path).unwrap()
}

/// Eight empty claims at once, so that every connection of `store`'s pool
/// runs a statement.
async fn empty_claims(store: &Store) {
    let claims: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_orphans(0).await })
        })
        .collect();
    for claim in claims {
        assert!(claim.await.unwrap().unwrap().is_empty());
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn one_run(n: usize) {
    let pg = Postgres::start();
    let url = pg.url();
    let dir = tempfile::tempdir().unwrap();
    let refreshes = Arc::new(Refreshes::default());
    let sip_peer = responder(Arc::clone(&refreshes), Duration::ZERO);
    let seeding = Instant::now();
    let t0 = seed_dead_owner(&url, n, sip_peer, dir.path());
    eprintln!(
        "N={n}: {n} subscriptions stored as `dead` in {}; its last renewal, then killed",
        secs(t0 - seeding)
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = sqlx::PgPool::connect(&url).await.unwrap();
        // The database's own clock: how long `dead`'s lease had still to run.
        let left_ms: i64 = sqlx::query_scalar(
            "SELECT lease_until - CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) \
             FROM instances WHERE id = 'dead'",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        let lapses_at = Instant::now() + Duration::from_millis(left_ms.max(0).unsigned_abs());

        // The survivor claims once a second from its start; a deployment's
        // survivor started at any time, so its first claim after the lapse
        // comes 0–1 s late: start it `phase` after `t0` (default the mean).
        let phase = std::env::var("TAKEOVER_SCALE_PHASE_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map_or(Duration::from_millis(500), Duration::from_millis);
        tokio::time::sleep(phase.saturating_sub(t0.elapsed())).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let xmpp_addr = listener.local_addr().unwrap();
        let stanzas = Arc::new(Stanzas::default());
        let (connected_tx, _connected_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(xmpp_peer(listener, Arc::clone(&stanzas), connected_tx));
        let config = gateway_config(dir.path(), &url, xmpp_addr);
        let rss_before = rss_bytes();
        let shutdown = CancellationToken::new();
        let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
        let gateway = tokio::spawn(parley_gateway::run_with(
            config,
            shutdown.clone(),
            move |bound| {
                let _ = bound_tx.send(bound.metrics);
            },
        ));
        let metrics = bound_rx.await.unwrap();
        // A third instance, registered now so that its open claims nothing;
        // it measures the claim in step 4.
        let (claimer, claimer_task, _, _) =
            Store::open(&settings(&url, "claimer", dir.path()), |_| {}).await;

        // Steps 2 and 3.
        let (mut first_claim, mut all_claimed, mut all_refreshed) = (None, None, None);
        while all_claimed.is_none() || all_refreshed.is_none() {
            if t0.elapsed() > LEASE + DEADLINE {
                let report = tokio::task::spawn_blocking(move || scrape(metrics, &REPORTED))
                    .await
                    .unwrap();
                panic!(
                    "takeover incomplete after {:?}: {} rows the survivor's, {} of {n} refreshed; \
                     gateway:\n{}",
                    t0.elapsed(),
                    owned_by(&db, "survivor").await,
                    refreshes.distinct.load(Ordering::Relaxed),
                    report.join("\n")
                );
            }
            if all_claimed.is_none() {
                let owned = owned_by(&db, "survivor").await;
                if owned > 0 && first_claim.is_none() {
                    first_claim = Some(t0.elapsed());
                }
                if owned >= n as i64 {
                    all_claimed = Some(t0.elapsed());
                }
            }
            if all_refreshed.is_none() && refreshes.distinct.load(Ordering::Relaxed) >= n as u64 {
                all_refreshed = Some(t0.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (first_claim, all_claimed, all_refreshed) = (
            first_claim.unwrap_or_default(),
            all_claimed.unwrap_or_default(),
            all_refreshed.unwrap_or_default(),
        );
        let lapsed = lapses_at.saturating_duration_since(t0);
        // Let the refresh transactions finish (Timer K, 5 s) before measuring.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let rss_after = rss_bytes();
        let report = tokio::task::spawn_blocking(move || scrape(metrics, &REPORTED))
            .await
            .unwrap();
        let growth = rss_after.saturating_sub(rss_before);
        eprintln!("N={n}: gateway after the takeover:\n  {}", report.join("\n  "));
        println!(
            "N={n:>6}  from dead's last renewal: lease out {}, first row claimed {}, all claimed {}, \
             all refreshed {} ({} after the lease; {} of {n} in their stored dialogs, {} requests); \
             RSS +{:.1} MiB ({:.0} B/subscription); XMPP users told unsubscribed {}, unavailable {}",
            secs(lapsed),
            secs(first_claim),
            secs(all_claimed),
            secs(all_refreshed),
            secs(all_refreshed.saturating_sub(lapsed)),
            refreshes.in_dialog.load(Ordering::Relaxed),
            refreshes.requests.load(Ordering::Relaxed),
            growth as f64 / f64::from(1 << 20),
            growth as f64 / n as f64,
            stanzas.unsubscribed.load(Ordering::Relaxed),
            stanzas.unavailable.load(Ordering::Relaxed),
        );

        // Step 4: the survivor hands its lease back; the claimer takes the
        // rows over in batches while PostgreSQL logs each statement.
        shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(60), gateway).await;
        assert_eq!(
            owned_by(&db, "survivor").await,
            n as i64,
            "the survivor kept its rows"
        );
        // Every statement logged, with the application name (`parley <instance>`).
        for setting in [
            "ALTER SYSTEM SET log_statement = 'all'",
            "ALTER SYSTEM SET log_line_prefix = '%m [%p] %a: '",
            "SELECT pg_reload_conf()",
        ] {
            sqlx::query(setting).execute(&db).await.unwrap();
        }
        // A backend idle at the reload takes it up after its next statement:
        // empty claims on every connection of the claimer's pool first.
        let on_by = Instant::now() + Duration::from_secs(10);
        while !pg.log().contains("parley claimer: LOG:") {
            empty_claims(&claimer).await;
            assert!(Instant::now() < on_by, "PostgreSQL did not log statements");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for _ in 0..3 {
            empty_claims(&claimer).await;
        }
        // The statements the claimer's backends logged since `from`.
        let statements = |from: usize| {
            pg.log()[from..]
                .lines()
                .filter(|l| {
                    l.contains("parley claimer: LOG:")
                        && (l.contains("LOG:  statement:") || l.contains("LOG:  execute"))
                })
                .count()
        };
        let mut claims = Vec::new();
        loop {
            let log_before = pg.log().len();
            let started = Instant::now();
            let loaded = claimer.claim_orphans(1000).await.unwrap();
            let took = started.elapsed();
            claims.push((loaded.watches.len(), took, statements(log_before)));
            if loaded.is_empty() {
                break;
            }
            assert!(claims.len() <= n / 1000 + 2, "claims never end");
        }
        let (empty, full) = claims.split_last().unwrap();
        let mut ms: Vec<f64> = full.iter().map(|c| c.1.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let mut per_claim: Vec<usize> = full.iter().map(|c| c.2).collect();
        per_claim.sort_unstable();
        per_claim.dedup();
        let rows: usize = full.iter().map(|c| c.0).sum();
        println!(
            "N={n:>6}  claim cost: {} claims of up to 1000 took {rows} rows in {:.0} ms, each \
             {:.1} / {:.1} / {:.1} ms (min / median / max), {per_claim:?} statements each; \
             the empty claim that ends them {:.1} ms, {} statements",
            full.len(),
            ms.iter().sum::<f64>(),
            ms.first().copied().unwrap_or(0.0),
            ms.get(ms.len() / 2).copied().unwrap_or(0.0),
            ms.last().copied().unwrap_or(0.0),
            empty.1.as_secs_f64() * 1000.0,
            empty.2,
        );
        let _ = std::io::stdout().flush();
        claimer_task.close(&claimer).await;
        db.close().await;
    });
}

fn main() {
    // cargo bench passes `--bench`; numbers are the sizes.
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000]
    } else {
        sizes
    };
    if sizes.len() > 1 {
        // One process per size, as presence_scale: RSS the allocator kept
        // from one run would hide the next run's growth.
        for n in sizes {
            let status = std::process::Command::new(std::env::current_exe().unwrap())
                .arg(n.to_string())
                .status()
                .unwrap();
            assert!(status.success());
        }
        return;
    }
    one_run(sizes[0]);
}

//! MESSAGE transactions per second through the user agent over UDP on
//! loopback, with a real sipp as the load (never asserted in tests).
//!
//! `cargo bench -p parley-sip --bench message_udp [-- CALLS RATE]`
//!
//! - inbound: sipp (UAC, `uac-message.xml`) sends CALLS MESSAGEs at RATE/s to
//!   the endpoint, whose TU answers each 200 at once;
//! - outbound: the endpoint sends CALLS MESSAGEs (256 in flight) to a sipp
//!   UAS (`uas-message.xml`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parley_harness::sipp::{Sipp, scenario};
use parley_sip::StatusCode;
use parley_sip::{Endpoint, EndpointConfig, OutgoingRequest, Transport};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let calls: u32 = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let rate: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    core_path();
    runtime.block_on(inbound(calls, rate));
    runtime.block_on(outbound(calls));
}

/// The per-message CPU cost of the sans-IO path alone: parse, validate,
/// match/create a server transaction, write and hand over the 200.
fn core_path() {
    use parley_sip::config::Timers;
    use parley_sip::transaction::{RequestOutcome, ServerKey, Target, Transactions};
    use parley_sip::wire::{Message, ParseLimits, validate, write};
    let target = Target {
        transport: Transport::Udp,
        addr: "127.0.0.1:5060".parse().expect("addr"),
    };
    let mut table = Transactions::new(Timers::default(), 1 << 20);
    let n = 200_000u32;
    let start = Instant::now();
    let now = std::time::Instant::now();
    for i in 0..n {
        let bytes = Bytes::from(format!(
            "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK{i}\r\n\
             Max-Forwards: 70\r\nFrom: \"Alice\" <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>\r\n\
             Call-ID: {i}@bench\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
        ));
        let message = Message::parse(bytes, ParseLimits::default()).expect("parses");
        let head = validate::request(&message).expect("valid");
        let key = ServerKey::of(&head);
        assert_eq!(
            table.handle_request(&key, false, target, now),
            RequestOutcome::New
        );
        let response = write::response(&message.salvage(), 200, "OK", "tag", "bench", &[], None);
        table.respond(&key, 200, response, now);
    }
    let elapsed = start.elapsed();
    println!(
        "core: {n} MESSAGE parse+validate+transaction+200 in {:.2} s = {:.1} µs each, {:.0}/s on one core",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / f64::from(n),
        f64::from(n) / elapsed.as_secs_f64()
    );
}

async fn endpoint() -> (
    Endpoint,
    tokio::sync::mpsc::Receiver<parley_sip::IncomingRequest>,
    CancellationToken,
) {
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        ..EndpointConfig::default()
    };
    let shutdown = CancellationToken::new();
    let (endpoint, incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    (endpoint, incoming, shutdown)
}

async fn inbound(calls: u32, rate: u32) {
    let (endpoint, mut incoming, shutdown) = endpoint().await;
    tokio::spawn(async move {
        while let Some(request) = incoming.recv().await {
            request.respond(StatusCode::OK, None, vec![], None);
        }
    });
    let target = endpoint.local_addr(Transport::Udp).expect("udp");
    let sipp = Sipp::new(scenario("uac-message.xml"))
        .calls(calls)
        .rate(rate)
        .arg("-l")
        .arg("2000")
        .timeout(Duration::from_secs(600));
    let start = Instant::now();
    let out = tokio::task::spawn_blocking(move || sipp.run_uac(target))
        .await
        .expect("sipp");
    let elapsed = start.elapsed();
    let stats = endpoint.stats();
    println!(
        "inbound: {calls} MESSAGEs offered at {rate}/s in {:.2} s = {:.0} transactions/s; sipp success={} 2xx sent={} retransmissions absorbed={} queue_full={}",
        elapsed.as_secs_f64(),
        f64::from(calls) / elapsed.as_secs_f64(),
        out.success,
        stats.responses_out_class(2),
        stats.retransmissions_absorbed,
        stats.queue_full,
    );
    if !out.success {
        println!(
            "{}",
            out.stderr.lines().take(5).collect::<Vec<_>>().join("\n")
        );
    }
    shutdown.cancel();
}

async fn outbound(calls: u32) {
    let (endpoint, _incoming, shutdown) = endpoint().await;
    let uas = Sipp::new(scenario("uas-message.xml"))
        .calls(calls)
        .timeout(Duration::from_secs(600))
        .spawn_uas();
    let uri = uas.uri("bob");
    let permits = Arc::new(Semaphore::new(256));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..calls {
        let permit = permits.clone().acquire_owned().await.expect("semaphore");
        let endpoint = endpoint.clone();
        let uri = uri.clone();
        tasks.spawn(async move {
            let result = endpoint
                .send_request(OutgoingRequest {
                    method: "MESSAGE".into(),
                    request_uri: uri.clone(),
                    from: "sip:bench@127.0.0.1".into(),
                    to: uri,
                    body: Some(("text/plain".into(), Bytes::from_static(b"bench"))),
                    ..OutgoingRequest::default()
                })
                .await;
            drop(permit);
            matches!(result, Ok(r) if r.status == 200)
        });
    }
    let mut ok = 0u32;
    while let Some(result) = tasks.join_next().await {
        ok += u32::from(result.unwrap_or(false));
    }
    let elapsed = start.elapsed();
    let stats = endpoint.stats();
    println!(
        "outbound: {calls} MESSAGEs (256 in flight) in {:.2} s = {:.0} transactions/s; 200 OK={ok} retransmissions={} timeouts={}",
        elapsed.as_secs_f64(),
        f64::from(calls) / elapsed.as_secs_f64(),
        stats.retransmissions_sent,
        stats.timeouts,
    );
    let _ = uas.wait();
    shutdown.cancel();
}

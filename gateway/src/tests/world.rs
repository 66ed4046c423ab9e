//! The world of an in-process router test: the real SIP endpoint bound on
//! loopback UDP, a plain UDP socket as the SIP peer (a phone, and the
//! outbound proxy every request to a SIP user goes to), and an in-memory
//! component handle in place of the XMPP server. The router is built by the
//! same wiring as `run_with` (`crate::router`, `crate::admission`).
//!
//! What it does not do: run `run_with`'s loop. A test says when a SIP request
//! the endpoint handed up goes to the router ([`World::route_sip`]), when a
//! stanza arrives ([`World::stanza_in`]) and when the reaper ticks
//! ([`World::reap_after`]), so every step of a flow is one line of the test.
//! Every wait has a deadline ([`WAIT`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use parley_sip::wire::{Message as SipWire, ParseLimits, StartLine};
use parley_sip::{Endpoint, IncomingRequest, Transport};
use parley_xmpp::component::ComponentHandle;
use parley_xmpp::stanza::Stanza;
use parley_xmpp::stream::{self, Limits, StreamItem};

use crate::admission::Admission;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::router::Router;
use crate::store::{Loaded, Settings, Store, StoreTask};

/// Parley's component domain, which is also its SIP domain.
pub(super) const COMPONENT: &str = "sip.example.net";

/// How long any one step may take before the test fails.
pub(super) const WAIT: Duration = Duration::from_secs(2);

/// The endpoint's RFC 3261 T1 (`sip.t1_ms`): short, so that the timers
/// built on it (Timer N is 64·T1, RFC 6665 §4.1.2.4) are short too.
pub(super) const T1: Duration = Duration::from_millis(100);

/// How long the tests' MESSAGEs wait for an XMPP error before their 200.
pub(super) const DELIVERY_WINDOW: Duration = Duration::from_millis(200);

/// The stream header the literal stanzas are parsed under, as the server
/// would have opened the component stream.
const STREAM_HEADER: &str = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
     xmlns='jabber:component:accept' id='router-tests' from='sip.example.net'>";

/// A gateway without its loop, a SIP peer and an XMPP server stand-in.
pub(super) struct World {
    router: Router,
    /// The MSRP endpoint, when the config enabled `[sessions]`.
    msrp: Option<parley_msrp::endpoint::Endpoint>,
    admission: Arc<Admission>,
    sip_events: mpsc::Receiver<IncomingRequest>,
    stanzas: mpsc::Receiver<Stanza>,
    /// The in-memory component handle the router sends through.
    pub(super) component: ComponentHandle,
    /// The SIP peer: sends requests to the endpoint and is its outbound proxy.
    peer: UdpSocket,
    endpoint: SocketAddr,
    stop: CancellationToken,
    tasks: TaskTracker,
    /// The store the router writes to, and where it lives when persistent.
    store: Store,
    store_dir: Option<tempfile::TempDir>,
    /// What the store held at start, until [`World::restore`] takes it up.
    loaded: Option<Loaded>,
    /// The metrics the router counts in.
    metrics: Arc<Metrics>,
    /// With a shared store (`store.url` in the config): its task (kept
    /// alive with the world), and the lease task's events, applied by
    /// [`World::ownership_until`].
    _store_task: Option<StoreTask>,
    ownership: Option<mpsc::UnboundedReceiver<crate::ownership::Event>>,
}

impl World {
    /// A gateway for [`COMPONENT`], its outbound proxy the test's SIP peer.
    pub(super) async fn start() -> World {
        Self::with("", "").await
    }

    /// [`World::start`] with `messages` (TOML lines) added to `[messages]`
    /// and `extra` (whole TOML sections) appended to the config.
    pub(super) async fn with(messages: &str, extra: &str) -> World {
        Self::build(messages, extra, None).await
    }

    /// [`World::with`] with `sip` (TOML lines) added to `[sip]`, e.g.
    /// `trusted_peers = []` to make the peer an untrusted source.
    pub(super) async fn with_sip(sip: &str, extra: &str) -> World {
        let peer = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind the SIP peer");
        Self::build_with_peer(peer, sip, "", extra, None).await
    }

    /// [`World::start`] with a persistent store in a fresh directory (as
    /// `store.path` gives one), so that a test can read what was kept
    /// ([`World::stored`]).
    pub(super) async fn persistent() -> World {
        let dir = tempfile::tempdir().expect("a store directory");
        Self::build("", "", Some(dir)).await
    }

    /// [`World::persistent`] over the store in `dir` (which may hold rows
    /// already), with `extra` (whole TOML sections) appended to the config.
    pub(super) async fn persistent_in(dir: tempfile::TempDir, extra: &str) -> World {
        Self::build("", extra, Some(dir)).await
    }

    /// [`World::persistent_in`] over a fresh store that `fill` wrote to first
    /// (given the SIP peer's address), as a previous process would have.
    pub(super) async fn over_store(extra: &str, fill: impl FnOnce(SocketAddr, &Store)) -> World {
        let peer = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind the SIP peer");
        let dir = tempfile::tempdir().expect("a store directory");
        let (store, task, _, _) = Store::open(&Settings::embedded(dir.path()), |_| {}).await;
        assert!(store.is_persistent(), "the test store opened");
        fill(peer.local_addr().expect("peer address"), &store);
        task.close(&store).await;
        Self::build_with_peer(peer, "", "", extra, Some(dir)).await
    }

    /// The gateway's store.
    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    /// A gateway started over a persistent store that holds `rows` (written
    /// by `rows(peer)`, given the SIP peer's address for the dialogs' remote
    /// targets), as after a restart; `extra` (whole TOML sections) is
    /// appended to the config. [`World::restore`] takes the rows up, as
    /// `run_with` does once the component stream is up.
    pub(super) async fn restarted(extra: &str, rows: impl FnOnce(SocketAddr) -> Loaded) -> World {
        let peer = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind the SIP peer");
        let loaded = rows(peer.local_addr().expect("peer address"));
        let dir = tempfile::tempdir().expect("a store directory");
        let (store, task, _, _) = Store::open(&Settings::embedded(dir.path()), |_| {}).await;
        assert!(store.is_persistent(), "the test store opened");
        for row in loaded.watches {
            store.put_watch(row);
        }
        for row in loaded.watchers {
            store.put_watcher(row);
        }
        task.close(&store).await;
        Self::build_with_peer(peer, "", "", extra, Some(dir)).await
    }

    async fn build(messages: &str, extra: &str, store_dir: Option<tempfile::TempDir>) -> World {
        let peer = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind the SIP peer");
        Self::build_with_peer(peer, "", messages, extra, store_dir).await
    }

    async fn build_with_peer(
        peer: UdpSocket,
        sip: &str,
        messages: &str,
        extra: &str,
        store_dir: Option<tempfile::TempDir>,
    ) -> World {
        let proxy = peer.local_addr().expect("peer address");
        let toml = format!(
            r#"
[xmpp]
component_domain = "{COMPONENT}"
server = "127.0.0.1:5347"
secret = "unused-in-process"

[sip]
domain = "{COMPONENT}"
listen = ["udp:127.0.0.1:0"]
outbound_proxy = "sip:{proxy}"
t1_ms = {t1}
{sip}

[messages]
delivery_window_ms = {window}
{messages}

{extra}
"#,
            window = DELIVERY_WINDOW.as_millis(),
            t1 = T1.as_millis(),
        );
        let config: Config = toml::from_str(&toml).expect("test config parses");
        config.validate().expect("test config is valid");

        let metrics = Arc::new(Metrics::new().expect("metrics"));
        let stop = CancellationToken::new();
        let sip_config = config.endpoint_config().expect("endpoint config");
        let trusted = sip_config.rate_exempt.clone();
        let (sip, sip_events) = Endpoint::bind(sip_config, stop.clone())
            .await
            .expect("bind the endpoint");
        let endpoint = sip.local_addr(Transport::Udp).expect("a UDP listener");
        let (component, stanzas) = ComponentHandle::in_memory(COMPONENT, 64);
        let tasks = TaskTracker::new();
        let admission = crate::admission(&config, trusted, &component, &metrics);
        let shared = !config.store.url.is_embedded();
        let (store, loaded, store_task) = if shared {
            let (store, task, loaded, _) = Store::open(&config.store.settings(), |_| {}).await;
            assert!(store.is_shared(), "the shared test store opened");
            (store, loaded, Some(task))
        } else {
            let (store, loaded) = Self::embedded(store_dir.as_ref()).await;
            (store, loaded, None)
        };
        let ownership = shared.then(|| {
            crate::ownership::spawn(
                store.clone(),
                store.lease(),
                Arc::clone(&metrics),
                stop.clone(),
            )
        });
        let msrp = crate::bind_msrp(&config, stop.clone())
            .await
            .expect("bind the MSRP endpoint");
        let router = crate::router(
            &config,
            crate::Wiring {
                sip: &sip,
                component: &component,
                msrp: msrp.clone(),
                store: store.clone(),
                metrics: &metrics,
                tasks: &tasks,
                admission: &admission,
            },
        );
        World {
            router,
            msrp,
            admission,
            sip_events,
            stanzas,
            component,
            peer,
            endpoint,
            stop,
            tasks,
            store,
            store_dir,
            loaded: Some(loaded),
            metrics,
            _store_task: store_task,
            ownership,
        }
    }

    /// The embedded store in `dir`, or none.
    async fn embedded(dir: Option<&tempfile::TempDir>) -> (Store, Loaded) {
        match dir {
            Some(dir) => {
                let (store, _task, loaded, _opened) =
                    Store::open(&Settings::embedded(dir.path()), |_| {}).await;
                assert!(store.is_persistent(), "the test store opened");
                (store, loaded)
            }
            None => (Store::memory_only().0, Loaded::default()),
        }
    }

    /// Apply the lease task's events to the router as `run_with` does,
    /// until one named `wanted` (`claimed`, `handed_over`, `lost`,
    /// `lapsed`) was applied; false if none came within `within`.
    pub(super) async fn ownership_until(&mut self, wanted: &str, within: Duration) -> bool {
        let rx = self
            .ownership
            .as_mut()
            .expect("a World with a shared store");
        let deadline = Instant::now() + within;
        loop {
            let Ok(Some(event)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
                return false;
            };
            let name = match &event {
                crate::ownership::Event::Claimed(_) => "claimed",
                crate::ownership::Event::HandedOver(_) => "handed_over",
                crate::ownership::Event::Lost(_) => "lost",
                crate::ownership::Event::Lapsed => "lapsed",
            };
            self.router.ownership(event);
            if name == wanted {
                return true;
            }
        }
    }

    /// Wait until every store write made so far is in the database.
    pub(super) async fn flush_store(&self) {
        self.store.flush().await;
    }

    /// The stored subscriptions are taken up, as `run_with` does once the
    /// component stream is authenticated.
    pub(super) fn restore(&mut self) {
        let loaded = self.loaded.take().expect("restored once");
        self.router.restore(loaded);
    }

    /// The value of one series of the gateway's metrics (`name{labels}` as
    /// exported), or `None` when it is not exported.
    pub(super) fn metric(&self, series: &str) -> Option<f64> {
        self.metrics.render().lines().find_map(|line| {
            let value = line.strip_prefix(series)?.strip_prefix(' ')?;
            value.trim().parse().ok()
        })
    }

    /// The next SIP message the peer receives within `within`, if any.
    pub(super) async fn sip_out_within(&self, within: Duration) -> Option<SipWire> {
        let mut buf = vec![0u8; 65_536];
        let (n, from) = timeout(within, self.peer.recv_from(&mut buf))
            .await
            .ok()?
            .expect("receive on the SIP peer");
        assert_eq!(from, self.endpoint, "sent from the endpoint's listener");
        buf.truncate(n);
        Some(SipWire::parse(Bytes::from(buf), ParseLimits::default()).expect("Parley's SIP parses"))
    }

    /// A stanza the router queued already, if any (no waiting).
    pub(super) fn stanza_queued(&mut self) -> Option<String> {
        self.stanzas.try_recv().ok().map(|s| s.to_xml())
    }

    /// What the store holds now, as a restart would load it: every write
    /// made so far flushed, then the file opened again and read.
    pub(super) async fn stored(&self) -> Loaded {
        let dir = self
            .store_dir
            .as_ref()
            .expect("a World::persistent() store");
        self.store.flush().await;
        // The same instance: a second one on the file would take its rows.
        let config = Settings {
            instance: Some(self.store.instance_id().to_owned()),
            ..Settings::embedded(dir.path())
        };
        let (reader, task, loaded, _) = Store::open(&config, |_| {}).await;
        task.close(&reader).await;
        loaded
    }

    /// Where the MSRP endpoint listens (a config with `[sessions]` enabled).
    pub(super) fn msrp_addr(&self) -> SocketAddr {
        self.msrp
            .as_ref()
            .and_then(parley_msrp::endpoint::Endpoint::local_addr)
            .expect("sessions are enabled")
    }

    /// Shutdown's step 2 (`drain.rs`): the router's `stop`.
    pub(super) fn stop_router(&self) {
        self.router.stop();
    }

    /// The SIP peer's address, as its Via and Contact name it.
    pub(super) fn peer_addr(&self) -> SocketAddr {
        self.peer.local_addr().expect("peer address")
    }

    /// The endpoint's UDP address, as Parley's Via and Contact name it.
    pub(super) fn endpoint_addr(&self) -> SocketAddr {
        self.endpoint
    }

    /// The SIP peer sends `text` (a literal message; the head's `\n` line
    /// ends become CRLF, and `{peer}` is replaced by the peer's address) to
    /// the endpoint.
    pub(super) async fn sip_send(&self, text: &str) {
        let bytes = crlf(&text.replace("{peer}", &self.peer_addr().to_string()));
        self.peer
            .send_to(&bytes, self.endpoint)
            .await
            .expect("send to the endpoint");
    }

    /// The next request the endpoint hands up, through the admission checks
    /// and on to the router, as `run_with` does.
    pub(super) async fn route_sip(&mut self) {
        let request = timeout(WAIT, self.sip_events.recv())
            .await
            .expect("the endpoint handed a request up in time")
            .expect("the endpoint is running");
        let request = self
            .admission
            .sip(request)
            .expect("the admission checks let the request through");
        self.router.handle_sip(request);
    }

    /// The next request the endpoint hands up, through the admission
    /// checks; on to the router if they let it through (returned).
    pub(super) async fn route_sip_if_admitted(&mut self) -> bool {
        let request = timeout(WAIT, self.sip_events.recv())
            .await
            .expect("the endpoint handed a request up in time")
            .expect("the endpoint is running");
        match self.admission.sip(request) {
            Some(request) => {
                self.router.handle_sip(request);
                true
            }
            None => false,
        }
    }

    /// [`World::sip_send`], then [`World::route_sip`].
    pub(super) async fn sip_in(&mut self, text: &str) {
        self.sip_send(text).await;
        self.route_sip().await;
    }

    /// The next SIP message the peer receives from the endpoint.
    pub(super) async fn sip_out(&self) -> SipWire {
        let mut buf = vec![0u8; 65_536];
        let (n, from) = timeout(WAIT, self.peer.recv_from(&mut buf))
            .await
            .expect("the endpoint sent a SIP message in time")
            .expect("receive on the SIP peer");
        assert_eq!(from, self.endpoint, "sent from the endpoint's listener");
        buf.truncate(n);
        SipWire::parse(Bytes::from(buf), ParseLimits::default()).expect("Parley's SIP parses")
    }

    /// The peer answers `request` with `status`: the literal response, its
    /// Via, From, Call-ID and CSeq copied (RFC 3261 §8.2.6.2), a To tag
    /// added, and `extra` header lines after them.
    pub(super) async fn sip_answer(&self, request: &SipWire, status: &str, extra: &str) {
        let copy = |name: &str| {
            request
                .header(name)
                .unwrap_or_else(|| panic!("the request has no {name}"))
        };
        let to = copy("To");
        let to = if to.contains(";tag=") {
            to
        } else {
            format!("{to};tag=peer-tag")
        };
        let text = format!(
            "SIP/2.0 {status}\nVia: {via}\nFrom: {from}\nTo: {to}\nCall-ID: {call_id}\n\
             CSeq: {cseq}\n{extra}Content-Length: 0\n\n",
            via = copy("Via"),
            from = copy("From"),
            call_id = copy("Call-ID"),
            cseq = copy("CSeq"),
        );
        self.peer
            .send_to(&crlf(&text), self.endpoint)
            .await
            .expect("send the answer");
    }

    /// Nothing reaches the SIP peer for a while.
    pub(super) async fn no_sip_out(&self, within: Duration) {
        let mut buf = vec![0u8; 65_536];
        if let Ok(received) = timeout(within, self.peer.recv_from(&mut buf)).await {
            let (n, _) = received.expect("receive on the SIP peer");
            panic!(
                "unexpected SIP message:\n{}",
                String::from_utf8_lossy(&buf[..n])
            );
        }
    }

    /// A stanza from the XMPP server: `xml` parsed as the component stream
    /// parses it, through the admission checks, to the router.
    pub(super) fn stanza_in(&self, xml: &str) {
        let stanza = parse_stanza(xml);
        let stanza = self
            .admission
            .stanza(stanza, Instant::now())
            .expect("the admission checks let the stanza through");
        self.router.handle_stanza(*stanza);
    }

    /// The next stanza the router queued on the component stream, as the
    /// driver would write it.
    pub(super) async fn stanza_out(&mut self) -> String {
        let stanza = timeout(WAIT, self.stanzas.recv())
            .await
            .expect("a stanza was queued in time")
            .expect("the in-memory handle is open");
        stanza.to_xml()
    }

    /// Nothing was queued on the component stream (and nothing is about to
    /// be: the tasks the router started are given `within` to run first).
    pub(super) async fn no_stanza_out(&mut self, within: Duration) {
        if let Ok(Some(stanza)) = timeout(within, self.stanzas.recv()).await {
            panic!("unexpected stanza: {}", stanza.to_xml());
        }
    }

    /// The reaper's tick `after` from now: delivery windows shorter than
    /// that have closed. (Paused time cannot drive real sockets, so the tick
    /// is given a future instant instead.)
    pub(super) fn reap_after(&self, after: Duration) {
        self.router.reap(Instant::now() + after);
    }

    /// The reaper's tick at `now` (a future instant: see [`World::reap_after`]).
    pub(super) fn reap_at(&self, now: Instant) {
        self.router.reap(now);
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.tasks.close();
        self.stop.cancel();
    }
}

/// One stanza from its literal XML, read as the component stream reads it.
pub(super) fn parse_stanza(xml: &str) -> Stanza {
    let bytes = format!("{STREAM_HEADER}{xml}");
    let (items, error) = stream::parse_bytes(bytes.as_bytes(), Limits::default());
    assert_eq!(error, None, "the literal stanza is well-formed: {xml}");
    match items.as_slice() {
        [StreamItem::Header(_), StreamItem::Stanza(s)] => Stanza::clone(s),
        other => panic!("expected one stanza, got {other:?}"),
    }
}

/// The head's `\n` line ends as SIP's CRLF (RFC 3261 §7); the body after
/// the empty line is left as written, so its Content-Length holds.
fn crlf(text: &str) -> Vec<u8> {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    format!("{}\r\n\r\n{body}", head.replace('\n', "\r\n")).into_bytes()
}

/// A SIP message as comparable text: its start line, then `names` in the
/// order given, one `Name: value` line each (absent ones left out), with the
/// values that are random or counters replaced by `*`: a Via `branch` after
/// its magic cookie, `tag` parameters, and the Call-ID when
/// `random_call_id` (it is random unless a `<thread/>` gave it).
pub(super) fn shape(message: &SipWire, names: &[&str], random_call_id: bool) -> String {
    let mut out = match &message.start {
        StartLine::Request { method, uri } => format!("{method} {uri} SIP/2.0\n"),
        StartLine::Response { status, reason } => format!("SIP/2.0 {status} {reason}\n"),
    };
    for name in names {
        let Some(value) = message.header(name) else {
            continue;
        };
        let value = if *name == "Call-ID" && random_call_id {
            "*".to_owned()
        } else {
            normalise(&value)
        };
        out.push_str(&format!("{name}: {value}\n"));
    }
    out
}

/// `branch=z9hG4bK…` → `branch=z9hG4bK*`, `tag=…` → `tag=*`.
fn normalise(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find(';') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let end = rest.find([';', ',', '>']).unwrap_or(rest.len());
        let param = &rest[..end];
        let trimmed = param.trim_start();
        if trimmed.starts_with("branch=z9hG4bK") {
            out.push_str("branch=z9hG4bK*");
        } else if trimmed.starts_with("tag=") {
            out.push_str("tag=*");
        } else {
            out.push_str(param);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

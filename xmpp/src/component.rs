//! The tokio driver: one task that owns the TCP connection to the server's
//! component port, does the XEP-0114 handshake, writes queued stanzas,
//! answers what `service.rs` answers, keeps the link alive and reconnects.
//!
//! The quick-xml reader is not cancel-safe (crates.md §5.4), so it runs in a
//! task of its own (`component/reader.rs`) and sends finished items over a
//! channel; only that channel's `recv` is ever raced in `select!`.
//!
//! Delivery: stanzas wait in the bounded queue while disconnected and go out
//! after the next handshake, in order; a stanza whose write fails is kept and
//! sent first on the next stream. What is queued when the driver comes to
//! write goes out in one write (a batch), so a busy queue costs one system
//! call per batch rather than per stanza. XEP-0114 has no acknowledgements (no
//! XEP-0198 for components), so a stanza the kernel accepted just before the
//! server died unnoticed cannot be known lost; that window is the time until
//! the next read or write fails, at most two keepalive intervals.

mod reader;
pub mod tls;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::error::{Error, HandshakeError, StreamErrorCondition};
use crate::queue::{RetrySlot, SendError, prepare_from};
use crate::reconnect::Backoff;
use crate::service::{Disposition, NS_PING, Service};
use crate::stanza::{DefinedCondition, Element, Iq, IqType, Stanza, StanzaError};
use crate::stream::{self, Limits, StreamItem};
use reader::Inbound;
pub use tls::{ComponentTls, DirectTls, TlsSetupError};

/// How the component connects and behaves.
#[derive(Clone)]
pub struct ComponentConfig {
    /// The XMPP server's component port, `host:port`.
    pub server: String,
    /// Plain TCP or direct TLS with a verified certificate. Default plain.
    pub tls: ComponentTls,
    /// The component's JID domain (XEP-0114 stream `to`).
    pub component_domain: String,
    /// The shared secret for the XEP-0114 handshake.
    pub secret: String,
    /// Outgoing stanzas that may wait (also while disconnected). Default 1024.
    pub queue_capacity: usize,
    /// Largest stanza accepted from the server, in bytes. Default 256 KiB.
    pub max_stanza_bytes: usize,
    /// Deepest element nesting accepted inside a stanza. Default 32.
    pub max_depth: usize,
    /// Idle time before a whitespace keepalive is sent, and before the server
    /// is pinged; a server silent for twice this is dead. Default 60 s.
    pub keepalive_interval: Duration,
    /// First reconnect delay. Default 1 s.
    pub reconnect_min: Duration,
    /// Largest reconnect delay. Default 60 s.
    pub reconnect_max: Duration,
    /// XEP-0030 identity name. Default "Parley".
    pub disco_name: String,
    /// XEP-0030 features beyond disco#info and ping, which are always listed.
    pub disco_features: Vec<String>,
    /// The start of the ids of this component's keepalive pings. Default
    /// `parley-keepalive-`. Where several components share one domain (an
    /// ejabberd routes each stanza to any of its connections), each needs its
    /// own prefix: the answer to one's ping may reach another, whose gateway
    /// hands it back ([`ComponentHandle::keepalive_answered`]); a result with
    /// the common prefix but not this one is delivered as a stanza.
    pub keepalive_id_prefix: String,
}

/// The ids of every Parley's keepalive pings start with this.
pub const KEEPALIVE_ID_PREFIX: &str = "parley-keepalive-";

impl Default for ComponentConfig {
    fn default() -> Self {
        Self {
            server: String::new(),
            tls: ComponentTls::None,
            component_domain: String::new(),
            secret: String::new(),
            queue_capacity: 1024,
            max_stanza_bytes: 256 * 1024,
            max_depth: 32,
            keepalive_interval: Duration::from_secs(60),
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            disco_name: "Parley".into(),
            disco_features: Vec::new(),
            keepalive_id_prefix: KEEPALIVE_ID_PREFIX.into(),
        }
    }
}

impl std::fmt::Debug for ComponentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentConfig")
            .field("server", &self.server)
            .field("tls", &self.tls)
            .field("component_domain", &self.component_domain)
            .field("secret", &"***")
            .field("queue_capacity", &self.queue_capacity)
            .field("max_stanza_bytes", &self.max_stanza_bytes)
            .field("max_depth", &self.max_depth)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("disco_name", &self.disco_name)
            .field("disco_features", &self.disco_features)
            .field("keepalive_id_prefix", &self.keepalive_id_prefix)
            .finish()
    }
}

/// What the component tells the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentEvent {
    /// The handshake succeeded; queued stanzas are being sent.
    Connected,
    /// The stream ended; `reason` is the error's `kind()` (or `shutdown`).
    Disconnected {
        /// Why, as a stable metrics-safe name.
        reason: &'static str,
    },
    /// A stanza for the gateway (everything `service.rs` does not answer),
    /// boxed as the reader made it ([`StreamItem::Stanza`]).
    Stanza(Box<Stanza>),
}

/// Counters per stanza kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StanzaCounts {
    /// `<message/>`
    pub message: u64,
    /// `<presence/>`
    pub presence: u64,
    /// `<iq/>`
    pub iq: u64,
}

/// A snapshot of the component's counters, read at scrape time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentStats {
    /// True while the stream is authenticated.
    pub connected: bool,
    /// Stanzas received from the server (including those answered here).
    pub stanzas_in: StanzaCounts,
    /// Stanzas written to the server (including our own answers).
    pub stanzas_out: StanzaCounts,
    /// Successful handshakes after the first.
    pub reconnects: u64,
    /// Failed connection or handshake attempts.
    pub connect_failures: u64,
    /// Stanzas waiting in the outgoing queue.
    pub queue_len: usize,
    /// Stream violations by the server and invalid first-level elements.
    pub parse_errors: u64,
    /// IQs answered by the component itself (disco, ping, service-unavailable).
    pub iqs_answered: u64,
    /// Whitespace keepalives sent.
    pub keepalives: u64,
    /// Connection attempts whose TLS handshake refused the server's
    /// certificate ([`Error::TlsCertificate`]).
    pub tls_certificate_refusals: u64,
    /// Connection attempts whose TLS handshake failed otherwise
    /// ([`Error::TlsHandshake`]: a port without TLS, a reset).
    pub tls_handshake_failures: u64,
}

#[derive(Default)]
struct Counters {
    connected: AtomicBool,
    in_message: AtomicU64,
    in_presence: AtomicU64,
    in_iq: AtomicU64,
    out_message: AtomicU64,
    out_presence: AtomicU64,
    out_iq: AtomicU64,
    reconnects: AtomicU64,
    connect_failures: AtomicU64,
    parse_errors: AtomicU64,
    iqs_answered: AtomicU64,
    keepalives: AtomicU64,
    tls_certificate_refusals: AtomicU64,
    tls_handshake_failures: AtomicU64,
}

impl Counters {
    fn count(&self, stanza: &Stanza, outgoing: bool) {
        let c = match (stanza, outgoing) {
            (Stanza::Message(_), false) => &self.in_message,
            (Stanza::Presence(_), false) => &self.in_presence,
            (Stanza::Iq(_), false) => &self.in_iq,
            (Stanza::Message(_), true) => &self.out_message,
            (Stanza::Presence(_), true) => &self.out_presence,
            (Stanza::Iq(_), true) => &self.out_iq,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

struct Shared {
    counters: Counters,
    last_error: Mutex<Option<Arc<Error>>>,
    stopped: CancellationToken,
    component_domain: String,
    capacity: usize,
    /// `ComponentConfig::keepalive_id_prefix`.
    keepalive_id_prefix: String,
    /// The highest keepalive ping whose answer reached another component
    /// and was handed back here (0: none).
    pong_seq: AtomicU64,
}

/// The gateway's side of the component: cheap to clone.
#[derive(Clone)]
pub struct ComponentHandle {
    tx: mpsc::Sender<Stanza>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ComponentHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentHandle")
            .field("component_domain", &self.shared.component_domain)
            .finish_non_exhaustive()
    }
}

impl ComponentHandle {
    /// Queue `stanza`, waiting while the queue is full (back-pressure). A
    /// stanza without `from` gets the component domain.
    pub async fn send(&self, mut stanza: Stanza) -> Result<(), SendError> {
        prepare_from(&mut stanza, &self.shared.component_domain)?;
        self.tx.send(stanza).await.map_err(|_| SendError::Closed)
    }

    /// Queue `stanza` now, or say why not ([`SendError::QueueFull`]).
    pub fn try_send(&self, mut stanza: Stanza) -> Result<(), SendError> {
        prepare_from(&mut stanza, &self.shared.component_domain)?;
        self.tx.try_send(stanza).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::QueueFull {
                capacity: self.shared.capacity,
            },
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    /// The answer to one of this component's keepalive pings (its id, from
    /// an IQ result or error) reached another component of the domain, whose
    /// gateway handed it here: the server routed the ping, so this stream's
    /// server is alive. Ids that are not this component's are ignored.
    pub fn keepalive_answered(&self, id: &str) {
        if let Some(seq) = keepalive_seq(&self.shared.keepalive_id_prefix, id) {
            self.shared.pong_seq.fetch_max(seq, Ordering::Relaxed);
        }
    }

    /// True while the stream is authenticated.
    pub fn is_connected(&self) -> bool {
        self.shared.counters.connected.load(Ordering::Relaxed)
    }

    /// The most recent connection or stream error, if any.
    pub fn last_error(&self) -> Option<Arc<Error>> {
        self.shared
            .last_error
            .lock()
            .map(|g| g.clone())
            .unwrap_or(None)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ComponentStats {
        let c = &self.shared.counters;
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ComponentStats {
            connected: c.connected.load(Ordering::Relaxed),
            stanzas_in: StanzaCounts {
                message: r(&c.in_message),
                presence: r(&c.in_presence),
                iq: r(&c.in_iq),
            },
            stanzas_out: StanzaCounts {
                message: r(&c.out_message),
                presence: r(&c.out_presence),
                iq: r(&c.out_iq),
            },
            reconnects: r(&c.reconnects),
            connect_failures: r(&c.connect_failures),
            queue_len: self.tx.max_capacity() - self.tx.capacity(),
            parse_errors: r(&c.parse_errors),
            iqs_answered: r(&c.iqs_answered),
            keepalives: r(&c.keepalives),
            tls_certificate_refusals: r(&c.tls_certificate_refusals),
            tls_handshake_failures: r(&c.tls_handshake_failures),
        }
    }

    /// Resolves when the driver has stopped after shutdown: it drained the
    /// queue onto the stream (if connected), sent `</stream:stream>` and
    /// flushed.
    pub async fn closed(&self) {
        self.shared.stopped.cancelled().await;
    }
}

#[cfg(feature = "testing")]
impl ComponentHandle {
    /// A handle with no driver behind it, for other crates' tests (feature
    /// `testing`): it reports connected, and every stanza queued on it comes
    /// out of the returned receiver as the driver would have taken it (with
    /// the component domain as `from` where it had none). `capacity` bounds
    /// the queue as `queue_capacity` does.
    pub fn in_memory(
        component_domain: &str,
        capacity: usize,
    ) -> (ComponentHandle, mpsc::Receiver<Stanza>) {
        let capacity = capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            last_error: Mutex::new(None),
            stopped: CancellationToken::new(),
            component_domain: component_domain.to_owned(),
            capacity,
            keepalive_id_prefix: KEEPALIVE_ID_PREFIX.to_owned(),
            pong_seq: AtomicU64::new(0),
        });
        shared.counters.connected.store(true, Ordering::Relaxed);
        (ComponentHandle { tx, shared }, rx)
    }

    /// Mark an [`in_memory`](Self::in_memory) handle's stream as up or down,
    /// as the driver does on a handshake or a lost stream.
    pub fn set_connected(&self, connected: bool) {
        self.shared
            .counters
            .connected
            .store(connected, Ordering::Relaxed);
    }
}

/// Start the component driver. It runs until `shutdown` is cancelled.
pub fn spawn(
    config: ComponentConfig,
    shutdown: CancellationToken,
) -> (ComponentHandle, mpsc::Receiver<ComponentEvent>) {
    let capacity = config.queue_capacity.max(1);
    let (tx, rx) = mpsc::channel(capacity);
    let (events_tx, events_rx) = mpsc::channel(capacity);
    let shared = Arc::new(Shared {
        counters: Counters::default(),
        last_error: Mutex::new(None),
        stopped: CancellationToken::new(),
        component_domain: config.component_domain.clone(),
        capacity,
        keepalive_id_prefix: config.keepalive_id_prefix.clone(),
        pong_seq: AtomicU64::new(0),
    });
    let driver = Driver {
        service: Service::new(
            &config.component_domain,
            &config.disco_name,
            &config.disco_features,
        ),
        config,
        shutdown,
        outgoing: rx,
        events: events_tx,
        shared: shared.clone(),
        retry: RetrySlot::default(),
        ping_seq: 0,
        batch: WriteBatch::default(),
    };
    tokio::spawn(driver.run());
    (ComponentHandle { tx, shared }, events_rx)
}

/// How long the server has to answer our header and handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a single write may take before the server counts as dead.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Queued stanzas written together: a batch grows until it holds this many
/// bytes or the queue is empty.
const BATCH_BYTES: usize = 64 * 1024;
/// How long we wait for the server's `</stream:stream>` at shutdown.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

struct Driver {
    config: ComponentConfig,
    service: Service,
    shutdown: CancellationToken,
    outgoing: mpsc::Receiver<Stanza>,
    events: mpsc::Sender<ComponentEvent>,
    shared: Arc<Shared>,
    retry: RetrySlot,
    ping_seq: u64,
    /// The batch being written; its buffers are kept between batches.
    batch: WriteBatch,
}

/// Stanzas written together, their bytes, and where each one's bytes end.
#[derive(Default)]
struct WriteBatch {
    bytes: Vec<u8>,
    stanzas: Vec<Stanza>,
    ends: Vec<usize>,
}

/// The write half of the connection, plain TCP or TLS.
type Writer = Box<dyn AsyncWrite + Send + Unpin>;
/// The read half of the connection, plain TCP or TLS.
type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;

/// One authenticated stream.
struct Connection {
    writer: Writer,
    /// Bytes read from the socket so far (counted below quick-xml).
    received: Arc<AtomicU64>,
    inbound: mpsc::Receiver<Inbound>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

enum End {
    Shutdown,
    Lost(Error),
}

impl Driver {
    async fn run(mut self) {
        let mut backoff = Backoff::new(self.config.reconnect_min, self.config.reconnect_max);
        let mut handshakes = 0u64;
        // Refused with <conflict/> since the last stream we held.
        let mut standing_by = false;
        while !self.shutdown.is_cancelled() {
            let attempt = tokio::select! {
                r = self.connect() => r,
                () = self.shutdown.cancelled() => break,
            };
            match attempt {
                Ok(conn) => {
                    handshakes += 1;
                    standing_by = false;
                    if handshakes > 1 {
                        self.shared
                            .counters
                            .reconnects
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    backoff.reset();
                    info!(
                        server = %self.config.server,
                        domain = %self.config.component_domain,
                        tls = matches!(self.config.tls, ComponentTls::Direct(_)),
                        "component stream authenticated"
                    );
                    self.shared
                        .counters
                        .connected
                        .store(true, Ordering::Relaxed);
                    self.emit(ComponentEvent::Connected).await;
                    let end = self.serve(conn).await;
                    self.shared
                        .counters
                        .connected
                        .store(false, Ordering::Relaxed);
                    match end {
                        End::Shutdown => {
                            self.emit(ComponentEvent::Disconnected { reason: "shutdown" })
                                .await;
                            break;
                        }
                        End::Lost(e) => {
                            warn!(error = %e, kind = e.kind(), "component stream lost; reconnecting");
                            let reason = e.kind();
                            self.record(e);
                            self.emit(ComponentEvent::Disconnected { reason }).await;
                        }
                    }
                }
                Err(e) => {
                    self.shared
                        .counters
                        .connect_failures
                        .fetch_add(1, Ordering::Relaxed);
                    match &e {
                        // Another instance holds the domain (Prosody: one
                        // connection per component, the second is refused
                        // with <conflict/>): this one is the standby. Said
                        // once; the retries, every reconnect_max at most,
                        // stay at debug until the stream is ours.
                        Error::Handshake(HandshakeError::Conflict) if standing_by => {
                            debug!(server = %self.config.server, "component domain still held by another connection (conflict)");
                        }
                        Error::Handshake(HandshakeError::Conflict) => {
                            standing_by = true;
                            warn!(
                                server = %self.config.server,
                                domain = %self.config.component_domain,
                                "component domain held by another connection (conflict): standing by, retrying every {:?} at most",
                                self.config.reconnect_max
                            );
                        }
                        Error::Handshake(h) => error!(
                            server = %self.config.server,
                            domain = %self.config.component_domain,
                            kind = h.kind(),
                            "component handshake refused: {h}; check the component secret and the server's Component section"
                        ),
                        Error::TlsCertificate { .. } | Error::TlsHandshake { .. } => {
                            let counter = if matches!(e, Error::TlsCertificate { .. }) {
                                &self.shared.counters.tls_certificate_refusals
                            } else {
                                &self.shared.counters.tls_handshake_failures
                            };
                            counter.fetch_add(1, Ordering::Relaxed);
                            error!(
                                server = %self.config.server,
                                kind = e.kind(),
                                "component TLS refused: {e}; not connecting in clear (check xmpp.tls_ca, xmpp.tls_name and that the port is the server's TLS component port)"
                            )
                        }
                        _ => {
                            warn!(server = %self.config.server, error = %e, kind = e.kind(), "component connection failed")
                        }
                    }
                    self.record(e);
                }
            }
            let delay = backoff.next_delay(rand::rng().random_range(0.0..=1.0));
            debug!(?delay, "waiting before reconnecting");
            tokio::select! {
                () = sleep(delay) => {}
                () = self.shutdown.cancelled() => break,
            }
        }
        // Refuse further sends before anyone is told we stopped.
        self.outgoing.close();
        let left = self.outgoing.len() + self.retry.len();
        if left > 0 {
            warn!(
                stanzas = left,
                "component stopped with stanzas still queued (not connected)"
            );
        }
        self.shared.stopped.cancel();
    }

    fn record(&self, e: Error) {
        if let Ok(mut g) = self.shared.last_error.lock() {
            *g = Some(Arc::new(e));
        }
    }

    async fn emit(&self, event: ComponentEvent) {
        // A gateway that dropped its receiver no longer wants events.
        let _ = self.events.send(event).await;
    }

    /// TCP connect, TLS handshake if configured, stream header, XEP-0114 handshake.
    async fn connect(&self) -> Result<Connection, Error> {
        let addr = self.config.server.clone();
        let tcp = timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(&addr))
            .await
            .map_err(|_| Error::ConnectFailed {
                addr: addr.clone(),
                source: std::io::Error::from(std::io::ErrorKind::TimedOut),
            })?
            .map_err(|source| Error::ConnectFailed {
                addr: addr.clone(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        // Never a fallback to clear: a failed TLS handshake ends this attempt.
        let (read_half, writer): (ReadHalf, Writer) = match &self.config.tls {
            ComponentTls::None => {
                let (r, w) = tcp.into_split();
                (Box::new(r), Box::new(w))
            }
            ComponentTls::Direct(direct) => {
                let stream = timeout(HANDSHAKE_TIMEOUT, direct.connect(tcp))
                    .await
                    .map_err(|_| Error::TlsHandshake {
                        name: direct.name(),
                        source: std::io::Error::from(std::io::ErrorKind::TimedOut),
                    })??;
                let (r, w) = tokio::io::split(stream);
                (Box::new(r), Box::new(w))
            }
        };
        let (inbound_tx, inbound) = mpsc::channel(64);
        let limits = Limits {
            max_stanza_bytes: self.config.max_stanza_bytes,
            max_depth: self.config.max_depth,
        };
        let received = Arc::new(AtomicU64::new(0));
        let reader = tokio::spawn(reader::read_stream(
            read_half,
            limits,
            received.clone(),
            inbound_tx,
        ));
        let mut conn = Connection {
            writer,
            received,
            inbound,
            reader,
        };
        write(
            &mut conn.writer,
            &stream::open(&self.config.component_domain),
        )
        .await?;
        let header = match next(&mut conn).await? {
            StreamItem::Header(h) => h,
            other => return Err(handshake_failure(other)),
        };
        let id = match header.id {
            Some(id) if !id.is_empty() => id,
            // Prosody answers an unknown component name with an empty id and
            // a stream error right after the header.
            _ => return Err(handshake_failure(next(&mut conn).await?)),
        };
        let hash = crate::handshake::hash(&id, &self.config.secret);
        write(&mut conn.writer, &stream::handshake(&hash)).await?;
        match next(&mut conn).await? {
            StreamItem::HandshakeAccepted => Ok(conn),
            other => Err(handshake_failure(other)),
        }
    }

    /// The authenticated stream until it ends.
    async fn serve(&mut self, mut conn: Connection) -> End {
        let interval = self.config.keepalive_interval;
        let mut last_write = Instant::now();
        let mut last_read = Instant::now();
        let mut ping_sent: Option<(Instant, String)> = None;
        let mut seen_bytes = conn.received.load(Ordering::Relaxed);
        // Issue 24: the shutdown wait and the keepalive timer live across
        // the loop, not made (and the timer registered) again for every
        // stanza.
        let shutdown = self.shutdown.clone().cancelled_owned();
        tokio::pin!(shutdown);
        let keepalive = sleep_until(last_read + interval);
        tokio::pin!(keepalive);
        loop {
            // Stanzas whose write failed on the previous stream go first.
            if let Some(s) = self.retry.pop() {
                if let Err(e) = self.write_stanza(&mut conn, s).await {
                    return End::Lost(e);
                }
                last_write = Instant::now();
                continue;
            }
            let deadline = match &ping_sent {
                Some((at, _)) => (*at + interval).min(last_write + interval),
                None => (last_read + interval).min(last_write + interval),
            };
            // The timer moves only when the deadline comes sooner than it
            // is set for, or when it has fired. A deadline that moved later
            // (traffic, the usual case) is met when the timer fires early:
            // every action of that branch waits for its own time, so it
            // then does nothing and the timer is set again.
            if deadline < keepalive.deadline() || keepalive.is_elapsed() {
                keepalive.as_mut().reset(deadline);
            }
            // Not `biased`: a busy inbound side must not starve the queue.
            tokio::select! {
                () = &mut shutdown => {
                    self.close(conn).await;
                    return End::Shutdown;
                }
                inbound = conn.inbound.recv() => {
                    last_read = Instant::now();
                    ping_sent = None; // any traffic proves the server alive
                    let result = match inbound {
                        Some(Inbound::Item(item)) => self.handle_item(&mut conn, item).await,
                        Some(Inbound::Violation(v)) => {
                            self.shared.counters.parse_errors.fetch_add(1, Ordering::Relaxed);
                            warn!(error = %v, "server broke the stream rules; closing with a stream error");
                            let cond = StreamErrorCondition::from(&v);
                            let _ = timeout(WRITE_TIMEOUT, write(&mut conn.writer, &stream::error_and_close(cond))).await;
                            Err(Error::Stream(v))
                        }
                        Some(Inbound::Io(source)) => Err(Error::Io { doing: "reading", source }),
                        Some(Inbound::Eof) | None => Err(Error::ConnectionClosed),
                    };
                    match result {
                        Ok(true) => last_write = Instant::now(),
                        Ok(false) => {}
                        Err(e) => return End::Lost(e),
                    }
                }
                stanza = self.outgoing.recv() => {
                    let Some(stanza) = stanza else {
                        // Every handle is gone: nobody can send or stop us any more.
                        self.close(conn).await;
                        return End::Shutdown;
                    };
                    if let Err(e) = self.write_queued(&mut conn, stanza).await {
                        return End::Lost(e);
                    }
                    last_write = Instant::now();
                }
                () = &mut keepalive => {
                    let now = Instant::now();
                    // Bytes quick-xml has not turned into an event yet (server
                    // whitespace keepalives, a stanza still arriving) prove
                    // the server alive too.
                    let received = conn.received.load(Ordering::Relaxed);
                    if received != seen_bytes {
                        seen_bytes = received;
                        last_read = now;
                        ping_sent = None;
                    }
                    // The answer to our ping may have reached another
                    // component of the domain and been handed back.
                    if ping_sent.is_some()
                        && self.shared.pong_seq.load(Ordering::Relaxed) >= self.ping_seq
                    {
                        last_read = now;
                        ping_sent = None;
                    }
                    if let Some((at, _)) = &ping_sent {
                        if now >= *at + interval {
                            return End::Lost(Error::ServerSilent { after: interval * 2 });
                        }
                    } else if now >= last_read + interval {
                        // XEP-0199: ping ourselves through the server; the
                        // round trip proves the server routes our stanzas.
                        self.ping_seq += 1;
                        let id = format!("{}{:x}", self.config.keepalive_id_prefix, self.ping_seq);
                        let ping = Stanza::Iq(Iq {
                            from: Some(self.config.component_domain.clone()),
                            to: Some(self.config.component_domain.clone()),
                            id: id.clone(),
                            iq_type: IqType::Get,
                            payload: Some(Element::new("ping", NS_PING)),
                            error: None,
                        });
                        if let Err(e) = self.write_own(&mut conn, &ping).await {
                            return End::Lost(e);
                        }
                        ping_sent = Some((now, id));
                        last_write = now;
                        continue;
                    }
                    if now >= last_write + interval {
                        // RFC 6120 §4.6.1: whitespace keepalive.
                        if let Err(e) = timeout(WRITE_TIMEOUT, write(&mut conn.writer, b" ")).await.unwrap_or(Err(Error::WriteTimeout)) {
                            return End::Lost(e);
                        }
                        self.shared.counters.keepalives.fetch_add(1, Ordering::Relaxed);
                        last_write = now;
                    }
                }
            }
        }
    }

    /// Returns whether something was written.
    async fn handle_item(
        &mut self,
        conn: &mut Connection,
        item: StreamItem,
    ) -> Result<bool, Error> {
        match item {
            StreamItem::Stanza(s) => {
                self.shared.counters.count(&s, false);
                if is_own_keepalive_result(
                    &s,
                    &self.config.component_domain,
                    &self.config.keepalive_id_prefix,
                ) {
                    return Ok(false);
                }
                if is_keepalive_result(&s) {
                    // Another component's ping answered on this stream: its
                    // gateway may hand it back (`keepalive_answered`).
                    self.emit(ComponentEvent::Stanza(s)).await;
                    return Ok(false);
                }
                match self.service.handle(s) {
                    Disposition::Answer(answer) => {
                        self.shared
                            .counters
                            .iqs_answered
                            .fetch_add(1, Ordering::Relaxed);
                        self.write_own(conn, &answer).await?;
                        Ok(true)
                    }
                    Disposition::Deliver(s) => {
                        self.emit(ComponentEvent::Stanza(s)).await;
                        Ok(false)
                    }
                }
            }
            StreamItem::Invalid { element, error } => {
                self.shared
                    .counters
                    .parse_errors
                    .fetch_add(1, Ordering::Relaxed);
                warn!(error = %error, name = %element.name, "invalid stanza from the server");
                // RFC 6120 §8.3.3.1: answer a request we cannot read with bad-request.
                if let crate::stanza::StanzaParseError::IqBadType { id } = error {
                    let reply = Stanza::Iq(Iq {
                        from: Some(
                            element
                                .attr("to")
                                .filter(|t| {
                                    crate::jid::domainpart(t)
                                        .eq_ignore_ascii_case(&self.config.component_domain)
                                })
                                .unwrap_or(&self.config.component_domain)
                                .to_owned(),
                        ),
                        to: element.attr("from").map(str::to_owned),
                        id,
                        iq_type: IqType::Error,
                        payload: None,
                        error: Some(StanzaError::new(DefinedCondition::BadRequest)),
                    });
                    self.write_own(conn, &reply).await?;
                    return Ok(true);
                }
                Ok(false)
            }
            StreamItem::Error(e) => Err(Error::StreamErrorReceived {
                condition: e.condition,
                text: e.text,
            }),
            StreamItem::Closed => {
                // RFC 6120 §4.4: answer the server's close with ours.
                let _ = timeout(CLOSE_TIMEOUT, write(&mut conn.writer, stream::CLOSE)).await;
                Err(Error::ConnectionClosed)
            }
            StreamItem::Whitespace | StreamItem::Header(_) | StreamItem::HandshakeAccepted => {
                Ok(false)
            }
        }
    }

    /// Write `first` and the stanzas queued behind it right now (up to
    /// [`BATCH_BYTES`]) with as few system calls as the socket allows: under
    /// load one write carries many stanzas. Each stanza is as it was when
    /// written alone: written once the kernel has taken all of its bytes; if
    /// the stream fails before that, it is kept for the next stream, in order
    /// with the rest of the batch.
    async fn write_queued(&mut self, conn: &mut Connection, first: Stanza) -> Result<(), Error> {
        let WriteBatch {
            bytes: mut buf,
            stanzas: mut batch,
            mut ends,
        } = std::mem::take(&mut self.batch);
        buf.clear();
        batch.clear();
        // Where each stanza of the batch ends in `buf`.
        ends.clear();
        let mut next = Some(first);
        while let Some(stanza) = next {
            stanza.write_to(&mut buf);
            ends.push(buf.len());
            batch.push(stanza);
            next = if buf.len() < BATCH_BYTES {
                self.outgoing.try_recv().ok()
            } else {
                None
            };
        }
        let mut written = 0;
        let result = timeout(WRITE_TIMEOUT, async {
            while written < buf.len() {
                match conn.writer.write(&buf[written..]).await {
                    Ok(0) => return Err(std::io::Error::from(std::io::ErrorKind::WriteZero)),
                    Ok(n) => written += n,
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
        .await;
        let sent = fully_written(&ends, written);
        for (i, stanza) in batch.drain(..).enumerate() {
            if i < sent {
                self.shared.counters.count(&stanza, true);
            } else {
                self.retry.push(stanza);
            }
        }
        self.batch = WriteBatch {
            bytes: buf,
            stanzas: batch,
            ends,
        };
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(Error::Io {
                doing: "writing",
                source,
            }),
            Err(_) => Err(Error::WriteTimeout),
        }
    }

    /// Write a queued stanza; if the write fails it is kept for the next stream.
    async fn write_stanza(&mut self, conn: &mut Connection, stanza: Stanza) -> Result<(), Error> {
        match self.write_own(conn, &stanza).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.retry.push(stanza);
                Err(e)
            }
        }
    }

    async fn write_own(&self, conn: &mut Connection, stanza: &Stanza) -> Result<(), Error> {
        let mut bytes = Vec::with_capacity(256);
        stanza.write_to(&mut bytes);
        timeout(WRITE_TIMEOUT, write(&mut conn.writer, &bytes))
            .await
            .unwrap_or(Err(Error::WriteTimeout))?;
        self.shared.counters.count(stanza, true);
        Ok(())
    }

    /// Shutdown: send what is queued, close the stream, wait briefly for the
    /// server's closing tag.
    async fn close(&mut self, mut conn: Connection) {
        while let Some(s) = self.retry.pop().or_else(|| self.outgoing.try_recv().ok()) {
            if let Err(e) = self.write_stanza(&mut conn, s).await {
                warn!(error = %e, "could not send queued stanzas at shutdown");
                break;
            }
        }
        let _ = timeout(CLOSE_TIMEOUT, write(&mut conn.writer, stream::CLOSE)).await;
        let _ = timeout(CLOSE_TIMEOUT, async {
            while let Some(i) = conn.inbound.recv().await {
                if matches!(
                    i,
                    Inbound::Item(StreamItem::Closed) | Inbound::Eof | Inbound::Io(_)
                ) {
                    break;
                }
            }
        })
        .await;
        let _ = conn.writer.shutdown().await;
        info!("component stream closed");
    }
}

/// How many stanzas of a batch the kernel took whole, `ends` being where
/// each ends in the batch's bytes and `written` how many of those it took.
fn fully_written(ends: &[usize], written: usize) -> usize {
    ends.partition_point(|&end| end <= written)
}

fn is_own_keepalive_result(s: &Stanza, domain: &str, prefix: &str) -> bool {
    is_keepalive_result(s)
        && matches!(s, Stanza::Iq(iq)
            if keepalive_seq(prefix, &iq.id).is_some()
                && iq.from.as_deref().is_none_or(|f| f.eq_ignore_ascii_case(domain)))
}

/// A result or error for some Parley's keepalive ping.
fn is_keepalive_result(s: &Stanza) -> bool {
    matches!(s, Stanza::Iq(iq)
        if matches!(iq.iq_type, IqType::Result | IqType::Error)
            && iq.id.starts_with(KEEPALIVE_ID_PREFIX))
}

/// The sequence number of a keepalive ping id `<prefix><hex>` minted with
/// `prefix`, or `None` for another prefix.
fn keepalive_seq(prefix: &str, id: &str) -> Option<u64> {
    let hex = id.strip_prefix(prefix)?;
    (!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

async fn write(writer: &mut Writer, bytes: &[u8]) -> Result<(), Error> {
    writer.write_all(bytes).await.map_err(|source| Error::Io {
        doing: "writing",
        source,
    })
}

/// The next item during the handshake (the channel `recv` is cancel-safe, so
/// the timeout never cuts into the reader).
async fn next(conn: &mut Connection) -> Result<StreamItem, Error> {
    match timeout(HANDSHAKE_TIMEOUT, conn.inbound.recv()).await {
        Err(_) => Err(HandshakeError::Timeout.into()),
        Ok(Some(Inbound::Item(item))) => Ok(item),
        Ok(Some(Inbound::Violation(v))) => Err(Error::Stream(v)),
        Ok(Some(Inbound::Io(source))) => Err(Error::Io {
            doing: "reading",
            source,
        }),
        Ok(Some(Inbound::Eof) | None) => Err(Error::ConnectionClosed),
    }
}

/// XEP-0114 §2: what a refusal during the handshake means.
fn handshake_failure(item: StreamItem) -> Error {
    match item {
        StreamItem::Error(e) => match e.condition {
            StreamErrorCondition::NotAuthorized => HandshakeError::NotAuthorized { text: e.text },
            StreamErrorCondition::HostUnknown => HandshakeError::HostUnknown { text: e.text },
            StreamErrorCondition::Conflict => HandshakeError::Conflict,
            condition => HandshakeError::Refused { condition },
        }
        .into(),
        StreamItem::Closed => Error::ConnectionClosed,
        StreamItem::Header(_) => HandshakeError::MissingStreamId.into(),
        _ => HandshakeError::Unexpected.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::fully_written;

    /// A batch cut short by a failing stream: the stanzas the kernel took
    /// whole count as written, the one it took part of and those after it
    /// are kept for the next stream.
    #[test]
    fn a_batch_cut_short_keeps_every_stanza_not_taken_whole() {
        let ends = [10, 25, 40];
        assert_eq!(fully_written(&ends, 0), 0);
        assert_eq!(fully_written(&ends, 9), 0);
        assert_eq!(fully_written(&ends, 10), 1);
        assert_eq!(fully_written(&ends, 30), 2);
        assert_eq!(fully_written(&ends, 40), 3);
    }
}

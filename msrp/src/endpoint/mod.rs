//! RFC 4975 §5.4, §6, §7.1, §7.3, RFC 6135: the tokio driver that owns
//! MSRP's sockets and time (feature `tokio`, on by default).
//!
//! An [`Endpoint`](crate::endpoint::Endpoint) listens on TCP and/or TLS (`msrps`, [`TlsConfig`](crate::endpoint::TlsConfig)) and
//! holds the sessions opened on it ([`Endpoint::open`](crate::endpoint::Endpoint::open)). Each connection has
//! one task: its reader feeds bytes to a [`wire::Decoder`](crate::wire::Decoder)
//! and routes every frame by its To-Path's first URI to the
//! [`Session`](crate::session::Session) of that session-id; its writer drains
//! the bound sessions' [`poll_transmit`](crate::session::Session::poll_transmit).
//! Each session has one timer task (its bind timeout and §7.1.1's 30-second
//! response timer). Every task stops when the endpoint's
//! `CancellationToken` is cancelled ([`Endpoint::shutdown`](crate::endpoint::Endpoint::shutdown) waits for them).
//!
//! Connections (§5.4): the active side (RFC 6135 `a=setup:active`) connects
//! to the first URI of the remote path, reusing an open connection "associated
//! with the same host, port, and URI scheme", and "MUST immediately issue a
//! SEND request" (a bodiless one). The passive side binds a session to the
//! connection whose request first names it in the To-Path; "If no match
//! exists, the node MUST reject the request with a 481 response"; "If the
//! session is already in use, it MUST reject the request with a 506
//! response." "If a connection fails for any reason, then an MSRP endpoint
//! MUST consider any sessions associated with the connection as also having
//! failed": their events end with [`SessionEvent::Closed`](crate::endpoint::SessionEvent::Closed).
//!
//! Bounds: connections and sessions (counts), the decoder's
//! [`Limits`](crate::wire::Limits), each session's events channel (a full
//! one holds the connection's reader, so TCP pushes back on the peer), SENDs
//! awaiting a response per session, received messages awaiting the
//! application's REPORT per session, answers to requests for no session per
//! connection.
//!
//! What it does not do: relays (RFC 4976), §14.4's certificate fingerprints (`a=fingerprint`),
//! mutual TLS, or reconnecting a failed session (§5.4: that takes a new SDP
//! exchange, the gateway's business).

mod connection;
mod handle;
mod stats;
mod timer;
mod tls;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::chunk::{ReassemblyLimits, TransactionIds};
use crate::error::{AnswerError, ReportError, SendError};
use crate::session::{Event, MessageAnswers, NicknameRequests, Paths, Session, SessionConfig};
use crate::uri::{Host, Scheme, Uri};
use crate::wire::{self, MessageId, TransactionId};

pub use handle::SessionHandle;
pub use stats::Stats;
pub use tls::TlsConfig;

use connection::ConnId;
use stats::{Counters, dec, inc};

/// How an [`Endpoint`] listens and what it bounds.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Where to accept plain `msrp` connections; `None` listens on no TCP port.
    pub listen: Option<SocketAddr>,
    /// TLS for `msrps`: where to listen, certificate, key and trusted CAs.
    pub tls: Option<TlsConfig>,
    /// The decoder's bounds on one frame.
    pub limits: wire::Limits,
    /// A connection that carries no session is closed after this long
    /// without traffic (§5.4 only asks that one with sessions stay open).
    pub idle_timeout: Duration,
    /// How long connecting (and the TLS handshake) may take.
    pub connect_timeout: Duration,
    /// An accepted connection that has sent no frame after this long is closed.
    pub first_frame_timeout: Duration,
    /// A passive session no connection has bound after this long fails
    /// with [`CloseReason::BindTimeout`].
    pub bind_timeout: Duration,
    /// §7.1.1: a SEND with Failure-Report `yes` and no response "within 30
    /// seconds from the time the last byte of the transaction is sent"
    /// is reported as a 408 response.
    pub transaction_timeout: Duration,
    /// Connections open at once, both directions.
    pub max_connections: usize,
    /// Sessions open at once.
    pub max_sessions: usize,
    /// Each session's events channel.
    pub event_capacity: usize,
}

impl Default for EndpointConfig {
    /// Listens on nothing; 30 s for the transaction timer (§7.1.1) and the
    /// bind, 10 s to connect or to send a first frame, 5 minutes idle.
    fn default() -> EndpointConfig {
        EndpointConfig {
            listen: None,
            tls: None,
            limits: wire::Limits::default(),
            idle_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            first_frame_timeout: Duration::from_secs(10),
            bind_timeout: Duration::from_secs(30),
            transaction_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_sessions: 4096,
            event_capacity: 64,
        }
    }
}

/// RFC 6135 `a=setup`: who opens the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Connects to the remote path's first URI and sends a bodiless SEND.
    Active,
    /// Waits for the peer's connection and its first request.
    Passive,
}

/// How one session behaves, beyond its paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOptions {
    /// Media types accepted in SEND bodies (SDP `a=accept-types`); empty accepts all.
    pub accept_types: Vec<String>,
    /// Reassembly bounds (RFC 7573 §8: the message size limit).
    pub limits: ReassemblyLimits,
    /// Largest chunk body we send.
    pub max_chunk: usize,
    /// SENDs awaiting a response, and messages awaiting a REPORT, at most.
    pub max_pending: usize,
    /// Whether the application decides the REPORTs on received messages
    /// ([`SessionHandle::report_success`], [`SessionHandle::report_failure`];
    /// RFC 7573 §7: the REPORT says the XMPP recipient got it) instead of
    /// the session sending a success REPORT on arrival (RFC 4975 §7.1.3).
    pub application_reports: bool,
    /// With `application_reports`: received messages awaiting a report, at
    /// most; the oldest is forgotten first.
    pub max_awaiting_reports: usize,
    /// RFC 7701 §7.1: whether received NICKNAMEs go to the application
    /// ([`SessionHandle::answer_nickname`]; Parley as the chat room) or are
    /// answered 501 (the default).
    pub nickname_requests: NicknameRequests,
    /// Who answers the SEND completing a received message: the session on
    /// arrival (the default), or the application
    /// ([`SessionHandle::answer_message`]; RFC 7701 §6, Parley as the
    /// chat room refusing a SEND for its CPIM wrapper).
    pub message_answers: MessageAnswers,
}

impl Default for SessionOptions {
    /// `text/plain` and `message/cpim` (RFC 7573), the default reassembly
    /// limits, 2048-byte chunks (§7.1.1), 64 pending; success REPORTs sent
    /// by the session (64 awaiting, should the application decide).
    fn default() -> SessionOptions {
        SessionOptions {
            accept_types: vec!["text/plain".into(), "message/cpim".into()],
            limits: ReassemblyLimits::default(),
            max_chunk: 2048,
            max_pending: 64,
            application_reports: false,
            max_awaiting_reports: 64,
            nickname_requests: NicknameRequests::Unsupported,
            message_answers: MessageAnswers::Session,
        }
    }
}

/// A session to open, from the SDP offer/answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    /// Our URI (the last of our `a=path`); its session-id routes requests to us.
    pub local: Uri,
    /// The peer's `a=path`, first hop first.
    pub remote_path: Vec<Uri>,
    /// Who connects.
    pub role: Role,
    /// The rest.
    pub options: SessionOptions,
}

/// What a session's [`SessionHandle::next_event`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The session has a connection: the active side connected (or reused
    /// one) and queued its bodiless SEND; the passive side received the
    /// first request naming it.
    Bound,
    /// What the session core raised. A SEND that got no response in time
    /// arrives as a [`Event::Response`] with 408 (§10.4: "An endpoint MUST
    /// treat a 408 response in the same manner as it would treat a local
    /// timeout").
    Msrp(Event),
    /// The session is over; no event follows.
    Closed(CloseReason),
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// A passive session no connection bound within the bind timeout.
    BindTimeout,
    /// Its connection closed or failed (§5.4: the session has failed too).
    ConnectionLost,
    /// The endpoint shut down.
    Shutdown,
}

/// What the driver refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// TLS material could not be loaded.
    #[error("tls setup ({what}): {reason}")]
    TlsSetup {
        /// The step that failed.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// `msrps` without a TLS configuration (or a TLS listener without a certificate).
    #[error("msrps needs a TLS configuration with certificate and key")]
    NoTls,
    /// The local URI has no session-id, or the remote path is empty or has
    /// no port in its first URI.
    #[error("bad session path: {0}")]
    BadPath(&'static str),
    /// A session with this local session-id is open already.
    #[error("a session with this session-id is open")]
    SessionExists,
    /// The session limit is reached.
    #[error("too many sessions")]
    TooManySessions,
    /// The connection limit is reached.
    #[error("too many connections")]
    TooManyConnections,
    /// Connecting to the remote path failed.
    #[error("connecting to {target}: {reason}")]
    Connect {
        /// The URI connected to.
        target: String,
        /// Why.
        reason: String,
    },
    /// A passive session cannot send before the peer's first request binds
    /// it (§5.4: until then it "would not be able to safely send any requests").
    #[error("session not bound to a connection yet")]
    NotBound,
    /// Too many SENDs await a response.
    #[error("too many SENDs awaiting a response")]
    Busy,
    /// The session is closed.
    #[error("session closed")]
    Closed,
    /// The message could not be split into SENDs.
    #[error(transparent)]
    Send(#[from] SendError),
    /// The REPORT the application decided on cannot be sent.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The answer the application gave awaits no request.
    #[error(transparent)]
    Answer(#[from] AnswerError),
}

/// §7.1: transaction ids "MUST contain at least 64 bits of randomness".
#[derive(Debug, Default)]
pub(crate) struct RandomIds;

fn random_token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl TransactionIds for RandomIds {
    fn next_transaction_id(&mut self) -> TransactionId {
        TransactionId::new(&random_token()).expect("16 hex digits are a transaction id")
    }
}

/// A request awaiting its response, with its timer (RFC 4975 §7.1.1).
#[derive(Debug)]
struct Pending {
    /// What the request was.
    awaited: Awaited,
    deadline: Instant,
}

/// The request a [`Pending`] stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Awaited {
    /// A SEND with Failure-Report `yes`, carrying this message.
    Send(MessageId),
    /// A NICKNAME (RFC 7701 §7.1: it carries no Failure-Report, which
    /// RFC 4975 §7.1.1 reads as `yes`).
    Nickname,
}

/// One open session in the endpoint's table.
#[derive(Debug)]
struct SessionEntry {
    session: Session<RandomIds>,
    local: Uri,
    role: Role,
    conn: Option<ConnId>,
    events: mpsc::Sender<SessionEvent>,
    pending: HashMap<TransactionId, Pending>,
    /// SENDs with Failure-Report `partial`: no timer (§7.1.1), and only a
    /// failure answers them, so the oldest are forgotten past `max_pending`.
    partial: VecDeque<TransactionId>,
    timer: Arc<Notify>,
    cancel: CancellationToken,
    max_pending: usize,
}

impl SessionEntry {
    /// Moves the session core's events to `out`, counting what `Stats` counts.
    fn drain_events(&mut self, counters: &Counters, out: &mut Vec<Delivery>) {
        while let Some(event) = self.session.poll_event() {
            if matches!(event, Event::ReportForgotten(_)) {
                inc(&counters.reports_forgotten);
            }
            out.push((self.events.clone(), SessionEvent::Msrp(event)));
        }
    }
}

/// §5.4: "the same host, port, and URI scheme".
type AuthorityKey = (Scheme, Host, u16);

/// One open connection in the endpoint's table.
#[derive(Debug)]
struct ConnEntry {
    wake: Arc<Notify>,
    cancel: CancellationToken,
    /// Answers to requests for no session (481) or another connection's (506).
    outbox: VecDeque<wire::Frame>,
    sessions: HashSet<String>,
    tls: bool,
    authority: Option<AuthorityKey>,
}

/// Answers for requests that reached no session, queued per connection at most.
const MAX_OUTBOX: usize = 64;

#[derive(Debug, Default)]
struct State {
    sessions: HashMap<String, SessionEntry>,
    conns: HashMap<ConnId, ConnEntry>,
    by_authority: HashMap<AuthorityKey, ConnId>,
    next_conn: ConnId,
}

/// An event to deliver once the table's lock is released.
type Delivery = (mpsc::Sender<SessionEvent>, SessionEvent);

async fn deliver(deliveries: Vec<Delivery>) {
    for (tx, event) in deliveries {
        // A dropped receiver means the handle is gone; nothing to tell.
        let _ = tx.send(event).await;
    }
}

struct Inner {
    config: EndpointConfig,
    tls: Option<tls::Tls>,
    counters: Counters,
    cancel: CancellationToken,
    tracker: TaskTracker,
    state: Mutex<State>,
    local_addr: Option<SocketAddr>,
    local_tls_addr: Option<SocketAddr>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes a session: from the table, from its connection, its timer stopped.
    fn remove_session(&self, state: &mut State, id: &str) -> Option<SessionEntry> {
        let entry = state.sessions.remove(id)?;
        entry.cancel.cancel();
        if let Some(conn) = entry.conn.and_then(|c| state.conns.get_mut(&c)) {
            conn.sessions.remove(id);
        }
        dec(&self.counters.sessions_open);
        Some(entry)
    }
}

/// An MSRP endpoint: listeners, connections and sessions.
#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("local_addr", &self.inner.local_addr)
            .field("local_tls_addr", &self.inner.local_tls_addr)
            .finish_non_exhaustive()
    }
}

async fn listen(addr: SocketAddr) -> Result<TcpListener, DriverError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| DriverError::Listen {
            addr,
            reason: e.to_string(),
        })
}

impl Endpoint {
    /// Binds the listeners of `config` and starts accepting. Every task
    /// the endpoint starts stops when `cancel` is cancelled.
    pub async fn bind(
        config: EndpointConfig,
        cancel: CancellationToken,
    ) -> Result<Endpoint, DriverError> {
        let tls = config.tls.as_ref().map(tls::Tls::new).transpose()?;
        let tcp = match config.listen {
            Some(addr) => Some(listen(addr).await?),
            None => None,
        };
        let tls_listener = match config.tls.as_ref().and_then(|t| t.listen) {
            Some(addr) => {
                if tls.as_ref().is_none_or(|t| t.acceptor.is_none()) {
                    return Err(DriverError::NoTls);
                }
                Some(listen(addr).await?)
            }
            None => None,
        };
        let local = |l: &Option<TcpListener>| l.as_ref().and_then(|l| l.local_addr().ok());
        let inner = Arc::new(Inner {
            local_addr: local(&tcp),
            local_tls_addr: local(&tls_listener),
            config,
            tls,
            counters: Counters::default(),
            cancel,
            tracker: TaskTracker::new(),
            state: Mutex::new(State::default()),
        });
        if let Some(listener) = tcp {
            inner
                .tracker
                .spawn(connection::accept_loop(inner.clone(), listener, false));
        }
        if let Some(listener) = tls_listener {
            inner
                .tracker
                .spawn(connection::accept_loop(inner.clone(), listener, true));
        }
        Ok(Endpoint { inner })
    }

    /// The plain TCP listener's address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr
    }

    /// The TLS listener's address.
    pub fn local_tls_addr(&self) -> Option<SocketAddr> {
        self.inner.local_tls_addr
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot()
    }

    /// Stops every task (listeners, connections, session timers) and waits
    /// for them; sessions end with [`CloseReason::Shutdown`].
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
        // Sessions no connection carried (passive ones still waiting) end too.
        let left: Vec<SessionEntry> = {
            let mut state = self.inner.lock();
            let ids: Vec<String> = state.sessions.keys().cloned().collect();
            ids.iter()
                .filter_map(|id| self.inner.remove_session(&mut state, id))
                .collect()
        };
        for entry in left {
            let _ = entry
                .events
                .try_send(SessionEvent::Closed(CloseReason::Shutdown));
        }
    }

    /// Opens a session. Active: connects to the first URI of the remote
    /// path (or reuses a connection to the same scheme, host and port,
    /// §5.4) and queues the bodiless SEND that binds it at the peer; fails
    /// if the connection cannot be made. Passive: waits for the peer's
    /// first request; [`CloseReason::BindTimeout`] if none comes.
    pub async fn open(&self, spec: SessionSpec) -> Result<SessionHandle, DriverError> {
        let inner = &self.inner;
        let id = spec
            .local
            .session_id
            .clone()
            .ok_or(DriverError::BadPath("local URI without session-id"))?;
        let first = spec
            .remote_path
            .first()
            .cloned()
            .ok_or(DriverError::BadPath("empty remote path"))?;
        let port = first
            .port
            .ok_or(DriverError::BadPath("remote URI without port"))?;
        if spec.local.scheme == Scheme::Msrps && inner.tls.is_none() {
            return Err(DriverError::NoTls);
        }
        let (tx, rx) = mpsc::channel(inner.config.event_capacity.max(1));
        let timer = Arc::new(Notify::new());
        let cancel = inner.cancel.child_token();
        {
            let mut state = inner.lock();
            if state.sessions.contains_key(&id) {
                return Err(DriverError::SessionExists);
            }
            if state.sessions.len() >= inner.config.max_sessions {
                return Err(DriverError::TooManySessions);
            }
            let config = SessionConfig {
                paths: Paths {
                    local: spec.local.clone(),
                    remote: spec.remote_path.clone(),
                },
                accept_types: spec.options.accept_types.clone(),
                limits: spec.options.limits,
                max_chunk: spec.options.max_chunk,
                max_pending: spec.options.max_pending,
                application_reports: spec.options.application_reports,
                max_awaiting_reports: spec.options.max_awaiting_reports,
                nickname_requests: spec.options.nickname_requests,
                message_answers: spec.options.message_answers,
            };
            state.sessions.insert(
                id.clone(),
                SessionEntry {
                    session: Session::new(config, RandomIds),
                    local: spec.local.clone(),
                    role: spec.role,
                    conn: None,
                    events: tx.clone(),
                    pending: HashMap::new(),
                    partial: VecDeque::new(),
                    timer: timer.clone(),
                    cancel: cancel.clone(),
                    max_pending: spec.options.max_pending.max(1),
                },
            );
            inc(&inner.counters.sessions_open);
        }
        let handle = SessionHandle::new(id.clone(), inner.clone(), rx);
        let bind_deadline = match spec.role {
            Role::Passive => Some(Instant::now() + inner.config.bind_timeout),
            Role::Active => None,
        };
        inner.tracker.spawn(timer::session_timer(
            inner.clone(),
            id.clone(),
            timer,
            cancel,
            bind_deadline,
        ));
        if spec.role == Role::Active {
            // On failure the handle's drop removes the session.
            let conn = connection::connect(inner, &first, port).await?;
            let mut state = inner.lock();
            let State {
                sessions, conns, ..
            } = &mut *state;
            let (Some(entry), Some(c)) = (sessions.get_mut(&id), conns.get_mut(&conn)) else {
                return Err(DriverError::Closed);
            };
            entry.conn = Some(conn);
            c.sessions.insert(id.clone());
            // §5.4: "the active endpoint MUST immediately issue a SEND request".
            let message_id = MessageId::new(&random_token()).expect("hex is a Message-ID");
            entry.session.send_bodiless(message_id);
            c.wake.notify_one();
            let _ = tx.try_send(SessionEvent::Bound);
        }
        Ok(handle)
    }
}

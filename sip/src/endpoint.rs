//! The user agent the gateway talks to: binds the transports, runs the
//! transaction layer on tokio's clock, hands new requests up through a bounded
//! channel with a [`Responder`], and sends requests down as async calls.
//!
//! One received message, step by step: `transport/*` → [`Inner::handle_bytes`]
//! → `wire` parse (a 400 from salvage when that fails) → `wire::validate` →
//! `transaction` (retransmissions absorbed here) → channel (full: 503 +
//! Retry-After) → the gateway.
//!
//! One sent request: `locate` (RFC 3263, through [`crate::resolver`]) → a
//! client transaction per target until one answers (§4.3) → the caller.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth;
use crate::config::{EndpointConfig, Transport};
use crate::dialog;
use crate::error::{Error, TransactionError};
use crate::framing::FramingError;
use crate::locate::Destination;
use crate::rate::{SourceRates, Verdict};
use crate::resolver::Resolver;
use crate::stats::{Counters, Stats, bump};
use crate::transaction::{
    AckKey, ClientKey, MAGIC_COOKIE, Output, RequestOutcome, ResponseOutcome, ServerKey, Target,
    Transactions, Transmit,
};
use crate::transport::{tcp, tls, udp};
use crate::trust::{PeerIdentity, TrustedPeers};
use crate::wire::header::{Address, split_outside_quotes};
use crate::wire::message::{Message, ParseLimits, Salvage, StartLine};
use crate::wire::uri::Uri;
use crate::wire::validate::{self, RequestHead};
use crate::wire::write::{self, RequestParts, reason_phrase};

/// The SIP user agent. Cheap to clone.
#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field(
                "udp",
                &self.inner.udp.iter().map(|(_, a)| a).collect::<Vec<_>>(),
            )
            .field("tcp", &self.inner.tcp_addrs)
            .finish_non_exhaustive()
    }
}

/// A request to send.
#[derive(Debug, Clone, Default)]
pub struct OutgoingRequest {
    /// Method (`MESSAGE`, `SUBSCRIBE`, …).
    pub method: String,
    /// Request-URI.
    pub request_uri: String,
    /// From: a URI or name-addr without tag; the endpoint adds one.
    pub from: String,
    /// To: a URI or name-addr.
    pub to: String,
    /// Call-ID; a fresh one when `None`.
    pub call_id: Option<String>,
    /// Further headers.
    pub headers: Vec<(String, String)>,
    /// Content-Type and body.
    pub body: Option<(String, Bytes)>,
}

/// The final response to a sent request.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Reason phrase as sent.
    pub reason: String,
    /// Body.
    pub body: Bytes,
    message: Message,
}

impl Response {
    fn from_message(message: Message) -> Response {
        let (status, reason) = match &message.start {
            StartLine::Response { status, reason } => (*status, reason.clone()),
            StartLine::Request { .. } => (0, String::new()),
        };
        Response {
            status,
            reason,
            body: message.body.clone(),
            message,
        }
    }

    /// A header's values (compact forms resolved), joined by `, `.
    pub fn header(&self, name: &str) -> Option<String> {
        self.message.header(name)
    }

    /// The whole parsed response (e.g. for [`crate::dialog::Dialog::from_response`]).
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// Each value of a header (for headers that repeat, e.g. WWW-Authenticate).
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.message
            .header_values(&ezk_sip_types::Name::from(name.to_owned()))
    }
}

/// Read access to a received request; all values as the peer sent them.
#[derive(Debug, Clone)]
pub struct RequestView {
    /// Where it came from.
    pub source: SocketAddr,
    /// Over which transport.
    pub transport: Transport,
    message: Message,
    head: RequestHead,
    /// The verified certificate of a mutual-TLS peer.
    tls_certificate: Option<Arc<CertificateDer<'static>>>,
}

impl RequestView {
    /// The method.
    pub fn method(&self) -> &str {
        &self.head.method
    }

    /// The Request-URI.
    pub fn request_uri(&self) -> String {
        self.head.request_uri.clone()
    }

    /// The From URI.
    pub fn from_uri(&self) -> String {
        self.head.from.uri_text.clone()
    }

    /// The From display name, unquoted.
    pub fn from_display(&self) -> Option<String> {
        self.head.from.display.clone()
    }

    /// The From tag.
    pub fn from_tag(&self) -> Option<String> {
        self.head.from.param("tag").map(str::to_owned)
    }

    /// The To URI.
    pub fn to_uri(&self) -> String {
        self.head.to.uri_text.clone()
    }

    /// The To display name, unquoted.
    pub fn to_display(&self) -> Option<String> {
        self.head.to.display.clone()
    }

    /// The To tag (set for in-dialog requests).
    pub fn to_tag(&self) -> Option<String> {
        self.head.to.param("tag").map(str::to_owned)
    }

    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        &self.head.call_id
    }

    /// The CSeq number.
    pub fn cseq(&self) -> u32 {
        self.head.cseq
    }

    /// A header's values (compact forms resolved, folding undone), joined by `, `.
    pub fn header(&self, name: &str) -> Option<String> {
        self.message.header(name)
    }

    /// Each value of a header.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.message
            .header_values(&ezk_sip_types::Name::from(name.to_owned()))
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.message.body
    }

    /// The whole parsed request (e.g. for [`crate::dialog::Dialog::from_request`]).
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// Whether the request came over TLS from a peer whose verified client
    /// certificate is valid for the DNS name `name` (RFC 5922 §7.1: subjectAltName
    /// dNSName, checked by webpki). Only mutual TLS (`require_client_cert`)
    /// yields a certificate.
    pub fn tls_peer_is(&self, name: &str) -> bool {
        self.tls_certificate
            .as_deref()
            .is_some_and(|der| certificate_names(der, name))
    }

    /// Whether the sender is in `sip.trusted_peers` (by source address, or
    /// by TLS certificate name).
    pub fn is_trusted_by(&self, peers: &TrustedPeers) -> bool {
        is_trusted(peers, self.source, self.tls_certificate.as_deref())
    }
}

/// Whether a verified certificate is valid for the DNS name `name`.
fn certificate_names(der: &CertificateDer<'static>, name: &str) -> bool {
    let (Ok(cert), Ok(name)) = (
        rustls::server::ParsedCertificate::try_from(der),
        ServerName::try_from(name),
    ) else {
        return false;
    };
    rustls::client::verify_server_name(&cert, &name).is_ok()
}

/// The `branch` parameter of the first Via header line of a datagram's head,
/// as written (compact `v:` too), found without parsing the message; `None`
/// when there is none to find cheaply (then the datagram is no known
/// transaction's retransmission).
fn top_via_branch(datagram: &[u8]) -> Option<&str> {
    let head_end = datagram
        .windows(4)
        .take(8192)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(datagram.len().min(8192));
    let head = std::str::from_utf8(&datagram[..head_end]).ok()?;
    let via = head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v")).then_some(value)
    })?;
    let first = via.split(',').next()?;
    first.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("branch")
            .then(|| value.trim())
    })
}

/// Whether `datagram` starts like a request (RFC 3261 §25.1 `Request-Line`:
/// a token method, SP, a URI, SP, `SIP/2.0`, CRLF), judged from its first
/// line alone. Responses (`SIP/2.0 …`) do not.
fn looks_like_request_line(datagram: &[u8]) -> bool {
    let line_end = datagram
        .iter()
        .take(1024)
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(datagram.len().min(1024));
    let line = &datagram[..line_end];
    let mut parts = line.split(|&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let uri = parts.next().unwrap_or_default();
    let version = parts.next().unwrap_or_default();
    !method.is_empty()
        && method
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(b))
        && !uri.is_empty()
        && version.eq_ignore_ascii_case(b"SIP/2.0")
        && parts.next().is_none()
}

/// Whether `source` (with its TLS certificate, if any) is in `peers`.
fn is_trusted(
    peers: &TrustedPeers,
    source: SocketAddr,
    certificate: Option<&CertificateDer<'static>>,
) -> bool {
    if peers.is_empty() {
        return false;
    }
    let matches = |name: &str| certificate.is_some_and(|der| certificate_names(der, name));
    peers.trusts(&PeerIdentity {
        source: source.ip(),
        tls_name_matches: certificate.map(|_| &matches as &dyn Fn(&str) -> bool),
    })
}

impl OutgoingRequest {
    /// The next request of a dialog (RFC 3261 §12.2.1.1): its tags, Call-ID,
    /// CSeq and route set, plus the caller's headers and body.
    pub fn in_dialog(
        request: crate::dialog::DialogRequest,
        mut headers: Vec<(String, String)>,
        body: Option<(String, Bytes)>,
    ) -> OutgoingRequest {
        headers.push((
            "CSeq".to_owned(),
            format!("{} {}", request.cseq, request.method),
        ));
        headers.extend(request.route.into_iter().map(|r| ("Route".to_owned(), r)));
        OutgoingRequest {
            method: request.method,
            request_uri: request.request_uri,
            from: request.from,
            to: request.to,
            call_id: Some(request.call_id),
            headers,
            body,
        }
    }
}

/// A request received from the network, with the handle that answers it.
#[derive(Debug)]
pub struct IncomingRequest {
    /// Where it came from.
    pub source: SocketAddr,
    /// Over which transport.
    pub transport: Transport,
    view: RequestView,
    responder: Responder,
}

impl IncomingRequest {
    /// The method.
    pub fn method(&self) -> &str {
        self.view.method()
    }
    /// The Request-URI.
    pub fn request_uri(&self) -> String {
        self.view.request_uri()
    }
    /// The From URI.
    pub fn from_uri(&self) -> String {
        self.view.from_uri()
    }
    /// The From display name.
    pub fn from_display(&self) -> Option<String> {
        self.view.from_display()
    }
    /// The To URI.
    pub fn to_uri(&self) -> String {
        self.view.to_uri()
    }
    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        self.view.call_id()
    }
    /// A header's values (compact forms resolved), joined by `, `.
    pub fn header(&self, name: &str) -> Option<String> {
        self.view.header(name)
    }
    /// The body.
    pub fn body(&self) -> &[u8] {
        self.view.body()
    }
    /// Everything readable about the request.
    pub fn view(&self) -> &RequestView {
        &self.view
    }
    /// Whether the sender is in `sip.trusted_peers` (see [`RequestView::is_trusted_by`]).
    pub fn is_trusted_by(&self, peers: &TrustedPeers) -> bool {
        self.view.is_trusted_by(peers)
    }
    /// Splits into the readable request and the responder, so the responder
    /// can be parked while the answer is worked out elsewhere.
    pub fn into_responder(self) -> (RequestView, Responder) {
        (self.view, self.responder)
    }
    /// Answers right away.
    pub fn respond(
        self,
        status: u16,
        reason: Option<&str>,
        headers: Vec<(String, String)>,
        body: Option<(String, Bytes)>,
    ) {
        self.responder.respond(status, reason, headers, body);
    }
}

/// Answers one received request through its server transaction.
///
/// Dropping it without a final response answers 500, so no request is
/// silently dropped.
pub struct Responder {
    inner: Arc<Inner>,
    key: ServerKey,
    salvage: Salvage,
    to_tag: String,
    /// For an INVITE: the dialog its 2xx's ACK will name (§13.3.1.4).
    ack: Option<AckKey>,
    /// RFC 3261 §12.1.1: the Record-Route values of a request that can create
    /// a dialog (an INVITE, SUBSCRIBE or REFER without To tag), in order, for
    /// the responses that establish it. Empty for every other request.
    record_route: Vec<String>,
    answered: bool,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("method", &self.key.method)
            .field("answered", &self.answered)
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// Sends the final response (or, for 1xx, a provisional one — then the
    /// responder is spent; use [`Responder::provisional`] to keep it).
    pub fn respond(
        mut self,
        status: u16,
        reason: Option<&str>,
        headers: Vec<(String, String)>,
        body: Option<(String, Bytes)>,
    ) {
        self.answered = true;
        let body = body.as_ref().map(|(t, b)| (t.as_str(), &b[..]));
        self.send(status, reason, &headers, body);
        if status < 200 {
            // A spent responder must still end the transaction.
            self.send(500, None, &[], None);
        }
    }

    /// The To tag this responder puts on its responses (RFC 3261 §8.2.6.2),
    /// so a dialog created by the answer can be recorded.
    pub fn to_tag(&self) -> &str {
        &self.to_tag
    }

    /// Sends a provisional (1xx) response and keeps the responder.
    pub fn provisional(&self, status: u16, reason: Option<&str>) {
        if (100..200).contains(&status) {
            self.send(status, reason, &[], None);
        }
    }

    fn send(
        &self,
        status: u16,
        reason: Option<&str>,
        headers: &[(String, String)],
        body: Option<(&str, &[u8])>,
    ) {
        // RFC 3261 §12.1.1: "When a UAS responds to a request with a response
        // that establishes a dialog (such as a 2xx to INVITE), the UAS MUST
        // copy all Record-Route header field values from the request into the
        // response ... and MUST maintain the order of those values." §12.1: a
        // dialog is established by a 2xx or a 101-199 with a To tag (ours
        // always has one). Done here so no caller can forget it; a caller that
        // set Record-Route itself is left alone.
        let copied;
        let headers = if (101..300).contains(&status)
            && !self.record_route.is_empty()
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("record-route"))
        {
            copied = self
                .record_route
                .iter()
                .map(|v| ("Record-Route".to_owned(), v.clone()))
                .chain(headers.iter().cloned())
                .collect::<Vec<_>>();
            &copied[..]
        } else {
            headers
        };
        let bytes = write::response(
            &self.salvage,
            status,
            reason.unwrap_or(reason_phrase(status)),
            &self.to_tag,
            &self.inner.config.user_agent,
            headers,
            body,
        );
        let transmit = self.inner.with_core(|core| {
            let transmit = core.transactions.respond(&self.key, status, bytes, now());
            // RFC 3261 §13.3.1.4: a 2xx to INVITE is retransmitted until its ACK.
            if (200..300).contains(&status)
                && let Some(ack) = &self.ack
            {
                core.transactions.expect_ack(&self.key, ack.clone());
            }
            transmit
        });
        if let Some(transmit) = transmit {
            self.inner.counters.response_out(status);
            self.inner.transmit(transmit);
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if !self.answered {
            self.answered = true;
            self.send(500, Some("Server Internal Error"), &[], None);
        }
    }
}

/// How a client transaction ended, for the task waiting in `send_request`.
enum Outcome {
    Response(Message),
    /// RFC 3261 §17.1.4: the connection carrying the request closed.
    ConnectionLost,
    /// Timer F fired; `heard` tells whether any provisional response came
    /// (RFC 3263 §4.3 fails over only when none did).
    TimedOut {
        heard: bool,
    },
}

/// The signal [`Endpoint::send_request_in_order`] fires at the first
/// transmission; dropped unfired when the request ends before it.
struct Transmitted(Mutex<Option<oneshot::Sender<()>>>);

impl Transmitted {
    fn none() -> Self {
        Transmitted(Mutex::new(None))
    }

    fn fire(&self) {
        if let Some(tx) = self.0.lock().ok().and_then(|mut t| t.take()) {
            let _ = tx.send(());
        }
    }
}

/// The task waiting for a client transaction's end.
struct Waiter {
    tx: oneshot::Sender<Outcome>,
    /// A provisional response arrived.
    heard: bool,
}

struct Core {
    transactions: Transactions,
    waiters: HashMap<ClientKey, Waiter>,
    /// Design §5: new requests per second per source address.
    rates: SourceRates,
}

/// RFC 3263 §4: where one request may go, in the order to try.
struct Located {
    targets: Vec<Target>,
    /// The URI's host, for TLS server identity.
    host: String,
}

/// RFC 3263 §4.3: an attempt at one target that failed.
struct Failed {
    error: TransactionError,
    /// Whether the next target may be tried: a transport failure, or a
    /// timeout "without ever having received any response".
    try_next: bool,
}

impl From<TransactionError> for Failed {
    fn from(error: TransactionError) -> Failed {
        Failed {
            error,
            try_next: false,
        }
    }
}

/// The endpoint's shared state; the transports call into it.
pub(crate) struct Inner {
    pub(crate) config: EndpointConfig,
    pub(crate) counters: Counters,
    pub(crate) connections: tcp::Connections,
    pub(crate) tracker: TaskTracker,
    core: Mutex<Core>,
    wake: Notify,
    udp: Vec<(Arc<UdpSocket>, SocketAddr)>,
    tcp_addrs: Vec<SocketAddr>,
    tls_addrs: Vec<SocketAddr>,
    tls: Option<tls::Tls>,
    resolver: Resolver,
    incoming: mpsc::Sender<IncomingRequest>,
    shutdown: CancellationToken,
    /// Cancelled by [`Endpoint::abandon_requests`] or with `shutdown` (it is
    /// its child): every `send_request` in flight returns `ShuttingDown` at once.
    abandon: CancellationToken,
}

/// The driver's clock: tokio's (so paused-time tests work), as a std Instant.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// RFC 3261 §8.1.1.7: the random part of a branch, "unique across space
/// and time for all requests sent by the UA".
fn random_token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Endpoint {
    /// Binds every listen address, starts the transports and the timer task,
    /// and returns the endpoint with the channel of incoming requests.
    pub async fn bind(
        config: EndpointConfig,
        shutdown: CancellationToken,
    ) -> Result<(Endpoint, mpsc::Receiver<IncomingRequest>), Error> {
        if let Some(proxy) = &config.outbound_proxy
            && !matches!(Uri::parse(proxy), Ok(Uri::Sip(_)))
        {
            return Err(Error::InvalidOutboundProxy(proxy.clone()));
        }
        let tls = config.tls.as_ref().map(tls::Tls::new).transpose()?;
        let mut udp_sockets = Vec::new();
        let mut tcp_listeners = Vec::new();
        let mut tls_listeners = Vec::new();
        for listen in &config.listen {
            let bind_failed = |source| Error::BindFailed {
                addr: listen.addr,
                source,
            };
            match listen.transport {
                Transport::Udp => {
                    let socket = udp::bind(listen.addr, config.limits.udp_recv_buffer_bytes)
                        .await
                        .map_err(bind_failed)?;
                    let local = socket.local_addr().map_err(bind_failed)?;
                    udp_sockets.push((Arc::new(socket), local));
                }
                Transport::Tcp => {
                    let listener = tcp::bind(listen.addr).await.map_err(bind_failed)?;
                    let local = listener.local_addr().map_err(bind_failed)?;
                    tcp_listeners.push((listener, local));
                }
                Transport::Tls => {
                    if !tls.as_ref().is_some_and(tls::Tls::can_serve) {
                        return Err(Error::TlsUnsupported(listen.addr));
                    }
                    let listener = tcp::bind(listen.addr).await.map_err(bind_failed)?;
                    let local = listener.local_addr().map_err(bind_failed)?;
                    tls_listeners.push((listener, local));
                }
            }
        }
        let (incoming, receiver) = mpsc::channel(config.limits.incoming_queue.max(1));
        let tracker = TaskTracker::new();
        let inner = Arc::new(Inner {
            counters: Counters::default(),
            connections: tcp::Connections::default(),
            tracker: tracker.clone(),
            core: Mutex::new(Core {
                transactions: Transactions::new(
                    config.timers,
                    config.limits.max_pending_transactions,
                ),
                waiters: HashMap::new(),
                rates: SourceRates::new(config.limits.source_rate, now()),
            }),
            wake: Notify::new(),
            udp: udp_sockets.clone(),
            tcp_addrs: tcp_listeners.iter().map(|(_, a)| *a).collect(),
            tls_addrs: tls_listeners.iter().map(|(_, a)| *a).collect(),
            tls: tls.clone(),
            resolver: Resolver::new(&config.dns),
            incoming,
            abandon: shutdown.child_token(),
            shutdown: shutdown.clone(),
            config,
        });
        for (socket, addr) in udp_sockets {
            tracing::info!(%addr, "sip listening on udp");
            tracker.spawn(udp::run(socket, inner.clone(), shutdown.clone()));
        }
        for (listener, addr) in tcp_listeners {
            tracing::info!(%addr, "sip listening on tcp");
            tracker.spawn(tcp::run_listener(listener, inner.clone(), shutdown.clone()));
        }
        if let Some(tls) = &tls {
            for (listener, addr) in tls_listeners {
                tracing::info!(%addr, "sip listening on tls");
                tracker.spawn(tls::run_listener(
                    listener,
                    tls.clone(),
                    inner.clone(),
                    shutdown.clone(),
                ));
            }
        }
        tracker.spawn(run_timers(inner.clone(), shutdown.clone()));
        tracker.close();
        Ok((Endpoint { inner }, receiver))
    }

    /// The bound address of the first listener of `transport` (real port when
    /// the config said `:0`).
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        match transport {
            Transport::Udp => self.inner.udp.first().map(|(_, a)| *a),
            Transport::Tcp => self.inner.tcp_addrs.first().copied(),
            Transport::Tls => self.inner.tls_addrs.first().copied(),
        }
    }

    /// A Contact header value, `<sip:user@host:port;transport=…>`, for a
    /// response or request that goes to `peer` over `transport`: the
    /// advertised host (`EndpointConfig::advertise`) or the local address
    /// that peer can reach — never a wildcard address.
    pub fn contact(&self, user: Option<&str>, transport: Transport, peer: SocketAddr) -> String {
        self.inner.contact(user, transport, peer)
    }

    /// The timer base values it runs with (T1 for RFC 6665 Timer N, say).
    pub fn timers(&self) -> crate::config::Timers {
        self.inner.config.timers
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let pending = self
            .inner
            .lock_core()
            .map(|c| c.transactions.len() as u64)
            .unwrap_or(0);
        self.inner.counters.snapshot(pending)
    }

    /// Waits until every task of the endpoint has stopped (after shutdown).
    pub async fn closed(&self) {
        self.inner.tracker.wait().await;
    }

    /// Sends a request and waits for its final response (RFC 3261 §17.1.2),
    /// or a timeout (Timer F) or transport error. The first Route, the
    /// outbound proxy or the Request-URI (`Inner::destination`) is located
    /// once per request (RFC 3263 §4: NAPTR, SRV,
    /// A/AAAA); a transport error, a 503 or a timeout without any response
    /// moves the request, as a new transaction, to the next target (§4.3),
    /// and when every target fails the last 503 (else the last error) is
    /// returned. A 401/407 challenge is answered once with credentials from
    /// the config, when `auth` can, starting at the target that challenged.
    ///
    /// After [`Endpoint::abandon_requests`] it returns `ShuttingDown`, at once
    /// for a request in flight and without sending for a new one.
    pub async fn send_request(&self, req: OutgoingRequest) -> Result<Response, TransactionError> {
        self.send_until_abandoned(req, Transmitted::none()).await
    }

    /// [`Endpoint::send_request`], firing `transmitted` once the request has
    /// first been handed to the transport (or dropping it, when the request
    /// ends before that). A caller that starts request N+1 only after request
    /// N's signal keeps its requests in order on the wire, while their
    /// transactions still run side by side: RFC 3428 MESSAGEs carry no
    /// sequence number, so the order they leave in is the order the peer sees.
    pub async fn send_request_in_order(
        &self,
        req: OutgoingRequest,
        transmitted: oneshot::Sender<()>,
    ) -> Result<Response, TransactionError> {
        self.send_until_abandoned(req, Transmitted(Mutex::new(Some(transmitted))))
            .await
    }

    async fn send_until_abandoned(
        &self,
        req: OutgoingRequest,
        transmitted: Transmitted,
    ) -> Result<Response, TransactionError> {
        if self.inner.abandon.is_cancelled() {
            return Err(TransactionError::ShuttingDown);
        }
        // Dropping the send part way is safe: a transaction already started
        // lives on in the core until its own timers end it; only its waiter
        // (this future) is gone.
        tokio::select! {
            result = self.send_request_to_end(req, &transmitted) => result,
            () = self.inner.abandon.cancelled() => Err(TransactionError::ShuttingDown),
        }
    }

    /// Stops waiting for answers: every [`Endpoint::send_request`] in flight
    /// returns `TransactionError::ShuttingDown` now, and new ones return it
    /// without sending. Listeners keep running, so requests that arrive are
    /// still answered (a draining gateway refuses them with 503). Used when a
    /// shutdown's grace period has run out: a peer that never answers would
    /// otherwise hold the process for Timer F (64·T1, RFC 3261 §17.1.2.2).
    pub fn abandon_requests(&self) {
        self.inner.abandon.cancel();
    }

    async fn send_request_to_end(
        &self,
        req: OutgoingRequest,
        transmitted: &Transmitted,
    ) -> Result<Response, TransactionError> {
        if req.method.is_empty() || req.method == "ACK" || req.method == "INVITE" {
            return Err(TransactionError::InvalidRequest(
                "only non-INVITE methods are sent",
            ));
        }
        let call_id = req
            .call_id
            .clone()
            .unwrap_or_else(|| dialog::new_call_id("parley"));
        let from_tag = dialog::new_tag();
        // A CSeq given in the headers (an in-dialog request, RFC 3261 §12.2.1.1)
        // sets the number; otherwise a new request starts at 1.
        let mut cseq = req
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("cseq"))
            .and_then(|(_, v)| v.split_whitespace().next()?.parse::<u32>().ok())
            .unwrap_or(1);
        let mut headers = req.headers.clone();
        let destination = self.inner.destination(&req.request_uri, &headers)?;
        // Shutdown and abandon end this wait in `send_until_abandoned`.
        let located = self.inner.locate(&destination).await?;
        let mut first = 0;
        let mut retried = false;
        loop {
            let (response, used) = self
                .send_located(
                    &req,
                    &call_id,
                    &from_tag,
                    cseq,
                    &headers,
                    &located,
                    first,
                    transmitted,
                )
                .await?;
            if !retried
                && matches!(response.status, 401 | 407)
                && let Some(authorization) = self.inner.authorize(&req, &response)
            {
                bump(&self.inner.counters.auth_retries);
                headers.push(authorization);
                cseq += 1;
                retried = true;
                // The answer goes to the server that challenged.
                first = used;
                continue;
            }
            return Ok(response);
        }
    }

    /// RFC 3263 §4.3: tries the targets from `first` on, each with a new
    /// transaction (new branch), until one answers other than 503; returns
    /// the response and the index of the target that gave it.
    #[allow(clippy::too_many_arguments)]
    async fn send_located(
        &self,
        req: &OutgoingRequest,
        call_id: &str,
        from_tag: &str,
        cseq: u32,
        headers: &[(String, String)],
        located: &Located,
        first: usize,
        transmitted: &Transmitted,
    ) -> Result<(Response, usize), TransactionError> {
        let mut last_error = None;
        let mut last_503 = None;
        for (index, target) in located.targets.iter().enumerate().skip(first) {
            match self
                .send_once(
                    req,
                    call_id,
                    from_tag,
                    cseq,
                    headers,
                    *target,
                    &located.host,
                    transmitted,
                )
                .await
            {
                // §4.3: "failure occurs if the transaction layer reports a 503
                // error response"; the last 503 stands if no target does better.
                Ok(response) if response.status == 503 => {
                    tracing::debug!(peer = %target.addr, "503: trying the next target");
                    last_503 = Some((response, index));
                }
                Ok(response) => return Ok((response, index)),
                Err(Failed {
                    error,
                    try_next: true,
                }) => {
                    tracing::debug!(peer = %target.addr, kind = error.kind(), "trying the next target");
                    last_error = Some(error);
                }
                Err(Failed { error, .. }) => return Err(error),
            }
        }
        if let Some(answer) = last_503 {
            return Ok(answer);
        }
        Err(last_error.unwrap_or_else(|| TransactionError::Unresolvable(req.request_uri.clone())))
    }

    /// One transaction to one target.
    #[allow(clippy::too_many_arguments)]
    async fn send_once(
        &self,
        req: &OutgoingRequest,
        call_id: &str,
        from_tag: &str,
        cseq: u32,
        headers: &[(String, String)],
        target: Target,
        host: &str,
        transmitted: &Transmitted,
    ) -> Result<Response, Failed> {
        let inner = &self.inner;
        let Target {
            addr,
            mut transport,
        } = target;
        let transport_failed = |source| Failed {
            error: TransactionError::Transport {
                target: addr.to_string(),
                source,
            },
            try_next: true,
        };
        let branch = format!("{MAGIC_COOKIE}{}", random_token());
        // A From that already has a tag (an in-dialog request) is kept as given.
        let from = if write::has_tag(&req.from) {
            req.from.clone()
        } else if req.from.contains('<') {
            format!("{};tag={from_tag}", req.from)
        } else {
            format!("<{}>;tag={from_tag}", req.from)
        };
        let to = if req.to.contains('<') {
            req.to.clone()
        } else {
            format!("<{}>", req.to)
        };
        let route = inner.route(headers);
        // RFC 6665 §3.1.4 / §4.1.2: SUBSCRIBE and NOTIFY carry a Contact.
        let needs_contact = matches!(req.method.as_str(), "SUBSCRIBE" | "NOTIFY" | "REFER")
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("contact") || n.eq_ignore_ascii_case("m"));
        let contact_user = crate::wire::header::Address::parse(&req.from)
            .ok()
            .and_then(|a| {
                a.uri_text
                    .split_once(':')
                    .and_then(|(_, rest)| rest.split_once('@'))
                    .map(|(user, _)| user.to_owned())
            });
        let build = |transport: Transport| {
            let sent_by = inner.sent_by(transport, addr);
            let via = format!(
                "SIP/2.0/{} {sent_by};branch={branch};rport",
                transport.via_token()
            );
            let mut headers = headers.to_vec();
            if needs_contact {
                headers.push((
                    "Contact".to_owned(),
                    inner.contact(contact_user.as_deref(), transport, addr),
                ));
            }
            write::request(&RequestParts {
                method: &req.method,
                request_uri: &req.request_uri,
                via: &via,
                from: &from,
                to: &to,
                call_id,
                cseq,
                route: &route,
                user_agent: &inner.config.user_agent,
                headers: &headers,
                body: req.body.as_ref().map(|(t, b)| (t.as_str(), &b[..])),
            })
        };
        let mut bytes = build(transport);
        // RFC 3261 §18.1.1: a request within 200 bytes of the path MTU goes over TCP.
        if transport == Transport::Udp && bytes.len() > inner.config.limits.udp_mtu_allowance {
            let connect_timeout = inner.config.timers.t1 * 64;
            match tcp::connect(addr, inner, &inner.shutdown, connect_timeout).await {
                Ok(()) => {
                    bump(&inner.counters.udp_to_tcp_switches);
                    transport = Transport::Tcp;
                    bytes = build(transport);
                }
                // §18.1.1: if the connection is refused, retry with UDP.
                Err(error) => tracing::debug!(%error, "tcp for a large request failed; using udp"),
            }
        } else if transport == Transport::Tcp {
            tcp::connect(addr, inner, &inner.shutdown, inner.config.timers.t1 * 64)
                .await
                .map_err(transport_failed)?;
        } else if transport == Transport::Tls {
            let tls = inner.tls.as_ref().ok_or(TransactionError::InvalidRequest(
                "TLS target without [sip.tls] config",
            ))?;
            tls::connect(addr, host, tls, inner, &inner.shutdown)
                .await
                .map_err(transport_failed)?;
        }
        let key = ClientKey {
            branch: branch.clone(),
            method: req.method.clone(),
        };
        let target = Target { transport, addr };
        let (tx, rx) = oneshot::channel();
        let transmit = inner
            .with_core(|core| {
                let transmit = core
                    .transactions
                    .start_client(key.clone(), bytes, target, now())?;
                core.waiters
                    .insert(key.clone(), Waiter { tx, heard: false });
                Some(transmit)
            })
            .ok_or(TransactionError::Overloaded)?;
        inner.counters.request_out(&req.method);
        if let Err(source) = inner.send_bytes(&transmit) {
            // RFC 3263 §4.3: a transport failure (UDP included: no route, an
            // address family we have no socket for) moves on to the next target.
            bump(&inner.counters.transport_errors);
            inner.with_core(|core| {
                core.transactions.remove_client(&key);
                core.waiters.remove(&key)
            });
            return Err(transport_failed(source));
        }
        transmitted.fire();
        // Shutdown and abandon end this wait in `send_until_abandoned`.
        match rx.await {
            Ok(Outcome::Response(message)) => Ok(Response::from_message(message)),
            Ok(Outcome::ConnectionLost) => Err(transport_failed(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection closed",
            ))),
            // §4.3: a timeout "without ever having received any response,
            // provisional or final" is a failure; after a 1xx it is not.
            Ok(Outcome::TimedOut { heard }) => Err(Failed {
                error: TransactionError::Timeout,
                try_next: !heard,
            }),
            Err(_) => Err(TransactionError::Timeout.into()),
        }
    }
}

impl Inner {
    /// RFC 3261 §17.1.4: a stream connection closed; the client transactions
    /// that sent over it fail now instead of waiting for Timer F.
    pub(crate) fn connection_closed(&self, transport: Transport, peer: SocketAddr) {
        let target = Target {
            transport,
            addr: peer,
        };
        let waiters = self.with_core(|core| {
            core.transactions
                .fail_target(target)
                .into_iter()
                .filter_map(|key| core.waiters.remove(&key))
                .collect::<Vec<_>>()
        });
        for waiter in waiters {
            bump(&self.counters.transport_errors);
            let _ = waiter.tx.send(Outcome::ConnectionLost);
        }
    }

    fn lock_core(&self) -> Option<MutexGuard<'_, Core>> {
        self.core.lock().ok()
    }

    /// Runs `f` on the core; wakes the timer task when the next deadline moved earlier.
    fn with_core<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R
    where
        R: Default,
    {
        let Some(mut core) = self.lock_core() else {
            return R::default();
        };
        let before = core.transactions.poll_timeout();
        let r = f(&mut core);
        let after = core.transactions.poll_timeout();
        drop(core);
        if after.is_some() && (before.is_none() || after < before) {
            self.wake.notify_one();
        }
        r
    }

    /// Entry point for every received message (datagram or stream frame).
    pub(crate) fn handle_bytes(
        self: &Arc<Self>,
        bytes: Bytes,
        source: SocketAddr,
        transport: Transport,
    ) {
        let target = Target {
            transport,
            addr: source,
        };
        let limits = ParseLimits {
            max_headers: self.config.limits.max_headers,
            max_line_bytes: self.config.limits.max_line_bytes,
        };
        if bytes.len() > self.config.limits.max_message_bytes {
            bump(&self.counters.oversize_messages);
            // The rate first: a source that will not be answered is not
            // worth parsing a large message for.
            let verdict = self.over_rate(target);
            if verdict == Some(Verdict::Drop) {
                self.refuse_over_rate(&Salvage::default(), Verdict::Drop, target);
                return;
            }
            let salvage = match Message::parse(bytes, limits) {
                Ok(message) => message.salvage(),
                Err(error) => *error.salvage,
            };
            if let Some(verdict) = verdict {
                self.refuse_over_rate(&salvage, verdict, target);
                return;
            }
            tracing::warn!(%source, "oversize message");
            // RFC 3261 §21.5.14 (the token is already taken).
            self.respond_stateless(&salvage, 513, "Message Too Large", &[], target);
            return;
        }
        let message = match Message::parse(bytes, limits) {
            Ok(message) => message,
            Err(error) => {
                bump(&self.counters.parse_errors);
                tracing::debug!(%source, kind = error.kind(), "unparsable message");
                let (status, reason) = error.status();
                self.refuse(&error.salvage, status, reason, target);
                return;
            }
        };
        match message.start {
            StartLine::Request { .. } => self.handle_request(message, target),
            StartLine::Response { .. } => self.handle_response(message),
        }
    }

    /// Over UDP, before a datagram is copied or parsed: whether it could only
    /// be dropped, because its source is over its rate and has had its 503s,
    /// and the datagram cannot be a retransmission of a request admitted
    /// earlier (oversize, no request line, or a top-Via branch no server
    /// transaction holds). Counted as dropped. What may be a retransmission
    /// is still parsed and absorbed; responses and rate-exempt peers always
    /// go on to be handled.
    pub(crate) fn drop_silenced_datagram(&self, datagram: &[u8], source: SocketAddr) -> bool {
        if datagram.starts_with(b"SIP/2.0 ") || is_trusted(&self.config.rate_exempt, source, None) {
            return false;
        }
        let oversize = datagram.len() > self.config.limits.max_message_bytes;
        let branch = if !oversize && looks_like_request_line(datagram) {
            top_via_branch(datagram)
        } else {
            None
        };
        let silenced = self.with_core(|core| {
            core.rates.silenced(&source.ip(), now())
                && !branch.is_some_and(|b| core.transactions.has_server_branch(b))
        });
        if silenced {
            bump(&self.counters.rate_limited_dropped);
        }
        silenced
    }

    /// A stream could not be framed: answer from the head if possible.
    pub(crate) fn handle_framing_error(
        self: &Arc<Self>,
        error: &FramingError,
        head: Option<Bytes>,
        source: SocketAddr,
        transport: Transport,
    ) {
        match error {
            FramingError::TooLarge { .. } => bump(&self.counters.oversize_messages),
            _ => bump(&self.counters.parse_errors),
        }
        let Some(head) = head else { return };
        let limits = ParseLimits {
            max_headers: self.config.limits.max_headers,
            max_line_bytes: self.config.limits.max_line_bytes,
        };
        let salvage = match Message::parse(head, limits) {
            Ok(message) => message.salvage(),
            Err(error) => *error.salvage,
        };
        let status = u16::from(error);
        let target = Target {
            transport,
            addr: source,
        };
        self.respond_stateless(&salvage, status, reason_phrase(status), &[], target);
    }

    fn handle_request(self: &Arc<Self>, message: Message, target: Target) {
        let method = message.method().unwrap_or_default().to_owned();
        self.counters.request_in(&method);
        let head = match validate::request(&message) {
            Ok(head) => head,
            Err(rejection) => {
                bump(&self.counters.rejected_requests);
                tracing::debug!(source = %target.addr, kind = rejection.kind(), "request rejected");
                // An ACK is never answered (RFC 3261 §17.2.1).
                if method != "ACK" {
                    self.refuse(
                        &message.salvage(),
                        rejection.status,
                        rejection.reason,
                        target,
                    );
                }
                return;
            }
        };
        let key = ServerKey::of(&head);
        let is_ack = head.method == "ACK";
        let now = now();
        let certificate = match target.transport {
            Transport::Tls => self.connections.certificate(target.addr),
            _ => None,
        };
        // Trusted proxies carry many users' traffic from one address.
        let exempt = is_trusted(
            &self.config.rate_exempt,
            target.addr,
            certificate.as_deref(),
        );
        let outcome = self.with_core(|core| {
            // Only a request that would start a transaction is counted against
            // its source: retransmissions and ACKs are absorbed as before.
            if !is_ack && !exempt && !core.transactions.has_server(&key) {
                let datagram = target.transport == Transport::Udp;
                match core.rates.check(target.addr.ip(), datagram, now) {
                    Verdict::Admit => {}
                    verdict => return Some(Err(verdict)),
                }
            }
            let outcome = core.transactions.handle_request(&key, is_ack, target, now);
            // RFC 3261 §13.3.1.4: the ACK of a 2xx is its own transaction;
            // it is matched by dialog and ends the 2xx's retransmission.
            if outcome == RequestOutcome::StrayAck
                && core
                    .transactions
                    .handle_ack_of_2xx(&AckKey::of_ack(&head), now)
            {
                return Some(Ok(RequestOutcome::AckAbsorbed));
            }
            Some(Ok(outcome))
        });
        let outcome = match outcome {
            Some(Err(verdict)) => {
                self.refuse_over_rate(&message.salvage(), verdict, target);
                return;
            }
            Some(Ok(outcome)) => Some(outcome),
            None => None,
        };
        match outcome {
            Some(RequestOutcome::New) => {}
            Some(RequestOutcome::Retransmission(transmit)) => {
                bump(&self.counters.retransmissions_absorbed);
                if let Some(transmit) = transmit {
                    self.transmit(transmit);
                }
                return;
            }
            Some(RequestOutcome::AckAbsorbed | RequestOutcome::StrayAck) | None => return,
            Some(RequestOutcome::Overloaded) => {
                bump(&self.counters.overloaded);
                self.respond_overloaded(&message.salvage(), target);
                return;
            }
        }
        // RFC 3261 §12.1 and RFC 6665 §4.1.2, §4.2.1: an INVITE, SUBSCRIBE or
        // REFER outside a dialog (no To tag) creates one with its 2xx.
        let record_route = if head.to.param("tag").is_none()
            && matches!(head.method.as_str(), "INVITE" | "SUBSCRIBE" | "REFER")
        {
            message.header_values(&ezk_sip_types::Name::RECORD_ROUTE)
        } else {
            Vec::new()
        };
        let to_tag = head
            .to
            .param("tag")
            .map_or_else(dialog::new_tag, str::to_owned);
        let responder = Responder {
            inner: self.clone(),
            key,
            salvage: {
                let mut salvage = message.salvage();
                if let Some(top) = salvage.vias.first_mut() {
                    *top = write::stamp_via(top, target.addr);
                }
                salvage
            },
            // An in-dialog request already names our tag; keep it.
            to_tag: to_tag.clone(),
            ack: (head.method == "INVITE").then(|| AckKey {
                call_id: head.call_id.clone(),
                cseq: head.cseq,
                from_tag: head.from.param("tag").unwrap_or_default().to_owned(),
                to_tag,
            }),
            record_route,
            answered: false,
        };
        if head.method == "INVITE" {
            // RFC 3261 §17.2.1: 100 Trying at once, so the client stops retransmitting.
            responder.provisional(100, None);
        }
        let request = IncomingRequest {
            source: target.addr,
            transport: target.transport,
            view: RequestView {
                source: target.addr,
                transport: target.transport,
                message,
                head,
                tls_certificate: certificate,
            },
            responder,
        };
        if let Err(error) = self.incoming.try_send(request) {
            bump(&self.counters.queue_full);
            let request = match error {
                mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r) => r,
            };
            let retry = self.config.limits.retry_after_secs.to_string();
            // RFC 3261 §21.5.4: 503 with Retry-After while overloaded.
            request
                .responder
                .respond(503, None, vec![("Retry-After".to_owned(), retry)], None);
        }
    }

    fn handle_response(&self, message: Message) {
        let head = match validate::response(&message) {
            Ok(head) => head,
            Err(_) => {
                bump(&self.counters.parse_errors);
                return;
            }
        };
        self.counters.response_in(head.status);
        let Some(branch) = head.via.branch else {
            bump(&self.counters.stray_responses);
            return;
        };
        let key = ClientKey {
            branch,
            method: head.cseq_method,
        };
        let status = head.status;
        let waiter =
            self.with_core(
                |core| match core.transactions.handle_response(&key, status, now()) {
                    ResponseOutcome::Final => core.waiters.remove(&key).map(Some),
                    ResponseOutcome::Stray => Some(None),
                    ResponseOutcome::Provisional => {
                        if let Some(waiter) = core.waiters.get_mut(&key) {
                            waiter.heard = true;
                        }
                        None
                    }
                    ResponseOutcome::Absorbed => None,
                },
            );
        match waiter {
            Some(Some(waiter)) => {
                let _ = waiter.tx.send(Outcome::Response(message));
            }
            Some(None) => {
                bump(&self.counters.stray_responses);
                tracing::debug!("stray response dropped");
            }
            None => {}
        }
    }

    /// Design §5: a message that can only be refused (unparsable, invalid)
    /// costs its source a token like a request, so a garbage flood meets the
    /// same 503-then-silence instead of an answer per datagram: `status`
    /// while the source is within its rate.
    fn refuse(&self, salvage: &Salvage, status: u16, reason: &str, target: Target) {
        match self.over_rate(target) {
            Some(verdict) => self.refuse_over_rate(salvage, verdict, target),
            None => self.respond_stateless(salvage, status, reason, &[], target),
        }
    }

    /// Design §5: a message that will only be answered with an error (garbage,
    /// oversize) still costs a token of its source's bucket, so a flood of
    /// garbage meets the same 503-then-silence as a flood of requests instead
    /// of an answer per datagram. `Some` when over the rate.
    fn over_rate(&self, target: Target) -> Option<Verdict> {
        // A trusted proxy is exempt as for well-formed requests (no TLS
        // identity is needed for that: an exempt address is enough).
        if is_trusted(&self.config.rate_exempt, target.addr, None) {
            return None;
        }
        let datagram = target.transport == Transport::Udp;
        let verdict =
            self.with_core(|core| Some(core.rates.check(target.addr.ip(), datagram, now())));
        verdict.filter(|v| *v != Verdict::Admit)
    }

    /// Design §5 / RFC 3261 §21.5.4: a source over its rate gets 503 with
    /// Retry-After, or (over UDP, after a few of those) nothing at all.
    fn refuse_over_rate(&self, salvage: &Salvage, verdict: Verdict, target: Target) {
        match verdict {
            Verdict::Refuse {
                retry_after_secs,
                first,
            } => {
                bump(&self.counters.rate_limited);
                // One warn line per episode; a stream peer that keeps sending
                // must not flood the log (the counter has the totals).
                if first {
                    tracing::warn!(source = %target.addr, retry_after_secs, "source over its request rate: 503");
                } else {
                    tracing::debug!(source = %target.addr, retry_after_secs, "source still over its request rate: 503");
                }
                self.respond_stateless(
                    salvage,
                    503,
                    "Service Unavailable",
                    &[("Retry-After".to_owned(), retry_after_secs.to_string())],
                    target,
                );
            }
            Verdict::Drop => {
                bump(&self.counters.rate_limited_dropped);
                tracing::debug!(source = %target.addr, "source over its request rate: dropped");
            }
            Verdict::Admit => {}
        }
    }

    fn respond_overloaded(&self, salvage: &Salvage, target: Target) {
        let retry = self.config.limits.retry_after_secs.to_string();
        self.respond_stateless(
            salvage,
            503,
            "Service Unavailable",
            &[("Retry-After".to_owned(), retry)],
            target,
        );
    }

    /// Answers without a transaction (the request was not fit for one).
    fn respond_stateless(
        &self,
        salvage: &Salvage,
        status: u16,
        reason: &str,
        headers: &[(String, String)],
        target: Target,
    ) {
        if !salvage.can_respond() || salvage.method.as_deref() == Some("ACK") {
            return;
        }
        let mut salvage = salvage.clone();
        if let Some(top) = salvage.vias.first_mut() {
            *top = write::stamp_via(top, target.addr);
        }
        let salvage = &salvage;
        let bytes = write::response(
            salvage,
            status,
            reason,
            &dialog::new_tag(),
            &self.config.user_agent,
            headers,
            None,
        );
        self.counters.response_out(status);
        self.transmit(Transmit {
            target,
            bytes,
            retransmission: false,
        });
    }

    /// Sends, counting retransmissions and failures.
    pub(crate) fn transmit(&self, transmit: Transmit) {
        if transmit.retransmission {
            bump(&self.counters.retransmissions_sent);
        }
        if let Err(error) = self.send_bytes(&transmit) {
            bump(&self.counters.transport_errors);
            tracing::debug!(%error, peer = %transmit.target.addr, "send failed");
        }
    }

    fn send_bytes(&self, transmit: &Transmit) -> io::Result<()> {
        let addr = transmit.target.addr;
        match transmit.target.transport {
            Transport::Udp => {
                let socket = self
                    .udp
                    .iter()
                    .find(|(_, local)| local.is_ipv4() == addr.is_ipv4())
                    .or(self.udp.first())
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::NotConnected, "no udp listener")
                    })?;
                match socket.0.try_send_to(&transmit.bytes, addr) {
                    Ok(_) => Ok(()),
                    // The socket's write readiness is not known yet (fresh
                    // socket) or its buffer is full: send from a task instead.
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        let socket = socket.0.clone();
                        let bytes = transmit.bytes.clone();
                        self.tracker.spawn(async move {
                            let _ = socket.send_to(&bytes, addr).await;
                        });
                        Ok(())
                    }
                    Err(error) => Err(error),
                }
            }
            Transport::Tcp | Transport::Tls => {
                self.connections
                    .send(transmit.target.transport, addr, transmit.bytes.clone())
            }
        }
    }

    /// The Route values a request carries: those given by the caller (a
    /// dialog's route set, RFC 3261 §12.2.1.1) win; without any, a loose
    /// (`;lr`) outbound proxy is the pre-existing route set (§8.1.2: "a
    /// pre-existing route set with a single URI SHOULD be used").
    fn route(&self, headers: &[(String, String)]) -> Vec<String> {
        let given: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("route"))
            .map(|(_, v)| v.clone())
            .collect();
        if !given.is_empty() {
            return given;
        }
        self.config
            .outbound_proxy
            .iter()
            .filter(|p| p.contains(";lr"))
            .map(|p| format!("<{p}>"))
            .collect()
    }

    /// The URI whose RFC 3263 locations a request is sent to. RFC 3261 §8.1.2:
    /// "the procedures are applied to the first Route header field value in
    /// the request (if one exists), or to the request's Request-URI if there
    /// is no Route header field present", and "a UAC configured with an
    /// outbound proxy SHOULD attempt to send the request to the location
    /// indicated in the first Route header field value instead of adopting
    /// the policy of sending all messages to the outbound proxy". So:
    /// 1. a Route (a dialog's route set, §12.2.1.1, else a loose outbound
    ///    proxy as pre-existing route set) → its first URI;
    /// 2. no Route and an outbound proxy without `;lr` → that proxy (the
    ///    "alternate set of destinations" local policy §8.1.2 allows only
    ///    "if the request contains no Route header field");
    /// 3. otherwise the Request-URI.
    ///
    /// A first Route without `;lr` is a strict router (§12.2.1.1, §16.12),
    /// which needs the request re-formed around it (Request-URI = the
    /// router). Parley does not do strict routing: such a request is refused
    /// with `InvalidRequest` rather than sent to a wrong place.
    fn destination(
        &self,
        request_uri: &str,
        headers: &[(String, String)],
    ) -> Result<String, TransactionError> {
        if let Some(first) = self.route(headers).first() {
            let first = split_outside_quotes(first, ',')
                .into_iter()
                .next()
                .unwrap_or_default();
            let Ok(address) = Address::parse(first) else {
                return Err(TransactionError::Unresolvable(first.to_owned()));
            };
            let loose = address
                .uri_text
                .split('?')
                .next()
                .unwrap_or_default()
                .split(';')
                .skip(1)
                .any(|p| {
                    p.split('=')
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .eq_ignore_ascii_case("lr")
                });
            if !loose {
                return Err(TransactionError::InvalidRequest(
                    "strict router (first Route without ;lr, RFC 3261 §12.2.1.1) is not supported",
                ));
            }
            return Ok(address.uri_text);
        }
        Ok(self
            .config
            .outbound_proxy
            .clone()
            .unwrap_or_else(|| request_uri.to_owned()))
    }

    /// RFC 3263 §4: the targets of `text` (see [`Inner::destination`]) in the
    /// order to try, resolved through NAPTR, SRV and A/AAAA (a numeric host
    /// needs no DNS).
    async fn locate(&self, text: &str) -> Result<Located, TransactionError> {
        let Ok(Uri::Sip(uri)) = Uri::parse(text) else {
            return Err(TransactionError::Unresolvable(text.to_owned()));
        };
        let destination = Destination::of_uri(&uri);
        let targets = self.resolver.locate(&destination, self.tls.is_some()).await;
        if targets.is_empty() {
            return Err(TransactionError::Unresolvable(text.to_owned()));
        }
        // TLS checks the URI's host (RFC 3261 §26.3.1), not the located address.
        let host = match uri.host_port.ip() {
            Some(ip) => ip.to_string(),
            None => uri.host_port.host.to_string(),
        };
        Ok(Located { targets, host })
    }

    /// Our sent-by for a request to `peer` over `transport` (RFC 3261 §18.1.1),
    /// `host:port`: the advertised host when configured, else the local address.
    fn sent_by(&self, transport: Transport, peer: SocketAddr) -> String {
        let local = self.local_towards(transport, peer);
        match &self.config.advertise {
            Some(advertise) => {
                format!(
                    "{}:{}",
                    advertise.host,
                    advertise.port.unwrap_or(local.port())
                )
            }
            None => local.to_string(),
        }
    }

    /// `<sip:user@host:port;transport=…>` for a Contact header (RFC 3261
    /// §8.1.1.8: where the peer reaches us over `transport`).
    fn contact(&self, user: Option<&str>, transport: Transport, peer: SocketAddr) -> String {
        let user = user.map(|u| format!("{u}@")).unwrap_or_default();
        let param = match transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
        };
        format!("<sip:{user}{}{param}>", self.sent_by(transport, peer))
    }

    /// The local listen address for `transport`; for a wildcard listener, the
    /// address the OS would use towards `peer`.
    fn local_towards(&self, transport: Transport, peer: SocketAddr) -> SocketAddr {
        let local = match transport {
            Transport::Udp => self.udp.first().map(|(_, a)| *a),
            Transport::Tcp => self.tcp_addrs.first().copied(),
            Transport::Tls => self.tls_addrs.first().copied(),
        }
        .or(match transport {
            Transport::Udp => None,
            _ => self.udp.first().map(|(_, a)| *a),
        })
        .unwrap_or_else(|| SocketAddr::new(IpAddr::from([127, 0, 0, 1]), 5060));
        if local.ip().is_unspecified() {
            // The address the OS would use towards the peer.
            let probe = std::net::UdpSocket::bind(SocketAddr::new(local.ip(), 0))
                .and_then(|s| s.connect(peer).and_then(|()| s.local_addr()));
            if let Ok(probe) = probe {
                return SocketAddr::new(probe.ip(), local.port());
            }
        }
        local
    }

    /// The Authorization / Proxy-Authorization header answering a 401/407
    /// (RFC 3261 §22.2–22.3), when a supported challenge names a realm we
    /// have credentials for.
    fn authorize(&self, req: &OutgoingRequest, response: &Response) -> Option<(String, String)> {
        let header = auth::ChallengeHeader::for_status(response.status)?;
        let challenges: Vec<auth::Challenge> = response
            .header_values(header.name())
            .iter()
            .filter_map(|value| auth::Challenge::parse(value).ok())
            .collect();
        let challenge = auth::choose_per_realm(&challenges)
            .into_iter()
            .find(|ch| self.config.credentials.iter().any(|c| c.realm == ch.realm))?;
        let credential = self
            .config
            .credentials
            .iter()
            .find(|c| c.realm == challenge.realm)?;
        let credentials = auth::Credentials {
            username: credential.username.clone(),
            password: credential.password.clone(),
        };
        let body = req.body.as_ref().map(|(_, b)| &b[..]).unwrap_or_default();
        let cnonce = auth::cnonce(&mut rand::rng());
        match auth::authorize(
            challenge,
            &credentials,
            &req.method,
            &req.request_uri,
            body,
            &cnonce,
            1,
        ) {
            Ok(value) => Some((header.answer_name().to_owned(), value)),
            Err(error) => {
                tracing::warn!(kind = error.kind(), "cannot answer digest challenge");
                None
            }
        }
    }
}

async fn run_timers(inner: Arc<Inner>, shutdown: CancellationToken) {
    loop {
        let next = inner
            .lock_core()
            .and_then(|core| core.transactions.poll_timeout());
        let sleep = match next {
            Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)),
            None => tokio::time::sleep(Duration::from_secs(3600)),
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = inner.wake.notified() => continue,
            () = sleep => {}
        }
        let now = now();
        let (outputs, timed_out) = {
            let Some(mut core) = inner.lock_core() else {
                break;
            };
            let outputs = core.transactions.handle_timeout(now);
            let mut timed_out = Vec::new();
            for output in &outputs {
                if let Output::TimedOut(key) = output
                    && let Some(waiter) = core.waiters.remove(key)
                {
                    timed_out.push(waiter);
                }
            }
            (outputs, timed_out)
        };
        for waiter in timed_out {
            let heard = waiter.heard;
            let _ = waiter.tx.send(Outcome::TimedOut { heard });
        }
        for output in outputs {
            match output {
                Output::Transmit(transmit) => inner.transmit(transmit),
                Output::TimedOut(_) => bump(&inner.counters.timeouts),
                // §13.3.1.4 would end the session with a BYE; there is none yet.
                Output::AckTimedOut(_) => tracing::debug!("no ACK for a final response to INVITE"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_request_line;

    #[test]
    fn the_top_via_branch_is_found_without_parsing() {
        let m = b"MESSAGE sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\nv: SIP/2.0/UDP h:5060 ;rport; Branch=z9hG4bK1 ,SIP/2.0/UDP x;branch=z9hG4bK2\r\nVia: SIP/2.0/UDP y;branch=z9hG4bK3\r\n\r\nbody";
        assert_eq!(super::top_via_branch(m), Some("z9hG4bK1"));
        let none = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n";
        assert_eq!(super::top_via_branch(none), None);
        assert_eq!(
            super::top_via_branch(b"MESSAGE sip:a@b SIP/2.0\r\n\r\n"),
            None
        );
        // A Via in the body is not the head's.
        let body = b"MESSAGE sip:a@b SIP/2.0\r\nTo: x\r\n\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK9";
        assert_eq!(super::top_via_branch(body), None);
    }

    #[test]
    fn a_request_line_is_told_from_garbage_and_responses() {
        for yes in [
            &b"MESSAGE sip:juliet@example.net SIP/2.0\r\nVia: x\r\n\r\n"[..],
            b"INVITE tel:+15551234 SIP/2.0\r\n",
            b"NEWMETHOD sip:a@b sip/2.0\n",
        ] {
            assert!(
                looks_like_request_line(yes),
                "{:?}",
                String::from_utf8_lossy(yes)
            );
        }
        for no in [
            &b"SIP/2.0 200 OK\r\n"[..],
            b"\x00\x01 not SIP at all\r\n\r\n",
            b"MESSAGE sip:juliet@example.net\r\n",
            b"MESSAGE  sip:juliet@example.net SIP/2.0\r\n",
            b"MES<SAGE sip:a@b SIP/2.0\r\n",
            b"",
        ] {
            assert!(
                !looks_like_request_line(no),
                "{:?}",
                String::from_utf8_lossy(no)
            );
        }
    }
}

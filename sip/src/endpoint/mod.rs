//! The user agent the gateway talks to: binds the transports, runs the
//! transaction layer on tokio's clock, hands new requests up through a bounded
//! channel with a [`Responder`], and sends requests down as async calls.
//!
//! One received message: `transport/*` → [`receive`] (parse, validate, the
//! source's rate, the transaction layer) → the channel (full: 503 +
//! Retry-After) → the gateway, which answers through the [`Responder`].
//!
//! One sent request: [`route`] (the route set; RFC 3263 locations, through
//! [`crate::resolver`]) → [`send`] (a client transaction per target until one
//! answers, §4.3; a digest retry) → the caller.
//!
//! One INVITE: [`invite`] (its own client transaction, CANCEL, the ACK of
//! its 2xx); a received CANCEL is answered in [`cancel`].
//!
//! This file holds the [`Endpoint`] handle, binding, the state the parts
//! share ([`Inner`]), the way bytes leave, and the timer loop.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{EndpointConfig, Transport};
use crate::error::{Error, TransactionError};
use crate::rate::RatePolicy;
use crate::stats::{Counters, Stats, TableCounts, bump};
use crate::transaction::{ClientKey, Output, PassThrough, Transactions, Transmit};
use crate::transport::tcp::{self, Streams};
use crate::transport::{tls, udp};
use crate::wire::status::StatusCode;
use crate::wire::uri::Uri;
pub use batch::SendBatch;
use route::Routing;
use send::{Outcome, Transmitted, Waiter};

mod batch;
mod cancel;
mod invite;
mod receive;
mod request;
mod route;
mod send;

pub use invite::{Canceller, InviteClient};
pub use request::{IncomingRequest, OutgoingRequest, RequestView, Responder, Response};

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
            .field("tcp", &self.inner.routing.tcp)
            .finish_non_exhaustive()
    }
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
            streams: Arc::new(Streams::new(config.limits, tracker.clone())),
            tracker: tracker.clone(),
            core: Mutex::new(Core {
                transactions: Transactions::new(
                    config.timers,
                    config.limits.max_pending_transactions,
                )
                .with_max_completed(config.limits.max_completed_transactions),
                waiters: hashbrown::HashMap::default(),
                invite_waiters: HashMap::default(),
                cancellable: HashMap::default(),
                rate: RatePolicy::new(config.limits.source_rate, now()),
            }),
            wake: Notify::new(),
            routing: Routing::new(
                &config,
                udp_sockets.iter().map(|(_, a)| *a).collect(),
                tcp_listeners.iter().map(|(_, a)| *a).collect(),
                tls_listeners.iter().map(|(_, a)| *a).collect(),
                tls.is_some(),
            ),
            udp: udp_sockets.clone(),
            tls: tls.clone(),
            incoming,
            abandon: shutdown.child_token(),
            shutdown: shutdown.clone(),
            location: OnceLock::new(),
            config,
        });
        for (socket, addr) in udp_sockets {
            tracing::info!(%addr, "sip listening on udp");
            tracker.spawn(udp::run(socket, inner.clone(), shutdown.clone()));
        }
        for (listener, addr) in tcp_listeners {
            tracing::info!(%addr, "sip listening on tcp");
            tracker.spawn(tcp::run_listener(
                listener,
                inner.streams.clone(),
                inner.clone(),
                shutdown.clone(),
            ));
        }
        if let Some(tls) = &tls {
            for (listener, addr) in tls_listeners {
                tracing::info!(%addr, "sip listening on tls");
                tracker.spawn(tls::run_listener(
                    listener,
                    tls.clone(),
                    inner.streams.clone(),
                    inner.clone(),
                    shutdown.clone(),
                ));
            }
        }
        tracker.spawn(run_timers(inner.clone(), shutdown.clone()));
        tracker.spawn(end_calls_when_abandoned(inner.clone()));
        tracker.close();
        Ok((Endpoint { inner }, receiver))
    }

    /// The bound address of the first listener of `transport` (real port when
    /// the config said `:0`).
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.inner.routing.local_addr(transport)
    }

    /// A Contact header value, `<sip:user@host:port;transport=…>`, for a
    /// response or request that goes to `peer` over `transport`: the
    /// advertised host (`EndpointConfig::advertise`) or the local address
    /// that peer can reach — never a wildcard address.
    pub fn contact(&self, user: Option<&str>, transport: Transport, peer: SocketAddr) -> String {
        self.inner.routing.contact(user, transport, peer)
    }

    /// The timer base values it runs with (T1 for RFC 6665 Timer N, say).
    pub fn timers(&self) -> crate::config::Timers {
        self.inner.config.timers
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let table = self
            .inner
            .lock_core()
            .map(|c| TableCounts {
                pending: c.transactions.pending_len() as u64,
                completed: c.transactions.completed_len() as u64,
                refused_for_completed: c.transactions.refused_for_completed(),
            })
            .unwrap_or_default();
        self.inner.counters.snapshot(table)
    }

    /// Waits until every task of the endpoint has stopped (after shutdown).
    pub async fn closed(&self) {
        self.inner.tracker.wait().await;
    }

    /// Sends a request and waits for its final response (RFC 3261 §17.1.2),
    /// or a timeout (Timer F) or transport error. The first Route, the
    /// outbound proxy or the Request-URI (`route::Routing::destination`) is located
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
        let method = req.method.clone();
        match self.located(req) {
            Ok(req) => send::send_until_abandoned(&self.inner, req, Transmitted::none()).await,
            Err(status) => Ok(Response::local(status, &method)),
        }
    }

    /// Installs the location service every request consults before it
    /// leaves (RFC 3261 §10: a registrar's bindings); once, later calls are
    /// ignored and return `false`.
    pub fn set_location(&self, location: Arc<dyn Location>) -> bool {
        self.inner.location.set(location).is_ok()
    }

    /// RFC 3261 §10: "the location service ... maps an address-of-record to
    /// one or more contact addresses". A request to an address-of-record
    /// with a binding goes to the contact: the Request-URI becomes the
    /// contact; To keeps the address-of-record. Whether the request is
    /// inside a dialog is passed on ([`Scope`]): RFC 3261 §12.2.1.1 sends
    /// those to the dialog's remote target, which only a GRUU (RFC 5627
    /// §6.1) sends on to a contact. When the service answers for the
    /// address itself (an unknown or unbound GRUU), the request is not sent
    /// and that status is its response.
    fn located(&self, mut req: OutgoingRequest) -> Result<OutgoingRequest, StatusCode> {
        let Some(location) = self.inner.location.get() else {
            return Ok(req);
        };
        match location.locate(&req.request_uri, Scope::of(&req)) {
            Lookup::AsAddressed => Ok(req),
            Lookup::Contact(contact) => {
                tracing::debug!(target_uri = %req.request_uri, %contact, "request sent to the registered contact");
                req.request_uri = contact;
                Ok(req)
            }
            Lookup::Answered(status) => {
                tracing::debug!(target_uri = %req.request_uri, status = status.code(), "the location service answered the request");
                Err(status)
            }
        }
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
        let method = req.method.clone();
        match self.located(req) {
            Ok(req) => {
                send::send_until_abandoned(&self.inner, req, Transmitted::to(transmitted)).await
            }
            // Nothing goes on the wire: the next request need not wait.
            Err(status) => {
                let _ = transmitted.send(());
                Ok(Response::local(status, &method))
            }
        }
    }

    /// Starts a non-INVITE request synchronously when it can be (issue 24):
    /// its destination needs no DNS and no connection (a numeric host over
    /// UDP, the request within `limits.udp_mtu_allowance`). Its client
    /// transaction exists and its first datagram has been handed to the
    /// transport — or to this thread's open [`SendBatch`] — when this
    /// returns, so requests started one after the other leave in that order
    /// (what [`Endpoint::send_request_in_order`] otherwise waits for).
    /// `done` is then called, once, with what [`Endpoint::send_request`]
    /// would have returned: from the receive path or the timer loop, on
    /// the final response, or `ShuttingDown` from
    /// [`Endpoint::abandon_requests`]. It must not block. Anything else
    /// gives the request and `done` back, unchanged, for
    /// [`Endpoint::send_request`] / [`Endpoint::send_request_in_order`].
    pub fn start_request<T: OnOutcome>(
        &self,
        mut req: OutgoingRequest,
        done: T,
    ) -> Result<(), (Box<OutgoingRequest>, T)> {
        if let Some(location) = self.inner.location.get() {
            match location.locate(&req.request_uri, Scope::of(&req)) {
                Lookup::AsAddressed => {}
                Lookup::Contact(contact) => {
                    tracing::debug!(target_uri = %req.request_uri, %contact, "request sent to the registered contact");
                    req.request_uri = contact;
                }
                // Answered here, never sent: the full path says so.
                Lookup::Answered(_) => return Err((Box::new(req), done)),
            }
        }
        send::start_now(&self.inner, req, done)
    }

    /// RFC 3261 §13.2.1, §17.1.1: sends `req` as an INVITE (its `method` is
    /// not read) and returns the [`InviteClient`] its provisional and final
    /// responses come through, which also CANCELs it (§9.1) and ACKs its
    /// 2xx (§13.2.2.4). The destination is located as for
    /// [`Endpoint::send_request`], but only its first target is tried. A
    /// Contact is added when `req` has none (§8.1.1.8); a CSeq header sets
    /// the number (a re-INVITE in a dialog, [`OutgoingRequest::in_dialog`]).
    /// An address the location service answers for itself (an unbound
    /// GRUU) is `Unresolvable`.
    pub async fn send_invite(
        &self,
        req: OutgoingRequest,
    ) -> Result<InviteClient, TransactionError> {
        match self.located(req) {
            Ok(req) => invite::send_invite(&self.inner, req).await,
            Err(status) => Err(TransactionError::Unresolvable(format!(
                "{} {}",
                status.code(),
                crate::wire::status::reason_phrase(status.code())
            ))),
        }
    }

    /// Holds the UDP datagrams this endpoint sends from the calling thread
    /// until the returned guard is dropped, then sends them together
    /// (`sendmmsg`, see [`SendBatch`]). For a burst of answers sent in one
    /// synchronous pass; never hold it across an `.await`.
    pub fn send_batch(&self) -> SendBatch {
        SendBatch::open(&self.inner)
    }

    /// Stops waiting for answers: every [`Endpoint::send_request`] in flight
    /// returns `TransactionError::ShuttingDown` now, and new ones return it
    /// without sending. Listeners keep running, so requests that arrive are
    /// still answered (a draining gateway refuses them with 503). Used when a
    /// shutdown's grace period has run out: a peer that never answers would
    /// otherwise hold the process for Timer F (64·T1, RFC 3261 §17.1.2.2).
    pub fn abandon_requests(&self) {
        self.inner.abandon.cancel();
        self.inner.end_calls();
    }
}

/// The endpoint's shared state: what the receive path, the send path, the
/// responders and the timer loop work on. The transports see it only as
/// their [`Intake`](crate::transport::Intake).
/// What is done with the final response of a request
/// [`Endpoint::start_request`] started: called once, without an `.await`,
/// from the endpoint's receive path or timer loop (issue 24: a wait
/// without a future or a task of its own). Any `FnOnce` of the result is
/// one.
pub trait OnOutcome: Send + 'static {
    /// The request's final response, or why there is none.
    fn on_outcome(self, result: Result<Response, TransactionError>);
}

impl<F> OnOutcome for F
where
    F: FnOnce(Result<Response, TransactionError>) + Send + 'static,
{
    fn on_outcome(self, result: Result<Response, TransactionError>) {
        self(result);
    }
}

pub(crate) struct Inner {
    config: EndpointConfig,
    counters: Counters,
    /// The stream connections, shared with the TCP and TLS transports.
    streams: Arc<Streams>,
    tracker: TaskTracker,
    core: Mutex<Core>,
    wake: Notify,
    udp: Vec<(Arc<UdpSocket>, SocketAddr)>,
    tls: Option<tls::Tls>,
    routing: Routing,
    incoming: mpsc::Sender<IncomingRequest>,
    shutdown: CancellationToken,
    /// Cancelled by [`Endpoint::abandon_requests`] or with `shutdown` (it is
    /// its child): every `send_request` in flight returns `ShuttingDown` at once.
    abandon: CancellationToken,
    /// The location service, when the application is a registrar.
    location: OnceLock<Arc<dyn Location>>,
}

/// A location service (RFC 3261 §10): the contact currently bound to an
/// address-of-record or a GRUU, consulted for every request the endpoint
/// sends.
pub trait Location: Send + Sync {
    /// Where a request whose Request-URI is `request_uri` goes.
    fn locate(&self, request_uri: &str, scope: Scope) -> Lookup;
}

/// Whether a request belongs to a dialog, as the location service needs to
/// know: an address-of-record is looked up only outside one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// No To tag (RFC 3261 §8.1.1.2: "A request outside of a dialog MUST
    /// NOT contain a To tag").
    OutOfDialog,
    /// A To tag: the Request-URI is the dialog's remote target (§12.2.1.1).
    InDialog,
}

impl Scope {
    /// The scope of `req`, read from its To.
    pub fn of(req: &OutgoingRequest) -> Scope {
        let tagged = crate::wire::header::Address::parse(&req.to)
            .is_ok_and(|to| to.params.iter().any(|(name, _)| name == "tag"));
        if tagged {
            Scope::InDialog
        } else {
            Scope::OutOfDialog
        }
    }
}

/// The location service's answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Not an address it serves, or one it does not rewrite: sent as addressed.
    AsAddressed,
    /// Sent to this contact (the new Request-URI).
    Contact(String),
    /// Answered with this status and not sent, as the domain's proxy would
    /// answer it (RFC 5627 §6.1: 404 for a GRUU that is not valid, 480 for
    /// one with no registered contact).
    Answered(StatusCode),
}

/// What the receive path, the send path and the timer loop share under one
/// lock: the transaction layer, the tasks waiting for their responses, and
/// the per-source rates.
struct Core {
    transactions: Transactions,
    /// By client key, hashed once when the key was made ([`PassThrough`]).
    waiters: hashbrown::HashMap<ClientKey, Waiter, PassThrough>,
    /// The callers of INVITEs in flight ([`Endpoint::send_invite`]).
    invite_waiters: HashMap<ClientKey, invite::InviteWaiter, PassThrough>,
    /// INVITEs received whose TU has not sent a final response (§9.2).
    cancellable: HashMap<crate::transaction::ServerKey, cancel::Cancellable, PassThrough>,
    /// Design §5: new requests per second per source address.
    rate: RatePolicy,
}

/// The driver's clock: tokio's (so paused-time tests work), as a std Instant.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl Inner {
    fn lock_core(&self) -> Option<MutexGuard<'_, Core>> {
        self.core.lock().ok()
    }

    /// Ends with `ShuttingDown` every wait of a request
    /// [`Endpoint::start_request`] started (they have no task to see the
    /// `abandon` token). A wait after this sweep is never made:
    /// `send::start_now` checks the token under the same lock.
    fn end_calls(&self) {
        let called: Vec<Waiter> = self.with_core(|core| {
            core.waiters
                .extract_if(|_, waiter| waiter.is_call())
                .map(|(_, waiter)| waiter)
                .collect()
        });
        for waiter in called {
            waiter.abandon();
        }
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

    /// Sends, counting retransmissions and failures; a datagram waits for
    /// the end of this thread's open [`SendBatch`], if there is one.
    fn transmit(&self, transmit: Transmit) {
        if let Some(transmit) = batch::hold(self, transmit) {
            self.transmit_now(&transmit);
        }
    }

    /// Sends at once, counting retransmissions and failures.
    fn transmit_now(&self, transmit: &Transmit) {
        if transmit.retransmission {
            bump(&self.counters.retransmissions_sent);
        }
        if let Err(error) = self.send_bytes(transmit) {
            bump(&self.counters.transport_errors);
            tracing::debug!(%error, peer = %transmit.target.addr, "send failed");
        }
    }

    /// The UDP socket datagrams to `addr` leave from: the first of its
    /// address family, else the first.
    fn udp_socket_for(&self, addr: SocketAddr) -> Option<(&Arc<UdpSocket>, SocketAddr)> {
        self.udp
            .iter()
            .find(|(_, local)| local.is_ipv4() == addr.is_ipv4())
            .or(self.udp.first())
            .map(|(socket, local)| (socket, *local))
    }

    fn send_bytes(&self, transmit: &Transmit) -> io::Result<()> {
        let addr = transmit.target.addr;
        match transmit.target.transport {
            Transport::Udp => {
                let socket = self.udp_socket_for(addr).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotConnected, "no udp listener")
                })?;
                match socket.0.try_send_to(&transmit.bytes, addr) {
                    Ok(_) => Ok(()),
                    // Tokio has not seen the socket writable yet (a fresh
                    // socket): the kernel decides, so that datagrams sent
                    // one after the other leave in that order.
                    Err(error)
                        if error.kind() == io::ErrorKind::WouldBlock
                            && socket2::SockRef::from(socket.0)
                                .send_to(&transmit.bytes, &addr.into())
                                .is_ok() =>
                    {
                        Ok(())
                    }
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
            Transport::Tcp | Transport::Tls => self.streams.connections.send(
                transmit.target.transport,
                addr,
                transmit.bytes.clone(),
            ),
        }
    }
}

/// Ends the waits of the requests [`Endpoint::start_request`] started once
/// the endpoint's requests are abandoned: by
/// [`Endpoint::abandon_requests`], or by shutdown (the token is its
/// child), as a task waiting on a channel sees the token itself. Each such
/// wait also holds the endpoint, so one left after shutdown would keep it.
async fn end_calls_when_abandoned(inner: Arc<Inner>) {
    inner.abandon.cancelled().await;
    inner.end_calls();
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
            let mut invites_timed_out = Vec::new();
            for output in &outputs {
                match output {
                    Output::TimedOut(key) => {
                        if let Some(waiter) = core.waiters.remove(key) {
                            timed_out.push(waiter);
                        }
                        if let Some(waiter) = core.invite_waiters.remove(key) {
                            invites_timed_out.push(waiter);
                        }
                    }
                    // The caller's `next_response` ends with `None`.
                    Output::InviteEnded(key) => {
                        core.invite_waiters.remove(key);
                    }
                    Output::Transmit(_) | Output::AckTimedOut(_) => {}
                }
            }
            for waiter in invites_timed_out {
                waiter.fail(TransactionError::Timeout);
            }
            (outputs, timed_out)
        };
        for waiter in timed_out {
            let heard = waiter.heard;
            waiter.deliver(Outcome::TimedOut { heard });
        }
        for output in outputs {
            match output {
                Output::Transmit(transmit) => inner.transmit(transmit),
                Output::TimedOut(_) => bump(&inner.counters.timeouts),
                // §13.3.1.4 would end the session with a BYE; there is none yet.
                Output::AckTimedOut(_) => tracing::debug!("no ACK for a final response to INVITE"),
                Output::InviteEnded(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_8_1_1_2_a_to_tag_puts_a_request_in_a_dialog() {
        let out = OutgoingRequest {
            method: "MESSAGE".into(),
            request_uri: "sip:alice@example.com".into(),
            to: "<sip:alice@example.com>".into(),
            ..Default::default()
        };
        assert_eq!(Scope::of(&out), Scope::OutOfDialog);
        let inside = OutgoingRequest {
            to: "\"Alice\" <sip:alice@example.com>;tag=a73kszlfl".into(),
            ..out.clone()
        };
        assert_eq!(Scope::of(&inside), Scope::InDialog);
        let bare = OutgoingRequest {
            to: "sip:alice@example.com;tag=x".into(),
            ..out
        };
        assert_eq!(Scope::of(&bare), Scope::InDialog);
    }

    /// A received request is moved whole into the endpoint's queue, out of
    /// it, and by value through the gateway; its responder is parked there.
    /// Each move copies the value: they stay a few words, the request and
    /// the answer's parts boxed (issue 24: the request was 1064 bytes, the
    /// responder 424). A field added inline fails here.
    #[test]
    fn what_the_message_path_moves_stays_small() {
        assert!(size_of::<Responder>() <= 16, "{}", size_of::<Responder>());
        assert!(
            size_of::<RequestView>() <= 56,
            "{}",
            size_of::<RequestView>()
        );
        assert!(
            size_of::<IncomingRequest>() <= 112,
            "{}",
            size_of::<IncomingRequest>()
        );
    }
}

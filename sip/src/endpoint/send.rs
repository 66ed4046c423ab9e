//! The client side: one request from the caller to its final response.
//!
//! The request's destination is located once (RFC 3263 §4, through
//! [`super::route`]); each target gets a new client transaction until one
//! answers other than 503 (§4.3); a 401/407 is answered once with digest
//! credentials (RFC 3261 §22.2, RFC 8760), starting at the target that
//! challenged. The caller's task waits on a [`Waiter`], which the receive
//! path and the timer loop complete.
//!
//! A request whose destination needs no DNS and no connection (a numeric
//! host over UDP) can also be started synchronously ([`start_now`], issue
//! 24): its first transaction is created and its datagram handed to the
//! transport in the caller's pass, and what the caller does with the final
//! response is called when it comes ([`OnOutcome`]), with no future or
//! task of its own. A response that asks for more (503, 401/407, a
//! timeout) goes back to the full path above, on a task.

use std::io;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::request::{OutgoingRequest, Response};
use super::route::Located;
use super::{Inner, OnOutcome, batch, now};
use crate::auth;
use crate::config::{Credential, Transport};
use crate::dialog;
use crate::error::TransactionError;
use crate::stats::bump;
use crate::transaction::{ClientKey, MAGIC_COOKIE, Target, Transmit};
use crate::transport::{tcp, tls};
use crate::wire::message::Message;
use crate::wire::write::{self, RequestParts};

/// Sends `req` and waits for its final response, unless the endpoint's
/// `abandon` token is cancelled first (then `ShuttingDown`).
pub(super) async fn send_until_abandoned(
    inner: &Arc<Inner>,
    req: OutgoingRequest,
    transmitted: Transmitted,
) -> Result<Response, TransactionError> {
    if inner.abandon.is_cancelled() {
        return Err(TransactionError::ShuttingDown);
    }
    // Dropping the send part way is safe: a transaction already started
    // lives on in the core until its own timers end it; only its waiter
    // (this future) is gone.
    tokio::select! {
        result = send_request_run_to_end(inner, req, transmitted) => result,
        () = inner.abandon.cancelled() => Err(TransactionError::ShuttingDown),
    }
}

/// How a client transaction ended, for the task waiting in `send_request`.
pub(super) enum Outcome {
    Response(Message),
    /// RFC 3261 §17.1.4: the connection carrying the request closed.
    ConnectionLost,
    /// Timer F fired; `heard` tells whether any provisional response came
    /// (RFC 3263 §4.3 fails over only when none did).
    TimedOut {
        heard: bool,
    },
}

/// Who waits for a client transaction's end.
pub(super) struct Waiter {
    pub(super) tx: Wake,
    /// A provisional response arrived.
    pub(super) heard: bool,
}

/// How a [`Waiter`] hears the end: a task awaiting a channel, or a request
/// [`start_now`] started, whose caller's [`OnOutcome`] is called.
pub(super) enum Wake {
    Channel(oneshot::Sender<Outcome>),
    Call(Box<dyn Then>),
}

impl Waiter {
    /// Hands `outcome` to whoever waits.
    pub(super) fn deliver(self, outcome: Outcome) {
        match self.tx {
            Wake::Channel(tx) => {
                let _ = tx.send(outcome);
            }
            Wake::Call(then) => then.run(received(Ok(outcome))),
        }
    }

    /// Whether [`super::Endpoint::abandon_requests`] must end this wait
    /// itself: a task awaiting a channel ends its own, on the `abandon`
    /// token.
    pub(super) fn is_call(&self) -> bool {
        matches!(self.tx, Wake::Call(_))
    }

    /// Ends a [`Wake::Call`] wait with `ShuttingDown`.
    pub(super) fn abandon(self) {
        if let Wake::Call(then) = self.tx {
            then.abandon();
        }
    }
}

/// The signal [`super::Endpoint::send_request_in_order`] fires at the first
/// transmission; dropped unfired when the request ends before it.
pub(super) struct Transmitted(Mutex<Option<oneshot::Sender<()>>>);

impl Transmitted {
    /// No one waits for the first transmission.
    pub(super) fn none() -> Self {
        Transmitted(Mutex::new(None))
    }

    /// Fires `tx` at the first transmission.
    pub(super) fn to(tx: oneshot::Sender<()>) -> Self {
        Transmitted(Mutex::new(Some(tx)))
    }

    fn fire(&self) {
        if let Some(tx) = self.0.lock().ok().and_then(|mut t| t.take()) {
            let _ = tx.send(());
        }
    }
}

/// RFC 3263 §4.3: an attempt at one target that failed.
pub(super) struct Failed {
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

/// One request on its way, with what all its transactions share: the
/// Call-ID and From tag (RFC 3261 §8.1.1.4, §8.1.1.3), and the CSeq and
/// headers, which change only when a digest challenge is answered.
struct Sending {
    inner: Arc<Inner>,
    /// The request, without its Call-ID and headers (below).
    req: OutgoingRequest,
    call_id: String,
    /// Whether `call_id` came with the request (else it was made here).
    call_id_given: bool,
    from_tag: String,
    cseq: u32,
    headers: Vec<(String, String)>,
    transmitted: Transmitted,
}

/// Only non-INVITE methods go through this path.
fn check_method(req: &OutgoingRequest) -> Result<(), TransactionError> {
    if req.method.is_empty() || req.method == "ACK" || req.method == "INVITE" {
        return Err(TransactionError::InvalidRequest(
            "only non-INVITE methods are sent",
        ));
    }
    Ok(())
}

async fn send_request_run_to_end(
    inner: &Arc<Inner>,
    req: OutgoingRequest,
    transmitted: Transmitted,
) -> Result<Response, TransactionError> {
    check_method(&req)?;
    let sending = Sending::new(inner, req, transmitted);
    let destination = inner
        .routing
        .destination(&sending.req.request_uri, &sending.headers)?;
    // Shutdown and abandon end this wait in `send_until_abandoned`.
    let located = inner.routing.locate(&destination).await?;
    sending.run_to_end(&located, 0, None).await
}

/// What follows the first transaction of a request [`start_now`] started:
/// the caller's [`OnOutcome`], and what the full path needs when the
/// response asks for more (boxed once, with the caller's part, in the
/// waiter).
pub(super) trait Then: Send {
    /// The first transaction ended with `result`.
    fn run(self: Box<Self>, result: Result<Response, Failed>);
    /// The endpoint's requests were abandoned.
    fn abandon(self: Box<Self>);
}

/// [`Then`] for one request and its caller's `T`.
struct Continue<T: OnOutcome> {
    sending: Sending,
    located: Located,
    done: Called<T>,
}

/// The caller's [`OnOutcome`], called once. Dropped uncalled (a wait lost
/// on the way: every path delivers or sweeps it), it is called with
/// `Timeout`, as a waiting task heard `Timeout` from a dropped channel, so
/// the caller always hears an end.
struct Called<T: OnOutcome>(Option<T>);

impl<T: OnOutcome> Called<T> {
    fn call(mut self, result: Result<Response, TransactionError>) {
        if let Some(done) = self.0.take() {
            done.on_outcome(result);
        }
    }
}

impl<T: OnOutcome> Drop for Called<T> {
    fn drop(&mut self) {
        if let Some(done) = self.0.take() {
            done.on_outcome(Err(TransactionError::Timeout));
        }
    }
}

impl<T: OnOutcome> Then for Continue<T> {
    fn run(self: Box<Self>, result: Result<Response, Failed>) {
        let Continue {
            sending,
            located,
            done,
        } = *self;
        let result = match result {
            Ok(response) if !matches!(response.status, 401 | 407 | 503) => {
                return done.call(Ok(response));
            }
            other => other,
        };
        // A 503 or a failure may move on to the next target (RFC 3263
        // §4.3), a challenge gets its answer: the full path, from this
        // result on, on a task of its own (rare).
        let inner = Arc::clone(&sending.inner);
        tokio::spawn(async move {
            let result = tokio::select! {
                result = Box::pin(sending.run_to_end(&located, 0, Some(result))) => result,
                () = inner.abandon.cancelled() => Err(TransactionError::ShuttingDown),
            };
            done.call(result);
        });
    }

    fn abandon(self: Box<Self>) {
        self.done.call(Err(TransactionError::ShuttingDown));
    }
}

/// Starts `req` synchronously when its destination needs neither DNS nor a
/// connection (the first located target is UDP and the request fits it):
/// the client transaction is created and its first datagram handed to the
/// transport (or to this thread's open [`super::SendBatch`]) before this
/// returns, and `done` is called with the final response, as
/// [`send_until_abandoned`] would give it. Anything else — and a
/// transaction that could not be started — gives `req` and `done` back,
/// unchanged, for [`send_until_abandoned`].
pub(super) fn start_now<T: OnOutcome>(
    inner: &Arc<Inner>,
    req: OutgoingRequest,
    done: T,
) -> Result<(), (Box<OutgoingRequest>, T)> {
    if inner.abandon.is_cancelled() || check_method(&req).is_err() {
        return Err((Box::new(req), done));
    }
    let located = match inner.routing.destination(&req.request_uri, &req.headers) {
        Ok(destination) => match inner.routing.locate_now(&destination) {
            Some(Ok(located)) => located,
            _ => return Err((Box::new(req), done)),
        },
        Err(_) => return Err((Box::new(req), done)),
    };
    let Some(&target) = located.targets.first() else {
        return Err((Box::new(req), done));
    };
    if target.transport != Transport::Udp || inner.udp_socket_for(target.addr).is_none() {
        return Err((Box::new(req), done));
    }
    let sending = Sending::new(inner, req, Transmitted::none());
    let branch = new_branch();
    let bytes = sending.request_bytes(Transport::Udp, target.addr, &branch);
    // RFC 3261 §18.1.1: a large request may go over TCP; the full path decides.
    if bytes.len() > inner.config.limits.udp_mtu_allowance {
        return Err((Box::new(sending.into_request()), done));
    }
    let key = ClientKey::new(&branch, &sending.req.method);
    let mut parts = Some((sending, located, done));
    let transmit = inner.with_core(|core| {
        // Checked under the lock that `abandon_requests` sweeps under: a
        // waiter is either swept or never made.
        if inner.abandon.is_cancelled() {
            return None;
        }
        let transmit = core
            .transactions
            .start_client(key.clone(), bytes, target, now())?;
        let (sending, located, done) = parts.take()?;
        inner.counters.request_out(&sending.req.method);
        let then: Box<dyn Then> = Box::new(Continue {
            sending,
            located,
            done: Called(Some(done)),
        });
        core.waiters.insert(
            key.clone(),
            Waiter {
                tx: Wake::Call(then),
                heard: false,
            },
        );
        Some(transmit)
    });
    let Some(transmit) = transmit else {
        // Not started (abandoned, the table is full): the full path tries
        // again and reports what it finds.
        return match parts.take() {
            Some((sending, _, done)) => Err((Box::new(sending.into_request()), done)),
            None => Ok(()),
        };
    };
    if let Err((failed, Some(waiter))) = first_transmission(inner, &key, target, transmit, true)
        && let Wake::Call(then) = waiter.tx
    {
        // The full path moves on from the failure (RFC 3263 §4.3).
        then.run(Err(failed));
    }
    Ok(())
}

/// Hands a new client transaction's first transmission to the transport —
/// to this thread's open batch when `batched` and one is open. On a
/// transport failure (UDP included: no route, an address family we have no
/// socket for), which RFC 3263 §4.3 moves on from to the next target, the
/// transaction and its waiter are removed again and the waiter comes back
/// with the failure.
fn first_transmission(
    inner: &Inner,
    key: &ClientKey,
    target: Target,
    transmit: Transmit,
    batched: bool,
) -> Result<(), (Failed, Option<Waiter>)> {
    let sent = match batched {
        // Held for the batch's sendmmsg: RFC 3261 §17.1.2.2's timers
        // started at this hand-over to the transport.
        true => match batch::hold(inner, transmit) {
            None => Ok(()),
            Some(transmit) => inner.send_bytes(&transmit),
        },
        false => inner.send_bytes(&transmit),
    };
    let Err(source) = sent else {
        return Ok(());
    };
    bump(&inner.counters.transport_errors);
    let waiter = inner.with_core(|core| {
        core.transactions.remove_client(key);
        core.waiters.remove(key)
    });
    let failed = Failed {
        error: TransactionError::Transport {
            target: target.addr.to_string(),
            source,
        },
        try_next: true,
    };
    Err((failed, waiter))
}

/// Room for what a Via holds besides its branch: `SIP/2.0/UDP `, the
/// sent-by (an IPv6 address and port at most, or a configured name),
/// `;branch=`, `;rport`, and for From and To the brackets and `;tag=`.
const VIA_FIXED_TEXT: usize = 96;

/// `value` as a name-addr: as given when it has its brackets, else `<value>`.
pub(super) fn push_bracketed(out: &mut String, value: &str) {
    if value.contains('<') {
        out.push_str(value);
    } else {
        out.push('<');
        out.push_str(value);
        out.push('>');
    }
}

/// A request's From: as given when it already has a tag (an in-dialog
/// request), else as a name-addr with `tag` (RFC 3261 §8.1.1.3).
pub(super) fn push_from(out: &mut String, from: &str, tag: &str) {
    if write::has_tag(from) {
        out.push_str(from);
    } else {
        push_bracketed(out, from);
        out.push_str(";tag=");
        out.push_str(tag);
    }
}

/// What a transaction's waiter heard, as the result of one attempt.
fn received(outcome: Result<Outcome, oneshot::error::RecvError>) -> Result<Response, Failed> {
    match outcome {
        Ok(Outcome::Response(message)) => Ok(Response::from_message(message)),
        // RFC 3261 §17.1.4 / RFC 3263 §4.3: a transport failure moves on.
        Ok(Outcome::ConnectionLost) => Err(Failed {
            error: TransactionError::Transport {
                target: String::new(),
                source: io::Error::new(io::ErrorKind::ConnectionAborted, "connection closed"),
            },
            try_next: true,
        }),
        // §4.3: a timeout "without ever having received any response,
        // provisional or final" is a failure; after a 1xx it is not.
        Ok(Outcome::TimedOut { heard }) => Err(Failed {
            error: TransactionError::Timeout,
            try_next: !heard,
        }),
        Err(_) => Err(TransactionError::Timeout.into()),
    }
}

impl Sending {
    /// The request's Call-ID and headers are moved out of it, not copied
    /// (issue 24); [`Sending::into_request`] puts them back.
    fn new(inner: &Arc<Inner>, mut req: OutgoingRequest, transmitted: Transmitted) -> Sending {
        let call_id_given = req.call_id.is_some();
        let call_id = req
            .call_id
            .take()
            .unwrap_or_else(|| dialog::new_call_id("parley"));
        let from_tag = dialog::new_tag();
        let headers = std::mem::take(&mut req.headers);
        let cseq = requested_cseq(&headers);
        Sending {
            inner: Arc::clone(inner),
            req,
            call_id,
            call_id_given,
            from_tag,
            cseq,
            headers,
            transmitted,
        }
    }

    /// The request as it was given to [`Sending::new`]; only before an
    /// attempt has changed the headers (a digest answer).
    fn into_request(self) -> OutgoingRequest {
        let mut req = self.req;
        req.call_id = self.call_id_given.then_some(self.call_id);
        req.headers = self.headers;
        req
    }

    /// Tries the located targets from `first` on, answering one digest
    /// challenge; `started` is the result of an attempt at `first` already
    /// made (by [`start_now`]).
    async fn run_to_end(
        mut self,
        located: &Located,
        mut first: usize,
        mut started: Option<Result<Response, Failed>>,
    ) -> Result<Response, TransactionError> {
        let inner = Arc::clone(&self.inner);
        let mut retried = false;
        loop {
            let (response, used) = self.to_located(located, first, started.take()).await?;
            if !retried
                && matches!(response.status, 401 | 407)
                && let Some(authorization) =
                    authorize(&inner.config.credentials, &self.req, &response)
            {
                bump(&inner.counters.auth_retries);
                self.headers.push(authorization);
                self.cseq += 1;
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
    /// the response and the index of the target that gave it. `started` is
    /// the result of the attempt at `first`, when it was already made.
    async fn to_located(
        &self,
        located: &Located,
        first: usize,
        mut started: Option<Result<Response, Failed>>,
    ) -> Result<(Response, usize), TransactionError> {
        let mut last_error = None;
        let mut last_503 = None;
        for (index, target) in located.targets.iter().enumerate().skip(first) {
            let result = match started.take() {
                Some(result) => result,
                None => self.to_target(*target, &located.host.to_string()).await,
            };
            match result {
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
        Err(last_error
            .unwrap_or_else(|| TransactionError::Unresolvable(self.req.request_uri.clone())))
    }

    /// The request's bytes for one transaction (`branch`) to `addr` over `transport`.
    fn request_bytes(
        &self,
        transport: Transport,
        addr: std::net::SocketAddr,
        branch: &str,
    ) -> bytes::Bytes {
        let inner = &self.inner;
        let req = &self.req;
        let headers = &self.headers[..];
        // Via, From and To are written into one buffer, not a String and a
        // format each (issue 24).
        let mut written = String::with_capacity(
            VIA_FIXED_TEXT + branch.len() + req.from.len() + self.from_tag.len() + req.to.len(),
        );
        written.push_str("SIP/2.0/");
        written.push_str(transport.via_token());
        written.push(' ');
        inner.routing.push_sent_by(&mut written, transport, addr);
        written.push_str(";branch=");
        written.push_str(branch);
        written.push_str(";rport");
        let via_end = written.len();
        push_from(&mut written, &req.from, &self.from_tag);
        let from_end = written.len();
        push_bracketed(&mut written, &req.to);
        let (via, from_to) = written.split_at(via_end);
        let (from, to) = from_to.split_at(from_end - via_end);
        let route = inner.routing.route(headers);
        // RFC 6665 §3.1.4 / §4.1.2: SUBSCRIBE and NOTIFY carry a Contact.
        let needs_contact = matches!(&*req.method, "SUBSCRIBE" | "NOTIFY" | "REFER")
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("contact") || n.eq_ignore_ascii_case("m"));
        let mut contact_headers;
        let headers = if needs_contact {
            let contact_user = crate::wire::header::Address::parse(&req.from)
                .ok()
                .and_then(|a| {
                    a.uri_text
                        .split_once(':')
                        .and_then(|(_, rest)| rest.split_once('@'))
                        .map(|(user, _)| user.to_owned())
                });
            contact_headers = headers.to_vec();
            contact_headers.push((
                "Contact".to_owned(),
                inner
                    .routing
                    .contact(contact_user.as_deref(), transport, addr),
            ));
            &contact_headers[..]
        } else {
            headers
        };
        write::request(&RequestParts {
            method: &req.method,
            request_uri: &req.request_uri,
            via,
            from,
            to,
            call_id: &self.call_id,
            cseq: self.cseq,
            route: &route,
            user_agent: &inner.config.user_agent,
            headers,
            body: req.body.as_ref().map(|(t, b)| (t.as_str(), &b[..])),
        })
    }

    /// Creates the client transaction for `bytes` (`branch`) to `target`
    /// and hands its first transmission to the transport (not to a batch:
    /// the full path may be anywhere in a pass), then fires `transmitted`.
    fn begin(
        &self,
        target: Target,
        branch: String,
        bytes: bytes::Bytes,
    ) -> Result<oneshot::Receiver<Outcome>, Failed> {
        let inner = &self.inner;
        let key = ClientKey::new(&branch, &self.req.method);
        let (tx, rx) = oneshot::channel();
        let transmit = inner
            .with_core(|core| {
                let transmit = core
                    .transactions
                    .start_client(key.clone(), bytes, target, now())?;
                core.waiters.insert(
                    key.clone(),
                    Waiter {
                        tx: Wake::Channel(tx),
                        heard: false,
                    },
                );
                Some(transmit)
            })
            .ok_or(TransactionError::Overloaded)?;
        inner.counters.request_out(&self.req.method);
        first_transmission(inner, &key, target, transmit, false).map_err(|(failed, _)| failed)?;
        self.transmitted.fire();
        Ok(rx)
    }

    /// One transaction to one target; `host` is the located URI's host, for TLS.
    async fn to_target(&self, target: Target, host: &str) -> Result<Response, Failed> {
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
        let branch = new_branch();
        let mut bytes = self.request_bytes(transport, addr, &branch);
        // RFC 3261 §18.1.1: a request within 200 bytes of the path MTU goes over TCP.
        if transport == Transport::Udp && bytes.len() > inner.config.limits.udp_mtu_allowance {
            let connect_timeout = inner.config.timers.t1 * 64;
            // Boxed, as below: connecting is rare and its future large.
            match Box::pin(tcp::connect(
                addr,
                &inner.streams,
                inner,
                &inner.shutdown,
                connect_timeout,
            ))
            .await
            {
                Ok(()) => {
                    bump(&inner.counters.udp_to_tcp_switches);
                    transport = Transport::Tcp;
                    bytes = self.request_bytes(transport, addr, &branch);
                }
                // §18.1.1: if the connection is refused, retry with UDP.
                Err(error) => tracing::debug!(%error, "tcp for a large request failed; using udp"),
            }
        } else if transport == Transport::Tcp {
            Box::pin(tcp::connect(
                addr,
                &inner.streams,
                inner,
                &inner.shutdown,
                inner.config.timers.t1 * 64,
            ))
            .await
            .map_err(transport_failed)?;
        } else if transport == Transport::Tls {
            let tls = inner.tls.as_ref().ok_or(TransactionError::InvalidRequest(
                "TLS target without [sip.tls] config",
            ))?;
            Box::pin(tls::connect(
                addr,
                host,
                tls,
                &inner.streams,
                inner,
                &inner.shutdown,
            ))
            .await
            .map_err(transport_failed)?;
        }
        let rx = self.begin(Target { transport, addr }, branch, bytes)?;
        // Shutdown and abandon end this wait in `send_until_abandoned`.
        received(rx.await).map_err(|mut failed| {
            if let TransactionError::Transport { target, .. } = &mut failed.error {
                *target = addr.to_string();
            }
            failed
        })
    }
}

/// The CSeq number a request's headers give (an in-dialog request, RFC 3261
/// §12.2.1.1: a re-INVITE, a refresh); otherwise a new request starts at 1.
pub(super) fn requested_cseq(headers: &[(String, String)]) -> u32 {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("cseq"))
        .and_then(|(_, v)| v.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(1)
}

/// A new branch (RFC 3261 §8.1.1.7: it "MUST always begin with the
/// characters "z9hG4bK"").
pub(super) fn new_branch() -> String {
    // RFC 3261 §8.1.1.7: the random part, "unique across space and time
    // for all requests sent by the UA": 64 bits from `rand`.
    let mut branch = String::with_capacity(MAGIC_COOKIE.len() + 16);
    branch.push_str(MAGIC_COOKIE);
    dialog::push_hex(&mut branch, u128::from(rand::random::<u64>()), 16);
    branch
}

/// The Authorization / Proxy-Authorization header answering a 401/407
/// (RFC 3261 §22.2–22.3), when a supported challenge names a realm we
/// `configured` credentials for.
fn authorize(
    configured: &[Credential],
    req: &OutgoingRequest,
    response: &Response,
) -> Option<(String, String)> {
    let header = auth::ChallengeHeader::for_status(response.status)?;
    let challenges: Vec<auth::Challenge> = response
        .header_values(header.name())
        .iter()
        .filter_map(|value| auth::Challenge::parse(value).ok())
        .collect();
    let challenge = auth::choose_per_realm(&challenges)
        .into_iter()
        .find(|ch| configured.iter().any(|c| c.realm == ch.realm))?;
    let credential = configured.iter().find(|c| c.realm == challenge.realm)?;
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::{Called, TransactionError};

    /// A started request's caller is called once: with the result when
    /// there is one, else with `Timeout` when its wait is dropped (what a
    /// task heard from a dropped channel).
    #[test]
    fn the_caller_is_called_once_and_hears_timeout_when_dropped_uncalled() {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let record = |heard: &Arc<Mutex<Vec<String>>>| {
            let heard = Arc::clone(heard);
            Called(Some(move |r: Result<super::Response, TransactionError>| {
                heard.lock().expect("lock").push(format!("{:?}", r.err()));
            }))
        };
        record(&heard).call(Err(TransactionError::ShuttingDown));
        drop(record(&heard));
        assert_eq!(
            *heard.lock().expect("lock"),
            ["Some(ShuttingDown)", "Some(Timeout)"]
        );
    }
}

//! The client side: one request from the caller to its final response.
//!
//! The request's destination is located once (RFC 3263 §4, through
//! [`super::route`]); each target gets a new client transaction until one
//! answers other than 503 (§4.3); a 401/407 is answered once with digest
//! credentials (RFC 3261 §22.2, RFC 8760), starting at the target that
//! challenged. The caller's task waits on a [`Waiter`], which the receive
//! path and the timer loop complete.

use std::io;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::request::{OutgoingRequest, Response};
use super::route::Located;
use super::{Inner, now};
use crate::auth;
use crate::config::{Credential, Transport};
use crate::dialog;
use crate::error::TransactionError;
use crate::stats::bump;
use crate::transaction::{ClientKey, MAGIC_COOKIE, Target};
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
        result = send_request_to_end(inner, req, &transmitted) => result,
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

/// The task waiting for a client transaction's end.
pub(super) struct Waiter {
    pub(super) tx: oneshot::Sender<Outcome>,
    /// A provisional response arrived.
    pub(super) heard: bool,
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

/// One request on its way, with what all its transactions share: the
/// Call-ID and From tag (RFC 3261 §8.1.1.4, §8.1.1.3), and the CSeq and
/// headers, which change only when a digest challenge is answered.
struct Sending<'a> {
    inner: &'a Arc<Inner>,
    req: &'a OutgoingRequest,
    call_id: String,
    from_tag: String,
    cseq: u32,
    headers: Vec<(String, String)>,
    transmitted: &'a Transmitted,
}

async fn send_request_to_end(
    inner: &Arc<Inner>,
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
    let cseq = req
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("cseq"))
        .and_then(|(_, v)| v.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(1);
    let headers = req.headers.clone();
    let destination = inner.routing.destination(&req.request_uri, &headers)?;
    // Shutdown and abandon end this wait in `send_until_abandoned`.
    let located = inner.routing.locate(&destination).await?;
    let mut sending = Sending {
        inner,
        req: &req,
        call_id,
        from_tag,
        cseq,
        headers,
        transmitted,
    };
    let mut first = 0;
    let mut retried = false;
    loop {
        let (response, used) = sending.to_located(&located, first).await?;
        if !retried
            && matches!(response.status, 401 | 407)
            && let Some(authorization) = authorize(&inner.config.credentials, &req, &response)
        {
            bump(&inner.counters.auth_retries);
            sending.headers.push(authorization);
            sending.cseq += 1;
            retried = true;
            // The answer goes to the server that challenged.
            first = used;
            continue;
        }
        return Ok(response);
    }
}

impl Sending<'_> {
    /// RFC 3263 §4.3: tries the targets from `first` on, each with a new
    /// transaction (new branch), until one answers other than 503; returns
    /// the response and the index of the target that gave it.
    async fn to_located(
        &self,
        located: &Located,
        first: usize,
    ) -> Result<(Response, usize), TransactionError> {
        let mut last_error = None;
        let mut last_503 = None;
        for (index, target) in located.targets.iter().enumerate().skip(first) {
            match self.to_target(*target, &located.host).await {
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

    /// One transaction to one target; `host` is the located URI's host, for TLS.
    async fn to_target(&self, target: Target, host: &str) -> Result<Response, Failed> {
        let inner = self.inner;
        let req = self.req;
        let call_id = self.call_id.as_str();
        let from_tag = self.from_tag.as_str();
        let cseq = self.cseq;
        let headers = &self.headers[..];
        let transmitted = self.transmitted;
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
        let route = inner.routing.route(headers);
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
            let sent_by = inner.routing.sent_by(transport, addr);
            let via = format!(
                "SIP/2.0/{} {sent_by};branch={branch};rport",
                transport.via_token()
            );
            let mut headers = headers.to_vec();
            if needs_contact {
                headers.push((
                    "Contact".to_owned(),
                    inner
                        .routing
                        .contact(contact_user.as_deref(), transport, addr),
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
                    bytes = build(transport);
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

/// RFC 3261 §8.1.1.7: the random part of a branch, "unique across space
/// and time for all requests sent by the UA".
fn random_token() -> String {
    format!("{:016x}", rand::random::<u64>())
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

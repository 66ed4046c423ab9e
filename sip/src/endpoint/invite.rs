//! The UAC side of an INVITE: send it, hear its provisional and final
//! responses, CANCEL it (RFC 3261 §9.1), ACK its 2xx (§13.2.2.4).
//!
//! One INVITE, step by step: [`send_invite`] locates the destination once
//! (the first Route, the outbound proxy or the Request-URI, RFC 3263 §4)
//! and starts an INVITE client transaction (`transaction/invite_client.rs`)
//! at the first target; the receive path hands each response to
//! [`handle_response`], which passes it to the caller's [`InviteClient`].
//!
//! What it does not do: fail over to the next RFC 3263 target (an INVITE
//! may have rung a phone before it failed), switch a large INVITE from UDP
//! to TCP (§18.1.1), or answer digest challenges; a caller who wants those
//! sends a new INVITE. Forked 2xx responses (§13.2.2.4) all reach the
//! caller: it ACKs each with [`InviteClient::send_ack`] and, keeping one
//! session, ends the others with a BYE in their own dialogs.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot};

use super::request::{OutgoingRequest, Response};
use super::send::{Outcome, Waiter, Wake};
use super::{Inner, now};
use crate::dialog::{self, Dialog};
use crate::error::TransactionError;
use crate::stats::bump;
use crate::transaction::{
    AckTemplate, ClientKey, InviteClientEvent, MAGIC_COOKIE, Target, Transmit,
};
use crate::transport::{tcp, tls};
use crate::wire::header::Address;
use crate::wire::message::Message;
use crate::wire::write::{self, RequestParts};

/// How many responses to one INVITE may wait unread; the last place is
/// kept for the final response (a provisional one finding only it is dropped).
const RESPONSE_QUEUE: usize = 16;

/// An INVITE on its way: its responses, its CANCEL and the ACK of its 2xx.
///
/// Dropping it does not end the INVITE: the transaction runs to its end
/// (Timer B or D); a 2xx that nobody ACKs is retransmitted by the peer
/// until it gives up (§13.3.1.4).
pub struct InviteClient {
    inner: Arc<Inner>,
    key: ClientKey,
    responses: mpsc::Receiver<Result<Response, TransactionError>>,
    /// Woken by every response, so [`InviteClient::cancel`] can wait for a
    /// provisional one (§9.1).
    heard: Arc<Notify>,
    target: Target,
    /// The INVITE's fields a CANCEL repeats (§9.1) — the same as its ACK of
    /// a non-2xx repeats (§17.1.1.3) — and its To, without tag.
    fields: AckTemplate,
    to: String,
}

impl std::fmt::Debug for InviteClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InviteClient")
            .field("call_id", &self.fields.call_id)
            .field("cseq", &self.fields.cseq)
            .finish_non_exhaustive()
    }
}

/// Cancels one INVITE (RFC 3261 §9.1) from any task: made by
/// [`InviteClient::canceller`].
pub struct Canceller {
    inner: Arc<Inner>,
    key: ClientKey,
    heard: Arc<Notify>,
    target: Target,
    fields: AckTemplate,
    to: String,
}

impl std::fmt::Debug for Canceller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Canceller")
            .field("call_id", &self.fields.call_id)
            .finish_non_exhaustive()
    }
}

impl Canceller {
    /// RFC 3261 §9.1: cancels the INVITE and returns the CANCEL's final
    /// response (the INVITE's own, 487 if it worked, still comes through
    /// [`InviteClient::next_response`]). The CANCEL waits for a provisional
    /// response first ("If no provisional response has been received, the
    /// CANCEL request MUST NOT be sent"); after the final response it is
    /// not sent ("an effective no-op") and `InvalidRequest` is returned.
    pub async fn cancel(self) -> Result<Response, TransactionError> {
        loop {
            let notified = self.heard.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self
                .inner
                .with_core(|core| core.transactions.invite_cancellable(&self.key))
            {
                Some(true) => break,
                Some(false) => notified.await,
                None => {
                    return Err(TransactionError::InvalidRequest(
                        "the INVITE has no pending transaction to cancel",
                    ));
                }
            }
            if self.inner.abandon.is_cancelled() {
                return Err(TransactionError::ShuttingDown);
            }
        }
        let f = &self.fields;
        // §9.1: Request-URI, Call-ID, To, From and the CSeq number as in the
        // INVITE; its top Via only (same branch); its Route values.
        let bytes = write::request(&RequestParts {
            method: "CANCEL",
            request_uri: &f.request_uri,
            via: &f.via,
            from: &f.from,
            to: &self.to,
            call_id: &f.call_id,
            cseq: f.cseq,
            route: &f.route,
            user_agent: &self.inner.config.user_agent,
            headers: &[],
            body: None,
        });
        let key = ClientKey::of_parts(self.key.branch.clone(), ClientKey::method("CANCEL"));
        let (tx, rx) = oneshot::channel();
        // §9.1: "The destination address, port, and transport for the CANCEL
        // MUST be identical to those used to send the original request."
        let transmit = self
            .inner
            .with_core(|core| {
                let transmit =
                    core.transactions
                        .start_client(key.clone(), bytes, self.target, now())?;
                core.waiters.insert(
                    key.clone(),
                    Waiter {
                        tx: Wake::Channel(tx),
                        heard: false,
                    },
                );
                core.transactions.invite_cancel_sent(&self.key, now());
                Some(transmit)
            })
            .ok_or(TransactionError::Overloaded)?;
        self.inner.counters.request_out("CANCEL");
        self.inner.transmit(transmit);
        tokio::select! {
            outcome = rx => match outcome {
                Ok(Outcome::Response(message)) => Ok(Response::from_message(message)),
                Ok(Outcome::ConnectionLost) => Err(TransactionError::Transport {
                    target: self.target.addr.to_string(),
                    source: std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "connection closed"),
                }),
                Ok(Outcome::TimedOut { .. }) | Err(_) => Err(TransactionError::Timeout),
            },
            () = self.inner.abandon.cancelled() => Err(TransactionError::ShuttingDown),
        }
    }
}

/// What the core keeps for an [`InviteClient`].
pub(super) struct InviteWaiter {
    tx: mpsc::Sender<Result<Response, TransactionError>>,
    heard: Arc<Notify>,
}

impl InviteWaiter {
    /// Tells the caller the INVITE ended without a final response.
    pub(super) fn fail(self, error: TransactionError) {
        let _ = self.tx.try_send(Err(error));
        self.heard.notify_waiters();
    }
}

impl InviteClient {
    /// The next response: provisional ones, then the final one (and, after
    /// a 2xx, any 2xx of another fork, §13.2.2.4). `Some(Err(Timeout))` when
    /// Timer B fired (§17.1.1.2); `None` once the transaction is over.
    pub async fn next_response(&mut self) -> Option<Result<Response, TransactionError>> {
        self.responses.recv().await
    }

    /// The CSeq number of the INVITE (its ACK and CANCEL repeat it).
    pub fn cseq(&self) -> u32 {
        self.fields.cseq
    }

    /// The Call-ID of the INVITE.
    pub fn call_id(&self) -> &str {
        &self.fields.call_id
    }

    /// RFC 3261 §9.1: cancels the INVITE and returns the CANCEL's final
    /// response; see [`Canceller::cancel`].
    pub async fn cancel(&self) -> Result<Response, TransactionError> {
        self.canceller().cancel().await
    }

    /// What cancels this INVITE from elsewhere (another task), while this
    /// [`InviteClient`] goes on reading the INVITE's responses.
    pub fn canceller(&self) -> Canceller {
        Canceller {
            inner: Arc::clone(&self.inner),
            key: self.key.clone(),
            heard: Arc::clone(&self.heard),
            target: self.target,
            fields: self.fields.clone(),
            to: self.to.clone(),
        }
    }

    /// RFC 3261 §13.2.2.4: ACKs the 2xx `response` to this INVITE. The ACK
    /// is a request of the dialog the 2xx created (§12.2.1.1: Request-URI
    /// the 2xx's Contact, the route set its Record-Route reversed), with the
    /// INVITE's CSeq number and a new branch; `body` is the SDP answer when
    /// the INVITE had no offer. It is sent again whenever the same 2xx comes
    /// again, for 64·T1 (§13.2.2.4). Returns the dialog, for what follows.
    pub async fn send_ack(
        &self,
        response: &Response,
        headers: Vec<(String, String)>,
        body: Option<(String, bytes::Bytes)>,
    ) -> Result<Dialog, TransactionError> {
        if !response.is_success() {
            return Err(TransactionError::InvalidRequest(
                "only a 2xx is ACKed by the UAC core",
            ));
        }
        let dialog = Dialog::from_response(response.message())
            .map_err(|_| TransactionError::InvalidRequest("the 2xx creates no dialog"))?;
        let mut headers = headers;
        headers.extend(
            dialog
                .route_set
                .iter()
                .map(|r| ("Route".to_owned(), r.clone())),
        );
        let destination = self
            .inner
            .routing
            .destination(&dialog.remote_target, &headers)?;
        let located = self.inner.routing.locate(&destination).await?;
        let target = *located
            .targets
            .first()
            .ok_or_else(|| TransactionError::Unresolvable(destination.clone()))?;
        connect(&self.inner, target, &located.host.to_string()).await?;
        let via = format!(
            "SIP/2.0/{} {};branch={MAGIC_COOKIE}{};rport",
            target.transport.via_token(),
            self.inner.routing.sent_by(target.transport, target.addr),
            dialog::new_tag(),
        );
        let route = self.inner.routing.route(&headers);
        let bytes = write::request(&RequestParts {
            method: "ACK",
            request_uri: &dialog.remote_target,
            via: &via,
            from: &format!("<{}>;tag={}", dialog.local_uri, dialog.id.local_tag),
            to: &format!("<{}>;tag={}", dialog.remote_uri, dialog.id.remote_tag),
            call_id: &dialog.id.call_id,
            // §13.2.2.4: "The sequence number of the CSeq header field MUST be
            // the same as the INVITE being acknowledged".
            cseq: self.fields.cseq,
            route: &route,
            user_agent: &self.inner.config.user_agent,
            headers: &headers,
            body: body.as_ref().map(|(t, b)| (t.as_str(), &b[..])),
        });
        let transmit = Transmit {
            target,
            bytes,
            retransmission: false,
        };
        self.inner.with_core(|core| {
            core.transactions
                .set_invite_ack(&self.key, &dialog.id.remote_tag, transmit.clone());
        });
        self.inner.counters.request_out("ACK");
        self.inner.transmit(transmit);
        Ok(dialog)
    }
}

/// Opens the connection a stream target needs (UDP needs none).
async fn connect(inner: &Arc<Inner>, target: Target, host: &str) -> Result<(), TransactionError> {
    let failed = |source| TransactionError::Transport {
        target: target.addr.to_string(),
        source,
    };
    match target.transport {
        crate::config::Transport::Udp => Ok(()),
        crate::config::Transport::Tcp => tcp::connect(
            target.addr,
            &inner.streams,
            inner,
            &inner.shutdown,
            inner.config.timers.t1 * 64,
        )
        .await
        .map_err(failed),
        crate::config::Transport::Tls => {
            let tls = inner.tls.as_ref().ok_or(TransactionError::InvalidRequest(
                "TLS target without [sip.tls] config",
            ))?;
            tls::connect(
                target.addr,
                host,
                tls,
                &inner.streams,
                inner,
                &inner.shutdown,
            )
            .await
            .map_err(failed)
        }
    }
}

/// Sends `req` as an INVITE (its method is ignored) and returns the handle
/// its responses come through.
pub(super) async fn send_invite(
    inner: &Arc<Inner>,
    req: OutgoingRequest,
) -> Result<InviteClient, TransactionError> {
    if inner.abandon.is_cancelled() {
        return Err(TransactionError::ShuttingDown);
    }
    let call_id = req
        .call_id
        .clone()
        .unwrap_or_else(|| dialog::new_call_id("parley"));
    let cseq = super::send::requested_cseq(&req.headers);
    let mut from = String::new();
    super::send::push_from(&mut from, &req.from, &dialog::new_tag());
    let mut to = String::new();
    super::send::push_bracketed(&mut to, &req.to);
    let destination = inner.routing.destination(&req.request_uri, &req.headers)?;
    let located = tokio::select! {
        located = inner.routing.locate(&destination) => located?,
        () = inner.abandon.cancelled() => return Err(TransactionError::ShuttingDown),
    };
    let target = *located
        .targets
        .first()
        .ok_or_else(|| TransactionError::Unresolvable(destination.clone()))?;
    connect(inner, target, &located.host.to_string()).await?;
    let branch = super::send::new_branch();
    let via = format!(
        "SIP/2.0/{} {};branch={branch};rport",
        target.transport.via_token(),
        inner.routing.sent_by(target.transport, target.addr),
    );
    let route = inner.routing.route(&req.headers);
    let mut headers = req.headers.clone();
    // RFC 3261 §8.1.1.8: an INVITE carries a Contact.
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("contact") || n.eq_ignore_ascii_case("m"))
    {
        let user = Address::parse(&from).ok().and_then(|a| {
            a.uri_text
                .split_once(':')
                .and_then(|(_, rest)| rest.split_once('@'))
                .map(|(user, _)| user.to_owned())
        });
        headers.push((
            "Contact".to_owned(),
            inner
                .routing
                .contact(user.as_deref(), target.transport, target.addr),
        ));
    }
    let bytes = write::request(&RequestParts {
        method: "INVITE",
        request_uri: &req.request_uri,
        via: &via,
        from: &from,
        to: &to,
        call_id: &call_id,
        cseq,
        route: &route,
        user_agent: &inner.config.user_agent,
        headers: &headers,
        body: req.body.as_ref().map(|(t, b)| (t.as_str(), &b[..])),
    });
    let fields = AckTemplate {
        request_uri: req.request_uri.clone(),
        via,
        from,
        call_id,
        cseq,
        route,
    };
    let key = ClientKey::new(&branch, "INVITE");
    let (tx, responses) = mpsc::channel(RESPONSE_QUEUE);
    let heard = Arc::new(Notify::new());
    let transmit = inner
        .with_core(|core| {
            let transmit = core.transactions.start_invite_client(
                key.clone(),
                bytes,
                fields.clone(),
                target,
                now(),
            )?;
            core.invite_waiters.insert(
                key.clone(),
                InviteWaiter {
                    tx,
                    heard: heard.clone(),
                },
            );
            Some(transmit)
        })
        .ok_or(TransactionError::Overloaded)?;
    inner.counters.request_out("INVITE");
    if let Err(source) = inner.send_bytes(&transmit) {
        bump(&inner.counters.transport_errors);
        inner.with_core(|core| {
            core.transactions.remove_invite_client(&key);
            core.invite_waiters.remove(&key).map(|_| ())
        });
        return Err(TransactionError::Transport {
            target: target.addr.to_string(),
            source,
        });
    }
    Ok(InviteClient {
        inner: inner.clone(),
        key,
        responses,
        heard,
        target,
        fields,
        to,
    })
}

/// A response whose CSeq method is INVITE (§17.1.3: matched by branch and
/// method): through the transaction to the caller's [`InviteClient`].
pub(super) fn handle_response(inner: &Inner, message: Message, status: u16, key: ClientKey) {
    let to = message.header("To").unwrap_or_default();
    let to_tag = Address::parse(&to)
        .ok()
        .and_then(|a| a.param("tag").map(str::to_owned))
        .unwrap_or_default();
    let delivered = inner.with_core(|core| {
        let event = core
            .transactions
            .handle_invite_response(&key, status, &to, &to_tag, now())?;
        let (up, ack) = match event {
            InviteClientEvent::Provisional | InviteClientEvent::Forked => (true, None),
            InviteClientEvent::Final(ack) => (true, ack),
            InviteClientEvent::Absorbed(ack) => (false, ack),
        };
        let waiter = core.invite_waiters.get(&key);
        if up && let Some(waiter) = waiter {
            waiter.heard.notify_waiters();
            if status < 200 && waiter.tx.capacity() <= 1 {
                tracing::debug!(
                    status,
                    "provisional INVITE response dropped: the caller reads none"
                );
                return Some((up, ack));
            }
            let response = Ok(Response::from_message(message));
            if waiter.tx.try_send(response).is_err() {
                tracing::debug!(status, "INVITE response dropped: the caller reads none");
            }
        }
        Some((up, ack))
    });
    match delivered {
        None => {
            bump(&inner.counters.stray_responses);
            tracing::debug!("stray INVITE response dropped");
        }
        Some((up, ack)) => {
            if !up {
                bump(&inner.counters.retransmissions_absorbed);
            }
            if let Some(ack) = ack {
                inner.counters.request_out("ACK");
                inner.transmit(ack);
            }
        }
    }
}

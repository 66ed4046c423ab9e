//! The server side: every received message, from bytes to the gateway.
//!
//! One message, step by step: a transport hands its bytes here →
//! `wire` parse (a 400 from salvage when that fails) → `wire::validate` →
//! the source's rate ([`crate::rate`]) → `transaction` (retransmissions
//! absorbed here) → the channel to the gateway, with a [`Responder`] (full:
//! 503 + Retry-After). Responses go to the client transaction's waiter.
//! What cannot be handled is refused here, statelessly.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::request::{IncomingRequest, Parsed, RequestView, Responder, ResponderParts, is_trusted};
use super::send::Outcome;
use super::{Inner, now};
use crate::config::Transport;
use crate::dialog;
use crate::framing::FramingError;
use crate::rate::{Arrival, Source, Verdict};
use crate::stats::bump;
use crate::transaction::{
    AckKey, ClientKeyRef, RequestOutcome, ResponseOutcome, ServerKey, Target, Transmit,
};
use crate::transport::Intake;
use crate::wire::message::{Message, ParseLimits, Salvage, StartLine};
use crate::wire::status::StatusCode;
use crate::wire::validate;
use crate::wire::write::{self, reason_phrase};

impl Intake for Inner {
    /// Entry point for every received message (datagram or stream frame).
    fn receive(self: &Arc<Self>, bytes: Bytes, source: SocketAddr, transport: Transport) {
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
            let verdict = self.verdict_on_refusable(target);
            if verdict == Verdict::Drop {
                self.refuse_over_rate(&Salvage::default(), Verdict::Drop, target);
                return;
            }
            let salvage = match Message::parse(bytes, limits) {
                Ok(message) => message.salvage(),
                Err(error) => *error.salvage,
            };
            if verdict != Verdict::Admit {
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

    /// Over UDP, before a datagram is copied or parsed: whether the rate
    /// policy drops it unread ([`crate::rate::RatePolicy::drop_unread`]).
    /// It may be a retransmission of a request admitted earlier unless it is
    /// oversize, has no request line, or has a top-Via branch no server
    /// transaction holds; what may be one is still parsed and absorbed.
    /// Counted as dropped.
    fn drop_unread(&self, datagram: &[u8], source: SocketAddr) -> bool {
        let response = datagram.starts_with(b"SIP/2.0 ");
        let from = Source {
            ip: source.ip(),
            datagram: true,
            // Not looked up for a response, which is never dropped.
            exempt: !response && is_trusted(&self.config.rate_exempt, source, None),
        };
        let oversize = datagram.len() > self.config.limits.max_message_bytes;
        // The lock alone, not `with_core`: nothing here moves a timer, so
        // the next deadline need not be looked at before and after.
        let silenced = self.lock_core().is_some_and(|mut core| {
            let core = &mut *core;
            core.rate.drop_unread(from, response, now(), || {
                let branch = if !oversize && looks_like_request_line(datagram) {
                    top_via_branch(datagram)
                } else {
                    None
                };
                branch.is_some_and(|b| core.transactions.has_server_branch(b))
            })
        });
        if silenced {
            bump(&self.counters.rate_limited_dropped);
        }
        silenced
    }

    /// A stream could not be framed: answer from the head if possible.
    fn unframable(
        &self,
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

    /// RFC 3261 §17.1.4: a stream connection closed; the client transactions
    /// that sent over it fail now instead of waiting for Timer F.
    fn connection_closed(&self, transport: Transport, peer: SocketAddr) {
        let target = Target {
            transport,
            addr: peer,
        };
        let (waiters, invites) = self.with_core(|core| {
            let failed = core.transactions.fail_target(target);
            let invites = failed
                .iter()
                .filter_map(|key| core.invite_waiters.remove(key))
                .collect::<Vec<_>>();
            let waiters = failed
                .into_iter()
                .filter_map(|key| core.waiters.remove(&key))
                .collect::<Vec<_>>();
            (waiters, invites)
        });
        for invite in invites {
            bump(&self.counters.transport_errors);
            invite.fail(crate::error::TransactionError::Transport {
                target: peer.to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "connection closed",
                ),
            });
        }
        for waiter in waiters {
            bump(&self.counters.transport_errors);
            waiter.deliver(Outcome::ConnectionLost);
        }
    }
}

impl Inner {
    fn handle_request(self: &Arc<Self>, message: Message, target: Target) {
        let method = message.method().unwrap_or_default();
        self.counters.request_in(method);
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
            Transport::Tls => self.streams.connections.certificate(target.addr),
            _ => None,
        };
        // Trusted proxies carry many users' traffic from one address.
        let exempt = is_trusted(
            &self.config.rate_exempt,
            target.addr,
            certificate.as_deref(),
        );
        let source = Source {
            ip: target.addr.ip(),
            datagram: target.transport == Transport::Udp,
            exempt,
        };
        let outcome = self.with_core(|core| {
            let arrival = if is_ack || core.transactions.has_server(&key) {
                Arrival::InTransaction
            } else {
                Arrival::NewRequest
            };
            match core.rate.decide(source, arrival, now) {
                Verdict::Admit => {}
                verdict => return Some(Err(verdict)),
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
        if head.method == "CANCEL" {
            let mut salvage = message.salvage();
            salvage.stamp = Some(target.addr);
            let tag_to = head.to.param("tag").is_none();
            super::cancel::handle_cancel(self, key, salvage, tag_to);
            return;
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
        // Only an INVITE's 2xx is acknowledged: a copy of the tag for it alone.
        let ack = (head.method == "INVITE").then(|| AckKey {
            call_id: head.call_id.to_string(),
            cseq: head.cseq,
            from_tag: head.from.param("tag").unwrap_or_default().to_owned(),
            to_tag: to_tag.clone(),
        });
        // RFC 3261 §8.2.6.2: every response but a 100 adds our tag to a To
        // that had none.
        let tag_to = head.to.param("tag").is_none() && !to_tag.is_empty();
        let responder = Responder {
            inner: self.clone(),
            parts: Box::new(ResponderParts {
                key,
                copied: write::Copied::of_message(
                    &message,
                    target.addr,
                    tag_to.then_some(to_tag.as_str()),
                ),
                // An in-dialog request already names our tag; keep it.
                to_tag,
                ack,
                record_route,
                answered: false,
                cancelled: (head.method == "INVITE").then(CancellationToken::new),
            }),
        };
        if let Some(token) = &responder.parts.cancelled {
            let cancellable = super::cancel::Cancellable {
                copied: responder.parts.copied.clone(),
                to_tag: responder.parts.to_tag.clone(),
                token: token.clone(),
            };
            let key = responder.parts.key.clone();
            self.with_core(|core| {
                core.transactions
                    .set_invite_to_tag(&key, &cancellable.to_tag);
                core.cancellable.insert(key, cancellable);
            });
        }
        if head.method == "INVITE" {
            // RFC 3261 §17.2.1: 100 Trying at once, so the client stops retransmitting.
            responder.provisional(StatusCode::TRYING, None);
        }
        let request = IncomingRequest {
            source: target.addr,
            transport: target.transport,
            view: RequestView {
                source: target.addr,
                transport: target.transport,
                parsed: Box::new(Parsed { message, head }),
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
            request.responder.respond(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                vec![("Retry-After".to_owned(), retry)],
                None,
            );
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
        let Some(branch) = head.branch else {
            bump(&self.counters.stray_responses);
            return;
        };
        // Borrowed: a response is matched without building an owned key.
        let key = ClientKeyRef::new(&branch, head.cseq_method);
        if key.method == "INVITE" {
            let (status, key) = (head.status, key.owned());
            super::invite::handle_response(self, message, status, key);
            return;
        }
        let status = head.status;
        let waiter =
            self.with_core(
                |core| match core.transactions.handle_response(key, status, now()) {
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
                waiter.deliver(Outcome::Response(message));
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
        match self.verdict_on_refusable(target) {
            Verdict::Admit => self.respond_stateless(salvage, status, reason, &[], target),
            verdict => self.refuse_over_rate(salvage, verdict, target),
        }
    }

    /// The rate policy's verdict on a message that will only be refused
    /// (garbage, oversize): it costs its source a token like a request.
    fn verdict_on_refusable(&self, target: Target) -> Verdict {
        // A trusted proxy is exempt as for well-formed requests (no TLS
        // identity is needed for that: an exempt address is enough).
        let source = Source {
            ip: target.addr.ip(),
            datagram: target.transport == Transport::Udp,
            exempt: is_trusted(&self.config.rate_exempt, target.addr, None),
        };
        self.with_core(|core| Some(core.rate.decide(source, Arrival::Refusable, now())))
            .unwrap_or(Verdict::Admit)
    }

    /// Carries out a refusing verdict (design §5 / RFC 3261 §21.5.4): 503
    /// with Retry-After, or (over UDP, after a few of those) nothing at all.
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
        salvage.stamp = Some(target.addr);
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

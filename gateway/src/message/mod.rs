//! Page-mode messages both ways (RFC 7572): a SIP MESSAGE becomes a
//! `<message/>` and is answered once the XMPP side has had its say; a
//! `<message/>` becomes a SIP MESSAGE whose final response decides what the
//! sender hears (RFC 7247 §7). Beside it, in this folder: receipts (RFC 5438
//! ↔ XEP-0184/XEP-0333, `receipts.rs`), chat states (RFC 3994 ↔ XEP-0085,
//! `chat_states.rs`), one conversation's order (`order.rs`) and RFC 7572's
//! tables as code (`wire.rs`). RFC 3923 S/MIME objects (`<e2e/>` ↔ a
//! `multipart/signed` or `application/pkcs7-mime` body) take
//! `parley_mapping::e2e` instead of the text path, unaltered. The rules are
//! `parley_mapping`'s; this module applies them to live transactions and stanzas.

pub(crate) mod chat_states;
pub(crate) mod order;
pub(crate) mod receipts;
mod shared;
pub(crate) mod wire;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, info, warn};

use parley_mapping::address::SipAddress;
use parley_mapping::e2e;
use parley_mapping::error::{
    JidScope, MappingError, message_error_to_sip, sip_status_to_stanza_error,
    sip_timeout_stanza_error, unanswered_at_shutdown_stanza_error,
};
use parley_mapping::imdn::{self, Inbound};
use parley_mapping::message::{self as im, MessageOptions, SipMessage};
use parley_sip::StatusCode;
use parley_sip::{IncomingRequest, OnOutcome, Responder, TransactionError};
use parley_xmpp::stanza::{DefinedCondition, Message, MessageType, Stanza, StanzaError};

use crate::links::Links;
use crate::metrics::{Direction, Outcome};
use crate::registry::{PendingSip, Refusable};
use chat_states::Composing;
use order::Lanes;
use receipts::{Receipt, Receipts, Settled};
use wire::{ReadMessage, into_outgoing_message, sip_message_fields};

/// Page-mode messaging's own state; the rest is in [`Links`].
pub(crate) struct Messages {
    links: Arc<Links>,
    options: MessageOptions,
    delivery_window: Duration,
    send_chat_states: bool,
    /// XEP-0184/XEP-0333 ↔ RFC 5438 (`messages.receipts`).
    receipts: Receipts,
    /// RFC 3994 §3.3: SIP composing indications that expire into `<paused/>`.
    composing: Composing,
    /// One conversation's MESSAGEs leave in order (`order.rs`).
    lanes: Lanes,
    /// `parley-`, or `parley-<instance>-` with a shared store (`shared.rs`).
    id_prefix: String,
}

/// `[messages]` as the handlers use it.
pub(crate) struct MessageSettings {
    /// RFC 7572 §5 options (`messages.xmpp_type`).
    pub(crate) options: MessageOptions,
    /// How long a SIP MESSAGE waits for an XMPP error before its 200.
    pub(crate) delivery_window: Duration,
    /// XEP-0085 → RFC 3994 (`messages.send_chat_states`).
    pub(crate) send_chat_states: bool,
    /// `messages.receipts`.
    pub(crate) receipts: bool,
}

/// What follows an XMPP → SIP MESSAGE's final response: its receipt's
/// fallback ([`Receipts::settle`]) and what the sender hears
/// ([`Messages::sent`]). Called by the SIP endpoint when the response
/// comes, for a MESSAGE sent at once, or by the task of one that waited its
/// turn.
struct Answered {
    messages: Arc<Messages>,
    correlation: u64,
    message: Message,
    chat_state_to: Option<Box<SipAddress>>,
    receipt: Option<Box<Receipt>>,
    /// Shutdown waits for it as for a task (`drain.rs`).
    token: tokio_util::task::task_tracker::TaskTrackerToken,
}

impl Answered {
    /// The XMPP sender's bare JID: with the Request-URI, the conversation
    /// whose order the MESSAGE keeps (`order.rs`).
    fn sender(&self) -> &str {
        parley_xmpp::jid::bare(self.message.from.as_deref().unwrap_or_default())
    }
}

impl OnOutcome for Answered {
    fn on_outcome(self, result: Result<parley_sip::Response, TransactionError>) {
        let Answered {
            messages,
            correlation,
            message,
            chat_state_to,
            receipt,
            token,
        } = self;
        let result = match receipt {
            None => result,
            Some(receipt) => match messages.receipts.settle(correlation, *receipt, result) {
                Settled::Done(result) => result,
                // A 415 to message/cpim: sent again as plain text, on a
                // task (rare); its outcome is the message's.
                Settled::Resend(plain) => {
                    let tasks = messages.links.tasks.clone();
                    tasks.spawn(async move {
                        let result = messages.receipts.resend(&plain).await;
                        messages.sent(correlation, &message, chat_state_to.as_deref(), result);
                        drop(token);
                    });
                    return;
                }
            },
        };
        messages.sent(correlation, &message, chat_state_to.as_deref(), result);
    }
}

impl Messages {
    pub(crate) fn new(links: Arc<Links>, settings: MessageSettings) -> Self {
        Self {
            receipts: Receipts::new(Arc::clone(&links), settings.receipts),
            composing: Composing::new(Arc::clone(&links), settings.options.xmpp_type_chat),
            options: settings.options,
            delivery_window: settings.delivery_window,
            send_chat_states: settings.send_chat_states,
            lanes: Lanes::default(),
            id_prefix: shared::id_prefix(&links),
            links,
        }
    }

    /// RFC 7572 §5: SIP MESSAGE → `<message/>`, answered once the XMPP side has had its say.
    pub(crate) fn sip_message(self: &Arc<Self>, request: IncomingRequest) {
        let received = Instant::now();
        let correlation = self.links.registry.next_correlation();
        let (view, responder) = request.into_responder();
        let ReadMessage {
            message: parsed,
            content_type,
            mime: request_fields,
        } = sip_message_fields(view);
        // RFC 5438 §9: is it a notification, or an IM asking for one?
        let mut imdn_request = None;
        if let Ok(sip) = &parsed {
            match imdn::inspect_typed(&content_type, sip.content_encoding.as_deref(), &sip.body) {
                Ok(Inbound::Notification(n)) => {
                    self.receipts.sip_notification(correlation, sip, &n);
                    // §12.1.2: answered like any MESSAGE, whatever it reports.
                    responder.respond(StatusCode::OK, None, vec![], None);
                    return;
                }
                Ok(Inbound::Request(r)) => imdn_request = Some((sip.clone(), r)),
                Ok(Inbound::Neither) => {}
                Err(e) => {
                    info!(correlation, error = %e, "malformed IMDN refused");
                    self.links.metrics.error(e.kind());
                    self.links.answer_sip(responder, &e.sip_answer());
                    return;
                }
            }
        }
        // RFC 3923 §8: an S/MIME body goes whole into <e2e/>; any other
        // body is RFC 7572's.
        let translated = match &parsed {
            Ok(m) => e2e::message_to_xmpp_typed(
                m,
                &content_type,
                |name| request_fields.header(name),
                &self.links.mapper,
                &self.options,
            )
            .unwrap_or_else(|| {
                im::to_xmpp_typed(m, &content_type, &self.links.mapper, &self.options)
            }),
            Err(e) => Err(e.clone()),
        };
        let mut message = match translated {
            Ok(m) => m,
            Err(e) => {
                let answer = e.sip_answer();
                info!(correlation, error = %e, code = answer.status.code, "SIP MESSAGE refused");
                self.links.metrics.error(e.kind());
                self.links
                    .metrics
                    .message(Direction::SipToXmpp, Outcome::Rejected);
                self.links.answer_sip(responder, &answer);
                return;
            }
        };
        let to_full_jid = message.to.as_deref().is_some_and(|to| to.contains('/'));
        let stanza_id = mint_id(&self.id_prefix, correlation);
        if let Some((sip, request)) = imdn_request {
            self.receipts
                .ask_xmpp(&mut message, &stanza_id, &sip, request);
        }
        if let Ok(sip) = &parsed {
            self.composing.note(sip, &content_type, &message);
        }
        // One line ties the SIP Call-ID (carried as <thread/>) to the stanza id.
        debug!(
            correlation,
            call_id = ?message.thread,
            stanza_id = %stanza_id,
            "SIP MESSAGE → XMPP"
        );
        message.id = Some(stanza_id);
        if !self.links.xmpp.is_connected() {
            // Handing the message to a queue nobody reads would make the 200 a lie.
            self.links
                .metrics
                .message(Direction::SipToXmpp, Outcome::Unavailable);
            respond_xmpp_unavailable(responder);
            return;
        }
        self.links.registry.park_sip(
            correlation,
            PendingSip {
                responder,
                deadline: received + self.delivery_window,
                correlation,
                to_full_jid,
            },
        );
        match self.links.xmpp.try_send(Stanza::Message(message)) {
            Ok(()) => {
                self.links
                    .metrics
                    .translated(Direction::SipToXmpp, received.elapsed().as_secs_f64());
            }
            Err(e) => {
                if let Some(p) = self.links.registry.take_sip(correlation) {
                    warn!(correlation, error = %e, "component queue refused the message");
                    self.links.metrics.error(e.kind());
                    self.links
                        .metrics
                        .message(Direction::SipToXmpp, Outcome::Unavailable);
                    p.responder.respond(
                        StatusCode::SERVICE_UNAVAILABLE,
                        None,
                        vec![("Retry-After".into(), "5".into())],
                        None,
                    );
                }
            }
        }
    }

    /// Close delivery windows that have passed: no error came back, so 200
    /// (RFC 7572 §5); forget expired receipts, refusals and composing states.
    pub(crate) fn reap(&self, now: Instant) {
        self.lanes.reap();
        self.receipts.reap(now);
        self.composing.expire(now);
        // The 200s of a burst leave together (one sendmmsg, issue 24).
        let _batch = self.links.sip.send_batch();
        for (correlation, p) in self.links.registry.take_expired_sip(now) {
            debug!(
                correlation,
                id = %format_args!("{}{correlation:x}", self.id_prefix),
                "delivery window closed: 200"
            );
            self.links
                .metrics
                .message(Direction::SipToXmpp, Outcome::Delivered);
            p.responder.respond(StatusCode::OK, None, vec![], None);
        }
        self.gauges();
    }

    /// Answer every waiting SIP transaction now (shutdown). Their stanzas were
    /// handed to the component queue, which is written out before the stream
    /// closes, so they get their 200 (RFC 7572 §5) — unless the stream is
    /// down: then the queue dies with the process, and the sender gets 503 +
    /// Retry-After (RFC 3261 §21.5.4) to send again rather than a 200 that
    /// would lose the message.
    pub(crate) fn flush_pending(&self) {
        let connected = self.links.xmpp.is_connected();
        for (_, p) in self.links.registry.take_all_sip() {
            if connected {
                self.links
                    .metrics
                    .message(Direction::SipToXmpp, Outcome::Delivered);
                p.responder.respond(StatusCode::OK, None, vec![], None);
            } else {
                self.links
                    .metrics
                    .message(Direction::SipToXmpp, Outcome::Unavailable);
                respond_xmpp_unavailable(p.responder);
            }
        }
        self.gauges();
    }

    pub(crate) fn gauges(&self) {
        self.links.metrics.pending_sizes(
            self.links.registry.pending_sip_len(),
            self.links.registry.pending_xmpp_len(),
        );
    }

    /// RFC 7572 §4: `<message/>` → SIP MESSAGE; an error stanza answers one
    /// Parley forwarded from SIP (RFC 7247 §7, Table 2).
    pub(crate) fn xmpp_message(self: &Arc<Self>, message: Message) {
        // With a shared store: an error or receipt for another instance's
        // message goes to that instance (`shared.rs`).
        if let Some(owner) = shared::answers_elsewhere(&self.links, &message) {
            shared::hand_off(&self.links, owner, message);
            return;
        }
        self.xmpp_message_here(message);
    }

    /// A message another instance handed to this one: an error, receipt or
    /// marker for a message of this instance's.
    pub(crate) fn handed_over(self: &Arc<Self>, message: Message) {
        self.links.metrics.store_handoff("received");
        self.xmpp_message_here(message);
    }

    /// XMPP → SIP, or an error or receipt for a message from SIP, here.
    fn xmpp_message_here(self: &Arc<Self>, message: Message) {
        if message.message_type == Some(MessageType::Error) {
            self.xmpp_message_error(message);
            return;
        }
        let received = Instant::now();
        let correlation = self.links.registry.next_correlation();
        // XEP-0184 <received/>, XEP-0333 <displayed/> → RFC 5438 IMDN.
        self.receipts.xmpp_acks(&message);
        // RFC 3923 §8: an <e2e/> object goes as the body, unaltered, with its
        // MIME fields; no IMDN is asked for it (RFC 5438 would wrap it in CPIM).
        let (translated, is_e2e) = match e2e::message_to_sip(&message, &self.links.mapper) {
            Some(r) => (r, true),
            None => (
                im::to_sip(&message, &self.links.mapper).map(|s| (s, Vec::new())),
                false,
            ),
        };
        let (sip, fields) = match translated {
            Ok(s) => s,
            // A standalone chat state, receipt or marker has no text: it goes
            // as isComposing (when on), its receipt went above as an IMDN, and
            // bouncing every typing notification would flood the sender with errors.
            Err(e) if !e.should_bounce() => {
                match self.chat_state(&message) {
                    Some(sip) => {
                        // Only a chat state's 415 needs the peer afterwards
                        // (RFC 3994 §4); boxed, as rare (issue 24).
                        let peer = Box::new(sip.to.clone());
                        let request = into_outgoing_message(sip);
                        self.send_sip_message(
                            correlation,
                            received,
                            message,
                            request,
                            Some(peer),
                            None,
                        );
                    }
                    None => debug!(correlation, kind = e.kind(), "XMPP notification not sent"),
                }
                return;
            }
            Err(e) => {
                info!(correlation, error = %e, "XMPP message refused");
                self.links.metrics.error(e.kind());
                self.links
                    .metrics
                    .message(Direction::XmppToSip, Outcome::Rejected);
                // Issue 26 §3b: nothing is dropped in silence; what cannot be
                // carried is counted by reason, and its sender told (below).
                if let MappingError::NotCarried(reason) = &e {
                    self.links.metrics.not_carried(*reason);
                }
                self.links.bounce(&message, e.stanza_error());
                return;
            }
        };
        let mut sip = sip;
        let receipt = if is_e2e {
            None
        } else {
            self.receipts.with_imdn_request(&message, &mut sip)
        };
        let mut request = into_outgoing_message(sip);
        request.headers.extend(fields);
        self.send_sip_message(correlation, received, message, request, None, receipt);
    }

    /// RFC 3994 ↔ XEP-0085: a standalone chat state as isComposing, when enabled.
    fn chat_state(&self, message: &Message) -> Option<SipMessage> {
        if !self.send_chat_states {
            return None;
        }
        im::chat_state_to_sip(message, &self.links.mapper)
            .ok()
            .flatten()
            // RFC 3994 §4: after a 415 the composer "MUST cease transmitting".
            .filter(|sip| !self.links.refused(&sip.to).iscomposing)
    }

    /// Send `request` (RFC 7572 Table 1, `wire.rs`) and report its outcome;
    /// a chat state (`chat_state_to`, its peer) never produces an error
    /// stanza, since the sender sent no message to fail. The request, not
    /// the larger `SipMessage`, is what is passed down, and the peer and
    /// receipt come boxed: rare, and by value they made every message's wait
    /// (and each move of it) as large as both (issue 24).
    fn send_sip_message(
        self: &Arc<Self>,
        correlation: u64,
        received: Instant,
        message: Message,
        mut request: parley_sip::OutgoingRequest,
        chat_state_to: Option<Box<SipAddress>>,
        receipt: Option<Box<Receipt>>,
    ) {
        self.links.registry.track_xmpp();
        debug!(
            correlation,
            stanza_id = ?message.id,
            call_id = ?request.call_id,
            "XMPP message → SIP MESSAGE"
        );
        self.links
            .metrics
            .translated(Direction::XmppToSip, received.elapsed().as_secs_f64());
        let answered = Answered {
            messages: Arc::clone(self),
            correlation,
            chat_state_to,
            receipt,
            // Shutdown waits for it as for a task (`drain.rs`).
            token: self.links.tasks.token(),
            message,
        };
        // The place in the conversation is taken now, in hand-over order.
        let sender = answered.sender();
        // Issue 24: when nothing of its conversation is still to leave, the
        // MESSAGE goes now, in this pass, and what follows its answer is
        // called when the answer comes (`Answered`), with no task or
        // future of its own; one that needs DNS or a connection, or must
        // wait its turn, gets a task as before.
        let answered = if self.lanes.is_free(sender, &request.request_uri) {
            match self.links.sip.start_request(request, answered) {
                Ok(()) => {
                    self.gauges();
                    return;
                }
                Err((unsent, answered)) => {
                    request = *unsent;
                    answered
                }
            }
        } else {
            answered
        };
        let mut turn = self
            .lanes
            .next((answered.sender().to_owned(), request.request_uri.clone()));
        let sip = self.links.sip.clone();
        self.links.tasks.spawn(async move {
            turn.wait().await;
            let result = sip.send_request_in_order(request, turn.transmitted).await;
            answered.on_outcome(result);
        });
        self.gauges();
    }

    /// What follows a MESSAGE's final response (and its receipt's fallback,
    /// [`Receipts::settle`]): the sender's error (RFC 7247 §7), a chat
    /// state's 415 (RFC 3994 §4). Not async: a message's wait holds no
    /// state of its own beyond the response (issue 24).
    fn sent(
        &self,
        correlation: u64,
        message: &Message,
        chat_state_to: Option<&SipAddress>,
        result: Result<parley_sip::Response, TransactionError>,
    ) {
        self.links.registry.finish_xmpp();
        if let Some(peer) = chat_state_to {
            if matches!(&result, Ok(r) if StatusCode::UNSUPPORTED_MEDIA_TYPE == r.status) {
                self.links.note_refusal(peer, Refusable::IsComposing);
            }
            debug!(correlation, status = ?result.as_ref().map(|r| r.status), "chat state sent");
        } else {
            self.sip_outcome(correlation, message, result);
        }
        self.gauges();
    }

    /// RFC 7247 §7, Table 3: a SIP final response to an XMPP-originated message.
    fn sip_outcome(
        &self,
        correlation: u64,
        message: &Message,
        result: Result<parley_sip::Response, TransactionError>,
    ) {
        match result {
            Ok(r) if r.is_success() => {
                debug!(correlation, status = r.status, "SIP MESSAGE delivered");
                self.links
                    .metrics
                    .message(Direction::XmppToSip, Outcome::Delivered);
            }
            Ok(r) => {
                info!(correlation, status = r.status, "SIP MESSAGE failed");
                self.links
                    .metrics
                    .message(Direction::XmppToSip, Outcome::Failed);
                let contact = r.header("Contact");
                self.links.bounce(
                    message,
                    sip_status_to_stanza_error(r.status, contact.as_deref()),
                );
            }
            Err(TransactionError::Timeout) => {
                info!(correlation, "SIP MESSAGE timed out");
                self.links
                    .metrics
                    .message(Direction::XmppToSip, Outcome::TimedOut);
                self.links.bounce(message, sip_timeout_stanza_error());
            }
            // Shutdown's grace period ran out before the peer answered.
            Err(TransactionError::ShuttingDown) => {
                info!(
                    correlation,
                    "SIP MESSAGE unanswered when the gateway stopped"
                );
                self.links
                    .metrics
                    .message(Direction::XmppToSip, Outcome::TimedOut);
                self.links
                    .bounce(message, unanswered_at_shutdown_stanza_error());
            }
            // Parley's own SIP transaction table is full: nothing left, and
            // a later try may pass. RFC 6120 §8.3.3.18: "The server or
            // recipient is busy or lacks the system resources necessary to
            // service the request; the associated error type SHOULD be
            // "wait"" (not the lasting `remote-server-not-found` below).
            Err(TransactionError::Overloaded) => {
                info!(
                    correlation,
                    "SIP MESSAGE not sent: the SIP side is at capacity"
                );
                self.links
                    .metrics
                    .error(TransactionError::Overloaded.kind());
                self.links
                    .metrics
                    .message(Direction::XmppToSip, Outcome::Unavailable);
                self.links.bounce(
                    message,
                    StanzaError {
                        text: Some(
                            "the gateway's SIP side is at capacity; try again shortly".into(),
                        ),
                        ..StanzaError::new(DefinedCondition::ResourceConstraint)
                    },
                );
            }
            Err(e) => {
                info!(correlation, error = %e, "SIP MESSAGE could not be sent");
                self.links.metrics.error(e.kind());
                self.links
                    .metrics
                    .message(Direction::XmppToSip, Outcome::Unavailable);
                self.links.bounce(
                    message,
                    StanzaError::new(DefinedCondition::RemoteServerNotFound),
                );
            }
        }
    }

    /// RFC 7247 §7, Table 2: an XMPP error for a message Parley forwarded from SIP.
    fn xmpp_message_error(self: &Arc<Self>, message: Message) {
        let Some(id) = message.id.as_deref() else {
            return;
        };
        let waiting = correlation_of(&self.id_prefix, id)
            .and_then(|correlation| self.links.registry.take_sip(correlation));
        let Some(p) = waiting else {
            debug!(%id, "error for a message no longer waiting");
            // Answered 200 already: a negative-delivery IMDN, if asked for.
            self.receipts.late_xmpp_error(&message);
            return;
        };
        // Answered with an error: RFC 5438 §12.1.3.1, no IMDN may follow.
        self.receipts.forget(id);
        let error = message
            .error
            .unwrap_or_else(|| StanzaError::new(DefinedCondition::UndefinedCondition));
        let scope = if p.to_full_jid {
            JidScope::Full
        } else {
            JidScope::Bare
        };
        let answer = message_error_to_sip(&error, scope, &self.links.mapper);
        info!(
            correlation = p.correlation,
            condition = error.condition.name(),
            code = answer.status.code,
            "XMPP refused the message"
        );
        self.links
            .metrics
            .message(Direction::SipToXmpp, Outcome::Failed);
        self.links.answer_sip(p.responder, &answer);
        self.gauges();
    }
}

/// The stanza id `sip_message` gives the message of `correlation`:
/// `prefix`, then the number in lower-case hex without leading zeros, as
/// `format!("{prefix}{correlation:x}")` writes it, without the formatter
/// (issue 24). [`correlation_of`] reads it back.
fn mint_id(prefix: &str, correlation: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0_u8; 16];
    let mut start = digits.len();
    let mut n = correlation;
    loop {
        start -= 1;
        digits[start] = HEX[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    let mut id = String::with_capacity(prefix.len() + digits.len() - start);
    id.push_str(prefix);
    id.extend(digits[start..].iter().map(|d| char::from(*d)));
    id
}

/// The correlation a stanza id names when it is exactly as `sip_message`
/// mints it (`prefix`, then the number in lower-case hex without leading
/// zeros); `None` for any other id.
fn correlation_of(prefix: &str, stanza_id: &str) -> Option<u64> {
    let hex = stanza_id.strip_prefix(prefix)?;
    let minted = !hex.is_empty()
        && (hex.len() == 1 || !hex.starts_with('0'))
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    minted.then(|| u64::from_str_radix(hex, 16).ok())?
}

/// 503 + Retry-After (RFC 3261 §21.5.4) for a MESSAGE whose stanza cannot
/// reach the XMPP side (the component stream is down): a 200 would claim a
/// hand-over that did not happen.
fn respond_xmpp_unavailable(responder: Responder) {
    responder.respond(
        StatusCode::SERVICE_UNAVAILABLE,
        Some("XMPP Server Unavailable"),
        vec![("Retry-After".into(), "30".into())],
        None,
    );
}

#[cfg(test)]
mod tests {
    use super::{correlation_of, mint_id};

    /// The minted id is the number's hex as `format!` writes it, and reads
    /// back as the number.
    #[test]
    fn a_minted_stanza_id_is_the_prefix_and_the_number_in_hex() {
        for n in [
            0_u64,
            1,
            9,
            10,
            15,
            16,
            255,
            256,
            0xdead_beef,
            u64::MAX - 1,
            u64::MAX,
        ] {
            for prefix in ["parley-", "parley-i1-", ""] {
                let id = mint_id(prefix, n);
                assert_eq!(id, format!("{prefix}{n:x}"));
                if !prefix.is_empty() {
                    assert_eq!(correlation_of(prefix, &id), Some(n));
                }
            }
        }
    }

    /// An XMPP error finds its SIP MESSAGE only by the id Parley gave the
    /// stanza, character for character (RFC 6120 §8.3: an error stanza
    /// carries the id of the stanza it answers).
    #[test]
    fn a_stanza_id_names_a_waiting_message_only_as_minted() {
        for n in [1_u64, 9, 10, 255, 0xdead_beef, u64::MAX] {
            assert_eq!(correlation_of("parley-", &format!("parley-{n:x}")), Some(n));
            let shared = format!("parley-i1-{n:x}");
            assert_eq!(correlation_of("parley-i1-", &shared), Some(n));
        }
        for id in [
            "parley-",
            "parley-0a",
            "parley-A",
            "parley-+a",
            "parley--a",
            "parley-a ",
            "parley-10000000000000000",
            "parley-g",
            "parley-i2-a",
            "other-a",
            "a",
        ] {
            assert_eq!(correlation_of("parley-", id), None, "{id}");
        }
        assert_eq!(correlation_of("parley-i1-", "parley-a"), None);
    }
}

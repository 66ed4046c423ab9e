//! The router: SIP events become XMPP stanzas and back, through `parley_mapping`.
//!
//! One place decides what each side hears (RFC 7572 for messages, RFC 7247 §7
//! for errors); the mapping crate holds the rules, this file applies them to
//! live transactions and stanzas and records them in the registry.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use parley_mapping::address::{AddressMapper, SipAddress};
use parley_mapping::error::{
    ALLOW, JidScope, MappingError, SipAnswer, SipStatus, message_error_to_sip,
    sip_status_to_stanza_error, sip_timeout_stanza_error, unanswered_at_shutdown_stanza_error,
};
use parley_mapping::imdn::{self, Inbound};
use parley_mapping::message::{self as im, MessageOptions, SipMessage};
use parley_sip::{Endpoint, IncomingRequest, OutgoingRequest, Responder, TransactionError};
use parley_xmpp::component::ComponentHandle;
use parley_xmpp::stanza::{
    DefinedCondition, Iq, IqType, Message, MessageType, Stanza, StanzaError,
};

use crate::metrics::{Direction, Metrics, Outcome};
use crate::registry::{PendingSip, PendingXmpp, Registry};

/// Everything the router needs, shared by its tasks.
pub struct Router {
    pub(crate) mapper: AddressMapper,
    pub(crate) options: MessageOptions,
    pub(crate) delivery_window: Duration,
    pub(crate) send_chat_states: bool,
    /// XEP-0184/XEP-0333 ↔ RFC 5438 on (`messages.receipts`).
    pub(crate) receipts: bool,
    pub(crate) component_domain: String,
    pub(crate) sip: Endpoint,
    pub(crate) xmpp: ComponentHandle,
    pub(crate) registry: Arc<Registry<Responder>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) tasks: TaskTracker,
    pub(crate) watches: crate::presence::Watches,
    pub(crate) watchers: crate::watchers::Watchers,
    pub(crate) fetches: crate::fetch::Fetches,
    /// One conversation's MESSAGEs leave in order (`order.rs`).
    pub(crate) lanes: crate::order::Lanes,
    pub(crate) store: crate::store::Store,
    pub(crate) admission: Arc<crate::admission::Admission>,
}

impl Router {
    /// A SIP request arrived.
    pub fn handle_sip(self: &Arc<Self>, request: IncomingRequest) {
        let method = request.method().to_owned();
        match method.as_str() {
            "MESSAGE" => self.sip_message(request),
            "NOTIFY" => self.sip_notify(request),
            "SUBSCRIBE" => self.sip_subscribe(request),
            "OPTIONS" => {
                let (_, responder) = request.into_responder();
                responder.respond(200, None, vec![("Allow".into(), ALLOW.into())], None);
            }
            _ => {
                // RFC 3261 §8.2.1: 405, whose Allow (§21.4.6) the answer carries.
                debug!(%method, "method not handled");
                let (_, responder) = request.into_responder();
                self.answer_sip(responder, &SipAnswer::new(SipStatus::new(405)));
            }
        }
    }

    /// RFC 7572 §5: SIP MESSAGE → `<message/>`, answered once the XMPP side has had its say.
    fn sip_message(self: &Arc<Self>, request: IncomingRequest) {
        let received = Instant::now();
        let correlation = self.registry.next_correlation();
        let parsed = sip_message_fields(&request);
        let (_, responder) = request.into_responder();
        // RFC 5438 §9: is it a notification, or an IM asking for one?
        let mut imdn_request = None;
        if let Ok(sip) = &parsed {
            match imdn::inspect(
                sip.content_type.as_deref(),
                sip.content_encoding.as_deref(),
                &sip.body,
            ) {
                Ok(Inbound::Notification(n)) => {
                    self.sip_notification(correlation, sip, &n);
                    // §12.1.2: answered like any MESSAGE, whatever it reports.
                    responder.respond(200, None, vec![], None);
                    return;
                }
                Ok(Inbound::Request(r)) => imdn_request = Some((sip.clone(), r)),
                Ok(Inbound::Neither) => {}
                Err(e) => {
                    info!(correlation, error = %e, "malformed IMDN refused");
                    self.metrics.error(e.kind());
                    self.answer_sip(responder, &e.sip_answer());
                    return;
                }
            }
        }
        let translated = match &parsed {
            Ok(m) => im::to_xmpp(m, &self.mapper, &self.options),
            Err(e) => Err(e.clone()),
        };
        let mut message = match translated {
            Ok(m) => m,
            Err(e) => {
                let answer = e.sip_answer();
                info!(correlation, error = %e, code = answer.status.code, "SIP MESSAGE refused");
                self.metrics.error(e.kind());
                self.metrics
                    .message(Direction::SipToXmpp, Outcome::Rejected);
                self.answer_sip(responder, &answer);
                return;
            }
        };
        let to_full_jid = message.to.as_deref().is_some_and(|to| to.contains('/'));
        let stanza_id = format!("parley-{correlation:x}");
        message.id = Some(stanza_id.clone());
        if let Some((sip, request)) = imdn_request {
            self.ask_xmpp_for_receipt(&mut message, &stanza_id, &sip, request);
        }
        if let Ok(sip) = &parsed {
            self.note_sip_composing(sip, &message);
        }
        // One line ties the SIP Call-ID (carried as <thread/>) to the stanza id.
        debug!(
            correlation,
            call_id = ?message.thread,
            stanza_id = %stanza_id,
            "SIP MESSAGE → XMPP"
        );
        if !self.xmpp.is_connected() {
            // Handing the message to a queue nobody reads would make the 200 a lie.
            self.metrics
                .message(Direction::SipToXmpp, Outcome::Unavailable);
            respond_xmpp_unavailable(responder);
            return;
        }
        self.registry.park_sip(
            stanza_id.clone(),
            PendingSip {
                responder,
                deadline: received + self.delivery_window,
                received,
                correlation,
                to_full_jid,
            },
        );
        match self.xmpp.try_send(Stanza::Message(message)) {
            Ok(()) => {
                self.metrics
                    .translated(Direction::SipToXmpp, received.elapsed().as_secs_f64());
            }
            Err(e) => {
                if let Some(p) = self.registry.take_sip(&stanza_id) {
                    warn!(correlation, error = %e, "component queue refused the message");
                    self.metrics.error(e.kind());
                    self.metrics
                        .message(Direction::SipToXmpp, Outcome::Unavailable);
                    p.responder
                        .respond(503, None, vec![("Retry-After".into(), "5".into())], None);
                }
            }
        }
    }

    /// Close delivery windows that have passed: no error came back, so 200 (RFC 7572 §5).
    pub fn reap(&self, now: Instant) {
        self.lanes.reap();
        self.reap_receipts(now);
        self.expire_composing(now);
        for (id, p) in self.registry.take_expired_sip(now) {
            debug!(correlation = p.correlation, %id, "delivery window closed: 200");
            self.metrics
                .message(Direction::SipToXmpp, Outcome::Delivered);
            p.responder.respond(200, None, vec![], None);
        }
        self.gauges();
    }

    /// Answer every waiting SIP transaction now (shutdown). Their stanzas were
    /// handed to the component queue, which is written out before the stream
    /// closes, so they get their 200 (RFC 7572 §5) — unless the stream is
    /// down: then the queue dies with the process, and the sender gets 503 +
    /// Retry-After (RFC 3261 §21.5.4) to send again rather than a 200 that
    /// would lose the message.
    pub fn flush_pending(&self) {
        let connected = self.xmpp.is_connected();
        for (_, p) in self.registry.take_all_sip() {
            if connected {
                self.metrics
                    .message(Direction::SipToXmpp, Outcome::Delivered);
                p.responder.respond(200, None, vec![], None);
            } else {
                self.metrics
                    .message(Direction::SipToXmpp, Outcome::Unavailable);
                respond_xmpp_unavailable(p.responder);
            }
        }
        self.gauges();
    }

    fn gauges(&self) {
        self.metrics
            .registry_size("pending_sip", self.registry.pending_sip_len());
        self.metrics
            .registry_size("pending_xmpp", self.registry.pending_xmpp_len());
        self.metrics
            .registry_size("sip_subscriptions_out", self.watches.len());
        self.metrics
            .registry_size("sip_subscriptions_in", self.watchers.len());
    }

    /// A stanza arrived from the XMPP server.
    pub fn handle_stanza(self: &Arc<Self>, stanza: Stanza) {
        match stanza {
            Stanza::Message(m) => self.xmpp_message(m),
            Stanza::Iq(iq) => self.xmpp_iq(iq),
            Stanza::Presence(p) => self.xmpp_presence(p),
        }
    }

    fn xmpp_message(self: &Arc<Self>, message: Message) {
        if message.message_type == Some(MessageType::Error) {
            self.xmpp_message_error(message);
            return;
        }
        let received = Instant::now();
        let correlation = self.registry.next_correlation();
        // XEP-0184 <received/>, XEP-0333 <displayed/> → RFC 5438 IMDN.
        self.xmpp_acks(&message);
        let sip = match im::to_sip(&message, &self.mapper) {
            Ok(s) => s,
            // A standalone chat state, receipt or marker has no text: it goes
            // as isComposing (when on), its receipt went above as an IMDN, and
            // bouncing every typing notification would flood the sender with errors.
            Err(e) if !e.should_bounce() => {
                match self.chat_state(&message) {
                    Some(sip) => {
                        self.send_sip_message(correlation, received, message, sip, true, None);
                    }
                    None => debug!(correlation, kind = e.kind(), "XMPP notification not sent"),
                }
                return;
            }
            Err(e) => {
                info!(correlation, error = %e, "XMPP message refused");
                self.metrics.error(e.kind());
                self.metrics
                    .message(Direction::XmppToSip, Outcome::Rejected);
                // Issue 26 §3b: nothing is dropped in silence; what cannot be
                // carried is counted by reason, and its sender told (below).
                if let MappingError::NotCarried(reason) = &e {
                    self.metrics.not_carried(*reason);
                }
                self.bounce(&message, e.stanza_error());
                return;
            }
        };
        let (sip, receipt) = self.with_imdn_request(&message, sip);
        self.send_sip_message(correlation, received, message, sip, false, receipt);
    }

    /// RFC 3994 ↔ XEP-0085: a standalone chat state as isComposing, when enabled.
    fn chat_state(&self, message: &Message) -> Option<SipMessage> {
        if !self.send_chat_states {
            return None;
        }
        im::chat_state_to_sip(message, &self.mapper)
            .ok()
            .flatten()
            // RFC 3994 §4: after a 415 the composer "MUST cease transmitting".
            .filter(|sip| !self.refused(&sip.to).iscomposing)
    }

    /// Send `sip` and report its outcome; a `silent` one (a chat state) never
    /// produces an error stanza, since the sender sent no message to fail.
    fn send_sip_message(
        self: &Arc<Self>,
        correlation: u64,
        received: Instant,
        message: Message,
        sip: SipMessage,
        silent: bool,
        receipt: Option<crate::receipts::Receipt>,
    ) {
        let request = outgoing_message(&sip);
        let peer = sip.to.clone();
        let key = self.registry.track_xmpp(PendingXmpp {
            sender: message.from.clone().unwrap_or_default(),
            stanza_id: message.id.clone(),
            deadline: received + Duration::from_secs(32),
        });
        debug!(
            correlation,
            stanza_id = ?message.id,
            call_id = ?sip.call_id,
            "XMPP message → SIP MESSAGE"
        );
        self.metrics
            .translated(Direction::XmppToSip, received.elapsed().as_secs_f64());
        // The place in the conversation is taken now, in hand-over order.
        let sender = parley_xmpp::jid::bare(message.from.as_deref().unwrap_or_default());
        let mut turn = self
            .lanes
            .next((sender.to_owned(), request.request_uri.clone()));
        let router = Arc::clone(self);
        self.tasks.spawn(async move {
            turn.wait().await;
            let mut result = router
                .sip
                .send_request_in_order(request, turn.transmitted)
                .await;
            if let Some(receipt) = receipt {
                result = router
                    .settle_imdn_request(correlation, receipt, result)
                    .await;
            }
            router.registry.finish_xmpp(key);
            if silent {
                if matches!(&result, Ok(r) if r.status == 415) {
                    router.note_refusal(&peer, crate::receipts::Refusable::IsComposing);
                }
                debug!(correlation, status = ?result.as_ref().map(|r| r.status), "chat state sent");
            } else {
                router.sip_outcome(correlation, &message, result);
            }
            router.gauges();
        });
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
            Ok(r) if (200..300).contains(&r.status) => {
                debug!(correlation, status = r.status, "SIP MESSAGE delivered");
                self.metrics
                    .message(Direction::XmppToSip, Outcome::Delivered);
            }
            Ok(r) => {
                info!(correlation, status = r.status, "SIP MESSAGE failed");
                self.metrics.message(Direction::XmppToSip, Outcome::Failed);
                let contact = r.header("Contact");
                self.bounce(
                    message,
                    sip_status_to_stanza_error(r.status, contact.as_deref()),
                );
            }
            Err(TransactionError::Timeout) => {
                info!(correlation, "SIP MESSAGE timed out");
                self.metrics
                    .message(Direction::XmppToSip, Outcome::TimedOut);
                self.bounce(message, sip_timeout_stanza_error());
            }
            // Shutdown's grace period ran out before the peer answered.
            Err(TransactionError::ShuttingDown) => {
                info!(
                    correlation,
                    "SIP MESSAGE unanswered when the gateway stopped"
                );
                self.metrics
                    .message(Direction::XmppToSip, Outcome::TimedOut);
                self.bounce(message, unanswered_at_shutdown_stanza_error());
            }
            Err(e) => {
                info!(correlation, error = %e, "SIP MESSAGE could not be sent");
                self.metrics.error(e.kind());
                self.metrics
                    .message(Direction::XmppToSip, Outcome::Unavailable);
                self.bounce(
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
        let Some(p) = self.registry.take_sip(id) else {
            debug!(%id, "error for a message no longer waiting");
            // Answered 200 already: a negative-delivery IMDN, if asked for.
            self.late_xmpp_error(&message);
            return;
        };
        // Answered with an error: RFC 5438 §12.1.3.1, no IMDN may follow.
        self.forget_receipt(id);
        let error = message
            .error
            .unwrap_or_else(|| StanzaError::new(DefinedCondition::UndefinedCondition));
        let scope = if p.to_full_jid {
            JidScope::Full
        } else {
            JidScope::Bare
        };
        let answer = message_error_to_sip(&error, scope, &self.mapper);
        info!(
            correlation = p.correlation,
            condition = error.condition.name(),
            code = answer.status.code,
            "XMPP refused the message"
        );
        self.metrics.message(Direction::SipToXmpp, Outcome::Failed);
        self.answer_sip(p.responder, &answer);
        self.gauges();
    }

    /// IQs to SIP users at the component domain: XEP-0030 disco is answered
    /// on their behalf (`disco.rs`); nothing else is handled yet.
    fn xmpp_iq(&self, iq: Iq) {
        if let Some(reply) = self.user_disco(&iq) {
            if let Err(e) = self.xmpp.try_send(Stanza::Iq(reply)) {
                self.metrics.error(e.kind());
            }
            return;
        }
        if matches!(iq.iq_type, IqType::Get | IqType::Set) {
            let reply = Iq {
                from: iq.to,
                to: iq.from,
                id: iq.id,
                iq_type: IqType::Error,
                payload: None,
                error: Some(StanzaError::new(DefinedCondition::ServiceUnavailable)),
            };
            if let Err(e) = self.xmpp.try_send(Stanza::Iq(reply)) {
                self.metrics.error(e.kind());
            }
        }
    }

    /// Send `message` back to its sender as `type='error'` (RFC 6120 §8.2).
    fn bounce(&self, message: &Message, error: StanzaError) {
        let Some(sender) = message.from.clone() else {
            return;
        };
        let reply = Message {
            from: message
                .to
                .clone()
                .or_else(|| Some(self.component_domain.clone())),
            to: Some(sender),
            id: message.id.clone(),
            message_type: Some(MessageType::Error),
            body: message.body.clone(),
            error: Some(error),
            ..Message::default()
        };
        if let Err(e) = self.xmpp.try_send(Stanza::Message(reply)) {
            self.metrics.error(e.kind());
        }
    }

    /// Send `answer` with the header fields its status requires (RFC 3261:
    /// a 401/407 challenge, a 405 Allow, a 3xx Contact, a 415 Accept). A
    /// challenge's realm is Parley's SIP domain and its nonce fresh and random.
    fn answer_sip(&self, responder: Responder, answer: &SipAnswer) {
        let headers = answer.header_fields(&self.mapper.sip_domain, rand::random());
        responder.respond(
            answer.status.code,
            Some(answer.status.reason),
            headers,
            None,
        );
    }
}

/// 503 + Retry-After (RFC 3261 §21.5.4) for a MESSAGE whose stanza cannot
/// reach the XMPP side (the component stream is down): a 200 would claim a
/// hand-over that did not happen.
fn respond_xmpp_unavailable(responder: Responder) {
    responder.respond(
        503,
        Some("XMPP Server Unavailable"),
        vec![("Retry-After".into(), "30".into())],
        None,
    );
}

/// Read the RFC 7572 Table 2 (SIP → XMPP) fields off a SIP MESSAGE.
fn sip_message_fields(
    request: &IncomingRequest,
) -> Result<SipMessage, parley_mapping::MappingError> {
    Ok(SipMessage {
        request_uri: SipAddress::parse(&request.request_uri())?,
        from: SipAddress::parse(&request.from_uri())?,
        to: SipAddress::parse(&request.to_uri())?,
        from_display: request.from_display(),
        call_id: Some(request.call_id().to_owned()),
        subject: request.header("Subject"),
        content_type: request.header("Content-Type"),
        content_encoding: request.header("Content-Encoding"),
        content_language: request.header("Content-Language"),
        body: request.body().to_vec(),
    })
}

/// RFC 7572 Table 1 (XMPP → SIP): the SIP MESSAGE for an XMPP message.
pub(crate) fn outgoing_message(sip: &SipMessage) -> OutgoingRequest {
    let mut headers = Vec::new();
    if let Some(s) = &sip.subject {
        headers.push(("Subject".to_owned(), s.clone()));
    }
    if let Some(l) = &sip.content_language {
        headers.push(("Content-Language".to_owned(), l.clone()));
    }
    let content_type = sip
        .content_type
        .clone()
        .unwrap_or_else(|| "text/plain;charset=UTF-8".to_owned());
    OutgoingRequest {
        method: "MESSAGE".to_owned(),
        request_uri: sip.request_uri.to_string(),
        from: sip.from.to_string(),
        to: sip.to.to_string(),
        call_id: sip.call_id.clone(),
        headers,
        body: Some((content_type, sip.body.clone().into())),
    }
}

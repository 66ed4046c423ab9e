//! Receipts across the gateway: RFC 5438 IMDN ↔ XEP-0184 delivery receipts
//! and XEP-0333 displayed markers, and what SIP peers refused with 415.
//!
//! XMPP → SIP: a `<message/>` with `<request xmlns='urn:xmpp:receipts'/>`
//! (and/or `<markable/>`) goes as `message/cpim` with the RFC 5438 §7.1.1
//! headers; the Message-ID is remembered, and the IMDN that comes back
//! becomes `<received id/>` (`<displayed id/>`) to the sender. A peer that
//! answers 415 to CPIM is remembered and gets the message again as plain text
//! without the request (RFC 3261 §21.4.13): no receipt will ever come, and
//! none is invented.
//!
//! SIP → XMPP: a CPIM IM asking for positive-delivery (display) reaches XMPP
//! with `<request/>` (`<markable/>`) under the stanza id Parley gave it; the
//! client's `<received/>` (`<displayed/>`) becomes the IMDN, sent to the SIP
//! sender (§12.1.3.1). Parley never reports delivery because it got a 2xx or
//! handed a stanza over (§12.2: "MUST NOT").

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;
use tracing::{debug, info};

use parley_mapping::address::{Jid, SipAddress};
use parley_mapping::cpim::CpimAddress;
use parley_mapping::imdn::{self, DispositionRequest, Imdn, ImdnRequest, NotificationKind, Status};
use parley_mapping::message::SipMessage;
use parley_sip::{Response, StatusCode, TransactionError};
use parley_xmpp::stanza::{Message, Stanza};

use super::wire::outgoing_message;
use crate::links::{Links, peer_key};
use crate::metrics::{Direction, ReceiptEvent};
use crate::registry::{AwaitingImdn, AwaitingReceipt, Refusable};

/// How long a receipt is waited for, each way. RFC 5438 §7.1.3 sets no limit
/// ("IMDNs may legitimately never be received"); design §4 wants one.
pub(crate) const RECEIPT_TTL: Duration = Duration::from_secs(3600);
/// A MESSAGE sent with an IMDN request: what to send instead if the peer refuses CPIM.
#[derive(Debug, Clone)]
pub(crate) struct Receipt {
    /// The same message as plain text, without the request.
    pub(crate) plain: SipMessage,
    /// The IMDN Message-ID it carried (the registry key).
    pub(crate) message_id: String,
}

/// What a receipt's MESSAGE leaves to do once answered ([`Receipts::settle`]).
// Returned and matched at once for every XMPP → SIP message: boxing the
// response would be an allocation per message to save one move.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Settled {
    /// Nothing more: the message's outcome.
    Done(Result<Response, TransactionError>),
    /// A 415 to `message/cpim`: send this plain-text copy, whose outcome
    /// is the message's.
    Resend(Box<SipMessage>),
}

/// Receipts in flight both ways, kept in the registry (`imdn_out`, `receipts_in`).
pub(crate) struct Receipts {
    links: Arc<Links>,
    /// `messages.receipts`: off, no receipt is asked for or carried.
    enabled: bool,
}

impl Receipts {
    pub(crate) fn new(links: Arc<Links>, enabled: bool) -> Self {
        Self { links, enabled }
    }

    /// XMPP → SIP: wrap `sip` in CPIM with an IMDN request when the message
    /// asks for a receipt or displayed marker, receipts are on, and the peer
    /// has not refused CPIM. `sip` becomes what to send; when wrapped, the
    /// plain fallback is returned.
    pub(crate) fn with_imdn_request(
        &self,
        message: &Message,
        sip: &mut SipMessage,
    ) -> Option<Box<Receipt>> {
        let wanted = imdn::xmpp_request(message.id.as_deref(), &message.payloads);
        if !self.enabled || wanted.is_empty() {
            return None;
        }
        if self.links.refused(&sip.to).cpim {
            // baresip: 415 to CPIM. Plain text, and no receipt promised.
            debug!(peer = %sip.to, "peer refuses CPIM: receipt request dropped");
            self.links
                .metrics
                .receipt(Direction::XmppToSip, ReceiptEvent::Dropped);
            return None;
        }
        let (Some(sender), Some(recipient), Some(stanza_id)) =
            (&message.from, &message.to, &message.id)
        else {
            return None;
        };
        let now = Instant::now();
        let message_id = imdn::message_id(rand::random());
        let waiting = AwaitingImdn {
            sender: sender.clone(),
            recipient: recipient.clone(),
            stanza_id: stanza_id.clone(),
            message_type: message.message_type,
            peer: sip.to.without_params(),
            request: wanted,
        };
        if !self
            .links
            .registry
            .imdn_out
            .insert(message_id.clone(), waiting, now + RECEIPT_TTL, now)
        {
            info!("receipt registry full: message sent without IMDN request");
            return None;
        }
        let cpim = imdn::request_cpim(
            &CpimAddress {
                name: None,
                uri: sip.from.without_params().to_string(),
            },
            &CpimAddress {
                name: None,
                uri: sip.to.to_string(),
            },
            &now_date_time(),
            &message_id,
            wanted,
            sip.content_type
                .as_deref()
                .unwrap_or("text/plain;charset=UTF-8"),
            sip.body.clone(),
        );
        let wrapped = SipMessage {
            content_type: Some("message/cpim".to_owned()),
            body: cpim.to_bytes(),
            ..sip.clone()
        };
        self.links
            .metrics
            .receipt(Direction::XmppToSip, ReceiptEvent::Requested);
        // Boxed: rare, and by value it made every message's wait as large
        // (issue 24).
        Some(Box::new(Receipt {
            plain: std::mem::replace(sip, wrapped),
            message_id,
        }))
    }

    /// XMPP → SIP: the final response to a MESSAGE that carried an IMDN
    /// request. 415 → remember, forget the request, and send it again as
    /// plain text once (RFC 3261 §21.4.13): [`Settled::Resend`], whose
    /// outcome ([`Receipts::resend`]) is then the message's; any other
    /// failure → forget the request (no notification can follow). Not
    /// async: only the resend waits, so only it needs a task (issue 24).
    pub(crate) fn settle(
        &self,
        correlation: u64,
        receipt: Receipt,
        result: Result<Response, TransactionError>,
    ) -> Settled {
        let now = Instant::now();
        match &result {
            Ok(r) if r.is_success() => Settled::Done(result),
            Ok(r) if StatusCode::UNSUPPORTED_MEDIA_TYPE == r.status => {
                info!(
                    correlation,
                    "peer refused message/cpim (415): resending as text/plain without receipt request"
                );
                self.links.note_refusal(&receipt.plain.to, Refusable::Cpim);
                self.links.registry.imdn_out.take(&receipt.message_id, now);
                self.links
                    .metrics
                    .receipt(Direction::XmppToSip, ReceiptEvent::Dropped);
                // The same conversation: the retry keeps the Call-ID (RFC 7572 ↔ <thread/>).
                let mut plain = receipt.plain;
                if plain.call_id.is_none() {
                    plain.call_id = r.header("Call-ID");
                }
                Settled::Resend(Box::new(plain))
            }
            _ => {
                self.links.registry.imdn_out.take(&receipt.message_id, now);
                Settled::Done(result)
            }
        }
    }

    /// Sends a [`Settled::Resend`]'s message; its outcome is the message's.
    pub(crate) async fn resend(&self, plain: &SipMessage) -> Result<Response, TransactionError> {
        self.links.sip.send_request(outgoing_message(plain)).await
    }

    /// SIP → XMPP: an IMDN about a MESSAGE Parley sent for an XMPP user
    /// becomes `<received/>` / `<displayed/>` to that user (RFC 5438 §7.1.2:
    /// matched by Message-ID). Anything that matches nothing is dropped.
    pub(crate) fn sip_notification(&self, correlation: u64, sip: &SipMessage, notification: &Imdn) {
        let now = Instant::now();
        let key = notification.message_id.as_str();
        let Some(mut waiting) = self.links.registry.imdn_out.get(key, now) else {
            debug!(correlation, "IMDN for no message in flight: ignored");
            self.links
                .metrics
                .receipt(Direction::XmppToSip, ReceiptEvent::Unmatched);
            return;
        };
        // Only the user the message went to can report on it.
        if !same_user(&waiting.peer, &sip.from) {
            info!(correlation, from = %sip.from, "IMDN from someone else than the recipient: ignored");
            self.links
                .metrics
                .receipt(Direction::XmppToSip, ReceiptEvent::Unmatched);
            return;
        }
        let still = match notification.kind {
            NotificationKind::Delivery => &mut waiting.request.positive_delivery,
            NotificationKind::Display => &mut waiting.request.display,
            NotificationKind::Processing => {
                debug!(correlation, "processing notification: nothing to tell XMPP");
                return;
            }
        };
        if !*still {
            debug!(correlation, kind = ?notification.kind, "IMDN not (or no longer) awaited");
            self.links
                .metrics
                .receipt(Direction::XmppToSip, ReceiptEvent::Unmatched);
            return;
        }
        // §7.2.1: at most one IMDN per disposition type.
        *still = false;
        let Some(ack) = imdn::xmpp_ack_payload(notification, &waiting.stanza_id) else {
            // failed/forbidden/error: XEP-0184 has no negative receipt, and a
            // "received" would be false. Nothing is said.
            info!(correlation, status = ?notification.status, "negative IMDN: no XMPP ack");
            self.forget_or_keep_imdn(key, waiting, now);
            return;
        };
        let event = match notification.kind {
            NotificationKind::Display => ReceiptEvent::Displayed,
            _ => ReceiptEvent::Delivered,
        };
        let reply = Message {
            from: Some(waiting.recipient.clone()),
            to: Some(waiting.sender.clone()),
            message_type: waiting.message_type,
            payloads: vec![ack],
            ..Message::default()
        };
        debug!(correlation, stanza_id = %waiting.stanza_id, "IMDN → XMPP ack");
        self.forget_or_keep_imdn(key, waiting, now);
        match self.links.xmpp.try_send(Stanza::Message(reply)) {
            Ok(()) => self.links.metrics.receipt(Direction::XmppToSip, event),
            Err(e) => self.links.metrics.error(e.kind()),
        }
    }

    fn forget_or_keep_imdn(&self, key: &str, waiting: AwaitingImdn, now: Instant) {
        let left = waiting.request.positive_delivery || waiting.request.display;
        if let Some(_old) = self.links.registry.imdn_out.take(key, now)
            && left
        {
            self.links
                .registry
                .imdn_out
                .insert(key.to_owned(), waiting, now + RECEIPT_TTL, now);
        }
    }

    /// SIP → XMPP: a forwarded IM asked for IMDNs; ask the XMPP recipient
    /// with `<request/>` (positive-delivery) and `<markable/>` (display), and
    /// remember the stanza id. negative-delivery needs no XMPP element: a
    /// late XMPP error answers it ([`Receipts::late_xmpp_error`]).
    pub(crate) fn ask_xmpp(
        &self,
        message: &mut Message,
        stanza_id: &str,
        sip: &SipMessage,
        request: ImdnRequest,
    ) {
        if !self.enabled {
            return;
        }
        let asked = request.request;
        let carried = DispositionRequest {
            positive_delivery: asked.positive_delivery,
            negative_delivery: asked.negative_delivery,
            display: asked.display,
            processing: false,
        };
        if carried.is_empty() {
            return;
        }
        let Some(recipient) = message
            .to
            .as_deref()
            .and_then(|to| Jid::parse(to).ok())
            .map(|j| j.bare().to_string())
        else {
            return;
        };
        let now = Instant::now();
        let waiting = AwaitingReceipt {
            request,
            remaining: carried,
            // §12.1.3.1: the IMDN's Request-URI and To are "the address
            // that appeared in the SIP From header field in the IM" — its
            // GRUU too, when the sender wrote from one.
            sip_sender: sip.from.aor_or_gruu(),
            // The address the IM was sent to, GRUU kept: linphone looks for
            // the IM in the chat room of the IMDN's From, not by Message-ID
            // alone (RFC 5438 §7.1.2), so an IM to `;gr=` must be answered
            // from `;gr=` (and one to the AOR from the AOR).
            sip_recipient: sip.to.aor_or_gruu(),
            xmpp_recipient: recipient,
        };
        if !self.links.registry.receipts_in.insert(
            stanza_id.to_owned(),
            waiting,
            now + RECEIPT_TTL,
            now,
        ) {
            info!("receipt registry full: IMDN request not carried to XMPP");
            return;
        }
        message
            .payloads
            .extend(imdn::xmpp_request_payloads(carried));
        self.links
            .metrics
            .receipt(Direction::SipToXmpp, ReceiptEvent::Requested);
    }

    /// XMPP → SIP: `<received id/>` / `<displayed id/>` for a message Parley
    /// forwarded from SIP becomes the IMDN the SIP sender asked for.
    pub(crate) fn xmpp_acks(&self, message: &Message) {
        if !self.enabled {
            return;
        }
        for ack in imdn::xmpp_acks(&message.payloads) {
            let status = match ack.kind {
                NotificationKind::Display => Status::Displayed,
                _ => Status::Delivered,
            };
            self.send_imdn(&ack.id, message.from.as_deref(), ack.kind, status);
        }
    }

    /// SIP → XMPP, negative-delivery: an XMPP error that arrives after the
    /// SIP MESSAGE was answered 200 becomes a `failed` delivery notification
    /// when the sender asked for one (RFC 5438 §12.1.3.1: "SHOULD generate a
    /// negative-delivery notification if it learnt that the final recipient
    /// … did not receive the IM").
    pub(crate) fn late_xmpp_error(&self, message: &Message) {
        if let Some(id) = message.id.as_deref() {
            self.send_imdn(
                id,
                message.from.as_deref(),
                NotificationKind::Delivery,
                Status::Failed,
            );
        }
    }

    /// Drop what was waiting for `stanza_id` (its MESSAGE got a non-2xx
    /// answer: §12.1.3.1 "MUST NOT generate a negative-delivery notification").
    pub(crate) fn forget(&self, stanza_id: &str) {
        self.links
            .registry
            .receipts_in
            .take(stanza_id, Instant::now());
    }

    fn send_imdn(
        &self,
        stanza_id: &str,
        from: Option<&str>,
        kind: NotificationKind,
        status: Status,
    ) {
        let now = Instant::now();
        let Some(mut waiting) = self.links.registry.receipts_in.get(stanza_id, now) else {
            debug!(%stanza_id, "XMPP ack for no message in flight: ignored");
            self.links
                .metrics
                .receipt(Direction::SipToXmpp, ReceiptEvent::Unmatched);
            return;
        };
        let from_bare = from
            .and_then(|f| Jid::parse(f).ok())
            .map(|j| j.bare().to_string());
        if from_bare.as_deref() != Some(waiting.xmpp_recipient.as_str()) {
            info!(%stanza_id, "XMPP ack from someone else than the recipient: ignored");
            self.links
                .metrics
                .receipt(Direction::SipToXmpp, ReceiptEvent::Unmatched);
            return;
        }
        let flag = match (kind, status) {
            (NotificationKind::Display, _) => &mut waiting.remaining.display,
            (_, Status::Delivered) => &mut waiting.remaining.positive_delivery,
            _ => &mut waiting.remaining.negative_delivery,
        };
        if !*flag {
            debug!(%stanza_id, ?kind, ?status, "IMDN not asked for (or already sent)");
            return;
        }
        *flag = false;
        // §7.2.1: one IMDN per disposition type — after delivered, no failed.
        if kind == NotificationKind::Delivery {
            waiting.remaining.positive_delivery = false;
            waiting.remaining.negative_delivery = false;
        }
        let imdn = Imdn::answering(&waiting.request, kind, status);
        let me = CpimAddress {
            name: None,
            uri: waiting.sip_recipient.to_string(),
        };
        let them = waiting.request.from.clone().unwrap_or(CpimAddress {
            name: None,
            uri: waiting.sip_sender.to_string(),
        });
        let cpim = imdn::notification_cpim(
            &me,
            &them,
            &now_date_time(),
            &imdn::message_id(rand::random()),
            &imdn,
        );
        // §12.1.3.1: Request-URI and To are the IM's SIP From.
        let sip = SipMessage {
            request_uri: waiting.sip_sender.clone(),
            from: waiting.sip_recipient.clone(),
            to: waiting.sip_sender.clone(),
            from_display: None,
            call_id: None,
            subject: None,
            content_type: Some("message/cpim".to_owned()),
            content_encoding: None,
            content_language: None,
            body: cpim.to_bytes(),
        };
        let left = waiting.remaining;
        if self
            .links
            .registry
            .receipts_in
            .take(stanza_id, now)
            .is_some()
            && !left.is_empty()
        {
            self.links.registry.receipts_in.insert(
                stanza_id.to_owned(),
                waiting,
                now + RECEIPT_TTL,
                now,
            );
        }
        let event = match status {
            Status::Displayed => ReceiptEvent::Displayed,
            _ => ReceiptEvent::Delivered,
        };
        self.links.metrics.receipt(Direction::SipToXmpp, event);
        debug!(%stanza_id, ?kind, ?status, "XMPP ack → IMDN");
        let links = Arc::clone(&self.links);
        let request = outgoing_message(&sip);
        self.links.tasks.spawn(async move {
            let result = links.sip.send_request(request).await;
            debug!(status = ?result.as_ref().map(|r| r.status), "IMDN sent");
        });
    }

    /// Forget expired receipts and refusals (the reaper's tick).
    pub(crate) fn reap(&self, now: Instant) {
        self.links.registry.imdn_out.reap(now);
        self.links.registry.receipts_in.reap(now);
        self.links.registry.refusals.reap(now);
        self.links
            .metrics
            .registry_size("imdn_out", self.links.registry.imdn_out.len());
        self.links
            .metrics
            .registry_size("receipts_in", self.links.registry.receipts_in.len());
        self.links
            .metrics
            .registry_size("sip_refusals", self.links.registry.refusals.len());
    }
}

/// Whether two SIP addresses name the same user (user part and host).
fn same_user(a: &SipAddress, b: &SipAddress) -> bool {
    peer_key(a) == peer_key(b)
}

/// Now as the CPIM DateTime (RFC 5438 §7.1.1.2).
fn now_date_time() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    imdn::date_time(secs)
}

//! The gateway's links to the outside: the SIP endpoint, the component
//! stream, the registry of what is in flight, metrics, the store and the task
//! tracker, with the address mapper they all translate through.
//!
//! Every handler module (`message`, `presence`, `disco`) holds one shared
//! [`Links`] and its own state; none holds another's. What more than one
//! handler needs to *say* (a stanza, a presence, an error reply, a SIP final
//! response with the header fields its status requires) and what more than
//! one needs to *know* about a SIP peer (what it refused with 415) is here.

use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use parley_mapping::address::{AddressMapper, Jid, SipAddress};
use parley_mapping::error::SipAnswer;
use parley_sip::{Endpoint, Responder, StatusCode};
use parley_xmpp::component::ComponentHandle;
use parley_xmpp::stanza::{Message, MessageType, Presence, PresenceType, Stanza, StanzaError};

use crate::metrics::Metrics;
use crate::registry::{REFUSAL_TTL, Refusable, Refusals, Registry};
use crate::store::Store;

/// What every handler talks through.
pub(crate) struct Links {
    /// RFC 7247 addresses both ways.
    pub(crate) mapper: AddressMapper,
    /// The component's own domain (the `from` of what Parley says itself).
    pub(crate) component_domain: String,
    /// The SIP user agent.
    pub(crate) sip: Endpoint,
    /// The component stream to the XMPP server.
    pub(crate) xmpp: ComponentHandle,
    /// What is in flight between the two sides (design §4).
    pub(crate) registry: Registry<Responder>,
    /// Prometheus metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// What survives a restart.
    pub(crate) store: Store,
    /// Every task a handler starts: shutdown waits for them (`drain.rs`).
    pub(crate) tasks: TaskTracker,
}

impl Links {
    /// Queue `stanza` on the component stream; a full or closed queue is counted.
    pub(crate) fn send(&self, stanza: Stanza) {
        if let Err(e) = self.xmpp.try_send(stanza) {
            self.metrics.error(e.kind());
        }
    }

    /// `p` from `from` to `to`.
    pub(crate) fn send_presence(&self, from: &Jid, to: &Jid, mut p: Presence) {
        p.from = Some(from.to_string());
        p.to = Some(to.to_string());
        self.send(Stanza::Presence(p));
    }

    /// A presence of type `t` and nothing else, from `from` to `to`.
    pub(crate) fn send_presence_typed(&self, from: &Jid, to: &Jid, t: PresenceType) {
        self.send_presence(from, to, typed(t));
    }

    /// Send `message` back to its sender as `type='error'` (RFC 6120 §8.2).
    pub(crate) fn bounce(&self, message: &Message, error: StanzaError) {
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
        self.send(Stanza::Message(reply));
    }

    /// Send `answer` with the header fields its status requires (RFC 3261:
    /// a 401/407 challenge, a 405 Allow, a 3xx Contact, a 415 Accept). A
    /// challenge's realm is Parley's SIP domain and its nonce fresh and random.
    pub(crate) fn answer_sip(&self, responder: Responder, answer: &SipAnswer) {
        let headers = answer.header_fields(&self.mapper.sip_domain, rand::random());
        // The mapping layer's statuses are final codes from its tables
        // (300 to 699); one that were not would be Parley's own fault.
        let status =
            StatusCode::new(answer.status.code).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
        responder.respond(status, Some(answer.status.reason), headers, None);
    }

    /// What `peer` has refused (nothing, unless a 415 is remembered).
    pub(crate) fn refused(&self, peer: &SipAddress) -> Refusals {
        self.registry
            .refusals
            .get(&peer_key(peer), Instant::now())
            .unwrap_or_default()
    }

    /// Remember that `peer` answered 415 to `what` (RFC 3994 §4 for
    /// isComposing: the composer "MUST cease transmitting status messages").
    pub(crate) fn note_refusal(&self, peer: &SipAddress, what: Refusable) {
        let now = Instant::now();
        let key = peer_key(peer);
        let mut r = self.registry.refusals.get(&key, now).unwrap_or_default();
        let label = match what {
            Refusable::Cpim => {
                r.cpim = true;
                "cpim"
            }
            Refusable::IsComposing => {
                r.iscomposing = true;
                "iscomposing"
            }
        };
        self.metrics.peer_refusal(label);
        self.registry
            .refusals
            .insert(key, r, now + REFUSAL_TTL, now);
    }
}

/// A presence of type `t` with nothing else in it.
pub(crate) fn typed(t: PresenceType) -> Presence {
    Presence {
        presence_type: Some(t),
        ..Presence::default()
    }
}

/// A peer's address of record, as the refusal key: no parameters, case-folded.
pub(crate) fn peer_key(peer: &SipAddress) -> String {
    peer.without_params().to_string().to_ascii_lowercase()
}

//! The room's messages to the phone (RFC 7702 §6.3, RFC 7701 §6.1–§6.2):
//! which phone gets a copy (the wrapped types it takes, private messages
//! for each session of one URI), and the SEND itself, held until the
//! phone's connection binds the session.

use parley_msrp::endpoint::SessionHandle;
use parley_msrp::session::NewMessage;
use parley_msrp::wire::{FailureReport, MessageId, SuccessReport};
use parley_xmpp::stanza::{DefinedCondition, Message, MessageType, StanzaError};
use tracing::{debug, info};

use super::occupancy::Task;
use super::translate;

/// SENDs held until the phone's connection binds the session, at most
/// (the room's history arrives before the phone connects).
const MAX_HELD: usize = 32;

impl Task {
    /// A private message the room gave this session or another of this SIP
    /// user in the room (RFC 7701 §6.2, `Groupchat::xmpp`): to this phone,
    /// which takes private messages and text (checked again here). Nothing
    /// goes back to XMPP: a phone got it.
    pub(super) fn private_copy(&mut self, m: &Message, handle: Option<&SessionHandle>) {
        if self.o.private_messages && self.o.takes_wrapped_text {
            self.forward(m, handle);
        }
    }

    /// RFC 7701 §6.1: the switch "MUST evaluate the wrapped media types
    /// that the recipient is able to accept" and, aware that one is not
    /// acceptable, "SHOULD NOT forward this message to that endpoint".
    /// Parley wraps text/plain; a phone that takes no text inside CPIM
    /// gets none. A private message's sender learns it: RFC 7247 §7 maps
    /// SIP's 415 (Unsupported Media Type) to `<not-acceptable/>`, RFC 6120
    /// §8.3.3.9 "the request does not meet criteria defined by the
    /// recipient". A groupchat message is skipped for this phone only
    /// (the room delivered it to everyone else): counted, logged once.
    pub(super) fn not_for_this_phone(&mut self, m: &Message) {
        if m.body.is_none() {
            return;
        }
        if m.message_type == Some(MessageType::Groupchat) {
            self.skipped_wrapped += 1;
            if self.skipped_wrapped == 1 {
                info!(call_id = %self.o.call_id, "the phone takes no text inside CPIM: the room's messages are not copied to it");
            }
            self.shared()
                .links
                .metrics
                .error("groupchat_wrapped_type_refused");
        } else {
            self.shared()
                .links
                .bounce(m, StanzaError::new(DefinedCondition::NotAcceptable));
        }
    }

    /// The room's message `m` as a SEND to the phone (§6.3).
    pub(super) fn forward(&mut self, m: &Message, handle: Option<&SessionHandle>) {
        let Some(body) = translate::room_message(&self.o.room_uri, &self.o.phone_uri, m) else {
            return;
        };
        let message = NewMessage {
            message_id: fresh_message_id(),
            content_type: "message/cpim".into(),
            body: body.into(),
            success_report: SuccessReport::No,
            failure_report: FailureReport::No,
        };
        match handle {
            Some(handle) => self.send(handle, message),
            None => self.hold(message),
        }
    }

    /// RFC 7701 §11: "when the SIP UA is not chat room aware, the MSRP
    /// switch SHOULD send a regular MSRP message indicating that the SIP UA
    /// is actually part of a chat room ... [and] a regular MSRP text
    /// message including the list of participants". Sent when the roster
    /// is complete (the room's self-presence), ahead of the room's history,
    /// held until the phone's connection binds the session.
    pub(super) fn tell_unaware_phone(&mut self) {
        if !self.o.takes_wrapped_text {
            return;
        }
        let others: Vec<&str> = self
            .o
            .roster
            .occupants()
            .iter()
            .filter(|o| o.available && o.nickname != self.o.nickname)
            .map(|o| o.nickname.as_str())
            .collect();
        let notices = translate::room_notices(
            &self.o.room,
            &self.o.room_uri,
            &self.o.phone_uri,
            &self.o.nickname,
            &others,
        );
        for body in notices {
            self.hold(NewMessage {
                message_id: fresh_message_id(),
                content_type: "message/cpim".into(),
                body: body.into(),
                success_report: SuccessReport::No,
                failure_report: FailureReport::No,
            });
        }
    }

    fn hold(&mut self, message: NewMessage) {
        if self.held.len() < MAX_HELD {
            self.held.push_back(message);
        } else {
            self.shared()
                .links
                .metrics
                .error("groupchat_history_dropped");
        }
    }

    pub(super) fn send(&mut self, handle: &SessionHandle, message: NewMessage) {
        match handle.send(message.clone()) {
            Ok(()) => {}
            Err(parley_msrp::endpoint::DriverError::NotBound) => self.hold(message),
            Err(e) => {
                debug!(call_id = %self.o.call_id, error = %e, "SEND not queued");
                self.shared().links.metrics.error("msrp_send_refused");
            }
        }
    }
}

/// RFC 4975 §7.1.1: a Message-ID unique within the session; 64 random bits.
fn fresh_message_id() -> MessageId {
    let text = format!("{:016x}", rand::random::<u64>());
    MessageId::new(&text).expect("16 hex digits are an ident")
}

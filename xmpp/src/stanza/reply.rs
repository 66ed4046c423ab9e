//! RFC 6120 §8.3.1: answering a stanza with an error of the same kind.
//!
//! "The entity that returns an error stanza MUST ... set the 'to' address ...
//! to the address of the sender" and keep the 'id'; "An entity that receives
//! an error stanza MUST NOT respond to the stanza with a further error stanza"
//! (rule 8), so an error is never answered.

use super::{Iq, IqType, Message, MessageType, Presence, PresenceType, Stanza, StanzaError};

impl Stanza {
    /// The `from` attribute.
    pub fn from(&self) -> Option<&str> {
        match self {
            Stanza::Message(m) => m.from.as_deref(),
            Stanza::Presence(p) => p.from.as_deref(),
            Stanza::Iq(iq) => iq.from.as_deref(),
        }
    }

    /// The `to` attribute.
    pub fn to(&self) -> Option<&str> {
        match self {
            Stanza::Message(m) => m.to.as_deref(),
            Stanza::Presence(p) => p.to.as_deref(),
            Stanza::Iq(iq) => iq.to.as_deref(),
        }
    }

    /// Whether this is an error stanza (`type='error'`).
    pub fn is_error(&self) -> bool {
        match self {
            Stanza::Message(m) => m.message_type == Some(MessageType::Error),
            Stanza::Presence(p) => p.presence_type == Some(PresenceType::Error),
            Stanza::Iq(iq) => iq.iq_type == IqType::Error,
        }
    }

    /// The error reply to this stanza, from its `to` (or `fallback_from`) back
    /// to its sender; `None` for an error stanza (rule 8) or one without `from`.
    /// The payload is not echoed (RFC 6120 §8.3.1 rule 3 makes it optional).
    pub fn error_reply(&self, error: StanzaError, fallback_from: &str) -> Option<Stanza> {
        if self.is_error() {
            return None;
        }
        let to = Some(self.from()?.to_owned());
        let from = Some(self.to().unwrap_or(fallback_from).to_owned());
        Some(match self {
            Stanza::Message(m) => Stanza::Message(Message {
                from,
                to,
                id: m.id.clone(),
                message_type: Some(MessageType::Error),
                error: Some(error),
                ..Message::default()
            }),
            Stanza::Presence(p) => Stanza::Presence(Presence {
                from,
                to,
                id: p.id.clone(),
                presence_type: Some(PresenceType::Error),
                error: Some(error),
                ..Presence::default()
            }),
            Stanza::Iq(iq) => Stanza::Iq(Iq {
                from,
                to,
                id: iq.id.clone(),
                iq_type: IqType::Error,
                payload: None,
                error: Some(error),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::DefinedCondition;
    use super::*;

    #[test]
    fn error_reply_goes_back_to_the_sender_with_the_same_id() {
        let m = Stanza::Message(Message {
            from: Some("juliet@xmpp.example/balcony".into()),
            to: Some("bob@sip.example".into()),
            id: Some("m1".into()),
            body: Some("hi".into()),
            ..Message::default()
        });
        let reply = m
            .error_reply(
                StanzaError::new(DefinedCondition::ResourceConstraint),
                "sip.example",
            )
            .expect("reply");
        assert_eq!(
            reply.to_xml(),
            "<message from='bob@sip.example' to='juliet@xmpp.example/balcony' id='m1' type='error'>\
             <error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        );
    }

    /// RFC 6120 §8.3.1 rule 8: never answer an error with an error.
    #[test]
    fn error_stanza_gets_no_reply() {
        let e = Stanza::Presence(Presence {
            from: Some("juliet@xmpp.example".into()),
            presence_type: Some(PresenceType::Error),
            ..Presence::default()
        });
        assert!(e.is_error());
        assert_eq!(
            e.error_reply(StanzaError::new(DefinedCondition::Forbidden), "x"),
            None
        );
    }
}

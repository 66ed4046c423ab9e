//! The outgoing side: stanzas waiting for the stream, and the rules they must
//! meet before they are accepted (XEP-0114 §2: `from` in our domain).
//!
//! The bounded channel between `ComponentHandle` and the driver is the queue
//! proper (it gives back-pressure and holds stanzas while disconnected). This
//! file holds the sans-IO parts: the `from` rule and the retry slot that keeps
//! a stanza whose write failed so it goes first on the next stream.

use std::collections::VecDeque;

use crate::jid;
use crate::stanza::Stanza;

/// Why a stanza was not accepted for sending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The queue holds `capacity` stanzas already (only from `try_send`).
    #[error("outgoing queue is full ({capacity} stanzas)")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The component has stopped (shutdown); nothing more will be sent.
    #[error("component endpoint has stopped")]
    Closed,
    /// XEP-0114 §2: the `from` is not in the component's domain, and the
    /// server would close the stream for it.
    #[error("from address is not in the component's domain")]
    ForeignFrom,
}

impl SendError {
    /// A short stable name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::QueueFull { .. } => "queue-full",
            Self::Closed => "closed",
            Self::ForeignFrom => "foreign-from",
        }
    }
}

/// XEP-0114 §2: "The domain identifier portion of the JID contained in the
/// 'from' attribute MUST match the hostname of the component." A stanza
/// without `from` gets the component domain.
pub(crate) fn prepare_from(stanza: &mut Stanza, component_domain: &str) -> Result<(), SendError> {
    let from = match stanza {
        Stanza::Message(m) => &mut m.from,
        Stanza::Presence(p) => &mut p.from,
        Stanza::Iq(iq) => &mut iq.from,
    };
    match from {
        None => {
            *from = Some(component_domain.to_owned());
            Ok(())
        }
        Some(f) if jid::domainpart(f).eq_ignore_ascii_case(component_domain) => Ok(()),
        Some(_) => Err(SendError::ForeignFrom),
    }
}

/// Stanzas taken off the queue whose write did not complete; they go out
/// first, in order, once a stream is up again.
#[derive(Debug, Default)]
pub(crate) struct RetrySlot {
    stanzas: VecDeque<Stanza>,
}

impl RetrySlot {
    /// Keep `stanza` for the next stream (it goes before anything kept later).
    pub(crate) fn push(&mut self, stanza: Stanza) {
        self.stanzas.push_back(stanza);
    }

    /// The next stanza to retry.
    pub(crate) fn pop(&mut self) -> Option<Stanza> {
        self.stanzas.pop_front()
    }

    /// Number of stanzas waiting.
    pub(crate) fn len(&self) -> usize {
        self.stanzas.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stanza::Message;

    fn msg(from: Option<&str>) -> Stanza {
        Stanza::Message(Message {
            from: from.map(str::to_owned),
            to: Some("juliet@xmpp.example".into()),
            ..Default::default()
        })
    }

    #[test]
    fn stanza_without_from_gets_component_domain() {
        let mut s = msg(None);
        prepare_from(&mut s, "sip.example").expect("accepted");
        assert!(matches!(s, Stanza::Message(m) if m.from.as_deref() == Some("sip.example")));
    }

    #[test]
    fn from_user_at_component_domain_is_kept() {
        let mut s = msg(Some("bob@sip.example/phone"));
        prepare_from(&mut s, "sip.example").expect("accepted");
        assert!(
            matches!(s, Stanza::Message(m) if m.from.as_deref() == Some("bob@sip.example/phone"))
        );
    }

    #[test]
    fn from_in_other_domain_is_refused() {
        let mut s = msg(Some("bob@evil.example"));
        assert_eq!(
            prepare_from(&mut s, "sip.example"),
            Err(SendError::ForeignFrom)
        );
        let mut s = msg(Some("bob@sub.sip.example"));
        assert_eq!(
            prepare_from(&mut s, "sip.example"),
            Err(SendError::ForeignFrom)
        );
    }

    #[test]
    fn retry_slot_keeps_order() {
        let mut r = RetrySlot::default();
        r.push(msg(Some("a@sip.example")));
        r.push(msg(Some("b@sip.example")));
        assert!(
            matches!(r.pop(), Some(Stanza::Message(m)) if m.from.as_deref() == Some("a@sip.example"))
        );
        assert_eq!(r.len(), 1);
    }
}

//! RFC 3994 §3.3 on the gateway's receiving side: a SIP user shown as
//! composing to an XMPP user stops being shown so when the indication's
//! refresh interval (120 s without one) runs out with nothing new, since
//! XEP-0085 has no timeout of its own: the XMPP user gets `<paused/>`.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::debug;

use parley_mapping::ContentType;
use parley_mapping::iscomposing::{ComposingState, IsComposing, NS_CHATSTATES};
use parley_mapping::message::SipMessage;
use parley_xmpp::stanza::{Element, Message, MessageType, Stanza};

use crate::links::Links;

/// RFC 3994 §3.3: without `<refresh>`, "it is 120 seconds".
const DEFAULT_REFRESH: Duration = Duration::from_secs(120);

/// SIP senders shown as composing, kept in the registry (`composing`).
pub(crate) struct Composing {
    links: Arc<Links>,
    /// `messages.xmpp_type = "chat"`: `<paused/>` goes as `type='chat'`.
    xmpp_type_chat: bool,
}

impl Composing {
    pub(crate) fn new(links: Arc<Links>, xmpp_type_chat: bool) -> Self {
        Self {
            links,
            xmpp_type_chat,
        }
    }

    /// Note what a SIP MESSAGE forwarded as `message` says about composing
    /// (§3.3): `active` starts (or renews) the refresh timer; `idle` or a
    /// content message ends it ("A status message with status idle is
    /// received", "A content message is received").
    pub(crate) fn note(&self, sip: &SipMessage, content_type: &ContentType, message: &Message) {
        let (Some(from), Some(to)) = (&message.from, &message.to) else {
            return;
        };
        // `content_type` is `sip.content_type` parsed (issue 24).
        let indication = IsComposing::from_sip_body_typed(
            content_type,
            sip.content_encoding.as_deref(),
            &sip.body,
        );
        let active = indication
            .as_ref()
            .is_some_and(|c| c.state == ComposingState::Active);
        // Nobody shown as composing: nothing to end, no key to build or
        // look up (the usual content message, issue 24).
        if !active && self.links.registry.composing.is_empty() {
            return;
        }
        let key = format!("{from}\n{to}");
        let now = Instant::now();
        match indication {
            Some(c) if c.state == ComposingState::Active => {
                let refresh = c
                    .refresh
                    .map_or(DEFAULT_REFRESH, |s| Duration::from_secs(u64::from(s)));
                self.links.registry.composing.insert(
                    key,
                    (from.clone(), to.clone()),
                    now + refresh,
                    now,
                );
            }
            _ => {
                self.links.registry.composing.take(&key, now);
            }
        }
    }

    /// §3.3 "The refresh interval expires": `<paused/>` to the XMPP user.
    pub(crate) fn expire(&self, now: Instant) {
        for (_, (from, to)) in self.links.registry.composing.take_expired(now) {
            debug!("isComposing refresh ran out: paused");
            let paused = Message {
                from: Some(from),
                to: Some(to),
                message_type: self.xmpp_type_chat.then_some(MessageType::Chat),
                payloads: vec![Element::new("paused", NS_CHATSTATES)],
                ..Message::default()
            };
            if let Err(e) = self.links.xmpp.try_send(Stanza::Message(paused)) {
                self.links.metrics.error(e.kind());
            }
        }
        self.links
            .metrics
            .registry_size("composing", self.links.registry.composing.len());
    }
}

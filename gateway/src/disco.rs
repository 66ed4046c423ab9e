//! XEP-0030 service discovery for SIP users at the component domain
//! (`bob@sip.example.net`), and the feature list of the component itself.
//!
//! The component's own disco#info is answered in `parley-xmpp`
//! (`service.rs`); what it lists comes from [`component_features`](crate::disco::component_features). IQs to
//! users come here: Parley answers on their behalf, as a server does for its
//! accounts (XEP-0030 §3.1: "the server itself MUST reply on behalf of the
//! hosted account"). The answer is the same for every mappable address, so it
//! reveals nothing about which SIP users exist (XEP-0030 §8: no directory
//! harvesting); only the features depend on what the user's phone refused.

use std::sync::Arc;

use parley_mapping::address::Jid;
use parley_mapping::imdn::{NS_CHAT_MARKERS, NS_RECEIPTS};
use parley_mapping::iscomposing::NS_CHATSTATES;
use parley_xmpp::service::NS_DISCO_INFO;
use parley_xmpp::stanza::{DefinedCondition, Element, Iq, IqType, Node, Stanza, StanzaError};

use crate::links::Links;

/// XEP-0030 §4.1: the disco#items namespace.
pub(crate) const NS_DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";

/// The features that work through the gateway, for the component's
/// disco#info: XEP-0184 receipts and XEP-0333 markers (↔ RFC 5438) when
/// `receipts` is on, XEP-0085 chat states (↔ RFC 3994) when chat states are
/// sent to SIP (they always come from SIP).
pub(crate) fn component_features(receipts: bool, chat_states: bool) -> Vec<String> {
    let mut f = Vec::new();
    if receipts {
        f.push(NS_RECEIPTS.to_owned());
        f.push(NS_CHAT_MARKERS.to_owned());
    }
    if chat_states {
        f.push(NS_CHATSTATES.to_owned());
    }
    f
}

/// IQs to the component domain's users.
pub(crate) struct Disco {
    links: Arc<Links>,
    /// `messages.receipts`.
    receipts: bool,
    /// `messages.send_chat_states`.
    send_chat_states: bool,
}

impl Disco {
    pub(crate) fn new(links: Arc<Links>, receipts: bool, send_chat_states: bool) -> Self {
        Self {
            links,
            receipts,
            send_chat_states,
        }
    }

    /// IQs to SIP users at the component domain: XEP-0030 disco is answered
    /// on their behalf; any other get or set gets `<service-unavailable/>`.
    pub(crate) fn iq(&self, iq: Iq) {
        if let Some(reply) = self.user_disco(&iq) {
            self.links.send(Stanza::Iq(reply));
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
            self.links.send(Stanza::Iq(reply));
        }
    }

    /// The answer to a disco IQ addressed to a user at the component domain,
    /// or `None` when it is not one.
    fn user_disco(&self, iq: &Iq) -> Option<Iq> {
        if iq.iq_type != IqType::Get {
            return None;
        }
        let payload = iq.payload.as_ref()?;
        if payload.name != "query" {
            return None;
        }
        let info = match payload.ns.as_str() {
            NS_DISCO_INFO => true,
            NS_DISCO_ITEMS => false,
            _ => return None,
        };
        let to = iq.to.as_deref()?;
        let answer = match Jid::parse(to).ok().and_then(|jid| {
            self.links
                .mapper
                .jid_to_sip_user(&jid)
                .ok()
                .map(|sip| (jid, sip))
        }) {
            // XEP-0030 §3.1: "If the JID … does not exist, … SHOULD return an
            // <item-not-found/> error": an address that maps to no SIP user.
            None => Err(DefinedCondition::ItemNotFound),
            // §3.2 / §4.2: no nodes here.
            Some(_) if payload.attr("node").is_some() => Err(DefinedCondition::ItemNotFound),
            // §4.2: "if an entity has no associated items, it MUST return an
            // empty <query/>".
            Some(_) if !info => Ok(Element::new("query", NS_DISCO_ITEMS)),
            Some((jid, sip)) => {
                let refused = self.links.refused(&sip);
                let features = std::iter::once(NS_DISCO_INFO.to_owned()).chain(component_features(
                    self.receipts && !refused.cpim,
                    self.send_chat_states && !refused.iscomposing,
                ));
                Ok(user_info(jid.is_full(), features))
            }
        };
        let (iq_type, payload, error) = match answer {
            Ok(q) => (IqType::Result, Some(q), None),
            Err(c) => (IqType::Error, None, Some(StanzaError::new(c))),
        };
        Some(Iq {
            from: iq.to.clone(),
            to: iq.from.clone(),
            id: iq.id.clone(),
            iq_type,
            payload,
            error,
        })
    }
}

/// XEP-0030 §3.1: a bare JID is answered as an account ("the primary
/// identity SHOULD have a category of 'account' … (most likely, a type of
/// 'registered')"); a full JID (a GRUU) is the phone itself, a client.
fn user_info(full: bool, features: impl Iterator<Item = String>) -> Element {
    let mut q = Element::new("query", NS_DISCO_INFO);
    let mut identity = Element::new("identity", NS_DISCO_INFO);
    let (category, kind) = if full {
        ("client", "pc")
    } else {
        ("account", "registered")
    };
    identity.attrs = vec![
        ("category".into(), category.into()),
        ("type".into(), kind.into()),
    ];
    q.children.push(Node::Element(identity));
    for f in features {
        let mut feature = Element::new("feature", NS_DISCO_INFO);
        feature.attrs.push(("var".into(), f));
        q.children.push(Node::Element(feature));
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_lists_only_enabled_features() {
        assert!(component_features(false, false).is_empty());
        assert_eq!(
            component_features(true, true),
            vec![
                "urn:xmpp:receipts".to_owned(),
                "urn:xmpp:chat-markers:0".to_owned(),
                "http://jabber.org/protocol/chatstates".to_owned(),
            ]
        );
        assert_eq!(
            component_features(false, true),
            vec!["http://jabber.org/protocol/chatstates".to_owned()]
        );
    }

    #[test]
    fn bare_jid_is_an_account_and_full_jid_a_client() {
        let q = user_info(false, std::iter::empty());
        let Some(Node::Element(id)) = q.children.first() else {
            panic!("no identity");
        };
        assert_eq!(id.attr("category"), Some("account"));
        let q = user_info(true, std::iter::once(NS_RECEIPTS.to_owned()));
        let Some(Node::Element(id)) = q.children.first() else {
            panic!("no identity");
        };
        assert_eq!(id.attr("category"), Some("client"));
        assert_eq!(q.children.len(), 2);
    }
}

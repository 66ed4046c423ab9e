//! What the component answers by itself, for IQs addressed to its own domain:
//! XEP-0030 disco#info, XEP-0199 ping, and RFC 6120 §8.4 `service-unavailable`
//! for every other get/set. IQs to users at the domain (`bob@sip.example`),
//! results, errors, messages and presence go up to the gateway.

use crate::jid;
use crate::stanza::{DefinedCondition, Element, Iq, IqType, Node, Stanza, StanzaError};

/// XEP-0030 §3.1: the disco#info namespace.
pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// XEP-0199 §3: the ping namespace.
#[cfg_attr(
    not(feature = "tokio"),
    allow(dead_code, reason = "only the tokio driver uses it")
)]
pub(crate) const NS_PING: &str = "urn:xmpp:ping";

/// What to do with an incoming stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    not(feature = "tokio"),
    allow(dead_code, reason = "only the tokio driver uses it")
)]
pub(crate) enum Disposition {
    /// Send this answer back; the gateway never sees the request.
    Answer(Box<Stanza>),
    /// Hand the stanza up to the gateway, boxed as the reader made it.
    Deliver(Box<Stanza>),
}

/// The component's own identity and features (XEP-0030 §3.1).
#[derive(Debug, Clone)]
#[cfg_attr(
    not(feature = "tokio"),
    allow(dead_code, reason = "only the tokio driver uses it")
)]
pub(crate) struct Service {
    domain: String,
    name: String,
    features: Vec<String>,
}

#[cfg_attr(
    not(feature = "tokio"),
    allow(dead_code, reason = "only the tokio driver uses it")
)]
impl Service {
    /// `features` are added to the two this module answers itself
    /// (disco#info and ping); duplicates are removed.
    pub(crate) fn new(domain: &str, name: &str, features: &[String]) -> Self {
        let mut all: Vec<String> = vec![NS_DISCO_INFO.into(), NS_PING.into()];
        for f in features {
            if !all.contains(f) {
                all.push(f.clone());
            }
        }
        Self {
            domain: domain.to_owned(),
            name: name.to_owned(),
            features: all,
        }
    }

    /// Decide what happens to `stanza`.
    pub(crate) fn handle(&self, stanza: Box<Stanza>) -> Disposition {
        let Stanza::Iq(iq) = &*stanza else {
            return Disposition::Deliver(stanza);
        };
        let to_domain = iq.to.as_deref().is_none_or(|t| {
            jid::localpart(t).is_none() && !t.contains('/') && t.eq_ignore_ascii_case(&self.domain)
        });
        if !to_domain || !matches!(iq.iq_type, IqType::Get | IqType::Set) {
            return Disposition::Deliver(stanza);
        }
        let payload = iq.payload.as_ref();
        let answer = match (
            iq.iq_type,
            payload.map(|p| (p.name.as_str(), p.ns.as_str())),
        ) {
            (IqType::Get, Some(("query", NS_DISCO_INFO))) => {
                if payload.and_then(|p| p.attr("node")).is_some() {
                    // XEP-0030 §3.2: we publish no nodes.
                    Err(DefinedCondition::ItemNotFound)
                } else {
                    Ok(Some(self.disco_info()))
                }
            }
            // XEP-0199 §3: an empty result is the pong.
            (IqType::Get, Some(("ping", NS_PING))) => Ok(None),
            // RFC 6120 §8.4: nobody here handles this request.
            _ => Err(DefinedCondition::ServiceUnavailable),
        };
        Disposition::Answer(Box::new(Stanza::Iq(self.reply(iq, answer))))
    }

    fn reply(&self, iq: &Iq, answer: Result<Option<Element>, DefinedCondition>) -> Iq {
        let (iq_type, payload, error) = match answer {
            Ok(p) => (IqType::Result, p, None),
            Err(c) => (IqType::Error, None, Some(StanzaError::new(c))),
        };
        Iq {
            from: Some(iq.to.clone().unwrap_or_else(|| self.domain.clone())),
            to: iq.from.clone(),
            id: iq.id.clone(),
            iq_type,
            payload,
            error,
        }
    }

    /// XEP-0030 §3.1: identity `gateway/simple` (the Registrar's type for
    /// SIP/SIMPLE gateways, design.md §6) and our features.
    fn disco_info(&self) -> Element {
        let mut q = Element::new("query", NS_DISCO_INFO);
        let mut identity = Element::new("identity", NS_DISCO_INFO);
        identity.attrs = vec![
            ("category".into(), "gateway".into()),
            ("type".into(), "simple".into()),
        ];
        if !self.name.is_empty() {
            identity.attrs.push(("name".into(), self.name.clone()));
        }
        q.children.push(Node::Element(identity));
        for f in &self.features {
            let mut feature = Element::new("feature", NS_DISCO_INFO);
            feature.attrs.push(("var".into(), f.clone()));
            q.children.push(Node::Element(feature));
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stanza::{ErrorType, Message};

    fn service() -> Service {
        Service::new("sip.example", "Parley", &["urn:xmpp:receipts".to_owned()])
    }

    fn get(to: &str, payload: Element) -> Stanza {
        Stanza::Iq(Iq {
            from: Some("juliet@xmpp.example/balcony".into()),
            to: Some(to.into()),
            id: "q1".into(),
            iq_type: IqType::Get,
            payload: Some(payload),
            error: None,
        })
    }

    /// XEP-0030 §3.1 example 2, with our identity and features.
    #[test]
    fn disco_info_on_domain_lists_gateway_simple_and_features() {
        let Disposition::Answer(answer) = service().handle(Box::new(get(
            "sip.example",
            Element::new("query", NS_DISCO_INFO),
        ))) else {
            panic!("no answer");
        };
        let Stanza::Iq(r) = *answer else {
            panic!("the answer is not an iq");
        };
        assert_eq!(r.iq_type, IqType::Result);
        assert_eq!(r.id, "q1");
        assert_eq!(r.from.as_deref(), Some("sip.example"));
        assert_eq!(r.to.as_deref(), Some("juliet@xmpp.example/balcony"));
        assert_eq!(
            Stanza::Iq(r).to_xml(),
            "<iq from='sip.example' to='juliet@xmpp.example/balcony' id='q1' type='result'>\
             <query xmlns='http://jabber.org/protocol/disco#info'>\
             <identity category='gateway' type='simple' name='Parley'/>\
             <feature var='http://jabber.org/protocol/disco#info'/>\
             <feature var='urn:xmpp:ping'/><feature var='urn:xmpp:receipts'/></query></iq>"
        );
    }

    /// XEP-0199 §3: the pong is an empty result.
    #[test]
    fn ping_on_domain_is_empty_result() {
        let Disposition::Answer(answer) =
            service().handle(Box::new(get("sip.example", Element::new("ping", NS_PING))))
        else {
            panic!("no answer");
        };
        let Stanza::Iq(r) = *answer else {
            panic!("the answer is not an iq");
        };
        assert_eq!(
            (r.iq_type, r.payload, r.error),
            (IqType::Result, None, None)
        );
    }

    /// RFC 6120 §8.4: an IQ nobody handles gets service-unavailable.
    #[test]
    fn unknown_iq_on_domain_is_service_unavailable() {
        let Disposition::Answer(answer) = service().handle(Box::new(get(
            "sip.example",
            Element::new("query", "http://jabber.org/protocol/disco#items"),
        ))) else {
            panic!("no answer");
        };
        let Stanza::Iq(r) = *answer else {
            panic!("the answer is not an iq");
        };
        let e = r.error.expect("error");
        assert_eq!(e.condition, DefinedCondition::ServiceUnavailable);
        assert_eq!(e.error_type, ErrorType::Cancel);
    }

    #[test]
    fn iq_to_user_at_domain_goes_up() {
        let s = get("bob@sip.example", Element::new("query", NS_DISCO_INFO));
        let s = Box::new(s);
        assert_eq!(service().handle(s.clone()), Disposition::Deliver(s));
    }

    #[test]
    fn results_and_messages_go_up() {
        let m = Box::new(Stanza::Message(Message::default()));
        assert_eq!(service().handle(m.clone()), Disposition::Deliver(m));
        let r = Box::new(Stanza::Iq(Iq {
            from: None,
            to: Some("sip.example".into()),
            id: "1".into(),
            iq_type: IqType::Result,
            payload: None,
            error: None,
        }));
        assert_eq!(service().handle(r.clone()), Disposition::Deliver(r));
    }
}

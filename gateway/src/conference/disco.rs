//! XEP-0045 §6.4: disco#info to a conference JID. Parley answers as the
//! room for a conference someone is in through it (an occupancy exists):
//! identity `conference`/`text` and the features that hold whatever the
//! focus's configuration, `http://jabber.org/protocol/muc` (the join,
//! messages, private messages and nickname changes of §7 work) and
//! disco#info itself. The room-configuration features (`muc_open`,
//! `muc_nonanonymous`, `muc_moderated`, …) are left out: RFC 4575's
//! document does not say them. A JID no occupancy is for goes on to
//! `crate::disco` (a SIP user's account): without a join, the only way to
//! know would be a SIP request (an OPTIONS whose Contact carries `isfocus`,
//! RFC 4579) per disco query, which would let any XMPP user probe SIP
//! addresses through Parley (XEP-0030 §8, directory harvesting).

use parley_xmpp::service::NS_DISCO_INFO;
use parley_xmpp::stanza::{Element, Iq, IqType, Node};

/// XEP-0045 §4.2: the MUC namespace, as a disco feature.
const NS_MUC: &str = "http://jabber.org/protocol/muc";

/// Whether `iq` is a disco#info get without a node.
pub(super) fn is_info_query(iq: &Iq) -> bool {
    iq.iq_type == IqType::Get
        && iq
            .payload
            .as_ref()
            .is_some_and(|q| q.name == "query" && q.ns == NS_DISCO_INFO && q.attr("node").is_none())
}

/// The room's answer to `iq` (§6.4 "Room Returns Disco Info Result").
pub(super) fn room_info(iq: &Iq) -> Iq {
    let mut q = Element::new("query", NS_DISCO_INFO);
    let mut identity = Element::new("identity", NS_DISCO_INFO);
    identity.attrs = vec![
        ("category".into(), "conference".into()),
        ("type".into(), "text".into()),
    ];
    q.children.push(Node::Element(identity));
    for var in [NS_DISCO_INFO, NS_MUC] {
        let mut feature = Element::new("feature", NS_DISCO_INFO);
        feature.attrs.push(("var".into(), var.into()));
        q.children.push(Node::Element(feature));
    }
    Iq {
        from: iq.to.clone(),
        to: iq.from.clone(),
        id: iq.id.clone(),
        iq_type: IqType::Result,
        payload: Some(q),
        error: None,
    }
}

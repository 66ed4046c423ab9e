//! RFC 7702 §6.5: a SIP user in a room invites another user. The SIP
//! user's REFER (Example 42, RFC 4579 §5.5: "Refer-To header with a SIP
//! URI") names the invitee; the gateway sends the room a mediated
//! invitation (XEP-0045 §7.8.2, the form §5.7 covers: "we cover mediated
//! invitations only") and tells the SIP user with one NOTIFY (Example 43)
//! that ends the implicit subscription: "Since there is no way to know the
//! progress of the invitation until the user has joined, implementations
//! are advised to terminate the REFER dialog subscription upon receiving
//! the first NOTIFY request, with a status code of 100 Trying."

use parley_xmpp::stanza::{Element, Message, Node};

use crate::address::{AddressMapper, Jid, SipAddress};
use crate::answer::{SipAnswer, SipStatus};
use crate::groupchat::occupant::NS_MUC_USER;

/// Example 43: the NOTIFY's Event.
pub const REFER_EVENT: &str = "refer";
/// Example 43: the NOTIFY's Subscription-State.
pub const REFER_NOTIFY_STATE: &str = "terminated;reason=noresource";
/// Example 43: the NOTIFY's Content-Type.
pub const SIPFRAG_TYPE: &str = "message/sipfrag;version=2.0";
/// Example 43: the NOTIFY's body.
pub const REFER_NOTIFY_BODY: &str = "SIP/2.0 100 Trying\r\n";

/// The invitee's JID from the REFER's Refer-To value (`None`: no
/// Refer-To), or the SIP answer that refuses the REFER.
///
/// The value is a name-addr (`"Ben" <sip:benvolio@example.com>`) or an
/// addr-spec; the URI names an XMPP user as a Request-URI does (RFC 7247
/// §6.4, [`AddressMapper::sip_target_to_jid`]), so a URI that maps to no
/// JID is refused as such a Request-URI is: another scheme than
/// sip/sips/im/pres 416, a SIP user of the gateway's own domain 404 (no
/// XMPP user), a malformed one 400. No Refer-To: 400. A `method` parameter
/// other than INVITE asks for something other than an invitation (RFC
/// 4579 §5.11: REFER with BYE removes a participant): 501.
pub fn refer_invitee(mapper: &AddressMapper, refer_to: Option<&str>) -> Result<Jid, SipAnswer> {
    let value = refer_to
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SipAnswer::new(SipStatus::new(400)))?;
    let uri = match (value.find('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        // An addr-spec: its own parameters would be the header's.
        _ => value.split(';').next().unwrap_or(value),
    };
    // Embedded header fields (`?Replaces=…`) are for the INVITE; the
    // invitation carries none.
    let uri = uri.split('?').next().unwrap_or(uri).trim();
    let method = uri.split(';').skip(1).find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("method")
            .then(|| value.trim())
    });
    if method.is_some_and(|m| !m.eq_ignore_ascii_case("INVITE")) {
        return Err(SipAnswer::new(SipStatus::new(501)));
    }
    let address = SipAddress::parse(uri).map_err(|e| e.sip_answer())?;
    let jid = mapper
        .sip_target_to_jid(&address.without_params())
        .map_err(|e| e.sip_answer())?;
    Ok(jid.bare())
}

/// XEP-0045 §7.8.2 (RFC 7702 Example 22's form): the mediated invitation
/// from the occupant client `from` to `room` (a bare JID) for `invitee`.
pub fn mediated_invitation(from: &Jid, room: &Jid, invitee: &Jid, id: String) -> Message {
    let mut invite = Element::new("invite", NS_MUC_USER);
    invite.attrs.push(("to".into(), invitee.to_string()));
    let mut x = Element::new("x", NS_MUC_USER);
    x.children.push(Node::Element(invite));
    Message {
        from: Some(from.to_string()),
        to: Some(room.bare().to_string()),
        id: Some(id),
        payloads: vec![x],
        ..Message::default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::address::ForeignDomainPolicy;
    use parley_xmpp::stanza::Stanza;

    fn mapper() -> AddressMapper {
        AddressMapper {
            component_domain: "sip.example.net".into(),
            sip_domain: "example.org".into(),
            foreign_domains: ForeignDomainPolicy::Allow,
        }
    }

    fn status(r: Result<Jid, SipAnswer>) -> u16 {
        r.unwrap_err().status.code
    }

    /// Example 42's Refer-To → the JID of Example 22's `<invite to=…/>`.
    #[test]
    fn rfc7702_6_5_example_42_refer_to_names_the_invitee() {
        let m = mapper();
        for value in [
            "<sip:benvolio@example.com>",
            "\"Ben\" <sip:benvolio@example.com;gr=x?Replaces=abc>;p=1",
            "sip:benvolio@example.com;p=1",
            "<sip:benvolio@example.com;method=INVITE>",
        ] {
            assert_eq!(
                refer_invitee(&m, Some(value)).unwrap().to_string(),
                "benvolio@example.com",
                "{value}"
            );
        }
    }

    /// A Refer-To that names no XMPP user, or asks for no invitation.
    #[test]
    fn refer_to_that_maps_to_no_jid_is_refused() {
        let m = mapper();
        assert_eq!(status(refer_invitee(&m, None)), 400);
        assert_eq!(status(refer_invitee(&m, Some("  "))), 400);
        assert_eq!(
            status(refer_invitee(&m, Some("<http://example.com/>"))),
            416
        );
        assert_eq!(status(refer_invitee(&m, Some("<tel:+15551234>"))), 416);
        assert_eq!(
            status(refer_invitee(&m, Some("<sip:bob@example.org>"))),
            404
        );
        assert_eq!(status(refer_invitee(&m, Some("<sip:example.com>"))), 484);
        assert_eq!(status(refer_invitee(&m, Some("<not a uri>"))), 400);
        assert_eq!(
            status(refer_invitee(
                &m,
                Some("<sip:benvolio@example.com;method=BYE>")
            )),
            501
        );
    }

    /// XEP-0045 §7.8.2 / RFC 7702 Example 22's stanza, for §6.5.
    #[test]
    fn xep0045_7_8_2_mediated_invitation() {
        let m = mediated_invitation(
            &Jid::parse("romeo@sip.example.net/gc1").unwrap(),
            &Jid::parse("capulet@rooms.example.com").unwrap(),
            &Jid::parse("benvolio@example.com").unwrap(),
            "nzd143v8".into(),
        );
        assert_eq!(
            Stanza::Message(m).to_xml(),
            "<message from='romeo@sip.example.net/gc1' to='capulet@rooms.example.com' \
             id='nzd143v8'><x xmlns='http://jabber.org/protocol/muc#user'>\
             <invite to='benvolio@example.com'/></x></message>"
        );
    }
}

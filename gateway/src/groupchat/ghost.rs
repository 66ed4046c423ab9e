//! No ghosts after a restart. Occupancies live in memory: a restart (or a
//! lost machine) ends their MSRP sessions, but the XMPP room keeps each SIP
//! user's occupant until something tells it. XEP-0045 §18.1 (Implementation
//! Notes, Services): "To help prevent ghost users, a MUC service SHOULD
//! remove a user if the service receives a delivery-related error in
//! relation to a stanza it has previously sent to the user (in this
//! context, the delivery-related errors are <gone/>, <item-not-found/>,
//! <recipient-unavailable/>, <redirect/>, <remote-server-not-found/>, and
//! <remote-server-timeout/>)". So a stanza from a room to an occupant
//! client (`user@<component>/gc…`, [`occupant_resource`]) Parley has no
//! occupancy for gets `<item-not-found/>` back (RFC 6120 §8.3.3.7: "The
//! addressed JID or item requested cannot be found"): the client is gone,
//! and the room drops the occupant at its next message or presence.
//!
//! Nothing else is answered: an error (RFC 6120 §8.3.1: "An entity that
//! receives an error stanza MUST NOT respond to the stanza with a further
//! error stanza; this helps to prevent looping"), an unavailable presence (the occupant is leaving
//! already, e.g. the answer to Parley's own leave), an IQ (not the room's
//! way to an occupant, and the router answers IQs).

use parley_mapping::address::Jid;
use parley_xmpp::stanza::{
    DefinedCondition, Message, MessageType, Presence, PresenceType, Stanza, StanzaError,
};

/// The resource prefix of an occupant client.
const PREFIX: &str = "gc";
/// Hex digits after it.
const DIGITS: usize = 12;

/// A fresh occupant client resource: `gc` and 48 random bits in hex, so
/// that two rooms (or the same room twice) do not share one, and a stanza
/// for an occupancy that no longer exists can be told by its address.
pub(super) fn occupant_resource() -> String {
    format!("{PREFIX}{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// Whether `to` is addressed to an occupant client (its resource made by
/// [`occupant_resource`]).
pub(super) fn is_occupant_client(to: &Jid) -> bool {
    to.resource()
        .and_then(|r| r.strip_prefix(PREFIX))
        .is_some_and(|hex| {
            hex.len() == DIGITS
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// The answer to `stanza`, sent by a room to an occupant client with no
/// occupancy behind it: the same stanza kind, type error, `<item-not-found/>`
/// (XEP-0045 §18.1's delivery-related errors), from the client to the
/// room; `None` for what gets no answer (see the module's text).
pub(super) fn answer(stanza: &Stanza) -> Option<Stanza> {
    let error = || Some(StanzaError::new(DefinedCondition::ItemNotFound));
    match stanza {
        Stanza::Message(m) if m.message_type != Some(MessageType::Error) => {
            Some(Stanza::Message(Message {
                from: m.to.clone(),
                to: m.from.clone(),
                id: m.id.clone(),
                message_type: Some(MessageType::Error),
                error: error(),
                ..Message::default()
            }))
        }
        Stanza::Presence(p) if p.presence_type.is_none() => Some(Stanza::Presence(Presence {
            from: p.to.clone(),
            to: p.from.clone(),
            id: p.id.clone(),
            presence_type: Some(PresenceType::Error),
            error: error(),
            ..Presence::default()
        })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn stanza(xml: &str) -> Stanza {
        Stanza::from_xml(xml.as_bytes()).unwrap()
    }

    #[test]
    fn occupant_clients_are_told_by_their_resource() {
        let made = occupant_resource();
        let jid = |r: &str| Jid::parse(&format!("romeo@sip.example.net/{r}")).unwrap();
        assert!(is_occupant_client(&jid(&made)), "{made}");
        assert!(is_occupant_client(&jid("gc0123456789ab")));
        for other in [
            "gc0123456789a",
            "gc0123456789abc",
            "gc0123456789aB",
            "phone",
        ] {
            assert!(!is_occupant_client(&jid(other)), "{other}");
        }
        assert!(!is_occupant_client(
            &Jid::parse("romeo@sip.example.net").unwrap()
        ));
    }

    /// XEP-0045 §18.1: a room's groupchat message and presence to a gone
    /// client → `<item-not-found/>` back, from the client to the sender.
    #[test]
    fn xep0045_18_1_a_rooms_message_or_presence_gets_item_not_found() {
        let m = stanza(
            "<message from='capulet@rooms.example.com/JuliC' \
             to='romeo@sip.example.net/gc0123456789ab' id='m1' type='groupchat'>\
             <body>anyone?</body></message>",
        );
        let Some(Stanza::Message(back)) = answer(&m) else {
            panic!("a message error");
        };
        assert_eq!(back.message_type, Some(MessageType::Error));
        assert_eq!(
            back.from.as_deref(),
            Some("romeo@sip.example.net/gc0123456789ab")
        );
        assert_eq!(back.to.as_deref(), Some("capulet@rooms.example.com/JuliC"));
        assert_eq!(back.id.as_deref(), Some("m1"));
        assert_eq!(
            back.error.map(|e| e.condition),
            Some(DefinedCondition::ItemNotFound)
        );
        let p = stanza(
            "<presence from='capulet@rooms.example.com/Nurse' \
             to='romeo@sip.example.net/gc0123456789ab'>\
             <x xmlns='http://jabber.org/protocol/muc#user'/></presence>",
        );
        let Some(Stanza::Presence(back)) = answer(&p) else {
            panic!("a presence error");
        };
        assert_eq!(back.presence_type, Some(PresenceType::Error));
        assert_eq!(back.to.as_deref(), Some("capulet@rooms.example.com/Nurse"));
        assert_eq!(
            back.error.map(|e| e.condition),
            Some(DefinedCondition::ItemNotFound)
        );
    }

    /// RFC 6120 §8.3.1: no error answers an error; an unavailable presence
    /// (a leave under way) gets nothing either.
    #[test]
    fn errors_and_unavailable_presence_get_no_answer() {
        for xml in [
            "<message from='capulet@rooms.example.com' to='romeo@sip.example.net/gc0123456789ab' \
             type='error'><error type='cancel'><item-not-found \
             xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
            "<presence from='capulet@rooms.example.com/Romeo' \
             to='romeo@sip.example.net/gc0123456789ab' type='unavailable'/>",
            "<presence from='capulet@rooms.example.com/Romeo' \
             to='romeo@sip.example.net/gc0123456789ab' type='error'/>",
        ] {
            assert_eq!(answer(&stanza(xml)), None, "{xml}");
        }
    }
}

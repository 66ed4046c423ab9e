//! RFC 7702 §6.3 (Table 5) with RFC 7701 §6: a SIP user's MSRP SEND in a
//! room as an XMPP message, and the room's messages as SENDs, decided
//! without sockets. Who a message is for is `parley_mapping::groupchat::
//! room_message`'s; this file writes the stanzas and CPIM bodies.
//!
//! | MSRP (CPIM) | XMPP |
//! |---|---|
//! | To `<sip:room@host>` | `<message type='groupchat' to='room@host'>` (§6.3.1, Example 34) |
//! | To `<sip:room@host;gr=Nick>` | `<message type='chat' to='room@host/Nick'>` (§6.3.2, Example 37) |
//! | From `"Nick" <sip:room@host;gr=Nick>`, To the room | `<message type='groupchat' from='room@host/Nick'>` |
//! | From `"Nick" <sip:room@host;gr=Nick>`, To the phone | `<message type='chat' from='room@host/Nick'>` |
//! | DateTime | `<delay xmlns='urn:xmpp:delay' stamp=…/>` (XEP-0045 §7.2.13 history) |

use parley_mapping::address::{Jid, SipAddress};
use parley_mapping::cpim::{CpimAddress, CpimMessage};
use parley_mapping::groupchat::room_address::occupant_entity;
use parley_xmpp::stanza::{Message, MessageType};

/// Which SEND of the phone is refused with which code (RFC 7701 §6.1–§6.3)
/// is `parley_mapping::groupchat::room_message`'s rule; `occupancy.rs`
/// answers the SEND with it.
pub(super) use parley_mapping::groupchat::room_message::{Refused, Sender, phone_send};

/// XEP-0203's namespace, on the history a room sends to a new occupant.
const NS_DELAY: &str = "urn:xmpp:delay";

/// The room's message `m` (from `room/Nick`, with a body) as the CPIM body
/// of a SEND to the phone at `phone_uri`: From the occupant's entity
/// `room;gr=Nick` with the nickname as its name (the entity §6.2 Example 32
/// gives it), To the room for a groupchat message (RFC 7701 §6.1) or the
/// phone for a private one (§6.2), DateTime the `<delay/>` stamp of
/// history. `None` for a message without body or sender nickname.
pub(super) fn room_message(
    room_uri: &SipAddress,
    phone_uri: &SipAddress,
    m: &Message,
) -> Option<Vec<u8>> {
    let body = m.body.as_deref()?;
    let from = Jid::parse(m.from.as_deref()?).ok()?;
    let nick = from.resource()?;
    let private = m.message_type != Some(MessageType::Groupchat);
    let sender = CpimAddress {
        name: Some(nick.to_owned()),
        uri: occupant_entity(room_uri, nick).to_string(),
    };
    let to = CpimAddress {
        name: None,
        uri: if private {
            phone_uri.without_params().to_string()
        } else {
            room_uri.without_params().to_string()
        },
    };
    let stamp = delay_stamp(m);
    let cpim = CpimMessage::new(
        &sender,
        &to,
        stamp.as_deref(),
        "text/plain;charset=utf-8",
        body.as_bytes().to_vec(),
    );
    Some(cpim.to_bytes())
}

/// XEP-0203: the `stamp` of a `<delay/>`, on history the room replays.
pub(super) fn delay_stamp(m: &Message) -> Option<String> {
    m.payloads
        .iter()
        .find(|e| e.name == "delay" && e.ns == NS_DELAY)
        .and_then(|e| e.attr("stamp"))
        .map(str::to_owned)
}

/// RFC 7701 §11: what a phone that is not chat room aware is told at the
/// join, as two regular messages from the room (CPIM From the room's URI,
/// To the phone's): that it is in a chat room whose participants get what
/// it sends, and who they are. `others` are the other occupants'
/// nicknames.
pub(super) fn room_notices(
    room: &Jid,
    room_uri: &SipAddress,
    phone_uri: &SipAddress,
    nickname: &str,
    others: &[&str],
) -> [Vec<u8>; 2] {
    let from = CpimAddress {
        name: None,
        uri: room_uri.without_params().to_string(),
    };
    let to = CpimAddress {
        name: None,
        uri: phone_uri.without_params().to_string(),
    };
    let wrap = |text: String| {
        CpimMessage::new(
            &from,
            &to,
            None,
            "text/plain;charset=utf-8",
            text.into_bytes(),
        )
        .to_bytes()
    };
    let participants = if others.is_empty() {
        format!("Participants: {nickname} (you), nobody else.")
    } else {
        format!("Participants: {nickname} (you), {}.", others.join(", "))
    };
    [
        wrap(format!(
            "You are in the chat room {room} as {nickname}: every message you send here goes to all its participants."
        )),
        wrap(participants),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use parley_xmpp::stanza::Stanza;

    fn room() -> Jid {
        Jid::parse("capulet@rooms.example.com").unwrap()
    }

    fn room_uri() -> SipAddress {
        SipAddress::parse("sip:capulet@rooms.example.com").unwrap()
    }

    fn me() -> Jid {
        Jid::parse("romeo@sip.example.net/dr4hcr0st3lup4c").unwrap()
    }

    fn phone() -> SipAddress {
        SipAddress::parse("sip:romeo@example.org").unwrap()
    }

    /// `phone_send` as Romeo in the room, the roster unknown.
    fn send(
        content_type: &str,
        body: &[u8],
        id: &str,
    ) -> Result<parley_mapping::groupchat::room_message::ToRoom, u16> {
        let (room, room_uri, me, phone) = (room(), room_uri(), me(), phone());
        let sender = Sender {
            room: &room,
            room_uri: &room_uri,
            me: &me,
            phone_uri: &phone,
            nickname: "Romeo",
            occupants: None,
        };
        phone_send(&sender, content_type, body, id.into()).map_err(|r| r.code)
    }

    fn cpim(to: &str, text: &str) -> Vec<u8> {
        format!(
            "To: {to}\r\nFrom: \"Romeo\" <sip:romeo@example.org>\r\n\
             DateTime: 2008-10-15T15:02:31-03:00\r\n\r\nContent-Type: text/plain\r\n\r\n{text}"
        )
        .into_bytes()
    }

    /// RFC 7702 §6.3.1 Example 33 → Example 34.
    #[test]
    fn rfc7702_6_3_1_send_to_the_room_is_a_groupchat_message() {
        let sent = send(
            "message/cpim",
            &cpim("<sip:capulet@rooms.example.com>", "Romeo is here!"),
            "8gbx1g4p",
        )
        .unwrap();
        assert!(sent.to_everyone);
        assert_eq!(
            Stanza::Message(sent.message).to_xml(),
            "<message from='romeo@sip.example.net/dr4hcr0st3lup4c' \
             to='capulet@rooms.example.com' id='8gbx1g4p' type='groupchat'>\
             <body>Romeo is here!</body></message>"
        );
    }

    /// RFC 7702 §6.3.2 Example 36 → Example 37 (the `gr` inside the
    /// brackets, as `room_message.rs` explains).
    #[test]
    fn rfc7702_6_3_2_send_to_an_occupant_is_a_private_chat_message() {
        let sent = send(
            "message/cpim",
            &cpim("<sip:capulet@rooms.example.com;gr=JuliC>", "I am here!!!"),
            "rg2ca9k7",
        )
        .unwrap();
        assert!(!sent.to_everyone);
        assert_eq!(
            Stanza::Message(sent.message).to_xml(),
            "<message from='romeo@sip.example.net/dr4hcr0st3lup4c' \
             to='capulet@rooms.example.com/JuliC' id='rg2ca9k7' type='chat'>\
             <body>I am here!!!</body></message>"
        );
    }

    /// RFC 7701 §6.3: no CPIM wrapper → 415; §6.2: a stranger → 404.
    #[test]
    fn rfc7701_6_3_send_without_cpim_or_to_a_stranger_is_refused() {
        let plain = send("text/plain", b"hi", "1");
        assert_eq!(plain, Err(415));
        let stranger = send("message/cpim", &cpim("<sip:juliet@example.com>", "hi"), "1");
        assert_eq!(stranger, Err(404));
    }

    /// RFC 7701 §6.3: a From that does not "belong" to the sender → 403;
    /// the phone's own occupant entity is its own.
    #[test]
    fn rfc7701_6_3_a_from_not_the_senders_is_refused_with_403() {
        let body = |from: &str| {
            format!(
                "To: <sip:capulet@rooms.example.com>\r\nFrom: {from}\r\n\r\n\
                 Content-Type: text/plain\r\n\r\nhi"
            )
            .into_bytes()
        };
        for stranger in [
            "<sip:juliet@example.com>",
            "<sip:capulet@rooms.example.com;gr=JuliC>",
            "<not a uri>",
        ] {
            assert_eq!(
                send("message/cpim", &body(stranger), "1"),
                Err(403),
                "{stranger}"
            );
        }
        let no_from =
            b"To: <sip:capulet@rooms.example.com>\r\n\r\nContent-Type: text/plain\r\n\r\nhi";
        assert_eq!(send("message/cpim", no_from, "1"), Err(403));
        for own in [
            "<sip:romeo@example.org>",
            "\"Romeo\" <sip:capulet@rooms.example.com;gr=Romeo>",
        ] {
            assert!(send("message/cpim", &body(own), "1").is_ok(), "{own}");
        }
    }

    /// RFC 7701 §6.2: the wrapper of a failure REPORT holds the original
    /// From and To, nothing else.
    #[test]
    fn rfc7701_6_2_the_report_wrapper_is_the_original_from_and_to() {
        let sent = send(
            "message/cpim",
            &cpim("<sip:capulet@rooms.example.com>", "Romeo is here!"),
            "1",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(sent.wrapper).unwrap(),
            "To: <sip:capulet@rooms.example.com>\r\n\
             From: \"Romeo\" <sip:romeo@example.org>\r\n\r\n"
        );
    }

    #[test]
    fn room_messages_become_cpim_from_the_occupant_entity() {
        let phone = SipAddress::parse("sip:romeo@example.org").unwrap();
        let m = parley_xmpp::stanza::Stanza::from_xml(
            b"<message from='capulet@rooms.example.com/JuliC' to='x@sip.example.net/r' \
              type='groupchat'><body>Hi</body>\
              <delay xmlns='urn:xmpp:delay' stamp='2002-10-13T23:58:37Z'/></message>",
        );
        let Some(parley_xmpp::stanza::Stanza::Message(m)) = m else {
            panic!("a message");
        };
        let body = String::from_utf8(room_message(&room_uri(), &phone, &m).unwrap()).unwrap();
        assert_eq!(
            body,
            "From: \"JuliC\" <sip:capulet@rooms.example.com;gr=JuliC>\r\n\
             To: <sip:capulet@rooms.example.com>\r\n\
             DateTime: 2002-10-13T23:58:37Z\r\n\r\n\
             Content-Type: text/plain;charset=utf-8\r\n\r\nHi"
        );
    }
}

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
use parley_mapping::groupchat::RoomRecipient;
use parley_mapping::groupchat::room_address::{occupant_entity, occupant_jid};
use parley_mapping::groupchat::room_message::recipient_of_send;
use parley_xmpp::stanza::{Message, MessageType};

/// XEP-0203's namespace, on the history a room sends to a new occupant.
const NS_DELAY: &str = "urn:xmpp:delay";

/// What a SEND of the phone becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ToRoom {
    /// The stanza for the room (groupchat) or an occupant (chat).
    pub(super) message: Message,
    /// Whether it went to everyone, so that the room reflects it (§6.3.1).
    pub(super) to_everyone: bool,
}

/// §6.3, Table 5: the phone's SEND (`content_type`, `body`) as a message
/// from `me` (the SIP user's occupant client, a full JID) with stanza id
/// `id`, or the MSRP status that refuses it.
///
/// RFC 7701 §6.3: a SEND "that does not contain a Message/CPIM wrapper"
/// gets 415 (the session refuses it by `a=accept-types`, see `join.rs`);
/// §6.1 and §6.2 decide the recipient (400, 403, 404); a payload other
/// than text gets 415 too (RFC 4975 §7.3.1).
pub(super) fn phone_send(
    room: &Jid,
    room_uri: &SipAddress,
    me: &Jid,
    content_type: &str,
    body: &[u8],
    id: String,
) -> Result<ToRoom, u16> {
    if !mime_is(content_type, "message/cpim") {
        return Err(415);
    }
    let cpim = CpimMessage::parse(body).map_err(|_| 400u16)?;
    let recipient = recipient_of_send(room_uri, &cpim.to()).map_err(|s| s.code())?;
    if !cpim
        .content_type()
        .is_some_and(|t| mime_is(t, "text/plain"))
    {
        return Err(415);
    }
    let text = String::from_utf8(cpim.content).map_err(|_| 400u16)?;
    let (to, message_type) = match &recipient {
        RoomRecipient::Everyone => (room.bare(), MessageType::Groupchat),
        // Example 37: to the occupant JID, type 'chat'.
        RoomRecipient::Occupant(nick) => (
            occupant_jid(room, nick).map_err(|_| 404u16)?,
            MessageType::Chat,
        ),
    };
    Ok(ToRoom {
        message: Message {
            from: Some(me.to_string()),
            to: Some(to.to_string()),
            id: Some(id),
            message_type: Some(message_type),
            body: Some(text),
            ..Message::default()
        },
        to_everyone: recipient == RoomRecipient::Everyone,
    })
}

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

/// RFC 7701 §8: the answer declares what Parley, as focus, takes:
/// `a=chatroom:nickname private-messages` on the accepted `m=message` line
/// of `sdp`, as in Example 28. "A conference focus that includes the
/// 'nicknames' token ... is signaling that the MSRP switch supports and the
/// chat room allows the use of the procedures specified in Section 7":
/// NICKNAME is answered by `nickname.rs`.
pub(super) fn with_chatroom(sdp: &str) -> String {
    const ATTRIBUTE: &str = "a=chatroom:nickname private-messages";
    let lines: Vec<&str> = sdp.split_terminator("\r\n").collect();
    let accepted = lines.iter().position(|l| {
        l.strip_prefix("m=message ")
            .and_then(|rest| rest.split(' ').next())
            .is_some_and(|port| port != "0")
    });
    let Some(start) = accepted else {
        return sdp.to_owned();
    };
    let end = lines
        .iter()
        .skip(start + 1)
        .position(|l| l.starts_with("m="))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut out = String::with_capacity(sdp.len() + ATTRIBUTE.len() + 2);
    for (i, line) in lines.iter().enumerate() {
        if i == end {
            out.push_str(ATTRIBUTE);
            out.push_str("\r\n");
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    if end == lines.len() {
        out.push_str(ATTRIBUTE);
        out.push_str("\r\n");
    }
    out
}

fn mime_is(value: &str, wanted: &str) -> bool {
    value
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(wanted))
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
        let sent = phone_send(
            &room(),
            &room_uri(),
            &me(),
            "message/cpim",
            &cpim("<sip:capulet@rooms.example.com>", "Romeo is here!"),
            "8gbx1g4p".into(),
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
        let sent = phone_send(
            &room(),
            &room_uri(),
            &me(),
            "message/cpim",
            &cpim("<sip:capulet@rooms.example.com;gr=JuliC>", "I am here!!!"),
            "rg2ca9k7".into(),
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
        let plain = phone_send(&room(), &room_uri(), &me(), "text/plain", b"hi", "1".into());
        assert_eq!(plain, Err(415));
        let stranger = phone_send(
            &room(),
            &room_uri(),
            &me(),
            "message/cpim",
            &cpim("<sip:juliet@example.com>", "hi"),
            "1".into(),
        );
        assert_eq!(stranger, Err(404));
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

    /// RFC 7701 §8, RFC 7702 Example 28.
    #[test]
    fn rfc7701_8_answer_carries_the_chatroom_attribute() {
        let sdp = "v=0\r\nm=audio 0 RTP/AVP 0\r\nm=message 8763 TCP/MSRP *\r\na=path:x\r\n";
        assert_eq!(
            with_chatroom(sdp),
            "v=0\r\nm=audio 0 RTP/AVP 0\r\nm=message 8763 TCP/MSRP *\r\na=path:x\r\n\
             a=chatroom:nickname private-messages\r\n"
        );
        let two = "m=message 1 TCP/MSRP *\r\na=p\r\nm=audio 0 RTP/AVP 0\r\n";
        assert_eq!(
            with_chatroom(two),
            "m=message 1 TCP/MSRP *\r\na=p\r\na=chatroom:nickname private-messages\r\n\
             m=audio 0 RTP/AVP 0\r\n"
        );
    }
}

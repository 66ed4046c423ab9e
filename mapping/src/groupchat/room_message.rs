//! Who a groupchat message is for, both ways: RFC 7702 §5.5 (Table 4) and
//! §6.3 (Table 5) with RFC 7701 §6.1 (to everyone: CPIM To is the chat room
//! URI) and §6.2 (private: a single CPIM To naming one participant).
//!
//! | | to everyone | private |
//! |---|---|---|
//! | XMPP | `type='groupchat'` to `room` (§5.5.1, §6.3.1) | `type='chat'` to `room/nick` (§5.5.2, §6.3.2) |
//! | CPIM To | the chat room URI (RFC 7701 §6.1) | the participant's URI (RFC 7701 §6.2), e.g. `<sip:room@host;gr=nick>` |
//!
//! The message bodies themselves map as in one-to-one chat (RFC 7573, the
//! crate's `chat` module); this module decides the addresses, and which
//! SEND of a SIP user in a room Parley, as the room's MSRP switch, refuses
//! with which code ([`phone_send`], RFC 7701 §6.1–§6.3).

use parley_xmpp::stanza::{Message, MessageType};

use crate::address::{Jid, SipAddress};
use crate::cpim::{CpimAddress, CpimMessage};
use crate::groupchat::conference_info::ConferenceInfo;
use crate::groupchat::muc_error::MsrpStatus;
use crate::groupchat::occupant::OccupantPresence;
use crate::groupchat::room_address::{
    nickname_in_entity, occupant_entity, occupant_jid, same_address,
};

/// Who in a room a message is addressed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomRecipient {
    /// Everyone: the room itself.
    Everyone,
    /// One occupant, by nickname: a private message.
    Occupant(String),
}

/// RFC 7702 §6.3 with RFC 7701 §6.1–§6.2, Parley as the focus: the CPIM
/// To headers of a SEND from the SIP user, read against the room's URI.
///
/// - no To: 400 (RFC 7701 §6.1: the sender "MUST populate the To header");
/// - several To: 403 (§6.2: "MUST reject the MSRP SEND request with a 403");
/// - the room URI: everyone (§6.3.1 Example 33);
/// - the room URI with `gr=nick` (§6.3.2 Example 36, our own entities):
///   that occupant;
/// - anything else: 404 (§6.2: "does not contain the URI of a participant").
pub fn recipient_of_send(
    room_uri: &SipAddress,
    to: &[CpimAddress],
) -> Result<RoomRecipient, MsrpStatus> {
    let only = match to {
        [] => return Err(MsrpStatus::BadRequest),
        [only] => only,
        _ => return Err(MsrpStatus::Forbidden),
    };
    let addr = SipAddress::parse(&only.uri).map_err(|_| MsrpStatus::RecipientNotFound)?;
    if !same_address(&addr.without_params(), &room_uri.without_params()) {
        return Err(MsrpStatus::RecipientNotFound);
    }
    Ok(match nickname_in_entity(room_uri, &addr) {
        Some(nick) => RoomRecipient::Occupant(nick),
        None => RoomRecipient::Everyone,
    })
}

/// What a SEND of the phone becomes ([`phone_send`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToRoom {
    /// The stanza for the room (groupchat) or an occupant (chat).
    pub message: Message,
    /// Whether it went to everyone, so that the room reflects it (RFC 7702
    /// §6.3.1).
    pub to_everyone: bool,
    /// The body of a failure REPORT on it ([`report_wrapper`]).
    pub wrapper: Vec<u8>,
}

/// The SEND refused: the status of its response, and the body of a failure
/// REPORT should the response have been given already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The MSRP status code (400, 403, 404 or 415).
    pub code: u16,
    /// The CPIM From and To of the SEND ([`report_wrapper`]), once read.
    pub wrapper: Option<Vec<u8>>,
}

/// The occupancy a SEND of the phone is read against.
#[derive(Debug, Clone, Copy)]
pub struct Sender<'a> {
    /// The room, a bare JID.
    pub room: &'a Jid,
    /// The room's SIP URI.
    pub room_uri: &'a SipAddress,
    /// The SIP user's occupant client, a full JID.
    pub me: &'a Jid,
    /// The phone's address-of-record.
    pub phone_uri: &'a SipAddress,
    /// The occupancy's nickname now.
    pub nickname: &'a str,
    /// The room's occupants now, if the roster holds all of them.
    pub occupants: Option<&'a [OccupantPresence]>,
}

/// RFC 7702 §6.3 (Table 5) with RFC 7701 §6, Parley as the switch: the
/// phone's SEND (`content_type`, `body`) as a message from the occupant
/// client with stanza id `id`, or the MSRP status that refuses it, in this
/// order:
///
/// - no Message/CPIM wrapper: 415 (RFC 7701 §6.3: "If the MSRP switch
///   receives an MSRP SEND request that does not contain a Message/CPIM
///   wrapper, the MSRP switch MUST reject the request with a 415
///   response"); a wrapper that does not parse: 400;
/// - a From that is not the sender's (its address-of-record or its
///   occupant entity `room;gr=Nick`): 403 (§6.3, "does not "belong" to the
///   sender of the message");
/// - no To 400, several To 403, a To outside the room 404
///   ([`recipient_of_send`]);
/// - a `room;gr=Nick` To that no available occupant holds (when the roster
///   is whole): 404 (§6.2, "does not contain the URI of a participant");
/// - a payload other than text, or text that is not UTF-8: 415, 400 (the
///   room takes an XMPP `<body/>` only; RFC 4975 §7.3.1).
pub fn phone_send(
    sender: &Sender<'_>,
    content_type: &str,
    body: &[u8],
    id: String,
) -> Result<ToRoom, Refused> {
    let refuse = |code: u16| Refused {
        code,
        wrapper: None,
    };
    if !mime_is(content_type, "message/cpim") {
        return Err(refuse(415));
    }
    let cpim = CpimMessage::parse(body).map_err(|_| refuse(400))?;
    let wrapper = report_wrapper(&cpim);
    let refuse = |code: u16| Refused {
        code,
        wrapper: Some(wrapper.clone()),
    };
    if !from_is_the_sender(sender, cpim.from().as_ref()) {
        return Err(refuse(403));
    }
    let recipient = recipient_of_send(sender.room_uri, &cpim.to()).map_err(|s| refuse(s.code()))?;
    if let (RoomRecipient::Occupant(nick), Some(occupants)) = (&recipient, sender.occupants)
        && !occupants.iter().any(|o| o.available && &o.nickname == nick)
    {
        return Err(refuse(404));
    }
    if !cpim
        .content_type()
        .is_some_and(|t| mime_is(t, "text/plain"))
    {
        return Err(refuse(415));
    }
    let text = String::from_utf8(cpim.content).map_err(|_| refuse(400))?;
    let (to, message_type) = match &recipient {
        RoomRecipient::Everyone => (sender.room.bare(), MessageType::Groupchat),
        // RFC 7702 Example 37: to the occupant JID, type 'chat'.
        RoomRecipient::Occupant(nick) => (
            occupant_jid(sender.room, nick).map_err(|_| refuse(404))?,
            MessageType::Chat,
        ),
    };
    Ok(ToRoom {
        message: Message {
            from: Some(sender.me.to_string()),
            to: Some(to.to_string()),
            id: Some(id),
            message_type: Some(message_type),
            body: Some(text),
            ..Message::default()
        },
        to_everyone: recipient == RoomRecipient::Everyone,
        wrapper,
    })
}

/// RFC 7701 §6.3: the From must "belong" to the sender: the phone's
/// address-of-record (RFC 7702 Example 33) or its occupant entity in the
/// room.
fn from_is_the_sender(sender: &Sender<'_>, from: Option<&CpimAddress>) -> bool {
    let Some(from) = from.and_then(|f| SipAddress::parse(&f.uri).ok()) else {
        return false;
    };
    same_address(&from.without_params(), &sender.phone_uri.without_params())
        || nickname_in_entity(sender.room_uri, &from).as_deref() == Some(sender.nickname)
}

/// RFC 7701 §6.2: "Any potential REPORT request that the MSRP switch sends
/// to the sender MUST include a Message/CPIM wrapper containing the
/// original From header field included in the SEND request and the To
/// header field of the original Message/CPIM wrapper": those two headers
/// and no content.
pub fn report_wrapper(cpim: &CpimMessage) -> Vec<u8> {
    let mut out = Vec::new();
    for header in &cpim.headers {
        if header.name.eq_ignore_ascii_case("From") || header.name.eq_ignore_ascii_case("To") {
            out.extend_from_slice(header.name.as_bytes());
            out.extend_from_slice(header.params.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(header.raw_value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn mime_is(value: &str, wanted: &str) -> bool {
    value
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(wanted))
}

/// RFC 7702 §5.5 Table 4, Parley as a participant: the CPIM To for a
/// message from the XMPP user. Everyone: the conference URI (Example 13).
/// Private: the entity of the user with that nickname in the conference
/// document (RFC 7701 §6.2: identifiers "typically learned from the
/// information received in notifications of a conference event package"),
/// else the conference URI with the nickname as `gr` (Example 17).
pub fn cpim_to_for(
    conference: &SipAddress,
    roster: Option<&ConferenceInfo>,
    recipient: &RoomRecipient,
) -> String {
    match recipient {
        RoomRecipient::Everyone => conference.without_params().to_string(),
        RoomRecipient::Occupant(nick) => roster
            .and_then(|doc| doc.users.as_ref())
            .into_iter()
            .flat_map(|u| &u.users)
            .find(|u| {
                OccupantPresence::from_user(u, conference).is_some_and(|o| &o.nickname == nick)
            })
            .map(|u| u.entity.clone())
            .unwrap_or_else(|| occupant_entity(conference, nick).to_string()),
    }
}

/// A SEND from the conference's switch to Parley (§5.5.1 Example 15, §5.5.2
/// Example 18), as an XMPP message: who sent it, and whether it is private.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomMessageOrigin {
    /// The sender's nickname: the `from` is `room/nickname`.
    pub nickname: String,
    /// RFC 7701 §6.2: "If the To header field is different from the chat
    /// room URI, the MSRP endpoints know that this is a private message"
    /// (XMPP `type='chat'`, else `groupchat`).
    pub private: bool,
}

/// Read the CPIM From and To of a SEND from the switch. The sender's
/// nickname is the one its From has in the conference document (by
/// entity), else the `gr` of a `room;gr=nick` From (Example 18), else the
/// From's display name. `None` when no nickname can be found.
pub fn origin_of_send(
    conference: &SipAddress,
    roster: Option<&ConferenceInfo>,
    from: &CpimAddress,
    to: &[CpimAddress],
) -> Option<RoomMessageOrigin> {
    let from_addr = SipAddress::parse(&from.uri).ok();
    let from_roster = roster
        .and_then(|doc| doc.users.as_ref())
        .into_iter()
        .flat_map(|u| &u.users)
        .find(|u| {
            from_addr.as_ref().is_some_and(|f| {
                SipAddress::parse(&u.entity)
                    .is_ok_and(|e| same_address(&e, f) && e.gruu() == f.gruu())
            })
        })
        .and_then(|u| OccupantPresence::from_user(u, conference))
        .map(|o| o.nickname);
    let nickname = from_roster
        .or_else(|| {
            from_addr
                .as_ref()
                .and_then(|f| nickname_in_entity(conference, f))
        })
        .or_else(|| from.name.clone().filter(|n| !n.trim().is_empty()))?;
    let to_room = to.iter().any(|t| {
        SipAddress::parse(&t.uri).is_ok_and(|a| same_address(&a, conference) && a.gruu().is_none())
    });
    Some(RoomMessageOrigin {
        nickname,
        private: !to_room,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn addr(raw: &str) -> CpimAddress {
        CpimAddress::parse(raw).unwrap()
    }

    fn room() -> SipAddress {
        SipAddress::parse("sip:capulet@rooms.example.com").unwrap()
    }

    /// RFC 7702 §6.3.1 Example 33: `To: <sip:capulet@rooms.example.com>`.
    #[test]
    fn rfc7702_6_3_1_send_to_the_room_uri_is_for_everyone() {
        let to = [addr("<sip:capulet@rooms.example.com>")];
        assert_eq!(recipient_of_send(&room(), &to), Ok(RoomRecipient::Everyone));
    }

    /// RFC 7702 §6.3.2 Example 36 writes `<sip:capulet@rooms.example.com>;gr=JuliC`,
    /// the `gr` outside the brackets, which a CPIM To (RFC 3862 §4.2:
    /// `"To" ": " [ Formal-name ] "<" URI ">"`) has no room for; the entity
    /// Parley publishes puts it inside.
    #[test]
    fn rfc7702_6_3_2_send_to_room_uri_with_gr_is_private() {
        let to = [addr("<sip:capulet@rooms.example.com;gr=JuliC>")];
        assert_eq!(
            recipient_of_send(&room(), &to),
            Ok(RoomRecipient::Occupant("JuliC".into()))
        );
    }

    /// RFC 7701 §6.2: several To → 403; an unknown recipient → 404.
    #[test]
    fn rfc7701_6_2_several_or_foreign_recipients_are_refused() {
        let two = [
            addr("<sip:capulet@rooms.example.com;gr=A>"),
            addr("<sip:capulet@rooms.example.com;gr=B>"),
        ];
        assert_eq!(recipient_of_send(&room(), &two), Err(MsrpStatus::Forbidden));
        let other = [addr("<sip:juliet@example.com>")];
        assert_eq!(
            recipient_of_send(&room(), &other),
            Err(MsrpStatus::RecipientNotFound)
        );
        assert_eq!(recipient_of_send(&room(), &[]), Err(MsrpStatus::BadRequest));
    }

    /// Romeo's SEND of `body` (as `content_type`) in the room, against
    /// `occupants` when the roster is whole.
    fn romeo_sends(
        content_type: &str,
        body: &[u8],
        occupants: Option<&[OccupantPresence]>,
    ) -> Result<ToRoom, Refused> {
        let room_jid = Jid::parse("capulet@rooms.example.com").unwrap();
        let room_uri = room();
        let me = Jid::parse("romeo@sip.example.net/gc1").unwrap();
        let phone = SipAddress::parse("sip:romeo@example.org").unwrap();
        let sender = Sender {
            room: &room_jid,
            room_uri: &room_uri,
            me: &me,
            phone_uri: &phone,
            nickname: "Romeo",
            occupants,
        };
        phone_send(&sender, content_type, body, "s1".into())
    }

    fn wrapped(headers: &str, content_type: &str, text: &str) -> Vec<u8> {
        format!("{headers}\r\nContent-Type: {content_type}\r\n\r\n{text}").into_bytes()
    }

    const ROMEO_TO_ROOM: &str =
        "From: <sip:romeo@example.org>\r\nTo: <sip:capulet@rooms.example.com>\r\n";

    /// RFC 7701 §6.3: "does not contain a Message/CPIM wrapper ... 415"; a
    /// wrapper that cannot be read is a bad request (RFC 4975 §10.2, 400),
    /// with no wrapper to report.
    #[test]
    fn rfc7701_6_3_no_cpim_is_415_and_unreadable_cpim_is_400() {
        let plain = romeo_sends("text/plain", b"hi", None).unwrap_err();
        assert_eq!((plain.code, plain.wrapper), (415, None));
        let broken = romeo_sends("message/cpim", b"\xff\xfe no headers", None).unwrap_err();
        assert_eq!((broken.code, broken.wrapper), (400, None));
    }

    /// RFC 7701 §6.3: a From that does not "belong" to the sender → 403;
    /// §6.1/§6.2: several To → 403, none → 400. Each refusal carries the
    /// From and To for a REPORT (§6.2).
    #[test]
    fn rfc7701_6_3_forged_from_or_several_to_is_403_no_to_400() {
        let forged = wrapped(
            "From: <sip:juliet@example.com>\r\nTo: <sip:capulet@rooms.example.com>\r\n",
            "text/plain",
            "hi",
        );
        let refused = romeo_sends("message/cpim", &forged, None).unwrap_err();
        assert_eq!(refused.code, 403);
        assert_eq!(
            refused.wrapper.as_deref(),
            Some(
                &b"From: <sip:juliet@example.com>\r\nTo: <sip:capulet@rooms.example.com>\r\n\r\n"[..]
            )
        );
        let two = wrapped(
            "From: <sip:romeo@example.org>\r\nTo: <sip:capulet@rooms.example.com>\r\n\
             To: <sip:capulet@rooms.example.com;gr=JuliC>\r\n",
            "text/plain",
            "hi",
        );
        assert_eq!(
            romeo_sends("message/cpim", &two, None).unwrap_err().code,
            403
        );
        let none = wrapped("From: <sip:romeo@example.org>\r\n", "text/plain", "hi");
        assert_eq!(
            romeo_sends("message/cpim", &none, None).unwrap_err().code,
            400
        );
    }

    /// RFC 7701 §6.2: a To "that does not contain the URI of a participant"
    /// → 404: outside the room, or a nickname no available occupant holds
    /// while the roster is whole; unknown roster: the room decides.
    #[test]
    fn rfc7701_6_2_a_to_naming_no_occupant_is_404() {
        let to_nick = |nick: &str| {
            wrapped(
                &format!(
                    "From: <sip:romeo@example.org>\r\nTo: <sip:capulet@rooms.example.com;gr={nick}>\r\n"
                ),
                "text/plain",
                "psst",
            )
        };
        let juliet = OccupantPresence {
            nickname: "JuliC".into(),
            available: true,
            ..OccupantPresence::default()
        };
        let gone = OccupantPresence {
            nickname: "Tybalt".into(),
            available: false,
            ..OccupantPresence::default()
        };
        let roster = [juliet, gone];
        let sent = romeo_sends("message/cpim", &to_nick("JuliC"), Some(&roster)).unwrap();
        assert_eq!(
            sent.message.to.as_deref(),
            Some("capulet@rooms.example.com/JuliC")
        );
        assert_eq!(sent.message.message_type, Some(MessageType::Chat));
        assert!(!sent.to_everyone);
        for nobody in ["Tybalt", "Nurse"] {
            let refused = romeo_sends("message/cpim", &to_nick(nobody), Some(&roster));
            assert_eq!(refused.unwrap_err().code, 404, "{nobody}");
        }
        assert!(romeo_sends("message/cpim", &to_nick("Nurse"), None).is_ok());
        let outside = wrapped(
            "From: <sip:romeo@example.org>\r\nTo: <sip:juliet@example.com>\r\n",
            "text/plain",
            "hi",
        );
        assert_eq!(
            romeo_sends("message/cpim", &outside, None)
                .unwrap_err()
                .code,
            404
        );
    }

    /// The room takes text only (an XMPP `<body/>`): another wrapped type
    /// → 415, text that is not UTF-8 → 400; text/plain with parameters is
    /// text, unchanged (RFC 7701 §6.1: "MUST NOT modify the content").
    #[test]
    fn rfc7701_6_1_a_wrapped_type_other_than_text_is_415() {
        let html = wrapped(ROMEO_TO_ROOM, "text/html", "<b>hi</b>");
        assert_eq!(
            romeo_sends("message/cpim", &html, None).unwrap_err().code,
            415
        );
        let mut latin1 = wrapped(ROMEO_TO_ROOM, "text/plain", "");
        latin1.push(0xe9);
        assert_eq!(
            romeo_sends("message/cpim", &latin1, None).unwrap_err().code,
            400
        );
        let text = wrapped(ROMEO_TO_ROOM, "text/plain; charset=utf-8", "Romeo is here!");
        let sent = romeo_sends("Message/CPIM", &text, None).unwrap();
        assert!(sent.to_everyone);
        assert_eq!(sent.message.body.as_deref(), Some("Romeo is here!"));
        assert_eq!(
            sent.message.to.as_deref(),
            Some("capulet@rooms.example.com")
        );
        assert_eq!(
            sent.message.from.as_deref(),
            Some("romeo@sip.example.net/gc1")
        );
        assert_eq!(sent.message.id.as_deref(), Some("s1"));
    }

    fn roster() -> ConferenceInfo {
        let path = format!(
            "{}/tests/fixtures/conference-info/rfc7701-9.6-figure7.xml",
            env!("CARGO_MANIFEST_DIR")
        );
        ConferenceInfo::parse(&std::fs::read(path).unwrap()).unwrap()
    }

    /// RFC 7702 §5.5.1 Example 13 and RFC 7701 §6.2 with §9.6's roster.
    #[test]
    fn rfc7702_5_5_cpim_to_is_the_conference_or_the_participant_entity() {
        let conf = SipAddress::parse("sip:chatroom22@chat.example.com").unwrap();
        assert_eq!(
            cpim_to_for(&conf, None, &RoomRecipient::Everyone),
            "sip:chatroom22@chat.example.com"
        );
        let doc = roster();
        assert_eq!(
            cpim_to_for(
                &conf,
                Some(&doc),
                &RoomRecipient::Occupant("Dopey Donkey".into())
            ),
            "sip:bob@example.com"
        );
        assert_eq!(
            cpim_to_for(&conf, Some(&doc), &RoomRecipient::Occupant("Nobody".into())),
            "sip:chatroom22@chat.example.com;gr=Nobody"
        );
    }

    /// RFC 7702 §5.5.2 Example 18: From `room;gr=JuliC`, To the user → private.
    #[test]
    fn rfc7702_5_5_2_send_from_switch_names_the_sender_and_privacy() {
        let conf = SipAddress::parse("sip:montague@chat.example.org").unwrap();
        let private = origin_of_send(
            &conf,
            None,
            &addr("<sip:montague@chat.example.org;gr=JuliC>"),
            &[addr("<sip:romeo@example.org>")],
        )
        .unwrap();
        assert_eq!(
            private,
            RoomMessageOrigin {
                nickname: "JuliC".into(),
                private: true
            }
        );
        let public = origin_of_send(
            &conf,
            None,
            &addr("\"Juliet\" <sip:juliet@example.com>"),
            &[addr("<sip:montague@chat.example.org>")],
        )
        .unwrap();
        assert_eq!(
            public,
            RoomMessageOrigin {
                nickname: "Juliet".into(),
                private: false
            }
        );
    }

    /// RFC 7701 §9.6: a From found in the roster takes its nickname.
    #[test]
    fn rfc7701_9_6_sender_nickname_comes_from_the_roster() {
        let conf = SipAddress::parse("sip:chatroom22@chat.example.com").unwrap();
        let doc = roster();
        let o = origin_of_send(
            &conf,
            Some(&doc),
            &addr("<sip:alice@atlanta.example.com>"),
            &[addr("<sip:chatroom22@chat.example.com>")],
        )
        .unwrap();
        assert_eq!(o.nickname, "Alice the great");
        assert!(!o.private);
    }
}

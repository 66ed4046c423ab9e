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
//! crate's `chat` module); this module only decides the addresses.

use crate::address::SipAddress;
use crate::cpim::CpimAddress;
use crate::groupchat::conference_info::ConferenceInfo;
use crate::groupchat::muc_error::MsrpStatus;
use crate::groupchat::occupant::OccupantPresence;
use crate::groupchat::room_address::{nickname_in_entity, occupant_entity, same_address};

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
    /// the `gr` outside the brackets, which a CPIM To (RFC 3862 §4.1) does
    /// not carry as part of the URI; the entity Parley publishes puts it
    /// inside.
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

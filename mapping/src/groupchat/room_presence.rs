//! The presence that enters, renames and leaves a room, both ways.
//!
//! Parley for a SIP user in an XMPP room (RFC 7702 §6): INVITE → enter
//! (§6.1 Example 30), NICKNAME → change nickname (§6.4 Example 39), BYE →
//! exit (§6.6 Example 45). An XMPP user's presence to a room at the
//! component (§5): enter (§5.1 Example 1) → INVITE, change nickname (§5.6
//! Example 19) → NICKNAME, exit (§5.8 Examples 25, 26) → BYE.

use parley_xmpp::stanza::{Element, Presence, PresenceType};

use crate::address::Jid;
use crate::failure::MappingError;
use crate::groupchat::occupant::NS_MUC;
use crate::groupchat::room_address::occupant_jid;

/// §6.1 Example 30: enter `room` as `nickname`, from the SIP user's JID,
/// with XEP-0045's `<x xmlns='http://jabber.org/protocol/muc'/>`.
pub fn enter_presence(user: &Jid, room: &Jid, nickname: &str) -> Result<Presence, MappingError> {
    Ok(Presence {
        from: Some(user.to_string()),
        to: Some(occupant_jid(room, nickname)?.to_string()),
        payloads: vec![Element::new("x", NS_MUC)],
        ..Presence::default()
    })
}

/// §6.4 Example 39: the NICKNAME's new nickname as presence to the new
/// occupant JID (no `<x/>`: the user is in the room already).
pub fn nickname_presence(user: &Jid, room: &Jid, nickname: &str) -> Result<Presence, MappingError> {
    Ok(Presence {
        from: Some(user.to_string()),
        to: Some(occupant_jid(room, nickname)?.to_string()),
        ..Presence::default()
    })
}

/// §6.6 Example 45: leave the room the user is in as `nickname`.
pub fn exit_presence(user: &Jid, room: &Jid, nickname: &str) -> Result<Presence, MappingError> {
    Ok(Presence {
        from: Some(user.to_string()),
        to: Some(occupant_jid(room, nickname)?.to_string()),
        presence_type: Some(PresenceType::Unavailable),
        ..Presence::default()
    })
}

/// What an XMPP user's presence to an occupant JID at the component asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomRequest {
    /// §5.1: enter the room as this nickname → INVITE, then NICKNAME (§5.2).
    Enter {
        /// The nickname (the `to`'s resourcepart).
        nickname: String,
    },
    /// §5.6: take this nickname → NICKNAME.
    ChangeNickname {
        /// The new nickname.
        nickname: String,
    },
    /// §5.8: leave → BYE. The `<status/>`, if any (Example 26), is for the
    /// other occupants.
    Exit {
        /// The exit message.
        status: Option<String>,
    },
    /// Available presence to the nickname already held: a status update,
    /// nothing for the conference.
    Update,
    /// Available presence from a non-occupant without XEP-0045's `<x/>`.
    NotAJoin,
}

/// Reads an XMPP user's presence to `to` (an occupant JID of a room at the
/// component), given the nickname the user holds there now (`None`: not in
/// the room). `None` for presence that asks nothing of a room (no
/// nickname, an unavailable presence when not in, subscription types).
///
/// §5.1: "The joining client signals its ability to speak the multi-user
/// chat protocol by including in the initial presence stanza an empty <x/>
/// element qualified by the 'http://jabber.org/protocol/muc' namespace."
/// A first presence without it is no join: XEP-0045 ("Groupchat 1.0
/// Protocol") recommends that a service "receiving a <presence> without an
/// <x> element from a non-occupant full-JID responds with an explicit
/// kick"; that answer is the caller's ([`RoomRequest::NotAJoin`]).
pub fn room_request(p: &Presence, to: &Jid, current: Option<&str>) -> Option<RoomRequest> {
    let nickname = to.resource()?.to_owned();
    match (p.presence_type, current) {
        (Some(PresenceType::Unavailable), Some(_)) => Some(RoomRequest::Exit {
            status: p.status.clone(),
        }),
        (None, None) if p.payloads.iter().any(|e| e.name == "x" && e.ns == NS_MUC) => {
            Some(RoomRequest::Enter { nickname })
        }
        (None, None) => Some(RoomRequest::NotAJoin),
        (None, Some(held)) if held == nickname => Some(RoomRequest::Update),
        (None, Some(_)) => Some(RoomRequest::ChangeNickname { nickname }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn jid(s: &str) -> Jid {
        Jid::parse(s).unwrap()
    }

    /// RFC 7702 §6.1 Example 30 (whose `to` names montague@chat.example.org,
    /// the room of §5; the room of §6 is capulet@rooms.example.com).
    #[test]
    fn rfc7702_6_1_example30_enter_carries_the_muc_x() {
        let p = enter_presence(
            &jid("romeo@example.org/dr4hcr0st3lup4c"),
            &jid("capulet@rooms.example.com"),
            "Romeo",
        )
        .unwrap();
        assert_eq!(p.from.as_deref(), Some("romeo@example.org/dr4hcr0st3lup4c"));
        assert_eq!(p.to.as_deref(), Some("capulet@rooms.example.com/Romeo"));
        assert_eq!(p.payloads, [Element::new("x", NS_MUC)]);
        assert_eq!(p.presence_type, None);
    }

    /// RFC 7702 §6.4 Example 39 and §6.6 Example 45.
    #[test]
    fn rfc7702_6_4_and_6_6_nickname_and_exit_presence() {
        let user = jid("romeo@example.org/dr4hcr0st3lup4c");
        let room = jid("capulet@rooms.example.com");
        let nick = nickname_presence(&user, &room, "montecchi").unwrap();
        assert_eq!(
            nick.to.as_deref(),
            Some("capulet@rooms.example.com/montecchi")
        );
        assert!(nick.payloads.is_empty());
        let exit = exit_presence(&user, &room, "Romeo").unwrap();
        assert_eq!(exit.to.as_deref(), Some("capulet@rooms.example.com/Romeo"));
        assert_eq!(exit.presence_type, Some(PresenceType::Unavailable));
    }

    /// RFC 7702 §5.1 Example 1, §5.6 Example 19, §5.8 Example 26.
    #[test]
    fn rfc7702_5_presence_to_a_room_enters_renames_and_exits() {
        let to = jid("montague@chat.example.org/JuliC");
        let enter = Presence {
            payloads: vec![Element::new("x", NS_MUC)],
            ..Presence::default()
        };
        assert_eq!(
            room_request(&enter, &to, None),
            Some(RoomRequest::Enter {
                nickname: "JuliC".into()
            })
        );
        let rename_to = jid("montague@chat.example.org/CapuletGirl");
        assert_eq!(
            room_request(&Presence::default(), &rename_to, Some("JuliC")),
            Some(RoomRequest::ChangeNickname {
                nickname: "CapuletGirl".into()
            })
        );
        assert_eq!(
            room_request(&Presence::default(), &to, Some("JuliC")),
            Some(RoomRequest::Update)
        );
        let exit = Presence {
            presence_type: Some(PresenceType::Unavailable),
            status: Some("O, look! methinks I see my cousin's ghost".into()),
            ..Presence::default()
        };
        assert_eq!(
            room_request(&exit, &to, Some("JuliC")),
            Some(RoomRequest::Exit {
                status: Some("O, look! methinks I see my cousin's ghost".into())
            })
        );
        assert_eq!(room_request(&exit, &to, None), None);
        assert_eq!(
            room_request(&Presence::default(), &to, None),
            Some(RoomRequest::NotAJoin)
        );
        assert_eq!(
            room_request(
                &Presence::default(),
                &jid("montague@chat.example.org"),
                None
            ),
            None
        );
    }
}

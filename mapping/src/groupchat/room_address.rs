//! RFC 7702 §5.1 and §6.1 with RFC 7247 §6: where a room is on the other
//! side, and what a nickname becomes.
//!
//! | Direction | From | To |
//! |---|---|---|
//! | §6.1 (SIP user joins an XMPP room) | Request-URI `sip:capulet@rooms.example.com` | room JID `capulet@rooms.example.com` (RFC 7247 §6.4) |
//! | §6.1, §7 | NICKNAME `Use-Nickname`, else the From display name, else the From user | occupant JID's resourcepart |
//! | §5.1 Table 1 (XMPP user joins a SIP conference) | `to` without the `/nick` | To / Request-URI (the conference URI) |
//! | §5.2 | `to`'s resourcepart | `Use-Nickname` of the NICKNAME request |
//! | §6.2 Example 32 | occupant `room/Nick` | `<user entity="sip:room@host;gr=Nick">` |
//!
//! A nickname is a resourcepart, prepared as RFC 7622 prepares one (RFC 7702
//! §7 asks for RFC 7700's nickname profile; the resourcepart profile is the
//! one the XMPP side enforces anyway).

use ezk_sip_types::uri::params::Param;

use crate::address::{AddressMapper, Jid, SipAddress};
use crate::failure::{AddressPart, MappingError};

/// RFC 7701 §7.1: a nickname "MUST NOT be more than 1023 octets in length".
pub const MAX_NICKNAME_OCTETS: usize = 1023;

/// §6.1: the XMPP room a SIP INVITE (or SUBSCRIBE) names. The Request-URI
/// maps as any SIP target does (RFC 7247 §6.4); its `gr`, if any, is
/// dropped: the room is the bare JID.
pub fn room_for_sip_target(
    mapper: &AddressMapper,
    target: &SipAddress,
) -> Result<Jid, MappingError> {
    Ok(mapper.sip_target_to_jid(target)?.bare())
}

/// The occupant JID `room/nickname` (XEP-0045: the nickname is the
/// resourcepart), refusing a nickname XMPP cannot carry.
pub fn occupant_jid(room: &Jid, nickname: &str) -> Result<Jid, MappingError> {
    if nickname.is_empty() || nickname.len() > MAX_NICKNAME_OCTETS {
        return Err(MappingError::MalformedJid {
            part: AddressPart::Resource,
            reason: "room nickname empty or longer than 1023 octets",
        });
    }
    Jid::new(room.local(), room.domain(), Some(nickname))
}

/// §6.1: "MAY choose a temporary nickname (such as the SIP From header
/// display name) and use it to join the room". The display name when it
/// has any non-blank text, else the From URI's user part.
pub fn temporary_nickname(display_name: Option<&str>, from: &SipAddress) -> Option<String> {
    display_name
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .or_else(|| from.user().filter(|u| !u.is_empty()))
}

/// §7: "If there is a conflict between the SIP nickname and the XMPP
/// nickname, the SIP-to-XMPP or XMPP-to-SIP gateway is responsible for
/// adjusting the nickname to avoid the conflict". Attempt 0 is the nickname
/// itself, attempt `n` appends ` (n+1)`: `Romeo`, `Romeo (2)`, `Romeo (3)`.
pub fn adjusted_nickname(nickname: &str, attempt: u32) -> String {
    if attempt == 0 {
        nickname.to_owned()
    } else {
        format!("{nickname} ({})", attempt + 1)
    }
}

/// §5.1: a MUC join to `room@<component>/nick` as the SIP conference it
/// names and the nickname to set (§5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceTarget {
    /// Table 1: "to (without the /nick)" → To: the conference URI.
    pub conference: SipAddress,
    /// The resourcepart, for the NICKNAME request (§5.2).
    pub nickname: String,
}

/// §5.1 Table 1: the conference behind an occupant JID at the component
/// domain (design §2 maps the bare JID to the SIP address it stands for).
pub fn conference_for_occupant(
    mapper: &AddressMapper,
    occupant: &Jid,
) -> Result<ConferenceTarget, MappingError> {
    // XEP-0045 §7.2.1: entering a room needs a nickname.
    let nickname = occupant
        .resource()
        .ok_or(MappingError::MalformedJid {
            part: AddressPart::Resource,
            reason: "a room join needs a nickname",
        })?
        .to_owned();
    let conference = mapper.jid_to_sip_user(&occupant.bare())?;
    Ok(ConferenceTarget {
        conference,
        nickname,
    })
}

/// §6.2 Example 32: the `<user>`/`<endpoint>` entity of an occupant when
/// Parley is the focus: the room's SIP URI with the nickname as `gr`.
pub fn occupant_entity(room_uri: &SipAddress, nickname: &str) -> SipAddress {
    match room_uri.without_params() {
        SipAddress::Sip(mut u) | SipAddress::Sips(mut u) => {
            u.uri_params.push(Param::value("gr", nickname.to_owned()));
            SipAddress::from(u)
        }
        other => other,
    }
}

/// The nickname an occupant entity of [`occupant_entity`] carries, if
/// `entity` is `room_uri` with a `gr`.
pub fn nickname_in_entity(room_uri: &SipAddress, entity: &SipAddress) -> Option<String> {
    if !same_address(&room_uri.without_params(), &entity.without_params()) {
        return None;
    }
    entity.gruu()
}

/// Two addresses without parameters are the same (host case-insensitive).
pub fn same_address(a: &SipAddress, b: &SipAddress) -> bool {
    a.user() == b.user()
        && a.host().map(|h| h.to_ascii_lowercase()) == b.host().map(|h| h.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::address::ForeignDomainPolicy;

    fn mapper() -> AddressMapper {
        AddressMapper {
            component_domain: "sip.example.net".into(),
            sip_domain: "chat.example.org".into(),
            foreign_domains: ForeignDomainPolicy::Allow,
        }
    }

    fn sip(s: &str) -> SipAddress {
        SipAddress::parse(s).unwrap()
    }

    /// RFC 7702 §6.1 Example 27 → Example 30: the INVITE's Request-URI is
    /// the room.
    #[test]
    fn rfc7702_6_1_invite_target_is_the_room_jid() {
        let room = room_for_sip_target(&mapper(), &sip("sip:capulet@rooms.example.com")).unwrap();
        assert_eq!(room.to_string(), "capulet@rooms.example.com");
        let with_gr =
            room_for_sip_target(&mapper(), &sip("sip:capulet@rooms.example.com;gr=x")).unwrap();
        assert_eq!(with_gr, room);
        assert_eq!(
            occupant_jid(&room, "Romeo").unwrap().to_string(),
            "capulet@rooms.example.com/Romeo"
        );
    }

    #[test]
    fn nickname_longer_than_1023_octets_or_empty_is_refused() {
        let room = Jid::parse("capulet@rooms.example.com").unwrap();
        assert!(occupant_jid(&room, "").is_err());
        assert!(occupant_jid(&room, &"n".repeat(1024)).is_err());
        // RFC 7622 §3.4 (OpaqueString): an unassigned code point is no
        // resourcepart, though a NICKNAME's quoted-string may carry it.
        assert!(occupant_jid(&room, "Ro\u{378}meo").is_err());
        assert!(occupant_jid(&room, "Roméo").is_ok());
    }

    /// RFC 7702 §6.1: "such as the SIP From header display name".
    #[test]
    fn rfc7702_6_1_temporary_nickname_is_the_display_name_then_the_user() {
        let from = sip("sip:romeo@example.org");
        assert_eq!(
            temporary_nickname(Some("Romeo"), &from).as_deref(),
            Some("Romeo")
        );
        assert_eq!(
            temporary_nickname(Some("  "), &from).as_deref(),
            Some("romeo")
        );
        assert_eq!(temporary_nickname(None, &from).as_deref(), Some("romeo"));
    }

    #[test]
    fn rfc7702_7_adjusted_nickname_counts_from_two() {
        assert_eq!(adjusted_nickname("Romeo", 0), "Romeo");
        assert_eq!(adjusted_nickname("Romeo", 1), "Romeo (2)");
        assert_eq!(adjusted_nickname("Romeo", 2), "Romeo (3)");
    }

    /// RFC 7702 §5.1 Table 1 with design §2: the component-domain room JID
    /// is a SIP user; `\40` carries a conference of another SIP domain.
    #[test]
    fn rfc7702_5_1_occupant_jid_names_the_conference_without_the_nick() {
        let own = Jid::parse("montague@sip.example.net/JuliC").unwrap();
        let t = conference_for_occupant(&mapper(), &own).unwrap();
        assert_eq!(t.conference.to_string(), "sip:montague@chat.example.org");
        assert_eq!(t.nickname, "JuliC");
        let foreign = Jid::parse("room\\40conf.example.com@sip.example.net/JuliC").unwrap();
        let t = conference_for_occupant(&mapper(), &foreign).unwrap();
        assert_eq!(t.conference.to_string(), "sip:room@conf.example.com");
        let no_nick = Jid::parse("montague@sip.example.net").unwrap();
        assert!(conference_for_occupant(&mapper(), &no_nick).is_err());
    }

    /// RFC 7702 §6.2 Example 32: `sip:capulet@rooms.example.com;gr=JuliC`.
    #[test]
    fn rfc7702_6_2_occupant_entity_is_room_uri_with_gr() {
        let room = sip("sip:capulet@rooms.example.com");
        let entity = occupant_entity(&room, "JuliC");
        assert_eq!(entity.to_string(), "sip:capulet@rooms.example.com;gr=JuliC");
        assert_eq!(nickname_in_entity(&room, &entity).as_deref(), Some("JuliC"));
        assert_eq!(
            nickname_in_entity(&room, &sip("sip:other@rooms.example.com;gr=JuliC")),
            None
        );
    }
}

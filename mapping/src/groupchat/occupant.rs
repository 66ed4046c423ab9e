//! RFC 7702 §5.4 and §6.2: occupant presence (XEP-0045) ↔ conference-info
//! users (RFC 4575).
//!
//! §5.4 Table 2 (RFC 4575 → XMPP) and Table 3 (SIP → XMPP):
//!
//! | RFC 4575 | XMPP |
//! |---|---|
//! | `<conference-info/>` `entity` | room JID |
//! | `<subject/>` | room subject |
//! | `<user/>` `entity`, `<endpoint/>` `entity` | occupant JID |
//! | `<display-text/>` | participant nickname (§7: after RFC 6501 `nickname`) |
//! | `<user/>` `associated-aors` | user full JID (if available) |
//! | `<role>participant</role>` | `role='participant'` |
//! | [N/A] | `affiliation='none'` |
//!
//! §6.2 writes the same table backwards (Example 31 → Example 32). Mappings
//! the tables leave undefined and Parley adds: a user whose endpoints are
//! all disconnected (RFC 4575 §5.7.3) has left; `booted` (§5.7.6) is
//! XEP-0045's status 307 ("kicked"); `moderator` and `visitor` roles keep
//! their MUC meaning.

use parley_xmpp::stanza::{Element, Node, Presence, PresenceType};

use crate::address::{Jid, SipAddress};
use crate::failure::MappingError;
use crate::groupchat::conference_info::{
    DisconnectionMethod, ElementState, Endpoint, EndpointStatus, Media, UriEntry, User,
};
use crate::groupchat::room_address::{nickname_in_entity, occupant_entity, occupant_jid};

/// XEP-0045: the namespace of the join request `<x/>`.
pub const NS_MUC: &str = "http://jabber.org/protocol/muc";
/// XEP-0045: the namespace of extended occupant presence.
pub const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";

/// XEP-0045 status 110: "this presence refers to itself" (self-presence).
pub const STATUS_SELF: u16 = 110;
/// XEP-0045 status 303: the occupant changed nickname (with `<item nick>`).
pub const STATUS_NICK_CHANGE: u16 = 303;
/// XEP-0045 status 307: the occupant was kicked.
pub const STATUS_KICKED: u16 = 307;

/// XEP-0045 §5.1: an occupant's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MucRole {
    /// `moderator`
    Moderator,
    /// `participant`
    #[default]
    Participant,
    /// `visitor`
    Visitor,
    /// `none`
    None,
}

/// XEP-0045 §5.2: an occupant's affiliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MucAffiliation {
    /// `owner`
    Owner,
    /// `admin`
    Admin,
    /// `member`
    Member,
    /// `outcast`
    Outcast,
    /// `none`: RFC 7702 Table 3 "[N/A] → affiliation='none'".
    #[default]
    None,
}

impl MucRole {
    /// The attribute value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Moderator => "moderator",
            Self::Participant => "participant",
            Self::Visitor => "visitor",
            Self::None => "none",
        }
    }

    /// The role for an attribute value.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Moderator,
            Self::Participant,
            Self::Visitor,
            Self::None,
        ]
        .into_iter()
        .find(|r| r.name() == name)
    }
}

impl MucAffiliation {
    /// The attribute value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Outcast => "outcast",
            Self::None => "none",
        }
    }

    /// The affiliation for an attribute value.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Owner,
            Self::Admin,
            Self::Member,
            Self::Outcast,
            Self::None,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }
}

/// One occupant's presence in a room, either side's form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OccupantPresence {
    /// The room nickname (the occupant JID's resourcepart).
    pub nickname: String,
    /// `<item role>`.
    pub role: MucRole,
    /// `<item affiliation>`.
    pub affiliation: MucAffiliation,
    /// `<item jid>`: the occupant's real JID, when the room reveals it.
    pub real_jid: Option<String>,
    /// In the room (`false`: `type='unavailable'`).
    pub available: bool,
    /// `<status code>` values.
    pub status_codes: Vec<u16>,
    /// `<item nick>` with status 303: the nickname the occupant changes to.
    pub new_nickname: Option<String>,
}

impl OccupantPresence {
    /// Whether this is the receiver's own presence (status 110).
    pub fn is_self(&self) -> bool {
        self.status_codes.contains(&STATUS_SELF)
    }

    /// Read occupant presence from the MUC service: `from` is `room/nick`
    /// and a `<x xmlns='…muc#user'/>` carries the item. `None` for presence
    /// that is not occupant presence (no nickname, an error, no `<x/>`).
    pub fn from_presence(p: &Presence) -> Option<Self> {
        let available = match p.presence_type {
            None => true,
            Some(PresenceType::Unavailable) => false,
            Some(_) => return None,
        };
        let from = Jid::parse(p.from.as_deref()?).ok()?;
        let nickname = from.resource()?.to_owned();
        let x = p
            .payloads
            .iter()
            .find(|e| e.name == "x" && e.ns == NS_MUC_USER)?;
        let mut occupant = OccupantPresence {
            nickname,
            available,
            ..OccupantPresence::default()
        };
        for child in x.children.iter().filter_map(|n| match n {
            Node::Element(c) if c.ns == NS_MUC_USER => Some(c),
            _ => None,
        }) {
            match child.name.as_str() {
                "item" => {
                    occupant.role = child
                        .attr("role")
                        .and_then(MucRole::from_name)
                        .unwrap_or_default();
                    occupant.affiliation = child
                        .attr("affiliation")
                        .and_then(MucAffiliation::from_name)
                        .unwrap_or_default();
                    occupant.real_jid = child.attr("jid").map(str::to_owned);
                    occupant.new_nickname = child.attr("nick").map(str::to_owned);
                }
                "status" => occupant
                    .status_codes
                    .extend(child.attr("code").and_then(|c| c.parse::<u16>().ok())),
                _ => {}
            }
        }
        Some(occupant)
    }

    /// RFC 7702 §5.4 Example 10: the presence from `room/nick` to the XMPP
    /// user `to`, with `<x xmlns='…muc#user'><item/><status/></x>`.
    pub fn to_presence(&self, room: &Jid, to: &str) -> Result<Presence, MappingError> {
        let mut item = Element::new("item", NS_MUC_USER);
        item.attrs
            .push(("affiliation".into(), self.affiliation.name().into()));
        if let Some(jid) = &self.real_jid {
            item.attrs.push(("jid".into(), jid.clone()));
        }
        if let Some(nick) = &self.new_nickname {
            item.attrs.push(("nick".into(), nick.clone()));
        }
        item.attrs.push(("role".into(), self.role.name().into()));
        let mut x = Element::new("x", NS_MUC_USER);
        x.children.push(Node::Element(item));
        for code in &self.status_codes {
            let mut status = Element::new("status", NS_MUC_USER);
            status.attrs.push(("code".into(), code.to_string()));
            x.children.push(Node::Element(status));
        }
        Ok(Presence {
            from: Some(occupant_jid(room, &self.nickname)?.to_string()),
            to: Some(to.to_owned()),
            presence_type: (!self.available).then_some(PresenceType::Unavailable),
            payloads: vec![x],
            ..Presence::default()
        })
    }

    /// RFC 7702 §5.4 Tables 2 and 3: a conference-info user as an occupant
    /// of the room behind `conference`. The nickname is RFC 6501's
    /// `nickname`, else `<display-text>` (§7), else the `gr` of an entity
    /// shaped like Example 9's; `None` when the user has none of them.
    pub fn from_user(user: &User, conference: &SipAddress) -> Option<Self> {
        let nickname = user
            .nickname
            .clone()
            .or_else(|| user.display_text.clone())
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .or_else(|| {
                let entity = SipAddress::parse(&user.entity).ok()?;
                nickname_in_entity(conference, &entity)
            })?;
        let live = |e: &&Endpoint| {
            e.state != ElementState::Deleted
                && !matches!(
                    e.status,
                    Some(
                        EndpointStatus::Disconnected
                            | EndpointStatus::Disconnecting
                            | EndpointStatus::Pending
                            | EndpointStatus::Alerting
                            | EndpointStatus::DialingIn
                            | EndpointStatus::DialingOut
                    )
                )
        };
        let available = user.state != ElementState::Deleted
            && (user.endpoints.is_empty() || user.endpoints.iter().any(|e| live(&e)));
        let kicked = user
            .endpoints
            .iter()
            .any(|e| e.disconnection_method == Some(DisconnectionMethod::Booted));
        let roles = user.roles.as_deref().unwrap_or_default();
        let role = if roles.iter().any(|r| r == "moderator") {
            MucRole::Moderator
        } else if roles.iter().any(|r| r == "visitor") {
            MucRole::Visitor
        } else {
            MucRole::Participant
        };
        let real_jid = user
            .associated_aors
            .iter()
            .flatten()
            .find_map(|a| a.uri.strip_prefix("xmpp:").map(str::to_owned));
        Some(OccupantPresence {
            nickname,
            role,
            affiliation: MucAffiliation::None,
            real_jid,
            available,
            status_codes: if !available && kicked {
                vec![STATUS_KICKED]
            } else {
                Vec::new()
            },
            new_nickname: None,
        })
    }

    /// RFC 7702 §6.2 Example 32: this occupant as a conference-info user of
    /// the room at `room_uri` (Parley as the focus): entity `room;gr=nick`,
    /// the nickname as `<display-text>` and RFC 6501 `nickname` (RFC 7701
    /// §7.4), the role, a connected endpoint with one `message` stream, and
    /// the real JID as an associated AOR (Table 2) when the room revealed it.
    pub fn to_user(&self, room_uri: &SipAddress) -> User {
        let entity = occupant_entity(room_uri, &self.nickname).to_string();
        User {
            entity: entity.clone(),
            state: ElementState::Full,
            nickname: Some(self.nickname.clone()),
            display_text: Some(self.nickname.clone()),
            associated_aors: self.real_jid.as_ref().map(|j| {
                vec![UriEntry {
                    uri: format!("xmpp:{j}"),
                    ..UriEntry::default()
                }]
            }),
            roles: Some(vec![self.role.name().to_owned()]),
            languages: None,
            endpoints: vec![Endpoint {
                entity,
                state: ElementState::Full,
                status: Some(if self.available {
                    EndpointStatus::Connected
                } else {
                    EndpointStatus::Disconnected
                }),
                media: vec![Media {
                    id: "1".into(),
                    media_type: Some("message".into()),
                    ..Media::default()
                }],
                ..Endpoint::default()
            }],
        }
    }
}

#[cfg(test)]
#[path = "occupant_tests.rs"]
mod tests;

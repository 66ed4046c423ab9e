//! The room roster both ways: RFC 7702 §5.4 (a conference-info document →
//! a series of occupant presences, the self-presence last with status 110)
//! and §6.2 (occupant presences → one conference-info document, once the
//! roster is complete).

use parley_xmpp::stanza::{Message, Presence};

use crate::address::{Jid, SipAddress};
use crate::failure::MappingError;
use crate::groupchat::coherent_state::UserChange;
use crate::groupchat::conference_info::{
    ConferenceDescription, ConferenceInfo, ElementState, UriEntry, Users,
};
use crate::groupchat::occupant::{MucRole, OccupantPresence, STATUS_NICK_CHANGE, STATUS_SELF};

/// RFC 7702 §5.4 (Example 9 → Example 10): the occupants of a conference
/// document as presence to the XMPP user `to`, in document order, with the
/// user's own occupant (nickname `own_nickname`) last and marked 110.
///
/// XEP-0045 §7.2.2: the self-presence "MUST NOT be sent to the new occupant
/// until the room has sent the presence of all other occupants". Users
/// without a nickname, and users not (or no longer) in the room, are left
/// out: a first roster announces who is there. A document that does not list
/// `own_nickname` yields no self-presence: the caller sends it once the
/// join is known to have worked (the INVITE's 2xx and the NICKNAME's 200).
pub fn roster_presences(
    doc: &ConferenceInfo,
    conference: &SipAddress,
    room: &Jid,
    to: &str,
    own_nickname: &str,
) -> Result<Vec<Presence>, MappingError> {
    let occupants = doc
        .users
        .iter()
        .flat_map(|u| &u.users)
        .filter_map(|u| OccupantPresence::from_user(u, conference))
        .filter(|o| o.available);
    let (mut own, others): (Vec<_>, Vec<_>) = occupants.partition(|o| o.nickname == own_nickname);
    let mut out = others
        .iter()
        .map(|o| o.to_presence(room, to))
        .collect::<Result<Vec<_>, _>>()?;
    // One self-presence, even if the focus lists the nickname twice.
    own.truncate(1);
    for mut o in own {
        o.status_codes.push(STATUS_SELF);
        out.push(o.to_presence(room, to)?);
    }
    Ok(out)
}

/// RFC 7702 §5.4 after the first roster: the changes between two coherent
/// states ([`user_changes`](crate::groupchat::user_changes)) as occupant
/// presence to `to`. A user who joins is available presence, one who leaves
/// (or whose endpoints all disconnect) unavailable presence (307 if
/// booted); a nickname changed in place is XEP-0045's pair, unavailable
/// from the old nickname with status 303 and `<item nick='new'/>`, then
/// available from the new one; any other change is a fresh available
/// presence. The user's own occupant (`own_nickname`, before or after the
/// change) carries status 110.
pub fn change_presences(
    changes: &[UserChange<'_>],
    conference: &SipAddress,
    room: &Jid,
    to: &str,
    own_nickname: &str,
) -> Result<Vec<Presence>, MappingError> {
    let mark = |mut o: OccupantPresence, own: bool| {
        if own {
            o.status_codes.push(STATUS_SELF);
        }
        o
    };
    let mut out = Vec::new();
    for change in changes {
        match change {
            UserChange::Joined(user) => {
                if let Some(o) =
                    OccupantPresence::from_user(user, conference).filter(|o| o.available)
                {
                    let own = o.nickname == own_nickname;
                    out.push(mark(o, own).to_presence(room, to)?);
                }
            }
            UserChange::Left(user) => {
                if let Some(mut o) = OccupantPresence::from_user(user, conference) {
                    o.available = false;
                    // XEP-0045 §7.14 "Exiting a Room": the departure's
                    // presence carries `role='none'`.
                    o.role = MucRole::None;
                    let own = o.nickname == own_nickname;
                    out.push(mark(o, own).to_presence(room, to)?);
                }
            }
            UserChange::Changed { before, after } => {
                let (Some(old), Some(new)) = (
                    OccupantPresence::from_user(before, conference),
                    OccupantPresence::from_user(after, conference),
                ) else {
                    continue;
                };
                let own = old.nickname == own_nickname || new.nickname == own_nickname;
                if old.available && new.available && old.nickname != new.nickname {
                    let gone = OccupantPresence {
                        available: false,
                        status_codes: vec![STATUS_NICK_CHANGE],
                        new_nickname: Some(new.nickname.clone()),
                        ..old
                    };
                    out.push(mark(gone, own).to_presence(room, to)?);
                    out.push(mark(new, own).to_presence(room, to)?);
                } else if old.available || new.available {
                    let mut new = new;
                    if !new.available {
                        // Gone (RFC 4575 `disconnected`): XEP-0045 §7.14.
                        new.role = MucRole::None;
                    }
                    out.push(mark(new, own).to_presence(room, to)?);
                }
            }
        }
    }
    Ok(out)
}

/// RFC 7702 §5.4 Example 11: the conference subject as a MUC subject
/// message to `to`, from the room's bare JID (Example 11 sends it from an
/// occupant JID; the focus names no occupant who set it).
pub fn subject_message(doc: &ConferenceInfo, room: &Jid, to: &str) -> Option<Message> {
    let subject = doc.description.as_ref()?.subject.clone()?;
    Some(Message {
        from: Some(room.bare().to_string()),
        to: Some(to.to_owned()),
        subject: Some(subject),
        ..Message::default()
    })
}

/// What [`MucRoster::handle_presence`] made of one presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RosterEvent {
    /// Recorded; the initial roster is still arriving (no NOTIFY yet).
    Pending,
    /// The self-presence (110) arrived: the roster is complete, send the
    /// first (full) document (§6.2).
    Complete,
    /// The complete roster changed: send a partial document.
    Changed,
    /// Another occupant past the bound: not recorded, counted in
    /// [`MucRoster::dropped`]. The self-presence is never refused: it is
    /// recorded and completes the roster whatever the bound.
    TooManyOccupants,
}

/// §6.2: the roster of one room as seen by the SIP user's occupant, built
/// from the MUC's presence until the self-presence completes it ("it will
/// need to determine when it has received a complete room roster from the
/// MUC room, i.e., when it has received the in-room presence of the SIP
/// user").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MucRoster {
    occupants: Vec<OccupantPresence>,
    complete: bool,
    max_occupants: usize,
    dropped: usize,
    /// The SIP user's own nickname, from the last self-presence (110).
    own: Option<String>,
}

impl MucRoster {
    /// An empty roster holding at most `max_occupants`.
    pub fn new(max_occupants: usize) -> Self {
        Self {
            occupants: Vec::new(),
            complete: false,
            max_occupants,
            dropped: 0,
            own: None,
        }
    }

    /// How many occupant presences were left out because the roster was
    /// at its bound (each arrival of an unrecorded occupant counts once).
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// Whether the self-presence has arrived.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The occupants in the room now, in arrival order.
    pub fn occupants(&self) -> &[OccupantPresence] {
        &self.occupants
    }

    /// Record one occupant presence from the room. Past `max_occupants`,
    /// other occupants are left out (and counted); the SIP user's own
    /// (status 110) is always recorded, so the roster holds at most
    /// `max_occupants + 1`, and the self-presence completes it (§6.2).
    pub fn handle_presence(&mut self, p: OccupantPresence) -> RosterEvent {
        let at = self.occupants.iter().position(|o| o.nickname == p.nickname);
        let completes = !self.complete && p.is_self();
        if p.is_self() && p.available {
            self.own = Some(p.nickname.clone());
        }
        match (p.available, at) {
            // A leave, or the first half of a XEP-0045 nickname change
            // (unavailable with 303; the new nickname's presence follows).
            (false, Some(i)) => {
                self.occupants.remove(i);
            }
            (false, None) => {}
            (true, Some(i)) => self.occupants[i] = without_transient_codes(p),
            (true, None) => {
                let own = self.own.as_deref();
                let others = self
                    .occupants
                    .iter()
                    .filter(|o| Some(o.nickname.as_str()) != own)
                    .count();
                if !p.is_self() && others >= self.max_occupants {
                    self.dropped += 1;
                    return RosterEvent::TooManyOccupants;
                }
                self.occupants.push(without_transient_codes(p));
            }
        }
        if completes {
            self.complete = true;
            RosterEvent::Complete
        } else if self.complete {
            RosterEvent::Changed
        } else {
            RosterEvent::Pending
        }
    }

    /// §6.2 Example 32: the roster as a full conference-info document for
    /// the room at `room_uri`, with the room subject when known.
    pub fn to_conference_info(
        &self,
        room_uri: &SipAddress,
        version: u32,
        subject: Option<&str>,
    ) -> ConferenceInfo {
        let room = room_uri.without_params();
        ConferenceInfo {
            entity: room.to_string(),
            state: ElementState::Full,
            version,
            // RFC 4575 §5.2: "A 'full' conference document MUST at least
            // include the <conference-description> and <users> child
            // elements."
            description: Some(ConferenceDescription {
                subject: subject.map(str::to_owned),
                conf_uris: vec![UriEntry {
                    uri: room.to_string(),
                    ..Default::default()
                }],
                ..ConferenceDescription::default()
            }),
            conference_state: None,
            users: Some(Users {
                state: ElementState::Full,
                users: self.occupants.iter().map(|o| o.to_user(&room)).collect(),
            }),
        }
    }
}

/// Status codes describe one presence, not the occupant: a later document
/// must not repeat them.
fn without_transient_codes(mut p: OccupantPresence) -> OccupantPresence {
    p.status_codes.clear();
    p.new_nickname = None;
    p
}

#[cfg(test)]
#[path = "roster_tests.rs"]
mod tests;

//! RFC 7702 §5: an XMPP user joins a SIP conference through Parley. The
//! user's MUC join presence (`<x xmlns='http://jabber.org/protocol/muc'/>`)
//! to `room@<component>/nick` is the signal (§5.1): `room@<component>`
//! maps to the conference URI as any JID at the component does (design
//! §2). Parley then, as the user's SIP and MSRP endpoint (`join.rs`):
//! INVITEs the conference with an MSRP offer (RFC 7701 §5.2: CPIM only,
//! `a=chatroom`, §8), ACKs the focus's 2xx, connects MSRP and asks the
//! nickname with NICKNAME (§5.2, RFC 7701 §7); subscribes to the
//! conference event *outside* the INVITE dialog (RFC 4579 §3.4: "The
//! SUBSCRIBE to the conference package SHOULD be sent outside any
//! INVITE-initiated dialog"), and turns the NOTIFYs into occupant presence,
//! the self-presence last with status 110 (§5.3, §5.4, `roster.rs`);
//! carries messages to all and private both ways (§5.5, `translate.rs`),
//! reflecting the user's own groupchat message on the SEND's 200 (the
//! switch sends to everyone "except the sender", RFC 7701 §6.1; §5.5.1:
//! "the XMPP-to-MSRP gateway has to reflect the message back"); renames
//! with NICKNAME (§5.6) and leaves with BYE (§5.8). Each occupancy is one
//! task (`occupancy.rs`), found by the table (`table.rs`) by user and
//! room, and by the Call-IDs of its two dialogs.
//!
//! disco#info to a conference JID is answered as the room while someone is
//! in it (XEP-0045 §6.4, `disco.rs`).
//!
//! A mediated invitation (§5.7) is a REFER in the INVITE dialog
//! (`invite.rs`).

mod contact;
mod disco;
mod history;
mod invite;
mod join;
mod occupancy;
mod refresh;
mod roster;
mod table;
mod translate;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::debug;

use parley_mapping::address::Jid;
use parley_mapping::groupchat::RoomRequest;
use parley_mapping::groupchat::occupant::{NS_MUC, NS_MUC_USER};
use parley_mapping::groupchat::room_presence::room_request;
use parley_msrp::endpoint::Endpoint as MsrpEndpoint;
use parley_sip::{IncomingRequest, StatusCode};
use parley_xmpp::stanza::{
    DefinedCondition, ErrorType, MessageType, Presence, PresenceType, Stanza, StanzaError,
};

use crate::config::ConferenceConfig;
use crate::links::Links;
use crate::metrics::ConferenceJoin;
use occupancy::Command;
use table::{Entry, Table};

/// Commands waiting for one occupancy's task, at most.
const COMMAND_CAPACITY: usize = 64;

/// `[conference]` as the handler uses it, with the MSRP endpoint of `[sessions]`.
pub(crate) struct ConferenceSettings {
    pub(crate) config: ConferenceConfig,
    /// The bound MSRP endpoint.
    pub(crate) msrp: MsrpEndpoint,
    /// The host written in `a=path`.
    pub(crate) host: String,
    /// `sip.outbound_proxy`: the next hop the Contact is written for.
    pub(crate) outbound_proxy: Option<String>,
}

/// What the handler and every occupancy's task share.
pub(crate) struct Shared {
    links: Arc<Links>,
    settings: ConferenceSettings,
    table: Mutex<Table>,
    stopping: tokio_util::sync::CancellationToken,
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh stanza id.
    fn stanza_id(&self) -> String {
        format!("parley-conf-{:x}", self.links.registry.next_correlation())
    }

    fn step(&self) -> Duration {
        Duration::from_secs(self.settings.config.join_secs)
    }

    fn gauges(&self) {
        let open = self.table().len();
        self.links.metrics.conference_occupancies(open);
    }

    /// The occupancy `id` is over: out of the table.
    fn forget(&self, id: u64) {
        self.table().remove(id);
        self.gauges();
    }

    /// A presence error from `room/nick` to `user` (XEP-0045 §7.2).
    fn presence_error(&self, occupant: &Jid, user: &Jid, error: StanzaError) {
        self.presence_error_to(occupant, user, None, error);
    }

    /// A presence error from `from` to `user`, echoing the id of the
    /// presence it answers when there is one.
    fn presence_error_to(&self, from: &Jid, user: &Jid, id: Option<String>, error: StanzaError) {
        let p = Presence {
            from: Some(from.to_string()),
            to: Some(user.to_string()),
            id,
            presence_type: Some(PresenceType::Error),
            error: Some(error),
            ..Presence::default()
        };
        self.links.send(Stanza::Presence(p));
    }
}

/// The conference handler.
pub(crate) struct Conferences {
    shared: Arc<Shared>,
}

impl Conferences {
    pub(crate) fn new(links: Arc<Links>, settings: ConferenceSettings) -> Self {
        Self {
            shared: Arc::new(Shared {
                links,
                settings,
                table: Mutex::new(Table::default()),
                stopping: tokio_util::sync::CancellationToken::new(),
            }),
        }
    }

    /// A SIP request, if it is in one of the occupancies' dialogs (the
    /// focus's BYE, NOTIFY, re-INVITE); anything else is given back.
    pub(crate) fn sip(&self, request: IncomingRequest) -> Option<IncomingRequest> {
        let commands = self
            .shared
            .table()
            .by_call_id(request.call_id())
            .map(|e| e.commands.clone());
        let Some(commands) = commands else {
            return Some(request);
        };
        if let Err(full) = commands.try_send(Command::Sip(Box::new(request))) {
            self.shared.links.metrics.error("conference_occupancy_busy");
            if let Command::Sip(request) = full.into_inner() {
                let (_, responder) = (*request).into_responder();
                responder.respond(StatusCode::SERVICE_UNAVAILABLE, None, vec![], None);
            }
        }
        None
    }

    /// A stanza from the XMPP server, if it is for a conference: a join
    /// (§5.1), or presence and messages of a user in one to its room;
    /// anything else is given back.
    pub(crate) fn xmpp(&self, stanza: Stanza) -> Option<Stanza> {
        if let Stanza::Presence(p) = &stanza
            && self.malformed_join(p)
        {
            return None;
        }
        let (from, to) = match &stanza {
            Stanza::Message(m) => (m.from.as_deref(), m.to.as_deref()),
            Stanza::Presence(p) => (p.from.as_deref(), p.to.as_deref()),
            Stanza::Iq(iq) => (iq.from.as_deref(), iq.to.as_deref()),
        };
        let parse = |j: Option<&str>| j.and_then(|j| Jid::parse(j).ok());
        let (Some(from), Some(to)) = (parse(from), parse(to)) else {
            return Some(stanza);
        };
        if !to
            .domain()
            .eq_ignore_ascii_case(&self.shared.links.component_domain)
            || to.local().is_none()
        {
            return Some(stanza);
        }
        let room = to.bare();
        if let Stanza::Iq(iq) = &stanza {
            // XEP-0045 §6.4, for a conference someone is in (`disco.rs`).
            if to.resource().is_none()
                && disco::is_info_query(iq)
                && self.shared.table().has_room(&room)
            {
                self.shared.links.send(Stanza::Iq(disco::room_info(iq)));
                return None;
            }
            return Some(stanza);
        }
        let existing = self
            .shared
            .table()
            .by_pair(&from, &room)
            .map(|e| e.commands.clone());
        if let Some(commands) = existing {
            let ours = match &stanza {
                Stanza::Presence(_) => to.resource().is_some(),
                Stanza::Message(m) => match m.message_type {
                    Some(MessageType::Groupchat) => to.resource().is_none(),
                    Some(MessageType::Chat) => to.resource().is_some(),
                    // §5.7: a mediated invitation, to the room.
                    None | Some(MessageType::Normal) => {
                        to.resource().is_none() && invite::invitee(m).is_some()
                    }
                    _ => false,
                },
                Stanza::Iq(_) => false,
            };
            if !ours {
                return Some(stanza);
            }
            if commands.try_send(Command::User(Box::new(stanza))).is_err() {
                self.shared.links.metrics.error("conference_occupancy_busy");
            }
            return None;
        }
        if let Stanza::Message(m) = &stanza
            && is_for_an_occupancy(m, &to)
        {
            // No occupancy (never, or not since a restart): XEP-0045 §7.4,
            // "If the sender is not an occupant of the room, the service
            // SHOULD return a <not-acceptable/> error to the sender and
            // SHOULD NOT reflect the message to all occupants"; §7.5, "If
            // the sender is not an occupant of the room in which the
            // intended recipient is visiting, the service MUST return a
            // <not-acceptable/> error". Type `modify` (RFC 6120 §8.3.3.9:
            // "the associated error type SHOULD be \"modify\""). The
            // client learns it is out and can join again.
            debug!(%from, %to, "message to a conference from a non-occupant");
            self.shared
                .links
                .metrics
                .error("conference_not_an_occupant");
            let error = StanzaError {
                error_type: ErrorType::Modify,
                by: Some(room.to_string()),
                ..StanzaError::new(DefinedCondition::NotAcceptable)
            };
            self.shared.links.bounce(m, error);
            return None;
        }
        let Stanza::Presence(p) = &stanza else {
            return Some(stanza);
        };
        match room_request(p, &to, None) {
            Some(RoomRequest::Enter { nickname }) => {
                self.enter(from, room, nickname);
                None
            }
            _ => Some(stanza),
        }
    }

    /// A join presence (`<x xmlns='http://jabber.org/protocol/muc'/>`, no
    /// type) to a conference whose nickname is missing or is no
    /// resourcepart (empty, over 1023 octets, prohibited code points: RFC
    /// 7622 §3.4, RFC 7701 §7.1's bounds): XEP-0045 §7.2.1, "If the user
    /// does not specify a room nickname ..., the service MUST return a
    /// <jid-malformed/> error", from the room, type `modify` (RFC 6120
    /// §8.3.3.8: "the associated error type SHOULD be \"modify\""). Whether
    /// it was one, answered.
    fn malformed_join(&self, p: &Presence) -> bool {
        if p.presence_type.is_some() || !p.payloads.iter().any(|e| e.name == "x" && e.ns == NS_MUC)
        {
            return false;
        }
        let (Some(from), Some(to)) = (p.from.as_deref(), p.to.as_deref()) else {
            return false;
        };
        let Ok(user) = Jid::parse(from) else {
            return false;
        };
        let (bare, nick) = match to.split_once('/') {
            Some((bare, nick)) => (bare, Some(nick)),
            None => (to, None),
        };
        let room = match Jid::parse(bare) {
            Ok(room)
                if room.local().is_some()
                    && room
                        .domain()
                        .eq_ignore_ascii_case(&self.shared.links.component_domain) =>
            {
                room
            }
            _ => return false,
        };
        if nick.is_some() && Jid::parse(to).is_ok() {
            return false;
        }
        debug!(%user, %room, "conference join with a malformed nickname");
        self.shared
            .links
            .metrics
            .conference_join(ConferenceJoin::BadRequest);
        let error = StanzaError {
            error_type: ErrorType::Modify,
            by: Some(room.to_string()),
            ..StanzaError::new(DefinedCondition::JidMalformed)
        };
        self.shared
            .presence_error_to(&room, &user, p.id.clone(), error);
        true
    }

    /// §5.1: a join; refused at once over `conference.max_per_user`.
    fn enter(&self, user: Jid, room: Jid, nickname: String) {
        let shared = &self.shared;
        let occupant = to_occupant(&room, &nickname);
        let (commands, rx) = mpsc::channel(COMMAND_CAPACITY);
        let id = {
            let mut table = shared.table();
            if table.of_user(&user) >= shared.settings.config.max_per_user {
                drop(table);
                debug!(%user, %room, "conference join over conference.max_per_user");
                shared
                    .links
                    .metrics
                    .conference_join(ConferenceJoin::UserLimit);
                // RFC 6120 §8.3.3.18: "The server or recipient is busy or
                // lacks the system resources necessary to service the
                // request"; the type "SHOULD be \"wait\"".
                let error = StanzaError {
                    error_type: ErrorType::Wait,
                    by: Some(room.to_string()),
                    ..StanzaError::new(DefinedCondition::ResourceConstraint)
                };
                shared.presence_error(&occupant, &user, error);
                return;
            }
            table.insert(Entry {
                user: user.clone(),
                room: room.clone(),
                commands,
                call_ids: Vec::new(),
            })
        };
        shared.gauges();
        let shared = Arc::clone(shared);
        self.shared.links.tasks.spawn(occupancy::run(
            shared,
            occupancy::Start {
                id,
                user,
                room,
                nickname,
            },
            rx,
        ));
    }

    /// Shutdown: every occupancy sends its BYE and leaves.
    pub(crate) fn stop(&self) {
        self.shared.stopping.cancel();
        for commands in self.shared.table().all() {
            let _ = commands.try_send(Command::Close);
        }
    }
}

/// Whether `m` to `to` (a JID at the component) could only be meant for
/// an occupancy: a groupchat message (to the room, or XEP-0045 §7.5's
/// wrong type to an occupant), or a private message marked as one with
/// `<x xmlns='http://jabber.org/protocol/muc#user'/>` (§7.5: "the sending
/// client SHOULD add" it). An unmarked chat to `room/nick` is also a chat
/// with a SIP user's instance (`gr`, RFC 7247 §6.3) and goes on as one.
fn is_for_an_occupancy(m: &parley_xmpp::stanza::Message, to: &Jid) -> bool {
    match m.message_type {
        Some(MessageType::Groupchat) => true,
        Some(MessageType::Chat | MessageType::Normal) | None => {
            to.resource().is_some() && m.payloads.iter().any(|e| e.ns == NS_MUC_USER)
        }
        _ => false,
    }
}

/// `room/nick`, or the room when the nickname is not a resourcepart.
fn to_occupant(room: &Jid, nickname: &str) -> Jid {
    parley_mapping::groupchat::room_address::occupant_jid(room, nickname)
        .unwrap_or_else(|_| room.clone())
}

//! RFC 7702 §6: a SIP user joins an XMPP multi-user chat room through
//! Parley. An INVITE with an MSRP offer to `sip:room@<room domain>` (one of
//! `groupchat.room_domains`) makes Parley enter the room as the SIP user's
//! occupant (§6.1, `join.rs`); the room's presence becomes the
//! conference-info document of a SUBSCRIBE to the conference event (§6.2,
//! `conference.rs`); SENDs and the room's messages go both ways, to all and
//! private (§6.3, `translate.rs`); NICKNAME changes the nickname (§6.4,
//! `nickname.rs`); a REFER invites another user (§6.5, `invitation.rs`);
//! BYE leaves the room and the room's kick
//! or destruction ends the session (§6.6). Each occupancy is one task
//! (`occupancy.rs`) between the MSRP session and the component stream; the
//! table (`table.rs`) finds it by Call-ID and by the client JID the room
//! writes to. The rules are `parley_mapping::groupchat`'s.
//!
//! **The 200 waits for the room.** F36 sends the 200 before the presence
//! goes to the room (F40); Parley sends the presence first and answers the
//! INVITE when the room has: its self-presence (XEP-0045 §7.2.2, status
//! 110) gives the 200, its error the SIP status `room_join_error_to_sip`
//! gives (members-only and a password 403, banned 403, no such room 404;
//! a taken nickname is retried with `adjusted_nickname`, RFC 7702 §7, up
//! to [`NICK_ATTEMPTS`] times, then 486), no answer within
//! `groupchat.join_secs` 504. A refusal then reaches the phone as the
//! final answer to its INVITE, with a code it can act on, instead of a 200
//! followed by a BYE it could not tell from a hang-up; the price is that
//! the INVITE waits for the room (at most `join_secs`). The roster is then complete
//! before the phone can SUBSCRIBE: it is kept, and the first NOTIFY
//! carries it (§6: "cache the participant list until the subscription is
//! established").
//!
//! Not here yet (issue 23): the §5 direction; an invitation a room sends
//! to a SIP user (RFC 7702 defines none for §6, see the README).

mod conference;
mod enter;
mod ghost;
mod invitation;
mod join;
mod nickname;
pub(crate) mod occupancy;
mod refresh;
mod table;
mod to_phone;
mod translate;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tracing::{debug, info};

use parley_mapping::address::{Jid, SipAddress};
use parley_msrp::endpoint::Endpoint as MsrpEndpoint;
use parley_sip::dialog::session::InDialog;
use parley_sip::{IncomingRequest, OutgoingRequest, StatusCode};
use parley_xmpp::stanza::{PresenceType, Stanza};

use crate::config::GroupchatConfig;
use crate::links::Links;
use crate::msrp_offer;
use occupancy::Command;
use table::Table;

/// A taken nickname is tried this many times, adjusted (RFC 7702 §7).
pub(crate) const NICK_ATTEMPTS: u32 = 3;

/// The methods a room session takes (RFC 3261 §20.5).
const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, SUBSCRIBE, UPDATE, REFER";

/// Commands waiting for one occupancy's task, at most.
const COMMAND_CAPACITY: usize = 64;

/// `[groupchat]` as the handler uses it, with the MSRP endpoint of `[sessions]`.
pub(crate) struct GroupchatSettings {
    pub(crate) config: GroupchatConfig,
    /// The bound MSRP endpoint.
    pub(crate) msrp: MsrpEndpoint,
    /// The host written in `a=path`.
    pub(crate) host: String,
}

/// Why an occupancy ends; each says which of BYE and the leave is owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The phone's BYE (F59): unavailable presence to the room (F60).
    Bye,
    /// The room kicked, banned or was destroyed (XEP-0045 status 307, 301,
    /// 332, or an unavailable self-presence): BYE to the phone.
    RoomLeft,
    /// The MSRP connection failed: both.
    ConnectionLost,
    /// Parley stops: both.
    Shutdown,
}

impl End {
    fn sends_bye(self) -> bool {
        self != End::Bye
    }

    fn leaves_room(self) -> bool {
        self != End::RoomLeft
    }
}

/// What the handler and every occupancy's task share.
pub(crate) struct Shared {
    pub(crate) links: Arc<Links>,
    settings: GroupchatSettings,
    table: Mutex<Table>,
    stopping: tokio_util::sync::CancellationToken,
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh stanza id.
    pub(crate) fn stanza_id(&self) -> String {
        format!("parley-gc-{:x}", self.links.registry.next_correlation())
    }

    fn gauges(&self) {
        let open = self.table().len();
        self.links.metrics.groupchat_occupancies(open);
    }

    /// Ends the occupancy with `call_id` (once): its task stops, and the
    /// BYE and the unavailable presence `why` still owes go out.
    pub(crate) fn end(&self, call_id: &str, why: End) {
        let Some(entry) = self.table().remove(call_id) else {
            return;
        };
        info!(call_id, ?why, room = %entry.occupant.bare(), "left the room");
        let _ = entry.commands.try_send(Command::Close);
        if why.leaves_room() {
            // §6.6 F60, XEP-0045 §7.14: unavailable presence to the occupant JID.
            self.links
                .send_presence_typed(&entry.me, &entry.occupant, PresenceType::Unavailable);
        }
        if why.sends_bye() && !entry.dialog.is_ended() {
            let mut dialog = entry.dialog;
            let bye = OutgoingRequest::in_dialog(dialog.bye(), vec![], None);
            let sip = self.links.sip.clone();
            let metrics = Arc::clone(&self.links.metrics);
            let call_id = call_id.to_owned();
            self.links.tasks.spawn(async move {
                match sip.send_request(bye).await {
                    Ok(r) => debug!(call_id, status = r.status, "BYE answered"),
                    Err(e) => {
                        debug!(call_id, error = %e, "BYE unanswered");
                        metrics.error(e.kind());
                    }
                }
            });
        }
        self.gauges();
    }

    /// Where Parley's MSRP endpoint is, for the answer: CPIM only (RFC
    /// 7701 §6.3: a SEND without it gets 415), text inside, and the room's
    /// `a=chatroom:nickname private-messages` (RFC 7701 §8: NICKNAME is
    /// answered by `nickname.rs`, private messages by `Groupchat::xmpp`).
    fn local(&self) -> msrp_offer::Local {
        msrp_offer::Local {
            host: self.settings.host.clone(),
            port: self.settings.msrp.local_addr().map_or(0, |a| a.port()),
            tls_port: self.settings.msrp.local_tls_addr().map(|a| a.port()),
            max_message_bytes: self.settings.config.max_message_bytes,
            accept_types: "message/cpim",
            accept_wrapped_types: "text/plain",
            chatroom: Some(parley_msrp::sdp::Chatroom::nicknames_and_private_messages()),
        }
    }

    fn join_deadline(&self) -> Duration {
        Duration::from_secs(self.settings.config.join_secs)
    }
}

/// Whether `a` and `b` have the same bare JID (localpart and domain
/// compared without case, as the room's JID comes back from the server).
fn same_bare(a: &Jid, b: &Jid) -> bool {
    a.bare()
        .to_string()
        .eq_ignore_ascii_case(&b.bare().to_string())
}

/// A private message from an occupant: not groupchat, not an error, with
/// a body, from `room/nick`.
fn is_private(m: &parley_xmpp::stanza::Message) -> bool {
    use parley_xmpp::stanza::MessageType;
    !matches!(
        m.message_type,
        Some(MessageType::Groupchat | MessageType::Error)
    ) && m.body.is_some()
        && m.from
            .as_deref()
            .and_then(|f| Jid::parse(f).ok())
            .is_some_and(|f| f.resource().is_some())
}

/// The groupchat handler.
pub(crate) struct Groupchat {
    shared: Arc<Shared>,
}

impl Groupchat {
    pub(crate) fn new(links: Arc<Links>, settings: GroupchatSettings) -> Self {
        Self {
            shared: Arc::new(Shared {
                links,
                settings,
                table: Mutex::new(Table::default()),
                stopping: tokio_util::sync::CancellationToken::new(),
            }),
        }
    }

    /// A SIP request, if it is groupchat's: a new INVITE to a room domain
    /// (§6.1), any request in an occupancy's dialog (ACK, BYE, SUBSCRIBE,
    /// re-INVITE), a conference SUBSCRIBE to a room outside it. Anything
    /// else is given back.
    pub(crate) fn sip(&self, request: IncomingRequest) -> Option<IncomingRequest> {
        if self.shared.table().contains(request.call_id()) {
            self.in_dialog(request);
            return None;
        }
        let request = conference::subscribe_outside(&self.shared, request)?;
        let to_room = request.method() == "INVITE"
            && request.view().to_tag().is_none()
            && SipAddress::from_uri(request.view().uri())
                .ok()
                .and_then(|a| a.host())
                .is_some_and(|h| self.shared.settings.config.is_room_domain(&h));
        if !to_room {
            return Some(request);
        }
        join::handle(&self.shared, request);
        None
    }

    /// A request inside an occupancy's dialog.
    fn in_dialog(&self, request: IncomingRequest) {
        let call_id = request.call_id().to_owned();
        let (view, responder) = request.into_responder();
        let decided = {
            let mut table = self.shared.table();
            match table.get_mut(&call_id) {
                None => Err((StatusCode::CALL_DOES_NOT_EXIST, None, vec![])),
                Some(entry) => entry
                    .dialog
                    .handle_request(view.message(), || rand::random::<u32>() % 11)
                    .map_err(|r| r.response_parts()),
            }
        };
        match decided {
            Err((status, reason, headers)) => responder.respond(status, reason, headers, None),
            Ok(InDialog::Bye) => {
                // §6.6 F62 (RFC 3261 §15.1.2: 200, the session is over).
                responder.respond(StatusCode::OK, None, vec![], None);
                self.shared.end(&call_id, End::Bye);
            }
            Ok(InDialog::Ack) => {}
            Ok(InDialog::Other) if view.method() == "SUBSCRIBE" => {
                conference::subscribe(&self.shared, &call_id, &view, responder);
            }
            Ok(InDialog::Other) if view.method() == "REFER" => {
                invitation::refer(&self.shared, &call_id, &view, responder);
            }
            Ok(kind @ (InDialog::Reinvite | InDialog::Update)) => {
                refresh::answer(&self.shared, &call_id, kind, &view, responder);
            }
            Ok(_) => {
                // RFC 3261 §21.4.6: a method the dialog does not take, with
                // the Allow the 405 asks for.
                responder.respond(
                    StatusCode::METHOD_NOT_ALLOWED,
                    None,
                    vec![("Allow".into(), ALLOW.into())],
                    None,
                );
            }
        }
    }

    /// A stanza from the XMPP server, if it is for an occupant client
    /// Parley runs; anything else is given back.
    pub(crate) fn xmpp(&self, stanza: Stanza) -> Option<Stanza> {
        let (from, to) = match &stanza {
            Stanza::Message(m) => (m.from.as_deref(), m.to.as_deref()),
            Stanza::Presence(p) => (p.from.as_deref(), p.to.as_deref()),
            Stanza::Iq(_) => (None, None),
        };
        let parse = |j: Option<&str>| j.and_then(|j| Jid::parse(j).ok());
        let (Some(from), Some(to)) = (parse(from), parse(to)) else {
            return Some(stanza);
        };
        if to.resource().is_none() {
            return Some(stanza);
        }
        // Only the room (or its occupants) speaks to an occupant client:
        // anyone else writing to that JID is not a room occupant, and must
        // not reach the phone as one (`room;gr=<their resource>`).
        let found = {
            let table = self.shared.table();
            table
                .by_me(&to.to_string())
                .filter(|(_, e)| same_bare(&from, &e.occupant))
                .map(|(call_id, e)| {
                    let mut all = vec![(e.commands.clone(), e.takes_private)];
                    all.extend(table.siblings(call_id));
                    all
                })
        };
        let Some(sessions) = found else {
            return self.ghost(stanza, &from, &to);
        };
        // RFC 7701 §6.2: "if the policy of the chat room allows simultaneous
        // access, the MSRP switch MUST copy all private messages intended to
        // the recipient through each MSRP session mapped to the recipient's
        // URI": the room admitted each session of this SIP user as an
        // occupant of its own (`Nick (2)`, §7.1) and delivers a private
        // message to one; each session whose phone takes private messages
        // gets it, once. Only when none does is the message the addressed
        // session's to refuse (`occupancy.rs`), so its sender gets one
        // error at most, and none when a phone got it.
        if let Stanza::Message(m) = &stanza
            && is_private(m)
            && sessions.iter().any(|(_, takes)| *takes)
        {
            for (commands, _) in sessions.iter().filter(|(_, takes)| *takes) {
                let copy = Command::PrivateCopy(Box::new(m.clone()));
                if commands.try_send(copy).is_err() {
                    self.shared.links.metrics.error("groupchat_occupancy_busy");
                }
            }
            return None;
        }
        let Some((commands, _)) = sessions.first() else {
            return Some(stanza);
        };
        if commands.try_send(Command::Room(Box::new(stanza))).is_err() {
            self.shared.links.metrics.error("groupchat_occupancy_busy");
        }
        None
    }

    /// A stanza for an occupant client no occupancy is behind (Parley
    /// restarted, `ghost.rs`): from a room, the error that makes the room
    /// drop the occupant; anything else is given back.
    fn ghost(&self, stanza: Stanza, from: &Jid, to: &Jid) -> Option<Stanza> {
        let from_a_room = self.shared.settings.config.is_room_domain(from.domain());
        if !(from_a_room && ghost::is_occupant_client(to)) {
            return Some(stanza);
        }
        if let Some(answer) = ghost::answer(&stanza) {
            info!(%from, %to, "a room wrote to an occupancy that is gone: item-not-found");
            self.shared.links.metrics.error("groupchat_ghost_answered");
            self.shared.links.send(answer);
        }
        None
    }

    /// Shutdown: every occupancy leaves its room and gets a BYE.
    pub(crate) fn stop(&self) {
        self.shared.stopping.cancel();
        let all = self.shared.table().call_ids();
        for call_id in all {
            self.shared.end(&call_id, End::Shutdown);
        }
    }
}

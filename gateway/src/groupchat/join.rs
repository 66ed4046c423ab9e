//! RFC 7702 §6.1 (F35–F37, F40): a SIP user's INVITE to a room. The From
//! maps as page mode maps it (RFC 7247 §6), the Request-URI is the room
//! (`room_for_sip_target`), the nickname the temporary one (§6.1: "such as
//! the SIP From header display name"); the offer is answered as a chat
//! session's (`crate::msrp_offer`) with CPIM only and `a=chatroom` (RFC 7701
//! §8). Then the occupancy's task (`occupancy.rs`) opens the MSRP session,
//! enters the room and answers the INVITE when the room has answered.

use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::{debug, info};

use parley_mapping::address::{Jid, SipAddress};
use parley_mapping::groupchat::MucRoster;
use parley_mapping::groupchat::room_address::{
    adjusted_nickname, occupant_jid, room_for_sip_target, temporary_nickname,
};
use parley_msrp::endpoint::SessionSpec;
use parley_msrp::session::{MessageAnswers, NicknameRequests};
use parley_sip::dialog::session::{Session as Dialog, TimerAnswer};
use parley_sip::{IncomingRequest, Responder, StatusCode};

use super::occupancy::{self, Occupancy};
use super::table::Entry;
use super::{COMMAND_CAPACITY, Shared, ghost};
use crate::metrics::GroupchatJoin;
use crate::msrp_offer;

/// §6.1: a new INVITE to `sip:room@<room domain>`.
pub(super) fn handle(shared: &Arc<Shared>, request: IncomingRequest) {
    let links = &shared.links;
    let call_id = request.call_id().to_owned();
    let (view, responder) = request.into_responder();
    let refuse = |responder: Responder, status: StatusCode, headers, outcome| {
        links.metrics.groupchat_join(outcome);
        responder.respond(status, None, headers, None);
    };
    let addresses = SipAddress::from_uri(&view.from_address().uri).and_then(|from| {
        let sip_jid = links.mapper.sip_user_to_jid(&from)?;
        let room = room_for_sip_target(&links.mapper, &SipAddress::from_uri(view.uri())?)?;
        Ok((from, sip_jid, room))
    });
    let (phone_uri, sip_jid, room) = match addresses {
        Ok(a) => a,
        Err(e) => {
            info!(%call_id, error = %e, "room INVITE refused");
            links.metrics.groupchat_join(GroupchatJoin::BadRequest);
            links.answer_sip(responder, &e.sip_answer());
            return;
        }
    };
    let display = view.from_address().display.clone();
    let Some(base_nickname) = temporary_nickname(display.as_deref(), &phone_uri) else {
        refuse(
            responder,
            StatusCode::BAD_REQUEST,
            vec![],
            GroupchatJoin::BadRequest,
        );
        return;
    };
    if !links.xmpp.is_connected() {
        let headers = vec![("Retry-After".into(), "30".into())];
        refuse(
            responder,
            StatusCode::SERVICE_UNAVAILABLE,
            headers,
            GroupchatJoin::Failed,
        );
        return;
    }
    let (session_id, origin) = msrp_offer::fresh_ids();
    let accepted = match msrp_offer::answer(
        view.header("Content-Type").as_deref(),
        view.body(),
        &shared.local(),
        &session_id,
        origin,
        &links.mapper.sip_domain,
    ) {
        Ok(a) => a,
        Err(refused) => {
            info!(%call_id, status = refused.status.code(), "room INVITE offer refused");
            refuse(
                responder,
                refused.status,
                refused.headers,
                GroupchatJoin::BadRequest,
            );
            return;
        }
    };
    // RFC 4028 is not asked of a room session: no timer.
    let dialog = match Dialog::uas(
        view.message(),
        responder.to_tag(),
        TimerAnswer::None,
        std::time::Instant::now(),
    ) {
        Ok(d) => d,
        Err(e) => {
            debug!(%call_id, error = %e, "room INVITE without a usable dialog");
            refuse(
                responder,
                StatusCode::BAD_REQUEST,
                vec![],
                GroupchatJoin::BadRequest,
            );
            return;
        }
    };
    // The occupant client: the SIP user's JID with a resource of its own,
    // so that two rooms (or the same room twice) do not share one.
    let resource = ghost::occupant_resource();
    let me = match Jid::new(sip_jid.local(), sip_jid.domain(), Some(&resource)) {
        Ok(j) => j,
        Err(e) => {
            links.metrics.groupchat_join(GroupchatJoin::BadRequest);
            links.answer_sip(responder, &e.sip_answer());
            return;
        }
    };
    // RFC 7701 §8: the answer declares the room's `a=chatroom` (`Local`);
    // the phone's own says whether it takes private messages (§6.2), and
    // one without is not chat room aware (§11).
    let sdp = accepted.sdp.clone();
    let private_messages = accepted
        .peer_chatroom
        .as_ref()
        .is_some_and(|c| c.private_messages);
    let chatroom_aware = accepted.peer_chatroom.is_some();
    let takes_wrapped_text = accepted.peer_takes_wrapped_text;
    let user = sip_jid.bare().to_string().to_lowercase();
    let (commands, commands_rx) = mpsc::channel(COMMAND_CAPACITY);
    let nickname;
    let occupant;
    {
        let mut table = shared.table();
        // RFC 7701 §7.1: the switch "MUST NOT automatically assign the same
        // nickname to more than one MSRP session established from the same
        // URI": another session of this user in this room keeps its own
        // (the room may admit the same nickname for a second resource,
        // XEP-0045 §7.2.8), so this one starts adjusted (RFC 7702 §7).
        nickname = own_nickname(&base_nickname, &table.nicknames_of(&user, &room));
        occupant = match occupant_jid(&room, &nickname) {
            Ok(j) => j,
            Err(e) => {
                drop(table);
                links.metrics.groupchat_join(GroupchatJoin::BadRequest);
                links.answer_sip(responder, &e.sip_answer());
                return;
            }
        };
        if !table.admits(&user, shared.settings.config.max_rooms_per_user) {
            drop(table);
            // RFC 3261 §21.4.24: "not willing or able to take additional
            // calls at this end system".
            refuse(
                responder,
                StatusCode::BUSY_HERE,
                vec![],
                GroupchatJoin::UserLimit,
            );
            return;
        }
        table.insert(
            call_id.clone(),
            Entry {
                user,
                me: me.clone(),
                occupant: occupant.clone(),
                dialog,
                commands,
                subscription: None,
                local_sdp: sdp.clone(),
                remote_path: accepted.spec.remote_path.clone(),
                takes_private: private_messages && takes_wrapped_text,
            },
        );
    }
    shared.gauges();
    let room_uri = match links.mapper.xmpp_user_to_sip(&room) {
        Ok(uri) => uri,
        // The room's own SIP address, as the INVITE named it.
        Err(_) => SipAddress::from_uri(view.uri())
            .map(|a| a.without_params())
            .unwrap_or_else(|_| phone_uri.clone()),
    };
    // Example 28: the Contact is the focus's (RFC 4579 `isfocus`).
    let contact = format!(
        "{};isfocus",
        links.sip.contact(None, view.transport, view.source)
    );
    info!(%call_id, %room, %nickname, "joining a room for a SIP user");
    links.tasks.spawn(occupancy::run(Occupancy {
        shared: Arc::clone(shared),
        call_id,
        room,
        room_uri,
        phone_uri: phone_uri.without_params(),
        private_messages,
        chatroom_aware,
        takes_wrapped_text,
        me,
        nickname,
        roster: MucRoster::new(shared.settings.config.max_occupants),
        commands: commands_rx,
        opening: Some(occupancy::Opening {
            responder,
            spec: room_session(accepted.spec),
            sdp,
            contact,
        }),
    }));
}

/// The MSRP session of a room: Parley is the chat room, so the phone's
/// NICKNAMEs are its to answer (RFC 7701 §7.1, `nickname.rs`), and so is
/// the response to a SEND, given once its CPIM wrapper is read (RFC 7701
/// §6: 403, 404, 415, `occupancy.rs`).
fn room_session(mut spec: SessionSpec) -> SessionSpec {
    spec.options.nickname_requests = NicknameRequests::Application;
    spec.options.message_answers = MessageAnswers::Application;
    spec
}

/// `base`, or its first adjustment (RFC 7702 §7) that none of `taken` (the
/// nicknames of the same user's other sessions in the room) holds.
fn own_nickname(base: &str, taken: &[String]) -> String {
    (0..)
        .map(|attempt| adjusted_nickname(base, attempt))
        .find(|n| !taken.iter().any(|t| t == n))
        .unwrap_or_else(|| base.to_owned())
}

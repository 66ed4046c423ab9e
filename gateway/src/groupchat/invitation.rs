//! RFC 7702 §6.5 (F55–F58): the SIP user's REFER in the room session
//! invites another user. `parley_mapping::groupchat::invitation` decides
//! the invitee and writes the stanza; this file answers the REFER (200, as
//! F56: RFC 6665 §8.3.1 deprecates 202, "there is no actual processing
//! difference for a 202 as compared to a 200") and hands the invitation
//! to the occupancy's task, which sends the mediated invitation (XEP-0045
//! §7.8.2) and Example 43's NOTIFY in the order of the dialog's other
//! NOTIFYs.

use std::sync::Arc;

use tracing::info;

use parley_mapping::groupchat::invitation::refer_invitee;
use parley_sip::{RequestView, Responder, StatusCode};

use super::Shared;
use super::occupancy::Command;

/// A REFER in the dialog of the occupancy `call_id`.
pub(super) fn refer(shared: &Arc<Shared>, call_id: &str, view: &RequestView, responder: Responder) {
    let links = &shared.links;
    let invitee = match refer_invitee(&links.mapper, view.header("Refer-To").as_deref()) {
        Ok(jid) => jid,
        Err(answer) => {
            info!(call_id, status = answer.status.code, "REFER refused");
            links.answer_sip(responder, &answer);
            return;
        }
    };
    let commands = shared.table().get_mut(call_id).map(|e| e.commands.clone());
    let Some(commands) = commands else {
        responder.respond(StatusCode::CALL_DOES_NOT_EXIST, None, vec![], None);
        return;
    };
    info!(call_id, %invitee, "invitation to the room");
    responder.respond(StatusCode::OK, None, vec![], None);
    if commands.try_send(Command::Invite { invitee }).is_err() {
        links.metrics.error("groupchat_occupancy_busy");
    }
}

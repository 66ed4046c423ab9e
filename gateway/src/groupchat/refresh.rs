//! A re-INVITE or UPDATE in a room session, answered as chat sessions
//! answer them (`crate::session`'s `timer.rs`), less the timer: the room's
//! 200 carried no Session-Expires, so "there is no session expiration"
//! (RFC 4028 §7.2), and the answer to a refresh carries none either ("A
//! 2xx without a Session-Expires can come for both initial and subsequent
//! session refresh requests"). A re-INVITE whose offer keeps the MSRP path
//! gets 200 with the SDP Parley answered before, and an UPDATE without an
//! offer 200 (RFC 4028 §7.4: "It is RECOMMENDED that the UPDATE request
//! not contain an offer"); one that would move the session (another path,
//! an offer that does not parse, an UPDATE with an offer, a re-INVITE
//! without one) gets 488 and the session stays as it was (RFC 3261
//! §14.2).

use tracing::debug;

use parley_sip::dialog::session::{InDialog, TimerAnswer};
use parley_sip::{RequestView, Responder, StatusCode};

use super::Shared;
use crate::msrp_offer;

/// The phone's re-INVITE or UPDATE (`kind`) in the occupancy `call_id`,
/// accepted by its dialog.
pub(super) fn answer(
    shared: &Shared,
    call_id: &str,
    kind: InDialog,
    view: &RequestView,
    responder: Responder,
) {
    let now = std::time::Instant::now();
    let mut table = shared.table();
    let Some(entry) = table.get_mut(call_id) else {
        drop(table);
        responder.respond(StatusCode::CALL_DOES_NOT_EXIST, None, vec![], None);
        return;
    };
    let keeps = msrp_offer::refresh_keeps_session(kind, view, &entry.remote_path);
    let status = if keeps { 200 } else { 488 };
    entry
        .dialog
        .answered(view.cseq(), status, TimerAnswer::None, now);
    let body = (keeps && kind == InDialog::Reinvite)
        .then(|| ("application/sdp".to_owned(), entry.local_sdp.clone().into()));
    drop(table);
    if keeps {
        responder.respond(StatusCode::OK, None, vec![], body);
    } else {
        debug!(
            call_id,
            "re-INVITE/UPDATE that changes the room session refused"
        );
        responder.respond(StatusCode::NOT_ACCEPTABLE_HERE, None, vec![], None);
    }
}

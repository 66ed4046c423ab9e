//! The focus's re-INVITE or UPDATE in an occupancy's INVITE dialog,
//! answered as chat sessions and rooms answer them
//! (`crate::msrp_offer::refresh_keeps_session`): a re-INVITE whose offer
//! keeps the switch's MSRP path gets 200 with the SDP Parley offered at the
//! join (RFC 4028 §7.4: "the same value for the origin field"), an UPDATE
//! without an offer 200 (§7.4: "It is RECOMMENDED that the UPDATE request
//! not contain an offer"); one that would move the session (another path,
//! an offer that does not parse, an UPDATE with an offer, a re-INVITE
//! without one) gets 488 and the session stays as it was (RFC 3261 §14.2).
//! No session timer: the 200 carries no Session-Expires, which RFC 4028
//! §7.2 reads as "there is no session expiration" ("A 2xx without a
//! Session-Expires can come for both initial and subsequent session
//! refresh requests"); a focus that requires one (`Require: timer`) gets
//! 420 with `Unsupported: timer` (RFC 3261 §8.2.2.3).

use tracing::debug;

use parley_msrp::uri::Uri;
use parley_sip::dialog::session::{InDialog, Session as Dialog, TimerAnswer};
use parley_sip::{RequestView, Responder, StatusCode};

/// RFC 3261 §21.4.15, 420 Bad Extension.
const BAD_EXTENSION: StatusCode = match StatusCode::new(420) {
    Some(s) => s,
    None => StatusCode::BAD_REQUEST,
};

/// What the occupancy keeps to answer a refresh.
pub(super) struct Kept {
    /// The SDP of Parley's INVITE (its offer, `a=chatroom` and all).
    pub(super) local_sdp: String,
    /// The switch's MSRP path from its answer.
    pub(super) remote_path: Vec<Uri>,
}

/// The focus's `kind` (a re-INVITE or an UPDATE) in `dialog`, which
/// accepted it (CSeq in order). `contact` goes into the 200: a re-INVITE
/// or UPDATE is a target refresh both ways, and the Contact "can be used
/// to contact that specific instance of the UA for subsequent requests"
/// (RFC 3261 §8.1.1.8), so it is the join's, `gr` and all.
pub(super) fn answer(
    dialog: &mut Dialog,
    kind: InDialog,
    view: &RequestView,
    responder: Responder,
    kept: &Kept,
    contact: String,
) {
    let now = std::time::Instant::now();
    let cseq = view.cseq();
    let required_timer = view
        .header_values("Require")
        .iter()
        .any(|r| r.split(',').any(|t| t.trim().eq_ignore_ascii_case("timer")));
    if required_timer {
        dialog.answered(cseq, 420, TimerAnswer::None, now);
        responder.respond(
            BAD_EXTENSION,
            None,
            vec![("Unsupported".to_owned(), "timer".to_owned())],
            None,
        );
        return;
    }
    let keeps = crate::msrp_offer::refresh_keeps_session(kind, view, &kept.remote_path);
    if !keeps {
        dialog.answered(cseq, 488, TimerAnswer::None, now);
        debug!(
            call_id = view.call_id(),
            "the focus's re-INVITE/UPDATE would change the session: 488"
        );
        responder.respond(StatusCode::NOT_ACCEPTABLE_HERE, None, vec![], None);
        return;
    }
    dialog.answered(cseq, 200, TimerAnswer::None, now);
    let body = (kind == InDialog::Reinvite)
        .then(|| ("application/sdp".to_owned(), kept.local_sdp.clone().into()));
    responder.respond(
        StatusCode::OK,
        None,
        vec![("Contact".to_owned(), contact)],
        body,
    );
}

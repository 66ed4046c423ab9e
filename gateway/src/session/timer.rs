//! RFC 4028 session timers on chat sessions, and the re-INVITEs and
//! UPDATEs that refresh them. The phone's refresh is answered with the SDP
//! Parley sent before ("the same value for the origin field", §7.4) when
//! it keeps the session's MSRP path, and refused with 488 when it would
//! change it (RFC 3261 §14.2: the session stays as it was). When Parley is
//! the refresher it sends an UPDATE if the phone allows one, else a
//! re-INVITE repeating its SDP (§7.4); when the phone is and no refresh
//! comes, or Parley's refresh times out or gets 408 or 481 (§10), the
//! session ends: BYE and `<gone/>`.

use std::sync::Arc;

use tokio::time::Instant;
use tracing::{debug, info};

use parley_sip::dialog::session::{
    InDialog, MIN_SESSION_INTERVAL, SessionEvent, TimerAnswer, decide_timer,
};
use parley_sip::{OutgoingRequest, RequestView, Responder, Response, StatusCode, TransactionError};

use super::{End, Shared};
use crate::msrp_offer as offer;

/// The phone's re-INVITE or UPDATE in the session with `call_id`, which
/// the dialog accepted (CSeq in order, no INVITE crossing).
pub(super) fn answer_refresh(
    shared: &Arc<Shared>,
    call_id: &str,
    kind: InDialog,
    view: &RequestView,
    responder: Responder,
) {
    let cseq = view.cseq();
    let now = std::time::Instant::now();
    let mut table = shared.table();
    let Some(entry) = table.get_mut(call_id) else {
        drop(table);
        responder.respond(StatusCode::CALL_DOES_NOT_EXIST, None, vec![], None);
        return;
    };
    // What the request asks of the session: a refresh keeps it as it is.
    let keeps = offer::refresh_keeps_session(kind, view, &entry.remote_path);
    if !keeps {
        entry.dialog.answered(cseq, 488, TimerAnswer::None, now);
        drop(table);
        debug!(call_id, "re-INVITE/UPDATE that changes the session refused");
        responder.respond(StatusCode::NOT_ACCEPTABLE_HERE, None, vec![], None);
        return;
    }
    let timer = decide_timer(view.message(), MIN_SESSION_INTERVAL);
    if let TimerAnswer::TooSmall { .. } = timer {
        // §9: 422 with our Min-SE; the session stays as it was.
        entry.dialog.answered(cseq, 422, timer, now);
        drop(table);
        responder.respond(
            StatusCode::SESSION_INTERVAL_TOO_SMALL,
            None,
            timer.headers(),
            None,
        );
        return;
    }
    entry.dialog.answered(cseq, 200, timer, now);
    entry.interval = match timer {
        TimerAnswer::Accept {
            session_expires, ..
        } => Some(session_expires.interval),
        _ => None,
    };
    if view
        .header("Allow")
        .is_some_and(|a| super::invite::allows_update(Some(&a)))
    {
        entry.peer_allows_update = true;
    }
    let body = (kind == InDialog::Reinvite)
        .then(|| ("application/sdp".to_owned(), entry.local_sdp.clone().into()));
    drop(table);
    let mut headers = vec![("Supported".to_owned(), "timer".to_owned())];
    headers.extend(timer.headers());
    responder.respond(StatusCode::OK, None, headers, body);
}

/// The reaper's tick: session timers that are due.
pub(super) fn tick(shared: &Arc<Shared>, now: Instant) {
    let now = now.into_std();
    let due = shared.table().timers_due(now);
    for call_id in due {
        let event = shared
            .table()
            .get_mut(&call_id)
            .and_then(|e| e.dialog.handle_timeout(now));
        match event {
            Some(SessionEvent::RefreshDue) => refresh(shared, &call_id),
            Some(SessionEvent::Expired) => {
                info!(call_id, "session timer expired");
                shared.end(&call_id, End::Expired);
            }
            None => {}
        }
    }
}

/// §10: Parley refreshes the session with `call_id`: UPDATE without an
/// offer if the phone allows UPDATE, else a re-INVITE repeating Parley's
/// SDP (§7.4), each with `Session-Expires` (the current interval,
/// `refresher=uac`: Parley keeps refreshing) and `Supported: timer`.
fn refresh(shared: &Arc<Shared>, call_id: &str) {
    let (request, reinvite) = {
        let mut table = shared.table();
        let Some(entry) = table.get_mut(call_id) else {
            return;
        };
        let interval = entry.interval.unwrap_or(MIN_SESSION_INTERVAL);
        let headers = vec![
            (
                "Session-Expires".to_owned(),
                format!("{interval};refresher=uac"),
            ),
            ("Supported".to_owned(), "timer".to_owned()),
        ];
        if entry.peer_allows_update {
            let update = entry.dialog.update();
            (OutgoingRequest::in_dialog(update, headers, None), false)
        } else {
            // §14.1: no re-INVITE while another is in progress; the expiry
            // still ends the session if no refresh succeeds.
            let Some(reinvite) = entry.dialog.reinvite() else {
                return;
            };
            let body = ("application/sdp".to_owned(), entry.local_sdp.clone().into());
            (
                OutgoingRequest::in_dialog(reinvite, headers, Some(body)),
                true,
            )
        }
    };
    let shared = Arc::clone(shared);
    let call_id = call_id.to_owned();
    shared.links.tasks.clone().spawn(async move {
        let result = if reinvite {
            reinvite_once(&shared, request).await
        } else {
            shared.links.sip.send_request(request).await
        };
        refreshed(&shared, &call_id, result);
    });
}

/// Sends a re-INVITE and returns its final response, its 2xx ACKed
/// (RFC 3261 §13.2.2.4).
async fn reinvite_once(
    shared: &Arc<Shared>,
    request: OutgoingRequest,
) -> Result<Response, TransactionError> {
    let mut client = shared.links.sip.send_invite(request).await?;
    loop {
        match client.next_response().await {
            Some(Ok(r)) if r.status < 200 => {}
            Some(Ok(r)) => {
                if r.is_success() {
                    client.send_ack(&r, vec![], None).await?;
                }
                return Ok(r);
            }
            Some(Err(e)) => return Err(e),
            None => return Err(TransactionError::Timeout),
        }
    }
}

/// §10: the answer to Parley's refresh. A 2xx restarts the timer; a
/// timeout, 408 or 481 ends the session; anything else leaves it to expire.
fn refreshed(shared: &Arc<Shared>, call_id: &str, result: Result<Response, TransactionError>) {
    let now = std::time::Instant::now();
    match result {
        Ok(r) => {
            if let Some(entry) = shared.table().get_mut(call_id) {
                entry.dialog.handle_response(r.message(), now);
            }
            if matches!(r.status, 408 | 481) {
                info!(call_id, status = r.status, "session refresh failed");
                shared.end(call_id, End::Expired);
            } else if !r.is_success() {
                debug!(call_id, status = r.status, "session refresh refused");
            }
        }
        Err(TransactionError::Timeout) => {
            info!(call_id, "session refresh unanswered");
            shared.end(call_id, End::Expired);
        }
        Err(e) => {
            debug!(call_id, error = %e, "session refresh not sent");
            shared.links.metrics.error(e.kind());
        }
    }
}

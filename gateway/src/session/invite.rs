//! RFC 7573 §5, F17–F22: a SIP user's INVITE to an XMPP user. The
//! addresses are mapped as page mode maps them, the offer answered
//! (`offer.rs`), the limits checked (`table.rs`); then a task opens the
//! MSRP session, sends the 200 with the SDP answer and becomes the
//! session's relay (`relay.rs`). A CANCEL before the 200 (the endpoint
//! answers 487, RFC 3261 §9.2) leaves nothing open.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use parley_mapping::address::{Jid, SipAddress};
use parley_mapping::error::MappingError;
use parley_msrp::endpoint::{DriverError, SessionSpec};
use parley_sip::dialog::session::{
    MIN_SESSION_INTERVAL, Session as Dialog, TimerAnswer, decide_timer,
};
use parley_sip::{IncomingRequest, Responder, StatusCode};

use super::relay::{Command, Relay};
use super::table::{Entry, Full, Pair};
use super::{COMMAND_CAPACITY, End, Shared};
use crate::metrics::SessionRefusal;
use crate::msrp_offer::{self as offer, Refused};

/// RFC 7573 §5 (F17–F22): a new INVITE from a SIP user to an XMPP user.
pub(super) fn handle(shared: &Arc<Shared>, request: IncomingRequest) {
    let links = &shared.links;
    let call_id = request.call_id().to_owned();
    let (view, responder) = request.into_responder();
    let refuse = |responder: Responder, refused: Refused, reason: Option<&str>| {
        links.metrics.msrp_refusal(refused.reason);
        responder.respond(refused.status, reason, refused.headers, None);
    };
    // The addresses as page mode maps them (RFC 7247 §6).
    let users = SipAddress::from_uri(&view.from_address().uri).and_then(|from| {
        let sip_jid = links.mapper.sip_user_to_jid(&from)?;
        let target = SipAddress::from_uri(view.uri())?;
        let xmpp_jid = match links.mapper.sip_target_to_jid(&target) {
            Err(MappingError::AddressIncomplete) => {
                let to = SipAddress::from_uri(&view.to_address().uri)?;
                links.mapper.sip_target_to_jid(&to)?
            }
            other => other?,
        };
        Ok((sip_jid, xmpp_jid))
    });
    let (sip_jid, xmpp_jid) = match users {
        Ok(u) => u,
        Err(e) => {
            info!(%call_id, error = %e, "INVITE refused");
            links.metrics.msrp_refusal(SessionRefusal::Unmappable);
            links.answer_sip(responder, &e.sip_answer());
            return;
        }
    };
    if !links.xmpp.is_connected() {
        // As page mode: the XMPP side cannot take the conversation now.
        let refused = Refused {
            status: StatusCode::SERVICE_UNAVAILABLE,
            headers: vec![("Retry-After".into(), "30".into())],
            reason: SessionRefusal::Unavailable,
        };
        refuse(responder, refused, Some("XMPP Server Unavailable"));
        return;
    }
    let (session_id, origin) = offer::fresh_ids();
    let accepted = match offer::answer(
        view.header("Content-Type").as_deref(),
        view.body(),
        &shared.local(),
        &session_id,
        origin,
        &links.mapper.sip_domain,
    ) {
        Ok(a) => a,
        Err(refused) => {
            info!(%call_id, status = refused.status.code(), "INVITE offer refused");
            refuse(responder, refused, None);
            return;
        }
    };
    let pair = Pair::of(&sip_jid, &xmpp_jid);
    // RFC 4028 §9: the session timer the phone asks for, or 422.
    let timer = decide_timer(view.message(), MIN_SESSION_INTERVAL);
    if let TimerAnswer::TooSmall { .. } = timer {
        let refused = Refused {
            status: StatusCode::SESSION_INTERVAL_TOO_SMALL,
            headers: timer.headers(),
            reason: SessionRefusal::IntervalTooSmall,
        };
        refuse(responder, refused, None);
        return;
    }
    let dialog = match Dialog::uas(
        view.message(),
        responder.to_tag(),
        timer,
        std::time::Instant::now(),
    ) {
        Ok(d) => d,
        Err(e) => {
            debug!(%call_id, error = %e, "INVITE without a usable dialog");
            responder.respond(StatusCode::BAD_REQUEST, None, vec![], None);
            return;
        }
    };
    let (commands, commands_rx) = mpsc::channel(COMMAND_CAPACITY);
    {
        let mut table = shared.table();
        if let Err(full) = table.admit(&pair, shared.settings.limits) {
            drop(table);
            refuse(
                responder,
                over_limit(full, shared.settings.retry_after_secs),
                None,
            );
            return;
        }
        let entry = Entry {
            pair,
            sip_jid: sip_jid.clone(),
            xmpp_jid: xmpp_jid.clone(),
            // Example 14: the INVITE's Call-ID is the thread.
            thread: call_id.clone(),
            dialog,
            commands,
            last_activity: Instant::now(),
            peer_takes_composing: accepted.peer_takes_composing,
            local_sdp: accepted.sdp.clone(),
            remote_path: accepted.spec.remote_path.clone(),
            peer_allows_update: allows_update(view.header("Allow").as_deref()),
            interval: match timer {
                TimerAnswer::Accept {
                    session_expires, ..
                } => Some(session_expires.interval),
                _ => None,
            },
        };
        if let Some((old_call, old)) = table.insert(call_id.clone(), entry) {
            drop(table);
            shared.finish(&old_call, old, End::Replaced);
        }
    }
    shared.gauges();
    let contact = links.sip.contact(None, view.transport, view.source);
    links.tasks.spawn(open(Opening {
        shared: Arc::clone(shared),
        call_id,
        sip_jid,
        xmpp_jid,
        responder,
        spec: accepted.spec,
        sdp: accepted.sdp,
        contact,
        timer,
        commands: commands_rx,
    }));
}

/// Whether an Allow header value lists UPDATE (RFC 3261 §20.5).
pub(super) fn allows_update(allow: Option<&str>) -> bool {
    allow.is_some_and(|a| {
        a.split(',')
            .any(|m| m.trim().eq_ignore_ascii_case("UPDATE"))
    })
}

/// A session accepted, to be opened on the MSRP endpoint.
struct Opening {
    shared: Arc<Shared>,
    call_id: String,
    sip_jid: Jid,
    xmpp_jid: Jid,
    responder: Responder,
    spec: SessionSpec,
    /// The SDP answer of the 200.
    sdp: String,
    /// The 200's Contact.
    contact: String,
    /// RFC 4028 §9: the 200's Session-Expires and Require.
    timer: TimerAnswer,
    commands: mpsc::Receiver<Command>,
}

/// Opens the MSRP session, answers 200 (F22), then relays until the end;
/// a CANCEL or a failed open leaves nothing in the table.
async fn open(opening: Opening) {
    let Opening {
        shared,
        call_id,
        sip_jid,
        xmpp_jid,
        responder,
        spec,
        sdp,
        contact,
        timer,
        commands,
    } = opening;
    let opened = tokio::select! {
        opened = shared.settings.msrp.open(spec) => opened,
        () = responder.cancelled() => Err(DriverError::Closed),
    };
    let handle = match opened {
        Ok(h) if !responder.is_cancelled() => h,
        other => {
            // A CANCEL (the endpoint answered 487) or no MSRP session.
            shared.table().remove(&call_id);
            shared.gauges();
            match other {
                Err(DriverError::TooManySessions) => {
                    shared
                        .links
                        .metrics
                        .msrp_refusal(SessionRefusal::Overloaded);
                    let refused = over_limit(Full::Total, shared.settings.retry_after_secs);
                    responder.respond(refused.status, None, refused.headers, None);
                }
                Err(e) if !responder.is_cancelled() => {
                    warn!(%call_id, error = %e, "MSRP session not opened");
                    responder.respond(StatusCode::SERVER_INTERNAL_ERROR, None, vec![], None);
                }
                _ => debug!(%call_id, "INVITE cancelled"),
            }
            return;
        }
    };
    info!(%call_id, from = %sip_jid, to = %xmpp_jid, "chat session accepted");
    // F22: 200 with the SDP answer and a Contact (RFC 3261 §12.1.1), and
    // the session timer (RFC 4028 §9).
    let mut headers = vec![
        ("Contact".into(), contact),
        ("Supported".into(), "timer".into()),
    ];
    headers.extend(timer.headers());
    responder.respond(
        StatusCode::OK,
        None,
        headers,
        Some(("application/sdp".into(), sdp.into_bytes().into())),
    );
    Relay {
        shared,
        thread: call_id.clone(),
        call_id,
        sip_jid,
        xmpp_jid,
        handle,
        commands,
        held: VecDeque::new(),
        receipts: VecDeque::new(),
        awaiting: VecDeque::new(),
    }
    .run()
    .await;
}

/// The answer to an INVITE over a session limit.
fn over_limit(full: Full, retry_after_secs: u32) -> Refused {
    match full {
        // RFC 3261 §21.5.4: temporarily unable, try later.
        Full::Total => Refused {
            status: StatusCode::SERVICE_UNAVAILABLE,
            headers: vec![("Retry-After".into(), retry_after_secs.to_string())],
            reason: SessionRefusal::Overloaded,
        },
        // §21.4.24: "not willing or able to take additional calls at this end system".
        Full::User => Refused {
            status: StatusCode::BUSY_HERE,
            headers: vec![],
            reason: SessionRefusal::UserLimit,
        },
    }
}

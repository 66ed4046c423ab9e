//! RFC 7702 §6.2 with RFC 4575: the phone's SUBSCRIBE to the conference
//! event inside the INVITE's dialog (Example 29: same Call-ID and tags)
//! gets 200, and the room roster goes to it as NOTIFYs (Example 32): the
//! full document first, once the roster is complete, then a partial one
//! for each change, the version one higher each time (RFC 4575 §5.1).
//!
//! A SUBSCRIBE outside that dialog, to the room's URI from the SIP user in
//! the room, makes a dialog of its own (RFC 6665 §4.2.1.1), and the NOTIFYs
//! go in it ([`subscribe_outside`]).
//!
//! `parley_sip`'s INVITE session dialog takes such a SUBSCRIBE as
//! `InDialog::Other` after its CSeq check (RFC 3261 §12.2.2), and its
//! `next_request` numbers Parley's NOTIFYs in the same CSeq space as its
//! BYE: nothing was needed in `sip/` for a subscription inside the dialog.

use std::sync::Arc;

use tokio::sync::oneshot;
use tracing::debug;

use parley_mapping::address::SipAddress;
use parley_mapping::groupchat::conference_info::MEDIA_TYPE;
use parley_mapping::groupchat::invitation::REFER_EVENT;
use parley_mapping::groupchat::room_address::room_for_sip_target;
use parley_sip::dialog::Dialog;
use parley_sip::{IncomingRequest, OutgoingRequest, RequestView, Responder, StatusCode};

use super::Shared;
use super::occupancy::Command;

/// RFC 4575 §3.3: "The default expiration time for a subscription to a
/// conference is one hour"; Parley grants no more.
pub(super) const MAX_EXPIRES: u32 = 3600;

/// A SUBSCRIBE in the dialog of the occupancy `call_id`.
pub(super) fn subscribe(
    shared: &Arc<Shared>,
    call_id: &str,
    view: &RequestView,
    responder: Responder,
) {
    let event = view.header("Event").unwrap_or_default();
    let package = event.split(';').next().unwrap_or_default().trim();
    if !package.eq_ignore_ascii_case("conference") {
        // RFC 6665 §4.2.1.1: an event package not understood, 489 (Bad Event).
        responder.respond(
            StatusCode::new(489).unwrap_or(StatusCode::BAD_REQUEST),
            None,
            vec![("Allow-Events".into(), "conference".into())],
            None,
        );
        return;
    }
    if let Some(accept) = view.header("Accept")
        && !accept.split(',').any(|t| {
            t.trim()
                .split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(MEDIA_TYPE))
        })
    {
        // RFC 4575 §3.4 names the one format; an Accept without it gets
        // 406 (RFC 6665 §4.1.2.1: "the proper error response is 406").
        responder.respond(
            StatusCode::new(406).unwrap_or(StatusCode::BAD_REQUEST),
            None,
            vec![("Accept".into(), MEDIA_TYPE.into())],
            None,
        );
        return;
    }
    let expires = view
        .header("Expires")
        .and_then(|e| e.trim().parse::<u32>().ok())
        .unwrap_or(MAX_EXPIRES)
        .min(MAX_EXPIRES);
    let commands = shared.table().get_mut(call_id).map(|e| e.commands.clone());
    let Some(commands) = commands else {
        responder.respond(StatusCode::CALL_DOES_NOT_EXIST, None, vec![], None);
        return;
    };
    responder.respond(
        StatusCode::OK,
        None,
        vec![("Expires".into(), expires.to_string())],
        None,
    );
    if commands.try_send(Command::Subscribe { expires }).is_err() {
        shared.links.metrics.error("groupchat_occupancy_busy");
    }
}

/// A SUBSCRIBE outside any occupancy's dialog: a new one (no To tag) from
/// a SIP user in the room it names, or a refresh in the dialog an earlier
/// one made. Given back when it is neither (not a conference SUBSCRIBE
/// to a room of `room_domains`).
pub(super) fn subscribe_outside(
    shared: &Arc<Shared>,
    request: IncomingRequest,
) -> Option<IncomingRequest> {
    let known = shared.table().by_subscription(request.call_id());
    if let Some(occupancy) = known {
        let (view, responder) = request.into_responder();
        let checked = {
            let mut table = shared.table();
            match table
                .get_mut(&occupancy)
                .and_then(|e| e.subscription.as_mut())
            {
                Some(dialog) => dialog.handle_request(view.message()).map_err(|r| r.status),
                None => Err(481),
            }
        };
        match checked {
            Ok(()) => subscribe(shared, &occupancy, &view, responder),
            Err(code) => responder.respond(
                StatusCode::new(code).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR),
                None,
                vec![],
                None,
            ),
        }
        return None;
    }
    let package = request.header("Event").unwrap_or_default();
    let is_conference = package
        .split(';')
        .next()
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("conference"));
    let target = SipAddress::from_uri(request.view().uri()).ok();
    let to_room = target
        .as_ref()
        .and_then(SipAddress::host)
        .is_some_and(|h| shared.settings.config.is_room_domain(&h));
    if request.method() != "SUBSCRIBE"
        || request.view().to_tag().is_some()
        || !is_conference
        || !to_room
    {
        return Some(request);
    }
    let links = &shared.links;
    let found = SipAddress::from_uri(&request.view().from_address().uri)
        .and_then(|from| links.mapper.sip_user_to_jid(&from))
        .ok()
        .zip(target.and_then(|t| room_for_sip_target(&links.mapper, &t).ok()))
        .and_then(|(user, room)| {
            let user = user.bare().to_string().to_lowercase();
            shared.table().find(&user, &room.to_string())
        });
    let (view, responder) = request.into_responder();
    let Some(occupancy) = found else {
        // Not in that room through Parley: nothing to subscribe to
        // (RFC 3261 §21.4.4: the resource "does not exist").
        responder.respond(StatusCode::NOT_FOUND, None, vec![], None);
        return None;
    };
    match Dialog::from_request(view.message(), responder.to_tag()) {
        Ok(dialog) => {
            shared.table().subscribe(&occupancy, dialog);
            subscribe(shared, &occupancy, &view, responder);
        }
        Err(_) => responder.respond(StatusCode::BAD_REQUEST, None, vec![], None),
    }
    None
}

/// Sends a NOTIFY in the occupancy's dialog: `state` is the
/// Subscription-State value, `body` a conference-info document. Its CSeq is
/// taken now; it goes on the wire only after `previous` (the NOTIFY before
/// it) did, so that the phone reads the versions in order (RFC 4575 §4.6:
/// a version more than one higher makes it ask for the full state again).
/// Returns the signal the next NOTIFY waits for.
pub(super) fn notify(
    shared: &Arc<Shared>,
    call_id: &str,
    state: String,
    body: Option<String>,
    previous: Option<oneshot::Receiver<()>>,
) -> Option<oneshot::Receiver<()>> {
    let body = body.map(|b| (MEDIA_TYPE.to_owned(), b.into_bytes()));
    send_notify(shared, call_id, Notify::Conference, state, body, previous)
}

/// Which subscription a NOTIFY is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Notify {
    /// The conference event (RFC 4575), in the subscription's dialog.
    Conference,
    /// The REFER's implicit subscription (RFC 7702 §6.5 Example 43), in
    /// the INVITE's dialog where the REFER came.
    Refer,
}

/// A NOTIFY of `kind` with Subscription-State `state` and `body` (type,
/// bytes), after `previous`; see [`notify`].
pub(super) fn send_notify(
    shared: &Arc<Shared>,
    call_id: &str,
    kind: Notify,
    state: String,
    body: Option<(String, Vec<u8>)>,
    previous: Option<oneshot::Receiver<()>>,
) -> Option<oneshot::Receiver<()>> {
    let request = {
        let mut table = shared.table();
        let entry = table.get_mut(call_id)?;
        match (&mut entry.subscription, kind) {
            (Some(dialog), Notify::Conference) => dialog.next_request("NOTIFY"),
            _ => entry.dialog.dialog.next_request("NOTIFY"),
        }
    };
    let event = match kind {
        Notify::Conference => "conference",
        Notify::Refer => REFER_EVENT,
    };
    let headers = vec![
        ("Event".into(), event.into()),
        ("Subscription-State".into(), state),
    ];
    let body = body.map(|(t, b)| (t, b.into()));
    let notify = OutgoingRequest::in_dialog(request, headers, body);
    let sip = shared.links.sip.clone();
    let metrics = Arc::clone(&shared.links.metrics);
    let call_id = call_id.to_owned();
    let (transmitted, next) = oneshot::channel();
    shared.links.tasks.spawn(async move {
        if let Some(previous) = previous {
            // Sent, or ended without being sent: either way, this one may go.
            let _ = previous.await;
        }
        match sip.send_request_in_order(notify, transmitted).await {
            Ok(r) => debug!(call_id, status = r.status, event, "NOTIFY answered"),
            Err(e) => {
                debug!(call_id, error = %e, event, "NOTIFY unanswered");
                metrics.error(e.kind());
            }
        }
    });
    Some(next)
}

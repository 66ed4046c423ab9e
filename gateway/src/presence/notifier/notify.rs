//! RFC 6665 §4.2.2, RFC 3856 §6.6: the NOTIFYs of a notifier dialog, and
//! the PIDF they carry (RFC 8048 §6.2). Shared by the notifier and the
//! fetches (`fetch/`), whose one NOTIFY goes out and is forgotten.

use bytes::Bytes;
use tracing::debug;

use parley_mapping::address::Jid;
use parley_mapping::presence::to_pidf;
use parley_sip::OutgoingRequest;
use parley_sip::dialog::subscription::SubscriptionState;
use parley_xmpp::stanza::Presence;

use super::Watcher;
use crate::links::Links;

/// RFC 8048 §6.2: the PIDF document for `target`'s resources (`None` when
/// it cannot be written; counted as an error).
pub(crate) fn pidf_for(links: &Links, target: &Jid, presences: &[Presence]) -> Option<String> {
    let entity = links
        .mapper
        .xmpp_user_to_sip(target)
        .map(|a| a.to_string())
        .unwrap_or_default();
    match to_pidf(&entity, presences, &links.mapper, true) {
        Ok(pidf) => Some(pidf.to_xml()),
        Err(e) => {
            links.metrics.error(e.kind());
            None
        }
    }
}

/// Send the next NOTIFY of `w`'s dialog with `state` and an optional PIDF
/// body, and forget it (a fetch's one NOTIFY, RFC 6665 §4.4.3).
pub(crate) fn send_notify(
    links: &Links,
    w: &mut Watcher,
    state: &SubscriptionState,
    pidf: Option<String>,
) {
    let outgoing = notify_request(w, state, pidf);
    let sip = links.sip.clone();
    links.tasks.spawn(async move {
        let result = sip.send_request(outgoing).await;
        debug!(status = ?result.as_ref().map(|r| r.status), "NOTIFY sent");
    });
}

/// The next NOTIFY of `w`'s dialog with `state` and an optional PIDF body.
pub(super) fn notify_request(
    w: &mut Watcher,
    state: &SubscriptionState,
    pidf: Option<String>,
) -> OutgoingRequest {
    let body = pidf.map(|xml| ("application/pidf+xml".to_owned(), Bytes::from(xml)));
    let request = w.dialog.next_request("NOTIFY");
    OutgoingRequest::in_dialog(
        request,
        vec![
            ("Event".to_owned(), "presence".to_owned()),
            ("Subscription-State".to_owned(), state.to_string()),
        ],
        body,
    )
}

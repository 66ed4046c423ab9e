//! RFC 7702 §5.3, §5.4: the conference subscription and what its NOTIFYs
//! become. The SUBSCRIBE goes outside the INVITE dialog (RFC 4579 §3.4: it
//! "SHOULD be sent outside any INVITE-initiated dialog"; a BYE then does
//! not end it by itself, so Parley unsubscribes when it leaves). Documents
//! are read with `conference.max_occupants` as the bound on users and made
//! coherent by `ConferenceView` (RFC 4575 §4.6); the presences are
//! `parley_mapping::groupchat::roster`'s.

use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, info};

use parley_mapping::address::SipAddress;
use parley_mapping::groupchat::conference_info::MEDIA_TYPE;
use parley_mapping::groupchat::{ConferenceInfo, ConferenceInfoError, ConferenceLimits};
use parley_sip::dialog::{self, Dialog};
use parley_sip::{OutgoingRequest, StatusCode};

use super::Shared;

/// The Expires Parley asks (RFC 6665 §4.1.2.1 leaves it to the subscriber).
pub(super) const REQUESTED_EXPIRES: u32 = 600;

/// A live subscription: its dialog and when to refresh it.
pub(super) struct Subscription {
    pub(super) dialog: Dialog,
    /// Refresh at this time (half the granted duration).
    pub(super) refresh_at: Instant,
}

/// RFC 4575 §3.1–§3.3: Event: conference, Accept: conference-info; the
/// Contact of the INVITE (RFC 7702 Example 6 has Example 2's), in every
/// SUBSCRIBE, as each is a target refresh (RFC 6665 §4.1.2.2).
fn headers(expires: u32, contact: Option<&str>) -> Vec<(String, String)> {
    let mut h = vec![
        ("Event".to_owned(), "conference".to_owned()),
        ("Accept".to_owned(), MEDIA_TYPE.to_owned()),
        ("Expires".to_owned(), expires.to_string()),
    ];
    h.extend(contact.map(|c| ("Contact".to_owned(), c.to_owned())));
    h
}

/// F10–F11 (Example 7): SUBSCRIBE to the conference URI, its Call-ID in
/// the table under occupancy `id` before it goes (a NOTIFY may come before
/// the 2xx, RFC 6665 §4.1.2.4). `None` when refused or unanswered within
/// `conference.join_secs`.
pub(super) async fn subscribe(
    shared: &Shared,
    id: u64,
    conference: &SipAddress,
    me: &SipAddress,
    contact: Option<&str>,
) -> Option<Subscription> {
    let call_id = format!(
        "{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    shared.table().add_call_id(id, &call_id);
    let request = OutgoingRequest {
        method: "SUBSCRIBE".into(),
        request_uri: conference.to_string(),
        from: format!("<{me}>;tag={}", dialog::new_tag()),
        to: format!("<{conference}>"),
        call_id: Some(call_id.clone()),
        headers: headers(REQUESTED_EXPIRES, contact),
        body: None,
    };
    sent(shared, request, &call_id).await
}

/// A SUBSCRIBE in the subscription's dialog: a refresh (RFC 6665
/// §4.1.2.2; it also asks a full document, RFC 4575 §4.6, after a gap),
/// or with `expires` 0 the unsubscription (§4.1.2.3).
pub(super) async fn resubscribe(
    shared: &Shared,
    subscription: &mut Subscription,
    expires: u32,
    contact: Option<&str>,
) -> Option<Subscription> {
    let request = OutgoingRequest::in_dialog(
        subscription.dialog.next_request("SUBSCRIBE"),
        headers(expires, contact),
        None,
    );
    let call_id = request.call_id.clone().unwrap_or_default();
    sent(shared, request, &call_id).await
}

async fn sent(shared: &Shared, request: OutgoingRequest, call_id: &str) -> Option<Subscription> {
    let answer = tokio::time::timeout(shared.step(), shared.links.sip.send_request(request)).await;
    match answer {
        Ok(Ok(r)) if r.is_success() => {
            let dialog = Dialog::from_response(r.message()).ok()?;
            let granted = r
                .header("Expires")
                .and_then(|e| e.trim().parse::<u64>().ok())
                .unwrap_or(u64::from(REQUESTED_EXPIRES));
            Some(Subscription {
                dialog,
                refresh_at: Instant::now() + Duration::from_secs(granted.max(2) / 2),
            })
        }
        other => {
            info!(call_id, outcome = ?other.map(|r| r.map(|r| r.status)), "conference SUBSCRIBE not accepted");
            None
        }
    }
}

/// RFC 3261 §21.4.11, 413 Request Entity Too Large.
const TOO_LARGE: StatusCode = match StatusCode::new(413) {
    Some(s) => s,
    None => StatusCode::BAD_REQUEST,
};

/// A NOTIFY's body read: the document, or the status that refuses it.
pub(super) fn read_document(
    content_type: Option<&str>,
    body: &[u8],
    max_users: usize,
) -> Result<Option<ConferenceInfo>, StatusCode> {
    if body.is_empty() {
        // No body: no state to read (a `terminated` NOTIFY, say).
        return Ok(None);
    }
    let media = content_type
        .and_then(|t| t.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if !media.eq_ignore_ascii_case(MEDIA_TYPE) {
        // RFC 3261 §21.4.13: 415 for a body of a type not asked for (the
        // SUBSCRIBE's Accept named conference-info only).
        return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let limits = ConferenceLimits {
        max_users,
        ..ConferenceLimits::default()
    };
    ConferenceInfo::parse_with(body, limits)
        .map(Some)
        .map_err(|e| {
            debug!(kind = e.kind(), error = %e, "conference-info NOTIFY body unreadable");
            refusal(&e)
        })
}

/// RFC 3261 §21.4.11: a document over the bounds is "larger than the
/// server is willing or able to process" (413); anything else that does not
/// parse is a malformed request (400). Neither is among the codes of RFC
/// 6665 §4.2.2 that end a subscription: the focus keeps it, and the next
/// NOTIFY (or Parley's refresh) carries state again.
fn refusal(e: &ConferenceInfoError) -> StatusCode {
    match e {
        ConferenceInfoError::TooLarge { .. }
        | ConferenceInfoError::TooComplex
        | ConferenceInfoError::TooMany { .. } => TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notify_body_that_is_not_xml_is_400_and_too_many_users_413() {
        assert_eq!(
            read_document(Some(MEDIA_TYPE), b"<<<not xml", 10).err(),
            Some(StatusCode::BAD_REQUEST)
        );
        let many: String = (0..5)
            .map(|i| format!("<user entity='sip:u{i}@example.com'/>"))
            .collect();
        let doc = format!(
            "<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' \
             entity='sip:c@example.com' state='full' version='1'><users>{many}</users></conference-info>"
        );
        assert_eq!(
            read_document(Some(MEDIA_TYPE), doc.as_bytes(), 3).err(),
            Some(TOO_LARGE)
        );
        assert!(read_document(Some(MEDIA_TYPE), doc.as_bytes(), 10).is_ok());
        assert_eq!(
            read_document(Some("text/plain"), b"x", 10).err(),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
    }
}

//! RFC 3923 §4, §8: directed presence holding `<e2e/>` (a signed or
//! encrypted PIDF) from an XMPP user to a SIP user watching her → a NOTIFY
//! in that subscription whose body is the object, unaltered, with its
//! Content-Type and MIME fields. It goes once, as that presence did: it is
//! not kept as her presence, so later NOTIFYs carry the PIDF Parley writes
//! from her broadcast presence (RFC 3923 §2: broadcast presence is out of
//! its scope).

use std::sync::Arc;

use tracing::{debug, info};

use parley_mapping::address::Jid;
use parley_mapping::e2e::SmimeObject;
use parley_mapping::error::MappingError;
use parley_sip::OutgoingRequest;
use parley_sip::dialog::subscription::SubscriptionState;
use parley_xmpp::stanza::{Presence, PresenceType};

use super::{Authorization, Notified, Notifier, notify_request};

impl Notifier {
    /// `object` from `from` for the subscription `call_id`: NOTIFY it while
    /// the subscription is active (before, RFC 8048 §5.3 shows nothing).
    /// An `<e2e/>` that is no object gets a presence error back and is counted.
    pub(super) fn e2e_presence(
        self: &Arc<Self>,
        call_id: &str,
        from: &Jid,
        to: &Jid,
        object: Result<SmimeObject, MappingError>,
    ) {
        let object = match object {
            Ok(o) => o,
            Err(e) => {
                info!(%from, error = %e, "RFC 3923 presence refused");
                self.links.metrics.error(e.kind());
                let refused = Presence {
                    presence_type: Some(PresenceType::Error),
                    error: Some(e.stanza_error()),
                    ..Presence::default()
                };
                self.links.send_presence(to, from, refused);
                return;
            }
        };
        let Some(mut w) = self.watchers.get_mut(call_id) else {
            return;
        };
        if w.state.authorization() != Authorization::Active {
            debug!(%call_id, "RFC 3923 presence before the subscription is active: not sent");
            return;
        }
        let remaining = w.state.remaining(tokio::time::Instant::now()).as_secs();
        let state = SubscriptionState::active(u32::try_from(remaining).unwrap_or(u32::MAX));
        let plain = notify_request(&mut w, &state, None);
        let mut headers = plain.headers;
        headers.extend(object.fields);
        let request = OutgoingRequest {
            headers,
            body: Some((object.content_type, object.body.into())),
            ..plain
        };
        // The dialog's CSeq moved on: a restart must continue above it.
        self.links.store.put_watcher(w.row());
        drop(w);
        self.spawn_notify(
            request,
            Notified::Live {
                call_id: call_id.to_owned(),
                repeat: false,
            },
        );
    }
}

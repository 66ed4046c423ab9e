//! One outgoing SIP presence subscription (RFC 8048 §5.2) on behalf of an
//! XMPP user, what the store keeps of it, and the table of them all.

use tokio::time::Instant;

use parley_mapping::address::Jid;
use parley_mapping::presence::pidf_body_to_xmpp;
use parley_sip::dialog::packed::PackedDialog;
use parley_xmpp::stanza::Presence;

use super::state::WatchState;
use crate::presence::table::{Subscription, Subscriptions};
use crate::store::WatchRow;

/// One outgoing SIP presence subscription on behalf of an XMPP user.
pub(crate) struct Watch {
    /// The XMPP user (bare JID) who subscribed.
    pub(crate) watcher: Jid,
    /// The SIP contact as the XMPP user sees it (`bob@<component_domain>`).
    pub(crate) contact: Jid,
    /// The SIP dialog, once the 2xx created it (packed: it is kept for
    /// hours and read once per refresh).
    pub(crate) dialog: Option<PackedDialog>,
    /// The PIDF document of the last presence the contact's NOTIFYs gave
    /// (what the store keeps); a probe is answered from it
    /// ([`Watches::last_presence`]), so the presence itself is not kept.
    pub(crate) last_pidf: Option<Box<str>>,
    /// When the SIP subscription ends unless refreshed, seconds since the epoch.
    pub(crate) expires_at: u64,
    /// Its timers, and whether the watcher has had her `subscribed`.
    pub(super) state: WatchState,
}

impl Watch {
    /// What the store keeps of it, under `call_id`.
    pub(super) fn row(&self, call_id: &str) -> WatchRow {
        WatchRow {
            call_id: call_id.to_owned(),
            watcher: self.watcher.to_string(),
            contact: self.contact.to_string(),
            expires_at: self.expires_at,
            last_pidf: self.last_pidf.as_deref().map(str::to_owned),
            dialog: self.dialog.as_ref().map(PackedDialog::to_dialog),
        }
    }
}

impl Subscription for Watch {
    fn poll_timeout(&self) -> Option<Instant> {
        self.state.poll_timeout()
    }

    fn parties(&self) -> (&Jid, &Jid) {
        (&self.watcher, &self.contact)
    }
}

/// Outgoing subscriptions by Call-ID, Call-ID by (watcher, contact), and
/// their deadlines.
pub(crate) type Watches = Subscriptions<Watch>;

impl Subscriptions<Watch> {
    /// The presence the last NOTIFY of `watcher`'s live subscription to
    /// `contact` gave, if there is one and it said something.
    pub(crate) fn last_presence(&self, watcher: &Jid, contact: &Jid) -> Option<Presence> {
        let call_id = self.call_id_of(&watcher.to_string(), &contact.to_string())?;
        let w = self.get(&call_id)?;
        let pidf = w.last_pidf.as_deref()?;
        pidf_body_to_xmpp(pidf.as_bytes(), &w.contact, &w.watcher)
            .ok()
            .flatten()
    }
}

//! One outgoing SIP presence subscription (RFC 8048 §5.2) on behalf of an
//! XMPP user, what the store keeps of it, and the table of them all.

use tokio::time::Instant;

use parley_mapping::address::Jid;
use parley_mapping::presence::pidf_body_to_xmpp;
use parley_sip::dialog::packed::PackedDialog;
use parley_xmpp::stanza::Presence;

use super::state::WatchState;
use crate::presence::table::{Party, Subscription, Subscriptions};
use crate::store::WatchRow;

/// One outgoing SIP presence subscription on behalf of an XMPP user.
///
/// Its two JIDs are kept written out, back to back in one allocation, and
/// parsed when they are needed (a SUBSCRIBE, a NOTIFY, a probe): two
/// [`Jid`]s inline were 144 of the 288 bytes a `Watch` took, in four more
/// allocations, for each of up to 100 000 subscriptions held for hours
/// (bench/RESULTS.md, "Presence at scale").
pub(crate) struct Watch {
    /// The XMPP user (bare JID) who subscribed, then the SIP contact as the
    /// XMPP user sees it (`bob@<component_domain>`), written out.
    parties: Box<str>,
    /// Where the watcher ends in `parties`.
    split: u32,
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
    /// A subscription of `watcher` to `contact` in `state`, no dialog or
    /// presence yet; None if their JIDs together are 4 GiB long.
    pub(super) fn new(
        watcher: &Jid,
        contact: &Jid,
        expires_at: u64,
        state: WatchState,
    ) -> Option<Self> {
        let watcher = watcher.to_string();
        let split = u32::try_from(watcher.len()).ok()?;
        let mut parties = watcher;
        parties.push_str(&contact.to_string());
        Some(Self {
            parties: parties.into_boxed_str(),
            split,
            dialog: None,
            last_pidf: None,
            expires_at,
            state,
        })
    }

    /// The watcher and the contact, written out.
    fn texts(&self) -> (&str, &str) {
        self.parties
            .split_at_checked(self.split as usize)
            .unwrap_or((&self.parties, ""))
    }

    /// The watcher and the contact. None only if the text kept of them does
    /// not parse again, which text written from a [`Jid`] does (the restore
    /// takes them up from the store the same way).
    pub(crate) fn jids(&self) -> Option<(Jid, Jid)> {
        let (watcher, contact) = self.texts();
        Some((Jid::parse(watcher).ok()?, Jid::parse(contact).ok()?))
    }

    /// What the store keeps of it, under `call_id`.
    pub(super) fn row(&self, call_id: &str) -> WatchRow {
        let (watcher, contact) = self.texts();
        WatchRow {
            call_id: call_id.to_owned(),
            watcher: watcher.to_owned(),
            contact: contact.to_owned(),
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

    fn parties(&self) -> (Party<'_>, Party<'_>) {
        let (watcher, contact) = self.texts();
        (Party::Text(watcher), Party::Text(contact))
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
        let (watcher, contact) = w.jids()?;
        pidf_body_to_xmpp(pidf.as_bytes(), &contact, &watcher)
            .ok()
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::presence::subscriber::state::Approval;

    #[test]
    fn a_watch_fits_the_allocators_192_byte_class() {
        assert!(
            std::mem::size_of::<Watch>() <= 192,
            "{} B",
            std::mem::size_of::<Watch>()
        );
    }

    #[test]
    fn a_watch_gives_back_its_jids_and_row_as_given() {
        let watcher = Jid::parse("juliet@example.com").unwrap();
        let contact = Jid::parse("bob@sip.example.net").unwrap();
        let w = Watch::new(
            &watcher,
            &contact,
            7,
            WatchState::subscribing(Approval::Owed),
        )
        .unwrap();
        assert_eq!(w.jids(), Some((watcher.clone(), contact.clone())));
        let (w_party, c_party) = w.parties();
        assert_eq!(
            (w_party.to_string(), c_party.to_string()),
            (watcher.to_string(), contact.to_string())
        );
        let row = w.row("c1");
        assert_eq!(row.watcher, "juliet@example.com");
        assert_eq!(row.contact, "bob@sip.example.net");
        assert_eq!(row.expires_at, 7);
    }
}

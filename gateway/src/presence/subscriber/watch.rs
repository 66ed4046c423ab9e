//! One outgoing SIP presence subscription (RFC 8048 §5.2) on behalf of an
//! XMPP user, what the store keeps of it, and the table of them all.

use std::num::NonZeroU32;

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
/// Its two JIDs are kept written out, back to back in one allocation with
/// the last PIDF document, and parsed when they are needed (a SUBSCRIBE, a
/// NOTIFY, a probe): two [`Jid`]s inline and the document's own box were
/// 160 of the 288 bytes a `Watch` took (mimalloc's 320 B class), in four
/// more allocations, for each of up to 100 000 subscriptions held for hours
/// (bench/RESULTS.md, "Presence at scale").
pub(crate) struct Watch {
    /// The XMPP user (bare JID) who subscribed, then the SIP contact as the
    /// XMPP user sees it (`bob@<component_domain>`), written out; then the
    /// PIDF document of the last presence the contact's NOTIFYs gave (what
    /// the store keeps), if there is one. A probe is answered from it
    /// ([`Watches::last_presence`]), so the presence itself is not kept.
    text: Box<str>,
    /// Where the watcher ends in `text`.
    split: u32,
    /// Where the contact ends and the PIDF document starts in `text`, if
    /// there is a document (the contact ends with `text` otherwise).
    pidf_at: Option<NonZeroU32>,
    /// The SIP dialog, once the 2xx created it (packed: it is kept for
    /// hours and read once per refresh).
    pub(crate) dialog: Option<PackedDialog>,
    /// When the SIP subscription ends unless refreshed, seconds since the epoch.
    pub(crate) expires_at: u64,
    /// Its timers, and whether the watcher has had her `subscribed`.
    pub(super) state: WatchState,
}

impl Watch {
    /// A subscription of `watcher` to `contact` in `state`, no dialog yet,
    /// `last_pidf` its last presence's document if there was one; None if
    /// their text together is 4 GiB long.
    pub(super) fn new(
        watcher: &Jid,
        contact: &Jid,
        last_pidf: Option<&str>,
        expires_at: u64,
        state: WatchState,
    ) -> Option<Self> {
        let (text, split, pidf_at) =
            compose(&watcher.to_string(), &contact.to_string(), last_pidf)?;
        Some(Self {
            text,
            split,
            pidf_at,
            dialog: None,
            expires_at,
            state,
        })
    }

    /// The watcher and the contact, written out.
    fn texts(&self) -> (&str, &str) {
        let end = self.pidf_at.map_or(self.text.len(), |at| at.get() as usize);
        let parties = self.text.get(..end).unwrap_or_default();
        parties
            .split_at_checked(self.split as usize)
            .unwrap_or((parties, ""))
    }

    /// The watcher and the contact. None only if the text kept of them does
    /// not parse again, which text written from a [`Jid`] does (the restore
    /// takes them up from the store the same way).
    pub(crate) fn jids(&self) -> Option<(Jid, Jid)> {
        let (watcher, contact) = self.texts();
        Some((Jid::parse(watcher).ok()?, Jid::parse(contact).ok()?))
    }

    /// The PIDF document of the last presence the contact's NOTIFYs gave.
    pub(crate) fn last_pidf(&self) -> Option<&str> {
        let at = self.pidf_at?.get() as usize;
        self.text.get(at..)
    }

    /// Keep `pidf` as the last presence's document (None: there is none).
    /// A document that would take the text past 4 GiB is not kept.
    pub(crate) fn set_last_pidf(&mut self, pidf: Option<&str>) {
        let (watcher, contact) = self.texts();
        let composed = compose(watcher, contact, pidf).or_else(|| compose(watcher, contact, None));
        if let Some((text, split, pidf_at)) = composed {
            (self.text, self.split, self.pidf_at) = (text, split, pidf_at);
        }
    }

    /// What the store keeps of it, under `call_id`.
    pub(super) fn row(&self, call_id: &str) -> WatchRow {
        let (watcher, contact) = self.texts();
        WatchRow {
            call_id: call_id.to_owned(),
            watcher: watcher.to_owned(),
            contact: contact.to_owned(),
            expires_at: self.expires_at,
            last_pidf: self.last_pidf().map(str::to_owned),
            dialog: self.dialog.as_ref().map(PackedDialog::to_dialog),
        }
    }
}

/// The watcher, the contact and the document back to back, where the
/// watcher ends and where the document starts; None past 4 GiB.
fn compose(
    watcher: &str,
    contact: &str,
    pidf: Option<&str>,
) -> Option<(Box<str>, u32, Option<NonZeroU32>)> {
    let split = u32::try_from(watcher.len()).ok()?;
    let at = watcher.len() + contact.len();
    let mut text = String::with_capacity(at + pidf.map_or(0, str::len));
    text.push_str(watcher);
    text.push_str(contact);
    let pidf_at = match pidf {
        None => None,
        // Never 0: a JID's domainpart is not empty.
        Some(pidf) => {
            text.push_str(pidf);
            Some(NonZeroU32::new(u32::try_from(at).ok()?)?)
        }
    };
    u32::try_from(text.len()).ok()?;
    Some((text.into_boxed_str(), split, pidf_at))
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
        let pidf = w.last_pidf()?;
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

    const PIDF: &str = "<?xml version=\"1.0\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" \
         entity=\"sip:bob@sip.example.net\"><tuple id=\"t1\"><status><basic>open</basic>\
         </status><note>busy</note></tuple></presence>";

    fn parties() -> (Jid, Jid) {
        (
            Jid::parse("juliet@example.com").unwrap(),
            Jid::parse("bob@sip.example.net").unwrap(),
        )
    }

    fn watch(last_pidf: Option<&str>) -> Watch {
        let (watcher, contact) = parties();
        let state = WatchState::subscribing(Approval::Owed);
        Watch::new(&watcher, &contact, last_pidf, 7, state).unwrap()
    }

    #[test]
    fn a_watch_fits_the_allocators_160_byte_class() {
        let size = std::mem::size_of::<Watch>();
        assert!(size <= 160, "{size} B");
    }

    #[test]
    fn a_watch_gives_back_its_jids_and_row_as_given() {
        let (watcher, contact) = parties();
        for pidf in [None, Some(""), Some(PIDF)] {
            let w = watch(pidf);
            assert_eq!(w.jids(), Some((watcher.clone(), contact.clone())));
            let (w_party, c_party) = w.parties();
            assert_eq!(w_party.to_string(), "juliet@example.com");
            assert_eq!(c_party.to_string(), "bob@sip.example.net");
            let row = w.row("c1");
            assert_eq!(row.watcher, "juliet@example.com");
            assert_eq!(row.contact, "bob@sip.example.net");
            assert_eq!(row.expires_at, 7);
            assert_eq!(row.last_pidf.as_deref(), pidf);
        }
    }

    #[test]
    fn a_new_document_replaces_the_last_and_leaves_the_parties() {
        let (watcher, contact) = parties();
        let mut w = watch(None);
        w.set_last_pidf(Some(PIDF));
        assert_eq!(w.last_pidf(), Some(PIDF));
        w.set_last_pidf(Some("<presence/>"));
        assert_eq!(w.last_pidf(), Some("<presence/>"));
        assert_eq!(w.row("c1").last_pidf.as_deref(), Some("<presence/>"));
        w.set_last_pidf(Some(""));
        assert_eq!(w.last_pidf(), Some(""));
        w.set_last_pidf(None);
        assert_eq!(w.last_pidf(), None);
        assert_eq!(w.row("c1").last_pidf, None);
        assert_eq!(w.jids(), Some((watcher, contact)));
    }

    /// The store's row and a probe's answer are what they were when the
    /// document had a box of its own: the document byte for byte, and the
    /// presence it gives.
    #[test]
    fn a_probe_is_answered_from_the_document_as_the_notify_gave_it() {
        let (watcher, contact) = parties();
        let watches = Watches::default();
        let mut w = watch(None);
        w.set_last_pidf(Some(PIDF));
        assert_eq!(w.row("c1").last_pidf.unwrap().as_bytes(), PIDF.as_bytes());
        watches.insert_paired("c1", w);
        let direct = pidf_body_to_xmpp(PIDF.as_bytes(), &contact, &watcher)
            .unwrap()
            .unwrap();
        let probed = watches.last_presence(&watcher, &contact).unwrap();
        assert_eq!(probed, direct);
        assert!(watches.last_presence(&contact, &watcher).is_none());
    }
}

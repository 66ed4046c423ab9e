//! Shared state with deadlines (design §4): what is in flight between the two sides.
//!
//! - SIP MESSAGEs handed to the XMPP server, waiting for a stanza error or the
//!   end of the delivery window, keyed by the correlation number the `id`
//!   Parley gave the stanza ends with (ordered: no string built or hashed
//!   per message, issue 24).
//! - XMPP messages sent as SIP MESSAGE, waiting for the final response.
//! - Receipts in flight both ways (RFC 5438 IMDN ↔ XEP-0184/XEP-0333): the
//!   IMDN Message-ID of a MESSAGE Parley sent, and the stanza id of a message
//!   Parley forwarded to XMPP with `<request/>`; bounded, with expiry.
//! - What SIP peers refused with 415 (CPIM, isComposing), per address of
//!   record; bounded, with expiry.
//!
//! Every entry has a deadline and is removed by whoever resolves it first
//! (the answer, or the reaper); the sizes are gauges.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use dashmap::DashMap;
use tokio::time::Instant;

use parley_mapping::address::SipAddress;
use parley_mapping::imdn::{DispositionRequest, ImdnRequest};
use parley_xmpp::stanza::MessageType;

/// Most receipts remembered each way, and most peers remembered as refusing
/// something: at the bound, expired entries go first, then new ones are not
/// taken (design §5: nothing grows without a bound).
pub(crate) const MAX_RECEIPTS: usize = 10_000;

/// A SIP MESSAGE whose server transaction waits for the XMPP side's verdict.
pub(crate) struct PendingSip<R> {
    /// The server transaction's responder.
    pub responder: R,
    /// When the delivery window closes and 200 is sent.
    pub deadline: Instant,
    /// Correlation id for logs.
    pub correlation: u64,
    /// Whether the stanza went to a full JID (RFC 7247 §7.1 notes 1 and 2 pick 4xx over 6xx).
    pub to_full_jid: bool,
}

/// An XMPP message Parley sent to SIP asking for IMDNs (RFC 5438 §7.1.1),
/// keyed by the IMDN Message-ID it carried.
#[derive(Debug, Clone)]
pub(crate) struct AwaitingImdn {
    /// The XMPP sender (full JID), who gets `<received/>`/`<displayed/>`.
    pub sender: String,
    /// The JID the message was addressed to: the ack comes from it.
    pub recipient: String,
    /// The stanza id the ack echoes (XEP-0184 §5.2, XEP-0333 §4.2).
    pub stanza_id: String,
    /// The message's type, reused for the ack (XEP-0184 §5.2: "good practice").
    pub message_type: Option<MessageType>,
    /// The SIP user it went to: only that user's IMDN counts.
    pub peer: SipAddress,
    /// What is still awaited (RFC 5438 §7.2.1: one IMDN per disposition type).
    pub request: DispositionRequest,
}

/// A SIP IM asking for IMDNs that Parley forwarded to XMPP with
/// `<request/>`/`<markable/>`, keyed by the stanza id Parley gave it.
#[derive(Debug, Clone)]
pub(crate) struct AwaitingReceipt {
    /// The IM's request (Message-ID, DateTime, CPIM From/To).
    pub request: ImdnRequest,
    /// What is still to be answered (one IMDN per disposition type).
    pub remaining: DispositionRequest,
    /// Where the IMDN goes: the SIP From of the IM (RFC 5438 §12.1.3.1).
    pub sip_sender: SipAddress,
    /// The SIP address the IM was for (AOR, or GRUU if it named one): the IMDN's From.
    pub sip_recipient: SipAddress,
    /// The bare JID the message went to: only its acks count.
    pub xmpp_recipient: String,
}

/// How long a 415 is remembered for a peer (a phone may be updated or replaced).
pub(crate) const REFUSAL_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// A content type a SIP peer can refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusable {
    /// `message/cpim`.
    Cpim,
    /// `application/im-iscomposing+xml`.
    IsComposing,
}

/// What a SIP peer refused with 415 (RFC 3261 §21.4.13).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Refusals {
    /// `message/cpim` (baresip: real-clients/baresip-1.0-rx-cpim-415.sip).
    pub cpim: bool,
    /// `application/im-iscomposing+xml` (RFC 3994 §4: then "MUST cease").
    pub iscomposing: bool,
}

/// A map with a size bound and a deadline per entry.
pub(crate) struct Expiring<V> {
    map: DashMap<String, (V, Instant)>,
    capacity: usize,
}

impl<V> Expiring<V> {
    /// An empty map holding at most `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: DashMap::new(),
            capacity,
        }
    }

    /// Insert (or replace) `key` until `deadline`. At the bound, entries past
    /// their deadline at `now` are dropped first; if it is still full, the
    /// entry is not taken and `false` comes back.
    pub(crate) fn insert(&self, key: String, value: V, deadline: Instant, now: Instant) -> bool {
        if self.map.len() >= self.capacity && !self.map.contains_key(&key) {
            self.reap(now);
            if self.map.len() >= self.capacity {
                return false;
            }
        }
        self.map.insert(key, (value, deadline));
        true
    }

    /// Take `key` out, if present and not expired at `now`.
    pub(crate) fn take(&self, key: &str, now: Instant) -> Option<V> {
        self.map
            .remove_if(key, |_, (_, deadline)| *deadline > now)
            .map(|(_, (v, _))| v)
    }

    /// Drop every entry past its deadline at `now`; returns how many went.
    pub(crate) fn reap(&self, now: Instant) -> usize {
        let before = self.map.len();
        self.map.retain(|_, (_, deadline)| *deadline > now);
        before.saturating_sub(self.map.len())
    }

    /// Take out every entry past its deadline at `now`.
    pub(crate) fn take_expired(&self, now: Instant) -> Vec<(String, V)> {
        let keys: Vec<String> = self
            .map
            .iter()
            .filter(|e| e.1 <= now)
            .map(|e| e.key().clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| {
                self.map
                    .remove_if(&k, |_, (_, deadline)| *deadline <= now)
                    .map(|(k, (v, _))| (k, v))
            })
            .collect()
    }

    /// Entries now (expired ones included until reaped).
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl<V: Clone> Expiring<V> {
    /// A copy of `key`'s value, if present and not expired at `now`.
    pub(crate) fn get(&self, key: &str, now: Instant) -> Option<V> {
        self.map.get(key).filter(|e| e.1 > now).map(|e| e.0.clone())
    }
}

/// SIP transactions parked under their correlation number, in that order.
///
/// Correlations are handed out in increasing order and parked soon after,
/// so a new one goes at the back; one taken is left as an empty slot
/// until the slots before it are gone too. Each message's transaction is
/// written once and read out once (issue 24: a `BTreeMap` shifted the
/// ~450-byte values of a leaf at each removal from its front, ~500
/// instructions a message, and allocated and freed its nodes).
///
/// Deadlines mostly come in the same order (one window after each
/// arrival, parked in arrival order), so the reaper stops at the first
/// transaction still waiting rather than reading every slot behind it at
/// each tick (issue 24: with the default 2 s window at 15 000 messages a
/// second, ~30 000 slots of ~450 bytes twenty times a second). Where the
/// order may be broken — a deadline earlier than one parked before it, or
/// a transaction parked out of turn — it reads on as before, up to the
/// last slot that may be out of order.
pub(crate) struct Parked<R> {
    slots: VecDeque<(u64, Option<PendingSip<R>>)>,
    /// Slots that still hold a transaction.
    live: usize,
    /// The latest deadline parked so far.
    latest: Option<Instant>,
    /// No slot after this number has a deadline earlier than one parked
    /// before it: from here on, a transaction still waiting means every
    /// one after it is still waiting too.
    ordered_after: Option<u64>,
}

impl<R> Default for Parked<R> {
    fn default() -> Self {
        Self {
            slots: VecDeque::new(),
            live: 0,
            latest: None,
            ordered_after: None,
        }
    }
}

impl<R> Parked<R> {
    /// Where `correlation` is, or would go. The reaper asks for the
    /// front (what it takes next is the first slot left): answered there
    /// without a search, which probed ~log2(n) slots of ~450 bytes each,
    /// cold ones (issue 24: 1.7 % of parley's CPU samples through Prosody).
    fn position(&self, correlation: u64) -> usize {
        match self.slots.front() {
            Some((first, _)) if *first >= correlation => 0,
            None => 0,
            Some(_) => self.slots.partition_point(|(c, _)| *c < correlation),
        }
    }

    /// Parks `pending`, replacing one parked under the same number.
    fn insert(&mut self, correlation: u64, pending: PendingSip<R>) {
        let deadline = pending.deadline;
        let earlier = self.latest.is_some_and(|latest| deadline < latest);
        self.latest = Some(self.latest.map_or(deadline, |latest| latest.max(deadline)));
        let back = self.slots.back().map(|(last, _)| *last);
        if back.is_none_or(|last| last < correlation) {
            if earlier {
                self.ordered_after = Some(correlation);
            }
            self.slots.push_back((correlation, Some(pending)));
            self.live += 1;
            return;
        }
        // Parked out of order (another worker thread took a later number
        // first): put in its place. Every slot up to the back may now be
        // out of order.
        self.ordered_after = back;
        let at = self.position(correlation);
        match self.slots.get_mut(at) {
            Some((c, slot)) if *c == correlation => {
                if slot.replace(pending).is_none() {
                    self.live += 1;
                }
            }
            _ => {
                self.slots.insert(at, (correlation, Some(pending)));
                self.live += 1;
            }
        }
    }

    /// Takes the one parked under `correlation`.
    fn take(&mut self, correlation: u64) -> Option<PendingSip<R>> {
        let at = self.position(correlation);
        let pending = self
            .slots
            .get_mut(at)
            .filter(|(c, _)| *c == correlation)?
            .1
            .take()?;
        self.taken();
        Some(pending)
    }

    /// Takes the first one in `range` whose deadline has passed at `now`.
    fn take_expired(
        &mut self,
        range: std::ops::RangeInclusive<u64>,
        now: Instant,
    ) -> Option<(u64, PendingSip<R>)> {
        let start = self.position(*range.start());
        let ordered_after = self.ordered_after;
        let (correlation, slot) = self
            .slots
            .range_mut(start..)
            .take_while(|(c, _)| range.contains(c))
            // A transaction still waiting where the order holds: so is
            // every one after it.
            .take_while(|(c, p)| {
                p.as_ref().is_none_or(|p| p.deadline <= now)
                    || ordered_after.is_some_and(|after| *c < after)
            })
            .find(|(_, p)| p.as_ref().is_some_and(|p| p.deadline <= now))?;
        let correlation = *correlation;
        let pending = slot.take()?;
        self.taken();
        Some((correlation, pending))
    }

    /// After a take: the empty slots at the front go, and after a burst
    /// the room it needed is given back once it is mostly unused.
    fn taken(&mut self) {
        self.live -= 1;
        while self.slots.front().is_some_and(|(_, p)| p.is_none()) {
            self.slots.pop_front();
        }
        if self.slots.capacity() > 1024 && self.slots.len() < self.slots.capacity() / 8 {
            self.slots.shrink_to(self.slots.len() * 2);
        }
    }

    /// The first and last numbers with a slot.
    fn first(&self) -> Option<u64> {
        self.slots.front().map(|(c, _)| *c)
    }

    fn last(&self) -> Option<u64> {
        self.slots.back().map(|(c, _)| *c)
    }
}

/// The registry: bounded by the SIP and XMPP limits upstream, reaped by deadline.
pub(crate) struct Registry<R> {
    /// In correlation order ([`Parked`]): one push at the back and one
    /// take per message, no hashing, no tree to rebalance.
    pending_sip: Mutex<Parked<R>>,
    /// XMPP messages sent as SIP MESSAGE whose final response has not come:
    /// the task that sent each holds everything else about it.
    xmpp_in_flight: AtomicUsize,
    next_id: AtomicU64,
    /// XMPP → SIP receipts, by IMDN Message-ID.
    pub imdn_out: Expiring<AwaitingImdn>,
    /// SIP → XMPP receipts, by stanza id.
    pub receipts_in: Expiring<AwaitingReceipt>,
    /// What SIP peers refused, by address of record.
    pub refusals: Expiring<Refusals>,
    /// SIP senders shown as composing to XMPP users, until their RFC 3994
    /// refresh runs out: `(from JID, to JID)` by that pair.
    pub composing: Expiring<(String, String)>,
}

impl<R> Default for Registry<R> {
    fn default() -> Self {
        Self {
            pending_sip: Mutex::new(Parked::default()),
            xmpp_in_flight: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            imdn_out: Expiring::new(MAX_RECEIPTS),
            receipts_in: Expiring::new(MAX_RECEIPTS),
            refusals: Expiring::new(MAX_RECEIPTS),
            composing: Expiring::new(MAX_RECEIPTS),
        }
    }
}

impl<R> Registry<R> {
    /// A new, empty registry.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A fresh correlation id, unique in this process only (it starts again
    /// at a restart): for tying log lines together, never for naming a SIP
    /// dialog, whose Call-ID and tags must be unique over space and time
    /// (RFC 3261 §8.1.1.4, §19.3: `parley_sip::dialog::new_call_id`).
    pub(crate) fn next_correlation(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn pending(&self) -> MutexGuard<'_, Parked<R>> {
        // A panic while holding the lock leaves the queue consistent (no
        // operation panics between its changes): keep using it.
        self.pending_sip
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Park a SIP transaction under the correlation its stanza id names.
    pub(crate) fn park_sip(&self, correlation: u64, pending: PendingSip<R>) {
        self.pending().insert(correlation, pending);
    }

    /// Take the SIP transaction forwarded under `correlation`, if still waiting.
    pub(crate) fn take_sip(&self, correlation: u64) -> Option<PendingSip<R>> {
        self.pending().take(correlation)
    }

    /// Take every SIP transaction whose deadline has passed at `now`, in
    /// the order they were parked: each is taken out as the iterator
    /// reaches it (one answered meanwhile is skipped), so a burst is never
    /// copied into a vector of its own (issue 24: that vector's pages were
    /// 6 % of the reaper's CPU).
    pub(crate) fn take_expired_sip(
        &self,
        now: Instant,
    ) -> impl Iterator<Item = (u64, PendingSip<R>)> + '_ {
        // Those parked by now only: one parked during the reap waits for
        // the next one, as it would have had it come a moment later.
        let (mut next, last) = {
            let parked = self.pending();
            (parked.first(), parked.last())
        };
        std::iter::from_fn(move || {
            let (correlation, pending) = self.pending().take_expired(next?..=last?, now)?;
            next = correlation.checked_add(1);
            Some((correlation, pending))
        })
    }

    /// Take every SIP transaction, deadline or not (shutdown).
    pub(crate) fn take_all_sip(&self) -> Vec<(u64, PendingSip<R>)> {
        let parked = std::mem::take(&mut *self.pending());
        parked
            .slots
            .into_iter()
            .filter_map(|(correlation, p)| Some((correlation, p?)))
            .collect()
    }

    /// Count an XMPP message now in flight as SIP.
    pub(crate) fn track_xmpp(&self) {
        self.xmpp_in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// One XMPP message's SIP transaction ended.
    pub(crate) fn finish_xmpp(&self) {
        self.xmpp_in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// SIP transactions waiting for XMPP.
    pub(crate) fn pending_sip_len(&self) -> usize {
        self.pending().live
    }

    /// XMPP messages waiting for SIP.
    pub(crate) fn pending_xmpp_len(&self) -> usize {
        self.xmpp_in_flight.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pending(deadline: Instant, correlation: u64) -> PendingSip<u64> {
        PendingSip {
            responder: correlation,
            deadline,
            correlation,
            to_full_jid: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reaper_takes_only_entries_past_their_deadline() {
        let registry = Registry::new();
        let now = Instant::now();
        registry.park_sip(1, pending(now + Duration::from_secs(10), 1));
        registry.park_sip(2, pending(now + Duration::from_millis(10), 2));
        registry.park_sip(3, pending(now + Duration::from_millis(20), 3));
        let expired: Vec<_> = registry
            .take_expired_sip(now + Duration::from_millis(20))
            .collect();
        assert_eq!(expired.len(), 2);
        assert_eq!(expired[0].0, 2);
        assert_eq!(expired[1].0, 3);
        assert_eq!(registry.pending_sip_len(), 1);
    }

    /// An entry answered (an XMPP error) while the reaper goes through a
    /// burst is not answered again by the reaper.
    #[tokio::test(start_paused = true)]
    async fn an_entry_answered_during_the_reap_is_skipped() {
        let registry = Registry::new();
        let now = Instant::now();
        for n in 1..=3 {
            registry.park_sip(n, pending(now, n));
        }
        let mut expired = registry.take_expired_sip(now);
        assert_eq!(expired.next().map(|(n, _)| n), Some(1));
        assert!(registry.take_sip(2).is_some());
        assert_eq!(expired.next().map(|(n, _)| n), Some(3));
        assert!(expired.next().is_none());
        assert_eq!(registry.pending_sip_len(), 0);
    }

    /// Parked out of order (two worker threads), each is still found by
    /// its number, reaped in number order, and counted once; parking under
    /// a number already parked replaces that transaction.
    #[tokio::test(start_paused = true)]
    async fn out_of_order_and_repeated_numbers_keep_the_order_and_the_count() {
        let registry = Registry::new();
        let now = Instant::now();
        for n in [5, 2, 9, 7, 1] {
            registry.park_sip(n, pending(now, n));
        }
        registry.park_sip(7, pending(now, 70));
        assert_eq!(registry.pending_sip_len(), 5);
        assert_eq!(registry.take_sip(9).map(|p| p.responder), Some(9));
        assert_eq!(registry.take_sip(9).map(|p| p.responder), None);
        assert_eq!(registry.take_sip(3).map(|p| p.responder), None);
        let reaped: Vec<_> = registry
            .take_expired_sip(now)
            .map(|(n, p)| (n, p.responder))
            .collect();
        assert_eq!(reaped, vec![(1, 1), (2, 2), (5, 5), (7, 70)]);
        assert_eq!(registry.pending_sip_len(), 0);
        assert!(registry.pending().slots.is_empty());
    }

    /// Taken from the middle, the front and by the reaper in any mix, the
    /// count stays right, shutdown gets only those still parked, in order,
    /// and a queue emptied after a burst gives its room back.
    #[tokio::test(start_paused = true)]
    async fn taking_from_anywhere_keeps_the_count_and_frees_the_room() {
        let registry = Registry::new();
        let now = Instant::now();
        let later = now + Duration::from_secs(1);
        for n in 1..=10_000 {
            let deadline = if n % 3 == 0 { later } else { now };
            registry.park_sip(n, pending(deadline, n));
        }
        for n in (2..=10_000).step_by(2) {
            assert!(registry.take_sip(n).is_some());
        }
        assert_eq!(registry.pending_sip_len(), 5_000);
        // Odd numbers not divisible by 3 are expired at `now`.
        let reaped = registry.take_expired_sip(now).count();
        assert_eq!(
            reaped,
            (1..=10_000).filter(|n| n % 2 == 1 && n % 3 != 0).count()
        );
        let left = registry.take_all_sip();
        assert!(left.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(left.iter().all(|(n, p)| n % 6 == 3 && p.responder == *n));
        assert_eq!(left.len(), 10_000 / 6 + 1);
        assert_eq!(registry.pending_sip_len(), 0);
        for n in 10_001..=20_000 {
            registry.park_sip(n, pending(now, n));
        }
        assert!(registry.pending().slots.capacity() >= 10_000);
        for n in 10_001..=20_000 {
            assert!(registry.take_sip(n).is_some());
        }
        assert!(registry.pending().slots.capacity() <= 1024);
    }

    #[tokio::test(start_paused = true)]
    async fn an_entry_is_resolved_once_by_answer_or_reaper() {
        let registry = Registry::new();
        let now = Instant::now();
        registry.park_sip(1, pending(now, 1));
        assert!(registry.take_sip(1).is_some());
        assert!(
            registry
                .take_expired_sip(now + Duration::from_secs(1))
                .next()
                .is_none()
        );
        assert!(registry.take_sip(1).is_none());
    }

    /// design §5: bounded, with expiry — a full map takes nothing new until
    /// something expires; an expired entry is never handed out.
    #[tokio::test(start_paused = true)]
    async fn expiring_map_is_bounded_and_forgets_at_the_deadline() {
        let map: Expiring<u32> = Expiring::new(2);
        let now = Instant::now();
        let soon = now + Duration::from_secs(1);
        let later = now + Duration::from_secs(60);
        assert!(map.insert("a".into(), 1, soon, now));
        assert!(map.insert("b".into(), 2, later, now));
        assert!(!map.insert("c".into(), 3, later, now), "full");
        assert_eq!(map.get("a", now), Some(1));
        // Past a's deadline: a is not handed out, and its room is reused.
        let past = now + Duration::from_secs(2);
        assert_eq!(map.get("a", past), None);
        assert!(map.insert("c".into(), 3, later, past));
        assert_eq!(map.len(), 2);
        assert_eq!(map.take("c", past), Some(3));
        assert_eq!(map.take("c", past), None);
        let last = later + Duration::from_secs(1);
        assert!(map.insert("d".into(), 4, last, past));
        assert_eq!(map.take_expired(later), vec![("b".to_owned(), 2)]);
        assert_eq!(map.reap(last), 1);
        assert!(map.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn xmpp_entries_are_tracked_until_finished() {
        let registry: Registry<u64> = Registry::new();
        registry.track_xmpp();
        registry.track_xmpp();
        assert_eq!(registry.pending_xmpp_len(), 2);
        registry.finish_xmpp();
        assert_eq!(registry.pending_xmpp_len(), 1);
        registry.finish_xmpp();
        assert_eq!(registry.pending_xmpp_len(), 0);
    }

    /// The reaper's early stop answers what reading every slot answered:
    /// over many rounds of parking (mostly in order, deadlines mostly
    /// rising; some earlier, some parked out of turn or under a number
    /// already used), answers taken from anywhere and reaps at a rising
    /// time, each reap takes exactly the transactions a full reading takes,
    /// in number order, and the count stays right.
    #[tokio::test(start_paused = true)]
    async fn the_reaper_stops_early_only_where_the_order_holds() {
        let base = Instant::now();
        for seed in 1..=40u64 {
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut next = move |n: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % n
            };
            let registry = Registry::new();
            // The model: number -> deadline (ms after `base`) of every
            // transaction still parked.
            let mut model = std::collections::BTreeMap::<u64, u64>::new();
            let (mut correlation, mut clock, mut skipped) = (0u64, 0u64, Vec::new());
            for _ in 0..400 {
                match next(10) {
                    0..=5 => {
                        correlation += 1 + u64::from(next(8) == 0);
                        if correlation > 1 && next(6) == 0 {
                            skipped.push(correlation - 1);
                        }
                        // One window after now, sometimes earlier or later.
                        let deadline = match next(8) {
                            0 => clock + next(50),
                            1 => clock + 200 + next(400),
                            _ => clock + 200,
                        };
                        registry.park_sip(
                            correlation,
                            pending(base + Duration::from_millis(deadline), correlation),
                        );
                        model.insert(correlation, deadline);
                    }
                    6 => {
                        // Out of turn: a number skipped earlier, or one in use.
                        let number = match skipped.pop() {
                            Some(n) if next(2) == 0 => n,
                            _ => correlation.saturating_sub(next(5)).max(1),
                        };
                        let deadline = clock + next(300);
                        registry.park_sip(
                            number,
                            pending(base + Duration::from_millis(deadline), number),
                        );
                        model.insert(number, deadline);
                    }
                    7 => {
                        let number = correlation.saturating_sub(next(20));
                        let taken = registry.take_sip(number).map(|p| p.correlation);
                        assert_eq!(taken, model.remove(&number).map(|_| number), "seed {seed}");
                    }
                    _ => {
                        clock += next(120);
                        let now = base + Duration::from_millis(clock);
                        let reaped: Vec<u64> =
                            registry.take_expired_sip(now).map(|(c, _)| c).collect();
                        let expected: Vec<u64> = model
                            .iter()
                            .filter(|(_, deadline)| **deadline <= clock)
                            .map(|(c, _)| *c)
                            .collect();
                        assert_eq!(reaped, expected, "seed {seed} at {clock} ms");
                        model.retain(|_, deadline| *deadline > clock);
                    }
                }
                assert_eq!(registry.pending_sip_len(), model.len(), "seed {seed}");
            }
        }
    }
}

//! Shaping instead of refusing: an XMPP sender's stanzas over its rate wait in
//! a bounded first-in first-out queue and go out at the rate (design §4b:
//! Parley "shapes rather than refuses a user the server already shaped";
//! issue 26 §2). Only an item that finds its queue full is refused.
//!
//! Sans-IO, like `parley_sip::rate`: every call takes `now`; nothing here
//! reads a clock or sleeps. [`Shaper::offer`](crate::shaping::Shaper::offer) decides on one item,
//! [`Shaper::poll_timeout`](crate::shaping::Shaper::poll_timeout) says when the next queued item is due and
//! [`Shaper::poll_release`](crate::shaping::Shaper::poll_release) hands it out. `admission.rs` decides which
//! stanzas are shaped and acts on the decisions; the gateway's event loop
//! drives the releases.
//!
//! The rate is the generic cell rate algorithm (GCRA), the integer form of a
//! token bucket holding `burst` tokens refilled at `per_second`: each sender
//! keeps a theoretical arrival time `tat`; an item conforms at `now` when
//! `now + (burst − 1)·T ≥ tat`, with `T = 1 s / per_second`, and each item
//! let through moves `tat` to `max(tat, now) + T`. Unlike the floating-point
//! bucket of `parley_sip::rate`, it gives exact release instants: a queue
//! drains at the rate without drift, and tests can assert the instants.
//!
//! Order: RFC 6120 §10.1, "An XMPP server MUST ensure in-order processing of
//! the stanzas ... it receives over a given input stream"; Parley keeps that
//! order per sender, so an item from a sender whose queue is not empty waits
//! behind the others even when the rate would let it through at once.
//!
//! Bounds (design §5, "nothing grows without a bound"): at most
//! `sender_queue` items wait per sender and at most `queued` across all
//! senders; an item past either is refused. At most `max_senders` senders
//! are tracked; the others share one entry (one rate, one queue), as in
//! `parley_sip::rate`.
//!
//! What it does not do: know what an item is, answer a refusal, or send
//! anything.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

/// How often, at most, a full sender table is swept for idle senders.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Bounds for a [`Shaper`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapingLimit {
    /// Items per second each sender may send on average; 0 turns shaping off.
    pub per_second: u32,
    /// Items a sender may send at once above the average (at least 1).
    pub burst: u32,
    /// Items that may wait per sender; one more is refused.
    pub sender_queue: usize,
    /// Items that may wait across all senders; one more is refused.
    pub queued: usize,
    /// Senders tracked at once; senders beyond share one entry.
    pub max_senders: usize,
}

/// Which bound refused an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    /// The sender's own queue (`sender_queue`).
    Sender,
    /// The total across senders (`queued`).
    All,
}

/// The decision on one offered item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Offer<T> {
    /// Within the rate and nothing of its sender waiting: handle it now.
    Pass(T),
    /// It waits; [`Shaper::poll_release`] hands it out when it is due.
    Queued {
        /// Its place in its sender's queue, from 1 (1: the sender just went over its rate).
        position: usize,
    },
    /// Not taken: a queue is full.
    Refused {
        /// The item, to be answered.
        item: T,
        /// Which bound.
        full: Full,
        /// The first refusal since its sender last had an item taken (log it once).
        first: bool,
    },
}

/// Which entry an item goes to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Slot<K> {
    Sender(K),
    /// Shared by the senders that found the table full.
    Overflow,
}

#[derive(Debug)]
struct Entry<T> {
    /// GCRA theoretical arrival time.
    tat: Instant,
    queue: VecDeque<T>,
    refusing: bool,
}

impl<T> Entry<T> {
    fn new(now: Instant) -> Self {
        Entry {
            tat: now,
            queue: VecDeque::new(),
            refusing: false,
        }
    }
}

/// Per-sender rates with a bounded queue each, keyed by `K` (the gateway
/// uses the sender's bare JID).
#[derive(Debug)]
pub(crate) struct Shaper<K, T> {
    limit: ShapingLimit,
    /// GCRA emission interval `T`.
    interval: Duration,
    /// GCRA tolerance `(burst − 1)·T`.
    tolerance: Duration,
    senders: HashMap<K, Entry<T>>,
    overflow: Entry<T>,
    /// One entry per sender with a non-empty queue: (its `tat`, a sequence
    /// number keeping ties in scheduling order, the sender). The head of that
    /// queue is due at `tat − tolerance`; the tolerance is the same for every
    /// sender, so ordering by `tat` orders by due instant.
    due: BinaryHeap<Reverse<(Instant, u64, Slot<K>)>>,
    sequence: u64,
    queued: usize,
    next_sweep: Instant,
}

impl<K: Hash + Eq + Ord + Clone, T> Shaper<K, T> {
    /// An empty shaper.
    pub(crate) fn new(limit: ShapingLimit, now: Instant) -> Self {
        let interval = match limit.per_second {
            0 => Duration::ZERO,
            rate => Duration::from_secs(1) / rate,
        };
        Shaper {
            limit,
            interval,
            tolerance: interval * limit.burst.max(1).saturating_sub(1),
            senders: HashMap::new(),
            overflow: Entry::new(now),
            due: BinaryHeap::new(),
            sequence: 0,
            queued: 0,
            next_sweep: now,
        }
    }

    /// Decides on `item` from `sender` at `now`.
    pub(crate) fn offer(&mut self, sender: K, item: T, now: Instant) -> Offer<T> {
        if self.limit.per_second == 0 {
            return Offer::Pass(item);
        }
        let slot = self.slot_for(sender, now);
        let (interval, tolerance) = (self.interval, self.tolerance);
        let entry = match &slot {
            Slot::Sender(k) => match self.senders.get_mut(k) {
                Some(e) => e,
                None => &mut self.overflow,
            },
            Slot::Overflow => &mut self.overflow,
        };
        if entry.queue.is_empty() && now + tolerance >= entry.tat {
            entry.tat = entry.tat.max(now) + interval;
            entry.refusing = false;
            return Offer::Pass(item);
        }
        let full = if entry.queue.len() >= self.limit.sender_queue {
            Some(Full::Sender)
        } else if self.queued >= self.limit.queued {
            Some(Full::All)
        } else {
            None
        };
        if let Some(full) = full {
            let first = !entry.refusing;
            entry.refusing = true;
            return Offer::Refused { item, full, first };
        }
        entry.refusing = false;
        entry.queue.push_back(item);
        let position = entry.queue.len();
        let tat = entry.tat;
        self.queued += 1;
        if position == 1 {
            self.schedule(tat, slot);
        }
        Offer::Queued { position }
    }

    /// When the next queued item is due (`None`: nothing waits).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let Reverse((tat, _, _)) = self.due.peek()?;
        // A queued sender's tat lies beyond some `now + tolerance`, so this never underflows.
        Some(tat.checked_sub(self.tolerance).unwrap_or(*tat))
    }

    /// The next item due at `now`, in due order across senders and in
    /// arrival order within one; `None` when none is due yet.
    pub(crate) fn poll_release(&mut self, now: Instant) -> Option<T> {
        let Reverse((tat, _, _)) = self.due.peek()?;
        if now + self.tolerance < *tat {
            return None;
        }
        let Reverse((_, _, slot)) = self.due.pop()?;
        let interval = self.interval;
        let entry = match &slot {
            Slot::Sender(k) => self.senders.get_mut(k)?,
            Slot::Overflow => &mut self.overflow,
        };
        let item = entry.queue.pop_front()?;
        // Released on time, max(tat, now) is tat: the queue drains at exactly
        // the rate. Released late (a busy loop), the lost time is not made up
        // with a burst beyond `burst`.
        entry.tat = entry.tat.max(now) + interval;
        let next = (!entry.queue.is_empty()).then_some(entry.tat);
        self.queued -= 1;
        if let Some(tat) = next {
            self.schedule(tat, slot);
        }
        Some(item)
    }

    /// Takes every waiting item out, each sender's in arrival order (senders
    /// in due order). Nothing waits afterwards; later offers are shaped as
    /// before (the rates are kept).
    pub(crate) fn take_all(&mut self) -> Vec<T> {
        let mut items = Vec::with_capacity(self.queued);
        while let Some(Reverse((_, _, slot))) = self.due.pop() {
            let entry = match &slot {
                Slot::Sender(k) => self.senders.get_mut(k),
                Slot::Overflow => Some(&mut self.overflow),
            };
            if let Some(entry) = entry {
                items.extend(entry.queue.drain(..));
            }
        }
        self.queued = 0;
        items
    }

    /// Items waiting now, across senders.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    fn schedule(&mut self, tat: Instant, slot: Slot<K>) {
        self.sequence += 1;
        self.due.push(Reverse((tat, self.sequence, slot)));
    }

    /// The entry for `sender`, creating it while the table has room.
    fn slot_for(&mut self, sender: K, now: Instant) -> Slot<K> {
        if self.senders.contains_key(&sender) {
            return Slot::Sender(sender);
        }
        // While the shared entry holds items, senders without an entry keep
        // using it: one of them may have items there, and a fresh entry of
        // its own would let its next item overtake them.
        if !self.overflow.queue.is_empty() {
            return Slot::Overflow;
        }
        let max = self.limit.max_senders.max(1);
        if self.senders.len() >= max && now >= self.next_sweep {
            // Idle: nothing waiting and the whole burst available again.
            self.senders
                .retain(|_, e| !e.queue.is_empty() || e.tat > now);
            self.next_sweep = now + SWEEP_EVERY;
        }
        if self.senders.len() >= max {
            return Slot::Overflow;
        }
        self.senders.insert(sender.clone(), Entry::new(now));
        Slot::Sender(sender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn shaper(
        t0: Instant,
        per_second: u32,
        burst: u32,
        sender_queue: usize,
        queued: usize,
    ) -> Shaper<&'static str, u32> {
        shaper_for(t0, per_second, burst, sender_queue, queued, 100)
    }

    fn shaper_for(
        t0: Instant,
        per_second: u32,
        burst: u32,
        sender_queue: usize,
        queued: usize,
        max_senders: usize,
    ) -> Shaper<&'static str, u32> {
        Shaper::new(
            ShapingLimit {
                per_second,
                burst,
                sender_queue,
                queued,
                max_senders,
            },
            t0,
        )
    }

    /// Everything due at `now`.
    fn release(s: &mut Shaper<&'static str, u32>, now: Instant) -> Vec<u32> {
        std::iter::from_fn(|| s.poll_release(now)).collect()
    }

    /// Drives `s` on its own timeouts until empty: (milliseconds after `t0`, item).
    fn drain(s: &mut Shaper<&'static str, u32>, t0: Instant) -> Vec<(u128, u32)> {
        let mut out = Vec::new();
        while let Some(at) = s.poll_timeout() {
            for item in release(s, at) {
                out.push(((at - t0).as_millis(), item));
            }
        }
        out
    }

    #[test]
    fn a_burst_passes_and_the_excess_goes_out_at_the_rate_in_order() {
        let t0 = Instant::now();
        // 10 per second (one every 100 ms), burst 3.
        let mut s = shaper(t0, 10, 3, 100, 1000);
        let offers: Vec<_> = (1..=8).map(|i| s.offer("juliet", i, t0)).collect();
        assert_eq!(
            offers[..3],
            [Offer::Pass(1), Offer::Pass(2), Offer::Pass(3)]
        );
        assert_eq!(offers[3], Offer::Queued { position: 1 });
        assert_eq!(offers[7], Offer::Queued { position: 5 });
        assert_eq!(s.queued(), 5);
        assert_eq!(s.poll_timeout(), Some(t0 + 100 * MS));
        assert!(release(&mut s, t0 + 99 * MS).is_empty());
        assert_eq!(
            drain(&mut s, t0),
            [(100, 4), (200, 5), (300, 6), (400, 7), (500, 8)]
        );
        assert_eq!(s.queued(), 0);
        assert_eq!(s.poll_timeout(), None);
    }

    /// RFC 6120 §10.1 order: a stanza behind a queue waits even when a token is free.
    #[test]
    fn an_item_behind_a_queue_waits_even_when_the_rate_would_let_it_through() {
        let t0 = Instant::now();
        let mut s = shaper(t0, 10, 2, 100, 1000);
        for i in 1..=3 {
            s.offer("juliet", i, t0);
        }
        // At 150 ms item 3 is out (due at 100 ms, not yet released by the
        // driver) and the bucket has refilled half a token more; item 4 must
        // still queue behind it.
        assert_eq!(
            s.offer("juliet", 4, t0 + 150 * MS),
            Offer::Queued { position: 2 }
        );
        assert_eq!(release(&mut s, t0 + 150 * MS), [3]);
        assert_eq!(drain(&mut s, t0), [(200, 4)]);
    }

    #[test]
    fn a_late_driver_gets_everything_due_at_once_but_no_more_than_the_burst() {
        let t0 = Instant::now();
        let mut s = shaper(t0, 10, 2, 100, 1000);
        for i in 1..=10 {
            s.offer("juliet", i, t0);
        }
        // Items 3..=10 wait, due at 100, 200, … ms. A driver that wakes only
        // at 450 ms gets a burst's worth at once, not the four due by then:
        // the lost time is not made up, and the rest follow at the rate.
        assert_eq!(release(&mut s, t0 + 450 * MS), [3, 4]);
        assert_eq!(s.poll_timeout(), Some(t0 + 550 * MS));
        assert_eq!(
            drain(&mut s, t0),
            [(550, 5), (650, 6), (750, 7), (850, 8), (950, 9), (1050, 10)]
        );
    }

    #[test]
    fn a_full_sender_queue_refuses_the_excess_only_and_takes_again_once_it_drains() {
        let t0 = Instant::now();
        let mut s = shaper(t0, 10, 2, 3, 1000);
        let offers: Vec<_> = (1..=8).map(|i| s.offer("juliet", i, t0)).collect();
        assert!(matches!(
            &offers[..5],
            [
                Offer::Pass(1),
                Offer::Pass(2),
                Offer::Queued { .. },
                Offer::Queued { .. },
                Offer::Queued { .. }
            ]
        ));
        assert_eq!(
            offers[5..],
            [
                Offer::Refused {
                    item: 6,
                    full: Full::Sender,
                    first: true
                },
                Offer::Refused {
                    item: 7,
                    full: Full::Sender,
                    first: false
                },
                Offer::Refused {
                    item: 8,
                    full: Full::Sender,
                    first: false
                },
            ]
        );
        // One released makes room for exactly one more.
        assert_eq!(release(&mut s, t0 + 100 * MS), [3]);
        assert_eq!(
            s.offer("juliet", 9, t0 + 100 * MS),
            Offer::Queued { position: 3 }
        );
        assert_eq!(
            s.offer("juliet", 10, t0 + 100 * MS),
            Offer::Refused {
                item: 10,
                full: Full::Sender,
                first: true
            }
        );
        assert_eq!(drain(&mut s, t0), [(200, 4), (300, 5), (400, 9)]);
    }

    #[test]
    fn senders_are_shaped_independently() {
        let t0 = Instant::now();
        let mut s = shaper(t0, 10, 1, 2, 1000);
        assert_eq!(s.offer("juliet", 1, t0), Offer::Pass(1));
        assert_eq!(s.offer("juliet", 2, t0), Offer::Queued { position: 1 });
        assert_eq!(s.offer("juliet", 3, t0), Offer::Queued { position: 2 });
        assert!(matches!(s.offer("juliet", 4, t0), Offer::Refused { .. }));
        // Romeo has his own bucket and queue: juliet's backlog costs him nothing.
        assert_eq!(s.offer("romeo", 11, t0), Offer::Pass(11));
        assert_eq!(s.offer("romeo", 12, t0), Offer::Queued { position: 1 });
        assert_eq!(
            s.offer("romeo", 13, t0 + 50 * MS),
            Offer::Queued { position: 2 }
        );
        // Both drain at their own rate, interleaved by due instant.
        assert_eq!(
            drain(&mut s, t0),
            [(100, 2), (100, 12), (200, 3), (200, 13)]
        );
    }

    #[test]
    fn the_total_bound_refuses_across_senders() {
        let t0 = Instant::now();
        // Each sender may queue 3, but only 4 may wait in all.
        let mut s = shaper(t0, 10, 1, 3, 4);
        for (who, i) in [("juliet", 1), ("juliet", 2), ("juliet", 3), ("juliet", 4)] {
            s.offer(who, i, t0);
        }
        assert_eq!(s.offer("romeo", 11, t0), Offer::Pass(11));
        assert_eq!(s.offer("romeo", 12, t0), Offer::Queued { position: 1 });
        assert_eq!(
            s.offer("romeo", 13, t0),
            Offer::Refused {
                item: 13,
                full: Full::All,
                first: true
            }
        );
        assert_eq!(s.queued(), 4);
        // A release frees one place in the total.
        assert_eq!(release(&mut s, t0 + 100 * MS), [2, 12]);
        assert_eq!(s.offer("nurse", 21, t0 + 100 * MS), Offer::Pass(21));
        assert_eq!(
            s.offer("nurse", 22, t0 + 100 * MS),
            Offer::Queued { position: 1 }
        );
        assert_eq!(
            s.offer("nurse", 23, t0 + 100 * MS),
            Offer::Queued { position: 2 }
        );
        assert!(matches!(
            s.offer("nurse", 24, t0 + 100 * MS),
            Offer::Refused {
                full: Full::All,
                ..
            }
        ));
    }

    #[test]
    fn take_all_empties_every_queue_in_order() {
        let t0 = Instant::now();
        let mut s = shaper(t0, 10, 1, 10, 100);
        for i in 1..=4 {
            s.offer("juliet", i, t0);
        }
        s.offer("romeo", 11, t0 + 10 * MS);
        s.offer("romeo", 12, t0 + 10 * MS);
        let taken = s.take_all();
        assert_eq!(taken, [2, 3, 4, 12]);
        assert_eq!(s.queued(), 0);
        assert_eq!(s.poll_timeout(), None);
        assert_eq!(s.poll_release(t0 + Duration::from_secs(10)), None);
        // The rate is kept: juliet's next waits for its turn, in a fresh queue.
        assert_eq!(
            s.offer("juliet", 5, t0 + 10 * MS),
            Offer::Queued { position: 1 }
        );
    }

    #[test]
    fn senders_beyond_the_table_share_one_entry_and_keep_their_order() {
        let t0 = Instant::now();
        let mut s = shaper_for(t0, 10, 1, 10, 100, 1);
        assert_eq!(s.offer("juliet", 1, t0), Offer::Pass(1));
        // The table is full (juliet is not idle): romeo and nurse share the overflow entry.
        assert_eq!(s.offer("romeo", 11, t0), Offer::Pass(11));
        assert_eq!(s.offer("nurse", 21, t0), Offer::Queued { position: 1 });
        assert_eq!(s.offer("romeo", 12, t0), Offer::Queued { position: 2 });
        // At 100 ms juliet is idle and could be swept, but the overflow entry
        // still holds romeo's 12: romeo's 13 goes behind it, not to an entry of his own.
        assert_eq!(release(&mut s, t0 + 100 * MS), [21]);
        assert_eq!(
            s.offer("romeo", 13, t0 + 100 * MS),
            Offer::Queued { position: 2 }
        );
        assert_eq!(drain(&mut s, t0), [(200, 12), (300, 13)]);
        // Once the overflow entry is empty, an idle sender is swept for a new one.
        assert_eq!(
            s.offer("romeo", 14, t0 + Duration::from_secs(2)),
            Offer::Pass(14)
        );
        assert_eq!(
            s.offer("romeo", 15, t0 + Duration::from_secs(2)),
            Offer::Queued { position: 1 }
        );
        assert_eq!(
            s.offer("nurse", 22, t0 + Duration::from_secs(2)),
            Offer::Pass(22)
        );
    }

    /// Issue 26 §2: with the defaults, a sender who sends 500 at once and then
    /// 50 per second for ten minutes sees delay and never an error.
    #[test]
    fn the_defaults_absorb_500_at_once_then_50_per_second() {
        let t0 = Instant::now();
        let mut s: Shaper<&str, u32> =
            Shaper::new(crate::config::LimitsConfig::default().xmpp_shaping(), t0);
        let (mut passed, mut most_waiting, mut longest_wait) = (0, 0, Duration::ZERO);
        let mut arrived = HashMap::new();
        let mut offer = |s: &mut Shaper<&str, u32>, i: u32, now: Instant| {
            for released in std::iter::from_fn(|| s.poll_release(now)) {
                longest_wait = longest_wait.max(now - arrived[&released]);
            }
            arrived.insert(i, now);
            match s.offer("juliet", i, now) {
                Offer::Pass(_) => passed += 1,
                Offer::Queued { .. } => most_waiting = most_waiting.max(s.queued()),
                refused @ Offer::Refused { .. } => panic!("{i} at {:?}: {refused:?}", now - t0),
            }
        };
        for i in 0..500 {
            offer(&mut s, i, t0);
        }
        let every = Duration::from_millis(20);
        for n in 1..=30_000 {
            offer(&mut s, 500 + n, t0 + every * n);
        }
        // The burst went on at once, the rest waited (at most half the queue) …
        assert!(
            passed > 100 && most_waiting == 400,
            "{passed} {most_waiting}"
        );
        // … for at most four seconds (400 at 100/s), and the backlog was gone
        // long before the end: the 50/s that followed went straight on.
        assert_eq!(longest_wait, Duration::from_secs(4));
        assert_eq!(s.queued(), 0);
    }

    #[test]
    fn a_rate_of_zero_turns_shaping_off() {
        let t0 = Instant::now();
        let mut s = shaper(t0, 0, 1, 1, 1);
        for i in 1..=1000 {
            assert_eq!(s.offer("juliet", i, t0), Offer::Pass(i));
        }
        assert_eq!(s.poll_timeout(), None);
    }
}

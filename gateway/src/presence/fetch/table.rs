//! RFC 8048 §8.1 (amplification): who waits for a fetch of a (prober,
//! contact) pair, so that a burst of probes becomes one fetch, and what
//! finished fetches found, reused for a while. Pure bookkeeping: time comes
//! in as `now`, and the fetches themselves are the caller's.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

/// Slots kept before a purge of finished ones runs (then twice what remains).
const PURGE_MIN: usize = 1024;

/// Who waits for a fetch, keyed by pair; and what finished fetches found, for
/// [`FETCH_REUSE`](super::FETCH_REUSE). Pure bookkeeping: time comes in as `now`.
pub(crate) struct FetchTable<K, W, R> {
    slots: HashMap<K, Slot<W, R>>,
    reuse: Duration,
    purge_at: usize,
}

enum Slot<W, R> {
    Running(Vec<W>),
    Done { at: Instant, result: R },
}

/// What [`FetchTable::begin`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Begin<W, R> {
    /// Nothing in flight or fresh: the caller fetches, then calls `finish`.
    Start,
    /// A fetch is in flight; the waiter gets its result.
    Joined,
    /// A fetch finished less than `reuse` ago: its result, and the waiter back.
    Reuse(W, R),
}

impl<K: Eq + Hash, W, R: Clone> FetchTable<K, W, R> {
    /// An empty table whose results answer for `reuse` (zero: never).
    pub(crate) fn new(reuse: Duration) -> Self {
        Self {
            slots: HashMap::new(),
            reuse,
            purge_at: PURGE_MIN,
        }
    }

    /// `waiter` wants the result for `key`.
    pub(crate) fn begin(&mut self, key: K, waiter: W, now: Instant) -> Begin<W, R> {
        self.purge(now);
        match self.slots.get_mut(&key) {
            Some(Slot::Running(waiters)) => {
                waiters.push(waiter);
                Begin::Joined
            }
            Some(Slot::Done { at, result }) if now.saturating_duration_since(*at) < self.reuse => {
                Begin::Reuse(waiter, result.clone())
            }
            _ => {
                self.slots.insert(key, Slot::Running(vec![waiter]));
                Begin::Start
            }
        }
    }

    /// The fetch for `key` ended with `result`: everyone who waited.
    pub(crate) fn finish(&mut self, key: K, result: R, now: Instant) -> Vec<W> {
        let waiters = match self.slots.remove(&key) {
            Some(Slot::Running(waiters)) => waiters,
            _ => Vec::new(),
        };
        if !self.reuse.is_zero() {
            self.slots.insert(key, Slot::Done { at: now, result });
        }
        waiters
    }

    /// Pairs with a fetch in flight or a result still reused.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Forget results too old to reuse, once the table has grown: memory stays
    /// bounded by the pairs fetched within [`FETCH_REUSE`](super::FETCH_REUSE).
    fn purge(&mut self, now: Instant) {
        if self.slots.len() < self.purge_at {
            return;
        }
        let reuse = self.reuse;
        self.slots.retain(|_, slot| match slot {
            Slot::Running(_) => true,
            Slot::Done { at, .. } => now.saturating_duration_since(*at) < reuse,
        });
        self.purge_at = (self.slots.len() * 2).max(PURGE_MIN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presence::fetch::FETCH_REUSE;

    type Pair = (String, String);

    fn key(p: &str) -> Pair {
        (p.to_owned(), "bob@sip.example.net".to_owned())
    }

    #[test]
    fn concurrent_fetches_of_a_pair_coalesce_and_share_the_result() {
        let now = Instant::now();
        let mut t: FetchTable<Pair, &str, u8> = FetchTable::new(FETCH_REUSE);
        assert_eq!(t.begin(key("juliet"), "juliet/a", now), Begin::Start);
        assert_eq!(t.begin(key("juliet"), "juliet/b", now), Begin::Joined);
        assert_eq!(t.begin(key("juliet"), "juliet/a", now), Begin::Joined);
        assert_eq!(
            t.finish(key("juliet"), 7, now),
            vec!["juliet/a", "juliet/b", "juliet/a"]
        );
    }

    #[test]
    fn a_finished_fetch_answers_until_reuse_runs_out() {
        let now = Instant::now();
        let mut t: FetchTable<Pair, &str, u8> = FetchTable::new(FETCH_REUSE);
        assert_eq!(t.begin(key("juliet"), "juliet", now), Begin::Start);
        t.finish(key("juliet"), 7, now);
        let later = now + FETCH_REUSE - Duration::from_millis(1);
        assert_eq!(
            t.begin(key("juliet"), "juliet", later),
            Begin::Reuse("juliet", 7)
        );
        assert_eq!(
            t.begin(key("juliet"), "juliet", now + FETCH_REUSE),
            Begin::Start
        );
    }

    /// RFC 8048 §8.2: one prober's result never answers another.
    #[test]
    fn results_are_not_shared_between_probers() {
        let now = Instant::now();
        let mut t: FetchTable<Pair, &str, u8> = FetchTable::new(FETCH_REUSE);
        assert_eq!(t.begin(key("juliet"), "juliet", now), Begin::Start);
        assert_eq!(t.begin(key("romeo"), "romeo", now), Begin::Start);
        assert_eq!(t.finish(key("juliet"), 1, now), vec!["juliet"]);
        assert_eq!(t.begin(key("romeo"), "romeo", now), Begin::Joined);
    }

    #[test]
    fn without_reuse_every_fetch_after_the_last_starts_anew() {
        let now = Instant::now();
        let mut t: FetchTable<Pair, &str, u8> = FetchTable::new(Duration::ZERO);
        assert_eq!(t.begin(key("bob"), "1", now), Begin::Start);
        assert_eq!(t.begin(key("bob"), "2", now), Begin::Joined);
        assert_eq!(t.finish(key("bob"), 0, now), vec!["1", "2"]);
        assert_eq!(t.len(), 0);
        assert_eq!(t.begin(key("bob"), "3", now), Begin::Start);
    }

    #[test]
    fn stale_results_are_purged_once_the_table_grows() {
        let now = Instant::now();
        let mut t: FetchTable<Pair, u32, u8> = FetchTable::new(FETCH_REUSE);
        for i in 1..PURGE_MIN {
            let k = key(&format!("u{i}"));
            assert_eq!(t.begin(k.clone(), 0, now), Begin::Start);
            t.finish(k, 0, now);
        }
        assert_eq!(t.begin(key("busy"), 0, now), Begin::Start);
        assert_eq!(t.len(), PURGE_MIN);
        // Past the reuse time the next begin drops every finished slot; the
        // fetch in flight stays.
        let later = now + FETCH_REUSE;
        assert_eq!(t.begin(key("new"), 0, later), Begin::Start);
        assert_eq!(t.len(), 2);
        assert_eq!(t.begin(key("busy"), 1, later), Begin::Joined);
    }
}

//! The reaper's index of deadlines: which subscriptions and fetches are due
//! at a tick, found without looking at the others.
//!
//! Each side keeps its state machines in a map by key (a subscription's or
//! a §7.1 fetch's Call-ID; a §7.2 probe's (watcher, target) pair) and one
//! [`TimerIndex`] beside it, holding `(deadline, key)` for every machine whose
//! `poll_timeout()` is `Some`. Whoever changes a machine moves its entry
//! (`Watches::update`, `Watchers::update`, `Fetches::update_fetch`,
//! `Fetches::update_probe`), so the index never holds a stale deadline; a
//! tick takes what is due in O(due · log n), not O(all). Lock order: a map entry first, then the index,
//! never the other way round ([`TimerIndex::take_due`] releases the index
//! before the caller touches the map).

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::time::Instant;

/// Deadlines by time, each naming the machine (by its key `K`, a Call-ID
/// unless said otherwise) it belongs to.
pub(crate) struct TimerIndex<K = String> {
    due: Mutex<BTreeSet<(Instant, K)>>,
}

impl<K> Default for TimerIndex<K> {
    fn default() -> Self {
        Self {
            due: Mutex::new(BTreeSet::new()),
        }
    }
}

impl<K: Ord + Clone> TimerIndex<K> {
    /// `key`'s deadline moved from `old` to `new` (either may be `None`).
    pub(crate) fn reschedule<Q>(&self, key: &Q, old: Option<Instant>, new: Option<Instant>)
    where
        Q: ToOwned<Owned = K> + ?Sized,
    {
        if old == new {
            return;
        }
        let mut due = self.lock();
        if let Some(at) = old {
            due.remove(&(at, key.to_owned()));
        }
        if let Some(at) = new {
            due.insert((at, key.to_owned()));
        }
    }

    /// Remove and return every key whose deadline is at or before `now`,
    /// earliest first.
    pub(crate) fn take_due(&self, now: Instant) -> Vec<K> {
        let mut due = self.lock();
        let mut out = Vec::new();
        while let Some(first) = due.first() {
            if first.0 > now {
                break;
            }
            if let Some((_, key)) = due.pop_first() {
                out.push(key);
            }
        }
        out
    }

    /// Forget every deadline (shutdown).
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// Deadlines held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The set even after a panic elsewhere poisoned the lock: an entry is
    /// inserted or removed whole, so no half-done update can be seen.
    fn lock(&self) -> MutexGuard<'_, BTreeSet<(Instant, K)>> {
        self.due.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_tick_takes_only_what_is_due_earliest_first() {
        let t0 = Instant::now();
        let index: TimerIndex = TimerIndex::default();
        index.reschedule("b", None, Some(t0 + Duration::from_secs(2)));
        index.reschedule("a", None, Some(t0 + Duration::from_secs(1)));
        index.reschedule("c", None, Some(t0 + Duration::from_secs(3)));
        assert!(index.take_due(t0).is_empty());
        assert_eq!(index.take_due(t0 + Duration::from_secs(2)), ["a", "b"]);
        assert_eq!(index.len(), 1);
        assert_eq!(index.take_due(t0 + Duration::from_secs(9)), ["c"]);
        assert_eq!(index.len(), 0);
    }

    #[test]
    fn a_moved_deadline_leaves_no_stale_entry() {
        let t0 = Instant::now();
        let index: TimerIndex = TimerIndex::default();
        let first = Some(t0 + Duration::from_secs(1));
        let later = Some(t0 + Duration::from_secs(60));
        index.reschedule("a", None, first);
        index.reschedule("a", first, later);
        assert_eq!(index.len(), 1);
        assert!(index.take_due(t0 + Duration::from_secs(30)).is_empty());
        index.reschedule("a", later, None);
        assert_eq!(index.len(), 0);
    }
}

//! The reaper's index of subscription deadlines: which subscriptions are due
//! at a tick, found without looking at the others.
//!
//! Each side keeps its subscriptions' state machines in a map by Call-ID and
//! one [`TimerIndex`] beside it, holding `(deadline, Call-ID)` for every
//! machine whose `poll_timeout()` is `Some`. Whoever changes a machine moves
//! its entry (`Watches::update`, `Watchers::update`), so the index never
//! holds a stale deadline; a tick takes what is due in O(due · log n), not
//! O(all). Lock order: a map entry first, then the index, never the other
//! way round ([`TimerIndex::take_due`] releases the index before the caller
//! touches the map).

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::time::Instant;

/// Deadlines by time, each naming the subscription (Call-ID) it belongs to.
#[derive(Default)]
pub(crate) struct TimerIndex {
    due: Mutex<BTreeSet<(Instant, String)>>,
}

impl TimerIndex {
    /// `call_id`'s deadline moved from `old` to `new` (either may be `None`).
    pub(crate) fn reschedule(&self, call_id: &str, old: Option<Instant>, new: Option<Instant>) {
        if old == new {
            return;
        }
        let mut due = self.lock();
        if let Some(at) = old {
            due.remove(&(at, call_id.to_owned()));
        }
        if let Some(at) = new {
            due.insert((at, call_id.to_owned()));
        }
    }

    /// Remove and return every Call-ID whose deadline is at or before `now`,
    /// earliest first.
    pub(crate) fn take_due(&self, now: Instant) -> Vec<String> {
        let mut due = self.lock();
        let mut out = Vec::new();
        while let Some(first) = due.first() {
            if first.0 > now {
                break;
            }
            if let Some((_, call_id)) = due.pop_first() {
                out.push(call_id);
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
    fn lock(&self) -> MutexGuard<'_, BTreeSet<(Instant, String)>> {
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
        let index = TimerIndex::default();
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
        let index = TimerIndex::default();
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

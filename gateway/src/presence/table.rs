//! One side's live subscriptions: by Call-ID, the Call-ID by (watcher,
//! other party), and their deadlines in a [`TimerIndex`]. The subscriber
//! side (`subscriber.rs`, `Watch`) and the notifier side (`notifier.rs`,
//! `Watcher`) keep theirs in one of these; whoever changes a subscription
//! goes through [`Subscriptions::update`], so its deadline follows.

use dashmap::DashMap;
use tokio::time::Instant;

use super::timers::TimerIndex;

/// What a table needs of the subscriptions it holds.
pub(crate) trait Subscription {
    /// Its state machine's next deadline.
    fn poll_timeout(&self) -> Option<Instant>;
    /// (watcher, the other party), both bare JIDs as strings.
    fn pair(&self) -> (String, String);
}

/// Subscriptions by Call-ID, Call-ID by pair, and their deadlines.
///
/// Each subscription is boxed: a hash table keeps up to twice as many slots
/// as entries and, while it grows, frees the old table of half its size
/// that the allocator keeps. With the subscription itself in a slot (a few
/// hundred bytes) that was 880 B of table per subscription at 100 000
/// (heaptrack, `presence_scale`); boxed, a slot is 32 bytes.
pub(crate) struct Subscriptions<V> {
    pub(super) by_call_id: DashMap<String, Box<V>>,
    pub(super) by_pair: DashMap<(String, String), String>,
    pub(super) timers: TimerIndex,
}

impl<V> Default for Subscriptions<V> {
    fn default() -> Self {
        Self {
            by_call_id: DashMap::new(),
            by_pair: DashMap::new(),
            timers: TimerIndex::default(),
        }
    }
}

impl<V: Subscription> Subscriptions<V> {
    /// Subscriptions alive now.
    pub(crate) fn len(&self) -> usize {
        self.by_call_id.len()
    }

    /// Keep `s` under `call_id`, with its deadline.
    pub(super) fn insert(&self, call_id: String, s: V) {
        self.timers.reschedule(&call_id, None, s.poll_timeout());
        self.by_call_id.insert(call_id, Box::new(s));
    }

    /// Change the subscription `call_id` with `f`; its deadline follows.
    /// `f` must not touch the maps (it runs under an entry's lock).
    pub(super) fn update<R>(&self, call_id: &str, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        let mut s = self.by_call_id.get_mut(call_id)?;
        let before = s.poll_timeout();
        let out = f(&mut s);
        self.timers.reschedule(call_id, before, s.poll_timeout());
        Some(out)
    }

    /// Subscriptions held by one watcher.
    pub(super) fn count_for(&self, watcher: &str) -> usize {
        self.by_pair.iter().filter(|e| e.key().0 == watcher).count()
    }

    /// The Call-ID of the subscription of `pair`, if any.
    pub(super) fn call_id_of(&self, watcher: &str, other: &str) -> Option<String> {
        self.by_pair
            .get(&(watcher.to_owned(), other.to_owned()))
            .map(|c| c.clone())
    }

    /// Take `call_id` out of the maps and the index.
    pub(super) fn remove(&self, call_id: &str) -> Option<V> {
        let (_, s) = self.by_call_id.remove(call_id)?;
        self.by_pair.remove_if(&s.pair(), |_, c| c == call_id);
        self.timers.reschedule(call_id, s.poll_timeout(), None);
        Some(*s)
    }

    /// Take every subscription out.
    pub(super) fn take_all(&self) -> Vec<V> {
        let keys: Vec<String> = self.by_call_id.iter().map(|s| s.key().clone()).collect();
        keys.iter().filter_map(|k| self.remove(k)).collect()
    }
}

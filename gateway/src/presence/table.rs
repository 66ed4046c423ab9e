//! One side's live subscriptions: by Call-ID, the Call-ID by (watcher,
//! other party) in a [`PairIndex`], and their deadlines in a [`TimerIndex`].
//! The subscriber side (`subscriber.rs`, `Watch`) and the notifier side
//! (`notifier.rs`, `Watcher`) keep theirs in one of these; whoever changes a
//! subscription goes through [`Subscriptions::update`], so its deadline
//! follows.

use std::sync::Arc;

use dashmap::DashMap;
use dashmap::mapref::one::{Ref, RefMut};
use tokio::time::Instant;

use parley_mapping::address::Jid;

use super::pairs::{Holder, PairIndex};
use super::timers::TimerIndex;

/// What a table needs of the subscriptions it holds.
pub(crate) trait Subscription {
    /// Its state machine's next deadline.
    fn poll_timeout(&self) -> Option<Instant>;
    /// (watcher, the other party), both bare JIDs.
    fn parties(&self) -> (Party<'_>, Party<'_>);
}

/// One party of a subscription as its table reads it: a JID, or the text
/// of one (a subscription that keeps its parties compactly,
/// `subscriber/watch.rs`).
#[derive(Clone, Copy)]
pub(crate) enum Party<'a> {
    /// A parsed JID.
    Jid(&'a Jid),
    /// A JID written out.
    Text(&'a str),
}

impl Party<'_> {
    /// Whether it written out is `text`, without writing it out.
    fn is(self, text: &str) -> bool {
        match self {
            Party::Jid(jid) => jid_is(jid, text),
            Party::Text(own) => own == text,
        }
    }
}

impl std::fmt::Display for Party<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Party::Jid(jid) => jid.fmt(f),
            Party::Text(text) => f.write_str(text),
        }
    }
}

/// Subscriptions by Call-ID, Call-ID by pair, and their deadlines.
///
/// Each subscription is boxed: a hash table keeps up to twice as many slots
/// as entries and, while it grows, frees the old table of half its size
/// that the allocator keeps. With the subscription itself in a slot (a few
/// hundred bytes) that was 880 B of table per subscription at 100 000
/// (heaptrack, `presence_scale`); boxed, a slot is 24 bytes. The Call-ID is
/// kept once, shared by the pair index.
///
/// Lock order (`pairs.rs`): nobody calls a method of this table that finds
/// or changes a pair while holding an entry from [`Subscriptions::get`] or
/// [`Subscriptions::get_mut`].
pub(crate) struct Subscriptions<V> {
    by_call_id: DashMap<Arc<str>, Box<V>>,
    by_pair: PairIndex,
    /// Deadlines by the same shared Call-ID: no copy of it per entry.
    timers: TimerIndex<Arc<str>>,
}

impl<V> Default for Subscriptions<V> {
    fn default() -> Self {
        Self {
            by_call_id: DashMap::new(),
            by_pair: PairIndex::default(),
            timers: TimerIndex::default(),
        }
    }
}

/// Whether `jid` written out is `text`, without writing it out.
fn jid_is(jid: &Jid, text: &str) -> bool {
    let rest = match jid.local() {
        Some(local) => match text.strip_prefix(local).and_then(|r| r.strip_prefix('@')) {
            Some(rest) => rest,
            None => return false,
        },
        None => text,
    };
    match jid.resource() {
        None => rest == jid.domain(),
        Some(resource) => {
            rest.strip_prefix(jid.domain())
                .and_then(|r| r.strip_prefix('/'))
                == Some(resource)
        }
    }
}

impl<V: Subscription> Subscriptions<V> {
    /// Subscriptions alive now.
    pub(crate) fn len(&self) -> usize {
        self.by_call_id.len()
    }

    /// Whether the subscription `call_id` is held.
    pub(super) fn contains(&self, call_id: &str) -> bool {
        self.by_call_id.contains_key(call_id)
    }

    /// The subscription `call_id`, to read (its entry stays locked).
    pub(super) fn get(&self, call_id: &str) -> Option<Ref<'_, Arc<str>, Box<V>>> {
        self.by_call_id.get(call_id)
    }

    /// The subscription `call_id`, to change what its deadline does not
    /// follow from (its entry stays locked).
    pub(super) fn get_mut(&self, call_id: &str) -> Option<RefMut<'_, Arc<str>, Box<V>>> {
        self.by_call_id.get_mut(call_id)
    }

    /// What the table says of `call_id` for the pair (watcher, other).
    fn holder(&self, call_id: &str, watcher: &str, other: &str) -> Holder {
        match self.by_call_id.get(call_id) {
            None => Holder::Gone,
            Some(s) => {
                let (w, o) = s.parties();
                if w.is(watcher) && o.is(other) {
                    Holder::This
                } else {
                    Holder::Other
                }
            }
        }
    }

    /// Keep `s` under `call_id`, with its deadline, not found by its pair.
    pub(super) fn insert(&self, call_id: String, s: V) {
        self.insert_shared(Arc::from(call_id), s);
    }

    fn insert_shared(&self, call_id: Arc<str>, s: V) {
        self.timers.reschedule(&call_id, None, s.poll_timeout());
        self.by_call_id.insert(call_id, Box::new(s));
    }

    /// Keep `s` under `call_id`, with its deadline, and as its pair's
    /// subscription (instead of the one the pair had); the key as kept.
    pub(super) fn insert_paired(&self, call_id: impl Into<Arc<str>>, s: V) -> Arc<str> {
        let (watcher, other) = {
            let (w, o) = s.parties();
            (w.to_string(), o.to_string())
        };
        let call_id: Arc<str> = call_id.into();
        self.insert_shared(Arc::clone(&call_id), s);
        self.by_pair
            .insert(&watcher, &other, Arc::clone(&call_id), |c| {
                self.holder(c, &watcher, &other)
            });
        call_id
    }

    /// Find `call_id`'s subscription by its pair again, unless the pair
    /// has another.
    pub(super) fn pair_unless_held(&self, call_id: &str) {
        let Some((call_id, watcher, other)) = self.by_call_id.get(call_id).map(|s| {
            let (w, o) = s.parties();
            (Arc::clone(s.key()), w.to_string(), o.to_string())
        }) else {
            return;
        };
        self.by_pair
            .insert_if_vacant(&watcher, &other, call_id, |c| {
                self.holder(c, &watcher, &other)
            });
    }

    /// The pair's subscription is no longer found by its pair (it stays
    /// under its Call-ID).
    pub(super) fn unpair(&self, watcher: &str, other: &str) {
        self.by_pair
            .remove(watcher, other, |c| self.holder(c, watcher, other));
    }

    /// Change the subscription `call_id` with `f`; its deadline follows.
    /// `f` must not touch the maps (it runs under an entry's lock).
    pub(super) fn update<R>(&self, call_id: &str, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        let mut s = self.by_call_id.get_mut(call_id)?;
        let before = s.poll_timeout();
        let out = f(&mut s);
        self.timers.reschedule(s.key(), before, s.poll_timeout());
        Some(out)
    }

    /// Subscriptions held by one watcher.
    pub(super) fn count_for(&self, watcher: &str) -> usize {
        self.by_pair.count_for(watcher, |c| {
            self.by_call_id
                .get(c)
                .is_some_and(|s| s.parties().0.is(watcher))
        })
    }

    /// The Call-ID of the subscription of `pair`, if any.
    pub(super) fn call_id_of(&self, watcher: &str, other: &str) -> Option<String> {
        self.by_pair
            .get(watcher, other, |c| self.holder(c, watcher, other))
            .map(|c| c.to_string())
    }

    /// Take `call_id` out of the maps and the index.
    pub(super) fn remove(&self, call_id: &str) -> Option<V> {
        let (call_id, s) = self.by_call_id.remove(call_id)?;
        let (watcher, other) = s.parties();
        self.by_pair
            .remove_call_id(&watcher.to_string(), &other.to_string(), &call_id);
        self.timers.reschedule(&call_id, s.poll_timeout(), None);
        Some(*s)
    }

    /// The Call-IDs whose deadline is at or before `now`, earliest first,
    /// taken out of the index.
    pub(super) fn take_due(&self, now: Instant) -> Vec<String> {
        let due = self.timers.take_due(now);
        due.iter().map(|c| c.to_string()).collect()
    }

    /// Forget every deadline (shutdown).
    pub(super) fn clear_timers(&self) {
        self.timers.clear();
    }

    /// Take every subscription out.
    pub(super) fn take_all(&self) -> Vec<V> {
        let keys: Vec<Arc<str>> = self
            .by_call_id
            .iter()
            .map(|s| Arc::clone(s.key()))
            .collect();
        keys.iter().filter_map(|k| self.remove(k)).collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_jid_matches_its_text_and_nothing_else() {
        let bare = Jid::parse("juliet@example.com").unwrap();
        assert!(jid_is(&bare, "juliet@example.com"));
        assert!(!jid_is(&bare, "juliet@example.co"));
        assert!(!jid_is(&bare, "juliet@example.com/r"));
        assert!(!jid_is(&bare, "example.com"));
        let full = Jid::parse("juliet@example.com/balcony").unwrap();
        assert!(jid_is(&full, "juliet@example.com/balcony"));
        assert!(!jid_is(&full, "juliet@example.com"));
        let domain = Jid::parse("example.com").unwrap();
        assert!(jid_is(&domain, "example.com"));
        assert!(!jid_is(&domain, "a@example.com"));
    }
}

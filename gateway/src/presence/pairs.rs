//! The Call-ID of each (watcher, other party) pair, found in O(1) without
//! keeping the pair's strings twice: the index is keyed by a hash of the
//! pair and holds the Call-ID shared with the subscription table, and the
//! table says whether a Call-ID's subscription really is of the pair asked
//! about (its `Watch` or `Watcher` holds the JIDs). A pair whose hash
//! another pair already holds (a collision: about one in 2^64 per pair of
//! pairs, but a peer may pick its JIDs) is kept by its strings in a second,
//! normally empty, map.
//!
//! At 100 000 subscriptions the `(String, String) → String` map this
//! replaces took 155 B per subscription (96 B of table, 59 B of the three
//! strings; heaptrack, `presence_scale`, bench/RESULTS.md).
//!
//! Lock order: an entry of this index, then the subscription table, never
//! the other way round: the callers' `pair_of` reads the table while an
//! entry of the index may be locked, so nobody may call in here holding an
//! entry of the table.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

/// What the table says of a Call-ID, for a pair asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Holder {
    /// Its subscription is of this pair.
    This,
    /// Its subscription is of another pair (the hashes collided).
    Other,
    /// No subscription has this Call-ID (any more).
    Gone,
}

/// Call-IDs by a hash of (watcher, other party); `S` hashes (a test's
/// can make every pair collide).
pub(super) struct PairIndex<S = RandomState> {
    hasher: S,
    /// The high half of a key hashes the watcher, the low half the other
    /// party, so that one watcher's pairs are found without the strings.
    by_hash: DashMap<u64, Arc<str>>,
    /// Pairs whose key another pair's entry held when they came.
    collided: Mutex<HashMap<(String, String), Arc<str>>>,
    /// Entries in `collided`: a lookup that misses skips its lock when 0.
    collisions: AtomicUsize,
}

impl<S: Default> Default for PairIndex<S> {
    fn default() -> Self {
        Self {
            hasher: S::default(),
            by_hash: DashMap::new(),
            collided: Mutex::new(HashMap::new()),
            collisions: AtomicUsize::new(0),
        }
    }
}

impl<S: BuildHasher> PairIndex<S> {
    fn half(&self, s: &str) -> u64 {
        let h = self.hasher.hash_one(s);
        (h ^ (h >> 32)) & 0xffff_ffff
    }

    fn key(&self, watcher: &str, other: &str) -> u64 {
        (self.half(watcher) << 32) | self.half(other)
    }

    /// The Call-ID held for (watcher, other), if any.
    pub(super) fn get(
        &self,
        watcher: &str,
        other: &str,
        pair_of: impl Fn(&str) -> Holder,
    ) -> Option<Arc<str>> {
        let key = self.key(watcher, other);
        // The entry's lock is released before the table is read.
        let held = self.by_hash.get(&key).map(|c| Arc::clone(&c));
        if let Some(c) = held
            && pair_of(&c) == Holder::This
        {
            return Some(c);
        }
        if self.collisions.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.collided()
            .get(&(watcher.to_owned(), other.to_owned()))
            .cloned()
    }

    /// Hold `call_id` for (watcher, other), instead of what the pair held.
    pub(super) fn insert(
        &self,
        watcher: &str,
        other: &str,
        call_id: Arc<str>,
        pair_of: impl Fn(&str) -> Holder,
    ) {
        self.put(watcher, other, call_id, pair_of, true);
    }

    /// Hold `call_id` for (watcher, other) unless the pair holds one already.
    pub(super) fn insert_if_vacant(
        &self,
        watcher: &str,
        other: &str,
        call_id: Arc<str>,
        pair_of: impl Fn(&str) -> Holder,
    ) {
        self.put(watcher, other, call_id, pair_of, false);
    }

    fn put(
        &self,
        watcher: &str,
        other: &str,
        call_id: Arc<str>,
        pair_of: impl Fn(&str) -> Holder,
        replace: bool,
    ) {
        match self.by_hash.entry(self.key(watcher, other)) {
            Entry::Vacant(slot) => {
                slot.insert(call_id);
            }
            Entry::Occupied(mut slot) => match pair_of(slot.get()) {
                Holder::This if !replace => return,
                Holder::This | Holder::Gone => {
                    slot.insert(call_id);
                }
                Holder::Other => {
                    drop(slot);
                    let mut collided = self.collided();
                    let pair = (watcher.to_owned(), other.to_owned());
                    if replace || !collided.contains_key(&pair) {
                        collided.insert(pair, call_id);
                    }
                    self.collisions.store(collided.len(), Ordering::Release);
                    return;
                }
            },
        }
        // The pair is in the main map now: no older entry of it may stay
        // among the collided ones.
        if self.collisions.load(Ordering::Acquire) != 0 {
            let mut collided = self.collided();
            collided.remove(&(watcher.to_owned(), other.to_owned()));
            self.collisions.store(collided.len(), Ordering::Release);
        }
    }

    /// Forget the pair's Call-ID, whichever it is.
    pub(super) fn remove(&self, watcher: &str, other: &str, pair_of: impl Fn(&str) -> Holder) {
        self.by_hash
            .remove_if(&self.key(watcher, other), |_, c| pair_of(c) == Holder::This);
        self.remove_collided(watcher, other, |_| true);
    }

    /// Forget the pair's Call-ID if it is `call_id`.
    pub(super) fn remove_call_id(&self, watcher: &str, other: &str, call_id: &str) {
        self.by_hash
            .remove_if(&self.key(watcher, other), |_, c| &**c == call_id);
        self.remove_collided(watcher, other, |c| c == call_id);
    }

    fn remove_collided(&self, watcher: &str, other: &str, held: impl Fn(&str) -> bool) {
        if self.collisions.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut collided = self.collided();
        let pair = (watcher.to_owned(), other.to_owned());
        if collided.get(&pair).is_some_and(|c| held(c)) {
            collided.remove(&pair);
        }
        self.collisions.store(collided.len(), Ordering::Release);
    }

    /// How many pairs `watcher` holds; `is_watchers(c)`: whether the
    /// subscription `c` is `watcher`'s.
    pub(super) fn count_for(&self, watcher: &str, is_watchers: impl Fn(&str) -> bool) -> usize {
        let high = self.half(watcher) << 32;
        // Collected first: no entry of the index stays locked while the
        // table is read.
        let candidates: Vec<Arc<str>> = self
            .by_hash
            .iter()
            .filter(|e| e.key() & !0xffff_ffff == high)
            .map(|e| Arc::clone(e.value()))
            .collect();
        let main = candidates.iter().filter(|c| is_watchers(c)).count();
        if self.collisions.load(Ordering::Acquire) == 0 {
            return main;
        }
        main + self.collided().keys().filter(|(w, _)| w == watcher).count()
    }

    /// The collided pairs even after a panic elsewhere poisoned the lock:
    /// each change is one insert or remove, whole.
    fn collided(&self) -> MutexGuard<'_, HashMap<(String, String), Arc<str>>> {
        self.collided.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasherDefault, Hasher};

    use super::*;

    /// Hashes every string alike: every pair collides with every other.
    #[derive(Default)]
    struct Same;

    impl Hasher for Same {
        fn finish(&self) -> u64 {
            7
        }
        fn write(&mut self, _: &[u8]) {}
    }

    /// Subscriptions as the table would say: Call-ID → (watcher, other).
    struct Table(HashMap<&'static str, (&'static str, &'static str)>);

    impl Table {
        fn new(rows: &[(&'static str, &'static str, &'static str)]) -> Self {
            Self(rows.iter().map(|&(c, w, o)| (c, (w, o))).collect())
        }

        fn pair_of<'a>(&'a self, watcher: &'a str, other: &'a str) -> impl Fn(&str) -> Holder + 'a {
            move |c| match self.0.get(c) {
                Some(&(w, o)) if (w, o) == (watcher, other) => Holder::This,
                Some(_) => Holder::Other,
                None => Holder::Gone,
            }
        }

        fn index<S: BuildHasher>(&self, index: &PairIndex<S>, c: &'static str) {
            let (w, o) = self.0[c];
            index.insert(w, o, Arc::from(c), self.pair_of(w, o));
        }

        fn get<S: BuildHasher>(&self, index: &PairIndex<S>, w: &str, o: &str) -> Option<String> {
            index.get(w, o, self.pair_of(w, o)).map(|c| c.to_string())
        }

        fn count<S: BuildHasher>(&self, index: &PairIndex<S>, w: &str) -> usize {
            index.count_for(w, |c| self.0.get(c).is_some_and(|&(x, _)| x == w))
        }
    }

    const ROWS: [(&str, &str, &str); 3] = [
        ("c1", "juliet@x", "bob@s"),
        ("c2", "juliet@x", "alice@s"),
        ("c3", "romeo@x", "bob@s"),
    ];

    /// Runs `check` with the real hasher, then with one under which every
    /// pair collides.
    fn each_hasher(check: impl Fn(Box<dyn Probe>)) {
        check(Box::new(PairIndex::<RandomState>::default()));
        check(Box::new(PairIndex::<BuildHasherDefault<Same>>::default()));
    }

    /// The index under either hasher, for the tests that run under both.
    trait Probe {
        fn index(&self, table: &Table, c: &'static str);
        fn get(&self, table: &Table, w: &str, o: &str) -> Option<String>;
        fn count(&self, table: &Table, w: &str) -> usize;
        fn remove_call_id(&self, w: &str, o: &str, c: &str);
        fn remove(&self, table: &Table, w: &str, o: &str);
        fn insert_if_vacant(&self, table: &Table, w: &str, o: &str, c: &'static str);
    }

    impl<S: BuildHasher> Probe for PairIndex<S> {
        fn index(&self, table: &Table, c: &'static str) {
            table.index(self, c);
        }
        fn get(&self, table: &Table, w: &str, o: &str) -> Option<String> {
            table.get(self, w, o)
        }
        fn count(&self, table: &Table, w: &str) -> usize {
            table.count(self, w)
        }
        fn remove_call_id(&self, w: &str, o: &str, c: &str) {
            PairIndex::remove_call_id(self, w, o, c);
        }
        fn remove(&self, table: &Table, w: &str, o: &str) {
            PairIndex::remove(self, w, o, table.pair_of(w, o));
        }
        fn insert_if_vacant(&self, table: &Table, w: &str, o: &str, c: &'static str) {
            PairIndex::insert_if_vacant(self, w, o, Arc::from(c), table.pair_of(w, o));
        }
    }

    #[test]
    fn each_pair_finds_its_own_call_id_even_when_every_hash_collides() {
        each_hasher(|index| {
            let table = Table::new(&ROWS);
            for (c, _, _) in ROWS {
                index.index(&table, c);
            }
            assert_eq!(
                index.get(&table, "juliet@x", "bob@s").as_deref(),
                Some("c1")
            );
            assert_eq!(
                index.get(&table, "juliet@x", "alice@s").as_deref(),
                Some("c2")
            );
            assert_eq!(index.get(&table, "romeo@x", "bob@s").as_deref(), Some("c3"));
            assert_eq!(index.get(&table, "romeo@x", "alice@s"), None);
            assert_eq!(index.count(&table, "juliet@x"), 2);
            assert_eq!(index.count(&table, "romeo@x"), 1);
            assert_eq!(index.count(&table, "nobody@x"), 0);
        });
    }

    #[test]
    fn a_collided_pair_stays_found_when_the_pair_in_its_slot_goes() {
        each_hasher(|index| {
            let table = Table::new(&ROWS);
            for (c, _, _) in ROWS {
                index.index(&table, c);
            }
            index.remove_call_id("juliet@x", "bob@s", "c1");
            assert_eq!(index.get(&table, "juliet@x", "bob@s"), None);
            assert_eq!(
                index.get(&table, "juliet@x", "alice@s").as_deref(),
                Some("c2")
            );
            index.remove(&table, "juliet@x", "alice@s");
            assert_eq!(index.get(&table, "juliet@x", "alice@s"), None);
            assert_eq!(index.get(&table, "romeo@x", "bob@s").as_deref(), Some("c3"));
            assert_eq!(index.count(&table, "juliet@x"), 0);
        });
    }

    #[test]
    fn removing_by_an_old_call_id_keeps_the_pairs_new_one() {
        each_hasher(|index| {
            let mut table = Table::new(&ROWS);
            for (c, _, _) in ROWS {
                index.index(&table, c);
            }
            table.0.insert("c4", ("juliet@x", "alice@s"));
            index.index(&table, "c4");
            index.remove_call_id("juliet@x", "alice@s", "c2");
            assert_eq!(
                index.get(&table, "juliet@x", "alice@s").as_deref(),
                Some("c4")
            );
            assert_eq!(index.count(&table, "juliet@x"), 2);
        });
    }

    #[test]
    fn if_vacant_keeps_what_the_pair_holds_and_takes_a_gone_ones_place() {
        each_hasher(|index| {
            let mut table = Table::new(&ROWS);
            index.index(&table, "c1");
            index.index(&table, "c2");
            table.0.insert("c5", ("juliet@x", "bob@s"));
            index.insert_if_vacant(&table, "juliet@x", "bob@s", "c5");
            assert_eq!(
                index.get(&table, "juliet@x", "bob@s").as_deref(),
                Some("c1")
            );
            table.0.remove("c1");
            index.insert_if_vacant(&table, "juliet@x", "bob@s", "c5");
            assert_eq!(
                index.get(&table, "juliet@x", "bob@s").as_deref(),
                Some("c5")
            );
            assert_eq!(
                index.get(&table, "juliet@x", "alice@s").as_deref(),
                Some("c2")
            );
        });
    }
}

//! RFC 3261 §17.2.2 (Timer J) and §17.1.2.2 (Timer K): transactions that
//! wait for nothing.
//!
//! A non-INVITE server transaction that has sent its final response stays
//! "Completed" for Timer J (64·T1 over UDP) only to answer a retransmitted
//! request with that response again; a non-INVITE client transaction that
//! has its final response stays "Completed" for Timer K (T4 over UDP) only to
//! absorb the response's retransmissions. Neither waits for the TU or the
//! peer, so the table keeps them here, apart from pending work, as little
//! as that needs: the key, its deadline, and for a server transaction the
//! response's bytes (shared with what was sent, not copied) and where it went.
//!
//! Every entry of one [`Completed`] lives as long as the others (one timer,
//! one clock), so they expire in the order they came: a ring in arrival
//! order with an index beside it, rather than a heap entry each.
//!
//! What it does not do: remove an entry before its deadline other than the
//! oldest (the table's bound decides when that is allowed), or decide
//! whether a request is new.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hashbrown::HashTable;

use crate::transaction::{KeyHash, Target, Transmit};

/// What a retransmitted request gets again from a completed server
/// transaction (RFC 3261 §17.2.2: "the final response").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resend {
    /// Where the request came from, and the response went.
    pub(crate) target: Target,
    /// The final response as sent.
    pub(crate) response: Bytes,
}

impl Resend {
    /// The response again, as a retransmission.
    pub(crate) fn transmit(&self) -> Transmit {
        Transmit {
            target: self.target,
            bytes: self.response.clone(),
            retransmission: true,
        }
    }
}

/// A transaction key in one allocation: its three parts back to back,
/// where the first two end, and its keyed hash. (A `ServerKey` is three
/// `String`s: three allocations and 72 bytes inline; this is one allocation
/// and 32 bytes.) The table holds a pending server transaction's key in
/// this form too, and moves it here when the transaction completes.
///
/// The text is shared: the table's copy of a request's key and the one its
/// responder keeps to answer are one allocation (issue 24: a clone was a
/// second allocation and copy per request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackedKey {
    text: Arc<str>,
    first_end: u32,
    second_end: u32,
    /// The key's keyed hash, computed once when the key was made, so that
    /// neither growing an index nor expiring the entry hashes it again.
    hash: KeyHash,
}

impl Hash for PackedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.hash.hash(state);
    }
}

/// Ordered by its parts, as the key it packs is.
impl Ord for PackedKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts().cmp(&other.parts())
    }
}

impl PartialOrd for PackedKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PackedKey {
    /// The key with these parts, whose keyed hash is `hash`.
    pub(crate) fn new(parts: [&str; 3], hash: KeyHash) -> PackedKey {
        let [a, b, c] = parts;
        let text = joined([a, b, c]);
        // Each part is bounded by the line length limit, far below 4 GiB;
        // saturating keeps `parts` from slicing out of range regardless.
        let first_end = u32::try_from(a.len()).unwrap_or(u32::MAX);
        let second_end = u32::try_from(a.len() + b.len()).unwrap_or(u32::MAX);
        PackedKey {
            text,
            first_end,
            second_end,
            hash,
        }
    }

    /// Its keyed hash.
    pub(crate) fn key_hash(&self) -> KeyHash {
        self.hash
    }

    /// The three parts, as given to `new`.
    pub(crate) fn parts(&self) -> [&str; 3] {
        let first = (self.first_end as usize).min(self.text.len());
        let second = (self.second_end as usize).clamp(first, self.text.len());
        let (a, rest) = self
            .text
            .split_at_checked(first)
            .unwrap_or((&self.text, ""));
        let (b, c) = rest.split_at_checked(second - first).unwrap_or((rest, ""));
        [a, b, c]
    }
}

thread_local! {
    /// Where a key's parts are put together before they are shared: one
    /// buffer per thread, kept between keys.
    static JOINING: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The parts back to back, shared: one allocation of the exact size
/// (`concat` then `Arc::from` would be two, the second a copy).
fn joined(parts: [&str; 3]) -> Arc<str> {
    JOINING.with_borrow_mut(|buffer| {
        buffer.clear();
        for part in parts {
            buffer.push_str(part);
        }
        let text = Arc::from(buffer.as_str());
        // A key is bounded by the line length limit; the buffer does not
        // keep an unusually long one's room.
        if buffer.capacity() > 1024 {
            *buffer = String::new();
        }
        text
    })
}

/// One completed transaction.
#[derive(Debug)]
pub(crate) struct Entry<T> {
    /// When its timer (J or K) fires.
    pub(crate) expires: Instant,
    /// Its key (with its hash, as the index has it).
    pub(crate) key: PackedKey,
    /// What it keeps besides.
    pub(crate) value: T,
}

/// Completed transactions of one kind, in arrival order, with an index by key.
#[derive(Debug)]
pub(crate) struct Completed<T> {
    /// Oldest first; `entries[i]` has sequence number `first + i`.
    entries: VecDeque<Entry<T>>,
    first: u64,
    /// Sequence numbers, by their entry's key hash (keyed: keys are chosen
    /// by peers, [`crate::transaction::hashed`]).
    index: HashTable<u64>,
}

/// Below this many slots a ring or index is not shrunk.
const MIN_SHRINK: usize = 1024;

impl<T> Completed<T> {
    /// An empty ring.
    pub(crate) fn new() -> Self {
        Completed {
            entries: VecDeque::new(),
            first: 0,
            index: HashTable::new(),
        }
    }

    /// How many are held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn entry(&self, seq: u64) -> Option<&Entry<T>> {
        let i = usize::try_from(seq.checked_sub(self.first)?).ok()?;
        self.entries.get(i)
    }

    /// The entry for the key with these parts and this hash.
    pub(crate) fn get(&self, parts: [&str; 3], hash: KeyHash) -> Option<&T> {
        let seq = self.index.find(hash.0, |&s| {
            self.entry(s).is_some_and(|e| e.key.parts() == parts)
        })?;
        self.entry(*seq).map(|e| &e.value)
    }

    /// Adds an entry; the caller knows the key is not held. It expires at
    /// `expires`, or with the newest entry if that one expires later (the
    /// ring stays in expiry order if the clock is ever read out of order).
    pub(crate) fn insert(&mut self, parts: [&str; 3], hash: KeyHash, expires: Instant, value: T) {
        self.insert_packed(PackedKey::new(parts, hash), expires, value);
    }

    /// [`Completed::insert`] with the key already packed.
    pub(crate) fn insert_packed(&mut self, key: PackedKey, expires: Instant, value: T) {
        let expires = self
            .entries
            .back()
            .map_or(expires, |newest| expires.max(newest.expires));
        let seq = self.first + self.entries.len() as u64;
        let hash = key.hash.0;
        self.entries.push_back(Entry {
            expires,
            key,
            value,
        });
        let Completed {
            entries,
            first,
            index,
            ..
        } = self;
        index.insert_unique(hash, seq, |&s| rehash(entries, *first, s));
    }

    /// When the oldest expires.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.entries.front().map(|e| e.expires)
    }

    /// Removes and returns the oldest entry if it has expired at `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Entry<T>> {
        if self.entries.front()?.expires > now {
            return None;
        }
        self.pop_oldest()
    }

    /// Removes and returns the oldest entry, due or not.
    pub(crate) fn pop_oldest(&mut self) -> Option<Entry<T>> {
        let oldest = self.entries.pop_front()?;
        let seq = self.first;
        self.first += 1;
        if let Ok(found) = self.index.find_entry(oldest.key.hash.0, |&s| s == seq) {
            found.remove();
        }
        self.shrink();
        Some(oldest)
    }

    /// After a burst, gives memory back once a quarter of it is in use.
    fn shrink(&mut self) {
        let len = self.entries.len();
        if self.entries.capacity() > MIN_SHRINK && len < self.entries.capacity() / 4 {
            self.entries.shrink_to(len * 2);
        }
        if self.index.capacity() > MIN_SHRINK && len < self.index.capacity() / 4 {
            let Completed {
                entries,
                first,
                index,
                ..
            } = self;
            index.shrink_to(len * 2, |&s| rehash(entries, *first, s));
        }
    }
}

/// The hash of entry `seq`'s key, for the index when it moves its slots.
fn rehash<T>(entries: &VecDeque<Entry<T>>, first: u64, seq: u64) -> u64 {
    seq.checked_sub(first)
        .and_then(|i| usize::try_from(i).ok())
        .and_then(|i| entries.get(i))
        .map_or(0, |e| e.key.hash.0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn parts(n: usize) -> [String; 3] {
        [
            format!("z9hG4bK{n}"),
            "host:5060".to_owned(),
            "MESSAGE".to_owned(),
        ]
    }

    fn refs(p: &[String; 3]) -> [&str; 3] {
        [&p[0], &p[1], &p[2]]
    }

    fn h(p: [&str; 3]) -> KeyHash {
        KeyHash::of(&p)
    }

    #[test]
    fn packed_key_gives_back_its_parts() {
        for p in [
            ["a", "bc", "def"],
            ["", "", ""],
            ["z9hG4bKx", "", "MESSAGE"],
        ] {
            assert_eq!(PackedKey::new(p, h(p)).parts(), p);
        }
    }

    /// A key's clone (the table's copy of a responder's key) is the same
    /// text, not a copy; keys made after a long one, on the same thread's
    /// buffer, hold only their own parts.
    #[test]
    fn a_cloned_key_shares_its_text() {
        let long = "b".repeat(4000);
        for p in [
            ["z9hG4bK1", "192.0.2.1:5060", "MESSAGE"],
            [long.as_str(), "h", "INVITE"],
            ["z9hG4bK2", "h", "BYE"],
        ] {
            let key = PackedKey::new(p, h(p));
            let copy = key.clone();
            assert!(Arc::ptr_eq(&key.text, &copy.text));
            assert_eq!(copy.parts(), p);
            assert_eq!(key.text.len(), p.concat().len());
        }
    }

    /// Two keys that concatenate alike are still two keys.
    #[test]
    fn keys_differ_by_where_their_parts_end() {
        let mut c = Completed::new();
        c.insert(["ab", "c", "M"], h(["ab", "c", "M"]), Instant::now(), 1);
        assert_eq!(c.get(["ab", "c", "M"], h(["ab", "c", "M"])), Some(&1));
        assert_eq!(c.get(["a", "bc", "M"], h(["a", "bc", "M"])), None);
        // Even under the first key's hash, the parts decide.
        assert_eq!(c.get(["a", "bc", "M"], h(["ab", "c", "M"])), None);
    }

    #[test]
    fn entries_expire_oldest_first_and_leave_the_index() {
        let t0 = Instant::now();
        let mut c = Completed::new();
        for n in 0..3000 {
            let p = parts(n);
            c.insert(
                refs(&p),
                h(refs(&p)),
                t0 + Duration::from_millis(n as u64),
                n,
            );
        }
        assert_eq!(c.len(), 3000);
        assert_eq!(c.poll_timeout(), Some(t0));
        let mut expired = 0;
        while c.pop_expired(t0 + Duration::from_millis(1999)).is_some() {
            expired += 1;
        }
        assert_eq!(expired, 2000);
        let get = |n| {
            let p = parts(n);
            c.get(refs(&p), h(refs(&p))).copied()
        };
        assert_eq!(get(1999), None);
        assert_eq!(get(2000), Some(2000));
        assert_eq!(get(2999), Some(2999));
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_millis(2000)));
    }

    /// A clock read out of order never puts an entry before an older one.
    #[test]
    fn an_earlier_deadline_waits_for_the_newest() {
        let t0 = Instant::now();
        let mut c = Completed::new();
        c.insert(
            ["a", "", ""],
            h(["a", "", ""]),
            t0 + Duration::from_secs(2),
            (),
        );
        c.insert(
            ["b", "", ""],
            h(["b", "", ""]),
            t0 + Duration::from_secs(1),
            (),
        );
        assert!(c.pop_expired(t0 + Duration::from_secs(1)).is_none());
        assert_eq!(
            c.pop_expired(t0 + Duration::from_secs(2))
                .map(|e| e.key.parts()[0].to_owned()),
            Some("a".to_owned())
        );
        assert!(c.pop_expired(t0 + Duration::from_secs(2)).is_some());
    }

    #[test]
    fn memory_is_given_back_after_a_burst() {
        let t0 = Instant::now();
        let mut c = Completed::new();
        for n in 0..100_000 {
            let p = parts(n);
            c.insert(refs(&p), h(refs(&p)), t0, ());
        }
        while c.pop_expired(t0).is_some() {}
        assert_eq!(c.len(), 0);
        assert!(
            c.entries.capacity() <= 2 * MIN_SHRINK,
            "{}",
            c.entries.capacity()
        );
        assert!(
            c.index.capacity() <= 4 * MIN_SHRINK,
            "{}",
            c.index.capacity()
        );
    }
}

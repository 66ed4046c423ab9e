//! Transaction keys hashed once (issue 24).
//!
//! A request's server key used to be hashed about seven times on its way
//! through the table (looked up among the completed and the pending, put in,
//! taken out, moved to the completed), a response's client key as often.
//! Now a key is hashed once, when it is made ([`KeyHash::of`]), and carries
//! its hash; the maps that hold keys ([`PassThrough`]) use that hash as it is.
//!
//! The hash stays keyed, SipHash-1-3 with random keys (std's
//! `RandomState`): peers choose branches, sent-bys and methods, and with an
//! unkeyed hash a peer could choose keys that all land in one bucket and
//! make each lookup walk all of them. One key pair serves the whole process
//! (std's own `RandomState`s share theirs per thread), so a key's hash is
//! the same in every table and can be computed before the table is locked.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::OnceLock;

/// The keyed hash of a transaction key's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct KeyHash(pub(crate) u64);

impl KeyHash {
    /// The hash of `parts`, in order. Parts are told apart by their
    /// lengths, so `["ab", "c"]` and `["a", "bc"]` hash differently.
    pub(crate) fn of(parts: &[&str]) -> KeyHash {
        static KEYS: OnceLock<RandomState> = OnceLock::new();
        let mut h = KEYS.get_or_init(RandomState::new).build_hasher();
        let mut lengths = 0u64;
        for part in parts {
            h.write(part.as_bytes());
            lengths = lengths.rotate_left(21) ^ part.len() as u64;
        }
        h.write_u64(lengths);
        KeyHash(h.finish())
    }
}

/// The `BuildHasher` of maps keyed by a type whose `Hash` writes its
/// [`KeyHash`] alone: the hash is used as written, not hashed again.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PassThrough;

impl BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;

    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

/// See [`PassThrough`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(5) ^ n;
    }

    /// Only [`KeyHash`]es are meant to come here; anything else is still
    /// hashed (FNV-1a), never lost.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn equal_parts_hash_alike_and_part_boundaries_count() {
        assert_eq!(KeyHash::of(&["a", "b", "c"]), KeyHash::of(&["a", "b", "c"]));
        assert_ne!(KeyHash::of(&["ab", "c", ""]), KeyHash::of(&["a", "bc", ""]));
        assert_ne!(KeyHash::of(&["abc", "", ""]), KeyHash::of(&["", "", "abc"]));
        assert_ne!(KeyHash::of(&["a", "b"]), KeyHash::of(&["b", "a"]));
    }

    /// A pass-through map gets the key hash itself, so keys spread as the
    /// keyed hash spreads them.
    #[test]
    fn the_pass_through_hasher_gives_back_a_written_hash() {
        let h = KeyHash::of(&["z9hG4bK1", "host", "MESSAGE"]);
        assert_eq!(PassThrough.hash_one(h), h.0);
        let distinct: HashSet<u64> = (0..10_000)
            .map(|n| KeyHash::of(&[&format!("z9hG4bK{n}"), "h", "MESSAGE"]).0 >> 57)
            .collect();
        // The top seven bits (hashbrown's tag) take all their values.
        assert_eq!(distinct.len(), 128);
    }
}

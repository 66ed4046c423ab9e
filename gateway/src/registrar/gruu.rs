//! RFC 5627: the GRUUs the registrar hands out and how a Request-URI is
//! recognised as one. Pure: the key and the random distinguisher are
//! arguments.
//!
//! - Public GRUU (§3.1.1, Appendix A.1): the address-of-record with
//!   `gr=<instance ID>`; valid while the user exists (§5.4), so it needs no
//!   state of its own.
//! - Temporary GRUU (§3.1.2, Appendix A.2's scheme with HMAC-SHA256 in place
//!   of AES): `sip:tgruu.<hex>@domain;gr`, where the hex is a random
//!   distinguisher D, the index I of the instance's current epoch
//!   ([`super::bindings`]) encrypted as `I XOR HMAC(K, "mask" || D)`, and an
//!   80-bit `HMAC(K, "tag" || D || E)`. A fresh D per GRUU keeps two GRUUs
//!   of one instance unlinkable (§5.1 property 2) and the AOR hidden; the
//!   tag makes forged ones fail without a table look-up.
//!
//! What it does not do: RFC 5626 reg-ids, self-made GRUUs (§4.3), the
//! RFC 5628 registration event package.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The user part's prefix of a temporary GRUU (Appendix A.2's `tgruu.`).
const TEMP_PREFIX: &str = "tgruu.";
const D_LEN: usize = 8;
const TAG_LEN: usize = 10;

/// What a Request-URI of our domain names, for the location service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// An address-of-record (`user@domain`).
    Aor(String),
    /// A public GRUU: the AOR and the instance ID in its `gr`.
    Public { aor: String, instance: String },
    /// A temporary GRUU that decoded to this epoch index.
    Temporary(u64),
    /// A `gr` without a value on an AOR: no GRUU Parley makes.
    BareGr(String),
    /// A `tgruu.` user whose seal does not check out (§6.1: 404).
    Invalid,
}

/// The instance ID of a `+sip.instance` parameter value as sent
/// (`"<urn:uuid:…>"`), without its quotes and angle brackets: what goes
/// into `gr` (Appendix A.1) and what two registrations are compared by;
/// lower-cased, as the URNs it carries compare without case.
pub(crate) fn instance_id(param: &str) -> String {
    param
        .trim()
        .trim_matches('"')
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_ascii_lowercase()
}

/// §5.1: the public GRUU of `aor` (`user@domain`) for `instance`.
pub(crate) fn public(aor: &str, instance: &str) -> String {
    format!("sip:{aor};gr={instance}")
}

/// A new temporary GRUU for epoch `index`, with distinguisher `d`.
pub(crate) fn temporary(key: &[u8; 32], index: u64, d: [u8; D_LEN], domain: &str) -> String {
    let e = index ^ mask(key, &d);
    let mut token = Vec::with_capacity(D_LEN + 8 + TAG_LEN);
    token.extend_from_slice(&d);
    token.extend_from_slice(&e.to_be_bytes());
    let tag = tag(key, &token);
    token.extend_from_slice(&tag);
    let hex: String = token.iter().map(|b| format!("{b:02x}")).collect();
    format!("sip:{TEMP_PREFIX}{hex}@{domain};gr")
}

/// What `user` (with the URI's `gr`: `None` when absent, `Some("")` when
/// it has no value) names in our domain.
pub(crate) fn classify(key: &[u8; 32], user: &str, gr: Option<&str>, domain: &str) -> Target {
    if let Some(hex) = user.strip_prefix(TEMP_PREFIX) {
        // Taken with or without `gr`: an XMPP reply to the JID a temporary
        // GRUU maps to comes back without the valueless `gr` (RFC 7247 §6.3).
        return open(key, hex).map_or(Target::Invalid, Target::Temporary);
    }
    let aor = format!("{user}@{domain}");
    match gr {
        None => Target::Aor(aor),
        Some("") => Target::BareGr(aor),
        Some(instance) => Target::Public {
            aor,
            instance: instance.to_ascii_lowercase(),
        },
    }
}

/// The epoch index of a temporary GRUU's hex token, when its tag checks out.
fn open(key: &[u8; 32], hex: &str) -> Option<u64> {
    if hex.len() != 2 * (D_LEN + 8 + TAG_LEN) || !hex.is_ascii() {
        return None;
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect::<Option<_>>()?;
    let (body, sent_tag) = bytes.split_at(D_LEN + 8);
    let mut check = mac(key, b"tag");
    check.update(body);
    check.verify_truncated_left(sent_tag).ok()?;
    let (d, e) = body.split_at(D_LEN);
    let e = u64::from_be_bytes(e.try_into().ok()?);
    Some(e ^ mask(key, d))
}

fn mac(key: &[u8; 32], label: &[u8]) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| {
        // HMAC takes keys of any length; 32 bytes is never refused.
        unreachable!("HMAC accepts a 32-byte key")
    });
    m.update(label);
    m
}

fn mask(key: &[u8; 32], d: &[u8]) -> u64 {
    let mut m = mac(key, b"mask");
    m.update(d);
    let out = m.finalize().into_bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&out[..8]);
    u64::from_be_bytes(first)
}

fn tag(key: &[u8; 32], body: &[u8]) -> [u8; TAG_LEN] {
    let mut m = mac(key, b"tag");
    m.update(body);
    let out = m.finalize().into_bytes();
    let mut t = [0u8; TAG_LEN];
    t.copy_from_slice(&out[..TAG_LEN]);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn rfc5627_appendix_a_1_public_gruu_is_the_aor_with_the_instance_in_gr() {
        let instance = instance_id("\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\"");
        assert_eq!(instance, "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
        assert_eq!(
            public("callee@example.com", &instance),
            "sip:callee@example.com;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
        );
    }

    #[test]
    fn rfc5627_5_1_temporary_gruus_open_to_their_index_and_are_unlinkable() {
        let a = temporary(&KEY, 42, [1; 8], "example.com");
        let b = temporary(&KEY, 42, [2; 8], "example.com");
        assert_ne!(a, b, "a fresh distinguisher, a different GRUU");
        assert!(!a.contains("callee"), "{a}");
        for gruu in [&a, &b] {
            let user = gruu
                .strip_prefix("sip:")
                .and_then(|r| r.split('@').next())
                .expect("user part");
            assert_eq!(
                classify(&KEY, user, Some(""), "example.com"),
                Target::Temporary(42)
            );
            assert_eq!(
                classify(&KEY, user, None, "example.com"),
                Target::Temporary(42)
            );
        }
        // The middle 8 bytes differ between the two: the index is masked.
        assert_ne!(a[6 + 16..6 + 32], b[6 + 16..6 + 32]);
    }

    #[test]
    fn rfc5627_6_1_forged_or_foreign_temporary_gruu_is_invalid() {
        let gruu = temporary(&KEY, 42, [1; 8], "example.com");
        let user = gruu[4..].split('@').next().expect("user");
        assert_eq!(
            classify(&[8; 32], user, Some(""), "example.com"),
            Target::Invalid,
            "another key"
        );
        let mut flipped = user.to_owned();
        let last = flipped.pop().expect("a digit");
        flipped.push(if last == '0' { '1' } else { '0' });
        assert_eq!(
            classify(&KEY, &flipped, Some(""), "example.com"),
            Target::Invalid
        );
        assert_eq!(
            classify(&KEY, "tgruu.zz", None, "example.com"),
            Target::Invalid
        );
        assert_eq!(
            classify(&KEY, "alice", Some(""), "example.com"),
            Target::BareGr("alice@example.com".into()),
            "a gr without a value on an AOR is no GRUU of ours"
        );
        assert_eq!(
            classify(&KEY, "alice", None, "example.com"),
            Target::Aor("alice@example.com".into())
        );
    }
}

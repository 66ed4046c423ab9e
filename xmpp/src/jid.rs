//! RFC 7622 §3: the parts of a JID that the component needs to check.
//!
//! Parley keeps addresses as the raw strings the server sent; preparation and
//! escaping belong to the mapping layer. Here we only split.

/// RFC 7622 §3.1's split of `jid`: the localpart (before the first `@` of
/// the bare JID), the domainpart, and the resourcepart (after the first
/// `/`). Parts are not checked or prepared here.
pub fn parts(jid: &str) -> (Option<&str>, &str, Option<&str>) {
    let (bare, resource) = match split_at_ascii(jid, b'/') {
        Some((bare, resource)) => (bare, Some(resource)),
        None => (jid, None),
    };
    match split_at_ascii(bare, b'@') {
        Some((local, domain)) => (Some(local), domain, resource),
        None => (None, bare, resource),
    }
}

/// `s.split_once(c)` for an ASCII `c`, looked for a byte at a time (issue
/// 24: `str`'s character search cost ~190 instructions a JID, ten searches
/// per XMPP → SIP message). An ASCII byte is never part of a multi-byte
/// character, so both halves begin and end on character boundaries.
fn split_at_ascii(s: &str, c: u8) -> Option<(&str, &str)> {
    debug_assert!(c.is_ascii());
    let at = s.bytes().position(|b| b == c)?;
    Some((s.get(..at)?, s.get(at + 1..)?))
}

/// RFC 7622 §3: the bare JID of `jid` (everything before the first `/`).
pub fn bare(jid: &str) -> &str {
    split_at_ascii(jid, b'/').map_or(jid, |(b, _)| b)
}

/// RFC 7622 §3.1: the domainpart of `jid` (after the first `@` of the bare
/// JID, before the first `/`).
pub(crate) fn domainpart(jid: &str) -> &str {
    parts(jid).1
}

/// RFC 7622 §3.2: the localpart of `jid`, if it has one.
#[cfg_attr(
    not(feature = "tokio"),
    allow(dead_code, reason = "only the tokio driver uses it")
)]
pub(crate) fn localpart(jid: &str) -> Option<&str> {
    parts(jid).0
}

/// Whether `jid` claims to be `domain` or a subdomain of it (case-insensitive):
/// an address only the component itself may use as `from`.
pub fn is_within(jid: &str, domain: &str) -> bool {
    let d = domainpart(jid).trim_end_matches('.').as_bytes();
    let domain = domain.trim_end_matches('.').as_bytes();
    match d.len().checked_sub(domain.len()) {
        Some(0) => d.eq_ignore_ascii_case(domain),
        Some(n) => d[n - 1] == b'.' && d[n..].eq_ignore_ascii_case(domain),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-wise split answers as `str::split_once` did, on ASCII,
    /// multi-byte characters next to the separators, and neither.
    #[test]
    fn parts_split_as_str_split_once_did() {
        fn by_str(jid: &str) -> (Option<&str>, &str, Option<&str>) {
            let (bare, resource) = match jid.split_once('/') {
                Some((bare, resource)) => (bare, Some(resource)),
                None => (jid, None),
            };
            match bare.split_once('@') {
                Some((local, domain)) => (Some(local), domain, resource),
                None => (None, bare, resource),
            }
        }
        for jid in [
            "",
            "@",
            "/",
            "@/",
            "/@",
            "example.com",
            "juliet@example.com",
            "juliet@example.com/balcony",
            "example.com/a@b",
            "a@b@c/d/e",
            "é@ü/ß",
            "\u{ff21}b@example.com/\u{e9}",
            "ju\u{00e9}@\u{4e2d}\u{6587}.example/r\u{e9}s",
            "a@b/@",
        ] {
            assert_eq!(parts(jid), by_str(jid), "{jid:?}");
            assert_eq!(
                bare(jid),
                jid.split_once('/').map_or(jid, |(b, _)| b),
                "{jid:?}"
            );
        }
    }

    #[test]
    fn bare_drops_the_resource_only() {
        assert_eq!(bare("juliet@example.com/balcony/a"), "juliet@example.com");
        assert_eq!(bare("juliet@example.com"), "juliet@example.com");
        assert_eq!(bare("example.com/x"), "example.com");
    }

    #[test]
    fn component_domain_and_its_subdomains_are_within_it() {
        assert!(is_within("bob@sip.example/x", "sip.example"));
        assert!(is_within("SIP.Example", "sip.example"));
        assert!(is_within("a@conf.sip.example", "sip.example"));
        assert!(!is_within("a@evilsip.example", "sip.example"));
        assert!(!is_within("juliet@xmpp.example", "sip.example"));
        assert!(!is_within("sip.example@xmpp.example", "sip.example"));
    }

    #[test]
    fn domainpart_ignores_at_sign_in_resource() {
        assert_eq!(domainpart("juliet@xmpp.example/bal@cony"), "xmpp.example");
        assert_eq!(domainpart("sip.example/res@x"), "sip.example");
        assert_eq!(domainpart("sip.example"), "sip.example");
        assert_eq!(localpart("sip.example/a@b"), None);
        assert_eq!(localpart("bob@sip.example"), Some("bob"));
    }
}

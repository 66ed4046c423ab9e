//! RFC 7622 §3: the parts of a JID that the component needs to check.
//!
//! Parley keeps addresses as the raw strings the server sent; preparation and
//! escaping belong to the mapping layer. Here we only split.

/// RFC 7622 §3: the bare JID of `jid` (everything before the first `/`).
pub fn bare(jid: &str) -> &str {
    jid.split_once('/').map_or(jid, |(b, _)| b)
}

/// RFC 7622 §3.1: the domainpart of `jid` (after the first `@` of the bare
/// JID, before the first `/`).
pub(crate) fn domainpart(jid: &str) -> &str {
    let bare = bare(jid);
    bare.split_once('@').map_or(bare, |(_, d)| d)
}

/// RFC 7622 §3.2: the localpart of `jid`, if it has one.
#[cfg_attr(
    not(feature = "tokio"),
    allow(dead_code, reason = "only the tokio driver uses it")
)]
pub(crate) fn localpart(jid: &str) -> Option<&str> {
    bare(jid).split_once('@').map(|(l, _)| l)
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

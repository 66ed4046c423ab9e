//! RFC 7622 §3: the parts of a JID that the component needs to check.
//!
//! Parley keeps addresses as the raw strings the server sent; preparation and
//! escaping belong to the mapping layer. Here we only split.

/// RFC 7622 §3.1: the domainpart of `jid` (after the first `@` of the bare
/// JID, before the first `/`).
pub fn domainpart(jid: &str) -> &str {
    let bare = jid.split_once('/').map_or(jid, |(b, _)| b);
    bare.split_once('@').map_or(bare, |(_, d)| d)
}

/// RFC 7622 §3.2: the localpart of `jid`, if it has one.
pub fn localpart(jid: &str) -> Option<&str> {
    let bare = jid.split_once('/').map_or(jid, |(b, _)| b);
    bare.split_once('@').map(|(l, _)| l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domainpart_ignores_at_sign_in_resource() {
        assert_eq!(domainpart("juliet@xmpp.example/bal@cony"), "xmpp.example");
        assert_eq!(domainpart("sip.example/res@x"), "sip.example");
        assert_eq!(domainpart("sip.example"), "sip.example");
        assert_eq!(localpart("sip.example/a@b"), None);
        assert_eq!(localpart("bob@sip.example"), Some("bob"));
    }
}

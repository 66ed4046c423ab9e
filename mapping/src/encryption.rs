//! Recognising end-to-end encrypted `<message/>`s, which cannot cross to SIP
//! as text (design §4b: "what only one side can protect (OMEMO) cannot cross,
//! and the sender is told so").
//!
//! - XEP-0384 OMEMO: an `<encrypted/>` element in `urn:xmpp:omemo:2`, or in
//!   `eu.siacs.conversations.axolotl`, the namespace XEP-0384 0.2 moved to as
//!   the one "currently used in the wild".
//! - XEP-0373 OpenPGP for XMPP: `<openpgp xmlns='urn:xmpp:openpgp:0'/>`.
//! - XEP-0027 (legacy OpenPGP): `<x xmlns='jabber:x:encrypted'/>`, whose
//!   example carries `<body>This message is encrypted.</body>` beside it.
//!
//! Each encrypts for the XMPP recipient's keys. A SIP user has none, and the
//! `<body/>` such a message may carry is a notice for clients that cannot
//! decrypt, not the message: forwarding it as `text/plain` would deliver the
//! notice as if it were what the sender wrote.
//!
//! RFC 3923 `<e2e/>` is a different case: S/MIME that a gateway "MUST"
//! pass on unaltered to the non-XMPP side (§8). [`crate::e2e`] carries it;
//! `has_rfc3923_e2e` keeps the text path from sending its fallback body.
//!
//! What this module does not do: decrypt, verify, or look inside any of these
//! payloads. It only reads element names and namespaces.

use parley_xmpp::stanza::Element;

/// XEP-0384 (current): `<encrypted xmlns='urn:xmpp:omemo:2'/>`.
pub(crate) const NS_OMEMO: &str = "urn:xmpp:omemo:2";
/// XEP-0384 (from 0.2, the deployed one): `<encrypted xmlns='eu.siacs.conversations.axolotl'/>`.
pub(crate) const NS_OMEMO_AXOLOTL: &str = "eu.siacs.conversations.axolotl";
/// XEP-0373: `<openpgp xmlns='urn:xmpp:openpgp:0'/>`.
pub(crate) const NS_OPENPGP: &str = "urn:xmpp:openpgp:0";
/// XEP-0027: `<x xmlns='jabber:x:encrypted'/>`.
pub(crate) const NS_LEGACY_OPENPGP: &str = "jabber:x:encrypted";
/// RFC 3923 §9: `<e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'/>`.
pub(crate) const NS_E2E: &str = "urn:ietf:params:xml:ns:xmpp-e2e";

/// An end-to-end encryption scheme for XMPP clients only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encryption {
    /// XEP-0384 OMEMO, either namespace.
    Omemo,
    /// XEP-0373 OpenPGP for XMPP.
    OpenPgp,
    /// XEP-0027 legacy OpenPGP.
    LegacyOpenPgp,
}

impl Encryption {
    /// A short, stable name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Omemo => "omemo",
            Self::OpenPgp => "openpgp",
            Self::LegacyOpenPgp => "legacy-openpgp",
        }
    }

    /// The scheme an element of a message announces, if it is one of these.
    pub fn of(element: &Element) -> Option<Self> {
        match (element.name.as_str(), element.ns.as_str()) {
            ("encrypted", NS_OMEMO | NS_OMEMO_AXOLOTL) => Some(Self::Omemo),
            ("openpgp", NS_OPENPGP) => Some(Self::OpenPgp),
            ("x", NS_LEGACY_OPENPGP) => Some(Self::LegacyOpenPgp),
            _ => None,
        }
    }
}

/// The end-to-end encryption a message's payloads announce, if any.
pub fn encryption(payloads: &[Element]) -> Option<Encryption> {
    payloads.iter().find_map(Encryption::of)
}

/// Whether a message carries an RFC 3923 `<e2e/>` payload (§3.1 step 3).
pub(crate) fn has_rfc3923_e2e(payloads: &[Element]) -> bool {
    payloads.iter().any(|e| e.name == "e2e" && e.ns == NS_E2E)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// XEP-0384 "Sending a message" (current namespace) and the deployed 0.2 namespace.
    #[test]
    fn omemo_is_recognised_in_both_namespaces() {
        for ns in [NS_OMEMO, NS_OMEMO_AXOLOTL] {
            assert_eq!(
                encryption(&[Element::new("encrypted", ns)]),
                Some(Encryption::Omemo),
                "{ns}"
            );
        }
    }

    /// XEP-0373 `<openpgp/>` and XEP-0027 `<x xmlns='jabber:x:encrypted'/>`.
    #[test]
    fn openpgp_schemes_are_recognised() {
        assert_eq!(
            encryption(&[Element::new("openpgp", NS_OPENPGP)]),
            Some(Encryption::OpenPgp)
        );
        assert_eq!(
            encryption(&[Element::new("x", NS_LEGACY_OPENPGP)]),
            Some(Encryption::LegacyOpenPgp)
        );
    }

    /// Only the announced element counts: the same name in another namespace,
    /// another element in the namespace, and ordinary payloads are not encryption.
    #[test]
    fn other_payloads_are_not_encryption() {
        let payloads = [
            Element::new("encrypted", "urn:example:not-omemo"),
            Element::new("list", NS_OMEMO_AXOLOTL),
            Element::new("x", "jabber:x:oob"),
            Element::new("active", "http://jabber.org/protocol/chatstates"),
            Element::new("request", "urn:xmpp:receipts"),
        ];
        assert_eq!(encryption(&payloads), None);
        assert_eq!(encryption(&[]), None);
        assert!(!has_rfc3923_e2e(&payloads));
    }

    /// The first announced scheme wins when a message carries several.
    #[test]
    fn encryption_is_found_among_other_payloads() {
        let payloads = [
            Element::new("active", "http://jabber.org/protocol/chatstates"),
            Element::new("encrypted", NS_OMEMO_AXOLOTL),
            Element::new("store", "urn:xmpp:hints"),
        ];
        assert_eq!(encryption(&payloads), Some(Encryption::Omemo));
    }

    /// RFC 3923 §9: the `<e2e/>` element in its namespace, and nothing else.
    #[test]
    fn rfc3923_e2e_is_recognised_by_name_and_namespace() {
        assert!(has_rfc3923_e2e(&[Element::new("e2e", NS_E2E)]));
        assert!(!has_rfc3923_e2e(&[Element::new("e2e", "urn:example")]));
        assert!(!has_rfc3923_e2e(&[Element::new("x", NS_E2E)]));
        // An RFC 3923 payload is not one of the XMPP-only schemes.
        assert_eq!(encryption(&[Element::new("e2e", NS_E2E)]), None);
    }
}

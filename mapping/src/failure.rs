//! What can go wrong while translating between SIP and XMPP: [`MappingError`]
//! and the parts its variants name, each with its stable `kind()`.
//!
//! A leaf: every module that can fail imports it, and it imports nothing of
//! the crate but [`Encryption`] (a leaf too). What the peer hears for each
//! failure — the SIP status, the stanza error, whether to answer at all — is
//! decided in [`crate::error`], beside RFC 7247's tables, which need the
//! addresses and answers that themselves return these errors.

use crate::encryption::Encryption;

/// Which part of an address an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressPart {
    /// The localpart / SIP user part.
    Local,
    /// The domainpart / SIP host.
    Domain,
    /// The resourcepart / GRUU.
    Resource,
}

/// Everything that can go wrong while translating between SIP and XMPP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// RFC 7622: a JID that is not well formed or fails PRECIS preparation.
    #[error("malformed JID ({part:?}): {reason}")]
    MalformedJid {
        /// The part that failed.
        part: AddressPart,
        /// What was wrong, in protocol words.
        reason: &'static str,
    },
    /// A SIP, SIPS, tel, im or pres URI that does not parse.
    #[error("malformed URI: {reason}")]
    MalformedUri {
        /// What was wrong.
        reason: &'static str,
    },
    /// A URI scheme Parley cannot map in this direction.
    #[error("URI scheme {scheme} cannot be mapped here")]
    UnsupportedScheme {
        /// The scheme, e.g. `tel`.
        scheme: &'static str,
    },
    /// An address without the user part the mapping needs (RFC 3261 §21.4.22: 484).
    #[error("address has no user part")]
    AddressIncomplete,
    /// A SIP user of another domain while policy refuses foreign domains (design §2).
    #[error("foreign SIP domain refused by policy")]
    ForeignDomainRefused,
    /// A JID that is not at the gateway's component domain.
    #[error("JID is not at the component domain")]
    NotOurDomain,
    /// A SIP request target in the gateway's own SIP or component domain: a
    /// SIP user, not an XMPP one. Mapping it would send the stanza straight
    /// back to the gateway (a loop), so it is refused.
    #[error("SIP target is not an XMPP user")]
    TargetNotXmpp,
    /// A body whose Content-Type Parley does not translate (RFC 7572 §7).
    #[error("unsupported content type")]
    UnsupportedMediaType,
    /// A `charset` that `encoding_rs` does not know.
    #[error("unsupported charset")]
    UnsupportedCharset,
    /// A Content-Encoding other than identity, deflate or gzip (RFC 3261 §20.12).
    #[error("unsupported content coding")]
    UnsupportedContentEncoding,
    /// A body that is not valid in its declared charset or coding, or holds
    /// characters XML 1.0 cannot carry.
    #[error("body cannot be decoded: {reason}")]
    InvalidBody {
        /// What was wrong.
        reason: &'static str,
    },
    /// A body over the size bound (after inflating).
    #[error("body larger than {limit} bytes")]
    BodyTooLarge {
        /// The bound in bytes.
        limit: usize,
    },
    /// A message/cpim wrapper that does not parse (RFC 3862).
    #[error("malformed message/cpim: {reason}")]
    MalformedCpim {
        /// What was wrong.
        reason: &'static str,
    },
    /// A PIDF document that does not parse (RFC 3863).
    #[error("malformed PIDF: {reason}")]
    MalformedPidf {
        /// What was wrong.
        reason: &'static str,
    },
    /// An XMPP stanza without a `from` or `to` the mapping needs.
    #[error("stanza lacks the '{attribute}' attribute")]
    MissingAddress {
        /// `from` or `to`.
        attribute: &'static str,
    },
    /// A `<message/>` without `<body/>` that is only a notification: a
    /// XEP-0085 chat state, a XEP-0184 receipt or a XEP-0333 marker (with
    /// XEP-0334 hints or XEP-0359 ids beside it). Nothing a text MESSAGE
    /// carries; the gateway sends the chat state as isComposing when
    /// configured, the receipt as an IMDN, and otherwise lets it go: bouncing
    /// it would answer a notification with an error.
    #[error("message is only a notification")]
    NotificationOnly,
    /// A `<message/>` Parley cannot carry to SIP: refused with a stanza error
    /// to its sender and counted, never dropped in silence.
    #[error("message cannot be carried to SIP ({})", .0.kind())]
    NotCarried(NotCarried),
    /// RFC 6121 §8.5.2.1.1: a `groupchat` message outside a MUC.
    #[error("groupchat messages are not gatewayed")]
    Groupchat,
    /// RFC 8048 §6.2 Table 1 note 1: only available and unavailable presence
    /// are notifications; subscribe, probe and the rest go elsewhere.
    #[error("presence stanza is not a notification")]
    NotANotification,
    /// A stanza of type `error`: RFC 6120 §8.3.1 forbids answering it with an
    /// error; the gateway maps it with
    /// [`stanza_error_to_sip`](crate::error::stanza_error_to_sip) instead.
    #[error("error stanza is not a message")]
    ErrorStanza,
}

impl MappingError {
    /// A short, stable name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MalformedJid { .. } => "malformed-jid",
            Self::MalformedUri { .. } => "malformed-uri",
            Self::UnsupportedScheme { .. } => "unsupported-scheme",
            Self::AddressIncomplete => "address-incomplete",
            Self::ForeignDomainRefused => "foreign-domain-refused",
            Self::NotOurDomain => "not-our-domain",
            Self::TargetNotXmpp => "target-not-xmpp",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::UnsupportedCharset => "unsupported-charset",
            Self::UnsupportedContentEncoding => "unsupported-content-encoding",
            Self::InvalidBody { .. } => "invalid-body",
            Self::BodyTooLarge { .. } => "body-too-large",
            Self::MalformedCpim { .. } => "malformed-cpim",
            Self::MalformedPidf { .. } => "malformed-pidf",
            Self::MissingAddress { .. } => "missing-address",
            Self::NotificationOnly => "notification-only",
            Self::NotCarried(_) => "not-carried",
            Self::Groupchat => "groupchat",
            Self::NotANotification => "not-a-notification",
            Self::ErrorStanza => "error-stanza",
        }
    }
}

/// Why an XMPP `<message/>` cannot cross to SIP. Each is answered with a
/// stanza error whose `<text/>` says what was not carried (RFC 6120 §8.3.2:
/// "descriptive or diagnostic information that supplements the meaning of
/// a defined condition"), and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotCarried {
    /// End-to-end encrypted for XMPP clients (XEP-0384, XEP-0373, XEP-0027):
    /// no SIP user holds the keys, and any `<body/>` beside it is a notice
    /// for clients that cannot decrypt, not the message.
    Encrypted(Encryption),
    /// An RFC 3923 `<e2e/>` whose content is not a signed or encrypted MIME
    /// object (`multipart/signed` or `application/pkcs7-mime` with its header
    /// block): Parley passes such objects on unaltered (§8, [`crate::e2e`]),
    /// and has nothing to pass on here.
    Rfc3923E2e,
    /// No `<body/>`, and no chat state, receipt or marker either (an unknown
    /// payload, or nothing at all): there is no text to send.
    NoText,
}

impl NotCarried {
    /// A short, stable name for logs.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Encrypted(_) => "encrypted",
            Self::Rfc3923E2e => "rfc3923-e2e",
            Self::NoText => "no-text",
        }
    }
}

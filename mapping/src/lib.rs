//! Pure translation between SIP/SIMPLE and XMPP (RFC 7247, RFC 7572, RFC 8048).
//!
//! Where it sits: between the `sip` and `xmpp` crates, called by the gateway's
//! router. It takes parsed values (SIP URIs and header values, typed XMPP
//! stanzas, SIP bodies) and returns parsed values; the one place that decides
//! what a peer hears on failure is [`error`]. It does no I/O, no async, reads
//! no clock and draws no random numbers: ids and times are arguments.
//!
//! What it offers:
//! - Addresses: [`AddressMapper`] (`sip_user_to_jid`, `sip_target_to_jid`,
//!   `xmpp_user_to_sip`, `jid_to_sip_user`) over [`SipAddress`] and [`Jid`].
//! - Messages: [`message::to_xmpp`] / [`message::to_sip`] between
//!   [`SipMessage`] and `<message/>`; receipts in [`imdn`], chat states in
//!   [`iscomposing`], encrypted payloads in [`encryption`], RFC 3923
//!   S/MIME objects in [`e2e`], [`cpim`] wrappers;
//!   chat sessions' MSRP messages in [`chat`] (RFC 7573).
//! - Presence: [`presence::pidf_body_to_xmpp`] / [`presence::to_pidf`] over
//!   [`pidf::Pidf`].
//! - Groupchat: [`groupchat`] (RFC 7702): RFC 4575 conference-info documents,
//!   their coherent state (§4.6), and the MUC ↔ conference tables.
//! - Failures: [`MappingError`] and the RFC 7247 §7 tables in [`error`]
//!   (`message_error_to_sip`, `sip_status_to_stanza_error`, …).
//! - `fuzzing::*` behind the `fuzzing` feature.

/// RFC 7247 §6: SIP/SIPS/tel/im/pres URIs ↔ JIDs.
pub mod address;
/// RFC 3261 §21: final responses with the header fields their status requires.
pub(crate) mod answer;
/// RFC 3261 §7.4, RFC 7572 §7: SIP message bodies (type, charset, coding) → text.
pub(crate) mod body;
/// RFC 7573: chat sessions, MSRP SEND ↔ `<message type='chat'/>`.
pub mod chat;
/// RFC 3261 §20.12: undoing a body's Content-Encoding, within a bound.
pub(crate) mod content_coding;
/// RFC 3862: the `message/cpim` format.
pub mod cpim;
/// RFC 3923: S/MIME objects in `<e2e/>` ↔ SIP bodies, passed on unaltered.
pub mod e2e;
/// XEP-0384, XEP-0373, XEP-0027, RFC 3923: recognising end-to-end encrypted messages.
pub mod encryption;
/// RFC 7247 §7: XMPP stanza errors ↔ SIP responses, and [`error::MappingError`].
pub mod error;
/// What can go wrong while translating: [`MappingError`] and its parts (a
/// leaf; [`error`] decides what the peer hears for each).
pub(crate) mod failure;
/// Entry points for the fuzz targets in `fuzz/` (and the corpus replay test).
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
/// RFC 7702, RFC 7701, RFC 4575: groupchat, XMPP MUC ↔ SIP/MSRP conferences.
pub mod groupchat;
/// RFC 5438 IMDN ↔ XEP-0184 receipts and XEP-0333 displayed markers.
pub mod imdn;
/// RFC 3994 isComposing ↔ XEP-0085 chat states.
pub mod iscomposing;
/// RFC 7622: JIDs, PRECIS preparation and XEP-0106 escaping.
pub(crate) mod jid;
/// RFC 2045 §5.1: Content-Type values.
pub(crate) mod media_type;
/// RFC 7572: SIP MESSAGE ↔ XMPP `<message/>`.
pub mod message;
/// RFC 3863 PIDF with RFC 4479 persons and RFC 4480 RPID activities.
pub mod pidf;
/// RFC 8048 §6: presence notifications, PIDF ↔ `<presence/>`.
pub mod presence;
/// RFC 3261 §19, RFC 3966, RFC 3860/3859: SIP-side URIs (sip, sips, tel, im, pres).
pub(crate) mod uri;
/// XEP-0071: SIP `text/html` bodies as XHTML-IM (RFC 7572 §7).
pub(crate) mod xhtml_im;
/// XML 1.0 documents in SIP bodies, bounded and DTD-free.
pub(crate) mod xml;

pub use address::{AddressMapper, ForeignDomainPolicy, Jid, SipAddress};
pub use error::MappingError;
pub use media_type::ContentType;
pub use message::SipMessage;

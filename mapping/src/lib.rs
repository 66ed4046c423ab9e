//! Pure translation between SIP/SIMPLE and XMPP (RFC 7247, RFC 7572, RFC 8048).
//!
//! Where it sits: between the `sip` and `xmpp` crates, called by the gateway's
//! router. It takes parsed values (SIP URIs and header values, typed XMPP
//! stanzas) and returns parsed values. It does no I/O, no async, reads no
//! clock and draws no random numbers: ids and times are arguments.

/// RFC 7247 §6: SIP/SIPS/tel/im/pres URIs ↔ JIDs.
pub mod address;
/// RFC 3261 §7.4, RFC 7572 §7: SIP message bodies (type, charset, coding) → text.
pub mod body;
/// RFC 3862: the `message/cpim` format.
pub mod cpim;
/// RFC 7247 §7: XMPP stanza errors ↔ SIP responses, and [`error::MappingError`].
pub mod error;
/// RFC 7622: JIDs, PRECIS preparation and XEP-0106 escaping.
pub mod jid;
/// RFC 2045 §5.1: Content-Type values.
pub mod media_type;
/// RFC 7572: SIP MESSAGE ↔ XMPP `<message/>`.
pub mod message;

pub use address::{AddressMapper, ForeignDomainPolicy, Jid, SipAddress};
pub use error::{MappingError, SipStatus, sip_status_to_stanza_error, stanza_error_to_sip};
pub use message::{MessageOptions, SipMessage};

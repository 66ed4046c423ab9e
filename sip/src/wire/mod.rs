//! RFC 3261 §7 and §20: typed access over ezk-sip-types.
//!
//! Not a second parser: lines, header names and `sip:` URIs come from ezk.
//! What lives here fills ezk's gaps (crates.md §4): the start line with
//! non-SIP Request-URIs, salvage of a broken message for a 400, validation
//! of what ezk accepts too readily, and writing responses and requests.
//! `fast` types the common shapes of `sip:` URIs, Vias and header lines
//! exactly as ezk would, without nom (issue 24), and leaves the rest to ezk.

/// The common shapes of `sip:` URIs, Vias and header lines without ezk's nom parsers.
mod fast;
#[cfg(test)]
mod fast_equivalence;
/// RFC 3261 §7.3: a message's header fields in received order.
pub mod fields;
#[cfg(test)]
mod fields_equivalence;
/// RFC 3261 §20, §25.1: address and parameter values as sent.
pub mod header;
#[cfg(test)]
mod line_equivalence;
/// RFC 3261 §7: start line, headers, body; salvage on failure.
pub mod message;
/// RFC 3261 §21: response codes and their reason phrases.
pub mod status;
/// `str` searches and trims of the message path, a byte at a time.
mod text;
/// RFC 3261 §19.1, RFC 3966: `sip:`, `tel:` and other URIs.
pub mod uri;
/// RFC 3261 §8.2, RFC 4475 §3.1.2: mandatory headers and value checks.
pub mod validate;
/// RFC 3261 §8.1.1, §8.2.6: writing requests and responses.
// Requests and stamped Vias are written only by the tokio endpoint.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub mod write;

pub use fields::HeaderFields;
pub use message::{Message, ParseError, ParseErrorKind, ParseLimits, Salvage, StartLine};
pub use validate::{Rejection, RequestHead, ResponseHead, ViaHead};

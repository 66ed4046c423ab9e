//! RFC 6120 §8: the three stanza kinds as owned, typed values.
//!
//! This module holds data only: parsing from the component stream lives in
//! `stream.rs`, writing in [`Stanza::write_to`]. Addresses are kept as the raw
//! attribute strings the server sent; the mapping layer types and prepares them.

pub(crate) mod element;
mod error;
mod iq;
mod message;
pub(crate) mod parse;
mod presence;
mod reply;
pub(crate) mod write;

pub use element::{Element, Node};
pub(crate) use error::NS_STANZAS;
pub use error::{DefinedCondition, ErrorType, StanzaError};
pub use iq::{Iq, IqType};
pub use message::{Message, MessageType};
pub use parse::StanzaParseError;
pub use presence::{Presence, PresenceType, Show};

/// The XML namespace of stanzas on an XEP-0114 component stream.
pub(crate) const NS_COMPONENT: &str = "jabber:component:accept";

/// One top-level stanza on the component stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stanza {
    /// `<message/>` (RFC 6121 §5).
    Message(Message),
    /// `<presence/>` (RFC 6121 §3, §4).
    Presence(Presence),
    /// `<iq/>` (RFC 6120 §8.2.3).
    Iq(Iq),
}

/// Characters around the byte-wise checks and escaping (issue 24): every
/// ASCII character, the ends of each UTF-8 length, the characters around
/// U+FFFE/U+FFFF (whose encodings start with `EF`), and a few common ones;
/// for the tests that hold those to the per-character code.
#[cfg(test)]
pub(crate) fn chars_near_the_byte_checks() -> Vec<char> {
    let mut chars: Vec<char> = (0u32..0x80).filter_map(char::from_u32).collect();
    chars.extend([
        '\u{80}',
        '\u{7ff}',
        '\u{800}',
        '\u{d7ff}',
        '\u{e000}',
        '\u{effe}',
        '\u{efbf}',
        '\u{fbff}',
        '\u{fffd}',
        '\u{fffe}',
        '\u{ffff}',
        '\u{10000}',
        '\u{1f339}',
        '\u{10ffff}',
        'é',
        '€',
    ]);
    chars
}

//! RFC 3923 end-to-end objects across the gateway: the S/MIME object an XMPP
//! `<e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'/>` holds ↔ the body of a SIP
//! MESSAGE (RFC 3428) with its MIME headers.
//!
//! RFC 3923 §8: a gateway "MUST remove the XMPP 'wrapper' (everything down to
//! and including the <e2e> and </e2e> tags) in order to reveal the multipart
//! S/MIME object, then route the object to the non-XMPP service", the other
//! way "wrap the object in an XMPP message or presence 'wrapper'", and "The
//! wrapped S/MIME object MUST be immutable and MUST NOT be modified by an
//! XMPP-CPIM gateway."
//!
//! What the object is: §3.1 step 3 puts "the resulting signed and/or
//! encrypted object within an XML CDATA section"; Examples 3 and 9 show it as
//! a MIME entity, its header block (`Content-Type: multipart/signed; …`), a
//! blank line, then its body. In SIP, the same entity is a message body: the
//! entity's body is the SIP body, byte for byte, and its `Content-*` header
//! fields are the message's (RFC 3261 §7.4, §23.4's examples put
//! `Content-Type: multipart/signed` among the SIP header fields). So:
//!
//! - XMPP → SIP ([`SmimeObject::from_e2e_text`]): the header block is split
//!   off; `Content-Type` becomes the SIP Content-Type, the other MIME fields
//!   ([`CARRIED_FIELDS`]) become SIP header fields of the same name, and the
//!   body goes as it is. Any other field in the block is refused rather than
//!   copied into the SIP header (a forged `<e2e/>` must not inject `Via` or
//!   `Content-Length`) or dropped.
//! - SIP → XMPP ([`SmimeObject::from_sip`]): the entity is rebuilt from those
//!   SIP header fields and the body. A body XML cannot hold (binary DER, as
//!   RFC 8591 §5 lets SIP UAs send) is given the base64 transfer encoding
//!   (RFC 2045 §6.8) and a `Content-Transfer-Encoding: base64` field: the
//!   CMS object is the same octets once decoded; XML 1.0 cannot carry them
//!   otherwise. Nothing else is ever re-encoded.
//!
//! Parley never decrypts, verifies or unwraps the object: it reads the outer
//! Content-Type (to refuse what is not S/MIME) and, for `multipart/signed`,
//! checks that the boundary it names delimits the body. The CPIM From/To
//! inside stay the senders' own.
//!
//! RFC 3923 §3.3 Example 5 is not such an object: its text is `openssl enc`
//! output (`U2FsdGVkX1` is base64 for `Salted__`), not CMS EnvelopedData,
//! and it has no Content-Type. Bare text like it is refused as not MIME.

use parley_xmpp::stanza::{Element, Message, Node, Presence};

use crate::address::{AddressMapper, Jid};
use crate::content_coding::MAX_BODY_BYTES;
use crate::encryption::NS_E2E;
use crate::failure::{MappingError, NotCarried};
use crate::media_type::{ContentType, MediaType};
use crate::message::{self, MessageOptions, SipMessage};
use crate::xml::is_xml_char;

/// The MIME header fields of an object that travel as SIP header fields of
/// the same name, besides Content-Type (RFC 2045 §3–§8, RFC 2183, RFC 3261
/// §20.24 MIME-Version). Names compare without regard to case.
pub const CARRIED_FIELDS: [&str; 5] = [
    "MIME-Version",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Content-ID",
    "Content-Description",
];

/// Bound on the header fields of an object's header block.
const MAX_FIELDS: usize = 16;

/// A signed or encrypted MIME object as RFC 3923 carries it: its header
/// fields (Content-Type first) and its body, exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmimeObject {
    /// `Content-Type` value, unfolded (RFC 5322 §2.2.3), parameters as sent.
    pub content_type: String,
    /// The other header fields of [`CARRIED_FIELDS`], names as sent, in order.
    pub fields: Vec<(String, String)>,
    /// The body octets.
    pub body: Vec<u8>,
}

/// Whether a Content-Type names an S/MIME object RFC 3923 carries:
/// `multipart/signed` (RFC 8551 §3.5.3) or `application/pkcs7-mime` (§3.2),
/// with the `x-` spelling older agents (and `openssl smime`) still send.
pub fn is_smime(content_type: &str) -> bool {
    is_smime_typed(&ContentType::parse(Some(content_type)))
}

/// [`is_smime`] of a Content-Type parsed already.
pub fn is_smime_typed(content_type: &ContentType) -> bool {
    content_type
        .media()
        .is_some_and(|m| smime_kind(m).is_some())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Signed,
    Enveloped,
}

fn smime_kind(m: &MediaType) -> Option<Kind> {
    if m.is("multipart", "signed") {
        Some(Kind::Signed)
    } else if m.is("application", "pkcs7-mime") || m.is("application", "x-pkcs7-mime") {
        Some(Kind::Enveloped)
    } else {
        None
    }
}

fn not_mime() -> MappingError {
    MappingError::NotCarried(NotCarried::Rfc3923E2e)
}

impl SmimeObject {
    /// Parse the character data of an `<e2e/>` (RFC 3923 §3.1 step 3).
    ///
    /// Whitespace before the header block is the CDATA section's layout
    /// (Example 3 starts it on the line after `<![CDATA[`), not the object.
    pub fn from_e2e_text(text: &str) -> Result<Self, MappingError> {
        if text.len() > MAX_BODY_BYTES {
            return Err(MappingError::BodyTooLarge {
                limit: MAX_BODY_BYTES,
            });
        }
        let text = text.trim_start_matches([' ', '\t', '\r', '\n']);
        let (head, body) = split_head(text).ok_or_else(not_mime)?;
        let mut content_type = None;
        let mut fields = Vec::new();
        for (name, value) in unfold_fields(head)? {
            if name.eq_ignore_ascii_case("content-type") && content_type.is_none() {
                content_type = Some(value);
            } else if CARRIED_FIELDS.iter().any(|c| c.eq_ignore_ascii_case(&name))
                && !fields
                    .iter()
                    .any(|(n, _): &(String, String)| n.eq_ignore_ascii_case(&name))
            {
                fields.push((name, value));
            } else {
                return Err(not_mime());
            }
        }
        let object = Self {
            content_type: content_type.ok_or_else(not_mime)?,
            fields,
            body: body.as_bytes().to_vec(),
        };
        object.check()?;
        Ok(object)
    }

    /// The object a SIP body is, given its Content-Type and the
    /// [`CARRIED_FIELDS`] the request has (by name, as `lookup` finds them).
    pub fn from_sip(
        content_type: &str,
        mut lookup: impl FnMut(&str) -> Option<String>,
        body: &[u8],
    ) -> Result<Self, MappingError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(MappingError::BodyTooLarge {
                limit: MAX_BODY_BYTES,
            });
        }
        let fields: Vec<(String, String)> = CARRIED_FIELDS
            .iter()
            .filter_map(|name| lookup(name).map(|v| ((*name).to_owned(), v)))
            .collect();
        let mut object = Self {
            content_type: content_type.trim().to_owned(),
            fields,
            body: body.to_vec(),
        };
        object.check()?;
        if !xml_safe(&object.body) {
            // RFC 8591 §5: SIP UAs may send the outer entity binary. Only an
            // application/pkcs7-mime body is one opaque CMS object that a
            // transfer encoding can wrap whole.
            let binary = object
                .field("content-transfer-encoding")
                .is_none_or(|v| v.trim().eq_ignore_ascii_case("binary"));
            if object.kind() != Some(Kind::Enveloped) || !binary {
                return Err(MappingError::InvalidBody {
                    reason: "S/MIME body holds octets XML cannot carry",
                });
            }
            object
                .fields
                .retain(|(n, _)| !n.eq_ignore_ascii_case("content-transfer-encoding"));
            object
                .fields
                .push(("Content-Transfer-Encoding".into(), "base64".into()));
            object.body = base64_lines(&object.body).into_bytes();
        }
        Ok(object)
    }

    /// The `<e2e/>` text: the header block, a blank line, the body (CRLF
    /// line ends in the header block, RFC 2045 §2.1 via RFC 5322).
    pub fn to_e2e_text(&self) -> Result<String, MappingError> {
        let mut text = format!("Content-Type: {}\r\n", self.content_type);
        for (name, value) in &self.fields {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        text.push_str(
            std::str::from_utf8(&self.body).map_err(|_| MappingError::InvalidBody {
                reason: "S/MIME body holds octets XML cannot carry",
            })?,
        );
        Ok(text)
    }

    /// The `<e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'/>` holding this object.
    pub fn to_element(&self) -> Result<Element, MappingError> {
        let mut e2e = Element::new("e2e", NS_E2E);
        e2e.children.push(Node::Text(self.to_e2e_text()?));
        Ok(e2e)
    }

    /// The object for a channel that carries a Content-Type and binary
    /// octets only (an MSRP SEND, RFC 4975 §7.1; RFC 8591 §5: "Inner S/MIME
    /// entities do not require base64 encoding"): a base64 transfer
    /// encoding is undone, so the CMS octets go as they are; the other MIME
    /// fields, which such a channel cannot carry, are left behind. `None`
    /// for a quoted-printable or unknown transfer encoding.
    pub fn for_binary_channel(&self) -> Option<(String, Vec<u8>)> {
        let body = match self.field("content-transfer-encoding").map(str::trim) {
            None => self.body.clone(),
            Some(te)
                if ["7bit", "8bit", "binary"]
                    .iter()
                    .any(|b| te.eq_ignore_ascii_case(b)) =>
            {
                self.body.clone()
            }
            Some(te) if te.eq_ignore_ascii_case("base64") => base64_decode(&self.body)?,
            Some(_) => return None,
        };
        Some((self.content_type.clone(), body))
    }

    /// The value of header field `name` (lowercase) other than Content-Type.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn kind(&self) -> Option<Kind> {
        MediaType::parse(&self.content_type)
            .ok()
            .as_ref()
            .and_then(smime_kind)
    }

    /// Refuse what is not a signed or encrypted object: another type, a
    /// `multipart/signed` without `protocol` or `boundary` (RFC 1847 §2.1:
    /// both required), or whose boundary does not delimit the body, or an
    /// empty body.
    fn check(&self) -> Result<(), MappingError> {
        let media = MediaType::parse(&self.content_type).map_err(|_| not_mime())?;
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(not_mime());
        }
        match smime_kind(&media).ok_or_else(not_mime)? {
            Kind::Enveloped => Ok(()),
            Kind::Signed => {
                let boundary = media.param("boundary").ok_or_else(not_mime)?;
                media.param("protocol").ok_or_else(not_mime)?;
                let close = format!("--{boundary}--");
                let body = String::from_utf8_lossy(&self.body);
                let delimits = body
                    .lines()
                    .any(|l| l.trim_end() == format!("--{boundary}"))
                    && body.lines().any(|l| l.trim_end() == close);
                if delimits { Ok(()) } else { Err(not_mime()) }
            }
        }
    }
}

/// A SIP MESSAGE and the MIME header fields to send beside its own.
pub type SipWithFields = (SipMessage, Vec<(String, String)>);

/// The `<e2e/>` payload of a stanza, if it has one.
pub fn e2e_payload(payloads: &[Element]) -> Option<&Element> {
    payloads.iter().find(|e| e.name == "e2e" && e.ns == NS_E2E)
}

/// RFC 3923 §8, XMPP → SIP: a `<message/>` with `<e2e/>` as a SIP MESSAGE
/// whose body is the object, and the object's other MIME header fields;
/// `None` when the message has no `<e2e/>`.
///
/// The outer addresses, subject, thread and language are mapped as RFC 7572
/// Table 1 maps them ([`message::to_sip`]); a `<body/>` beside the `<e2e/>`
/// is a fallback for clients without RFC 3923, not the message, and is not
/// sent. A message that also announces OMEMO or OpenPGP is refused as those are.
pub fn message_to_sip(
    msg: &Message,
    mapper: &AddressMapper,
) -> Option<Result<SipWithFields, MappingError>> {
    let e2e = e2e_payload(&msg.payloads)?;
    Some((|| {
        let outer = Message {
            body: Some(String::new()),
            payloads: msg
                .payloads
                .iter()
                .filter(|p| !std::ptr::eq(*p, e2e))
                .cloned()
                .collect(),
            ..msg.clone()
        };
        let mut sip = message::to_sip(&outer, mapper)?;
        let object = SmimeObject::from_e2e_text(&e2e.text())?;
        sip.content_type = Some(object.content_type);
        sip.body = object.body;
        Ok((sip, object.fields))
    })())
}

/// RFC 3923 §8, SIP → XMPP: a SIP MESSAGE whose body is S/MIME as a
/// `<message/>` holding it in `<e2e/>`; `None` when the body is not
/// S/MIME. `lookup` gives the request's header fields by name.
///
/// Addresses, Call-ID, Subject and Content-Language map as RFC 7572 Table 2
/// maps them ([`message::to_xmpp`]). No `<body/>` is added: RFC 3923's
/// examples have none, and text beside the object would be Parley's words
/// passed off as the sender's. A Content-Encoding is refused (415): it is
/// not part of the object, and undoing it would be unwrapping.
pub fn message_to_xmpp(
    msg: &SipMessage,
    lookup: impl FnMut(&str) -> Option<String>,
    mapper: &AddressMapper,
    opts: &MessageOptions,
) -> Option<Result<Message, MappingError>> {
    let parsed = ContentType::parse(msg.content_type.as_deref());
    message_to_xmpp_typed(msg, &parsed, lookup, mapper, opts)
}

/// [`message_to_xmpp`] with `msg.content_type` parsed already
/// (`content_type`): `lookup` is called only for an S/MIME body.
pub fn message_to_xmpp_typed(
    msg: &SipMessage,
    content_type: &ContentType,
    lookup: impl FnMut(&str) -> Option<String>,
    mapper: &AddressMapper,
    opts: &MessageOptions,
) -> Option<Result<Message, MappingError>> {
    if !is_smime_typed(content_type) {
        return None;
    }
    let content_type = msg.content_type.as_deref()?;
    Some((|| {
        if msg
            .content_encoding
            .as_deref()
            .is_some_and(|c| !c.trim().eq_ignore_ascii_case("identity"))
        {
            return Err(MappingError::UnsupportedContentEncoding);
        }
        let object = SmimeObject::from_sip(content_type, lookup, &msg.body)?;
        let outer = SipMessage {
            content_type: Some("text/plain".into()),
            content_encoding: None,
            body: Vec::new(),
            ..msg.clone()
        };
        let mut stanza = message::to_xmpp(&outer, mapper, opts)?;
        stanza.body = None;
        stanza.payloads = vec![object.to_element()?];
        Ok(stanza)
    })())
}

/// RFC 3923 §4, §8, XMPP → SIP: the object of an available `<presence/>`
/// holding `<e2e/>` (§4.1 step 3: directed presence, with a 'to'), for the
/// body of a NOTIFY in place of the PIDF Parley would write; `None` when
/// the stanza has no `<e2e/>` or is not plain availability.
pub fn presence_object(p: &Presence) -> Option<Result<SmimeObject, MappingError>> {
    if p.presence_type.is_some() || p.to.is_none() {
        return None;
    }
    let e2e = e2e_payload(&p.payloads)?;
    Some(SmimeObject::from_e2e_text(&e2e.text()))
}

/// RFC 3923 §4, §8, SIP → XMPP: a NOTIFY body that is S/MIME (a signed or
/// encrypted PIDF) as directed `<presence/>` from `from` to `to` holding it
/// in `<e2e/>`; `None` when the body is not S/MIME.
///
/// The stanza says available and nothing else: the availability is inside
/// the object, which Parley does not open (for a signed PIDF it could be
/// read, but what Parley put beside it would be unverified words in the
/// presentity's name).
pub fn presence_to_xmpp(
    content_type: Option<&str>,
    lookup: impl FnMut(&str) -> Option<String>,
    body: &[u8],
    from: &Jid,
    to: &Jid,
) -> Option<Result<Presence, MappingError>> {
    let content_type = content_type.filter(|ct| is_smime(ct))?;
    Some((|| {
        let object = SmimeObject::from_sip(content_type, lookup, body)?;
        Ok(Presence {
            from: Some(from.to_string()),
            to: Some(to.to_string()),
            payloads: vec![object.to_element()?],
            ..Presence::default()
        })
    })())
}

/// Split a MIME entity at the blank line that ends its header block.
fn split_head(text: &str) -> Option<(&str, &str)> {
    let crlf = text.find("\r\n\r\n").map(|i| (i, i + 4));
    let lf = text.find("\n\n").map(|i| (i, i + 2));
    let (end, start) = match (crlf, lf) {
        (Some(a), Some(b)) => {
            if a.0 < b.0 {
                a
            } else {
                b
            }
        }
        (a, b) => a.or(b)?,
    };
    Some((&text[..end], &text[start..]))
}

/// RFC 5322 §2.2: `name: value` lines, folded lines joined (§2.2.3).
fn unfold_fields(head: &str) -> Result<Vec<(String, String)>, MappingError> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        if line.starts_with([' ', '\t']) {
            let (_, value) = fields.last_mut().ok_or_else(not_mime)?;
            value.push_str(line);
            continue;
        }
        let (name, value) = line.split_once(':').ok_or_else(not_mime)?;
        // RFC 5322 §2.2: a field name is printable US-ASCII but colon.
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(not_mime());
        }
        fields.push((name.to_owned(), value.trim_start().to_owned()));
        if fields.len() > MAX_FIELDS {
            return Err(not_mime());
        }
    }
    for (_, value) in &mut fields {
        *value = value.trim_end().to_owned();
        // A CR or LF left inside would end the SIP header field early.
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(not_mime());
        }
    }
    Ok(fields)
}

/// Whether octets are UTF-8 text XML 1.0 can carry.
fn xml_safe(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|s| s.chars().all(is_xml_char))
}

/// RFC 2045 §6.8 base64, in lines of 76 characters ending CRLF.
fn base64_lines(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + bytes.len() / 38 + 4);
    for (i, chunk) in bytes.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out.push_str("\r\n");
    out
}

/// RFC 2045 §6.8 base64 decoding; line breaks and other whitespace skipped.
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits, mut padding) = (0u32, 0u32, 0usize);
    for &c in text.iter().filter(|c| !c.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                padding += 1;
                continue;
            }
            _ => return None,
        };
        if padding > 0 {
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    (padding <= 2).then_some(out)
}

#[cfg(test)]
#[path = "e2e_tests.rs"]
mod tests;

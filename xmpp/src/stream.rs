//! RFC 6120 §4 / XEP-0114 §2: the component's XML stream, sans I/O.
//!
//! `StreamParser` turns quick-xml events into [`StreamItem`](crate::stream::StreamItem)s (the server's
//! stream header, `<handshake/>`, typed stanzas, stream errors, the closing
//! tag) and enforces what quick-xml does not (`../shared/crates.md` §5):
//! no DTD, comments, PIs or non-predefined entities (RFC 6120 §11.1), UTF-8
//! only (§11.6), a stanza size limit and a nesting-depth limit. The driver
//! (`component.rs`) feeds it from quick-xml's async reader; [`parse_bytes`](crate::stream::parse_bytes)
//! feeds it from a byte slice for tests, fuzzing and benchmarks.
//!
//! What it does not do: the reader's own buffer grows until an event is
//! complete, so the driver also caps the bytes it lets quick-xml read
//! past the last stanza boundary.

use std::borrow::Cow;
use std::collections::HashSet;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::Reader;

use crate::error::{StreamError, StreamErrorCondition};
use crate::stanza::element::{OpenElement, known_namespace};
use crate::stanza::parse::{message_attr, message_child, message_end};
use crate::stanza::write::{attr, escape_text};
use crate::stanza::{Element, Message, NS_COMPONENT, Node, Stanza};

mod attrs;
mod scopes;
use scopes::{Resolved, Scopes};

/// RFC 6120 §4.8.1: the stream namespace.
pub(crate) const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
/// RFC 6120 §4.9.2: the namespace of stream error conditions.
pub(crate) const NS_STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";

/// Limits on what the peer may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest first-level element in bytes (default 256 KiB).
    pub max_stanza_bytes: usize,
    /// Deepest nesting inside a first-level element, counting it as 1.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_stanza_bytes: 256 * 1024,
            max_depth: 32,
        }
    }
}

/// The server's stream header (XEP-0114 §2, RFC 6120 §4.7).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamHeader {
    /// `id`: the stream id that goes into the handshake hash.
    pub id: Option<String>,
    /// `from`: for `jabber:component:accept`, the component's own domain.
    pub from: Option<String>,
    /// `xml:lang`.
    pub lang: Option<String>,
    /// `version`, if the server sent one.
    pub version: Option<String>,
}

/// A `<stream:error/>` the server sent (RFC 6120 §4.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedStreamError {
    /// The defined condition.
    pub condition: StreamErrorCondition,
    /// The `<text/>`, if any.
    pub text: Option<String>,
}

/// One thing that arrived on the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    /// The opening `<stream:stream>` tag.
    Header(StreamHeader),
    /// XEP-0114 §2: the empty `<handshake/>` that accepts our credentials.
    HandshakeAccepted,
    /// A stanza in `jabber:component:accept`, boxed: it goes by value
    /// through the reader's channel, the driver and the gateway's queue,
    /// and at ~280 bytes each of those moves was a copy (issue 24).
    Stanza(Box<Stanza>),
    /// A first-level element in the stanza namespace that is not a valid
    /// stanza (an `<iq/>` without id, say); the element is kept for logging
    /// and for a `bad-request` answer where one is possible.
    Invalid {
        /// The element as received.
        element: Element,
        /// Why it is not a stanza.
        error: crate::stanza::StanzaParseError,
    },
    /// `<stream:error/>`.
    Error(ReceivedStreamError),
    /// Whitespace between stanzas (RFC 6120 §4.6.1 keepalive).
    Whitespace,
    /// `</stream:stream>`.
    Closed,
}

/// Assembles first-level elements from quick-xml events and checks the limits.
#[derive(Debug)]
pub(crate) struct StreamParser {
    limits: Limits,
    /// Open elements inside the current first-level element.
    stack: Vec<OpenElement>,
    /// The current first-level element when it is a `<message/>` in the
    /// stanza namespace: its attributes and its children are read into the
    /// stanza as they arrive, so none of them is kept as an [`Element`]
    /// unless it stays one (a payload). Issue 24: fewer allocations per
    /// stanza than building the whole element first.
    message: Option<Message>,
    /// Whether `<message/>` takes that path (always, but for the test that
    /// holds it equal to building the element first).
    message_direct: bool,
    header_seen: bool,
    closed: bool,
    /// Buffer position where the current first-level element started.
    stanza_start: u64,
    /// The namespace declarations in scope.
    scopes: Scopes,
}

impl StreamParser {
    /// A parser for a fresh stream.
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            stack: Vec::new(),
            message: None,
            message_direct: true,
            header_seen: false,
            closed: false,
            stanza_start: 0,
            scopes: Scopes::default(),
        }
    }

    /// True while a first-level element is incomplete.
    pub(crate) fn in_stanza(&self) -> bool {
        !self.stack.is_empty()
    }

    /// Feed one event; `position` is the reader's buffer position before
    /// it (where the event starts). Returns an item when one is complete.
    pub(crate) fn handle_event(
        &mut self,
        event: Event<'_>,
        position: u64,
    ) -> Result<Option<StreamItem>, StreamError> {
        // First, as quick-xml's `NsReader` refused such a tag before
        // handing it on.
        if let Event::Start(start) | Event::Empty(start) = &event {
            self.scopes
                .open(start)
                .map_err(|_| StreamError::BadNamespacePrefix)?;
        }
        if self.in_stanza() {
            let size = position.saturating_sub(self.stanza_start);
            if size > self.limits.max_stanza_bytes as u64 {
                return Err(StreamError::StanzaTooLarge {
                    limit: self.limits.max_stanza_bytes,
                });
            }
        }
        match event {
            Event::Decl(d) => {
                if self.header_seen {
                    return Err(StreamError::RestrictedXml {
                        feature: "processing instruction",
                    });
                }
                // RFC 6120 §11.6: UTF-8 only.
                match d.encoding() {
                    Some(Ok(enc)) if !enc.eq_ignore_ascii_case("utf-8") => {
                        Err(StreamError::UnsupportedEncoding)
                    }
                    Some(Err(_)) => Err(not_well_formed("bad XML declaration")),
                    _ => Ok(None),
                }
            }
            // RFC 6120 §11.1: prohibited XML features.
            Event::Comment(_) => Err(StreamError::RestrictedXml { feature: "comment" }),
            Event::PI(_) => Err(StreamError::RestrictedXml {
                feature: "processing instruction",
            }),
            Event::DocType(_) => Err(StreamError::RestrictedXml { feature: "DTD" }),
            Event::Start(start) => {
                let ns = self.element_namespace(&start)?;
                self.start(ns, &start, position, false)
            }
            Event::Empty(start) => {
                let ns = self.element_namespace(&start)?;
                let item = self.start(ns, &start, position, true);
                self.scopes.close();
                item
            }
            Event::End(_) => {
                let item = self.end();
                self.scopes.close();
                item
            }
            Event::Text(t) => {
                let text = t.xml10_content();
                self.text(&text)
            }
            Event::CData(c) => {
                let text = c.xml10_content();
                self.text(&text)
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => match &*r.into_inner() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        _ => {
                            return Err(StreamError::RestrictedXml {
                                feature: "entity reference",
                            });
                        }
                    },
                    Err(_) => return Err(not_well_formed("bad character reference")),
                };
                if !is_xml_char(c) {
                    return Err(not_well_formed(
                        "character reference to a non-XML character",
                    ));
                }
                self.text(c.encode_utf8(&mut [0; 4]))
            }
            Event::Eof => Ok(None),
        }
    }

    /// The namespace of the element `start` opens (its declarations in
    /// scope already), as the element keeps it.
    fn element_namespace(&self, start: &BytesStart<'_>) -> Result<Cow<'static, str>, StreamError> {
        let ns = match self.scopes.resolve_known(start.name()) {
            Resolved::Known(ns) => return Ok(Cow::Borrowed(ns)),
            Resolved::Other(ns) => ns,
        };
        Ok(match ns {
            // quick-xml 0.42 hands back the namespace name as written in
            // the `xmlns` attribute, entities and all; XML Names §2 means
            // the attribute's normalized value.
            ResolveResult::Bound(n) if n.0.contains('&') => known_namespace(
                &quick_xml::escape::unescape(n.0).map_err(|e| xml_error(&e.into()))?,
            ),
            ResolveResult::Bound(n) => known_namespace(n.0),
            ResolveResult::Unbound => Cow::Borrowed(""),
            ResolveResult::Unknown(_) => return Err(StreamError::BadNamespacePrefix),
        })
    }

    fn start(
        &mut self,
        ns: Cow<'static, str>,
        start: &BytesStart<'_>,
        position: u64,
        empty: bool,
    ) -> Result<Option<StreamItem>, StreamError> {
        let local = start.local_name();
        let name: &str = local.as_ref();
        let mut el = OpenElement::new(name, ns);
        // XML 1.0 §2.2 for the `xmlns` value, which `attributes` skips
        // (found by fuzzing: control characters in a namespace name). The
        // namespaces `known_namespace` borrows are ours, all `Char`.
        if matches!(el.ns, Cow::Owned(_)) && !all_xml_chars(&el.ns) {
            return Err(not_well_formed("character not allowed in XML"));
        }
        if self.closed {
            return Err(not_well_formed("element after the stream was closed"));
        }
        if !self.header_seen {
            return self.header(start, name, &el.ns).map(Some);
        }
        if self.stack.len() >= self.limits.max_depth {
            return Err(StreamError::TooDeep {
                limit: self.limits.max_depth,
            });
        }
        if self.stack.is_empty() {
            self.stanza_start = position;
            if self.message_direct && name == "message" && el.ns == NS_COMPONENT {
                let m = self.message.insert(Message::default());
                if let Err(e) = each_attribute(start, |key, value| message_attr(m, key, value)) {
                    self.message = None;
                    return Err(e);
                }
            } else {
                el.attrs = attributes(start)?;
            }
        } else {
            el.attrs = attributes(start)?;
        }
        self.stack.push(el);
        if empty { self.end() } else { Ok(None) }
    }

    fn header(
        &mut self,
        start: &BytesStart<'_>,
        name: &str,
        ns: &str,
    ) -> Result<StreamItem, StreamError> {
        if name != "stream" || ns != NS_STREAMS {
            return Err(StreamError::InvalidNamespace {
                name: name.to_owned(),
                ns: ns.to_owned(),
            });
        }
        let mut header = StreamHeader::default();
        let mut default_ns = None;
        for a in start.attributes() {
            let a = a.map_err(|e| not_well_formed(&e.to_string()))?;
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| xml_error(&e))?
                .into_owned();
            match a.key.as_ref() {
                "id" => header.id = Some(value),
                "from" => header.from = Some(value),
                "xml:lang" => header.lang = Some(value),
                "version" => header.version = Some(value),
                "xmlns" => default_ns = Some(value),
                _ => {}
            }
        }
        // XEP-0114 §2: the stream's content namespace.
        if default_ns.as_deref() != Some(NS_COMPONENT) {
            return Err(StreamError::InvalidNamespace {
                name: "stream".into(),
                ns: default_ns.unwrap_or_default(),
            });
        }
        self.header_seen = true;
        Ok(StreamItem::Header(header))
    }

    fn end(&mut self) -> Result<Option<StreamItem>, StreamError> {
        let Some(el) = self.stack.pop() else {
            // The end of the stream element itself.
            self.closed = true;
            return Ok(Some(StreamItem::Closed));
        };
        if self.stack.is_empty() {
            return Ok(Some(match self.message.take() {
                Some(mut m) => {
                    message_end(&mut m);
                    StreamItem::Stanza(Box::new(Stanza::Message(m)))
                }
                None => first_level(el.into_element())?,
            }));
        }
        if self.stack.len() == 1
            && let Some(m) = &mut self.message
        {
            message_child(m, el);
            return Ok(None);
        }
        if let Some(parent) = self.stack.last_mut() {
            parent.children.push(Node::Element(el.into_element()));
        }
        Ok(None)
    }

    fn text(&mut self, text: &str) -> Result<Option<StreamItem>, StreamError> {
        // XML 1.0 §2.2: raw characters outside `Char` (NUL, most C0
        // controls) make the document not well-formed (RFC 6120 §11.1).
        if !all_xml_chars(text) {
            return Err(not_well_formed("character not allowed in XML"));
        }
        // Text directly inside a `<message/>` read as it arrives is not
        // part of the stanza (RFC 6121 §5.2: only its children are).
        if self.stack.len() == 1 && self.message.is_some() {
            return Ok(None);
        }
        match self.stack.last_mut() {
            Some(el) => {
                if let Some(Node::Text(t)) = el.children.last_mut() {
                    t.push_str(text);
                } else if !text.is_empty() {
                    el.children.push(Node::Text(text.to_owned()));
                }
                Ok(None)
            }
            None if text.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) => {
                Ok(if text.is_empty() || !self.header_seen {
                    None
                } else {
                    Some(StreamItem::Whitespace)
                })
            }
            None => Err(StreamError::BadFormat {
                reason: "character data at the stream level",
            }),
        }
    }
}

/// What a complete first-level element is.
fn first_level(el: Element) -> Result<StreamItem, StreamError> {
    match (el.name.as_str(), el.ns.as_str()) {
        ("handshake", NS_COMPONENT) => Ok(StreamItem::HandshakeAccepted),
        ("message", NS_COMPONENT) => Ok(StreamItem::Stanza(Box::new(
            Stanza::message_from_element(el),
        ))),
        ("presence" | "iq", NS_COMPONENT) => match Stanza::from_element(el.clone()) {
            Ok(s) => Ok(StreamItem::Stanza(Box::new(s))),
            Err(error) => Ok(StreamItem::Invalid { element: el, error }),
        },
        ("error", NS_STREAMS) => Ok(StreamItem::Error(received_error(&el))),
        (_, NS_COMPONENT) => Err(StreamError::UnsupportedStanzaType { name: el.name }),
        _ => Err(StreamError::InvalidNamespace {
            name: el.name,
            ns: el.ns,
        }),
    }
}

/// RFC 6120 §4.9.2: the condition and text of a `<stream:error/>`.
fn received_error(el: &Element) -> ReceivedStreamError {
    let mut condition = None;
    let mut text = None;
    for n in &el.children {
        if let Node::Element(c) = n {
            if c.ns != NS_STREAM_ERRORS {
                continue;
            }
            if c.name == "text" {
                text.get_or_insert_with(|| c.text());
            } else {
                condition.get_or_insert(StreamErrorCondition::from_name(&c.name));
            }
        }
    }
    ReceivedStreamError {
        condition: condition.unwrap_or(StreamErrorCondition::UndefinedCondition),
        text,
    }
}

fn attributes(start: &BytesStart<'_>) -> Result<Vec<(String, String)>, StreamError> {
    let mut out = Vec::new();
    each_attribute(start, |key, value| {
        out.push((key.to_owned(), value.into_owned()));
    })?;
    Ok(out)
}

/// The attributes an [`Element`] keeps, checked, in document order.
///
/// Issue 24: a tag whose attributes are all plain (see [`attrs::plain`])
/// is read without quick-xml's attribute iterator, value normalisation and
/// character check, whose answers for such a tag are known; any other tag
/// goes through them (`tests::plain_attributes_read_as_quick_xml_reads_them`
/// holds the two equal).
fn each_attribute<'a>(
    start: &'a BytesStart<'_>,
    mut f: impl FnMut(&str, Cow<'a, str>),
) -> Result<(), StreamError> {
    let raw = start.attributes_raw();
    let Some(plain) = attrs::plain(raw) else {
        return each_attribute_read_by_quick_xml(start, f);
    };
    let mut names = Names::default();
    for (key, value) in plain.iter(raw) {
        if !names.insert(key) {
            return Err(not_well_formed("duplicated attribute"));
        }
        if kept(key) {
            f(key, Cow::Borrowed(value));
        }
    }
    Ok(())
}

/// [`each_attribute`] for any tag: quick-xml reads the attributes.
fn each_attribute_read_by_quick_xml<'a>(
    start: &'a BytesStart<'_>,
    mut f: impl FnMut(&str, Cow<'a, str>),
) -> Result<(), StreamError> {
    // XML 1.0 §3.1 (WFC: Unique Att Spec), checked here on the names as
    // written: quick-xml's own check keeps them in a list it allocates for
    // every element with attributes (issue 24).
    let mut names = Names::default();
    let mut attributes = start.attributes();
    attributes.with_checks(false);
    for a in attributes {
        let a = a.map_err(|e| not_well_formed(&e.to_string()))?;
        let key: &str = a.key.0;
        if !names.insert(key) {
            return Err(not_well_formed("duplicated attribute"));
        }
        if is_declaration(key) {
            continue;
        }
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| xml_error(&e))?;
        // XML 1.0 §2.2 (found by fuzzing: a NUL in `to` was accepted, and
        // came out as U+FFFD when the stanza was written again).
        if !all_xml_chars(&value) {
            return Err(not_well_formed("character not allowed in XML"));
        }
        if kept(key) {
            f(key, value);
        }
    }
    Ok(())
}

/// A namespace declaration (`xmlns`, `xmlns:p`): read by [`Scopes`], not
/// kept as an attribute.
fn is_declaration(key: &str) -> bool {
    key == "xmlns" || key.starts_with("xmlns:")
}

/// Whether an [`Element`] keeps an attribute named `key`. Attributes in
/// other namespaces are dropped: `Element` keeps no prefix bindings, so
/// writing them back would be ill-formed. The `xml:` prefix is bound by
/// definition (XML Names §3) and kept.
fn kept(key: &str) -> bool {
    !is_declaration(key) && (!key.as_bytes().contains(&b':') || key.starts_with("xml:"))
}

/// The attribute names of one element seen so far: the first few in
/// place, compared one by one; any beyond them in a hashed set, so that an
/// element with thousands of attributes (a 256 KiB stanza holds ~25 000)
/// costs linear time, not quadratic.
#[derive(Default)]
struct Names<'a> {
    first: [&'a str; 8],
    len: usize,
    more: HashSet<&'a str>,
}

impl<'a> Names<'a> {
    /// Notes `name`; `false` when it was already there.
    fn insert(&mut self, name: &'a str) -> bool {
        let seen = &self.first[..self.len.min(self.first.len())];
        if seen.contains(&name) {
            return false;
        }
        match self.first.get_mut(self.len) {
            Some(slot) => *slot = name,
            None => {
                if !self.more.insert(name) {
                    return false;
                }
            }
        }
        self.len += 1;
        true
    }
}

fn not_well_formed(reason: &str) -> StreamError {
    StreamError::NotWellFormed {
        reason: reason.to_owned(),
    }
}

/// Which stream error a quick-xml error means.
pub(crate) fn xml_error(e: &quick_xml::Error) -> StreamError {
    use quick_xml::Error as X;
    use quick_xml::escape::EscapeError;
    match e {
        X::Encoding(_) => StreamError::UnsupportedEncoding,
        X::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            StreamError::UnsupportedEncoding
        }
        X::Namespace(_) => StreamError::BadNamespacePrefix,
        X::Escape(EscapeError::UnrecognizedEntity(..)) => StreamError::RestrictedXml {
            feature: "entity reference",
        },
        other => not_well_formed(&other.to_string()),
    }
}

/// Whether every character of `s` is an XML 1.0 §2.2 `Char`, a byte at a
/// time: below U+0080 that excludes the C0 controls but tab, LF and CR;
/// above, a `str` has no surrogates, so only U+FFFE and U+FFFF (UTF-8
/// `EF BF BE`, `EF BF BF`) are left, and only a string with an `EF` byte is
/// read again a character at a time.
fn all_xml_chars(s: &str) -> bool {
    // One pass without early exit, which the compiler can vectorise.
    let mut control = false;
    let mut ef = false;
    for &b in s.as_bytes() {
        control |= b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r');
        ef |= b == 0xef;
    }
    !control && (!ef || s.chars().all(is_xml_char))
}

/// XML 1.0 §2.2 `Char`.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// XEP-0114 §2: the component's opening stream header.
#[cfg_attr(
    not(feature = "tokio"),
    allow(dead_code, reason = "only the tokio driver uses it")
)]
pub(crate) fn open(component_domain: &str) -> Vec<u8> {
    let mut s = String::from("<?xml version='1.0'?><stream:stream");
    attr(&mut s, "xmlns", NS_COMPONENT);
    attr(&mut s, "xmlns:stream", NS_STREAMS);
    attr(&mut s, "to", component_domain);
    s.push('>');
    s.into_bytes()
}

/// XEP-0114 §2: `<handshake>hex</handshake>`.
#[cfg_attr(
    not(feature = "tokio"),
    allow(dead_code, reason = "only the tokio driver uses it")
)]
pub(crate) fn handshake(hash: &str) -> Vec<u8> {
    let mut s = String::from("<handshake>");
    escape_text(&mut s, hash);
    s.push_str("</handshake>");
    s.into_bytes()
}

/// RFC 6120 §4.9.1.1: a stream error followed by the closing tag.
#[cfg_attr(
    not(feature = "tokio"),
    allow(dead_code, reason = "only the tokio driver uses it")
)]
pub(crate) fn error_and_close(condition: StreamErrorCondition) -> Vec<u8> {
    format!(
        "<stream:error><{} xmlns='{NS_STREAM_ERRORS}'/></stream:error></stream:stream>",
        condition.name()
    )
    .into_bytes()
}

/// RFC 6120 §4.4: the closing tag.
#[cfg_attr(
    not(feature = "tokio"),
    allow(dead_code, reason = "only the tokio driver uses it")
)]
pub(crate) const CLOSE: &[u8] = b"</stream:stream>";

/// Parse a complete byte slice (tests, fuzzing, benchmarks): every item up to
/// the first violation, and the violation if there was one.
pub fn parse_bytes(bytes: &[u8], limits: Limits) -> (Vec<StreamItem>, Option<StreamError>) {
    parse_with(bytes, StreamParser::new(limits))
}

fn parse_with(bytes: &[u8], mut parser: StreamParser) -> (Vec<StreamItem>, Option<StreamError>) {
    let mut reader = Reader::from_reader(bytes);
    configure(reader.config_mut());
    let mut items = Vec::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let position = reader.buffer_position();
        let event = match reader.read_event_into(&mut buf) {
            Ok(r) => r,
            Err(e) => return (items, Some(xml_error(&e))),
        };
        let eof = matches!(event, Event::Eof);
        match parser.handle_event(event, position) {
            Ok(Some(item)) => items.push(item),
            Ok(None) => {}
            Err(e) => return (items, Some(e)),
        }
        if eof {
            return (items, None);
        }
    }
}

/// The reader settings every component stream uses: no trimming (crates.md
/// §5.2), end-name checks on, empty elements kept as `Empty`.
pub(crate) fn configure(config: &mut quick_xml::reader::Config) {
    config.trim_text(false);
    config.check_end_names = true;
    config.expand_empty_elements = false;
    config.allow_dangling_amp = false;
    config.allow_unmatched_ends = false;
    config.check_comments = true;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stanza::{IqType, MessageType};

    const HEADER: &[u8] = include_bytes!("../tests/fixtures/prosody-0.12-stream-header.xml");

    fn with_header(rest: &str) -> Vec<u8> {
        let mut v = HEADER.to_vec();
        v.extend_from_slice(rest.as_bytes());
        v
    }

    /// XEP-0114 §2 against Prosody 0.12's real header (xml:lang, UUID id):
    /// the header Kamailio's xmpp module crashed on (design.md §6).
    #[test]
    fn prosody_stream_header_yields_uuid_id_and_lang() {
        let (items, err) = parse_bytes(HEADER, Limits::default());
        assert_eq!(err, None);
        assert_eq!(
            items,
            vec![StreamItem::Header(StreamHeader {
                id: Some("0bf70a50-6b6d-4c70-98a3-693f73a456cb".into()),
                from: Some("sip.example".into()),
                lang: Some("en".into()),
                version: None,
            })]
        );
    }

    #[test]
    fn prosody_handshake_success_is_accepted() {
        let mut bytes = HEADER.to_vec();
        bytes.extend_from_slice(include_bytes!(
            "../tests/fixtures/prosody-0.12-handshake-success.xml"
        ));
        let (items, err) = parse_bytes(&bytes, Limits::default());
        assert_eq!(err, None);
        assert_eq!(items[1], StreamItem::HandshakeAccepted);
    }

    /// XEP-0114 §2: bad credentials end in `<not-authorized/>`.
    #[test]
    fn prosody_wrong_secret_is_not_authorized_stream_error() {
        let mut bytes = HEADER.to_vec();
        bytes.extend_from_slice(include_bytes!(
            "../tests/fixtures/prosody-0.12-handshake-not-authorized.xml"
        ));
        let (items, err) = parse_bytes(&bytes, Limits::default());
        assert_eq!(err, None);
        assert_eq!(
            items[1],
            StreamItem::Error(ReceivedStreamError {
                condition: StreamErrorCondition::NotAuthorized,
                text: Some("Given token does not match calculated token".into()),
            })
        );
        assert_eq!(items[2], StreamItem::Closed);
    }

    /// XEP-0114 §2: an unknown component name ends in `<host-unknown/>` after a header.
    #[test]
    fn prosody_unknown_component_is_host_unknown() {
        let bytes = include_bytes!("../tests/fixtures/prosody-0.12-host-unknown.xml");
        let (items, err) = parse_bytes(bytes, Limits::default());
        assert_eq!(err, None);
        assert!(matches!(&items[0], StreamItem::Header(h) if h.id.as_deref() == Some("")));
        assert!(matches!(
            &items[1],
            StreamItem::Error(ReceivedStreamError {
                condition: StreamErrorCondition::HostUnknown,
                ..
            })
        ));
    }

    #[test]
    fn prosody_disco_result_is_typed_iq_with_payload() {
        let bytes = with_header(
            "<iq id='x1' from='xmpp.example' type='result' to='sip.example'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='server' name='Prosody' type='im'/><feature var='urn:xmpp:ping'/></query></iq>",
        );
        let (items, err) = parse_bytes(&bytes, Limits::default());
        assert_eq!(err, None);
        let StreamItem::Stanza(stanza) = &items[1] else {
            panic!("not a stanza: {items:?}");
        };
        let Stanza::Iq(iq) = &**stanza else {
            panic!("not an iq: {items:?}");
        };
        assert_eq!(iq.iq_type, IqType::Result);
        let q = iq.payload.as_ref().expect("payload");
        assert_eq!(q.ns, "http://jabber.org/protocol/disco#info");
        assert_eq!(
            q.child("identity", "http://jabber.org/protocol/disco#info")
                .and_then(|i| i.attr("category")),
            Some("server")
        );
    }

    /// XML 1.0 §2.2: `Char` excludes NUL; RFC 6120 §11.1 makes that a
    /// stream error. Found by fuzzing (`component_stream`).
    #[test]
    fn raw_nul_in_an_attribute_is_not_well_formed() {
        let bytes =
            with_header("<message to='romeo@sip.exa\0mple' id='m0'><body>x</body></message>");
        let (items, err) = parse_bytes(&bytes, Limits::default());
        assert_eq!(items.len(), 1, "only the header: {items:?}");
        assert!(
            matches!(err, Some(StreamError::NotWellFormed { .. })),
            "{err:?}"
        );
    }

    /// XML 1.0 §3.1 (WFC: Unique Att Spec): a name twice in one element,
    /// a namespace declaration included, is not well-formed; the same name
    /// on two elements, and ten different names on one, are.
    #[test]
    fn an_attribute_twice_is_not_well_formed() {
        for doubled in [
            "<message to='a@b' id='m0' to='c@d'><body>x</body></message>",
            "<message id='m0'><body xmlns='jabber:component:accept' xmlns='x'>x</body></message>",
            "<message a0='' a1='' a2='' a3='' a4='' a5='' a6='' a7='' a8='' a8=''/>",
        ] {
            let (items, err) = parse_bytes(&with_header(doubled), Limits::default());
            assert_eq!(items.len(), 1, "only the header: {items:?}");
            assert!(
                matches!(&err, Some(StreamError::NotWellFormed { reason }) if reason.contains("duplicated")),
                "{doubled}: {err:?}"
            );
        }
        let fine = "<message to='a@b' id='m0'><body xml:lang='en' id='m0'>x</body></message>\
            <message a0='' a1='' a2='' a3='' a4='' a5='' a6='' a7='' a8='' a9=''/>";
        let (items, err) = parse_bytes(&with_header(fine), Limits::default());
        assert_eq!((items.len(), err), (3, None));
    }

    /// An element with thousands of attributes (within the stanza limit) is
    /// read, and a name doubled among them is found whether its first
    /// occurrence is among the first eight or far behind them.
    #[test]
    fn thousands_of_attributes_are_checked_for_doubles() {
        let names: String = (0..3000).map(|i| format!(" a{i}=''")).collect();
        let (items, err) = parse_bytes(
            &with_header(&format!("<message{names}/>")),
            Limits::default(),
        );
        assert_eq!((items.len(), err), (2, None));
        for doubled in ["a0", "a2999"] {
            let element = format!("<message{names} {doubled}=''/>");
            let (items, err) = parse_bytes(&with_header(&element), Limits::default());
            assert_eq!(items.len(), 1, "only the header: {items:?}");
            assert!(
                matches!(&err, Some(StreamError::NotWellFormed { reason }) if reason.contains("duplicated")),
                "{doubled}: {err:?}"
            );
        }
    }

    /// XML 1.0 §2.2: nor in a namespace name (found by fuzzing).
    #[test]
    fn control_character_in_a_namespace_is_not_well_formed() {
        let bytes = with_header(
            "<message to='a@sip.example'><request xmlns='\u{1}\0urn:xmpp:receipts'/></message>",
        );
        let (_, err) = parse_bytes(&bytes, Limits::default());
        assert!(
            matches!(err, Some(StreamError::NotWellFormed { .. })),
            "{err:?}"
        );
    }

    /// XML 1.0 §2.2: nor in character data.
    #[test]
    fn raw_control_character_in_text_is_not_well_formed() {
        let bytes = with_header("<message to='a@sip.example'><body>a\u{1}b</body></message>");
        let (_, err) = parse_bytes(&bytes, Limits::default());
        assert!(
            matches!(err, Some(StreamError::NotWellFormed { .. })),
            "{err:?}"
        );
    }

    /// A character reference to NUL in an attribute is refused as well.
    #[test]
    fn nul_reference_in_an_attribute_is_refused() {
        let bytes = with_header("<message to='a&#0;@sip.example'><body>x</body></message>");
        let (_, err) = parse_bytes(&bytes, Limits::default());
        assert!(err.is_some(), "accepted");
    }

    /// crates.md §5.2: entities split text events; spaces around them survive.
    #[test]
    fn text_around_entities_keeps_its_spaces() {
        let bytes = with_header(
            "<message to='a@sip.example' type='chat'><body> thou? &#x1F339; &lt;3 </body></message>",
        );
        let (items, err) = parse_bytes(&bytes, Limits::default());
        assert_eq!(err, None);
        let StreamItem::Stanza(stanza) = &items[1] else {
            panic!("not a stanza: {items:?}");
        };
        let Stanza::Message(m) = &**stanza else {
            panic!("not a message: {items:?}");
        };
        assert_eq!(m.body.as_deref(), Some(" thou? 🌹 <3 "));
        assert_eq!(m.message_type, Some(MessageType::Chat));
    }

    #[test]
    fn whitespace_between_stanzas_is_a_keepalive() {
        let (items, err) = parse_bytes(&with_header(" \n "), Limits::default());
        assert_eq!(err, None);
        assert_eq!(items[1], StreamItem::Whitespace);
    }

    /// RFC 6120 §11.1: a DTD with an entity declaration is restricted XML.
    #[test]
    fn doctype_with_entity_is_restricted_xml() {
        let bytes =
            with_header("<!DOCTYPE x [<!ENTITY xxe 'boom'>]><message><body>&xxe;</body></message>");
        let (_, err) = parse_bytes(&bytes, Limits::default());
        assert_eq!(err, Some(StreamError::RestrictedXml { feature: "DTD" }));
    }

    /// RFC 6120 §11.1: only the five predefined entities are allowed.
    #[test]
    fn undeclared_entity_reference_is_restricted_xml() {
        let bytes = with_header("<message><body>&xxe;</body></message>");
        let (_, err) = parse_bytes(&bytes, Limits::default());
        assert_eq!(
            err,
            Some(StreamError::RestrictedXml {
                feature: "entity reference"
            })
        );
    }

    #[test]
    fn entity_reference_in_attribute_is_restricted_xml() {
        let bytes = with_header("<message to='&xxe;'/>");
        let (_, err) = parse_bytes(&bytes, Limits::default());
        assert_eq!(
            err,
            Some(StreamError::RestrictedXml {
                feature: "entity reference"
            })
        );
    }

    #[test]
    fn comment_and_processing_instruction_are_restricted_xml() {
        for bad in ["<!-- hi -->", "<?php echo 1; ?>"] {
            let (_, err) = parse_bytes(&with_header(bad), Limits::default());
            assert!(
                matches!(err, Some(StreamError::RestrictedXml { .. })),
                "{bad}: {err:?}"
            );
        }
    }

    /// RFC 6120 §4.9.3.22: bytes that are not UTF-8.
    #[test]
    fn invalid_utf8_is_unsupported_encoding() {
        let mut bytes = with_header("<message><body>");
        bytes.extend_from_slice(&[0xff, 0xfe, b'a']);
        bytes.extend_from_slice(b"</body></message>");
        let (_, err) = parse_bytes(&bytes, Limits::default());
        assert_eq!(err, Some(StreamError::UnsupportedEncoding));
    }

    #[test]
    fn utf16_declaration_is_unsupported_encoding() {
        let bytes = b"<?xml version='1.0' encoding='UTF-16'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='1'>";
        let (_, err) = parse_bytes(bytes, Limits::default());
        assert_eq!(err, Some(StreamError::UnsupportedEncoding));
    }

    /// RFC 6120 §4.9.3.14: a stanza over the size limit.
    #[test]
    fn oversized_stanza_is_policy_violation() {
        let body = "x".repeat(2000);
        let bytes = with_header(&format!("<message><body>{body}</body></message>"));
        let limits = Limits {
            max_stanza_bytes: 1000,
            ..Limits::default()
        };
        let (_, err) = parse_bytes(&bytes, limits);
        assert_eq!(err, Some(StreamError::StanzaTooLarge { limit: 1000 }));
    }

    #[test]
    fn stanza_just_under_the_limit_passes() {
        let stanza = format!("<message><body>{}</body></message>", "x".repeat(900));
        let limits = Limits {
            max_stanza_bytes: stanza.len(),
            ..Limits::default()
        };
        let (items, err) = parse_bytes(&with_header(&stanza), limits);
        assert_eq!(err, None);
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let open = "<a xmlns='urn:x'>".repeat(100);
        let bytes = with_header(&format!("<message>{open}"));
        let (_, err) = parse_bytes(&bytes, Limits::default());
        assert_eq!(err, Some(StreamError::TooDeep { limit: 32 }));
    }

    #[test]
    fn undeclared_prefix_is_bad_namespace_prefix() {
        let bytes = with_header("<message><foo:body>What is this foo?</foo:body></message>");
        let (_, err) = parse_bytes(&bytes, Limits::default());
        assert_eq!(err, Some(StreamError::BadNamespacePrefix));
    }

    #[test]
    fn mismatched_end_tag_is_not_well_formed() {
        let (_, err) = parse_bytes(&with_header("<message></presence>"), Limits::default());
        assert!(
            matches!(err, Some(StreamError::NotWellFormed { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn stream_in_client_namespace_is_invalid_namespace() {
        let bytes = b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='1'>";
        let (_, err) = parse_bytes(bytes, Limits::default());
        assert!(
            matches!(err, Some(StreamError::InvalidNamespace { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn iq_without_id_is_invalid_not_fatal() {
        let (items, err) = parse_bytes(
            &with_header("<iq type='get'/><message/>"),
            Limits::default(),
        );
        assert_eq!(err, None);
        assert!(matches!(items[1], StreamItem::Invalid { .. }));
        assert!(matches!(&items[2], StreamItem::Stanza(s) if matches!(**s, Stanza::Message(_))));
    }

    /// The stream read as before issue 24: every `<message/>` built as an
    /// `Element` first, then typed by `Stanza::from_element`.
    fn parse_building_elements(
        bytes: &[u8],
        limits: Limits,
    ) -> (Vec<StreamItem>, Option<StreamError>) {
        let mut parser = StreamParser::new(limits);
        parser.message_direct = false;
        parse_with(bytes, parser)
    }

    /// Messages that exercise RFC 6121 §5.2.3 (languages of body and
    /// subject, the first body standing in), thread attributes, errors,
    /// payloads, text between children and every way a message can break.
    const MESSAGES: &[&str] = &[
        "<message/>",
        "<message to='a@sip.example' from='b@xmpp.example/r' id='m1' type='chat' xml:lang='en'><body>hi</body></message>",
        "<message type='groupchat' type2='x' foo:bar='y' xmlns:foo='urn:foo'><body>a &amp; b &#x1F339; c</body><thread parent='p'>t1</thread><thread>t2</thread></message>",
        "<message type='bogus' xml:lang='en'><body xml:lang='de'>Hallo</body><body xml:lang='en'>Hello</body><body>third</body></message>",
        "<message xml:lang='fr'><body xml:lang='de'>Hallo</body><subject xml:lang='de'>S</subject></message>",
        "<message><body xml:lang='de' id='x'>Hallo</body><body xml:lang='it'>Ciao</body></message>",
        "<message><subject>s1</subject><subject>s2</subject><body>b<i xmlns='urn:x'>i</i>c<![CDATA[d<e]]>f</body></message>",
        "<message>\n  text at the top\n  <body>x</body>\n  <request xmlns='urn:xmpp:receipts'/><active xmlns='http://jabber.org/protocol/chatstates'/>\n</message>",
        "<message type='error' id='e1'><error type='cancel' by='x'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no</text></error><error type='wait'/></message>",
        "<message><body xmlns='urn:other'>not ours</body><thread xmlns='urn:other'>t</thread><x xmlns='jabber:x:data'><field var='a'><value>1</value></field></x></message>",
        "<message><body>a</body><body xml:lang='en'>b</body></message>",
        "<message to='a&apos;b' id=' a\tb\nc '><body/></message>",
        "<message to='a' to='b'/>",
        "<message><body>x</body>",
        "<message><body>x</message>",
        "<message><body>\u{1}</body></message>",
        "<message to='\u{ffff}'/>",
        "<message><body>\u{fffe}</body></message>",
        "<message xmlns='urn:not-ours'><body>x</body></message>",
        "<message><body>&bogus;</body></message>",
        "<message><a xmlns='urn:x'><b><c><d/></c></b></a></message>",
        "<message/><presence type='unavailable'><show>away</show></presence><iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
        "<message><body>x</body></message><message><body>y</body></message>",
    ];

    /// The streams the equivalence tests read: the Prosody fixtures,
    /// [`MESSAGES`] under several limits, and every input of the
    /// `component_stream` fuzz corpus (with the limits the fuzz target
    /// derives from its first byte, and the defaults).
    fn equivalence_inputs() -> Vec<(Vec<u8>, Limits)> {
        let fixtures: [&[u8]; 4] = [
            HEADER,
            include_bytes!("../tests/fixtures/prosody-0.12-handshake-success.xml"),
            include_bytes!("../tests/fixtures/prosody-0.12-handshake-not-authorized.xml"),
            include_bytes!("../tests/fixtures/prosody-0.12-host-unknown.xml"),
        ];
        let mut inputs: Vec<(Vec<u8>, Limits)> = Vec::new();
        for f in fixtures {
            inputs.push((
                with_header(std::str::from_utf8(f).expect("utf-8")),
                Limits::default(),
            ));
        }
        for m in MESSAGES {
            inputs.push((with_header(m), Limits::default()));
            for depth in 1..4 {
                let limits = Limits {
                    max_stanza_bytes: 4096,
                    max_depth: depth,
                };
                inputs.push((with_header(m), limits));
            }
            let small = Limits {
                max_stanza_bytes: 64,
                ..Limits::default()
            };
            inputs.push((with_header(m), small));
        }
        let corpus = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fuzz/corpus/component_stream"
        );
        let mut from_corpus = 0;
        for entry in std::fs::read_dir(corpus).expect("fuzz corpus") {
            let data = std::fs::read(entry.expect("entry").path()).expect("read");
            let [seed, _, rest @ ..] = &data[..] else {
                continue;
            };
            let limits = Limits {
                max_stanza_bytes: 64 << (seed & 0x07),
                max_depth: usize::from(seed >> 4) + 1,
            };
            inputs.push((rest.to_vec(), limits));
            inputs.push((rest.to_vec(), Limits::default()));
            from_corpus += 1;
        }
        assert!(from_corpus > 100, "corpus has {from_corpus} inputs");
        inputs
    }

    /// Issue 24: reading a `<message/>` into the stanza as it arrives
    /// yields the items and the violation that building the element first
    /// did, over [`equivalence_inputs`].
    #[test]
    fn reading_messages_directly_equals_building_elements_first() {
        let mut messages = 0;
        for (bytes, limits) in &equivalence_inputs() {
            let direct = parse_bytes(bytes, *limits);
            let built = parse_building_elements(bytes, *limits);
            assert_eq!(direct, built, "{:?}", String::from_utf8_lossy(bytes));
            messages += direct
                .0
                .iter()
                .filter(|i| matches!(i, StreamItem::Stanza(s) if matches!(**s, Stanza::Message(_))))
                .count();
        }
        assert!(messages > 50, "only {messages} messages compared");
    }

    /// The streams of [`equivalence_inputs`] once each (limits aside), then
    /// each of `cases` after the Prosody header.
    fn equivalence_streams(cases: &[&[&str]]) -> Vec<Vec<u8>> {
        let mut streams: Vec<Vec<u8>> = equivalence_inputs().into_iter().map(|(b, _)| b).collect();
        streams.dedup();
        streams.extend(
            cases
                .iter()
                .flat_map(|c| c.iter())
                .map(|case| with_header(case)),
        );
        streams
    }

    /// Namespace declarations and prefixes of every kind XML Names and
    /// quick-xml tell apart, for `scopes_resolve_as_ns_reader_did`.
    const NAMESPACE_CASES: &[&str] = &[
        "<message xmlns:xml='http://www.w3.org/XML/1998/namespace'><xml:a/></message>",
        "<message xmlns:xml='urn:x'/>",
        "<message xmlns:xmlns='urn:x'/>",
        "<message xmlns:xmlns='http://www.w3.org/2000/xmlns/'/>",
        "<message xmlns:p='http://www.w3.org/XML/1998/namespace'/>",
        "<message xmlns:p='http://www.w3.org/2000/xmlns/'/>",
        "<message xmlns='http://www.w3.org/2000/xmlns/'><a/></message>",
        "<message xmlns='http://www.w3.org/XML/1998/namespace'><a/></message>",
        "<p:message xmlns:p='jabber:component:accept'><p:body>x</p:body><body/></p:message>",
        "<message xmlns:p='urn:p'><p:a/><b xmlns:p=''><p:c/></b><p:d/></message>",
        "<message xmlns=''><body/><a xmlns='urn:a'><b/><c xmlns=''/></a><d/></message>",
        "<message><a xmlns:p='urn:p'/><p:b/></message>",
        "<message><a xmlns:p='urn:p'></a><p:b/></message>",
        "<message><xml:a/><xmlns:b/><:c/><d:/><q:e/></message>",
        "<message xmlns:p='urn:&amp;p' xmlns='urn:&#x61;'><p:a/><b/></message>",
        "<message xmlns:p='urn:&bogus;p'><p:a/></message>",
        "<message a xmlns:p='urn:p'><p:b/></message>",
        "<message a='1' xmlns:p='u1' xmlns:p='u2'><p:x/></message>",
        "<message xmlns:p='u1' a='1' a='2' xmlns:q='u2'><q:x/></message>",
        "<message xmlnsfoo='x' id='xmlns'><xmlnsp:a/></message>",
        "<message xmlns:p='urn:p' xmlns:q='urn:q'><q:a xmlns:q='urn:r'><q:b/></q:a><q:c/></message>",
        "<message xmlns = 'urn:spaced' xmlns:p = \"urn:p\"><p:a/><b/></message>",
        "<stream:message/>",
    ];

    /// `count` declarations of distinct prefixes on one element.
    fn declarations(count: usize) -> String {
        (0..count)
            .map(|i| format!(" xmlns:p{i}='urn:{i}'"))
            .collect()
    }

    /// What a reader made of one start tag.
    #[derive(Debug, PartialEq)]
    enum Read {
        Bound(String),
        Unbound,
        Unknown(String),
        /// A declaration refused.
        Refused,
        /// Any other error, as quick-xml words it.
        Failed(String),
    }

    fn read_as(ns: ResolveResult<'_>) -> Read {
        match ns {
            ResolveResult::Bound(n) => Read::Bound(n.0.to_owned()),
            ResolveResult::Unbound => Read::Unbound,
            ResolveResult::Unknown(p) => Read::Unknown(p),
        }
    }

    /// Each start tag's namespace as quick-xml's `NsReader` resolved it
    /// before issue 24's cut, up to its first error.
    fn read_by_ns_reader(bytes: &[u8]) -> Vec<Read> {
        let mut reader = quick_xml::reader::NsReader::from_reader(bytes);
        configure(reader.config_mut());
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_resolved_event_into(&mut buf) {
                Ok((_, Event::Eof)) => return out,
                Ok((ns, Event::Start(_) | Event::Empty(_))) => out.push(read_as(ns)),
                Ok(_) => {}
                Err(quick_xml::Error::Namespace(_)) => {
                    out.push(Read::Refused);
                    return out;
                }
                Err(e) => {
                    out.push(Read::Failed(e.to_string()));
                    return out;
                }
            }
        }
    }

    /// The same with [`Scopes`], driven as `StreamParser` drives them.
    fn read_by_scopes(bytes: &[u8]) -> Vec<Read> {
        let mut reader = Reader::from_reader(bytes);
        configure(reader.config_mut());
        let mut scopes = Scopes::default();
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_event_into(&mut buf) {
                Ok(Event::Eof) => return out,
                Ok(Event::Start(start) | Event::Empty(start)) if scopes.open(&start).is_err() => {
                    out.push(Read::Refused);
                    return out;
                }
                Ok(Event::Start(start)) => out.push(read_as(scopes.resolve_element(start.name()))),
                Ok(Event::Empty(start)) => {
                    out.push(read_as(scopes.resolve_element(start.name())));
                    scopes.close();
                }
                Ok(Event::End(_)) => scopes.close(),
                Ok(_) => {}
                Err(e) => {
                    out.push(Read::Failed(e.to_string()));
                    return out;
                }
            }
        }
    }

    /// Issue 24: the parser's own namespace scopes resolve every start tag
    /// as quick-xml's `NsReader` did, and refuse the same declarations,
    /// over [`equivalence_inputs`], [`NAMESPACE_CASES`], and elements with
    /// declarations around quick-xml's limit of 128 in scope.
    #[test]
    fn scopes_resolve_as_ns_reader_did() {
        let mut inputs = equivalence_streams(&[NAMESPACE_CASES]);
        for count in [127, 128, 129] {
            inputs.push(with_header(&format!(
                "<message{}><p0:a/></message>",
                declarations(count)
            )));
        }
        // 64 on the parent; the child's are refused from the 65th on, and
        // room comes back when the child closes.
        for count in [63, 64, 65] {
            inputs.push(with_header(&format!(
                "<message{}><a{}/><b{}><p1:c/></b></message>",
                declarations(62),
                declarations(count),
                declarations(count.min(64)),
            )));
        }
        let (mut refused, mut bound, mut unknown) = (0, 0, 0);
        for bytes in &inputs {
            let before = read_by_ns_reader(bytes);
            let now = read_by_scopes(bytes);
            assert_eq!(before, now, "{:?}", String::from_utf8_lossy(bytes));
            for r in &now {
                match r {
                    Read::Refused => refused += 1,
                    Read::Bound(_) => bound += 1,
                    Read::Unknown(_) => unknown += 1,
                    _ => {}
                }
            }
        }
        assert!(refused >= 8, "only {refused} refusals compared");
        assert!(unknown >= 20, "only {unknown} unknown prefixes compared");
        assert!(bound > 300, "only {bound} namespaces compared");
    }

    /// Attribute spellings around what [`attrs::plain`] takes.
    const ATTRIBUTE_CASES: &[&str] = &[
        "<message to='a' from=\"b\" id='c' type='chat' xml:lang='en'/>",
        "<message to='a'from='b'/>",
        "<message to = 'a' from= 'b' id ='c'/>",
        "<message\tto='a'\r\nfrom='b'\n/>",
        "<message to='a' to='b'/>",
        "<message to='a' to=\"a\"/>",
        "<message to='a\tb' id='c\nd' from='e\r\nf'/>",
        "<message to='&amp;' id='&#x41;' from='&lt;&gt;&apos;&quot;'/>",
        "<message to='&bogus;'/>",
        "<message to='a&b'/>",
        "<message to='\u{1}'/>",
        "<message to='\u{fffe}' id='\u{ffef}' from='\u{efff}'/>",
        "<message to='caf\u{e9} \u{1f339}'/>",
        "<message to='a\"b' id=\"c'd\"/>",
        "<message to=a/>",
        "<message to/>",
        "<message to='a/>",
        "<message to='a' b/>",
        "<message =''/>",
        "<message \u{e9}t\u{e9}='x'/>",
        "<message a-b.c_d:e='1' xmlns:f='urn:f' f:g='2' xmlns='jabber:component:accept'/>",
        "<message a1='1' a2='2' a3='3' a4='4' a5='5' a6='6' a7='7' a8='8'/>",
        "<message a1='1' a2='2' a3='3' a4='4' a5='5' a6='6' a7='7' a8='8' a9='9'/>",
        "<message a1='1' a2='2' a3='3' a4='4' a5='5' a6='6' a7='7' a8='8' a1='9'/>",
        "<message><body a='&lt;' b='<'>x</body></message>",
        "<message to='' id=\"\"/>",
        "<message to='a'   />",
    ];

    /// What reading a tag's attributes gave: the pairs passed on, then the
    /// violation if there was one.
    fn attributes_read(
        start: &BytesStart<'_>,
        read: impl for<'a> Fn(
            &'a BytesStart<'_>,
            &mut dyn FnMut(&str, Cow<'a, str>),
        ) -> Result<(), StreamError>,
    ) -> (Vec<(String, String)>, Option<StreamError>) {
        let mut pairs = Vec::new();
        let result = read(start, &mut |k, v| {
            pairs.push((k.to_owned(), v.into_owned()))
        });
        (pairs, result.err())
    }

    /// Issue 24: [`each_attribute`] passes on the pairs, and reports the
    /// violation, that reading every tag with quick-xml did, for every start
    /// tag of [`equivalence_inputs`] and [`ATTRIBUTE_CASES`].
    #[test]
    fn plain_attributes_read_as_quick_xml_reads_them() {
        let inputs = equivalence_streams(&[ATTRIBUTE_CASES, NAMESPACE_CASES, MESSAGES]);
        let (mut plain, mut general, mut refused) = (0, 0, 0);
        for bytes in &inputs {
            let mut reader = Reader::from_reader(&bytes[..]);
            configure(reader.config_mut());
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let start = match reader.read_event_into(&mut buf) {
                    Ok(Event::Start(start) | Event::Empty(start)) => start,
                    Ok(Event::Eof) | Err(_) => break,
                    Ok(_) => continue,
                };
                let now = attributes_read(&start, |s, f| each_attribute(s, f));
                let before = attributes_read(&start, |s, f| each_attribute_read_by_quick_xml(s, f));
                assert_eq!(now, before, "{:?}", &*start);
                if now.1.is_some() {
                    refused += 1;
                } else if attrs::plain(start.attributes_raw()).is_some() {
                    plain += 1;
                } else {
                    general += 1;
                }
            }
        }
        assert!(plain > 400, "only {plain} plain tags compared");
        assert!(general > 40, "only {general} other tags compared");
        assert!(refused > 100, "only {refused} refused tags compared");
    }

    /// `all_xml_chars` answers what checking each character did, for every
    /// ASCII character, the characters around U+FFFE, and pairs of them.
    #[test]
    fn bytewise_char_check_equals_per_character_check() {
        let chars = crate::stanza::chars_near_the_byte_checks();
        for &a in &chars {
            for &b in &chars {
                let s = format!("x{a}{b}");
                assert_eq!(all_xml_chars(&s), s.chars().all(is_xml_char), "{s:?}");
            }
        }
    }
}

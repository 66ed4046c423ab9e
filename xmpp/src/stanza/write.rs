//! Writing stanzas as XML bytes for the component stream.
//!
//! Every attribute value and every text node is escaped here and nowhere else.
//! RFC 6120 §11.1: we never emit comments, PIs, DTDs or entity references other
//! than the predefined ones and character references. Characters that XML 1.0
//! §2.2 does not allow at all (most C0 controls, U+FFFE, U+FFFF) cannot be
//! escaped either, so they are replaced with U+FFFD rather than producing a
//! stream the server would close.
//!
//! The writers are generic over [`Out`] so [`Stanza::write_to`] appends to the
//! caller's byte buffer directly, without a `String` in between (issue 24).

use super::{
    Element, Iq, Message, NS_COMPONENT, Node, Presence, Stanza, StanzaError, error::NS_STANZAS,
};

/// Where XML text goes: a `String` or the bytes of the stream's write buffer.
/// Only ever given `str`s, so a `Vec<u8>` stays UTF-8.
pub(crate) trait Out {
    /// Append `s`.
    fn put(&mut self, s: &str);
}

impl Out for String {
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
}

impl Out for Vec<u8> {
    fn put(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
}

impl Stanza {
    /// Append this stanza's XML to `out`, as a first-level element of a
    /// `jabber:component:accept` stream (so its own namespace is implied).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        self.write_xml(out);
    }

    /// This stanza's XML as a string (see [`Stanza::write_to`]).
    pub fn to_xml(&self) -> String {
        let mut s = String::with_capacity(256);
        self.write_xml(&mut s);
        s
    }

    fn write_xml(&self, out: &mut impl Out) {
        match self {
            Stanza::Message(m) => m.write_xml(out),
            Stanza::Presence(p) => p.write_xml(out),
            Stanza::Iq(iq) => iq.write_xml(out),
        }
    }
}

impl Message {
    fn write_xml(&self, out: &mut impl Out) {
        out.put("<message");
        attr_opt(out, "from", self.from.as_deref());
        attr_opt(out, "to", self.to.as_deref());
        attr_opt(out, "id", self.id.as_deref());
        attr_opt(out, "type", self.message_type.map(|t| t.name()));
        attr_opt(out, "xml:lang", self.lang.as_deref());
        out.put(">");
        text_child_opt(out, "subject", self.subject.as_deref());
        text_child_opt(out, "body", self.body.as_deref());
        text_child_opt(out, "thread", self.thread.as_deref());
        for p in &self.payloads {
            p.write_xml(out, NS_COMPONENT);
        }
        if let Some(e) = &self.error {
            e.write_xml(out);
        }
        out.put("</message>");
    }
}

impl Presence {
    fn write_xml(&self, out: &mut impl Out) {
        out.put("<presence");
        attr_opt(out, "from", self.from.as_deref());
        attr_opt(out, "to", self.to.as_deref());
        attr_opt(out, "id", self.id.as_deref());
        attr_opt(out, "type", self.presence_type.map(|t| t.name()));
        attr_opt(out, "xml:lang", self.lang.as_deref());
        out.put(">");
        text_child_opt(out, "show", self.show.map(|s| s.name()));
        text_child_opt(out, "status", self.status.as_deref());
        if let Some(p) = self.priority {
            out.put("<priority>");
            out.put(&p.to_string());
            out.put("</priority>");
        }
        for p in &self.payloads {
            p.write_xml(out, NS_COMPONENT);
        }
        if let Some(e) = &self.error {
            e.write_xml(out);
        }
        out.put("</presence>");
    }
}

impl Iq {
    fn write_xml(&self, out: &mut impl Out) {
        out.put("<iq");
        attr_opt(out, "from", self.from.as_deref());
        attr_opt(out, "to", self.to.as_deref());
        attr(out, "id", &self.id);
        attr(out, "type", self.iq_type.name());
        out.put(">");
        if let Some(p) = &self.payload {
            p.write_xml(out, NS_COMPONENT);
        }
        if let Some(e) = &self.error {
            e.write_xml(out);
        }
        out.put("</iq>");
    }
}

impl StanzaError {
    /// RFC 6120 §8.3.2: `<error type='…' by='…'><condition xmlns='…stanzas'/><text/></error>`.
    fn write_xml(&self, out: &mut impl Out) {
        out.put("<error");
        attr(out, "type", self.error_type.name());
        attr_opt(out, "by", self.by.as_deref());
        out.put("><");
        out.put(self.condition.name());
        attr(out, "xmlns", NS_STANZAS);
        match &self.alt {
            Some(alt) => {
                out.put(">");
                escape_text(out, alt);
                out.put("</");
                out.put(self.condition.name());
                out.put(">");
            }
            None => out.put("/>"),
        }
        if let Some(t) = &self.text {
            out.put("<text");
            attr(out, "xmlns", NS_STANZAS);
            out.put(">");
            escape_text(out, t);
            out.put("</text>");
        }
        out.put("</error>");
    }
}

impl Element {
    /// Write this element, declaring its namespace when it differs from the
    /// parent's (`parent_ns`).
    pub fn write_to(&self, out: &mut Vec<u8>, parent_ns: &str) {
        self.write_xml(out, parent_ns);
    }

    fn write_xml(&self, out: &mut impl Out, parent_ns: &str) {
        out.put("<");
        out.put(&self.name);
        if self.ns != parent_ns {
            attr(out, "xmlns", &self.ns);
        }
        for (k, v) in &self.attrs {
            attr(out, k, v);
        }
        if self.children.is_empty() {
            out.put("/>");
            return;
        }
        out.put(">");
        for child in &self.children {
            match child {
                Node::Element(e) => e.write_xml(out, &self.ns),
                Node::Text(t) => escape_text(out, t),
            }
        }
        out.put("</");
        out.put(&self.name);
        out.put(">");
    }
}

fn attr_opt(out: &mut impl Out, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        attr(out, name, v);
    }
}

pub(crate) fn attr(out: &mut impl Out, name: &str, value: &str) {
    out.put(" ");
    out.put(name);
    out.put("='");
    escape_attr(out, value);
    out.put("'");
}

fn text_child_opt(out: &mut impl Out, name: &str, text: Option<&str>) {
    if let Some(t) = text {
        out.put("<");
        out.put(name);
        out.put(">");
        escape_text(out, t);
        out.put("</");
        out.put(name);
        out.put(">");
    }
}

/// Escape character data. `\r` becomes `&#xD;` so XML 1.0 §2.11 end-of-line
/// handling does not turn `\r\n` into `\n` at the receiver.
pub(crate) fn escape_text(out: &mut impl Out, s: &str) {
    escape(out, s, &TEXT_PLAIN, |b| match b {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'\r' => Some("&#xD;"),
        b'\t' | b'\n' => None,
        ..=0x1f => Some(REPLACEMENT),
        _ => None,
    });
}

/// Escape an attribute value written between single quotes. Whitespace other
/// than space is written as character references so XML 1.0 §3.3.3
/// attribute-value normalisation keeps it.
pub(crate) fn escape_attr(out: &mut impl Out, s: &str) {
    escape(out, s, &ATTR_PLAIN, |b| match b {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'\'' => Some("&apos;"),
        b'"' => Some("&quot;"),
        b'\t' => Some("&#x9;"),
        b'\n' => Some("&#xA;"),
        b'\r' => Some("&#xD;"),
        ..=0x1f => Some(REPLACEMENT),
        _ => None,
    });
}

/// [`escape_text`]'s bytes written as they are: see [`escape`].
const TEXT_PLAIN: [bool; 256] = plain_bytes(b"&<>\r");

/// [`escape_attr`]'s bytes written as they are: see [`escape`].
const ATTR_PLAIN: [bool; 256] = plain_bytes(b"&<>'\"\t\n\r");

/// Every byte but the C0 controls other than tab and LF, `EF`, and `special`.
const fn plain_bytes(special: &[u8]) -> [bool; 256] {
    let mut plain = [true; 256];
    let mut b = 0;
    while b < 0x20 {
        plain[b] = b == 0x09 || b == 0x0a;
        b += 1;
    }
    plain[0xef] = false;
    let mut i = 0;
    while i < special.len() {
        plain[special[i] as usize] = false;
        i += 1;
    }
    plain
}

/// U+FFFD, written for a character XML 1.0 §2.2 `Char` does not allow.
const REPLACEMENT: &str = "\u{FFFD}";

/// Copies `s` to `out` in runs, writing `ascii(b)` in place of an ASCII
/// byte that has one. Of the non-ASCII characters only U+FFFE and U+FFFF
/// (UTF-8 `EF BF BE`, `EF BF BF`) are outside XML 1.0 §2.2 `Char`: a `str`
/// holds no surrogates. Every cut is before an ASCII byte or a three-byte
/// sequence's lead byte, so each run is whole characters.
///
/// `plain` says which bytes need no look at all (issue 24: a table read per
/// byte rather than the match, over every body and attribute written): the
/// ASCII bytes `ascii` keeps, and every non-ASCII byte but `EF`.
fn escape(
    out: &mut impl Out,
    s: &str,
    plain: &[bool; 256],
    ascii: impl Fn(u8) -> Option<&'static str>,
) {
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        while bytes.get(i).is_some_and(|&b| plain[usize::from(b)]) {
            i += 1;
        }
        let Some(&b) = bytes.get(i) else {
            break;
        };
        let (with, len) = if b < 0x80 {
            match ascii(b) {
                Some(with) => (with, 1),
                None => {
                    i += 1;
                    continue;
                }
            }
        } else if b == 0xef
            && bytes.get(i + 1) == Some(&0xbf)
            && matches!(bytes.get(i + 2), Some(0xbe | 0xbf))
        {
            (REPLACEMENT, 3)
        } else {
            i += 1;
            continue;
        };
        out.put(&s[run..i]);
        out.put(with);
        i += len;
        run = i;
    }
    out.put(&s[run..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stanza::{DefinedCondition, IqType, MessageType};

    #[test]
    fn message_attributes_and_body_are_escaped() {
        let m = Stanza::Message(Message {
            from: Some("a'b@sip.example".into()),
            to: Some("juliet@xmpp.example".into()),
            message_type: Some(MessageType::Chat),
            body: Some("1 < 2 & \"3\" > 0 ]]>".into()),
            ..Default::default()
        });
        assert_eq!(
            m.to_xml(),
            "<message from='a&apos;b@sip.example' to='juliet@xmpp.example' type='chat'>\
             <body>1 &lt; 2 &amp; \"3\" &gt; 0 ]]&gt;</body></message>"
        );
    }

    #[test]
    fn control_characters_never_reach_the_wire() {
        let mut s = String::new();
        escape_text(&mut s, "a\u{0}b\u{1b}c\u{FFFF}");
        assert_eq!(s, "a\u{FFFD}b\u{FFFD}c\u{FFFD}");
    }

    #[test]
    fn iq_error_carries_condition_in_stanzas_namespace() {
        let iq = Stanza::Iq(Iq {
            from: Some("sip.example".into()),
            to: Some("juliet@xmpp.example/r".into()),
            id: "x1".into(),
            iq_type: IqType::Error,
            payload: None,
            error: Some(StanzaError::new(DefinedCondition::ServiceUnavailable)),
        });
        assert_eq!(
            iq.to_xml(),
            "<iq from='sip.example' to='juliet@xmpp.example/r' id='x1' type='error'>\
             <error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        );
    }

    #[test]
    fn payload_in_foreign_namespace_declares_it_once() {
        let mut query = Element::new("query", "http://jabber.org/protocol/disco#info");
        let mut feature = Element::new("feature", "http://jabber.org/protocol/disco#info");
        feature.attrs.push(("var".into(), "urn:xmpp:ping".into()));
        query.children.push(Node::Element(feature));
        let mut out = Vec::new();
        query.write_to(&mut out, NS_COMPONENT);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "<query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:xmpp:ping'/></query>"
        );
    }

    /// XML 1.0 §2.2 `Char`: the character-at-a-time escaping the run-based
    /// one replaced (issue 24), kept as the reference it must equal.
    fn is_xml_char(c: char) -> bool {
        matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    }

    fn reference_escape(s: &str, attr: bool) -> String {
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '\'' if attr => out.push_str("&apos;"),
                '"' if attr => out.push_str("&quot;"),
                '\t' if attr => out.push_str("&#x9;"),
                '\n' if attr => out.push_str("&#xA;"),
                '\r' => out.push_str("&#xD;"),
                c if is_xml_char(c) => out.push(c),
                _ => out.push('\u{FFFD}'),
            }
        }
        out
    }

    /// The run-based escaping writes what escaping one character at a time
    /// wrote, for every ASCII character, the characters around U+FFFE, and
    /// strings that mix them (issue 24: same bytes on the wire).
    #[test]
    fn run_based_escaping_equals_per_character_escaping() {
        let chars = crate::stanza::chars_near_the_byte_checks();
        let mut inputs: Vec<String> = Vec::new();
        for &a in &chars {
            inputs.push(a.to_string());
            for &b in &chars {
                inputs.push(format!("{a}{b}x"));
            }
        }
        inputs.push("Wherefore art thou, Romeo? <3 & \u{1F339}\r\n\t'\"]]>\u{ffff}".into());
        for input in &inputs {
            let mut text = String::new();
            escape_text(&mut text, input);
            assert_eq!(text, reference_escape(input, false), "text {input:?}");
            let mut value = Vec::new();
            escape_attr(&mut value, input);
            assert_eq!(
                String::from_utf8(value).expect("utf-8"),
                reference_escape(input, true),
                "attribute {input:?}"
            );
        }
    }
}

//! Writing stanzas as XML bytes for the component stream.
//!
//! Every attribute value and every text node is escaped here and nowhere else.
//! RFC 6120 §11.1: we never emit comments, PIs, DTDs or entity references other
//! than the predefined ones and character references. Characters that XML 1.0
//! §2.2 does not allow at all (most C0 controls, U+FFFE, U+FFFF) cannot be
//! escaped either, so they are replaced with U+FFFD rather than producing a
//! stream the server would close.

use super::{
    Element, Iq, Message, NS_COMPONENT, Node, Presence, Stanza, StanzaError, error::NS_STANZAS,
};

impl Stanza {
    /// Append this stanza's XML to `out`, as a first-level element of a
    /// `jabber:component:accept` stream (so its own namespace is implied).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut s = String::with_capacity(256);
        self.write_to_string(&mut s);
        out.extend_from_slice(s.as_bytes());
    }

    /// This stanza's XML as a string (see [`Stanza::write_to`]).
    pub fn to_xml(&self) -> String {
        let mut s = String::with_capacity(256);
        self.write_to_string(&mut s);
        s
    }

    fn write_to_string(&self, out: &mut String) {
        match self {
            Stanza::Message(m) => m.write_xml(out),
            Stanza::Presence(p) => p.write_xml(out),
            Stanza::Iq(iq) => iq.write_xml(out),
        }
    }
}

impl Message {
    fn write_xml(&self, out: &mut String) {
        out.push_str("<message");
        attr_opt(out, "from", self.from.as_deref());
        attr_opt(out, "to", self.to.as_deref());
        attr_opt(out, "id", self.id.as_deref());
        attr_opt(out, "type", self.message_type.map(|t| t.name()));
        attr_opt(out, "xml:lang", self.lang.as_deref());
        out.push('>');
        text_child_opt(out, "subject", self.subject.as_deref());
        text_child_opt(out, "body", self.body.as_deref());
        text_child_opt(out, "thread", self.thread.as_deref());
        for p in &self.payloads {
            p.write_xml(out, NS_COMPONENT);
        }
        if let Some(e) = &self.error {
            e.write_xml(out);
        }
        out.push_str("</message>");
    }
}

impl Presence {
    fn write_xml(&self, out: &mut String) {
        out.push_str("<presence");
        attr_opt(out, "from", self.from.as_deref());
        attr_opt(out, "to", self.to.as_deref());
        attr_opt(out, "id", self.id.as_deref());
        attr_opt(out, "type", self.presence_type.map(|t| t.name()));
        attr_opt(out, "xml:lang", self.lang.as_deref());
        out.push('>');
        text_child_opt(out, "show", self.show.map(|s| s.name()));
        text_child_opt(out, "status", self.status.as_deref());
        if let Some(p) = self.priority {
            out.push_str("<priority>");
            out.push_str(&p.to_string());
            out.push_str("</priority>");
        }
        for p in &self.payloads {
            p.write_xml(out, NS_COMPONENT);
        }
        if let Some(e) = &self.error {
            e.write_xml(out);
        }
        out.push_str("</presence>");
    }
}

impl Iq {
    fn write_xml(&self, out: &mut String) {
        out.push_str("<iq");
        attr_opt(out, "from", self.from.as_deref());
        attr_opt(out, "to", self.to.as_deref());
        attr(out, "id", &self.id);
        attr(out, "type", self.iq_type.name());
        out.push('>');
        if let Some(p) = &self.payload {
            p.write_xml(out, NS_COMPONENT);
        }
        if let Some(e) = &self.error {
            e.write_xml(out);
        }
        out.push_str("</iq>");
    }
}

impl StanzaError {
    /// RFC 6120 §8.3.2: `<error type='…' by='…'><condition xmlns='…stanzas'/><text/></error>`.
    fn write_xml(&self, out: &mut String) {
        out.push_str("<error");
        attr(out, "type", self.error_type.name());
        attr_opt(out, "by", self.by.as_deref());
        out.push_str("><");
        out.push_str(self.condition.name());
        attr(out, "xmlns", NS_STANZAS);
        match &self.alt {
            Some(alt) => {
                out.push('>');
                escape_text(out, alt);
                out.push_str("</");
                out.push_str(self.condition.name());
                out.push('>');
            }
            None => out.push_str("/>"),
        }
        if let Some(t) = &self.text {
            out.push_str("<text");
            attr(out, "xmlns", NS_STANZAS);
            out.push('>');
            escape_text(out, t);
            out.push_str("</text>");
        }
        out.push_str("</error>");
    }
}

impl Element {
    /// Write this element, declaring its namespace when it differs from the
    /// parent's (`parent_ns`).
    pub fn write_to(&self, out: &mut Vec<u8>, parent_ns: &str) {
        let mut s = String::new();
        self.write_xml(&mut s, parent_ns);
        out.extend_from_slice(s.as_bytes());
    }

    fn write_xml(&self, out: &mut String, parent_ns: &str) {
        out.push('<');
        out.push_str(&self.name);
        if self.ns != parent_ns {
            attr(out, "xmlns", &self.ns);
        }
        for (k, v) in &self.attrs {
            attr(out, k, v);
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for child in &self.children {
            match child {
                Node::Element(e) => e.write_xml(out, &self.ns),
                Node::Text(t) => escape_text(out, t),
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

fn attr_opt(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        attr(out, name, v);
    }
}

pub(crate) fn attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("='");
    escape_attr(out, value);
    out.push('\'');
}

fn text_child_opt(out: &mut String, name: &str, text: Option<&str>) {
    if let Some(t) = text {
        out.push('<');
        out.push_str(name);
        out.push('>');
        escape_text(out, t);
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
}

/// XML 1.0 §2.2 `Char`: the characters allowed in a document at all.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Escape character data. `\r` becomes `&#xD;` so XML 1.0 §2.11 end-of-line
/// handling does not turn `\r\n` into `\n` at the receiver.
pub(crate) fn escape_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

/// Escape an attribute value written between single quotes. Whitespace other
/// than space is written as character references so XML 1.0 §3.3.3
/// attribute-value normalisation keeps it.
pub(crate) fn escape_attr(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
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
}

//! Reading and writing the small XML documents SIP bodies carry (PIDF,
//! isComposing, IMDN) into the `Element` tree the `xmpp` crate already has.
//!
//! Hostile input is bounded (crates.md §5): no DTD (a `<!DOCTYPE` is refused,
//! so no entity can be declared or expanded), only the five predefined
//! entities and character references, a document size, depth and element
//! count limit, and every character checked against XML 1.0 `Char`.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use parley_xmpp::stanza::{Element, Node};

/// Bounds on a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Maximum document size in bytes.
    pub max_bytes: usize,
    /// Maximum element nesting depth.
    pub max_depth: usize,
    /// Maximum number of elements.
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024,
            max_depth: 32,
            max_elements: 4096,
        }
    }
}

/// Parse one document into its root element, or say why not (a short reason
/// for logs; never sent to a peer).
pub(crate) fn parse(bytes: &[u8], limits: Limits) -> Result<Element, &'static str> {
    if bytes.len() > limits.max_bytes {
        return Err("document too large");
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "document is not UTF-8")?;
    let mut reader = NsReader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut elements = 0usize;
    let mut root: Option<Element> = None;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|_| "not well-formed")?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err("content after the root element");
                }
                elements += 1;
                if stack.len() >= limits.max_depth || elements > limits.max_elements {
                    return Err("document too deep or too large");
                }
                let ns = match ns {
                    ResolveResult::Bound(ns) => AsRef::<str>::as_ref(&ns).to_owned(),
                    ResolveResult::Unbound => String::new(),
                    ResolveResult::Unknown(_) => return Err("undeclared namespace prefix"),
                };
                let name = AsRef::<str>::as_ref(&start.local_name()).to_owned();
                let mut element = Element::new(name, ns);
                for attr in start.attributes() {
                    let attr = attr.map_err(|_| "bad attribute")?;
                    if attr.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let key = attribute_key(&reader, attr.key)?;
                    let value = attr
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|_| "bad attribute value")?;
                    check_chars(&value)?;
                    element.attrs.push((key, value.into_owned()));
                }
                stack.push(element);
            }
            Event::End(_) => {
                let done = stack.pop().ok_or("unbalanced end tag")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(done)),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => push_text(&mut stack, &t.xml10_content())?,
            Event::CData(t) => push_text(&mut stack, &t.xml10_content())?,
            Event::GeneralRef(r) => {
                let c = match r
                    .resolve_char_ref()
                    .map_err(|_| "bad character reference")?
                {
                    Some(c) => c,
                    None => match &*r {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        _ => return Err("undeclared entity"),
                    },
                };
                push_text(&mut stack, c.encode_utf8(&mut [0; 4]))?;
            }
            Event::DocType(_) => return Err("DTD not allowed"),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Empty(_) => return Err("unexpected empty element event"),
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err("document ends inside an element");
    }
    root.ok_or("no root element")
}

/// An attribute's key: as written when unprefixed or `xml:` (`xml:lang`);
/// a prefixed attribute of another namespace in Clark notation
/// (`{urn:ietf:params:xml:ns:xcon-conference-info}nickname`, RFC 6501), so a
/// reader matches the namespace, never a prefix the sender chose.
fn attribute_key(
    reader: &NsReader<&[u8]>,
    key: quick_xml::name::QName<'_>,
) -> Result<String, &'static str> {
    let written: &str = key.as_ref();
    if key.prefix().is_none() || written.starts_with("xml:") {
        return Ok(written.to_owned());
    }
    match reader.resolver().resolve_attribute(key) {
        (ResolveResult::Bound(ns), local) => Ok(format!(
            "{{{}}}{}",
            AsRef::<str>::as_ref(&ns),
            AsRef::<str>::as_ref(&local)
        )),
        _ => Err("undeclared namespace prefix"),
    }
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), &'static str> {
    check_chars(text)?;
    match stack.last_mut() {
        Some(parent) => {
            if let Some(Node::Text(prev)) = parent.children.last_mut() {
                prev.push_str(text);
            } else {
                parent.children.push(Node::Text(text.to_owned()));
            }
            Ok(())
        }
        // Whitespace between prolog and root is fine; other text is not.
        None if text.chars().all(|c| c.is_ascii_whitespace()) => Ok(()),
        None => Err("text outside the root element"),
    }
}

/// XML 1.0 §2.2 `Char`.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Whether every character of `text` is an XML 1.0 `Char`: what
/// `text.chars().all(is_xml_char)` says, without decoding characters
/// (`tests::xml_text_is_every_char_an_xml_char`).
pub(crate) fn is_xml_text(text: &str) -> bool {
    // In a Rust string only C0 controls and U+FFFE/U+FFFF can break XML 1.0
    // `Char` (surrogates cannot occur), so a byte scan plus two searches
    // decide it without decoding characters.
    let controls_ok = text
        .bytes()
        .all(|b| b >= 0x20 || matches!(b, b'\t' | b'\n' | b'\r'));
    controls_ok && (text.is_ascii() || !text.contains(['\u{FFFE}', '\u{FFFF}']))
}

fn check_chars(text: &str) -> Result<(), &'static str> {
    if is_xml_text(text) {
        Ok(())
    } else {
        Err("character not allowed in XML 1.0")
    }
}

/// Escape character data (`&`, `<`, `>`).
pub(crate) fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // Keep a CR from being normalized away on the other side.
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// Escape an attribute value for use inside double quotes.
pub(crate) fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// Child elements of `e` with this namespace, any name.
pub(crate) fn children_in<'a>(
    e: &'a Element,
    ns: &'a str,
) -> impl Iterator<Item = &'a Element> + 'a {
    e.children.iter().filter_map(move |n| match n {
        Node::Element(c) if c.ns == ns => Some(c),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The byte scan of `is_xml_text` says what a check of each character does.
    #[test]
    fn xml_text_is_every_char_an_xml_char() {
        let chars = [
            'a',
            ' ',
            '\t',
            '\n',
            '\r',
            '\0',
            '\u{1}',
            '\u{1f}',
            '\u{7f}',
            '\u{80}',
            'é',
            '\u{D7FF}',
            '\u{E000}',
            '\u{FFFD}',
            '\u{FFFE}',
            '\u{FFFF}',
            '\u{10000}',
            '\u{10FFFF}',
        ];
        for a in chars {
            for b in chars {
                let text = format!("x{a}{b}y");
                assert_eq!(
                    is_xml_text(&text),
                    text.chars().all(is_xml_char),
                    "{text:?}"
                );
            }
        }
        assert!(is_xml_text(""));
    }

    #[test]
    fn resolves_namespaces_entities_and_char_refs() {
        let doc = br#"<?xml version="1.0"?><a xmlns="urn:a" xmlns:b="urn:b" x="1 &amp; 2"><b:c xml:lang="en">x &lt;3 &#x2713;<![CDATA[<y>]]></b:c></a>"#;
        let root = parse(doc, Limits::default()).unwrap();
        assert_eq!((root.name.as_str(), root.ns.as_str()), ("a", "urn:a"));
        assert_eq!(root.attr("x"), Some("1 & 2"));
        let c = root.child("c", "urn:b").unwrap();
        assert_eq!(c.attr("xml:lang"), Some("en"));
        assert_eq!(c.text(), "x <3 ✓<y>");
    }

    #[test]
    fn prefixed_attributes_are_keyed_by_namespace_not_prefix() {
        let doc = br#"<a xmlns="urn:a" xmlns:x="urn:x" x:n="1" xml:lang="en" b="2"/>"#;
        let root = parse(doc, Limits::default()).unwrap();
        assert_eq!(root.attr("{urn:x}n"), Some("1"));
        assert_eq!(root.attr("xml:lang"), Some("en"));
        assert_eq!(root.attr("b"), Some("2"));
        assert_eq!(
            parse(br#"<a y:n="1"/>"#, Limits::default()),
            Err("undeclared namespace prefix")
        );
    }

    /// crates.md §5 pitfall 1: a DTD is refused, so no entity is ever expanded.
    #[test]
    fn refuses_dtd_and_unknown_entities() {
        let xxe = br#"<!DOCTYPE a [<!ENTITY x "boom">]><a>&x;</a>"#;
        assert_eq!(parse(xxe, Limits::default()), Err("DTD not allowed"));
        assert_eq!(
            parse(b"<a>&x;</a>", Limits::default()),
            Err("undeclared entity")
        );
    }

    #[test]
    fn enforces_depth_size_and_well_formedness() {
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert!(parse(deep.as_bytes(), Limits::default()).is_err());
        let limits = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        assert!(parse(b"<a>0123456789</a>", limits).is_err());
        for bad in [
            &b"<a>"[..],
            b"<a></b>",
            b"",
            b"<a/><b/>",
            b"<p:a/>",
            b"<a>\x01</a>",
        ] {
            assert!(parse(bad, Limits::default()).is_err(), "{bad:?}");
        }
    }
}

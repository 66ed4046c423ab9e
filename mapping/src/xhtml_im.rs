//! RFC 7572 §7 and XEP-0071: a SIP `text/html` body becomes XHTML-IM, plus
//! the plain-text `<body/>` XEP-0071 §8 requires beside it.
//!
//! HTML from a phone is not XML, so this is a small tolerant tokenizer, not an
//! XML parse. Only the XEP-0071 §7 recommended profile survives: `<p> <br>
//! <span> <strong> <em> <cite> <blockquote> <a href> <ul> <ol> <li>`, with the
//! §7 recommended style properties; `<b>`/`<i>` become `<strong>`/`<em>`,
//! `<div>`/`<h1-6>` become `<p>`, `<script>`, `<style>`, `<head>` are dropped with
//! their content, and every other tag is unwrapped (its text kept).

use parley_xmpp::stanza::{Element, Node};

use crate::failure::MappingError;
use crate::xml::is_xml_char;

/// XEP-0071 wrapper namespace.
pub(crate) const NS_XHTML_IM: &str = "http://jabber.org/protocol/xhtml-im";
/// The XHTML namespace of the inner `<body/>`.
pub(crate) const NS_XHTML: &str = "http://www.w3.org/1999/xhtml";

/// Nesting bound; deeper tags are unwrapped (design §5: every input has a bound).
const MAX_DEPTH: usize = 32;

/// XEP-0071 §7: the recommended CSS1 properties.
const STYLE_PROPERTIES: [&str; 10] = [
    "background-color",
    "color",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "margin-left",
    "margin-right",
    "text-align",
    "text-decoration",
];

/// The plain text and the `<html xmlns='…xhtml-im'>` payload for an HTML body.
pub(crate) fn from_html(html: &str) -> Result<(String, Element), MappingError> {
    if !html.chars().all(is_xml_char) {
        return Err(MappingError::InvalidBody {
            reason: "body holds characters XML 1.0 cannot carry",
        });
    }
    let mut stack: Vec<Element> = vec![Element::new("body", NS_XHTML)];
    let mut skip_until: Option<String> = None;
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            push_text(&mut stack, skip_until.is_none(), rest);
            break;
        };
        push_text(&mut stack, skip_until.is_none(), &rest[..lt]);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |i| &after[i + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else {
            // A '<' that opens no tag is text.
            push_text(&mut stack, skip_until.is_none(), rest);
            break;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with(['!', '?']) {
            continue;
        }
        let (closing, tag) = match tag.strip_prefix('/') {
            Some(t) => (true, t),
            None => (false, tag),
        };
        let name_end = tag
            .find(|c: char| c.is_ascii_whitespace() || c == '/')
            .unwrap_or(tag.len());
        let name = tag[..name_end].to_ascii_lowercase();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            push_text(&mut stack, skip_until.is_none(), &format!("<{tag}>"));
            continue;
        }
        if let Some(skipping) = &skip_until {
            if closing && *skipping == name {
                skip_until = None;
            }
            continue;
        }
        if matches!(name.as_str(), "script" | "style" | "head" | "title") {
            if !closing && !tag.ends_with('/') {
                skip_until = Some(name);
            }
            continue;
        }
        let Some(mapped) = map_element(&name) else {
            continue; // unwrap: the tag goes, its text stays
        };
        if closing {
            close(&mut stack, mapped);
            continue;
        }
        let mut element = Element::new(mapped, NS_XHTML);
        for (attr, value) in attributes(&tag[name_end..]) {
            match attr.as_str() {
                "style" => {
                    let style = filter_style(&value);
                    if !style.is_empty() {
                        element.attrs.push(("style".into(), style));
                    }
                }
                "href" if mapped == "a" && safe_href(&value) => {
                    element.attrs.push(("href".into(), value));
                }
                _ => {}
            }
        }
        let void = mapped == "br" || tag.ends_with('/');
        if void {
            append(&mut stack, Node::Element(element));
        } else if stack.len() < MAX_DEPTH {
            stack.push(element);
        }
    }
    while stack.len() > 1 {
        if let Some(done) = stack.pop() {
            append(&mut stack, Node::Element(done));
        }
    }
    let body = stack
        .pop()
        .unwrap_or_else(|| Element::new("body", NS_XHTML));
    let mut text = String::new();
    plain_text(&body, &mut text);
    let text = text.trim().to_owned();
    let mut html_el = Element::new("html", NS_XHTML_IM);
    html_el.children.push(Node::Element(body));
    Ok((text, html_el))
}

fn map_element(name: &str) -> Option<&'static str> {
    Some(match name {
        "p" | "div" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => "p",
        "br" => "br",
        "span" => "span",
        "strong" | "b" => "strong",
        "em" | "i" => "em",
        "cite" => "cite",
        "blockquote" => "blockquote",
        "a" => "a",
        "ul" => "ul",
        "ol" => "ol",
        "li" => "li",
        _ => return None,
    })
}

/// Close the innermost open element called `name` and everything inside it.
fn close(stack: &mut Vec<Element>, name: &str) {
    let Some(pos) = stack.iter().rposition(|e| e.name == name) else {
        return;
    };
    if pos == 0 {
        return; // never close the <body/> root
    }
    while stack.len() > pos {
        if let Some(done) = stack.pop() {
            append(stack, Node::Element(done));
        }
    }
}

fn append(stack: &mut [Element], node: Node) {
    if let Some(top) = stack.last_mut() {
        top.children.push(node);
    }
}

fn push_text(stack: &mut [Element], keep: bool, raw: &str) {
    if !keep || raw.is_empty() {
        return;
    }
    let text = decode_entities(raw);
    if let Some(top) = stack.last_mut() {
        if let Some(Node::Text(prev)) = top.children.last_mut() {
            prev.push_str(&text);
        } else {
            top.children.push(Node::Text(text));
        }
    }
}

/// `name="v"`, `name='v'`, `name=v`, `name`.
fn attributes(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| c.is_ascii_whitespace() || c == '=' || c == '/')
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (v, r) = match after.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let inner = &after[1..];
                    let end = inner.find(q).unwrap_or(inner.len());
                    (&inner[..end], inner.get(end + 1..).unwrap_or(""))
                }
                _ => {
                    let end = after
                        .find(|c: char| c.is_ascii_whitespace())
                        .unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            value = decode_entities(v);
            rest = r;
        }
        if !name.is_empty() {
            out.push((name, value));
        }
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
    }
    out
}

/// XEP-0071 §7: keep only the recommended properties, and nothing that loads
/// anything (`url(`, `expression(`).
fn filter_style(style: &str) -> String {
    style
        .split(';')
        .filter_map(|decl| {
            let (prop, value) = decl.split_once(':')?;
            let prop = prop.trim().to_ascii_lowercase();
            let value = value.trim();
            let lower = value.to_ascii_lowercase();
            (STYLE_PROPERTIES.contains(&prop.as_str())
                && !value.is_empty()
                && !lower.contains("url(")
                && !lower.contains("expression("))
            .then(|| format!("{prop}: {value}"))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// XEP-0071 §10 (malicious objects): only links a user can judge.
fn safe_href(href: &str) -> bool {
    let lower = href.trim().to_ascii_lowercase();
    [
        "http:", "https:", "mailto:", "xmpp:", "sip:", "sips:", "tel:",
    ]
    .iter()
    .any(|s| lower.starts_with(s))
}

fn decode_entities(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code).filter(|c| is_xml_char(*c))
                }
            }
        });
        match (decoded, end) {
            (Some(c), Some(e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text a reader sees: whitespace runs collapse to one space (HTML
/// rendering), `<br>` and block ends are line breaks.
fn plain_text(e: &Element, out: &mut String) {
    for child in &e.children {
        match child {
            Node::Text(t) => {
                for c in t.chars() {
                    if c.is_whitespace() && c != '\u{a0}' {
                        if !out.ends_with([' ', '\n']) && !out.is_empty() {
                            out.push(' ');
                        }
                    } else {
                        out.push(c);
                    }
                }
            }
            Node::Element(c) if c.name == "br" => {
                trim_trailing_space(out);
                out.push('\n');
            }
            Node::Element(c) => {
                let block = matches!(c.name.as_str(), "p" | "blockquote" | "li" | "ul" | "ol");
                if block && !out.is_empty() && !out.ends_with('\n') {
                    trim_trailing_space(out);
                    out.push('\n');
                }
                plain_text(c, out);
                if block && !out.ends_with('\n') {
                    trim_trailing_space(out);
                    out.push('\n');
                }
            }
        }
    }
}

fn trim_trailing_space(out: &mut String) {
    while out.ends_with(' ') {
        out.pop();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn body(html: &str) -> (String, Element) {
        let (text, wrapper) = from_html(html).unwrap();
        assert_eq!(
            (wrapper.name.as_str(), wrapper.ns.as_str()),
            ("html", NS_XHTML_IM)
        );
        let Node::Element(body) = &wrapper.children[0] else {
            panic!("no body")
        };
        (text, body.clone())
    }

    /// XEP-0071 §7: recommended elements survive, b/i become strong/em.
    #[test]
    fn recommended_markup_survives_and_text_is_derived() {
        let (text, b) = body("<p>Art thou <b>not</b> <i>Romeo</i>,<br>and a Montague?</p>");
        assert_eq!(text, "Art thou not Romeo,\nand a Montague?");
        let p = b.child("p", NS_XHTML).unwrap();
        assert!(p.child("strong", NS_XHTML).is_some());
        assert!(p.child("em", NS_XHTML).is_some());
        assert!(p.child("br", NS_XHTML).is_some());
    }

    /// XEP-0071 §10: scripts, styles and unsafe links never reach XMPP.
    #[test]
    fn scripts_styles_and_unsafe_links_are_dropped() {
        let (text, b) = body(
            "<html><head><title>t</title><style>p{}</style></head><body>\
             <script>alert(1)</script><a href=\"javascript:x()\" onclick=\"y()\">x</a>\
             <a href='https://example.com/?a=1&amp;b=2'>y</a>\
             <span style=\"color: red; position: fixed; background: url(x)\">z</span></body></html>",
        );
        assert_eq!(text, "xyz");
        let links: Vec<_> = b
            .children
            .iter()
            .filter_map(|n| match n {
                Node::Element(e) if e.name == "a" => Some(e.attr("href")),
                _ => None,
            })
            .collect();
        assert_eq!(links, [None, Some("https://example.com/?a=1&b=2")]);
        assert_eq!(
            b.child("span", NS_XHTML).unwrap().attr("style"),
            Some("color: red")
        );
    }

    #[test]
    fn entities_and_stray_brackets_are_text() {
        let (text, _) = body("a &lt;3 &amp; b&nbsp;c &#x2713; &bogus; 1 < 2 <3");
        assert_eq!(text, "a <3 & b\u{a0}c ✓ &bogus; 1 < 2 <3");
    }

    #[test]
    fn unbalanced_and_deep_markup_is_bounded() {
        let deep = "<span>".repeat(100) + "x";
        let (text, _) = body(&deep);
        assert_eq!(text, "x");
        let (text, _) = body("<p>one<p>two</strong></p></p></div>");
        assert_eq!(text, "one\ntwo");
    }

    #[test]
    fn control_characters_are_refused() {
        assert!(from_html("a\u{1}b").is_err());
    }
}

//! A generic owned XML element, used for payloads Parley passes through or
//! inspects (XEP-0184 receipts, XEP-0085 chat states, disco queries, …).

use std::borrow::Cow;

/// An XML element with its namespace resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Local name, e.g. `request`.
    pub name: String,
    /// Resolved namespace URI, e.g. `urn:xmpp:receipts`.
    pub ns: String,
    /// Attributes other than namespace declarations, in document order.
    pub attrs: Vec<(String, String)>,
    /// Child nodes in document order.
    pub children: Vec<Node>,
}

/// A child node of an [`Element`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data, entities already resolved.
    Text(String),
}

impl Element {
    /// A new empty element `name` in namespace `ns`.
    pub fn new(name: impl Into<String>, ns: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ns: ns.into(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// The value of attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first child element with this name and namespace.
    pub fn child(&self, name: &str, ns: &str) -> Option<&Element> {
        self.children.iter().find_map(|n| match n {
            Node::Element(e) if e.name == name && e.ns == ns => Some(e),
            _ => None,
        })
    }

    /// All character data directly inside this element, concatenated.
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(t.as_str()),
                Node::Element(_) => None,
            })
            .collect()
    }
}

/// An element as the stream parser builds it: its name and namespace are
/// borrowed from a fixed list when they are ones a component stream sees
/// on every stanza, so a `<body/>` that ends up as a field of a
/// [`Message`](super::Message) never allocates them (issue 24). It becomes
/// an [`Element`] only when it is kept as one.
#[derive(Debug, Default)]
pub(crate) struct OpenElement {
    pub(crate) name: Cow<'static, str>,
    pub(crate) ns: Cow<'static, str>,
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) children: Vec<Node>,
}

impl OpenElement {
    /// An element named `name` in `ns`, both resolved already (`ns` as
    /// [`known_namespace`] gives it).
    pub(crate) fn new(name: &str, ns: Cow<'static, str>) -> Self {
        Self {
            name: known(name, NAMES),
            ns,
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// The value of attribute `name`, if present (as [`Element::attr`]).
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// [`Element::text`], moving the text out when there is one piece.
    pub(crate) fn into_text(self) -> String {
        let mut text: Option<String> = None;
        for n in self.children {
            if let Node::Text(t) = n {
                match &mut text {
                    Some(all) => all.push_str(&t),
                    None => text = Some(t),
                }
            }
        }
        text.unwrap_or_default()
    }

    /// The public, owned element.
    pub(crate) fn into_element(self) -> Element {
        Element {
            name: self.name.into_owned(),
            ns: self.ns.into_owned(),
            attrs: self.attrs,
            children: self.children,
        }
    }
}

impl From<Element> for OpenElement {
    fn from(el: Element) -> Self {
        Self {
            name: Cow::Owned(el.name),
            ns: Cow::Owned(el.ns),
            attrs: el.attrs,
            children: el.children,
        }
    }
}

/// Element names every message or presence carries (RFC 6120 §8, RFC 6121
/// §4.7, §5.2).
const NAMES: &[&str] = &[
    "message",
    "body",
    "thread",
    "subject",
    "error",
    "presence",
    "iq",
    "show",
    "status",
    "priority",
    "handshake",
];

/// Namespaces of the stream and of its stanzas (RFC 6120 §4.8, §8.3.2,
/// XEP-0114 §2).
const NAMESPACES: &[&str] = &[
    super::NS_COMPONENT,
    super::NS_STANZAS,
    crate::stream::NS_STREAMS,
    crate::stream::NS_STREAM_ERRORS,
    "",
];

/// `ns`, borrowed when it is one of the stream's own namespaces.
pub(crate) fn known_namespace(ns: &str) -> Cow<'static, str> {
    known(ns, NAMESPACES)
}

fn known(s: &str, list: &[&'static str]) -> Cow<'static, str> {
    match list.iter().find(|k| **k == s) {
        Some(k) => Cow::Borrowed(*k),
        None => Cow::Owned(s.to_owned()),
    }
}

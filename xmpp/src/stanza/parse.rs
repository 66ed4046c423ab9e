//! From a generic first-level [`Element`] to a typed [`Stanza`].
//!
//! The stream parser (`stream.rs`) builds the element; this file only reads
//! the RFC 6120/6121 structure out of it. Children we do not type are kept in
//! `payloads` in document order, so nothing is lost on pass-through.

use std::borrow::Cow;

use super::element::OpenElement;
use super::{
    DefinedCondition, Element, ErrorType, Iq, IqType, Message, MessageType, NS_COMPONENT,
    NS_STANZAS, Node, Presence, PresenceType, Show, Stanza, StanzaError,
};

/// A first-level element that is not a valid stanza.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StanzaParseError {
    /// Not `message`, `presence` or `iq` in `jabber:component:accept`.
    #[error("<{name}/> in {ns:?} is not a stanza")]
    NotAStanza {
        /// Element name.
        name: String,
        /// Its namespace.
        ns: String,
    },
    /// RFC 6120 §8.2.3: an `<iq/>` without `id`.
    #[error("<iq/> without id")]
    IqWithoutId,
    /// RFC 6120 §8.2.3: an `<iq/>` whose `type` is missing or unknown.
    #[error("<iq/> with missing or unknown type")]
    IqBadType {
        /// The `id`, so a `bad-request` error can still be sent.
        id: String,
    },
    /// RFC 6121 §4.7.1: a `<presence/>` with an unknown `type`.
    #[error("<presence/> with unknown type {0:?}")]
    PresenceBadType(String),
}

/// The stream header [`Stanza::from_xml`] reads a stanza in.
const STREAM_HEADER: &[u8] = b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
    xmlns='jabber:component:accept'>";

impl StanzaParseError {
    /// A short stable name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotAStanza { .. } => "not-a-stanza",
            Self::IqWithoutId => "iq-without-id",
            Self::IqBadType { .. } => "iq-bad-type",
            Self::PresenceBadType(_) => "presence-bad-type",
        }
    }
}

impl Stanza {
    /// A stanza back from the XML [`Stanza::write_to`] made of it (one
    /// first-level element of a `jabber:component:accept` stream), read by
    /// the same parser and limits as the stream itself; `None` when the
    /// bytes are not exactly one such stanza.
    pub fn from_xml(xml: &[u8]) -> Option<Stanza> {
        let mut bytes = Vec::with_capacity(STREAM_HEADER.len() + xml.len());
        bytes.extend_from_slice(STREAM_HEADER);
        bytes.extend_from_slice(xml);
        let (items, error) = crate::stream::parse_bytes(&bytes, crate::stream::Limits::default());
        if error.is_some() {
            return None;
        }
        let mut stanzas = items.into_iter().filter_map(|item| match item {
            crate::stream::StreamItem::Stanza(s) => Some(*s),
            _ => None,
        });
        let stanza = stanzas.next()?;
        stanzas.next().is_none().then_some(stanza)
    }

    /// Read a typed stanza out of a first-level element of the component stream.
    pub fn from_element(el: Element) -> Result<Stanza, StanzaParseError> {
        if el.ns != NS_COMPONENT {
            return Err(StanzaParseError::NotAStanza {
                name: el.name,
                ns: el.ns,
            });
        }
        match el.name.as_str() {
            "message" => Ok(Stanza::Message(message(el))),
            "presence" => presence(el).map(Stanza::Presence),
            "iq" => iq(el).map(Stanza::Iq),
            _ => Err(StanzaParseError::NotAStanza {
                name: el.name,
                ns: el.ns,
            }),
        }
    }
}

impl Stanza {
    /// A `<message/>` of the component namespace as a stanza, taking the
    /// element: a message is never refused (what it does not know is kept
    /// as payloads), so the stream reader keeps no copy of the element for
    /// an error it cannot have (issue 24).
    pub(crate) fn message_from_element(el: Element) -> Stanza {
        Stanza::Message(message(el))
    }
}

fn take_attr(el: &mut Element, name: &str) -> Option<String> {
    let i = el.attrs.iter().position(|(k, _)| k == name)?;
    Some(el.attrs.remove(i).1)
}

fn child_elements(el: Element) -> impl Iterator<Item = Element> {
    el.children.into_iter().filter_map(|n| match n {
        Node::Element(e) => Some(e),
        Node::Text(_) => None,
    })
}

/// Whether `child` is in the stanza's default language (no `xml:lang`, or the stanza's).
fn default_lang(child: &OpenElement, stanza_lang: Option<&str>) -> bool {
    child.attrs.iter().all(|(k, _)| k == "xml:lang")
        && child
            .attr("xml:lang")
            .is_none_or(|l| Some(l) == stanza_lang)
}

fn message(mut el: Element) -> Message {
    let mut m = Message::default();
    for (key, value) in std::mem::take(&mut el.attrs) {
        message_attr(&mut m, &key, Cow::Owned(value));
    }
    for child in child_elements(el) {
        message_child(&mut m, child.into());
    }
    message_end(&mut m);
    m
}

/// One attribute of a `<message/>`, in document order: the first of each
/// name counts (a stream never has two, XML 1.0 §3.1 WFC: Unique Att Spec),
/// and attributes `Message` has no field for are dropped.
pub(crate) fn message_attr(m: &mut Message, key: &str, value: Cow<'_, str>) {
    match key {
        // RFC 6121 §5.2.2: an unknown type is treated as `normal`.
        "type" if m.message_type.is_none() => {
            m.message_type = Some(MessageType::from_name(&value).unwrap_or(MessageType::Normal));
        }
        "from" if m.from.is_none() => m.from = Some(value.into_owned()),
        "to" if m.to.is_none() => m.to = Some(value.into_owned()),
        "id" if m.id.is_none() => m.id = Some(value.into_owned()),
        "xml:lang" if m.lang.is_none() => m.lang = Some(value.into_owned()),
        _ => {}
    }
}

/// One child element of a `<message/>`, in document order, after every
/// attribute.
pub(crate) fn message_child(m: &mut Message, child: OpenElement) {
    let ours = child.ns == NS_COMPONENT;
    match &*child.name {
        // RFC 6121 §5.2.3: the body without its own xml:lang, or with the
        // stanza's own (clients built on minidom repeat it on every child), is
        // the default one.
        "body" if ours && m.body.is_none() && default_lang(&child, m.lang.as_deref()) => {
            m.body = Some(child.into_text());
        }
        "subject" if ours && m.subject.is_none() && default_lang(&child, m.lang.as_deref()) => {
            m.subject = Some(child.into_text());
        }
        "thread" if ours && m.thread.is_none() && child.attrs.is_empty() => {
            m.thread = Some(child.into_text());
        }
        "error" if ours && m.error.is_none() => {
            m.error = Some(stanza_error(&child.into_element()));
        }
        _ => m.payloads.push(child.into_element()),
    }
}

/// After the last child of a `<message/>`.
pub(crate) fn message_end(m: &mut Message) {
    // RFC 6121 §5.2.3: with no body in the default language, the first body
    // stands for the message, and its language is the message's.
    if m.body.is_none()
        && let Some(i) = m
            .payloads
            .iter()
            .position(|p| p.name == "body" && p.ns == NS_COMPONENT)
    {
        let body = m.payloads.remove(i);
        if let Some(lang) = body.attr("xml:lang") {
            m.lang = Some(lang.to_owned());
        }
        m.body = Some(body.text());
    }
}

fn presence(mut el: Element) -> Result<Presence, StanzaParseError> {
    let presence_type = match take_attr(&mut el, "type") {
        None => None,
        Some(t) => Some(PresenceType::from_name(&t).ok_or(StanzaParseError::PresenceBadType(t))?),
    };
    let mut p = Presence {
        from: take_attr(&mut el, "from"),
        to: take_attr(&mut el, "to"),
        id: take_attr(&mut el, "id"),
        presence_type,
        lang: take_attr(&mut el, "xml:lang"),
        ..Default::default()
    };
    for child in child_elements(el) {
        let ours = child.ns == NS_COMPONENT;
        match child.name.as_str() {
            "show" if ours && p.show.is_none() => match Show::from_name(child.text().trim()) {
                Some(s) => p.show = Some(s),
                None => p.payloads.push(child),
            },
            "status" if ours && p.status.is_none() && child.attrs.is_empty() => {
                p.status = Some(child.text());
            }
            "priority" if ours && p.priority.is_none() => match child.text().trim().parse() {
                Ok(v) => p.priority = Some(v),
                Err(_) => p.payloads.push(child),
            },
            "error" if ours && p.error.is_none() => p.error = Some(stanza_error(&child)),
            _ => p.payloads.push(child),
        }
    }
    Ok(p)
}

fn iq(mut el: Element) -> Result<Iq, StanzaParseError> {
    let id = take_attr(&mut el, "id").ok_or(StanzaParseError::IqWithoutId)?;
    let Some(iq_type) = take_attr(&mut el, "type").and_then(|t| IqType::from_name(&t)) else {
        return Err(StanzaParseError::IqBadType { id });
    };
    let from = take_attr(&mut el, "from");
    let to = take_attr(&mut el, "to");
    let mut payload = None;
    let mut error = None;
    for child in child_elements(el) {
        if child.name == "error" && child.ns == NS_COMPONENT && error.is_none() {
            error = Some(stanza_error(&child));
        } else if payload.is_none() {
            payload = Some(child);
        }
        // RFC 6120 §8.2.3: get/set carry exactly one child; extra ones are dropped.
    }
    Ok(Iq {
        from,
        to,
        id,
        iq_type,
        payload,
        error,
    })
}

/// RFC 6120 §8.3.2. An `<error/>` we cannot read becomes `undefined-condition`.
fn stanza_error(el: &Element) -> StanzaError {
    let mut condition = None;
    let mut text = None;
    let mut alt = None;
    for child in el.children.iter().filter_map(|n| match n {
        Node::Element(e) if e.ns == NS_STANZAS => Some(e),
        _ => None,
    }) {
        if child.name == "text" {
            text.get_or_insert_with(|| child.text());
        } else if let Some(c) = DefinedCondition::from_name(&child.name)
            && condition.is_none()
        {
            condition = Some(c);
            let t = child.text();
            if matches!(c, DefinedCondition::Gone | DefinedCondition::Redirect) && !t.is_empty() {
                alt = Some(t);
            }
        }
    }
    let condition = condition.unwrap_or(DefinedCondition::UndefinedCondition);
    StanzaError {
        error_type: el
            .attr("type")
            .and_then(ErrorType::from_name)
            .unwrap_or(condition.default_type()),
        condition,
        text,
        by: el.attr("by").map(str::to_owned),
        alt,
    }
}

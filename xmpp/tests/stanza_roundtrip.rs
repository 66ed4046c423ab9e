//! Property tests: `parse(write(x)) == x` for every stanza the types can
//! hold, and the stream parser never panics on arbitrary bytes.
#![allow(clippy::unwrap_used, missing_docs)]

use parley_xmpp::stanza::{
    DefinedCondition, Element, ErrorType, Iq, IqType, Message, MessageType, Node, Presence,
    PresenceType, Show, StanzaError,
};
use parley_xmpp::stream::{Limits, StreamItem, parse_bytes};
use parley_xmpp::{Stanza, fuzzing};
use proptest::prelude::*;

const HEADER: &[u8] = include_bytes!("fixtures/prosody-0.12-stream-header.xml");

/// XML 1.0 §2.2 `Char`, with markup characters and whitespace made likely.
fn xml_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec!['<', '>', '&', '\'', '"', '\t', '\n', '\r', ' ', ']', ';', '#']),
        6 => any::<char>().prop_filter("XML Char", |c| matches!(*c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(xml_char(), 0..24).prop_map(|v| v.into_iter().collect())
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9._-]{0,8}".prop_filter("not reserved", |n| !n.starts_with("xml"))
}

fn foreign_ns() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "urn:xmpp:receipts",
        "http://jabber.org/protocol/chatstates",
        "urn:example:a&b<c>'d\"",
        "",
    ])
    .prop_map(str::to_owned)
}

fn element(ns: BoxedStrategy<String>) -> impl Strategy<Value = Element> {
    let leaf = (name(), ns.clone(), attrs()).prop_map(|(name, ns, attrs)| Element {
        name,
        ns,
        attrs,
        children: Vec::new(),
    });
    leaf.prop_recursive(4, 32, 4, move |inner| {
        (
            name(),
            prop_oneof![ns.clone(), Just("jabber:component:accept".to_owned())],
            attrs(),
            prop::collection::vec(
                prop_oneof![inner.prop_map(Node::Element), text().prop_map(Node::Text)],
                0..4,
            ),
        )
            .prop_map(|(name, ns, attrs, children)| Element {
                name,
                ns,
                attrs,
                children: normalize(children),
            })
    })
}

/// Adjacent text nodes merge and empty ones vanish when XML is parsed.
fn normalize(children: Vec<Node>) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::new();
    for c in children {
        match (c, out.last_mut()) {
            (Node::Text(t), _) if t.is_empty() => {}
            (Node::Text(t), Some(Node::Text(prev))) => prev.push_str(&t),
            (c, _) => out.push(c),
        }
    }
    out
}

fn attrs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::btree_map(name(), text(), 0..3).prop_map(|m| m.into_iter().collect())
}

fn payloads() -> impl Strategy<Value = Vec<Element>> {
    prop::collection::vec(element(foreign_ns().boxed()), 0..3)
}

fn stanza_error() -> impl Strategy<Value = StanzaError> {
    (
        prop::sample::select(DefinedCondition::ALL.to_vec()),
        prop::sample::select(vec![
            ErrorType::Auth,
            ErrorType::Cancel,
            ErrorType::Continue,
            ErrorType::Modify,
            ErrorType::Wait,
        ]),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text().prop_filter("non-empty", |t| !t.is_empty())),
    )
        .prop_map(|(condition, error_type, text, by, alt)| StanzaError {
            error_type,
            condition,
            text,
            by,
            // RFC 6120 §8.3.3.5, §8.3.3.14: only gone and redirect carry an address.
            alt: alt.filter(|_| {
                matches!(
                    condition,
                    DefinedCondition::Gone | DefinedCondition::Redirect
                )
            }),
        })
}

fn jid() -> impl Strategy<Value = Option<String>> {
    prop::option::of(text())
}

fn message() -> impl Strategy<Value = Stanza> {
    (
        (jid(), jid(), prop::option::of(text())),
        prop::option::of(prop::sample::select(vec![
            MessageType::Chat,
            MessageType::Error,
            MessageType::Groupchat,
            MessageType::Headline,
            MessageType::Normal,
        ])),
        prop::option::of(text()),
        (
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(text()),
        ),
        prop::option::of(stanza_error()),
        payloads(),
    )
        .prop_map(
            |((from, to, id), message_type, lang, (body, subject, thread), error, payloads)| {
                Stanza::Message(Message {
                    from,
                    to,
                    id,
                    message_type,
                    lang,
                    body,
                    subject,
                    thread,
                    error,
                    payloads,
                })
            },
        )
}

fn presence() -> impl Strategy<Value = Stanza> {
    (
        (jid(), jid(), prop::option::of(text())),
        prop::option::of(prop::sample::select(vec![
            PresenceType::Error,
            PresenceType::Probe,
            PresenceType::Subscribe,
            PresenceType::Subscribed,
            PresenceType::Unavailable,
            PresenceType::Unsubscribe,
            PresenceType::Unsubscribed,
        ])),
        prop::option::of(text()),
        prop::option::of(prop::sample::select(vec![
            Show::Away,
            Show::Chat,
            Show::Dnd,
            Show::Xa,
        ])),
        prop::option::of(text()),
        prop::option::of(any::<i8>()),
        prop::option::of(stanza_error()),
        payloads(),
    )
        .prop_map(
            |((from, to, id), presence_type, lang, show, status, priority, error, payloads)| {
                Stanza::Presence(Presence {
                    from,
                    to,
                    id,
                    presence_type,
                    lang,
                    show,
                    status,
                    priority,
                    error,
                    payloads,
                })
            },
        )
}

fn iq() -> impl Strategy<Value = Stanza> {
    (
        (jid(), jid(), text()),
        prop::sample::select(vec![
            IqType::Get,
            IqType::Set,
            IqType::Result,
            IqType::Error,
        ]),
        prop::option::of(element(foreign_ns().boxed())),
        prop::option::of(stanza_error()),
    )
        .prop_map(|((from, to, id), iq_type, payload, error)| {
            Stanza::Iq(Iq {
                from,
                to,
                id,
                iq_type,
                payload,
                error,
            })
        })
}

fn stanza() -> impl Strategy<Value = Stanza> {
    prop_oneof![message(), presence(), iq()]
}

fn parse_one(xml: &[u8]) -> Result<Stanza, String> {
    let mut bytes = HEADER.to_vec();
    bytes.extend_from_slice(xml);
    let (items, err) = parse_bytes(&bytes, Limits::default());
    if let Some(e) = err {
        return Err(format!("{e}"));
    }
    match items.into_iter().nth(1) {
        Some(StreamItem::Stanza(s)) => Ok(*s),
        other => Err(format!("{other:?}")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// RFC 6120 §8 / XML 1.0 §2.4, §3.3.3: every attribute and text node is
    /// escaped so that the parser gives back exactly what was written.
    #[test]
    fn parse_of_write_is_identity(s in stanza()) {
        let mut xml = Vec::new();
        s.write_to(&mut xml);
        let back = parse_one(&xml);
        prop_assert_eq!(back, Ok(s), "{}", String::from_utf8_lossy(&xml));
    }

    /// `Stanza::from_xml` (a stanza handed between instances through the
    /// store) gives back what `write_to` wrote, with no stream around it.
    #[test]
    fn from_xml_of_write_is_identity(s in stanza()) {
        let mut xml = Vec::new();
        s.write_to(&mut xml);
        prop_assert_eq!(Stanza::from_xml(&xml), Some(s), "{}", String::from_utf8_lossy(&xml));
    }

    #[test]
    fn parser_never_panics_on_arbitrary_bytes(tail in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = HEADER.to_vec();
        bytes.extend_from_slice(&tail);
        fuzzing::parse_stream(&bytes);
    }

    #[test]
    fn parser_never_panics_on_mangled_stanzas(s in stanza(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut xml = HEADER.to_vec();
        s.write_to(&mut xml);
        let i = cut.index(xml.len());
        xml[i] = byte;
        fuzzing::parse_stream(&xml);
    }
}

/// RFC 6121 §5.2.3: a body carrying the stanza's own xml:lang (as minidom-based
/// clients such as tokio-xmpp send it) is the default body, not a translation.
#[test]
fn body_repeating_the_stanza_language_is_the_default_body() {
    let xml = b"<message to='bob@sip.example.net' from='juliet@xmpp.example/a' xml:lang='fr'>\
<body xml:lang='fr'>Bonjour</body><body xml:lang='de'>Hallo</body><subject xml:lang='fr'>S</subject></message>";
    let Ok(Stanza::Message(m)) = parse_one(xml) else {
        panic!("not a message");
    };
    assert_eq!(m.body.as_deref(), Some("Bonjour"));
    assert_eq!(m.subject.as_deref(), Some("S"));
    assert_eq!(m.lang.as_deref(), Some("fr"));
}

/// RFC 6121 §5.2.3: a lone body in another language than the stanza's (Prosody
/// stamps the stream's `xml:lang='en'` on the stanza) is still the body, and its
/// language becomes the message's.
#[test]
fn lone_body_in_another_language_is_the_body_and_sets_the_language() {
    let xml = b"<message to='bob@sip.example.net' from='juliet@xmpp.example/a' xml:lang='en'>\
<body xml:lang='fr'>Bonjour</body></message>";
    let Ok(Stanza::Message(m)) = parse_one(xml) else {
        panic!("not a message");
    };
    assert_eq!(m.body.as_deref(), Some("Bonjour"));
    assert_eq!(m.lang.as_deref(), Some("fr"));
    assert!(m.payloads.is_empty());
}

/// `from_xml` takes exactly one stanza: two, none, or broken XML give `None`.
#[test]
fn from_xml_refuses_anything_but_one_stanza() {
    let one = b"<presence from='a@b' to='c@d'/>";
    assert!(Stanza::from_xml(one).is_some());
    let two = b"<presence from='a@b' to='c@d'/><presence from='a@b' to='c@d'/>";
    assert_eq!(Stanza::from_xml(two), None);
    assert_eq!(Stanza::from_xml(b""), None);
    assert_eq!(Stanza::from_xml(b"<presence from='a@b'"), None);
    assert_eq!(Stanza::from_xml(b"<presence><x></presence>"), None);
}

//! RFC 3863: Presence Information Data Format (`application/pidf+xml`), with
//! the RFC 4479 `<dm:person>` element, the RFC 4480 (RPID) `<activities>`,
//! and RFC 8048's `<show xmlns='jabber:client'/>` status extension.
//!
//! Real phones are tolerated (real-clients README): baresip's
//! `<basic>unknown</basic>` is "no information", linphone's notes inside
//! tuples and RPID under `<dm:person>` are read, unknown extensions are
//! ignored (RFC 3863 §4.2.3).

use parley_xmpp::stanza::{Element, Node, Show};

use crate::failure::MappingError;
use crate::xml::{self, Limits, children_in, escape_attr, escape_text};

/// RFC 3863 §4.1.1: the PIDF namespace.
pub(crate) const NS_PIDF: &str = "urn:ietf:params:xml:ns:pidf";
/// RFC 4479 §7: the data model namespace (`<dm:person>`).
pub(crate) const NS_DATA_MODEL: &str = "urn:ietf:params:xml:ns:pidf:data-model";
/// RFC 4480 §5.1: the RPID namespace.
pub(crate) const NS_RPID: &str = "urn:ietf:params:xml:ns:pidf:rpid";
/// RFC 8048 §6.2 note 7: `<show/>` qualified by `jabber:client`.
pub(crate) const NS_JABBER_CLIENT: &str = "jabber:client";

/// A PIDF document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pidf {
    /// §4.1.1 `entity`: the presentity's URI.
    pub entity: String,
    /// §4.1.2 tuples, in order.
    pub tuples: Vec<Tuple>,
    /// §4.1.6 notes about the presentity.
    pub notes: Vec<Note>,
    /// RFC 4479 persons (RPID lives here).
    pub persons: Vec<Person>,
}

/// §4.1.2: one presence tuple.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tuple {
    /// The `id` attribute.
    pub id: String,
    /// §4.1.4 `<basic>`; `None` when absent or not `open`/`closed`
    /// (baresip's `unknown`).
    pub basic: Option<Basic>,
    /// RFC 8048 §6.2 note 7: `<show xmlns='jabber:client'>` inside `<status>`.
    pub show: Option<Show>,
    /// RPID activities found inside `<status>` (older RPID usage).
    pub activities: Vec<Activity>,
    /// §4.1.5 `<contact>`.
    pub contact: Option<Contact>,
    /// §4.1.6 notes about this tuple.
    pub notes: Vec<Note>,
    /// §4.1.7 `<timestamp>`, as written.
    pub timestamp: Option<String>,
}

/// §4.1.4: the basic status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Basic {
    /// `open`: able to accept instant messages.
    Open,
    /// `closed`: unable to.
    Closed,
}

/// §4.1.5: a contact address with its priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The URI.
    pub uri: String,
    /// Priority in thousandths (0..=1000), `None` if absent or out of range.
    pub priority: Option<u16>,
}

/// §4.1.6: a human-readable note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The text.
    pub text: String,
    /// Its `xml:lang`.
    pub lang: Option<String>,
}

/// RFC 4479 §3.1: the person the presentity is about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Person {
    /// The `id` attribute.
    pub id: String,
    /// RFC 4480 §3.2 activities.
    pub activities: Vec<Activity>,
    /// `<dm:note>` and `<rpid:note>` inside activities.
    pub notes: Vec<Note>,
}

/// RFC 4480 §3.2: what the person is doing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Activity {
    /// `appointment`
    Appointment,
    /// `away`
    Away,
    /// `breakfast`
    Breakfast,
    /// `busy`
    Busy,
    /// `dinner`
    Dinner,
    /// `holiday`
    Holiday,
    /// `in-transit`
    InTransit,
    /// `looking-for-work`
    LookingForWork,
    /// `lunch`
    Lunch,
    /// `meal`
    Meal,
    /// `meeting`
    Meeting,
    /// `on-the-phone`
    OnThePhone,
    /// `performance`
    Performance,
    /// `permanent-absence`
    PermanentAbsence,
    /// `playing`
    Playing,
    /// `presentation`
    Presentation,
    /// `shopping`
    Shopping,
    /// `sleeping`
    Sleeping,
    /// `spectator`
    Spectator,
    /// `steering`
    Steering,
    /// `travel`
    Travel,
    /// `tv`
    Tv,
    /// `unknown`
    Unknown,
    /// `vacation`
    Vacation,
    /// `working`
    Working,
    /// `worship`
    Worship,
    /// `<other>text</other>`
    Other(String),
}

const ACTIVITY_NAMES: [(&str, Activity); 26] = [
    ("appointment", Activity::Appointment),
    ("away", Activity::Away),
    ("breakfast", Activity::Breakfast),
    ("busy", Activity::Busy),
    ("dinner", Activity::Dinner),
    ("holiday", Activity::Holiday),
    ("in-transit", Activity::InTransit),
    ("looking-for-work", Activity::LookingForWork),
    ("lunch", Activity::Lunch),
    ("meal", Activity::Meal),
    ("meeting", Activity::Meeting),
    ("on-the-phone", Activity::OnThePhone),
    ("performance", Activity::Performance),
    ("permanent-absence", Activity::PermanentAbsence),
    ("playing", Activity::Playing),
    ("presentation", Activity::Presentation),
    ("shopping", Activity::Shopping),
    ("sleeping", Activity::Sleeping),
    ("spectator", Activity::Spectator),
    ("steering", Activity::Steering),
    ("travel", Activity::Travel),
    ("tv", Activity::Tv),
    ("unknown", Activity::Unknown),
    ("vacation", Activity::Vacation),
    ("working", Activity::Working),
    ("worship", Activity::Worship),
];

impl Activity {
    /// The element name (`other` for [`Activity::Other`]).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Other(_) => "other",
            known => ACTIVITY_NAMES
                .iter()
                .find(|(_, a)| a == known)
                .map(|(n, _)| *n)
                .unwrap_or("other"),
        }
    }

    /// The activity for an RPID element name (not `other`).
    pub fn from_name(name: &str) -> Option<Self> {
        ACTIVITY_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| a.clone())
    }

    /// Every named activity (for tests and generators).
    pub fn all_named() -> impl Iterator<Item = Activity> {
        ACTIVITY_NAMES.iter().map(|(_, a)| a.clone())
    }
}

impl Pidf {
    /// Parse a PIDF document (bounded and DTD-free: the crate's `xml` module).
    pub fn parse(bytes: &[u8]) -> Result<Self, MappingError> {
        let root = xml::parse(bytes, Limits::default())
            .map_err(|reason| MappingError::MalformedPidf { reason })?;
        Self::from_element(&root)
    }

    /// Read a parsed `<presence>` element.
    pub(crate) fn from_element(root: &Element) -> Result<Self, MappingError> {
        if root.name != "presence" || root.ns != NS_PIDF {
            return Err(MappingError::MalformedPidf {
                reason: "root is not a PIDF <presence>",
            });
        }
        let entity = root
            .attr("entity")
            .ok_or(MappingError::MalformedPidf {
                reason: "<presence> without entity (RFC 3863 §4.1.1)",
            })?
            .trim()
            .to_owned();
        let mut pidf = Pidf {
            entity,
            ..Pidf::default()
        };
        for child in element_children(root) {
            match (child.ns.as_str(), child.name.as_str()) {
                (NS_PIDF, "tuple") => pidf.tuples.push(read_tuple(child)),
                (NS_PIDF, "note") => pidf.notes.push(read_note(child)),
                (NS_DATA_MODEL, "person") => pidf.persons.push(read_person(child)),
                // §4.2.3: unrecognized elements are ignored, content included.
                _ => {}
            }
        }
        Ok(pidf)
    }

    /// Serialize as an `application/pidf+xml` document.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(512);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str("<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"");
        let uses_rpid = self.persons.iter().any(|p| !p.activities.is_empty())
            || self.tuples.iter().any(|t| !t.activities.is_empty());
        if !self.persons.is_empty() {
            out.push_str(" xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\"");
        }
        if uses_rpid {
            out.push_str(" xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\"");
        }
        out.push_str(" entity=\"");
        escape_attr(&self.entity, &mut out);
        out.push_str("\">\n");
        for t in &self.tuples {
            write_tuple(t, &mut out);
        }
        for n in &self.notes {
            write_note(" ", "note", n, &mut out);
        }
        for p in &self.persons {
            out.push_str(" <dm:person id=\"");
            escape_attr(&p.id, &mut out);
            out.push_str("\">\n");
            write_activities("  ", &p.activities, &mut out);
            for n in &p.notes {
                write_note("  ", "dm:note", n, &mut out);
            }
            out.push_str(" </dm:person>\n");
        }
        out.push_str("</presence>\n");
        out
    }
}

fn element_children(e: &Element) -> impl Iterator<Item = &Element> {
    e.children.iter().filter_map(|n| match n {
        Node::Element(c) => Some(c),
        Node::Text(_) => None,
    })
}

fn read_tuple(e: &Element) -> Tuple {
    let mut tuple = Tuple {
        id: e.attr("id").unwrap_or_default().to_owned(),
        ..Tuple::default()
    };
    for child in element_children(e) {
        match (child.ns.as_str(), child.name.as_str()) {
            (NS_PIDF, "status") => {
                for s in element_children(child) {
                    match (s.ns.as_str(), s.name.as_str()) {
                        (NS_PIDF, "basic") => {
                            // Real phones: "unknown" (baresip) is no information.
                            tuple.basic = match s.text().trim() {
                                "open" => Some(Basic::Open),
                                "closed" => Some(Basic::Closed),
                                _ => None,
                            }
                        }
                        (NS_JABBER_CLIENT, "show") => tuple.show = Show::from_name(s.text().trim()),
                        (NS_RPID, "activities") => {
                            tuple.activities = read_activities(s, &mut Vec::new())
                        }
                        _ => {}
                    }
                }
            }
            (NS_PIDF, "contact") => {
                tuple.contact = Some(Contact {
                    uri: child.text().trim().to_owned(),
                    priority: child.attr("priority").and_then(parse_priority),
                })
            }
            (NS_PIDF, "note") => tuple.notes.push(read_note(child)),
            (NS_PIDF, "timestamp") => tuple.timestamp = Some(child.text().trim().to_owned()),
            _ => {}
        }
    }
    tuple
}

fn read_note(e: &Element) -> Note {
    Note {
        text: e.text(),
        lang: e.attr("xml:lang").map(str::to_owned),
    }
}

fn read_person(e: &Element) -> Person {
    let mut person = Person {
        id: e.attr("id").unwrap_or_default().to_owned(),
        ..Person::default()
    };
    for child in element_children(e) {
        match (child.ns.as_str(), child.name.as_str()) {
            (NS_RPID, "activities") => {
                let acts = read_activities(child, &mut person.notes);
                person.activities.extend(acts);
            }
            (NS_DATA_MODEL, "note") => person.notes.push(read_note(child)),
            _ => {}
        }
    }
    person
}

fn read_activities(e: &Element, notes: &mut Vec<Note>) -> Vec<Activity> {
    let mut out = Vec::new();
    for a in children_in(e, NS_RPID) {
        match a.name.as_str() {
            "note" => notes.push(read_note(a)),
            "other" => out.push(Activity::Other(a.text())),
            name => out.extend(Activity::from_name(name)),
        }
    }
    out
}

/// §4.1.5: "a decimal number between 0 and 1 inclusive with at most 3 digits
/// after the decimal point"; out of range is ignored.
fn parse_priority(s: &str) -> Option<u16> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 3
        || int.len() > 4
    {
        return None;
    }
    let int: u32 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac_val: u32 = format!("{frac:0<3}").parse().ok()?;
    let thousandths = int * 1000 + frac_val;
    (thousandths <= 1000).then_some(thousandths as u16)
}

fn format_priority(p: u16) -> String {
    let p = p.min(1000);
    format!("{}.{:03}", p / 1000, p % 1000)
}

fn write_tuple(t: &Tuple, out: &mut String) {
    out.push_str(" <tuple id=\"");
    escape_attr(&t.id, out);
    out.push_str("\">\n  <status>\n");
    if let Some(b) = t.basic {
        out.push_str(match b {
            Basic::Open => "   <basic>open</basic>\n",
            Basic::Closed => "   <basic>closed</basic>\n",
        });
    }
    if let Some(show) = t.show {
        out.push_str("   <show xmlns=\"jabber:client\">");
        out.push_str(show.name());
        out.push_str("</show>\n");
    }
    write_activities("   ", &t.activities, out);
    out.push_str("  </status>\n");
    if let Some(c) = &t.contact {
        out.push_str("  <contact");
        if let Some(p) = c.priority {
            out.push_str(" priority=\"");
            out.push_str(&format_priority(p));
            out.push('"');
        }
        out.push('>');
        escape_text(&c.uri, out);
        out.push_str("</contact>\n");
    }
    for n in &t.notes {
        write_note("  ", "note", n, out);
    }
    if let Some(ts) = &t.timestamp {
        out.push_str("  <timestamp>");
        escape_text(ts, out);
        out.push_str("</timestamp>\n");
    }
    out.push_str(" </tuple>\n");
}

fn write_note(indent: &str, tag: &str, n: &Note, out: &mut String) {
    out.push_str(indent);
    out.push('<');
    out.push_str(tag);
    if let Some(lang) = &n.lang {
        out.push_str(" xml:lang=\"");
        escape_attr(lang, out);
        out.push('"');
    }
    out.push('>');
    escape_text(&n.text, out);
    out.push_str("</");
    out.push_str(tag);
    out.push_str(">\n");
}

fn write_activities(indent: &str, acts: &[Activity], out: &mut String) {
    if acts.is_empty() {
        return;
    }
    out.push_str(indent);
    out.push_str("<rpid:activities>");
    for a in acts {
        match a {
            Activity::Other(text) => {
                out.push_str("<rpid:other>");
                escape_text(text, out);
                out.push_str("</rpid:other>");
            }
            named => {
                out.push_str("<rpid:");
                out.push_str(named.name());
                out.push_str("/>");
            }
        }
    }
    out.push_str("</rpid:activities>\n");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn fixture(name: &str) -> Pidf {
        let path = format!("{}/tests/fixtures/pidf/{name}", env!("CARGO_MANIFEST_DIR"));
        Pidf::parse(&std::fs::read(&path).unwrap()).unwrap()
    }

    /// RFC 3863 §4.2.2: the same document with a prefix and with a default namespace.
    #[test]
    fn rfc3863_prefixed_and_default_namespace_documents_are_equal() {
        let a = fixture("rfc3863-4.2.2-prefixed.xml");
        let b = fixture("rfc3863-4.2.2-default-ns.xml");
        assert_eq!(a, b);
        assert_eq!(a.entity, "pres:someone@example.com");
        let t = &a.tuples[0];
        assert_eq!(t.id, "sg89ae");
        assert_eq!(t.basic, Some(Basic::Open));
        assert_eq!(
            t.contact,
            Some(Contact {
                uri: "tel:+09012345678".into(),
                priority: Some(800)
            })
        );
    }

    /// RFC 3863 §4.3.1: two tuples, notes with xml:lang, a timestamp, a presence note.
    #[test]
    fn rfc3863_status_extensions_example() {
        let p = fixture("rfc3863-4.3.1-status-extensions.xml");
        assert_eq!(p.tuples.len(), 2);
        let t = &p.tuples[0];
        assert_eq!(t.notes[0].text, "Don't Disturb Please!");
        assert_eq!(t.notes[1].lang.as_deref(), Some("fr"));
        assert_eq!(t.timestamp.as_deref(), Some("2001-10-27T16:49:29Z"));
        assert_eq!(p.tuples[1].contact.as_ref().unwrap().priority, Some(1000));
        assert_eq!(p.notes[0].text, "I'll be in Tokyo next week");
    }

    /// RFC 3863 §4.2.3: unknown elements (and mustUnderstand ones) are ignored;
    /// a contact's surrounding whitespace is not part of the URI.
    #[test]
    fn rfc3863_extensions_are_ignored() {
        let p = fixture("rfc3863-4.3.2-extension-elements.xml");
        assert_eq!(
            p.tuples[1].contact.as_ref().unwrap().uri,
            "im:someone@mobilecarrier.net"
        );
        let p = fixture("rfc3863-4.3.3-must-understand.xml");
        assert_eq!(p.tuples[0].basic, Some(Basic::Open));
        assert_eq!(p.tuples[0].contact.as_ref().unwrap().priority, Some(725));
        let p = fixture("rfc3863-4.2.4-location.xml");
        assert_eq!(
            p.tuples[0].contact.as_ref().unwrap().uri,
            "im:someone@example.com"
        );
    }

    /// RFC 4480 §4: the person is away ("Far away"), three tuples open.
    #[test]
    fn rfc4480_example_person_activities() {
        let p = fixture("rfc4480-4-example.xml");
        assert_eq!(p.tuples.len(), 3);
        assert_eq!(p.persons[0].activities, vec![Activity::Away]);
        let notes: Vec<_> = p.persons[0].notes.iter().map(|n| n.text.as_str()).collect();
        assert_eq!(notes, ["Far away", "Scoring 120"]);
    }

    /// RFC 8048 §6.2 Example 19: `<show xmlns='jabber:client'>away</show>` in status.
    #[test]
    fn rfc8048_show_extension_is_read() {
        let p = fixture("rfc8048-6.2-example19.xml");
        assert_eq!(p.tuples[0].id, "ID-yn0cl4bnw0yr3vym");
        assert_eq!(p.tuples[0].show, Some(Show::Away));
        assert_eq!(
            fixture("rfc8048-6.3-example20.xml").tuples[0].basic,
            Some(Basic::Closed)
        );
    }

    /// real-clients README: "baresip publishes <basic>unknown</basic> … treat it as no information".
    #[test]
    fn baresip_unknown_basic_is_no_information() {
        let p = fixture("baresip-1.0-publish-pidf.xml");
        assert_eq!(p.tuples[0].basic, None);
        assert!(p.persons[0].activities.is_empty());
        assert_eq!(
            fixture("baresip-1.0-publish-closed.xml").tuples[0].basic,
            Some(Basic::Closed)
        );
    }

    /// real-clients README: linphone puts <note> inside the tuple and RPID under <dm:person>.
    #[test]
    fn linphone_note_in_tuple_and_rpid_in_person() {
        let p = fixture("linphone-5.1-publish-pidf-rpid-note.xml");
        assert_eq!(p.tuples[0].notes[0].text, "In a meeting ✓");
        assert_eq!(p.tuples[0].notes[0].lang.as_deref(), Some("en"));
        assert_eq!(p.persons[0].activities, vec![Activity::Away]);
        let p = fixture("linphone-5.1-publish-pidf.xml");
        assert_eq!(p.tuples[0].basic, Some(Basic::Open));
        assert_eq!(
            p.tuples[0].timestamp.as_deref(),
            Some("2026-11-25T07:44:55Z")
        );
    }

    #[test]
    fn written_document_parses_back() {
        let p = Pidf {
            entity: "sip:juliet@example.com".into(),
            tuples: vec![Tuple {
                id: "ID-balcony".into(),
                basic: Some(Basic::Open),
                show: Some(Show::Dnd),
                activities: vec![],
                contact: Some(Contact {
                    uri: "sip:juliet@example.com;gr=balcony".into(),
                    priority: Some(7),
                }),
                notes: vec![Note {
                    text: "a < b & \"c\"\r\n".into(),
                    lang: Some("en".into()),
                }],
                timestamp: None,
            }],
            notes: vec![],
            persons: vec![Person {
                id: "p1".into(),
                activities: vec![Activity::Busy, Activity::Other("reading <&>".into())],
                notes: vec![],
            }],
        };
        assert_eq!(Pidf::parse(p.to_xml().as_bytes()).unwrap(), p);
    }

    #[test]
    fn priority_follows_rfc3863_4_1_5() {
        for (s, v) in [
            ("0", Some(0)),
            ("0.021", Some(21)),
            ("0.5", Some(500)),
            ("1.00", Some(1000)),
            (".8", Some(800)),
        ] {
            assert_eq!(parse_priority(s), v, "{s}");
        }
        for s in ["1.5", "-0.1", "0.1234", "", ".", "abc", "99999999"] {
            assert_eq!(parse_priority(s), None, "{s}");
        }
        assert_eq!(format_priority(7), "0.007");
    }

    #[test]
    fn non_pidf_documents_are_refused() {
        assert!(Pidf::parse(b"<presence xmlns='jabber:client'/>").is_err());
        assert!(Pidf::parse(b"<presence xmlns='urn:ietf:params:xml:ns:pidf'/>").is_err());
        assert!(Pidf::parse(b"not xml").is_err());
    }
}

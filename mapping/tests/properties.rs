//! Property tests (style.md: `parse(write(x)) == x`, round trips, no panics).
#![allow(clippy::unwrap_used)]

use parley_mapping::address::{
    AddressMapper, ForeignDomainPolicy, escape_localpart, unescape_localpart,
};
use parley_mapping::cpim::{self, CpimAddress, CpimHeader, CpimMessage};
use parley_mapping::pidf::{Activity, Basic, Contact, Note, Person, Pidf, Tuple};
use parley_mapping::{Jid, SipAddress, fuzzing};
use parley_xmpp::stanza::Show;
use proptest::prelude::*;

fn mapper() -> AddressMapper {
    AddressMapper {
        component_domain: "gw.example.org".into(),
        sip_domain: "sip.example.net".into(),
        foreign_domains: ForeignDomainPolicy::Allow,
    }
}

/// Printable text without control characters (what XML and CPIM can carry
/// unescaped or escaped).
fn text() -> impl Strategy<Value = String> {
    "[ -~\u{a0}-\u{2fff}]{0,40}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// XEP-0106: unescape(escape(x)) == x for any user name.
    #[test]
    fn xep0106_escape_round_trips(raw in "\\PC{1,40}") {
        let escaped = escape_localpart(&raw);
        prop_assert_eq!(unescape_localpart(&escaped), raw);
    }

    /// XEP-0106 + RFC 7622: an escaped name never holds a forbidden character.
    #[test]
    fn escaped_localpart_has_no_forbidden_characters(raw in "\\PC{1,40}") {
        let e = escape_localpart(&raw);
        prop_assert!(!e.chars().any(|c| " \"&'/:<>@".contains(c)));
    }

    /// Design §2: a SIP user of any name, ours or foreign, maps to a JID and
    /// back to the same user and host.
    #[test]
    fn sip_user_maps_to_jid_and_back(
        user in "[a-z0-9][a-z0-9._!~*'()&=+$,?/#%\\[\\]^`{|}\"<>@: -]{0,20}",
        foreign in any::<bool>(),
    ) {
        let m = mapper();
        let host = if foreign { "other.example" } else { "sip.example.net" };
        let mut uri = ezk_sip_types::uri::SipUri::new(ezk_sip_types::host::HostPort {
            host: host.parse().unwrap(),
            port: None,
        });
        uri.set_user(user.clone().into());
        let addr = SipAddress::from(uri);
        // Printing and parsing the URI keeps the user (percent-encoding).
        let reparsed = SipAddress::parse(&addr.to_string()).unwrap();
        prop_assert_eq!(reparsed.user(), Some(user.clone()));
        if let Ok(jid) = m.sip_user_to_jid(&addr) {
            let back = m.jid_to_sip_user(&jid).unwrap();
            // PRECIS case-maps the localpart; compare caselessly.
            prop_assert_eq!(back.user().unwrap().to_lowercase(), user.to_lowercase());
            prop_assert_eq!(back.host().unwrap(), host);
            prop_assert_eq!(Jid::parse(&jid.to_string()).unwrap(), jid);
        }
    }

    /// RFC 7247 §6.4/§6.5: an XMPP user maps to sip: and the target mapping
    /// gives the same JID back (resource as gr).
    #[test]
    fn xmpp_user_maps_to_sip_and_back(
        local in "[a-z0-9][a-z0-9 &'/:<>@\\\\ü.#%-]{0,15}",
        resource in proptest::option::of("[A-Za-z0-9 ;=/ü-]{1,12}"),
    ) {
        let m = mapper();
        let escaped = escape_localpart(&local);
        let Ok(jid) = Jid::new(Some(&escaped), "xmpp.example", resource.as_deref()) else {
            return Ok(());
        };
        let uri = m.xmpp_user_to_sip(&jid).unwrap();
        let reparsed = SipAddress::parse(&uri.to_string()).unwrap();
        prop_assert_eq!(m.sip_target_to_jid(&reparsed).unwrap(), jid);
    }

    /// RFC 3862 §2.3: unescape(escape(x)) == x, and the escaped form has no
    /// control characters (§2.2: "MUST NOT contain any control characters").
    #[test]
    fn cpim_header_escape_round_trips(value in "\\PC{0,10}[\\x00-\\x1f\\x7f\\\\]{0,5}\\PC{0,10}") {
        let escaped = cpim::escape(&value);
        prop_assert!(!escaped.chars().any(|c| c.is_control()));
        prop_assert_eq!(cpim::unescape(&escaped), value);
    }

    /// RFC 3862: parse(write(m)) == m for messages built from any values.
    #[test]
    fn cpim_round_trips(
        from_name in proptest::option::of("[A-Za-z\"\\\\ ü]{1,12}"),
        subject in "\\PC{0,20}[\\x00-\\x1f]{0,3}",
        content in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let from = CpimAddress { name: from_name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()), uri: "sip:a@b.example".into() };
        let to = CpimAddress { name: None, uri: "sip:c@d.example".into() };
        let mut m = CpimMessage::new(&from, &to, Some("2026-11-25T07:44:55Z"), "text/plain", content);
        m.headers.push(CpimHeader::new("Subject", &subject));
        let back = CpimMessage::parse(&m.to_bytes()).unwrap();
        prop_assert_eq!(back.from().unwrap(), from);
        prop_assert_eq!(back.subject().unwrap(), subject);
        prop_assert_eq!(back, m);
    }

    /// RFC 3863: parse(write(doc)) == doc.
    #[test]
    fn pidf_round_trips(doc in pidf_strategy()) {
        let xml = doc.to_xml();
        prop_assert_eq!(Pidf::parse(xml.as_bytes()).unwrap(), doc);
    }

    /// Parsers never panic on arbitrary bytes.
    #[test]
    fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        fuzzing::pidf(&data);
        fuzzing::cpim(&data);
        fuzzing::address(&data);
        fuzzing::message(&data);
    }

    /// Parsers never panic on almost-valid input either.
    #[test]
    fn parsers_never_panic_on_mutated_fixtures(
        which in 0usize..4,
        cut in 0usize..2000,
        flip in 0usize..2000,
        byte in any::<u8>(),
    ) {
        let fixtures: [&[u8]; 4] = [
            include_bytes!("fixtures/pidf/linphone-5.1-publish-pidf-rpid-note.xml"),
            include_bytes!("fixtures/pidf/rfc4480-4-example.xml"),
            include_bytes!("fixtures/cpim/rfc3862-5.1-example.cpim"),
            include_bytes!("fixtures/cpim/linphone-5.1-message-cpim-imdn.cpim"),
        ];
        let mut data = fixtures[which].to_vec();
        if !data.is_empty() {
            let i = flip % data.len();
            data[i] = byte;
            data.truncate(cut.max(1));
        }
        fuzzing::pidf(&data);
        fuzzing::cpim(&data);
        let mut msg = b"message/cpim\n\n".to_vec();
        msg.extend_from_slice(&data);
        fuzzing::message(&msg);
    }

    /// Any sip:/tel:/im: looking string: parsing never panics, and what
    /// parses prints to something that parses again.
    #[test]
    fn uri_print_parse_is_stable(s in "(sip|sips|tel|im|pres):[a-z0-9+%@.;=:-]{0,30}") {
        if let Ok(a) = SipAddress::parse(&s) {
            let printed = a.to_string();
            let again = SipAddress::parse(&printed).unwrap();
            prop_assert_eq!(again.to_string(), printed);
        }
    }
}

fn note() -> impl Strategy<Value = Note> {
    (text(), proptest::option::of("[a-z]{2}(-[A-Z]{2})?"))
        .prop_map(|(text, lang)| Note { text, lang })
}

fn activity() -> impl Strategy<Value = Activity> {
    let named: Vec<Activity> = Activity::all_named().collect();
    prop_oneof![
        proptest::sample::select(named),
        text().prop_map(Activity::Other),
    ]
}

fn show() -> impl Strategy<Value = Show> {
    proptest::sample::select(vec![Show::Away, Show::Chat, Show::Dnd, Show::Xa])
}

fn tuple() -> impl Strategy<Value = Tuple> {
    (
        "[A-Za-z][A-Za-z0-9._-]{0,10}",
        proptest::option::of(proptest::sample::select(vec![Basic::Open, Basic::Closed])),
        proptest::option::of(show()),
        proptest::collection::vec(activity(), 0..3),
        proptest::option::of((
            "(sip|im|tel):[a-z0-9+@.;=]{1,20}",
            proptest::option::of(0u16..=1000),
        )),
        proptest::collection::vec(note(), 0..3),
        proptest::option::of("20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z"),
    )
        .prop_map(
            |(id, basic, show, activities, contact, notes, timestamp)| Tuple {
                id,
                basic,
                show,
                activities,
                contact: contact.map(|(uri, priority)| Contact { uri, priority }),
                notes,
                timestamp,
            },
        )
}

fn pidf_strategy() -> impl Strategy<Value = Pidf> {
    (
        "(sip|pres):[a-z0-9]{1,8}@[a-z]{1,8}\\.example",
        proptest::collection::vec(tuple(), 0..4),
        proptest::collection::vec(note(), 0..2),
        proptest::collection::vec(
            (
                "[a-z][a-z0-9]{0,6}",
                proptest::collection::vec(activity(), 0..3),
                proptest::collection::vec(note(), 0..2),
            )
                .prop_map(|(id, activities, notes)| Person {
                    id,
                    activities,
                    notes,
                }),
            0..2,
        ),
    )
        .prop_map(|(entity, tuples, notes, persons)| Pidf {
            entity,
            tuples,
            notes,
            persons,
        })
}

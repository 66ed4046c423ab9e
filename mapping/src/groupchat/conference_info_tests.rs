#![allow(clippy::unwrap_used)]

use super::*;

fn bytes(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/conference-info/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).unwrap()
}

fn fixture(name: &str) -> ConferenceInfo {
    ConferenceInfo::parse(&bytes(name)).unwrap()
}

#[test]
fn rfc7702_5_4_example9_reads_room_users_and_endpoints() {
    let doc = fixture("rfc7702-5.4-example9.xml");
    assert_eq!(doc.entity, "sip:3402934234@chat.example.org");
    assert_eq!((doc.state, doc.version), (ElementState::Full, 0));
    let d = doc.description.as_ref().unwrap();
    assert_eq!(d.subject.as_deref(), Some("Today in Verona"));
    assert_eq!(d.conf_uris[0].uri, "tel:+18882934234");
    let users = &doc.users.as_ref().unwrap().users;
    let names: Vec<_> = users.iter().map(|u| u.display_text.as_deref()).collect();
    assert_eq!(names, [Some("Romeo"), Some("Ben"), Some("JuliC")]);
    let romeo = &users[0];
    assert_eq!(romeo.entity, "sip:montague@chat.example.org;gr=Romeo");
    assert_eq!(
        romeo.roles.as_deref(),
        Some(&["participant".to_owned()][..])
    );
    assert_eq!(
        romeo.associated_aors.as_ref().unwrap()[0].uri,
        "xmpp:romeo@example.org/dr4hcr0st3lup4c"
    );
    let ep = &romeo.endpoints[0];
    assert_eq!(ep.status, Some(EndpointStatus::Connected));
    assert_eq!(
        ep.joining_info.as_ref().unwrap().when.as_deref(),
        Some("2013-12-12T10:01:03.691128+01:00")
    );
    assert_eq!(ep.media[0].id, "211835820");
    assert_eq!(ep.media[0].media_type.as_deref(), Some("message"));
}

#[test]
fn rfc7702_6_2_example32_reads_two_uris_in_one_entry_as_the_first() {
    let doc = fixture("rfc7702-6.2-example32.xml");
    assert_eq!(doc.entity, "sip:capulet@rooms.example.com");
    let d = doc.description.unwrap();
    assert_eq!(d.conf_uris.len(), 1);
    assert_eq!(d.conf_uris[0].uri, "tel:+18882934234");
    assert_eq!(doc.users.unwrap().users.len(), 2);
}

#[test]
fn rfc7701_9_6_figure7_reads_xcon_nicknames() {
    let doc = fixture("rfc7701-9.6-figure7.xml");
    assert_eq!(doc.version, 1);
    let users = doc.users.unwrap().users;
    assert_eq!(users[0].nickname.as_deref(), Some("Dopey Donkey"));
    assert_eq!(users[0].display_text.as_deref(), Some("Bob Hoskins"));
    assert_eq!(users[1].nickname.as_deref(), Some("Alice the great"));
    assert_eq!(doc.conference_state.unwrap().user_count, Some(2));
}

#[test]
fn rfc4575_7_1_basic_reads_endpoint_methods_and_media() {
    let doc = fixture("rfc4575-7.1-basic.xml");
    assert_eq!(doc.entity, "sips:conf233@example.com");
    let d = doc.description.unwrap();
    assert_eq!(d.service_uris[0].purpose.as_deref(), Some("web-page"));
    let users = doc.users.unwrap().users;
    let bob = &users[0].endpoints[0];
    assert_eq!(bob.status, Some(EndpointStatus::Disconnected));
    assert_eq!(
        bob.disconnection_method,
        Some(DisconnectionMethod::Departed)
    );
    assert_eq!(bob.media[0].status.as_deref(), Some("sendrecv"));
    let alice = &users[1].endpoints[0];
    assert_eq!(alice.joining_method, Some(JoiningMethod::DialedOut));
    assert_eq!(
        alice.joining_info.as_ref().unwrap().by.as_deref(),
        Some("sip:mike@example.com")
    );
}

#[test]
fn rfc4575_7_2_rich_reads_a_partial_document() {
    let doc = fixture("rfc4575-7.2-rich.xml");
    assert_eq!((doc.state, doc.version), (ElementState::Partial, 5));
    let state = doc.conference_state.unwrap();
    assert_eq!(
        (state.user_count, state.active, state.locked),
        (Some(32), Some(true), Some(false))
    );
    assert_eq!(doc.description.unwrap().maximum_user_count, Some(100));
    let bob = &doc.users.unwrap().users[0];
    assert_eq!(bob.state, ElementState::Full);
    assert_eq!(
        bob.associated_aors.as_ref().unwrap()[0]
            .display_text
            .as_deref(),
        Some("email")
    );
    assert_eq!(
        bob.endpoints[0].disconnection_method,
        Some(DisconnectionMethod::Booted)
    );
}

#[test]
fn every_fixture_survives_write_then_parse() {
    for name in [
        "rfc4575-7.1-basic.xml",
        "rfc4575-7.2-rich.xml",
        "rfc7701-9.6-figure7.xml",
        "rfc7702-5.4-example9.xml",
        "rfc7702-6.2-example32.xml",
    ] {
        let doc = fixture(name);
        let written = doc.to_xml();
        assert_eq!(ConferenceInfo::parse(written.as_bytes()), Ok(doc), "{name}");
    }
}

#[test]
fn written_nickname_uses_the_xcon_namespace() {
    let doc = fixture("rfc7701-9.6-figure7.xml");
    let xml = doc.to_xml();
    assert!(xml.contains(r#"xmlns:xcon="urn:ietf:params:xml:ns:xcon-conference-info""#));
    assert!(xml.contains(r#"xcon:nickname="Dopey Donkey""#));
}

#[test]
fn document_that_is_not_xml_is_a_typed_error() {
    let err = ConferenceInfo::parse(b"SIP/2.0 200 OK").unwrap_err();
    assert_eq!(err.kind(), "not_xml");
    let err = ConferenceInfo::parse(b"<conference-info entity='x' version='1'>").unwrap_err();
    assert_eq!(err.kind(), "not_xml");
    let dtd = br#"<!DOCTYPE a [<!ENTITY x "y">]><conference-info entity="&x;" version="1"/>"#;
    assert_eq!(ConferenceInfo::parse(dtd).unwrap_err().kind(), "not_xml");
}

#[test]
fn other_document_is_not_conference_info() {
    let pidf = br#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"/>"#;
    assert_eq!(
        ConferenceInfo::parse(pidf),
        Err(ConferenceInfoError::NotConferenceInfo)
    );
    let wrong_ns = br#"<conference-info xmlns="urn:example" entity="sip:a@b" version="1"/>"#;
    assert_eq!(
        ConferenceInfo::parse(wrong_ns).unwrap_err().kind(),
        "not_conference_info"
    );
}

#[test]
fn missing_version_or_entity_and_bad_state_are_refused() {
    let ns = NS_CONFERENCE_INFO;
    let no_version = format!(r#"<conference-info xmlns="{ns}" entity="sip:a@b"/>"#);
    assert_eq!(
        ConferenceInfo::parse(no_version.as_bytes()),
        Err(ConferenceInfoError::MissingAttribute {
            element: "conference-info",
            attribute: "version"
        })
    );
    let no_entity = format!(r#"<conference-info xmlns="{ns}" version="1"/>"#);
    assert_eq!(
        ConferenceInfo::parse(no_entity.as_bytes())
            .unwrap_err()
            .kind(),
        "missing_attribute"
    );
    let bad_state =
        format!(r#"<conference-info xmlns="{ns}" entity="sip:a@b" version="1" state="half"/>"#);
    assert_eq!(
        ConferenceInfo::parse(bad_state.as_bytes())
            .unwrap_err()
            .kind(),
        "invalid_attribute"
    );
    let big_version =
        format!(r#"<conference-info xmlns="{ns}" entity="sip:a@b" version="4294967296"/>"#);
    assert_eq!(
        ConferenceInfo::parse(big_version.as_bytes())
            .unwrap_err()
            .kind(),
        "invalid_attribute"
    );
    let keyless = format!(
        r#"<conference-info xmlns="{ns}" entity="sip:a@b" version="1"><users><user/></users></conference-info>"#
    );
    assert_eq!(
        ConferenceInfo::parse(keyless.as_bytes())
            .unwrap_err()
            .kind(),
        "missing_attribute"
    );
}

#[test]
fn duplicate_user_key_is_refused() {
    let ns = NS_CONFERENCE_INFO;
    let dup = format!(
        r#"<conference-info xmlns="{ns}" entity="sip:a@b" version="1"><users><user entity="sip:x@b"/><user entity="sip:x@b"/></users></conference-info>"#
    );
    assert_eq!(
        ConferenceInfo::parse(dup.as_bytes()),
        Err(ConferenceInfoError::DuplicateKey { element: "user" })
    );
}

#[test]
fn unbounded_user_list_is_refused_at_the_limit() {
    let ns = NS_CONFERENCE_INFO;
    let users: String = (0..=1000)
        .map(|i| format!(r#"<user entity="sip:u{i}@b"/>"#))
        .collect();
    let doc = format!(
        r#"<conference-info xmlns="{ns}" entity="sip:a@b" version="1"><users>{users}</users></conference-info>"#
    );
    assert_eq!(
        ConferenceInfo::parse(doc.as_bytes()),
        Err(ConferenceInfoError::TooMany {
            element: "user",
            limit: 1000
        })
    );
    let small = ConferenceLimits {
        max_users: 2000,
        ..ConferenceLimits::default()
    };
    assert_eq!(
        ConferenceInfo::parse_with(doc.as_bytes(), small)
            .unwrap()
            .users
            .unwrap()
            .users
            .len(),
        1001
    );
}

#[test]
fn oversized_or_deep_document_is_refused_before_reading_users() {
    let limits = ConferenceLimits {
        max_bytes: 100,
        ..ConferenceLimits::default()
    };
    let big = vec![b' '; 101];
    assert_eq!(
        ConferenceInfo::parse_with(&big, limits),
        Err(ConferenceInfoError::TooLarge { limit: 100 })
    );
    let deep = format!(
        r#"<conference-info xmlns="{NS_CONFERENCE_INFO}" entity="sip:a@b" version="1">{}{}</conference-info>"#,
        "<x>".repeat(40),
        "</x>".repeat(40)
    );
    assert_eq!(
        ConferenceInfo::parse(deep.as_bytes()),
        Err(ConferenceInfoError::TooComplex)
    );
}

#[test]
fn children_of_a_deleted_user_are_ignored() {
    let ns = NS_CONFERENCE_INFO;
    let doc = format!(
        r#"<conference-info xmlns="{ns}" entity="sip:a@b" version="2" state="partial"><users state="partial"><user entity="sip:x@b" state="deleted"><display-text>x</display-text></user></users></conference-info>"#
    );
    let user = &ConferenceInfo::parse(doc.as_bytes())
        .unwrap()
        .users
        .unwrap()
        .users[0];
    assert_eq!(user.state, ElementState::Deleted);
    assert_eq!(user.display_text, None);
}

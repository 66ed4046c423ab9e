#![allow(clippy::unwrap_used)]

use super::*;
use crate::groupchat::conference_info::ConferenceInfo;

fn fixture(name: &str) -> ConferenceInfo {
    let path = format!(
        "{}/tests/fixtures/conference-info/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    ConferenceInfo::parse(&std::fs::read(path).unwrap()).unwrap()
}

fn sip(s: &str) -> SipAddress {
    SipAddress::parse(s).unwrap()
}

fn presence(from: &str, kind: Option<PresenceType>, x: Element) -> Presence {
    Presence {
        from: Some(from.into()),
        to: Some("romeo@example.org/dr4hcr0st3lup4c".into()),
        presence_type: kind,
        payloads: vec![x],
        ..Presence::default()
    }
}

fn muc_user(item: &[(&str, &str)], codes: &[u16]) -> Element {
    let mut x = Element::new("x", NS_MUC_USER);
    let mut i = Element::new("item", NS_MUC_USER);
    i.attrs = item
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    x.children.push(Node::Element(i));
    for c in codes {
        let mut s = Element::new("status", NS_MUC_USER);
        s.attrs.push(("code".into(), c.to_string()));
        x.children.push(Node::Element(s));
    }
    x
}

/// RFC 7702 §5.4 Example 9 → Example 10, user by user (Table 2, Table 3).
#[test]
fn rfc7702_5_4_users_become_participants_with_affiliation_none() {
    let doc = fixture("rfc7702-5.4-example9.xml");
    let conf = sip("sip:montague@chat.example.org");
    let romeo = OccupantPresence::from_user(&doc.users.as_ref().unwrap().users[0], &conf).unwrap();
    assert_eq!(romeo.nickname, "Romeo");
    assert_eq!(
        (romeo.role, romeo.affiliation),
        (MucRole::Participant, MucAffiliation::None)
    );
    assert!(romeo.available);
    // Table 2: associated-aors → "user full JID (if avail.)".
    assert_eq!(
        romeo.real_jid.as_deref(),
        Some("romeo@example.org/dr4hcr0st3lup4c")
    );
}

/// RFC 7701 §7.4 / RFC 7702 §7: the XCON nickname wins over display-text.
#[test]
fn rfc7702_7_xcon_nickname_wins_over_display_text() {
    let doc = fixture("rfc7701-9.6-figure7.xml");
    let conf = sip("sip:chatroom22@chat.example.com");
    let bob = OccupantPresence::from_user(&doc.users.as_ref().unwrap().users[0], &conf).unwrap();
    assert_eq!(bob.nickname, "Dopey Donkey");
}

#[test]
fn user_without_any_nickname_uses_the_gr_of_a_room_entity_or_is_skipped() {
    let conf = sip("sip:montague@chat.example.org");
    let gr = User {
        entity: "sip:montague@chat.example.org;gr=Ben".into(),
        ..User::default()
    };
    assert_eq!(
        OccupantPresence::from_user(&gr, &conf).unwrap().nickname,
        "Ben"
    );
    let anonymous = User {
        entity: "sip:anonymous1@anonymous.invalid".into(),
        ..User::default()
    };
    assert_eq!(OccupantPresence::from_user(&anonymous, &conf), None);
}

/// RFC 4575 §7.1: Bob's only endpoint is disconnected (departed): he is not
/// in the room; §5.7.6 `booted` adds XEP-0045's 307.
#[test]
fn disconnected_user_is_unavailable_and_booted_is_kicked() {
    let doc = fixture("rfc4575-7.1-basic.xml");
    let conf = sip("sips:conf233@example.com");
    let users = &doc.users.as_ref().unwrap().users;
    let bob = OccupantPresence::from_user(&users[0], &conf).unwrap();
    assert!(!bob.available);
    assert!(bob.status_codes.is_empty());
    let mut booted = users[0].clone();
    booted.endpoints[0].disconnection_method = Some(DisconnectionMethod::Booted);
    let bob = OccupantPresence::from_user(&booted, &conf).unwrap();
    assert_eq!(bob.status_codes, [STATUS_KICKED]);
    assert!(
        OccupantPresence::from_user(&users[1], &conf)
            .unwrap()
            .available
    );
}

/// RFC 7702 §5.4 Example 10, the third stanza, byte for byte in structure.
#[test]
fn rfc7702_5_4_example10_self_presence_carries_110() {
    let room = Jid::parse("montague@chat.example.org").unwrap();
    let own = OccupantPresence {
        nickname: "JuliC".into(),
        available: true,
        status_codes: vec![STATUS_SELF],
        ..OccupantPresence::default()
    };
    let p = own
        .to_presence(&room, "juliet@example.com/yn0cl4bnw0yr3vym")
        .unwrap();
    assert_eq!(p.from.as_deref(), Some("montague@chat.example.org/JuliC"));
    assert_eq!(p.presence_type, None);
    assert_eq!(
        p.payloads[0],
        muc_user(&[("affiliation", "none"), ("role", "participant")], &[110])
    );
}

/// RFC 7702 §6.2 Example 31: what the MUC sends is read back.
#[test]
fn rfc7702_6_2_example31_presence_is_read() {
    let p = presence(
        "capulet@rooms.example.com/Romeo",
        None,
        muc_user(&[("affiliation", "none"), ("role", "participant")], &[110]),
    );
    let o = OccupantPresence::from_presence(&p).unwrap();
    assert_eq!(o.nickname, "Romeo");
    assert!(o.is_self() && o.available);
    let gone = presence(
        "capulet@rooms.example.com/Ben",
        Some(PresenceType::Unavailable),
        muc_user(
            &[
                ("affiliation", "none"),
                ("role", "none"),
                ("nick", "Benvolio"),
            ],
            &[303],
        ),
    );
    let o = OccupantPresence::from_presence(&gone).unwrap();
    assert!(!o.available);
    assert_eq!(o.new_nickname.as_deref(), Some("Benvolio"));
    let error = Presence {
        presence_type: Some(PresenceType::Error),
        ..p.clone()
    };
    assert_eq!(OccupantPresence::from_presence(&error), None);
}

/// RFC 7702 §6.2 Example 32: JuliC's user element.
#[test]
fn rfc7702_6_2_example32_occupant_becomes_user() {
    let room = sip("sip:capulet@rooms.example.com");
    let julic = OccupantPresence {
        nickname: "JuliC".into(),
        available: true,
        ..OccupantPresence::default()
    };
    let user = julic.to_user(&room);
    let want = &fixture("rfc7702-6.2-example32.xml").users.unwrap().users[0];
    assert_eq!(user.entity, want.entity);
    assert_eq!(user.display_text, want.display_text);
    assert_eq!(user.roles, want.roles);
    assert_eq!(user.endpoints[0].entity, want.endpoints[0].entity);
    assert_eq!(user.endpoints[0].status, want.endpoints[0].status);
    assert_eq!(user.nickname.as_deref(), Some("JuliC"));
    // And back again.
    assert_eq!(OccupantPresence::from_user(&user, &room).unwrap(), julic);
}

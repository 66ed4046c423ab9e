#![allow(clippy::unwrap_used)]

use super::*;
use crate::groupchat::occupant::{MucRole, NS_MUC_USER};

fn fixture(name: &str) -> ConferenceInfo {
    let path = format!(
        "{}/tests/fixtures/conference-info/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    ConferenceInfo::parse(&std::fs::read(path).unwrap()).unwrap()
}

fn occupant(nick: &str, codes: &[u16], available: bool) -> OccupantPresence {
    OccupantPresence {
        nickname: nick.into(),
        role: MucRole::Participant,
        available,
        status_codes: codes.to_vec(),
        ..OccupantPresence::default()
    }
}

fn codes(p: &Presence) -> Vec<String> {
    p.payloads[0]
        .children
        .iter()
        .filter_map(|n| match n {
            parley_xmpp::stanza::Node::Element(e) if e.name == "status" && e.ns == NS_MUC_USER => {
                e.attr("code").map(str::to_owned)
            }
            _ => None,
        })
        .collect()
}

/// RFC 7702 §5.4 Example 9 → Example 10: three presences, JuliC's last with 110.
#[test]
fn rfc7702_5_4_example10_self_presence_is_last_with_110() {
    let doc = fixture("rfc7702-5.4-example9.xml");
    let conf = SipAddress::parse("sip:montague@chat.example.org").unwrap();
    let room = Jid::parse("montague@chat.example.org").unwrap();
    let to = "juliet@example.com/yn0cl4bnw0yr3vym";
    let out = roster_presences(&doc, &conf, &room, to, "JuliC").unwrap();
    let from: Vec<_> = out.iter().map(|p| p.from.clone().unwrap()).collect();
    assert_eq!(
        from,
        [
            "montague@chat.example.org/Romeo",
            "montague@chat.example.org/Ben",
            "montague@chat.example.org/JuliC"
        ]
    );
    assert!(codes(&out[0]).is_empty() && codes(&out[1]).is_empty());
    assert_eq!(codes(&out[2]), ["110"]);
    assert!(out.iter().all(|p| p.to.as_deref() == Some(to)));
}

/// XEP-0045: the self-presence goes last even when the focus lists it first.
#[test]
fn self_presence_is_last_whatever_the_document_order() {
    let doc = fixture("rfc7702-5.4-example9.xml");
    let conf = SipAddress::parse("sip:montague@chat.example.org").unwrap();
    let room = Jid::parse("montague@chat.example.org").unwrap();
    let out = roster_presences(&doc, &conf, &room, "j@x/y", "Romeo").unwrap();
    assert_eq!(
        out[2].from.as_deref(),
        Some("montague@chat.example.org/Romeo")
    );
    assert_eq!(codes(&out[2]), ["110"]);
}

/// RFC 7702 §5.4 Example 11.
#[test]
fn rfc7702_5_4_example11_subject_becomes_a_subject_message() {
    let doc = fixture("rfc7702-5.4-example9.xml");
    let room = Jid::parse("montague@chat.example.org").unwrap();
    let m = subject_message(&doc, &room, "juliet@example.com/yn0cl4bnw0yr3vym").unwrap();
    assert_eq!(m.subject.as_deref(), Some("Today in Verona"));
    assert_eq!(m.from.as_deref(), Some("montague@chat.example.org"));
    assert_eq!(m.body, None);
}

/// RFC 7702 §6.2: Example 31's presences (self first there: Romeo with 110)
/// complete the roster when the self-presence arrives, then Example 32.
#[test]
fn rfc7702_6_2_roster_completes_on_self_presence_then_changes() {
    let mut roster = MucRoster::new(10);
    assert_eq!(
        roster.handle_presence(occupant("JuliC", &[], true)),
        RosterEvent::Pending
    );
    assert_eq!(
        roster.handle_presence(occupant("Ben", &[], true)),
        RosterEvent::Pending
    );
    assert!(!roster.is_complete());
    assert_eq!(
        roster.handle_presence(occupant("Romeo", &[110], true)),
        RosterEvent::Complete
    );
    let room = SipAddress::parse("sip:capulet@rooms.example.com").unwrap();
    let doc = roster.to_conference_info(&room, 0, Some("Today in Verona"));
    let want = fixture("rfc7702-6.2-example32.xml");
    assert_eq!(doc.entity, want.entity);
    assert_eq!(
        doc.description.as_ref().unwrap().subject,
        want.description.unwrap().subject
    );
    let users = &doc.users.as_ref().unwrap().users;
    let entities: Vec<_> = users.iter().map(|u| u.entity.as_str()).collect();
    assert_eq!(
        entities,
        [
            "sip:capulet@rooms.example.com;gr=JuliC",
            "sip:capulet@rooms.example.com;gr=Ben",
            "sip:capulet@rooms.example.com;gr=Romeo"
        ]
    );
    // Status codes describe a presence, not the occupant.
    assert!(roster.occupants()[2].status_codes.is_empty());
    // Written and read back, it is the same document.
    assert_eq!(
        ConferenceInfo::parse(doc.to_xml().as_bytes()),
        Ok(doc.clone())
    );
    // A leave after completion is a change; the next partial says deleted.
    assert_eq!(
        roster.handle_presence(occupant("Ben", &[], false)),
        RosterEvent::Changed
    );
    let next = roster.to_conference_info(&room, 0, Some("Today in Verona"));
    let partial = crate::groupchat::partial_update(&doc, &next, 1).unwrap();
    let rows = partial.users.unwrap().users;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, ElementState::Deleted);
    assert!(rows[0].entity.ends_with("gr=Ben"));
}

#[test]
fn roster_holds_no_more_than_its_bound() {
    let mut roster = MucRoster::new(2);
    roster.handle_presence(occupant("a", &[], true));
    roster.handle_presence(occupant("b", &[], true));
    assert_eq!(
        roster.handle_presence(occupant("c", &[], true)),
        RosterEvent::TooManyOccupants
    );
    assert_eq!(roster.occupants().len(), 2);
}

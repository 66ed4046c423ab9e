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

/// Over the bound, the self-presence is still recorded and still completes
/// the roster (§6.2: complete "when it has received the in-room presence of
/// the SIP user"); the others left out are counted.
#[test]
fn self_presence_completes_the_roster_even_past_its_bound() {
    let mut roster = MucRoster::new(2);
    for nick in ["a", "b"] {
        assert_eq!(
            roster.handle_presence(occupant(nick, &[], true)),
            RosterEvent::Pending
        );
    }
    for nick in ["c", "d"] {
        assert_eq!(
            roster.handle_presence(occupant(nick, &[], true)),
            RosterEvent::TooManyOccupants
        );
    }
    assert_eq!(
        roster.handle_presence(occupant("Romeo", &[110], true)),
        RosterEvent::Complete
    );
    assert!(roster.is_complete());
    let nicks: Vec<_> = roster
        .occupants()
        .iter()
        .map(|o| o.nickname.as_str())
        .collect();
    assert_eq!(nicks, ["a", "b", "Romeo"]);
    assert_eq!(roster.dropped(), 2);
    // Still full for others after completion; the own occupant's
    // nickname change (303 pair) goes through.
    assert_eq!(
        roster.handle_presence(occupant("e", &[], true)),
        RosterEvent::TooManyOccupants
    );
    assert_eq!(roster.dropped(), 3);
    roster.handle_presence(occupant("Romeo", &[303, 110], false));
    assert_eq!(
        roster.handle_presence(occupant("montecchi", &[110], true)),
        RosterEvent::Changed
    );
    let nicks: Vec<_> = roster
        .occupants()
        .iter()
        .map(|o| o.nickname.as_str())
        .collect();
    assert_eq!(nicks, ["a", "b", "montecchi"]);
}

fn item_nick(p: &Presence) -> Option<String> {
    p.payloads[0].children.iter().find_map(|n| match n {
        parley_xmpp::stanza::Node::Element(e) if e.name == "item" => {
            e.attr("nick").map(str::to_owned)
        }
        _ => None,
    })
}

/// XEP-0045 nickname change from a conference user renamed in place; a
/// user who leaves, one who joins.
#[test]
fn changes_become_presence_with_the_303_pair_for_a_new_nickname() {
    let before = fixture("rfc7702-5.4-example9.xml");
    let mut after = before.clone();
    let users = &mut after.users.as_mut().unwrap().users;
    users[0].display_text = Some("Montecchi".into());
    users.remove(1);
    let mut newcomer = users[0].clone();
    newcomer.entity = "sip:montague@chat.example.org;gr=Mercutio".into();
    newcomer.display_text = Some("Mercutio".into());
    newcomer.associated_aors = None;
    users.push(newcomer);
    let changes = crate::groupchat::user_changes(Some(&before), Some(&after));
    let conf = SipAddress::parse("sip:montague@chat.example.org").unwrap();
    let room = Jid::parse("montague@chat.example.org").unwrap();
    let out = change_presences(&changes, &conf, &room, "j@x/y", "JuliC").unwrap();
    let from: Vec<_> = out.iter().map(|p| p.from.clone().unwrap()).collect();
    assert_eq!(
        from,
        [
            "montague@chat.example.org/Romeo",
            "montague@chat.example.org/Montecchi",
            "montague@chat.example.org/Mercutio",
            "montague@chat.example.org/Ben"
        ]
    );
    use parley_xmpp::stanza::PresenceType::Unavailable;
    assert_eq!(out[0].presence_type, Some(Unavailable));
    assert_eq!(codes(&out[0]), ["303"]);
    assert_eq!(item_nick(&out[0]).as_deref(), Some("Montecchi"));
    assert_eq!(out[1].presence_type, None);
    assert_eq!(out[2].presence_type, None);
    assert_eq!(out[3].presence_type, Some(Unavailable));
}

#[test]
fn own_nickname_change_is_marked_110() {
    let before = fixture("rfc7702-5.4-example9.xml");
    let mut after = before.clone();
    after.users.as_mut().unwrap().users[2].display_text = Some("CapuletGirl".into());
    let changes = crate::groupchat::user_changes(Some(&before), Some(&after));
    let conf = SipAddress::parse("sip:montague@chat.example.org").unwrap();
    let room = Jid::parse("montague@chat.example.org").unwrap();
    let out = change_presences(&changes, &conf, &room, "j@x/y", "JuliC").unwrap();
    assert_eq!(codes(&out[0]), ["303", "110"]);
    assert_eq!(codes(&out[1]), ["110"]);
}

fn item_role(p: &Presence) -> Option<String> {
    p.payloads[0].children.iter().find_map(|n| match n {
        parley_xmpp::stanza::Node::Element(e) if e.name == "item" => {
            e.attr("role").map(str::to_owned)
        }
        _ => None,
    })
}

/// XEP-0045 §7.14 "Exiting a Room": the departure's presence has
/// `<item ... role='none'/>`; the first half of a nickname change (303,
/// §7.6) is no departure and keeps the occupant's role.
#[test]
fn xep0045_7_14_a_user_who_leaves_gets_role_none() {
    let before = fixture("rfc7702-5.4-example9.xml");
    let mut after = before.clone();
    let users = &mut after.users.as_mut().unwrap().users;
    users[0].display_text = Some("Montecchi".into());
    users.remove(1);
    let changes = crate::groupchat::user_changes(Some(&before), Some(&after));
    let conf = SipAddress::parse("sip:montague@chat.example.org").unwrap();
    let room = Jid::parse("montague@chat.example.org").unwrap();
    let out = change_presences(&changes, &conf, &room, "j@x/y", "JuliC").unwrap();
    let gone = out
        .iter()
        .find(|p| p.from.as_deref() == Some("montague@chat.example.org/Ben"))
        .unwrap();
    assert_eq!(
        gone.presence_type,
        Some(parley_xmpp::stanza::PresenceType::Unavailable)
    );
    assert_eq!(item_role(gone).as_deref(), Some("none"));
    assert_eq!(codes(&out[0]), ["303"]);
    assert_eq!(item_role(&out[0]).as_deref(), Some("participant"));
}

//! RFC 8048 §6: presence notifications, PIDF ↔ XMPP `<presence/>`.
//!
//! RFC 8048 maps basic availability (Tables 1 and 2). Beyond it, RPID
//! activities (RFC 4480) ↔ `<show/>`: a `<show xmlns='jabber:client'>` (RFC
//! 8048 §6.2 note 7) wins when present, else the person's activities decide.
//! Output always carries `<basic>`, so peers without RPID still get
//! open/closed.

use parley_sip::StatusCode;
use parley_sip::dialog::subscription::refresh_failure_terminates;
use parley_xmpp::stanza::{Presence, PresenceType, Show};

use crate::address::{AddressMapper, Jid};
use crate::failure::MappingError;
use crate::pidf::{Activity, Basic, Contact, Note, Person, Pidf, Tuple};

/// What a failed refresh of an XMPP user's SIP subscription means for the
/// subscription and for her presence authorization (RFC 8048 §5.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshFailure {
    /// The XMPP presence authorization is permanently cancelled.
    Cancelled,
    /// The subscription is terminated, the authorization stands: subscribe
    /// afresh.
    Terminated,
    /// The subscription stays valid until its expiry.
    Transient,
}

impl RefreshFailure {
    /// RFC 8048 §5.2.2 first, then RFC 6665 §4.1.2.2 (which it says "also
    /// apply to XMPP-to-SIP gateways"). `None`: no response at all, which
    /// RFC 6665 counts with "any error code other than those listed".
    pub fn of(status: Option<StatusCode>) -> Self {
        let Some(status) = status else {
            return Self::Transient;
        };
        match status.code() {
            // RFC 8048 §5.2.2: "MUST consider the XMPP presence authorization
            // to be permanently cancelled (and so inform the XMPP user) if it
            // receives a SIP response of 403, 489, or 603." 489 is in RFC
            // 6665's list as well; the gateway's own rule is the stronger.
            403 | 489 | 603 => Self::Cancelled,
            // RFC 8048 §5.2.2: "it is appropriate to consider a SIP response of
            // 423 or 481 to be a transient error and to honor the long-lived
            // XMPP presence authorization": the dialog is not refreshed, the
            // authorization is, by a new subscription.
            423 | 481 => Self::Terminated,
            _ if refresh_failure_terminates(status) => Self::Terminated,
            _ => Self::Transient,
        }
    }
}

/// SIP → XMPP (RFC 8048 §6.3, Table 2): the presence a PIDF document
/// announces, from `from` (the mapped SIP presentity) to `to`.
///
/// The tuples are folded into one stanza from the bare JID (as in Example
/// 21): the most available tuple decides (open before closed, then the
/// higher contact priority). Returns `None` when the document carries no
/// availability at all (every `<basic>` missing or `unknown`, as baresip
/// sends): no information, so nothing to tell XMPP.
pub fn to_xmpp(pidf: &Pidf, from: &Jid, to: &Jid) -> Option<Presence> {
    let mut presence = Presence {
        from: Some(from.to_string()),
        to: Some(to.to_string()),
        ..Presence::default()
    };
    if pidf.tuples.is_empty() {
        // A document with no tuples says the presentity has no reachable
        // communication means: unavailable.
        presence.presence_type = Some(PresenceType::Unavailable);
        presence.status = pidf.notes.first().map(|n| n.text.clone());
        return Some(presence);
    }
    let best = pidf
        .tuples
        .iter()
        .filter(|t| t.basic.is_some())
        .rev()
        .max_by_key(|t| {
            (
                t.basic == Some(Basic::Open),
                t.contact.as_ref().and_then(|c| c.priority),
            )
        })?;
    // Table 2 note 1: open → no type; closed → unavailable.
    if best.basic == Some(Basic::Closed) {
        presence.presence_type = Some(PresenceType::Unavailable);
    } else {
        presence.show = best
            .show
            .or_else(|| show_for(pidf.persons.iter().flat_map(|p| &p.activities)))
            .or_else(|| show_for(&best.activities));
        // Table 2 note 2 → Table 1 note 6: PIDF 0..1 ↔ XMPP 0..127.
        presence.priority = best
            .contact
            .as_ref()
            .and_then(|c| c.priority)
            .map(priority_from_pidf);
    }
    // Table 2: <note/> → <status/>; the tuple's own note first.
    presence.status = best
        .notes
        .first()
        .or_else(|| pidf.persons.iter().flat_map(|p| &p.notes).next())
        .or_else(|| pidf.notes.first())
        .map(|n| n.text.clone());
    Some(presence)
}

/// XMPP → SIP (RFC 8048 §6.2, Table 1): one PIDF document for one XMPP
/// user from the current presence of each of its resources.
///
/// `entity` is the presentity URI the watcher subscribed to. Each presence
/// becomes one tuple with id `ID-<resource>` (Table 1 note 2; characters not
/// allowed in an `xs:ID` are written `_XX`), basic open or closed (notes 4
/// and 5), the sender's SIP URI with its GRUU as contact, a non-negative
/// `<priority/>` as contact priority (note 6), `<status/>` as the tuple's
/// note and `<show/>` as RFC 8048's `jabber:client` extension. With `rich`,
/// a `<dm:person>` also carries the RPID activity of the most available
/// resource; without it, peers get plain open/closed.
pub fn to_pidf(
    entity: &str,
    presences: &[Presence],
    mapper: &AddressMapper,
    rich: bool,
) -> Result<Pidf, MappingError> {
    let mut pidf = Pidf {
        entity: entity.to_owned(),
        ..Pidf::default()
    };
    for p in presences {
        let basic = match p.presence_type {
            None => Basic::Open,
            Some(PresenceType::Unavailable) => Basic::Closed,
            // Table 1 note 1: only available/unavailable are notifications.
            Some(_) => return Err(MappingError::NotANotification),
        };
        let from = Jid::parse(
            p.from
                .as_deref()
                .ok_or(MappingError::MissingAddress { attribute: "from" })?,
        )?;
        let contact = mapper.xmpp_user_to_sip(&from)?;
        let open = basic == Basic::Open;
        pidf.tuples.push(Tuple {
            id: tuple_id(from.resource()),
            basic: Some(basic),
            show: if rich && open { p.show } else { None },
            activities: Vec::new(),
            contact: Some(Contact {
                uri: contact.to_string(),
                // Note 6: a negative priority "MUST NOT" be mapped.
                priority: p
                    .priority
                    .filter(|&prio| prio >= 0 && open)
                    .map(priority_to_pidf),
            }),
            notes: p
                .status
                .iter()
                .map(|s| Note {
                    text: s.clone(),
                    lang: p.lang.clone(),
                })
                .collect(),
            timestamp: None,
        });
    }
    if rich {
        let most_available = presences
            .iter()
            .filter(|p| p.presence_type.is_none())
            .min_by_key(|p| show_rank(p.show));
        if let Some(activity) = most_available.and_then(|p| p.show).and_then(activity_for) {
            pidf.persons.push(Person {
                id: "p1".into(),
                activities: vec![activity],
                notes: Vec::new(),
            });
        }
    }
    Ok(pidf)
}

/// Parse a PIDF body and translate it (see [`to_xmpp`]).
pub fn pidf_body_to_xmpp(
    body: &[u8],
    from: &Jid,
    to: &Jid,
) -> Result<Option<Presence>, MappingError> {
    Ok(to_xmpp(&Pidf::parse(body)?, from, to))
}

/// RPID activities → `<show/>`: the least available wins (dnd, then xa,
/// then away); activities that do not limit availability map to nothing.
pub(crate) fn show_for<'a>(activities: impl IntoIterator<Item = &'a Activity>) -> Option<Show> {
    activities
        .into_iter()
        .filter_map(|a| match a {
            Activity::Busy
            | Activity::OnThePhone
            | Activity::Meeting
            | Activity::Appointment
            | Activity::Performance
            | Activity::Presentation
            | Activity::Worship
            | Activity::Steering => Some(Show::Dnd),
            Activity::Vacation
            | Activity::Holiday
            | Activity::PermanentAbsence
            | Activity::Travel
            | Activity::Sleeping => Some(Show::Xa),
            Activity::Away
            | Activity::Breakfast
            | Activity::Lunch
            | Activity::Dinner
            | Activity::Meal
            | Activity::InTransit
            | Activity::Shopping
            | Activity::Spectator => Some(Show::Away),
            _ => None,
        })
        .max_by_key(|s| show_rank(Some(*s)))
}

/// `<show/>` → the RPID activity closest to it (`chat` has none).
pub(crate) fn activity_for(show: Show) -> Option<Activity> {
    match show {
        Show::Away => Some(Activity::Away),
        Show::Xa => Some(Activity::Vacation),
        Show::Dnd => Some(Activity::Busy),
        Show::Chat => None,
    }
}

/// 0 = most available.
fn show_rank(show: Option<Show>) -> u8 {
    match show {
        Some(Show::Chat) => 0,
        None => 1,
        Some(Show::Away) => 2,
        Some(Show::Xa) => 3,
        Some(Show::Dnd) => 4,
    }
}

/// RFC 8048 §6.2 note 6: 0 → 0, 127 → 1, in between unique thousandths
/// (1 → 0.007, 2 → 0.015, 126 → 0.992, as the RFC's example).
pub(crate) fn priority_to_pidf(priority: i8) -> u16 {
    let p = u32::try_from(priority.max(0)).unwrap_or(0);
    u16::try_from(p * 1000 / 127).unwrap_or(1000)
}

/// The inverse of [`priority_to_pidf`] (exact on its image).
pub(crate) fn priority_from_pidf(thousandths: u16) -> i8 {
    let t = u32::from(thousandths.min(1000));
    i8::try_from((t * 127).div_ceil(1000)).unwrap_or(i8::MAX)
}

/// RFC 8048 §6.2 note 2: "prepend the resourcepart with 'ID-'"; bytes an
/// `xs:ID` (NCName) cannot hold are written `_XX`, and `_` itself `_5F`, so
/// different resources never share an id.
pub fn tuple_id(resource: Option<&str>) -> String {
    let Some(resource) = resource else {
        return "ID".into();
    };
    let mut id = String::from("ID-");
    for c in resource.chars() {
        if c.is_alphanumeric() && c != '_' || matches!(c, '-' | '.') {
            id.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                id.push_str(&format!("_{b:02X}"));
            }
        }
    }
    id
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::address::ForeignDomainPolicy;

    fn jid(s: &str) -> Jid {
        Jid::parse(s).unwrap()
    }

    fn fixture(name: &str) -> Pidf {
        let path = format!("{}/tests/fixtures/pidf/{name}", env!("CARGO_MANIFEST_DIR"));
        Pidf::parse(&std::fs::read(&path).unwrap()).unwrap()
    }

    fn mapper() -> AddressMapper {
        AddressMapper {
            component_domain: "example.net".into(),
            sip_domain: "example.net".into(),
            foreign_domains: ForeignDomainPolicy::Refuse,
        }
    }

    /// RFC 8048 §6.3 Example 20 → Example 21: basic closed → type='unavailable'.
    #[test]
    fn example20_closed_becomes_unavailable() {
        let p = to_xmpp(
            &fixture("rfc8048-6.3-example20.xml"),
            &jid("romeo@example.net"),
            &jid("juliet@example.com/yn0cl4bnw0yr3vym"),
        )
        .unwrap();
        assert_eq!(p.from.as_deref(), Some("romeo@example.net"));
        assert_eq!(p.to.as_deref(), Some("juliet@example.com/yn0cl4bnw0yr3vym"));
        assert_eq!(p.presence_type, Some(PresenceType::Unavailable));
    }

    /// RFC 8048 §6.3 Table 2 note 3: the jabber:client <show/> is carried over.
    #[test]
    fn example19_open_with_show_becomes_available_away() {
        let p = to_xmpp(
            &fixture("rfc8048-6.2-example19.xml"),
            &jid("j@x.example"),
            &jid("r@y.example"),
        )
        .unwrap();
        assert_eq!(p.presence_type, None);
        assert_eq!(p.show, Some(Show::Away));
    }

    /// RFC 8048 §6.2 Example 18 → Example 19: available from a full JID is an
    /// open tuple `ID-<resource>`, the resource as GRUU in the contact.
    #[test]
    fn example18_becomes_example19_tuple() {
        let stanza = Presence {
            from: Some("juliet@example.com/yn0cl4bnw0yr3vym".into()),
            show: Some(Show::Away),
            ..Presence::default()
        };
        let pidf = to_pidf("pres:juliet@example.com", &[stanza], &mapper(), true).unwrap();
        assert_eq!(pidf.entity, "pres:juliet@example.com");
        let t = &pidf.tuples[0];
        assert_eq!(t.id, "ID-yn0cl4bnw0yr3vym");
        assert_eq!(t.basic, Some(Basic::Open));
        assert_eq!(t.show, Some(Show::Away));
        assert_eq!(
            t.contact.as_ref().unwrap().uri,
            "sip:juliet@example.com;gr=yn0cl4bnw0yr3vym"
        );
        assert_eq!(pidf.persons[0].activities, vec![Activity::Away]);
        // And back: the document means "available, away".
        let back = to_xmpp(&pidf, &jid("juliet@example.com"), &jid("romeo@example.net")).unwrap();
        assert_eq!((back.presence_type, back.show), (None, Some(Show::Away)));
    }

    /// RFC 8048 Table 1 notes 4/5: unavailable → basic closed; without `rich`
    /// only basic and note remain (peers without RPID).
    #[test]
    fn unavailable_is_closed_and_plain_mode_has_no_extensions() {
        let stanzas = [
            Presence {
                from: Some("juliet@example.com/a".into()),
                show: Some(Show::Dnd),
                status: Some("busy busy".into()),
                lang: Some("en".into()),
                ..Presence::default()
            },
            Presence {
                from: Some("juliet@example.com/b".into()),
                presence_type: Some(PresenceType::Unavailable),
                ..Presence::default()
            },
        ];
        let pidf = to_pidf("sip:juliet@example.com", &stanzas, &mapper(), false).unwrap();
        assert_eq!(pidf.tuples[0].basic, Some(Basic::Open));
        assert_eq!(pidf.tuples[0].show, None);
        assert_eq!(pidf.tuples[0].notes[0].text, "busy busy");
        assert_eq!(pidf.tuples[0].notes[0].lang.as_deref(), Some("en"));
        assert_eq!(pidf.tuples[1].basic, Some(Basic::Closed));
        assert!(pidf.persons.is_empty());
        assert!(!pidf.to_xml().contains("rpid"));
    }

    /// RFC 8048 Table 1 note 1: subscribe/probe/error are not notifications.
    #[test]
    fn non_notification_presence_is_refused() {
        let p = Presence {
            from: Some("juliet@example.com/a".into()),
            presence_type: Some(PresenceType::Subscribe),
            ..Presence::default()
        };
        assert_eq!(
            to_pidf("sip:x@y", &[p], &mapper(), true),
            Err(MappingError::NotANotification)
        );
    }

    /// RFC 8048 §6.2 note 6: "XMPP priority 1 to PIDF priority 0.007, XMPP
    /// priority 2 to PIDF priority 0.015 … 126 to PIDF priority 0.992".
    #[test]
    fn priority_mapping_follows_rfc8048_note6() {
        assert_eq!(priority_to_pidf(0), 0);
        assert_eq!(priority_to_pidf(1), 7);
        assert_eq!(priority_to_pidf(2), 15);
        assert_eq!(priority_to_pidf(126), 992);
        assert_eq!(priority_to_pidf(127), 1000);
        for p in 0..=127i8 {
            assert_eq!(priority_from_pidf(priority_to_pidf(p)), p);
        }
        let negative = Presence {
            from: Some("juliet@example.com/a".into()),
            priority: Some(-5),
            ..Presence::default()
        };
        let pidf = to_pidf("sip:x@y", &[negative], &mapper(), true).unwrap();
        assert_eq!(pidf.tuples[0].contact.as_ref().unwrap().priority, None);
    }

    /// real-clients: linphone's note in the tuple and <rpid:away/> under the person.
    #[test]
    fn linphone_rpid_away_and_note_become_show_and_status() {
        let p = to_xmpp(
            &fixture("linphone-5.1-publish-pidf-rpid-note.xml"),
            &jid("alice@example.net"),
            &jid("juliet@example.com"),
        )
        .unwrap();
        assert_eq!(p.presence_type, None);
        assert_eq!(p.show, Some(Show::Away));
        assert_eq!(p.status.as_deref(), Some("In a meeting ✓"));
        assert_eq!(p.priority, Some(102), "contact priority 0.8 → 102");
    }

    /// real-clients: baresip's `<basic>unknown</basic>` is no information: no stanza.
    #[test]
    fn baresip_unknown_basic_yields_no_presence() {
        let from = jid("alice@example.net");
        let to = jid("juliet@example.com");
        assert_eq!(
            to_xmpp(&fixture("baresip-1.0-publish-pidf.xml"), &from, &to),
            None
        );
        let closed = to_xmpp(&fixture("baresip-1.0-publish-closed.xml"), &from, &to).unwrap();
        assert_eq!(closed.presence_type, Some(PresenceType::Unavailable));
    }

    /// RFC 4480 §4 example: three open tuples, the person away → available, away.
    #[test]
    fn rfc4480_example_is_available_and_away() {
        let p = to_xmpp(
            &fixture("rfc4480-4-example.xml"),
            &jid("a@b.example"),
            &jid("c@d.example"),
        )
        .unwrap();
        assert_eq!((p.presence_type, p.show), (None, Some(Show::Away)));
        assert_eq!(p.status.as_deref(), Some("Far away"));
    }

    #[test]
    fn rpid_activities_map_to_the_least_available_show() {
        assert_eq!(show_for(&[Activity::OnThePhone]), Some(Show::Dnd));
        assert_eq!(show_for(&[Activity::Meeting]), Some(Show::Dnd));
        assert_eq!(show_for(&[Activity::Vacation]), Some(Show::Xa));
        assert_eq!(
            show_for(&[Activity::Lunch, Activity::Busy]),
            Some(Show::Dnd)
        );
        assert_eq!(show_for(&[Activity::Unknown, Activity::Playing]), None);
        for show in [Show::Away, Show::Xa, Show::Dnd] {
            assert_eq!(show_for(&[activity_for(show).unwrap()]), Some(show));
        }
    }

    #[test]
    fn tuple_ids_are_valid_and_distinct() {
        assert_eq!(tuple_id(Some("balcony")), "ID-balcony");
        assert_eq!(tuple_id(Some("a b")), "ID-a_20b");
        assert_eq!(tuple_id(Some("a_20b")), "ID-a_5F20b");
        assert_eq!(tuple_id(Some("ü/1")), "ID-ü_2F1");
        assert_eq!(tuple_id(None), "ID");
    }

    #[test]
    fn empty_document_is_unavailable() {
        let pidf = Pidf {
            entity: "sip:a@b".into(),
            ..Pidf::default()
        };
        let p = to_xmpp(&pidf, &jid("a@b.example"), &jid("c@d.example")).unwrap();
        assert_eq!(p.presence_type, Some(PresenceType::Unavailable));
    }

    /// RFC 8048 §5.2.2 and RFC 6665 §4.1.2.2, row by row: which failures
    /// end the authorization, which only the subscription, and which leave
    /// it valid until its expiry.
    #[test]
    fn refresh_failures_are_read_as_rfc_8048_then_rfc_6665_list_them() {
        let of = |code| RefreshFailure::of(StatusCode::new(code));
        for code in [403, 489, 603] {
            assert_eq!(of(code), RefreshFailure::Cancelled, "{code}");
        }
        for code in [
            423, 481, 404, 405, 410, 416, 480, 482, 483, 484, 485, 501, 604,
        ] {
            assert_eq!(of(code), RefreshFailure::Terminated, "{code}");
        }
        for code in [302, 400, 401, 408, 415, 486, 500, 503, 504, 600] {
            assert_eq!(of(code), RefreshFailure::Transient, "{code}");
        }
        assert_eq!(RefreshFailure::of(None), RefreshFailure::Transient);
    }
}

//! Tests of `bindings.rs`: RFC 3261 §10.3 steps 6–7, `q` order, RFC 5627 epochs.

use super::*;

const POLICY: Policy = Policy {
    min_expires: 60,
    max_expires: 3600,
    max_contacts: 3,
};

fn update(call_id: &str, cseq: u32, contacts: &[(&str, Option<u32>)]) -> Update {
    Update {
        aor: "alice@example.com".into(),
        call_id: call_id.into(),
        cseq,
        expires: None,
        wildcard: false,
        contacts: contacts
            .iter()
            .map(|(c, e)| ContactUpdate::plain(c, *e))
            .collect(),
    }
}

#[test]
fn rfc3261_10_3_step_7_expiry_from_param_then_header_then_default_capped() {
    let now = Instant::now();
    let mut b = Bindings::default();
    let mut u = update(
        "c1",
        1,
        &[("sip:a@10.0.0.1", Some(120)), ("sip:a@10.0.0.2", None)],
    );
    u.expires = Some(7200);
    let Outcome::Bound(current) = b.apply(&u, POLICY, now) else {
        panic!("bound");
    };
    let listed: Vec<(&str, u32)> = current
        .iter()
        .map(|c| (c.contact.as_str(), c.expires))
        .collect();
    assert_eq!(
        listed,
        vec![("sip:a@10.0.0.1", 120), ("sip:a@10.0.0.2", 3600)]
    );
    assert_eq!(b.len(), 2);
    assert_eq!(
        b.locate("alice@example.com", now).as_deref(),
        Some("sip:a@10.0.0.2")
    );
    assert_eq!(b.locate("bob@example.com", now), None);
}

#[test]
fn rfc3261_10_3_step_7_brief_interval_gets_423_and_changes_nothing() {
    let now = Instant::now();
    let mut b = Bindings::default();
    assert_eq!(
        b.apply(&update("c1", 1, &[("sip:a@h", Some(30))]), POLICY, now),
        Outcome::TooBrief(60)
    );
    assert_eq!(b.len(), 0);
}

#[test]
fn rfc3261_10_3_step_7_same_call_id_needs_a_higher_cseq() {
    let now = Instant::now();
    let mut b = Bindings::default();
    assert!(matches!(
        b.apply(&update("c1", 5, &[("sip:a@h", None)]), POLICY, now),
        Outcome::Bound(_)
    ));
    assert_eq!(
        b.apply(&update("c1", 5, &[("sip:a@h", Some(0))]), POLICY, now),
        Outcome::OutOfOrder
    );
    assert_eq!(
        b.apply(&update("c1", 4, &[("sip:a@h", Some(0))]), POLICY, now),
        Outcome::OutOfOrder
    );
    assert_eq!(b.len(), 1, "the failed requests changed nothing");
    // Another Call-ID (the phone restarted) replaces it whatever its CSeq.
    assert!(matches!(
        b.apply(&update("c2", 1, &[("sip:a@h", None)]), POLICY, now),
        Outcome::Bound(_)
    ));
    assert_eq!(
        b.apply(&update("c2", 2, &[("sip:a@h", Some(0))]), POLICY, now),
        Outcome::Bound(vec![])
    );
    assert_eq!(b.len(), 0);
}

#[test]
fn rfc3261_10_3_step_6_wildcard_removes_all_only_with_expires_zero() {
    let now = Instant::now();
    let mut b = Bindings::default();
    let _ = b.apply(
        &update("c1", 1, &[("sip:a@h1", None), ("sip:a@h2", None)]),
        POLICY,
        now,
    );
    let mut star = update("c9", 1, &[]);
    star.wildcard = true;
    assert_eq!(b.apply(&star, POLICY, now), Outcome::BadWildcard);
    star.expires = Some(0);
    assert_eq!(b.apply(&star, POLICY, now), Outcome::Bound(vec![]));
    assert_eq!(b.len(), 0);
}

#[test]
fn expired_bindings_are_not_located_and_the_reaper_drops_them() {
    let now = Instant::now();
    let mut b = Bindings::default();
    let _ = b.apply(&update("c1", 1, &[("sip:a@h", Some(60))]), POLICY, now);
    let later = now + Duration::from_secs(61);
    assert_eq!(b.locate("alice@example.com", later), None);
    assert_eq!(b.len(), 1);
    assert_eq!(b.reap(later), 0);
}

fn with_instance(call_id: &str, cseq: u32, uri: &str, expires: u32) -> Update {
    let mut u = update(call_id, cseq, &[]);
    u.contacts.push(ContactUpdate {
        uri: uri.to_owned(),
        expires: Some(expires),
        q: None,
        instance: Some("<urn:uuid:F81D4FAE-7dec-11d0-a765-00a0c91e6bf6>".to_owned()),
    });
    u
}

const ID: &str = "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6";

fn epoch(b: &Bindings, now: Instant) -> Option<u64> {
    b.current("alice@example.com", now)
        .iter()
        .find_map(|c| c.epoch)
}

#[test]
fn contacts_rank_by_q_then_newest() {
    let now = Instant::now();
    let mut b = Bindings::default();
    let mut u = update("c1", 1, &[]);
    for (uri, q) in [
        ("sip:low@h", Some(100)),
        ("sip:high@h", Some(900)),
        ("sip:none@h", None),
    ] {
        u.contacts.push(ContactUpdate {
            q,
            ..ContactUpdate::plain(uri, None)
        });
    }
    let _ = b.apply(&u, POLICY, now);
    assert_eq!(
        b.locate("alice@example.com", now).as_deref(),
        Some("sip:none@h"),
        "no q ranks as q=1"
    );
    let order: Vec<String> = b
        .current("alice@example.com", now)
        .into_iter()
        .map(|c| c.contact)
        .collect();
    assert_eq!(order, ["sip:none@h", "sip:high@h", "sip:low@h"]);
    // Equal q: the newest registration wins.
    let later = now + Duration::from_secs(1);
    let _ = b.apply(
        &update("c1", 2, &[("sip:low@h", Some(0)), ("sip:none@h", Some(0))]),
        POLICY,
        later,
    );
    let mut newer = update("c3", 1, &[]);
    newer.contacts.push(ContactUpdate {
        q: Some(900),
        ..ContactUpdate::plain("sip:newer@h", None)
    });
    let _ = b.apply(&newer, POLICY, later);
    assert_eq!(
        b.locate("alice@example.com", later).as_deref(),
        Some("sip:newer@h")
    );
}

#[test]
fn rfc5627_5_1_same_call_id_keeps_the_epoch_another_starts_a_new_one() {
    let now = Instant::now();
    let mut b = Bindings::default();
    let _ = b.apply(
        &with_instance("boot1", 1, "sip:a@10.0.0.1", 600),
        POLICY,
        now,
    );
    let first = epoch(&b, now).expect("an epoch");
    assert_eq!(
        b.locate_epoch(first, now),
        Found::Contact("sip:a@10.0.0.1".into())
    );
    assert_eq!(
        b.locate_instance("alice@example.com", ID, now),
        Found::Contact("sip:a@10.0.0.1".into())
    );
    // A refresh under the same Call-ID: earlier temporary GRUUs stay valid.
    let _ = b.apply(
        &with_instance("boot1", 2, "sip:a@10.0.0.1", 600),
        POLICY,
        now,
    );
    assert_eq!(epoch(&b, now), Some(first));
    // §9 message (17): rebooted, new Call-ID, new address.
    let later = now + Duration::from_secs(1);
    let _ = b.apply(
        &with_instance("boot2", 1, "sip:a@10.0.0.2", 600),
        POLICY,
        later,
    );
    let second = epoch(&b, later).expect("an epoch");
    assert_ne!(first, second);
    assert_eq!(b.locate_epoch(first, later), Found::Nothing);
    assert_eq!(
        b.locate_epoch(second, later),
        Found::Contact("sip:a@10.0.0.2".into()),
        "§6.1: the most recently refreshed contact"
    );
}

#[test]
fn rfc5627_5_3_last_contact_gone_ends_temp_gruus_public_gruu_has_no_contact() {
    let now = Instant::now();
    let mut b = Bindings::default();
    let _ = b.apply(&with_instance("boot1", 1, "sip:a@h", 60), POLICY, now);
    let first = epoch(&b, now).expect("an epoch");
    let later = now + Duration::from_secs(61);
    assert_eq!(b.locate_epoch(first, later), Found::Nothing);
    assert_eq!(b.reap(later), 0);
    assert_eq!(b.locate_epoch(first, later), Found::Nothing);
    assert_eq!(
        b.locate_instance("alice@example.com", ID, later),
        Found::NoContact
    );
    // Registering again under the same Call-ID: a new epoch all the same.
    let _ = b.apply(&with_instance("boot1", 2, "sip:a@h", 600), POLICY, later);
    assert_ne!(epoch(&b, later), Some(first));
    assert!(epoch(&b, later).is_some());
}

#[test]
fn more_contacts_than_the_bound_change_nothing() {
    let now = Instant::now();
    let mut b = Bindings::default();
    let _ = b.apply(
        &update("c1", 1, &[("sip:a@h1", None), ("sip:a@h2", None)]),
        POLICY,
        now,
    );
    assert_eq!(
        b.apply(
            &update("c1", 2, &[("sip:a@h3", None), ("sip:a@h4", None)]),
            POLICY,
            now
        ),
        Outcome::TooManyContacts(3)
    );
    assert_eq!(b.len(), 2);
    // Replacing one and adding one stays within the bound.
    assert!(matches!(
        b.apply(
            &update(
                "c1",
                3,
                &[
                    ("sip:a@h1", Some(0)),
                    ("sip:a@h3", None),
                    ("sip:a@h4", None)
                ]
            ),
            POLICY,
            now
        ),
        Outcome::Bound(_)
    ));
    assert_eq!(b.len(), 3);
}

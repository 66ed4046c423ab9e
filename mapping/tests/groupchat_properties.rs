//! Property tests for the groupchat pieces (style.md: `parse(write(x)) ==
//! x`): RFC 4575 documents survive writing and reading, and a notifier's
//! partial document (RFC 4575 §4.4) applied as §4.6 says takes a
//! subscriber from one roster to the next.
#![allow(clippy::unwrap_used)]

use parley_mapping::groupchat::conference_info::{
    ConferenceDescription, ConferenceInfo, ConferenceState, ElementState, Endpoint, EndpointStatus,
    ExecutionInfo, Media, UriEntry, User, Users,
};
use parley_mapping::groupchat::{Applied, ConferenceView, partial_update};
use proptest::prelude::*;

/// Printable text, as XML carries it (escaped where needed).
fn text() -> impl Strategy<Value = String> {
    "[ -~\u{a0}-\u{2fff}]{0,20}"
}

/// What the parser trims: no blanks at either end, never empty.
fn token() -> impl Strategy<Value = String> {
    "[a-z0-9:.@+-]{1,12}"
}

fn uri_entry() -> impl Strategy<Value = UriEntry> {
    (
        token(),
        proptest::option::of(text()),
        proptest::option::of(token()),
    )
        .prop_map(|(uri, display_text, purpose)| UriEntry {
            uri,
            display_text,
            purpose,
        })
}

fn status() -> impl Strategy<Value = EndpointStatus> {
    prop_oneof![
        Just(EndpointStatus::Connected),
        Just(EndpointStatus::Disconnected),
        Just(EndpointStatus::OnHold),
        Just(EndpointStatus::Pending),
        Just(EndpointStatus::Disconnecting),
    ]
}

fn endpoint(index: usize) -> impl Strategy<Value = Endpoint> {
    (
        proptest::option::of(text()),
        proptest::option::of(status()),
        proptest::option::of((proptest::option::of(token()), proptest::option::of(text()))),
        0usize..3,
    )
        .prop_map(move |(display_text, status, info, media)| Endpoint {
            entity: format!("sip:ep{index}@pc.example.com"),
            state: ElementState::Full,
            display_text,
            status,
            joining_info: info.map(|(when, reason)| ExecutionInfo {
                when,
                reason,
                by: None,
            }),
            media: (0..media)
                .map(|i| Media {
                    id: i.to_string(),
                    media_type: Some("message".into()),
                    ..Media::default()
                })
                .collect(),
            ..Endpoint::default()
        })
}

fn user(index: usize) -> impl Strategy<Value = User> {
    (
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(proptest::collection::vec(uri_entry(), 0..3)),
        proptest::option::of(proptest::collection::vec(token(), 0..3)),
        0usize..3,
    )
        .prop_flat_map(move |(nickname, display_text, aors, roles, endpoints)| {
            let endpoints: Vec<_> = (0..endpoints).map(endpoint).collect();
            endpoints.prop_map(move |endpoints| User {
                entity: format!("sip:u{index}@example.com"),
                state: ElementState::Full,
                nickname: nickname.clone(),
                display_text: display_text.clone(),
                associated_aors: aors.clone(),
                roles: roles.clone(),
                languages: None,
                endpoints,
            })
        })
}

/// A full document with users drawn from ten entities.
fn document() -> impl Strategy<Value = ConferenceInfo> {
    (
        any::<u32>(),
        proptest::option::of(text()),
        proptest::collection::vec(uri_entry(), 0..3),
        proptest::option::of(0u32..500),
        proptest::collection::btree_set(0usize..10, 0..6),
    )
        .prop_flat_map(|(version, subject, conf_uris, count, ids)| {
            let users: Vec<_> = ids.into_iter().map(user).collect();
            users.prop_map(move |users| ConferenceInfo {
                entity: "sip:room@conf.example.com".into(),
                state: ElementState::Full,
                version,
                description: Some(ConferenceDescription {
                    subject: subject.clone(),
                    conf_uris: conf_uris.clone(),
                    ..ConferenceDescription::default()
                }),
                conference_state: count.map(|n| ConferenceState {
                    user_count: Some(n),
                    ..ConferenceState::default()
                }),
                users: Some(Users {
                    state: ElementState::Full,
                    users,
                }),
            })
        })
}

fn sorted_users(doc: &ConferenceInfo) -> Vec<User> {
    let mut users = doc.users.clone().map(|u| u.users).unwrap_or_default();
    users.sort_by(|a, b| a.entity.cmp(&b.entity));
    users
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// RFC 4575 §5: a document Parley writes reads back as itself.
    #[test]
    fn conference_info_round_trips(doc in document()) {
        prop_assert_eq!(ConferenceInfo::parse(doc.to_xml().as_bytes()), Ok(doc));
    }

    /// RFC 4575 §4.4, §4.6: the partial document between two rosters,
    /// written, read and applied, yields the second roster.
    #[test]
    fn partial_update_applied_gives_the_next_roster(before in document(), after in document()) {
        let mut before = before;
        before.version = before.version.min(u32::MAX - 1);
        let mut view = ConferenceView::new();
        prop_assert_eq!(view.apply(before.clone()), Applied::Replaced);
        match partial_update(&before, &after, before.version + 1) {
            Some(update) => {
                let update = ConferenceInfo::parse(update.to_xml().as_bytes()).unwrap();
                prop_assert_eq!(view.apply(update), Applied::Updated);
                prop_assert_eq!(sorted_users(view.current().unwrap()), sorted_users(&after));
            }
            None => prop_assert_eq!(sorted_users(&before), sorted_users(&after)),
        }
    }
}

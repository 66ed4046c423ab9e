//! RFC 4575 §4.6: "Constructing Coherent State" from full and partial
//! conference-info documents, as a subscriber (RFC 7702 §5.4, Parley joined
//! to a SIP conference), and the inverse for a notifier: the partial document
//! that takes one roster to the next (RFC 7702 §6.2, Parley as the focus).
//!
//! Pure data: no clock, no I/O. What the subscriber does about an outcome —
//! refresh the subscription, unsubscribe — is the caller's to act on.

use crate::groupchat::conference_info::{
    ConferenceInfo, ElementState, Endpoint, Media, User, Users,
};

/// What [`ConferenceView::apply`] did with a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A full document replaced the local state (§4.6, first or later).
    Replaced,
    /// A partial document one version ahead updated the local state.
    Updated,
    /// §4.6: "If the value in the document is equal to or less than the
    /// local version, the document is discarded without processing."
    Discarded,
    /// §4.6: a partial document "more than one number higher than the
    /// previous local version number": "the subscriber MUST generate a
    /// subscription refresh request to trigger a full state notification".
    /// Also a partial document before any full one: there is nothing to
    /// apply it to. Local state is kept unchanged.
    RefreshNeeded,
    /// §4.6: "Receiving 'deleted' state for the <conference-info> element
    /// means that the conference has ceased to exist and the subscriber
    /// SHOULD terminate the subscription by sending the SUBSCRIBE with
    /// Expires = 0." Local state is cleared.
    ConferenceEnded,
}

/// A subscriber's view of one conference: the local version and content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConferenceView {
    current: Option<ConferenceInfo>,
}

impl ConferenceView {
    /// No document received yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The coherent state, once a full document has arrived.
    pub fn current(&self) -> Option<&ConferenceInfo> {
        self.current.as_ref()
    }

    /// The local version number.
    pub fn version(&self) -> Option<u32> {
        self.current.as_ref().map(|c| c.version)
    }

    /// Apply one received document (§4.6).
    pub fn apply(&mut self, doc: ConferenceInfo) -> Applied {
        let Some(local) = self.current.as_mut() else {
            // "The first time a NOTIFY with a 'full' document is received
            // ... MUST set the local 'version' number ... and populate local
            // data with the received information."
            return match doc.state {
                ElementState::Full => {
                    self.current = Some(doc);
                    Applied::Replaced
                }
                ElementState::Deleted => Applied::ConferenceEnded,
                ElementState::Partial => Applied::RefreshNeeded,
            };
        };
        if doc.version <= local.version {
            return Applied::Discarded;
        }
        match doc.state {
            ElementState::Full => {
                *local = doc;
                Applied::Replaced
            }
            ElementState::Deleted => {
                self.current = None;
                Applied::ConferenceEnded
            }
            ElementState::Partial if local.version.checked_add(1) != Some(doc.version) => {
                Applied::RefreshNeeded
            }
            ElementState::Partial => {
                merge_conference(local, doc);
                Applied::Updated
            }
        }
    }
}

/// §4.6 steps 1–3 for the sub-elements of `<conference-info>`.
fn merge_conference(local: &mut ConferenceInfo, update: ConferenceInfo) {
    local.version = update.version;
    // <conference-description> and <conference-state> are not in §4.4's
    // list of elements permissible for partial notifications: atomic,
    // replaced whole when present.
    if update.description.is_some() {
        local.description = update.description;
    }
    if update.conference_state.is_some() {
        local.conference_state = update.conference_state;
    }
    if let Some(users) = update.users {
        match users.state {
            ElementState::Full => local.users = Some(users),
            ElementState::Deleted => local.users = None,
            ElementState::Partial => {
                let rows = local.users.get_or_insert_with(Users::default);
                merge_keyed(
                    &mut rows.users,
                    users.users,
                    |u| &u.entity,
                    |u| u.state,
                    merge_user,
                );
            }
        }
    }
}

/// §4.6 step 3.1 over a keyed table (`<user>`, `<endpoint>`).
fn merge_keyed<T>(
    rows: &mut Vec<T>,
    updates: Vec<T>,
    key: impl Fn(&T) -> &String,
    state: impl Fn(&T) -> ElementState,
    merge: impl Fn(&mut T, T),
) {
    for update in updates {
        let at = rows.iter().position(|r| key(r) == key(&update));
        match (state(&update), at) {
            // Step 2: "the whole element MUST be removed".
            (ElementState::Deleted, Some(i)) => {
                rows.remove(i);
            }
            (ElementState::Deleted, None) => {}
            // Step 1: "flushed and repopulated from the document".
            (ElementState::Full, Some(i)) => rows[i] = update,
            // Step 3.1.1: "a row is added".
            (_, None) => rows.push(update),
            // Step 3.1.2: the row's sub-elements from step 3.2.
            (ElementState::Partial, Some(i)) => merge(&mut rows[i], update),
        }
    }
}

/// §4.6 step 3.2 for a partial `<user>`: atomic elements received replace
/// the local ones; endpoints recurse (step 3.3).
fn merge_user(local: &mut User, update: User) {
    local.state = ElementState::Full;
    replace_if_some(&mut local.nickname, update.nickname);
    replace_if_some(&mut local.display_text, update.display_text);
    replace_if_some(&mut local.associated_aors, update.associated_aors);
    replace_if_some(&mut local.roles, update.roles);
    replace_if_some(&mut local.languages, update.languages);
    merge_keyed(
        &mut local.endpoints,
        update.endpoints,
        |e| &e.entity,
        |e| e.state,
        merge_endpoint,
    );
}

fn merge_endpoint(local: &mut Endpoint, update: Endpoint) {
    local.state = ElementState::Full;
    replace_if_some(&mut local.display_text, update.display_text);
    replace_if_some(&mut local.status, update.status);
    replace_if_some(&mut local.joining_method, update.joining_method);
    replace_if_some(&mut local.joining_info, update.joining_info);
    replace_if_some(&mut local.disconnection_method, update.disconnection_method);
    // <media> is keyed by 'id' (§4.5) but has no 'state': a received row is
    // added or has its atomic sub-elements replaced (steps 3.1.1, 3.1.2).
    for m in update.media {
        match local.media.iter_mut().find(|l| l.id == m.id) {
            Some(l) => merge_media(l, m),
            None => local.media.push(m),
        }
    }
}

fn merge_media(local: &mut Media, update: Media) {
    replace_if_some(&mut local.display_text, update.display_text);
    replace_if_some(&mut local.media_type, update.media_type);
    replace_if_some(&mut local.label, update.label);
    replace_if_some(&mut local.status, update.status);
}

fn replace_if_some<T>(local: &mut Option<T>, update: Option<T>) {
    if update.is_some() {
        *local = update;
    }
}

/// A notifier's partial document (§4.4) taking `before`'s users to
/// `after`'s, at `version` (§5.2: "For each partial notification, the
/// version number MUST be increased by one"). Changed and new users are sent
/// whole (`state="full"`), gone users as `state="deleted"`; the description
/// and conference state are sent when they changed. `None` when nothing
/// changed (§5.2 asks a version increment only for a change).
pub fn partial_update(
    before: &ConferenceInfo,
    after: &ConferenceInfo,
    version: u32,
) -> Option<ConferenceInfo> {
    let empty = Vec::new();
    let old = before.users.as_ref().map_or(&empty, |u| &u.users);
    let new = after.users.as_ref().map_or(&empty, |u| &u.users);
    let mut rows: Vec<User> = new
        .iter()
        .filter(|u| !old.contains(u))
        .map(|u| User {
            state: ElementState::Full,
            ..u.clone()
        })
        .collect();
    rows.extend(
        old.iter()
            .filter(|o| !new.iter().any(|n| n.entity == o.entity))
            .map(|o| User {
                entity: o.entity.clone(),
                state: ElementState::Deleted,
                ..User::default()
            }),
    );
    let description = (before.description != after.description)
        .then(|| after.description.clone())
        .flatten();
    let conference_state = (before.conference_state != after.conference_state)
        .then(|| after.conference_state.clone())
        .flatten();
    if rows.is_empty() && description.is_none() && conference_state.is_none() {
        return None;
    }
    Some(ConferenceInfo {
        entity: after.entity.clone(),
        state: ElementState::Partial,
        version,
        description,
        conference_state,
        users: (!rows.is_empty()).then_some(Users {
            state: ElementState::Partial,
            users: rows,
        }),
    })
}

/// How one user changed between two coherent states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserChange<'a> {
    /// In `after` only.
    Joined(&'a User),
    /// In both, with different content.
    Changed {
        /// The user before.
        before: &'a User,
        /// The user after.
        after: &'a User,
    },
    /// In `before` only.
    Left(&'a User),
}

/// The users that joined, changed or left between two states, in `after`'s
/// order then `before`'s (what RFC 7702 §5.4 turns into occupant presence).
pub fn user_changes<'a>(
    before: Option<&'a ConferenceInfo>,
    after: Option<&'a ConferenceInfo>,
) -> Vec<UserChange<'a>> {
    let users = |c: Option<&'a ConferenceInfo>| -> &'a [User] {
        c.and_then(|c| c.users.as_ref())
            .map_or(&[][..], |u| u.users.as_slice())
    };
    let (old, new) = (users(before), users(after));
    let mut changes = Vec::new();
    for n in new {
        match old.iter().find(|o| o.entity == n.entity) {
            None => changes.push(UserChange::Joined(n)),
            Some(o) if o != n => changes.push(UserChange::Changed {
                before: o,
                after: n,
            }),
            Some(_) => {}
        }
    }
    for o in old {
        if !new.iter().any(|n| n.entity == o.entity) {
            changes.push(UserChange::Left(o));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::groupchat::conference_info::EndpointStatus;

    fn doc(xml: &str) -> ConferenceInfo {
        ConferenceInfo::parse(xml.as_bytes()).unwrap()
    }

    fn fixture(name: &str) -> ConferenceInfo {
        let path = format!(
            "{}/tests/fixtures/conference-info/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        ConferenceInfo::parse(&std::fs::read(path).unwrap()).unwrap()
    }

    const NS: &str = "urn:ietf:params:xml:ns:conference-info";

    fn partial(version: u32, users: &str) -> ConferenceInfo {
        doc(&format!(
            r#"<conference-info xmlns="{NS}" entity="sip:capulet@rooms.example.com" state="partial" version="{version}"><users state="partial">{users}</users></conference-info>"#
        ))
    }

    fn nicknames(view: &ConferenceView) -> Vec<String> {
        view.current()
            .unwrap()
            .users
            .as_ref()
            .unwrap()
            .users
            .iter()
            .map(|u| u.display_text.clone().unwrap_or_default())
            .collect()
    }

    #[test]
    fn first_full_document_sets_version_and_content() {
        let mut view = ConferenceView::new();
        assert_eq!(
            view.apply(fixture("rfc7702-6.2-example32.xml")),
            Applied::Replaced
        );
        assert_eq!(view.version(), Some(0));
        assert_eq!(nicknames(&view), ["JuliC", "Ben"]);
    }

    #[test]
    fn partial_before_any_full_document_asks_for_a_refresh() {
        let mut view = ConferenceView::new();
        assert_eq!(view.apply(partial(1, "")), Applied::RefreshNeeded);
        assert_eq!(view.current(), None);
    }

    #[test]
    fn equal_or_older_version_is_discarded() {
        let mut view = ConferenceView::new();
        view.apply(fixture("rfc7702-6.2-example32.xml"));
        let mut stale = fixture("rfc7702-5.4-example9.xml");
        stale.version = 0;
        assert_eq!(view.apply(stale), Applied::Discarded);
        assert_eq!(nicknames(&view), ["JuliC", "Ben"]);
    }

    #[test]
    fn partial_with_a_version_gap_asks_for_a_refresh_and_keeps_state() {
        let mut view = ConferenceView::new();
        view.apply(fixture("rfc7702-6.2-example32.xml"));
        let gap = partial(
            2,
            r#"<user entity="sip:capulet@rooms.example.com;gr=Ben" state="deleted"/>"#,
        );
        assert_eq!(view.apply(gap), Applied::RefreshNeeded);
        assert_eq!(view.version(), Some(0));
        assert_eq!(nicknames(&view), ["JuliC", "Ben"]);
    }

    #[test]
    fn partial_adds_deletes_and_merges_users_by_key() {
        let mut view = ConferenceView::new();
        view.apply(fixture("rfc7702-6.2-example32.xml"));
        let update = partial(
            1,
            r#"<user entity="sip:capulet@rooms.example.com;gr=Ben" state="deleted"/>
               <user entity="sip:capulet@rooms.example.com;gr=Romeo" state="full"><display-text>Romeo</display-text></user>
               <user entity="sip:capulet@rooms.example.com;gr=JuliC" state="partial">
                 <endpoint entity="sip:capulet@rooms.example.com;gr=JuliC" state="partial"><status>on-hold</status></endpoint>
               </user>"#,
        );
        assert_eq!(view.apply(update), Applied::Updated);
        assert_eq!(view.version(), Some(1));
        assert_eq!(nicknames(&view), ["JuliC", "Romeo"]);
        let julic = &view.current().unwrap().users.as_ref().unwrap().users[0];
        // Step 3.2: the partial user keeps what the update did not carry.
        assert_eq!(
            julic.roles.as_deref(),
            Some(&["participant".to_owned()][..])
        );
        assert_eq!(julic.endpoints[0].status, Some(EndpointStatus::OnHold));
        assert_eq!(julic.endpoints[0].media.len(), 1);
        // The subject (atomic, not in the update) is untouched.
        let subject = view
            .current()
            .unwrap()
            .description
            .as_ref()
            .unwrap()
            .subject
            .clone();
        assert_eq!(subject.as_deref(), Some("Today in Verona"));
    }

    #[test]
    fn deleted_conference_ends_the_view() {
        let mut view = ConferenceView::new();
        view.apply(fixture("rfc7702-6.2-example32.xml"));
        let gone = doc(&format!(
            r#"<conference-info xmlns="{NS}" entity="sip:capulet@rooms.example.com" state="deleted" version="7"/>"#
        ));
        assert_eq!(view.apply(gone), Applied::ConferenceEnded);
        assert_eq!(view.current(), None);
    }

    #[test]
    fn later_full_document_replaces_everything() {
        let mut view = ConferenceView::new();
        view.apply(fixture("rfc7702-6.2-example32.xml"));
        let mut next = fixture("rfc7702-5.4-example9.xml");
        next.version = 4;
        assert_eq!(view.apply(next), Applied::Replaced);
        assert_eq!(nicknames(&view), ["Romeo", "Ben", "JuliC"]);
    }

    /// RFC 4575 §7.2's partial example applied onto §7.1's full one (the
    /// version made consecutive). Its `<users>` carries no `state`, which
    /// §4.4 makes "full": the user table is flushed and repopulated (step
    /// 1), so only Bob remains, his endpoint now disconnecting.
    #[test]
    fn rfc4575_7_2_partial_with_full_users_replaces_the_user_table() {
        let mut view = ConferenceView::new();
        let mut full = fixture("rfc4575-7.1-basic.xml");
        full.version = 4;
        view.apply(full);
        assert_eq!(
            view.apply(fixture("rfc4575-7.2-rich.xml")),
            Applied::Updated
        );
        let users = &view.current().unwrap().users.as_ref().unwrap().users;
        assert_eq!(users.len(), 1);
        let bob = &users[0];
        assert_eq!(bob.endpoints[0].status, Some(EndpointStatus::Disconnecting));
        assert_eq!(bob.languages.as_deref(), Some("en"));
        let state = view.current().unwrap().conference_state.clone().unwrap();
        assert_eq!(state.user_count, Some(32));
    }

    #[test]
    fn partial_update_takes_one_roster_to_the_next() {
        let before = fixture("rfc7702-6.2-example32.xml");
        let mut after = fixture("rfc7702-5.4-example9.xml");
        after.entity = before.entity.clone();
        let update = partial_update(&before, &after, 1).unwrap();
        // Written and read back, then applied, it reproduces `after`'s users.
        let update = ConferenceInfo::parse(update.to_xml().as_bytes()).unwrap();
        let mut view = ConferenceView::new();
        view.apply(before.clone());
        assert_eq!(view.apply(update), Applied::Updated);
        let mut got: Vec<_> = view.current().unwrap().users.clone().unwrap().users;
        let mut want = after.users.clone().unwrap().users;
        got.sort_by(|a, b| a.entity.cmp(&b.entity));
        want.sort_by(|a, b| a.entity.cmp(&b.entity));
        assert_eq!(got, want);
        assert_eq!(partial_update(&after, &after, 2), None);
    }

    #[test]
    fn user_changes_name_joins_changes_and_leaves() {
        let before = fixture("rfc7702-6.2-example32.xml");
        let mut after = before.clone();
        let users = &mut after.users.as_mut().unwrap().users;
        users[0].display_text = Some("Juliet".into());
        users.remove(1);
        users.push(User {
            entity: "sip:capulet@rooms.example.com;gr=Romeo".into(),
            ..User::default()
        });
        let changes = user_changes(Some(&before), Some(&after));
        assert!(matches!(changes[0], UserChange::Changed { .. }));
        assert!(matches!(changes[1], UserChange::Joined(u) if u.entity.ends_with("Romeo")));
        assert!(matches!(changes[2], UserChange::Left(u) if u.entity.ends_with("Ben")));
        assert_eq!(changes.len(), 3);
    }
}

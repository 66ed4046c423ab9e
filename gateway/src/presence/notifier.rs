//! RFC 8048 §5.3 and §6.2, SIP user → XMPP user: a SIP SUBSCRIBE to an XMPP
//! user becomes `<presence type='subscribe'/>`; Parley is the notifier
//! (RFC 6665 §4.2): NOTIFY `pending` at once, `active` with PIDF once the XMPP
//! user answers `subscribed` and whenever her presence changes, `terminated`
//! on `unsubscribed` (reason=rejected), on un-SUBSCRIBE and on expiry. A
//! SUBSCRIBE with Expires: 0 in a new dialog is a fetch (RFC 8048 §7.2,
//! `fetch/`): one NOTIFY, nothing kept.
//!
//! Each subscription (dialog, expiry, whether approved, last PIDF) is kept in
//! the store; after a restart [`Notifier::restore`] re-arms expiry and
//! probes the XMPP users again, so SIP subscribers notice nothing.
//!
//! No subscription has a task of its own: each holds a [`WatcherState`]
//! (`state.rs`), and the router's reaper tick ([`Notifier::reap`]) acts on
//! those whose time came, found through a [`TimerIndex`].

mod state;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use tracing::debug;

use parley_mapping::address::{Jid, SipAddress};
use parley_mapping::presence::to_pidf;
use parley_sip::StatusCode;
use parley_sip::dialog::Dialog;
use parley_sip::dialog::subscription::{SubscriptionState, Substate};
use parley_sip::{IncomingRequest, OutgoingRequest};
use parley_xmpp::stanza::{Presence, PresenceType};

use super::table::{Subscription, Subscriptions};
use crate::admission::Admission;
use crate::links::Links;
use crate::store::{WatcherRow, unix_after, until_unix};
pub(crate) use state::Authorization;
use state::{Due, WatcherState};

const KIND: &str = "sip_subscriptions_in";

/// Longest subscription Parley grants, in seconds (RFC 3856 §6.4: an hour is usual).
const MAX_EXPIRES: u32 = 3600;

/// One SIP user's subscription to an XMPP user's presence.
pub(crate) struct Watcher {
    /// The SIP user as XMPP sees it (`bob@<component_domain>`).
    pub(crate) watcher: Jid,
    /// The XMPP user watched (bare JID).
    pub(crate) target: Jid,
    /// The dialog the SUBSCRIBE created.
    pub(crate) dialog: Dialog,
    /// Pending or active, and when it ends unless refreshed.
    state: WatcherState,
    /// The XMPP user's current presence per full JID.
    pub(crate) resources: BTreeMap<String, Presence>,
    /// The last PIDF sent, so that repeated presence does not repeat NOTIFYs.
    pub(crate) last_pidf: Option<String>,
}

impl Watcher {
    fn row(&self) -> WatcherRow {
        WatcherRow {
            call_id: self.dialog.id.call_id.clone(),
            watcher: self.watcher.to_string(),
            target: self.target.to_string(),
            expires_at: unix_after(self.state.remaining(Instant::now())),
            active: self.state.authorization() == Authorization::Active,
            last_pidf: self.last_pidf.clone(),
            dialog: self.dialog.clone(),
        }
    }
}

impl Subscription for Watcher {
    fn poll_timeout(&self) -> Option<Instant> {
        self.state.poll_timeout()
    }

    fn pair(&self) -> (String, String) {
        (self.watcher.to_string(), self.target.to_string())
    }
}

/// Incoming subscriptions by Call-ID, Call-ID by (watcher, target), and
/// their deadlines.
pub(crate) type Watchers = Subscriptions<Watcher>;

impl Subscriptions<Watcher> {
    /// RFC 8048 §7.2: what `watcher`'s own subscription to `target`, if any,
    /// says for a fetch: whether she approved it, and the PIDF its last
    /// NOTIFY carried (her current presence as that subscriber may see it).
    pub(crate) fn standing(&self, watcher: &Jid, target: &Jid) -> Option<(bool, Option<String>)> {
        let call_id = self.call_id_of(&watcher.to_string(), &target.to_string())?;
        let w = self.by_call_id.get(&call_id)?;
        let active = w.state.authorization() == Authorization::Active;
        Some((active, w.last_pidf.clone()))
    }
}

/// The notifier side: SIP users subscribe to XMPP users through Parley.
pub(crate) struct Notifier {
    links: Arc<Links>,
    watchers: Watchers,
    admission: Arc<Admission>,
    /// Shutdown began: the reaper acts on no more deadlines.
    stopped: AtomicBool,
}

impl Notifier {
    pub(crate) fn new(links: Arc<Links>, admission: Arc<Admission>) -> Self {
        Self {
            links,
            watchers: Watchers::default(),
            admission,
            stopped: AtomicBool::new(false),
        }
    }

    /// The reaper's tick: RFC 6665 §4.2.1.2, end each subscription whose time
    /// is up; after a restart, take each stored one up at its turn.
    pub(crate) fn reap(&self, now: Instant) {
        if self.stopped.load(Ordering::Relaxed) {
            return;
        }
        for call_id in self.watchers.timers.take_due(now) {
            // A resumption and the expiry may fall due together: resume first.
            while let Some(Some(due)) = self
                .watchers
                .update(&call_id, |w| w.state.handle_timeout(now))
            {
                match due {
                    Due::Resume(authorization) => self.resume(&call_id, authorization),
                    Due::Expire => {
                        if let Some(w) = self.forget_watcher(&call_id) {
                            self.notify(w, &SubscriptionState::terminated("timeout"), false);
                        }
                        break;
                    }
                }
            }
        }
    }

    /// A restored subscription's turn: the XMPP user is probed again
    /// (approved ones, RFC 6121 §4.3) or asked again (pending ones).
    fn resume(&self, call_id: &str, authorization: Authorization) {
        let Some((watcher, target)) = self
            .watchers
            .by_call_id
            .get(call_id)
            .map(|w| (w.watcher.clone(), w.target.clone()))
        else {
            return;
        };
        let (outcome, ask) = match authorization {
            Authorization::Active => ("reprobed", PresenceType::Probe),
            Authorization::Pending => ("resumed", PresenceType::Subscribe),
        };
        self.links.metrics.subscription_restored(KIND, outcome);
        self.links.send_presence_typed(&watcher, &target, ask);
    }

    /// Subscriptions alive now.
    pub(crate) fn len(&self) -> usize {
        self.watchers.len()
    }

    /// RFC 8048 §7.2: what `watcher`'s own subscription to `target` says for a fetch.
    pub(crate) fn standing(&self, watcher: &Jid, target: &Jid) -> Option<(bool, Option<String>)> {
        self.watchers.standing(watcher, target)
    }

    /// RFC 6665 §4.2.1: a SUBSCRIBE, new or within one of our dialogs. A
    /// fetch (Expires: 0 in a new dialog, RFC 8048 §7.2) is answered 200 and
    /// handed back: its one NOTIFY is `fetch/`'s to send.
    pub(crate) fn subscribe(self: &Arc<Self>, request: IncomingRequest) -> Option<Watcher> {
        let call_id = request.call_id().to_owned();
        let expires = request
            .header("Expires")
            .and_then(|e| e.trim().parse::<u32>().ok())
            .unwrap_or(MAX_EXPIRES)
            .min(MAX_EXPIRES);
        let event_ok = request
            .header("Event")
            .is_some_and(|e| e.split(';').next().is_some_and(|p| p.trim() == "presence"));
        // RFC 6665 §4.2.1.1: the 2xx carries a Contact (our remote target):
        // where this subscriber reaches us, never a wildcard listen address.
        let contact = self
            .links
            .sip
            .contact(None, request.transport, request.source);
        let target_uri = request.request_uri();
        let from_uri = request.from_uri();
        let (view, responder) = request.into_responder();
        if !event_ok {
            // RFC 6665 §8.3.2: an unsupported event package gets 489.
            responder.respond(
                StatusCode::BAD_EVENT,
                None,
                vec![("Allow-Events".into(), "presence".into())],
                None,
            );
            return None;
        }
        if self.watchers.by_call_id.contains_key(&call_id) {
            responder.respond(
                StatusCode::OK,
                None,
                vec![("Expires".into(), expires.to_string())],
                None,
            );
            if expires == 0 {
                // RFC 6665 §4.2.1.4: un-SUBSCRIBE ends it with a final NOTIFY.
                if let Some(w) = self.forget_watcher(&call_id) {
                    self.links.send_presence_typed(
                        &w.watcher,
                        &w.target,
                        PresenceType::Unsubscribe,
                    );
                    self.notify(w, &SubscriptionState::terminated("timeout"), false);
                }
            } else {
                let now = Instant::now();
                self.watchers.update(&call_id, |w| {
                    w.state.handle_refresh(expires, now);
                    self.links.store.put_watcher(w.row());
                });
            }
            return None;
        }
        if view.to_tag().is_some() {
            // RFC 3261 §12.2.2: a request in a dialog Parley does not know (a
            // refresh after a restart) gets 481; the subscriber starts afresh.
            responder.respond(StatusCode::CALL_DOES_NOT_EXIST, None, vec![], None);
            return None;
        }
        let mapped = SipAddress::parse(&from_uri)
            .and_then(|a| self.links.mapper.sip_user_to_jid(&a))
            .and_then(|w| {
                let t = SipAddress::parse(&target_uri)
                    .and_then(|a| self.links.mapper.sip_target_to_jid(&a))?;
                Ok((w.bare(), t.bare()))
            });
        let (watcher, target) = match mapped {
            Ok(pair) => pair,
            Err(e) => {
                self.links.answer_sip(responder, &e.sip_answer());
                return None;
            }
        };
        let Ok(dialog) = Dialog::from_request(view.message(), responder.to_tag()) else {
            responder.respond(
                StatusCode::BAD_REQUEST,
                Some("Bad Dialog Request"),
                vec![],
                None,
            );
            return None;
        };
        let ok = vec![
            ("Expires".to_owned(), expires.to_string()),
            ("Contact".to_owned(), contact),
        ];
        let w = Watcher {
            watcher: watcher.clone(),
            target: target.clone(),
            dialog,
            state: WatcherState::granted(expires, Instant::now()),
            resources: BTreeMap::new(),
            last_pidf: None,
        };
        if expires == 0 {
            // RFC 6665 §4.4.3: a fetch, one NOTIFY and no lasting subscription —
            // so it holds nothing that `subscriptions_per_user` bounds.
            responder.respond(StatusCode::OK, None, ok, None);
            return Some(w);
        }
        if self.watchers.count_for(&watcher.to_string()) >= self.admission.subscriptions_per_user {
            // `limits.subscriptions_per_user`. RFC 6665 §4.2.1.2: when "it can be
            // automatically authoritatively determined that the subscriber is not
            // authorized to subscribe, the notifier SHOULD reply ... with a 403".
            self.admission.subscription_cap_reached();
            responder.respond(
                StatusCode::FORBIDDEN,
                Some("Too Many Subscriptions"),
                vec![],
                None,
            );
            return None;
        }
        responder.respond(StatusCode::OK, None, ok, None);
        debug!(%call_id, "SIP SUBSCRIBE → XMPP subscribe");
        // RFC 6665 §4.2.1.2: a NOTIFY right away; pending until she answers.
        let mut w = w;
        self.notify_state(&mut w, &SubscriptionState::pending(), false);
        self.watchers
            .by_pair
            .insert((watcher.to_string(), target.to_string()), call_id.clone());
        self.links.store.put_watcher(w.row());
        self.watchers.insert(call_id, w);
        self.links
            .send_presence_typed(&watcher, &target, PresenceType::Subscribe);
        None
    }

    /// Shutdown: expiries and restore turns stop. With a working store the subscriptions stay (they are on
    /// disk and the restarted gateway takes them up). Without one, nothing
    /// would remember them, so end each with `terminated;reason=deactivated`,
    /// which asks the subscriber to subscribe again at once (RFC 6665 §4.1.3)
    /// — to the restarted gateway.
    pub(crate) fn deactivate(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.watchers.timers.clear();
        if self.links.store.is_persistent() {
            return;
        }
        for w in self.watchers.take_all() {
            self.notify(w, &SubscriptionState::terminated("deactivated"), false);
        }
    }

    /// After a restart: take up the stored subscriptions. One that ran out
    /// while the gateway was down ends with NOTIFY `terminated;reason=timeout`
    /// (RFC 6665 §4.2.1.2); the others get their expiry timer back, and the XMPP
    /// user is probed again (approved ones, RFC 6121 §4.3) or asked again
    /// (pending ones: her answer may have been lost while the component was
    /// away), at most `per_sec` a second.
    pub(crate) fn restore(&self, rows: Vec<WatcherRow>, per_sec: u32) {
        let spacing = Duration::from_secs(1) / per_sec.max(1);
        let now = Instant::now();
        for (i, row) in rows.into_iter().enumerate() {
            let (Ok(watcher), Ok(target)) = (Jid::parse(&row.watcher), Jid::parse(&row.target))
            else {
                self.links.store.delete_watcher(&row.call_id);
                continue;
            };
            let remaining = until_unix(row.expires_at);
            let authorization = if row.active {
                Authorization::Active
            } else {
                Authorization::Pending
            };
            let turn = now + spacing * u32::try_from(i).unwrap_or(u32::MAX);
            let w = Watcher {
                watcher,
                target,
                dialog: row.dialog,
                state: WatcherState::restored(authorization, remaining, now, turn),
                resources: BTreeMap::new(),
                last_pidf: row.last_pidf,
            };
            if remaining.is_zero() {
                self.links.store.delete_watcher(&row.call_id);
                self.links.metrics.subscription_restored(KIND, "expired");
                self.notify(w, &SubscriptionState::terminated("timeout"), false);
                continue;
            }
            self.watchers
                .by_pair
                .insert((row.watcher, row.target), row.call_id.clone());
            self.watchers.insert(row.call_id, w);
        }
    }

    /// Drop a subscription from memory and from the store.
    fn forget_watcher(&self, call_id: &str) -> Option<Watcher> {
        self.links.store.delete_watcher(call_id);
        self.watchers.remove(call_id)
    }

    /// Presence from an XMPP user to a SIP user watching her (RFC 8048 §5.3, §6.2).
    /// Returns false when no SIP subscription matches.
    pub(crate) fn presence(&self, from: &Jid, to: &Jid, p: &Presence) -> bool {
        let pair = (to.bare().to_string(), from.bare().to_string());
        let Some(call_id) = self.watchers.by_pair.get(&pair).map(|c| c.clone()) else {
            return false;
        };
        match p.presence_type {
            Some(PresenceType::Unsubscribed) => {
                if let Some(w) = self.forget_watcher(&call_id) {
                    self.notify(w, &SubscriptionState::terminated("rejected"), false);
                }
            }
            Some(PresenceType::Subscribed) | None | Some(PresenceType::Unavailable) => {
                let Some(mut w) = self.watchers.by_call_id.get_mut(&call_id) else {
                    return true;
                };
                if p.presence_type == Some(PresenceType::Subscribed) {
                    // Her current presence (or unavailable) answers the probe;
                    // the active NOTIFY goes out with it (RFC 6121 §4.3.2).
                    w.state.approve();
                    self.links.store.put_watcher(w.row());
                    self.links
                        .send_presence_typed(&w.watcher, &w.target, PresenceType::Probe);
                    return true;
                } else if p.presence_type == Some(PresenceType::Unavailable) {
                    w.resources.remove(&from.to_string());
                } else {
                    w.resources.insert(from.to_string(), p.clone());
                }
                if w.state.authorization() == Authorization::Active {
                    let remaining = w.state.remaining(Instant::now()).as_secs();
                    let state =
                        SubscriptionState::active(u32::try_from(remaining).unwrap_or(u32::MAX));
                    self.notify_state(&mut w, &state, true);
                    // The dialog's CSeq moved on: a restart must continue above it.
                    self.links.store.put_watcher(w.row());
                }
            }
            _ => {}
        }
        true
    }

    /// Send a final NOTIFY for a subscription already removed.
    fn notify(&self, mut w: Watcher, state: &SubscriptionState, with_body: bool) {
        self.notify_state(&mut w, state, with_body);
    }

    /// RFC 6665 §4.2.2, RFC 3856 §6.6: NOTIFY in the dialog, with PIDF when asked.
    /// The caller holds `w` (possibly inside the map): no map access here.
    fn notify_state(&self, w: &mut Watcher, state: &SubscriptionState, with_body: bool) {
        let body = if with_body {
            let presences: Vec<Presence> = w.resources.values().cloned().collect();
            let Some(xml) = pidf_for(&self.links, &w.target, &presences) else {
                send_notify(&self.links, w, state, None);
                return;
            };
            if state.state == Substate::Active && w.last_pidf.as_deref() == Some(xml.as_str()) {
                return;
            }
            w.last_pidf = Some(xml.clone());
            Some(xml)
        } else {
            None
        };
        send_notify(&self.links, w, state, body);
    }
}

/// RFC 8048 §6.2: the PIDF document for `target`'s resources (`None` when
/// it cannot be written; counted as an error).
pub(crate) fn pidf_for(links: &Links, target: &Jid, presences: &[Presence]) -> Option<String> {
    let entity = links
        .mapper
        .xmpp_user_to_sip(target)
        .map(|a| a.to_string())
        .unwrap_or_default();
    match to_pidf(&entity, presences, &links.mapper, true) {
        Ok(pidf) => Some(pidf.to_xml()),
        Err(e) => {
            links.metrics.error(e.kind());
            None
        }
    }
}

/// Send the next NOTIFY of `w`'s dialog with `state` and an optional PIDF body.
pub(crate) fn send_notify(
    links: &Links,
    w: &mut Watcher,
    state: &SubscriptionState,
    pidf: Option<String>,
) {
    let body = pidf.map(|xml| ("application/pidf+xml".to_owned(), Bytes::from(xml)));
    let request = w.dialog.next_request("NOTIFY");
    let outgoing = OutgoingRequest::in_dialog(
        request,
        vec![
            ("Event".to_owned(), "presence".to_owned()),
            ("Subscription-State".to_owned(), state.to_string()),
        ],
        body,
    );
    let sip = links.sip.clone();
    links.tasks.spawn(async move {
        let result = sip.send_request(outgoing).await;
        debug!(status = ?result.as_ref().map(|r| r.status), "NOTIFY sent");
    });
}

//! RFC 8048 §5.3 and §6.2, SIP user → XMPP user: a SIP SUBSCRIBE to an XMPP
//! user becomes `<presence type='subscribe'/>`; Parley is the notifier
//! (RFC 6665 §4.2): NOTIFY `pending` at once, `active` with PIDF once the XMPP
//! user answers `subscribed` and whenever her presence changes, the state
//! as it is after every refresh (§4.2.1.2), `terminated` on `unsubscribed`
//! (reason=rejected), on un-SUBSCRIBE and on expiry. A
//! SUBSCRIBE with Expires: 0 in a new dialog is a fetch (RFC 8048 §7.2,
//! `fetch/`): one NOTIFY, nothing kept.
//!
//! Each subscription (dialog, expiry, whether approved, last PIDF) is kept in
//! the store; after a restart [`Notifier::restore`] re-arms expiry and
//! probes the XMPP users again, so SIP subscribers notice nothing: as many
//! at a time as the component stream's queue has room for (`restore.rs`).
//!
//! A NOTIFY that Parley's own SIP endpoint refused to start (its transaction
//! table full) never reached the subscriber: it is made good after a delay
//! (`deferral.rs`) — a live subscription's state as it is then, or an ended
//! one's final NOTIFY again.
//!
//! No subscription has a task of its own: each holds a [`WatcherState`]
//! (`state.rs`), and the router's reaper tick ([`Notifier::reap`]) acts on
//! those whose time came, found through a [`TimerIndex`].

mod e2e;
mod ending;
mod notify;
mod state;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::time::Instant;
use tracing::debug;

use parley_mapping::address::{Jid, SipAddress};
use parley_sip::StatusCode;
use parley_sip::dialog::Dialog;
use parley_sip::dialog::packed::PackedDialog;
use parley_sip::dialog::subscription::{SubscriptionState, Substate};
use parley_sip::{IncomingRequest, OutgoingRequest};
use parley_xmpp::stanza::{Presence, PresenceType};

use super::deferral;
use super::restore::RestoreQueue;
use super::table::{Party, Subscription, Subscriptions};
use crate::admission::Admission;
use crate::links::Links;
use crate::store::{WatcherRow, unix_after, until_unix};
use ending::{Ending, Endings};
use notify::notify_request;
pub(crate) use notify::{pidf_for, send_notify};
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
    /// The dialog the SUBSCRIBE created (packed: it is kept for hours).
    pub(crate) dialog: PackedDialog,
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
            call_id: self.dialog.call_id().to_owned(),
            watcher: self.watcher.to_string(),
            target: self.target.to_string(),
            expires_at: unix_after(self.state.remaining(Instant::now())),
            active: self.state.authorization() == Authorization::Active,
            last_pidf: self.last_pidf.clone(),
            dialog: self.dialog.to_dialog(),
        }
    }
}

impl Subscription for Watcher {
    fn poll_timeout(&self) -> Option<Instant> {
        self.state.poll_timeout()
    }

    fn parties(&self) -> (Party<'_>, Party<'_>) {
        (Party::Jid(&self.watcher), Party::Jid(&self.target))
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
        let w = self.get(&call_id)?;
        let active = w.state.authorization() == Authorization::Active;
        Some((active, w.last_pidf.clone()))
    }
}

/// What a NOTIFY was for, so that a refusal to start it can be made good.
enum Notified {
    /// A subscription still held, under this Call-ID; `repeat` if this
    /// NOTIFY says the state as it is now whatever was sent before (it
    /// makes good an earlier one that was not sent, or answers a refresh).
    Live { call_id: String, repeat: bool },
    /// The final NOTIFY of a subscription already ended.
    Final(Box<Ending>),
}

/// The notifier side: SIP users subscribe to XMPP users through Parley.
pub(crate) struct Notifier {
    links: Arc<Links>,
    watchers: Watchers,
    admission: Arc<Admission>,
    /// After a restart: the stored subscriptions waiting for their turn.
    restore: RestoreQueue,
    /// Most restore probes waiting on the component stream at once.
    restore_room: AtomicUsize,
    /// Final NOTIFYs to send again.
    endings: Endings,
    /// Shutdown began: the reaper acts on no more deadlines.
    stopped: AtomicBool,
}

impl Notifier {
    pub(crate) fn new(links: Arc<Links>, admission: Arc<Admission>) -> Self {
        Self {
            links,
            watchers: Watchers::default(),
            admission,
            restore: RestoreQueue::default(),
            restore_room: AtomicUsize::new(0),
            endings: Endings::default(),
            stopped: AtomicBool::new(false),
        }
    }

    /// The reaper's tick: RFC 6665 §4.2.1.2, end each subscription whose time
    /// is up; make good the NOTIFYs that were not sent; after a restart, take
    /// stored ones up as the component stream has room.
    pub(crate) fn reap(self: &Arc<Self>, now: Instant) {
        if self.stopped.load(Ordering::Relaxed) {
            return;
        }
        for call_id in self.watchers.take_due(now) {
            while let Some(Some(due)) = self
                .watchers
                .update(&call_id, |w| w.state.handle_timeout(now))
            {
                match due {
                    Due::Renotify => self.renotify(&call_id, now),
                    Due::Expire => {
                        if let Some(w) = self.forget_watcher(&call_id) {
                            self.end(w, SubscriptionState::terminated("timeout"));
                        }
                        break;
                    }
                }
            }
        }
        for ending in self.endings.take_due(now) {
            self.send_final(ending);
        }
        self.take_turns(now);
    }

    /// Restore turns, as many as the component stream's queue has room for
    /// (each sends one probe or subscribe; their answers bring the NOTIFYs).
    fn take_turns(self: &Arc<Self>, now: Instant) {
        let room = self
            .restore_room
            .load(Ordering::Relaxed)
            .saturating_sub(self.links.xmpp.stats().queue_len);
        for _ in 0..room {
            let Some(call_id) = self.restore.next(now) else {
                break;
            };
            // The turn ends at once: the probe is queued, or nothing to do.
            self.restore.done();
            self.resume(&call_id, now);
        }
    }

    /// A restored subscription's turn: one that ran out while the gateway
    /// was down (or waited) ends with NOTIFY `terminated;reason=timeout`
    /// (RFC 6665 §4.2.1.2); otherwise the XMPP user is probed again
    /// (approved ones, RFC 6121 §4.3) or asked again (pending ones).
    fn resume(self: &Arc<Self>, call_id: &str, now: Instant) {
        let Some((authorization, expired, pair)) = self
            .watchers
            .update(call_id, |w| {
                let authorization = w.state.take_turn()?;
                let pair = (w.watcher.clone(), w.target.clone());
                Some((authorization, w.state.remaining(now).is_zero(), pair))
            })
            .flatten()
        else {
            return;
        };
        if expired {
            if let Some(w) = self.forget_watcher(call_id) {
                self.links.metrics.subscription_restored(KIND, "expired");
                self.end(w, SubscriptionState::terminated("timeout"));
            }
            return;
        }
        // A row restored expired was kept out of `by_pair`; a refresh while
        // it waited brought it back to life.
        self.watchers.pair_unless_held(call_id);
        let (outcome, ask) = match authorization {
            Authorization::Active => ("reprobed", PresenceType::Probe),
            Authorization::Pending => ("resumed", PresenceType::Subscribe),
        };
        self.links.metrics.subscription_restored(KIND, outcome);
        self.links.send_presence_typed(&pair.0, &pair.1, ask);
    }

    /// Subscriptions alive now.
    pub(crate) fn len(&self) -> usize {
        self.watchers.len()
    }

    /// Whether this instance holds the subscription `call_id`.
    pub(crate) fn holds(&self, call_id: &str) -> bool {
        self.watchers.contains(call_id)
    }

    /// Whether this instance holds `watcher`'s subscription to `target`.
    pub(crate) fn holds_pair(&self, watcher: &Jid, target: &Jid) -> bool {
        self.watchers
            .call_id_of(&watcher.to_string(), &target.to_string())
            .is_some()
    }

    /// Another instance holds `call_id` now (design §4a): forgotten here,
    /// kept in the store, and nobody is told anything.
    pub(crate) fn release(&self, call_id: &str) {
        self.watchers.remove(call_id);
    }

    /// [`Notifier::release`] for every subscription: this instance's lease lapsed.
    pub(crate) fn release_all(&self) {
        self.watchers.take_all();
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
        let ok = vec![
            ("Expires".to_owned(), expires.to_string()),
            ("Contact".to_owned(), contact),
        ];
        if self.watchers.contains(&call_id) {
            // RFC 6665 §3.1: a refresh is a target refresh request, and RFC
            // 3261 §12.2.1.2 has the subscriber take the Contact of its 2xx
            // as the remote target: the 200 names where the dialog is held
            // now (after a takeover, this instance), as the first one did.
            responder.respond(StatusCode::OK, None, ok, None);
            if expires == 0 {
                // RFC 6665 §4.2.1.4: un-SUBSCRIBE ends it with a final NOTIFY.
                if let Some(w) = self.forget_watcher(&call_id) {
                    self.links.send_presence_typed(
                        &w.watcher,
                        &w.target,
                        PresenceType::Unsubscribe,
                    );
                    self.end(w, SubscriptionState::terminated("timeout"));
                }
            } else {
                // RFC 6665 §4.2.1.2: "Upon successfully accepting or
                // refreshing a subscription, notifiers MUST send a NOTIFY
                // request immediately": the state as it is now, even when
                // it repeats the last NOTIFY (it answers this refresh).
                let now = Instant::now();
                self.watchers.update(&call_id, |w| {
                    w.state.handle_refresh(expires, now);
                    self.notify_current(w, now);
                    // The dialog's CSeq moved on: a restart must continue above it.
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
        let w = Watcher {
            watcher: watcher.clone(),
            target: target.clone(),
            dialog: PackedDialog::from(dialog),
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
        self.links.store.put_watcher(w.row());
        self.watchers.insert_paired(call_id, w);
        self.links
            .send_presence_typed(&watcher, &target, PresenceType::Subscribe);
        None
    }

    /// Shutdown: expiries and restore turns stop. With a working store the subscriptions stay (they are on
    /// disk and the restarted gateway takes them up). Without one, nothing
    /// would remember them, so end each with `terminated;reason=deactivated`,
    /// which asks the subscriber to subscribe again at once (RFC 6665 §4.1.3)
    /// — to the restarted gateway.
    pub(crate) fn deactivate(self: &Arc<Self>) {
        self.stopped.store(true, Ordering::Relaxed);
        self.watchers.clear_timers();
        if self.links.store.is_persistent() {
            self.restore.clear();
            return;
        }
        self.restore.clear();
        for w in self.watchers.take_all() {
            self.end(w, SubscriptionState::terminated("deactivated"));
        }
    }

    /// After a restart: take up the stored subscriptions, each at its turn
    /// (`restore.rs`): at most `window` probes, and at most half of the
    /// component stream's `queue_capacity`, wait on the stream at once, so
    /// that the probes never crowd out other stanzas nor overflow the queue.
    /// Ones that ran out while the gateway was down come first: their turn
    /// ends them with NOTIFY `terminated;reason=timeout` (RFC 6665
    /// §4.2.1.2). The others get their expiry timer back, and the XMPP user
    /// is probed again (approved ones, RFC 6121 §4.3) or asked again
    /// (pending ones: her answer may have been lost while the component was
    /// away).
    pub(crate) fn restore(
        self: &Arc<Self>,
        rows: Vec<WatcherRow>,
        window: usize,
        queue_capacity: usize,
    ) {
        let now = Instant::now();
        let (mut expired, mut live) = (Vec::new(), Vec::with_capacity(rows.len()));
        for row in rows {
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
            let w = Watcher {
                watcher,
                target,
                dialog: PackedDialog::from(row.dialog),
                state: WatcherState::restored(authorization, remaining, now),
                resources: BTreeMap::new(),
                last_pidf: row.last_pidf,
            };
            if remaining.is_zero() {
                // Over: no presence may reach it any more.
                expired.push(row.call_id.clone());
                self.watchers.insert(row.call_id, w);
            } else {
                live.push(row.call_id.clone());
                self.watchers.insert_paired(row.call_id, w);
            }
        }
        self.restore_room
            .store(window.min(queue_capacity / 2).max(1), Ordering::Relaxed);
        self.restore
            .load(expired.into_iter().chain(live), usize::MAX);
        self.take_turns(now);
    }

    /// Drop a subscription from memory and from the store.
    fn forget_watcher(&self, call_id: &str) -> Option<Watcher> {
        self.links.store.delete_watcher(call_id);
        self.watchers.remove(call_id)
    }

    /// Presence from an XMPP user to a SIP user watching her (RFC 8048 §5.3, §6.2).
    /// Returns false when no SIP subscription matches.
    pub(crate) fn presence(self: &Arc<Self>, from: &Jid, to: &Jid, p: &Presence) -> bool {
        let pair = (to.bare().to_string(), from.bare().to_string());
        let Some(call_id) = self.watchers.call_id_of(&pair.0, &pair.1) else {
            return false;
        };
        // RFC 3923 §4: a signed or encrypted PIDF goes as it is.
        if let Some(object) = parley_mapping::e2e::presence_object(p) {
            self.e2e_presence(&call_id, from, to, object);
            return true;
        }
        match p.presence_type {
            Some(PresenceType::Unsubscribed) => {
                if let Some(w) = self.forget_watcher(&call_id) {
                    self.end(w, SubscriptionState::terminated("rejected"));
                }
            }
            Some(PresenceType::Subscribed) | None | Some(PresenceType::Unavailable) => {
                let Some(mut w) = self.watchers.get_mut(&call_id) else {
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

    /// The final NOTIFY (RFC 6665 §4.2.2) of a subscription already removed.
    fn end(self: &Arc<Self>, w: Watcher, state: SubscriptionState) {
        self.send_final(Ending {
            watcher: w,
            state,
            refusals: 0,
        });
    }

    /// Send `ending`'s final NOTIFY, the next in its dialog.
    fn send_final(self: &Arc<Self>, mut ending: Ending) {
        let request = notify_request(&mut ending.watcher, &ending.state, None);
        self.spawn_notify(request, Notified::Final(Box::new(ending)));
    }

    /// RFC 6665 §4.2.2, RFC 3856 §6.6: NOTIFY in the dialog, with PIDF when asked.
    /// The caller holds `w` (possibly inside the map): no map access here.
    fn notify_state(self: &Arc<Self>, w: &mut Watcher, state: &SubscriptionState, with_body: bool) {
        self.notify_live(w, state, with_body, false);
    }

    /// [`Notifier::notify_state`]; `repeat`: it goes even when the PIDF is
    /// the last one sent — it makes good a NOTIFY that was not sent (which
    /// may have carried this very PIDF), or answers a refresh.
    fn notify_live(
        self: &Arc<Self>,
        w: &mut Watcher,
        state: &SubscriptionState,
        with_body: bool,
        repeat: bool,
    ) {
        let body = if with_body {
            let presences: Vec<Presence> = w.resources.values().cloned().collect();
            match pidf_for(&self.links, &w.target, &presences) {
                Some(xml) => {
                    if !repeat
                        && state.state == Substate::Active
                        && w.last_pidf.as_deref() == Some(xml.as_str())
                    {
                        return;
                    }
                    w.last_pidf = Some(xml.clone());
                    Some(xml)
                }
                None => None,
            }
        } else {
            None
        };
        let request = notify_request(w, state, body);
        let call_id = w.dialog.call_id().to_owned();
        self.spawn_notify(request, Notified::Live { call_id, repeat });
    }

    /// A NOTIFY was not sent: the subscription's state as it is now goes
    /// out instead.
    fn renotify(self: &Arc<Self>, call_id: &str, now: Instant) {
        let Some(mut w) = self.watchers.get_mut(call_id) else {
            return;
        };
        self.notify_current(&mut w, now);
        // The dialog's CSeq moved on: a restart must continue above it.
        self.links.store.put_watcher(w.row());
    }

    /// NOTIFY the subscription's state as it is now, even if the last
    /// NOTIFY said the same: `pending`, or `active` with her presence. Until
    /// any of her resources is heard (a row taken up after a restart or a
    /// takeover, her probe unanswered) that is the PIDF last sent, not an
    /// empty one that would tell the subscriber she left.
    /// The caller holds `w` (possibly inside the map): no map access here.
    fn notify_current(self: &Arc<Self>, w: &mut Watcher, now: Instant) {
        match w.state.authorization() {
            Authorization::Pending => {
                self.notify_live(w, &SubscriptionState::pending(), false, true);
            }
            Authorization::Active => {
                let remaining = w.state.remaining(now).as_secs();
                let state = SubscriptionState::active(u32::try_from(remaining).unwrap_or(u32::MAX));
                match w.last_pidf.clone() {
                    Some(last) if w.resources.is_empty() => {
                        let request = notify_request(w, &state, Some(last));
                        let call_id = w.dialog.call_id().to_owned();
                        self.spawn_notify(
                            request,
                            Notified::Live {
                                call_id,
                                repeat: true,
                            },
                        );
                    }
                    _ => self.notify_live(w, &state, true, true),
                }
            }
        }
    }

    /// Send `request` in a task; if the SIP endpoint refuses to start it,
    /// make it good later (`deferral.rs`).
    fn spawn_notify(self: &Arc<Self>, request: OutgoingRequest, notified: Notified) {
        let notifier = Arc::clone(self);
        self.links.tasks.spawn(async move {
            let result = notifier.links.sip.send_request(request).await;
            match result {
                Err(e) if deferral::refused_locally(&e) => {
                    debug!(kind = e.kind(), "NOTIFY not sent: deferred");
                    notifier.links.metrics.presence_request_deferred("notify");
                    notifier.notify_refused(notified, Instant::now());
                }
                result => {
                    debug!(status = ?result.as_ref().map(|r| r.status), "NOTIFY sent");
                    if let Notified::Live {
                        call_id,
                        repeat: true,
                    } = notified
                    {
                        notifier
                            .watchers
                            .update(&call_id, |w| w.state.handle_renotified());
                    }
                }
            }
        });
    }

    /// The SIP endpoint refused to start a NOTIFY at `now`.
    fn notify_refused(&self, notified: Notified, now: Instant) {
        match notified {
            Notified::Live { call_id, .. } => {
                // Gone meanwhile: its final NOTIFY says what there is to say.
                self.watchers
                    .update(&call_id, |w| w.state.handle_notify_refused(now));
            }
            Notified::Final(ending) => {
                let mut ending = *ending;
                ending.refusals = ending.refusals.saturating_add(1);
                self.endings
                    .defer(now + deferral::delay(ending.refusals), ending);
            }
        }
    }
}

//! RFC 8048 §5, XMPP user → SIP contact: an XMPP `subscribe` to a SIP user
//! becomes a SIP SUBSCRIBE (RFC 3856, RFC 6665); its NOTIFYs become
//! `<presence/>`; `unsubscribe` becomes SUBSCRIBE with Expires: 0. A probe is
//! answered from the subscription's last NOTIFY, or by a fetch (RFC 8048
//! §7.1, `fetch/`).
//!
//! Each subscription is kept in the store; after a restart [`Subscriber::restore`]
//! refreshes the stored dialogs (or subscribes afresh where a dialog is gone),
//! at most `store.restore_in_flight` at a time (`restore.rs`), so the XMPP
//! user never has to subscribe again.
//!
//! A SUBSCRIBE that Parley's own SIP endpoint refused to start (its
//! transaction table full) is no answer from the SIP side: it is deferred
//! and made again (`deferral.rs`), and the XMPP user hears nothing of it.
//!
//! No subscription has a task of its own: each holds a [`WatchState`]
//! (`state.rs`), and the router's reaper tick ([`Subscriber::reap`]) acts on
//! those whose time came, found through a [`TimerIndex`]. Only a SIP request
//! in flight runs as a (tracked) task.

mod state;
mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, info};

use parley_mapping::address::Jid;
use parley_mapping::e2e::presence_to_xmpp;
use parley_mapping::presence::pidf_body_to_xmpp;
use parley_sip::StatusCode;
use parley_sip::dialog::packed::PackedDialog;
use parley_sip::dialog::subscription::{SubscriptionState, Substate};
use parley_sip::dialog::{self, Dialog};
use parley_sip::{OutgoingRequest, Responder};
use parley_xmpp::stanza::{DefinedCondition, ErrorType, Presence, PresenceType, StanzaError};

use super::deferral;
use super::restore::RestoreQueue;
use crate::admission::Admission;
use crate::links::{Links, typed};
use crate::mime_fields::MimeFields;
use crate::store::{WatchRow, unix_after, until_unix};
use state::{Approval, Due, RefreshAnswer, Refreshed, Start, WatchState};
use watch::{Watch, Watches};

const KIND: &str = "sip_subscriptions_out";

/// How long Parley asks a SIP subscription to last (RFC 3856 §6.4 suggests an hour).
const REQUESTED_EXPIRES: u32 = 3600;

/// The subscriber side: Parley subscribes to SIP users for XMPP users.
pub(crate) struct Subscriber {
    links: Arc<Links>,
    watches: Watches,
    admission: Arc<Admission>,
    /// After a restart: the stored subscriptions waiting for their turn.
    restore: RestoreQueue<Arc<str>>,
    /// Shutdown began: the reaper acts on no more deadlines.
    stopped: AtomicBool,
}

impl Subscriber {
    pub(crate) fn new(links: Arc<Links>, admission: Arc<Admission>) -> Self {
        Self {
            links,
            watches: Watches::default(),
            admission,
            restore: RestoreQueue::default(),
            stopped: AtomicBool::new(false),
        }
    }

    /// Subscriptions alive now.
    pub(crate) fn len(&self) -> usize {
        self.watches.len()
    }

    /// Whether this instance holds the subscription `call_id`.
    pub(crate) fn holds(&self, call_id: &str) -> bool {
        self.watches.contains(call_id)
    }

    /// Whether this instance holds `watcher`'s subscription to `contact`.
    pub(crate) fn holds_pair(&self, watcher: &Jid, contact: &Jid) -> bool {
        self.watches
            .call_id_of(&watcher.to_string(), &contact.to_string())
            .is_some()
    }

    /// Another instance holds `call_id` now (design §4a): forgotten here,
    /// kept in the store, and nobody is told anything.
    pub(crate) fn release(&self, call_id: &str) {
        self.watches.remove(call_id);
    }

    /// [`Subscriber::release`] for every subscription: this instance's lease lapsed.
    pub(crate) fn release_all(&self) {
        self.watches.take_all();
    }

    /// Shutdown: no more refreshes. The SIP side lets the subscriptions
    /// expire; NOTIFYs after a restart get 481, which ends them (RFC 6665 §4.1.3).
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.watches.clear_timers();
        self.restore.clear();
    }

    /// The reaper's tick: act on every subscription whose time came, and
    /// start restore turns if a refusal's pause has ended.
    pub(crate) fn reap(self: &Arc<Self>, now: Instant) {
        if self.stopped.load(Ordering::Relaxed) {
            return;
        }
        for call_id in self.watches.take_due(now) {
            let due = self
                .watches
                .update(&call_id, |w| w.state.handle_timeout(now))
                .flatten();
            match due {
                Some(Due::Refresh) => self.refresh(call_id),
                Some(Due::TimerN) => self.timer_n_fired(&call_id),
                Some(Due::Subscribe(start)) => self.send_subscribe(call_id, start),
                Some(Due::Forget) => {
                    self.watches.remove(&call_id);
                }
                Some(Due::Lapsed) => {
                    info!(%call_id, "SIP subscription expired unrefreshed: subscribing afresh");
                    self.resubscribe(&call_id);
                }
                None => {}
            }
        }
        self.take_turns(now);
    }

    /// The presence the last NOTIFY of `watcher`'s subscription to `contact` gave.
    pub(crate) fn last_presence(&self, watcher: &Jid, contact: &Jid) -> Option<Presence> {
        self.watches.last_presence(watcher, contact)
    }

    /// RFC 8048 §5.2 (F16–F21): `unsubscribe` from `watcher` to `contact`.
    pub(crate) fn unsubscribe_pair(self: &Arc<Self>, watcher: &Jid, contact: &Jid) {
        if let Some(call_id) = self
            .watches
            .call_id_of(&watcher.to_string(), &contact.to_string())
        {
            self.unsubscribe(&call_id);
        }
    }

    /// RFC 8048 §5.2 (F1–F5): SUBSCRIBE to the SIP contact.
    pub(crate) fn subscribe(self: &Arc<Self>, watcher: Jid, contact: Jid) {
        let pair = (watcher.to_string(), contact.to_string());
        if let Some(call_id) = self.watches.call_id_of(&pair.0, &pair.1) {
            // Already watching: confirm again once the contact has approved
            // (RFC 6121 §3.1.3 tolerates repeats); until then her request stands.
            let approved = self
                .watches
                .get(&call_id)
                .is_some_and(|w| w.state.approval() == Approval::Given);
            if approved {
                self.links
                    .send_presence(&contact, &watcher, typed(PresenceType::Subscribed));
            }
            return;
        }
        if self.watches.count_for(&pair.0) >= self.admission.subscriptions_per_user {
            // `limits.subscriptions_per_user`: a lasting local policy, which the
            // user can satisfy by dropping another subscription — RFC 6120
            // §8.3.3.12 policy-violation, type `modify`.
            self.admission.subscription_cap_reached();
            let refusal = Presence {
                presence_type: Some(PresenceType::Error),
                error: Some(StanzaError {
                    error_type: ErrorType::Modify,
                    text: Some("too many presence subscriptions through this gateway".into()),
                    ..StanzaError::new(DefinedCondition::PolicyViolation)
                }),
                ..Presence::default()
            };
            self.links.send_presence(&contact, &watcher, refusal);
            return;
        }
        self.start_watch(watcher, contact, Start::Asked, Approval::Owed);
    }

    /// Send a new SUBSCRIBE for (watcher, contact). `start`: why; unless she
    /// asked now, a refusal is told as `unavailable` too. `approval`: whether
    /// she has had her `subscribed` yet; if owed, it goes with the first
    /// active NOTIFY.
    fn start_watch(self: &Arc<Self>, watcher: Jid, contact: Jid, start: Start, approval: Approval) {
        if let Some(call_id) = self.new_watch(watcher, contact, approval) {
            self.send_subscribe(call_id, start);
        }
    }

    /// A new subscription of `watcher` to `contact`, kept in memory and in
    /// the store under a fresh Call-ID, its SUBSCRIBE not yet sent. `None`
    /// when an address cannot be mapped: she hears `unsubscribed`.
    fn new_watch(&self, watcher: Jid, contact: Jid, approval: Approval) -> Option<String> {
        if self.links.mapper.jid_to_sip_user(&contact).is_err()
            || self.links.mapper.xmpp_user_to_sip(&watcher).is_err()
        {
            self.links
                .send_presence(&contact, &watcher, typed(PresenceType::Unsubscribed));
            return None;
        }
        // The dialog's names are random (RFC 3261 §8.1.1.4, §19.3), so
        // neither a restart nor a second instance mints one the store
        // already holds.
        let call_id = dialog::new_call_id(&self.links.component_domain);
        let Some(watch) = Watch::new(
            &watcher,
            &contact,
            None,
            unix_after(Duration::from_secs(u64::from(REQUESTED_EXPIRES))),
            WatchState::subscribing(approval),
        ) else {
            self.links
                .send_presence(&contact, &watcher, typed(PresenceType::Unsubscribed));
            return None;
        };
        self.links.store.put_watch(watch.row(&call_id));
        self.watches.insert_paired(call_id.clone(), watch);
        Some(call_id)
    }

    /// Send the first SUBSCRIBE of `call_id` (again, when it was deferred)
    /// and act on its answer, in a task.
    fn send_subscribe(self: &Arc<Self>, call_id: String, start: Start) {
        let subscriber = Arc::clone(self);
        self.links.tasks.spawn(async move {
            subscriber.subscribe_once(call_id, start).await;
        });
    }

    /// RFC 8048 §5.2 (F1–F5): the first SUBSCRIBE of `call_id`, and its
    /// answer. False when the SIP endpoint refused to start it: it is then
    /// deferred (`deferral.rs`), and nobody is told anything.
    async fn subscribe_once(self: &Arc<Self>, call_id: String, start: Start) -> bool {
        let Some((watcher, contact)) = self.watches.get(&call_id).and_then(|w| w.jids()) else {
            // Forgotten meanwhile (unsubscribed and lingered out).
            return true;
        };
        let (Ok(target), Ok(from)) = (
            self.links.mapper.jid_to_sip_user(&contact),
            self.links.mapper.xmpp_user_to_sip(&watcher),
        ) else {
            // `new_watch` mapped them; the mapper has no state to change.
            self.forget_watch(&call_id);
            self.links
                .send_presence(&contact, &watcher, typed(PresenceType::Unsubscribed));
            return true;
        };
        // The correlation only ties log lines together.
        let correlation = self.links.registry.next_correlation();
        let tag = dialog::new_tag();
        let request = OutgoingRequest {
            method: "SUBSCRIBE".into(),
            request_uri: target.to_string(),
            from: format!("<{from}>;tag={tag}"),
            to: format!("<{target}>"),
            call_id: Some(call_id.clone()),
            headers: subscribe_headers(REQUESTED_EXPIRES),
            body: None,
        };
        debug!(correlation, %call_id, ?start, "XMPP subscribe → SIP SUBSCRIBE");
        let timer_n = self.links.sip.timers().timer_n();
        match self.links.sip.send_request(request).await {
            Ok(r) if r.is_success() => {
                let dialog = Dialog::from_response(r.message()).ok();
                debug!(
                    correlation,
                    status = r.status,
                    dialog = dialog.is_some(),
                    "SIP SUBSCRIBE accepted"
                );
                let expires = granted_expires(&r);
                let now = Instant::now();
                self.watches.update(&call_id, |w| {
                    if matches!(w.state.phase(), state::Phase::Unsubscribing { .. }) {
                        // Unsubscribed meanwhile: the store already forgot it.
                        return;
                    }
                    w.dialog = dialog.map(PackedDialog::from);
                    w.expires_at = unix_after(Duration::from_secs(u64::from(expires)));
                    self.links.store.put_watch(w.row(&call_id));
                    w.state.handle_granted(expires, timer_n, now);
                });
                if start == Start::Restored {
                    self.links
                        .metrics
                        .subscription_restored(KIND, "resubscribed");
                }
            }
            Err(e) if deferral::refused_locally(&e) => {
                debug!(correlation, %call_id, kind = e.kind(), "SIP SUBSCRIBE not sent: deferred");
                self.links.metrics.presence_request_deferred("subscribe");
                let now = Instant::now();
                self.watches
                    .update(&call_id, |w| w.state.handle_subscribe_refused(start, now));
                return false;
            }
            other => {
                info!(correlation, status = ?other.as_ref().map(|r| r.status), "SIP SUBSCRIBE refused");
                self.forget_watch(&call_id);
                if start == Start::Restored {
                    self.links.metrics.subscription_restored(KIND, "failed");
                }
                if start != Start::Asked {
                    self.links
                        .send_presence(&contact, &watcher, typed(PresenceType::Unavailable));
                }
                // RFC 8048 §5.2: a refusal is `unsubscribed`.
                self.links
                    .send_presence(&contact, &watcher, typed(PresenceType::Unsubscribed));
            }
        }
        true
    }

    /// RFC 6665 §4.1.2.4: "If this Timer N expires prior to the receipt of a
    /// NOTIFY request, the subscriber considers the subscription failed, and
    /// cleans up any state associated with the subscription attempt." Timer N
    /// is 64·T1; it runs from the 2xx here (a refused or timed-out SUBSCRIBE
    /// is cleaned up by its own answer). The watcher hears `unsubscribed`,
    /// as for any failed subscription (RFC 8048 §5.2).
    fn timer_n_fired(&self, call_id: &str) {
        if let Some((watcher, contact)) = self.forget_watch(call_id).and_then(|w| w.jids()) {
            info!(%call_id, "no NOTIFY within Timer N: SIP subscription failed");
            self.links
                .send_presence(&contact, &watcher, typed(PresenceType::Unsubscribed));
        }
    }

    /// After a restart: take up the stored subscriptions, at most `window`
    /// at a time (`restore.rs`) so that a large store does not flood the
    /// SIP network. A stored dialog still in time is refreshed in place (RFC
    /// 6665 §4.1.2.1); one that ran out, or whose refresh is refused, is
    /// replaced by a new SUBSCRIBE.
    ///
    /// The subscriptions are built from the rows by reference, and the rows
    /// dropped all together afterwards: so they are laid down in memory of
    /// their own, not in the holes of rows freed one by one, which the
    /// allocator kept for good (bench/RESULTS.md, "Presence at scale").
    pub(crate) fn restore(self: &Arc<Self>, rows: Vec<WatchRow>, window: usize) {
        let mut queued = Vec::with_capacity(rows.len());
        for row in &rows {
            let (Ok(watcher), Ok(contact)) = (Jid::parse(&row.watcher), Jid::parse(&row.contact))
            else {
                self.links.store.delete_watch(&row.call_id);
                continue;
            };
            // No presence stored: it may never have become active, so its
            // `subscribed` may be owed (a repeat is harmless).
            let approval = if row.last_pidf.is_none() {
                Approval::Owed
            } else {
                Approval::Given
            };
            let Some(mut watch) = Watch::new(
                &watcher,
                &contact,
                row.last_pidf.as_deref(),
                row.expires_at,
                WatchState::restored(approval),
            ) else {
                self.links.store.delete_watch(&row.call_id);
                continue;
            };
            watch.dialog = row.dialog.as_ref().map(PackedDialog::from);
            let call_id = self.watches.insert_paired(row.call_id.as_str(), watch);
            queued.push(call_id);
        }
        drop(rows);
        self.restore.load(queued, window);
        self.take_turns(Instant::now());
    }

    /// Start every restore turn the queue allows now.
    fn take_turns(self: &Arc<Self>, now: Instant) {
        if self.stopped.load(Ordering::Relaxed) {
            return;
        }
        while let Some(call_id) = self.restore.next(now) {
            self.resume(call_id);
        }
    }

    /// A restored subscription's turn: a stored dialog still in time is
    /// refreshed in place (RFC 6665 §4.1.2.1); one that ran out, or whose
    /// refresh is refused, is replaced by a new SUBSCRIBE. The turn lasts
    /// until the last of its requests is answered.
    fn resume(self: &Arc<Self>, call_id: Arc<str>) {
        let turn = self
            .watches
            .update(&call_id, |w| w.state.take_turn())
            .unwrap_or(false);
        if !turn {
            // Unsubscribed or forgotten while it waited.
            self.restore.done();
            return;
        }
        let in_time = self
            .watches
            .get(&call_id)
            .is_some_and(|w| until_unix(w.expires_at) > Duration::from_secs(2));
        let request = if in_time {
            self.in_dialog_subscribe(&call_id, REQUESTED_EXPIRES)
        } else {
            None
        };
        let subscriber = Arc::clone(self);
        self.links.tasks.spawn(async move {
            subscriber.take_up(call_id, request).await;
            subscriber.take_turns(Instant::now());
        });
    }

    /// One restore turn: the refresh in place, if there is one to send, and
    /// what follows from its answer; the queue learns how the turn ended.
    async fn take_up(self: &Arc<Self>, call_id: Arc<str>, request: Option<OutgoingRequest>) {
        let answer = match request {
            Some(request) => self.send_refresh(&call_id, request).await,
            None => RefreshAnswer::Failed(None),
        };
        match answer {
            RefreshAnswer::Granted(_) => {
                self.links.metrics.subscription_restored(KIND, "resumed");
                // What the store now holds, as the refresh schedule.
                let remaining = self.watches.get(&call_id).map_or(REQUESTED_EXPIRES, |w| {
                    u32::try_from(until_unix(w.expires_at).as_secs()).unwrap_or(REQUESTED_EXPIRES)
                });
                self.refreshed(&call_id, RefreshAnswer::Granted(remaining));
                self.restore.done();
            }
            RefreshAnswer::NotSent => {
                // Not the SIP side's answer: the turn waits in the queue again.
                let again = self
                    .watches
                    .update(&call_id, |w| w.state.handle_turn_refused())
                    .unwrap_or(false);
                self.restore
                    .refused(again.then_some(call_id), Instant::now());
            }
            RefreshAnswer::Failed(_) => {
                // Gone on the SIP side (expired meanwhile, 481, no dialog
                // yet): start afresh, unless she unsubscribed meanwhile.
                let unsubscribing = self
                    .watches
                    .get(&call_id)
                    .is_some_and(|w| matches!(w.state.phase(), state::Phase::Unsubscribing { .. }));
                let fresh = if unsubscribing {
                    None
                } else {
                    self.forget_watch(&call_id).and_then(|w| {
                        let (watcher, contact) = w.jids()?;
                        self.new_watch(watcher, contact, w.state.approval())
                    })
                };
                let sent = match fresh {
                    Some(fresh) => {
                        debug!(%call_id, %fresh, "stored SIP subscription replaced by a new SUBSCRIBE");
                        self.subscribe_once(fresh, Start::Restored).await
                    }
                    None => true,
                };
                if sent {
                    self.restore.done();
                } else {
                    // The new subscription waits on its own delay; the
                    // queue pauses as for any refusal.
                    self.restore.refused(None, Instant::now());
                }
            }
        }
    }

    /// RFC 6665 §4.1.2.1: refresh before the subscription expires, in its
    /// dialog. Without a dialog (its 2xx made none) there is nothing to
    /// refresh in: it is replaced by a new subscription.
    fn refresh(self: &Arc<Self>, call_id: String) {
        let Some(request) = self.in_dialog_subscribe(&call_id, REQUESTED_EXPIRES) else {
            self.resubscribe(&call_id);
            return;
        };
        let subscriber = Arc::clone(self);
        self.links.tasks.spawn(async move {
            let answer = subscriber.send_refresh(&call_id, request).await;
            subscriber.refreshed(&call_id, answer);
        });
    }

    /// A refresh was answered; the state machine reads a failure as RFC 8048
    /// §5.2.2 and RFC 6665 §4.1.2.2 say (`state::RefreshFailure`).
    fn refreshed(self: &Arc<Self>, call_id: &str, answer: RefreshAnswer) {
        let now = Instant::now();
        let outcome = self
            .watches
            .update(call_id, |w| w.state.handle_refreshed(answer, now));
        match outcome {
            Some(Refreshed::Cancelled) => self.cancelled(call_id),
            Some(Refreshed::Resubscribe) => {
                info!(%call_id, "SIP subscription terminated by its refresh: subscribing afresh");
                self.resubscribe(call_id);
            }
            Some(Refreshed::Retrying) => {
                debug!(%call_id, "SIP subscription still valid until its expiry: refresh retried");
            }
            Some(Refreshed::Deferred) => {
                debug!(%call_id, "SIP subscription refresh not sent: deferred");
            }
            Some(Refreshed::Renewed | Refreshed::Moot) | None => {}
        }
    }

    /// RFC 8048 §5.2.2: a refresh answered 403, 489 or 603 means "the XMPP
    /// presence authorization [is] permanently cancelled (and so inform the
    /// XMPP user)": forgotten here and in the store, and she hears
    /// `unavailable`, then `unsubscribed` (§5.2: a refusal is
    /// `unsubscribed`), as when a NOTIFY says `terminated`.
    fn cancelled(&self, call_id: &str) {
        if let Some((watcher, contact)) = self.forget_watch(call_id).and_then(|w| w.jids()) {
            info!(%call_id, "SIP refused the refresh: presence authorization cancelled");
            self.links
                .send_presence(&contact, &watcher, typed(PresenceType::Unavailable));
            self.links
                .send_presence(&contact, &watcher, typed(PresenceType::Unsubscribed));
        }
    }

    /// RFC 6665 §4.1.2.2: the subscription is terminated but her
    /// authorization stands: "an unrelated initial SUBSCRIBE request with a
    /// freshly generated Call-ID and a new, unique "From" tag", the approval
    /// she had kept. She hears nothing unless it is refused.
    fn resubscribe(self: &Arc<Self>, call_id: &str) {
        if let Some(w) = self.forget_watch(call_id)
            && let Some((watcher, contact)) = w.jids()
        {
            self.start_watch(watcher, contact, Start::Replaced, w.state.approval());
        }
    }

    /// One in-dialog refresh, and its answer.
    async fn send_refresh(&self, call_id: &str, request: OutgoingRequest) -> RefreshAnswer {
        match self.links.sip.send_request(request).await {
            Ok(r) if r.is_success() => {
                self.links.metrics.subscription_refresh("ok");
                let expires = granted_expires(&r);
                self.watches.update(call_id, |w| {
                    if matches!(w.state.phase(), state::Phase::Unsubscribing { .. }) {
                        // Unsubscribed meanwhile: the store already forgot it.
                        return;
                    }
                    w.expires_at = unix_after(Duration::from_secs(u64::from(expires)));
                    // Of the stored row only the expiry and our CSeq moved.
                    match &w.dialog {
                        Some(d) => {
                            self.links
                                .store
                                .refresh_watch(call_id, w.expires_at, d.local_seq());
                        }
                        None => self.links.store.put_watch(w.row(call_id)),
                    }
                });
                RefreshAnswer::Granted(expires)
            }
            Err(e) if deferral::refused_locally(&e) => {
                self.links.metrics.presence_request_deferred("refresh");
                debug!(%call_id, kind = e.kind(), "SIP subscription refresh not sent");
                RefreshAnswer::NotSent
            }
            other => {
                self.links.metrics.subscription_refresh("failed");
                info!(%call_id, status = ?other.as_ref().map(|r| r.status), "SIP subscription refresh failed");
                RefreshAnswer::Failed(other.ok().and_then(|r| StatusCode::new(r.status)))
            }
        }
    }

    /// Drop a subscription from memory and from the store.
    fn forget_watch(&self, call_id: &str) -> Option<Watch> {
        self.links.store.delete_watch(call_id);
        self.watches.remove(call_id)
    }

    /// The next SUBSCRIBE in the subscription's dialog, if it has one.
    fn in_dialog_subscribe(&self, call_id: &str, expires: u32) -> Option<OutgoingRequest> {
        let mut w = self.watches.get_mut(call_id)?;
        let dialog = w.dialog.as_mut()?;
        Some(OutgoingRequest::in_dialog(
            dialog.next_request("SUBSCRIBE"),
            subscribe_headers(expires),
            None,
        ))
    }

    /// RFC 8048 §5.2 (F16–F21): SUBSCRIBE with Expires: 0, then `unsubscribed`.
    fn unsubscribe(self: &Arc<Self>, call_id: &str) {
        let request = self.in_dialog_subscribe(call_id, 0);
        let Some((watcher, contact)) = self
            .watches
            .update(call_id, |w| {
                w.state.unsubscribe();
                w.jids()
            })
            .flatten()
        else {
            return;
        };
        // The dialog stays until the terminating NOTIFY (RFC 6665 §4.4.1), or
        // for 32 s (Timer F) if none comes; the store forgets it now, so a
        // restart does not bring it back.
        self.links.store.delete_watch(call_id);
        self.watches
            .unpair(&watcher.to_string(), &contact.to_string());
        let subscriber = Arc::clone(self);
        let call_id = call_id.to_owned();
        self.links.tasks.spawn(async move {
            if let Some(request) = request {
                let _ = subscriber.links.sip.send_request(request).await;
            }
            subscriber
                .links
                .send_presence(&contact, &watcher, typed(PresenceType::Unsubscribed));
            // The reaper forgets it `UNSUBSCRIBE_LINGER` from now.
            let now = Instant::now();
            subscriber
                .watches
                .update(&call_id, |w| w.state.handle_unsubscribed(now));
        });
    }

    /// RFC 6665 §4.1.3, RFC 8048 §6.3: a NOTIFY in one of Parley's
    /// subscriptions (a fetch's NOTIFY went to `fetch/` before this).
    pub(crate) fn notify(
        &self,
        responder: Responder,
        call_id: &str,
        state: Option<SubscriptionState>,
        body: Vec<u8>,
        content: NotifyContent,
    ) {
        let Some((watcher, contact)) = self.watches.get(call_id).and_then(|w| w.jids()) else {
            // RFC 6665 §4.1.3: a NOTIFY matching no subscription gets 481.
            responder.respond(StatusCode::CALL_DOES_NOT_EXIST, None, vec![], None);
            return;
        };
        responder.respond(StatusCode::OK, None, vec![], None);
        debug!(%call_id, state = ?state.as_ref().map(|s| &s.state), "NOTIFY");
        // RFC 3923 §4, §8: a signed or encrypted PIDF goes whole, in <e2e/>;
        // it is passed on once, not kept as the contact's presence.
        let e2e = presence_to_xmpp(
            content.content_type.as_deref(),
            |name| content.fields.header(name),
            &body,
            &contact,
            &watcher,
        );
        let one_off = e2e.is_some();
        let presence = if body.is_empty() {
            None
        } else {
            match e2e
                .map(|r| r.map(Some))
                .unwrap_or_else(|| pidf_body_to_xmpp(&body, &contact, &watcher))
            {
                Ok(p) => p,
                Err(e) => {
                    self.links.metrics.error(e.kind());
                    None
                }
            }
        };
        let outcome = self.watches.update(call_id, |w| {
            let approved_now = w.state.handle_notify(state.as_ref());
            // RFC 8048 §5.2.1: until a NOTIFY says "active", the state is
            // "neutral": a pending NOTIFY is answered but its presence is
            // neither sent nor kept for probes.
            let shown = w.state.approval() == Approval::Given;
            if shown && !one_off && presence.is_some() {
                // A probe gets this body's presence again from the body
                // (`Watches::last_presence`).
                w.set_last_pidf(std::str::from_utf8(&body).ok());
                self.links.store.put_watch(w.row(call_id));
            }
            (approved_now, shown)
        });
        let (approved_now, shown) = outcome.unwrap_or((false, false));
        if approved_now {
            // RFC 8048 §5.2.1: F14 `subscribed`, then F15 the presence.
            self.links
                .send_presence(&contact, &watcher, typed(PresenceType::Subscribed));
        }
        if shown && let Some(p) = presence {
            self.links.send_presence(&contact, &watcher, p);
        }
        if state.is_some_and(|s| s.state == Substate::Terminated) {
            // The subscription ended on the SIP side: the watcher is told (RFC 8048 §5.2).
            self.forget_watch(call_id);
            self.links
                .send_presence(&contact, &watcher, typed(PresenceType::Unavailable));
            self.links
                .send_presence(&contact, &watcher, typed(PresenceType::Unsubscribed));
        }
    }
}

/// What a NOTIFY says about its body besides the octets: its Content-Type
/// and the MIME fields an RFC 3923 object is rebuilt from.
pub(crate) struct NotifyContent {
    pub(crate) content_type: Option<String>,
    pub(crate) fields: MimeFields,
}

/// The Expires a 2xx granted (RFC 6665 §4.1.2.1: it may shorten ours).
fn granted_expires(r: &parley_sip::Response) -> u32 {
    r.header("Expires")
        .and_then(|e| e.trim().parse().ok())
        .unwrap_or(REQUESTED_EXPIRES)
}

/// RFC 3856 §6: Event: presence, Accept: application/pidf+xml.
pub(crate) fn subscribe_headers(expires: u32) -> Vec<(String, String)> {
    vec![
        ("Event".to_owned(), "presence".to_owned()),
        ("Accept".to_owned(), "application/pidf+xml".to_owned()),
        ("Expires".to_owned(), expires.to_string()),
    ]
}

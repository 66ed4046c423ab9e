//! RFC 8048 §7, "polling" for presence, both ways.
//!
//! §7.1, XMPP → SIP: a probe for a SIP contact becomes "a SUBSCRIBE request
//! with an Expires header value of zero ("0") in a new dialog". RFC 6665
//! §4.4.3: the notifier answers with one NOTIFY "containing resource state",
//! whose Subscription-State is "terminated" with reason "timeout"; Parley
//! turns its PIDF into one `<presence/>` for the prober (mapped as every
//! NOTIFY is, RFC 8048 §6.3), or `unavailable` when the fetch fails or says
//! nothing. A probe while a live subscription of the same pair has had a
//! NOTIFY is answered from that NOTIFY, without a fetch.
//!
//! §7.2, SIP → XMPP: a SUBSCRIBE with Expires: 0 in a new dialog gets 200 and
//! one NOTIFY `terminated;reason=timeout` with the XMPP user's current state
//! (RFC 6665 §4.2.1.2, §4.4.3). Parley sends `<presence type='probe'/>` "if it
//! does not already have presence information about the contact", waits
//! [`PROBE_WAIT`](state::PROBE_WAIT) at most for her server's answer (RFC
//! 6121 §4.3.2), then NOTIFYs whatever it has.
//!
//! No fetch has a task of its own to wait in: a §7.1 fetch waits as a
//! [`NotifyWait`] by Call-ID, a §7.2 probe as a [`ProbeGather`] by pair
//! (`state.rs`), each found through a [`TimerIndex`] by the router's reaper
//! tick ([`Fetcher::reap`]). Only the SUBSCRIBE in flight runs as a (tracked)
//! task, which hands its answer back. Who waits for which fetch, and what a
//! recent one found, is `table.rs`.
//!
//! A fetch leaves nothing behind either way: no store row, no subscription,
//! no `subscribe`/`unsubscribed` stanza.
//!
//! RFC 8048 §8.1 (amplification): a burst of probes must not become a burst
//! of SUBSCRIBEs. Fetches for the same (prober, contact) pair are coalesced
//! while one is in flight, and a finished one's answer is reused for
//! [`FETCH_REUSE`]. Answers are never shared between probers: a SIP presence
//! server may show different watchers different things, and "a gateway MUST
//! NOT route or deliver a presence notification to any entity other than the
//! intended recipient" (RFC 8048 §8.2).

mod state;
mod table;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;
use tracing::{debug, info};

use parley_mapping::address::Jid;
use parley_mapping::presence::pidf_body_to_xmpp;
use parley_sip::dialog;
use parley_sip::dialog::subscription::SubscriptionState;
use parley_sip::{OutgoingRequest, TransactionError};
use parley_xmpp::stanza::{Presence, PresenceType};

use super::notifier::{Watcher, pidf_for, send_notify};
use super::subscriber::subscribe_headers;
use super::timers::TimerIndex;
use crate::links::{Links, typed};
use crate::metrics::{Direction, FetchOutcome};
use state::{FetchEnd, Gathered, NotifyWait, ProbeGather, SubscribeAnswer};
use table::{Begin, FetchTable};

/// The in-process §7.2 tests drive the reaper past them.
#[cfg(test)]
pub(crate) use state::{PROBE_GATHER, PROBE_WAIT};

/// How long a finished §7.1 fetch answers further probes of the same pair,
/// instead of a new SUBSCRIBE. Prosody probes every contact at each login, so
/// a user whose phone, laptop and tablet come online together would otherwise
/// poll each SIP contact three times; RFC 6665 §4.4.3 asks that polling be
/// "used only sparingly". 30 s keeps that to one SUBSCRIBE per pair per half
/// minute while a presence change reaches a prober no later than that (she
/// wanting live presence subscribes instead, RFC 8048 §5).
pub(crate) const FETCH_REUSE: Duration = Duration::from_secs(30);

type Pair = (String, String);

/// Who sent a probe, and the probe's `id` (mirrored on `unavailable`).
#[derive(Debug, Clone)]
pub(crate) struct Prober {
    jid: Jid,
    id: Option<String>,
}

/// Polls in flight both ways (none of it is stored).
pub(crate) struct Fetches {
    /// §7.1 by (prober bare JID, contact): probers waiting, recent results
    /// (`None`: nothing usable, answered `unavailable`).
    outgoing: Mutex<FetchTable<Pair, Prober, Option<Presence>>>,
    /// §7.1 fetch dialogs by Call-ID, waiting for their 2xx and NOTIFY.
    notifies: DashMap<String, SipFetch>,
    /// When each of those fetches' Timer N fires.
    notify_timers: TimerIndex,
    /// §7.2 by (SIP watcher's JID, XMPP user): the fetch dialogs to NOTIFY.
    incoming: Mutex<FetchTable<Pair, Watcher, Option<String>>>,
    /// §7.2 probes awaiting the XMPP user's answer, same key.
    probes: DashMap<Pair, Probe>,
    /// When each of those probes' wait ends.
    probe_timers: TimerIndex<Pair>,
    /// §7.1: RFC 6665 §4.1.2.4 Timer N bounds the wait for the NOTIFY.
    timer_n: Duration,
}

impl Fetches {
    /// `timer_n`: RFC 6665 §4.1.2.4 Timer N ([`parley_sip::Timers::timer_n`]).
    pub(crate) fn new(timer_n: Duration) -> Self {
        Self {
            outgoing: Mutex::new(FetchTable::new(FETCH_REUSE)),
            notifies: DashMap::new(),
            notify_timers: TimerIndex::default(),
            incoming: Mutex::new(FetchTable::new(Duration::ZERO)),
            probes: DashMap::new(),
            probe_timers: TimerIndex::default(),
            timer_n,
        }
    }

    /// A §7.1 fetch's SUBSCRIBE is about to go out.
    fn insert_fetch(&self, call_id: String, fetch: SipFetch) {
        self.notify_timers
            .reschedule(&call_id, None, fetch.wait.poll_timeout());
        self.notifies.insert(call_id, fetch);
    }

    /// Feed the §7.1 fetch `call_id` with `f` (`None`: no such fetch); its
    /// deadline follows. When that ended it, the fetch is gone and the
    /// caller gets it with its end. `f` runs under the entry's lock and must
    /// not touch the maps.
    fn update_fetch(
        &self,
        call_id: &str,
        f: impl FnOnce(&mut NotifyWait) -> Option<FetchEnd>,
    ) -> Option<Option<(SipFetch, FetchEnd)>> {
        let end = {
            let mut fetch = self.notifies.get_mut(call_id)?;
            let before = fetch.wait.poll_timeout();
            let end = f(&mut fetch.wait);
            self.notify_timers
                .reschedule(call_id, before, fetch.wait.poll_timeout());
            end
        };
        Some(end.and_then(|end| {
            let (_, fetch) = self.notifies.remove(call_id)?;
            Some((fetch, end))
        }))
    }

    /// A §7.2 probe's wait begins.
    fn insert_probe(&self, key: Pair, probe: Probe) {
        self.probe_timers
            .reschedule(&key, None, probe.gather.poll_timeout());
        self.probes.insert(key, probe);
    }

    /// Feed the §7.2 probe `key` with `f`; its deadline follows. When that
    /// ended it, the probe is gone and the caller gets what it gathered.
    /// `f` runs under the entry's lock and must not touch the maps.
    fn update_probe(
        &self,
        key: &Pair,
        f: impl FnOnce(&mut ProbeGather) -> Option<Gathered>,
    ) -> Option<(Jid, Gathered)> {
        let gathered = {
            let mut probe = self.probes.get_mut(key)?;
            let before = probe.gather.poll_timeout();
            let gathered = f(&mut probe.gather);
            self.probe_timers
                .reschedule(key, before, probe.gather.poll_timeout());
            gathered?
        };
        let (_, probe) = self.probes.remove(key)?;
        Some((probe.target, gathered))
    }
}

/// A §7.1 fetch in flight: whose, of whom, and where its wait stands.
struct SipFetch {
    /// Its key in the table of waiting probers.
    key: Pair,
    /// The XMPP user on whose behalf it fetches (bare JID).
    prober: Jid,
    /// The SIP contact as the XMPP user sees it.
    contact: Jid,
    /// For the logs.
    correlation: u64,
    wait: NotifyWait,
}

/// A §7.2 probe in flight: whom it asked about, and what came back so far.
struct Probe {
    /// The XMPP user probed (bare JID).
    target: Jid,
    gather: ProbeGather,
}

/// The table even after a panic elsewhere poisoned the lock: it holds no
/// invariant a half-done update could break worse than a lost waiter.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Polls both ways: the fetch handler.
pub(crate) struct Fetcher {
    links: Arc<Links>,
    fetches: Fetches,
}

impl Fetcher {
    pub(crate) fn new(links: Arc<Links>, timer_n: Duration) -> Self {
        Self {
            links,
            fetches: Fetches::new(timer_n),
        }
    }

    /// Shutdown: fetches still waiting answer with what they have now.
    pub(crate) fn stop(&self) {
        let now = Instant::now();
        let call_ids: Vec<String> = self
            .fetches
            .notifies
            .iter()
            .map(|e| e.key().clone())
            .collect();
        self.fetches.notify_timers.clear();
        for call_id in call_ids {
            if let Some(Some((fetch, end))) =
                self.fetches.update_fetch(&call_id, NotifyWait::handle_stop)
            {
                self.notify_wait_ended(fetch, end, now);
            }
        }
        let keys: Vec<Pair> = self
            .fetches
            .probes
            .iter()
            .map(|e| e.key().clone())
            .collect();
        self.fetches.probe_timers.clear();
        for key in keys {
            if let Some((target, gathered)) =
                self.fetches.update_probe(&key, ProbeGather::handle_stop)
            {
                self.probe_ended(key, &target, gathered, now);
            }
        }
    }

    /// The reaper's tick: every §7.1 fetch whose Timer N fired, every §7.2
    /// probe whose wait is over.
    pub(crate) fn reap(&self, now: Instant) {
        for call_id in self.fetches.notify_timers.take_due(now) {
            if let Some(Some((fetch, end))) = self
                .fetches
                .update_fetch(&call_id, |w| w.handle_timeout(now))
            {
                info!(
                    correlation = fetch.correlation,
                    "no NOTIFY for the fetch within Timer N"
                );
                self.notify_wait_ended(fetch, end, now);
            }
        }
        for key in self.fetches.probe_timers.take_due(now) {
            if let Some((target, gathered)) =
                self.fetches.update_probe(&key, |g| g.handle_timeout(now))
            {
                self.probe_ended(key, &target, gathered, now);
            }
        }
    }

    /// RFC 8048 §7.1: a probe from `prober` (full or bare JID, as sent) for
    /// the SIP user `contact`. The answer goes to the address the probe came
    /// from, as RFC 6121 §4.3.2 has the contact's server reply "to the user"
    /// who probed (Prosody 0.12 probes from the full JID at login).
    /// `known`: what the prober's own live subscription to `contact` last
    /// showed (`Subscriber::last_presence`), which answers without a fetch.
    pub(crate) fn xmpp_probe(
        self: &Arc<Self>,
        prober: Jid,
        id: Option<String>,
        contact: Jid,
        known: Option<Presence>,
    ) {
        let bare = prober.bare();
        let prober = Prober { jid: prober, id };
        if let Some(last) = known {
            self.links
                .metrics
                .presence_fetch(Direction::XmppToSip, FetchOutcome::Known);
            self.answer_probe(&contact, &prober, Some(last));
            return;
        }
        let key = (bare.to_string(), contact.to_string());
        let begun = lock(&self.fetches.outgoing).begin(key.clone(), prober, Instant::now());
        match begun {
            Begin::Reuse(prober, result) => {
                debug!(%contact, "probe answered from a recent fetch (RFC 8048 §8.1)");
                self.links
                    .metrics
                    .presence_fetch(Direction::XmppToSip, FetchOutcome::Cached);
                self.answer_probe(&contact, &prober, result);
            }
            Begin::Joined => {
                debug!(%contact, "probe joins the fetch in flight (RFC 8048 §8.1)");
                self.links
                    .metrics
                    .presence_fetch(Direction::XmppToSip, FetchOutcome::Coalesced);
            }
            Begin::Start => self.fetch_from_sip(key, bare, contact),
        }
    }

    /// The §7.1 fetch `key` of `contact` ended at `now`: the metric, and
    /// the answer to every prober that waited for it.
    fn fetch_ended(
        &self,
        key: Pair,
        contact: &Jid,
        (outcome, result): (FetchOutcome, Option<Presence>),
        now: Instant,
    ) {
        self.links
            .metrics
            .presence_fetch(Direction::XmppToSip, outcome);
        let waiters = lock(&self.fetches.outgoing).finish(key, result.clone(), now);
        // One answer per address, however many probes it sent.
        let mut answered = HashSet::new();
        for prober in waiters {
            if answered.insert(prober.jid.to_string()) {
                self.answer_probe(contact, &prober, result.clone());
            }
        }
    }

    /// The wait of `fetch` ended with `end` at `now`: what its NOTIFY said.
    fn notify_wait_ended(&self, fetch: SipFetch, end: FetchEnd, now: Instant) {
        let answer = match end {
            FetchEnd::Notified(body) => self.fetched(&body, &fetch.contact, &fetch.prober),
            FetchEnd::Without(outcome) => (outcome, None),
        };
        self.fetch_ended(fetch.key, &fetch.contact, answer, now);
    }

    /// `<presence/>` from the fetch, else `unavailable` (RFC 6121 §4.3.2 rule
    /// 3). RFC 6121 §4.3.2.1: when the contact has no available resource "the
    /// contact's server SHOULD mirror the 'id' of the user's presence probe";
    /// an available answer has no original stanza whose id could be kept.
    fn answer_probe(&self, contact: &Jid, prober: &Prober, result: Option<Presence>) {
        let mut p = result.unwrap_or_else(|| typed(PresenceType::Unavailable));
        if p.presence_type == Some(PresenceType::Unavailable) {
            p.id.clone_from(&prober.id);
        }
        self.links.send_presence(contact, &prober.jid, p);
    }

    /// RFC 8048 §7.1 (Example 23): SUBSCRIBE with Expires: 0 in a new dialog
    /// (new Call-ID and From tag) from `prober`'s SIP address to `contact`;
    /// the fetch `key` then waits, as a [`NotifyWait`], for its answer (from
    /// the task that sends it), its NOTIFY (`take_notify`) and Timer N (the
    /// reaper).
    fn fetch_from_sip(self: &Arc<Self>, key: Pair, prober: Jid, contact: Jid) {
        let (Ok(target), Ok(from)) = (
            self.links.mapper.jid_to_sip_user(&contact),
            self.links.mapper.xmpp_user_to_sip(&prober),
        ) else {
            self.fetch_ended(key, &contact, (FetchOutcome::Failed, None), Instant::now());
            return;
        };
        // Random names (RFC 3261 §8.1.1.4, §19.3); the correlation is for logs.
        let correlation = self.links.registry.next_correlation();
        let call_id = dialog::new_call_id(&self.links.component_domain);
        let request = OutgoingRequest {
            method: "SUBSCRIBE".into(),
            request_uri: target.to_string(),
            from: format!("<{from}>;tag={}", dialog::new_tag()),
            to: format!("<{target}>"),
            call_id: Some(call_id.clone()),
            headers: subscribe_headers(0),
            body: None,
        };
        // The NOTIFY can overtake the 2xx (RFC 6665 §4.1.2.4): listen first.
        self.fetches.insert_fetch(
            call_id.clone(),
            SipFetch {
                key,
                prober,
                contact,
                correlation,
                wait: NotifyWait::new(self.fetches.timer_n),
            },
        );
        debug!(correlation, %call_id, "XMPP probe → SIP fetch SUBSCRIBE (Expires: 0)");
        let fetcher = Arc::clone(self);
        self.links.tasks.spawn(async move {
            let answer = match fetcher.links.sip.send_request(request).await {
                Ok(r) if r.is_success() => SubscribeAnswer::Granted,
                Ok(r) => {
                    info!(correlation, status = r.status, "SIP fetch refused");
                    SubscribeAnswer::Ended(FetchOutcome::Refused)
                }
                Err(TransactionError::Timeout) => {
                    info!(correlation, "SIP fetch timed out");
                    SubscribeAnswer::Ended(FetchOutcome::TimedOut)
                }
                Err(e) => {
                    info!(correlation, error = %e, "SIP fetch could not be sent");
                    fetcher.links.metrics.error(e.kind());
                    SubscribeAnswer::Ended(FetchOutcome::Failed)
                }
            };
            let now = Instant::now();
            if let Some(Some((fetch, end))) = fetcher
                .fetches
                .update_fetch(&call_id, |w| w.handle_answer(answer, now))
            {
                fetcher.notify_wait_ended(fetch, end, now);
            }
        });
    }

    /// RFC 8048 §6.3: the fetch NOTIFY's PIDF as presence. RFC 6665 §4.1.2.3:
    /// a final NOTIFY may come "with and without state"; without, nothing is known.
    fn fetched(
        &self,
        body: &[u8],
        contact: &Jid,
        prober: &Jid,
    ) -> (FetchOutcome, Option<Presence>) {
        if body.is_empty() {
            return (FetchOutcome::NoState, None);
        }
        match pidf_body_to_xmpp(body, contact, prober) {
            Ok(Some(p)) => (FetchOutcome::Presence, Some(p)),
            Ok(None) => (FetchOutcome::NoState, None),
            Err(e) => {
                self.links.metrics.error(e.kind());
                (FetchOutcome::NoState, None)
            }
        }
    }

    /// Whether a fetch of this instance waits for a NOTIFY with `call_id`.
    pub(crate) fn expects(&self, call_id: &str) -> bool {
        self.fetches.notifies.contains_key(call_id)
    }

    /// Whether a fetch of this instance waits for `target`'s presence for
    /// the SIP user `watcher` (RFC 8048 §7.2).
    pub(crate) fn probing(&self, watcher: &Jid, target: &Jid) -> bool {
        self.fetches
            .probes
            .contains_key(&(watcher.to_string(), target.to_string()))
    }

    /// A NOTIFY with `call_id`: hand its body to the fetch waiting on that
    /// dialog and return `None`, or give the body back when no fetch waits.
    /// Only the first NOTIFY counts: a fetch's is final (RFC 6665 §4.4.3),
    /// so a later one finds no dialog and gets 481 (§4.1.3).
    pub(crate) fn take_notify(&self, call_id: &str, body: Vec<u8>) -> Option<Vec<u8>> {
        let mut body = Some(body);
        let ended = self
            .fetches
            .update_fetch(call_id, |w| match w.handle_notify(body.take()?) {
                Ok(end) => end,
                Err(given_back) => {
                    body = Some(given_back);
                    None
                }
            });
        if let Some(Some((fetch, end))) = ended {
            self.notify_wait_ended(fetch, end, Instant::now());
        }
        body
    }

    /// RFC 8048 §7.2: a fetch from a SIP user; `w` holds the dialog the 200
    /// just created (Expires: 0), and is kept nowhere. `standing`: what the
    /// same subscriber's live subscription says (`Notifier::standing`).
    pub(crate) fn sip_fetch(
        self: &Arc<Self>,
        w: Watcher,
        standing: Option<(bool, Option<String>)>,
    ) {
        match standing {
            // Her presence as this subscriber's live subscription last showed it.
            Some((true, Some(pidf))) => {
                self.links
                    .metrics
                    .presence_fetch(Direction::SipToXmpp, FetchOutcome::Known);
                self.fetch_answer(w, Some(pidf));
                return;
            }
            // She has not approved his subscription: a probe would be answered
            // `unsubscribed` (RFC 6121 §4.3.2 rule 1), which would read as her
            // refusing it. Nothing to show him (see `fetch_answer`).
            Some((false, _)) => {
                self.links
                    .metrics
                    .presence_fetch(Direction::SipToXmpp, FetchOutcome::Refused);
                let offline = pidf_for(&self.links, &w.target, &[]);
                self.fetch_answer(w, offline);
                return;
            }
            _ => {}
        }
        let (watcher, target) = (w.watcher.clone(), w.target.clone());
        let key = (watcher.to_string(), target.to_string());
        let begun = lock(&self.fetches.incoming).begin(key.clone(), w, Instant::now());
        match begun {
            Begin::Reuse(w, pidf) => self.fetch_answer(w, pidf),
            Begin::Joined => {
                self.links
                    .metrics
                    .presence_fetch(Direction::SipToXmpp, FetchOutcome::Coalesced);
            }
            Begin::Start => {
                debug!(%watcher, %target, "SIP fetch → XMPP probe (RFC 8048 §7.2)");
                let gather = ProbeGather::new(Instant::now());
                self.fetches.insert_probe(
                    key,
                    Probe {
                        target: target.clone(),
                        gather,
                    },
                );
                self.links
                    .send_presence_typed(&watcher, &target, PresenceType::Probe);
            }
        }
    }

    /// The §7.2 probe `key` of `target` ended at `now` with `gathered`: the
    /// fetch's one NOTIFY to every dialog that waited for it.
    fn probe_ended(&self, key: Pair, target: &Jid, gathered: Gathered, now: Instant) {
        self.links
            .metrics
            .presence_fetch(Direction::SipToXmpp, gathered.outcome);
        let presences: Vec<Presence> = gathered.resources.into_values().collect();
        let pidf = pidf_for(&self.links, target, &presences);
        let waiters = lock(&self.fetches.incoming).finish(key, pidf.clone(), now);
        for w in waiters {
            self.fetch_answer(w, pidf.clone());
        }
    }

    /// A presence stanza from `from` to the SIP user `to`: if a §7.2 probe of
    /// that pair waits, it is (part of) the answer.
    pub(crate) fn probe_answer(&self, from: &Jid, to: &Jid, p: &Presence) {
        if !matches!(
            p.presence_type,
            None | Some(PresenceType::Unavailable | PresenceType::Unsubscribed)
        ) {
            return;
        }
        let key = (to.bare().to_string(), from.bare().to_string());
        if !self.fetches.probes.contains_key(&key) {
            return;
        }
        let mut p = p.clone();
        p.from = Some(from.to_string());
        let now = Instant::now();
        if let Some((target, gathered)) =
            self.fetches.update_probe(&key, |g| g.handle_answer(p, now))
        {
            self.probe_ended(key, &target, gathered, now);
        }
    }

    /// RFC 6665 §4.4.3: the one NOTIFY of a fetch, `terminated;reason=timeout`.
    /// Without her presence it carries a PIDF with no tuple (RFC 3863 §4.1.1
    /// allows "any number (including 0)"), what a subscriber sees when she
    /// is offline: RFC 6665 §4.2.1.2 allows "an empty or neutral body", and
    /// RFC 3856 §6.6 has a notifier not reveal that it withholds presence,
    /// "typically ... by indicating "offline"".
    fn fetch_answer(&self, mut w: Watcher, pidf: Option<String>) {
        send_notify(
            &self.links,
            &mut w,
            &SubscriptionState::terminated("timeout"),
            pidf,
        );
    }
}

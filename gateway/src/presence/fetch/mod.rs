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
//! [`PROBE_WAIT`](state::PROBE_WAIT) at most for her server's answer (RFC 6121 §4.3.2), then
//! NOTIFYs whatever it has.
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
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
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
use state::{Gathered, ProbeGather};
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
    /// §7.1 fetch dialogs by Call-ID, waiting for their NOTIFY's body.
    notifies: DashMap<String, oneshot::Sender<Vec<u8>>>,
    /// §7.2 by (SIP watcher's JID, XMPP user): the fetch dialogs to NOTIFY.
    incoming: Mutex<FetchTable<Pair, Watcher, Option<String>>>,
    /// §7.2 probes awaiting the XMPP user's answer, same key.
    probes: DashMap<Pair, Probe>,
    /// When each of those probes' wait ends.
    probe_timers: TimerIndex<Pair>,
    /// §7.1: RFC 6665 §4.1.2.4 Timer N bounds the wait for the NOTIFY.
    notify_wait: Duration,
    /// Ends the waits at shutdown.
    stop: CancellationToken,
}

impl Fetches {
    /// `timer_n`: RFC 6665 §4.1.2.4 Timer N ([`parley_sip::Timers::timer_n`]).
    pub(crate) fn new(timer_n: Duration) -> Self {
        Self {
            outgoing: Mutex::new(FetchTable::new(FETCH_REUSE)),
            notifies: DashMap::new(),
            incoming: Mutex::new(FetchTable::new(Duration::ZERO)),
            probes: DashMap::new(),
            probe_timers: TimerIndex::default(),
            notify_wait: timer_n,
            stop: CancellationToken::new(),
        }
    }

    /// Shutdown: fetches still waiting answer with what they have now.
    pub(crate) fn stop_all(&self) {
        self.stop.cancel();
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
        self.fetches.stop_all();
        let keys: Vec<Pair> = self
            .fetches
            .probes
            .iter()
            .map(|e| e.key().clone())
            .collect();
        self.fetches.probe_timers.clear();
        let now = Instant::now();
        for key in keys {
            if let Some((target, gathered)) =
                self.fetches.update_probe(&key, ProbeGather::handle_stop)
            {
                self.probe_ended(key, &target, gathered, now);
            }
        }
    }

    /// The reaper's tick: every §7.2 probe whose wait is over.
    pub(crate) fn reap(&self, now: Instant) {
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
            Begin::Start => {
                let fetcher = Arc::clone(self);
                self.links.tasks.spawn(async move {
                    let (outcome, result) = fetcher.fetch_from_sip(&bare, &contact).await;
                    fetcher
                        .links
                        .metrics
                        .presence_fetch(Direction::XmppToSip, outcome);
                    let waiters =
                        lock(&fetcher.fetches.outgoing).finish(key, result.clone(), Instant::now());
                    // One answer per address, however many probes it sent.
                    let mut answered = HashSet::new();
                    for prober in waiters {
                        if answered.insert(prober.jid.to_string()) {
                            fetcher.answer_probe(&contact, &prober, result.clone());
                        }
                    }
                });
            }
        }
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
    /// (new Call-ID and From tag) from `prober`'s SIP address to `contact`,
    /// then the presence its NOTIFY carries.
    async fn fetch_from_sip(
        &self,
        prober: &Jid,
        contact: &Jid,
    ) -> (FetchOutcome, Option<Presence>) {
        let (Ok(target), Ok(from)) = (
            self.links.mapper.jid_to_sip_user(contact),
            self.links.mapper.xmpp_user_to_sip(prober),
        ) else {
            return (FetchOutcome::Failed, None);
        };
        // Random names (RFC 3261 §8.1.1.4, §19.3); the correlation is for logs.
        let correlation = self.links.registry.next_correlation();
        let call_id = dialog::new_call_id(&self.links.component_domain);
        // The NOTIFY can overtake the 2xx (RFC 6665 §4.1.2.4): listen first.
        let (notified, notify) = oneshot::channel();
        self.fetches.notifies.insert(call_id.clone(), notified);
        let request = OutgoingRequest {
            method: "SUBSCRIBE".to_owned(),
            request_uri: target.to_string(),
            from: format!("<{from}>;tag={}", dialog::new_tag()),
            to: format!("<{target}>"),
            call_id: Some(call_id.clone()),
            headers: subscribe_headers(0),
            body: None,
        };
        debug!(correlation, %call_id, "XMPP probe → SIP fetch SUBSCRIBE (Expires: 0)");
        let answer = match self.links.sip.send_request(request).await {
            Ok(r) if r.is_success() => {
                tokio::select! {
                    body = notify => match body {
                        Ok(body) => self.fetched(&body, contact, prober),
                        Err(_) => (FetchOutcome::Failed, None),
                    },
                    () = tokio::time::sleep(self.fetches.notify_wait) => {
                        info!(correlation, "no NOTIFY for the fetch within Timer N");
                        (FetchOutcome::TimedOut, None)
                    }
                    () = self.fetches.stop.cancelled() => (FetchOutcome::Failed, None),
                }
            }
            Ok(r) => {
                info!(correlation, status = r.status, "SIP fetch refused");
                (FetchOutcome::Refused, None)
            }
            Err(TransactionError::Timeout) => {
                info!(correlation, "SIP fetch timed out");
                (FetchOutcome::TimedOut, None)
            }
            Err(e) => {
                info!(correlation, error = %e, "SIP fetch could not be sent");
                self.links.metrics.error(e.kind());
                (FetchOutcome::Failed, None)
            }
        };
        self.fetches.notifies.remove(&call_id);
        answer
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

    /// A NOTIFY with `call_id`: hand its body to the fetch waiting on that
    /// dialog and return `None`, or give the body back when no fetch waits.
    /// Only the first NOTIFY counts: a fetch's is final (RFC 6665 §4.4.3),
    /// so a later one finds no dialog and gets 481 (§4.1.3).
    pub(crate) fn take_notify(&self, call_id: &str, body: Vec<u8>) -> Option<Vec<u8>> {
        match self.fetches.notifies.remove(call_id) {
            Some((_, waiting)) => {
                let _ = waiting.send(body);
                None
            }
            None => Some(body),
        }
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

//! Presence both ways (RFC 8048): the subscriber side, where Parley
//! subscribes to SIP users for XMPP users (`subscriber.rs`, §5.2); the
//! notifier side, where SIP users subscribe to XMPP users (`notifier.rs`,
//! §5.3, §6.2); and polling both ways (`fetch/`, §7). After a restart both
//! sides take their stored subscriptions up a few at a time (`restore.rs`);
//! a SIP request of theirs that Parley's own SIP endpoint refused to start
//! is made again later (`deferral.rs`). With a store shared by several
//! instances, what concerns a subscription another instance holds goes to
//! it, or is taken over (`shared.rs`). This file only sends each presence
//! stanza, NOTIFY and SUBSCRIBE to the side it belongs to.

mod deferral;
pub(crate) mod fetch;
pub(crate) mod notifier;
mod pairs;
mod restore;
mod shared;
pub(crate) mod subscriber;
mod table;
mod timers;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::debug;

use parley_mapping::address::Jid;
use parley_sip::IncomingRequest;
use parley_sip::StatusCode;
use parley_sip::dialog::subscription::SubscriptionState;
use parley_xmpp::stanza::{Presence as PresenceStanza, PresenceType};

use crate::admission::Admission;
use crate::links::Links;
use crate::mime_fields::MimeFields;
use crate::store::Loaded;
use fetch::Fetcher;
use notifier::Notifier;
use subscriber::{NotifyContent, Subscriber};

/// How fast the restore goes (`store.restore_in_flight`, `xmpp.queue_capacity`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pacing {
    /// Most restore requests in flight at once on the subscriber side, and
    /// most restore probes waiting on the component stream.
    pub(crate) in_flight: usize,
    /// The component stream's queue: restore probes take at most half of it.
    pub(crate) queue_capacity: usize,
}

/// The three presence handlers, and the queue of stanzas whose
/// subscription another instance may hold (`shared.rs`).
pub(crate) struct Presence {
    h: Handlers,
    /// With a shared store: presence stanzas for pairs this instance does
    /// not hold, in arrival order, to the task that finds their owner.
    elsewhere: Option<mpsc::UnboundedSender<PresenceStanza>>,
}

/// The handlers themselves, cheap to clone into the tasks of `shared.rs`.
#[derive(Clone)]
struct Handlers {
    links: Arc<Links>,
    subscriber: Arc<Subscriber>,
    notifier: Arc<Notifier>,
    fetcher: Arc<Fetcher>,
    /// How subscriptions taken over from another instance are taken up.
    pacing: Pacing,
}

impl Presence {
    /// `timer_n`: RFC 6665 §4.1.2.4 Timer N, which bounds a fetch's wait
    /// for its NOTIFY; `admission` holds `limits.subscriptions_per_user`;
    /// `pacing`: how subscriptions taken over from another instance are
    /// taken up (as after a restart).
    pub(crate) fn new(
        links: Arc<Links>,
        admission: &Arc<Admission>,
        timer_n: Duration,
        pacing: Pacing,
    ) -> Self {
        let h = Handlers {
            subscriber: Arc::new(Subscriber::new(Arc::clone(&links), Arc::clone(admission))),
            notifier: Arc::new(Notifier::new(Arc::clone(&links), Arc::clone(admission))),
            fetcher: Arc::new(Fetcher::new(Arc::clone(&links), timer_n)),
            links,
            pacing,
        };
        let elsewhere = h
            .links
            .store
            .is_shared()
            .then(|| shared::spawn_router(h.clone()));
        Self { h, elsewhere }
    }

    /// A presence stanza addressed to a SIP user at the component domain.
    /// With a shared store, one for a pair this instance does not hold
    /// goes to its owner, if another instance holds it (`shared.rs`).
    pub(crate) fn xmpp_presence(&self, p: PresenceStanza) {
        let Some(elsewhere) = &self.elsewhere else {
            self.h.presence_here(p);
            return;
        };
        if self.h.holds_pair_of(&p) {
            self.h.presence_here(p);
        } else if let Err(mpsc::error::SendError(p)) = elsewhere.send(p) {
            self.h.presence_here(p);
        }
    }

    /// A presence stanza another instance handed to this one, the owner of
    /// its subscription when it was sent. Routed like any other: a dead
    /// owner's hand-offs go to whoever claimed its rows, who may not hold
    /// this pair when two instances split them.
    pub(crate) fn handed_over(&self, p: PresenceStanza) {
        self.h.links.metrics.store_handoff("received");
        self.xmpp_presence(p);
    }

    /// Another instance took `call_id` over (or a write of it was fenced):
    /// this one forgets it without a word to either side or to the store.
    pub(crate) fn release(&self, call_id: &str) {
        self.h.subscriber.release(call_id);
        self.h.notifier.release(call_id);
    }

    /// This instance's lease lapsed: the others may take every
    /// subscription over, so it acts on none of them any more (nothing is
    /// said to either side, nothing stored changes).
    pub(crate) fn release_all(&self) {
        self.h.subscriber.release_all();
        self.h.notifier.release_all();
    }

    /// RFC 6665 §4.1.3, RFC 8048 §6.3: a NOTIFY — for a fetch's dialog, or
    /// in one of Parley's subscriptions. With a shared store, one in a
    /// dialog this instance does not hold takes its subscription over
    /// first (`shared.rs`).
    pub(crate) fn sip_notify(&self, request: IncomingRequest) {
        if self.elsewhere.is_some() && !self.h.holds_notify(request.call_id()) {
            shared::take_over_then(self.h.clone(), request, shared::Side::Out);
            return;
        }
        self.h.notify_here(request);
    }

    /// RFC 6665 §4.2.1: a SUBSCRIBE; a fetch (Expires: 0, new dialog) goes
    /// on to `fetch/` with what the subscriber's live subscription knows.
    /// With a shared store, one in a dialog this instance does not hold
    /// takes its subscription over first (`shared.rs`).
    pub(crate) fn sip_subscribe(&self, request: IncomingRequest) {
        if self.elsewhere.is_some()
            && request.view().to_tag().is_some()
            && !self.h.notifier.holds(request.call_id())
        {
            shared::take_over_then(self.h.clone(), request, shared::Side::In);
            return;
        }
        self.h.subscribe_here(request);
    }

    /// After a restart, once the component stream is up, and whenever
    /// subscriptions are taken over from an instance whose lease ran out:
    /// the stored subscriptions both ways, paced by what they have in flight.
    pub(crate) fn restore(&self, loaded: Loaded) {
        self.h.restore(loaded);
    }

    /// The reaper's tick: every subscription and fetch whose time came, both
    /// ways (refresh, Timer N, expiry, restore turn, forgetting an
    /// un-SUBSCRIBE; a probe's wait).
    pub(crate) fn reap(&self, now: Instant) {
        self.h.subscriber.reap(now);
        self.h.notifier.reap(now);
        self.h.fetcher.reap(now);
    }

    /// Shutdown: refreshes, expiries and fetches stop; without a persistent
    /// store the SIP subscribers are told to subscribe again
    /// (`Notifier::deactivate`).
    pub(crate) fn stop(&self) {
        self.h.subscriber.stop();
        self.h.fetcher.stop();
        self.h.notifier.deactivate();
    }

    /// The subscription gauges.
    pub(crate) fn gauges(&self) {
        let metrics = &self.h.links.metrics;
        metrics.registry_size("sip_subscriptions_out", self.h.subscriber.len());
        metrics.registry_size("sip_subscriptions_in", self.h.notifier.len());
    }
}

impl Handlers {
    /// Stored subscriptions both ways, taken up as after a restart.
    fn restore(&self, loaded: Loaded) {
        self.subscriber
            .restore(loaded.watches, self.pacing.in_flight);
        self.notifier.restore(
            loaded.watchers,
            self.pacing.in_flight,
            self.pacing.queue_capacity,
        );
    }

    /// A presence stanza, handled by this instance.
    fn presence_here(&self, p: PresenceStanza) {
        let (Some(from), Some(to)) = (p.from.as_deref(), p.to.as_deref()) else {
            return;
        };
        let (Ok(from), Ok(to)) = (Jid::parse(from), Jid::parse(to)) else {
            debug!("presence with unparsable addresses ignored");
            return;
        };
        // An answer to a probe Parley sent for a SIP fetch (RFC 8048 §7.2)
        // still goes on to any subscription of the same pair.
        self.fetcher.probe_answer(&from, &to, &p);
        if matches!(
            p.presence_type,
            None | Some(
                PresenceType::Subscribed | PresenceType::Unsubscribed | PresenceType::Unavailable
            )
        ) && self.notifier.presence(&from, &to, &p)
        {
            return;
        }
        match p.presence_type {
            Some(PresenceType::Subscribe) => self.subscriber.subscribe(from.bare(), to.bare()),
            Some(PresenceType::Unsubscribe) => {
                self.subscriber.unsubscribe_pair(&from.bare(), &to.bare());
            }
            // RFC 8048 §7.1: answered from a live subscription or by a fetch.
            Some(PresenceType::Probe) => {
                let contact = to.bare();
                let known = self.subscriber.last_presence(&from.bare(), &contact);
                self.fetcher.xmpp_probe(from, p.id.clone(), contact, known);
            }
            _ => debug!(kind = ?p.presence_type, "presence to a SIP user not mapped"),
        }
    }

    /// Whether this instance holds the subscription `p` concerns
    /// ([`shared::pair_of`]), or one of its fetches waits on `p`.
    fn holds_pair_of(&self, p: &PresenceStanza) -> bool {
        let Some((side, from, to)) = shared::pair_of(p) else {
            return true;
        };
        match side {
            shared::Side::In => {
                self.notifier.holds_pair(&to, &from) || self.fetcher.probing(&to, &from)
            }
            shared::Side::Out => self.subscriber.holds_pair(&from, &to),
        }
    }

    /// Whether a NOTIFY with `call_id` is for something this instance holds.
    fn holds_notify(&self, call_id: &str) -> bool {
        self.fetcher.expects(call_id) || self.subscriber.holds(call_id)
    }

    /// A NOTIFY, handled by this instance.
    fn notify_here(&self, request: IncomingRequest) {
        let call_id = request.call_id().to_owned();
        let state = request
            .header("Subscription-State")
            .and_then(|s| SubscriptionState::parse(&s));
        let body = request.body().to_vec();
        let content = NotifyContent {
            content_type: request.header("Content-Type"),
            fields: MimeFields::of(&request),
        };
        let (_, responder) = request.into_responder();
        // RFC 8048 §7.1: the NOTIFY a fetch triggered (RFC 6665 §4.4.3); it
        // ends that dialog and touches no subscription.
        let Some(body) = self.fetcher.take_notify(&call_id, body) else {
            responder.respond(StatusCode::OK, None, vec![], None);
            return;
        };
        self.subscriber
            .notify(responder, &call_id, state, body, content);
    }

    /// A SUBSCRIBE, handled by this instance.
    fn subscribe_here(&self, request: IncomingRequest) {
        if let Some(w) = self.notifier.subscribe(request) {
            let standing = self.notifier.standing(&w.watcher, &w.target);
            self.fetcher.sip_fetch(w, standing);
        }
    }
}

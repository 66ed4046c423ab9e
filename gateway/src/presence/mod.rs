//! Presence both ways (RFC 8048): the subscriber side, where Parley
//! subscribes to SIP users for XMPP users (`subscriber.rs`, §5.2); the
//! notifier side, where SIP users subscribe to XMPP users (`notifier.rs`,
//! §5.3, §6.2); and polling both ways (`fetch/`, §7). After a restart both
//! sides take their stored subscriptions up a few at a time (`restore.rs`);
//! a SIP request of theirs that Parley's own SIP endpoint refused to start
//! is made again later (`deferral.rs`). This file only sends each presence
//! stanza, NOTIFY and SUBSCRIBE to the side it belongs to.

mod deferral;
pub(crate) mod fetch;
pub(crate) mod notifier;
mod restore;
pub(crate) mod subscriber;
mod table;
mod timers;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::debug;

use parley_mapping::address::Jid;
use parley_sip::IncomingRequest;
use parley_sip::StatusCode;
use parley_sip::dialog::subscription::SubscriptionState;
use parley_xmpp::stanza::{Presence as PresenceStanza, PresenceType};

use crate::admission::Admission;
use crate::links::Links;
use crate::store::Loaded;
use fetch::Fetcher;
use notifier::Notifier;
use subscriber::Subscriber;

/// How fast the restore goes (`store.restore_in_flight`, `xmpp.queue_capacity`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pacing {
    /// Most restore requests in flight at once on the subscriber side, and
    /// most restore probes waiting on the component stream.
    pub(crate) in_flight: usize,
    /// The component stream's queue: restore probes take at most half of it.
    pub(crate) queue_capacity: usize,
}

/// The three presence handlers.
pub(crate) struct Presence {
    links: Arc<Links>,
    subscriber: Arc<Subscriber>,
    notifier: Arc<Notifier>,
    fetcher: Arc<Fetcher>,
}

impl Presence {
    /// `timer_n`: RFC 6665 §4.1.2.4 Timer N, which bounds a fetch's wait
    /// for its NOTIFY; `admission` holds `limits.subscriptions_per_user`.
    pub(crate) fn new(links: Arc<Links>, admission: &Arc<Admission>, timer_n: Duration) -> Self {
        Self {
            subscriber: Arc::new(Subscriber::new(Arc::clone(&links), Arc::clone(admission))),
            notifier: Arc::new(Notifier::new(Arc::clone(&links), Arc::clone(admission))),
            fetcher: Arc::new(Fetcher::new(Arc::clone(&links), timer_n)),
            links,
        }
    }

    /// A presence stanza addressed to a SIP user at the component domain.
    pub(crate) fn xmpp_presence(&self, p: PresenceStanza) {
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

    /// RFC 6665 §4.1.3, RFC 8048 §6.3: a NOTIFY — for a fetch's dialog, or
    /// in one of Parley's subscriptions.
    pub(crate) fn sip_notify(&self, request: IncomingRequest) {
        let call_id = request.call_id().to_owned();
        let state = request
            .header("Subscription-State")
            .and_then(|s| SubscriptionState::parse(&s));
        let body = request.body().to_vec();
        let (_, responder) = request.into_responder();
        // RFC 8048 §7.1: the NOTIFY a fetch triggered (RFC 6665 §4.4.3); it
        // ends that dialog and touches no subscription.
        let Some(body) = self.fetcher.take_notify(&call_id, body) else {
            responder.respond(StatusCode::OK, None, vec![], None);
            return;
        };
        self.subscriber.notify(responder, &call_id, state, body);
    }

    /// RFC 6665 §4.2.1: a SUBSCRIBE; a fetch (Expires: 0, new dialog) goes
    /// on to `fetch/` with what the subscriber's live subscription knows.
    pub(crate) fn sip_subscribe(&self, request: IncomingRequest) {
        if let Some(w) = self.notifier.subscribe(request) {
            let standing = self.notifier.standing(&w.watcher, &w.target);
            self.fetcher.sip_fetch(w, standing);
        }
    }

    /// After a restart, once the component stream is up: the stored
    /// subscriptions both ways, paced by what they have in flight.
    pub(crate) fn restore(&self, loaded: Loaded, pacing: Pacing) {
        self.subscriber.restore(loaded.watches, pacing.in_flight);
        self.notifier
            .restore(loaded.watchers, pacing.in_flight, pacing.queue_capacity);
    }

    /// The reaper's tick: every subscription and fetch whose time came, both
    /// ways (refresh, Timer N, expiry, restore turn, forgetting an
    /// un-SUBSCRIBE; a probe's wait).
    pub(crate) fn reap(&self, now: Instant) {
        self.subscriber.reap(now);
        self.notifier.reap(now);
        self.fetcher.reap(now);
    }

    /// Shutdown: refreshes, expiries and fetches stop; without a persistent
    /// store the SIP subscribers are told to subscribe again
    /// (`Notifier::deactivate`).
    pub(crate) fn stop(&self) {
        self.subscriber.stop();
        self.fetcher.stop();
        self.notifier.deactivate();
    }

    /// The subscription gauges.
    pub(crate) fn gauges(&self) {
        self.links
            .metrics
            .registry_size("sip_subscriptions_out", self.subscriber.len());
        self.links
            .metrics
            .registry_size("sip_subscriptions_in", self.notifier.len());
    }
}

//! Design §4a: several instances on one shared store. Every subscription
//! has one owner, the instance whose lease covers its row; only the owner
//! acts on it. What concerns a subscription this instance does not hold
//! goes where the owner is:
//!
//! - A SIP request in the dialog of a stored subscription (a NOTIFY of one
//!   of Parley's subscriptions, a refresh or un-SUBSCRIBE of a SIP user's)
//!   reached this instance because the SIP proxy sent it here: the owner is
//!   down, or the proxy's hash chose this one. This instance takes the
//!   subscription over (`Store::steal_*`, which tells the old owner to let
//!   go), then handles the request; its next request in the dialog carries
//!   its own Contact, which retargets the dialog (RFC 6665 §3.1, §3.2:
//!   SUBSCRIBE and NOTIFY are target refresh requests), so the dialog
//!   stays here.
//! - A presence stanza reached this instance because the XMPP server hands
//!   each to a random component connection. Taking subscriptions over on
//!   every stanza would move them back and forth, so it is handed to the
//!   owner through the store (`Store::hand_off`), unless the owner's lease
//!   ran out (then taken over here) or nobody holds the pair (then handled
//!   here: a new subscription starts here).
//!
//! Stanzas for pairs this instance does not hold wait in one queue, in the
//! order they came, for the task that looks their owner up: so one user's
//! presence changes reach her SIP watchers in the order she made them.

use parley_mapping::address::Jid;
use parley_sip::IncomingRequest;
use parley_xmpp::stanza::{Presence, PresenceType};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::Handlers;
use crate::store::Owner;

/// Which subscription of a pair something concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// A SIP user watches an XMPP user (`notifier.rs`): her presence, her
    /// answer to his request, his SUBSCRIBEs.
    In,
    /// An XMPP user watches a SIP user (`subscriber.rs`): her subscribe,
    /// unsubscribe and probes, the SIP user's NOTIFYs.
    Out,
}

impl Side {
    /// The `kind` label of the subscriptions on this side.
    fn kind(self) -> &'static str {
        match self {
            Self::In => "sip_subscriptions_in",
            Self::Out => "sip_subscriptions_out",
        }
    }
}

/// The side `p` concerns, and its (from, to) as bare JIDs; `None` for a
/// stanza that concerns no subscription (an error, unparsable addresses).
pub(super) fn pair_of(p: &Presence) -> Option<(Side, Jid, Jid)> {
    let side = match p.presence_type {
        None
        | Some(PresenceType::Unavailable | PresenceType::Subscribed | PresenceType::Unsubscribed) => {
            Side::In
        }
        Some(PresenceType::Subscribe | PresenceType::Unsubscribe | PresenceType::Probe) => {
            Side::Out
        }
        _ => return None,
    };
    let from = Jid::parse(p.from.as_deref()?).ok()?.bare();
    let to = Jid::parse(p.to.as_deref()?).ok()?.bare();
    Some((side, from, to))
}

/// The task that finds the owner of each queued stanza's subscription.
pub(super) fn spawn_router(h: Handlers) -> mpsc::UnboundedSender<Presence> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Presence>();
    tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            route(&h, p).await;
        }
    });
    tx
}

/// One stanza: handed to its owner, or handled here (after taking its
/// subscription over when the owner's lease ran out).
async fn route(h: &Handlers, p: Presence) {
    if h.holds_pair_of(&p) {
        h.presence_here(p);
        return;
    }
    let Some((side, from, to)) = pair_of(&p) else {
        h.presence_here(p);
        return;
    };
    let store = &h.links.store;
    let owner = match side {
        Side::In => {
            store
                .owner_of_watcher(&to.to_string(), &from.to_string())
                .await
        }
        Side::Out => {
            store
                .owner_of_watch(&from.to_string(), &to.to_string())
                .await
        }
    };
    match owner {
        Ok(Some(Owner {
            id: Some(id),
            live: true,
            ..
        })) if id != store.instance_id() => {
            let mut xml = Vec::with_capacity(256);
            parley_xmpp::stanza::Stanza::Presence(p).write_to(&mut xml);
            match store.hand_off(&id, xml).await {
                Ok(()) => h.links.metrics.store_handoff("sent"),
                Err(e) => {
                    // Not handled anywhere: the owner acts on her next change.
                    warn!(error = %e, owner = %id, "presence not handed to its subscription's owner");
                    h.links.metrics.error("store_handoff");
                }
            }
        }
        Ok(Some(Owner {
            live: false,
            call_id,
            ..
        })) => {
            take_over(h, &call_id, side, "presence").await;
            h.presence_here(p);
        }
        Ok(_) => h.presence_here(p),
        Err(e) => {
            warn!(error = %e, "subscription owner not found: presence handled here");
            h.links.metrics.error("store_lookup");
            h.presence_here(p);
        }
    }
}

/// A SIP request in a dialog this instance does not hold: take its
/// subscription over if the store has it, then handle the request (a
/// dialog nobody stores gets 481 there, RFC 6665 §4.1.3).
pub(super) fn take_over_then(h: Handlers, request: IncomingRequest, side: Side) {
    let tasks = h.links.tasks.clone();
    tasks.spawn(async move {
        let call_id = request.call_id().to_owned();
        take_over(&h, &call_id, side, "in_dialog").await;
        match side {
            Side::Out => h.notify_here(request),
            Side::In => h.subscribe_here(request),
        }
    });
}

/// Take the subscription `call_id` over from whoever holds it and take it
/// up here, as after a restart (a subscription of Parley's is refreshed in
/// its dialog; a SIP user's has the XMPP user probed again).
async fn take_over(h: &Handlers, call_id: &str, side: Side, reason: &'static str) {
    let store = &h.links.store;
    let taken = match side {
        Side::Out => store.steal_watch(call_id).await.map(|row| {
            row.map(|(row, from)| {
                h.restore(crate::store::Loaded {
                    watches: vec![row],
                    watchers: vec![],
                });
                from
            })
        }),
        Side::In => store.steal_watcher(call_id).await.map(|row| {
            row.map(|(row, from)| {
                h.restore(crate::store::Loaded {
                    watches: vec![],
                    watchers: vec![row],
                });
                from
            })
        }),
    };
    match taken {
        Ok(Some(from)) => {
            info!(%call_id, from = from.as_deref().unwrap_or("nobody"), reason, "subscription taken over");
            h.links.metrics.store_takeovers(side.kind(), reason, 1);
        }
        Ok(None) => debug!(%call_id, "no stored subscription to take over"),
        Err(e) => {
            warn!(error = %e, %call_id, "subscription not taken over: the store failed");
            h.links.metrics.error("store_takeover");
        }
    }
}

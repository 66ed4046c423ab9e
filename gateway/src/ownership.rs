//! Design §4a: this instance's lease on its subscriptions in a shared
//! store, kept in one task beside the router. The task renews the lease
//! every third of `store.lease_ms`; takes over the subscriptions of
//! instances whose lease ran out (every second, and at once when one hands
//! its leases back at shutdown); and passes on what the store says: work
//! another instance handed over, and subscriptions another took from this
//! one. It never touches the router itself: it sends [`Event`]s that the
//! router's loop in `lib.rs` acts on in order with everything else.
//!
//! A lease that could not be renewed for a whole `store.lease_ms` has
//! lapsed: the others may be taking its subscriptions over, so the router
//! lets go of every one ([`Event::Lapsed`]) rather than send NOTIFYs and
//! refreshes that another instance sends too. Once the store answers again
//! the instance takes back what is still its own (`Store::reclaim`) and
//! takes subscriptions over like any other.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::metrics::Metrics;
use crate::store::{Loaded, Store, StoreError, StoreEvent};

/// How many orphaned subscriptions one claim takes; more claims follow at once.
const CLAIM_BATCH: usize = 1000;

/// How often the store is asked for subscriptions whose owner is gone.
const CLAIM_EVERY: Duration = Duration::from_secs(1);

/// What the router must do (see the module documentation).
#[derive(Debug)]
pub(crate) enum Event {
    /// Subscriptions taken over from an instance whose lease ran out: take
    /// them up as after a restart.
    Claimed(Loaded),
    /// Presence stanzas other instances handed to this one, in order.
    HandedOver(Vec<Vec<u8>>),
    /// Another instance took this subscription over.
    Lost(String),
    /// This instance's lease lapsed: let go of every subscription.
    Lapsed,
}

/// Start the lease task for a shared store; it stops with `stop`.
pub(crate) fn spawn(
    store: Store,
    lease: Duration,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> mpsc::UnboundedReceiver<Event> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(store, lease, metrics, stop, tx));
    rx
}

async fn run(
    store: Store,
    lease: Duration,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    tx: mpsc::UnboundedSender<Event>,
) {
    let mut events = store.take_events();
    let mut renew = tokio::time::interval(lease / 3);
    renew.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut claim = tokio::time::interval(CLAIM_EVERY);
    claim.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // `Store::open` registered the instance with a fresh lease.
    let mut renewed = Instant::now();
    let mut lapsed = false;
    metrics.store_lease(true);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = renew.tick() => {
                // A database that does not answer (a lost network, not a
                // refused connection) must not hold the lapse check up.
                match bounded(lease, store.renew_lease()).await {
                    Ok(renewal) => {
                        metrics.store_renewal("ok");
                        renewed = Instant::now();
                        if lapsed {
                            info!(?renewal, "the store answers again: taking back what is still this instance's");
                            match bounded(lease, store.reclaim()).await {
                                Ok(own) => {
                                    lapsed = false;
                                    metrics.store_lease(true);
                                    if tx.send(Event::Claimed(own)).is_err() {
                                        return;
                                    }
                                    claim_all(&store, lease, &tx, &metrics).await;
                                }
                                Err(e) => warn!(error = %e, "own subscriptions not taken back; tried again at the next renewal"),
                            }
                        }
                    }
                    Err(e) => {
                        metrics.store_renewal("failed");
                        warn!(error = %e, "store lease not renewed");
                        if !lapsed && renewed.elapsed() >= lease {
                            error!("STORE LEASE LAPSED: letting go of every subscription; other instances take them over");
                            lapsed = true;
                            metrics.store_lease(false);
                            if tx.send(Event::Lapsed).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
            _ = claim.tick(), if !lapsed => claim_all(&store, lease, &tx, &metrics).await,
            Some(event) = recv(&mut events) => {
                let sent = match event {
                    StoreEvent::Handoff => match bounded(lease, store.take_handoffs()).await {
                        Ok(work) if work.is_empty() => Ok(()),
                        Ok(work) => tx.send(Event::HandedOver(work)).map_err(drop),
                        Err(e) => {
                            warn!(error = %e, "handed-over work not read; read again at the next notice");
                            metrics.error("store_handoff");
                            Ok(())
                        }
                    },
                    StoreEvent::Lost { call_id, .. } => tx.send(Event::Lost(call_id)).map_err(drop),
                    StoreEvent::Released => {
                        if !lapsed {
                            claim_all(&store, lease, &tx, &metrics).await;
                        }
                        Ok(())
                    }
                };
                if sent.is_err() {
                    return;
                }
            }
        }
    }
}

/// The next store event, or never when the store sends none (SQLite).
async fn recv(events: &mut Option<mpsc::Receiver<StoreEvent>>) -> Option<StoreEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// `call` on the database, given a third of the lease: one that does not
/// answer (a lost network rather than a refused connection) must not hold
/// up the renewals and the lapse check that share this task.
async fn bounded<T>(
    lease: Duration,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(lease / 3, call)
        .await
        .unwrap_or(Err(StoreError::Timeout))
}

/// Claim orphaned subscriptions until none is left.
async fn claim_all(
    store: &Store,
    lease: Duration,
    tx: &mpsc::UnboundedSender<Event>,
    metrics: &Metrics,
) {
    loop {
        match bounded(lease, store.claim_orphans(CLAIM_BATCH)).await {
            Ok(loaded) if loaded.watches.is_empty() && loaded.watchers.is_empty() => return,
            Ok(loaded) => {
                let (out, inn) = (loaded.watches.len(), loaded.watchers.len());
                info!(
                    subscriptions_out = out,
                    subscriptions_in = inn,
                    "subscriptions taken over from an instance whose lease ran out"
                );
                metrics.store_takeovers("sip_subscriptions_out", "orphaned", out);
                metrics.store_takeovers("sip_subscriptions_in", "orphaned", inn);
                if tx.send(Event::Claimed(loaded)).is_err() {
                    return;
                }
            }
            Err(e) => {
                warn!(error = %e, "orphaned subscriptions not claimed; claimed at the next try");
                metrics.error("store_claim");
                return;
            }
        }
    }
}

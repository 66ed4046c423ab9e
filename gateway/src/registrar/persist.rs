//! The registrar and the store (issue 22 item 4): the poller that keeps the
//! store's users ([`super::users`]) fresh.
//!
//! One task per registrar, stopped when the registrar is dropped (its
//! [`DropGuard`]); it reads the store every [`POLL`], each read bounded by
//! [`READ_WITHIN`], so a database out of reach never holds a SIP request.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::{CancellationToken, DropGuard};

use crate::metrics::Metrics;
use crate::store::Store;

use super::users::StoreUsers;

/// How often the poller reads the store.
pub(crate) const POLL: Duration = Duration::from_secs(1);

/// The longest one read may take before it counts as failed.
pub(crate) const READ_WITHIN: Duration = Duration::from_secs(2);

/// The registrar's link to the store; dropping it stops the poller.
pub(crate) struct Persist {
    _poller: Option<DropGuard>,
}

impl Persist {
    /// Start the poller when there is something to poll: the store's users
    /// (`users`).
    pub(crate) fn start(
        store: &Store,
        users: Option<Arc<StoreUsers>>,
        metrics: Arc<Metrics>,
    ) -> Persist {
        let Some(users) = users else {
            return Persist { _poller: None };
        };
        let stop = CancellationToken::new();
        let store = store.clone();
        let until = stop.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = until.cancelled() => return,
                    _ = tick.tick() => {}
                }
                if users.refresh(&store, READ_WITHIN).await.is_err() {
                    metrics.error("registrar_users_store");
                }
            }
        });
        Persist {
            _poller: Some(stop.drop_guard()),
        }
    }
}

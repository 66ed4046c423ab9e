//! Subscriptions already ended whose final NOTIFY (RFC 6665 §4.2.2) the SIP
//! endpoint refused to start (`deferral.rs`): each waits here, by when it
//! goes again, until the reaper sends it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::time::Instant;

use parley_sip::dialog::subscription::SubscriptionState;

use super::Watcher;

/// A subscription already ended (removed from the table and the store)
/// whose final NOTIFY (RFC 6665 §4.2.2) is on its way.
pub(super) struct Ending {
    /// The subscription, removed from the table and the store.
    pub(super) watcher: Watcher,
    /// What its final NOTIFY says.
    pub(super) state: SubscriptionState,
    /// Times the SIP endpoint refused to start it, in a row.
    pub(super) refusals: u8,
}

/// Ended subscriptions whose final NOTIFY the SIP endpoint refused to start,
/// by when it goes again (a sequence number keeps equal times apart).
#[derive(Default)]
pub(super) struct Endings {
    due: Mutex<BTreeMap<(Instant, u64), Ending>>,
    next: AtomicU64,
}

impl Endings {
    /// Send `ending` again at `at`.
    pub(super) fn defer(&self, at: Instant, ending: Ending) {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert((at, seq), ending);
    }

    /// Every ending due at `now`, earliest first.
    pub(super) fn take_due(&self, now: Instant) -> Vec<Ending> {
        let mut due = self.lock();
        let mut out = Vec::new();
        while let Some(entry) = due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            out.push(entry.remove());
        }
        out
    }

    /// The map even after a panic elsewhere poisoned the lock: an entry is
    /// inserted or removed whole.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<(Instant, u64), Ending>> {
        self.due.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

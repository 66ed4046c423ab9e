//! The registrar and the store (issue 22 item 4): bindings written on every
//! change and taken up at start, other instances' bindings to route by, and
//! the poller that also keeps the store's users ([`super::users`]) fresh.
//!
//! - Each change a REGISTER makes goes to the store's writer ([`Persist::bound`]):
//!   a contact bound or refreshed is put (expiry as an absolute time, the
//!   Call-ID and CSeq, `+sip.instance` and `reg-id` when the Contact has them,
//!   where the REGISTER came from), one removed is deleted, `Contact: *`
//!   deletes the AOR's. The SIP path never waits on it.
//! - At start the poller reads the bindings that have not ended and hands
//!   them to the registrar ([`Persist::take_loaded`]): all of them with
//!   SQLite (one process), this instance's own with PostgreSQL (a stable
//!   `store.instance` taking its own back).
//! - With PostgreSQL, the poller reads every binding each [`POLL`]; those
//!   another instance wrote answer [`Persist::locate`] when this instance has
//!   none for the AOR, so a phone registered through one instance is reached
//!   from every other within about a second (bounded: one read of at most
//!   `MAX_BINDINGS` rows a poll, [`READ_WITHIN`] each). A binding this
//!   instance wrote that is no longer its row in the store [`GRACE`] after
//!   the write (un-REGISTERed, or refreshed, through another instance) is
//!   dropped from its memory too, so its copy never outlives the phone's word.
//!
//! One task per registrar, stopped when the registrar is dropped (its
//! [`DropGuard`]); every read is bounded by [`READ_WITHIN`], so a database
//! out of reach never holds a SIP request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{info, warn};

use parley_sip::IncomingRequest;
use parley_sip::register::{same_uri, split_contacts};
use parley_sip::wire::header::Address;

use crate::metrics::Metrics;
use crate::store::{BindingRow, Store, StoredBinding, unix_after, until_unix};

use super::bindings::{Bindings, ContactUpdate, Current, Policy, Update};
use super::users::StoreUsers;

/// How often the poller reads the store.
pub(crate) const POLL: Duration = Duration::from_secs(1);

/// The longest one read may take before it counts as failed.
pub(crate) const READ_WITHIN: Duration = Duration::from_secs(2);

/// How long after this instance wrote a binding the store may still not
/// show it (the writer's queue) before its absence means another instance
/// removed or took it.
pub(crate) const GRACE: Duration = Duration::from_secs(3);

/// Ended bindings are deleted from the store every this many polls.
const REAP_EVERY: u32 = 60;

/// The registrar's link to the store; dropping it stops the poller.
pub(crate) struct Persist {
    store: Store,
    shared: Arc<Shared>,
    _poller: Option<DropGuard>,
}

#[derive(Default)]
struct Shared {
    /// The bindings read at start, until the registrar takes them.
    loaded: Mutex<Option<Vec<BindingRow>>>,
    /// Bindings this instance holds that the store says are gone (PostgreSQL),
    /// until the registrar drops them: (AOR, contact).
    gone: Mutex<Vec<(String, String)>>,
    /// Whether `loaded` or `gone` holds something.
    pending: AtomicBool,
    /// When this instance last wrote each binding it holds (PostgreSQL).
    written: Mutex<HashMap<(String, String), Instant>>,
    /// Other instances' bindings by AOR: (contact, expires_at) (PostgreSQL).
    others: RwLock<HashMap<String, Vec<(String, u64)>>>,
}

impl Persist {
    /// Start the poller when there is something to poll: the store's users
    /// (`users`), bindings to take up (a persistent store), other instances'
    /// bindings (a shared one).
    pub(crate) fn start(
        store: &Store,
        users: Option<Arc<StoreUsers>>,
        metrics: Arc<Metrics>,
    ) -> Persist {
        let shared = Arc::new(Shared::default());
        let mut persist = Persist {
            store: store.clone(),
            shared: Arc::clone(&shared),
            _poller: None,
        };
        if users.is_none() && !store.is_persistent() {
            return persist;
        }
        let stop = CancellationToken::new();
        let poller = Poller {
            store: store.clone(),
            users,
            metrics,
            shared,
        };
        tokio::spawn(poller.run(stop.clone()));
        persist._poller = Some(stop.drop_guard());
        persist
    }

    /// A REGISTER changed the bindings of `update.aor`: `current` is every
    /// binding of the AOR now, with its remaining seconds (§10.3 step 8).
    pub(crate) fn bound(&self, request: &IncomingRequest, update: &Update, current: &[Current]) {
        if !self.store.is_persistent() {
            return;
        }
        if update.wildcard {
            self.store.delete_bindings(&update.aor);
            return;
        }
        let outbound = outbound_params(request);
        let mut written = self
            .shared
            .written
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for update_contact in &update.contacts {
            let contact = &update_contact.uri;
            match current.iter().find(|c| same_uri(&c.contact, contact)) {
                Some(Current {
                    contact: c,
                    expires: secs,
                    ..
                }) => {
                    let (sip_instance, reg_id) = outbound
                        .iter()
                        .find(|(uri, ..)| uri == contact)
                        .map(|(_, i, r)| (i.clone(), *r))
                        .unwrap_or_default();
                    if self.store.is_shared() {
                        written.insert((update.aor.clone(), c.clone()), Instant::now());
                    }
                    self.store.put_binding(BindingRow {
                        aor: update.aor.clone(),
                        contact: c.clone(),
                        expires_at: unix_after(Duration::from_secs(u64::from(*secs))),
                        call_id: update.call_id.clone(),
                        cseq: update.cseq,
                        sip_instance,
                        reg_id,
                        received: Some(request.source.to_string()),
                    });
                }
                None => {
                    written.remove(&(update.aor.clone(), contact.clone()));
                    self.store.delete_binding(&update.aor, contact);
                }
            }
        }
    }

    /// Bring `bindings` up to what the store said since the last call: the
    /// bindings read at start (once), and those another instance removed or
    /// took over. Cheap when there is nothing new.
    pub(crate) fn catch_up(&self, bindings: &mut Bindings) {
        if !self.shared.pending.swap(false, Ordering::AcqRel) {
            return;
        }
        let now = Instant::now();
        let loaded = self
            .shared
            .loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(rows) = loaded {
            restore(bindings, rows, now);
        }
        let gone = std::mem::take(
            &mut *self
                .shared
                .gone
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for (aor, contact) in gone {
            // Another Call-ID than any phone's: removed whatever its CSeq.
            let _ = bindings.apply(
                &Update {
                    aor,
                    call_id: "parley-store".to_owned(),
                    cseq: 0,
                    expires: None,
                    wildcard: false,
                    contacts: vec![ContactUpdate {
                        uri: contact,
                        expires: Some(0),
                        q: None,
                        instance: None,
                    }],
                },
                Policy {
                    min_expires: 1,
                    max_expires: u32::MAX,
                    max_contacts: usize::MAX,
                },
                now,
            );
        }
    }

    /// Another instance's newest binding of `aor` that has not ended.
    pub(crate) fn locate(&self, aor: &str) -> Option<String> {
        let others = self
            .shared
            .others
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let now = unix_after(Duration::ZERO);
        others
            .get(aor)?
            .iter()
            .filter(|(_, expires_at)| *expires_at > now)
            .max_by_key(|(_, expires_at)| *expires_at)
            .map(|(contact, _)| contact.clone())
    }
}

/// Takes stored bindings up into `bindings` as the REGISTERs that made them
/// would, with the time they have left; ended ones are dropped. Returns how
/// many were taken.
fn restore(bindings: &mut Bindings, rows: Vec<BindingRow>, now: Instant) -> usize {
    // What was granted once is granted again: no policy applies to it.
    let policy = Policy {
        min_expires: 1,
        max_expires: u32::MAX,
        max_contacts: usize::MAX,
    };
    let mut taken = 0;
    for row in rows {
        let left = u32::try_from(until_unix(row.expires_at).as_secs()).unwrap_or(u32::MAX);
        if left == 0 {
            continue;
        }
        let update = Update {
            aor: row.aor,
            call_id: row.call_id,
            cseq: row.cseq,
            expires: None,
            wildcard: false,
            // `q` is not stored: a restored binding ranks as `q` 1.
            contacts: vec![ContactUpdate {
                uri: row.contact,
                expires: Some(left),
                q: None,
                instance: row.sip_instance,
            }],
        };
        if matches!(
            bindings.apply(&update, policy, now),
            super::bindings::Outcome::Bound(_)
        ) {
            taken += 1;
        }
    }
    taken
}

/// Each Contact's URI with its `+sip.instance` and `reg-id` (RFC 5626 §4.1,
/// §4.2), for the stored row.
fn outbound_params(request: &IncomingRequest) -> Vec<(String, Option<String>, Option<u32>)> {
    let view = request.view();
    view.header_values("Contact")
        .iter()
        .flat_map(|value| {
            split_contacts(value)
                .into_iter()
                .filter_map(|part| Address::parse(part).ok())
                .map(|a| {
                    let instance = a.param("+sip.instance").map(str::to_owned);
                    let reg_id = a.param("reg-id").and_then(|v| v.trim().parse().ok());
                    (a.uri_text.as_str().to_owned(), instance, reg_id)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

struct Poller {
    store: Store,
    users: Option<Arc<StoreUsers>>,
    metrics: Arc<Metrics>,
    shared: Arc<Shared>,
}

impl Poller {
    async fn run(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut loaded = !self.store.is_persistent();
        let mut polls: u32 = 0;
        let mut failing = false;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Some(users) = &self.users
                && users.refresh(&self.store, READ_WITHIN).await.is_err()
            {
                self.metrics.error("registrar_users_store");
            }
            if !loaded || self.store.is_shared() {
                match self.read_bindings().await {
                    Ok(rows) => {
                        if failing {
                            info!("registrar: the store's bindings are readable again");
                        }
                        failing = false;
                        if !loaded {
                            loaded = true;
                            self.load(&rows);
                        }
                        if self.store.is_shared() {
                            self.forget_gone(&rows);
                            self.others(rows);
                        }
                    }
                    Err(e) => {
                        self.metrics.error("registrar_bindings_store");
                        if !failing {
                            warn!(kind = e.kind(), error = %e,
                                "registrar: cannot read the bindings from the store; trying again each second");
                        }
                        failing = true;
                    }
                }
            }
            polls = polls.wrapping_add(1);
            if polls.is_multiple_of(REAP_EVERY) {
                self.store.reap_bindings(unix_after(Duration::ZERO));
            }
        }
    }

    async fn read_bindings(&self) -> Result<Vec<StoredBinding>, crate::store::StoreError> {
        match tokio::time::timeout(READ_WITHIN, self.store.bindings(unix_after(Duration::ZERO)))
            .await
        {
            Ok(read) => read,
            Err(_) => Err(crate::store::StoreError::Timeout),
        }
    }

    /// The rows this instance takes up: all with SQLite, its own with PostgreSQL.
    fn load(&self, rows: &[StoredBinding]) {
        let me = self.store.instance_id();
        let mine: Vec<BindingRow> = rows
            .iter()
            .filter(|b| !self.store.is_shared() || b.owner == me)
            .map(|b| b.row.clone())
            .collect();
        info!(
            bindings = mine.len(),
            "registrar: bindings taken up from the store"
        );
        let now = Instant::now();
        if self.store.is_shared() {
            let mut written = self
                .shared
                .written
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for row in &mine {
                written.insert((row.aor.clone(), row.contact.clone()), now);
            }
        }
        *self
            .shared
            .loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(mine);
        self.shared.pending.store(true, Ordering::Release);
    }

    /// The bindings this instance wrote more than [`GRACE`] ago that are no
    /// longer its rows: to be dropped from memory.
    fn forget_gone(&self, rows: &[StoredBinding]) {
        let me = self.store.instance_id();
        let mine: std::collections::HashSet<(&str, &str)> = rows
            .iter()
            .filter(|b| b.owner == me)
            .map(|b| (b.row.aor.as_str(), b.row.contact.as_str()))
            .collect();
        let now = Instant::now();
        let mut gone = Vec::new();
        self.shared
            .written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(aor, contact), at| {
                let keep = now.duration_since(*at) < GRACE
                    || mine.contains(&(aor.as_str(), contact.as_str()));
                if !keep {
                    gone.push((aor.clone(), contact.clone()));
                }
                keep
            });
        if !gone.is_empty() {
            info!(
                bindings = gone.len(),
                "registrar: bindings removed or taken over through another instance"
            );
            self.shared
                .gone
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(gone);
            self.shared.pending.store(true, Ordering::Release);
        }
    }

    /// The bindings other instances wrote last, by AOR.
    fn others(&self, rows: Vec<StoredBinding>) {
        let me = self.store.instance_id();
        let mut others: HashMap<String, Vec<(String, u64)>> = HashMap::new();
        for b in rows.into_iter().filter(|b| b.owner != me) {
            others
                .entry(b.row.aor)
                .or_default()
                .push((b.row.contact, b.row.expires_at));
        }
        *self
            .shared
            .others
            .write()
            .unwrap_or_else(PoisonError::into_inner) = others;
    }
}

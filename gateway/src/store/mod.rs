//! The store (design §4, §4a): subscription state in both directions, so that
//! a restart loses nothing, and, shared between instances, so that another
//! instance takes a dead one's subscriptions over.
//!
//! Two engines, one schema (`schema.rs`): the embedded SQLite file under
//! `store.path` (one process), or PostgreSQL at `store.url` (every instance of
//! a deployment). Every row has an owner, the instance that runs its timers;
//! each instance holds one renewable lease (`instances`), and rows whose owner
//! has no live lease are claimable ([`Store::claim_orphans`](crate::store::Store::claim_orphans)).
//!
//! Writes go through one writer task in the order the router makes them, so
//! the router never waits on the database (`writer.rs`); every write is fenced
//! by ownership. What other instances did to this one arrives as
//! [`StoreEvent`](crate::store::StoreEvent)s (`listener.rs`).
//!
//! What this module does not do: decide when to renew or claim (the gateway's
//! tick does), or forward anything itself (hand-offs are opaque bytes).
//!
//! A SQLite file that cannot be opened never stops the gateway: a corrupt file
//! is moved aside and a fresh one made; anything else leaves the gateway running
//! without persistence, and both say so loudly. PostgreSQL that cannot be
//! reached is waited for instead (see [`Store::open`](crate::store::Store::open)).

mod bindings;
mod db;
mod lease;
mod listener;
mod postgres;
mod rows;
mod schema;
mod sqlite;
mod url;
mod users;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use db::Db;
use writer::Op;

pub use bindings::{BindingRow, MAX_BINDINGS, StoredBinding};
pub use rows::{RowKind, WatchRow, WatcherRow};
pub use url::StoreUrl;
pub use users::{Admin, MAX_USERS, SipUser};

/// What [`Store::open`] needs: the `[store]` keys (`StoreConfig::settings`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `store.path`: the SQLite file's directory.
    pub path: PathBuf,
    /// `store.url`: empty for SQLite, else PostgreSQL.
    pub url: StoreUrl,
    /// `store.instance`; `None`: mint a random id.
    pub instance: Option<String>,
    /// `store.lease_ms`.
    pub lease: Duration,
}

impl Settings {
    /// The embedded store in `path` with a minted id and the default lease
    /// (tests, benchmarks).
    pub fn embedded(path: &Path) -> Settings {
        Settings {
            path: path.to_owned(),
            url: StoreUrl::default(),
            instance: None,
            lease: Duration::from_secs(10),
        }
    }
}

/// The file inside `store.path`.
pub const FILE_NAME: &str = "parley.sqlite3";

/// The rows an instance owns: at open, what it stored before (SQLite) or
/// claimed (PostgreSQL); from [`Store::claim_orphans`], what it just took over.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Outgoing subscriptions (XMPP user watches SIP user).
    pub watches: Vec<WatchRow>,
    /// Incoming subscriptions (SIP user watches XMPP user).
    pub watchers: Vec<WatcherRow>,
}

impl Loaded {
    /// Whether nothing was loaded.
    pub fn is_empty(&self) -> bool {
        self.watches.is_empty() && self.watchers.is_empty()
    }
}

/// Who owns a subscription ([`Store::owner_of_watch`], [`Store::owner_of_watcher`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The owning instance's id; `None` for a row nobody has claimed yet
    /// (migrated from a v1 store).
    pub id: Option<String>,
    /// Whether that instance holds a lease that has not run out.
    pub live: bool,
    /// The subscription's Call-ID, to take it over by ([`Store::steal_watch`]).
    pub call_id: String,
}

/// What a lease renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// The lease was live and runs `store.lease_ms` from now.
    Renewed,
    /// The lease had run out (this instance stalled, or the database was out
    /// of reach for longer than the lease): it is live again, but other
    /// instances may have claimed some of its rows meanwhile. Each such row
    /// was reported as [`StoreEvent::Lost`] if this instance was listening,
    /// and its next write is fenced either way.
    Lapsed,
}

/// What other instances did that concerns this one (PostgreSQL only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreEvent {
    /// Work for this instance waits: call [`Store::take_handoffs`].
    Handoff,
    /// A row this instance held is no longer its own (stolen, claimed after
    /// its lease ran out, or a write to it was fenced): drop it from memory
    /// without telling anyone, its new owner carries on.
    Lost {
        /// Its table.
        kind: RowKind,
        /// Its key.
        call_id: String,
    },
    /// An instance handed its leases back: call [`Store::claim_orphans`] now
    /// rather than at the next poll.
    Released,
}

/// Why the store could not be used as configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The directory could not be created.
    #[error("cannot create store directory {path}")]
    Directory {
        /// `store.path`.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database refused or could not be reached.
    #[error("store database error")]
    Database(#[from] sqlx::Error),
    /// The database was written by a newer Parley with a schema this one does not know.
    #[error("store schema version {found} is newer than this parley's {known}")]
    NewerSchema {
        /// The version in the database.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// The database did not answer in time (the caller's deadline).
    #[error("store database did not answer in time")]
    Timeout,
    /// The store runs without persistence (its SQLite file was unusable):
    /// what lives only in the database cannot be read.
    #[error("the store runs without persistence")]
    MemoryOnly,
}

impl StoreError {
    /// A stable name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Directory { .. } => "store_directory",
            Self::Database(_) => "store_database",
            Self::NewerSchema { .. } => "store_newer_schema",
            Self::Timeout => "store_timeout",
            Self::MemoryOnly => "store_memory_only",
        }
    }
}

/// How the store came up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// The database was there (or new) and is in use.
    Persistent,
    /// The SQLite file was not a usable database: it was renamed to this path
    /// and a fresh store made.
    Recreated {
        /// Where the unusable file went.
        moved_to: PathBuf,
    },
    /// No persistence this run (the reason was logged).
    MemoryOnly,
}

/// The router's handle on the store: cheap to clone; the writes never block.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// Write-behind queue; `None` without persistence.
    tx: Option<mpsc::UnboundedSender<Op>>,
    db: Option<Db>,
    instance: String,
    lease: Duration,
    /// Kept so that the events receiver waits (rather than ends) while the
    /// store is open, on either engine.
    _events_tx: mpsc::Sender<StoreEvent>,
    events_rx: Mutex<Option<mpsc::Receiver<StoreEvent>>>,
}

/// The writer and listener tasks and the pool, closed at shutdown.
pub struct StoreTask {
    writer: Option<JoinHandle<()>>,
    listener: Option<JoinHandle<()>>,
    stop: CancellationToken,
}

/// Room for events nobody has read yet; past it the listener and writer wait.
const EVENTS_CAPACITY: usize = 1024;

/// While PostgreSQL cannot be reached at start, the first wait before trying
/// again; it doubles up to [`OPEN_MAX_BACKOFF`].
const OPEN_FIRST_BACKOFF: Duration = Duration::from_secs(1);
const OPEN_MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Store {
    /// A store that keeps nothing (the SQLite file was unusable).
    pub fn memory_only() -> (Store, StoreTask) {
        let (store, _) = Store::new(None, None, mint_instance(), Duration::from_secs(10));
        (store, StoreTask::idle())
    }

    fn new(
        tx: Option<mpsc::UnboundedSender<Op>>,
        db: Option<Db>,
        instance: String,
        lease: Duration,
    ) -> (Store, mpsc::Sender<StoreEvent>) {
        let (events_tx, events_rx) = mpsc::channel(EVENTS_CAPACITY);
        let store = Store {
            inner: Arc::new(Inner {
                tx,
                db,
                instance,
                lease,
                _events_tx: events_tx.clone(),
                events_rx: Mutex::new(Some(events_rx)),
            }),
        };
        (store, events_tx)
    }

    /// Open the store `config` names, migrate it, register this instance
    /// with a fresh lease, take what it owns and start the writer.
    ///
    /// - SQLite (`store.url` empty): `<store.path>/parley.sqlite3`; every row is
    ///   this instance's. Never fails: a problem is logged and reported in
    ///   [`Opened`] (corrupt: moved aside; unusable: memory only).
    /// - PostgreSQL: the rows this instance claims at start (unowned, its own
    ///   id's, or a dead owner's). A database out of reach (or refusing, or with
    ///   a newer schema) is tried again, 1 s doubling to 30 s, each failure
    ///   logged at `error` (`STORE UNREACHABLE`) and counted with `on_error`,
    ///   until it answers: a shared-store instance running memory-only would
    ///   split the brain. The caller bounds the wait (shutdown).
    pub async fn open(
        config: &Settings,
        on_error: impl Fn(&'static str) + Send + 'static,
    ) -> (Store, StoreTask, Loaded, Opened) {
        let instance = config.instance.clone().unwrap_or_else(mint_instance);
        let lease = config.lease;
        if config.url.is_embedded() {
            return sqlite::open(&config.path, instance, lease, on_error).await;
        }
        let mut backoff = OPEN_FIRST_BACKOFF;
        let (pool, loaded) = loop {
            match postgres::open(config.url.expose(), &instance, lease).await {
                Ok(opened) => break opened,
                Err(e) => {
                    on_error("store_unreachable");
                    error!(error = %e, cause = ?std::error::Error::source(&e), url = %config.url,
                        retry_in_ms = backoff.as_millis(),
                        "STORE UNREACHABLE: waiting for the shared store; not serving until it answers");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(OPEN_MAX_BACKOFF);
                }
            }
        };
        info!(url = %config.url, %instance, lease_ms = lease.as_millis(), "shared store opened");
        let db = Db::Postgres(pool.clone());
        let (tx, rx) = mpsc::unbounded_channel();
        let (store, events) = Store::new(Some(tx), Some(db.clone()), instance.clone(), lease);
        let stop = CancellationToken::new();
        let writer = tokio::spawn(writer::write_loop(
            db,
            instance.clone(),
            rx,
            events.clone(),
            on_error,
        ));
        let listener = tokio::spawn(listener::listen(pool, instance, events, stop.clone()));
        let task = StoreTask {
            writer: Some(writer),
            listener: Some(listener),
            stop,
        };
        (store, task, loaded, Opened::Persistent)
    }

    /// Whether state written here survives a restart.
    pub fn is_persistent(&self) -> bool {
        self.inner.db.is_some()
    }

    /// Whether other instances share this store (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.inner.db.as_ref().is_some_and(Db::is_shared)
    }

    /// This instance's id (`store.instance`, or the one minted at start).
    pub fn instance_id(&self) -> &str {
        &self.inner.instance
    }

    /// `store.lease_ms`: renew every third of it.
    pub fn lease(&self) -> Duration {
        self.inner.lease
    }

    /// The events other instances cause (see [`StoreEvent`]); `Some` once.
    /// Read it promptly: while it is full, the writer waits. On SQLite it
    /// yields nothing.
    pub fn take_events(&self) -> Option<mpsc::Receiver<StoreEvent>> {
        self.inner
            .events_rx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Extend this instance's lease to `store.lease_ms` from now.
    pub async fn renew_lease(&self) -> Result<Renewal, StoreError> {
        let Some(db) = &self.inner.db else {
            return Ok(Renewal::Renewed);
        };
        Ok(lease::renew(db, &self.inner.instance, self.lease_ms()).await?)
    }

    /// Claim rows whose owner is not a live instance, at most `limit` of each
    /// table, atomically: two instances claiming at once split them with no
    /// overlap (PostgreSQL `FOR UPDATE SKIP LOCKED`). Their previous owners
    /// are told ([`StoreEvent::Lost`]) in case they are alive after all, and
    /// the dead owners' waiting hand-offs move to this instance (reported as
    /// [`StoreEvent::Handoff`]). On SQLite nothing is ever orphaned: empty.
    pub async fn claim_orphans(&self, limit: usize) -> Result<Loaded, StoreError> {
        let Some(db) = &self.inner.db else {
            return Ok(Loaded::default());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(lease::claim(db, &self.inner.instance, Some(limit), false).await?)
    }

    /// After this instance's lease lapsed and it let go of every
    /// subscription: the rows still its own (no other instance claimed
    /// them meanwhile) and any orphans, all at once. On SQLite: every row.
    pub async fn reclaim(&self) -> Result<Loaded, StoreError> {
        let Some(db) = &self.inner.db else {
            return Ok(Loaded::default());
        };
        Ok(lease::claim(db, &self.inner.instance, None, true).await?)
    }

    /// Take the watch `call_id` over whoever owns it (an in-dialog request for
    /// it reached this instance). Its previous owner, when another instance,
    /// is returned and told ([`StoreEvent::Lost`]) so it drops the row at once.
    /// `None`: no such row.
    pub async fn steal_watch(
        &self,
        call_id: &str,
    ) -> Result<Option<(WatchRow, Option<String>)>, StoreError> {
        let Some(db) = &self.inner.db else {
            return Ok(None);
        };
        Ok(lease::steal(db, &self.inner.instance, call_id).await?)
    }

    /// [`Store::steal_watch`] for a SIP user's subscription.
    pub async fn steal_watcher(
        &self,
        call_id: &str,
    ) -> Result<Option<(WatcherRow, Option<String>)>, StoreError> {
        let Some(db) = &self.inner.db else {
            return Ok(None);
        };
        Ok(lease::steal(db, &self.inner.instance, call_id).await?)
    }

    /// Who owns the XMPP user `watcher`'s subscription to the SIP `contact`.
    /// `None`: there is none.
    pub async fn owner_of_watch(
        &self,
        watcher: &str,
        contact: &str,
    ) -> Result<Option<Owner>, StoreError> {
        let Some(db) = &self.inner.db else {
            return Ok(None);
        };
        Ok(lease::owner_of(db, RowKind::Watch, watcher, contact).await?)
    }

    /// Who owns the SIP user `watcher`'s subscription to the XMPP user `target`.
    /// `None`: there is none.
    pub async fn owner_of_watcher(
        &self,
        watcher: &str,
        target: &str,
    ) -> Result<Option<Owner>, StoreError> {
        let Some(db) = &self.inner.db else {
            return Ok(None);
        };
        Ok(lease::owner_of(db, RowKind::Watcher, watcher, target).await?)
    }

    /// Queue `payload` for the instance `owner` and tell it
    /// ([`StoreEvent::Handoff`]). If `owner` dies first, whoever claims its
    /// rows gets the payload too.
    pub async fn hand_off(&self, owner: &str, payload: Vec<u8>) -> Result<(), StoreError> {
        let Some(db) = &self.inner.db else {
            return Ok(());
        };
        Ok(lease::hand_off(db, owner, payload).await?)
    }

    /// Remove and return the payloads waiting for this instance, oldest
    /// first, at most 1024 at a time: call again while a call returns 1024.
    pub async fn take_handoffs(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let Some(db) = &self.inner.db else {
            return Ok(Vec::new());
        };
        Ok(lease::take_handoffs(db, &self.inner.instance).await?)
    }

    /// Hand this instance's leases back: its lease is set to expired and the
    /// others are told ([`StoreEvent::Released`]) so they claim its rows at
    /// once. For a clean shutdown, after the last write was flushed
    /// ([`StoreTask::close`] does both).
    pub async fn release(&self) -> Result<(), StoreError> {
        let Some(db) = &self.inner.db else {
            return Ok(());
        };
        Ok(lease::release(db, &self.inner.instance).await?)
    }

    /// Record (insert or update) an outgoing subscription this instance owns.
    pub fn put_watch(&self, row: WatchRow) {
        self.send(Op::PutWatch(Box::new(row)));
    }

    /// An outgoing subscription this instance owns was refreshed in its
    /// dialog: it now ends at `expires_at` (seconds since the epoch) and our
    /// last request in the dialog had the CSeq number `local_seq`. Only
    /// these two columns change, so a restore's refresh burst queues a
    /// Call-ID and two numbers per subscription rather than a whole row.
    /// The CSeq must survive a restart: RFC 3261 §12.2.1.1, "Requests within
    /// a dialog MUST contain strictly monotonically increasing and
    /// contiguous CSeq sequence numbers (increasing-by-one) in each
    /// direction". Fenced like every write; a row no longer in the store
    /// is reported lost ([`StoreEvent::Lost`]), never brought back.
    pub fn refresh_watch(&self, call_id: &str, expires_at: u64, local_seq: u32) {
        self.send(Op::RefreshWatch {
            call_id: call_id.into(),
            expires_at,
            local_seq,
        });
    }

    /// Forget an outgoing subscription this instance owns.
    pub fn delete_watch(&self, call_id: &str) {
        self.send(Op::DeleteWatch(call_id.to_owned()));
    }

    /// Record (insert or update) an incoming subscription this instance owns.
    pub fn put_watcher(&self, row: WatcherRow) {
        self.send(Op::PutWatcher(Box::new(row)));
    }

    /// Forget an incoming subscription this instance owns.
    pub fn delete_watcher(&self, call_id: &str) {
        self.send(Op::DeleteWatcher(call_id.to_owned()));
    }

    /// Wait until every write made so far is in the database.
    pub async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.send(Op::Flush(done));
        let _ = wait.await;
    }

    fn send(&self, op: Op) {
        if let Some(tx) = &self.inner.tx {
            // Fails only after close(); writes then have nowhere to go.
            let _ = tx.send(op);
        }
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.inner.lease.as_millis()).unwrap_or(i64::MAX)
    }
}

impl StoreTask {
    fn idle() -> StoreTask {
        StoreTask {
            writer: None,
            listener: None,
            stop: CancellationToken::new(),
        }
    }

    /// Flush every write made so far, hand the leases back ([`Store::release`])
    /// and close the database (design §2: "flush the store" at shutdown).
    /// Writes made through other handles afterwards are lost.
    pub async fn close(self, store: &Store) {
        store.flush().await;
        if store.is_shared()
            && let Err(e) = store.release().await
        {
            warn!(error = %e, "could not hand the leases back; others take over when they run out");
        }
        self.stop.cancel();
        if let Some(listener) = self.listener {
            // It may wait on a full events channel nobody reads any more.
            listener.abort();
        }
        if let Some(writer) = self.writer {
            writer.abort();
        }
        if let Some(db) = &store.inner.db {
            db.close().await;
        }
    }
}

/// Seconds since the epoch, `after` from now.
pub fn unix_after(after: Duration) -> u64 {
    (SystemTime::now() + after)
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How long until `unix` seconds since the epoch (zero when past).
pub fn until_unix(unix: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Duration::from_secs(unix.saturating_sub(now))
}

/// A fresh instance id: 64 random bits, so a restarted process is a new instance.
fn mint_instance() -> String {
    format!("{:016x}", rand::random::<u64>())
}

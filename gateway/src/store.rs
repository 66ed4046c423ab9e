//! The embedded store (design §4): subscription state in both directions, kept
//! in one SQLite file under `store.path` so that a restart loses nothing.
//!
//! Writes go through one writer task in the order the router makes them, so
//! the router never waits on the disk; `close` flushes them at shutdown. The
//! schema is versioned with SQLite's `user_version` and migrated forward in a
//! transaction at open. A store that cannot be opened (unwritable directory, a
//! file that is not a database, a schema from a newer Parley) never stops the
//! gateway: a corrupt file is moved aside and a fresh one made; anything else
//! leaves the gateway running without persistence, and both say so loudly.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{error, warn};

use parley_sip::dialog::{Dialog, DialogId};

/// The file inside `store.path`.
pub const FILE_NAME: &str = "parley.sqlite3";

/// Schema versions, in order; entry `n` takes `user_version` from `n` to `n + 1`.
/// Never edit a released entry: add the next one.
const MIGRATIONS: &[&str] = &[
    // v1: both directions of RFC 8048 subscriptions.
    "CREATE TABLE watches (
        call_id TEXT PRIMARY KEY,
        watcher TEXT NOT NULL,
        contact TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        last_pidf TEXT,
        d_local_tag TEXT, d_remote_tag TEXT, d_local_uri TEXT, d_remote_uri TEXT,
        d_remote_target TEXT, d_route_set TEXT, d_local_seq INTEGER, d_remote_seq INTEGER
    );
    CREATE TABLE watchers (
        call_id TEXT PRIMARY KEY,
        watcher TEXT NOT NULL,
        target TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        active INTEGER NOT NULL,
        last_pidf TEXT,
        d_local_tag TEXT, d_remote_tag TEXT, d_local_uri TEXT, d_remote_uri TEXT,
        d_remote_target TEXT, d_route_set TEXT, d_local_seq INTEGER, d_remote_seq INTEGER
    );",
];

/// An XMPP user's subscription to a SIP user (RFC 8048 §5.2), as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRow {
    /// The SUBSCRIBE dialog's Call-ID (the key).
    pub call_id: String,
    /// The XMPP user (bare JID).
    pub watcher: String,
    /// The SIP user as a JID at the component domain.
    pub contact: String,
    /// When the SIP subscription ends unless refreshed, seconds since the epoch.
    pub expires_at: u64,
    /// The last PIDF document a NOTIFY carried, to answer probes.
    pub last_pidf: Option<String>,
    /// The dialog, once a 2xx created it.
    pub dialog: Option<Dialog>,
}

/// A SIP user's subscription to an XMPP user (RFC 8048 §5.3), as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatcherRow {
    /// The SUBSCRIBE dialog's Call-ID (the key).
    pub call_id: String,
    /// The SIP user as a JID at the component domain.
    pub watcher: String,
    /// The XMPP user watched (bare JID).
    pub target: String,
    /// When the subscription ends unless the subscriber refreshes it.
    pub expires_at: u64,
    /// Whether the XMPP user approved it.
    pub active: bool,
    /// The last PIDF document sent.
    pub last_pidf: Option<String>,
    /// The dialog the SUBSCRIBE created.
    pub dialog: Dialog,
}

/// What was stored when the gateway last stopped.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Outgoing subscriptions (XMPP user watches SIP user).
    pub watches: Vec<WatchRow>,
    /// Incoming subscriptions (SIP user watches XMPP user).
    pub watchers: Vec<WatcherRow>,
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
    /// SQLite refused (not a database, I/O error, locked …).
    #[error("store database error")]
    Database(#[from] sqlx::Error),
    /// The file was written by a newer Parley with a schema this one does not know.
    #[error("store schema version {found} is newer than this parley's {known}")]
    NewerSchema {
        /// `user_version` in the file.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
}

impl StoreError {
    /// A stable name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Directory { .. } => "store_directory",
            Self::Database(_) => "store_database",
            Self::NewerSchema { .. } => "store_newer_schema",
        }
    }
}

/// How the store came up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// The file was there (or new) and is in use.
    Persistent,
    /// The file was not a usable database: it was renamed to this path and a fresh store made.
    Recreated {
        /// Where the unusable file went.
        moved_to: PathBuf,
    },
    /// No persistence this run (the reason was logged).
    MemoryOnly,
}

enum Op {
    Flush(tokio::sync::oneshot::Sender<()>),
    PutWatch(WatchRow),
    DeleteWatch(String),
    PutWatcher(WatcherRow),
    DeleteWatcher(String),
}

/// The router's handle on the store: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Store {
    tx: Option<mpsc::UnboundedSender<Op>>,
}

/// The writer task and the pool, closed at shutdown.
pub struct StoreTask {
    writer: Option<JoinHandle<()>>,
    pool: Option<SqlitePool>,
}

impl Store {
    /// A store that keeps nothing (no `store.path`, or it failed).
    pub fn memory_only() -> (Store, StoreTask) {
        (
            Store { tx: None },
            StoreTask {
                writer: None,
                pool: None,
            },
        )
    }

    /// Open `dir/parley.sqlite3`, migrate it, load what it holds and start the
    /// writer. Never fails: a problem is logged and reported in [`Opened`].
    pub async fn open(
        dir: &Path,
        on_error: impl Fn(&'static str) + Send + 'static,
    ) -> (Store, StoreTask, Loaded, Opened) {
        let file = dir.join(FILE_NAME);
        let mut opened = Opened::Persistent;
        let pool = match open_pool(dir, &file).await {
            Ok(pool) => Some(pool),
            Err(e @ (StoreError::Directory { .. } | StoreError::NewerSchema { .. })) => {
                error!(error = %e, cause = ?std::error::Error::source(&e), path = %file.display(),
                    "STORE UNUSABLE: running without persistence; subscriptions will not survive a restart");
                None
            }
            Err(e) => {
                // Not a database (or damaged): keep the bytes for the operator, start afresh.
                let moved_to = aside_name(&file);
                error!(error = %e, cause = ?std::error::Error::source(&e), path = %file.display(), moved_to = %moved_to.display(),
                    "STORE CORRUPT: moved aside, starting with an empty store; earlier subscriptions are lost");
                let moved = std::fs::rename(&file, &moved_to).is_ok();
                for suffix in ["-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
                }
                match open_pool(dir, &file).await {
                    Ok(pool) if moved => {
                        opened = Opened::Recreated { moved_to };
                        Some(pool)
                    }
                    Ok(pool) => Some(pool),
                    Err(e) => {
                        error!(error = %e, path = %file.display(),
                            "STORE UNUSABLE: running without persistence; subscriptions will not survive a restart");
                        None
                    }
                }
            }
        };
        let Some(pool) = pool else {
            let (store, task) = Store::memory_only();
            return (store, task, Loaded::default(), Opened::MemoryOnly);
        };
        let loaded = match load(&pool).await {
            Ok(l) => l,
            Err(e) => {
                error!(error = %e, "STORE UNREADABLE: starting with empty state");
                Loaded::default()
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_loop(pool.clone(), rx, on_error));
        (
            Store { tx: Some(tx) },
            StoreTask {
                writer: Some(writer),
                pool: Some(pool),
            },
            loaded,
            opened,
        )
    }

    /// Whether state written here survives a restart.
    pub fn is_persistent(&self) -> bool {
        self.tx.is_some()
    }

    /// Record (insert or replace) an outgoing subscription.
    pub fn put_watch(&self, row: WatchRow) {
        self.send(Op::PutWatch(row));
    }

    /// Forget an outgoing subscription.
    pub fn delete_watch(&self, call_id: &str) {
        self.send(Op::DeleteWatch(call_id.to_owned()));
    }

    /// Record (insert or replace) an incoming subscription.
    pub fn put_watcher(&self, row: WatcherRow) {
        self.send(Op::PutWatcher(row));
    }

    /// Forget an incoming subscription.
    pub fn delete_watcher(&self, call_id: &str) {
        self.send(Op::DeleteWatcher(call_id.to_owned()));
    }

    /// Wait until every write made so far is on disk.
    pub async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.send(Op::Flush(done));
        let _ = wait.await;
    }

    fn send(&self, op: Op) {
        if let Some(tx) = &self.tx {
            // Fails only after close(); writes then have nowhere to go.
            let _ = tx.send(op);
        }
    }
}

impl StoreTask {
    /// Flush every write made so far and close the file (design §2: "flush the
    /// store" at shutdown). Writes made through other handles afterwards are lost.
    pub async fn close(self, store: &Store) {
        store.flush().await;
        if let Some(writer) = self.writer {
            writer.abort();
        }
        if let Some(pool) = self.pool {
            pool.close().await;
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

fn aside_name(file: &Path) -> PathBuf {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    PathBuf::from(format!("{}.corrupt-{stamp}", file.display()))
}

async fn open_pool(dir: &Path, file: &Path) -> Result<SqlitePool, StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
        path: dir.to_owned(),
        source,
    })?;
    let options = SqliteConnectOptions::new()
        .filename(file)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5));
    // One connection: the writer is the only user after load, and SQLite
    // serialises writers anyway.
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let check: String = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_one(&pool)
        .await?;
    if check != "ok" {
        pool.close().await;
        return Err(StoreError::Database(sqlx::Error::Protocol(format!(
            "quick_check: {check}"
        ))));
    }
    migrate(&pool).await?;
    Ok(pool)
}

async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let found: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(pool)
        .await?;
    if found > known {
        pool.close().await;
        return Err(StoreError::NewerSchema { found, known });
    }
    for (version, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
        // The number comes from MIGRATIONS' length, not from input.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "PRAGMA user_version = {}",
            version + 1
        )))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

async fn load(pool: &SqlitePool) -> Result<Loaded, sqlx::Error> {
    let mut loaded = Loaded::default();
    for row in sqlx::query("SELECT * FROM watches").fetch_all(pool).await? {
        loaded.watches.push(WatchRow {
            call_id: row.try_get("call_id")?,
            watcher: row.try_get("watcher")?,
            contact: row.try_get("contact")?,
            expires_at: u64::try_from(row.try_get::<i64, _>("expires_at")?).unwrap_or(0),
            last_pidf: row.try_get("last_pidf")?,
            dialog: dialog_from(&row, row.try_get("call_id")?)?,
        });
    }
    for row in sqlx::query("SELECT * FROM watchers")
        .fetch_all(pool)
        .await?
    {
        let call_id: String = row.try_get("call_id")?;
        let Some(dialog) = dialog_from(&row, call_id.clone())? else {
            warn!(%call_id, "stored SIP subscription without a dialog skipped");
            continue;
        };
        loaded.watchers.push(WatcherRow {
            call_id,
            watcher: row.try_get("watcher")?,
            target: row.try_get("target")?,
            expires_at: u64::try_from(row.try_get::<i64, _>("expires_at")?).unwrap_or(0),
            active: row.try_get::<i64, _>("active")? != 0,
            last_pidf: row.try_get("last_pidf")?,
            dialog,
        });
    }
    Ok(loaded)
}

fn dialog_from(
    row: &sqlx::sqlite::SqliteRow,
    call_id: String,
) -> Result<Option<Dialog>, sqlx::Error> {
    let Some(local_tag) = row.try_get::<Option<String>, _>("d_local_tag")? else {
        return Ok(None);
    };
    let route_set: String = row
        .try_get::<Option<String>, _>("d_route_set")?
        .unwrap_or_default();
    Ok(Some(Dialog {
        id: DialogId {
            call_id,
            local_tag,
            remote_tag: row
                .try_get::<Option<String>, _>("d_remote_tag")?
                .unwrap_or_default(),
        },
        local_uri: row
            .try_get::<Option<String>, _>("d_local_uri")?
            .unwrap_or_default(),
        remote_uri: row
            .try_get::<Option<String>, _>("d_remote_uri")?
            .unwrap_or_default(),
        remote_target: row
            .try_get::<Option<String>, _>("d_remote_target")?
            .unwrap_or_default(),
        route_set: route_set
            .lines()
            .map(str::to_owned)
            .filter(|r| !r.is_empty())
            .collect(),
        local_seq: u32::try_from(row.try_get::<Option<i64>, _>("d_local_seq")?.unwrap_or(0))
            .unwrap_or(0),
        remote_seq: row
            .try_get::<Option<i64>, _>("d_remote_seq")?
            .and_then(|s| u32::try_from(s).ok()),
    }))
}

/// The dialog columns, in the order of the `d_*` columns above.
type DialogColumns = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

fn dialog_columns(d: Option<&Dialog>) -> DialogColumns {
    match d {
        None => Default::default(),
        Some(d) => (
            Some(d.id.local_tag.clone()),
            Some(d.id.remote_tag.clone()),
            Some(d.local_uri.clone()),
            Some(d.remote_uri.clone()),
            Some(d.remote_target.clone()),
            Some(d.route_set.join("\n")),
            Some(i64::from(d.local_seq)),
            d.remote_seq.map(i64::from),
        ),
    }
}

/// Binds the [`dialog_columns!`] values of `d` (all NULL without a dialog).
fn bind_dialog<'q>(
    q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    d: Option<&Dialog>,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    let d = dialog_columns(d);
    q.bind(d.0)
        .bind(d.1)
        .bind(d.2)
        .bind(d.3)
        .bind(d.4)
        .bind(d.5)
        .bind(d.6)
        .bind(d.7)
}

async fn write_loop(
    pool: SqlitePool,
    mut rx: mpsc::UnboundedReceiver<Op>,
    on_error: impl Fn(&'static str) + Send + 'static,
) {
    while let Some(op) = rx.recv().await {
        if let Err(e) = apply(&pool, op).await {
            error!(error = %e, "store write failed");
            on_error("store_write");
        }
    }
}

/// The dialog columns of both tables, in [`DialogColumns`] order.
macro_rules! dialog_columns {
    () => {
        "d_local_tag, d_remote_tag, d_local_uri, d_remote_uri, d_remote_target, d_route_set, d_local_seq, d_remote_seq"
    };
}

async fn apply(pool: &SqlitePool, op: Op) -> Result<(), sqlx::Error> {
    match op {
        Op::Flush(done) => {
            let _ = done.send(());
        }
        Op::PutWatch(w) => {
            let q = sqlx::query(concat!(
                "INSERT OR REPLACE INTO watches (call_id, watcher, contact, expires_at, last_pidf, ",
                dialog_columns!(),
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(w.call_id)
            .bind(w.watcher)
            .bind(w.contact)
            .bind(i64::try_from(w.expires_at).unwrap_or(i64::MAX))
            .bind(w.last_pidf);
            bind_dialog(q, w.dialog.as_ref()).execute(pool).await?;
        }
        Op::PutWatcher(w) => {
            let q = sqlx::query(concat!(
                "INSERT OR REPLACE INTO watchers (call_id, watcher, target, expires_at, active, last_pidf, ",
                dialog_columns!(),
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(w.call_id)
            .bind(w.watcher)
            .bind(w.target)
            .bind(i64::try_from(w.expires_at).unwrap_or(i64::MAX))
            .bind(i64::from(w.active))
            .bind(w.last_pidf);
            bind_dialog(q, Some(&w.dialog)).execute(pool).await?;
        }
        Op::DeleteWatch(call_id) => {
            sqlx::query("DELETE FROM watches WHERE call_id = ?")
                .bind(call_id)
                .execute(pool)
                .await?;
        }
        Op::DeleteWatcher(call_id) => {
            sqlx::query("DELETE FROM watchers WHERE call_id = ?")
                .bind(call_id)
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn dialog(call_id: &str) -> Dialog {
        Dialog {
            id: DialogId {
                call_id: call_id.into(),
                local_tag: "l1".into(),
                remote_tag: "r1".into(),
            },
            local_uri: "sip:juliet@xmpp.example".into(),
            remote_uri: "sip:bob@sip.example.net".into(),
            remote_target: "sip:bob@127.0.0.1:5062".into(),
            route_set: vec!["<sip:p1.example;lr>".into(), "<sip:p2.example;lr>".into()],
            local_seq: 7,
            remote_seq: Some(3),
        }
    }

    fn watcher(call_id: &str) -> WatcherRow {
        WatcherRow {
            call_id: call_id.into(),
            watcher: "bob@sip.example.net".into(),
            target: "juliet@xmpp.example".into(),
            expires_at: 1_900_000_000,
            active: true,
            last_pidf: Some("<presence/>".into()),
            dialog: dialog(call_id),
        }
    }

    async fn reopen(dir: &Path) -> (Store, StoreTask, Loaded, Opened) {
        Store::open(dir, |_| {}).await
    }

    #[tokio::test]
    async fn rows_written_are_loaded_after_reopen_in_both_directions() {
        let dir = tempfile::tempdir().unwrap();
        let (store, task, loaded, opened) = reopen(dir.path()).await;
        assert_eq!(opened, Opened::Persistent);
        assert!(loaded.watches.is_empty() && loaded.watchers.is_empty());
        let watch = WatchRow {
            call_id: "c1".into(),
            watcher: "juliet@xmpp.example".into(),
            contact: "bob@sip.example.net".into(),
            expires_at: 1_900_000_000,
            last_pidf: None,
            dialog: Some(dialog("c1")),
        };
        store.put_watch(watch.clone());
        store.put_watch(WatchRow {
            call_id: "c2".into(),
            dialog: None,
            ..watch.clone()
        });
        store.delete_watch("c2");
        store.put_watcher(watcher("c3"));
        store.put_watcher(watcher("c4"));
        store.delete_watcher("c4");
        task.close(&store).await;

        let (_store, _task, loaded, opened) = reopen(dir.path()).await;
        assert_eq!(opened, Opened::Persistent);
        assert_eq!(loaded.watches, vec![watch]);
        assert_eq!(loaded.watchers, vec![watcher("c3")]);
    }

    #[tokio::test]
    async fn a_corrupt_file_is_moved_aside_and_a_fresh_store_made() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        std::fs::write(
            &file,
            b"this is not a database, it is a text file of some length ....",
        )
        .unwrap();
        let (store, task, loaded, opened) = reopen(dir.path()).await;
        let Opened::Recreated { moved_to } = opened else {
            panic!("expected Recreated, got {opened:?}");
        };
        assert!(
            std::fs::read(&moved_to)
                .unwrap()
                .starts_with(b"this is not a database")
        );
        assert!(loaded.watchers.is_empty());
        assert!(store.is_persistent());
        store.put_watcher(watcher("c9"));
        task.close(&store).await;
        let (_s, _t, loaded, _) = reopen(dir.path()).await;
        assert_eq!(loaded.watchers.len(), 1);
    }

    #[tokio::test]
    async fn an_unwritable_path_runs_without_persistence() {
        let dir = tempfile::tempdir().unwrap();
        // store.path names a regular file: no directory can be made there.
        let path = dir.path().join("plain-file");
        std::fs::write(&path, b"x").unwrap();
        let (store, _task, loaded, opened) = reopen(&path).await;
        assert_eq!(opened, Opened::MemoryOnly);
        assert!(!store.is_persistent());
        assert!(loaded.watches.is_empty());
    }

    #[tokio::test]
    async fn a_schema_from_a_newer_parley_is_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let (store, task, _, _) = reopen(dir.path()).await;
        task.close(&store).await;
        let file = dir.path().join(FILE_NAME);
        let pool = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&file))
            .await
            .unwrap();
        sqlx::raw_sql("PRAGMA user_version = 99")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let (store, _task, _, opened) = reopen(dir.path()).await;
        assert_eq!(opened, Opened::MemoryOnly);
        assert!(!store.is_persistent());
        assert!(
            file.exists(),
            "the newer store must not be moved or deleted"
        );
    }
}

//! The embedded engine: `<store.path>/parley.sqlite3`, one process. A file
//! that is not a database is moved aside and a fresh one made; a directory
//! that cannot be made or a newer schema leaves the gateway without
//! persistence. Never fails the start.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::mpsc;
use tracing::error;

use super::db::Db;
use super::{FILE_NAME, Loaded, Opened, Store, StoreError, StoreTask, lease, schema, writer};

pub(super) async fn open(
    dir: &Path,
    instance: String,
    lease: Duration,
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
    let db = Db::Sqlite(pool);
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let loaded = match lease::register(&db, &instance, lease_ms).await {
        Ok(()) => lease::claim(&db, &instance, None, true).await,
        Err(e) => Err(e),
    };
    let loaded = loaded.unwrap_or_else(|e| {
        error!(error = %e, "STORE UNREADABLE: starting with empty state");
        Loaded::default()
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let (store, events) = Store::new(Some(tx), Some(db.clone()), instance.clone(), lease);
    let writer = tokio::spawn(writer::write_loop(db, instance, rx, events, on_error));
    let task = StoreTask {
        writer: Some(writer),
        ..StoreTask::idle()
    };
    (store, task, loaded, opened)
}

fn aside_name(file: &Path) -> PathBuf {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    PathBuf::from(format!("{}.corrupt-{stamp}", file.display()))
}

pub(super) async fn open_pool(dir: &Path, file: &Path) -> Result<SqlitePool, StoreError> {
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
    if let Err(e) = schema::migrate_sqlite(&pool).await {
        pool.close().await;
        return Err(e);
    }
    Ok(pool)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::{Settings, WatcherRow};
    use super::*;
    use parley_sip::dialog::{Dialog, DialogId};

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
        Store::open(&Settings::embedded(dir), |_| {}).await
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
}

//! Where the registrar's users come from (`registrar.users`): the users file,
//! re-read when it changes, or the store's `sip_users`, every instance seeing
//! the same users.
//!
//! Neither makes a SIP request wait on a disk or a database:
//! - the file's mtime and length are looked at on a lookup at most once a
//!   second ([`FILE_CHECK`]); a changed file is read again, and one that became
//!   unreadable or invalid keeps the last good users (logged once, with the
//!   line, as `check-config` says it);
//! - the store's table is read whole into memory by the registrar's poller
//!   (`persist.rs`) every [`crate::registrar::persist::POLL`]; lookups read
//!   that copy. A copy older than [`STORE_STALE`] (the database out of reach
//!   for that long) is no answer: REGISTER then gets 503 (see
//!   [`Users::retry_after`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tracing::{error, info, warn};

use parley_sip::auth::server::UserHashes;

use crate::store::{MAX_USERS, Store, StoreError};
use crate::users_file::{UsersError, UsersFile};

/// The users file is looked at no more often than this.
pub(crate) const FILE_CHECK: Duration = Duration::from_secs(1);

/// A copy of `sip_users` older than this is not used: REGISTER gets 503.
pub(crate) const STORE_STALE: Duration = Duration::from_secs(10);

/// The Retry-After of that 503, seconds: about when the poller will have
/// tried a few more times.
pub(crate) const RETRY_AFTER_SECS: u32 = 5;

/// The registrar's users.
pub(crate) struct Users {
    source: Source,
}

enum Source {
    File(Mutex<FileUsers>),
    Store(Arc<StoreUsers>),
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::File(_) => write!(f, "Users(file, {})", self.len()),
            Source::Store(_) => write!(f, "Users(store, {})", self.len()),
        }
    }
}

/// What identifies a version of the file without reading it.
type Stamp = (Option<SystemTime>, u64);

struct FileUsers {
    path: PathBuf,
    users: UsersFile,
    /// The file as last read (or last found bad).
    seen: Stamp,
    checked: Instant,
}

/// The store's users as last read.
#[derive(Default)]
pub(crate) struct StoreUsers {
    copy: RwLock<StoreCopy>,
}

#[derive(Default)]
struct StoreCopy {
    users: HashMap<(String, String), UserHashes>,
    /// When the copy was last read whole; `None`: never.
    read_at: Option<Instant>,
    /// Whether the last refresh failed (to log an outage once).
    failing: bool,
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.modified().ok(), meta.len()))
}

impl Users {
    /// The users of the file at `path`, read now (an error stops the
    /// registrar: there is no last good version yet).
    pub(crate) fn file(path: &Path) -> Result<Users, UsersError> {
        let seen = stamp(path).map_err(|source| UsersError::Io {
            path: path.to_owned(),
            source,
        })?;
        let users = UsersFile::load(path)?;
        Ok(Users {
            source: Source::File(Mutex::new(FileUsers {
                path: path.to_owned(),
                users,
                seen,
                checked: Instant::now(),
            })),
        })
    }

    /// Users from the store, empty (and unavailable) until `StoreUsers::refresh`
    /// first succeeds.
    pub(crate) fn store() -> (Users, Arc<StoreUsers>) {
        let copy = Arc::new(StoreUsers::default());
        (
            Users {
                source: Source::Store(Arc::clone(&copy)),
            },
            copy,
        )
    }

    fn file_users(file: &Mutex<FileUsers>) -> MutexGuard<'_, FileUsers> {
        let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if now.duration_since(file.checked) >= FILE_CHECK {
            file.checked = now;
            file.reload_if_changed();
        }
        file
    }

    /// The hashes of `user` in `realm`.
    pub(crate) fn get(&self, user: &str, realm: &str) -> Option<UserHashes> {
        match &self.source {
            Source::File(file) => Self::file_users(file).users.get(user, realm).cloned(),
            Source::Store(store) => store
                .copy()
                .users
                .get(&(user.to_owned(), realm.to_owned()))
                .cloned(),
        }
    }

    /// Whether `user` has an entry in `realm`.
    pub(crate) fn contains(&self, user: &str, realm: &str) -> bool {
        self.get(user, realm).is_some()
    }

    /// How many users.
    pub(crate) fn len(&self) -> usize {
        match &self.source {
            Source::File(file) => Self::file_users(file).users.len(),
            Source::Store(store) => store.copy().users.len(),
        }
    }

    /// `Some(seconds)` when the users cannot be known now (the store's copy
    /// is missing or older than [`STORE_STALE`]): REGISTER is then answered
    /// 503 with this Retry-After. RFC 3261 §21.5.4: 503 is for a server
    /// "temporarily unable to process the request" that "MAY indicate when
    /// the client should retry the request in a Retry-After header field",
    /// and its client "SHOULD attempt to forward the request to an
    /// alternate server": with several instances, one that may still reach
    /// the database. 500 (§21.5.1) is for "an unexpected condition".
    pub(crate) fn retry_after(&self) -> Option<u32> {
        match &self.source {
            Source::File(_) => None,
            Source::Store(store) => {
                let fresh = store
                    .copy()
                    .read_at
                    .is_some_and(|at| at.elapsed() < STORE_STALE);
                (!fresh).then_some(RETRY_AFTER_SECS)
            }
        }
    }
}

impl FileUsers {
    fn reload_if_changed(&mut self) {
        let now = match stamp(&self.path) {
            Ok(s) => s,
            Err(e) => {
                // Gone or unreadable: keep what we have, say so once.
                let gone = (None, u64::MAX);
                if self.seen != gone {
                    self.seen = gone;
                    error!(path = %self.path.display(), error = %e,
                        "registrar: users file unreadable; keeping the {} users read before", self.users.len());
                }
                return;
            }
        };
        if now == self.seen {
            return;
        }
        self.seen = now;
        match UsersFile::load(&self.path) {
            Ok(users) => {
                info!(path = %self.path.display(), users = users.len(), "registrar: users file read again");
                self.users = users;
            }
            Err(e) => {
                error!(kind = e.kind(), error = %e,
                    "registrar: users file invalid; keeping the {} users read before", self.users.len());
            }
        }
    }
}

impl StoreUsers {
    fn copy(&self) -> std::sync::RwLockReadGuard<'_, StoreCopy> {
        self.copy.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Read `sip_users` again, within `within`; on failure the old copy
    /// stays (until it is stale) and the error is returned.
    pub(crate) async fn refresh(&self, store: &Store, within: Duration) -> Result<(), StoreError> {
        let read = match tokio::time::timeout(within, store.sip_users()).await {
            Ok(read) => read,
            Err(_) => Err(StoreError::Timeout),
        };
        let mut copy = self.copy.write().unwrap_or_else(PoisonError::into_inner);
        match read {
            Ok(rows) => {
                if copy.failing {
                    info!(
                        users = rows.len(),
                        "registrar: the store's users are readable again"
                    );
                }
                if i64::try_from(rows.len()).is_ok_and(|n| n >= MAX_USERS) {
                    warn!(
                        limit = MAX_USERS,
                        "registrar: sip_users holds more users than are read"
                    );
                }
                copy.users = rows
                    .into_iter()
                    .map(|u| ((u.username, u.realm), u.hashes))
                    .collect();
                copy.read_at = Some(Instant::now());
                copy.failing = false;
                Ok(())
            }
            Err(e) => {
                if !copy.failing {
                    error!(kind = e.kind(), error = %e,
                        "registrar: cannot read the users from the store; REGISTER gets 503 once the last copy is {}s old",
                        STORE_STALE.as_secs());
                }
                copy.failing = true;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::users_file::add_user;

    #[tokio::test(start_paused = true)]
    async fn a_changed_users_file_is_read_again_and_a_broken_one_keeps_the_last_good_users() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        add_user(&path, "alice", "example.com", "a").unwrap();
        let users = Users::file(&path).unwrap();
        assert!(users.contains("alice", "example.com"));
        add_user(&path, "bob", "example.com", "b").unwrap();
        // Not looked at again within the second.
        assert!(!users.contains("bob", "example.com"));
        tokio::time::advance(FILE_CHECK).await;
        assert!(users.contains("bob", "example.com"));
        assert_eq!(users.len(), 2);

        std::fs::write(&path, "this line is not a user\n").unwrap();
        tokio::time::advance(FILE_CHECK).await;
        assert_eq!(users.len(), 2, "the last good users stay");
        std::fs::remove_file(&path).unwrap();
        tokio::time::advance(FILE_CHECK).await;
        assert!(users.contains("alice", "example.com"));
        add_user(&path, "carol", "example.com", "c").unwrap();
        tokio::time::advance(FILE_CHECK).await;
        assert!(users.contains("carol", "example.com"));
        assert!(!users.contains("alice", "example.com"));
        assert_eq!(users.retry_after(), None);
    }

    #[tokio::test]
    async fn store_users_are_unavailable_until_read_and_when_the_copy_is_stale() {
        let (users, copy) = Users::store();
        assert_eq!(users.retry_after(), Some(RETRY_AFTER_SECS));
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::store::Settings::embedded(dir.path());
        let admin = crate::store::Admin::open(&settings).await.unwrap();
        admin
            .put_user(&crate::store::SipUser {
                username: "alice".into(),
                realm: "example.com".into(),
                hashes: UserHashes::from_password("alice", "example.com", "a"),
            })
            .await
            .unwrap();
        let (store, task, _, _) = crate::store::Store::open(&settings, |_| {}).await;
        copy.refresh(&store, Duration::from_secs(2)).await.unwrap();
        assert_eq!(users.retry_after(), None);
        assert!(users.contains("alice", "example.com"));
        // The database goes away: the copy serves until it is stale.
        task.close(&store).await;
        assert!(copy.refresh(&store, Duration::from_secs(2)).await.is_err());
        assert!(users.contains("alice", "example.com"));
        copy.copy.write().unwrap().read_at = Some(Instant::now() - STORE_STALE);
        assert_eq!(users.retry_after(), Some(RETRY_AFTER_SECS));
        admin.close().await;
    }
}

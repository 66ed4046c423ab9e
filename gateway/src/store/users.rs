//! The registrar's users in the store (issue 22 item 4, `registrar.users =
//! "store"`): `sip_users` rows of digest H(A1) values, never a password, read
//! whole by each instance's registrar and written by `parley user` through an
//! [`Admin`] handle (no lease, no writer task: a command that runs and exits).

use std::time::{SystemTime, UNIX_EPOCH};

use parley_sip::auth::server::UserHashes;

use super::db::{Db, on_db, required_text};
use super::{Settings, Store, StoreError, postgres, sqlite};

/// One registrar user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUser {
    /// The digest username (the user part of the phone's AOR).
    pub username: String,
    /// The digest realm.
    pub realm: String,
    /// H(A1) for MD5 and SHA-256.
    pub hashes: UserHashes,
}

/// More rows than this in `sip_users` are not read (a bound on what one
/// refresh holds in memory); the excess is logged by the caller.
pub const MAX_USERS: i64 = 100_000;

const SELECT_USERS: &str =
    "SELECT username, realm, ha1_md5, ha1_sha256 FROM sip_users ORDER BY username, realm LIMIT $1";

async fn read_users(db: &Db) -> Result<Vec<SipUser>, sqlx::Error> {
    on_db!(db, pool => {
        let rows = sqlx::query(SELECT_USERS).bind(MAX_USERS).fetch_all(pool).await?;
        rows.iter()
            .map(|row| {
                Ok(SipUser {
                    username: required_text(row, "username")?,
                    realm: required_text(row, "realm")?,
                    hashes: UserHashes {
                        md5: required_text(row, "ha1_md5")?,
                        sha256: required_text(row, "ha1_sha256")?,
                    },
                })
            })
            .collect()
    })
}

impl Store {
    /// Every row of `sip_users` (at most [`MAX_USERS`]); an error without
    /// persistence (the users are not known, not absent). The caller bounds
    /// the wait.
    pub async fn sip_users(&self) -> Result<Vec<SipUser>, StoreError> {
        let Some(db) = &self.inner.db else {
            return Err(StoreError::MemoryOnly);
        };
        Ok(read_users(db).await?)
    }
}

/// The store opened for `parley user`: the same database and schema as the
/// gateway's (migrated if need be), without registering an instance.
#[derive(Debug)]
pub struct Admin {
    db: Db,
}

impl Admin {
    /// Open the store `settings` name: `<store.path>/parley.sqlite3` (made if
    /// absent) or PostgreSQL at `store.url`. Unlike the gateway, an unusable
    /// store is an error here, never moved aside or waited for.
    pub async fn open(settings: &Settings) -> Result<Admin, StoreError> {
        let db = if settings.url.is_embedded() {
            let file = settings.path.join(super::FILE_NAME);
            Db::Sqlite(sqlite::open_pool(&settings.path, &file).await?)
        } else {
            Db::Postgres(postgres::connect(settings.url.expose(), "parley user", 1).await?)
        };
        Ok(Admin { db })
    }

    /// Insert `user`, or replace the hashes of the same username and realm.
    pub async fn put_user(&self, user: &SipUser) -> Result<(), StoreError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        on_db!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO sip_users (username, realm, ha1_md5, ha1_sha256, changed_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (username, realm) DO UPDATE SET ha1_md5 = excluded.ha1_md5,
                     ha1_sha256 = excluded.ha1_sha256, changed_at = excluded.changed_at",
            )
            .bind(&user.username)
            .bind(&user.realm)
            .bind(&user.hashes.md5)
            .bind(&user.hashes.sha256)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Remove `username` in `realm`; whether there was such a user.
    pub async fn remove_user(&self, username: &str, realm: &str) -> Result<bool, StoreError> {
        let removed = on_db!(&self.db, pool => {
            sqlx::query("DELETE FROM sip_users WHERE username = $1 AND realm = $2")
                .bind(username)
                .bind(realm)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(removed > 0)
    }

    /// Every user (at most [`MAX_USERS`]), by username then realm.
    pub async fn users(&self) -> Result<Vec<SipUser>, StoreError> {
        Ok(read_users(&self.db).await?)
    }

    /// Close the connection.
    pub async fn close(self) {
        self.db.close().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn alice(password: &str) -> SipUser {
        SipUser {
            username: "alice".into(),
            realm: "example.com".into(),
            hashes: UserHashes::from_password("alice", "example.com", password),
        }
    }

    #[tokio::test]
    async fn users_put_by_admin_are_read_by_the_gateway_and_replaced_by_name_and_realm() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::embedded(dir.path());
        let admin = Admin::open(&settings).await.unwrap();
        admin.put_user(&alice("one")).await.unwrap();
        admin.put_user(&alice("two")).await.unwrap();
        assert_eq!(admin.users().await.unwrap(), vec![alice("two")]);
        let (store, task, _, _) = Store::open(&settings, |_| {}).await;
        assert_eq!(store.sip_users().await.unwrap(), vec![alice("two")]);
        assert!(admin.remove_user("alice", "example.com").await.unwrap());
        assert!(!admin.remove_user("alice", "example.com").await.unwrap());
        assert_eq!(store.sip_users().await.unwrap(), vec![]);
        admin.close().await;
        task.close(&store).await;
    }
}

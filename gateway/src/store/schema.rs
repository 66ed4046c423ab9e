//! The schema and its migrations, the same for both engines.
//!
//! Entry `n` of [`MIGRATIONS`] takes the schema from version `n` to `n + 1`.
//! Each is one SQL text both engines run, except where their DDL differs (an
//! integer type's name, an auto-increment key, a byte string's type), where
//! each engine has its own text. Never edit a released entry: add the next one.
//!
//! The version lives where each engine keeps such things: SQLite in
//! `PRAGMA user_version` (as since v1, so existing files migrate), PostgreSQL
//! in the one-row table `parley_schema`. On PostgreSQL the whole migration runs
//! in one transaction holding `pg_advisory_xact_lock`, so instances starting at
//! once on a fresh database migrate it once, the others waiting and then
//! finding it done.

use sqlx::{PgPool, SqlitePool};

use super::StoreError;

/// One step of the schema, in each engine's DDL.
struct Migration {
    sqlite: &'static str,
    postgres: &'static str,
}

/// v2's part both engines run as it is.
macro_rules! v2_portable {
    () => {
        "CREATE TABLE instances (
            id TEXT PRIMARY KEY,
            lease_until BIGINT NOT NULL,
            started_at BIGINT NOT NULL
        );
        ALTER TABLE watches ADD COLUMN owner TEXT;
        ALTER TABLE watchers ADD COLUMN owner TEXT;
        CREATE INDEX watches_owner ON watches (owner);
        CREATE INDEX watchers_owner ON watchers (owner);
        CREATE INDEX watches_pair ON watches (watcher, contact);
        CREATE INDEX watchers_pair ON watchers (watcher, target);
        CREATE INDEX handoff_owner ON handoff (owner, id);"
    };
}

const MIGRATIONS: &[Migration] = &[
    // v1: both directions of RFC 8048 subscriptions. SQLite's text is the one
    // released; PostgreSQL's integers are BIGINT (SQLite's INTEGER is 64-bit).
    Migration {
        sqlite: "CREATE TABLE watches (
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
        postgres: "CREATE TABLE watches (
        call_id TEXT PRIMARY KEY,
        watcher TEXT NOT NULL,
        contact TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        last_pidf TEXT,
        d_local_tag TEXT, d_remote_tag TEXT, d_local_uri TEXT, d_remote_uri TEXT,
        d_remote_target TEXT, d_route_set TEXT, d_local_seq BIGINT, d_remote_seq BIGINT
    );
    CREATE TABLE watchers (
        call_id TEXT PRIMARY KEY,
        watcher TEXT NOT NULL,
        target TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        active BIGINT NOT NULL,
        last_pidf TEXT,
        d_local_tag TEXT, d_remote_tag TEXT, d_local_uri TEXT, d_remote_uri TEXT,
        d_remote_target TEXT, d_route_set TEXT, d_local_seq BIGINT, d_remote_seq BIGINT
    );",
    },
    // v2: ownership (design §4a). One lease per instance, not per row (a
    // renewal is one write however many rows it owns); an owner per row (NULL:
    // claimable, as every row migrated from v1 is); work for an owner that
    // reached another instance.
    Migration {
        sqlite: concat!(
            "CREATE TABLE handoff (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                owner TEXT NOT NULL,
                payload BLOB NOT NULL,
                created_at BIGINT NOT NULL
            );",
            v2_portable!()
        ),
        postgres: concat!(
            "CREATE TABLE handoff (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                owner TEXT NOT NULL,
                payload BYTEA NOT NULL,
                created_at BIGINT NOT NULL
            );",
            v2_portable!()
        ),
    },
    // v3: the registrar's users (issue 22 item 4), when `registrar.users =
    // "store"`: digest H(A1) values only, never a password, as in the users
    // file. `changed_at` (seconds since the epoch) is for the operator.
    Migration {
        sqlite: V3,
        postgres: V3,
    },
    // v4: the registrar's bindings (RFC 3261 §10.3 step 7: contact, expiry,
    // Call-ID and CSeq), so that they survive a restart and, shared, another
    // instance routes to a phone registered through this one. The expiry is
    // absolute (seconds since the epoch); `owner` is the instance that wrote
    // the row last (the REGISTER that reached it is the newest word).
    Migration {
        sqlite: V4,
        postgres: V4,
    },
];

/// v4's text, the same on both engines.
const V4: &str = "CREATE TABLE registrar_bindings (
    aor TEXT NOT NULL,
    contact TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    call_id TEXT NOT NULL,
    cseq BIGINT NOT NULL,
    sip_instance TEXT,
    reg_id BIGINT,
    received TEXT,
    owner TEXT NOT NULL,
    PRIMARY KEY (aor, contact)
);
CREATE INDEX registrar_bindings_expires ON registrar_bindings (expires_at);";

/// v3's text, the same on both engines (SQLite reads BIGINT as INTEGER).
const V3: &str = "CREATE TABLE sip_users (
    username TEXT NOT NULL,
    realm TEXT NOT NULL,
    ha1_md5 TEXT NOT NULL,
    ha1_sha256 TEXT NOT NULL,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (username, realm)
);";

/// The newest schema this build knows.
pub(super) fn known() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Bring a SQLite file to [`known`], one transaction per step.
pub(super) async fn migrate_sqlite(pool: &SqlitePool) -> Result<(), StoreError> {
    let found: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(pool)
        .await?;
    if found > known() {
        return Err(StoreError::NewerSchema {
            found,
            known: known(),
        });
    }
    for (version, step) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(step.sqlite).execute(&mut *tx).await?;
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

/// The advisory lock's key: "parley" in ASCII, so it does not collide with
/// another application's lock on a shared server by accident.
const MIGRATION_LOCK: i64 = 0x7061_726c_6579;

/// Bring a PostgreSQL database to [`known`] in one transaction under an
/// advisory lock.
pub(super) async fn migrate_postgres(pool: &PgPool) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS parley_schema (version BIGINT NOT NULL)")
        .execute(&mut *tx)
        .await?;
    let found: Option<i64> = sqlx::query_scalar("SELECT version FROM parley_schema")
        .fetch_optional(&mut *tx)
        .await?;
    let found = match found {
        Some(v) => v,
        None => {
            sqlx::query("INSERT INTO parley_schema (version) VALUES (0)")
                .execute(&mut *tx)
                .await?;
            0
        }
    };
    if found > known() {
        return Err(StoreError::NewerSchema {
            found,
            known: known(),
        });
    }
    for step in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        sqlx::raw_sql(step.postgres).execute(&mut *tx).await?;
    }
    sqlx::query("UPDATE parley_schema SET version = $1")
        .bind(known())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

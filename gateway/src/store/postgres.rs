//! The shared engine: one PostgreSQL database for every instance.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::db::Db;
use super::{Loaded, StoreError, lease, schema};

/// Connect, migrate, register `instance` and claim what it owns.
pub(super) async fn open(
    url: &str,
    instance: &str,
    lease: Duration,
) -> Result<(sqlx::PgPool, Loaded), StoreError> {
    // The writer, the listener, the ownership calls and the registrar's
    // refresh; a fifth for overlap.
    let pool = connect(url, &format!("parley {instance}"), 5).await?;
    let opened = async {
        let db = Db::Postgres(pool.clone());
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        lease::register(&db, instance, lease_ms).await?;
        Ok::<_, StoreError>(lease::claim(&db, instance, None, true).await?)
    }
    .await;
    match opened {
        Ok(loaded) => Ok((pool, loaded)),
        Err(e) => {
            pool.close().await;
            Err(e)
        }
    }
}

/// A pool of `connections` on `url`, the schema migrated.
pub(super) async fn connect(
    url: &str,
    application: &str,
    connections: u32,
) -> Result<sqlx::PgPool, StoreError> {
    let options = url
        .parse::<PgConnectOptions>()?
        .application_name(application);
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?;
    if let Err(e) = schema::migrate_postgres(&pool).await {
        pool.close().await;
        return Err(e);
    }
    Ok(pool)
}

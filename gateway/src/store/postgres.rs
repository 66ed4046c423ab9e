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
    let options = url
        .parse::<PgConnectOptions>()?
        .application_name(&format!("parley {instance}"));
    // The writer, the listener and the ownership calls; a fourth for overlap.
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?;
    let opened = async {
        schema::migrate_postgres(&pool).await?;
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

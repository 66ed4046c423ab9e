//! The two engines behind one handle: SQLite (embedded) and PostgreSQL
//! (shared). Queries are written once in SQL both accept (`$N` parameters,
//! `ON CONFLICT … DO UPDATE … WHERE`, `RETURNING`); the few places where the
//! engines differ (the clock, row locks) are spelled by [`sql!`].

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{PgPool, Row, SqlitePool};

/// A pool on one of the two engines.
#[derive(Clone, Debug)]
pub(super) enum Db {
    /// `<store.path>/parley.sqlite3`: one process.
    Sqlite(SqlitePool),
    /// `store.url`: shared by every instance.
    Postgres(PgPool),
}

/// One statement in each engine's dialect (see [`sql!`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct Sql {
    pub(super) sqlite: &'static str,
    pub(super) postgres: &'static str,
}

/// Builds a [`Sql`] from string literals and these words:
/// - `NOW`: milliseconds since the epoch by the database's clock, so that
///   every instance judges leases by one clock, not by its own;
/// - `LOCK` / `SKIP_LOCKED`: PostgreSQL's row locks (`FOR UPDATE`,
///   `FOR UPDATE SKIP LOCKED`); nothing on SQLite, which has one writer.
macro_rules! sql {
    (@sqlite NOW) => { "CAST(unixepoch('subsec') * 1000 AS INTEGER)" };
    (@postgres NOW) => { "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)" };
    (@sqlite LOCK) => { "" };
    (@postgres LOCK) => { " FOR UPDATE" };
    (@sqlite SKIP_LOCKED) => { "" };
    (@postgres SKIP_LOCKED) => { " FOR UPDATE SKIP LOCKED" };
    (@$engine:ident $text:literal) => { $text };
    ($($part:tt)+) => {
        $crate::store::db::Sql {
            sqlite: concat!($(sql!(@sqlite $part)),+),
            postgres: concat!($(sql!(@postgres $part)),+),
        }
    };
}
pub(super) use sql;

/// Runs `$body` with `$pool` bound to the engine's pool (the body is compiled
/// once per engine) and `$sql` to the matching text of each [`Sql`] given.
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::db::Db::Sqlite($pool) => $body,
            $crate::store::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(super) use on_db;

impl Db {
    /// The text of `sql` for this engine.
    pub(super) fn text(&self, sql: &Sql) -> &'static str {
        match self {
            Db::Sqlite(_) => sql.sqlite,
            Db::Postgres(_) => sql.postgres,
        }
    }

    /// Whether this is the shared engine.
    pub(super) fn is_shared(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    pub(super) async fn close(&self) {
        on_db!(self, pool => pool.close().await);
    }
}

/// Reading a column the same way from either engine's row.
pub(super) trait Columns {
    /// A TEXT column (NULL → `None`).
    fn text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    /// An integer column (INTEGER on SQLite, BIGINT on PostgreSQL).
    fn int(&self, column: &str) -> Result<Option<i64>, sqlx::Error>;
    /// A BLOB / BYTEA column.
    fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error>;
}

macro_rules! impl_columns {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
                self.try_get(column)
            }
            fn int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
                self.try_get(column)
            }
            fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error> {
                self.try_get(column)
            }
        }
    };
}
impl_columns!(SqliteRow);
impl_columns!(PgRow);

/// A NOT NULL TEXT column.
pub(super) fn required_text(row: &impl Columns, column: &str) -> Result<String, sqlx::Error> {
    row.text(column)?.ok_or_else(|| null_in(column))
}

/// A NOT NULL integer column.
pub(super) fn required_int(row: &impl Columns, column: &str) -> Result<i64, sqlx::Error> {
    row.int(column)?.ok_or_else(|| null_in(column))
}

fn null_in(column: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: "NULL in a NOT NULL column".into(),
    }
}

//! Ownership (design §4a): one lease per instance in `instances`, an owner
//! per row, and the moves between owners (claim, steal, hand-off, release).
//!
//! PostgreSQL tells an instance what others did to it with `NOTIFY` on its own
//! channel ([`channel`]); releases go to everyone on [`BROADCAST`]. Payloads are
//! lines: `handoff`, `lost <kind> <call_id>`, `released <instance>`. SQLite is
//! one process: it owns every row, and these moves only touch its own.

use std::collections::HashMap;

use sqlx::{PgConnection, Postgres, Transaction};

use super::db::{Columns, Db, on_db, required_text, sql};
use super::rows::{RowKind, WatchRow, WatcherRow};
use super::{Loaded, Owner, Renewal};

/// The channel every instance listens on for releases.
pub(super) const BROADCAST: &str = "parley";

/// The channel an instance listens on for what concerns it alone.
pub(super) fn channel(instance: &str) -> String {
    format!("parley:{instance}")
}

/// `NOTIFY` payloads stay below PostgreSQL's 8000-byte limit.
const PAYLOAD_LIMIT: usize = 7_000;

/// Longest an instance row is kept after its lease ran out; its rows stay
/// claimable either way (an owner without a live instance row is dead).
const FORGET_INSTANCE_MS: i64 = 3_600_000;

/// Register `me` with a lease of `lease_ms` from now (or renew it).
pub(super) async fn register(db: &Db, me: &str, lease_ms: i64) -> Result<(), sqlx::Error> {
    const REGISTER: super::db::Sql = sql!(
        "INSERT INTO instances (id, lease_until, started_at) VALUES ($1, " NOW " + $2, " NOW ")
        ON CONFLICT (id) DO UPDATE SET lease_until = excluded.lease_until"
    );
    on_db!(db, pool => {
        sqlx::query(db.text(&REGISTER)).bind(me).bind(lease_ms).execute(pool).await?;
    });
    Ok(())
}

/// Extend `me`'s lease to `lease_ms` from now; [`Renewal::Lapsed`] when it
/// had run out (or the row was gone) before this renewal.
pub(super) async fn renew(db: &Db, me: &str, lease_ms: i64) -> Result<Renewal, sqlx::Error> {
    const RENEW: super::db::Sql = sql!(
        "UPDATE instances SET lease_until = " NOW " + $2 WHERE id = $1 AND lease_until > " NOW
    );
    let renewed = on_db!(db, pool => {
        sqlx::query(db.text(&RENEW)).bind(me).bind(lease_ms).execute(pool).await?.rows_affected()
    });
    if renewed > 0 {
        return Ok(Renewal::Renewed);
    }
    register(db, me, lease_ms).await?;
    Ok(Renewal::Lapsed)
}

/// Set `me`'s lease to expired and tell everyone.
pub(super) async fn release(db: &Db, me: &str) -> Result<(), sqlx::Error> {
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE instances SET lease_until = 0 WHERE id = $1")
            .bind(me)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    if let Db::Postgres(pool) = db {
        notify(pool, BROADCAST, &format!("released {me}")).await?;
    }
    Ok(())
}

/// Claim for `me` the rows whose owner is not a live instance (and, with
/// `include_own`, those already marked as `me`'s), at most `limit` of each
/// table (`None`: all). Their previous owners are told `lost`, and the
/// hand-offs of dead owners move to `me`.
/// Rows read at once when an embedded store is loaded.
const LOAD_PAGE: i64 = 1024;

pub(super) async fn claim(
    db: &Db,
    me: &str,
    limit: Option<i64>,
    include_own: bool,
) -> Result<Loaded, sqlx::Error> {
    match db {
        Db::Sqlite(pool) => {
            // One file, one instance: every row is this one's.
            if !include_own {
                return Ok(Loaded::default());
            }
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE watches SET owner = $1")
                .bind(me)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE watchers SET owner = $1")
                .bind(me)
                .execute(&mut *tx)
                .await?;
            // A page of rows at a time: sqlx keeps a copy of every value of
            // the rows it returns, and all of a large store at once (121 MB
            // for 100 000 watches, heaptrack) stayed with the allocator after
            // the load (issue 24).
            let mut loaded = Loaded::default();
            let mut after = String::new();
            loop {
                let page = sqlx::query(
                    "SELECT * FROM watches WHERE call_id > $1 ORDER BY call_id LIMIT $2",
                )
                .bind(&after)
                .bind(LOAD_PAGE)
                .fetch_all(&mut *tx)
                .await?;
                for row in &page {
                    loaded.watches.push(WatchRow::from_row(row)?);
                }
                match loaded.watches.last() {
                    Some(last) if i64::try_from(page.len()) == Ok(LOAD_PAGE) => {
                        after.clone_from(&last.call_id)
                    }
                    _ => break,
                }
            }
            after.clear();
            loop {
                let page = sqlx::query(
                    "SELECT * FROM watchers WHERE call_id > $1 ORDER BY call_id LIMIT $2",
                )
                .bind(&after)
                .bind(LOAD_PAGE)
                .fetch_all(&mut *tx)
                .await?;
                let mut last = None;
                for row in &page {
                    last = Some(required_text(row, "call_id")?);
                    loaded.watchers.extend(WatcherRow::from_row(row)?);
                }
                match last {
                    Some(last) if i64::try_from(page.len()) == Ok(LOAD_PAGE) => after = last,
                    _ => break,
                }
            }
            tx.commit().await?;
            Ok(loaded)
        }
        Db::Postgres(pool) => claim_postgres(pool, me, limit, include_own).await,
    }
}

async fn claim_postgres(
    pool: &sqlx::PgPool,
    me: &str,
    limit: Option<i64>,
    include_own: bool,
) -> Result<Loaded, sqlx::Error> {
    /// `$1` me, `$2` the limit (NULL: none), `$3` whether `me`'s own rows count.
    macro_rules! claim_sql {
        ($table:literal) => {
            concat!(
                "WITH picked AS (
                    SELECT t.call_id, t.owner AS previous FROM ", $table, " t
                    WHERE t.owner IS NULL
                       OR ($3 AND t.owner = $1)
                       OR (t.owner <> $1 AND NOT EXISTS (
                            SELECT 1 FROM instances i
                            WHERE i.id = t.owner
                              AND i.lease_until > CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)))
                    LIMIT $2
                    FOR UPDATE OF t SKIP LOCKED)
                UPDATE ", $table, " SET owner = $1 FROM picked
                WHERE ", $table, ".call_id = picked.call_id
                RETURNING ", $table, ".*, picked.previous"
            )
        };
    }
    let mut tx = pool.begin().await?;
    let mut loaded = Loaded::default();
    let mut lost: HashMap<String, Vec<(RowKind, String)>> = HashMap::new();
    let mut note = |row: &sqlx::postgres::PgRow, kind: RowKind| -> Result<(), sqlx::Error> {
        if let Some(previous) = row.text("previous")?
            && previous != me
        {
            lost.entry(previous)
                .or_default()
                .push((kind, required_text(row, "call_id")?));
        }
        Ok(())
    };
    for row in sqlx::query(claim_sql!("watches"))
        .bind(me)
        .bind(limit)
        .bind(include_own)
        .fetch_all(&mut *tx)
        .await?
    {
        note(&row, RowKind::Watch)?;
        loaded.watches.push(WatchRow::from_row(&row)?);
    }
    for row in sqlx::query(claim_sql!("watchers"))
        .bind(me)
        .bind(limit)
        .bind(include_own)
        .fetch_all(&mut *tx)
        .await?
    {
        note(&row, RowKind::Watcher)?;
        loaded.watchers.extend(WatcherRow::from_row(&row)?);
    }
    // The dead owners' waiting work comes along.
    let moved = sqlx::query(
        "UPDATE handoff SET owner = $1 WHERE owner <> $1 AND NOT EXISTS (
            SELECT 1 FROM instances i WHERE i.id = handoff.owner
              AND i.lease_until > CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT))",
    )
    .bind(me)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(
        "DELETE FROM instances WHERE id <> $1
           AND lease_until < CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) - $2",
    )
    .bind(me)
    .bind(FORGET_INSTANCE_MS)
    .execute(&mut *tx)
    .await?;
    for (previous, rows) in lost {
        let lines = rows
            .into_iter()
            .map(|(kind, call_id)| format!("lost {} {call_id}", kind.as_str()));
        notify_lines(&mut tx, &channel(&previous), lines).await?;
    }
    if moved > 0 {
        notify(&mut *tx, &channel(me), "handoff").await?;
    }
    tx.commit().await?;
    Ok(loaded)
}

/// A stored subscription of either table, for [`steal`].
pub(super) trait Stealable: Sized {
    /// Its table.
    const KIND: RowKind;
    /// Its owner, locked for the transaction.
    const OWNER: super::db::Sql;
    /// The row given to `$2`, returned.
    const TAKE: &'static str;
    /// The row read back; `None` for one that is skipped (see the row types).
    fn read(row: &impl Columns) -> Result<Option<Self>, sqlx::Error>;
}

impl Stealable for WatchRow {
    const KIND: RowKind = RowKind::Watch;
    const OWNER: super::db::Sql = sql!("SELECT owner FROM watches WHERE call_id = $1" LOCK);
    const TAKE: &'static str = "UPDATE watches SET owner = $2 WHERE call_id = $1 RETURNING *";
    fn read(row: &impl Columns) -> Result<Option<Self>, sqlx::Error> {
        WatchRow::from_row(row).map(Some)
    }
}

impl Stealable for WatcherRow {
    const KIND: RowKind = RowKind::Watcher;
    const OWNER: super::db::Sql = sql!("SELECT owner FROM watchers WHERE call_id = $1" LOCK);
    const TAKE: &'static str = "UPDATE watchers SET owner = $2 WHERE call_id = $1 RETURNING *";
    fn read(row: &impl Columns) -> Result<Option<Self>, sqlx::Error> {
        WatcherRow::from_row(row)
    }
}

/// Take the row `call_id` of `R`'s table over whoever owns it; its
/// previous owner, when another instance, is told `lost`.
pub(super) async fn steal<R: Stealable>(
    db: &Db,
    me: &str,
    call_id: &str,
) -> Result<Option<(R, Option<String>)>, sqlx::Error> {
    let stolen = on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let previous: Option<Option<String>> = sqlx::query_scalar(db.text(&R::OWNER))
            .bind(call_id)
            .fetch_optional(&mut *tx)
            .await?;
        let row = sqlx::query(R::TAKE)
            .bind(call_id)
            .bind(me)
            .fetch_optional(&mut *tx)
            .await?;
        let row = match row {
            Some(r) => R::read(&r)?,
            None => None,
        };
        tx.commit().await?;
        row.map(|row| (row, previous.flatten().filter(|p| p != me)))
    });
    if let (Some((_, Some(previous))), Db::Postgres(pool)) = (&stolen, db) {
        let lost = format!("lost {} {call_id}", R::KIND.as_str());
        notify(pool, &channel(previous), &lost).await?;
    }
    Ok(stolen)
}

/// Who owns the subscription of the pair (`a`, `b`): (watcher, contact) in
/// `watches`, (watcher, target) in `watchers`. A live owner is preferred when
/// the pair has more than one row.
pub(super) async fn owner_of(
    db: &Db,
    kind: RowKind,
    a: &str,
    b: &str,
) -> Result<Option<Owner>, sqlx::Error> {
    macro_rules! owner_sql {
        ($table:literal, $second:literal) => {
            sql!(
                "SELECT t.call_id, t.owner, CAST(CASE WHEN i.lease_until > " NOW " THEN 1 ELSE 0 END AS BIGINT) AS live
                FROM " $table " t LEFT JOIN instances i ON i.id = t.owner
                WHERE t.watcher = $1 AND t." $second " = $2
                ORDER BY live DESC LIMIT 1"
            )
        };
    }
    const WATCH: super::db::Sql = owner_sql!("watches", "contact");
    const WATCHER: super::db::Sql = owner_sql!("watchers", "target");
    let sql = db.text(match kind {
        RowKind::Watch => &WATCH,
        RowKind::Watcher => &WATCHER,
    });
    on_db!(db, pool => {
        let row = sqlx::query(sql).bind(a).bind(b).fetch_optional(pool).await?;
        row.map(|row| {
            Ok(Owner {
                id: row.text("owner")?,
                live: row.int("live")?.unwrap_or(0) != 0,
                call_id: row.text("call_id")?.unwrap_or_default(),
            })
        })
        .transpose()
    })
}

/// Queue `payload` for `owner` and tell it.
pub(super) async fn hand_off(db: &Db, owner: &str, payload: Vec<u8>) -> Result<(), sqlx::Error> {
    const INSERT: super::db::Sql =
        sql!("INSERT INTO handoff (owner, payload, created_at) VALUES ($1, $2, " NOW ")");
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(db.text(&INSERT)).bind(owner).bind(payload).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    if let Db::Postgres(pool) = db {
        notify(pool, &channel(owner), "handoff").await?;
    }
    Ok(())
}

/// At most this many hand-offs are taken by one call.
pub(super) const HANDOFF_BATCH: i64 = 1024;

/// Remove and return `me`'s waiting hand-offs, oldest first.
pub(super) async fn take_handoffs(db: &Db, me: &str) -> Result<Vec<Vec<u8>>, sqlx::Error> {
    const TAKE: super::db::Sql = sql!(
        "DELETE FROM handoff WHERE id IN (
            SELECT id FROM handoff WHERE owner = $1 ORDER BY id LIMIT $2" SKIP_LOCKED ")
        RETURNING id, payload"
    );
    let mut taken: Vec<(i64, Vec<u8>)> = on_db!(db, pool => {
        let rows = sqlx::query(db.text(&TAKE)).bind(me).bind(HANDOFF_BATCH).fetch_all(pool).await?;
        rows.iter()
            .map(|r| Ok((super::db::required_int(r, "id")?, r.bytes("payload")?)))
            .collect::<Result<_, sqlx::Error>>()?
    });
    taken.sort_by_key(|(id, _)| *id);
    Ok(taken.into_iter().map(|(_, payload)| payload).collect())
}

async fn notify(
    conn: impl sqlx::Executor<'_, Database = Postgres>,
    channel: &str,
    payload: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(conn)
        .await?;
    Ok(())
}

/// `lines` in as few notifications as fit [`PAYLOAD_LIMIT`].
async fn notify_lines(
    tx: &mut Transaction<'_, Postgres>,
    channel: &str,
    lines: impl Iterator<Item = String>,
) -> Result<(), sqlx::Error> {
    let mut payload = String::new();
    for line in lines {
        if !payload.is_empty() && payload.len() + line.len() + 1 > PAYLOAD_LIMIT {
            notify(&mut **tx as &mut PgConnection, channel, &payload).await?;
            payload.clear();
        }
        if !payload.is_empty() {
            payload.push('\n');
        }
        payload.push_str(&line);
    }
    if !payload.is_empty() {
        notify(&mut **tx as &mut PgConnection, channel, &payload).await?;
    }
    Ok(())
}

//! Write-behind: the router's writes, in the order it makes them, applied by
//! one task so that the router never waits on the database.
//!
//! What is queued when the task wakes is applied in one transaction (one
//! commit for a burst instead of one per row). Every write is fenced: it
//! changes a row only where this instance is its owner (a new row becomes
//! its); one that finds another owner changes nothing and is reported as
//! [`StoreEvent::Lost`]. A batch the database refuses is tried again a few
//! times (it rolled back whole, and every write in it is idempotent) before it
//! is dropped and counted.

use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::StoreEvent;
use super::bindings::{BindingRow, PUT_BINDING};
use super::db::{Db, on_db};
use super::rows::{
    PUT_WATCH, PUT_WATCHER, REFRESH_WATCH, RowKind, WatchRow, WatcherRow, dialog_columns,
    unix_column,
};

/// One queued write. The rows are boxed: the queue holds every write the
/// database has not taken yet (after a restart, one per refreshed
/// subscription), each in a slot of the largest variant's size.
pub(super) enum Op {
    Flush(tokio::sync::oneshot::Sender<()>),
    PutWatch(Box<WatchRow>),
    /// A watch refreshed in its dialog: only its expiry and the CSeq of our
    /// last request in the dialog moved (`Store::refresh_watch`).
    RefreshWatch {
        call_id: Box<str>,
        expires_at: u64,
        local_seq: u32,
    },
    DeleteWatch(String),
    PutWatcher(Box<WatcherRow>),
    DeleteWatcher(String),
    PutBinding(Box<BindingRow>),
    DeleteBinding {
        aor: String,
        contact: String,
    },
    DeleteBindings(String),
    /// Delete bindings that ended by then (seconds since the epoch).
    ReapBindings(u64),
}

/// At most this many writes share a transaction.
const BATCH: usize = 512;
/// Tries of a batch the database refused.
const TRIES: u32 = 5;
/// The wait before the second try, doubling after.
const FIRST_RETRY: Duration = Duration::from_millis(100);

pub(super) async fn write_loop(
    db: Db,
    instance: String,
    mut rx: mpsc::UnboundedReceiver<Op>,
    events: mpsc::Sender<StoreEvent>,
    on_error: impl Fn(&'static str) + Send + 'static,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        if rx.recv_many(&mut batch, BATCH).await == 0 {
            return;
        }
        let mut flushed = Vec::new();
        let writes: Vec<Op> = batch
            .drain(..)
            .filter_map(|op| match op {
                Op::Flush(done) => {
                    flushed.push(done);
                    None
                }
                op => Some(op),
            })
            .collect();
        if !writes.is_empty() {
            let mut delay = FIRST_RETRY;
            for attempt in 1..=TRIES {
                match apply(&db, &instance, &writes).await {
                    Ok(lost) => {
                        for Fenced {
                            kind,
                            call_id,
                            gone,
                        } in lost
                        {
                            if gone {
                                // Deleted meanwhile (unsubscribed, ended, or
                                // taken and ended by another instance).
                                info!(kind = kind.as_str(), %call_id, "store write found the subscription no longer stored: not brought back");
                            } else {
                                warn!(kind = kind.as_str(), %call_id, "store write fenced: another instance owns this subscription");
                            }
                            // Fails only when nobody listens any more.
                            let _ = events.send(StoreEvent::Lost { kind, call_id }).await;
                        }
                        break;
                    }
                    Err(e) => {
                        on_error("store_write");
                        if attempt == TRIES {
                            error!(error = %e, writes = writes.len(), "store write failed; these writes are lost");
                        } else {
                            warn!(error = %e, attempt, "store write failed; trying again");
                            tokio::time::sleep(delay).await;
                            delay *= 2;
                        }
                    }
                }
            }
        }
        // Every write queued before the flush was applied (or given up on).
        for done in flushed {
            let _ = done.send(());
        }
    }
}

/// A write that changed nothing: its row is another instance's, or gone.
struct Fenced {
    kind: RowKind,
    call_id: String,
    /// No such row any more (rather than one owned elsewhere).
    gone: bool,
}

/// Apply `writes` in one transaction; the rows they found owned by others
/// or gone.
async fn apply(db: &Db, me: &str, writes: &[Op]) -> Result<Vec<Fenced>, sqlx::Error> {
    let mut lost = Vec::new();
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        for op in writes {
            let (kind, call_id, changed) = match op {
                Op::Flush(_) => continue,
                // Bindings: the last write wins (`bindings.rs`), not fenced.
                Op::PutBinding(b) => {
                    sqlx::query(PUT_BINDING)
                        .bind(&b.aor)
                        .bind(&b.contact)
                        .bind(unix_column(b.expires_at))
                        .bind(&b.call_id)
                        .bind(i64::from(b.cseq))
                        .bind(&b.sip_instance)
                        .bind(b.reg_id.map(i64::from))
                        .bind(&b.received)
                        .bind(me)
                        .execute(&mut *tx)
                        .await?;
                    continue;
                }
                Op::DeleteBinding { aor, contact } => {
                    sqlx::query("DELETE FROM registrar_bindings WHERE aor = $1 AND contact = $2")
                        .bind(aor)
                        .bind(contact)
                        .execute(&mut *tx)
                        .await?;
                    continue;
                }
                Op::DeleteBindings(aor) => {
                    sqlx::query("DELETE FROM registrar_bindings WHERE aor = $1")
                        .bind(aor)
                        .execute(&mut *tx)
                        .await?;
                    continue;
                }
                Op::ReapBindings(now) => {
                    sqlx::query("DELETE FROM registrar_bindings WHERE expires_at <= $1")
                        .bind(unix_column(*now))
                        .execute(&mut *tx)
                        .await?;
                    continue;
                }
                Op::PutWatch(w) => {
                    let d = dialog_columns(w.dialog.as_ref());
                    let done = sqlx::query(PUT_WATCH)
                        .bind(&w.call_id)
                        .bind(&w.watcher)
                        .bind(&w.contact)
                        .bind(unix_column(w.expires_at))
                        .bind(&w.last_pidf)
                        .bind(d.0).bind(d.1).bind(d.2).bind(d.3).bind(d.4).bind(d.5).bind(d.6).bind(d.7)
                        .bind(me)
                        .execute(&mut *tx)
                        .await?;
                    (RowKind::Watch, w.call_id.as_str(), done.rows_affected())
                }
                // Fenced like the others; a row gone from the store is not
                // this instance's to bring back (it was deleted, or another
                // instance took it and deleted it): lost too.
                Op::RefreshWatch { call_id, expires_at, local_seq } => {
                    let done = sqlx::query(REFRESH_WATCH)
                        .bind(unix_column(*expires_at))
                        .bind(i64::from(*local_seq))
                        .bind(&**call_id)
                        .bind(me)
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() > 0 {
                        continue;
                    }
                    let gone = sqlx::query_scalar::<_, Option<String>>("SELECT owner FROM watches WHERE call_id = $1")
                        .bind(&**call_id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .is_none();
                    lost.push(Fenced { kind: RowKind::Watch, call_id: call_id.to_string(), gone });
                    continue;
                }
                Op::PutWatcher(w) => {
                    let d = dialog_columns(Some(&w.dialog));
                    let done = sqlx::query(PUT_WATCHER)
                        .bind(&w.call_id)
                        .bind(&w.watcher)
                        .bind(&w.target)
                        .bind(unix_column(w.expires_at))
                        .bind(i64::from(w.active))
                        .bind(&w.last_pidf)
                        .bind(d.0).bind(d.1).bind(d.2).bind(d.3).bind(d.4).bind(d.5).bind(d.6).bind(d.7)
                        .bind(me)
                        .execute(&mut *tx)
                        .await?;
                    (RowKind::Watcher, w.call_id.as_str(), done.rows_affected())
                }
                Op::DeleteWatch(call_id) => {
                    let done = sqlx::query("DELETE FROM watches WHERE call_id = $1 AND owner = $2")
                        .bind(call_id)
                        .bind(me)
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() > 0 {
                        continue;
                    }
                    // Gone already, or someone else's.
                    let other: Option<Option<String>> = sqlx::query_scalar("SELECT owner FROM watches WHERE call_id = $1")
                        .bind(call_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    (RowKind::Watch, call_id.as_str(), u64::from(other.is_none()))
                }
                Op::DeleteWatcher(call_id) => {
                    let done = sqlx::query("DELETE FROM watchers WHERE call_id = $1 AND owner = $2")
                        .bind(call_id)
                        .bind(me)
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() > 0 {
                        continue;
                    }
                    let other: Option<Option<String>> = sqlx::query_scalar("SELECT owner FROM watchers WHERE call_id = $1")
                        .bind(call_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    (RowKind::Watcher, call_id.as_str(), u64::from(other.is_none()))
                }
            };
            if changed == 0 {
                // An upsert changes nothing only where the row is there,
                // another's; a delete counts a row gone as done.
                lost.push(Fenced { kind, call_id: call_id.to_owned(), gone: false });
            }
        }
        tx.commit().await?;
    });
    Ok(lost)
}

#[cfg(test)]
mod tests {
    use super::Op;

    /// A queued write takes a slot of the largest variant's size in the
    /// queue, whatever it is: the rows are boxed so that the refresh burst
    /// after a restart (one write per subscription, queued faster than the
    /// database takes them) holds small slots.
    #[test]
    fn a_queued_write_takes_a_small_slot() {
        assert!(
            std::mem::size_of::<Op>() <= 56,
            "Op is {} bytes",
            std::mem::size_of::<Op>()
        );
    }
}

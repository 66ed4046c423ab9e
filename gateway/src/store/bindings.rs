//! The registrar's bindings in the store (issue 22 item 4): one row per
//! (address-of-record, contact), written through the writer task on every
//! change, read at start and, with PostgreSQL, by every instance's poller.
//!
//! Not fenced by ownership as subscriptions are: a binding is the phone's
//! latest word, wherever its REGISTER landed, so the last write wins and the
//! writer becomes the row's `owner`.

use super::db::{Columns, Db, on_db, required_int, required_text};
use super::rows::unix_column;
use super::writer::Op;
use super::{Store, StoreError};

/// One binding as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingRow {
    /// The address-of-record, `user@domain`.
    pub aor: String,
    /// The contact URI as the phone sent it, without `<>`.
    pub contact: String,
    /// When it ends, seconds since the epoch.
    pub expires_at: u64,
    /// RFC 3261 §10.3 step 7: the Call-ID and CSeq of the REGISTER that made it.
    pub call_id: String,
    /// Its CSeq number.
    pub cseq: u32,
    /// The Contact's `+sip.instance` (RFC 5626 §4.1) without its quotes, if any.
    pub sip_instance: Option<String>,
    /// The Contact's `reg-id` (RFC 5626 §4.2), if any.
    pub reg_id: Option<u32>,
    /// Where the REGISTER came from (`transport:address:port`), for the operator.
    pub received: Option<String>,
}

/// A stored binding and the instance that wrote it last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBinding {
    /// The binding.
    pub row: BindingRow,
    /// The instance that wrote it ([`Store::instance_id`] there).
    pub owner: String,
}

/// Insert a binding, or replace the one of the same AOR and contact.
pub(super) const PUT_BINDING: &str = "INSERT INTO registrar_bindings
    (aor, contact, expires_at, call_id, cseq, sip_instance, reg_id, received, owner)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (aor, contact) DO UPDATE SET expires_at = excluded.expires_at,
        call_id = excluded.call_id, cseq = excluded.cseq, sip_instance = excluded.sip_instance,
        reg_id = excluded.reg_id, received = excluded.received, owner = excluded.owner";

/// At most this many bindings are read at once (a bound on one poll).
pub const MAX_BINDINGS: i64 = 200_000;

impl BindingRow {
    fn from_row(row: &impl Columns) -> Result<StoredBinding, sqlx::Error> {
        Ok(StoredBinding {
            row: BindingRow {
                aor: required_text(row, "aor")?,
                contact: required_text(row, "contact")?,
                expires_at: u64::try_from(required_int(row, "expires_at")?).unwrap_or(0),
                call_id: required_text(row, "call_id")?,
                cseq: u32::try_from(required_int(row, "cseq")?).unwrap_or(0),
                sip_instance: row.text("sip_instance")?,
                reg_id: row.int("reg_id")?.and_then(|v| u32::try_from(v).ok()),
                received: row.text("received")?,
            },
            owner: required_text(row, "owner")?,
        })
    }
}

async fn read(db: &Db, now: u64) -> Result<Vec<StoredBinding>, sqlx::Error> {
    on_db!(db, pool => {
        let rows = sqlx::query(
            "SELECT aor, contact, expires_at, call_id, cseq, sip_instance, reg_id, received, owner
             FROM registrar_bindings WHERE expires_at > $1 ORDER BY aor, expires_at LIMIT $2",
        )
        .bind(unix_column(now))
        .bind(MAX_BINDINGS)
        .fetch_all(pool)
        .await?;
        rows.iter().map(BindingRow::from_row).collect()
    })
}

impl Store {
    /// Record (insert or replace) a binding; this instance becomes its owner.
    pub fn put_binding(&self, row: BindingRow) {
        self.send(Op::PutBinding(Box::new(row)));
    }

    /// Forget the binding of `contact` to `aor`.
    pub fn delete_binding(&self, aor: &str, contact: &str) {
        self.send(Op::DeleteBinding {
            aor: aor.to_owned(),
            contact: contact.to_owned(),
        });
    }

    /// Forget every binding of `aor` (`Contact: *`).
    pub fn delete_bindings(&self, aor: &str) {
        self.send(Op::DeleteBindings(aor.to_owned()));
    }

    /// Delete the bindings that ended by `now` (seconds since the epoch).
    pub fn reap_bindings(&self, now: u64) {
        self.send(Op::ReapBindings(now));
    }

    /// The bindings that have not ended by `now` (seconds since the epoch),
    /// at most [`MAX_BINDINGS`]; an error without persistence. The caller
    /// bounds the wait.
    pub async fn bindings(&self, now: u64) -> Result<Vec<StoredBinding>, StoreError> {
        let Some(db) = &self.inner.db else {
            return Err(StoreError::MemoryOnly);
        };
        Ok(read(db, now).await?)
    }
}

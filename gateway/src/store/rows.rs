//! The two tables' rows: how they are read from either engine and written.

use parley_sip::dialog::{Dialog, DialogId};

use super::db::{Columns, required_int, required_text};

/// An XMPP user's subscription to a SIP user (RFC 8048 §5.2), as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRow {
    /// The SUBSCRIBE dialog's Call-ID (the key).
    pub call_id: String,
    /// The XMPP user (bare JID).
    pub watcher: String,
    /// The SIP user as a JID at the component domain.
    pub contact: String,
    /// When the SIP subscription ends unless refreshed, seconds since the epoch.
    pub expires_at: u64,
    /// The last PIDF document a NOTIFY carried, to answer probes.
    pub last_pidf: Option<String>,
    /// The dialog, once a 2xx created it.
    pub dialog: Option<Dialog>,
}

/// A SIP user's subscription to an XMPP user (RFC 8048 §5.3), as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatcherRow {
    /// The SUBSCRIBE dialog's Call-ID (the key).
    pub call_id: String,
    /// The SIP user as a JID at the component domain.
    pub watcher: String,
    /// The XMPP user watched (bare JID).
    pub target: String,
    /// When the subscription ends unless the subscriber refreshes it.
    pub expires_at: u64,
    /// Whether the XMPP user approved it.
    pub active: bool,
    /// The last PIDF document sent.
    pub last_pidf: Option<String>,
    /// The dialog the SUBSCRIBE created.
    pub dialog: Dialog,
}

/// Which table a row is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowKind {
    /// `watches`: an XMPP user watches a SIP user ([`WatchRow`]).
    Watch,
    /// `watchers`: a SIP user watches an XMPP user ([`WatcherRow`]).
    Watcher,
}

impl RowKind {
    /// The word for it in notifications and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            RowKind::Watch => "watch",
            RowKind::Watcher => "watcher",
        }
    }

    pub(super) fn parse(word: &str) -> Option<RowKind> {
        match word {
            "watch" => Some(RowKind::Watch),
            "watcher" => Some(RowKind::Watcher),
            _ => None,
        }
    }
}

/// The dialog columns of both tables, in [`DialogColumns`] order.
macro_rules! dialog_columns {
    () => {
        "d_local_tag, d_remote_tag, d_local_uri, d_remote_uri, d_remote_target, d_route_set, d_local_seq, d_remote_seq"
    };
}

/// Insert a watch owned by `$14`, or update it where this instance owns it.
pub(super) const PUT_WATCH: &str = concat!(
    "INSERT INTO watches (call_id, watcher, contact, expires_at, last_pidf, ",
    dialog_columns!(),
    ", owner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    ON CONFLICT (call_id) DO UPDATE SET watcher = excluded.watcher, contact = excluded.contact,
        expires_at = excluded.expires_at, last_pidf = excluded.last_pidf,
        d_local_tag = excluded.d_local_tag, d_remote_tag = excluded.d_remote_tag,
        d_local_uri = excluded.d_local_uri, d_remote_uri = excluded.d_remote_uri,
        d_remote_target = excluded.d_remote_target, d_route_set = excluded.d_route_set,
        d_local_seq = excluded.d_local_seq, d_remote_seq = excluded.d_remote_seq
    WHERE watches.owner = excluded.owner"
);

/// Insert a watcher owned by `$15`, or update it where this instance owns it.
pub(super) const PUT_WATCHER: &str = concat!(
    "INSERT INTO watchers (call_id, watcher, target, expires_at, active, last_pidf, ",
    dialog_columns!(),
    ", owner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
    ON CONFLICT (call_id) DO UPDATE SET watcher = excluded.watcher, target = excluded.target,
        expires_at = excluded.expires_at, active = excluded.active, last_pidf = excluded.last_pidf,
        d_local_tag = excluded.d_local_tag, d_remote_tag = excluded.d_remote_tag,
        d_local_uri = excluded.d_local_uri, d_remote_uri = excluded.d_remote_uri,
        d_remote_target = excluded.d_remote_target, d_route_set = excluded.d_route_set,
        d_local_seq = excluded.d_local_seq, d_remote_seq = excluded.d_remote_seq
    WHERE watchers.owner = excluded.owner"
);

/// A refreshed watch's new expiry (`$1`) and local CSeq (`$2`), where this
/// instance (`$4`) owns the row `$3`.
pub(super) const REFRESH_WATCH: &str =
    "UPDATE watches SET expires_at = $1, d_local_seq = $2 WHERE call_id = $3 AND owner = $4";

impl WatchRow {
    pub(super) fn from_row(row: &impl Columns) -> Result<WatchRow, sqlx::Error> {
        let call_id = required_text(row, "call_id")?;
        Ok(WatchRow {
            dialog: dialog_from(row, call_id.clone())?,
            call_id,
            watcher: required_text(row, "watcher")?,
            contact: required_text(row, "contact")?,
            expires_at: u64::try_from(required_int(row, "expires_at")?).unwrap_or(0),
            last_pidf: row.text("last_pidf")?,
        })
    }
}

impl WatcherRow {
    /// `None` for a row without a dialog (never written so; skipped).
    pub(super) fn from_row(row: &impl Columns) -> Result<Option<WatcherRow>, sqlx::Error> {
        let call_id = required_text(row, "call_id")?;
        let Some(dialog) = dialog_from(row, call_id.clone())? else {
            return Ok(None);
        };
        Ok(Some(WatcherRow {
            call_id,
            watcher: required_text(row, "watcher")?,
            target: required_text(row, "target")?,
            expires_at: u64::try_from(required_int(row, "expires_at")?).unwrap_or(0),
            active: required_int(row, "active")? != 0,
            last_pidf: row.text("last_pidf")?,
            dialog,
        }))
    }
}

fn dialog_from(row: &impl Columns, call_id: String) -> Result<Option<Dialog>, sqlx::Error> {
    let Some(local_tag) = row.text("d_local_tag")? else {
        return Ok(None);
    };
    let route_set = row.text("d_route_set")?.unwrap_or_default();
    Ok(Some(Dialog {
        id: DialogId {
            call_id,
            local_tag,
            remote_tag: row.text("d_remote_tag")?.unwrap_or_default(),
        },
        local_uri: row.text("d_local_uri")?.unwrap_or_default(),
        remote_uri: row.text("d_remote_uri")?.unwrap_or_default(),
        remote_target: row.text("d_remote_target")?.unwrap_or_default(),
        route_set: route_set
            .lines()
            .map(str::to_owned)
            .filter(|r| !r.is_empty())
            .collect(),
        local_seq: u32::try_from(row.int("d_local_seq")?.unwrap_or(0)).unwrap_or(0),
        remote_seq: row.int("d_remote_seq")?.and_then(|s| u32::try_from(s).ok()),
    }))
}

/// The dialog columns, in the order of the `d_*` columns above.
pub(super) type DialogColumns = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

pub(super) fn dialog_columns(d: Option<&Dialog>) -> DialogColumns {
    match d {
        None => Default::default(),
        Some(d) => (
            Some(d.id.local_tag.clone()),
            Some(d.id.remote_tag.clone()),
            Some(d.local_uri.clone()),
            Some(d.remote_uri.clone()),
            Some(d.remote_target.clone()),
            Some(d.route_set.join("\n")),
            Some(i64::from(d.local_seq)),
            d.remote_seq.map(i64::from),
        ),
    }
}

/// Seconds since the epoch as the store's BIGINT.
pub(super) fn unix_column(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

//! Groupchat: XMPP multi-user chat (XEP-0045) ↔ SIP/MSRP conferences
//! (RFC 7702, RFC 7701), as pure pieces the gateway wires together.
//!
//! - [`conference_info`]: RFC 4575 `application/conference-info+xml`, read
//!   (bounded) and written (`conference_write.rs`).
//! - [`coherent_state`]: RFC 4575 §4.6, full and partial documents into one
//!   view; the partial document a notifier sends.
//! - [`muc`]: RFC 7702's tables: room addressing, occupants ↔ users, errors,
//!   message addressing.
//!
//! No I/O, no clock: ids and versions are arguments.

/// RFC 4575 §4.6: constructing coherent state from partial notifications.
pub mod coherent_state;
/// RFC 4575 §5 (with RFC 6501's `xcon:nickname`): the conference document.
pub mod conference_info;
/// RFC 4575 §5: writing the conference document.
mod conference_write;
/// RFC 7702 §5–§7, RFC 7247 §6–§7: MUC ↔ SIP/MSRP conference mappings.
pub mod muc;

pub use coherent_state::{Applied, ConferenceView, UserChange, partial_update, user_changes};
pub use conference_info::{ConferenceInfo, ConferenceInfoError, ConferenceLimits};

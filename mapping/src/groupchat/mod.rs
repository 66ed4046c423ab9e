//! Groupchat: XMPP multi-user chat (XEP-0045) ↔ SIP/MSRP conferences
//! (RFC 7702, RFC 7701), as pure pieces the gateway wires together.
//!
//! - [`conference_info`]: RFC 4575 `application/conference-info+xml`, read
//!   (bounded) and written (`conference_write.rs`).
//! - [`coherent_state`]: RFC 4575 §4.6, full and partial documents into one
//!   view; the partial document a notifier sends.
//! - [`room_address`]: rooms and nicknames on either side (RFC 7702 §5.1,
//!   §6.1, §7).
//! - [`occupant`] and [`roster`]: occupant presence ↔ conference users
//!   (RFC 7702 §5.4, §6.2).
//! - [`room_presence`]: the presence that enters, renames and leaves a room
//!   (RFC 7702 §5.1, §5.6, §5.8, §6.1, §6.4, §6.6).
//! - [`room_message`]: who a message is for (RFC 7702 §5.5, §6.3; RFC 7701
//!   §6.1, §6.2).
//! - [`invitation`]: a SIP user's REFER as a mediated invitation (RFC 7702
//!   §6.5, XEP-0045 §7.8.2).
//! - [`muc_error`]: MUC failures ↔ SIP and MSRP codes (RFC 7702 §5.6, §6.4;
//!   RFC 7701 §6.2, §7.1); the complete answers are in [`crate::error`].
//!
//! No I/O, no clock: ids and versions are arguments.

/// RFC 4575 §4.6: constructing coherent state from partial notifications.
pub mod coherent_state;
/// RFC 4575 §5 (with RFC 6501's `xcon:nickname`): the conference document.
pub mod conference_info;
/// RFC 4575 §5: writing the conference document.
mod conference_write;
/// RFC 7702 §6.5, XEP-0045 §7.8.2: a REFER as a mediated invitation.
pub mod invitation;
/// RFC 7702 §5.6, §6.4, RFC 7701 §6.2, §7.1: MUC failures ↔ SIP/MSRP codes.
pub mod muc_error;
/// RFC 7702 §5.4, §6.2: occupant presence ↔ conference-info users.
pub mod occupant;
/// RFC 7702 §5.1, §6.1, §7, RFC 7247 §6: rooms and nicknames.
pub mod room_address;
/// RFC 7702 §5.5, §6.3, RFC 7701 §6.1–§6.2: message addressing in a room.
pub mod room_message;
/// RFC 7702 §5.1, §5.6, §5.8, §6.1, §6.4, §6.6: entering, renaming, leaving.
pub mod room_presence;
/// RFC 7702 §5.4, §6.2: the room roster as presences and as a document.
pub mod roster;

pub use coherent_state::{Applied, ConferenceView, UserChange, partial_update, user_changes};
pub use conference_info::{ConferenceInfo, ConferenceInfoError, ConferenceLimits};
pub use muc_error::MsrpStatus;
pub use occupant::{MucAffiliation, MucRole, OccupantPresence};
pub use room_message::RoomRecipient;
pub use room_presence::RoomRequest;
pub use roster::{MucRoster, RosterEvent, change_presences, roster_presences, subject_message};

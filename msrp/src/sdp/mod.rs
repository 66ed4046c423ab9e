//! SDP offer/answer for MSRP chat sessions: RFC 8866 (SDP), RFC 3264
//! (offer/answer), RFC 4975 §8 (MSRP in SDP), RFC 4145 and RFC 6135
//! (`a=setup`, who connects), RFC 7573 §8 (`a=max-size`), RFC 7701 §8
//! (`a=chatroom`).
//!
//! Pure functions over parsed SDP: no I/O, no clock, no randomness; ids
//! (`o=` numbers, the MSRP session id) and limits are arguments.
//!
//! - Answerer (Parley as UAS): [`SessionDescription::parse`] the offer, then
//!   [`answer`] gives an [`Answer`] or a [`Refusal`] (488 + Warning).
//! - Offerer (Parley as UAC): [`offer`], then [`accept_answer`] gives the
//!   [`NegotiatedSession`] or an [`AnswerError`].
//!
//! What it does not do: relays of its own (a peer's relay path is kept
//! whole, RFC 4976), `a=fingerprint` checks (RFC 4975 §14.4), re-offers
//! that keep an existing session (RFC 4975 §8.4: each exchange is read as
//! new), `a=connection` (RFC 6135 §4.4: "MUST ignore it").

mod accept;
mod answer;
mod chatroom;
mod error;
/// The entry point of the `sdp` fuzz target and its corpus replay.
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod local;
mod media;
mod offer;
mod path;
mod session;
mod setup;

pub use accept::{FormatEntry, FormatList};
pub use answer::{Answer, answer};
pub use chatroom::Chatroom;
pub use error::{AnswerError, MediaError, ParseError, Refusal};
pub use local::{LocalEndpoint, NegotiatedSession};
pub use media::{ConnectionAddress, MediaLimits, MsrpMedia, Transport};
pub use offer::{accept_answer, offer};
pub use path::{MsrpUri, Path};
pub use session::{MediaLine, Origin, SessionDescription};
pub use setup::{Role, Setup, answer_setup, offer_setup, offerer_role, own_role};

//! Chat sessions for Parley: the Message Session Relay Protocol (RFC 4975)
//! and the SDP that sets its sessions up (RFC 4975 §8, RFC 6135, RFC 7573).
//!
//! Where it sits: between the TCP/TLS connections of MSRP sessions and the
//! gateway's `session/` handlers. Like `sip` and `xmpp` its core is sans-IO:
//! it parses and writes bytes, keeps per-session protocol state and reads no
//! clock. The sockets and time are [`endpoint`]'s, a tokio driver behind the
//! default feature `tokio` (`--no-default-features` leaves the core alone,
//! without tokio). It knows nothing about XMPP.
//!
//! What it does not do: relays (RFC 4976) beyond carrying their paths,
//! and media other than `message`.
//!
//! What a user of the crate meets:
//! - [`wire`]: [`wire::Frame`] (a request or response), [`wire::parse`] for
//!   one complete frame, [`wire::Decoder`] for a stream read in pieces,
//!   [`wire::Frame::write_to`] for the bytes.
//! - [`uri`]: MSRP URIs and the comparison rules of RFC 4975 §6.1.
//! - [`sdp`]: the SDP offer/answer that sets a session up (RFC 4975 §8,
//!   RFC 6135 `a=setup`, RFC 7573 §8 `a=max-size`), on `sdp-types`
//!   (chosen by measurement: `msrp/SDP-CRATES.md`).
//! - [`chunk`]: splitting a message into SEND chunks and reassembling
//!   received chunks within limits.
//! - [`session`]: one session's protocol state: checks on incoming
//!   requests, the responses and REPORTs they are owed, outgoing SENDs.
//! - With the `tokio` feature (default), [`endpoint`]: an `Endpoint` that
//!   listens on TCP and TLS (`msrps`), opens sessions active or passive
//!   (RFC 6135) as `SessionHandle`s (`send`, `next_event`, `close`, and
//!   `report_success`/`report_failure` when the application decides the
//!   REPORTs on received messages, RFC 7573 §7), binds
//!   them to connections as RFC 4975 §5.4 says (reuse, 481, 506), runs the
//!   §7.1.1 response timer and the connection timeouts, and counts in `Stats`.
//! - [`Error`] and its families, each with `kind()`; `StatusCode::from(&error)`
//!   is the one place that decides what status a peer hears.
//! - With the `fuzzing` feature, `fuzzing`: the entry points of `fuzz/`.
//!
//! One SEND, hop by hop: the driver reads bytes into a [`wire::Decoder`]
//! (one per connection); each decoded frame goes to the [`session::Session`]
//! its To-Path names (none: the driver answers 481 with
//! [`session::response`]); the session answers, reassembles and raises
//! [`session::Event::Message`]; what it owes the peer (responses, REPORTs,
//! chunks of our SENDs) comes out of `poll_transmit` as frames to write.

/// RFC 4975 §5.1, §7.1.1, §7.3.1, RFC 7573 §8: chunking and reassembly.
pub mod chunk;
/// RFC 4975 §5.4, §6, §7.1.1, §7.3, §14, RFC 6135: the tokio driver:
/// listeners, connections (TCP and TLS), sessions bound to them, timers.
#[cfg(feature = "tokio")]
pub mod endpoint;
/// The crate's errors and their MSRP status codes (RFC 4975 §10).
pub mod error;
/// Whole untrusted-input paths for fuzz targets and never-panic property tests.
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
/// RFC 4566/8866, RFC 3264, RFC 4975 §8, RFC 6135: SDP offer/answer for MSRP sessions.
pub mod sdp;
/// RFC 4975 §5.3, §7, RFC 7573 §7: per-session protocol state (sans-IO).
pub mod session;
/// RFC 4975 §10: MSRP status codes.
pub mod status;
/// RFC 4975 §6, §9: MSRP and MSRPS URIs.
pub mod uri;
/// RFC 4975 §7, §9: frames, their parser, incremental decoder and writer.
pub mod wire;

pub use error::{
    AnswerError, Error, FramingError, ParseError, ReassemblyError, ReportError, RequestError,
    SendError,
};
pub use status::StatusCode;

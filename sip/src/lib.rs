//! The SIP user agent side of Parley (RFC 3261): transports, transactions, dialogs.
//!
//! Where it sits: between the SIP network (phones, a carrier proxy) and the
//! gateway's router. It owns sockets, framing, parsing, transactions and
//! dialogs; it hands typed requests up with a responder and takes requests down
//! as async calls. It knows nothing about XMPP.
//!
//! What a user of the crate meets:
//! - [`Endpoint::bind`] with an [`EndpointConfig`] gives the [`Endpoint`] and
//!   a channel of [`IncomingRequest`]s, each answered through its
//!   [`Responder`]; [`Endpoint::send_request`] takes an [`OutgoingRequest`]
//!   and returns its final [`Response`] or a [`TransactionError`];
//!   [`Endpoint::send_invite`] returns an [`InviteClient`] for an INVITE's
//!   responses, CANCEL and ACK. A received CANCEL is answered by the
//!   endpoint (RFC 3261 §9.2); the INVITE's [`Responder::cancelled`] says so.
//! - [`dialog`] for SUBSCRIBE/NOTIFY dialogs and INVITE sessions
//!   ([`dialog::session`], with the RFC 4028 session timer), [`trust`] for trusted peers,
//!   [`Stats`] for the counters; [`wire`], [`framing`], [`transaction`] and
//!   [`auth`] are the sans-IO pieces tests and benches drive directly.
//! - With the `fuzzing` feature, `fuzzing`: the entry points of `fuzz/`.
//!
//! The protocol core (`wire`, `framing`, `transaction`) has no I/O and reads
//! no clock: time is passed in. The tokio driver (the endpoint, its
//! transports and DNS resolver) sits behind the default feature `tokio`.

/// RFC 3261 §22, RFC 7616, RFC 8760: HTTP digest authentication for SIP.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub mod auth;
// The sans-IO parts only the tokio endpoint drives are unused without it.
/// Endpoint configuration: listen addresses, limits, timers.
pub mod config;
/// RFC 3261 §12: dialogs for SUBSCRIBE/NOTIFY and INVITE sessions (sans-IO).
pub mod dialog;
/// RFC 3261 §18.3: Content-Length framing on stream transports.
pub mod framing;
/// Whole untrusted-input paths for fuzz targets and never-panic property tests.
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
/// RFC 3263 §4: locating SIP servers (NAPTR, SRV, A/AAAA), sans-IO.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) mod locate;
/// Design §5: requests per second per source address (token buckets, bounded table).
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub mod rate;
/// RFC 3261 §10.2: keeping one contact registered at a registrar (sans-IO).
pub mod register;
/// Plain counters read at scrape time.
pub mod stats;
/// RFC 3261 §17: client and server transactions, sans-IO.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub mod transaction;
/// RFC 3261 §26.1.1: trusted peers (`sip.trusted_peers`), CIDR ranges and TLS names.
pub mod trust;
/// RFC 3261 §7, §20: typed access over ezk-sip-types.
pub mod wire;

/// The user agent: binds transports, runs transactions, hands requests up (tokio).
#[cfg(feature = "tokio")]
mod endpoint;
/// The crate's error type.
mod error;
/// RFC 3263 §4: the DNS questions of `locate`, asked with hickory-resolver (tokio).
#[cfg(feature = "tokio")]
mod resolver;
/// RFC 3261 §18, §26: UDP, TCP and TLS transports (tokio).
#[cfg(feature = "tokio")]
mod transport;

pub use config::{DnsConfig, EndpointConfig, Limits, ListenAddr, Timers, Transport};
pub use error::{Error, TransactionError};
pub use stats::Stats;
pub use wire::status::StatusCode;

#[cfg(feature = "tokio")]
pub use endpoint::{
    Canceller, Endpoint, IncomingRequest, InviteClient, Location, Lookup, OnOutcome,
    OutgoingRequest, RequestView, Responder, Response, Scope, SendBatch,
};

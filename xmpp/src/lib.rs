//! The XMPP server-component side of Parley (XEP-0114).
//!
//! Where it sits: between the XMPP server's component port and the gateway's
//! router. It owns the TCP (or direct TLS) connection, the stream parser, the handshake, the
//! keepalive, reconnects and the outgoing queue; it hands typed stanzas up and
//! takes typed stanzas down. It knows nothing about SIP, and it does not
//! prepare or map addresses (that is `parley-mapping`'s job).
//!
//! What it offers:
//! - [`spawn`]`(`[`ComponentConfig`]`, shutdown)` starts the driver and returns a
//!   [`ComponentHandle`] (`try_send`, `send`, `is_connected`, `stats`,
//!   `closed`) and a channel of [`ComponentEvent`]s (behind the `tokio`
//!   feature, on by default).
//! - [`Stanza`] and the typed values in [`stanza`] (`Message`, `Presence`,
//!   `Iq`, `Element`, `StanzaError`), with `write_to`/`to_xml` and
//!   `error_reply`.
//! - [`stream::parse_bytes`]: the sans-IO stream parser over a byte slice.
//! - [`jid::bare`], [`jid::is_within`], [`service::NS_DISCO_INFO`].
//! - Errors: [`Error`], [`SendError`]; `fuzzing::*` behind the `fuzzing`
//!   feature.
//!
//! Inside, the sans-IO core (`stream`, `stanza`, `handshake`, `queue`,
//! `service`) knows no sockets; the tokio driver [`component`] runs it.

/// XEP-0114 §2 / RFC 6120 §4.9: the crate's errors and stream error conditions.
pub(crate) mod error;
/// XEP-0114 §2: the handshake hash.
#[cfg_attr(
    not(feature = "tokio"),
    allow(dead_code, reason = "only the tokio driver uses it")
)]
pub(crate) mod handshake;
/// RFC 7622 §3: splitting JIDs.
pub mod jid;
/// XEP-0114 §2: outgoing-stanza rules and the retry slot.
#[cfg_attr(
    not(feature = "tokio"),
    allow(dead_code, reason = "only the tokio driver uses it")
)]
pub(crate) mod queue;
/// Reconnect backoff with jitter.
#[cfg_attr(
    not(feature = "tokio"),
    allow(dead_code, reason = "only the tokio driver uses it")
)]
pub(crate) mod reconnect;
/// XEP-0030, XEP-0199, RFC 6120 §8.4: what the component answers itself.
pub mod service;
/// RFC 6120 §8: typed stanzas (data only).
pub mod stanza;
/// RFC 6120 §4, §11: the component stream parser and its limits.
pub mod stream;

/// Entry points for fuzz targets (`fuzz/`): never panic on any input.
#[cfg(feature = "fuzzing")]
pub mod fuzzing;

/// XEP-0114: the tokio driver (connection, handshake, keepalive, reconnect).
#[cfg(feature = "tokio")]
pub mod component;

pub use error::{Error, HandshakeError, StreamError, StreamErrorCondition};
pub use queue::SendError;
pub use stanza::Stanza;

#[cfg(feature = "tokio")]
pub use component::{
    ComponentConfig, ComponentEvent, ComponentHandle, ComponentStats, ComponentTls, DirectTls,
    TlsSetupError, spawn,
};

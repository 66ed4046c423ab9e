//! The SIP user agent side of Parley (RFC 3261): transports, transactions, dialogs.
//!
//! Where it sits: between the SIP network (phones, a carrier proxy) and the
//! gateway's router. It owns sockets, framing, parsing, transactions and
//! dialogs; it hands typed requests up with a responder and takes requests down
//! as async calls. It knows nothing about XMPP.

/// RFC 3261 §22, RFC 7616, RFC 8760: HTTP digest authentication for SIP.
pub mod auth;

//! The XMPP server-component side of Parley (XEP-0114).
//!
//! Where it sits: between the XMPP server's component port and the gateway's
//! router. It owns the TCP connection, the stream parser, the handshake, the
//! keepalive, reconnects and the outgoing queue; it hands typed stanzas up and
//! takes typed stanzas down. It knows nothing about SIP.

/// RFC 6120 §8: typed stanzas (data only).
pub mod stanza;

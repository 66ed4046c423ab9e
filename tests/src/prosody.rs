//! Filled by the XMPP component work: starts Prosody on loopback.

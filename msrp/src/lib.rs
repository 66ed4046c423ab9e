//! Chat sessions for Parley: the Message Session Relay Protocol (RFC 4975)
//! and the SDP that sets its sessions up (RFC 4975 §8, RFC 6135, RFC 7573).
//!
//! Where it sits: between the TCP/TLS connections of MSRP sessions and the
//! gateway's `session/` handlers. Like `sip` and `xmpp` it is sans-IO: it
//! parses and writes bytes, keeps per-session protocol state and reads no
//! clock; the gateway owns sockets and time. It knows nothing about XMPP.
//!
//! What it does not do: relays (RFC 4976) beyond carrying their paths,
//! and media other than `message`.

/// RFC 4566/8866, RFC 3264, RFC 4975 §8, RFC 6135: SDP offer/answer for MSRP sessions.
pub mod sdp;

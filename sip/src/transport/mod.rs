//! RFC 3261 §18: the transports. Each hands received bytes to the endpoint
//! with their source and takes bytes to send; framing and parsing are not
//! their concern except on streams, where [`crate::framing`] cuts messages.

/// RFC 3261 §18.3: TCP listener and connections, Content-Length framed.
pub mod tcp;
/// RFC 3261 §26.2, RFC 5630: TLS over TCP (rustls).
pub mod tls;
/// RFC 3261 §18.1.1, §18.2.1: UDP datagrams.
pub mod udp;

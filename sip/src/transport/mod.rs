//! RFC 3261 §18: the transports. Each hands received bytes up through
//! [`Intake`] with their source and takes bytes to send; framing and parsing
//! are not their concern except on streams, where [`crate::framing`] cuts
//! messages. They know nothing else of the endpoint.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use crate::config::Transport;
use crate::framing::FramingError;

/// RFC 3261 §18.3: TCP listener and connections, Content-Length framed.
pub(crate) mod tcp;
/// RFC 3261 §26.2, RFC 5630: TLS over TCP (rustls).
pub(crate) mod tls;
/// RFC 3261 §18.1.1, §18.2.1: UDP datagrams.
pub(crate) mod udp;

/// Where the transports hand what they receive: the endpoint's receive path.
pub(crate) trait Intake: Send + Sync + 'static {
    /// Over UDP, before the datagram is copied or parsed: whether it is
    /// dropped unread (design §5: a source over its rate that had its 503s).
    fn drop_unread(&self, datagram: &[u8], source: SocketAddr) -> bool;

    /// One message: a datagram, or a frame cut from a stream. `Arc`, because
    /// a received request carries a handle back to answer it.
    fn receive(self: &Arc<Self>, bytes: Bytes, source: SocketAddr, transport: Transport);

    /// A stream could not be framed and will be closed; `head` is its
    /// message head, when one could be cut, to answer from.
    fn unframable(
        &self,
        error: &FramingError,
        head: Option<Bytes>,
        source: SocketAddr,
        transport: Transport,
    );

    /// A stream connection to `peer` closed (RFC 3261 §17.1.4).
    fn connection_closed(&self, transport: Transport, peer: SocketAddr);
}

//! RFC 3261 §18.1.1 / §18.2.1: one UDP socket, one datagram per message.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::config::Transport;
use crate::endpoint::Inner;

/// Largest datagram read; anything above the configured limit is answered 513.
const RECV_BUFFER: usize = 65_535;

/// Binds a UDP socket.
pub(crate) async fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    UdpSocket::bind(addr).await
}

/// Reads datagrams until shutdown and hands each to the endpoint.
pub(crate) async fn run(socket: Arc<UdpSocket>, inner: Arc<Inner>, shutdown: CancellationToken) {
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let received = tokio::select! {
            () = shutdown.cancelled() => return,
            r = socket.recv_from(&mut buf) => r,
        };
        match received {
            Ok((len, source)) => {
                let bytes = Bytes::copy_from_slice(&buf[..len]);
                inner.handle_bytes(bytes, source, Transport::Udp);
            }
            // ICMP port unreachable surfaces as ConnectionReset on some systems; keep reading.
            Err(error) => tracing::debug!(%error, "udp receive failed"),
        }
    }
}

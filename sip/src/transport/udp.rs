//! RFC 3261 §18.1.1 / §18.2.1: one UDP socket, one datagram per message.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::config::Transport;
use crate::transaction::Transmit;
use crate::transport::Intake;

/// Largest datagram read; anything above the configured limit is answered 513.
const RECV_BUFFER: usize = 65_535;

/// Binds a UDP socket, asking for a `recv_buffer`-byte receive buffer (0:
/// the kernel's default) so that a burst waits in the kernel instead of being
/// dropped there.
pub(crate) async fn bind(addr: SocketAddr, recv_buffer: usize) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if recv_buffer > 0 {
        if let Err(e) = socket.set_recv_buffer_size(recv_buffer) {
            tracing::warn!(error = %e, recv_buffer, "cannot set the UDP receive buffer");
        }
        let got = socket.recv_buffer_size().unwrap_or(0);
        // Linux reports twice the size it was given (bookkeeping overhead).
        if got < recv_buffer {
            tracing::warn!(
                asked = recv_buffer,
                got,
                "UDP receive buffer capped by the kernel (raise net.core.rmem_max)"
            );
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Reads datagrams until shutdown and hands each to `intake`.
pub(crate) async fn run(
    socket: Arc<UdpSocket>,
    intake: Arc<impl Intake>,
    shutdown: CancellationToken,
) {
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let received = tokio::select! {
            () = shutdown.cancelled() => return,
            r = socket.recv_from(&mut buf) => r,
        };
        match received {
            Ok((len, source)) => {
                if intake.drop_unread(&buf[..len], source) {
                    continue;
                }
                let bytes = Bytes::copy_from_slice(&buf[..len]);
                intake.receive(bytes, source, Transport::Udp);
            }
            // ICMP port unreachable surfaces as ConnectionReset on some systems; keep reading.
            Err(error) => tracing::debug!(%error, "udp receive failed"),
        }
    }
}

/// Sends `batch` (datagrams of one socket) in one `sendmmsg(2)` call;
/// returns how many the kernel took, from the first on (0 when it took none
/// or the socket is not known to be writable: the caller sends the rest one
/// by one).
pub(crate) fn send_many(socket: &UdpSocket, batch: &[Transmit]) -> usize {
    use rustix::net::addr::SocketAddrArg;
    use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, sendmmsg};
    let addrs: Vec<_> = batch.iter().map(|t| t.target.addr.as_any()).collect();
    let iovs: Vec<[IoSlice<'_>; 1]> = batch.iter().map(|t| [IoSlice::new(&t.bytes)]).collect();
    let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> = batch
        .iter()
        .map(|_| SendAncillaryBuffer::default())
        .collect();
    let mut messages: Vec<MMsgHdr<'_>> = addrs
        .iter()
        .zip(&iovs)
        .zip(controls.iter_mut())
        .map(|((addr, iov), control)| MMsgHdr::new_with_addr(addr, iov, control))
        .collect();
    let mut send = || sendmmsg(socket, &mut messages, SendFlags::empty()).map_err(io::Error::from);
    match socket.try_io(Interest::WRITABLE, &mut send) {
        Ok(sent) => sent,
        // Tokio has not seen the socket writable yet (a fresh socket): the
        // kernel decides, so that the datagrams still leave in order, now.
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => send().unwrap_or(0),
        Err(_) => 0,
    }
    .min(batch.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Design §5: a burst must wait in the kernel, not be dropped there; the
    /// socket gets the buffer asked for, up to `net.core.rmem_max`.
    #[tokio::test]
    async fn udp_socket_gets_the_receive_buffer_asked_for() {
        let asked = 1024 * 1024;
        let socket = bind("127.0.0.1:0".parse().unwrap(), asked).await.unwrap();
        let got = socket2::SockRef::from(&socket).recv_buffer_size().unwrap();
        let cap = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(asked);
        assert!(got >= asked.min(cap), "asked {asked}, got {got}, cap {cap}");
        let default = bind("127.0.0.1:0".parse().unwrap(), 0).await.unwrap();
        let default = socket2::SockRef::from(&default).recv_buffer_size().unwrap();
        assert!(
            cap <= default || got > default,
            "asked {asked}: {got} vs default {default}"
        );
    }
}

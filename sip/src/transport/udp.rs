//! RFC 3261 §18.1.1 / §18.2.1: one UDP socket, one datagram per message.

use std::cell::RefCell;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::config::Transport;
use crate::transaction::Transmit;
use crate::transport::Intake;

/// Largest datagram read; anything above the configured limit is answered 513.
/// Every slot of a batch has this size, so no datagram is ever cut short.
const RECV_BUFFER: usize = 65_535;

/// Datagrams taken from the socket per `recvmmsg(2)` call (issue 24): a
/// burst already queued costs one system call per `BATCH`, not one each.
const BATCH: usize = 32;

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrIn, SockaddrIn6, SockaddrLike, recvmmsg};

thread_local! {
    // `recvmmsg(2)`'s headers hold pointers, so they are not `Send` and
    // cannot live in the reader's future: one set per worker thread, used
    // only inside one synchronous call. One set per address family: the
    // kernel writes each header's address length back, and an IPv6 socket
    // always gets a whole `sockaddr_in6` (IPv4-mapped sources included), an
    // IPv4 socket a `sockaddr_in`, so a set never sees a shorter address
    // than it was prepared for.
    static HEADERS_V4: RefCell<MultiHeaders<SockaddrIn>> =
        RefCell::new(MultiHeaders::preallocate(BATCH, None));
    static HEADERS_V6: RefCell<MultiHeaders<SockaddrIn6>> =
        RefCell::new(MultiHeaders::preallocate(BATCH, None));
}

/// One datagram of a batch, in the slot of the same index.
#[derive(Debug, Clone, Copy)]
struct Received {
    len: usize,
    source: Option<SocketAddr>,
    /// The kernel cut it to fit its slot (`MSG_TRUNC`): never handed on.
    truncated: bool,
}

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

/// Where a received datagram is copied to be handed on (the receive slots
/// are reused): a shared buffer of [`Copies::CHUNK`] bytes that each
/// datagram is split from (issue 24). A datagram of its own buffer took two
/// allocations, its bytes and, when first sliced, the count its slices
/// share; here a chunk takes those two for the datagrams of a burst, which
/// lie side by side. A slice kept longer keeps its chunk: at most
/// [`Copies::CHUNK`] bytes, or the datagram when it is larger.
struct Copies {
    chunk: BytesMut,
}

impl Copies {
    /// Room for several usual requests (a MESSAGE or a 200 is some hundreds
    /// of bytes) without a short-lived slice keeping much besides itself.
    const CHUNK: usize = 4096;

    fn new() -> Copies {
        Copies {
            chunk: BytesMut::new(),
        }
    }

    /// `datagram` as shared bytes of its own length.
    fn copy(&mut self, datagram: &[u8]) -> Bytes {
        if self.chunk.capacity() < datagram.len() {
            self.chunk = BytesMut::with_capacity(Self::CHUNK.max(datagram.len()));
        }
        self.chunk.extend_from_slice(datagram);
        self.chunk.split().freeze()
    }
}

/// Reads datagrams until shutdown and hands each to `intake`, in arrival
/// order: every datagram already queued at the socket (up to `BATCH`) in one
/// `recvmmsg(2)` call.
pub(crate) async fn run(
    socket: Arc<UdpSocket>,
    intake: Arc<impl Intake>,
    shutdown: CancellationToken,
) {
    let mut buf = vec![0u8; BATCH * RECV_BUFFER];
    let mut batch: Vec<Received> = Vec::with_capacity(BATCH);
    let mut copies = Copies::new();
    let v6 = matches!(socket.local_addr(), Ok(SocketAddr::V6(_)));
    let fd = socket.as_raw_fd();
    loop {
        let received = tokio::select! {
            () = shutdown.cancelled() => return,
            r = socket.async_io(Interest::READABLE, || recv_batch(fd, v6, &mut buf, &mut batch)) => r,
        };
        match received {
            Ok(()) => {
                for (slot, received) in buf.chunks_exact(RECV_BUFFER).zip(&batch) {
                    let Some(source) = received.source else {
                        continue;
                    };
                    if received.truncated {
                        tracing::debug!(%source, "udp datagram truncated; dropped");
                        continue;
                    }
                    let datagram = &slot[..received.len];
                    if intake.drop_unread(datagram, source) {
                        continue;
                    }
                    let bytes = copies.copy(datagram);
                    intake.receive(bytes, source, Transport::Udp);
                }
            }
            // ICMP port unreachable surfaces as ConnectionReset on some systems; keep reading.
            Err(error) => tracing::debug!(%error, "udp receive failed"),
        }
    }
}

/// One non-blocking `recvmmsg(2)` into `buf`'s slots; `batch` gets what
/// arrived, slot by slot (`WouldBlock` when nothing was queued).
fn recv_batch(fd: RawFd, v6: bool, buf: &mut [u8], batch: &mut Vec<Received>) -> io::Result<()> {
    batch.clear();
    if v6 {
        HEADERS_V6.with_borrow_mut(|headers| {
            recv_into(fd, headers, buf, batch, |a| SocketAddrV6::from(a).into())
        })
    } else {
        HEADERS_V4.with_borrow_mut(|headers| {
            recv_into(fd, headers, buf, batch, |a| SocketAddrV4::from(a).into())
        })
    }
}

fn recv_into<S: SockaddrLike + Copy>(
    fd: RawFd,
    headers: &mut MultiHeaders<S>,
    buf: &mut [u8],
    batch: &mut Vec<Received>,
    to_std: fn(S) -> SocketAddr,
) -> io::Result<()> {
    let mut slots = buf.chunks_exact_mut(RECV_BUFFER);
    let mut iovs: [[IoSliceMut<'_>; 1]; BATCH] =
        std::array::from_fn(|_| [IoSliceMut::new(slots.next().unwrap_or_default())]);
    let messages = recvmmsg(fd, headers, iovs.iter_mut(), MsgFlags::MSG_DONTWAIT, None)
        .map_err(io::Error::from)?;
    batch.extend(messages.map(|message| Received {
        len: message.bytes,
        source: message.address.map(to_std),
        truncated: message.flags.contains(MsgFlags::MSG_TRUNC),
    }));
    Ok(())
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
    use std::sync::Mutex;
    use std::time::Duration;

    use crate::framing::FramingError;

    /// Datagrams of a burst are copied side by side into one chunk, each
    /// exactly its own bytes, and stay whole when the chunk moves on; one
    /// larger than a chunk gets a buffer of its own; a copy outlives the
    /// copier and the chunks after it.
    #[test]
    fn datagrams_are_copied_side_by_side_and_kept_whole() {
        let mut copies = Copies::new();
        let datagrams: Vec<Vec<u8>> = (0..40u8)
            .map(|n| vec![b'a' + n % 26; 300 + usize::from(n) * 7])
            .chain([vec![b'!'; Copies::CHUNK * 3], vec![b'z'; 10]])
            .collect();
        let copied: Vec<Bytes> = datagrams.iter().map(|d| copies.copy(d)).collect();
        drop(copies);
        let mut side_by_side = 0;
        for (n, (copy, datagram)) in copied.iter().zip(&datagrams).enumerate() {
            assert_eq!(&copy[..], &datagram[..], "datagram {n}");
            if let Some(next) = copied.get(n + 1)
                && copy.as_ptr().wrapping_add(copy.len()) == next.as_ptr()
            {
                side_by_side += 1;
            }
        }
        // 40 datagrams of 300-573 bytes fill a 4 KiB chunk about every
        // nine: most follow the one before.
        assert!(side_by_side >= 30, "{side_by_side} of 41 side by side");
    }

    /// Records what the reader hands on, in order.
    #[derive(Default)]
    struct Recorder {
        received: Mutex<Vec<(Bytes, SocketAddr)>>,
        unread: Mutex<usize>,
    }

    impl Intake for Recorder {
        fn drop_unread(&self, _datagram: &[u8], _source: SocketAddr) -> bool {
            *self.unread.lock().unwrap() += 1;
            false
        }
        fn receive(self: &Arc<Self>, bytes: Bytes, source: SocketAddr, transport: Transport) {
            assert_eq!(transport, Transport::Udp);
            self.received.lock().unwrap().push((bytes, source));
        }
        fn unframable(&self, _: &FramingError, _: Option<Bytes>, _: SocketAddr, _: Transport) {
            unreachable!("no framing over UDP")
        }
        fn connection_closed(&self, _: Transport, _: SocketAddr) {
            unreachable!("no connections over UDP")
        }
    }

    impl Recorder {
        /// Waits (up to 10 s) until `count` datagrams were handed on.
        async fn wait_for(&self, count: usize) -> Vec<(Bytes, SocketAddr)> {
            for _ in 0..1000 {
                if self.received.lock().unwrap().len() >= count {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            self.received.lock().unwrap().clone()
        }
    }

    /// A burst from two sources, queued before the reader runs (more than
    /// one batch of it), arrives whole, in order, each with its source.
    async fn burst_arrives_in_order(loopback: &str) {
        let reader = Arc::new(
            bind(format!("{loopback}:0").parse().unwrap(), 1 << 20)
                .await
                .unwrap(),
        );
        let to = reader.local_addr().unwrap();
        let a = UdpSocket::bind(format!("{loopback}:0")).await.unwrap();
        let b = UdpSocket::bind(format!("{loopback}:0")).await.unwrap();
        let count = 3 * BATCH + 5;
        let mut expected = Vec::new();
        for i in 0..count {
            let (from, name) = if i % 3 == 0 { (&b, "b") } else { (&a, "a") };
            // Sizes vary so that a datagram read short or long shows.
            let datagram = format!("MESSAGE {i} from {name} {}", "x".repeat(i * 7)).into_bytes();
            from.send_to(&datagram, to).await.unwrap();
            expected.push((Bytes::from(datagram), from.local_addr().unwrap()));
        }
        let intake = Arc::new(Recorder::default());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(reader, intake.clone(), shutdown.clone()));
        let got = intake.wait_for(count).await;
        shutdown.cancel();
        task.await.unwrap();
        assert_eq!(got.len(), count);
        for (i, (got, expected)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(got, expected, "datagram {i}");
        }
        assert_eq!(
            *intake.unread.lock().unwrap(),
            count,
            "drop_unread asked once each"
        );
    }

    #[tokio::test]
    async fn udp_burst_arrives_whole_in_order_with_sources_ipv4() {
        burst_arrives_in_order("127.0.0.1").await;
    }

    #[tokio::test]
    async fn udp_burst_arrives_whole_in_order_with_sources_ipv6() {
        burst_arrives_in_order("[::1]").await;
    }

    /// The largest datagrams arrive whole amid small ones, queued in one batch.
    #[tokio::test]
    async fn udp_largest_datagrams_arrive_whole_amid_small_ones() {
        for (loopback, largest) in [("127.0.0.1", 65_507), ("[::1]", 65_527)] {
            let reader = Arc::new(
                bind(format!("{loopback}:0").parse().unwrap(), 4 << 20)
                    .await
                    .unwrap(),
            );
            let to = reader.local_addr().unwrap();
            let sender = UdpSocket::bind(format!("{loopback}:0")).await.unwrap();
            let sizes = [20, 65_000, 31, largest, 65_000, 5];
            let mut expected = Vec::new();
            for (i, size) in sizes.into_iter().enumerate() {
                let datagram: Vec<u8> = (0..size).map(|n| (n * 31 + i) as u8).collect();
                sender.send_to(&datagram, to).await.unwrap();
                expected.push(Bytes::from(datagram));
            }
            let intake = Arc::new(Recorder::default());
            let shutdown = CancellationToken::new();
            let task = tokio::spawn(run(reader, intake.clone(), shutdown.clone()));
            let got = intake.wait_for(sizes.len()).await;
            shutdown.cancel();
            task.await.unwrap();
            let got: Vec<Bytes> = got.into_iter().map(|(bytes, _)| bytes).collect();
            assert_eq!(got.len(), expected.len(), "{loopback}");
            for (i, (got, expected)) in got.iter().zip(&expected).enumerate() {
                assert!(
                    got == expected,
                    "{loopback} datagram {i}: {} bytes, sent {}",
                    got.len(),
                    expected.len()
                );
            }
        }
    }

    /// An idle reader stops on shutdown, and reads as it did before it.
    #[tokio::test]
    async fn udp_reader_stops_on_shutdown_while_idle() {
        let reader = Arc::new(bind("127.0.0.1:0".parse().unwrap(), 0).await.unwrap());
        let to = reader.local_addr().unwrap();
        let intake = Arc::new(Recorder::default());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(reader, intake.clone(), shutdown.clone()));
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sender.send_to(b"one", to).await.unwrap();
        assert_eq!(intake.wait_for(1).await.len(), 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .expect("the reader stops within 1 s of shutdown")
            .unwrap();
    }

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

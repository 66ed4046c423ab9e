//! RFC 3261 §18.3: SIP over TCP. A listener accepts connections; each
//! connection has a reader (framing by Content-Length, pipelined and split
//! messages) and a writer fed by a bounded channel. Responses go back over the
//! connection the request came in on (§18.2.2); requests to a peer reuse an
//! open connection to it or open one.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Limits, Transport};
use crate::framing::{self, FramingError};
use crate::transport::Intake;

/// Messages queued per connection before sends fail.
const WRITE_QUEUE: usize = 256;

/// What the stream transports (TCP, and TLS over it) share with the
/// endpoint: the table of open connections, which the endpoint sends on; the
/// tracker their tasks run under; their limits.
#[derive(Debug)]
pub(crate) struct Streams {
    pub(crate) connections: Connections,
    pub(super) tracker: TaskTracker,
    limits: Limits,
}

impl Streams {
    /// No connection open yet; tasks will run under `tracker`.
    pub(crate) fn new(limits: Limits, tracker: TaskTracker) -> Streams {
        Streams {
            connections: Connections::default(),
            tracker,
            limits,
        }
    }

    /// Whether an inbound connection must be turned away (`max_connections`).
    pub(super) fn full(&self) -> bool {
        self.connections.len() >= self.limits.max_connections
    }
}

/// Open stream connections, by peer address.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    map: Mutex<HashMap<(Transport, SocketAddr), mpsc::Sender<Bytes>>>,
    /// The verified end-entity certificate of inbound TLS peers (mutual TLS).
    certificates: Mutex<HashMap<SocketAddr, Arc<CertificateDer<'static>>>>,
}

impl Connections {
    /// Queues bytes on the connection to `peer`, if one is open.
    pub(crate) fn send(
        &self,
        transport: Transport,
        peer: SocketAddr,
        bytes: Bytes,
    ) -> io::Result<()> {
        let sender = self
            .map
            .lock()
            .map_err(|_| io::Error::other("connection table poisoned"))?
            .get(&(transport, peer))
            .cloned();
        match sender {
            Some(sender) => sender.try_send(bytes).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "connection write queue full or closed",
                )
            }),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "no connection to peer",
            )),
        }
    }

    /// Whether a connection to `peer` is open.
    pub(crate) fn contains(&self, transport: Transport, peer: SocketAddr) -> bool {
        self.map
            .lock()
            .is_ok_and(|m| m.contains_key(&(transport, peer)))
    }

    /// How many connections are open.
    pub(crate) fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    fn insert(&self, transport: Transport, peer: SocketAddr, sender: mpsc::Sender<Bytes>) {
        if let Ok(mut map) = self.map.lock() {
            map.insert((transport, peer), sender);
        }
    }

    fn remove(&self, transport: Transport, peer: SocketAddr) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(&(transport, peer));
        }
        if transport == Transport::Tls
            && let Ok(mut certs) = self.certificates.lock()
        {
            certs.remove(&peer);
        }
    }

    /// Records the certificate a TLS peer proved (verified by the handshake).
    pub(crate) fn set_certificate(&self, peer: SocketAddr, cert: CertificateDer<'static>) {
        if let Ok(mut certs) = self.certificates.lock() {
            certs.insert(peer, Arc::new(cert));
        }
    }

    /// The verified certificate of the TLS peer at `peer`, if it presented one.
    pub(crate) fn certificate(&self, peer: SocketAddr) -> Option<Arc<CertificateDer<'static>>> {
        self.certificates.lock().ok()?.get(&peer).cloned()
    }
}

/// Binds a TCP listener.
pub(crate) async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Accepts connections until shutdown.
pub(crate) async fn run_listener(
    listener: TcpListener,
    streams: Arc<Streams>,
    intake: Arc<impl Intake>,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                if streams.full() {
                    tracing::warn!(%peer, "connection limit reached; closing");
                    continue;
                }
                let _ = stream.set_nodelay(true);
                spawn_connection(
                    stream,
                    peer,
                    Transport::Tcp,
                    streams.clone(),
                    intake.clone(),
                    shutdown.clone(),
                );
            }
            Err(error) => {
                tracing::warn!(%error, "tcp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Opens a connection to `peer` unless one is open.
pub(crate) async fn connect(
    peer: SocketAddr,
    streams: &Arc<Streams>,
    intake: &Arc<impl Intake>,
    shutdown: &CancellationToken,
    timeout: Duration,
) -> io::Result<()> {
    if streams.connections.contains(Transport::Tcp, peer) {
        return Ok(());
    }
    let stream = tokio::time::timeout(timeout, TcpStream::connect(peer))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    let _ = stream.set_nodelay(true);
    spawn_connection(
        stream,
        peer,
        Transport::Tcp,
        streams.clone(),
        intake.clone(),
        shutdown.clone(),
    );
    Ok(())
}

/// Runs a connection's reader and writer as tasks of the endpoint; what the
/// reader cuts goes to `intake`.
pub(crate) fn spawn_connection<S>(
    stream: S,
    peer: SocketAddr,
    transport: Transport,
    streams: Arc<Streams>,
    intake: Arc<impl Intake>,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (reader, writer) = tokio::io::split(stream);
    let (tx, rx) = mpsc::channel(WRITE_QUEUE);
    streams.connections.insert(transport, peer, tx);
    let conn_shutdown = shutdown.child_token();
    let tracker = streams.tracker.clone();
    tracker.spawn(write_loop(writer, rx, conn_shutdown.clone()));
    tracker.spawn(async move {
        read_loop(
            reader,
            peer,
            transport,
            &streams.limits,
            &intake,
            &conn_shutdown,
        )
        .await;
        streams.connections.remove(transport, peer);
        intake.connection_closed(transport, peer);
        conn_shutdown.cancel();
    });
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut rx: mpsc::Receiver<Bytes>,
    shutdown: CancellationToken,
) {
    loop {
        let bytes = tokio::select! {
            () = shutdown.cancelled() => break,
            b = rx.recv() => match b {
                Some(b) => b,
                None => break,
            },
        };
        if writer.write_all(&bytes).await.is_err() {
            shutdown.cancel();
            break;
        }
    }
    let _ = writer.shutdown().await;
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut reader: R,
    peer: SocketAddr,
    transport: Transport,
    limits: &Limits,
    intake: &Arc<impl Intake>,
    shutdown: &CancellationToken,
) {
    let limit = limits.max_message_bytes;
    let mut buf = BytesMut::with_capacity(8 * 1024);
    loop {
        // Cut every complete message out of the buffer (pipelining).
        loop {
            match framing::frame(&buf, limit) {
                Ok(Some(frame)) => {
                    buf.advance(frame.skip);
                    let message = buf.split_to(frame.len).freeze();
                    intake.receive(message, peer, transport);
                }
                Ok(None) => break,
                Err(error) => {
                    // The stream cannot be resynchronised: answer if we can, then close.
                    let head = error
                        .head_len()
                        .map(|len| Bytes::copy_from_slice(&buf[..len.min(buf.len())]));
                    intake.unframable(&error, head, peer, transport);
                    if matches!(error, FramingError::TooLarge { .. }) {
                        tracing::warn!(%peer, limit, "oversize message on stream; closing");
                    }
                    // Give the writer a moment to flush the answer.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    return;
                }
            }
        }
        let idle = limits.idle_connection;
        let read = tokio::select! {
            () = shutdown.cancelled() => return,
            r = tokio::time::timeout(idle, reader.read_buf(&mut buf)) => r,
        };
        match read {
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => {}
            Err(_) => {
                tracing::debug!(%peer, "idle stream connection closed");
                return;
            }
        }
    }
}

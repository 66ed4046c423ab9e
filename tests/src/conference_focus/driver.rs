//! The focus's tasks: the SIP socket, the MSRP listener and connections,
//! the timer tick. They take the lock, hand bytes to `uas` or
//! `msrp_switch`, and send what those leave behind.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::msrp_switch::{self, MAX_MESSAGE};
use super::state::{ConnId, FocusState};
use super::uas;
use crate::msrp_peer::split_frame;

/// The largest MSRP frame buffered before a connection is dropped as not
/// speaking MSRP.
const MAX_FRAME_BUFFER: usize = MAX_MESSAGE + 64 * 1024;

/// What the API and the tasks share.
pub(crate) struct Shared {
    pub(crate) state: Mutex<FocusState>,
    pub(crate) changed: Notify,
    pub(crate) socket: UdpSocket,
    pub(crate) next_conn: AtomicU64,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, FocusState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub(crate) async fn flush(shared: &Shared, udp: Vec<(SocketAddr, Vec<u8>)>) {
    for (to, bytes) in udp {
        // Loopback UDP; a lost datagram is what retransmission is for.
        let _ = shared.socket.send_to(&bytes, to).await;
    }
}

/// Receive SIP, hand it to `uas`, send what it left; connect MSRP
/// sessions where the focus is active.
pub(crate) async fn sip_loop(shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, from)) = shared.socket.recv_from(&mut buf).await else {
            continue;
        };
        let (udp, connects) = {
            let mut state = shared.lock();
            uas::handle_datagram(&mut state, &buf[..n], from);
            (
                std::mem::take(&mut state.udp_out),
                std::mem::take(&mut state.connect_out),
            )
        };
        flush(&shared, udp).await;
        for (session, addr) in connects {
            let shared = shared.clone();
            connections.spawn(async move {
                let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await else {
                    return;
                };
                // RFC 6135 §4.2.2: "Once the active UA has established the
                // MSRP transport connection, the UA must immediately send an
                // MSRP SEND request".
                let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
                let opening = {
                    let mut state = shared.lock();
                    let Some(i) = state
                        .participants
                        .iter()
                        .position(|p| p.remote.as_ref().is_some_and(|r| r.session_id == session))
                    else {
                        return;
                    };
                    let to_path = state.participants[i].remote.as_ref().map(|r| r.offer.path.join(" ")).unwrap_or_default();
                    if let Some(r) = state.participants[i].remote.as_mut() {
                        r.conn = Some(conn);
                    }
                    let tid = state.token("open");
                    let mid = state.token("m");
                    let from_path = state.msrp_uri(&session);
                    let opening = format!(
                        "MSRP {tid} SEND\r\nTo-Path: {to_path}\r\nFrom-Path: {from_path}\r\nMessage-ID: {mid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n"
                    );
                    opening
                };
                serve_connection(shared, conn, stream, Some(opening.into_bytes())).await;
            });
        }
        shared.changed.notify_waiters();
    }
}

/// Accept MSRP connections (the focus answered `a=setup:passive`).
pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
        connections.spawn(serve_connection(shared.clone(), conn, stream, None));
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
}

/// Read frames into the switch and write what it queues for this
/// connection; ends when the peer closes, sends what is not MSRP, or the
/// focus drops the connection (its participant left).
async fn serve_connection(
    shared: Arc<Shared>,
    conn: ConnId,
    stream: TcpStream,
    first: Option<Vec<u8>>,
) {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(256);
    shared.lock().conns.insert(conn, tx);
    let (mut reader, mut writer) = stream.into_split();
    let open = match first {
        Some(bytes) => writer.write_all(&bytes).await.is_ok(),
        None => true,
    };
    if open {
        pump(&shared, conn, &mut reader, &mut writer, &mut rx).await;
    }
    let _ = writer.shutdown().await;
    shared.lock().conns.remove(&conn);
}

/// The connection's read and write loop; returns when it should close.
async fn pump(
    shared: &Shared,
    conn: ConnId,
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    rx: &mut mpsc::Receiver<Vec<u8>>,
) {
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(bytes) => {
                    if writer.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            read = reader.read(&mut chunk) => {
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buffer.extend_from_slice(&chunk[..n]);
                let mut bad = buffer.len() > MAX_FRAME_BUFFER;
                loop {
                    match split_frame(&buffer) {
                        Ok(Some((frame, used))) => {
                            buffer.drain(..used);
                            let mut state = shared.lock();
                            msrp_switch::handle_frame(&mut state, conn, &frame);
                        }
                        Ok(None) => break,
                        Err(_) => {
                            bad = true;
                            break;
                        }
                    }
                }
                shared.changed.notify_waiters();
                if bad {
                    break;
                }
            }
        }
    }
}

/// Drive the timers every T1/10 (at least every 10 ms).
pub(crate) async fn tick_loop(shared: Arc<Shared>) {
    let period = { shared.lock().t1 / 10 }.max(Duration::from_millis(10));
    let mut interval = tokio::time::interval(period);
    loop {
        interval.tick().await;
        let udp = {
            let mut state = shared.lock();
            state.on_tick(Instant::now());
            std::mem::take(&mut state.udp_out)
        };
        if !udp.is_empty() {
            flush(&shared, udp).await;
            shared.changed.notify_waiters();
        }
    }
}

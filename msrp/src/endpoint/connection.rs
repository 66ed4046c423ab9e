//! One MSRP connection: accepting or opening it, its reader (decode, route
//! by To-Path, answer requests for no session) and its writer (drain the
//! bound sessions), and what its end does to its sessions (§5.4).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{
    AuthorityKey, Awaited, CloseReason, ConnEntry, Delivery, DriverError, Inner, MAX_OUTBOX,
    Pending, Role, SessionEvent, State, deliver,
};
use crate::endpoint::stats::{add, dec, inc};
use crate::endpoint::tls::io_reason;
use crate::session;
use crate::status::StatusCode;
use crate::uri::{Host, Scheme, Uri};
use crate::wire::{DecodeError, Decoder, FailureReport, Frame, Method};

/// A connection's key in the endpoint's table.
pub(super) type ConnId = u64;

/// A plain or TLS stream.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}
type Stream = Box<dyn Io>;

/// Bytes written in one go before the writer yields to the next wake.
const WRITE_BATCH: usize = 256 * 1024;

/// Accepts connections until the endpoint is cancelled.
pub(super) async fn accept_loop(inner: Arc<Inner>, listener: TcpListener, tls: bool) {
    loop {
        let accepted = tokio::select! {
            () = inner.cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(error) => {
                tracing::warn!(%error, "msrp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if inner
            .counters
            .connections_open
            .load(std::sync::atomic::Ordering::Relaxed)
            >= inner.config.max_connections as u64
        {
            tracing::warn!(%peer, "msrp connection limit reached; closing");
            continue;
        }
        inc(&inner.counters.connections_accepted);
        let _ = stream.set_nodelay(true);
        let inner2 = inner.clone();
        inner.tracker.spawn(async move {
            let stream: Stream = if tls {
                let Some(acceptor) = inner2.tls.as_ref().and_then(|t| t.acceptor.clone()) else {
                    return;
                };
                let handshake = tokio::time::timeout(
                    inner2.config.first_frame_timeout,
                    acceptor.accept(stream),
                );
                match handshake.await {
                    Ok(Ok(s)) => Box::new(s),
                    _ => {
                        tracing::debug!(%peer, "msrps handshake failed");
                        return;
                    }
                }
            } else {
                Box::new(stream)
            };
            let (id, wake, cancel) = register(&inner2, tls, None);
            run(inner2, id, stream, false, wake, cancel).await;
        });
    }
}

/// Puts a new connection in the table.
fn register(
    inner: &Arc<Inner>,
    tls: bool,
    authority: Option<AuthorityKey>,
) -> (ConnId, Arc<Notify>, CancellationToken) {
    let wake = Arc::new(Notify::new());
    let cancel = inner.cancel.child_token();
    let mut state = inner.lock();
    state.next_conn += 1;
    let id = state.next_conn;
    if let Some(key) = &authority {
        state.by_authority.insert(key.clone(), id);
    }
    state.conns.insert(
        id,
        ConnEntry {
            wake: wake.clone(),
            cancel: cancel.clone(),
            outbox: Default::default(),
            sessions: Default::default(),
            tls,
            authority,
        },
    );
    inc(&inner.counters.connections_open);
    (id, wake, cancel)
}

/// A connection to `target` for an active session: an open one to the same
/// scheme, host and port if there is one (§5.4 "SHOULD reuse"), else a new
/// one (TLS for `msrps`, §6). A host name is resolved by the system and its
/// addresses tried in order until one connects (§6.2).
pub(super) async fn connect(
    inner: &Arc<Inner>,
    target: &Uri,
    port: u16,
) -> Result<ConnId, DriverError> {
    let key: AuthorityKey = (target.scheme, target.host.clone(), port);
    {
        let state = inner.lock();
        if let Some(&id) = state.by_authority.get(&key)
            && state
                .conns
                .get(&id)
                .is_some_and(|c| !c.cancel.is_cancelled())
        {
            inc(&inner.counters.connections_reused);
            return Ok(id);
        }
        if state.conns.len() >= inner.config.max_connections {
            return Err(DriverError::TooManyConnections);
        }
    }
    let failed = |reason: String| DriverError::Connect {
        target: target.to_string(),
        reason,
    };
    let tls = target.scheme == Scheme::Msrps;
    let opening = async {
        let tcp = match &target.host {
            Host::Ip(ip) => TcpStream::connect(SocketAddr::new(*ip, port)).await,
            Host::Name(name) => TcpStream::connect((name.as_str(), port)).await,
        }
        .map_err(|e| failed(io_reason(&e)))?;
        let _ = tcp.set_nodelay(true);
        if !tls {
            return Ok::<Stream, DriverError>(Box::new(tcp));
        }
        let connector = inner
            .tls
            .as_ref()
            .ok_or(DriverError::NoTls)?
            .connector
            .clone();
        let name = match &target.host {
            Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
            Host::Name(name) => ServerName::try_from(name.clone())
                .map_err(|e| failed(format!("server name: {e}")))?,
        };
        let stream = connector
            .connect(name, tcp)
            .await
            .map_err(|e| failed(io_reason(&e)))?;
        Ok(Box::new(stream))
    };
    let stream = tokio::time::timeout(inner.config.connect_timeout, opening)
        .await
        .map_err(|_| failed("timed out".into()))??;
    inc(&inner.counters.connections_opened);
    let (id, wake, cancel) = register(inner, tls, Some(key));
    inner
        .tracker
        .spawn(run(inner.clone(), id, stream, true, wake, cancel));
    Ok(id)
}

/// Runs a connection until it ends, then fails its sessions (§5.4).
async fn run(
    inner: Arc<Inner>,
    id: ConnId,
    stream: Stream,
    outgoing: bool,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    let (rd, wr) = tokio::io::split(stream);
    tokio::select! {
        () = cancel.cancelled() => {}
        () = read_loop(&inner, id, rd, outgoing, &wake) => {}
        () = write_loop(&inner, id, wr, &wake) => {}
    }
    cancel.cancel();
    let reason = if inner.cancel.is_cancelled() {
        CloseReason::Shutdown
    } else {
        CloseReason::ConnectionLost
    };
    let deliveries = {
        let mut state = inner.lock();
        let Some(conn) = state.conns.remove(&id) else {
            return;
        };
        if let Some(key) = &conn.authority
            && state.by_authority.get(key) == Some(&id)
        {
            state.by_authority.remove(key);
        }
        dec(&inner.counters.connections_open);
        let mut out = Vec::new();
        for sid in conn.sessions {
            if let Some(mut entry) = state.sessions.remove(&sid) {
                entry.cancel.cancel();
                entry.conn = None;
                dec(&inner.counters.sessions_open);
                out.push((entry.events, SessionEvent::Closed(reason.clone())));
            }
        }
        out
    };
    // The endpoint may be shutting down: tell without waiting on a full channel.
    for (tx, event) in deliveries {
        let _ = tx.try_send(event);
    }
}

/// Reads, decodes and routes until the peer closes, the stream loses its
/// framing, or a timeout closes it. The first-frame timeout is for accepted
/// connections; one we opened waits for the answer to our own first SEND.
async fn read_loop(
    inner: &Arc<Inner>,
    id: ConnId,
    mut rd: ReadHalf<Stream>,
    outgoing: bool,
    wake: &Notify,
) {
    let mut decoder = Decoder::new(inner.config.limits);
    let mut buf = vec![0u8; 16 * 1024];
    let started = Instant::now();
    let mut seen_frame = outgoing;
    let mut last = started;
    loop {
        let deadline = if seen_frame {
            last + inner.config.idle_timeout
        } else {
            started + inner.config.first_frame_timeout
        };
        let n = tokio::select! {
            read = rd.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            () = tokio::time::sleep_until(deadline) => {
                if !seen_frame || !inner.carries_sessions(id) {
                    inc(&inner.counters.idle_closes);
                    return;
                }
                last = Instant::now();
                continue;
            }
        };
        add(&inner.counters.bytes_in, n as u64);
        last = Instant::now();
        decoder.handle_bytes(&buf[..n]);
        loop {
            let deliveries = match decoder.poll_frame() {
                Ok(None) => break,
                Ok(Some(frame)) => {
                    seen_frame = true;
                    inc(&inner.counters.frames_in);
                    inner.route_frame(id, frame)
                }
                Err(error) if error.is_fatal() => {
                    inc(&inner.counters.fatal_decode_errors);
                    tracing::debug!(kind = error.kind(), "msrp stream lost its framing; closing");
                    return;
                }
                Err(error) => {
                    seen_frame = true;
                    inc(&inner.counters.decode_errors);
                    inner.route_error(id, &error)
                }
            };
            wake.notify_one();
            deliver(deliveries).await;
        }
    }
}

/// Writes what the connection and its sessions owe, whenever woken.
async fn write_loop(inner: &Arc<Inner>, id: ConnId, mut wr: WriteHalf<Stream>, wake: &Notify) {
    let mut out = Vec::new();
    loop {
        wake.notified().await;
        out.clear();
        if inner.drain(id, &mut out) {
            wake.notify_one();
        }
        if out.is_empty() {
            continue;
        }
        if wr.write_all(&out).await.is_err() || wr.flush().await.is_err() {
            return;
        }
    }
}

impl Inner {
    fn carries_sessions(&self, id: ConnId) -> bool {
        self.lock()
            .conns
            .get(&id)
            .is_some_and(|c| !c.sessions.is_empty())
    }

    /// Queues an answer to a request no session on this connection takes,
    /// if its Failure-Report allows one (§7.1.4).
    fn answer(&self, state: &mut State, id: ConnId, request: &Frame, status: StatusCode) {
        let Some(method) = request.method() else {
            return;
        };
        if !session::response_owed(method, request.failure_report(), status)
            || request.from_path().is_empty()
        {
            return;
        }
        let Some(local) = request.to_path().first() else {
            return;
        };
        if let Some(conn) = state.conns.get_mut(&id)
            && conn.outbox.len() < MAX_OUTBOX
        {
            conn.outbox
                .push_back(session::response(request, status, local));
        }
    }

    /// The session this frame is for, per §5.4 and §7.3: `Ok(id)` when the
    /// session is bound to this connection (binding a passive one on its
    /// first request), `Err(status)` for the answer a request gets.
    fn find_session(
        &self,
        state: &mut State,
        id: ConnId,
        frame: &Frame,
        deliveries: &mut Vec<Delivery>,
    ) -> Result<String, StatusCode> {
        let is_request = frame.method().is_some();
        let tls = state.conns.get(&id).is_some_and(|c| c.tls);
        let sid = frame
            .to_path()
            .first()
            .and_then(|u| u.session_id.clone())
            .ok_or(StatusCode::NO_SESSION)?;
        let State {
            sessions, conns, ..
        } = state;
        // §6: an msrps session is reached over TLS only.
        let entry = sessions
            .get_mut(&sid)
            .filter(|e| (e.local.scheme == Scheme::Msrps) == tls)
            .ok_or(StatusCode::NO_SESSION)?;
        match entry.conn {
            Some(conn) if conn == id => Ok(sid),
            // §5.4: "If the session is already in use, it MUST reject the
            // request with a 506 response."
            Some(_) => Err(StatusCode::SESSION_ON_OTHER_CONNECTION),
            None if is_request && entry.role == Role::Passive => {
                entry.conn = Some(id);
                if let Some(conn) = conns.get_mut(&id) {
                    conn.sessions.insert(sid.clone());
                }
                deliveries.push((entry.events.clone(), SessionEvent::Bound));
                Ok(sid)
            }
            None => Err(StatusCode::NO_SESSION),
        }
    }

    /// A decoded frame: to its session, or answered here.
    fn route_frame(&self, id: ConnId, frame: Frame) -> Vec<Delivery> {
        let mut deliveries = Vec::new();
        let mut state = self.lock();
        let sid = match self.find_session(&mut state, id, &frame, &mut deliveries) {
            Ok(sid) => sid,
            Err(status) => {
                self.answer(&mut state, id, &frame, status);
                return deliveries;
            }
        };
        let Some(entry) = state.sessions.get_mut(&sid) else {
            return deliveries;
        };
        // A response to no SEND we still wait for (timed out, or never
        // sent) is dropped: its 408 was reported already.
        if frame.method().is_none() && entry.pending.remove(&frame.transaction_id).is_none() {
            let before = entry.partial.len();
            entry.partial.retain(|t| *t != frame.transaction_id);
            if entry.partial.len() == before {
                return deliveries;
            }
        }
        entry.session.handle_frame(frame);
        entry.drain_events(&self.counters, &mut deliveries);
        deliveries
    }

    /// A frame the decoder refused but the stream goes on.
    fn route_error(&self, id: ConnId, error: &DecodeError) -> Vec<Delivery> {
        let mut deliveries = Vec::new();
        let Some(salvage) = &error.salvage else {
            return deliveries;
        };
        let mut state = self.lock();
        let sid = match self.find_session(&mut state, id, salvage, &mut deliveries) {
            Ok(sid) => sid,
            Err(status) => {
                // §7.3: the To-Path is checked first; a request that names
                // no session hears 481, one this connection may not use 506.
                self.answer(&mut state, id, salvage, status);
                return deliveries;
            }
        };
        if let Some(entry) = state.sessions.get_mut(&sid) {
            entry.session.handle_decode_error(error);
            entry.drain_events(&self.counters, &mut deliveries);
        }
        deliveries
    }

    /// Encodes what this connection owes into `out`; `true` if more remains.
    fn drain(&self, id: ConnId, out: &mut Vec<u8>) -> bool {
        let now = Instant::now();
        let mut state = self.lock();
        let State {
            sessions, conns, ..
        } = &mut *state;
        let Some(conn) = conns.get_mut(&id) else {
            return false;
        };
        while let Some(frame) = conn.outbox.pop_front() {
            let before = out.len();
            frame.write_to(out);
            self.counters.frame_out(&frame, out.len() - before);
        }
        for sid in &conn.sessions {
            let Some(entry) = sessions.get_mut(sid) else {
                continue;
            };
            while let Some(frame) = entry.session.poll_transmit() {
                // §7.1.1: "If the value of "Failure-Report" is set to
                // "yes", then the sender of the request runs a timer";
                // with "partial" a failure response may still come; with
                // "no" none will. RFC 7701's NICKNAME has no Failure-Report,
                // which §7.1.1 reads as "yes".
                let awaited = match (frame.method(), frame.message_id()) {
                    (Some(Method::Send), Some(message_id)) => {
                        Some(Awaited::Send(message_id.clone()))
                    }
                    (Some(Method::Nickname), _) => Some(Awaited::Nickname),
                    _ => None,
                };
                if let Some(awaited) = awaited {
                    match frame.failure_report() {
                        FailureReport::Yes => {
                            entry.pending.insert(
                                frame.transaction_id.clone(),
                                Pending {
                                    awaited,
                                    deadline: now + self.config.transaction_timeout,
                                },
                            );
                            entry.timer.notify_one();
                        }
                        FailureReport::Partial => {
                            if entry.partial.len() >= entry.max_pending {
                                entry.partial.pop_front();
                            }
                            entry.partial.push_back(frame.transaction_id.clone());
                        }
                        FailureReport::No => {}
                    }
                }
                write_frame(&frame, out, &self.counters);
                if out.len() >= WRITE_BATCH {
                    return true;
                }
            }
        }
        false
    }
}

fn write_frame(frame: &Frame, out: &mut Vec<u8>, counters: &super::Counters) {
    let before = out.len();
    frame.write_to(out);
    counters.frame_out(frame, out.len() - before);
}

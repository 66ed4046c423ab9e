//! Sends batched (issue 24): while a [`SendBatch`] is open on a thread, the
//! UDP datagrams the endpoint sends from that thread wait in an outbox and
//! leave together when it closes, in one `sendmmsg(2)` per socket instead of
//! one `sendto(2)` each. The gateway opens one around the delivery-window
//! reaper, which answers a burst of MESSAGEs with their 200s at once.
//!
//! Nothing changes but the syscalls: every datagram still leaves, in the
//! order it was sent, as soon as the batch closes (the caller holds it for
//! one pass over its work, never across an `.await`). Streams (TCP, TLS)
//! are written at once as before; a datagram the kernel does not take in
//! the batch goes the ordinary way ([`Inner::send_bytes`]).

use std::cell::RefCell;
use std::sync::Arc;

use super::Inner;
use crate::config::Transport;
use crate::stats::bump;
use crate::transaction::Transmit;
use crate::transport::udp;

/// At most this many datagrams per `sendmmsg` call (the kernel's `UIO_MAXIOV`
/// is 1024; a few dozen already take the per-call cost out of the profile).
const MAX_PER_CALL: usize = 64;

thread_local! {
    /// The open batch's datagrams, with the endpoint that sends them; `None`
    /// when no batch is open on this thread.
    static OUTBOX: RefCell<Option<Outbox>> = const { RefCell::new(None) };
}

struct Outbox {
    inner: Arc<Inner>,
    transmits: Vec<Transmit>,
}

/// While alive, UDP datagrams this endpoint sends from this thread are held
/// and sent together when it is dropped. Not `Send`: it belongs to the
/// thread whose sends it holds. A batch opened inside another is a no-op.
#[must_use = "the batch is sent when it is dropped"]
pub struct SendBatch {
    /// Whether this guard opened the outbox (and so flushes it).
    opened: bool,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl SendBatch {
    pub(super) fn open(inner: &Arc<Inner>) -> SendBatch {
        let opened = OUTBOX.with(|outbox| {
            let mut outbox = outbox.borrow_mut();
            if outbox.is_some() {
                return false;
            }
            *outbox = Some(Outbox {
                inner: Arc::clone(inner),
                transmits: Vec::new(),
            });
            true
        });
        SendBatch {
            opened,
            _not_send: std::marker::PhantomData,
        }
    }
}

impl Drop for SendBatch {
    fn drop(&mut self) {
        if !self.opened {
            return;
        }
        let Some(outbox) = OUTBOX.with(|outbox| outbox.borrow_mut().take()) else {
            return;
        };
        flush(&outbox.inner, outbox.transmits);
    }
}

/// Holds `transmit` in this thread's open batch of `inner`; gives it back
/// when there is none (or it is not a UDP datagram of that endpoint).
pub(super) fn hold(inner: &Inner, transmit: Transmit) -> Option<Transmit> {
    if transmit.target.transport != Transport::Udp {
        return Some(transmit);
    }
    OUTBOX.with(|outbox| match outbox.borrow_mut().as_mut() {
        Some(outbox) if std::ptr::eq(Arc::as_ptr(&outbox.inner), inner) => {
            outbox.transmits.push(transmit);
            None
        }
        _ => Some(transmit),
    })
}

/// Sends the held datagrams: runs of one socket in `sendmmsg` calls, what
/// the kernel did not take one by one as before.
fn flush(inner: &Inner, transmits: Vec<Transmit>) {
    let mut rest = &transmits[..];
    while let Some(first) = rest.first() {
        let socket = inner.udp_socket_for(first.target.addr);
        let run = rest
            .iter()
            .take(MAX_PER_CALL)
            .take_while(|t| inner.udp_socket_for(t.target.addr).map(|s| s.1) == socket.map(|s| s.1))
            .count()
            .max(1);
        let (batch, after) = rest.split_at(run);
        let sent = match socket {
            Some((socket, _)) if batch.len() > 1 => udp::send_many(socket, batch),
            _ => 0,
        };
        for transmit in &batch[..sent] {
            if transmit.retransmission {
                bump(&inner.counters.retransmissions_sent);
            }
        }
        for transmit in &batch[sent..] {
            inner.transmit_now(transmit);
        }
        rest = after;
    }
}

//! A session's one timer task: the passive side's bind timeout and RFC 4975
//! §7.1.1's response timer ("If a 200 response to the transaction is not
//! received within 30 seconds from the time the last byte of the
//! transaction is sent ... the element MUST inform the user"), reported as
//! a 408 response. The deadlines are data in the session's entry; the task
//! sleeps until the nearest and is woken when they change.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::endpoint::stats::inc;
use crate::endpoint::{Awaited, CloseReason, Delivery, Inner, SessionEvent, deliver};
use crate::session::Event;
use crate::status::StatusCode;
use crate::wire::TransactionId;

/// The session's timer task: the passive bind timeout and §7.1.1's
/// response timer.
pub(super) async fn session_timer(
    inner: Arc<Inner>,
    id: String,
    timer: Arc<Notify>,
    cancel: CancellationToken,
    bind_deadline: Option<Instant>,
) {
    loop {
        let Some(next) = next_deadline(&inner, &id, bind_deadline) else {
            return;
        };
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = timer.notified() => continue,
            () = sleep => {
                let deliveries = expire(&inner, &id, bind_deadline);
                deliver(deliveries).await;
            }
        }
    }
}

/// The session timer's next deadline; `None` when the session is gone.
fn next_deadline(
    inner: &Inner,
    id: &str,
    bind_deadline: Option<Instant>,
) -> Option<Option<Instant>> {
    let state = inner.lock();
    let entry = state.sessions.get(id)?;
    let bind = bind_deadline.filter(|_| entry.conn.is_none());
    let pending = entry.pending.values().map(|p| p.deadline).min();
    Some(match (bind, pending) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// Fires the session's expired timers.
fn expire(inner: &Inner, id: &str, bind_deadline: Option<Instant>) -> Vec<Delivery> {
    let now = Instant::now();
    let mut state = inner.lock();
    let mut out = Vec::new();
    let Some(entry) = state.sessions.get_mut(id) else {
        return out;
    };
    if entry.conn.is_none() && bind_deadline.is_some_and(|d| d <= now) {
        let events = entry.events.clone();
        inner.remove_session(&mut state, id);
        out.push((events, SessionEvent::Closed(CloseReason::BindTimeout)));
        return out;
    }
    let expired: Vec<TransactionId> = entry
        .pending
        .iter()
        .filter(|(_, p)| p.deadline <= now)
        .map(|(t, _)| t.clone())
        .collect();
    for tid in expired {
        if let Some(p) = entry.pending.remove(&tid) {
            inc(&inner.counters.transaction_timeouts);
            match p.awaited {
                Awaited::Send(message_id) => out.push((
                    entry.events.clone(),
                    SessionEvent::Msrp(Event::Response {
                        message_id,
                        status: StatusCode::REQUEST_TIMEOUT,
                    }),
                )),
                // The session core forgets it and raises the 408.
                Awaited::Nickname => {
                    entry.session.handle_nickname_timeout(&tid);
                    entry.drain_events(&inner.counters, &mut out);
                }
            }
        }
    }
    out
}

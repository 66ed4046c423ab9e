//! Shutdown on a deadline (design §2; issue 26 §1): SIGTERM stops intake,
//! answers what was accepted, gives SIP peers `shutdown.grace_ms` to answer
//! what was sent, and then stops waiting, so that a peer that never answers
//! cannot hold the process for Timer F (64·T1 = 32 s, RFC 3261 §17.1.2.2).
//!
//! The order, each step before the next:
//! 1. **Intake stops.** SIP requests still queued for the router, and every
//!    new one, get 503 + Retry-After (RFC 3261 §21.5.4: "temporarily unable
//!    to process the request ... MAY add a Retry-After"); new stanzas that
//!    ask for something get `<service-unavailable/>` (`refuse_stanza`).
//! 2. **Accepted SIP requests are answered.** A MESSAGE whose stanza was
//!    handed to the component queue gets its 200 (`Messages::flush_pending`).
//! 3. **Peers get the grace period** to answer Parley's own requests. When
//!    it runs out, `Endpoint::abandon_requests` ends every wait: each XMPP
//!    sender whose message has no SIP final response gets
//!    `<remote-server-timeout/>` (`Messages::sip_outcome`).
//! 4. The caller then flushes the store and closes the component stream
//!    with `</stream:stream>`, each within the second after the deadline.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use parley_mapping::error::stopping_stanza_error;
use parley_sip::StatusCode;
use parley_sip::{Endpoint, IncomingRequest};
use parley_xmpp::component::ComponentEvent;
use parley_xmpp::stanza::{IqType, PresenceType, Stanza};

use crate::router::Router;

/// How long the tasks get, once their SIP waits were abandoned, to send
/// their stanza errors: they only queue a stanza, so this is generous.
const ABANDONED_TASKS_WAIT: Duration = Duration::from_millis(150);

/// What the drain works on: the running gateway's links and its intake.
pub(crate) struct Drain<'a> {
    /// The router, for the accepted requests and the timers it runs.
    pub(crate) router: &'a Router,
    /// The SIP endpoint, whose waits are abandoned at the deadline.
    pub(crate) sip: &'a Endpoint,
    /// SIP requests queued for the router.
    pub(crate) sip_events: mpsc::Receiver<IncomingRequest>,
    /// Events from the component stream, read until the deadline.
    pub(crate) xmpp_events: &'a mut mpsc::Receiver<ComponentEvent>,
    /// Stanzas that waited for their sender's rate (`limits.xmpp_*`): they
    /// were accepted but never handled, so they are refused like new ones.
    pub(crate) shaped: Vec<Stanza>,
    /// The router's tasks (outgoing requests and their follow-ups).
    pub(crate) tasks: &'a TaskTracker,
    /// `shutdown.grace_ms`.
    pub(crate) grace: Duration,
    /// `limits.sip_retry_after_secs`, for the 503s.
    pub(crate) retry_after_secs: u32,
}

/// What the drain did, for the log line that ends it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Drained {
    /// SIP requests refused with 503 while draining.
    pub(crate) sip_refused: usize,
    /// Stanzas refused with `<service-unavailable/>` while draining.
    pub(crate) stanzas_refused: usize,
    /// Whether the grace period ran out with requests still unanswered.
    pub(crate) abandoned: bool,
}

/// Steps 1–3 of the module doc; returns once every task has ended or the
/// grace period (plus [`ABANDONED_TASKS_WAIT`]) has passed.
pub(crate) async fn drain(d: Drain<'_>) -> Drained {
    let deadline = Instant::now() + d.grace;
    let router = d.router;
    let mut drained = Drained::default();

    // 1. No new SIP request reaches the router: the endpoint answers 503 to
    //    whatever it cannot queue, and those already queued are answered here.
    let mut sip_events = d.sip_events;
    sip_events.close();
    while let Ok(request) = sip_events.try_recv() {
        refuse_sip(request, d.retry_after_secs);
        drained.sip_refused += 1;
    }
    for stanza in d.shaped {
        if refuse_stanza(&stanza, router) {
            drained.stanzas_refused += 1;
        }
    }

    // 2. Accepted SIP requests get their answer; timers stop.
    router.stop();
    d.tasks.close();

    // 3. The peers' grace period, refusing stanzas that still come in.
    let finished = {
        let wait = d.tasks.wait();
        tokio::pin!(wait);
        let mut stream_open = true;
        loop {
            tokio::select! {
                () = &mut wait => break true,
                () = tokio::time::sleep_until(deadline) => break false,
                event = d.xmpp_events.recv(), if stream_open => match event {
                    Some(ComponentEvent::Stanza(stanza)) => {
                        if refuse_stanza(&stanza, router) {
                            drained.stanzas_refused += 1;
                        }
                    }
                    Some(_) => {}
                    None => stream_open = false,
                },
            }
        }
    };
    if !finished {
        warn!(
            unanswered = d.tasks.len(),
            grace_ms = d.grace.as_millis(),
            "shutdown grace period over: requests to SIP peers that have not answered are abandoned"
        );
        drained.abandoned = true;
        d.sip.abandon_requests();
        if tokio::time::timeout(ABANDONED_TASKS_WAIT, d.tasks.wait())
            .await
            .is_err()
        {
            warn!(
                tasks = d.tasks.len(),
                "tasks still running after their SIP requests were abandoned"
            );
        }
    }
    info!(
        sip_refused = drained.sip_refused,
        stanzas_refused = drained.stanzas_refused,
        abandoned = drained.abandoned,
        "drained"
    );
    drained
}

/// RFC 3261 §21.5.4: a request that arrives while Parley stops gets 503 with
/// Retry-After, so the peer tries again (the restarted gateway, or another
/// instance behind its proxy) instead of counting it as a failure.
fn refuse_sip(request: IncomingRequest, retry_after_secs: u32) {
    debug!(
        method = request.method(),
        "SIP request refused: shutting down"
    );
    request.respond(
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        vec![("Retry-After".to_owned(), retry_after_secs.to_string())],
        None,
    );
}

/// Answers a stanza that arrives while Parley stops, with
/// `parley_mapping::error::stopping_stanza_error`; returns whether it was
/// answered. Requests (messages, IQ get/set, presence `subscribe`,
/// `unsubscribe` and `probe`) are. Errors and IQ results are never answered
/// (RFC 6120 §8.3.1 rule 8), and neither are presence broadcasts
/// (available/unavailable), which ask for nothing (the restarted gateway
/// probes for the presence it needs), nor a user's `subscribed`/`unsubscribed`
/// answer to a SIP watcher: her server has already recorded it, and the
/// restarted gateway asks again for every stored subscription still pending
/// (`Notifier::restore`).
fn refuse_stanza(stanza: &Stanza, router: &Router) -> bool {
    if !asks_for_an_answer(stanza) {
        return false;
    }
    let Some(reply) = stanza.error_reply(stopping_stanza_error(), &router.links.component_domain)
    else {
        return false;
    };
    router.links.send(reply);
    true
}

/// Whether a stanza arriving while Parley stops gets an error ([`refuse_stanza`]).
fn asks_for_an_answer(stanza: &Stanza) -> bool {
    match stanza {
        Stanza::Message(_) => !stanza.is_error(),
        Stanza::Iq(iq) => matches!(iq.iq_type, IqType::Get | IqType::Set),
        Stanza::Presence(p) => matches!(
            p.presence_type,
            Some(PresenceType::Subscribe | PresenceType::Unsubscribe | PresenceType::Probe)
        ),
    }
}

#[cfg(test)]
mod tests {
    use parley_xmpp::stanza::{Iq, Message, MessageType, Presence};

    use super::*;

    fn presence(presence_type: Option<PresenceType>) -> Stanza {
        Stanza::Presence(Presence {
            presence_type,
            ..Presence::default()
        })
    }

    fn iq(iq_type: IqType) -> Stanza {
        Stanza::Iq(Iq {
            from: None,
            to: None,
            id: "i1".to_owned(),
            iq_type,
            payload: None,
            error: None,
        })
    }

    #[test]
    fn requests_are_refused_while_draining_and_answers_and_broadcasts_are_not() {
        let message = |message_type| {
            Stanza::Message(Message {
                message_type,
                ..Message::default()
            })
        };
        for asks in [
            message(None),
            message(Some(MessageType::Chat)),
            iq(IqType::Get),
            iq(IqType::Set),
            presence(Some(PresenceType::Subscribe)),
            presence(Some(PresenceType::Unsubscribe)),
            presence(Some(PresenceType::Probe)),
        ] {
            assert!(asks_for_an_answer(&asks), "{asks:?}");
        }
        for quiet in [
            message(Some(MessageType::Error)),
            iq(IqType::Result),
            iq(IqType::Error),
            presence(None),
            presence(Some(PresenceType::Unavailable)),
            presence(Some(PresenceType::Subscribed)),
            presence(Some(PresenceType::Unsubscribed)),
            presence(Some(PresenceType::Error)),
        ] {
            assert!(!asks_for_an_answer(&quiet), "{quiet:?}");
        }
    }
}

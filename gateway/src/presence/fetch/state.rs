//! RFC 8048 §7, the waits of the two polls as sans-IO state machines: a
//! §7.1 fetch waiting for its SUBSCRIBE's answer and its NOTIFY
//! ([`NotifyWait`]), a §7.2 probe gathering its answers ([`ProbeGather`]).
//! Time comes in as `now`; `poll_timeout` says when a machine next needs the
//! reaper and `handle_timeout` what it ended with then. Sending the probe,
//! the SUBSCRIBE, the NOTIFY and the `<presence/>` is the caller's.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use parley_xmpp::stanza::{Presence, PresenceType};

use crate::metrics::FetchOutcome;

/// How a §7.1 fetch's SUBSCRIBE was answered, as the task that sent it saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubscribeAnswer {
    /// A 2xx: the NOTIFY is coming (RFC 6665 §4.4.3).
    Granted,
    /// A final error, no answer, or not sent at all: the fetch ends so.
    Ended(FetchOutcome),
}

/// What a §7.1 fetch ended with.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FetchEnd {
    /// Its NOTIFY came with this body (empty: "without state", RFC 6665
    /// §4.1.2.3).
    Notified(Vec<u8>),
    /// No NOTIFY to read: refused, timed out (the transaction, or Timer N),
    /// failed, or shut down.
    Without(FetchOutcome),
}

#[derive(Debug)]
enum Phase {
    /// The SUBSCRIBE is in flight. RFC 6665 §4.1.2.4: "the subscriber MUST
    /// be prepared to receive NOTIFY requests before the SUBSCRIBE
    /// transaction has completed": such a NOTIFY's body is held here.
    AwaitingAnswer {
        notify: Option<Vec<u8>>,
        /// Shutdown began: a 2xx now ends the fetch `Failed`.
        stopped: bool,
    },
    /// 2xx received, no NOTIFY yet: Timer N runs (RFC 6665 §4.1.2.4).
    AwaitingNotify { timer_n_at: Instant },
    /// Ended; every input is ignored.
    Done,
}

/// §7.1: one fetch's wait for its NOTIFY, keyed by the caller by Call-ID.
/// RFC 6665 §4.1.2.4 starts Timer N with the request; as for a lasting
/// subscription, Parley starts it at the 2xx, since a refused or timed-out
/// SUBSCRIBE ends the fetch by its own answer.
#[derive(Debug)]
pub(crate) struct NotifyWait {
    phase: Phase,
    timer_n: Duration,
}

impl NotifyWait {
    /// The SUBSCRIBE is about to go out; `timer_n` bounds the wait for the
    /// NOTIFY after its 2xx.
    pub(crate) fn new(timer_n: Duration) -> Self {
        Self {
            phase: Phase::AwaitingAnswer {
                notify: None,
                stopped: false,
            },
            timer_n,
        }
    }

    /// When Timer N fires, while it runs.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::AwaitingNotify { timer_n_at } => Some(timer_n_at),
            _ => None,
        }
    }

    /// The SUBSCRIBE's answer came at `now`.
    pub(crate) fn handle_answer(
        &mut self,
        answer: SubscribeAnswer,
        now: Instant,
    ) -> Option<FetchEnd> {
        let Phase::AwaitingAnswer { notify, stopped } = &mut self.phase else {
            return None;
        };
        let end = match answer {
            SubscribeAnswer::Granted if *stopped => FetchEnd::Without(FetchOutcome::Failed),
            SubscribeAnswer::Granted => match notify.take() {
                Some(body) => FetchEnd::Notified(body),
                None => {
                    self.phase = Phase::AwaitingNotify {
                        timer_n_at: now + self.timer_n,
                    };
                    return None;
                }
            },
            SubscribeAnswer::Ended(outcome) => FetchEnd::Without(outcome),
        };
        self.phase = Phase::Done;
        Some(end)
    }

    /// A NOTIFY in the fetch's dialog. Only the first counts: a fetch's is
    /// final (RFC 6665 §4.4.3), so a later one is given back (`Err`), for
    /// the caller to answer as one in no dialog (481, §4.1.3).
    pub(crate) fn handle_notify(&mut self, body: Vec<u8>) -> Result<Option<FetchEnd>, Vec<u8>> {
        match &mut self.phase {
            Phase::AwaitingAnswer { notify, .. } if notify.is_none() => {
                *notify = Some(body);
                Ok(None)
            }
            Phase::AwaitingNotify { .. } => {
                self.phase = Phase::Done;
                Ok(Some(FetchEnd::Notified(body)))
            }
            _ => Err(body),
        }
    }

    /// The reaper's tick: Timer N fired without a NOTIFY.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<FetchEnd> {
        match self.phase {
            Phase::AwaitingNotify { timer_n_at } if timer_n_at <= now => {
                self.phase = Phase::Done;
                Some(FetchEnd::Without(FetchOutcome::TimedOut))
            }
            _ => None,
        }
    }

    /// Shutdown: a fetch waiting for its NOTIFY ends `Failed` now; one whose
    /// SUBSCRIBE is in flight ends by its answer, `Failed` if that is a 2xx.
    pub(crate) fn handle_stop(&mut self) -> Option<FetchEnd> {
        match &mut self.phase {
            Phase::AwaitingAnswer { stopped, .. } => {
                *stopped = true;
                None
            }
            Phase::AwaitingNotify { .. } => {
                self.phase = Phase::Done;
                Some(FetchEnd::Without(FetchOutcome::Failed))
            }
            Phase::Done => None,
        }
    }
}

/// §7.2: the longest a SIP fetch waits for the XMPP user's server to answer
/// the probe. RFC 6121 §4.3.2 has it answer at once, but only a subscribed
/// prober gets her presence; others get `unsubscribed` (which ends the wait)
/// or, from Prosody 0.12, nothing at all — then the NOTIFY goes out without
/// her state when this runs out.
pub(crate) const PROBE_WAIT: Duration = Duration::from_secs(2);

/// §7.2: after each available presence, how long to wait for those of her
/// other resources (RFC 6121 §4.3.2 rule 4: one stanza per resource).
pub(crate) const PROBE_GATHER: Duration = Duration::from_millis(200);

/// §7.2: resources gathered per probe; available presence from one more is
/// dropped, so a flood of answers cannot grow a probe without bound.
pub(crate) const PROBE_RESOURCES: usize = 16;

/// What the answers to one §7.2 probe came to.
#[derive(Debug, PartialEq)]
pub(crate) struct Gathered {
    /// Her available resources' presence, by full JID.
    pub(crate) resources: BTreeMap<String, Presence>,
    /// `Presence` (she answered), `Refused` (`unsubscribed`), `TimedOut`,
    /// `Failed` (shutdown).
    pub(crate) outcome: FetchOutcome,
}

/// §7.2: the answers to one probe, collected per RFC 6121 §4.3.2 until
/// `unavailable` leaves no resource (rule 3), `unsubscribed` comes before
/// any available presence (rule 1: the prober is not authorised),
/// [`PROBE_GATHER`] passes after the last available presence (rule 4, one
/// per resource), or [`PROBE_WAIT`] in all.
#[derive(Debug)]
pub(crate) struct ProbeGather {
    resources: BTreeMap<String, Presence>,
    outcome: FetchOutcome,
    /// PROBE_WAIT after the probe went out.
    deadline: Instant,
    /// PROBE_GATHER after the last available presence, never past `deadline`.
    gather_until: Option<Instant>,
    /// It ended: every input is ignored.
    done: bool,
}

impl ProbeGather {
    /// The probe went out at `now`.
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            resources: BTreeMap::new(),
            outcome: FetchOutcome::TimedOut,
            deadline: now + PROBE_WAIT,
            gather_until: None,
            done: false,
        }
    }

    /// When the wait ends unless an answer ends it first.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        Some(self.gather_until.unwrap_or(self.deadline))
    }

    /// An answer to the probe, `from` set to the full JID it came from.
    pub(crate) fn handle_answer(&mut self, p: Presence, now: Instant) -> Option<Gathered> {
        if self.done {
            return None;
        }
        let from = p.from.clone().unwrap_or_default();
        match p.presence_type {
            None => {
                if self.resources.len() >= PROBE_RESOURCES && !self.resources.contains_key(&from) {
                    return None;
                }
                self.resources.insert(from, p);
                self.outcome = FetchOutcome::Presence;
                self.gather_until = Some(self.deadline.min(now + PROBE_GATHER));
                None
            }
            Some(PresenceType::Unavailable) => {
                self.resources.remove(&from);
                self.outcome = FetchOutcome::Presence;
                self.resources.is_empty().then(|| self.end())
            }
            Some(PresenceType::Unsubscribed) if self.resources.is_empty() => {
                self.outcome = FetchOutcome::Refused;
                Some(self.end())
            }
            _ => None,
        }
    }

    /// The reaper's tick: the wait ends once its time came.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<Gathered> {
        match self.poll_timeout() {
            Some(at) if at <= now => Some(self.end()),
            _ => None,
        }
    }

    /// Shutdown: the wait ends `Failed`, with nothing of her state.
    pub(crate) fn handle_stop(&mut self) -> Option<Gathered> {
        if self.done {
            return None;
        }
        self.resources.clear();
        self.outcome = FetchOutcome::Failed;
        Some(self.end())
    }

    fn end(&mut self) -> Gathered {
        self.done = true;
        Gathered {
            resources: std::mem::take(&mut self.resources),
            outcome: self.outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(from: &str, t: Option<PresenceType>) -> Presence {
        Presence {
            from: Some(from.to_owned()),
            presence_type: t,
            ..Presence::default()
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    const TIMER_N: Duration = Duration::from_secs(32);

    fn pidf() -> Vec<u8> {
        b"<presence/>".to_vec()
    }

    #[test]
    fn notify_after_the_2xx_ends_the_fetch_with_its_body() {
        let t0 = Instant::now();
        let mut w = NotifyWait::new(TIMER_N);
        assert_eq!(w.poll_timeout(), None);
        assert_eq!(w.handle_answer(SubscribeAnswer::Granted, t0), None);
        assert_eq!(w.poll_timeout(), Some(t0 + TIMER_N));
        assert_eq!(
            w.handle_notify(pidf()),
            Ok(Some(FetchEnd::Notified(pidf())))
        );
        assert_eq!(w.poll_timeout(), None);
        assert_eq!(w.handle_notify(pidf()), Err(pidf()), "only the first");
    }

    /// RFC 6665 §4.1.2.4: a NOTIFY may overtake the 2xx.
    #[test]
    fn notify_before_the_2xx_is_held_until_it() {
        let t0 = Instant::now();
        let mut w = NotifyWait::new(TIMER_N);
        assert_eq!(w.handle_notify(pidf()), Ok(None));
        assert_eq!(w.poll_timeout(), None, "no Timer N before the 2xx");
        assert_eq!(w.handle_notify(b"second".to_vec()), Err(b"second".to_vec()));
        assert_eq!(
            w.handle_answer(SubscribeAnswer::Granted, t0 + ms(500)),
            Some(FetchEnd::Notified(pidf()))
        );
        assert_eq!(w.poll_timeout(), None);
    }

    #[test]
    fn timer_n_fires_timer_n_after_the_2xx() {
        let t0 = Instant::now();
        let granted = t0 + ms(300);
        let mut w = NotifyWait::new(TIMER_N);
        w.handle_answer(SubscribeAnswer::Granted, granted);
        assert_eq!(w.handle_timeout(granted + TIMER_N - ms(1)), None);
        assert_eq!(
            w.handle_timeout(granted + TIMER_N),
            Some(FetchEnd::Without(FetchOutcome::TimedOut))
        );
        assert_eq!(w.poll_timeout(), None);
        assert_eq!(w.handle_notify(pidf()), Err(pidf()), "too late");
    }

    #[test]
    fn an_error_answer_ends_the_fetch_even_with_a_notify_held() {
        let t0 = Instant::now();
        for held in [false, true] {
            let mut w = NotifyWait::new(TIMER_N);
            if held {
                assert_eq!(w.handle_notify(pidf()), Ok(None));
            }
            assert_eq!(
                w.handle_answer(SubscribeAnswer::Ended(FetchOutcome::Refused), t0),
                Some(FetchEnd::Without(FetchOutcome::Refused))
            );
            assert_eq!(w.poll_timeout(), None);
        }
    }

    #[test]
    fn shutdown_ends_a_wait_for_the_notify_failed() {
        let t0 = Instant::now();
        let mut w = NotifyWait::new(TIMER_N);
        w.handle_answer(SubscribeAnswer::Granted, t0);
        assert_eq!(
            w.handle_stop(),
            Some(FetchEnd::Without(FetchOutcome::Failed))
        );
        assert_eq!(w.poll_timeout(), None);
        assert_eq!(w.handle_timeout(t0 + TIMER_N), None);
        assert_eq!(w.handle_stop(), None);
    }

    #[test]
    fn shutdown_during_the_subscribe_ends_it_failed_at_its_2xx() {
        let t0 = Instant::now();
        let mut w = NotifyWait::new(TIMER_N);
        assert_eq!(w.handle_notify(pidf()), Ok(None));
        assert_eq!(w.handle_stop(), None, "the request is still in flight");
        assert_eq!(
            w.handle_answer(SubscribeAnswer::Granted, t0),
            Some(FetchEnd::Without(FetchOutcome::Failed))
        );
    }

    #[test]
    fn nothing_back_ends_the_wait_at_its_bound() {
        let t0 = Instant::now();
        let mut g = ProbeGather::new(t0);
        assert_eq!(g.poll_timeout(), Some(t0 + PROBE_WAIT));
        assert_eq!(g.handle_timeout(t0 + PROBE_WAIT - ms(1)), None);
        let ended = g.handle_timeout(t0 + PROBE_WAIT).expect("ended");
        assert_eq!(ended.outcome, FetchOutcome::TimedOut);
        assert!(ended.resources.is_empty());
        assert_eq!(g.poll_timeout(), None);
    }

    #[test]
    fn each_resource_is_gathered_then_the_wait_ends_early() {
        let t0 = Instant::now();
        let mut g = ProbeGather::new(t0);
        assert_eq!(g.handle_answer(presence("juliet@x/a", None), t0), None);
        assert_eq!(g.handle_answer(presence("juliet@x/b", None), t0), None);
        assert_eq!(g.poll_timeout(), Some(t0 + PROBE_GATHER));
        assert_eq!(g.handle_timeout(t0 + PROBE_GATHER - ms(1)), None);
        let ended = g.handle_timeout(t0 + PROBE_GATHER).expect("ended");
        assert_eq!(ended.outcome, FetchOutcome::Presence);
        assert_eq!(
            ended.resources.keys().collect::<Vec<_>>(),
            ["juliet@x/a", "juliet@x/b"]
        );
    }

    #[test]
    fn each_available_presence_moves_the_gather_but_never_past_the_bound() {
        let t0 = Instant::now();
        let mut g = ProbeGather::new(t0);
        g.handle_answer(presence("juliet@x/a", None), t0 + ms(100));
        assert_eq!(g.poll_timeout(), Some(t0 + ms(100) + PROBE_GATHER));
        g.handle_answer(presence("juliet@x/b", None), t0 + ms(250));
        assert_eq!(g.poll_timeout(), Some(t0 + ms(250) + PROBE_GATHER));
        g.handle_answer(presence("juliet@x/c", None), t0 + PROBE_WAIT - ms(50));
        assert_eq!(g.poll_timeout(), Some(t0 + PROBE_WAIT));
    }

    #[test]
    fn unavailable_or_unsubscribed_end_the_wait_at_once() {
        for (t, outcome) in [
            (PresenceType::Unavailable, FetchOutcome::Presence),
            (PresenceType::Unsubscribed, FetchOutcome::Refused),
        ] {
            let t0 = Instant::now();
            let mut g = ProbeGather::new(t0);
            let ended = g
                .handle_answer(presence("juliet@x", Some(t)), t0)
                .expect("ended at once");
            assert_eq!(ended.outcome, outcome);
            assert!(ended.resources.is_empty());
            assert_eq!(g.poll_timeout(), None);
        }
    }

    #[test]
    fn unavailable_ends_the_wait_only_once_no_resource_is_left() {
        let t0 = Instant::now();
        let mut g = ProbeGather::new(t0);
        g.handle_answer(presence("juliet@x/a", None), t0);
        g.handle_answer(presence("juliet@x/b", None), t0);
        let gone = Some(PresenceType::Unavailable);
        assert_eq!(g.handle_answer(presence("juliet@x/a", gone), t0), None);
        let ended = g
            .handle_answer(presence("juliet@x/b", gone), t0 + ms(10))
            .expect("no resource left");
        assert_eq!(ended.outcome, FetchOutcome::Presence);
        assert!(ended.resources.is_empty());
    }

    /// RFC 6121 §4.3.2 rule 1 refuses before any presence; once she has
    /// answered with some, a later `unsubscribed` changes nothing.
    #[test]
    fn unsubscribed_after_her_presence_is_ignored() {
        let t0 = Instant::now();
        let mut g = ProbeGather::new(t0);
        g.handle_answer(presence("juliet@x/a", None), t0);
        let refused = presence("juliet@x", Some(PresenceType::Unsubscribed));
        assert_eq!(g.handle_answer(refused, t0), None);
        let ended = g.handle_timeout(t0 + PROBE_GATHER).expect("ended");
        assert_eq!(ended.outcome, FetchOutcome::Presence);
        assert_eq!(ended.resources.len(), 1);
    }

    #[test]
    fn a_flood_of_resources_is_bounded() {
        let t0 = Instant::now();
        let mut g = ProbeGather::new(t0);
        for i in 0..PROBE_RESOURCES + 5 {
            g.handle_answer(presence(&format!("juliet@x/{i}"), None), t0);
        }
        let ended = g.handle_timeout(t0 + PROBE_WAIT).expect("ended");
        assert_eq!(ended.resources.len(), PROBE_RESOURCES);
    }

    #[test]
    fn shutdown_ends_the_wait_failed_and_without_her_state() {
        let t0 = Instant::now();
        let mut g = ProbeGather::new(t0);
        g.handle_answer(presence("juliet@x/a", None), t0);
        let ended = g.handle_stop().expect("ended");
        assert_eq!(ended.outcome, FetchOutcome::Failed);
        assert!(ended.resources.is_empty());
        assert_eq!(g.poll_timeout(), None);
        assert_eq!(g.handle_stop(), None);
        assert_eq!(g.handle_timeout(t0 + PROBE_WAIT), None);
    }
}

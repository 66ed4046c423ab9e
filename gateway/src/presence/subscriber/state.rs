//! RFC 6665 §4.1, the subscriber's side of one subscription Parley holds for
//! an XMPP user, sans-IO: when to refresh, when Timer N gives up, when a
//! restored row takes its turn, when an unsubscribed dialog is forgotten.
//! Time comes in as `now`; [`WatchState::poll_timeout`] says when it next
//! needs the reaper and [`WatchState::handle_timeout`] says what to do then.
//! The SIP requests themselves are the caller's to send.

use std::time::Duration;

use tokio::time::Instant;

use parley_sip::dialog::subscription::{SubscriptionState, Substate};

/// How long an un-SUBSCRIBEd dialog lingers for its final NOTIFY (RFC 6665
/// §4.4.1) after the Expires: 0 request was answered: 32 s, Timer F.
pub(crate) const UNSUBSCRIBE_LINGER: Duration = Duration::from_secs(32);

/// Where the subscription stands on the SIP side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The first SUBSCRIBE is in flight; a NOTIFY may overtake its 2xx
    /// (RFC 6665 §4.1.2.4), which `notified` remembers.
    Subscribing {
        /// A NOTIFY came before the 2xx.
        notified: bool,
    },
    /// 2xx received, no NOTIFY yet: RFC 6665 §4.1.2.4 Timer N runs.
    AwaitingFirstNotify {
        /// When Timer N fires.
        timer_n_at: Instant,
        /// The next refresh.
        refresh: Refresh,
    },
    /// NOTIFYs arrive; refreshes keep it alive (RFC 6665 §4.1.2.1).
    Active {
        /// The next refresh.
        refresh: Refresh,
    },
    /// Taken from the store after a restart, waiting for its turn so that a
    /// large store does not flood the SIP network.
    Resuming {
        /// When its turn comes.
        resume_at: Instant,
    },
    /// SUBSCRIBE with Expires: 0 sent (RFC 6665 §4.1.2.3); the dialog stays
    /// for the terminating NOTIFY until `forget_at` (set once answered).
    Unsubscribing {
        /// When the dialog is forgotten.
        forget_at: Option<Instant>,
    },
}

/// The next refresh of a live subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresh {
    /// A refreshing SUBSCRIBE goes out then.
    At(Instant),
    /// One is in flight; its answer sets the next.
    InFlight,
}

/// Whether the XMPP watcher has had her `subscribed`: RFC 8048 §5.2.1 sends
/// it on "the first NOTIFY with a state of active" (F14), before the
/// presence that NOTIFY carries (F15), not on the 2xx, which may only mean
/// pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Approval {
    /// Still owed.
    Owed,
    /// Sent (or, after a restart, sent before it).
    Given,
}

/// What the reaper does for a subscription whose time came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Send the refreshing SUBSCRIBE in the dialog (RFC 6665 §4.1.2.1).
    Refresh,
    /// Timer N fired without a NOTIFY: the subscription failed (§4.1.2.4).
    TimerN,
    /// A restored subscription's turn: refresh it in place, or subscribe afresh.
    Resume,
    /// The un-SUBSCRIBEd dialog's linger ran out: forget it.
    Forget,
}

/// How the answer to a refreshing SUBSCRIBE leaves the subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refreshed {
    /// Granted; the next refresh is set.
    Renewed,
    /// Refused or unanswered: the subscription is over.
    Failed,
    /// It was unsubscribed meanwhile: the answer changes nothing.
    Moot,
}

/// One outgoing subscription's timing and approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WatchState {
    phase: Phase,
    approval: Approval,
}

impl WatchState {
    /// The first SUBSCRIBE just went out.
    pub(crate) fn subscribing(approval: Approval) -> Self {
        Self {
            phase: Phase::Subscribing { notified: false },
            approval,
        }
    }

    /// Taken from the store; its turn comes at `resume_at`.
    pub(crate) fn restored(approval: Approval, resume_at: Instant) -> Self {
        Self {
            phase: Phase::Resuming { resume_at },
            approval,
        }
    }

    /// Where it stands.
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether the watcher has had her `subscribed`.
    pub(crate) fn approval(&self) -> Approval {
        self.approval
    }

    /// The 2xx to the first SUBSCRIBE granted `expires` seconds: refresh at
    /// 80 % of them, and wait at most `timer_n` for the first NOTIFY unless it
    /// came already. RFC 6665 §4.1.2.4 starts Timer N with the request; Parley
    /// starts it at the 2xx, since a refused or timed-out SUBSCRIBE is cleaned
    /// up by its own answer.
    pub(crate) fn handle_granted(&mut self, expires: u32, timer_n: Duration, now: Instant) {
        let refresh = Refresh::At(now + refresh_wait(expires));
        self.phase = match self.phase {
            Phase::Subscribing { notified: false } => Phase::AwaitingFirstNotify {
                timer_n_at: now + timer_n,
                refresh,
            },
            Phase::Subscribing { notified: true } => Phase::Active { refresh },
            other => other,
        };
    }

    /// The answer to a refreshing SUBSCRIBE: `Some(expires)` on a 2xx.
    pub(crate) fn handle_refreshed(&mut self, granted: Option<u32>, now: Instant) -> Refreshed {
        let next = |refresh: &mut Refresh| match granted {
            Some(expires) => {
                *refresh = Refresh::At(now + refresh_wait(expires));
                Refreshed::Renewed
            }
            None => Refreshed::Failed,
        };
        match &mut self.phase {
            Phase::AwaitingFirstNotify { refresh, .. } | Phase::Active { refresh } => next(refresh),
            Phase::Subscribing { .. } | Phase::Resuming { .. } | Phase::Unsubscribing { .. } => {
                Refreshed::Moot
            }
        }
    }

    /// A NOTIFY in the subscription (RFC 6665 §4.1.3). Returns whether the
    /// watcher is to get her `subscribed` now: the first `active` one while
    /// it is owed.
    pub(crate) fn handle_notify(&mut self, state: Option<&SubscriptionState>) -> bool {
        self.phase = match self.phase {
            Phase::Subscribing { .. } => Phase::Subscribing { notified: true },
            Phase::AwaitingFirstNotify { refresh, .. } => Phase::Active { refresh },
            other => other,
        };
        let active = state.is_some_and(|s| s.state == Substate::Active);
        if active && self.approval == Approval::Owed {
            self.approval = Approval::Given;
            return true;
        }
        false
    }

    /// SUBSCRIBE with Expires: 0 is on its way (RFC 6665 §4.1.2.3).
    pub(crate) fn unsubscribe(&mut self) {
        self.phase = Phase::Unsubscribing { forget_at: None };
    }

    /// The un-SUBSCRIBE was answered (or could not be sent): the dialog is
    /// forgotten [`UNSUBSCRIBE_LINGER`] from now.
    pub(crate) fn handle_unsubscribed(&mut self, now: Instant) {
        self.phase = Phase::Unsubscribing {
            forget_at: Some(now + UNSUBSCRIBE_LINGER),
        };
    }

    /// When the reaper must next look at it.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let at = |refresh: Refresh| match refresh {
            Refresh::At(at) => Some(at),
            Refresh::InFlight => None,
        };
        match self.phase {
            Phase::Subscribing { .. } => None,
            Phase::AwaitingFirstNotify {
                timer_n_at,
                refresh,
            } => Some(at(refresh).map_or(timer_n_at, |r| r.min(timer_n_at))),
            Phase::Active { refresh } => at(refresh),
            Phase::Resuming { resume_at } => Some(resume_at),
            Phase::Unsubscribing { forget_at } => forget_at,
        }
    }

    /// What is due at `now`, if anything; a refresh or resumption is taken
    /// as in flight from here on.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<Due> {
        match &mut self.phase {
            Phase::AwaitingFirstNotify {
                timer_n_at,
                refresh,
            } => match *refresh {
                Refresh::At(at) if at <= now && at < *timer_n_at => {
                    *refresh = Refresh::InFlight;
                    Some(Due::Refresh)
                }
                _ if *timer_n_at <= now => Some(Due::TimerN),
                _ => None,
            },
            Phase::Active { refresh } => match *refresh {
                Refresh::At(at) if at <= now => {
                    *refresh = Refresh::InFlight;
                    Some(Due::Refresh)
                }
                _ => None,
            },
            Phase::Resuming { resume_at } if *resume_at <= now => {
                // Restored rows had their NOTIFYs before the restart: no Timer N.
                self.phase = Phase::Active {
                    refresh: Refresh::InFlight,
                };
                Some(Due::Resume)
            }
            Phase::Unsubscribing {
                forget_at: Some(at),
            } if *at <= now => Some(Due::Forget),
            _ => None,
        }
    }
}

/// Refresh at 80 % of the granted time (at least a second ahead).
pub(crate) fn refresh_wait(expires: u32) -> Duration {
    Duration::from_secs(u64::from(expires.saturating_sub(1).max(1)) * 4 / 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMER_N: Duration = Duration::from_secs(32);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn active() -> SubscriptionState {
        SubscriptionState::active(600)
    }

    /// RFC 6665 §4.1.2.1: the refresh goes out at 80 % of the granted
    /// expiry, and again at 80 % of what each refresh grants.
    #[test]
    fn refresh_at_80_percent_of_the_granted_expiry() {
        let t0 = Instant::now();
        let mut s = WatchState::subscribing(Approval::Owed);
        assert_eq!(
            s.poll_timeout(),
            None,
            "no timer while the SUBSCRIBE is out"
        );
        s.handle_granted(601, TIMER_N, t0);
        s.handle_notify(Some(&active()));
        assert_eq!(s.poll_timeout(), Some(t0 + secs(480)));
        assert_eq!(s.handle_timeout(t0 + secs(479)), None);
        assert_eq!(s.handle_timeout(t0 + secs(480)), Some(Due::Refresh));
        assert_eq!(s.poll_timeout(), None, "the refresh is in flight");
        let t1 = t0 + secs(481);
        assert_eq!(s.handle_refreshed(Some(101), t1), Refreshed::Renewed);
        assert_eq!(s.poll_timeout(), Some(t1 + secs(80)));
    }

    /// A very short grant still refreshes no sooner than 0 s and no later
    /// than a second before it runs out.
    #[test]
    fn a_short_grant_refreshes_within_it() {
        assert_eq!(refresh_wait(0), Duration::ZERO);
        assert_eq!(refresh_wait(2), Duration::ZERO);
        assert_eq!(refresh_wait(3600), secs(2879));
    }

    /// RFC 6665 §4.1.2.4: "If this Timer N expires prior to the receipt of
    /// a NOTIFY request, the subscriber considers the subscription
    /// terminated."
    #[test]
    fn timer_n_fires_without_a_notify() {
        let t0 = Instant::now();
        let mut s = WatchState::subscribing(Approval::Owed);
        s.handle_granted(3600, TIMER_N, t0);
        assert_eq!(s.poll_timeout(), Some(t0 + TIMER_N));
        assert_eq!(s.handle_timeout(t0 + TIMER_N - secs(1)), None);
        assert_eq!(s.handle_timeout(t0 + TIMER_N), Some(Due::TimerN));
    }

    #[test]
    fn timer_n_does_not_fire_after_a_notify() {
        let t0 = Instant::now();
        let mut s = WatchState::subscribing(Approval::Owed);
        s.handle_granted(3600, TIMER_N, t0);
        s.handle_notify(SubscriptionState::parse("pending").as_ref());
        assert_eq!(s.poll_timeout(), Some(t0 + refresh_wait(3600)));
        assert_eq!(s.handle_timeout(t0 + TIMER_N), None);
        // A NOTIFY that overtook the 2xx counts too.
        let mut early = WatchState::subscribing(Approval::Owed);
        early.handle_notify(None);
        early.handle_granted(3600, TIMER_N, t0);
        assert_eq!(early.handle_timeout(t0 + TIMER_N), None);
        assert!(matches!(early.phase(), Phase::Active { .. }));
    }

    /// A grant shorter than Timer N refreshes first; Timer N still fires
    /// after it when no NOTIFY came.
    #[test]
    fn a_refresh_before_timer_n_leaves_timer_n_running() {
        let t0 = Instant::now();
        let mut s = WatchState::subscribing(Approval::Owed);
        s.handle_granted(11, TIMER_N, t0);
        assert_eq!(s.poll_timeout(), Some(t0 + secs(8)));
        assert_eq!(s.handle_timeout(t0 + secs(8)), Some(Due::Refresh));
        assert_eq!(s.poll_timeout(), Some(t0 + TIMER_N));
        assert_eq!(
            s.handle_refreshed(Some(3600), t0 + secs(9)),
            Refreshed::Renewed
        );
        assert_eq!(s.handle_timeout(t0 + TIMER_N), Some(Due::TimerN));
    }

    /// RFC 8048 §5.2.1: `subscribed` goes with the first active NOTIFY, once.
    #[test]
    fn subscribed_is_owed_until_the_first_active_notify() {
        let mut s = WatchState::subscribing(Approval::Owed);
        assert!(!s.handle_notify(SubscriptionState::parse("pending").as_ref()));
        assert_eq!(s.approval(), Approval::Owed);
        assert!(s.handle_notify(Some(&active())));
        assert!(!s.handle_notify(Some(&active())));
        assert_eq!(s.approval(), Approval::Given);
    }

    /// A refresh that fails ends the subscription (the watcher hears
    /// `unavailable`); one answered after an un-SUBSCRIBE changes nothing.
    #[test]
    fn a_refresh_that_fails_ends_it() {
        let t0 = Instant::now();
        let mut s = WatchState::subscribing(Approval::Given);
        s.handle_granted(100, TIMER_N, t0);
        s.handle_notify(Some(&active()));
        assert_eq!(s.handle_timeout(t0 + secs(79)), Some(Due::Refresh));
        assert_eq!(s.handle_refreshed(None, t0 + secs(80)), Refreshed::Failed);
        s.unsubscribe();
        assert_eq!(s.handle_refreshed(None, t0 + secs(81)), Refreshed::Moot);
    }

    /// RFC 6665 §4.4.1: after Expires: 0 the dialog waits 32 s (Timer F)
    /// for its final NOTIFY, counted from the answer, then is forgotten.
    #[test]
    fn unsubscribe_forgets_after_32_s() {
        let t0 = Instant::now();
        let mut s = WatchState::subscribing(Approval::Given);
        s.handle_granted(3600, TIMER_N, t0);
        s.unsubscribe();
        assert_eq!(
            s.poll_timeout(),
            None,
            "nothing runs while the request is out"
        );
        let answered = t0 + secs(1);
        s.handle_unsubscribed(answered);
        assert_eq!(s.poll_timeout(), Some(answered + secs(32)));
        assert_eq!(s.handle_timeout(answered + secs(31)), None);
        assert_eq!(s.handle_timeout(answered + secs(32)), Some(Due::Forget));
    }

    /// Restored rows take their turn at their spacing, then refresh in place
    /// (no Timer N: they had their NOTIFYs before the restart).
    #[test]
    fn a_restored_subscription_waits_for_its_turn() {
        let t0 = Instant::now();
        let spacing = Duration::from_millis(20);
        let mut rows: Vec<WatchState> = (0..3u32)
            .map(|i| WatchState::restored(Approval::Given, t0 + spacing * i))
            .collect();
        let due: Vec<Option<Due>> = rows
            .iter_mut()
            .map(|s| s.handle_timeout(t0 + spacing))
            .collect();
        assert_eq!(due, [Some(Due::Resume), Some(Due::Resume), None]);
        assert_eq!(rows[2].poll_timeout(), Some(t0 + spacing * 2));
        assert_eq!(rows[0].handle_refreshed(Some(600), t0), Refreshed::Renewed);
        assert_eq!(rows[0].handle_timeout(t0 + secs(32)), None);
        assert_eq!(rows[0].poll_timeout(), Some(t0 + refresh_wait(600)));
    }
}

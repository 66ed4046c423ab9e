//! RFC 6665 §4.1, the subscriber's side of one subscription Parley holds for
//! an XMPP user, sans-IO: when to refresh, when Timer N gives up, when a
//! restored row takes its turn, when an unsubscribed dialog is forgotten.
//! Time comes in as `now`; [`WatchState::poll_timeout`] says when it next
//! needs the reaper and [`WatchState::handle_timeout`] says what to do then.
//! The SIP requests themselves are the caller's to send.
//!
//! A refresh that fails is read by [`RefreshFailure::of`] (RFC 8048 §5.2.2,
//! then RFC 6665 §4.1.2.2): the authorization is over, or only the dialog
//! is (subscribe afresh), or the subscription stands until its expiry and
//! is tried again before it. A request the SIP endpoint refused to start
//! (`deferral.rs`) is no failure: it is made again after
//! [`deferral::delay`], and nothing else changes.

use std::time::Duration;

use tokio::time::Instant;

use parley_mapping::presence::RefreshFailure;
use parley_sip::StatusCode;
use parley_sip::dialog::subscription::{SubscriptionState, Substate};

use crate::presence::deferral;

/// How long an un-SUBSCRIBEd dialog lingers for its final NOTIFY (RFC 6665
/// §4.4.1) after the Expires: 0 request was answered: 32 s, Timer F.
pub(crate) const UNSUBSCRIBE_LINGER: Duration = Duration::from_secs(32);

/// After a refresh failed with the subscription still valid (RFC 6665
/// §4.1.2.2), the next attempt goes out halfway to the expiry, so each
/// attempt leaves its answer as much time again and a 720 s margin (80 % of
/// the hour Parley asks) is tried at most eight times, not in a storm. An
/// attempt that would leave less than this before the expiry is not made:
/// with the default T1 of 500 ms a request has been sent only four times by
/// then (RFC 3261 §17.1.2.2), and its answer would most likely come after
/// the subscription lapsed. It lapses instead, and is replaced.
pub(crate) const RETRY_LEAD: Duration = Duration::from_secs(4);

/// Why a new SUBSCRIBE starts a subscription: it decides what the XMPP user
/// hears if it is refused, and what is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// She asked now (`subscribe`): a refusal is `unsubscribed`.
    Asked,
    /// After a restart, the stored dialog was gone or its refresh refused.
    Restored,
    /// Its refreshes' dialog is over but not her authorization (RFC 6665
    /// §4.1.2.2, RFC 8048 §5.2.2): subscribed afresh.
    Replaced,
}

/// Where the subscription stands on the SIP side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The first SUBSCRIBE is in flight; a NOTIFY may overtake its 2xx
    /// (RFC 6665 §4.1.2.4), which `notified` remembers.
    Subscribing {
        /// A NOTIFY came before the 2xx.
        notified: bool,
    },
    /// The SIP endpoint refused to start the first SUBSCRIBE
    /// (`deferral.rs`): it goes again at `at`.
    Deferred {
        /// When it is sent again.
        at: Instant,
        /// Why it was sent.
        start: Start,
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
    /// Taken from the store after a restart, waiting in the restore's queue
    /// (`restore.rs`) for its turn, so that a large store does not flood
    /// the SIP network. The queue, not a deadline, says when.
    Resuming,
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
    /// Refreshes failed and the expiry is too near for another attempt
    /// ([`RETRY_LEAD`]): the subscription lapses at its expiry.
    Lapsing,
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
    /// Send the deferred first SUBSCRIBE again.
    Subscribe(Start),
    /// The un-SUBSCRIBEd dialog's linger ran out: forget it.
    Forget,
    /// It expired with no refresh granted (RFC 6665 §4.1.2.2): subscribe
    /// afresh, with a new Call-ID and From tag.
    Lapsed,
}

/// The answer to a refreshing SUBSCRIBE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshAnswer {
    /// A 2xx granting this many seconds.
    Granted(u32),
    /// A final non-2xx response, or `None` when none came (the transaction
    /// timed out, or failed on its way).
    Failed(Option<StatusCode>),
    /// The SIP endpoint refused to start it (`deferral.rs`): no answer.
    NotSent,
}

/// How the answer to a refreshing SUBSCRIBE leaves the subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refreshed {
    /// Granted; the next refresh is set.
    Renewed,
    /// [`RefreshFailure::Cancelled`]: forget it and tell the XMPP user.
    Cancelled,
    /// [`RefreshFailure::Terminated`], or a transient failure after the
    /// expiry: subscribe afresh (RFC 6665 §4.1.2.2).
    Resubscribe,
    /// [`RefreshFailure::Transient`] before the expiry: still valid; the
    /// next attempt, or the lapse, is set.
    Retrying,
    /// Not sent ([`RefreshAnswer::NotSent`]): made again after [`deferral::delay`].
    Deferred,
    /// It was unsubscribed meanwhile: the answer changes nothing.
    Moot,
}

/// One outgoing subscription's timing and approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WatchState {
    phase: Phase,
    approval: Approval,
    /// When the SIP subscription ends unless refreshed: "the most recently
    /// known Expires value as negotiated by the most recent successful
    /// SUBSCRIBE transaction" (RFC 6665 §4.1.2.2). `None` until a 2xx.
    expires_at: Option<Instant>,
    /// Requests the SIP endpoint refused to start in a row, for the next
    /// delay (`deferral.rs`); an answer of the SIP side resets it.
    refusals: u8,
}

impl WatchState {
    /// The first SUBSCRIBE just went out.
    pub(crate) fn subscribing(approval: Approval) -> Self {
        Self {
            phase: Phase::Subscribing { notified: false },
            approval,
            expires_at: None,
            refusals: 0,
        }
    }

    /// Taken from the store; the restore's queue gives it its turn.
    pub(crate) fn restored(approval: Approval) -> Self {
        Self {
            phase: Phase::Resuming,
            approval,
            expires_at: None,
            refusals: 0,
        }
    }

    /// Its turn in the restore came: true if it still waited for it (it was
    /// not unsubscribed meanwhile); its refresh is in flight from here on.
    /// Restored rows had their NOTIFYs before the restart: no Timer N.
    pub(crate) fn take_turn(&mut self) -> bool {
        if self.phase != Phase::Resuming {
            return false;
        }
        self.phase = Phase::Active {
            refresh: Refresh::InFlight,
        };
        true
    }

    /// The SIP endpoint refused to start the refresh of its restore turn: it
    /// waits in the queue again. False if it is no longer the restore's (it
    /// was unsubscribed meanwhile).
    pub(crate) fn handle_turn_refused(&mut self) -> bool {
        if self.phase
            != (Phase::Active {
                refresh: Refresh::InFlight,
            })
        {
            return false;
        }
        self.phase = Phase::Resuming;
        true
    }

    /// The SIP endpoint refused to start the first SUBSCRIBE, sent for
    /// `start`: it goes again after [`deferral::delay`]. False if it was
    /// unsubscribed meanwhile (nothing to send any more).
    pub(crate) fn handle_subscribe_refused(&mut self, start: Start, now: Instant) -> bool {
        if !matches!(self.phase, Phase::Subscribing { .. }) {
            return false;
        }
        self.refusals = self.refusals.saturating_add(1);
        self.phase = Phase::Deferred {
            at: now + deferral::delay(self.refusals),
            start,
        };
        true
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
        self.refusals = 0;
        let refresh = Refresh::At(now + refresh_wait(expires));
        if let Phase::Subscribing { .. } = self.phase {
            self.expires_at = Some(now + expiry(expires));
        }
        self.phase = match self.phase {
            Phase::Subscribing { notified: false } => Phase::AwaitingFirstNotify {
                timer_n_at: now + timer_n,
                refresh,
            },
            Phase::Subscribing { notified: true } => Phase::Active { refresh },
            other => other,
        };
    }

    /// The answer to a refreshing SUBSCRIBE. Granted, it sets the next
    /// refresh and the expiry; failed, [`RefreshFailure::of`] decides. A
    /// transient failure before the expiry sets the next attempt halfway to
    /// it, or lets it lapse there when that is less than [`RETRY_LEAD`]
    /// ahead (RFC 6665 §4.1.2.2: "still considered valid for the duration of
    /// the most recently known Expires value"). Not sent, it is made again
    /// after [`deferral::delay`] (past the expiry, that attempt finds it
    /// lapsed and it is replaced).
    pub(crate) fn handle_refreshed(&mut self, answer: RefreshAnswer, now: Instant) -> Refreshed {
        let (Phase::AwaitingFirstNotify { refresh, .. } | Phase::Active { refresh }) =
            &mut self.phase
        else {
            return Refreshed::Moot;
        };
        let status = match answer {
            RefreshAnswer::Granted(expires) => {
                *refresh = Refresh::At(now + refresh_wait(expires));
                self.expires_at = Some(now + expiry(expires));
                self.refusals = 0;
                return Refreshed::Renewed;
            }
            RefreshAnswer::NotSent => {
                self.refusals = self.refusals.saturating_add(1);
                *refresh = Refresh::At(now + deferral::delay(self.refusals));
                return Refreshed::Deferred;
            }
            RefreshAnswer::Failed(status) => status,
        };
        self.refusals = 0;
        match RefreshFailure::of(status) {
            RefreshFailure::Cancelled => Refreshed::Cancelled,
            RefreshFailure::Terminated => Refreshed::Resubscribe,
            RefreshFailure::Transient => match self.expires_at {
                Some(expires_at) if expires_at > now => {
                    let half = (expires_at - now) / 2;
                    *refresh = if half >= RETRY_LEAD {
                        Refresh::At(now + half)
                    } else {
                        Refresh::Lapsing
                    };
                    Refreshed::Retrying
                }
                // Expired already (or never known): nothing left to keep.
                _ => Refreshed::Resubscribe,
            },
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
        let at = |refresh: Refresh| refresh_due(refresh, self.expires_at);
        match self.phase {
            Phase::Subscribing { .. } | Phase::Resuming => None,
            Phase::Deferred { at, .. } => Some(at),
            Phase::AwaitingFirstNotify {
                timer_n_at,
                refresh,
            } => Some(at(refresh).map_or(timer_n_at, |r| r.min(timer_n_at))),
            Phase::Active { refresh } => at(refresh),
            Phase::Unsubscribing { forget_at } => forget_at,
        }
    }

    /// What is due at `now`, if anything; a refresh or a deferred SUBSCRIBE
    /// is taken as in flight from here on.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<Due> {
        let expires_at = self.expires_at;
        match &mut self.phase {
            Phase::AwaitingFirstNotify {
                timer_n_at,
                refresh,
            } => match refresh_due(*refresh, expires_at) {
                Some(at) if at <= now && at < *timer_n_at => {
                    Some(take_refresh(refresh, expires_at, now))
                }
                _ if *timer_n_at <= now => Some(Due::TimerN),
                _ => None,
            },
            Phase::Active { refresh } => match refresh_due(*refresh, expires_at) {
                Some(at) if at <= now => Some(take_refresh(refresh, expires_at, now)),
                _ => None,
            },
            Phase::Deferred { at, start } if *at <= now => {
                let start = *start;
                self.phase = Phase::Subscribing { notified: false };
                Some(Due::Subscribe(start))
            }
            Phase::Unsubscribing {
                forget_at: Some(at),
            } if *at <= now => Some(Due::Forget),
            _ => None,
        }
    }
}

/// When `refresh` wants the reaper: its attempt, or the expiry it lapses at.
fn refresh_due(refresh: Refresh, expires_at: Option<Instant>) -> Option<Instant> {
    match refresh {
        Refresh::At(at) => Some(at),
        Refresh::InFlight => None,
        Refresh::Lapsing => expires_at,
    }
}

/// The refresh came due: it is in flight from here on, unless the
/// subscription expired meanwhile, when there is nothing left to refresh
/// (RFC 6665 §4.1.2.2: "At any time before a subscription expires").
fn take_refresh(refresh: &mut Refresh, expires_at: Option<Instant>, now: Instant) -> Due {
    *refresh = Refresh::InFlight;
    if expires_at.is_some_and(|at| at <= now) {
        Due::Lapsed
    } else {
        Due::Refresh
    }
}

/// A grant of `expires` seconds as a duration.
fn expiry(expires: u32) -> Duration {
    Duration::from_secs(u64::from(expires))
}

/// Refresh at 80 % of the granted time (at least a second ahead).
pub(crate) fn refresh_wait(expires: u32) -> Duration {
    Duration::from_secs(u64::from(expires.saturating_sub(1).max(1)) * 4 / 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMER_N: Duration = Duration::from_secs(32);
    const MS: Duration = Duration::from_millis(1);

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
        assert_eq!(
            s.handle_refreshed(RefreshAnswer::Granted(101), t1),
            Refreshed::Renewed
        );
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
            s.handle_refreshed(RefreshAnswer::Granted(3600), t0 + secs(9)),
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

    fn failed(code: u16) -> RefreshAnswer {
        RefreshAnswer::Failed(StatusCode::new(code))
    }

    /// Granted 100 s at `t0` with its first NOTIFY had, the refresh at 79 s
    /// in flight.
    fn refreshing(t0: Instant) -> WatchState {
        let mut s = WatchState::subscribing(Approval::Given);
        s.handle_granted(100, TIMER_N, t0);
        s.handle_notify(Some(&active()));
        assert_eq!(s.handle_timeout(t0 + secs(79)), Some(Due::Refresh));
        s
    }

    /// RFC 8048 §5.2.2: a 403, 489 or 603 cancels the authorization.
    #[test]
    fn a_refresh_refused_403_cancels_the_authorization() {
        let t0 = Instant::now();
        for code in [403, 489, 603] {
            let mut s = refreshing(t0);
            assert_eq!(
                s.handle_refreshed(failed(code), t0 + secs(80)),
                Refreshed::Cancelled,
                "{code}"
            );
        }
    }

    /// RFC 6665 §4.1.2.2's terminating codes, and RFC 8048 §5.2.2's 423 and
    /// 481: the subscription is replaced by a new one, even well before its
    /// expiry.
    #[test]
    fn a_refresh_refused_481_resubscribes() {
        let t0 = Instant::now();
        for code in [481, 423, 404, 501, 604] {
            let mut s = refreshing(t0);
            assert_eq!(
                s.handle_refreshed(failed(code), t0 + secs(80)),
                Refreshed::Resubscribe,
                "{code}"
            );
        }
    }

    /// RFC 6665 §4.1.2.2: any other failure leaves the subscription valid
    /// until its expiry. Attempts go out halfway to it while that is at
    /// least `RETRY_LEAD` ahead; then it lapses at the expiry itself.
    #[test]
    fn a_refresh_failing_500_retries_halfway_to_the_expiry_then_lapses() {
        let t0 = Instant::now();
        let mut s = refreshing(t0);
        // 20 s left: the next attempt 10 s on.
        assert_eq!(
            s.handle_refreshed(failed(500), t0 + secs(80)),
            Refreshed::Retrying
        );
        assert_eq!(s.poll_timeout(), Some(t0 + secs(90)));
        assert_eq!(s.handle_timeout(t0 + secs(90) - MS), None);
        assert_eq!(s.handle_timeout(t0 + secs(90)), Some(Due::Refresh));
        // Unanswered (a timeout) with 7 s left: 3.5 s on would be too late.
        assert_eq!(
            s.handle_refreshed(RefreshAnswer::Failed(None), t0 + secs(93)),
            Refreshed::Retrying
        );
        assert_eq!(s.poll_timeout(), Some(t0 + secs(100)));
        assert_eq!(s.handle_timeout(t0 + secs(100) - MS), None);
        assert_eq!(s.handle_timeout(t0 + secs(100)), Some(Due::Lapsed));
        assert_eq!(s.poll_timeout(), None);
    }

    /// A retry that is granted puts the subscription back on its 80 % schedule.
    #[test]
    fn a_retry_granted_renews_as_a_refresh_does() {
        let t0 = Instant::now();
        let mut s = refreshing(t0);
        s.handle_refreshed(failed(503), t0 + secs(80));
        assert_eq!(s.handle_timeout(t0 + secs(90)), Some(Due::Refresh));
        let t1 = t0 + secs(91);
        assert_eq!(
            s.handle_refreshed(RefreshAnswer::Granted(100), t1),
            Refreshed::Renewed
        );
        assert_eq!(s.poll_timeout(), Some(t1 + secs(79)));
        // The expiry moved with the grant: a failure now has 99 s left.
        assert_eq!(
            s.handle_refreshed(failed(408), t1 + secs(1)),
            Refreshed::Retrying
        );
        assert_eq!(s.poll_timeout(), Some(t1 + secs(1) + secs(99) / 2));
    }

    /// A transient failure answered after the expiry, or a refresh the
    /// reaper reaches only after it, has nothing left to refresh.
    #[test]
    fn after_the_expiry_a_failed_or_late_refresh_resubscribes() {
        let t0 = Instant::now();
        let mut s = refreshing(t0);
        assert_eq!(
            s.handle_refreshed(RefreshAnswer::Failed(None), t0 + secs(100)),
            Refreshed::Resubscribe
        );
        let mut late = WatchState::subscribing(Approval::Given);
        late.handle_granted(100, TIMER_N, t0);
        late.handle_notify(Some(&active()));
        assert_eq!(late.handle_timeout(t0 + secs(100)), Some(Due::Lapsed));
    }

    /// A refresh answered after an un-SUBSCRIBE changes nothing, whatever it says.
    #[test]
    fn a_refresh_answered_after_unsubscribe_is_moot() {
        let t0 = Instant::now();
        let mut s = refreshing(t0);
        s.unsubscribe();
        for answer in [
            failed(403),
            failed(481),
            failed(500),
            RefreshAnswer::Granted(100),
        ] {
            assert_eq!(s.handle_refreshed(answer, t0 + secs(81)), Refreshed::Moot);
        }
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

    /// A restored row has no deadline of its own: the restore's queue gives
    /// it its turn, then it refreshes in place (no Timer N: it had its
    /// NOTIFYs before the restart). A turn refused by the SIP endpoint
    /// waits in the queue again.
    #[test]
    fn a_restored_subscription_waits_for_its_turn() {
        let t0 = Instant::now();
        let mut s = WatchState::restored(Approval::Given);
        assert_eq!(s.poll_timeout(), None);
        assert_eq!(s.handle_timeout(t0 + secs(3600)), None);
        assert!(s.take_turn());
        assert!(!s.take_turn(), "one turn at a time");
        assert!(s.handle_turn_refused());
        assert_eq!(s.phase(), Phase::Resuming);
        assert!(s.take_turn());
        assert_eq!(
            s.handle_refreshed(RefreshAnswer::Granted(600), t0),
            Refreshed::Renewed
        );
        assert_eq!(s.handle_timeout(t0 + secs(32)), None);
        assert_eq!(s.poll_timeout(), Some(t0 + refresh_wait(600)));
        assert!(!s.handle_turn_refused(), "no longer the restore's");
    }

    /// Unsubscribed while it waited for its turn: the turn finds nothing to do.
    #[test]
    fn an_unsubscribed_restored_row_has_no_turn() {
        let mut s = WatchState::restored(Approval::Given);
        s.unsubscribe();
        assert!(!s.take_turn());
    }

    /// A refresh the SIP endpoint refused to start is made again after
    /// 100 ms, 200 ms, … (`deferral::delay`), whatever the expiry; an
    /// answer of the SIP side resets the delay.
    #[test]
    fn a_refresh_not_sent_is_made_again_after_a_growing_delay() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = refreshing(t0);
        let t1 = t0 + secs(79);
        assert_eq!(
            s.handle_refreshed(RefreshAnswer::NotSent, t1),
            Refreshed::Deferred
        );
        assert_eq!(s.poll_timeout(), Some(t1 + ms(100)));
        assert_eq!(s.handle_timeout(t1 + ms(100)), Some(Due::Refresh));
        assert_eq!(
            s.handle_refreshed(RefreshAnswer::NotSent, t1 + ms(100)),
            Refreshed::Deferred
        );
        assert_eq!(s.poll_timeout(), Some(t1 + ms(300)));
        assert_eq!(s.handle_timeout(t1 + ms(300)), Some(Due::Refresh));
        assert_eq!(
            s.handle_refreshed(RefreshAnswer::Granted(100), t1 + ms(300)),
            Refreshed::Renewed
        );
        let t2 = t1 + ms(300) + secs(79);
        assert_eq!(s.handle_timeout(t2), Some(Due::Refresh));
        assert_eq!(
            s.handle_refreshed(RefreshAnswer::NotSent, t2),
            Refreshed::Deferred
        );
        assert_eq!(s.poll_timeout(), Some(t2 + ms(100)), "reset by the grant");
    }

    /// Deferred past the expiry, the next attempt finds the subscription
    /// lapsed: it is replaced by a new one (RFC 6665 §4.1.2.2).
    #[test]
    fn a_refresh_deferred_past_the_expiry_lapses() {
        let t0 = Instant::now();
        let mut s = refreshing(t0);
        let late = t0 + secs(100) - Duration::from_millis(50);
        s.handle_refreshed(RefreshAnswer::NotSent, late);
        assert_eq!(s.handle_timeout(t0 + secs(100)), None);
        assert_eq!(
            s.handle_timeout(late + Duration::from_millis(100)),
            Some(Due::Lapsed)
        );
    }

    /// A first SUBSCRIBE the SIP endpoint refused to start goes again after
    /// the delay, for the same reason; unsubscribed meanwhile, it does not.
    #[test]
    fn a_subscribe_not_sent_goes_again_after_the_delay() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = WatchState::subscribing(Approval::Owed);
        assert!(s.handle_subscribe_refused(Start::Asked, t0));
        assert_eq!(s.poll_timeout(), Some(t0 + ms(100)));
        assert_eq!(s.handle_timeout(t0 + ms(99)), None);
        assert_eq!(
            s.handle_timeout(t0 + ms(100)),
            Some(Due::Subscribe(Start::Asked))
        );
        assert_eq!(s.poll_timeout(), None, "in flight again");
        assert!(s.handle_subscribe_refused(Start::Asked, t0 + ms(100)));
        assert_eq!(s.poll_timeout(), Some(t0 + ms(300)));
        s.unsubscribe();
        assert!(!s.handle_subscribe_refused(Start::Asked, t0 + ms(300)));
        assert_eq!(s.poll_timeout(), None);
    }
}

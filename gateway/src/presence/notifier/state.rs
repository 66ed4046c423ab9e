//! RFC 6665 §4.2, the notifier's side of one SIP user's subscription to an
//! XMPP user, sans-IO: pending until she approves, active after; it ends
//! when its time runs out unless refreshed (§4.2.1.2); after a restart it
//! waits in the restore's queue (`restore.rs`) before her presence is asked
//! again. A NOTIFY the SIP endpoint refused to start (`deferral.rs`) is made
//! good after a delay, with the subscription's state at that time. Time
//! comes in as `now`; [`WatcherState::poll_timeout`] says when the reaper
//! must look.

use std::time::Duration;

use tokio::time::Instant;

use crate::presence::deferral;

/// RFC 6665 §4.1.3 (`Subscription-State`): whether the XMPP user approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Authorization {
    /// She has not said `subscribed` yet: NOTIFYs say `pending`.
    Pending,
    /// She said `subscribed`: NOTIFYs say `active` and carry her presence.
    Active,
}

/// What the reaper does for a subscription whose time came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// RFC 6665 §4.2.1.2: its time is up; NOTIFY `terminated;reason=timeout`.
    Expire,
    /// A NOTIFY was not sent (`deferral.rs`): send the state as it is now.
    Renotify,
}

/// One incoming subscription's timing and approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WatcherState {
    authorization: Authorization,
    expires_at: Instant,
    /// After a restart: waiting in the restore's queue for its turn (expiry
    /// is looked at only from then on, as it was before the restart's pacing).
    resuming: bool,
    /// A NOTIFY the SIP endpoint refused to start: when the state goes out again.
    renotify_at: Option<Instant>,
    /// NOTIFYs refused in a row, for the next delay (`deferral.rs`).
    refusals: u8,
}

impl WatcherState {
    /// A SUBSCRIBE was granted `expires` seconds; the XMPP user is asked.
    pub(crate) fn granted(expires: u32, now: Instant) -> Self {
        Self {
            authorization: Authorization::Pending,
            expires_at: now + Duration::from_secs(u64::from(expires)),
            resuming: false,
            renotify_at: None,
            refusals: 0,
        }
    }

    /// Taken from the store with `remaining` time; the restore's queue
    /// gives it its turn.
    pub(crate) fn restored(
        authorization: Authorization,
        remaining: Duration,
        now: Instant,
    ) -> Self {
        Self {
            authorization,
            expires_at: now + remaining,
            resuming: true,
            renotify_at: None,
            refusals: 0,
        }
    }

    /// Its turn in the restore came: how it was authorized, if it still
    /// waited for the turn.
    pub(crate) fn take_turn(&mut self) -> Option<Authorization> {
        if !self.resuming {
            return None;
        }
        self.resuming = false;
        Some(self.authorization)
    }

    /// Whether she approved.
    pub(crate) fn authorization(&self) -> Authorization {
        self.authorization
    }

    /// She said `subscribed`.
    pub(crate) fn approve(&mut self) {
        self.authorization = Authorization::Active;
    }

    /// RFC 6665 §4.2.1.2: a refreshing SUBSCRIBE granted `expires` seconds more.
    pub(crate) fn handle_refresh(&mut self, expires: u32, now: Instant) {
        self.expires_at = now + Duration::from_secs(u64::from(expires));
    }

    /// The SIP endpoint refused to start a NOTIFY at `now`: the state goes
    /// out again after [`deferral::delay`].
    pub(crate) fn handle_notify_refused(&mut self, now: Instant) {
        self.refusals = self.refusals.saturating_add(1);
        self.renotify_at = Some(now + deferral::delay(self.refusals));
    }

    /// A NOTIFY made good after a refusal was sent: the next delay starts
    /// again from the first.
    pub(crate) fn handle_renotified(&mut self) {
        self.refusals = 0;
    }

    /// Time left, for `active;expires=N` and for the store.
    pub(crate) fn remaining(&self, now: Instant) -> Duration {
        self.expires_at.saturating_duration_since(now)
    }

    /// When the reaper must next look at it.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let expiry = (!self.resuming).then_some(self.expires_at);
        match (expiry, self.renotify_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What is due at `now`, if anything: the expiry first (its final
    /// NOTIFY says all there is to say); call again, since a deferred
    /// NOTIFY may be due at the same time.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<Due> {
        if !self.resuming && self.expires_at <= now {
            return Some(Due::Expire);
        }
        match self.renotify_at {
            Some(at) if at <= now => {
                self.renotify_at = None;
                Some(Due::Renotify)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// RFC 6665 §4.2.1.2: an unrefreshed subscription ends when its time is
    /// up; a refresh moves that time.
    #[test]
    fn expiry_ends_the_subscription_unless_refreshed() {
        let t0 = Instant::now();
        let mut s = WatcherState::granted(600, t0);
        assert_eq!(s.authorization(), Authorization::Pending);
        assert_eq!(s.poll_timeout(), Some(t0 + secs(600)));
        s.handle_refresh(600, t0 + secs(500));
        assert_eq!(s.handle_timeout(t0 + secs(600)), None);
        assert_eq!(s.remaining(t0 + secs(600)), secs(500));
        assert_eq!(s.poll_timeout(), Some(t0 + secs(1100)));
        assert_eq!(s.handle_timeout(t0 + secs(1100)), Some(Due::Expire));
    }

    #[test]
    fn approval_makes_it_active() {
        let mut s = WatcherState::granted(60, Instant::now());
        s.approve();
        assert_eq!(s.authorization(), Authorization::Active);
    }

    /// After a restart each row waits for its turn in the restore's queue,
    /// with no deadline of its own; then the XMPP user is probed or asked
    /// again, and only then is expiry looked at.
    #[test]
    fn a_restored_subscription_resumes_at_its_turn_then_expires() {
        let t0 = Instant::now();
        let mut active = WatcherState::restored(Authorization::Active, secs(60), t0);
        let mut pending = WatcherState::restored(Authorization::Pending, secs(60), t0);
        assert_eq!(active.poll_timeout(), None);
        assert_eq!(
            active.handle_timeout(t0 + secs(61)),
            None,
            "not before its turn"
        );
        assert_eq!(active.take_turn(), Some(Authorization::Active));
        assert_eq!(active.take_turn(), None, "one turn");
        assert_eq!(active.poll_timeout(), Some(t0 + secs(60)));
        assert_eq!(pending.take_turn(), Some(Authorization::Pending));
        // A row whose time ran out while it waited expires right after its turn.
        let mut late = WatcherState::restored(Authorization::Active, secs(1), t0);
        assert_eq!(late.handle_timeout(t0 + secs(2)), None);
        late.take_turn();
        assert_eq!(late.handle_timeout(t0 + secs(5)), Some(Due::Expire));
    }

    /// A NOTIFY the SIP endpoint refused to start is made good after 100 ms,
    /// then 200 ms if refused again; once one is sent, the delay starts
    /// from 100 ms again. Expiry comes first when both are due.
    #[test]
    fn a_notify_not_sent_is_made_good_after_a_growing_delay() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = WatcherState::granted(60, t0);
        s.handle_notify_refused(t0);
        assert_eq!(s.poll_timeout(), Some(t0 + ms(100)));
        assert_eq!(s.handle_timeout(t0 + ms(99)), None);
        assert_eq!(s.handle_timeout(t0 + ms(100)), Some(Due::Renotify));
        assert_eq!(s.handle_timeout(t0 + ms(100)), None, "taken");
        assert_eq!(s.poll_timeout(), Some(t0 + secs(60)));
        s.handle_notify_refused(t0 + ms(100));
        assert_eq!(s.poll_timeout(), Some(t0 + ms(300)));
        assert_eq!(s.handle_timeout(t0 + ms(300)), Some(Due::Renotify));
        s.handle_renotified();
        s.handle_notify_refused(t0 + secs(59) + ms(950));
        assert_eq!(s.poll_timeout(), Some(t0 + secs(60)), "the expiry first");
        assert_eq!(s.handle_timeout(t0 + secs(61)), Some(Due::Expire));
    }

    /// A NOTIFY refused while the row still waits for its restore turn is
    /// made good on its own delay; the expiry still waits for the turn.
    #[test]
    fn a_waiting_row_renotifies_but_does_not_expire() {
        let t0 = Instant::now();
        let mut s = WatcherState::restored(Authorization::Active, secs(1), t0);
        s.handle_notify_refused(t0);
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(100)));
        assert_eq!(s.handle_timeout(t0 + secs(2)), Some(Due::Renotify));
        assert_eq!(s.handle_timeout(t0 + secs(2)), None);
    }
}

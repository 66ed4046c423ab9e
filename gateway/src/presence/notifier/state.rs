//! RFC 6665 §4.2, the notifier's side of one SIP user's subscription to an
//! XMPP user, sans-IO: pending until she approves, active after; it ends
//! when its time runs out unless refreshed (§4.2.1.2); after a restart it
//! waits for its turn before her presence is asked again. Time comes in as
//! `now`; [`WatcherState::poll_timeout`] says when the reaper must look.

use std::time::Duration;

use tokio::time::Instant;

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
    /// A restored subscription's turn: probe her (active) or ask her again (pending).
    Resume(Authorization),
    /// RFC 6665 §4.2.1.2: its time is up; NOTIFY `terminated;reason=timeout`.
    Expire,
}

/// One incoming subscription's timing and approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WatcherState {
    authorization: Authorization,
    expires_at: Instant,
    /// After a restart: when to take it up again (expiry is looked at only
    /// from then on, as it was before the restart's spacing).
    resume_at: Option<Instant>,
}

impl WatcherState {
    /// A SUBSCRIBE was granted `expires` seconds; the XMPP user is asked.
    pub(crate) fn granted(expires: u32, now: Instant) -> Self {
        Self {
            authorization: Authorization::Pending,
            expires_at: now + Duration::from_secs(u64::from(expires)),
            resume_at: None,
        }
    }

    /// Taken from the store with `remaining` time; its turn comes at `resume_at`.
    pub(crate) fn restored(
        authorization: Authorization,
        remaining: Duration,
        now: Instant,
        resume_at: Instant,
    ) -> Self {
        Self {
            authorization,
            expires_at: now + remaining,
            resume_at: Some(resume_at),
        }
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

    /// Time left, for `active;expires=N` and for the store.
    pub(crate) fn remaining(&self, now: Instant) -> Duration {
        self.expires_at.saturating_duration_since(now)
    }

    /// When the reaper must next look at it.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        Some(self.resume_at.unwrap_or(self.expires_at))
    }

    /// What is due at `now`, if anything. A resumption comes first; call
    /// again, since the expiry may be due at the same time.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<Due> {
        match self.resume_at {
            Some(at) if at <= now => {
                self.resume_at = None;
                Some(Due::Resume(self.authorization))
            }
            Some(_) => None,
            None if self.expires_at <= now => Some(Due::Expire),
            None => None,
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

    /// After a restart each row waits for its turn (restore spacing); then
    /// the XMPP user is probed or asked again, and only then is expiry due.
    #[test]
    fn a_restored_subscription_resumes_at_its_turn_then_expires() {
        let t0 = Instant::now();
        let spacing = Duration::from_millis(10);
        let mut rows: Vec<WatcherState> = [Authorization::Active, Authorization::Pending]
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                let turn = t0 + spacing * u32::try_from(i).expect("small");
                WatcherState::restored(a, secs(60), t0, turn)
            })
            .collect();
        assert_eq!(
            rows[0].handle_timeout(t0),
            Some(Due::Resume(Authorization::Active))
        );
        assert_eq!(rows[1].handle_timeout(t0), None);
        assert_eq!(rows[1].poll_timeout(), Some(t0 + spacing));
        assert_eq!(
            rows[1].handle_timeout(t0 + spacing),
            Some(Due::Resume(Authorization::Pending))
        );
        assert_eq!(rows[0].handle_timeout(t0), None);
        assert_eq!(rows[0].poll_timeout(), Some(t0 + secs(60)));
        // A row whose time ran out while it waited expires right after its turn.
        let mut late = WatcherState::restored(Authorization::Active, secs(1), t0, t0 + secs(5));
        assert_eq!(late.handle_timeout(t0 + secs(2)), None);
        assert_eq!(
            late.handle_timeout(t0 + secs(5)),
            Some(Due::Resume(Authorization::Active))
        );
        assert_eq!(late.handle_timeout(t0 + secs(5)), Some(Due::Expire));
    }
}

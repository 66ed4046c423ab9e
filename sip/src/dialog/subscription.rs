//! RFC 6665: the life of one subscription, for either side, sans-IO.
//!
//! As subscriber: the SUBSCRIBE's answer and each NOTIFY's
//! Subscription-State move it; [`Subscription::poll_refresh`] says when to
//! re-SUBSCRIBE so it never lapses (§4.1.2.2). As notifier: SUBSCRIBEs grant
//! or refresh it, Expires: 0 ends it (§4.2.1.4), and an unrefreshed one
//! expires (§4.2.2: `terminated;reason=timeout`).

use std::fmt;
use std::time::{Duration, Instant};

/// RFC 6665 §8.4: `substate-value = "active" / "pending" / "terminated"
/// / extension-substate`, compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Substate {
    /// `active`: the subscription has been accepted (RFC 6665 §4.1.3).
    Active,
    /// `pending`: received, but not yet authorised.
    Pending,
    /// `terminated`: over; `reason=` may say why.
    Terminated,
    /// An `extension-substate` token, lower-cased, kept as sent.
    Extension(String),
}

impl Substate {
    /// The value from its token (case-insensitive).
    pub fn parse(token: &str) -> Substate {
        let token = token.trim().to_ascii_lowercase();
        match token.as_str() {
            "active" => Substate::Active,
            "pending" => Substate::Pending,
            "terminated" => Substate::Terminated,
            _ => Substate::Extension(token),
        }
    }

    /// The token as written in the header field.
    pub fn as_str(&self) -> &str {
        match self {
            Substate::Active => "active",
            Substate::Pending => "pending",
            Substate::Terminated => "terminated",
            Substate::Extension(token) => token,
        }
    }
}

impl fmt::Display for Substate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// RFC 6665 §4.1.3 / §8.2.3: the `Subscription-State` header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    /// `active`, `pending`, `terminated` or an extension token.
    pub state: Substate,
    /// `expires=` in seconds.
    pub expires: Option<u32>,
    /// `reason=` (terminated only): deactivated, probation, rejected, timeout,
    /// giveup, noresource, invariant.
    pub reason: Option<String>,
    /// `retry-after=` in seconds.
    pub retry_after: Option<u32>,
}

impl SubscriptionState {
    /// Reads a header value; `None` if there is no state token.
    pub fn parse(value: &str) -> Option<SubscriptionState> {
        let mut parts = value.split(';');
        let state = parts.next()?.trim();
        if state.is_empty() {
            return None;
        }
        let mut out = SubscriptionState {
            state: Substate::parse(state),
            expires: None,
            reason: None,
            retry_after: None,
        };
        for param in parts {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            let value = value.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                "expires" => out.expires = value.parse().ok(),
                "reason" => out.reason = Some(value.to_ascii_lowercase()),
                "retry-after" => out.retry_after = value.parse().ok(),
                _ => {}
            }
        }
        Some(out)
    }

    /// `pending`, without parameters.
    pub fn pending() -> Self {
        SubscriptionState {
            state: Substate::Pending,
            expires: None,
            reason: None,
            retry_after: None,
        }
    }

    /// `active;expires=N`.
    pub fn active(expires: u32) -> Self {
        SubscriptionState {
            state: Substate::Active,
            expires: Some(expires),
            reason: None,
            retry_after: None,
        }
    }

    /// `terminated;reason=R`.
    pub fn terminated(reason: &str) -> Self {
        SubscriptionState {
            state: Substate::Terminated,
            expires: None,
            reason: Some(reason.into()),
            retry_after: None,
        }
    }
}

impl fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.state.as_str())?;
        if let Some(reason) = &self.reason {
            write!(f, ";reason={reason}")?;
        }
        if let Some(expires) = self.expires {
            write!(f, ";expires={expires}")?;
        }
        if let Some(retry) = self.retry_after {
            write!(f, ";retry-after={retry}")?;
        }
        Ok(())
    }
}

/// Where a subscription stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// SUBSCRIBE sent, no NOTIFY yet (subscriber) — RFC 6665 §4.1.2.4.
    Waiting,
    /// Authorisation pending.
    Pending,
    /// Active.
    Active,
    /// Over, with the reason when one was given.
    Terminated(Option<String>),
}

/// One subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    phase: Phase,
    expires_at: Option<Instant>,
    lifetime: Duration,
}

/// When to refresh before expiry: a tenth of the lifetime, at least 32 s
/// (Timer F, so the refresh can time out and still be early) unless the
/// lifetime is shorter than twice that, then half of it.
fn refresh_margin(lifetime: Duration) -> Duration {
    let f = Duration::from_secs(32);
    (lifetime / 10).max(f.min(lifetime / 2))
}

impl Subscription {
    /// A subscriber that just sent SUBSCRIBE asking for `requested`.
    pub fn subscriber(requested: Duration) -> Self {
        Subscription {
            phase: Phase::Waiting,
            expires_at: None,
            lifetime: requested,
        }
    }

    /// A notifier that just accepted a SUBSCRIBE for `granted`.
    pub fn notifier(granted: Duration, pending: bool, now: Instant) -> Self {
        Subscription {
            phase: if pending {
                Phase::Pending
            } else {
                Phase::Active
            },
            expires_at: Some(now + granted),
            lifetime: granted,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Seconds left, for `Subscription-State: active;expires=N` (notifier).
    pub fn remaining(&self, now: Instant) -> u32 {
        self.expires_at
            .map(|at| at.saturating_duration_since(now).as_secs())
            .unwrap_or(0)
            .try_into()
            .unwrap_or(u32::MAX)
    }

    /// Subscriber: the final response to our SUBSCRIBE (or its refresh).
    /// RFC 6665 §4.1.2.1: a 2xx carries the granted Expires; anything else
    /// (and a 2xx with Expires: 0, the answer to an un-SUBSCRIBE) ends it.
    pub fn handle_response(&mut self, status: u16, expires: Option<u32>, now: Instant) {
        match (status, expires) {
            (200..=299, Some(0)) => self.phase = Phase::Terminated(None),
            (200..=299, granted) => {
                let granted = granted.map_or(self.lifetime, |s| Duration::from_secs(s.into()));
                self.lifetime = granted;
                self.expires_at = Some(now + granted);
            }
            // §4.1.2.1: a failed refresh leaves the subscription as it was until it expires.
            (_, _) if self.phase != Phase::Waiting => {}
            _ => self.phase = Phase::Terminated(None),
        }
    }

    /// Subscriber: a NOTIFY with this Subscription-State (RFC 6665 §4.1.3).
    pub fn handle_notify(&mut self, state: &SubscriptionState, now: Instant) -> &Phase {
        match state.state {
            Substate::Active | Substate::Pending => {
                self.phase = if state.state == Substate::Active {
                    Phase::Active
                } else {
                    Phase::Pending
                };
                if let Some(expires) = state.expires {
                    // §4.1.3: the NOTIFY's expires may shorten the subscription.
                    let at = now + Duration::from_secs(expires.into());
                    self.expires_at = Some(self.expires_at.map_or(at, |old| old.min(at)));
                }
            }
            _ => self.phase = Phase::Terminated(state.reason.clone()),
        }
        &self.phase
    }

    /// Notifier: a refreshing SUBSCRIBE asked for `expires` seconds
    /// (RFC 6665 §4.2.1.2); 0 ends the subscription (§4.2.1.4).
    pub fn handle_refresh(&mut self, expires: u32, now: Instant) {
        if expires == 0 {
            self.phase = Phase::Terminated(None);
            self.expires_at = None;
        } else {
            self.lifetime = Duration::from_secs(expires.into());
            self.expires_at = Some(now + self.lifetime);
        }
    }

    /// Subscriber: when to send the refreshing SUBSCRIBE.
    pub fn poll_refresh(&self) -> Option<Instant> {
        match self.phase {
            Phase::Active | Phase::Pending => {
                self.expires_at.map(|at| at - refresh_margin(self.lifetime))
            }
            _ => None,
        }
    }

    /// When the subscription lapses unless refreshed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Terminated(_) => None,
            _ => self.expires_at,
        }
    }

    /// Expires the subscription if its time is up; returns whether it just
    /// ended (notifier: send `terminated;reason=timeout`, RFC 6665 §4.2.2).
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        if self.poll_timeout().is_some_and(|at| at <= now) {
            self.phase = Phase::Terminated(Some("timeout".into()));
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6665 §4.1.3: the header's parameters.
    #[test]
    fn subscription_state_parses_and_writes_back() {
        let s =
            SubscriptionState::parse("terminated;reason=rejected;retry-after=3600").expect("state");
        assert_eq!(s.state, Substate::Terminated);
        assert_eq!(s.reason.as_deref(), Some("rejected"));
        assert_eq!(s.retry_after, Some(3600));
        assert_eq!(s.to_string(), "terminated;reason=rejected;retry-after=3600");
        assert_eq!(
            SubscriptionState::active(600).to_string(),
            "active;expires=600"
        );
        assert_eq!(
            SubscriptionState::parse(" Active ; expires=60")
                .expect("state")
                .expires,
            Some(60)
        );
    }

    /// RFC 6665 §4.1.2.2: the subscriber refreshes before the granted time runs out.
    #[test]
    fn subscriber_refreshes_before_expiry() {
        let t0 = Instant::now();
        let mut sub = Subscription::subscriber(Duration::from_secs(3600));
        sub.handle_response(200, Some(600), t0);
        sub.handle_notify(&SubscriptionState::active(600), t0);
        assert_eq!(sub.phase(), &Phase::Active);
        let refresh = sub.poll_refresh().expect("refresh");
        assert_eq!((refresh - t0).as_secs(), 540, "a tenth before 600 s");
        let mut short = Subscription::subscriber(Duration::from_secs(60));
        short.handle_response(200, Some(60), t0);
        short.handle_notify(&SubscriptionState::active(60), t0);
        assert_eq!((short.poll_refresh().expect("refresh") - t0).as_secs(), 30);
    }

    /// RFC 6665 §4.1.3: a NOTIFY with a shorter expires shortens the subscription.
    #[test]
    fn notify_can_shorten_the_subscription() {
        let t0 = Instant::now();
        let mut sub = Subscription::subscriber(Duration::from_secs(600));
        sub.handle_response(200, Some(600), t0);
        sub.handle_notify(&SubscriptionState::active(100), t0);
        assert_eq!((sub.poll_timeout().expect("expiry") - t0).as_secs(), 100);
    }

    /// RFC 6665 §4.1.3: terminated NOTIFYs end it with their reason.
    #[test]
    fn terminated_notify_ends_the_subscription_with_its_reason() {
        let t0 = Instant::now();
        let mut sub = Subscription::subscriber(Duration::from_secs(600));
        sub.handle_response(202, Some(600), t0);
        let state = SubscriptionState::parse("terminated;reason=noresource").expect("state");
        assert_eq!(
            sub.handle_notify(&state, t0),
            &Phase::Terminated(Some("noresource".into()))
        );
        assert_eq!(sub.poll_refresh(), None);
    }

    /// RFC 6665 §4.1.2.1: a refused SUBSCRIBE means no subscription.
    #[test]
    fn refused_subscribe_terminates() {
        let mut sub = Subscription::subscriber(Duration::from_secs(600));
        sub.handle_response(403, None, Instant::now());
        assert_eq!(sub.phase(), &Phase::Terminated(None));
    }

    /// RFC 6665 §8.4: the three values, any case; other tokens kept lower-cased.
    #[test]
    fn substate_values_parse_into_the_enum() {
        let state = |v: &str| SubscriptionState::parse(v).expect("state").state;
        assert_eq!(state("ACTIVE;expires=5"), Substate::Active);
        assert_eq!(state("pending"), Substate::Pending);
        assert_eq!(state("Terminated;reason=timeout"), Substate::Terminated);
        assert_eq!(state("Probation"), Substate::Extension("probation".into()));
        assert_eq!(SubscriptionState::pending().to_string(), "pending");
        assert_eq!(SubscriptionState::parse(" ;expires=5"), None);
    }

    /// RFC 6665 §4.2.2: an unrefreshed subscription expires with reason timeout;
    /// a refresh moves the deadline; Expires: 0 ends it at once (§4.2.1.4).
    #[test]
    fn notifier_expires_unrefreshed_subscriptions() {
        let t0 = Instant::now();
        let mut sub = Subscription::notifier(Duration::from_secs(600), false, t0);
        assert_eq!(sub.remaining(t0 + Duration::from_secs(100)), 500);
        sub.handle_refresh(600, t0 + Duration::from_secs(500));
        assert!(!sub.handle_timeout(t0 + Duration::from_secs(700)));
        assert!(sub.handle_timeout(t0 + Duration::from_secs(1100)));
        assert_eq!(sub.phase(), &Phase::Terminated(Some("timeout".into())));
        let mut other = Subscription::notifier(Duration::from_secs(600), true, t0);
        assert_eq!(other.phase(), &Phase::Pending);
        other.handle_refresh(0, t0);
        assert_eq!(other.phase(), &Phase::Terminated(None));
        assert_eq!(other.poll_timeout(), None);
    }
}

//! RFC 6665 §8.2.3 (the Subscription-State header field) and §8.4
//! (substate values), parsed and written. The life of a subscription is the
//! gateway's (`gateway/src/presence/*/state.rs`): its timing follows RFC
//! 8048, which a generic machine here did not.

use std::fmt;

use crate::wire::status::StatusCode;

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

/// RFC 6665 §4.1.2.2: "If a SUBSCRIBE request to refresh a subscription
/// receives a 404, 405, 410, 416, 480-485, 489, 501, or 604 response, the
/// subscriber MUST consider the subscription terminated." With "any error
/// code other than those listed above, the original subscription is still
/// considered valid".
pub fn refresh_failure_terminates(status: StatusCode) -> bool {
    matches!(
        status.code(),
        404 | 405 | 410 | 416 | 480..=485 | 489 | 501 | 604
    )
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

    /// RFC 6665 §4.1.2.2's list, and codes beside it that are not in it.
    #[test]
    fn a_refresh_failure_terminates_only_for_the_listed_codes() {
        let terminates = |code| refresh_failure_terminates(StatusCode::new(code).expect("a code"));
        for code in [
            404, 405, 410, 416, 480, 481, 482, 483, 484, 485, 489, 501, 604,
        ] {
            assert!(terminates(code), "{code}");
        }
        for code in [302, 400, 403, 408, 423, 486, 500, 503, 603] {
            assert!(!terminates(code), "{code}");
        }
    }
}

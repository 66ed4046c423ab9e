//! `[conference]`: XMPP users in SIP conferences (RFC 7702 §5).

use serde::{Deserialize, Serialize};

/// `[conference]`: an XMPP user's MUC join presence (`<x
/// xmlns='http://jabber.org/protocol/muc'/>`) to `room@<component>/nick`
/// joins the SIP conference `room@<component>` stands for (RFC 7702 §5.1,
/// the address mapped as any JID at the component). A section of its own,
/// not `[groupchat]`: the other direction (§6) and this one can be turned
/// on apart. Needs `[sessions] enabled` (the MSRP endpoint).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConferenceConfig {
    /// Let XMPP users join SIP conferences (RFC 7702 §5). Default `false`:
    /// presence to a component JID is then subscription presence only.
    pub enabled: bool,
    /// Conferences one XMPP user (bare JID) may be in at once, joins under
    /// way included; one more join gets `<resource-constraint/>`. Default 5.
    pub max_per_user: usize,
    /// Users of one conference-info document (RFC 4575) Parley reads; a
    /// NOTIFY listing more is answered 200 and ignored (counted as
    /// `parley_errors_total{reason="conference_roster_unreadable"}`).
    /// Default 200.
    pub max_occupants: usize,
    /// Largest message, in bytes, either way in a conference: `a=max-size`
    /// of the offer; a larger SEND from the switch gets 413 (RFC 7702 §8).
    /// At most `sessions.max_message_bytes`. Default 10000.
    pub max_message_bytes: u64,
    /// Seconds each step of a join may take (the INVITE's answer, the MSRP
    /// connection, the NICKNAME's answer) before the join fails with
    /// `<remote-server-timeout/>`. Default 10.
    pub join_secs: u64,
}

impl Default for ConferenceConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            max_per_user: 5,
            max_occupants: 200,
            max_message_bytes: 10_000,
            join_secs: 10,
        }
    }
}

impl ConferenceConfig {
    /// Why this section does not fit the rest: the key and the reason.
    pub(crate) fn problem(
        &self,
        sessions_enabled: bool,
        max_session_bytes: u64,
    ) -> Option<(&'static str, &'static str)> {
        if !self.enabled {
            return None;
        }
        if !sessions_enabled {
            return Some((
                "conference.enabled",
                "needs [sessions] enabled = true (the MSRP endpoint)",
            ));
        }
        if self.max_per_user == 0 || self.max_occupants == 0 || self.join_secs == 0 {
            return Some((
                "conference.max_per_user",
                "max_per_user, max_occupants and join_secs must be at least 1",
            ));
        }
        if self.max_message_bytes == 0 || self.max_message_bytes > max_session_bytes {
            return Some((
                "conference.max_message_bytes",
                "must be positive and not above sessions.max_message_bytes",
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conference_needs_sessions_and_positive_limits() {
        let on = ConferenceConfig {
            enabled: true,
            ..ConferenceConfig::default()
        };
        assert_eq!(ConferenceConfig::default().problem(false, 1), None);
        assert_eq!(
            on.problem(false, 65_536).map(|p| p.0),
            Some("conference.enabled")
        );
        assert_eq!(on.problem(true, 65_536), None);
        assert_eq!(
            on.problem(true, 5_000).map(|p| p.0),
            Some("conference.max_message_bytes")
        );
        let zero = ConferenceConfig { join_secs: 0, ..on };
        assert_eq!(
            zero.problem(true, 65_536).map(|p| p.0),
            Some("conference.max_per_user")
        );
    }
}

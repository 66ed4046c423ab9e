//! `[groupchat]`: SIP users in XMPP multi-user chat rooms (RFC 7702 §6).

use serde::{Deserialize, Serialize};

/// `[groupchat]`: a SIP user's INVITE with an MSRP offer to a room at one of
/// `room_domains` joins that XMPP room (RFC 7702 §6) as the user's occupant.
/// Needs `[sessions] enabled` (the MSRP endpoint).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupchatConfig {
    /// Let SIP users join XMPP rooms (RFC 7702 §6). Default `false`: an
    /// INVITE to a room address is then a one-to-one chat session.
    pub enabled: bool,
    /// The XMPP MUC services SIP users may join, e.g. `["rooms.example.com"]`:
    /// an INVITE whose Request-URI domain is one of them is a room join
    /// (§6.1). Required (at least one) when `enabled`.
    pub room_domains: Vec<String>,
    /// Rooms one SIP user may be in at once; beyond, the INVITE gets 486
    /// Busy Here. Default 5.
    pub max_rooms_per_user: usize,
    /// Occupants of one room Parley keeps in the roster it sends as
    /// conference-info (RFC 4575); the presence of more is counted
    /// (`parley_errors_total{reason="groupchat_roster_full"}`) and left out.
    /// Default 200.
    pub max_occupants: usize,
    /// Largest message a SIP user may send to a room, in bytes, after
    /// reassembly: `a=max-size` of the answer, a larger SEND gets 413 (RFC
    /// 7702 §8). At most `sessions.max_message_bytes`. Default 10000.
    pub max_message_bytes: u64,
    /// Seconds Parley waits for the room to answer a join (the self-presence
    /// or an error) before it answers the INVITE with 504. Default 10.
    pub join_secs: u64,
}

impl Default for GroupchatConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            room_domains: Vec::new(),
            max_rooms_per_user: 5,
            max_occupants: 200,
            max_message_bytes: 10_000,
            join_secs: 10,
        }
    }
}

impl GroupchatConfig {
    /// Whether `domain` is one of `room_domains` (case-insensitive).
    pub fn is_room_domain(&self, domain: &str) -> bool {
        self.room_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// Why this section does not fit the rest (`sessions_enabled`,
    /// `max_session_bytes`, `component_domain`): the key and the reason.
    pub(crate) fn problem(
        &self,
        sessions_enabled: bool,
        max_session_bytes: u64,
        component_domain: &str,
    ) -> Option<(&'static str, &'static str)> {
        if !self.enabled {
            return None;
        }
        if !sessions_enabled {
            return Some((
                "groupchat.enabled",
                "needs [sessions] enabled = true (the MSRP endpoint)",
            ));
        }
        if self.room_domains.is_empty() {
            return Some((
                "groupchat.room_domains",
                "must name at least one MUC service",
            ));
        }
        if self
            .room_domains
            .iter()
            .any(|d| d.trim().is_empty() || d.eq_ignore_ascii_case(component_domain))
        {
            return Some((
                "groupchat.room_domains",
                "must not be empty or xmpp.component_domain",
            ));
        }
        if self.max_rooms_per_user == 0 || self.max_occupants == 0 || self.join_secs == 0 {
            return Some((
                "groupchat.max_rooms_per_user",
                "max_rooms_per_user, max_occupants and join_secs must be at least 1",
            ));
        }
        if self.max_message_bytes == 0 || self.max_message_bytes > max_session_bytes {
            return Some((
                "groupchat.max_message_bytes",
                "must be positive and not above sessions.max_message_bytes",
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(domains: &[&str]) -> GroupchatConfig {
        GroupchatConfig {
            enabled: true,
            room_domains: domains.iter().map(|d| (*d).to_owned()).collect(),
            ..GroupchatConfig::default()
        }
    }

    #[test]
    fn groupchat_needs_sessions_and_a_room_domain() {
        assert_eq!(GroupchatConfig::default().problem(false, 1, "sip"), None);
        assert_eq!(
            on(&["rooms.example.com"]).problem(false, 65_536, "sip.example.net"),
            Some((
                "groupchat.enabled",
                "needs [sessions] enabled = true (the MSRP endpoint)"
            ))
        );
        assert_eq!(
            on(&[])
                .problem(true, 65_536, "sip.example.net")
                .map(|p| p.0),
            Some("groupchat.room_domains")
        );
        assert_eq!(
            on(&["SIP.example.net"])
                .problem(true, 65_536, "sip.example.net")
                .map(|p| p.0),
            Some("groupchat.room_domains")
        );
        assert_eq!(
            on(&["rooms.example.com"]).problem(true, 65_536, "sip.example.net"),
            None
        );
    }

    #[test]
    fn groupchat_message_limit_stays_within_the_session_limit() {
        assert_eq!(
            on(&["rooms.example.com"])
                .problem(true, 5_000, "sip.example.net")
                .map(|p| p.0),
            Some("groupchat.max_message_bytes")
        );
    }

    #[test]
    fn room_domains_match_without_case() {
        assert!(on(&["rooms.example.com"]).is_room_domain("Rooms.Example.COM"));
        assert!(!on(&["rooms.example.com"]).is_room_domain("example.com"));
    }
}

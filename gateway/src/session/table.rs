//! The open chat sessions, by Call-ID and by the pair of users they join,
//! and the limits a new one must fit in (`sessions.max_sessions`,
//! `sessions.max_sessions_per_user`). Pure data: the handler in `mod.rs`
//! holds it behind a lock and acts on what it decides.

use std::collections::HashMap;

use tokio::sync::mpsc;
use tokio::time::Instant;

use parley_mapping::address::Jid;
use parley_sip::dialog::session::Session as Dialog;

use super::relay::Command;

/// The two users a session joins, as bare JIDs in lower case: the SIP user
/// (at the component domain) and the XMPP user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Pair {
    pub(crate) sip_user: String,
    pub(crate) xmpp_user: String,
}

impl Pair {
    /// The pair of `sip_user` and `xmpp_user`.
    pub(crate) fn of(sip_user: &Jid, xmpp_user: &Jid) -> Pair {
        let key = |j: &Jid| j.bare().to_string().to_lowercase();
        Pair {
            sip_user: key(sip_user),
            xmpp_user: key(xmpp_user),
        }
    }
}

/// One open session.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) pair: Pair,
    /// The SIP user as XMPP sees it (the `from` of what Parley sends).
    pub(crate) sip_jid: Jid,
    /// The XMPP user the INVITE named (the `to`).
    pub(crate) xmpp_jid: Jid,
    /// The INVITE's dialog (RFC 3261 §12), for the BYE.
    pub(crate) dialog: Dialog,
    /// To the session's relay task.
    pub(crate) commands: mpsc::Sender<Command>,
    /// The last message either way (for `sessions.idle_secs`).
    pub(crate) last_activity: Instant,
    /// Whether the phone takes isComposing (RFC 4975 §8.6).
    pub(crate) peer_takes_composing: bool,
}

/// The limits a new session must fit in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) total: usize,
    pub(crate) per_user: usize,
}

/// Why a new session does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    /// `sessions.max_sessions`.
    Total,
    /// `sessions.max_sessions_per_user`, for either user.
    User,
}

/// Every open session.
#[derive(Debug, Default)]
pub(crate) struct Table {
    by_call: HashMap<String, Entry>,
    by_pair: HashMap<Pair, String>,
}

impl Table {
    /// Whether a session for `pair` fits; one already open for the same
    /// pair is replaced by it, so it is not counted.
    pub(crate) fn admit(&self, pair: &Pair, limits: Limits) -> Result<(), Full> {
        let replaced = usize::from(self.by_pair.contains_key(pair));
        if self.by_call.len() - replaced >= limits.total {
            return Err(Full::Total);
        }
        for user in [&pair.sip_user, &pair.xmpp_user] {
            let open = self
                .by_call
                .values()
                .filter(|e| e.pair != *pair)
                .filter(|e| e.pair.sip_user == *user || e.pair.xmpp_user == *user)
                .count();
            if open + 1 > limits.per_user {
                return Err(Full::User);
            }
        }
        Ok(())
    }

    /// Keeps `entry` under `call_id`; returns the session it replaces for
    /// the same pair, if any.
    pub(crate) fn insert(&mut self, call_id: String, entry: Entry) -> Option<(String, Entry)> {
        let old = self
            .by_pair
            .insert(entry.pair.clone(), call_id.clone())
            .and_then(|old| self.by_call.remove(&old).map(|e| (old, e)));
        self.by_call.insert(call_id, entry);
        old
    }

    /// Forgets the session with `call_id`.
    pub(crate) fn remove(&mut self, call_id: &str) -> Option<Entry> {
        let entry = self.by_call.remove(call_id)?;
        if self.by_pair.get(&entry.pair).is_some_and(|c| c == call_id) {
            self.by_pair.remove(&entry.pair);
        }
        Some(entry)
    }

    /// The session with `call_id`.
    pub(crate) fn get_mut(&mut self, call_id: &str) -> Option<&mut Entry> {
        self.by_call.get_mut(call_id)
    }

    /// The session between `pair`'s users, with its Call-ID.
    pub(crate) fn by_pair_mut(&mut self, pair: &Pair) -> Option<(String, &mut Entry)> {
        let call_id = self.by_pair.get(pair)?.clone();
        let entry = self.by_call.get_mut(&call_id)?;
        Some((call_id, entry))
    }

    /// The Call-IDs of sessions idle since before `cutoff`.
    pub(crate) fn idle_since(&self, cutoff: Instant) -> Vec<String> {
        self.by_call
            .iter()
            .filter(|(_, e)| e.last_activity <= cutoff)
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// Every Call-ID.
    pub(crate) fn call_ids(&self) -> Vec<String> {
        self.by_call.keys().cloned().collect()
    }

    /// How many are open.
    pub(crate) fn len(&self) -> usize {
        self.by_call.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> Jid {
        Jid::parse(s).expect("a JID")
    }

    fn entry(sip: &str, xmpp: &str) -> Entry {
        let invite = parley_sip::wire::Message::parse(
            bytes::Bytes::from(format!(
                "INVITE sip:{xmpp} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
                 From: <sip:{sip}>;tag=1\r\nTo: <sip:{xmpp}>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
                 Contact: <sip:{sip}>\r\nContent-Length: 0\r\n\r\n"
            )),
            parley_sip::wire::ParseLimits::default(),
        )
        .expect("the INVITE parses");
        let dialog = Dialog::uas(
            &invite,
            "2",
            parley_sip::dialog::session::TimerAnswer::None,
            std::time::Instant::now(),
        )
        .expect("a dialog");
        Entry {
            pair: Pair::of(&jid(sip), &jid(xmpp)),
            sip_jid: jid(sip),
            xmpp_jid: jid(xmpp),
            dialog,
            commands: mpsc::channel(1).0,
            last_activity: Instant::now(),
            peer_takes_composing: false,
        }
    }

    const LIMITS: Limits = Limits {
        total: 3,
        per_user: 2,
    };

    #[test]
    fn a_user_at_the_per_user_limit_is_refused_on_either_side() {
        let mut table = Table::default();
        table.insert(
            "a".into(),
            entry("romeo@sip.example.net", "juliet@xmpp.example"),
        );
        table.insert(
            "b".into(),
            entry("mercutio@sip.example.net", "juliet@xmpp.example"),
        );
        let third = Pair::of(
            &jid("tybalt@sip.example.net"),
            &jid("Juliet@xmpp.example/x"),
        );
        assert_eq!(table.admit(&third, LIMITS), Err(Full::User));
        let other = Pair::of(&jid("tybalt@sip.example.net"), &jid("nurse@xmpp.example"));
        assert_eq!(table.admit(&other, LIMITS), Ok(()));
    }

    #[test]
    fn the_same_pair_replaces_its_session_and_is_not_counted() {
        let mut table = Table::default();
        table.insert(
            "a".into(),
            entry("romeo@sip.example.net", "juliet@xmpp.example"),
        );
        table.insert(
            "b".into(),
            entry("mercutio@sip.example.net", "juliet@xmpp.example"),
        );
        table.insert(
            "c".into(),
            entry("tybalt@sip.example.net", "nurse@xmpp.example"),
        );
        let again = Pair::of(&jid("romeo@sip.example.net"), &jid("juliet@xmpp.example"));
        assert_eq!(table.admit(&again, LIMITS), Ok(()));
        let new = Pair::of(&jid("paris@sip.example.net"), &jid("friar@xmpp.example"));
        assert_eq!(table.admit(&new, LIMITS), Err(Full::Total));
        let replaced = table.insert(
            "a2".into(),
            entry("romeo@sip.example.net", "juliet@xmpp.example"),
        );
        assert_eq!(replaced.map(|(c, _)| c), Some("a".to_owned()));
        assert_eq!(table.len(), 3);
        assert!(table.by_pair_mut(&again).is_some_and(|(c, _)| c == "a2"));
    }
}

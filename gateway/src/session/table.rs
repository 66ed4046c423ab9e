//! The open chat sessions, by Call-ID and by the pair of users they join;
//! the sessions Parley is starting (RFC 7573 §4, its INVITE out) with the
//! XMPP messages they hold; the SIP users whose phones refused a session
//! lately (`sessions.fallback_secs`); and the limits a new session must fit
//! in (`sessions.max_sessions`, `sessions.max_sessions_per_user`). Pure
//! data: the handler in `mod.rs` holds it behind a lock and acts on what it
//! decides.

use std::collections::HashMap;

use tokio::sync::mpsc;
use tokio::time::Instant;

use parley_mapping::address::Jid;
use parley_msrp::uri::Uri;
use parley_sip::dialog::session::Session as Dialog;
use parley_xmpp::stanza::Message;

use super::relay::Command;

/// SIP users remembered as refusing sessions, at most; past it, a refusal
/// is not remembered (the next message tries a session again).
const MAX_DECLINED: usize = 100_000;

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
    /// The XMPP user: the one the INVITE named, or the full JID of the one
    /// whose message started the session (RFC 7573 §4, Example 7).
    pub(crate) xmpp_jid: Jid,
    /// The `<thread/>` of the session's stanzas: the Call-ID of a phone's
    /// INVITE (§5, Example 14), the XMPP user's own thread for a session
    /// Parley started.
    pub(crate) thread: String,
    /// The INVITE's dialog (RFC 3261 §12), for the BYE.
    pub(crate) dialog: Dialog,
    /// To the session's relay task.
    pub(crate) commands: mpsc::Sender<Command>,
    /// The last message either way (for `sessions.idle_secs`).
    pub(crate) last_activity: Instant,
    /// Whether the phone takes isComposing (RFC 4975 §8.6).
    pub(crate) peer_takes_composing: bool,
    /// The SDP Parley last sent in the session (its answer, or the offer it
    /// made with the `a=setup` it ended up with): what a refresh repeats
    /// (RFC 4028 §7.4: "including the same value for the origin field").
    pub(crate) local_sdp: String,
    /// The phone's MSRP path (a re-INVITE that keeps it is a refresh).
    pub(crate) remote_path: Vec<Uri>,
    /// Whether the phone listed UPDATE in its Allow (RFC 4028 §7.4: then
    /// refreshes use UPDATE, else a re-INVITE).
    pub(crate) peer_allows_update: bool,
    /// The session interval (RFC 4028 §9), when there is a session timer.
    pub(crate) interval: Option<u32>,
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

/// A session Parley is starting (RFC 7573 §4, F3–F8): its INVITE is out.
#[derive(Debug)]
pub(crate) struct Starting {
    /// The INVITE's Call-ID.
    pub(crate) call_id: String,
    /// The XMPP messages for the pair, in order, until the session opens
    /// (they go into it) or fails (they go as SIP MESSAGE).
    pub(crate) held: Vec<Message>,
}

/// Every open session, and those being started.
#[derive(Debug, Default)]
pub(crate) struct Table {
    by_call: HashMap<String, Entry>,
    by_pair: HashMap<Pair, String>,
    starting: HashMap<Pair, Starting>,
    /// SIP users (bare JIDs in lower case) whose phones refused a session,
    /// and until when Parley does not try again.
    declined: HashMap<String, Instant>,
}

impl Table {
    /// Whether a session for `pair` fits; one already open for the same
    /// pair is replaced by it, so it is not counted.
    /// Sessions being started count as open.
    pub(crate) fn admit(&self, pair: &Pair, limits: Limits) -> Result<(), Full> {
        let replaced = usize::from(self.by_pair.contains_key(pair));
        if self.by_call.len() + self.starting.len() - replaced >= limits.total {
            return Err(Full::Total);
        }
        let pairs = self
            .by_call
            .values()
            .map(|e| &e.pair)
            .chain(self.starting.keys());
        for user in [&pair.sip_user, &pair.xmpp_user] {
            let open = pairs
                .clone()
                .filter(|p| *p != pair)
                .filter(|p| p.sip_user == *user || p.xmpp_user == *user)
                .count();
            if open + 1 > limits.per_user {
                return Err(Full::User);
            }
        }
        Ok(())
    }

    /// Parley starts a session for `pair` (its INVITE goes out now).
    pub(crate) fn start(&mut self, pair: Pair, starting: Starting) {
        self.starting.insert(pair, starting);
    }

    /// The session being started for `pair`.
    pub(crate) fn starting_mut(&mut self, pair: &Pair) -> Option<&mut Starting> {
        self.starting.get_mut(pair)
    }

    /// Takes the session being started for `pair` with `call_id` (none if
    /// it was taken already, by a shutdown).
    pub(crate) fn take_starting(&mut self, pair: &Pair, call_id: &str) -> Option<Starting> {
        if self.starting.get(pair)?.call_id != call_id {
            return None;
        }
        self.starting.remove(pair)
    }

    /// Every session being started.
    pub(crate) fn take_all_starting(&mut self) -> Vec<Starting> {
        self.starting.drain().map(|(_, s)| s).collect()
    }

    /// Whether `sip_user`'s phone refused a session that Parley should not
    /// try again before `now`.
    pub(crate) fn declined(&mut self, sip_user: &str, now: Instant) -> bool {
        match self.declined.get(sip_user) {
            Some(until) if *until > now => true,
            Some(_) => {
                self.declined.remove(sip_user);
                false
            }
            None => false,
        }
    }

    /// Remembers that `sip_user`'s phone refused a session, until `until`.
    pub(crate) fn decline(&mut self, sip_user: &str, now: Instant, until: Instant) {
        if self.declined.len() >= MAX_DECLINED {
            self.declined.retain(|_, u| *u > now);
        }
        if self.declined.len() < MAX_DECLINED {
            self.declined.insert(sip_user.to_owned(), until);
        }
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

    /// The Call-IDs of sessions whose timer (RFC 4028) is due at `now`.
    pub(crate) fn timers_due(&self, now: std::time::Instant) -> Vec<String> {
        self.by_call
            .iter()
            .filter(|(_, e)| e.dialog.poll_timeout().is_some_and(|at| at <= now))
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
            thread: "t".into(),
            dialog,
            commands: mpsc::channel(1).0,
            last_activity: Instant::now(),
            peer_takes_composing: false,
            local_sdp: String::new(),
            remote_path: Vec::new(),
            peer_allows_update: false,
            interval: None,
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

    #[test]
    fn a_session_being_started_counts_against_the_limits() {
        let mut table = Table::default();
        table.insert(
            "a".into(),
            entry("romeo@sip.example.net", "juliet@xmpp.example"),
        );
        let starting = Pair::of(
            &jid("mercutio@sip.example.net"),
            &jid("juliet@xmpp.example"),
        );
        table.start(
            starting.clone(),
            Starting {
                call_id: "b".into(),
                held: vec![],
            },
        );
        let third = Pair::of(&jid("tybalt@sip.example.net"), &jid("juliet@xmpp.example"));
        assert_eq!(table.admit(&third, LIMITS), Err(Full::User));
        assert!(table.take_starting(&starting, "other").is_none());
        assert!(table.take_starting(&starting, "b").is_some());
        assert_eq!(table.admit(&third, LIMITS), Ok(()));
    }

    #[test]
    fn a_declined_user_is_remembered_until_the_time_given() {
        let mut table = Table::default();
        let now = Instant::now();
        let hour = std::time::Duration::from_secs(3600);
        table.decline("romeo@sip.example.net", now, now + hour);
        assert!(table.declined("romeo@sip.example.net", now));
        assert!(!table.declined("mercutio@sip.example.net", now));
        assert!(!table.declined("romeo@sip.example.net", now + hour));
        assert!(!table.declined("romeo@sip.example.net", now));
    }
}

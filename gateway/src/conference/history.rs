//! Messages of the switch that arrive while the user is joining (issue 23:
//! "history and `<delay/>` stamps for messages that arrive while
//! joining"). Parley is in the conference from the INVITE's 200 on, and the
//! switch may relay messages to it before the first NOTIFY has given the
//! roster, so before the user has its self-presence. XEP-0045 §7.2.13:
//! "The room MUST NOT send any discussion history before it finishes
//! sending room presence", and "Discussion history messages MUST be
//! stamped with [XEP-0203] information qualified by the 'urn:xmpp:delay'
//! namespace ... The 'from' attribute MUST be set to the JID of the room
//! itself." So such messages are held (at most [`MAX_HELD`], the oldest
//! dropped and counted) and go to the user after the self-presence and
//! before the subject (§7.2.15), each with `<delay/>`: its CPIM `DateTime`
//! when that is a UTC time (RFC 3339 with `Z`), else the time Parley
//! received it.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use parley_mapping::address::Jid;
use parley_xmpp::stanza::{Element, Message};

/// Messages held while joining, at most.
pub(super) const MAX_HELD: usize = 50;

const NS_DELAY: &str = "urn:xmpp:delay";

/// A SEND of the switch as it came, read when the roster is known (the
/// sender's nickname comes from it).
pub(super) struct Raw {
    /// Its Content-Type.
    pub(super) content_type: String,
    /// Its body (CPIM).
    pub(super) body: Vec<u8>,
    /// When Parley received it, Unix seconds.
    pub(super) received: u64,
}

/// The messages held until the self-presence.
#[derive(Default)]
pub(super) struct Held {
    messages: VecDeque<Raw>,
}

impl Held {
    /// A SEND's `content_type` and `body`, held; `true` when the oldest
    /// held message had to go to make room.
    pub(super) fn hold(&mut self, content_type: &str, body: &[u8]) -> bool {
        let dropped = self.messages.len() >= MAX_HELD;
        if dropped {
            self.messages.pop_front();
        }
        self.messages.push_back(Raw {
            content_type: content_type.to_owned(),
            body: body.to_vec(),
            received: now(),
        });
        dropped
    }

    /// The held messages, oldest first; none held after.
    pub(super) fn take(&mut self) -> VecDeque<Raw> {
        std::mem::take(&mut self.messages)
    }
}

/// `m`, a message held while joining, with its `<delay/>` from the room:
/// the CPIM `date_time` when it is a UTC time, else `received`.
pub(super) fn delayed(
    mut m: Message,
    room: &Jid,
    date_time: Option<&str>,
    received: u64,
) -> Message {
    let stamp = date_time
        .filter(|d| is_utc_date_time(d))
        .map_or_else(|| parley_mapping::imdn::date_time(received), str::to_owned);
    let mut delay = Element::new("delay", NS_DELAY);
    delay.attrs.push(("from".into(), room.to_string()));
    delay.attrs.push(("stamp".into(), stamp));
    m.payloads.push(delay);
    m
}

/// Now, Unix seconds.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `YYYY-MM-DDThh:mm:ss[.fraction]Z` (RFC 3339 §5.6 with the `Z` offset).
fn is_utc_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(digits(0..4)
        && at(4, b'-')
        && digits(5..7)
        && at(7, b'-')
        && digits(8..10)
        && (at(10, b'T') || at(10, b't'))
        && digits(11..13)
        && at(13, b':')
        && digits(14..16)
        && at(16, b':')
        && digits(17..19))
    {
        return false;
    }
    let rest = &b[19..];
    let rest = match rest.strip_prefix(b".") {
        Some(f) => {
            let n = f.iter().take_while(|d| d.is_ascii_digit()).count();
            if n == 0 {
                return false;
            }
            &f[n..]
        }
        None => rest,
    };
    rest == b"Z" || rest == b"z"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_max_held_the_oldest_message_goes() {
        let mut held = Held::default();
        for i in 0..MAX_HELD {
            assert!(!held.hold("message/cpim", i.to_string().as_bytes()));
        }
        assert!(held.hold("message/cpim", b"last"));
        let kept = held.take();
        assert_eq!(kept.len(), MAX_HELD);
        assert_eq!(kept.front().map(|r| r.body.as_slice()), Some(&b"1"[..]));
        assert_eq!(kept.back().map(|r| r.body.as_slice()), Some(&b"last"[..]));
        assert!(held.take().is_empty());
    }

    #[test]
    fn the_delay_is_from_the_room_with_the_utc_date_time_or_the_reception() {
        let room = Jid::parse("montague@sip.example.net").expect("a JID");
        let m = delayed(Message::default(), &room, Some("2002-10-13T23:58:37Z"), 0);
        assert_eq!(m.payloads[0].attr("from"), Some("montague@sip.example.net"));
        assert_eq!(m.payloads[0].attr("stamp"), Some("2002-10-13T23:58:37Z"));
        let m = delayed(
            Message::default(),
            &room,
            Some("2002-10-14T01:58:37+02:00"),
            86_400,
        );
        assert_eq!(m.payloads[0].attr("stamp"), Some("1970-01-02T00:00:00Z"));
    }

    #[test]
    fn only_a_utc_rfc3339_date_time_is_a_stamp() {
        assert!(is_utc_date_time("2002-10-13T23:58:37Z"));
        assert!(is_utc_date_time("2002-10-13T23:58:37.123Z"));
        assert!(!is_utc_date_time("2002-10-13T23:58:37+02:00"));
        assert!(!is_utc_date_time("2002-10-13T23:58:37.Z"));
        assert!(!is_utc_date_time("yesterday"));
        assert!(!is_utc_date_time("2002-10-13T23:58:37Z' x='"));
    }
}

//! Per-phase bookkeeping: when each numbered message was sent, answered and
//! delivered, how the sender was told it failed, and the numbers the report
//! is made of.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::stream::{attr, between, start_tag};

/// A time slot not yet filled.
const NONE: u64 = u64::MAX;

/// Outcome bits of one message (`Tracker::outcome`).
const DELIVERED: u8 = 1;
/// A 2xx final answer (SIP → XMPP).
const ANSWERED_OK: u8 = 2;
/// Refused so the sender may retry: SIP 503 with Retry-After (RFC 3261
/// §21.5.4), or an XMPP error of type `wait` (RFC 6120 §8.3.2: "retry after
/// waiting").
const REFUSED: u8 = 4;
/// Any other failure answer: a SIP final status ≥ 300, or an XMPP error.
const FAILED: u8 = 8;
/// A message with any of these bits has had its fate decided.
const SETTLED: u8 = DELIVERED | REFUSED | FAILED;

/// The timestamps of one phase's messages, indexed by sequence number.
#[derive(Debug)]
pub(crate) struct Tracker {
    /// The phase this tracker belongs to (carried in bodies and Call-IDs).
    pub(crate) phase: u32,
    epoch: Instant,
    sent: Vec<AtomicU64>,
    answered: Vec<AtomicU64>,
    delivered: Vec<AtomicU64>,
    outcome: Vec<AtomicU8>,
    answered_count: AtomicUsize,
    /// Messages delivered, refused or failed (the max-rate window counts
    /// what is not settled yet).
    settled_count: AtomicUsize,
    /// Final answers other than 2xx, by status.
    failures: Mutex<Vec<u16>>,
    /// XMPP errors that came back, as `type/condition`.
    stanza_errors: Mutex<Vec<String>>,
    /// Deliveries of numbers already delivered (duplicates), except
    /// retransmissions.
    pub(crate) duplicates: AtomicUsize,
    /// SIP deliveries of numbers already delivered in the same transaction
    /// (same Via branch): UDP retransmissions, RFC 3261 §17.1.2.2, which the
    /// load tool's UAS has no transaction layer to absorb.
    pub(crate) retransmissions: AtomicUsize,
    /// Hash of the Via branch of each number's first SIP delivery.
    first_branch: Vec<AtomicU64>,
    /// Signalled on every delivery (the max-rate sender waits on it).
    pub(crate) progress: tokio::sync::Notify,
}

impl Tracker {
    pub(crate) fn new(phase: u32, count: usize) -> Self {
        let slots = || (0..count).map(|_| AtomicU64::new(NONE)).collect();
        Self {
            phase,
            epoch: Instant::now(),
            sent: slots(),
            answered: slots(),
            delivered: slots(),
            outcome: (0..count).map(|_| AtomicU8::new(0)).collect(),
            answered_count: AtomicUsize::new(0),
            settled_count: AtomicUsize::new(0),
            failures: Mutex::new(Vec::new()),
            stanza_errors: Mutex::new(Vec::new()),
            duplicates: AtomicUsize::new(0),
            retransmissions: AtomicUsize::new(0),
            first_branch: slots(),
            progress: tokio::sync::Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(NONE - 1)
    }

    pub(crate) fn mark_sent(&self, seq: usize) {
        if let Some(slot) = self.sent.get(seq) {
            slot.store(self.now(), Ordering::Relaxed);
        }
    }

    /// A final SIP answer for `seq` arrived (SIP → XMPP: the answer to our
    /// MESSAGE); `retry_after`: it carried a Retry-After header.
    pub(crate) fn mark_answered(&self, seq: usize, status: u16, retry_after: bool) {
        if status >= 300 {
            if let Ok(mut f) = self.failures.lock() {
                f.push(status);
            }
            let refused = status == 503 && retry_after;
            self.set(seq, if refused { REFUSED } else { FAILED });
            return;
        }
        if let Some(slot) = self.answered.get(seq)
            && slot
                .compare_exchange(NONE, self.now(), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.answered_count.fetch_add(1, Ordering::Relaxed);
            self.set(seq, ANSWERED_OK);
        }
    }

    /// An XMPP error came back for `seq` (XMPP → SIP), of type `kind` with
    /// defined condition `condition`; type `wait` tells the sender to retry
    /// later (RFC 6120 §8.3.2).
    pub(crate) fn mark_stanza_error(&self, seq: usize, kind: &str, condition: &str) {
        if let Ok(mut e) = self.stanza_errors.lock() {
            e.push(format!("{kind}/{condition}"));
        }
        self.set(seq, if kind == "wait" { REFUSED } else { FAILED });
    }

    /// The XMPP errors that came back, as `type/condition`.
    pub(crate) fn stanza_errors(&self) -> Vec<String> {
        self.stanza_errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    fn set(&self, seq: usize, bit: u8) {
        let Some(slot) = self.outcome.get(seq) else {
            return;
        };
        let before = slot.fetch_or(bit, Ordering::Relaxed);
        if before & SETTLED == 0 && bit & SETTLED != 0 {
            self.settled_count.fetch_add(1, Ordering::Relaxed);
            self.progress.notify_one();
        }
    }

    /// Message `seq` reached the other side.
    pub(crate) fn mark_delivered(&self, seq: usize) {
        let Some(slot) = self.delivered.get(seq) else {
            return;
        };
        if slot
            .compare_exchange(NONE, self.now(), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.set(seq, DELIVERED);
        } else {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Message `seq` reached the SIP side in a request whose top Via has
    /// `branch`: a second delivery with the same branch is a retransmission,
    /// not a duplicate.
    pub(crate) fn mark_delivered_request(&self, seq: usize, branch: &str) {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(branch, &mut h);
        // NONE marks an empty slot; a hash equal to it is nudged.
        let key = std::hash::Hasher::finish(&h).min(NONE - 1);
        let Some(first) = self.first_branch.get(seq) else {
            return;
        };
        match first.compare_exchange(NONE, key, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => self.mark_delivered(seq),
            Err(seen) if seen == key => {
                self.retransmissions.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => self.mark_delivered(seq),
        }
    }

    pub(crate) fn answered(&self) -> usize {
        self.answered_count.load(Ordering::Relaxed)
    }

    /// Messages delivered, refused or failed so far.
    pub(crate) fn settled(&self) -> usize {
        self.settled_count.load(Ordering::Relaxed)
    }

    /// What became of the first `sent` messages.
    pub(crate) fn outcomes(&self, sent: usize) -> Outcomes {
        let mut o = Outcomes::default();
        for slot in self.outcome.iter().take(sent) {
            let s = slot.load(Ordering::Relaxed);
            let delivered = s & DELIVERED != 0;
            if delivered {
                o.delivered += 1;
            }
            if s & FAILED != 0 {
                o.failed += 1;
            } else if s & REFUSED != 0 {
                if delivered {
                    o.refused_but_delivered += 1;
                } else {
                    o.refused += 1;
                }
            } else if !delivered {
                o.lost += 1;
                if s & ANSWERED_OK != 0 {
                    o.lost_after_2xx += 1;
                }
            }
        }
        o
    }

    pub(crate) fn failures(&self) -> Vec<u16> {
        self.failures.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Send → delivery latencies of every delivered message.
    pub(crate) fn delivery_latencies(&self) -> Latencies {
        self.latencies(&self.delivered)
    }

    /// Send → final answer latencies.
    pub(crate) fn answer_latencies(&self) -> Latencies {
        self.latencies(&self.answered)
    }

    /// Time from the first send to the last send or the last delivery,
    /// whichever is later: a phase that stops delivering part-way (refusing
    /// the rest) is not credited with the rate of its first part.
    pub(crate) fn span(&self) -> Duration {
        let times = |slots: &[AtomicU64]| {
            slots
                .iter()
                .map(|s| s.load(Ordering::Relaxed))
                .filter(|&t| t != NONE)
                .collect::<Vec<u64>>()
        };
        let sent = times(&self.sent);
        let first = sent.iter().copied().min().unwrap_or(0);
        let last = sent
            .iter()
            .copied()
            .chain(times(&self.delivered))
            .max()
            .unwrap_or(first);
        Duration::from_nanos(last.saturating_sub(first))
    }

    fn latencies(&self, end: &[AtomicU64]) -> Latencies {
        let mut v: Vec<u64> = self
            .sent
            .iter()
            .zip(end)
            .filter_map(|(s, e)| {
                let (s, e) = (s.load(Ordering::Relaxed), e.load(Ordering::Relaxed));
                (s != NONE && e != NONE).then(|| e.saturating_sub(s))
            })
            .collect();
        v.sort_unstable();
        Latencies(v)
    }
}

/// What became of a phase's messages. Every message sent is exactly one of:
/// failed, refused (and not delivered), refused but delivered, lost (neither
/// delivered nor answered with a failure), or delivered without a failure.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcomes {
    /// Reached the other side.
    pub(crate) delivered: usize,
    /// Not delivered, and the sender was told to retry (503 + Retry-After,
    /// XMPP error type `wait`).
    pub(crate) refused: usize,
    /// Told to retry, yet delivered (a retry would duplicate it).
    pub(crate) refused_but_delivered: usize,
    /// Answered with any other failure (delivered or not).
    pub(crate) failed: usize,
    /// Not delivered and no failure answer: silent loss.
    pub(crate) lost: usize,
    /// Of `lost`: answered 2xx although never delivered.
    pub(crate) lost_after_2xx: usize,
}

/// Sorted latencies in nanoseconds.
#[derive(Debug)]
pub(crate) struct Latencies(Vec<u64>);

impl Latencies {
    /// The `p`-th percentile in milliseconds (nearest rank), or NaN if empty.
    pub(crate) fn percentile_ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        let i = rank.clamp(1, self.0.len()) - 1;
        self.0[i] as f64 / 1e6
    }

    pub(crate) fn max_ms(&self) -> f64 {
        self.0.last().map_or(f64::NAN, |&n| n as f64 / 1e6)
    }
}

/// Parses `lg <phase> <seq>` (any separators) out of a body or Call-ID.
pub(crate) fn parse_tag(text: &str) -> Option<(u32, usize)> {
    let at = text.find("lg")?;
    let mut it = text[at + 2..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    let phase = it.next()?.parse().ok()?;
    let seq = it.next()?.parse().ok()?;
    Some((phase, seq))
}

/// The tag `parse_tag` reads back.
pub(crate) fn tag(phase: u32, seq: usize) -> String {
    format!("lg {phase} {seq}")
}

/// A message body: the tag, padded with `x` to `bytes` bytes if it is
/// shorter (the padding has no digits, so `parse_tag` still reads the tag).
pub(crate) fn body(phase: u32, seq: usize, bytes: usize) -> String {
    let mut b = tag(phase, seq);
    if b.len() < bytes {
        b.push(' ');
        while b.len() < bytes {
            b.push('x');
        }
    }
    b
}

/// Every phase's tracker, by phase number, shared by the readers.
#[derive(Debug, Default)]
pub(crate) struct Phases(std::sync::RwLock<Vec<std::sync::Arc<Tracker>>>);

impl Phases {
    pub(crate) fn add(&self, tracker: std::sync::Arc<Tracker>) {
        if let Ok(mut v) = self.0.write() {
            v.push(tracker);
        }
    }

    /// Tracks one `<message/>` that arrived on the XMPP side: a load-tagged
    /// body is a delivery; an error whose id (or echoed body) carries a tag
    /// tells that message's sender it failed (type `wait`: refused, retry
    /// later). Returns whether it was an error.
    pub(crate) fn track_message(&self, text: &str) -> bool {
        let head = text.split('>').next().unwrap_or_default();
        let body = between(text, "<body", "</body>");
        if attr(head, "type") == Some("error") {
            let found = attr(head, "id")
                .and_then(|id| self.find(id))
                .or_else(|| body.and_then(|b| self.find(b)));
            if let Some((tracker, seq)) = found {
                let error = start_tag(text, "<error");
                let kind = error.and_then(|t| attr(t, "type")).unwrap_or("?");
                let condition = error
                    .and_then(|t| text.get(text.find(t)? + t.len()..))
                    .and_then(|rest| rest.split_once('<'))
                    .and_then(|(_, child)| child.split([' ', '/', '>']).next())
                    .unwrap_or("?");
                tracker.mark_stanza_error(seq, kind, condition);
            }
            return true;
        }
        if let Some((tracker, seq)) = body.and_then(|b| self.find(b)) {
            tracker.mark_delivered(seq);
        }
        false
    }

    /// The tracker of the phase and sequence number named in `text`.
    pub(crate) fn find(&self, text: &str) -> Option<(std::sync::Arc<Tracker>, usize)> {
        let (phase, seq) = parse_tag(text)?;
        let v = self.0.read().ok()?;
        let t = v.iter().find(|t| t.phase == phase)?;
        Some((t.clone(), seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_reads_back() {
        assert_eq!(parse_tag(&tag(3, 4711)), Some((3, 4711)));
        assert_eq!(parse_tag("x lg 1 2 tail"), Some((1, 2)));
        assert_eq!(parse_tag("lg.7.9@127.0.0.1"), Some((7, 9)));
        assert_eq!(parse_tag("hello"), None);
    }

    #[test]
    fn a_tagged_message_is_delivered_and_an_error_of_type_wait_refused() {
        let phases = Phases::default();
        let t = std::sync::Arc::new(Tracker::new(4, 3));
        phases.add(t.clone());
        assert!(!phases.track_message("<message from='a' to='b'><body>lg 4 0 xx</body></message>"));
        assert!(phases.track_message(
            "<message type='error' id='lg.4.1'><error type='wait'><resource-constraint/></error></message>"
        ));
        assert!(phases.track_message(
            "<message type='error' id='other'><body>lg 4 2</body><error type='cancel'><x/></error></message>"
        ));
        let o = t.outcomes(3);
        assert_eq!((o.delivered, o.refused, o.failed, o.lost), (1, 1, 1, 0));
        assert_eq!(t.stanza_errors(), ["wait/resource-constraint", "cancel/x"]);
    }

    #[test]
    fn the_span_runs_to_the_last_send_when_later_deliveries_stop() {
        let t = Tracker::new(1, 3);
        t.sent[0].store(1_000, Ordering::Relaxed);
        t.sent[1].store(2_000, Ordering::Relaxed);
        t.sent[2].store(9_000, Ordering::Relaxed);
        t.delivered[0].store(3_000, Ordering::Relaxed);
        assert_eq!(t.span(), Duration::from_nanos(8_000));
        t.delivered[2].store(12_000, Ordering::Relaxed);
        assert_eq!(t.span(), Duration::from_nanos(11_000));
    }

    #[test]
    fn a_retransmission_is_not_a_duplicate() {
        let t = Tracker::new(1, 1);
        t.mark_delivered_request(0, "z9hG4bK.a");
        t.mark_delivered_request(0, "z9hG4bK.a");
        t.mark_delivered_request(0, "z9hG4bK.b");
        assert_eq!(t.outcomes(1).delivered, 1);
        assert_eq!(t.retransmissions.load(Ordering::Relaxed), 1);
        assert_eq!(t.duplicates.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn padded_bodies_have_the_length_asked_and_read_back() {
        let b = body(2, 31, 100);
        assert_eq!(b.len(), 100);
        assert_eq!(parse_tag(&b), Some((2, 31)));
        assert_eq!(body(2, 31, 0), "lg 2 31");
    }

    #[test]
    fn every_message_has_one_outcome() {
        let t = Tracker::new(1, 7);
        t.mark_delivered(0);
        t.mark_answered(0, 200, false);
        t.mark_answered(1, 503, true);
        t.mark_answered(2, 503, false);
        t.mark_delivered(3);
        t.mark_answered(3, 408, false);
        t.mark_answered(4, 200, false);
        t.mark_stanza_error(5, "wait", "resource-constraint");
        t.mark_delivered(6);
        t.mark_stanza_error(6, "wait", "resource-constraint");
        let o = t.outcomes(7);
        assert_eq!(
            o,
            Outcomes {
                delivered: 3,
                refused: 2,
                refused_but_delivered: 1,
                failed: 2,
                lost: 1,
                lost_after_2xx: 1,
            }
        );
        assert_eq!(t.settled(), 6, "all but the one lost");
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let l = Latencies((1..=100).map(|n| n * 1_000_000).collect());
        assert_eq!(l.percentile_ms(50.0), 50.0);
        assert_eq!(l.percentile_ms(99.0), 99.0);
        assert_eq!(l.max_ms(), 100.0);
    }
}

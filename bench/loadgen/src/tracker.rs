//! Per-phase bookkeeping: when each numbered message was sent, answered and
//! delivered, and the numbers the report is made of.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A time slot not yet filled.
const NONE: u64 = u64::MAX;

/// The timestamps of one phase's messages, indexed by sequence number.
#[derive(Debug)]
pub(crate) struct Tracker {
    /// The phase this tracker belongs to (carried in bodies and Call-IDs).
    pub(crate) phase: u32,
    epoch: Instant,
    sent: Vec<AtomicU64>,
    answered: Vec<AtomicU64>,
    delivered: Vec<AtomicU64>,
    delivered_count: AtomicUsize,
    answered_count: AtomicUsize,
    /// Final answers other than 2xx, by status.
    failures: Mutex<Vec<u16>>,
    /// Deliveries of numbers already delivered (duplicates).
    pub(crate) duplicates: AtomicUsize,
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
            delivered_count: AtomicUsize::new(0),
            answered_count: AtomicUsize::new(0),
            failures: Mutex::new(Vec::new()),
            duplicates: AtomicUsize::new(0),
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

    /// A final SIP answer for `seq` arrived (SIP → XMPP: the 200 to our MESSAGE).
    pub(crate) fn mark_answered(&self, seq: usize, status: u16) {
        if status >= 300 {
            if let Ok(mut f) = self.failures.lock() {
                f.push(status);
            }
            return;
        }
        if let Some(slot) = self.answered.get(seq)
            && slot
                .compare_exchange(NONE, self.now(), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.answered_count.fetch_add(1, Ordering::Relaxed);
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
            self.delivered_count.fetch_add(1, Ordering::Relaxed);
            self.progress.notify_one();
        } else {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn delivered(&self) -> usize {
        self.delivered_count.load(Ordering::Relaxed)
    }

    pub(crate) fn answered(&self) -> usize {
        self.answered_count.load(Ordering::Relaxed)
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

    /// Time from the first send to the last delivery.
    pub(crate) fn span(&self) -> Duration {
        let first = self
            .sent
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .min()
            .unwrap_or(NONE);
        let last = self
            .delivered
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .filter(|&t| t != NONE)
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
    fn percentiles_use_nearest_rank() {
        let l = Latencies((1..=100).map(|n| n * 1_000_000).collect());
        assert_eq!(l.percentile_ms(50.0), 50.0);
        assert_eq!(l.percentile_ms(99.0), 99.0);
        assert_eq!(l.max_ms(), 100.0);
    }
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

    /// The tracker of the phase and sequence number named in `text`.
    pub(crate) fn find(&self, text: &str) -> Option<(std::sync::Arc<Tracker>, usize)> {
        let (phase, seq) = parse_tag(text)?;
        let v = self.0.read().ok()?;
        let t = v.iter().find(|t| t.phase == phase)?;
        Some((t.clone(), seq))
    }
}

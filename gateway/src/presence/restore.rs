//! Design §4: after a restart, the stored subscriptions are taken up again,
//! paced by the work they have in flight rather than by a fixed rate. A
//! [`RestoreQueue`] holds the Call-IDs still waiting for their turn, in store
//! order, and gives out the next while fewer than its window are in flight:
//! each turn ends when its SIP request is answered (or had nothing to send),
//! and the next starts then. So the restore runs as fast as the SIP side
//! answers, and never holds more than the window of transactions.
//!
//! A turn whose request the SIP endpoint refused to start (`deferral.rs`)
//! goes back to the front, and the whole queue pauses for a delay that
//! doubles with each refusal in a row: the table is full, and the other
//! turns would only be refused too.
//!
//! Sans-IO: time comes in as `now`; the queue starts nothing itself. The
//! subscriber side calls [`RestoreQueue::next`] whenever a turn ends and at
//! the reaper's tick; the notifier side, whose turns send XMPP probes and
//! end at once, takes as many per tick as its component queue has room for.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::time::Instant;

use super::deferral;

/// Stored subscriptions waiting for their turn, and those having it, by
/// their keys `K` (a Call-ID; the subscriber side holds the `Arc<str>` its
/// table is keyed by, so a queued turn allocates nothing).
pub(crate) struct RestoreQueue<K = String> {
    queue: Mutex<Queue<K>>,
}

impl<K> Default for RestoreQueue<K> {
    fn default() -> Self {
        Self {
            queue: Mutex::new(Queue::default()),
        }
    }
}

impl<K> RestoreQueue<K> {
    /// Queue `call_ids` (after any still waiting); at most `window` turns in flight.
    pub(crate) fn load(&self, call_ids: impl IntoIterator<Item = K>, window: usize) {
        let mut q = self.lock();
        q.waiting.extend(call_ids);
        q.window = window.max(1);
    }

    /// The next turn, if one may start at `now`: something waits, fewer
    /// than the window are in flight, and no refusal's pause runs. It is in
    /// flight until [`RestoreQueue::done`] or [`RestoreQueue::refused`].
    pub(crate) fn next(&self, now: Instant) -> Option<K> {
        self.lock().next(now)
    }

    /// A turn ended: answered, or nothing was left to send.
    pub(crate) fn done(&self) {
        self.lock().done();
    }

    /// A turn's request was refused by the SIP endpoint at `now`: `call_id`
    /// (if it is still the restore's to send) goes back to the front, and
    /// no turn starts until the pause is over.
    pub(crate) fn refused(&self, call_id: Option<K>, now: Instant) {
        self.lock().refused(call_id, now);
    }

    /// Shutdown: nothing more starts (what is stored stays stored).
    pub(crate) fn clear(&self) {
        self.lock().waiting.clear();
    }

    /// The queue even after a panic elsewhere poisoned the lock: every
    /// change is made whole under it.
    fn lock(&self) -> MutexGuard<'_, Queue<K>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Below this the waiting queue keeps its room as it drains.
const MIN_SHRINK: usize = 1024;

/// The queue's state, without its lock.
#[derive(Debug)]
struct Queue<K> {
    waiting: VecDeque<K>,
    in_flight: usize,
    window: usize,
    /// No turn starts before this (after a refusal).
    paused_until: Option<Instant>,
    /// Refusals in a row, for the next pause's length.
    refusals: u8,
}

impl<K> Default for Queue<K> {
    fn default() -> Self {
        Self {
            waiting: VecDeque::new(),
            in_flight: 0,
            window: 0,
            paused_until: None,
            refusals: 0,
        }
    }
}

impl<K> Queue<K> {
    fn next(&mut self, now: Instant) -> Option<K> {
        if self.in_flight >= self.window || self.paused_until.is_some_and(|at| at > now) {
            return None;
        }
        let call_id = self.waiting.pop_front()?;
        self.in_flight += 1;
        // The whole store was queued at once: give the room back as it
        // drains (halving costs a copy of what is left, so O(n) in all),
        // rather than keep it for the process's life.
        let len = self.waiting.len();
        if self.waiting.capacity() > MIN_SHRINK && len < self.waiting.capacity() / 4 {
            self.waiting.shrink_to(len * 2);
        }
        Some(call_id)
    }

    fn done(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.refusals = 0;
    }

    fn refused(&mut self, call_id: Option<K>, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(call_id) = call_id {
            self.waiting.push_front(call_id);
        }
        // The turns in flight when the table filled are refused together:
        // they pause the queue once, not once each.
        if self.paused_until.is_some_and(|at| at > now) {
            return;
        }
        self.refusals = self.refusals.saturating_add(1);
        self.paused_until = Some(now + deferral::delay(self.refusals));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn loaded(n: usize, window: usize) -> Queue<String> {
        Queue {
            waiting: (0..n).map(|i| format!("c{i}")).collect(),
            window,
            ..Queue::default()
        }
    }

    /// At most the window in flight; the next starts as one ends, in store order.
    #[test]
    fn turns_start_as_turns_end_at_most_the_window_at_once() {
        let t0 = Instant::now();
        let mut q = loaded(5, 2);
        assert_eq!(q.next(t0).as_deref(), Some("c0"));
        assert_eq!(q.next(t0).as_deref(), Some("c1"));
        assert_eq!(q.next(t0), None, "two in flight");
        q.done();
        assert_eq!(q.next(t0).as_deref(), Some("c2"));
        assert_eq!(q.next(t0), None);
        q.done();
        q.done();
        assert_eq!(q.next(t0).as_deref(), Some("c3"));
        assert_eq!(q.next(t0).as_deref(), Some("c4"));
        assert_eq!(q.next(t0), None, "none left");
    }

    /// A large store's queue gives its room back as its turns are taken:
    /// drained, it holds next to nothing.
    #[test]
    fn a_drained_queue_gives_its_room_back() {
        let t0 = Instant::now();
        let mut q = loaded(100_000, usize::MAX);
        assert!(q.waiting.capacity() >= 100_000);
        let mut taken = 0;
        while q.next(t0).is_some() {
            taken += 1;
        }
        assert_eq!(taken, 100_000);
        assert!(
            q.waiting.capacity() <= MIN_SHRINK,
            "{} slots kept",
            q.waiting.capacity()
        );
    }

    /// A refused turn goes back to the front; nothing starts during the
    /// pause, which doubles with each refusal in a row and resets once a
    /// turn is answered.
    #[test]
    fn a_refusal_pauses_the_queue_and_keeps_the_turn_first() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut q = loaded(3, 4);
        let first = q.next(t0).expect("c0");
        q.refused(Some(first), t0);
        assert_eq!(q.next(t0 + ms(99)), None, "paused 100 ms");
        let t1 = t0 + ms(100);
        let again = q.next(t1).expect("c0 again");
        assert_eq!(again, "c0");
        q.refused(Some(again), t1);
        assert_eq!(q.next(t1 + ms(199)), None, "paused 200 ms");
        let t2 = t1 + ms(200);
        assert_eq!(q.next(t2).as_deref(), Some("c0"));
        q.done();
        assert_eq!(q.next(t2).as_deref(), Some("c1"));
        q.refused(None, t2);
        assert_eq!(q.next(t2 + ms(99)), None, "100 ms again after an answer");
        assert_eq!(q.next(t2 + ms(100)).as_deref(), Some("c2"));
        assert_eq!(q.in_flight, 1);
    }

    /// Turns refused together (all in flight when the table filled) pause
    /// the queue once: the pause does not grow with their number.
    #[test]
    fn refusals_together_pause_once() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut q = loaded(40, 40);
        let turns: Vec<String> = std::iter::from_fn(|| q.next(t0)).collect();
        assert_eq!(turns.len(), 40);
        for (i, turn) in turns.into_iter().enumerate() {
            q.refused(Some(turn), t0 + ms(u64::try_from(i).expect("small")));
        }
        assert_eq!(q.in_flight, 0);
        assert_eq!(q.next(t0 + ms(99)), None);
        assert_eq!(
            q.next(t0 + ms(100)).as_deref(),
            Some("c39"),
            "the last refused is first"
        );
    }
}

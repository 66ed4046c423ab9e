//! Reconnect delays: exponential backoff with jitter, sans clock and RNG (the
//! driver passes the random factor in).

use std::time::Duration;

/// Exponential backoff between `min` and `max`.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `min`, doubles per failure, never exceeds `max` (a `max`
    /// below `min` is taken as `min`).
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// The delay before the next attempt. `jitter` in `[0, 1]` spreads it over
    /// `[d/2, d]`, so components restarted together do not reconnect in step.
    pub(crate) fn next_delay(&mut self, jitter: f64) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// After a successful handshake: start again from `min`.
    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delay_doubles_up_to_max() {
        let mut b = Backoff::new(100 * MS, 1000 * MS);
        let delays: Vec<_> = (0..6).map(|_| b.next_delay(1.0)).collect();
        assert_eq!(
            delays,
            [100 * MS, 200 * MS, 400 * MS, 800 * MS, 1000 * MS, 1000 * MS]
        );
    }

    #[test]
    fn jitter_spreads_over_upper_half() {
        let mut b = Backoff::new(100 * MS, 1000 * MS);
        assert_eq!(b.next_delay(0.0), 50 * MS);
        assert_eq!(b.next_delay(0.5), 150 * MS);
    }

    #[test]
    fn reset_starts_from_min() {
        let mut b = Backoff::new(100 * MS, 1000 * MS);
        b.next_delay(1.0);
        b.next_delay(1.0);
        b.reset();
        assert_eq!(b.next_delay(1.0), 100 * MS);
    }
}

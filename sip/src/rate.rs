//! Requests per second per source address: a token bucket for each source IP,
//! in a table whose size is bounded so that a flood from spoofed addresses
//! cannot grow it (design §5: "requests per source per second").
//!
//! Sans-IO: every call takes `now`; nothing here reads a clock.
//!
//! What an over-limit source hears (RFC 3261 §21.5.4): "The server MAY
//! indicate when the client should retry the request in a Retry-After header
//! field" — so the first refusals are 503 with Retry-After. The same section
//! says "Servers MAY refuse the connection or drop the request instead of
//! responding with 503": over UDP, where the source address is not proven
//! and every answer is a datagram sent to whoever the packet names, a source
//! that keeps sending after `refusals_before_silence` 503s is dropped
//! silently until its bucket admits again, so Parley cannot be used to
//! reflect a flood at a third party. Stream transports (a completed TCP
//! handshake proves the address) always get the 503.
//!
//! `RatePolicy` holds these rules: the endpoint says what came in and from
//! where, and carries out the `Verdict` it gets back.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens per second, at most `burst` held.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket. A `rate` of 0 never refills; a `burst` below 1 is 1.
    pub(crate) fn new(rate: u32, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate: f64::from(rate),
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes one token, or says how long until one is there.
    pub(crate) fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        if self.rate <= 0.0 {
            return Err(Duration::MAX);
        }
        Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
    }

    /// Whether a token is there at `now` (none is taken).
    pub(crate) fn has_token(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= 1.0
    }

    /// Whether the bucket is full again at `now` (then it holds no state worth keeping).
    pub(crate) fn is_full(&self, now: Instant) -> bool {
        let mut probe = *self;
        probe.refill(now);
        probe.tokens >= probe.burst
    }
}

/// Bounds for the per-source rate table (design §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per second each source may send on average; 0 turns the limit off.
    pub per_second: u32,
    /// Requests a source may send at once above the average.
    pub burst: u32,
    /// Most sources tracked at once. Sources beyond it share one bucket, so a
    /// flood from many (spoofed) addresses is limited as a whole.
    pub max_sources: usize,
    /// Over UDP, 503s sent to one source before the rest of its excess is dropped.
    pub refusals_before_silence: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_second: 50,
            burst: 100,
            max_sources: 10_000,
            refusals_before_silence: 10,
        }
    }
}

/// What to do with a request from a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the rate: handle it.
    Admit,
    /// Over the rate: answer 503 with this Retry-After (seconds, at least 1).
    Refuse {
        /// RFC 3261 §20.33: seconds after which a token is available again.
        retry_after_secs: u32,
        /// The first refusal since the source was last admitted (log it once).
        first: bool,
    },
    /// Over the rate and already told: drop without an answer (UDP only).
    Drop,
}

#[derive(Debug, Clone)]
struct Entry {
    bucket: TokenBucket,
    refusals: u32,
}

impl Entry {
    fn new(limit: &RateLimit, now: Instant) -> Self {
        Entry {
            bucket: TokenBucket::new(limit.per_second, limit.burst, now),
            refusals: 0,
        }
    }

    fn check(&mut self, limit: &RateLimit, datagram: bool, now: Instant) -> Verdict {
        match self.bucket.try_take(now) {
            Ok(()) => {
                self.refusals = 0;
                Verdict::Admit
            }
            Err(_) if datagram && self.refusals >= limit.refusals_before_silence => Verdict::Drop,
            Err(wait) => {
                self.refusals = self.refusals.saturating_add(1);
                let secs = wait
                    .as_secs()
                    .saturating_add(u64::from(wait.subsec_nanos() > 0));
                Verdict::Refuse {
                    retry_after_secs: u32::try_from(secs).unwrap_or(u32::MAX).max(1),
                    first: self.refusals == 1,
                }
            }
        }
    }
}

/// The per-source table, keyed by source address (or, for the gateway's XMPP
/// side, by sender JID; for its registrar, by the address REGISTERs come from).
#[derive(Debug, Clone)]
pub struct SourceRates<K = IpAddr> {
    limit: RateLimit,
    sources: HashMap<K, Entry>,
    /// Shared by every source that finds the table full.
    overflow: Entry,
    /// The table is swept for idle entries at most once until then.
    next_sweep: Instant,
}

impl<K: Hash + Eq> SourceRates<K> {
    /// An empty table.
    pub fn new(limit: RateLimit, now: Instant) -> Self {
        SourceRates {
            limit,
            sources: HashMap::new(),
            overflow: Entry::new(&limit, now),
            next_sweep: now,
        }
    }

    /// Counts one request from `source` (`datagram`: it came over UDP).
    pub fn check(&mut self, source: K, datagram: bool, now: Instant) -> Verdict {
        if self.limit.per_second == 0 {
            return Verdict::Admit;
        }
        let limit = self.limit;
        if let Some(entry) = self.sources.get_mut(&source) {
            return entry.check(&limit, datagram, now);
        }
        if self.sources.len() >= limit.max_sources.max(1) {
            self.sweep(now);
        }
        if self.sources.len() >= limit.max_sources.max(1) {
            return self.overflow.check(&limit, datagram, now);
        }
        self.sources
            .entry(source)
            .or_insert_with(|| Entry::new(&limit, now))
            .check(&limit, datagram, now)
    }

    /// Whether a datagram from `source` would be dropped unanswered now: the
    /// source has had its 503s and its bucket is still empty. Nothing is
    /// counted, so a caller can ask before it spends anything on the datagram
    /// (copying, parsing) and hand the rest to [`SourceRates::check`].
    pub(crate) fn silenced(&mut self, source: &K, now: Instant) -> bool {
        if self.limit.per_second == 0 {
            return false;
        }
        let limit = self.limit;
        let full = self.sources.len() >= limit.max_sources.max(1);
        let entry = match self.sources.get_mut(source) {
            Some(entry) => entry,
            None if full => &mut self.overflow,
            None => return false,
        };
        entry.refusals >= limit.refusals_before_silence && !entry.bucket.has_token(now)
    }

    /// Sources tracked now (at most `max_sources`).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether no source is tracked.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Forgets sources whose bucket is full again: a fresh entry would be the
    /// same. Runs at most once per refill period, so a full table of busy
    /// sources does not cost a scan per request.
    fn sweep(&mut self, now: Instant) {
        if now < self.next_sweep {
            return;
        }
        self.sources.retain(|_, e| !e.bucket.is_full(now));
        let refill = f64::from(self.limit.burst.max(1)) / f64::from(self.limit.per_second.max(1));
        self.next_sweep = now + Duration::from_secs_f64(refill.clamp(0.1, 10.0));
    }
}

/// Where a message came from, as the rate policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Source {
    /// The address whose bucket pays.
    pub(crate) ip: IpAddr,
    /// It came over UDP: the address is not proven, so after its 503s the
    /// source hears nothing (RFC 3261 §21.5.4 allows dropping).
    pub(crate) datagram: bool,
    /// A rate-exempt peer (`rate_exempt`): a trusted proxy carries many
    /// users' traffic from one address, so it is never counted.
    pub(crate) exempt: bool,
}

/// What came in from a source, as far as its rate is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// A request that would start a new server transaction.
    NewRequest,
    /// A request the transaction layer absorbs: a retransmission of one
    /// admitted earlier, or an ACK.
    InTransaction,
    /// A message that will only be refused (unparsable, invalid, oversize).
    Refusable,
}

/// Design §5: the rate policy in one place. The endpoint says what came in
/// and from where; the policy answers with a [`Verdict`] (pass, 503 with
/// Retry-After, or silence); the endpoint only carries it out.
///
/// The rules: a request that would start a transaction costs its source a
/// token; so does a message that will only be refused, so a flood of garbage
/// meets the same 503-then-silence as a flood of requests instead of an
/// answer per datagram. Retransmissions and ACKs are absorbed as before and
/// cost nothing, and a rate-exempt peer is never counted.
#[derive(Debug, Clone)]
pub(crate) struct RatePolicy {
    rates: SourceRates,
}

impl RatePolicy {
    /// A policy with every source's bucket full.
    pub(crate) fn new(limit: RateLimit, now: Instant) -> Self {
        RatePolicy {
            rates: SourceRates::new(limit, now),
        }
    }

    /// The verdict on a message that has been read.
    pub(crate) fn decide(&mut self, source: Source, arrival: Arrival, now: Instant) -> Verdict {
        if source.exempt || arrival == Arrival::InTransaction {
            return Verdict::Admit;
        }
        self.rates.check(source.ip, source.datagram, now)
    }

    /// Over UDP, before a datagram is copied or parsed: whether it is dropped
    /// unread. Only a request can be: its source has had its 503s and its
    /// bucket is still empty (what [`RatePolicy::decide`] would answer with
    /// `Drop`), and the datagram cannot be a retransmission of a request
    /// admitted earlier (`may_be_retransmission` is asked only then, so the
    /// datagram is looked at only for a silenced source). Responses answer
    /// our own requests and are never dropped; nothing is counted.
    pub(crate) fn drop_unread(
        &mut self,
        source: Source,
        response: bool,
        now: Instant,
        may_be_retransmission: impl FnOnce() -> bool,
    ) -> bool {
        if response || source.exempt {
            return false;
        }
        self.rates.silenced(&source.ip, now) && !may_be_retransmission()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn udp(last: u8) -> Source {
        Source {
            ip: ip(last),
            datagram: true,
            exempt: false,
        }
    }

    fn policy(
        per_second: u32,
        burst: u32,
        refusals_before_silence: u32,
        t0: Instant,
    ) -> RatePolicy {
        RatePolicy::new(
            RateLimit {
                per_second,
                burst,
                max_sources: 100,
                refusals_before_silence,
            },
            t0,
        )
    }

    #[test]
    fn a_new_request_over_the_rate_is_answered_503_then_dropped_over_udp() {
        let t0 = Instant::now();
        let mut policy = policy(1, 1, 1, t0);
        assert_eq!(
            policy.decide(udp(1), Arrival::NewRequest, t0),
            Verdict::Admit
        );
        assert_eq!(
            policy.decide(udp(1), Arrival::NewRequest, t0),
            Verdict::Refuse {
                retry_after_secs: 1,
                first: true
            }
        );
        assert_eq!(
            policy.decide(udp(1), Arrival::NewRequest, t0),
            Verdict::Drop
        );
        // Over a stream the source is always told.
        let stream = Source {
            datagram: false,
            ..udp(1)
        };
        assert!(matches!(
            policy.decide(stream, Arrival::NewRequest, t0),
            Verdict::Refuse { first: false, .. }
        ));
        // A second later at 1/s the token is back.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            policy.decide(udp(1), Arrival::NewRequest, t1),
            Verdict::Admit
        );
    }

    #[test]
    fn retransmissions_and_acks_pass_and_cost_no_token() {
        let t0 = Instant::now();
        let mut policy = policy(1, 1, 1, t0);
        for _ in 0..100 {
            assert_eq!(
                policy.decide(udp(1), Arrival::InTransaction, t0),
                Verdict::Admit
            );
        }
        // The one token is still there for a new request.
        assert_eq!(
            policy.decide(udp(1), Arrival::NewRequest, t0),
            Verdict::Admit
        );
        // And an empty bucket does not stop what is absorbed anyway.
        assert_eq!(
            policy.decide(udp(1), Arrival::InTransaction, t0),
            Verdict::Admit
        );
    }

    /// Design §5: garbage costs a token like a request, so a garbage flood
    /// meets the same 503-then-silence instead of an answer per datagram.
    #[test]
    fn a_refusable_message_costs_a_token_like_a_request() {
        let t0 = Instant::now();
        let mut policy = policy(1, 1, 1, t0);
        assert_eq!(
            policy.decide(udp(1), Arrival::Refusable, t0),
            Verdict::Admit
        );
        assert!(matches!(
            policy.decide(udp(1), Arrival::NewRequest, t0),
            Verdict::Refuse { .. }
        ));
        assert_eq!(policy.decide(udp(1), Arrival::Refusable, t0), Verdict::Drop);
    }

    #[test]
    fn an_exempt_peer_always_passes_and_costs_nothing() {
        let t0 = Instant::now();
        let mut policy = policy(1, 1, 1, t0);
        let exempt = Source {
            exempt: true,
            ..udp(1)
        };
        for arrival in [Arrival::NewRequest, Arrival::Refusable] {
            for _ in 0..100 {
                assert_eq!(policy.decide(exempt, arrival, t0), Verdict::Admit);
            }
        }
        assert!(!policy.drop_unread(exempt, false, t0, || false));
        // The same address unexempted still has its token.
        assert_eq!(
            policy.decide(udp(1), Arrival::NewRequest, t0),
            Verdict::Admit
        );
    }

    #[test]
    fn an_unread_datagram_is_dropped_only_from_a_silenced_source_and_never_a_retransmission() {
        let t0 = Instant::now();
        let mut policy = policy(1, 1, 1, t0);
        let never_asked = || panic!("looked at a datagram of a source not silenced");
        assert!(!policy.drop_unread(udp(1), false, t0, never_asked));
        assert_eq!(
            policy.decide(udp(1), Arrival::NewRequest, t0),
            Verdict::Admit
        );
        assert!(!policy.drop_unread(udp(1), false, t0, never_asked));
        assert!(matches!(
            policy.decide(udp(1), Arrival::NewRequest, t0),
            Verdict::Refuse { .. }
        ));
        // Told once: silenced now.
        assert!(policy.drop_unread(udp(1), false, t0, || false));
        // What may retransmit an admitted request is still read and absorbed.
        assert!(!policy.drop_unread(udp(1), false, t0, || true));
        // Responses answer our own requests: never dropped.
        assert!(!policy.drop_unread(udp(1), true, t0, || false));
        // Another source is not silenced by it.
        assert!(!policy.drop_unread(udp(2), false, t0, never_asked));
        // Asking counted nothing: a second later the token is back.
        let t1 = t0 + Duration::from_secs(1);
        assert!(!policy.drop_unread(udp(1), false, t1, never_asked));
        assert_eq!(
            policy.decide(udp(1), Arrival::NewRequest, t1),
            Verdict::Admit
        );
    }

    #[test]
    fn bucket_admits_a_burst_then_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 3, t0);
        for _ in 0..3 {
            assert_eq!(b.try_take(t0), Ok(()));
        }
        let wait = b.try_take(t0).expect_err("empty");
        assert_eq!(wait, ms(100));
        // 100 ms at 10/s is one token.
        assert_eq!(b.try_take(t0 + ms(100)), Ok(()));
        assert!(b.try_take(t0 + ms(150)).is_err());
        // Never more than the burst, however long the pause.
        let later = t0 + Duration::from_secs(60);
        assert!(b.is_full(later));
        for _ in 0..3 {
            assert_eq!(b.try_take(later), Ok(()));
        }
        assert!(b.try_take(later).is_err());
    }

    #[test]
    fn source_over_its_rate_is_refused_with_retry_after_while_another_is_admitted() {
        let t0 = Instant::now();
        let limit = RateLimit {
            per_second: 2,
            burst: 2,
            max_sources: 100,
            refusals_before_silence: 3,
        };
        let mut rates = SourceRates::new(limit, t0);
        assert_eq!(rates.check(ip(1), true, t0), Verdict::Admit);
        assert_eq!(rates.check(ip(1), true, t0), Verdict::Admit);
        assert_eq!(
            rates.check(ip(1), true, t0),
            Verdict::Refuse {
                retry_after_secs: 1,
                first: true
            }
        );
        assert_eq!(rates.check(ip(2), true, t0), Verdict::Admit);
        // Half a second at 2/s refills one token.
        assert_eq!(rates.check(ip(1), true, t0 + ms(500)), Verdict::Admit);
    }

    /// RFC 3261 §21.5.4: "Servers MAY ... drop the request instead of responding with 503".
    #[test]
    fn udp_flood_gets_a_few_503s_then_silence_until_the_bucket_refills() {
        let t0 = Instant::now();
        let limit = RateLimit {
            per_second: 1,
            burst: 1,
            max_sources: 100,
            refusals_before_silence: 2,
        };
        let mut rates = SourceRates::new(limit, t0);
        assert_eq!(rates.check(ip(1), true, t0), Verdict::Admit);
        assert!(matches!(
            rates.check(ip(1), true, t0),
            Verdict::Refuse { .. }
        ));
        assert!(matches!(
            rates.check(ip(1), true, t0),
            Verdict::Refuse { .. }
        ));
        for _ in 0..100 {
            assert_eq!(rates.check(ip(1), true, t0), Verdict::Drop);
        }
        // A stream peer is always told.
        assert!(matches!(
            rates.check(ip(1), false, t0),
            Verdict::Refuse { .. }
        ));
        // Once admitted again, the next excess is told again.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(rates.check(ip(1), true, t1), Verdict::Admit);
        assert!(matches!(
            rates.check(ip(1), true, t1),
            Verdict::Refuse { .. }
        ));
    }

    #[test]
    fn silenced_says_drop_exactly_when_check_would_and_counts_nothing() {
        let t0 = Instant::now();
        let limit = RateLimit {
            per_second: 1,
            burst: 1,
            max_sources: 1,
            refusals_before_silence: 2,
        };
        let mut rates = SourceRates::new(limit, t0);
        // Unknown, admitted, then told: never silenced.
        assert!(!rates.silenced(&ip(1), t0));
        assert_eq!(rates.check(ip(1), true, t0), Verdict::Admit);
        for _ in 0..2 {
            assert!(!rates.silenced(&ip(1), t0));
            assert!(matches!(
                rates.check(ip(1), true, t0),
                Verdict::Refuse { .. }
            ));
        }
        // Told twice: silenced, and asking takes no token.
        for _ in 0..10 {
            assert!(rates.silenced(&ip(1), t0));
        }
        assert_eq!(rates.check(ip(1), true, t0), Verdict::Drop);
        // Another source is not silenced by it, even sharing the overflow
        // bucket while the table is full (the overflow has its own refusals).
        assert!(!rates.silenced(&ip(2), t0));
        // A second later the token is back: not silenced, and check admits.
        let t1 = t0 + Duration::from_secs(1);
        assert!(!rates.silenced(&ip(1), t1));
        assert_eq!(rates.check(ip(1), true, t1), Verdict::Admit);
        // Off: never silenced.
        let mut off = SourceRates::new(
            RateLimit {
                per_second: 0,
                ..limit
            },
            t0,
        );
        assert!(!off.silenced(&ip(1), t0));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let t0 = Instant::now();
        let limit = RateLimit {
            per_second: 1,
            burst: 1,
            max_sources: 10,
            refusals_before_silence: 10,
        };
        let mut rates = SourceRates::new(limit, t0);
        assert_eq!(rates.check(ip(1), false, t0), Verdict::Admit);
        assert_eq!(
            rates.check(ip(1), false, t0 + ms(10)),
            Verdict::Refuse {
                retry_after_secs: 1,
                first: true
            }
        );
        assert_eq!(
            rates.check(ip(1), false, t0 + ms(20)),
            Verdict::Refuse {
                retry_after_secs: 1,
                first: false
            }
        );
        let limit = RateLimit {
            per_second: 0,
            ..limit
        };
        let mut off = SourceRates::new(limit, t0);
        for _ in 0..1000 {
            assert_eq!(off.check(ip(1), true, t0), Verdict::Admit);
        }
        assert!(off.is_empty(), "a disabled limit tracks nobody");
    }

    #[test]
    fn spoofed_source_flood_cannot_grow_the_table_past_its_bound() {
        let t0 = Instant::now();
        let limit = RateLimit {
            per_second: 10,
            burst: 5,
            max_sources: 50,
            refusals_before_silence: 1,
        };
        let mut rates = SourceRates::new(limit, t0);
        let mut admitted = 0;
        for i in 0..10_000u32 {
            let source = IpAddr::from(i.to_be_bytes());
            if rates.check(source, true, t0) == Verdict::Admit {
                admitted += 1;
            }
            assert!(rates.len() <= 50);
        }
        // 50 tracked sources, then the shared overflow bucket's burst of 5.
        assert_eq!(admitted, 55);
        // A tracked source keeps its own bucket during the flood.
        assert_eq!(
            rates.check(IpAddr::from(0u32.to_be_bytes()), true, t0),
            Verdict::Admit
        );
    }

    #[test]
    fn idle_sources_are_swept_when_the_table_is_full() {
        let t0 = Instant::now();
        let limit = RateLimit {
            per_second: 10,
            burst: 10,
            max_sources: 2,
            refusals_before_silence: 1,
        };
        let mut rates = SourceRates::new(limit, t0);
        rates.check(ip(1), true, t0);
        rates.check(ip(2), true, t0);
        assert_eq!(rates.len(), 2);
        // After a second both buckets are full again: a new source gets a slot.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(rates.check(ip(3), true, t1), Verdict::Admit);
        assert_eq!(rates.len(), 1);
    }
}

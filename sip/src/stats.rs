//! Plain counters. The endpoint counts with atomics; [`Stats`] is a snapshot
//! the gateway reads at scrape time. Labels are fixed enums, never addresses.

use std::sync::atomic::{AtomicU64, Ordering};

/// Known methods; everything else counts as `other`.
pub const METHODS: [&str; 11] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "MESSAGE",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "other",
];

/// Status classes 1xx–6xx.
pub const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];

fn method_index(method: &str) -> usize {
    METHODS[..10]
        .iter()
        .position(|m| *m == method)
        .unwrap_or(10)
}

fn class_index(status: u16) -> usize {
    usize::from((status / 100).clamp(1, 6) - 1)
}

/// A snapshot of the endpoint's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests received, by method label (index as [`METHODS`]).
    pub requests_in: [u64; 11],
    /// Requests sent (first transmissions), by method label.
    pub requests_out: [u64; 11],
    /// Responses received, by status class (index as [`STATUS_CLASSES`]).
    pub responses_in: [u64; 6],
    /// Responses sent (first transmissions), by status class.
    pub responses_out: [u64; 6],
    /// Retransmissions we sent (Timer E/G, or a response repeated for a retransmitted request).
    pub retransmissions_sent: u64,
    /// Retransmitted requests absorbed by a server transaction.
    pub retransmissions_absorbed: u64,
    /// Messages that did not parse.
    pub parse_errors: u64,
    /// Requests refused by validation (400, 416, 483, 505, …).
    pub rejected_requests: u64,
    /// Messages over the size limit (513).
    pub oversize_messages: u64,
    /// Responses that matched no client transaction.
    pub stray_responses: u64,
    /// Requests refused with 503 because the incoming channel was full.
    pub queue_full: u64,
    /// Requests refused with 503 because too many transactions were held:
    /// pending ones at `max_pending_transactions`, or completed ones at
    /// `max_completed_transactions` (those are also in
    /// [`Stats::overloaded_completed`]).
    pub overloaded: u64,
    /// Of [`Stats::overloaded`], those refused because of
    /// `max_completed_transactions`.
    pub overloaded_completed: u64,
    /// Requests answered 503 because their source exceeded its rate.
    pub rate_limited: u64,
    /// Requests dropped unanswered because their (UDP) source kept exceeding its rate.
    pub rate_limited_dropped: u64,
    /// Client transactions ended by Timer F.
    pub timeouts: u64,
    /// Send or connection failures.
    pub transport_errors: u64,
    /// Requests sent over TCP because they exceeded the UDP allowance (RFC 3261 §18.1.1).
    pub udp_to_tcp_switches: u64,
    /// Requests retried once with digest credentials.
    pub auth_retries: u64,
    /// Transactions waiting for the TU or for a response now (gauge):
    /// client transactions before their final response, server transactions
    /// before the TU's final response, INVITE server transactions until
    /// they end.
    pub pending_transactions: u64,
    /// Completed non-INVITE transactions now (gauge), waiting for nothing
    /// but retransmissions until Timer J (server) or Timer K (client),
    /// RFC 3261 §17.2.2, §17.1.2.2.
    pub completed_transactions: u64,
}

/// What the transaction table says at a snapshot.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TableCounts {
    /// Pending transactions.
    pub(crate) pending: u64,
    /// Completed transactions.
    pub(crate) completed: u64,
    /// New requests refused because of the completed bound, since start.
    pub(crate) refused_for_completed: u64,
}

impl Stats {
    /// `(method label, count)` pairs for requests received.
    pub fn requests_in_by_method(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        METHODS
            .iter()
            .copied()
            .zip(self.requests_in.iter().copied())
    }

    /// `(status class, count)` pairs for responses sent.
    pub fn responses_out_by_class(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        STATUS_CLASSES
            .iter()
            .copied()
            .zip(self.responses_out.iter().copied())
    }

    /// Total requests received.
    pub fn total_requests_in(&self) -> u64 {
        self.requests_in.iter().sum()
    }

    /// Responses sent with a given status class (1–6).
    pub fn responses_out_class(&self, class: u16) -> u64 {
        self.responses_out[class_index(class * 100)]
    }
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests_in: [AtomicU64; 11],
    requests_out: [AtomicU64; 11],
    responses_in: [AtomicU64; 6],
    responses_out: [AtomicU64; 6],
    pub(crate) retransmissions_sent: AtomicU64,
    pub(crate) retransmissions_absorbed: AtomicU64,
    pub(crate) parse_errors: AtomicU64,
    pub(crate) rejected_requests: AtomicU64,
    pub(crate) oversize_messages: AtomicU64,
    pub(crate) stray_responses: AtomicU64,
    pub(crate) queue_full: AtomicU64,
    pub(crate) overloaded: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) rate_limited_dropped: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) transport_errors: AtomicU64,
    pub(crate) udp_to_tcp_switches: AtomicU64,
    pub(crate) auth_retries: AtomicU64,
}

/// Adds one.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

#[allow(dead_code)]
impl Counters {
    pub(crate) fn request_in(&self, method: &str) {
        bump(&self.requests_in[method_index(method)]);
    }

    pub(crate) fn request_out(&self, method: &str) {
        bump(&self.requests_out[method_index(method)]);
    }

    pub(crate) fn response_in(&self, status: u16) {
        bump(&self.responses_in[class_index(status)]);
    }

    pub(crate) fn response_out(&self, status: u16) {
        bump(&self.responses_out[class_index(status)]);
    }

    pub(crate) fn snapshot(&self, table: TableCounts) -> Stats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            requests_in: self.requests_in.each_ref().map(load),
            requests_out: self.requests_out.each_ref().map(load),
            responses_in: self.responses_in.each_ref().map(load),
            responses_out: self.responses_out.each_ref().map(load),
            retransmissions_sent: load(&self.retransmissions_sent),
            retransmissions_absorbed: load(&self.retransmissions_absorbed),
            parse_errors: load(&self.parse_errors),
            rejected_requests: load(&self.rejected_requests),
            oversize_messages: load(&self.oversize_messages),
            stray_responses: load(&self.stray_responses),
            queue_full: load(&self.queue_full),
            overloaded: load(&self.overloaded),
            overloaded_completed: table.refused_for_completed,
            rate_limited: load(&self.rate_limited),
            rate_limited_dropped: load(&self.rate_limited_dropped),
            timeouts: load(&self.timeouts),
            transport_errors: load(&self.transport_errors),
            udp_to_tcp_switches: load(&self.udp_to_tcp_switches),
            auth_retries: load(&self.auth_retries),
            pending_transactions: table.pending,
            completed_transactions: table.completed,
        }
    }
}

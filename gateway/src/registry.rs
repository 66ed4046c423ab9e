//! Shared state with deadlines (design §4): what is in flight between the two sides.
//!
//! - SIP MESSAGEs handed to the XMPP server, waiting for a stanza error or the
//!   end of the delivery window, keyed by the `id` Parley gave the stanza.
//! - XMPP messages sent as SIP MESSAGE, waiting for the final response.
//!
//! Every entry has a deadline and is removed by whoever resolves it first
//! (the answer, or the reaper); the sizes are gauges.

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use tokio::time::Instant;

/// A SIP MESSAGE whose server transaction waits for the XMPP side's verdict.
pub struct PendingSip<R> {
    /// The server transaction's responder.
    pub responder: R,
    /// When the delivery window closes and 200 is sent.
    pub deadline: Instant,
    /// When the request arrived, for the latency histogram.
    pub received: Instant,
    /// Correlation id for logs.
    pub correlation: u64,
    /// Whether the stanza went to a full JID (RFC 7247 §7.1 notes 1 and 2 pick 4xx over 6xx).
    pub to_full_jid: bool,
}

/// An XMPP message waiting for the SIP final response.
#[derive(Debug, Clone)]
pub struct PendingXmpp {
    /// The XMPP sender (full JID), who hears about failures.
    pub sender: String,
    /// The stanza id, echoed in an error reply.
    pub stanza_id: Option<String>,
    /// When the SIP client transaction gives up (Timer F).
    pub deadline: Instant,
}

/// The registry: bounded by the SIP and XMPP limits upstream, reaped by deadline.
pub struct Registry<R> {
    pending_sip: DashMap<String, PendingSip<R>>,
    pending_xmpp: DashMap<u64, PendingXmpp>,
    next_id: AtomicU64,
}

impl<R> Default for Registry<R> {
    fn default() -> Self {
        Self {
            pending_sip: DashMap::new(),
            pending_xmpp: DashMap::new(),
            next_id: AtomicU64::new(0),
        }
    }
}

impl<R> Registry<R> {
    /// A new, empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh correlation id, unique in this process.
    pub fn next_correlation(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Park a SIP transaction under the stanza id it was forwarded with.
    pub fn park_sip(&self, stanza_id: String, pending: PendingSip<R>) {
        self.pending_sip.insert(stanza_id, pending);
    }

    /// Take the SIP transaction forwarded as `stanza_id`, if still waiting.
    pub fn take_sip(&self, stanza_id: &str) -> Option<PendingSip<R>> {
        self.pending_sip.remove(stanza_id).map(|(_, p)| p)
    }

    /// Take every SIP transaction whose deadline has passed at `now`.
    pub fn take_expired_sip(&self, now: Instant) -> Vec<(String, PendingSip<R>)> {
        let expired: Vec<String> = self
            .pending_sip
            .iter()
            .filter(|e| e.deadline <= now)
            .map(|e| e.key().clone())
            .collect();
        expired
            .into_iter()
            .filter_map(|k| self.pending_sip.remove(&k))
            .collect()
    }

    /// Take every SIP transaction, deadline or not (shutdown).
    pub fn take_all_sip(&self) -> Vec<(String, PendingSip<R>)> {
        let keys: Vec<String> = self.pending_sip.iter().map(|e| e.key().clone()).collect();
        keys.into_iter()
            .filter_map(|k| self.pending_sip.remove(&k))
            .collect()
    }

    /// Record an XMPP message in flight as SIP; returns its key.
    pub fn track_xmpp(&self, pending: PendingXmpp) -> u64 {
        let key = self.next_correlation();
        self.pending_xmpp.insert(key, pending);
        key
    }

    /// Forget the XMPP message `key` (its SIP transaction ended).
    pub fn finish_xmpp(&self, key: u64) -> Option<PendingXmpp> {
        self.pending_xmpp.remove(&key).map(|(_, p)| p)
    }

    /// SIP transactions waiting for XMPP.
    pub fn pending_sip_len(&self) -> usize {
        self.pending_sip.len()
    }

    /// XMPP messages waiting for SIP.
    pub fn pending_xmpp_len(&self) -> usize {
        self.pending_xmpp.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pending(deadline: Instant, correlation: u64) -> PendingSip<u64> {
        PendingSip {
            responder: correlation,
            deadline,
            received: deadline,
            correlation,
            to_full_jid: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reaper_takes_only_entries_past_their_deadline() {
        let registry = Registry::new();
        let now = Instant::now();
        registry.park_sip("a".into(), pending(now + Duration::from_millis(10), 1));
        registry.park_sip("b".into(), pending(now + Duration::from_secs(10), 2));
        let expired = registry.take_expired_sip(now + Duration::from_millis(20));
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].0, "a");
        assert_eq!(registry.pending_sip_len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_entry_is_resolved_once_by_answer_or_reaper() {
        let registry = Registry::new();
        let now = Instant::now();
        registry.park_sip("a".into(), pending(now, 1));
        assert!(registry.take_sip("a").is_some());
        assert!(
            registry
                .take_expired_sip(now + Duration::from_secs(1))
                .is_empty()
        );
        assert!(registry.take_sip("a").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn xmpp_entries_are_tracked_until_finished() {
        let registry: Registry<u64> = Registry::new();
        let key = registry.track_xmpp(PendingXmpp {
            sender: "juliet@xmpp.example/balcony".into(),
            stanza_id: Some("m1".into()),
            deadline: Instant::now(),
        });
        assert_eq!(registry.pending_xmpp_len(), 1);
        assert_eq!(
            registry.finish_xmpp(key).map(|p| p.stanza_id),
            Some(Some("m1".into()))
        );
        assert_eq!(registry.pending_xmpp_len(), 0);
    }
}

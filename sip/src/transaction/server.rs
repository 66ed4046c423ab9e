//! RFC 3261 §17.2.2: the non-INVITE server transaction (Figure 8).

use std::time::Instant;

use bytes::Bytes;

use crate::config::Timers;
use crate::transaction::completed::Resend;
use crate::transaction::{Target, Transmit};

/// RFC 3261 §17.2.2 states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerState {
    /// Request received, the TU has not answered.
    Trying,
    /// A provisional response was sent.
    Proceeding,
    /// The final response was sent; retransmitted requests get it again until Timer J.
    Completed,
    /// Done.
    Terminated,
}

/// A non-INVITE server transaction.
#[derive(Debug, Clone)]
pub(crate) struct ServerTransaction {
    state: ServerState,
    target: Target,
    timers: Timers,
    last_response: Option<Bytes>,
    timer_j: Option<Instant>,
    abandon_at: Option<Instant>,
}

impl ServerTransaction {
    /// A new transaction for a request that came from `target`.
    pub(crate) fn new(target: Target, timers: Timers) -> Self {
        ServerTransaction {
            state: ServerState::Trying,
            target,
            timers,
            last_response: None,
            timer_j: None,
            abandon_at: None,
        }
    }

    /// Gives up on the TU at `at` if it has not answered by then. The
    /// client's Timer F (64·T1) has long fired by that time, so nobody waits
    /// for the answer; this bounds the table against a TU that never answers.
    pub(crate) fn abandon_at(&mut self, at: Instant) {
        self.abandon_at = Some(at);
    }

    /// A retransmission of the request arrived (§17.2.2): in Trying it is
    /// absorbed; later the last response goes out again.
    pub(crate) fn handle_retransmission(&mut self) -> Option<Transmit> {
        match self.state {
            ServerState::Trying | ServerState::Terminated => None,
            ServerState::Proceeding | ServerState::Completed => {
                self.last_response.clone().map(|bytes| Transmit {
                    target: self.target,
                    bytes,
                    retransmission: true,
                })
            }
        }
    }

    /// The TU sends a response. Returns what to transmit, or `None` if a final
    /// response was already sent (the TU may not answer twice).
    pub(crate) fn respond(&mut self, status: u16, bytes: Bytes, now: Instant) -> Option<Transmit> {
        match self.state {
            ServerState::Completed | ServerState::Terminated => return None,
            ServerState::Trying | ServerState::Proceeding if status < 200 => {
                self.state = ServerState::Proceeding;
            }
            ServerState::Trying | ServerState::Proceeding => {
                self.state = ServerState::Completed;
                self.abandon_at = None;
                // §17.2.2: Timer J = 64·T1 on unreliable transports, zero on reliable ones.
                let j = if self.target.transport.is_reliable() {
                    std::time::Duration::ZERO
                } else {
                    self.timers.t1 * 64
                };
                self.timer_j = Some(now + j);
            }
        }
        self.last_response = Some(bytes.clone());
        Some(Transmit {
            target: self.target,
            bytes,
            retransmission: false,
        })
    }

    /// Once Completed: when Timer J fires, and what a retransmitted request
    /// gets until then — all the table keeps of a completed transaction.
    pub(crate) fn completed(&self) -> Option<(Instant, Resend)> {
        if self.state != ServerState::Completed {
            return None;
        }
        let resend = Resend {
            target: self.target,
            response: self.last_response.clone()?,
        };
        Some((self.timer_j?, resend))
    }

    /// The earliest timer deadline, if any.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [self.timer_j, self.abandon_at].into_iter().flatten().min()
    }

    /// Fires Timer J if due; returns whether the transaction terminated.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> bool {
        if self.abandon_at.is_some_and(|at| at <= now) {
            self.abandon_at = None;
            self.state = ServerState::Terminated;
        }
        if self.timer_j.is_some_and(|j| j <= now) {
            self.timer_j = None;
            self.state = ServerState::Terminated;
            self.last_response = None;
        }
        self.state == ServerState::Terminated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Transport;

    fn target(transport: Transport) -> Target {
        Target {
            transport,
            addr: "127.0.0.1:5060".parse().expect("addr"),
        }
    }

    /// RFC 3261 §17.2.2: retransmissions in Trying are absorbed silently.
    #[test]
    fn retransmission_in_trying_is_absorbed() {
        let mut tx = ServerTransaction::new(target(Transport::Udp), Timers::default());
        assert_eq!(tx.handle_retransmission(), None);
    }

    /// RFC 3261 §17.2.2: in Completed a retransmitted request gets the final response again.
    #[test]
    fn retransmission_in_completed_repeats_the_final_response() {
        let now = Instant::now();
        let mut tx = ServerTransaction::new(target(Transport::Udp), Timers::default());
        tx.respond(200, Bytes::from_static(b"200"), now)
            .expect("sent");
        let again = tx.handle_retransmission().expect("repeated");
        assert_eq!(&again.bytes[..], b"200");
        assert!(again.retransmission);
    }

    /// RFC 3261 §17.2.2: Timer J is 64·T1 on UDP.
    #[test]
    fn timer_j_fires_at_64_t1_over_udp() {
        let now = Instant::now();
        let mut tx = ServerTransaction::new(target(Transport::Udp), Timers::default());
        tx.respond(200, Bytes::from_static(b"200"), now)
            .expect("sent");
        let j = tx.poll_timeout().expect("J");
        assert_eq!((j - now).as_millis(), 32_000);
        assert!(!tx.handle_timeout(j - std::time::Duration::from_millis(1)));
        assert!(tx.handle_timeout(j));
    }

    #[test]
    fn timer_j_is_zero_over_tcp() {
        let now = Instant::now();
        let mut tx = ServerTransaction::new(target(Transport::Tcp), Timers::default());
        tx.respond(200, Bytes::from_static(b"200"), now)
            .expect("sent");
        assert_eq!(tx.poll_timeout(), Some(now));
    }

    /// A TU that never answers does not hold the transaction forever.
    #[test]
    fn unanswered_transaction_is_abandoned_at_its_deadline() {
        let now = Instant::now();
        let mut tx = ServerTransaction::new(target(Transport::Udp), Timers::default());
        tx.abandon_at(now + std::time::Duration::from_secs(64));
        assert_eq!(
            tx.poll_timeout(),
            Some(now + std::time::Duration::from_secs(64))
        );
        assert!(tx.handle_timeout(now + std::time::Duration::from_secs(64)));
        assert!(tx.respond(200, Bytes::from_static(b"200"), now).is_none());
    }

    #[test]
    fn second_final_response_is_refused() {
        let now = Instant::now();
        let mut tx = ServerTransaction::new(target(Transport::Udp), Timers::default());
        assert!(tx.respond(200, Bytes::from_static(b"200"), now).is_some());
        assert!(tx.respond(500, Bytes::from_static(b"500"), now).is_none());
    }
}

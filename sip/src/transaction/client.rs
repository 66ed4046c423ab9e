//! RFC 3261 §17.1.2: the non-INVITE client transaction (Figure 6).

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::Timers;
use crate::transaction::{Target, Transmit};

/// RFC 3261 §17.1.2.2 states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientState {
    /// Request sent, nothing heard.
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final response arrived; absorbing its retransmissions until Timer K.
    Completed,
    /// Done.
    Terminated,
}

/// What a response did to the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientEvent {
    /// A 1xx: pass up if wanted, keep waiting.
    Provisional,
    /// The final response: hand it to the TU.
    Final,
    /// A retransmitted final response, absorbed.
    Absorbed,
}

/// What a timer did to the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientTimeout {
    /// Timer E: send the request again.
    Retransmit(Transmit),
    /// Timer F: no final response; tell the TU (RFC 3261 §17.1.2.2: 408 semantics).
    TimedOut,
    /// Timer K: the transaction is over.
    Terminated,
}

/// A non-INVITE client transaction.
#[derive(Debug, Clone)]
pub(crate) struct ClientTransaction {
    state: ClientState,
    request: Bytes,
    target: Target,
    timers: Timers,
    interval: Duration,
    timer_e: Option<Instant>,
    timer_f: Option<Instant>,
    timer_k: Option<Instant>,
}

impl ClientTransaction {
    /// Starts the transaction: returns it and the first transmission.
    pub(crate) fn new(
        request: Bytes,
        target: Target,
        timers: Timers,
        now: Instant,
    ) -> (Self, Transmit) {
        let reliable = target.transport.is_reliable();
        let tx = ClientTransaction {
            state: ClientState::Trying,
            request: request.clone(),
            target,
            timers,
            interval: timers.t1,
            // §17.1.2.2: Timer E only on unreliable transports.
            timer_e: (!reliable).then(|| now + timers.t1),
            timer_f: Some(now + timers.t1 * 64),
            timer_k: None,
        };
        let transmit = Transmit {
            target,
            bytes: request,
            retransmission: false,
        };
        (tx, transmit)
    }

    /// The current state.
    pub(crate) fn state(&self) -> ClientState {
        self.state
    }

    /// The destination.
    pub(crate) fn target(&self) -> Target {
        self.target
    }

    /// Takes a response with `status` for this transaction.
    pub(crate) fn handle_response(&mut self, status: u16, now: Instant) -> ClientEvent {
        match self.state {
            ClientState::Trying | ClientState::Proceeding if status < 200 => {
                self.state = ClientState::Proceeding;
                ClientEvent::Provisional
            }
            ClientState::Trying | ClientState::Proceeding => {
                self.state = ClientState::Completed;
                self.timer_e = None;
                self.timer_f = None;
                // §17.1.2.2: Timer K = T4 on unreliable transports, zero on reliable ones.
                let k = if self.target.transport.is_reliable() {
                    Duration::ZERO
                } else {
                    self.timers.t4
                };
                self.timer_k = Some(now + k);
                ClientEvent::Final
            }
            ClientState::Completed | ClientState::Terminated => ClientEvent::Absorbed,
        }
    }

    /// The earliest timer deadline, if any.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [self.timer_e, self.timer_f, self.timer_k]
            .into_iter()
            .flatten()
            .min()
    }

    /// Fires the timers due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<ClientTimeout> {
        if self.timer_f.is_some_and(|f| f <= now) {
            self.state = ClientState::Terminated;
            self.timer_e = None;
            self.timer_f = None;
            return Some(ClientTimeout::TimedOut);
        }
        if self.timer_k.is_some_and(|k| k <= now) {
            self.state = ClientState::Terminated;
            self.timer_k = None;
            return Some(ClientTimeout::Terminated);
        }
        if let Some(e) = self.timer_e.filter(|e| *e <= now) {
            // §17.1.2.2: in Trying the interval doubles up to T2; in Proceeding it is T2.
            self.interval = match self.state {
                ClientState::Trying => (self.interval * 2).min(self.timers.t2),
                _ => self.timers.t2,
            };
            self.timer_e = Some(e + self.interval);
            return Some(ClientTimeout::Retransmit(Transmit {
                target: self.target,
                bytes: self.request.clone(),
                retransmission: true,
            }));
        }
        None
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

    /// Runs a transaction that never hears back and records when it retransmits.
    fn retransmit_schedule(transport: Transport) -> (Vec<u128>, u128) {
        let t0 = Instant::now();
        let (mut tx, _) = ClientTransaction::new(
            Bytes::from_static(b"MESSAGE"),
            target(transport),
            Timers::default(),
            t0,
        );
        let mut sent = Vec::new();
        while let Some(at) = tx.poll_timeout() {
            match tx.handle_timeout(at) {
                Some(ClientTimeout::Retransmit(_)) => sent.push((at - t0).as_millis()),
                Some(ClientTimeout::TimedOut) => return (sent, (at - t0).as_millis()),
                other => panic!("unexpected {other:?}"),
            }
        }
        panic!("no Timer F");
    }

    /// RFC 3261 §17.1.2.2: E fires at T1, then doubling up to T2; F at 64·T1.
    #[test]
    fn timer_e_doubles_to_t2_and_timer_f_fires_at_64_t1() {
        let (sent, timeout) = retransmit_schedule(Transport::Udp);
        assert_eq!(
            &sent[..6],
            &[500, 1500, 3500, 7500, 11500, 15500],
            "E at 500 ms, then +1 s, +2 s, +4 s (T2), +4 s …"
        );
        assert_eq!(timeout, 32_000);
        assert_eq!(*sent.last().expect("some"), 31_500);
    }

    /// RFC 3261 §17.1.2.1: no retransmissions on reliable transports.
    #[test]
    fn no_retransmissions_over_tcp() {
        let (sent, timeout) = retransmit_schedule(Transport::Tcp);
        assert!(sent.is_empty());
        assert_eq!(timeout, 32_000);
    }

    /// RFC 3261 §17.1.2.2: in Proceeding the interval is T2.
    #[test]
    fn provisional_response_slows_retransmissions_to_t2() {
        let t0 = Instant::now();
        let (mut tx, _) = ClientTransaction::new(
            Bytes::from_static(b"MESSAGE"),
            target(Transport::Udp),
            Timers::default(),
            t0,
        );
        assert_eq!(tx.handle_response(100, t0), ClientEvent::Provisional);
        let at = tx.poll_timeout().expect("E");
        assert!(matches!(
            tx.handle_timeout(at),
            Some(ClientTimeout::Retransmit(_))
        ));
        let next = tx.poll_timeout().expect("E");
        assert_eq!((next - at).as_millis(), 4000);
    }

    /// RFC 3261 §17.1.2.2: final response → Completed; retransmissions absorbed; K = T4.
    #[test]
    fn final_response_completes_and_timer_k_terminates_after_t4() {
        let t0 = Instant::now();
        let (mut tx, _) = ClientTransaction::new(
            Bytes::from_static(b"MESSAGE"),
            target(Transport::Udp),
            Timers::default(),
            t0,
        );
        assert_eq!(tx.handle_response(200, t0), ClientEvent::Final);
        assert_eq!(tx.handle_response(200, t0), ClientEvent::Absorbed);
        let k = tx.poll_timeout().expect("K");
        assert_eq!((k - t0).as_millis(), 5000);
        assert_eq!(tx.handle_timeout(k), Some(ClientTimeout::Terminated));
        assert_eq!(tx.state(), ClientState::Terminated);
    }
}

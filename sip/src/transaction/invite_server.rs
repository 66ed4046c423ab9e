//! RFC 3261 §17.2.1: the INVITE server transaction (Figure 7), far enough to
//! answer an INVITE with a final response and absorb its ACK.
//!
//! Not done here: retransmitting a 2xx until its ACK (§13.3.1.4) is the
//! UAS core's job and waits for chat sessions; a 2xx ends this transaction.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::Timers;
use crate::transaction::{Target, Transmit};

/// RFC 3261 §17.2.1 states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteServerState {
    /// Waiting for the TU's final response.
    Proceeding,
    /// A 300–699 was sent; retransmitting it (Timer G) until the ACK.
    Completed,
    /// The ACK arrived; absorbing ACK retransmissions until Timer I.
    Confirmed,
    /// Done.
    Terminated,
}

/// What a timer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteServerTimeout {
    /// Timer G: send the final response again.
    Retransmit(Transmit),
    /// Timer H: the ACK never came.
    AckTimedOut,
    /// Timer I (or a 2xx sent): over.
    Terminated,
}

/// An INVITE server transaction.
#[derive(Debug, Clone)]
pub struct InviteServerTransaction {
    state: InviteServerState,
    target: Target,
    timers: Timers,
    last_response: Option<Bytes>,
    interval: Duration,
    timer_g: Option<Instant>,
    timer_h: Option<Instant>,
    timer_i: Option<Instant>,
}

impl InviteServerTransaction {
    /// A new transaction for an INVITE from `target`.
    pub fn new(target: Target, timers: Timers) -> Self {
        InviteServerTransaction {
            state: InviteServerState::Proceeding,
            target,
            timers,
            last_response: None,
            interval: timers.t1,
            timer_g: None,
            timer_h: None,
            timer_i: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> InviteServerState {
        self.state
    }

    /// The INVITE arrived again: repeat the last response (§17.2.1).
    pub fn handle_retransmission(&mut self) -> Option<Transmit> {
        match self.state {
            InviteServerState::Proceeding | InviteServerState::Completed => {
                self.last_response.clone().map(|bytes| Transmit {
                    target: self.target,
                    bytes,
                    retransmission: true,
                })
            }
            _ => None,
        }
    }

    /// The ACK for our non-2xx final response arrived.
    pub fn handle_ack(&mut self, now: Instant) {
        if self.state == InviteServerState::Completed {
            self.state = InviteServerState::Confirmed;
            self.timer_g = None;
            self.timer_h = None;
            // §17.2.1: Timer I = T4 on unreliable transports, zero on reliable ones.
            let i = if self.target.transport.is_reliable() {
                Duration::ZERO
            } else {
                self.timers.t4
            };
            self.timer_i = Some(now + i);
        }
    }

    /// The TU sends a response.
    pub fn respond(&mut self, status: u16, bytes: Bytes, now: Instant) -> Option<Transmit> {
        if self.state != InviteServerState::Proceeding {
            return None;
        }
        match status {
            100..=199 => {}
            200..=299 => {
                // §17.2.1: a 2xx ends the transaction; the TU owns its retransmission.
                self.state = InviteServerState::Terminated;
                self.timer_i = Some(now);
            }
            _ => {
                self.state = InviteServerState::Completed;
                if !self.target.transport.is_reliable() {
                    self.timer_g = Some(now + self.timers.t1);
                }
                self.timer_h = Some(now + self.timers.t1 * 64);
            }
        }
        self.last_response = Some(bytes.clone());
        Some(Transmit {
            target: self.target,
            bytes,
            retransmission: false,
        })
    }

    /// The earliest timer deadline, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.timer_g, self.timer_h, self.timer_i]
            .into_iter()
            .flatten()
            .min()
    }

    /// Fires the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<InviteServerTimeout> {
        if self.timer_h.is_some_and(|h| h <= now) {
            self.state = InviteServerState::Terminated;
            self.timer_g = None;
            self.timer_h = None;
            return Some(InviteServerTimeout::AckTimedOut);
        }
        if self.timer_i.is_some_and(|i| i <= now) {
            self.state = InviteServerState::Terminated;
            self.timer_i = None;
            return Some(InviteServerTimeout::Terminated);
        }
        if let Some(g) = self.timer_g.filter(|g| *g <= now) {
            // §17.2.1: G doubles up to T2.
            self.interval = (self.interval * 2).min(self.timers.t2);
            self.timer_g = Some(g + self.interval);
            return self.last_response.clone().map(|bytes| {
                InviteServerTimeout::Retransmit(Transmit {
                    target: self.target,
                    bytes,
                    retransmission: true,
                })
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Transport;

    fn udp() -> Target {
        Target {
            transport: Transport::Udp,
            addr: "127.0.0.1:5060".parse().expect("addr"),
        }
    }

    /// RFC 3261 §17.2.1: a 4xx is retransmitted by Timer G until the ACK; then Confirmed.
    #[test]
    fn final_response_is_retransmitted_until_ack_is_absorbed() {
        let t0 = Instant::now();
        let mut tx = InviteServerTransaction::new(udp(), Timers::default());
        tx.respond(488, Bytes::from_static(b"488"), t0)
            .expect("sent");
        let g = tx.poll_timeout().expect("G");
        assert_eq!((g - t0).as_millis(), 500);
        assert!(matches!(
            tx.handle_timeout(g),
            Some(InviteServerTimeout::Retransmit(_))
        ));
        assert_eq!((tx.poll_timeout().expect("G") - t0).as_millis(), 1500);
        tx.handle_ack(g);
        assert_eq!(tx.state(), InviteServerState::Confirmed);
        let i = tx.poll_timeout().expect("I");
        assert_eq!((i - g).as_millis(), 5000);
        assert_eq!(tx.handle_timeout(i), Some(InviteServerTimeout::Terminated));
    }

    /// RFC 3261 §17.2.1: Timer H = 64·T1 without an ACK.
    #[test]
    fn missing_ack_times_out_at_timer_h() {
        let t0 = Instant::now();
        let mut tx = InviteServerTransaction::new(udp(), Timers::default());
        tx.respond(486, Bytes::from_static(b"486"), t0)
            .expect("sent");
        let mut last = None;
        while let Some(at) = tx.poll_timeout() {
            last = tx.handle_timeout(at).map(|out| (at, out));
            if matches!(last, Some((_, InviteServerTimeout::AckTimedOut))) {
                break;
            }
        }
        let (at, _) = last.expect("timed out");
        assert_eq!((at - t0).as_millis(), 32_000);
    }
}

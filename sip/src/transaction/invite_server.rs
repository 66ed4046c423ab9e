//! RFC 3261 §17.2.1: the INVITE server transaction (Figure 7), far enough to
//! answer an INVITE with a final response and absorb its ACK.
//!
//! A 2xx ends the transaction in §17.2.1, and §13.3.1.4 gives its
//! retransmission to the UAS core: "it is necessary to periodically pass the
//! response directly to the transport until the ACK arrives". That duty is
//! kept here, in the [`InviteServerState::Accepted`] state, so one timer heap
//! drives it; the ACK of a 2xx (a new transaction, other branch) is matched
//! to it by dialog in [`crate::transaction::Transactions::handle_ack_of_2xx`].

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::Timers;
use crate::transaction::{Target, Transmit};

/// RFC 3261 §17.2.1 states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InviteServerState {
    /// Waiting for the TU's final response.
    Proceeding,
    /// A 300–699 was sent; retransmitting it (Timer G) until the ACK.
    Completed,
    /// A 2xx was sent; the UAS core retransmits it until its ACK, for at
    /// most 64·T1 (RFC 3261 §13.3.1.4).
    Accepted,
    /// The ACK arrived; absorbing ACK retransmissions until Timer I.
    Confirmed,
    /// Done.
    Terminated,
}

/// What a timer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InviteServerTimeout {
    /// Timer G: send the final response again.
    Retransmit(Transmit),
    /// Timer H (or, after a 2xx, 64·T1 of retransmissions): the ACK never came.
    AckTimedOut,
    /// Timer I (or a 2xx sent): over.
    Terminated,
}

/// An INVITE server transaction.
#[derive(Debug, Clone)]
pub(crate) struct InviteServerTransaction {
    state: InviteServerState,
    target: Target,
    timers: Timers,
    last_response: Option<Bytes>,
    interval: Duration,
    timer_g: Option<Instant>,
    timer_h: Option<Instant>,
    timer_i: Option<Instant>,
    /// The To tag of our responses, for the 200 to a CANCEL (§9.2).
    to_tag: Option<String>,
}

impl InviteServerTransaction {
    /// A new transaction for an INVITE from `target`.
    pub(crate) fn new(target: Target, timers: Timers) -> Self {
        InviteServerTransaction {
            state: InviteServerState::Proceeding,
            target,
            timers,
            last_response: None,
            interval: timers.t1,
            timer_g: None,
            timer_h: None,
            timer_i: None,
            to_tag: None,
        }
    }

    /// The To tag our responses carry, once the TU's responder has one.
    pub(crate) fn to_tag(&self) -> Option<&str> {
        self.to_tag.as_deref()
    }

    /// Records the To tag our responses carry.
    pub(crate) fn set_to_tag(&mut self, tag: &str) {
        self.to_tag = Some(tag.to_owned());
    }

    /// The current state.
    pub(crate) fn state(&self) -> InviteServerState {
        self.state
    }

    /// The INVITE arrived again: repeat the last response (§17.2.1; after a
    /// 2xx, the 2xx, whose loss is what made the client retransmit).
    pub(crate) fn handle_retransmission(&mut self) -> Option<Transmit> {
        match self.state {
            InviteServerState::Proceeding
            | InviteServerState::Completed
            | InviteServerState::Accepted => self.last_response.clone().map(|bytes| Transmit {
                target: self.target,
                bytes,
                retransmission: true,
            }),
            _ => None,
        }
    }

    /// The ACK for our final response arrived.
    pub(crate) fn handle_ack(&mut self, now: Instant) {
        if self.state == InviteServerState::Accepted {
            // §13.3.1.4: "Response retransmissions cease when an ACK request
            // for the response is received."
            self.state = InviteServerState::Terminated;
            self.timer_g = None;
            self.timer_h = None;
            self.timer_i = Some(now);
            return;
        }
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
    pub(crate) fn respond(&mut self, status: u16, bytes: Bytes, now: Instant) -> Option<Transmit> {
        if self.state != InviteServerState::Proceeding {
            return None;
        }
        match status {
            100..=199 => {}
            200..=299 => {
                // §13.3.1.4: "The 2xx response is passed to the transport with
                // an interval that starts at T1 seconds and doubles for each
                // retransmission until it reaches T2 seconds" — "independent of
                // whatever transport protocols are used" — and "for 64*T1
                // seconds without receiving an ACK" at most.
                self.state = InviteServerState::Accepted;
                self.timer_g = Some(now + self.timers.t1);
                self.timer_h = Some(now + self.timers.t1 * 64);
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
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [self.timer_g, self.timer_h, self.timer_i]
            .into_iter()
            .flatten()
            .min()
    }

    /// Fires the timers due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<InviteServerTimeout> {
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

    /// RFC 3261 §13.3.1.4: a 2xx is sent again at T1, 2·T1, 4·T1 … (the
    /// interval capped at T2), over TCP too, and given up at 64·T1.
    #[test]
    fn accepted_2xx_is_retransmitted_t1_doubling_to_t2_until_64_t1() {
        let t0 = Instant::now();
        let tcp = Target {
            transport: Transport::Tcp,
            addr: "127.0.0.1:5060".parse().expect("addr"),
        };
        let mut tx = InviteServerTransaction::new(tcp, Timers::default());
        tx.respond(200, Bytes::from_static(b"200"), t0)
            .expect("sent");
        assert_eq!(tx.state(), InviteServerState::Accepted);
        let mut sent = Vec::new();
        let mut gave_up = None;
        while let Some(at) = tx.poll_timeout() {
            match tx.handle_timeout(at) {
                Some(InviteServerTimeout::Retransmit(t)) => {
                    assert_eq!(&t.bytes[..], b"200");
                    sent.push((at - t0).as_millis());
                }
                Some(InviteServerTimeout::AckTimedOut) => {
                    gave_up = Some((at - t0).as_millis());
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            sent,
            [
                500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500
            ]
        );
        assert_eq!(gave_up, Some(32_000));
        assert_eq!(tx.state(), InviteServerState::Terminated);
    }

    /// RFC 3261 §13.3.1.4: "Response retransmissions cease when an ACK request
    /// for the response is received"; a retransmitted INVITE before it gets
    /// the 2xx again.
    #[test]
    fn ack_stops_2xx_retransmission() {
        let t0 = Instant::now();
        let mut tx = InviteServerTransaction::new(udp(), Timers::default());
        tx.respond(200, Bytes::from_static(b"200"), t0)
            .expect("sent");
        let again = tx.handle_retransmission().expect("2xx again");
        assert_eq!(&again.bytes[..], b"200");
        let g = tx.poll_timeout().expect("retransmission");
        assert!(matches!(
            tx.handle_timeout(g),
            Some(InviteServerTimeout::Retransmit(_))
        ));
        tx.handle_ack(g);
        assert_eq!(tx.handle_timeout(g), Some(InviteServerTimeout::Terminated));
        assert_eq!(tx.poll_timeout(), None);
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

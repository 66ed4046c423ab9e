//! RFC 3261 §17.1.1: the INVITE client transaction (Figure 5).
//!
//! Calling → Proceeding → Completed → Terminated, with Timer A (UDP
//! retransmissions, doubling without a cap), Timer B (64·T1 in Calling) and
//! Timer D (32 s over UDP, zero over reliable transports). The ACK of a
//! 300–699 response is the transaction's own (§17.1.1.3), built from the
//! INVITE's fields and the response's To, and sent again for every
//! retransmission of that response.
//!
//! A 2xx ends the transaction (§17.1.1.2) and goes to the TU, whose core
//! sends the ACK as a request of its own and sends it again for each
//! retransmitted 2xx (§13.2.2.4). Like the server side's `Accepted`
//! (`invite_server.rs`), that duty is kept here, in
//! [`InviteClientState::Accepted`], for 64·T1, so one timer heap drives it
//! and the retransmitted 2xx (same branch) still finds something to match:
//! the ACK the TU registered for its To tag ([`InviteClientTransaction::set_ack`]).
//! A 2xx with another To tag (a fork, §13.2.2.4) is handed up as a new final
//! response; the TU ACKs it and, wanting one session only, sends it a BYE.
//!
//! What it does not do: Timer C (proxies only) or RFC 6026's changes.
//! In Proceeding no timer runs (Figure 5): the TU ends a call that rings
//! forever with CANCEL, after which §9.1 bounds the wait to 64·T1
//! ([`InviteClientTransaction::cancel_sent`]).

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::Timers;
use crate::transaction::{Target, Transmit};
use crate::wire::write::{self, RequestParts};

/// RFC 3261 §17.1.1.2 states (and `Accepted`, see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InviteClientState {
    /// INVITE sent, nothing heard.
    Calling,
    /// A provisional response arrived; no more retransmissions.
    Proceeding,
    /// A 300–699 arrived and was ACKed; absorbing its retransmissions until Timer D.
    Completed,
    /// A 2xx arrived and went up; matching its retransmissions for 64·T1
    /// so the TU's ACK is sent again (§13.2.2.4).
    Accepted,
    /// Done.
    Terminated,
}

/// The INVITE fields its ACK for a non-2xx repeats (RFC 3261 §17.1.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AckTemplate {
    /// "The Request-URI of the ACK … MUST be equal to the Request-URI of the original request".
    pub request_uri: String,
    /// "the top Via header field of the original request" (and only it).
    pub via: String,
    /// From, with our tag.
    pub from: String,
    /// Call-ID.
    pub call_id: String,
    /// The INVITE's CSeq number.
    pub cseq: u32,
    /// The INVITE's Route values, in order.
    pub route: Vec<String>,
}

impl AckTemplate {
    /// §17.1.1.3: the ACK for a response whose To header value is `to`.
    pub(crate) fn ack(&self, to: &str) -> Bytes {
        write::request(&RequestParts {
            method: "ACK",
            request_uri: &self.request_uri,
            via: &self.via,
            from: &self.from,
            to,
            call_id: &self.call_id,
            cseq: self.cseq,
            route: &self.route,
            user_agent: "",
            headers: &[],
            body: None,
        })
    }
}

/// What a response did to the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InviteClientEvent {
    /// A 1xx: hand it up, keep waiting.
    Provisional,
    /// The final response: hand it up. For a 300–699 the ACK goes with it.
    Final(Option<Transmit>),
    /// Another 2xx, with a To tag not seen before: a forked branch answered
    /// too (§13.2.2.4); hand it up.
    Forked,
    /// A retransmitted final response, absorbed; the ACK to send again, if known.
    Absorbed(Option<Transmit>),
}

/// What a timer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InviteClientTimeout {
    /// Timer A: send the INVITE again.
    Retransmit(Transmit),
    /// Timer B (or §9.1's 64·T1 after a CANCEL): no final response.
    TimedOut,
    /// Timer D, or the end of `Accepted`: over.
    Terminated,
}

/// An INVITE client transaction.
#[derive(Debug, Clone)]
pub(crate) struct InviteClientTransaction {
    state: InviteClientState,
    request: Bytes,
    ack: AckTemplate,
    target: Target,
    timers: Timers,
    interval: Duration,
    timer_a: Option<Instant>,
    timer_b: Option<Instant>,
    timer_d: Option<Instant>,
    /// The ACK of the non-2xx (Completed), or per To tag the ACK of each 2xx
    /// (Accepted; `None` until the TU sends it).
    acks: Vec<(String, Option<Transmit>)>,
}

impl InviteClientTransaction {
    /// Starts the transaction: returns it and the first transmission.
    pub(crate) fn new(
        request: Bytes,
        ack: AckTemplate,
        target: Target,
        timers: Timers,
        now: Instant,
    ) -> (Self, Transmit) {
        let reliable = target.transport.is_reliable();
        let tx = InviteClientTransaction {
            state: InviteClientState::Calling,
            request: request.clone(),
            ack,
            target,
            timers,
            interval: timers.t1,
            // §17.1.1.2: "If an unreliable transport is being used, the client
            // transaction MUST start timer A with a value of T1."
            timer_a: (!reliable).then(|| now + timers.t1),
            // "For any transport, the client transaction MUST start timer B
            // with a value of 64*T1 seconds."
            timer_b: Some(now + timers.t1 * 64),
            timer_d: None,
            acks: Vec::new(),
        };
        let transmit = Transmit {
            target,
            bytes: request,
            retransmission: false,
        };
        (tx, transmit)
    }

    /// The current state.
    pub(crate) fn state(&self) -> InviteClientState {
        self.state
    }

    /// The destination.
    pub(crate) fn target(&self) -> Target {
        self.target
    }

    /// Takes a response with `status` whose To header value is `to` (its
    /// tag `to_tag`).
    pub(crate) fn handle_response(
        &mut self,
        status: u16,
        to: &str,
        to_tag: &str,
        now: Instant,
    ) -> InviteClientEvent {
        use InviteClientState::*;
        match (self.state, status) {
            (Calling | Proceeding, 100..=199) => {
                // §17.1.1.2: in Proceeding "the client transaction SHOULD NOT
                // retransmit the request any longer".
                self.state = Proceeding;
                self.timer_a = None;
                self.timer_b = None;
                InviteClientEvent::Provisional
            }
            (Calling | Proceeding, 200..=299) => {
                // §17.1.1.2: a 2xx "MUST cause the client transaction to enter
                // the Terminated state, and the response MUST be passed up to
                // the TU"; §13.2.2.4 keeps the UAC core answering its
                // retransmissions for 64·T1 (see the module doc).
                self.state = Accepted;
                self.timer_a = None;
                self.timer_b = None;
                self.timer_d = Some(now + self.timers.t1 * 64);
                self.acks.push((to_tag.to_owned(), None));
                InviteClientEvent::Final(None)
            }
            (Calling | Proceeding, _) => {
                // §17.1.1.2: a 300–699 moves to Completed, "MUST generate an ACK
                // request" and passes the response up; Timer D is "at least 32
                // seconds for unreliable transports, and … zero seconds for
                // reliable transports".
                self.state = Completed;
                self.timer_a = None;
                self.timer_b = None;
                let d = if self.target.transport.is_reliable() {
                    Duration::ZERO
                } else {
                    Duration::from_secs(32)
                };
                self.timer_d = Some(now + d);
                let ack = Transmit {
                    target: self.target,
                    bytes: self.ack.ack(to),
                    retransmission: false,
                };
                self.acks.push((to_tag.to_owned(), Some(ack.clone())));
                InviteClientEvent::Final(Some(ack))
            }
            (Completed, 300..=699) => {
                // "Any retransmissions of the final response that are received
                // while in the Completed state MUST cause the ACK to be re-passed
                // to the transport layer for retransmission".
                InviteClientEvent::Absorbed(self.ack_again(to_tag))
            }
            (Accepted, 200..=299) => {
                if self.acks.iter().any(|(tag, _)| tag == to_tag) {
                    return InviteClientEvent::Absorbed(self.ack_again(to_tag));
                }
                self.acks.push((to_tag.to_owned(), None));
                InviteClientEvent::Forked
            }
            _ => InviteClientEvent::Absorbed(None),
        }
    }

    fn ack_again(&self, to_tag: &str) -> Option<Transmit> {
        self.acks
            .iter()
            .find(|(tag, _)| tag == to_tag)
            .and_then(|(_, ack)| ack.clone())
            .map(|ack| Transmit {
                retransmission: true,
                ..ack
            })
    }

    /// The TU sent `ack` for the 2xx with To tag `to_tag` (§13.2.2.4): it is
    /// sent again whenever that 2xx comes again.
    pub(crate) fn set_ack(&mut self, to_tag: &str, ack: Transmit) {
        if self.state != InviteClientState::Accepted {
            return;
        }
        match self.acks.iter_mut().find(|(tag, _)| tag == to_tag) {
            Some((_, slot)) => *slot = Some(ack),
            None => self.acks.push((to_tag.to_owned(), Some(ack))),
        }
    }

    /// A CANCEL for this INVITE was sent at `now`: RFC 3261 §9.1, "If no
    /// final response is received by the client within 64*T1 seconds after
    /// the CANCEL was sent, the client SHOULD consider the INVITE
    /// transaction cancelled and destroy it."
    pub(crate) fn cancel_sent(&mut self, now: Instant) {
        if matches!(
            self.state,
            InviteClientState::Calling | InviteClientState::Proceeding
        ) {
            let deadline = now + self.timers.t1 * 64;
            self.timer_b = Some(self.timer_b.map_or(deadline, |b| b.min(deadline)));
        }
    }

    /// The earliest timer deadline, if any.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [self.timer_a, self.timer_b, self.timer_d]
            .into_iter()
            .flatten()
            .min()
    }

    /// Fires the timers due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<InviteClientTimeout> {
        if self.timer_b.is_some_and(|b| b <= now) {
            // §17.1.1.2: Timer B in Calling: "the client transaction SHOULD
            // inform the TU that a timeout has occurred" (408 semantics).
            self.state = InviteClientState::Terminated;
            self.timer_a = None;
            self.timer_b = None;
            return Some(InviteClientTimeout::TimedOut);
        }
        if self.timer_d.is_some_and(|d| d <= now) {
            self.state = InviteClientState::Terminated;
            self.timer_d = None;
            return Some(InviteClientTimeout::Terminated);
        }
        if let Some(a) = self.timer_a.filter(|a| *a <= now) {
            // §17.1.1.2: "the client transaction MUST retransmit the request
            // … and reset the timer with a value of 2*T1", doubling each time.
            self.interval *= 2;
            self.timer_a = Some(a + self.interval);
            return Some(InviteClientTimeout::Retransmit(Transmit {
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
            addr: "192.0.2.9:5060".parse().expect("addr"),
        }
    }

    fn template() -> AckTemplate {
        AckTemplate {
            request_uri: "sip:bob@192.0.2.9".into(),
            via: "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinv;rport".into(),
            from: "<sip:alice@example.com>;tag=a1".into(),
            call_id: "c1@example.com".into(),
            cseq: 4,
            route: vec!["<sip:p1.example.com;lr>".into()],
        }
    }

    fn start(transport: Transport, t0: Instant) -> InviteClientTransaction {
        let (tx, first) = InviteClientTransaction::new(
            Bytes::from_static(b"INVITE"),
            template(),
            target(transport),
            Timers::default(),
            t0,
        );
        assert!(!first.retransmission);
        tx
    }

    /// Runs a transaction that never hears back; records when Timer A fires and when B does.
    fn schedule(transport: Transport) -> (Vec<u128>, u128) {
        let t0 = Instant::now();
        let mut tx = start(transport, t0);
        let mut sent = Vec::new();
        while let Some(at) = tx.poll_timeout() {
            match tx.handle_timeout(at) {
                Some(InviteClientTimeout::Retransmit(_)) => sent.push((at - t0).as_millis()),
                Some(InviteClientTimeout::TimedOut) => return (sent, (at - t0).as_millis()),
                other => panic!("unexpected {other:?}"),
            }
        }
        panic!("no Timer B");
    }

    /// RFC 3261 §17.1.1.2: Timer A at T1, 2·T1, 4·T1 … with no cap; Timer B at 64·T1.
    #[test]
    fn timer_a_doubles_without_cap_and_timer_b_fires_at_64_t1() {
        let (sent, timeout) = schedule(Transport::Udp);
        assert_eq!(sent, [500, 1_500, 3_500, 7_500, 15_500, 31_500]);
        assert_eq!(timeout, 32_000);
        assert_eq!(schedule(Transport::Udp).0.len(), 6);
    }

    /// RFC 3261 §17.1.1.2: no Timer A on a reliable transport; Timer B still.
    #[test]
    fn no_invite_retransmissions_over_tcp() {
        let (sent, timeout) = schedule(Transport::Tcp);
        assert!(sent.is_empty());
        assert_eq!(timeout, 32_000);
    }

    /// RFC 3261 §17.1.1.2: a provisional response stops retransmissions and Timer B.
    #[test]
    fn provisional_response_stops_retransmissions_and_timer_b() {
        let t0 = Instant::now();
        let mut tx = start(Transport::Udp, t0);
        assert_eq!(
            tx.handle_response(180, "<sip:bob@x>;tag=b1", "b1", t0),
            InviteClientEvent::Provisional
        );
        assert_eq!(tx.state(), InviteClientState::Proceeding);
        assert_eq!(tx.poll_timeout(), None, "Proceeding has no timer");
    }

    /// RFC 3261 §9.1: after a CANCEL the INVITE is given up 64·T1 later.
    #[test]
    fn invite_is_given_up_64_t1_after_its_cancel() {
        let t0 = Instant::now();
        let mut tx = start(Transport::Udp, t0);
        tx.handle_response(180, "<sip:bob@x>;tag=b1", "b1", t0);
        let sent = t0 + Duration::from_secs(3);
        tx.cancel_sent(sent);
        let at = tx.poll_timeout().expect("deadline");
        assert_eq!((at - t0).as_millis(), 35_000);
        assert_eq!(tx.handle_timeout(at), Some(InviteClientTimeout::TimedOut));
    }

    /// RFC 3261 §17.1.1.3: the ACK of a non-2xx keeps the INVITE's
    /// Request-URI, top Via, From, Call-ID, CSeq number and Route, and takes
    /// the response's To; it goes again for each retransmitted response.
    #[test]
    fn non_2xx_is_acked_by_the_transaction_and_ack_is_resent() {
        let t0 = Instant::now();
        let mut tx = start(Transport::Udp, t0);
        let to = "<sip:bob@example.com>;tag=b7";
        let InviteClientEvent::Final(Some(ack)) = tx.handle_response(486, to, "b7", t0) else {
            panic!("ACK expected");
        };
        let text = String::from_utf8(ack.bytes.to_vec()).expect("utf8");
        assert!(
            text.starts_with("ACK sip:bob@192.0.2.9 SIP/2.0\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinv;rport\r\n"));
        assert_eq!(text.matches("Via:").count(), 1, "top Via only");
        assert!(text.contains("\r\nRoute: <sip:p1.example.com;lr>\r\n"));
        assert!(text.contains("\r\nFrom: <sip:alice@example.com>;tag=a1\r\n"));
        assert!(text.contains("\r\nTo: <sip:bob@example.com>;tag=b7\r\n"));
        assert!(text.contains("\r\nCall-ID: c1@example.com\r\n"));
        assert!(text.contains("\r\nCSeq: 4 ACK\r\n"));
        assert_eq!(tx.state(), InviteClientState::Completed);
        let InviteClientEvent::Absorbed(Some(again)) = tx.handle_response(486, to, "b7", t0) else {
            panic!("ACK again expected");
        };
        assert_eq!(again.bytes, ack.bytes);
        assert!(again.retransmission);
    }

    /// RFC 3261 §17.1.1.2: Timer D is 32 s over UDP, zero over TCP.
    #[test]
    fn timer_d_is_32_s_over_udp_and_zero_over_tcp() {
        for (transport, d) in [(Transport::Udp, 32_000), (Transport::Tcp, 0)] {
            let t0 = Instant::now();
            let mut tx = start(transport, t0);
            tx.handle_response(603, "<sip:bob@x>;tag=b", "b", t0);
            let at = tx.poll_timeout().expect("D");
            assert_eq!((at - t0).as_millis(), d, "{transport:?}");
            assert_eq!(tx.handle_timeout(at), Some(InviteClientTimeout::Terminated));
            assert_eq!(tx.state(), InviteClientState::Terminated);
        }
    }

    /// RFC 3261 §17.1.1.2, §13.2.2.4: a 2xx goes up without an ACK from the
    /// transaction; the TU's ACK is re-sent for the retransmitted 2xx; a 2xx
    /// with another To tag is a fork; all over after 64·T1.
    #[test]
    fn a_2xx_goes_up_and_its_retransmission_gets_the_tus_ack() {
        let t0 = Instant::now();
        let mut tx = start(Transport::Udp, t0);
        assert_eq!(
            tx.handle_response(200, "<sip:bob@x>;tag=b1", "b1", t0),
            InviteClientEvent::Final(None)
        );
        assert_eq!(
            tx.handle_response(200, "<sip:bob@x>;tag=b1", "b1", t0),
            InviteClientEvent::Absorbed(None),
            "no ACK yet"
        );
        let ack = Transmit {
            target: target(Transport::Udp),
            bytes: Bytes::from_static(b"ACK"),
            retransmission: false,
        };
        tx.set_ack("b1", ack);
        let InviteClientEvent::Absorbed(Some(again)) =
            tx.handle_response(200, "<sip:bob@x>;tag=b1", "b1", t0)
        else {
            panic!("ACK again");
        };
        assert_eq!(&again.bytes[..], b"ACK");
        assert_eq!(
            tx.handle_response(200, "<sip:bob@x>;tag=b2", "b2", t0),
            InviteClientEvent::Forked
        );
        let end = tx.poll_timeout().expect("end");
        assert_eq!((end - t0).as_millis(), 32_000);
        assert_eq!(
            tx.handle_timeout(end),
            Some(InviteClientTimeout::Terminated)
        );
    }
}

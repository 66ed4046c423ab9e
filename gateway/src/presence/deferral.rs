//! A SIP request of Parley's own subscriptions that its SIP endpoint refused
//! to start — the transaction table full (`limits.sip_pending_transactions`,
//! `TransactionError::Overloaded`), or the endpoint shutting down — never
//! reached the SIP side. It is no answer from it: RFC 6665 and RFC 8048 read
//! what the notifier or subscriber *said*, and it said nothing. So such a
//! request is deferred and made again later, with a delay that doubles with
//! each refusal in a row up to a cap; nothing is forgotten and no XMPP user
//! is told anything. The delays are data in each subscription's state
//! machine (or in the restore's queue), acted on by the reaper.
//!
//! What it does not do: retry an answer. A timeout, a transport failure or a
//! final response of the SIP side is read by the state machines as before.

use std::time::Duration;

use parley_sip::TransactionError;

/// The wait after a first refusal: two reaper ticks.
pub(crate) const FIRST_DELAY: Duration = Duration::from_millis(100);

/// The longest wait, 5 s: long against a round trip, so a full table is
/// asked again at most every 5 s per request, and short against the
/// subscription it keeps (a refresh goes at 80 % of the time granted, an
/// hour as Parley asks; a NOTIFY's state is late by at most this).
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(5);

/// Whether `error` is the SIP endpoint's own refusal to start the request,
/// rather than anything the SIP side did.
pub(crate) fn refused_locally(error: &TransactionError) -> bool {
    match error {
        TransactionError::Overloaded | TransactionError::ShuttingDown => true,
        // The request left, or could not be routed: the SIP side's doing,
        // or a lasting fault that waiting does not mend.
        TransactionError::Timeout
        | TransactionError::Transport { .. }
        | TransactionError::Unresolvable(_)
        | TransactionError::InvalidRequest(_) => false,
        _ => false,
    }
}

/// The wait before the next attempt after `refusals` refusals in a row
/// (the first is 1): [`FIRST_DELAY`], doubling, at most [`MAX_DELAY`].
pub(crate) fn delay(refusals: u8) -> Duration {
    let doublings = u32::from(refusals.saturating_sub(1)).min(16);
    FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_up_to_5_s() {
        let ms = |n| Duration::from_millis(n);
        let delays: Vec<Duration> = (1..=8).map(delay).collect();
        assert_eq!(
            delays,
            [
                ms(100),
                ms(200),
                ms(400),
                ms(800),
                ms(1600),
                ms(3200),
                ms(5000),
                ms(5000)
            ]
        );
        assert_eq!(delay(0), ms(100));
        assert_eq!(delay(u8::MAX), ms(5000));
    }

    #[test]
    fn only_the_endpoints_own_refusals_are_deferred() {
        assert!(refused_locally(&TransactionError::Overloaded));
        assert!(refused_locally(&TransactionError::ShuttingDown));
        assert!(!refused_locally(&TransactionError::Timeout));
        assert!(!refused_locally(&TransactionError::Unresolvable(
            "sip:nowhere.invalid".into()
        )));
        assert!(!refused_locally(&TransactionError::Transport {
            target: "127.0.0.1:5060".into(),
            source: std::io::Error::other("unreachable"),
        }));
    }
}

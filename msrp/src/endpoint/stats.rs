//! Plain counters, like `sip::Stats`: the endpoint counts with atomics and
//! [`Stats`] is a snapshot readable at any time.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::status::StatusCode;
use crate::wire::Frame;

/// A snapshot of an endpoint's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Sessions open now (opened and not yet closed or failed).
    pub sessions_open: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Connections accepted, ever.
    pub connections_accepted: u64,
    /// Connections we opened, ever.
    pub connections_opened: u64,
    /// Times an active session reused an open connection (RFC 4975 §5.4).
    pub connections_reused: u64,
    /// Frames decoded.
    pub frames_in: u64,
    /// Frames written.
    pub frames_out: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// 481 responses sent (no such session, §7.3).
    pub responses_481: u64,
    /// 413 responses and REPORTs sent (message over the limit, RFC 7573 §8).
    pub responses_413: u64,
    /// 506 responses sent (session bound to another connection, §5.4).
    pub responses_506: u64,
    /// Frames refused by the decoder without closing the connection.
    pub decode_errors: u64,
    /// Connections closed because their stream lost its framing.
    pub fatal_decode_errors: u64,
    /// SENDs with no response in time (§7.1.1), reported as 408.
    pub transaction_timeouts: u64,
    /// Received messages owed a success REPORT that the application had
    /// not decided on when the session's bound made them forgotten
    /// (`SessionOptions::max_awaiting_reports`; RFC 4975 §7.1.3).
    pub reports_forgotten: u64,
    /// Connections closed by the first-frame or idle timeout.
    pub idle_closes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sessions_open: AtomicU64,
    pub(crate) connections_open: AtomicU64,
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_opened: AtomicU64,
    pub(crate) connections_reused: AtomicU64,
    pub(crate) frames_in: AtomicU64,
    pub(crate) frames_out: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) responses_481: AtomicU64,
    pub(crate) responses_413: AtomicU64,
    pub(crate) responses_506: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
    pub(crate) fatal_decode_errors: AtomicU64,
    pub(crate) transaction_timeouts: AtomicU64,
    pub(crate) reports_forgotten: AtomicU64,
    pub(crate) idle_closes: AtomicU64,
}

pub(crate) fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

pub(crate) fn dec(counter: &AtomicU64) {
    // Never below zero, whatever the order of close paths.
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
}

impl Counters {
    /// Counts a frame written, by the status it carries.
    pub(crate) fn frame_out(&self, frame: &Frame, bytes: usize) {
        inc(&self.frames_out);
        add(&self.bytes_out, bytes as u64);
        let status = frame
            .status_code()
            .or_else(|| frame.status().map(|s| s.code));
        match status {
            Some(StatusCode::NO_SESSION) => inc(&self.responses_481),
            Some(StatusCode::STOP_SENDING) => inc(&self.responses_413),
            Some(StatusCode::SESSION_ON_OTHER_CONNECTION) => inc(&self.responses_506),
            _ => {}
        }
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            sessions_open: get(&self.sessions_open),
            connections_open: get(&self.connections_open),
            connections_accepted: get(&self.connections_accepted),
            connections_opened: get(&self.connections_opened),
            connections_reused: get(&self.connections_reused),
            frames_in: get(&self.frames_in),
            frames_out: get(&self.frames_out),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            responses_481: get(&self.responses_481),
            responses_413: get(&self.responses_413),
            responses_506: get(&self.responses_506),
            decode_errors: get(&self.decode_errors),
            fatal_decode_errors: get(&self.fatal_decode_errors),
            transaction_timeouts: get(&self.transaction_timeouts),
            reports_forgotten: get(&self.reports_forgotten),
            idle_closes: get(&self.idle_closes),
        }
    }
}

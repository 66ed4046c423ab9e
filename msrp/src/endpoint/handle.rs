//! A [`SessionHandle`]: what the application holds of one open session.
//! It sends into the session, reads its events, decides the REPORTs on
//! received messages when the session's options say so, and closes it.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::endpoint::{DriverError, Inner, RandomIds, Role, SessionEntry, SessionEvent, State};
use crate::error::{AnswerError, ReportError};
use crate::session::{NewMessage, Session};
use crate::status::StatusCode;
use crate::wire::{MessageId, TransactionId};

/// One open session: send into it, read its events, report on what it
/// received (with `application_reports`), close it (dropping the handle
/// closes it too).
pub struct SessionHandle {
    id: String,
    inner: Arc<Inner>,
    events: mpsc::Receiver<SessionEvent>,
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SessionHandle {
    pub(super) fn new(
        id: String,
        inner: Arc<Inner>,
        events: mpsc::Receiver<SessionEvent>,
    ) -> SessionHandle {
        SessionHandle { id, inner, events }
    }

    /// The local session-id.
    pub fn session_id(&self) -> &str {
        &self.id
    }

    /// Queues a message as SEND chunks on the session's connection.
    pub fn send(&self, message: NewMessage) -> Result<(), DriverError> {
        let mut state = self.inner.lock();
        let State {
            sessions, conns, ..
        } = &mut *state;
        let entry = sessions.get_mut(&self.id).ok_or(DriverError::Closed)?;
        let Some(conn) = entry.conn else {
            return Err(match entry.role {
                Role::Passive => DriverError::NotBound,
                Role::Active => DriverError::Closed,
            });
        };
        if entry.pending.len() >= entry.max_pending {
            return Err(DriverError::Busy);
        }
        entry.session.send_message(message)?;
        if let Some(c) = conns.get(&conn) {
            c.wake.notify_one();
        }
        Ok(())
    }

    /// RFC 7701 §7.1: sends a NICKNAME asking for `nickname` (empty: §7.3,
    /// remove it). Its response arrives as
    /// [`Event::NicknameResponse`](crate::session::Event::NicknameResponse)
    /// with the returned transaction id (408 when none came in time).
    pub fn send_nickname(&self, nickname: &str) -> Result<TransactionId, DriverError> {
        let mut state = self.inner.lock();
        let State {
            sessions, conns, ..
        } = &mut *state;
        let entry = sessions.get_mut(&self.id).ok_or(DriverError::Closed)?;
        let Some(conn) = entry.conn else {
            return Err(match entry.role {
                Role::Passive => DriverError::NotBound,
                Role::Active => DriverError::Closed,
            });
        };
        if entry.pending.len() >= entry.max_pending {
            return Err(DriverError::Busy);
        }
        let tid = entry.session.send_nickname(nickname)?;
        if let Some(c) = conns.get(&conn) {
            c.wake.notify_one();
        }
        Ok(tid)
    }

    /// With [`SessionOptions::nickname_requests`](crate::endpoint::SessionOptions::nickname_requests)
    /// set to `Application`: answers the received NICKNAME `transaction_id`
    /// names (see [`Session::answer_nickname`]).
    pub fn answer_nickname(
        &self,
        transaction_id: &TransactionId,
        status: StatusCode,
    ) -> Result<(), DriverError> {
        self.answer(|session| session.answer_nickname(transaction_id, status))
    }

    /// With [`SessionOptions::message_answers`](crate::endpoint::SessionOptions::message_answers)
    /// set to `Application`: answers the SEND that completed a received
    /// message (see [`Session::answer_message`]).
    pub fn answer_message(
        &self,
        transaction_id: &TransactionId,
        status: StatusCode,
    ) -> Result<(), DriverError> {
        self.answer(|session| session.answer_message(transaction_id, status))
    }

    /// With [`SessionOptions::application_reports`](crate::endpoint::SessionOptions::application_reports):
    /// the recipient got the received message `message_id` names; sends
    /// the success REPORT if its SEND asked for one (RFC 4975 §7.1.3). See
    /// [`Session::report_success`]. Returns whether a REPORT was queued.
    pub fn report_success(&self, message_id: &MessageId) -> Result<bool, DriverError> {
        self.report(|session| session.report_success(message_id))
    }

    /// With [`SessionOptions::application_reports`](crate::endpoint::SessionOptions::application_reports):
    /// delivering the received message `message_id` names failed; sends a
    /// failure REPORT with `status` unless its SEND said Failure-Report
    /// `no` (RFC 4975 §7.1.4). See [`Session::report_failure`]. Returns
    /// whether a REPORT was queued.
    pub fn report_failure(
        &self,
        message_id: &MessageId,
        status: StatusCode,
    ) -> Result<bool, DriverError> {
        self.report(|session| session.report_failure(message_id, status))
    }

    /// [`SessionHandle::report_failure`] with a body (RFC 7701 §6.2: a
    /// switch's REPORT carries the Message/CPIM wrapper's From and To). See
    /// [`Session::report_failure_with_body`].
    pub fn report_failure_with_body(
        &self,
        message_id: &MessageId,
        status: StatusCode,
        content_type: &str,
        body: bytes::Bytes,
    ) -> Result<bool, DriverError> {
        self.report(|session| {
            session.report_failure_with_body(message_id, status, content_type, body)
        })
    }

    /// Runs one of the session core's answer verbs and wakes the connection
    /// for the response it queued.
    fn answer(
        &self,
        decide: impl FnOnce(&mut Session<RandomIds>) -> Result<(), AnswerError>,
    ) -> Result<(), DriverError> {
        let mut state = self.inner.lock();
        let State {
            sessions, conns, ..
        } = &mut *state;
        let entry: &mut SessionEntry = sessions.get_mut(&self.id).ok_or(DriverError::Closed)?;
        decide(&mut entry.session)?;
        if let Some(c) = entry.conn.and_then(|conn| conns.get(&conn)) {
            c.wake.notify_one();
        }
        Ok(())
    }

    /// Runs one of the session core's report verbs and wakes the connection
    /// for what it queued. §7.1.2: "they SHOULD NOT send a REPORT request
    /// for a session that is no longer valid": a closed session refuses.
    fn report(
        &self,
        decide: impl FnOnce(&mut Session<RandomIds>) -> Result<bool, ReportError>,
    ) -> Result<bool, DriverError> {
        let mut state = self.inner.lock();
        let State {
            sessions, conns, ..
        } = &mut *state;
        let entry: &mut SessionEntry = sessions.get_mut(&self.id).ok_or(DriverError::Closed)?;
        let queued = decide(&mut entry.session)?;
        if queued && let Some(c) = entry.conn.and_then(|conn| conns.get(&conn)) {
            c.wake.notify_one();
        }
        Ok(queued)
    }

    /// The next event; `None` once the session is closed and its events read.
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        self.events.recv().await
    }

    /// The events channel itself, for `select!`.
    pub fn events(&mut self) -> &mut mpsc::Receiver<SessionEvent> {
        &mut self.events
    }

    /// Closes the session. Its connection stays open while it carries other
    /// sessions (§5.4: "A connection SHOULD NOT be closed while there are
    /// sessions associated with it"), and is closed by the idle timeout after.
    pub fn close(&self) {
        let mut state = self.inner.lock();
        self.inner.remove_session(&mut state, &self.id);
    }
}

impl Drop for SessionHandle {
    fn drop(&mut self) {
        self.close();
    }
}

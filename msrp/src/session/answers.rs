//! Who answers a received message's last SEND: the session (200 on
//! arrival, the default) or the application, after reading the message.
//!
//! Why the application: an MSRP switch (RFC 7701 §6) must refuse a SEND
//! for what its Message/CPIM wrapper says, with a response, not a REPORT:
//! §6.1, "If the MSRP switch receives a message containing several To
//! header fields in the Message/CPIM wrapper the MSRP switch MUST reject
//! the MSRP SEND request with a 403 response"; §6.2, a To that "does not
//! contain the URI of a participant of the chat room ... MUST reject the
//! request with a 404 response", a recipient without private messages
//! "428"; §6.3, a From that "does not 'belong' to the sender ... MUST
//! reject the request with a 403 response". Only the application knows
//! the room, so the response to the chunk that completes a message waits
//! for it. Earlier chunks of a chunked message get their 200 on arrival
//! (the wrapper is whole only with the last one).
//!
//! Bounded: past the bound a completed message is refused with 403 (the
//! application is not keeping up), never held.

use std::collections::VecDeque;

use crate::session::ReportSubject;
use crate::wire::{Frame, MessageId, TransactionId};

/// Who answers the SEND that completes a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MessageAnswers {
    /// The session: 200 as soon as the message is whole (RFC 4975 §7.3).
    #[default]
    Session,
    /// The application, with
    /// [`Session::answer_message`](crate::session::Session::answer_message),
    /// for the transaction id in
    /// [`Delivered::answer`](crate::session::Delivered::answer).
    Application,
}

/// A completed message's last SEND, awaiting the application's answer.
#[derive(Debug)]
pub(crate) struct Unanswered {
    /// The SEND to answer.
    pub(crate) frame: Frame,
    /// The message's id, to forget what the application would report on
    /// should it refuse the message.
    pub(crate) message_id: Option<MessageId>,
    /// The success REPORT the session owes once the application says 200
    /// (RFC 4975 §7.1.3), when the session decides REPORTs.
    pub(crate) owed_report: Option<ReportSubject>,
}

/// Completed messages awaiting the application's answer, oldest first.
#[derive(Debug)]
pub(crate) struct AwaitingAnswers {
    waiting: VecDeque<Unanswered>,
    max: usize,
}

impl AwaitingAnswers {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            waiting: VecDeque::new(),
            max: max.max(1),
        }
    }

    /// Keeps `unanswered` for its answer; given back when the bound is
    /// reached.
    pub(crate) fn admit(&mut self, unanswered: Unanswered) -> Result<(), Box<Unanswered>> {
        if self.waiting.len() >= self.max {
            return Err(Box::new(unanswered));
        }
        self.waiting.push_back(unanswered);
        Ok(())
    }

    /// The SEND `tid` names, taken for its answer.
    pub(crate) fn take(&mut self, tid: &TransactionId) -> Option<Unanswered> {
        let at = self
            .waiting
            .iter()
            .position(|u| u.frame.transaction_id == *tid)?;
        self.waiting.remove(at)
    }

    /// How many await an answer.
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }
}

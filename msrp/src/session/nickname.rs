//! RFC 7701 §7: the NICKNAME requests of one session, both ways.
//!
//! As a participant the application sends NICKNAME and hears the response
//! (200: the nickname is reserved; 424, 425 or 403: it is not, and §7.2:
//! "If a NICKNAME request that attempts to modify the current nickname of
//! the user fails for some reason, the current nickname stays in effect").
//! As the chat room (the focus, RFC 7702 §6.4) each NICKNAME received is
//! handed to the application, which answers it after asking the MUC. Both
//! queues are bounded: a NICKNAME flood is refused, never held.

use std::collections::VecDeque;

use crate::error::{RequestError, SendError};
use crate::wire::{Frame, Header, MAX_NICKNAME_OCTETS, Method, TransactionId};

/// RFC 7701 §7.1: what the session does with a NICKNAME it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NicknameRequests {
    /// Not a chat room: RFC 4975 §12, an unknown method "MUST return a 501
    /// response".
    #[default]
    Unsupported,
    /// This side is the chat room: each NICKNAME is an
    /// [`Event::NicknameRequest`](crate::session::Event::NicknameRequest)
    /// that the application answers with
    /// [`Session::answer_nickname`](crate::session::Session::answer_nickname).
    Application,
}

/// NICKNAMEs awaiting a response, and received ones awaiting an answer.
#[derive(Debug)]
pub(crate) struct Nicknames {
    sent: VecDeque<TransactionId>,
    received: VecDeque<Frame>,
    max: usize,
}

impl Nicknames {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            sent: VecDeque::new(),
            received: VecDeque::new(),
            max: max.max(1),
        }
    }

    /// A NICKNAME request for `nickname` (RFC 7701 §7.1: "MUST include a
    /// new Use-Nickname header"; "MUST NOT include Success-Report or
    /// Failure-Report header fields"), remembered until its response. The
    /// oldest unanswered one is forgotten past the bound.
    pub(crate) fn request(
        &mut self,
        tid: TransactionId,
        to_path: Vec<crate::uri::Uri>,
        from_path: Vec<crate::uri::Uri>,
        nickname: &str,
    ) -> Result<Frame, SendError> {
        // §7.1: "MUST NOT be more than 1023 octets"; qdtext has no control
        // characters but HTAB. Empty is §7.3's removal.
        if nickname.len() > MAX_NICKNAME_OCTETS
            || nickname.chars().any(|c| c.is_control() && c != '\t')
        {
            return Err(SendError::BadNickname);
        }
        let mut frame = Frame::request(tid.clone(), Method::Nickname, to_path, from_path);
        frame.headers.push(Header::UseNickname(nickname.to_owned()));
        if self.sent.len() >= self.max {
            self.sent.pop_front();
        }
        self.sent.push_back(tid);
        Ok(frame)
    }

    /// Whether `tid` is a NICKNAME of ours awaiting its response (forgotten
    /// now either way).
    pub(crate) fn take_sent(&mut self, tid: &TransactionId) -> bool {
        let before = self.sent.len();
        self.sent.retain(|t| t != tid);
        self.sent.len() != before
    }

    /// A received NICKNAME to hand to the application: its nickname, or why
    /// it is refused.
    pub(crate) fn admit(&mut self, frame: Frame) -> Result<String, RequestError> {
        // §7.1: "The NICKNAME request MUST include a new Use-Nickname
        // header"; without one it is unintelligible (RFC 4975 §10.2: 400).
        let nickname = frame
            .use_nickname()
            .ok_or(RequestError::MissingUseNickname)?
            .to_owned();
        if self.received.len() >= self.max {
            return Err(RequestError::TooManyNicknameRequests);
        }
        self.received.push_back(frame);
        Ok(nickname)
    }

    /// The received NICKNAME `tid` names, taken for its answer.
    pub(crate) fn take_received(&mut self, tid: &TransactionId) -> Option<Frame> {
        let at = self
            .received
            .iter()
            .position(|f| f.transaction_id == *tid)?;
        self.received.remove(at)
    }

    /// Received NICKNAMEs awaiting the application's answer.
    pub(crate) fn awaiting(&self) -> usize {
        self.received.len()
    }
}

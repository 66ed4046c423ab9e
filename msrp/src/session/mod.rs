//! RFC 4975 §5.3, §7: one MSRP session's protocol state, sans-IO.
//!
//! The driver feeds the session every frame its connection decodes
//! ([`Session::handle_frame`](crate::session::Session::handle_frame), [`Session::handle_decode_error`](crate::session::Session::handle_decode_error)) and what to
//! send ([`Session::send_message`](crate::session::Session::send_message)); it takes out frames to write
//! ([`Session::poll_transmit`](crate::session::Session::poll_transmit)) and events for the gateway
//! ([`Session::poll_event`](crate::session::Session::poll_event)). The session checks To-Path and From-Path
//! (§7.3), answers requests as their Failure-Report asks (§7.2, §7.1.4),
//! reassembles chunks, owes success REPORTs (§7.1.3), and matches the
//! responses and REPORTs that come back to the SENDs it sent.
//!
//! Who decides a received message's REPORT: by default the session, which
//! sends the success REPORT as soon as the whole message is in. With
//! [`SessionConfig::application_reports`] the application does, later
//! ([`Session::report_success`](crate::session::Session::report_success),
//! [`Session::report_failure`](crate::session::Session::report_failure)): a
//! gateway's REPORT says the recipient on the other network got the
//! message (RFC 7573 §7), and §7.1.4 lets "a gateway that waits for a
//! downstream network" report a failure after its 200.
//!
//! What it does not do: timers (§7.1.1's 30-second Failure-Report timer is
//! the driver's, which knows the clock), binding a session to one
//! connection (§5.4's 506 is the connection table's), or incremental
//! success reports (§7.1.3 lets the receiver wait for the whole message).

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

use crate::chunk::{self, Message, OutgoingMessage, Reassembled, Reassembler, ReassemblyLimits};
use crate::error::{AnswerError, Error, ReportError, RequestError, SendError};
use crate::status::StatusCode;
use crate::wire::{
    ByteRange, DecodeError, FailureReport, Frame, MessageId, Method, Status, SuccessReport,
    TransactionId,
};

mod answers;
mod awaiting;
mod decide;
mod nickname;

pub use answers::MessageAnswers;
pub use chunk::TransactionIds;
pub use decide::{Paths, ReportSubject, check_request, report, response, response_owed};
pub use nickname::NicknameRequests;

use answers::{AwaitingAnswers, Unanswered};
use awaiting::{Awaiting, AwaitingReports};
use nickname::Nicknames;

/// How a session behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our URI and the peer's path.
    pub paths: Paths,
    /// Media types accepted in SEND bodies (SDP `a=accept-types`); `*` and
    /// `type/*` are wildcards; empty accepts everything.
    pub accept_types: Vec<String>,
    /// Reassembly bounds.
    pub limits: ReassemblyLimits,
    /// Largest chunk body we send (§7.1.1: chunks over 2048 bytes are
    /// written interruptible).
    pub max_chunk: usize,
    /// SENDs awaiting a response, and sent messages awaiting a REPORT, kept
    /// at most; the oldest is forgotten first.
    pub max_pending: usize,
    /// Whether the application decides the REPORTs on received messages
    /// ([`Session::report_success`], [`Session::report_failure`]) instead
    /// of the session sending a success REPORT on arrival.
    pub application_reports: bool,
    /// With `application_reports`: received messages awaiting the
    /// application's report, kept at most; the oldest is forgotten first
    /// ([`Event::ReportForgotten`] if it was owed a success REPORT).
    pub max_awaiting_reports: usize,
    /// RFC 7701 §7.1: whether received NICKNAMEs go to the application (this
    /// side is the chat room) or are answered 501. NICKNAMEs in flight either
    /// way are bounded by `max_pending`.
    pub nickname_requests: NicknameRequests,
    /// Who answers the SEND that completes a received message: the session
    /// on arrival, or the application after reading it (RFC 7701 §6: an
    /// MSRP switch refuses a SEND for its CPIM wrapper with a response).
    /// Messages awaiting an answer are bounded by `max_pending`.
    pub message_answers: MessageAnswers,
}

/// A message to send in this session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// A fresh Message-ID (§7.1.1), chosen by the caller.
    pub message_id: MessageId,
    /// The body's media type.
    pub content_type: String,
    /// The body.
    pub body: Bytes,
    /// Whether to ask for a success REPORT (RFC 7573 §7: XEP-0184 `<request/>`).
    pub success_report: SuccessReport,
    /// Which failures to hear of (RFC 7573 §7: a gateway SHOULD say `no`).
    pub failure_report: FailureReport,
}

/// What the session tells the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A whole message arrived.
    Message(Delivered),
    /// The peer aborted a message (`#`, §7.1); nothing is delivered.
    Aborted(Option<MessageId>),
    /// A REPORT on a message we sent (§7.3.2: "interpret the report in
    /// exactly the same way it would interpret an MSRP transaction response").
    Report {
        /// The message reported on.
        message_id: MessageId,
        /// Its Status.
        status: Status,
        /// The bytes reported on, if said.
        byte_range: Option<ByteRange>,
    },
    /// The response to one of our SENDs.
    Response {
        /// The message the SEND carried.
        message_id: MessageId,
        /// The status; §10.8: on 481 "The sender should terminate the session.".
        status: StatusCode,
    },
    /// A request was refused (with a response if its Failure-Report allows).
    Refused(Error),
    /// With [`SessionConfig::application_reports`]: a received message
    /// owed a success REPORT (§7.1.3: the endpoint "MUST send a success
    /// report") was forgotten to stay within
    /// [`SessionConfig::max_awaiting_reports`]; reporting on it now is
    /// [`ReportError::UnknownMessage`].
    ReportForgotten(MessageId),
    /// RFC 7701 §7.1: the response to a NICKNAME we sent
    /// ([`Session::send_nickname`]): 200 reserves the nickname; 424
    /// (malformed), 425 (reserved or in use) or 403 (not allowed) do not,
    /// and §7.2 keeps the current one; 408 when none came in time.
    NicknameResponse {
        /// The NICKNAME's transaction id, as `send_nickname` returned it.
        transaction_id: TransactionId,
        /// The status.
        status: StatusCode,
    },
    /// With [`NicknameRequests::Application`]: the peer asks for a nickname
    /// (RFC 7701 §7.1; empty: §7.3, remove it). Answer with
    /// [`Session::answer_nickname`].
    NicknameRequest {
        /// The request's transaction id, for the answer.
        transaction_id: TransactionId,
        /// The Use-Nickname, unquoted.
        nickname: String,
    },
}

/// A received message and what its sender asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The message.
    pub message: Message,
    /// Whether a success REPORT was requested: queued already, or with
    /// [`SessionConfig::application_reports`] awaiting
    /// [`Session::report_success`].
    pub success_report: SuccessReport,
    /// Whether the sender wants failure REPORTs (see [`Session::report_failure`]).
    pub failure_report: FailureReport,
    /// What a REPORT on it is addressed with, when it had a Message-ID.
    pub subject: Option<ReportSubject>,
    /// With [`MessageAnswers::Application`]: the transaction id of the SEND
    /// that completed the message, whose response
    /// [`Session::answer_message`] gives. `None`: answered 200 already.
    pub answer: Option<TransactionId>,
}

/// One MSRP session.
#[derive(Debug)]
pub struct Session<I> {
    config: SessionConfig,
    ids: I,
    reassembler: Reassembler,
    transmit: VecDeque<Frame>,
    events: VecDeque<Event>,
    /// Our SENDs awaiting a response: transaction id -> Message-ID.
    pending: HashMap<TransactionId, MessageId>,
    pending_order: VecDeque<TransactionId>,
    /// Messages we sent that a REPORT may name (§7.3.2).
    sent: VecDeque<MessageId>,
    /// Received messages whose REPORT the application decides.
    awaiting: AwaitingReports,
    /// NICKNAMEs in flight (RFC 7701 §7.1).
    nicknames: Nicknames,
    /// Completed messages whose response the application gives.
    answers: AwaitingAnswers,
}

impl<I: TransactionIds> Session<I> {
    /// A session; `ids` gives the transaction ids of the requests it writes.
    pub fn new(config: SessionConfig, ids: I) -> Session<I> {
        Session {
            reassembler: Reassembler::new(config.limits),
            awaiting: AwaitingReports::new(config.max_awaiting_reports),
            nicknames: Nicknames::new(config.max_pending),
            answers: AwaitingAnswers::new(config.max_pending),
            config,
            ids,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            pending: HashMap::new(),
            pending_order: VecDeque::new(),
            sent: VecDeque::new(),
        }
    }

    /// The session's configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// A frame decoded from the session's connection.
    pub fn handle_frame(&mut self, frame: Frame) {
        match frame.method() {
            None => self.handle_response(&frame),
            Some(_) => self.handle_request(frame),
        }
    }

    /// A frame the decoder refused. A request is answered when enough of it
    /// was salvaged and its Failure-Report allows: 481 if its To-Path names
    /// another session (§7.3: the receiver "MUST first check the URI in the
    /// To-Path"), otherwise the status of the error (400, or 413 for an
    /// oversized chunk, whose message is then dropped).
    pub fn handle_decode_error(&mut self, error: &DecodeError) {
        if let Some(salvage) = &error.salvage
            && salvage.method().is_some()
            && !salvage.from_path().is_empty()
        {
            let to_path_ok = match salvage.to_path() {
                [] => true,
                [only] => only.equivalent(&self.config.paths.local),
                _ => false,
            };
            let status = if to_path_ok {
                StatusCode::from(&error.error)
            } else {
                StatusCode::NO_SESSION
            };
            if to_path_ok && let Some(id) = salvage.message_id() {
                self.reassembler.discard(id);
            }
            self.respond(salvage, status);
        }
        self.events.push_back(Event::Refused(error.error.clone()));
    }

    /// Queues the SENDs carrying a message, chunked at `max_chunk`.
    pub fn send_message(&mut self, message: NewMessage) -> Result<(), SendError> {
        let outgoing = OutgoingMessage {
            message_id: message.message_id.clone(),
            to_path: self.config.paths.remote.clone(),
            from_path: vec![self.config.paths.local.clone()],
            content_type: message.content_type,
            body: message.body,
            success_report: message.success_report,
            failure_report: message.failure_report,
        };
        let frames = chunk::split(&outgoing, self.config.max_chunk, &mut self.ids)?;
        for frame in frames {
            // §7.1.4: with "no" no response comes back, so none is awaited.
            if message.failure_report != FailureReport::No {
                self.await_response(frame.transaction_id.clone(), message.message_id.clone());
            }
            self.transmit.push_back(frame);
        }
        if self.sent.len() >= self.config.max_pending {
            self.sent.pop_front();
        }
        self.sent.push_back(message.message_id);
        Ok(())
    }

    /// Queues a bodiless SEND: §5.4, "the active endpoint MUST immediately
    /// issue a SEND request. This initial SEND request ... MAY have no body".
    pub fn send_bodiless(&mut self, message_id: MessageId) {
        let mut frame = Frame::request(
            self.ids.next_transaction_id(),
            Method::Send,
            self.config.paths.remote.clone(),
            vec![self.config.paths.local.clone()],
        );
        frame
            .headers
            .push(crate::wire::Header::MessageId(message_id.clone()));
        frame
            .headers
            .push(crate::wire::Header::ByteRange(ByteRange::whole(0)));
        self.await_response(frame.transaction_id.clone(), message_id);
        self.transmit.push_back(frame);
    }

    /// With [`SessionConfig::application_reports`]: the recipient got the
    /// message `message_id` names. §7.1.3: with Success-Report `yes` the
    /// endpoint "MUST send a success report or reports covering all bytes
    /// that are received successfully"; it "MAY wait until it receives the
    /// last chunk of a message, and send a success report that covers the
    /// complete message" (Byte-Range `1-N/N`, Status `000 200`). With `no`
    /// it "MUST NOT send a success report". Returns whether a REPORT was
    /// queued; either way the message is forgotten.
    pub fn report_success(&mut self, message_id: &MessageId) -> Result<bool, ReportError> {
        let awaiting = self
            .awaiting
            .take(message_id)
            .ok_or(ReportError::UnknownMessage)?;
        if awaiting.success_report != SuccessReport::Yes {
            return Ok(false);
        }
        self.queue_report(&awaiting.subject, StatusCode::OK);
        Ok(true)
    }

    /// With [`SessionConfig::application_reports`]: delivering the message
    /// `message_id` names failed after its 200 was sent (§7.1.4: "such as
    /// when the endpoint is a gateway that waits for a downstream network
    /// to indicate an error"). Queues a failure REPORT with `status`, over
    /// the whole message (§7.1.4: "it MUST include a Byte-Range header
    /// field indicating the actual range being reported on"), unless the
    /// sender said Failure-Report `no` (§7.1.4: "it MUST NOT send a failure
    /// REPORT request"); `yes` and `partial` both let failures be reported
    /// (§5.3 on `partial`: it "still allows error responses to be sent in
    /// many cases"). Returns whether a REPORT was queued; either way the message
    /// is forgotten. A success `status` is refused and the message kept.
    pub fn report_failure(
        &mut self,
        message_id: &MessageId,
        status: StatusCode,
    ) -> Result<bool, ReportError> {
        self.report_failure_carrying(message_id, status, None)
    }

    /// [`Session::report_failure`] with a body: RFC 4975 §7.1.2, "REPORT
    /// requests MAY include a body containing additional information about
    /// the status of the associated SEND request"; RFC 7701 §6.2, "Any
    /// potential REPORT request that the MSRP switch sends to the sender
    /// MUST include a Message/CPIM wrapper containing the original From
    /// header field included in the SEND request and the To header field
    /// of the original Message/CPIM wrapper".
    pub fn report_failure_with_body(
        &mut self,
        message_id: &MessageId,
        status: StatusCode,
        content_type: &str,
        body: Bytes,
    ) -> Result<bool, ReportError> {
        self.report_failure_carrying(message_id, status, Some((content_type, body)))
    }

    fn report_failure_carrying(
        &mut self,
        message_id: &MessageId,
        status: StatusCode,
        body: Option<(&str, Bytes)>,
    ) -> Result<bool, ReportError> {
        if status.is_success() {
            return Err(ReportError::NotAFailure(status));
        }
        let awaiting = self
            .awaiting
            .take(message_id)
            .ok_or(ReportError::UnknownMessage)?;
        if awaiting.failure_report == FailureReport::No {
            return Ok(false);
        }
        let tid = self.ids.next_transaction_id();
        let mut frame = report(tid, &awaiting.subject, status, &self.config.paths.local);
        if let Some((content_type, body)) = body {
            frame
                .headers
                .push(crate::wire::Header::ContentType(content_type.to_owned()));
            frame.body = Some(body);
        }
        self.transmit.push_back(frame);
        Ok(true)
    }

    /// RFC 7701 §7.1: queues a NICKNAME asking for `nickname` (empty: §7.3,
    /// remove the current one). Its response arrives as
    /// [`Event::NicknameResponse`] with the transaction id returned here.
    pub fn send_nickname(&mut self, nickname: &str) -> Result<TransactionId, SendError> {
        let tid = self.ids.next_transaction_id();
        let frame = self.nicknames.request(
            tid.clone(),
            self.config.paths.remote.clone(),
            vec![self.config.paths.local.clone()],
            nickname,
        )?;
        self.transmit.push_back(frame);
        Ok(tid)
    }

    /// With [`NicknameRequests::Application`]: answers the received NICKNAME
    /// `transaction_id` names with `status`: 200 to accept, and RFC 7701
    /// §7.1's refusals, 425 ("reserved word" or "already in use"), 424
    /// (malformed) or 403 (nicknames not allowed).
    pub fn answer_nickname(
        &mut self,
        transaction_id: &TransactionId,
        status: StatusCode,
    ) -> Result<(), AnswerError> {
        let request = self
            .nicknames
            .take_received(transaction_id)
            .ok_or(AnswerError::UnknownNicknameRequest)?;
        self.respond(&request, status);
        Ok(())
    }

    /// With [`MessageAnswers::Application`]: answers the SEND that
    /// completed a received message ([`Delivered::answer`]) with `status`.
    /// A refusal forgets the message: no REPORT is owed on a SEND refused
    /// by its response (RFC 4975 §7.1.4: the failure was reported). A
    /// closed or unknown transaction is [`AnswerError::UnknownMessage`].
    pub fn answer_message(
        &mut self,
        transaction_id: &TransactionId,
        status: StatusCode,
    ) -> Result<(), AnswerError> {
        let unanswered = self
            .answers
            .take(transaction_id)
            .ok_or(AnswerError::UnknownMessage)?;
        self.respond(&unanswered.frame, status);
        if status.is_success() {
            if let Some(subject) = &unanswered.owed_report {
                self.queue_report(subject, StatusCode::OK);
            }
        } else if let Some(message_id) = &unanswered.message_id {
            self.awaiting.take(message_id);
        }
        Ok(())
    }

    /// How many received messages await the application's answer.
    pub fn awaiting_message_answers(&self) -> usize {
        self.answers.len()
    }

    /// No response came in time to our NICKNAME `transaction_id` (the
    /// driver's timer, RFC 4975 §7.1.1's 30 seconds): [`Event::NicknameResponse`]
    /// with 408, which §10.4 says is treated as a local timeout.
    pub fn handle_nickname_timeout(&mut self, transaction_id: &TransactionId) {
        if self.nicknames.take_sent(transaction_id) {
            self.events.push_back(Event::NicknameResponse {
                transaction_id: transaction_id.clone(),
                status: StatusCode::REQUEST_TIMEOUT,
            });
        }
    }

    /// How many received NICKNAMEs await the application's answer.
    pub fn awaiting_nickname_answers(&self) -> usize {
        self.nicknames.awaiting()
    }

    /// How many received messages await the application's report.
    pub fn awaiting_reports(&self) -> usize {
        self.awaiting.len()
    }

    /// The next frame to write to the connection.
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        self.transmit.pop_front()
    }

    /// The next event for the gateway.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn handle_response(&mut self, frame: &Frame) {
        let Some(status) = frame.status_code() else {
            return;
        };
        if self.nicknames.take_sent(&frame.transaction_id) {
            self.events.push_back(Event::NicknameResponse {
                transaction_id: frame.transaction_id.clone(),
                status,
            });
            return;
        }
        // A response to no SEND of ours (or one forgotten) is ignored.
        let Some(message_id) = self.pending.remove(&frame.transaction_id) else {
            return;
        };
        self.pending_order.retain(|t| *t != frame.transaction_id);
        if status == StatusCode::STOP_SENDING {
            self.stop_sending(&message_id);
        }
        self.events
            .push_back(Event::Response { message_id, status });
    }

    fn handle_request(&mut self, frame: Frame) {
        if let Err(error) = check_request(&self.config.paths, &frame) {
            self.refuse(&frame, error.into());
            return;
        }
        match frame.method() {
            Some(Method::Report) => self.handle_report(&frame),
            Some(Method::Send) => self.handle_send(frame),
            Some(Method::Nickname) => self.handle_nickname(frame),
            // check_request refused other methods.
            _ => self.refuse(&frame, RequestError::UnknownMethod.into()),
        }
    }

    fn handle_report(&mut self, frame: &Frame) {
        let (Some(message_id), Some(status)) = (frame.message_id(), frame.status()) else {
            return;
        };
        // §7.1.2: "If an MSRP element receives a REPORT for a Message-ID it
        // does not recognize, it SHOULD silently ignore the REPORT."
        if !self.sent.contains(message_id) {
            return;
        }
        // §10.5: after a 413 "in a REPORT request, it MUST NOT send any
        // further chunks in the message".
        if status.code == StatusCode::STOP_SENDING {
            self.stop_sending(message_id);
        }
        self.events.push_back(Event::Report {
            message_id: message_id.clone(),
            status: status.clone(),
            byte_range: frame.byte_range(),
        });
    }

    fn handle_send(&mut self, frame: Frame) {
        if frame.body.is_some()
            && !accepts(
                &self.config.accept_types,
                frame.content_type().unwrap_or(""),
            )
        {
            self.refuse(&frame, RequestError::UnsupportedMediaType.into());
            return;
        }
        let message = match self.reassembler.handle_chunk(&frame) {
            Ok(Reassembled::Complete(message)) => message,
            Ok(Reassembled::Incomplete | Reassembled::NoContent) => {
                self.respond(&frame, StatusCode::OK);
                return;
            }
            Ok(Reassembled::Aborted(id)) => {
                self.respond(&frame, StatusCode::OK);
                self.events.push_back(Event::Aborted(id));
                return;
            }
            Err(error) => {
                self.refuse(&frame, error.into());
                return;
            }
        };
        let subject = message.message_id.clone().map(|message_id| ReportSubject {
            message_id,
            from_path: frame.from_path().to_vec(),
            byte_range: ByteRange::whole(message.body.len() as u64),
        });
        let success_report = frame.success_report();
        let failure_report = frame.failure_report();
        // The success REPORT the session owes, sent now or with the
        // application's 200.
        let owed_report = subject
            .clone()
            .filter(|_| !self.config.application_reports && success_report == SuccessReport::Yes);
        let answer = match self.config.message_answers {
            MessageAnswers::Session => {
                self.respond(&frame, StatusCode::OK);
                if let Some(subject) = &owed_report {
                    // §7.1.3: with Success-Report "yes" the endpoint "MUST
                    // send a success report or reports covering all bytes
                    // that are received successfully".
                    self.queue_report(subject, StatusCode::OK);
                }
                None
            }
            MessageAnswers::Application => {
                let tid = frame.transaction_id.clone();
                let unanswered = Unanswered {
                    frame,
                    message_id: message.message_id.clone(),
                    owed_report,
                };
                if let Err(refused) = self.answers.admit(unanswered) {
                    self.refuse(
                        &refused.frame,
                        RequestError::TooManyUnansweredMessages.into(),
                    );
                    return;
                }
                Some(tid)
            }
        };
        if let Some(subject) = &subject
            && self.config.application_reports
        {
            let forgotten = self.awaiting.insert(Awaiting {
                subject: subject.clone(),
                success_report,
                failure_report,
            });
            if let Some(forgotten) = forgotten {
                self.events.push_back(Event::ReportForgotten(forgotten));
            }
        }
        self.events.push_back(Event::Message(Delivered {
            message,
            success_report,
            failure_report,
            subject,
            answer,
        }));
    }

    /// RFC 7701 §7.1: a NICKNAME, for the application when this side is the
    /// chat room, else RFC 4975 §12's 501.
    fn handle_nickname(&mut self, frame: Frame) {
        if self.config.nickname_requests == NicknameRequests::Unsupported {
            self.refuse(&frame, RequestError::UnknownMethod.into());
            return;
        }
        let transaction_id = frame.transaction_id.clone();
        match self.nicknames.admit(frame.clone()) {
            Ok(nickname) => self.events.push_back(Event::NicknameRequest {
                transaction_id,
                nickname,
            }),
            Err(error) => self.refuse(&frame, error.into()),
        }
    }

    fn queue_report(&mut self, subject: &ReportSubject, status: StatusCode) {
        let tid = self.ids.next_transaction_id();
        self.transmit
            .push_back(report(tid, subject, status, &self.config.paths.local));
    }

    fn refuse(&mut self, frame: &Frame, error: Error) {
        self.respond(frame, StatusCode::from(&error));
        self.events.push_back(Event::Refused(error));
    }

    fn respond(&mut self, request: &Frame, status: StatusCode) {
        let Some(method) = request.method() else {
            return;
        };
        if response_owed(method, request.failure_report(), status) {
            self.transmit
                .push_back(response(request, status, &self.config.paths.local));
        }
    }

    fn await_response(&mut self, tid: TransactionId, message_id: MessageId) {
        if self.pending_order.len() >= self.config.max_pending
            && let Some(oldest) = self.pending_order.pop_front()
        {
            self.pending.remove(&oldest);
        }
        self.pending_order.push_back(tid.clone());
        self.pending.insert(tid, message_id);
    }

    /// §10.5: "any further chunks with the same Message-ID value" are not
    /// sent; those still queued are dropped.
    fn stop_sending(&mut self, message_id: &MessageId) {
        self.transmit
            .retain(|f| f.method() != Some(&Method::Send) || f.message_id() != Some(message_id));
    }
}

/// Whether `content_type` (parameters ignored) is among `accept`.
fn accepts(accept: &[String], content_type: &str) -> bool {
    if accept.is_empty() {
        return true;
    }
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let major = media.split('/').next().unwrap_or_default();
    accept.iter().any(|a| {
        let a = a.trim().to_ascii_lowercase();
        a == "*" || a == media || a.strip_suffix("/*").is_some_and(|m| m == major)
    })
}

#[cfg(test)]
mod tests;

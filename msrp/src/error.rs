//! The crate's errors, and the one place that decides which MSRP status code
//! (RFC 4975 §10) a peer hears for each.
//!
//! Families: [`FramingError`] (the byte stream cannot be cut into frames, or
//! a frame is over a limit), [`ParseError`] (one frame's start line or
//! header fields are malformed), [`ReassemblyError`] (chunks of a message
//! do not fit together or exceed the limits), [`RequestError`] (a well-formed
//! request this session refuses), [`SendError`] (a message we cannot
//! send) and [`ReportError`] (a REPORT the application asked for that
//! cannot be sent). [`Error`] gathers them. Every error has `kind()` for metrics.

use crate::status::StatusCode;

/// Any error of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stream cannot be framed.
    #[error(transparent)]
    Framing(#[from] FramingError),
    /// A frame is malformed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Chunks do not reassemble.
    #[error(transparent)]
    Reassembly(#[from] ReassemblyError),
    /// A request is refused by the session.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// A message cannot be sent.
    #[error(transparent)]
    Send(#[from] SendError),
    /// A REPORT the application decided on cannot be sent.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// An answer the application gave to a request that awaits none.
    #[error(transparent)]
    Answer(#[from] AnswerError),
}

impl Error {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Framing(e) => e.kind(),
            Error::Parse(e) => e.kind(),
            Error::Reassembly(e) => e.kind(),
            Error::Request(e) => e.kind(),
            Error::Send(e) => e.kind(),
            Error::Report(e) => e.kind(),
            Error::Answer(e) => e.kind(),
        }
    }

    /// Whether the connection cannot go on: the stream has lost its framing.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Error::Framing(e) if e.is_fatal())
    }
}

/// Why bytes cannot be cut into frames (RFC 4975 §5.1, §9).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The first line is not `MSRP <transact-id> <method or status>`; with
    /// no transaction id the end-line cannot be found. Fatal.
    #[error("stream does not start with an MSRP start line")]
    BadStartLine,
    /// The start line and header fields exceed the limit before they end. Fatal.
    #[error("header section larger than {limit} bytes")]
    HeadTooLarge {
        /// The limit in force, in bytes.
        limit: usize,
    },
    /// A bodiless frame ends with an end-line for another transaction. Fatal.
    #[error("end-line does not carry the start line's transaction id")]
    EndLineMismatch,
    /// The body of one chunk exceeds the limit; the rest of the chunk up to
    /// its end-line is skipped and the stream goes on.
    #[error("chunk body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit in force, in bytes.
        limit: usize,
    },
    /// `parse` over a complete frame: the bytes end before the end-line.
    #[error("frame ends before its end-line")]
    Incomplete,
    /// `parse` over a complete frame: bytes follow the end-line.
    #[error("bytes after the end-line")]
    TrailingBytes,
}

impl FramingError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadStartLine => "bad_start_line",
            Self::HeadTooLarge { .. } => "head_too_large",
            Self::EndLineMismatch => "end_line_mismatch",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::Incomplete => "incomplete",
            Self::TrailingBytes => "trailing_bytes",
        }
    }

    /// Whether the stream has lost its framing and the connection must close.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Self::BodyTooLarge { .. })
    }
}

/// What is malformed in one frame whose boundaries are known (RFC 4975 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The header section is not UTF-8 (§9: "MSRP is a text protocol that
    /// uses the UTF-8 \[14\] transformation format").
    #[error("header section is not UTF-8")]
    NotUtf8,
    /// A header line is not `name: value`.
    #[error("malformed header line")]
    BadHeaderLine,
    /// A header field the RFC defines appears twice.
    #[error("header field {0} appears twice")]
    DuplicateHeader(&'static str),
    /// §9 `headers = To-Path CRLF From-Path CRLF ...`: To-Path is missing.
    #[error("no To-Path header field")]
    MissingToPath,
    /// §9: From-Path is missing.
    #[error("no From-Path header field")]
    MissingFromPath,
    /// A URI in To-Path or From-Path is not an MSRP URI (§9 `MSRP-URI`).
    #[error("malformed MSRP URI")]
    BadUri,
    /// Message-ID is not an `ident`.
    #[error("malformed Message-ID")]
    BadMessageId,
    /// Success-Report is not `yes` or `no`.
    #[error("malformed Success-Report")]
    BadSuccessReport,
    /// Failure-Report is not `yes`, `no` or `partial`.
    #[error("malformed Failure-Report")]
    BadFailureReport,
    /// Byte-Range is not `range-start "-" range-end "/" total`, or its
    /// numbers contradict each other.
    #[error("malformed Byte-Range")]
    BadByteRange,
    /// Status is not `namespace SP status-code [SP comment]`.
    #[error("malformed Status")]
    BadStatus,
    /// Content-Type is not `type "/" subtype *(";" gen-param)`.
    #[error("malformed Content-Type")]
    BadContentType,
    /// §7.1: "If the request has a body, it MUST contain a Content-Type header field."
    #[error("body without Content-Type")]
    MissingContentType,
    /// §9: `msrp-response = resp-start headers end-line` has no body.
    #[error("response with a body")]
    BodyInResponse,
    /// RFC 7701 §7.1: a Use-Nickname value that "does not conform to the
    /// syntax" (or is over 1023 octets).
    #[error("malformed Use-Nickname")]
    BadUseNickname,
}

impl ParseError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotUtf8 => "not_utf8",
            Self::BadHeaderLine => "bad_header_line",
            Self::DuplicateHeader(_) => "duplicate_header",
            Self::MissingToPath => "missing_to_path",
            Self::MissingFromPath => "missing_from_path",
            Self::BadUri => "bad_uri",
            Self::BadMessageId => "bad_message_id",
            Self::BadSuccessReport => "bad_success_report",
            Self::BadFailureReport => "bad_failure_report",
            Self::BadByteRange => "bad_byte_range",
            Self::BadStatus => "bad_status",
            Self::BadContentType => "bad_content_type",
            Self::MissingContentType => "missing_content_type",
            Self::BodyInResponse => "body_in_response",
            Self::BadUseNickname => "bad_use_nickname",
        }
    }
}

/// Why a chunk does not fit into the message being reassembled (§7.3.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReassemblyError {
    /// The message (its Byte-Range total, or the bytes a chunk reaches)
    /// exceeds the configured maximum (RFC 7573 §8).
    #[error("message larger than {limit} bytes")]
    MessageTooLarge {
        /// The limit in force, in bytes.
        limit: u64,
    },
    /// The session already holds the maximum of incomplete messages.
    #[error("more than {limit} incomplete messages")]
    TooManyIncomplete {
        /// The limit in force.
        limit: usize,
    },
    /// A chunk's Byte-Range contradicts its body or the message's total.
    #[error("Byte-Range does not match the chunk")]
    InconsistentRange,
    /// A chunk of a message needs a Message-ID (§7.1.1: "Each chunk of a
    /// message MUST contain a Message-ID header field").
    #[error("SEND without Message-ID")]
    MissingMessageId,
}

impl ReassemblyError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MessageTooLarge { .. } => "message_too_large",
            Self::TooManyIncomplete { .. } => "too_many_incomplete",
            Self::InconsistentRange => "inconsistent_range",
            Self::MissingMessageId => "missing_message_id",
        }
    }
}

/// Why a session refuses a well-formed request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// §7.3: the To-Path is not exactly one URI naming this session.
    #[error("To-Path does not name this session")]
    ToPathMismatch,
    /// The From-Path does not end with the peer's URI from its SDP path.
    #[error("From-Path does not end with the peer's URI")]
    FromPathMismatch,
    /// §12: "If an MSRP device receives a request with an unknown method,
    /// it MUST return a 501 response."
    #[error("unknown method")]
    UnknownMethod,
    /// §7.3.1: a Content-Type this session does not accept.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// RFC 7701 §7.1: "The NICKNAME request MUST include a new Use-Nickname
    /// header".
    #[error("NICKNAME without Use-Nickname")]
    MissingUseNickname,
    /// More received NICKNAMEs await the application's answer than the
    /// session holds (a NICKNAME flood).
    #[error("too many NICKNAME requests awaiting an answer")]
    TooManyNicknameRequests,
    /// More received messages await the application's answer than the
    /// session holds (`MessageAnswers::Application`, the application is
    /// not keeping up).
    #[error("too many received messages awaiting an answer")]
    TooManyUnansweredMessages,
}

impl RequestError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ToPathMismatch => "to_path_mismatch",
            Self::FromPathMismatch => "from_path_mismatch",
            Self::UnknownMethod => "unknown_method",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::MissingUseNickname => "missing_use_nickname",
            Self::TooManyNicknameRequests => "too_many_nickname_requests",
            Self::TooManyUnansweredMessages => "too_many_unanswered_messages",
        }
    }
}

/// Why a message cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Every transaction id drawn appears as an end-line in the chunk's
    /// body (§7.1: the sender "MUST choose a new transaction identifier
    /// that is not present in the body").
    #[error("no transaction id absent from the body")]
    EndLineInBody,
    /// The chunk size is zero.
    #[error("chunk size must be at least one byte")]
    ZeroChunkSize,
    /// RFC 7701 §7.1: a nickname over 1023 octets, or with a character a
    /// quoted-string cannot carry.
    #[error("nickname cannot be sent in Use-Nickname")]
    BadNickname,
}

impl SendError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::EndLineInBody => "end_line_in_body",
            Self::ZeroChunkSize => "zero_chunk_size",
            Self::BadNickname => "bad_nickname",
        }
    }
}

/// Why a REPORT on a received message, decided by the application, cannot
/// be sent (RFC 4975 §7.1.3, §7.1.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// No received message with this Message-ID awaits a report: none
    /// arrived, it was reported on already, it was forgotten past the
    /// session's limit, or the session reports by itself.
    #[error("no received message with this Message-ID awaits a report")]
    UnknownMessage,
    /// A failure REPORT with a success status; §7.1.4: "the Status header
    /// field code field MUST contain the appropriate error code".
    #[error("status {0} is not a failure")]
    NotAFailure(StatusCode),
}

impl ReportError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownMessage => "report_unknown_message",
            Self::NotAFailure(_) => "report_not_a_failure",
        }
    }
}

/// An answer the application gave that no request awaits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// No received NICKNAME with this transaction id awaits an answer: never
    /// received, answered already, or the session does not take NICKNAMEs.
    #[error("no NICKNAME with this transaction id awaits an answer")]
    UnknownNicknameRequest,
    /// No received message with this transaction id awaits an answer: never
    /// received, answered already, or the session answers its messages.
    #[error("no received message with this transaction id awaits an answer")]
    UnknownMessage,
}

impl AnswerError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownNicknameRequest => "answer_unknown_nickname_request",
            Self::UnknownMessage => "answer_unknown_message",
        }
    }
}

// What the peer hears: RFC 4975 §10, in one place.

/// The status a peer hears for a framing error.
impl From<&FramingError> for StatusCode {
    fn from(error: &FramingError) -> StatusCode {
        match error {
            // §10.5: 413 asks the sender "to stop sending the particular
            // message"; a chunk too big to hold is such a message.
            FramingError::BodyTooLarge { .. } => StatusCode::STOP_SENDING,
            // §10.2: "a request was unintelligible".
            FramingError::BadStartLine
            | FramingError::HeadTooLarge { .. }
            | FramingError::EndLineMismatch
            | FramingError::Incomplete
            | FramingError::TrailingBytes => StatusCode::BAD_REQUEST,
        }
    }
}

/// The status a peer hears for a malformed frame: §10.2, 400; a malformed
/// Use-Nickname, RFC 7701 §7.1: "the MSRP switch MUST answer the NICKNAME
/// request with a 424 response code".
impl From<&ParseError> for StatusCode {
    fn from(error: &ParseError) -> StatusCode {
        match error {
            ParseError::BadUseNickname => StatusCode::MALFORMED_NICKNAME,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// The status a peer hears for a chunk that does not reassemble.
impl From<&ReassemblyError> for StatusCode {
    fn from(error: &ReassemblyError) -> StatusCode {
        match error {
            // RFC 7573 §8: a message over the configured limit "MUST return
            // an MSRP 413 error"; too many messages at once is the same wish
            // to stop this one (§10.5).
            ReassemblyError::MessageTooLarge { .. } | ReassemblyError::TooManyIncomplete { .. } => {
                StatusCode::STOP_SENDING
            }
            ReassemblyError::InconsistentRange | ReassemblyError::MissingMessageId => {
                StatusCode::BAD_REQUEST
            }
        }
    }
}

/// The status a peer hears for a refused request.
impl From<&RequestError> for StatusCode {
    fn from(error: &RequestError) -> StatusCode {
        match error {
            // §7.3: "the receiver MUST generate a 481 error".
            RequestError::ToPathMismatch | RequestError::FromPathMismatch => StatusCode::NO_SESSION,
            // §12: "it MUST return a 501 response".
            RequestError::UnknownMethod => StatusCode::UNKNOWN_METHOD,
            // §7.3.1: "the receiver MUST generate a response with a status code of 415".
            RequestError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            // §10.2: "a request was unintelligible".
            RequestError::MissingUseNickname => StatusCode::BAD_REQUEST,
            // §10.3: "the attempted action is not allowed"; RFC 4975 has no
            // "busy", and RFC 7701 §7.1 answers a NICKNAME the room will not
            // take with 403.
            RequestError::TooManyNicknameRequests => StatusCode::FORBIDDEN,
            // The same: the switch will not take more now.
            RequestError::TooManyUnansweredMessages => StatusCode::FORBIDDEN,
        }
    }
}

/// The status a peer hears for any error met while receiving.
impl From<&Error> for StatusCode {
    fn from(error: &Error) -> StatusCode {
        match error {
            Error::Framing(e) => e.into(),
            Error::Parse(e) => e.into(),
            Error::Reassembly(e) => e.into(),
            Error::Request(e) => e.into(),
            // Our own sending or reporting problem; never sent to a peer,
            // but total.
            Error::Send(_) | Error::Report(_) | Error::Answer(_) => StatusCode::BAD_REQUEST,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_framing_is_400_and_fatal_except_an_oversized_body() {
        for e in [
            FramingError::BadStartLine,
            FramingError::HeadTooLarge { limit: 1 },
            FramingError::EndLineMismatch,
        ] {
            assert_eq!(StatusCode::from(&e), StatusCode::BAD_REQUEST);
            assert!(e.is_fatal());
        }
        let body = FramingError::BodyTooLarge { limit: 1 };
        assert_eq!(StatusCode::from(&body), StatusCode::STOP_SENDING);
        assert!(!body.is_fatal());
    }

    #[test]
    fn message_over_the_limit_is_413() {
        let e = Error::from(ReassemblyError::MessageTooLarge { limit: 10 });
        assert_eq!(StatusCode::from(&e).0, 413);
        assert_eq!(e.kind(), "message_too_large");
    }

    #[test]
    fn path_mismatch_is_481_unknown_method_501_media_type_415() {
        assert_eq!(StatusCode::from(&RequestError::ToPathMismatch).0, 481);
        assert_eq!(StatusCode::from(&RequestError::FromPathMismatch).0, 481);
        assert_eq!(StatusCode::from(&RequestError::UnknownMethod).0, 501);
        assert_eq!(StatusCode::from(&RequestError::UnsupportedMediaType).0, 415);
    }

    #[test]
    fn malformed_frames_are_400() {
        assert_eq!(StatusCode::from(&ParseError::MissingToPath).0, 400);
        assert_eq!(StatusCode::from(&Error::from(ParseError::BadUri)).0, 400);
    }
}

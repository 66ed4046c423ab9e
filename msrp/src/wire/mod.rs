//! RFC 4975 §7, §9: MSRP frames on the wire.
//!
//! A frame is a request (SEND, REPORT or an extension method) or a response
//! (status code and comment), a transaction id, header fields, an optional
//! body and the end-line `-------<transact-id><flag>` whose flag says
//! whether the message continues (§7.1). [`Decoder`](crate::wire::Decoder) cuts frames out of a
//! byte stream that arrives in arbitrary pieces; [`parse`](crate::wire::parse) reads one
//! complete frame; [`Frame::write_to`](crate::wire::Frame::write_to) writes the exact bytes back.
//!
//! Files: `header.rs` (typed header fields), `head.rs` (the start line and
//! header section), `end_line.rs` (where a body ends), `decoder.rs` (the
//! incremental decoder), `write.rs`.

use bytes::Bytes;

use crate::error::{Error, FramingError};
use crate::status::StatusCode;
use crate::uri::Uri;

mod decoder;
mod end_line;
mod head;
mod header;
mod write;

pub use decoder::{DecodeError, Decoder, Limits, MAX_NON_SEND_BODY};
pub use header::{ByteRange, FailureReport, Header, MAX_NICKNAME_OCTETS, Status, SuccessReport};

/// One MSRP request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// §9 `transact-id`, the same in the start line and the end-line.
    pub transaction_id: TransactionId,
    /// Request method or response status.
    pub start: StartLine,
    /// Header fields in the order they appear.
    pub headers: Vec<Header>,
    /// The body; `None` for a bodiless frame, which §7.1 distinguishes from
    /// an empty body (`Some` of no bytes, with a Content-Type).
    pub body: Option<Bytes>,
    /// The end-line's continuation flag.
    pub continuation: Continuation,
}

/// What the start line says after the transaction id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `req-start = pMSRP SP transact-id SP method CRLF`
    Request(Method),
    /// `resp-start = pMSRP SP transact-id SP status-code [SP comment] CRLF`
    Response {
        /// The status code.
        status: StatusCode,
        /// The comment, if any.
        comment: Option<String>,
    },
}

/// §9: `method = mSEND / mREPORT / other-method`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// SEND: carries a message or a chunk of one.
    Send,
    /// REPORT: the delivery status of a message (§7.1.2).
    Report,
    /// RFC 7701 §7.1: `NICKNAMEm = %x4E.49.43.4B.4E.41.4D.45 ; NICKNAME in
    /// caps`, reserving a nickname in a chat room (Use-Nickname).
    Nickname,
    /// `other-method = 1*UPALPHA`, answered with 501 by this endpoint (§12).
    Other(String),
}

impl Method {
    /// The method name as written.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Send => "SEND",
            Method::Report => "REPORT",
            Method::Nickname => "NICKNAME",
            Method::Other(name) => name,
        }
    }

    fn parse(text: &str) -> Option<Method> {
        match text {
            "SEND" => Some(Method::Send),
            "REPORT" => Some(Method::Report),
            "NICKNAME" => Some(Method::Nickname),
            _ if !text.is_empty() && text.bytes().all(|b| b.is_ascii_uppercase()) => {
                Some(Method::Other(text.to_owned()))
            }
            _ => None,
        }
    }
}

/// §7.1: the end-line's flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Continuation {
    /// `$`: this chunk ends the message (always `$` on a response, §7.2).
    End,
    /// `+`: more chunks follow.
    More,
    /// `#`: the sender aborts the message and sends no more chunks.
    Abort,
}

impl Continuation {
    /// The flag byte.
    pub fn as_byte(self) -> u8 {
        match self {
            Continuation::End => b'$',
            Continuation::More => b'+',
            Continuation::Abort => b'#',
        }
    }

    fn from_byte(b: u8) -> Option<Continuation> {
        match b {
            b'$' => Some(Continuation::End),
            b'+' => Some(Continuation::More),
            b'#' => Some(Continuation::Abort),
            _ => None,
        }
    }
}

/// The longest `ident` accepted. §9 caps `ident` at 32 characters, but
/// RFC 7573's own examples (§4 Example 5) use 36-character UUID Message-IDs,
/// so receivers here accept up to 64.
pub const MAX_IDENT_LEN: usize = 64;

/// §9: `ident = ALPHANUM 3*31ident-char`, `ident-char = ALPHANUM / "." /
/// "-" / "+" / "%" / "="`, with the lengths relaxed to 1..=[`MAX_IDENT_LEN`]
/// (RFC 4976's examples use four-character ids).
fn is_ident(text: &str) -> bool {
    let bytes = text.as_bytes();
    matches!(bytes.first(), Some(b) if b.is_ascii_alphanumeric())
        && bytes.len() <= MAX_IDENT_LEN
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+' | b'%' | b'='))
}

/// §9 `transact-id = ident`: names a transaction and ends its frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(String);

impl TransactionId {
    /// A transaction id, if `text` is an `ident`. §7.1: it "MUST contain at
    /// least 64 bits of randomness", which is the caller's to provide.
    pub fn new(text: &str) -> Option<TransactionId> {
        is_ident(text).then(|| TransactionId(text.to_owned()))
    }

    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// §9 `Message-ID = "Message-ID:" SP ident`: names a whole message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    /// A Message-ID, if `text` is an `ident`.
    pub fn new(text: &str) -> Option<MessageId> {
        is_ident(text).then(|| MessageId(text.to_owned()))
    }

    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Frame {
    /// A request with the given method, paths and no other header fields.
    pub fn request(
        transaction_id: TransactionId,
        method: Method,
        to_path: Vec<Uri>,
        from_path: Vec<Uri>,
    ) -> Frame {
        Frame {
            transaction_id,
            start: StartLine::Request(method),
            headers: vec![Header::ToPath(to_path), Header::FromPath(from_path)],
            body: None,
            continuation: Continuation::End,
        }
    }

    /// The method, if this is a request.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request(method) => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code, if this is a response.
    pub fn status_code(&self) -> Option<StatusCode> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request(_) => None,
        }
    }

    /// To-Path URIs (empty if absent).
    pub fn to_path(&self) -> &[Uri] {
        self.headers
            .iter()
            .find_map(|h| match h {
                Header::ToPath(path) => Some(path.as_slice()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// From-Path URIs (empty if absent).
    pub fn from_path(&self) -> &[Uri] {
        self.headers
            .iter()
            .find_map(|h| match h {
                Header::FromPath(path) => Some(path.as_slice()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Message-ID.
    pub fn message_id(&self) -> Option<&MessageId> {
        self.headers.iter().find_map(|h| match h {
            Header::MessageId(id) => Some(id),
            _ => None,
        })
    }

    /// Byte-Range.
    pub fn byte_range(&self) -> Option<ByteRange> {
        self.headers.iter().find_map(|h| match h {
            Header::ByteRange(range) => Some(*range),
            _ => None,
        })
    }

    /// §7.1.1: "If no Success-Report header field is present in a SEND
    /// request, it MUST be treated the same as ... a value of 'no'."
    pub fn success_report(&self) -> SuccessReport {
        self.headers
            .iter()
            .find_map(|h| match h {
                Header::SuccessReport(v) => Some(*v),
                _ => None,
            })
            .unwrap_or(SuccessReport::No)
    }

    /// §7.1.1: "If no Failure-Report header field is present, it MUST be
    /// treated the same as a Failure-Report header field with a value of 'yes'."
    pub fn failure_report(&self) -> FailureReport {
        self.headers
            .iter()
            .find_map(|h| match h {
                Header::FailureReport(v) => Some(*v),
                _ => None,
            })
            .unwrap_or(FailureReport::Yes)
    }

    /// Status (REPORT requests).
    pub fn status(&self) -> Option<&Status> {
        self.headers.iter().find_map(|h| match h {
            Header::Status(status) => Some(status),
            _ => None,
        })
    }

    /// Content-Type, as written.
    pub fn content_type(&self) -> Option<&str> {
        self.headers.iter().find_map(|h| match h {
            Header::ContentType(ct) => Some(ct.as_str()),
            _ => None,
        })
    }

    /// RFC 7701 §7.1: the nickname a NICKNAME request's Use-Nickname asks
    /// for, unquoted (empty: §7.3, remove the nickname).
    pub fn use_nickname(&self) -> Option<&str> {
        self.headers.iter().find_map(|h| match h {
            Header::UseNickname(nick) => Some(nick.as_str()),
            _ => None,
        })
    }

    /// An extension header field's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|h| match h {
            Header::Other { name: n, value } if n.eq_ignore_ascii_case(name) => {
                Some(value.as_str())
            }
            _ => None,
        })
    }

    /// Whether `body` contains this frame's end-line, which §7.1 forbids:
    /// the sender "MUST choose a new transaction identifier that is not
    /// present in the body".
    pub fn end_line_in_body(&self) -> bool {
        let Some(body) = &self.body else {
            return false;
        };
        let mut needle = b"-------".to_vec();
        needle.extend_from_slice(self.transaction_id.as_str().as_bytes());
        body.windows(needle.len() + 1)
            .any(|w| w.starts_with(&needle) && Continuation::from_byte(w[needle.len()]).is_some())
    }
}

/// Parses one complete frame: `bytes` must hold exactly one frame.
///
/// No limits apply beyond the input's own length; a stream goes through
/// [`Decoder`] instead.
pub fn parse(bytes: &[u8]) -> Result<Frame, DecodeError> {
    let mut decoder = Decoder::new(Limits::unlimited());
    decoder.handle_bytes(bytes);
    match decoder.poll_frame()? {
        Some(frame) if decoder.buffered() == 0 => Ok(frame),
        Some(_) => Err(DecodeError::from(Error::Framing(
            FramingError::TrailingBytes,
        ))),
        None => Err(DecodeError::from(Error::Framing(FramingError::Incomplete))),
    }
}

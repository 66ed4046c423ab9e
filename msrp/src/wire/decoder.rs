//! RFC 4975 §5.1, §7.1, §9: cutting frames out of a byte stream.
//!
//! MSRP frames carry no length: a request's body ends where `CRLF
//! "-------" transact-id continuation-flag CRLF` appears (§7.1: "If a body is
//! present, the end-line MUST be preceded by a CRLF that is not part of the
//! body"), which is what lets a sender interrupt a chunk (§5.1). The header
//! section ends at an empty line (a body follows) or at the end-line itself
//! (§7.1: "A request without a body MUST contain an end-line after the
//! final header field").
//!
//! Bytes arrive in any pieces: [`Decoder::handle_bytes`] buffers them and
//! [`Decoder::poll_frame`] returns each complete frame. Where the pieces are
//! cut never changes the frames found. A malformed frame whose end is known
//! is refused with its salvaged header fields and the stream goes on; a
//! stream whose framing is lost (no start line, a header section over the
//! limit) fails for good.

use bytes::BytesMut;

use crate::error::{Error, FramingError, ParseError};
use crate::wire::end_line::{Search, find, find_end_line};
use crate::wire::head::{parse_headers, parse_start_line, validate};
use crate::wire::{Continuation, Frame, Method, StartLine, TransactionId};

/// §7.1: "Non-SEND request bodies MUST NOT be larger than 10240 octets."
pub const MAX_NON_SEND_BODY: usize = 10_240;

/// Sizes a [`Decoder`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Start line and header section, in bytes.
    pub max_head: usize,
    /// Body of one SEND chunk, in bytes; other methods are capped at
    /// [`MAX_NON_SEND_BODY`] as well.
    pub max_body: usize,
}

impl Limits {
    /// No limit but the non-SEND cap; for frames already held whole.
    pub fn unlimited() -> Limits {
        Limits {
            max_head: usize::MAX,
            max_body: usize::MAX,
        }
    }
}

impl Default for Limits {
    /// 8 KiB of header section (two To-Paths of several relays fit easily)
    /// and 64 KiB per chunk (§7.1.1 recommends 2048-octet chunks or
    /// interruptible ones; most clients send whole messages in one).
    fn default() -> Limits {
        Limits {
            max_head: 8 * 1024,
            max_body: 64 * 1024,
        }
    }
}

/// A frame that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct DecodeError {
    /// What went wrong.
    pub error: Error,
    /// The start line and the header fields that parsed, when the start line
    /// did: enough to address a response. The body is kept when the frame
    /// was read whole, never for an oversized chunk.
    pub salvage: Option<Box<Frame>>,
}

impl DecodeError {
    /// Whether the stream has lost its framing and the connection must close.
    pub fn is_fatal(&self) -> bool {
        self.error.is_fatal()
    }

    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        self.error.kind()
    }
}

impl From<Error> for DecodeError {
    fn from(error: Error) -> DecodeError {
        DecodeError {
            error,
            salvage: None,
        }
    }
}

/// The incremental frame decoder of one connection.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    buf: BytesMut,
    state: State,
    failed: Option<DecodeError>,
}

#[derive(Debug)]
enum State {
    /// Reading the start line and header fields.
    Head {
        /// Where the current, unfinished line starts.
        line_start: usize,
        /// Where to look for its CRLF next.
        scan: usize,
        /// The start line, once read.
        start: Option<(TransactionId, StartLine, usize)>,
    },
    /// Looking for the end-line after a body.
    Body {
        head: Box<Frame>,
        error: Option<ParseError>,
        body_start: usize,
        /// No end-line starts before this position.
        searched: usize,
        limit: usize,
    },
    /// Discarding the rest of an oversized chunk up to its end-line.
    Skip { needle: Vec<u8>, searched: usize },
}

const HEAD: State = State::Head {
    line_start: 0,
    scan: 0,
    start: None,
};

impl Decoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            buf: BytesMut::new(),
            state: HEAD,
            failed: None,
        }
    }

    /// Buffers bytes read from the connection.
    pub fn handle_bytes(&mut self, data: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(data);
        }
    }

    /// Bytes buffered and not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame: `Ok(None)` when more bytes are needed.
    ///
    /// An error with [`DecodeError::is_fatal`] repeats on every later call;
    /// any other error refuses one frame and the stream goes on.
    pub fn poll_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        if let Some(failed) = &self.failed {
            return Err(failed.clone());
        }
        let result = self.step();
        if let Err(error) = &result
            && error.is_fatal()
        {
            self.failed = Some(error.clone());
            self.buf = BytesMut::new();
        }
        result
    }

    fn step(&mut self) -> Result<Option<Frame>, DecodeError> {
        loop {
            match &mut self.state {
                State::Head { .. } => match self.read_head()? {
                    Progress::NeedMore => return Ok(None),
                    Progress::Frame(frame) => return Ok(Some(frame)),
                    Progress::Continue => {}
                },
                State::Body { .. } => match self.read_body()? {
                    Progress::NeedMore => return Ok(None),
                    Progress::Frame(frame) => return Ok(Some(frame)),
                    Progress::Continue => {}
                },
                State::Skip { needle, searched } => {
                    match find_end_line(&self.buf, needle, *searched) {
                        Search::Found { end, .. } => {
                            let _ = self.buf.split_to(end);
                            self.state = HEAD;
                        }
                        Search::NotYet { searched: safe } => {
                            // Bytes before `safe` are body: drop them so an
                            // endless chunk holds no memory.
                            let _ = self.buf.split_to(safe);
                            *searched = 0;
                            return Ok(None);
                        }
                    }
                }
            }
        }
    }

    fn read_head(&mut self) -> Result<Progress, DecodeError> {
        let State::Head {
            line_start,
            scan,
            start,
        } = &mut self.state
        else {
            return Ok(Progress::Continue);
        };
        let fatal = |e: FramingError, salvage: Option<Box<Frame>>| DecodeError {
            error: Error::Framing(e),
            salvage,
        };
        loop {
            // A stream that cannot begin with "MSRP " is refused at once.
            if start.is_none() {
                let n = self.buf.len().min(5);
                if self.buf[..n] != b"MSRP "[..n] {
                    return Err(fatal(FramingError::BadStartLine, None));
                }
            }
            let Some(cr) = find(&self.buf, b"\r\n", *scan) else {
                if self.buf.len() > self.limits.max_head {
                    let limit = self.limits.max_head;
                    return Err(fatal(FramingError::HeadTooLarge { limit }, None));
                }
                *scan = self.buf.len().saturating_sub(1).max(*line_start);
                return Ok(Progress::NeedMore);
            };
            let next = cr + 2;
            if next > self.limits.max_head {
                let limit = self.limits.max_head;
                return Err(fatal(FramingError::HeadTooLarge { limit }, None));
            }
            let line = &self.buf[*line_start..cr];
            let Some((tid, start_line, headers_start)) = start else {
                let (tid, start_line) =
                    parse_start_line(line).ok_or(fatal(FramingError::BadStartLine, None))?;
                *start = Some((tid, start_line, next));
                *line_start = next;
                *scan = next;
                continue;
            };
            if line.is_empty() || line.starts_with(b"-------") {
                let (headers, error) = parse_headers(&self.buf[*headers_start..*line_start]);
                let head = Box::new(Frame {
                    transaction_id: tid.clone(),
                    start: start_line.clone(),
                    headers,
                    body: None,
                    continuation: Continuation::End,
                });
                if line.is_empty() {
                    let limit = match head.method() {
                        Some(Method::Send) => self.limits.max_body,
                        _ => self.limits.max_body.min(MAX_NON_SEND_BODY),
                    };
                    // The empty line's CRLF may be the one before the
                    // end-line of an empty body written without data CRLF.
                    self.state = State::Body {
                        head,
                        error,
                        body_start: next,
                        searched: *line_start,
                        limit,
                    };
                    return Ok(Progress::Continue);
                }
                // A bodiless frame: this line is its end-line.
                let flag = match line.strip_prefix(b"-------") {
                    Some(rest) if rest.len() == tid.as_str().len() + 1 => rest
                        .starts_with(tid.as_str().as_bytes())
                        .then(|| Continuation::from_byte(rest[rest.len() - 1]))
                        .flatten(),
                    _ => None,
                };
                let Some(flag) = flag else {
                    return Err(fatal(FramingError::EndLineMismatch, Some(head)));
                };
                let _ = self.buf.split_to(next);
                self.state = HEAD;
                let mut frame = *head;
                frame.continuation = flag;
                return finish(frame, error).map(Progress::Frame);
            }
            *line_start = next;
            *scan = next;
        }
    }

    fn read_body(&mut self) -> Result<Progress, DecodeError> {
        let State::Body {
            head,
            error,
            body_start,
            searched,
            limit,
        } = &mut self.state
        else {
            return Ok(Progress::Continue);
        };
        let mut needle = b"\r\n-------".to_vec();
        needle.extend_from_slice(head.transaction_id.as_str().as_bytes());
        match find_end_line(&self.buf, &needle, *searched) {
            Search::Found { at, flag, end } => {
                let body_len = at.saturating_sub(*body_start);
                if body_len > *limit {
                    let error = FramingError::BodyTooLarge { limit: *limit };
                    let salvage = Some(head.clone());
                    let _ = self.buf.split_to(end);
                    self.state = HEAD;
                    return Err(DecodeError {
                        error: Error::Framing(error),
                        salvage,
                    });
                }
                let bytes = self.buf.split_to(end).freeze();
                let body = bytes.slice((*body_start).min(at)..at);
                let mut frame = std::mem::replace(head, Box::new(placeholder()));
                frame.body = Some(body);
                frame.continuation = flag;
                let error = error.take();
                self.state = HEAD;
                finish(*frame, error).map(Progress::Frame)
            }
            Search::NotYet { searched: safe } => {
                *searched = safe;
                if safe.saturating_sub(*body_start) > *limit {
                    let error = FramingError::BodyTooLarge { limit: *limit };
                    let salvage = Some(head.clone());
                    let _ = self.buf.split_to(safe);
                    self.state = State::Skip {
                        needle,
                        searched: 0,
                    };
                    return Err(DecodeError {
                        error: Error::Framing(error),
                        salvage,
                    });
                }
                Ok(Progress::NeedMore)
            }
        }
    }
}

enum Progress {
    NeedMore,
    Continue,
    Frame(Frame),
}

/// A frame is complete: refuse it if a field or the whole is malformed.
fn finish(frame: Frame, error: Option<ParseError>) -> Result<Frame, DecodeError> {
    match error.map_or_else(|| validate(&frame), Err) {
        Ok(()) => Ok(frame),
        Err(e) => Err(DecodeError {
            error: Error::Parse(e),
            salvage: Some(Box::new(frame)),
        }),
    }
}

fn placeholder() -> Frame {
    Frame {
        transaction_id: TransactionId(String::new()),
        start: StartLine::Request(Method::Send),
        headers: Vec::new(),
        body: None,
        continuation: Continuation::End,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEND: &[u8] = b"MSRP a786hjs2 SEND\r\n\
        To-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n\
        From-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n\
        Message-ID: 87652491\r\n\
        Byte-Range: 1-25/25\r\n\
        Content-Type: text/plain\r\n\
        \r\n\
        Hey Bob, are you there?\r\n\
        -------a786hjs2$\r\n";

    fn decode_all(decoder: &mut Decoder) -> Vec<Result<Frame, DecodeError>> {
        let mut out = Vec::new();
        loop {
            match decoder.poll_frame() {
                Ok(Some(frame)) => out.push(Ok(frame)),
                Ok(None) => return out,
                Err(e) => {
                    let fatal = e.is_fatal();
                    out.push(Err(e));
                    if fatal {
                        return out;
                    }
                }
            }
        }
    }

    #[test]
    fn frame_split_at_every_byte_needs_more_until_the_last() {
        for cut in 0..SEND.len() {
            let mut decoder = Decoder::new(Limits::default());
            decoder.handle_bytes(&SEND[..cut]);
            assert_eq!(decoder.poll_frame(), Ok(None), "cut at {cut}");
            decoder.handle_bytes(&SEND[cut..]);
            let frame = decoder.poll_frame().expect("valid").expect("complete");
            assert_eq!(frame.body.as_deref(), Some(&b"Hey Bob, are you there?"[..]));
            assert_eq!(decoder.buffered(), 0);
        }
    }

    #[test]
    fn end_line_of_another_transaction_inside_a_body_is_body() {
        let msg = b"MSRP abcd SEND\r\nTo-Path: msrp://a.example:1/s;tcp\r\n\
            From-Path: msrp://b.example:2/t;tcp\r\nContent-Type: text/plain\r\n\r\n\
            x\r\n-------abce$\r\n-------abcdX\r\n\r\n-------abcd+\r\n";
        let mut decoder = Decoder::new(Limits::default());
        decoder.handle_bytes(msg);
        let frame = decoder.poll_frame().expect("valid").expect("complete");
        assert_eq!(
            frame.body.as_deref(),
            Some(&b"x\r\n-------abce$\r\n-------abcdX\r\n"[..])
        );
        assert_eq!(frame.continuation, Continuation::More);
    }

    #[test]
    fn garbage_on_the_port_fails_at_once() {
        let mut decoder = Decoder::new(Limits::default());
        decoder.handle_bytes(b"GET / HTTP/1.1\r\n");
        let error = decoder.poll_frame().expect_err("not MSRP");
        assert!(error.is_fatal());
        assert_eq!(error.error, Error::Framing(FramingError::BadStartLine));
        assert_eq!(decoder.poll_frame(), Err(error), "stays failed");
    }

    #[test]
    fn endless_header_section_is_too_large() {
        let mut decoder = Decoder::new(Limits {
            max_head: 100,
            max_body: 100,
        });
        decoder.handle_bytes(b"MSRP abcd SEND\r\nX: ");
        decoder.handle_bytes(&[b'a'; 200]);
        let error = decoder.poll_frame().expect_err("too large");
        assert_eq!(
            error.error,
            Error::Framing(FramingError::HeadTooLarge { limit: 100 })
        );
    }

    #[test]
    fn oversized_chunk_is_refused_with_its_head_and_the_stream_goes_on() {
        let mut decoder = Decoder::new(Limits {
            max_head: 1024,
            max_body: 4,
        });
        decoder.handle_bytes(&SEND[..SEND.len() - 22]);
        let error = decoder.poll_frame().expect_err("body too large");
        assert!(!error.is_fatal());
        assert_eq!(
            error.error,
            Error::Framing(FramingError::BodyTooLarge { limit: 4 })
        );
        let salvage = error.salvage.expect("head salvaged");
        assert_eq!(salvage.transaction_id.as_str(), "a786hjs2");
        decoder.handle_bytes(&SEND[SEND.len() - 22..]);
        assert_eq!(decoder.poll_frame(), Ok(None));
        let small = b"MSRP qwer SEND\r\nTo-Path: msrp://a.example:1/s;tcp\r\n\
            From-Path: msrp://b.example:2/t;tcp\r\n-------qwer$\r\n";
        decoder.handle_bytes(small);
        let frame = decoder.poll_frame().expect("valid").expect("complete");
        assert_eq!(frame.transaction_id.as_str(), "qwer");
    }

    #[test]
    fn report_body_over_10240_octets_is_refused() {
        let mut msg = b"MSRP abcd REPORT\r\nTo-Path: msrp://a.example:1/s;tcp\r\n\
            From-Path: msrp://b.example:2/t;tcp\r\nStatus: 000 200 OK\r\n\
            Content-Type: text/plain\r\n\r\n"
            .to_vec();
        msg.extend_from_slice(&[b'a'; MAX_NON_SEND_BODY + 1]);
        msg.extend_from_slice(b"\r\n-------abcd$\r\n");
        let results = decode_all(&mut {
            let mut d = Decoder::new(Limits::default());
            d.handle_bytes(&msg);
            d
        });
        assert_eq!(results.len(), 1);
        let error = results[0].clone().expect_err("too large");
        assert_eq!(
            error.error,
            Error::Framing(FramingError::BodyTooLarge {
                limit: MAX_NON_SEND_BODY
            })
        );
    }

    #[test]
    fn malformed_header_is_refused_and_the_next_frame_still_decodes() {
        let mut stream = b"MSRP abcd SEND\r\nTo-Path: nonsense\r\n\
            From-Path: msrp://b.example:2/t;tcp\r\n-------abcd$\r\n"
            .to_vec();
        stream.extend_from_slice(SEND);
        let mut decoder = Decoder::new(Limits::default());
        decoder.handle_bytes(&stream);
        let results = decode_all(&mut decoder);
        assert_eq!(results.len(), 2);
        let error = results[0].clone().expect_err("bad To-Path");
        assert_eq!(error.error, Error::Parse(ParseError::BadUri));
        assert_eq!(
            error.salvage.expect("salvaged").from_path().len(),
            1,
            "From-Path kept to address the 400"
        );
        assert!(results[1].is_ok());
    }

    #[test]
    fn bodiless_frame_with_another_transactions_end_line_is_fatal() {
        let mut decoder = Decoder::new(Limits::default());
        decoder.handle_bytes(
            b"MSRP abcd SEND\r\nTo-Path: msrp://a.example:1/s;tcp\r\n-------abce$\r\n",
        );
        let error = decoder.poll_frame().expect_err("mismatch");
        assert_eq!(error.error, Error::Framing(FramingError::EndLineMismatch));
        assert!(error.is_fatal());
    }

    #[test]
    fn empty_body_with_and_without_the_data_crlf_decodes() {
        let head = b"MSRP abcd SEND\r\nTo-Path: msrp://a.example:1/s;tcp\r\n\
            From-Path: msrp://b.example:2/t;tcp\r\nContent-Type: text/plain\r\n\r\n";
        for tail in [&b"\r\n-------abcd$\r\n"[..], b"-------abcd$\r\n"] {
            let mut decoder = Decoder::new(Limits::default());
            decoder.handle_bytes(head);
            decoder.handle_bytes(tail);
            let frame = decoder.poll_frame().expect("valid").expect("complete");
            assert_eq!(frame.body.as_deref(), Some(&b""[..]));
        }
    }
}

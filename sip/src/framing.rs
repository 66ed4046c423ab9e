//! RFC 3261 §18.3: finding message boundaries on stream transports (TCP, TLS).
//!
//! A stream carries messages back to back. The head ends at the first empty
//! line; the body is exactly `Content-Length` bytes, a header that is
//! mandatory on streams. Messages may arrive split over many reads or several
//! in one read (pipelined); [`frame`](crate::framing::frame) is called on the buffered bytes until it
//! says a message is complete.

/// Where the next complete message sits in a stream buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Bytes of keep-alive CRLFs before the message (RFC 5626 §3.5.1), to discard.
    pub skip: usize,
    /// Length of the message (head and body) after `skip`.
    pub len: usize,
    /// Length of the head, including the empty line that ends it.
    pub head_len: usize,
}

/// Why a stream cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The message (or its head, while still incomplete) exceeds the limit.
    #[error("message larger than {limit} bytes")]
    TooLarge {
        /// The limit in force, in bytes.
        limit: usize,
        /// Length of the head if it was complete, so a response can be salvaged.
        head_len: Option<usize>,
    },
    /// RFC 3261 §18.3: a stream message without Content-Length.
    #[error("message on a stream transport without Content-Length")]
    MissingContentLength {
        /// Length of the head.
        head_len: usize,
    },
    /// Content-Length is not a non-negative decimal number.
    #[error("Content-Length is not a number")]
    BadContentLength {
        /// Length of the head.
        head_len: usize,
    },
}

impl FramingError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::MissingContentLength { .. } => "missing_content_length",
            Self::BadContentLength { .. } => "bad_content_length",
        }
    }

    /// The head length, when the head was complete.
    pub fn head_len(&self) -> Option<usize> {
        match self {
            Self::TooLarge { head_len, .. } => *head_len,
            Self::MissingContentLength { head_len } | Self::BadContentLength { head_len } => {
                Some(*head_len)
            }
        }
    }
}

/// The status a peer hears for a framing error (RFC 3261 §21.4).
impl From<&FramingError> for u16 {
    fn from(error: &FramingError) -> u16 {
        match error {
            // RFC 3261 §21.4.11: the head is fine but Content-Length announces
            // a body larger than we take: 413 Request Entity Too Large.
            FramingError::TooLarge {
                head_len: Some(_), ..
            } => 413,
            // RFC 3261 §21.5.14: not even the head fits: 513 Message Too Large.
            FramingError::TooLarge { head_len: None, .. } => 513,
            FramingError::MissingContentLength { .. } | FramingError::BadContentLength { .. } => {
                400
            }
        }
    }
}

/// Finds the first complete message in `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, `Ok(Some(frame))` when the
/// message `buf[frame.skip..frame.skip + frame.len]` is complete.
pub fn frame(buf: &[u8], limit: usize) -> Result<Option<Frame>, FramingError> {
    let skip = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let rest = &buf[skip..];
    let Some(head_len) = head_end(rest) else {
        if rest.len() > limit {
            return Err(FramingError::TooLarge {
                limit,
                head_len: None,
            });
        }
        return Ok(None);
    };
    let body_len = match content_length(&rest[..head_len]) {
        ContentLength::Absent => return Err(FramingError::MissingContentLength { head_len }),
        ContentLength::Invalid => return Err(FramingError::BadContentLength { head_len }),
        ContentLength::Value(n) => n,
    };
    let len = head_len.saturating_add(body_len);
    if len > limit {
        return Err(FramingError::TooLarge {
            limit,
            head_len: Some(head_len),
        });
    }
    if rest.len() < len {
        return Ok(None);
    }
    Ok(Some(Frame {
        skip,
        len,
        head_len,
    }))
}

/// Length of the head including its terminating empty line, if complete.
///
/// RFC 3261 §7.5 ends the head with CRLF CRLF; a bare LF LF is tolerated.
///
/// Line ends are found with `memchr` (issue 24: a byte at a time was ~2 200
/// instructions of every received message's parse).
pub(crate) fn head_end(buf: &[u8]) -> Option<usize> {
    head_end_noting(buf, |_| {})
}

/// [`head_end`], giving `note` the place of every LF of the head on the
/// way, the empty line's included (the parser splits the head at them).
pub(crate) fn head_end_noting(buf: &[u8], mut note: impl FnMut(usize)) -> Option<usize> {
    for lf in memchr::memchr_iter(b'\n', buf) {
        note(lf);
        match buf.get(lf + 1..) {
            Some([b'\n', ..]) => {
                note(lf + 1);
                return Some(lf + 2);
            }
            Some([b'\r', b'\n', ..]) => {
                note(lf + 2);
                return Some(lf + 3);
            }
            _ => {}
        }
    }
    None
}

/// The Content-Length of a head, as far as framing needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContentLength {
    Absent,
    Invalid,
    Value(usize),
}

impl ContentLength {
    /// What is known after one more Content-Length value (trimmed, as
    /// sent): a non-negative decimal number, the same as any before it.
    pub(crate) fn and(self, value: &[u8]) -> ContentLength {
        let parsed = (!value.is_empty()).then_some(value).and_then(|digits| {
            digits.iter().try_fold(0usize, |n, &b| {
                if !b.is_ascii_digit() {
                    return None;
                }
                n.checked_mul(10)?.checked_add(usize::from(b - b'0'))
            })
        });
        match (self, parsed) {
            // Two different values cannot both be right.
            (ContentLength::Value(a), Some(b)) if a != b => ContentLength::Invalid,
            (ContentLength::Invalid, _) | (_, None) => ContentLength::Invalid,
            (_, Some(n)) => ContentLength::Value(n),
        }
    }
}

/// Reads `Content-Length` (or its compact form `l`, RFC 3261 §7.3.3) from a head.
pub(crate) fn content_length(head: &[u8]) -> ContentLength {
    let mut found = ContentLength::Absent;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        found = found.and(line[colon + 1..].trim_ascii());
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-at-a-time search `head_end` replaced (issue 24).
    fn head_end_bytewise(buf: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < buf.len() {
            if buf[i] == b'\n' {
                match buf.get(i + 1..) {
                    Some([b'\n', ..]) => return Some(i + 2),
                    Some([b'\r', b'\n', ..]) => return Some(i + 3),
                    _ => {}
                }
            }
            i += 1;
        }
        None
    }

    /// Every string of up to six bytes over CR, LF and one other byte, each
    /// with a request line before it and a body after, and the fixtures'
    /// real messages: the same head length as the byte-at-a-time search.
    #[test]
    fn head_end_finds_what_the_bytewise_search_found() {
        let alphabet = [b'\r', b'\n', b'x'];
        let mut inputs: Vec<Vec<u8>> = vec![Vec::new(), MSG.to_vec()];
        let mut tails: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..6 {
            let mut longer = Vec::new();
            for t in &tails {
                for &b in &alphabet {
                    let mut n = t.clone();
                    n.push(b);
                    longer.push(n);
                }
            }
            inputs.extend(longer.iter().cloned());
            for t in &longer {
                let mut framed = b"MESSAGE sip:a@b SIP/2.0\r\nTo: <sip:a@b>".to_vec();
                framed.extend_from_slice(t);
                framed.extend_from_slice(b"body\n\n");
                inputs.push(framed);
            }
            tails = longer;
        }
        // RFC 4475's torture messages and the fuzz corpus, as files.
        for dir in ["tests/fixtures/rfc4475", "../fuzz/corpus/sip_datagram"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            for file in std::fs::read_dir(&dir).expect("fixture directory") {
                let path = file.expect("fixture entry").path();
                if path.is_file() {
                    inputs.push(std::fs::read(&path).expect("fixture"));
                }
            }
        }
        assert!(inputs.len() > 2_000, "{} inputs", inputs.len());
        for input in &inputs {
            assert_eq!(head_end(input), head_end_bytewise(input), "{input:?}");
        }
    }

    const MSG: &[u8] = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 5\r\n\r\nhello";

    #[test]
    fn complete_message_is_framed_by_content_length() {
        let f = frame(MSG, 65536).expect("valid").expect("complete");
        assert_eq!(f.skip, 0);
        assert_eq!(f.len, MSG.len());
        assert_eq!(&MSG[f.head_len..f.len], b"hello");
    }

    #[test]
    fn message_split_at_every_byte_needs_more_until_the_last() {
        for cut in 0..MSG.len() {
            assert_eq!(frame(&MSG[..cut], 65536), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn pipelined_messages_are_framed_one_after_the_other() {
        let mut buf = MSG.to_vec();
        buf.extend_from_slice(b"\r\n\r\n");
        buf.extend_from_slice(MSG);
        let first = frame(&buf, 65536).expect("valid").expect("complete");
        let rest = &buf[first.skip + first.len..];
        let second = frame(rest, 65536).expect("valid").expect("complete");
        assert_eq!(second.skip, 4, "keep-alive CRLFs are skipped");
        assert_eq!(second.len, MSG.len());
    }

    #[test]
    fn compact_content_length_is_honoured() {
        let msg = b"MESSAGE sip:a@b SIP/2.0\r\nl: 2\r\n\r\nhiMORE";
        let f = frame(msg, 65536).expect("valid").expect("complete");
        assert_eq!(&msg[f.head_len..f.len], b"hi");
    }

    #[test]
    fn missing_content_length_on_a_stream_is_an_error() {
        let msg = b"MESSAGE sip:a@b SIP/2.0\r\nTo: x\r\n\r\n";
        assert!(matches!(
            frame(msg, 65536),
            Err(FramingError::MissingContentLength { .. })
        ));
    }

    #[test]
    fn negative_content_length_is_an_error() {
        let msg = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n";
        assert!(matches!(
            frame(msg, 65536),
            Err(FramingError::BadContentLength { .. })
        ));
    }

    #[test]
    fn body_over_the_limit_is_too_large_before_it_arrives() {
        let msg = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 100000\r\n\r\n";
        let err = frame(msg, 65536).expect_err("too large");
        assert!(matches!(
            err,
            FramingError::TooLarge {
                head_len: Some(_),
                ..
            }
        ));
        assert_eq!(u16::from(&err), 413);
    }

    #[test]
    fn endless_head_is_too_large() {
        let buf = vec![b'a'; 70000];
        assert!(matches!(
            frame(&buf, 65536),
            Err(FramingError::TooLarge { head_len: None, .. })
        ));
        let err = frame(&buf, 65536).expect_err("too large");
        assert_eq!(u16::from(&err), 513);
    }

    #[test]
    fn crlf_inside_body_does_not_end_the_message_early() {
        let msg = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 6\r\n\r\n\r\n\r\nab";
        let f = frame(msg, 65536).expect("valid").expect("complete");
        assert_eq!(f.len, msg.len());
    }
}

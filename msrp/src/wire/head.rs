//! RFC 4975 §9: the start line and the header section of one frame.

use crate::error::ParseError;
use crate::status::StatusCode;
use crate::wire::header::{Header, is_utf8text};
use crate::wire::{Frame, Method, StartLine, TransactionId};

/// Reads `MSRP SP transact-id SP (method / status-code [SP comment])`,
/// without its CRLF. `None` when the line is not an MSRP start line.
pub(crate) fn parse_start_line(line: &[u8]) -> Option<(TransactionId, StartLine)> {
    let line = std::str::from_utf8(line).ok()?;
    let rest = line.strip_prefix("MSRP ")?;
    let (tid, rest) = rest.split_once(' ')?;
    let tid = TransactionId::new(tid)?;
    let (word, comment) = match rest.split_once(' ') {
        Some((word, comment)) => (word, Some(comment)),
        None => (rest, None),
    };
    if word.len() == 3 && word.bytes().all(|b| b.is_ascii_digit()) {
        let status = StatusCode(word.parse().ok()?);
        if comment.is_some_and(|c| !is_utf8text(c)) {
            return None;
        }
        let comment = comment.map(str::to_owned);
        return Some((tid, StartLine::Response { status, comment }));
    }
    if comment.is_some() {
        return None;
    }
    Some((tid, StartLine::Request(Method::parse(word)?)))
}

/// Reads the header lines (each ending in CRLF). Every field that parses is
/// kept, so a refusal can still be addressed; the first error is returned
/// beside them.
pub(crate) fn parse_headers(section: &[u8]) -> (Vec<Header>, Option<ParseError>) {
    let mut headers = Vec::new();
    let mut error = None;
    let Ok(text) = std::str::from_utf8(section) else {
        return (headers, Some(ParseError::NotUtf8));
    };
    let text = text.strip_suffix("\r\n").unwrap_or(text);
    if text.is_empty() {
        return (headers, None);
    }
    for line in text.split("\r\n") {
        let parsed = match line.split_once(':') {
            Some((name, value)) => Header::parse(name, value.trim_matches([' ', '\t'])),
            None => Err(ParseError::BadHeaderLine),
        };
        match parsed {
            Ok(header) => headers.push(header),
            Err(e) => {
                error.get_or_insert(e);
            }
        }
    }
    (headers, error)
}

/// What §7.1 and §9 require of a frame as a whole.
pub(crate) fn validate(frame: &Frame) -> Result<(), ParseError> {
    let mut seen: Vec<&'static str> = Vec::new();
    for header in &frame.headers {
        let name = match header {
            Header::ToPath(_) => "To-Path",
            Header::FromPath(_) => "From-Path",
            Header::MessageId(_) => "Message-ID",
            Header::SuccessReport(_) => "Success-Report",
            Header::FailureReport(_) => "Failure-Report",
            Header::ByteRange(_) => "Byte-Range",
            Header::Status(_) => "Status",
            Header::ContentType(_) => "Content-Type",
            Header::UseNickname(_) => "Use-Nickname",
            Header::Other { .. } => continue,
        };
        if seen.contains(&name) {
            return Err(ParseError::DuplicateHeader(name));
        }
        seen.push(name);
    }
    // §9: headers = To-Path CRLF From-Path CRLF ..., in requests and
    // responses alike. The order is not enforced: RFC 7573 §4 Example 5
    // writes From-Path first.
    if !seen.contains(&"To-Path") {
        return Err(ParseError::MissingToPath);
    }
    if !seen.contains(&"From-Path") {
        return Err(ParseError::MissingFromPath);
    }
    match (&frame.start, &frame.body) {
        (StartLine::Response { .. }, Some(_)) => Err(ParseError::BodyInResponse),
        // §7.1: "If the request has a body, it MUST contain a Content-Type
        // header field."
        (StartLine::Request(_), Some(_)) if !seen.contains(&"Content-Type") => {
            Err(ParseError::MissingContentType)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response_start_lines_are_told_apart() {
        let (tid, start) = parse_start_line(b"MSRP a786hjs2 SEND").expect("request");
        assert_eq!(tid.as_str(), "a786hjs2");
        assert_eq!(start, StartLine::Request(Method::Send));
        let (_, start) = parse_start_line(b"MSRP a786hjs2 200 OK").expect("response");
        assert_eq!(
            start,
            StartLine::Response {
                status: StatusCode::OK,
                comment: Some("OK".into())
            }
        );
        let (_, start) = parse_start_line(b"MSRP x1 AUTH").expect("extension method");
        assert_eq!(start, StartLine::Request(Method::Other("AUTH".into())));
    }

    #[test]
    fn malformed_start_lines_are_refused() {
        for line in [
            &b"msrp a786hjs2 SEND"[..],
            b"MSRP a786hjs2",
            b"MSRP  SEND",
            b"MSRP a786hjs2 send",
            b"MSRP a786hjs2 SEND extra",
            b"MSRP -bad SEND",
            b"MSRP a786hjs2 20 OK",
            b"MSRP a786hjs2 200 O\x01K",
            b"MSRP a78\xff SEND",
        ] {
            assert!(parse_start_line(line).is_none(), "{line:?}");
        }
    }

    #[test]
    fn a_bad_field_is_reported_and_the_others_kept() {
        let (headers, error) =
            parse_headers(b"To-Path: msrp://a.example:1/s;tcp\r\nByte-Range: x\r\n");
        assert_eq!(headers.len(), 1);
        assert_eq!(error, Some(ParseError::BadByteRange));
    }
}

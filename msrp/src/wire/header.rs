//! RFC 4975 §9: the header fields MSRP defines, typed, and the rest kept.

use std::fmt;

use crate::error::ParseError;
use crate::status::StatusCode;
use crate::uri::{self, Uri};
use crate::wire::MessageId;

/// One header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// `To-Path: MSRP-URI *( SP MSRP-URI )`; leftmost is visited first (§7.1).
    ToPath(Vec<Uri>),
    /// `From-Path: MSRP-URI *( SP MSRP-URI )`.
    FromPath(Vec<Uri>),
    /// `Message-ID: ident`.
    MessageId(MessageId),
    /// `Success-Report: yes / no`.
    SuccessReport(SuccessReport),
    /// `Failure-Report: yes / no / partial`.
    FailureReport(FailureReport),
    /// `Byte-Range: range-start "-" range-end "/" total`.
    ByteRange(ByteRange),
    /// `Status: namespace SP status-code [SP comment]`.
    Status(Status),
    /// `Content-Type: media-type`, kept as written.
    ContentType(String),
    /// RFC 7701 §7.1 `Use-Nickname: "nickname"`, unquoted and unescaped.
    UseNickname(String),
    /// Any other field (§12: a device "MUST ignore the header field" it does
    /// not understand); kept so the frame writes back unchanged.
    Other {
        /// The name as written.
        name: String,
        /// The value as written.
        value: String,
    },
}

/// §5.3: whether the sender wants a report when the message arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SuccessReport {
    /// `yes`
    Yes,
    /// `no`, and the meaning of an absent field (§7.1.1).
    No,
}

/// §5.3: whether the sender wants to hear of failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReport {
    /// `yes`, and the meaning of an absent field (§7.1.1).
    Yes,
    /// `no`: no failure REPORT and no transaction response (§7.1.4).
    No,
    /// `partial`: no 200 response, but a non-200 one on failure (§7.1.4).
    Partial,
}

/// §7.1.1: the part of the message a chunk carries; positions start at one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ByteRange {
    /// `range-start`: the position of the chunk's first byte.
    pub start: u64,
    /// `range-end`, or `None` for `*` (unknown, or interruptible).
    pub end: Option<u64>,
    /// `total`, or `None` for `*` (not known in advance).
    pub total: Option<u64>,
}

/// §7.1.3: a REPORT's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `namespace = 3(DIGIT)`; `000` for the codes of RFC 4975.
    pub namespace: u16,
    /// The status code.
    pub code: StatusCode,
    /// The comment, if any.
    pub comment: Option<String>,
}

impl Header {
    /// The field name as this crate writes it.
    pub fn name(&self) -> &str {
        match self {
            Header::ToPath(_) => "To-Path",
            Header::FromPath(_) => "From-Path",
            Header::MessageId(_) => "Message-ID",
            Header::SuccessReport(_) => "Success-Report",
            Header::FailureReport(_) => "Failure-Report",
            Header::ByteRange(_) => "Byte-Range",
            Header::Status(_) => "Status",
            Header::ContentType(_) => "Content-Type",
            Header::UseNickname(_) => "Use-Nickname",
            Header::Other { name, .. } => name,
        }
    }

    /// Parses one field from its name and value (surrounding blanks removed).
    /// Names are matched case-insensitively, as ABNF quoted strings are.
    pub(crate) fn parse(name: &str, value: &str) -> Result<Header, ParseError> {
        let is = |known: &str| name.eq_ignore_ascii_case(known);
        if is("To-Path") {
            Ok(Header::ToPath(parse_path(value)?))
        } else if is("From-Path") {
            Ok(Header::FromPath(parse_path(value)?))
        } else if is("Message-ID") {
            MessageId::new(value)
                .map(Header::MessageId)
                .ok_or(ParseError::BadMessageId)
        } else if is("Success-Report") {
            match value {
                "yes" => Ok(Header::SuccessReport(SuccessReport::Yes)),
                "no" => Ok(Header::SuccessReport(SuccessReport::No)),
                _ => Err(ParseError::BadSuccessReport),
            }
        } else if is("Failure-Report") {
            match value {
                "yes" => Ok(Header::FailureReport(FailureReport::Yes)),
                "no" => Ok(Header::FailureReport(FailureReport::No)),
                "partial" => Ok(Header::FailureReport(FailureReport::Partial)),
                _ => Err(ParseError::BadFailureReport),
            }
        } else if is("Byte-Range") {
            ByteRange::parse(value).map(Header::ByteRange)
        } else if is("Status") {
            Status::parse(value).map(Header::Status)
        } else if is("Content-Type") {
            if is_media_type(value) {
                Ok(Header::ContentType(value.to_owned()))
            } else {
                Err(ParseError::BadContentType)
            }
        } else if is("Use-Nickname") {
            parse_nickname(value).map(Header::UseNickname)
        } else {
            // §9: hname = ALPHA *token; hval = utf8text
            let name_ok =
                name.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) && uri::is_token(name);
            if !name_ok || !is_utf8text(value) {
                return Err(ParseError::BadHeaderLine);
            }
            Ok(Header::Other {
                name: name.to_owned(),
                value: value.to_owned(),
            })
        }
    }

    /// Writes the value (without the name).
    pub(crate) fn write_value(&self, out: &mut String) {
        use fmt::Write as _;
        // Writing to a String cannot fail.
        let _ = match self {
            Header::ToPath(path) | Header::FromPath(path) => {
                for (i, uri) in path.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    let _ = write!(out, "{uri}");
                }
                Ok(())
            }
            Header::MessageId(id) => write!(out, "{}", id.as_str()),
            Header::SuccessReport(SuccessReport::Yes) => write!(out, "yes"),
            Header::SuccessReport(SuccessReport::No) => write!(out, "no"),
            Header::FailureReport(FailureReport::Yes) => write!(out, "yes"),
            Header::FailureReport(FailureReport::No) => write!(out, "no"),
            Header::FailureReport(FailureReport::Partial) => write!(out, "partial"),
            Header::ByteRange(range) => write!(out, "{range}"),
            Header::Status(status) => write!(out, "{status}"),
            Header::ContentType(ct) => write!(out, "{ct}"),
            Header::UseNickname(nick) => {
                write_quoted(nick, out);
                Ok(())
            }
            Header::Other { value, .. } => write!(out, "{value}"),
        };
    }
}

/// RFC 7701 §7.1: "This nickname string MUST NOT be zero octets in length
/// and MUST NOT be more than 1023 octets in length."
pub const MAX_NICKNAME_OCTETS: usize = 1023;

/// RFC 7701 §7.1: `nickname = DQUOTE 1*1023(qdtext / qd-esc) DQUOTE`, with
/// RFC 4975 §9's `qdtext = SP / HTAB / %x21 / %x23-5B / %x5D-7E /
/// UTF8-NONASCII` and `qd-esc = (BACKSLASH BACKSLASH) / (BACKSLASH DQUOTE)`.
/// An empty string is read too: §7.3 removes a nickname with "an empty
/// quoted string". Longer than 1023 octets unescaped is malformed.
fn parse_nickname(value: &str) -> Result<String, ParseError> {
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .ok_or(ParseError::BadUseNickname)?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | '"')) => out.push(e),
                _ => return Err(ParseError::BadUseNickname),
            },
            '"' => return Err(ParseError::BadUseNickname),
            ' ' | '\t' | '\u{21}'..='\u{7E}' => out.push(c),
            c if !c.is_ascii() => out.push(c),
            _ => return Err(ParseError::BadUseNickname),
        }
    }
    if out.len() > MAX_NICKNAME_OCTETS {
        return Err(ParseError::BadUseNickname);
    }
    Ok(out)
}

/// Writes `text` as an RFC 4975 §9 `quoted-string`.
fn write_quoted(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// A path: one or more URIs separated by SP (§9). Relays' paths (RFC 4976
/// §3) are the same list with more entries.
fn parse_path(value: &str) -> Result<Vec<Uri>, ParseError> {
    let path = value
        .split([' ', '\t'])
        .filter(|s| !s.is_empty())
        .map(Uri::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if path.is_empty() {
        return Err(ParseError::BadUri);
    }
    Ok(path)
}

impl ByteRange {
    /// The range of a whole message of `len` bytes sent in one chunk;
    /// §7.1.1: an empty one is "1-0/0".
    pub fn whole(len: u64) -> ByteRange {
        ByteRange {
            start: 1,
            end: Some(len),
            total: Some(len),
        }
    }

    fn parse(value: &str) -> Result<ByteRange, ParseError> {
        let bad = ParseError::BadByteRange;
        let (start, rest) = value.split_once('-').ok_or(bad)?;
        let (end, total) = rest.split_once('/').ok_or(bad)?;
        let number = |s: &str| -> Result<u64, ParseError> {
            if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad);
            }
            s.parse().map_err(|_| bad)
        };
        let star = |s: &str| {
            if s == "*" {
                Ok(None)
            } else {
                number(s).map(Some)
            }
        };
        let range = ByteRange {
            start: number(start)?,
            end: star(end)?,
            total: star(total)?,
        };
        // §7.1.1: "The first octet in the message has a position of one";
        // an end before its start is allowed only for "1-0/0".
        let consistent = range.start >= 1
            && range.end.is_none_or(|end| end + 1 >= range.start)
            && range
                .total
                .is_none_or(|total| range.end.unwrap_or(range.start - 1) <= total);
        if consistent { Ok(range) } else { Err(bad) }
    }
}

impl std::str::FromStr for ByteRange {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<ByteRange, ParseError> {
        ByteRange::parse(s)
    }
}

impl fmt::Display for ByteRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-", self.start)?;
        match self.end {
            Some(end) => write!(f, "{end}/")?,
            None => f.write_str("*/")?,
        }
        match self.total {
            Some(total) => write!(f, "{total}"),
            None => f.write_str("*"),
        }
    }
}

impl Status {
    /// §7.1.3: namespace `000`, the code, and its comment.
    pub fn new(code: StatusCode) -> Status {
        Status {
            namespace: 0,
            code,
            comment: Some(code.comment().to_owned()),
        }
    }

    fn parse(value: &str) -> Result<Status, ParseError> {
        let bad = ParseError::BadStatus;
        let three_digits = |s: &str| -> Result<u16, ParseError> {
            if s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().map_err(|_| bad)
            } else {
                Err(bad)
            }
        };
        let mut parts = value.splitn(3, ' ');
        let namespace = three_digits(parts.next().unwrap_or_default())?;
        let code = StatusCode(three_digits(parts.next().unwrap_or_default())?);
        let comment = parts.next().map(str::to_owned);
        if comment.as_deref().is_some_and(|c| !is_utf8text(c)) {
            return Err(bad);
        }
        Ok(Status {
            namespace,
            code,
            comment,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03} {}", self.namespace, self.code)?;
        if let Some(comment) = &self.comment {
            write!(f, " {comment}")?;
        }
        Ok(())
    }
}

/// §9: `media-type = type "/" subtype *( ";" gen-param )`, checked loosely:
/// a token, a slash, a token, then anything printable.
fn is_media_type(value: &str) -> bool {
    let (ty, rest) = match value.split_once('/') {
        Some(split) => split,
        None => return false,
    };
    let subtype_end = rest.find([';', ' ']).unwrap_or(rest.len());
    uri::is_token(ty) && uri::is_token(&rest[..subtype_end]) && is_utf8text(rest)
}

/// §9: `utf8text = *(HTAB / %x20-7E / UTF8-NONASCII)`: no control characters.
pub(crate) fn is_utf8text(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() && c != '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_range_with_stars_round_trips() {
        for text in ["1-25/25", "1-*/8", "5-8/8", "1-*/*", "1-0/0", "138-148/148"] {
            let range = ByteRange::parse(text).expect(text);
            assert_eq!(range.to_string(), text);
        }
    }

    #[test]
    fn byte_range_starting_at_zero_or_ending_before_start_is_refused() {
        for text in ["0-5/5", "5-3/8", "1-9/8", "1-/8", "a-1/1", "1-1", "-1-1/1"] {
            assert_eq!(
                ByteRange::parse(text),
                Err(ParseError::BadByteRange),
                "{text}"
            );
        }
    }

    #[test]
    fn status_reads_namespace_code_and_comment() {
        let status = Status::parse("000 200 OK").expect("valid");
        assert_eq!(status.namespace, 0);
        assert_eq!(status.code, StatusCode::OK);
        assert_eq!(status.to_string(), "000 200 OK");
        assert!(Status::parse("0 200").is_err());
        assert!(Status::parse("000 2000").is_err());
    }

    #[test]
    fn report_values_outside_the_grammar_are_refused() {
        assert!(Header::parse("Success-Report", "partial").is_err());
        assert!(Header::parse("Failure-Report", "maybe").is_err());
        assert!(Header::parse("Failure-Report", "partial").is_ok());
    }

    /// RFC 7701 §9.2 F1 and §7.3.
    #[test]
    fn use_nickname_is_unquoted_and_written_back_quoted() {
        let h = Header::parse("Use-Nickname", "\"Alice the great\"").expect("parses");
        assert_eq!(h, Header::UseNickname("Alice the great".into()));
        let mut out = String::new();
        h.write_value(&mut out);
        assert_eq!(out, "\"Alice the great\"");
        let escaped = Header::parse("Use-Nickname", r#""a \"b\" \\ c""#).expect("parses");
        assert_eq!(escaped, Header::UseNickname(r#"a "b" \ c"#.into()));
        let mut out = String::new();
        escaped.write_value(&mut out);
        assert_eq!(out, r#""a \"b\" \\ c""#);
        assert_eq!(
            Header::parse("Use-Nickname", "\"\""),
            Ok(Header::UseNickname(String::new()))
        );
        assert_eq!(
            Header::parse("Use-Nickname", "\"Jülie\""),
            Ok(Header::UseNickname("Jülie".into()))
        );
    }

    /// RFC 7701 §7.1: what does not conform to the syntax is malformed (424).
    #[test]
    fn malformed_use_nickname_is_refused() {
        let long = format!("\"{}\"", "n".repeat(1024));
        for bad in [
            "Alice",
            "\"Alice",
            "\"a\"b\"",
            "\"a\\x\"",
            "\"a\u{1}\"",
            long.as_str(),
        ] {
            assert_eq!(
                Header::parse("Use-Nickname", bad),
                Err(ParseError::BadUseNickname),
                "{bad:?}"
            );
        }
        let max = format!("\"{}\"", "n".repeat(1023));
        assert!(Header::parse("Use-Nickname", &max).is_ok());
    }

    #[test]
    fn unknown_header_is_kept() {
        let h = Header::parse("X-Thing", "a b c").expect("valid");
        assert_eq!(h.name(), "X-Thing");
        assert!(Header::parse("1X", "v").is_err());
    }

    #[test]
    fn path_with_relays_keeps_every_uri_in_order() {
        // RFC 4976 §3's first SEND, its continuation backslashes removed.
        let value = "msrps://a.example.org:9000/kjfjan;tcp msrps://b.example.net:9000/aeiug;tcp msrps://bob.example.net:8145/foo;tcp";
        let Ok(Header::ToPath(path)) = Header::parse("To-Path", value) else {
            panic!("path parses");
        };
        assert_eq!(path.len(), 3);
        assert_eq!(path[2].session_id.as_deref(), Some("foo"));
    }
}

//! Just enough SIP for the focus, written from RFC 3261's grammar (§7,
//! §25.1), not from Parley's `sip` crate: a start line, header fields
//! (compact forms expanded, folded lines unfolded), and a body framed as
//! §18.3 says for UDP: "if the message has a Content-Length header field,
//! the message body is assumed to contain that many bytes", and "If the
//! message has no Content-Length header field, the message body is assumed
//! to end at the end of the transport packet."
//!
//! What it does not do: validate URIs beyond what the focus needs, or keep
//! more than one value of a header field apart from its comma list.

use std::fmt;
use std::net::SocketAddr;

/// A SIP request or response as read from one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMessage {
    /// The request line or status line.
    pub start: StartLine,
    /// Header fields in order, names in their long form (RFC 3261 §7.3.3).
    pub headers: Vec<(String, String)>,
    /// The message body, exactly Content-Length bytes.
    pub body: Vec<u8>,
}

/// RFC 3261 §7.1 Request-Line or §7.2 Status-Line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `Method SP Request-URI SP SIP-Version`.
    Request {
        /// The method, case-sensitive (§7.1).
        method: String,
        /// The Request-URI as written.
        uri: String,
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`.
    Response {
        /// The three-digit status code.
        status: u16,
        /// The reason phrase as written.
        reason: String,
    },
}

/// Why a datagram is not a SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipParseError {
    /// No CRLF CRLF (or LF LF) ends the header section.
    NoEndOfHeaders,
    /// The start line is neither a Request-Line nor a Status-Line.
    StartLine(String),
    /// A header line without a colon.
    HeaderLine(String),
    /// Content-Length is not a number.
    ContentLength(String),
    /// §18.3: "If the transport packet ends before the end of the message
    /// body, this is considered an error. … If the message is a request,
    /// the element SHOULD generate a 400 (Bad Request) response": the
    /// message as far as it goes, so the 400 can be sent.
    BodyCut(Box<SipMessage>),
    /// The header section is not UTF-8.
    NotUtf8,
}

impl SipParseError {
    /// A short name for the error, for logs and assertions.
    pub fn kind(&self) -> &'static str {
        match self {
            SipParseError::NoEndOfHeaders => "no_end_of_headers",
            SipParseError::StartLine(_) => "start_line",
            SipParseError::HeaderLine(_) => "header_line",
            SipParseError::ContentLength(_) => "content_length",
            SipParseError::BodyCut(_) => "body_cut",
            SipParseError::NotUtf8 => "not_utf8",
        }
    }
}

impl fmt::Display for SipParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SipParseError::NoEndOfHeaders => write!(f, "no empty line after the headers"),
            SipParseError::StartLine(l) => write!(f, "start line {l:?}"),
            SipParseError::HeaderLine(l) => write!(f, "header line {l:?}"),
            SipParseError::ContentLength(v) => write!(f, "Content-Length {v:?}"),
            SipParseError::BodyCut(m) => write!(f, "body cut short at {} bytes", m.body.len()),
            SipParseError::NotUtf8 => write!(f, "header section is not UTF-8"),
        }
    }
}

impl std::error::Error for SipParseError {}

/// Compact forms: RFC 3261 §20 (i, m, e, l, c, f, s, k, t, v), RFC 6665
/// §8.4 (`Event = ( "Event" / "o" )`, `Allow-Events = ( "Allow-Events" /
/// "u" )`) and RFC 4028 §4 ("a compact form, the letter x, has been
/// reserved for Session-Expires").
const COMPACT: &[(&str, &str)] = &[
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("e", "Content-Encoding"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("f", "From"),
    ("s", "Subject"),
    ("k", "Supported"),
    ("t", "To"),
    ("v", "Via"),
    ("o", "Event"),
    ("u", "Allow-Events"),
    ("x", "Session-Expires"),
];

/// The long form of a header field name (compact forms expanded).
pub fn long_name(name: &str) -> &str {
    COMPACT
        .iter()
        .find(|(short, _)| short.eq_ignore_ascii_case(name))
        .map_or(name, |(_, long)| long)
}

impl SipMessage {
    /// Parse one datagram (RFC 3261 §7, §18.3).
    pub fn parse(bytes: &[u8]) -> Result<SipMessage, SipParseError> {
        // §7.5 has stream transports "ignore any CRLF appearing before the
        // start-line"; a datagram is read the same way.
        let start_at = bytes
            .iter()
            .position(|b| *b != b'\r' && *b != b'\n')
            .unwrap_or(bytes.len());
        let bytes = &bytes[start_at..];
        let (head_end, body_start) = find(bytes, b"\r\n\r\n")
            .map(|i| (i, i + 4))
            .or_else(|| find(bytes, b"\n\n").map(|i| (i, i + 2)))
            .ok_or(SipParseError::NoEndOfHeaders)?;
        let head = std::str::from_utf8(&bytes[..head_end]).map_err(|_| SipParseError::NotUtf8)?;
        let mut lines: Vec<String> = Vec::new();
        for line in head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
            // §7.3.1: a line starting with whitespace continues the previous one.
            match lines.last_mut() {
                Some(last) if line.starts_with([' ', '\t']) => {
                    last.push(' ');
                    last.push_str(line.trim_start());
                }
                _ => lines.push(line.to_owned()),
            }
        }
        let first = lines.first().cloned().unwrap_or_default();
        let start = parse_start_line(&first)?;
        let mut headers = Vec::new();
        for line in &lines[1..] {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| SipParseError::HeaderLine(line.clone()))?;
            headers.push((long_name(name.trim()).to_owned(), value.trim().to_owned()));
        }
        let rest = &bytes[body_start..];
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
            .map(|(_, v)| {
                v.parse::<usize>()
                    .map_err(|_| SipParseError::ContentLength(v.clone()))
            })
            .transpose()?
            .unwrap_or(rest.len());
        if length > rest.len() {
            return Err(SipParseError::BodyCut(Box::new(SipMessage {
                start,
                headers,
                body: rest.to_vec(),
            })));
        }
        Ok(SipMessage {
            start,
            headers,
            body: rest[..length].to_vec(),
        })
    }

    /// The first value of header field `name` (long or compact form).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = long_name(name);
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header field `name`, in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        let name = long_name(name);
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The method of a request (or of the CSeq of a response).
    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => self.cseq().map(|(_, m)| m),
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }

    /// CSeq's number and method (§20.16).
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let (n, m) = self.header("CSeq")?.split_once(char::is_whitespace)?;
        Some((n.parse().ok()?, m.trim()))
    }

    /// The message as bytes on the wire, Content-Length set from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = match &self.start {
            StartLine::Request { method, uri } => format!("{method} {uri} SIP/2.0\r\n"),
            StartLine::Response { status, reason } => format!("SIP/2.0 {status} {reason}\r\n"),
        };
        for (name, value) in &self.headers {
            if !name.eq_ignore_ascii_case("Content-Length") {
                out.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// A response to this request (§8.2.6.2): Via, From, To, Call-ID and
    /// CSeq copied; `to_tag` added to To when it has none.
    pub fn response(&self, status: u16, reason: &str, to_tag: &str) -> SipMessage {
        let mut headers = Vec::new();
        for (name, value) in &self.headers {
            match name.as_str() {
                "Via" | "From" | "Call-ID" | "CSeq" => headers.push((name.clone(), value.clone())),
                "To" if param(value, "tag").is_none() && status != 100 => {
                    headers.push((name.clone(), format!("{value};tag={to_tag}")))
                }
                "To" => headers.push((name.clone(), value.clone())),
                _ => {}
            }
        }
        SipMessage {
            start: StartLine::Response {
                status,
                reason: reason.to_owned(),
            },
            headers,
            body: Vec::new(),
        }
    }
}

fn parse_start_line(line: &str) -> Result<StartLine, SipParseError> {
    let bad = || SipParseError::StartLine(line.to_owned());
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let status = code.parse().map_err(|_| bad())?;
        if !(100..700).contains(&status) {
            return Err(bad());
        }
        return Ok(StartLine::Response {
            status,
            reason: reason.to_owned(),
        });
    }
    let mut words = line.split(' ');
    let (Some(method), Some(uri), Some("SIP/2.0"), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(bad());
    };
    // §25.1: Method is a token.
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
    {
        return Err(bad());
    }
    Ok(StartLine::Request {
        method: method.to_owned(),
        uri: uri.to_owned(),
    })
}

/// The URI of a name-addr or addr-spec header value (§20.10): what is
/// between `<` and `>`, or up to the first `;` when there are no brackets.
pub fn uri_of(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value.split(';').next().unwrap_or(value).trim(),
    }
}

/// The display name of a name-addr, unquoted, if it has one.
pub fn display_name_of(value: &str) -> Option<String> {
    let before = value[..value.find('<')?].trim();
    let name = before
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(before);
    (!name.is_empty()).then(|| name.replace("\\\"", "\"").replace("\\\\", "\\"))
}

/// A header parameter (`;name=value`) after the URI of a name-addr, or
/// after the value of a header such as Event or Subscription-State.
pub fn param(value: &str, name: &str) -> Option<String> {
    let after = match value.find('>') {
        Some(close) => &value[close + 1..],
        None => value.split_once(';').map_or("", |(_, rest)| rest),
    };
    after.split(';').map(str::trim).find_map(|p| {
        let (n, v) = p.split_once('=').unwrap_or((p, ""));
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// Where to send a request to the remote target `uri` (§8.1.2, reduced to
/// what the harness uses: a `sip:` URI whose host is an IP literal with a
/// port); `None` otherwise.
pub fn socket_of(uri: &str) -> Option<SocketAddr> {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))?;
    let hostport = rest.rsplit('@').next()?;
    let hostport = hostport.split([';', '?']).next()?;
    hostport.parse().ok()
}

/// `scheme:user@host` of a URI, lowercased host, without port or
/// parameters: the key the focus compares participants by.
pub fn aor_of(uri: &str) -> String {
    let uri = uri_of(uri);
    let (scheme, rest) = uri.split_once(':').unwrap_or(("sip", uri));
    let rest = rest.split([';', '?']).next().unwrap_or(rest);
    let (user, host) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let host = if host.starts_with('[') {
        host.split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or(host).to_owned()
    };
    match user {
        Some(u) => format!(
            "{}:{u}@{}",
            scheme.to_ascii_lowercase(),
            host.to_ascii_lowercase()
        ),
        None => format!(
            "{}:{}",
            scheme.to_ascii_lowercase(),
            host.to_ascii_lowercase()
        ),
    }
}

/// The user part of a URI, if it has one.
pub fn user_of(uri: &str) -> Option<&str> {
    let uri = uri_of(uri);
    let rest = uri.split_once(':')?.1;
    Some(rest.rsplit_once('@')?.0)
}

/// A URI parameter (`;name=value` inside the URI, §19.1.1).
pub fn uri_param(uri: &str, name: &str) -> Option<String> {
    // Inside brackets when it has them; a bare URI keeps its parameters
    // (unlike `uri_of`, which reads a bare addr-spec's as header parameters).
    let uri = match (uri.find('<'), uri.find('>')) {
        (Some(open), Some(close)) if open < close => &uri[open + 1..close],
        _ => uri.trim(),
    };
    uri.split('?').next()?.split(';').skip(1).find_map(|p| {
        let (n, v) = p.split_once('=').unwrap_or((p, ""));
        n.eq_ignore_ascii_case(name).then(|| v.to_owned())
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7701 §9.1, F1 as printed there (CRLF line ends, body of the
    /// length it declares).
    fn rfc7701_9_1_f1() -> Vec<u8> {
        let sdp = "v=0\r\no=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\n\
                   s=-\r\nc=IN IP4 client.atlanta.example.com\r\nm=message 7654 TCP/MSRP *\r\n\
                   a=accept-types:message/cpim text/plain text/html\r\n\
                   a=path:msrp://client.atlanta.example.com:7654/jshA7weztas;tcp\r\n\
                   a=chatroom:nickname private-messages\r\n";
        format!(
            "INVITE sip:chatroom22@chat.example.com SIP/2.0\r\n\
             Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n\
             Max-Forwards: 70\r\n\
             From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
             To: Chatroom 22 <sip:chatroom22@chat.example.com>\r\n\
             Call-ID: 3848276298220188511@atlanta.example.com\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:alice@client.atlanta.example.com;transport=tcp>\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
        .into_bytes()
    }

    #[test]
    fn rfc7701_9_1_invite_parses() {
        let m = SipMessage::parse(&rfc7701_9_1_f1()).expect("SIP");
        assert_eq!(m.method(), Some("INVITE"));
        assert_eq!(m.cseq(), Some((1, "INVITE")));
        assert_eq!(
            uri_of(m.header("From").expect("From")),
            "sip:alice@atlanta.example.com"
        );
        assert_eq!(
            display_name_of(m.header("f").expect("From")).as_deref(),
            Some("Alice")
        );
        assert_eq!(
            param(m.header("From").expect("From"), "tag").as_deref(),
            Some("9fxced76sl")
        );
        assert!(m.body.starts_with(b"v=0"));
    }

    #[test]
    fn compact_forms_and_folded_lines_are_read_as_their_long_form() {
        let text = "SUBSCRIBE sip:room@127.0.0.1:5 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:6;branch=z9hG4bK1\r\n\
                    f: <sip:a@b>;tag=1\r\nt: <sip:room@127.0.0.1>\r\ni: abc\r\nCSeq: 1\r\n SUBSCRIBE\r\n\
                    o: conference\r\nl: 0\r\n\r\n";
        let m = SipMessage::parse(text.as_bytes()).expect("SIP");
        assert_eq!(m.header("Event"), Some("conference"));
        assert_eq!(m.header("Call-ID"), Some("abc"));
        assert_eq!(m.cseq(), Some((1, "SUBSCRIBE")));
        assert_eq!(m.headers[0].0, "Via");
    }

    #[test]
    fn a_body_shorter_than_content_length_is_refused() {
        let text = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 10\r\n\r\nshort";
        assert_eq!(
            SipMessage::parse(text.as_bytes()).map_err(|e| e.kind()),
            Err("body_cut")
        );
    }

    #[test]
    fn what_is_not_sip_is_said() {
        for junk in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"\xff\xfe\r\n\r\n",
            b"INVITE",
        ] {
            assert!(SipMessage::parse(junk).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn a_response_copies_the_dialog_headers_and_tags_to() {
        let m = SipMessage::parse(&rfc7701_9_1_f1()).expect("SIP");
        let ok = SipMessage::parse(&m.response(200, "OK", "8321234356").to_bytes()).expect("SIP");
        assert_eq!(ok.status(), Some(200));
        assert_eq!(
            param(ok.header("To").expect("To"), "tag").as_deref(),
            Some("8321234356")
        );
        assert_eq!(ok.header("Call-ID"), m.header("Call-ID"));
    }

    #[test]
    fn aor_drops_port_and_parameters() {
        assert_eq!(
            aor_of("<sip:chatroom22@Chat.Example.com:5060;transport=tcp>"),
            "sip:chatroom22@chat.example.com"
        );
        assert_eq!(
            uri_param("<sip:room@h;gr=Romeo>", "gr").as_deref(),
            Some("Romeo")
        );
        assert_eq!(
            uri_param("sip:room@h;gr=Romeo", "gr").as_deref(),
            Some("Romeo")
        );
        assert_eq!(
            socket_of("sip:juliet@127.0.0.1:5070;transport=udp"),
            "127.0.0.1:5070".parse().ok()
        );
    }
}

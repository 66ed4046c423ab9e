//! RFC 3862: Common Presence and Instant Messaging message format
//! (`message/cpim`): message headers, a blank line, then one MIME entity.
//!
//! Header values are kept exactly as received (§2.2: "Message processors
//! MUST preserve all octets of all headers"); [`CpimHeader::value`](crate::cpim::CpimHeader::value) gives the
//! §2.3 unescaped text.

use crate::failure::MappingError;

/// Bound on the number of message plus content headers (design §5).
pub(crate) const MAX_HEADERS: usize = 128;

/// The namespace of the RFC 3862 §4 headers.
pub(crate) const NS_CPIM_HEADERS: &str = "urn:ietf:params:cpim-headers:";

/// One message header line `Name:;params Value` (RFC 3862 §3.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpimHeader {
    /// The header name with its namespace prefix, e.g. `imdn.Message-ID`.
    pub name: String,
    /// The parameters between the colon and the space, e.g. `;lang=fr`.
    pub params: String,
    /// The value as on the wire (escape sequences not yet decoded).
    pub raw_value: String,
}

/// A `From`, `To` or `cc` value: `[ Formal-name ] "<" URI ">"` (§4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpimAddress {
    /// The formal name, unquoted and unescaped.
    pub name: Option<String>,
    /// The URI between the angle brackets.
    pub uri: String,
}

/// A parsed `message/cpim` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpimMessage {
    /// Message headers in order (§2.2: order MUST NOT change).
    pub headers: Vec<CpimHeader>,
    /// MIME headers of the encapsulated entity, in order (§2.4).
    pub content_headers: Vec<(String, String)>,
    /// The encapsulated content bytes.
    pub content: Vec<u8>,
}

impl CpimHeader {
    /// A header whose value is `value`, escaped per §2.3.1.
    pub fn new(name: &str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            params: String::new(),
            raw_value: escape(value),
        }
    }

    /// The value with §2.3 escape sequences decoded.
    pub fn value(&self) -> String {
        unescape(&self.raw_value)
    }
}

impl CpimAddress {
    /// Parse `[ Formal-name ] "<" URI ">"`.
    pub fn parse(raw: &str) -> Option<Self> {
        let open = raw.rfind('<')?;
        let close = raw[open..].find('>')? + open;
        let uri = raw[open + 1..close].trim();
        if uri.is_empty() || !raw[close + 1..].trim().is_empty() {
            return None;
        }
        let name = raw[..open].trim();
        let name = if name.is_empty() {
            None
        } else if let Some(quoted) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
            Some(unescape(quoted))
        } else {
            Some(unescape(name))
        };
        Some(Self {
            name,
            uri: uri.to_owned(),
        })
    }

    fn write(&self) -> String {
        match &self.name {
            Some(name) => {
                let escaped = escape(name).replace('"', "\\\"");
                format!("\"{escaped}\" <{}>", self.uri)
            }
            None => format!("<{}>", self.uri),
        }
    }
}

impl CpimMessage {
    /// A message from `from` to `to` carrying `content` of `content_type`.
    pub fn new(
        from: &CpimAddress,
        to: &CpimAddress,
        date_time: Option<&str>,
        content_type: &str,
        content: Vec<u8>,
    ) -> Self {
        let mut headers = vec![
            CpimHeader {
                name: "From".into(),
                params: String::new(),
                raw_value: from.write(),
            },
            CpimHeader {
                name: "To".into(),
                params: String::new(),
                raw_value: to.write(),
            },
        ];
        if let Some(dt) = date_time {
            headers.push(CpimHeader::new("DateTime", dt));
        }
        Self {
            headers,
            content_headers: vec![("Content-Type".into(), content_type.to_owned())],
            content,
        }
    }

    /// Parse a `message/cpim` body (the SIP headers are the "m:" part, so the
    /// body starts with the message headers). CRLF is required by §2.2;
    /// bare LF is accepted too.
    pub fn parse(bytes: &[u8]) -> Result<Self, MappingError> {
        let bad = |reason| MappingError::MalformedCpim { reason };
        let mut rest = bytes;
        let mut headers = Vec::new();
        loop {
            let (line, next) = take_line(rest).ok_or(bad("message headers never end"))?;
            if line.is_empty() {
                rest = next;
                break;
            }
            if line.len() > 8 && line[..8].eq_ignore_ascii_case(b"content-") {
                // RFC 5438's examples (§7.1.1.3, §7.2.1.1) run the MIME
                // headers on without the blank line §2 requires; no RFC 3862
                // message header is called Content-*, so the MIME part starts here.
                break;
            }
            rest = next;
            if headers.len() >= MAX_HEADERS {
                return Err(bad("too many headers"));
            }
            let line = std::str::from_utf8(line).map_err(|_| bad("header is not UTF-8"))?;
            headers.push(parse_header(line).ok_or(bad("header line is not Name: Value"))?);
        }
        let mut content_headers: Vec<(String, String)> = Vec::new();
        loop {
            let Some((line, next)) = take_line(rest) else {
                // §2.4: "MUST include at least a Content-Type header".
                return Err(bad("encapsulated MIME headers never end"));
            };
            rest = next;
            if line.is_empty() {
                break;
            }
            let line = std::str::from_utf8(line).map_err(|_| bad("MIME header is not UTF-8"))?;
            if line.starts_with([' ', '\t']) {
                // RFC 5322 §2.2.3 folding inside the MIME part.
                let last = content_headers
                    .last_mut()
                    .ok_or(bad("folded first MIME header"))?;
                let more = line.trim();
                if !more.is_empty() {
                    if !last.1.is_empty() {
                        last.1.push(' ');
                    }
                    last.1.push_str(more);
                }
                continue;
            }
            if headers.len() + content_headers.len() >= MAX_HEADERS {
                return Err(bad("too many headers"));
            }
            let (name, value) = line.split_once(':').ok_or(bad("MIME header without ':'"))?;
            content_headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        let mut content = rest;
        let declared =
            find_ci(&content_headers, "content-length").and_then(|v| v.trim().parse().ok());
        if let Some(len) = declared.filter(|&len: &usize| len <= content.len()) {
            content = &content[..len];
        }
        Ok(Self {
            headers,
            content_headers,
            content: content.to_vec(),
        })
    }

    /// Serialize with CRLF line ends.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.content.len());
        for h in &self.headers {
            out.extend_from_slice(h.name.as_bytes());
            out.push(b':');
            out.extend_from_slice(h.params.as_bytes());
            out.push(b' ');
            out.extend_from_slice(h.raw_value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.content_headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.content);
        out
    }

    /// The first header of the RFC 3862 namespace called `name` (a header
    /// without prefix, or with a prefix bound to that namespace by `NS`).
    pub fn header(&self, name: &str) -> Option<&CpimHeader> {
        self.headers_in(NS_CPIM_HEADERS, name).into_iter().next()
    }

    /// Headers called `name` in namespace `ns` (§3.4: prefixes bound with `NS:`
    /// before use; a prefix-less name is in the default namespace).
    pub(crate) fn headers_in(&self, ns: &str, name: &str) -> Vec<&CpimHeader> {
        let mut default_ns = NS_CPIM_HEADERS.to_owned();
        let mut prefixes: Vec<(String, String)> = Vec::new();
        self.headers
            .iter()
            .filter(move |h| {
                if h.name == "NS" {
                    if let Some(addr) = CpimAddress::parse(&h.raw_value) {
                        match addr.name {
                            Some(prefix) => prefixes.push((prefix, addr.uri)),
                            None => default_ns = addr.uri,
                        }
                    }
                    return false;
                }
                let (h_ns, h_name) = match h.name.rsplit_once('.') {
                    Some((prefix, local)) => match prefixes.iter().rev().find(|(p, _)| p == prefix)
                    {
                        Some((_, uri)) => (uri.as_str(), local),
                        None => return false,
                    },
                    None => (default_ns.as_str(), h.name.as_str()),
                };
                h_ns == ns && h_name == name
            })
            .collect()
    }

    /// §4.1 `From`.
    pub fn from(&self) -> Option<CpimAddress> {
        self.header("From")
            .and_then(|h| CpimAddress::parse(&h.raw_value))
    }

    /// §4.2 `To` (every one).
    pub fn to(&self) -> Vec<CpimAddress> {
        self.headers_in(NS_CPIM_HEADERS, "To")
            .into_iter()
            .filter_map(|h| CpimAddress::parse(&h.raw_value))
            .collect()
    }

    /// §4.4 `DateTime`, as written (RFC 3339).
    pub fn date_time(&self) -> Option<String> {
        self.header("DateTime").map(CpimHeader::value)
    }

    /// §4.5 `Subject` (the first one).
    pub fn subject(&self) -> Option<String> {
        self.header("Subject").map(CpimHeader::value)
    }

    /// The encapsulated entity's Content-Type (§2.4: MUST be present).
    pub fn content_type(&self) -> Option<&str> {
        find_ci(&self.content_headers, "content-type")
    }
}

/// RFC 3862 §2.3.1: escape `\`, backspace, tab, LF, CR with their special
/// sequences and the other control characters as `\uxxxx`.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// RFC 3862 §2.3.1: decode escape sequences. An unknown sequence stands for
/// the character after the backslash; a lone final backslash is ignored.
pub fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => {}
            Some('b') => out.push('\u{8}'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('u') => {
                let hex: String = chars.clone().take(4).collect();
                match (hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit()))
                    .then(|| u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32))
                    .flatten()
                {
                    Some(decoded) => {
                        out.push(decoded);
                        chars.nth(3);
                    }
                    None => out.push('u'),
                }
            }
            Some(other) => out.push(other),
        }
    }
    out
}

fn parse_header(line: &str) -> Option<CpimHeader> {
    let (name, rest) = line.split_once(':')?;
    if name.is_empty() || !name.bytes().all(is_name_or_dot) {
        return None;
    }
    // Header = Header-name ":" *( ";" Parameter ) SP Header-value
    let (params, value) = if rest.starts_with(';') {
        match rest.split_once(' ') {
            Some((p, v)) => (p, v),
            None => (rest, ""),
        }
    } else {
        ("", rest.strip_prefix(' ').unwrap_or(rest))
    };
    Some(CpimHeader {
        name: name.to_owned(),
        params: params.to_owned(),
        raw_value: value.to_owned(),
    })
}

/// §3.6 NAMECHAR, plus the '.' of a namespace prefix.
fn is_name_or_dot(b: u8) -> bool {
    b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

fn take_line(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let nl = buf.iter().position(|&b| b == b'\n')?;
    let line = &buf[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, &buf[nl + 1..]))
}

fn find_ci<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const RFC3862_5_1: &[u8] = include_bytes!("../tests/fixtures/cpim/rfc3862-5.1-example.cpim");
    const LINPHONE: &[u8] =
        include_bytes!("../tests/fixtures/cpim/linphone-5.1-message-cpim-imdn.cpim");

    /// RFC 3862 §5.1: the example message, every header readable.
    #[test]
    fn rfc3862_example_parses_with_headers_in_order() {
        let m = CpimMessage::parse(RFC3862_5_1).unwrap();
        assert_eq!(m.headers.len(), 9);
        let from = m.from().unwrap();
        assert_eq!(from.name.as_deref(), Some("MR SANDERS"));
        assert_eq!(from.uri, "im:piglet@100akerwood.com");
        assert_eq!(m.to()[0].uri, "im:eeyore@100akerwood.com");
        assert_eq!(m.date_time().as_deref(), Some("2000-12-13T13:40:00-08:00"));
        assert_eq!(
            m.subject().as_deref(),
            Some("the weather will be fine today")
        );
        // "Subject:;lang=fr beau temps prevu pour aujourd'hui"
        assert_eq!(m.headers[4].params, ";lang=fr");
        assert_eq!(m.headers[4].value(), "beau temps prevu pour aujourd'hui");
        let vital = m.headers_in("mid:MessageFeatures@id.foo.com", "VitalMessageOption");
        assert_eq!(vital[0].value(), "Confirmation-requested");
        assert_eq!(m.content_type(), Some("text/xml; charset=utf-8"));
        assert_eq!(
            m.content,
            b"<body>\r\nHere is the text of my message.\r\n</body>\r\n"
        );
        // §2.2: octets and order preserved: serializing gives the input back.
        assert_eq!(m.to_bytes(), RFC3862_5_1);
    }

    /// real-clients: linphone's CPIM with an `NS: imdn <urn:ietf:params:imdn>`
    /// prefix and an inner text/plain with a Content-Length.
    #[test]
    fn linphone_cpim_yields_text_and_imdn_headers() {
        let m = CpimMessage::parse(LINPHONE).unwrap();
        assert_eq!(m.from().unwrap().uri, "sip:alice@sip.localhost");
        assert_eq!(m.to()[0].uri, "sip:juliet@localhost");
        assert_eq!(m.date_time().as_deref(), Some("2026-11-25T07:44:55Z"));
        let id = m.headers_in("urn:ietf:params:imdn", "Message-ID");
        assert_eq!(id[0].value(), "zy0y5CadA~Lb");
        assert_eq!(m.content_type(), Some("text/plain"));
        assert_eq!(std::str::from_utf8(&m.content).unwrap(), "CPIM héllo ✓ <&>");
        assert_eq!(m.to_bytes(), LINPHONE);
    }

    /// RFC 3862 §2.3: "\uxxxx", "\\", "\b", "\t", "\n", "\r".
    #[test]
    fn escape_sequences_round_trip() {
        let raw = "a\\b\u{8}\t\n\r\u{1}\u{7f}\"'ü";
        let escaped = escape(raw);
        assert_eq!(escaped, "a\\\\b\\b\\t\\n\\r\\u0001\\u007f\"'ü");
        assert_eq!(unescape(&escaped), raw);
        // Unknown escapes stand for the next character; a final '\' is ignored.
        assert_eq!(unescape("\\q\\\"\\'x\\"), "q\"'x");
        assert_eq!(unescape("\\u00e9\\u12"), "éu12");
    }

    #[test]
    fn built_message_parses_back() {
        let from = CpimAddress {
            name: Some("Juliet \"J\" Capulet".into()),
            uri: "sip:juliet@example.com".into(),
        };
        let to = CpimAddress {
            name: None,
            uri: "sip:romeo@example.net".into(),
        };
        let m = CpimMessage::new(
            &from,
            &to,
            Some("2026-11-25T07:44:55Z"),
            "text/plain;charset=UTF-8",
            b"hi".to_vec(),
        );
        let back = CpimMessage::parse(&m.to_bytes()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.from().unwrap(), from);
        assert_eq!(back.to(), vec![to]);
    }

    /// Found by fuzzing: an empty folded line after Content-Length left a
    /// trailing space, so the length was ignored on parse but honoured after
    /// a write → parse round trip.
    #[test]
    fn folded_empty_continuation_does_not_change_the_value() {
        let raw = b"From: <sip:a@b>\r\n\r\nContent-Length: 2\r\n \r\n\r\nhello";
        let m = CpimMessage::parse(raw).unwrap();
        assert_eq!(m.content_headers[0].1, "2");
        assert_eq!(m.content, b"he");
        assert_eq!(CpimMessage::parse(&m.to_bytes()).unwrap(), m);
    }

    #[test]
    fn truncated_or_garbage_input_is_an_error() {
        assert!(CpimMessage::parse(b"From: <sip:a@b>\r\n").is_err());
        assert!(CpimMessage::parse(b"no colon here\r\n\r\n\r\n").is_err());
        assert!(CpimMessage::parse(b"From: <sip:a@b>\r\n\r\nContent-Type: text/plain").is_err());
        assert!(CpimMessage::parse(b"").is_err());
    }
}

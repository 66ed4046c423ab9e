//! Message/CPIM (RFC 3862 §3) as the switch reads it: the message headers
//! (To, From, …), then the encapsulated MIME headers and content. The
//! switch forwards the bytes it received (RFC 7701 §6.1: "The MSRP switch
//! MUST NOT modify the content received in the SEND request"), so this
//! only reads addresses and the wrapped type; [`write`] builds messages
//! for the simulated participants.

use super::sip::uri_of;

/// The parts of a Message/CPIM body the switch routes by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CpimHead {
    /// Every `To` URI (RFC 7701 §6.1: more than one is refused with 403).
    pub(crate) to: Vec<String>,
    /// The `From` URI, if any.
    pub(crate) from: Option<String>,
    /// The encapsulated Content-Type, lowercased, if any.
    pub(crate) content_type: Option<String>,
    /// The encapsulated content.
    pub(crate) content: Vec<u8>,
}

/// Read a Message/CPIM body; `None` when it has no blank line after its
/// message headers (then it is not Message/CPIM).
pub(crate) fn parse(body: &[u8]) -> Option<CpimHead> {
    let (head, rest) = split_blank(body)?;
    let head = std::str::from_utf8(head).ok()?;
    let mut to = Vec::new();
    let mut from = None;
    for line in head.lines() {
        let (name, value) = line.split_once(':')?;
        match name.trim() {
            n if n.eq_ignore_ascii_case("To") => to.push(uri_of(value.trim()).to_owned()),
            n if n.eq_ignore_ascii_case("From") => from = Some(uri_of(value.trim()).to_owned()),
            _ => {}
        }
    }
    let (content_type, content) = match split_blank(rest) {
        Some((mime, content)) => {
            let mime = String::from_utf8_lossy(mime);
            let content_type = mime.lines().find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case("Content-Type")
                    .then(|| v.trim().to_ascii_lowercase())
            });
            (content_type, content.to_vec())
        }
        None => (None, rest.to_vec()),
    };
    Some(CpimHead {
        to,
        from,
        content_type,
        content,
    })
}

/// A Message/CPIM body from `from` to `to` carrying `text` as text/plain
/// (RFC 3862 §3, as in RFC 7701 §9.3).
pub(crate) fn write(from: &str, to: &str, text: &str) -> Vec<u8> {
    format!(
        "To: <{to}>\r\nFrom: <{from}>\r\n\r\nContent-Type: text/plain;charset=utf-8\r\n\r\n{text}"
    )
    .into_bytes()
}

fn split_blank(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    let lf = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    let (end, start) = match (crlf, lf) {
        (Some(a), Some(b)) if b.0 < a.0 => b,
        (Some(a), _) => a,
        (None, Some(b)) => b,
        (None, None) => return None,
    };
    Some((&bytes[..end], &bytes[start..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7701 §9.4 F1's Message/CPIM body.
    const RFC7701_9_4_F1: &[u8] = b"To: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>\r\n\
        DateTime: 2009-03-02T15:02:31-03:00\r\n\r\nContent-Type: text/plain\r\n\r\nHello Bob.";

    #[test]
    fn rfc7701_9_4_private_message_is_read() {
        let head = parse(RFC7701_9_4_F1).expect("CPIM");
        assert_eq!(head.to, ["sip:bob@example.com"]);
        assert_eq!(head.from.as_deref(), Some("sip:alice@example.com"));
        assert_eq!(head.content_type.as_deref(), Some("text/plain"));
        assert_eq!(head.content, b"Hello Bob.");
    }

    #[test]
    fn written_messages_read_back() {
        let head = parse(&write("sip:a@h", "sip:room@h", "hi")).expect("CPIM");
        assert_eq!(head.to, ["sip:room@h"]);
        assert_eq!(head.content, b"hi");
    }

    #[test]
    fn plain_text_is_not_cpim() {
        assert_eq!(parse(b"just some text"), None);
    }
}

//! RFC 3261 §7.4 and RFC 7572 §7: turning a SIP message body (with its
//! Content-Type, charset and Content-Encoding) into the text of an XMPP
//! `<body/>`, or refusing it with the status RFC 3261 §21.4.13 names.

use parley_xmpp::stanza::Element;

use crate::content_coding::decode_content_coding;
use crate::cpim::CpimMessage;
use crate::failure::MappingError;
use crate::iscomposing::IsComposing;
use crate::media_type::{ContentType, MediaType};
use crate::xml::is_xml_text;

/// The media types Parley takes in a SIP MESSAGE, as a 415 lists them (RFC
/// 3261 §21.4.13, §20.1): what [`decode`] translates, and `message/imdn+xml`,
/// an RFC 5438 notification that `imdn::inspect` reads bare.
pub(crate) const ACCEPT: &str = "text/plain, text/html, message/cpim, message/imdn+xml, \
     application/im-iscomposing+xml, multipart/signed, application/pkcs7-mime";

/// What a SIP body becomes on the XMPP side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Content {
    /// The plain text for `<body/>`; `None` for a notification without text
    /// (an RFC 3994 isComposing indication).
    pub text: Option<String>,
    /// Extra payload elements (e.g. XHTML-IM), in order.
    pub payloads: Vec<Element>,
    /// The RFC 3862 wrapper the text came in, if it came in one: its
    /// From/To/DateTime and extension headers (e.g. IMDN) stay readable.
    pub cpim: Option<CpimMessage>,
}

/// Decode a body: undo the content coding, then translate by media type.
pub(crate) fn decode(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    raw: &[u8],
) -> Result<Content, MappingError> {
    decode_typed(&ContentType::parse(content_type), content_encoding, raw)
}

/// [`decode`] with the Content-Type parsed already.
pub(crate) fn decode_typed(
    content_type: &ContentType,
    content_encoding: Option<&str>,
    raw: &[u8],
) -> Result<Content, MappingError> {
    let inflated = decode_content_coding(content_encoding, raw)?;
    // RFC 3261 §7.4.1: a body "MUST" come with a Content-Type; real phones
    // always send one. Without it, treat the body as text/plain (UTF-8).
    let media = content_type.for_body()?;
    decode_media(&media, &inflated)
}

fn decode_media(media: &MediaType, bytes: &[u8]) -> Result<Content, MappingError> {
    if media.is("text", "plain") {
        // RFC 7572 §7: text/plain "MUST" become the character data of <body/>.
        Ok(Content {
            text: Some(decode_charset(media.charset(), bytes)?),
            payloads: Vec::new(),
            cpim: None,
        })
    } else if media.is("text", "html") {
        // RFC 7572 §7: a gateway that processes text/html "MUST transform" it
        // into XHTML-IM (XEP-0071), with the plain text as <body/>.
        let html = decode_charset(media.charset(), bytes)?;
        let (text, xhtml) = crate::xhtml_im::from_html(&html)?;
        Ok(Content {
            text: Some(text),
            payloads: vec![xhtml],
            cpim: None,
        })
    } else if media.is("application", "im-iscomposing+xml") {
        // RFC 3994 → XEP-0085: a chat state, no body.
        let indication = IsComposing::parse(bytes)?;
        Ok(Content {
            text: None,
            payloads: vec![indication.to_chat_state()],
            cpim: None,
        })
    } else if media.is("message", "cpim") {
        // Design §3: message/cpim (RFC 3862) is unwrapped; the encapsulated
        // entity is translated by its own type (one level: CPIM in CPIM is refused).
        let cpim = CpimMessage::parse(bytes)?;
        let inner = match cpim.content_type() {
            Some(ct) => MediaType::parse(ct)?,
            None => MediaType::text_plain_utf8(),
        };
        if inner.is("message", "cpim") {
            return Err(MappingError::UnsupportedMediaType);
        }
        let mut content = decode_media(&inner, &cpim.content)?;
        content.cpim = Some(cpim);
        Ok(content)
    } else {
        // RFC 7572 §7: other types are "a matter of implementation".
        Err(MappingError::UnsupportedMediaType)
    }
}

/// Decode text in `charset` (default UTF-8, RFC 3261 §7.4.1 via RFC 2046
/// would say US-ASCII, but every real client means UTF-8). Unknown charsets
/// are 415; bytes invalid in the charset, or characters XML cannot carry, 400.
pub(crate) fn decode_charset(charset: Option<&str>, bytes: &[u8]) -> Result<String, MappingError> {
    let encoding = match charset.map(str::trim) {
        None => encoding_rs::UTF_8,
        // What `for_label` finds for it, without its label search (issue 24).
        Some(label) if label.eq_ignore_ascii_case("utf-8") => encoding_rs::UTF_8,
        Some(label) => encoding_rs::Encoding::for_label(label.as_bytes())
            .ok_or(MappingError::UnsupportedCharset)?,
    };
    let text = encoding
        .decode_without_bom_handling_and_without_replacement(bytes)
        .ok_or(MappingError::InvalidBody {
            reason: "body is not valid in its charset",
        })?;
    if !is_xml_text(&text) {
        return Err(MappingError::InvalidBody {
            reason: "body holds characters XML 1.0 cannot carry",
        });
    }
    Ok(text.into_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;

    use super::*;
    use crate::content_coding::MAX_BODY_BYTES;

    #[test]
    fn latin1_charset_is_decoded() {
        let t = decode(Some("text/plain; charset=ISO-8859-1"), None, b"caf\xe9").unwrap();
        assert_eq!(t.text.as_deref(), Some("café"));
    }

    /// RFC 3261 §21.4.13: 415 for a charset the server does not support.
    #[test]
    fn unknown_charset_is_415() {
        let e = decode(Some("text/plain;charset=x-klingon"), None, b"x").unwrap_err();
        assert_eq!(e.sip_status().code, 415);
    }

    #[test]
    fn invalid_utf8_is_400_not_replaced() {
        let e = decode(Some("text/plain"), None, b"\xff\xfe").unwrap_err();
        assert_eq!(e.sip_status().code, 400);
    }

    /// RFC 7572 §7: text/html becomes XHTML-IM plus a plain <body/>.
    #[test]
    fn html_becomes_xhtml_im_and_plain_text() {
        let c = decode(
            Some("text/html; charset=utf-8"),
            None,
            b"<p>Hi <b>there</b></p>",
        )
        .unwrap();
        assert_eq!(c.text.as_deref(), Some("Hi there"));
        assert_eq!(c.payloads[0].name, "html");
        assert_eq!(c.payloads[0].ns, crate::xhtml_im::NS_XHTML_IM);
    }

    #[test]
    fn unknown_media_type_is_415() {
        let e = decode(Some("application/octet-stream"), None, b"x").unwrap_err();
        assert_eq!(e, MappingError::UnsupportedMediaType);
    }

    /// real-clients README: "support deflate (RFC 3261 §20.12) or answer 415".
    #[test]
    fn deflate_zlib_and_raw_are_inflated_and_unknown_codings_are_415() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"hello").unwrap();
        let zlib = z.finish().unwrap();
        assert_eq!(
            decode(None, Some("deflate"), &zlib)
                .unwrap()
                .text
                .as_deref(),
            Some("hello")
        );
        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        d.write_all(b"hello").unwrap();
        let raw = d.finish().unwrap();
        assert_eq!(
            decode(None, Some("Deflate"), &raw).unwrap().text.as_deref(),
            Some("hello")
        );
        assert_eq!(
            decode(None, Some("br"), b"x").unwrap_err(),
            MappingError::UnsupportedContentEncoding
        );
        assert!(decode(None, Some("deflate"), b"not deflate").is_err());
    }

    /// real-clients: linphone's message/cpim with IMDN headers around text/plain.
    #[test]
    fn cpim_is_unwrapped_to_its_inner_text() {
        let raw = include_bytes!("../tests/fixtures/cpim/linphone-5.1-message-cpim-imdn.cpim");
        let c = decode(Some("message/cpim"), None, raw).unwrap();
        assert_eq!(c.text.as_deref(), Some("CPIM héllo ✓ <&>"));
        let cpim = c.cpim.unwrap();
        assert_eq!(cpim.date_time().as_deref(), Some("2026-11-25T07:44:55Z"));
        assert_eq!(cpim.from().unwrap().uri, "sip:alice@sip.localhost");
    }

    /// real-clients: linphone's isComposing is deflated CPIM: inflated,
    /// unwrapped, and an RFC 3994 "active" becomes XEP-0085 <composing/>.
    #[test]
    fn deflated_cpim_iscomposing_becomes_a_chat_state() {
        let raw = include_bytes!("../tests/fixtures/sip/linphone-5.1-iscomposing.body");
        let inflated = decode_content_coding(Some("deflate"), raw).unwrap();
        let cpim = CpimMessage::parse(&inflated).unwrap();
        assert_eq!(cpim.content_type(), Some("application/im-iscomposing+xml"));
        let c = decode(Some("message/cpim"), Some("deflate"), raw).unwrap();
        assert_eq!(c.text, None);
        assert_eq!(c.payloads[0].name, "composing");
        assert_eq!(c.payloads[0].ns, crate::iscomposing::NS_CHATSTATES);
    }

    /// RFC 3261 §21.4.13: what a 415 lists must be what Parley takes. Each
    /// type in [`ACCEPT`] gets past the type check (its body may still be
    /// malformed), `message/imdn+xml` is read as a notification, and the
    /// S/MIME types are RFC 3923 objects (`e2e`, ahead of this module).
    #[test]
    fn every_type_accept_lists_is_taken() {
        for media in ACCEPT.split(", ") {
            let result = match media {
                "message/imdn+xml" => {
                    crate::imdn::inspect(Some(media), None, b"<imdn/>").map(|_| ())
                }
                "multipart/signed" | "application/pkcs7-mime" => {
                    assert!(crate::e2e::is_smime(media), "{media}");
                    continue;
                }
                _ => decode(Some(media), None, b"").map(|_| ()),
            };
            assert_ne!(result, Err(MappingError::UnsupportedMediaType), "{media}");
        }
        // And a type it does not list is refused.
        assert_eq!(
            decode(Some("application/octet-stream"), None, b"x").unwrap_err(),
            MappingError::UnsupportedMediaType
        );
    }

    #[test]
    fn inflating_past_the_bound_is_refused() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![b'a'; MAX_BODY_BYTES + 10]).unwrap();
        let bomb = z.finish().unwrap();
        assert!(bomb.len() < 1024);
        assert_eq!(
            decode(None, Some("deflate"), &bomb).unwrap_err(),
            MappingError::BodyTooLarge {
                limit: MAX_BODY_BYTES
            }
        );
    }
}

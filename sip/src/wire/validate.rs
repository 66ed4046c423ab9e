//! RFC 3261 §8.2 and RFC 4475 §3.1.2: what a request must carry before a UAS
//! acts on it, and what a response must carry before a client transaction
//! takes it.
//!
//! ezk accepts several RFC 4475 §3.1.2 messages (crates.md §4); the checks
//! here reject them: empty Via/Contact parameters, unbalanced quotes,
//! CSeq/method mismatch, overlarge scalars, non-GMT Date, escaped headers in
//! the Request-URI, spaces inside `<>`.

use std::borrow::Cow;

use bytesstr::BytesStr;
use ezk_sip_types::header::HeaderParse;
use ezk_sip_types::header::typed::Via;

use crate::wire::fast::{share, share_common};
use crate::wire::fields::{FieldValue, Key};
use crate::wire::header::{Address, each_parameter, outside_quotes};
use crate::wire::message::{Message, StartLine, has_line_break, unfold};
use crate::wire::text;
use crate::wire::uri::Uri;

/// A request that passed validation, with the fields the layers above need.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The method as sent (a slice of the received bytes, as the texts
    /// here are: issue 24).
    pub method: BytesStr,
    /// The Request-URI as sent.
    pub request_uri: BytesStr,
    /// The Request-URI, typed.
    pub uri: Uri,
    /// Top Via.
    pub via: ViaHead,
    /// From.
    pub from: Address,
    /// To.
    pub to: Address,
    /// Call-ID.
    pub call_id: BytesStr,
    /// CSeq number.
    pub cseq: u32,
    /// Max-Forwards, when present.
    pub max_forwards: Option<u8>,
}

/// The top Via of a message (RFC 3261 §20.42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViaHead {
    /// Transport token (`UDP`, `TCP`, …), in capitals.
    pub transport: BytesStr,
    /// sent-by, `host[:port]` as sent.
    pub sent_by: BytesStr,
    /// The branch parameter, when present.
    pub branch: Option<BytesStr>,
}

/// A response that passed validation: what matching it to its client
/// transaction takes (RFC 3261 §17.1.3), the CSeq method borrowed from
/// the message (issue 24: a response to our own request is read for
/// little, and its Via's transport and sent-by were two allocations).
#[derive(Debug, Clone)]
pub struct ResponseHead<'m> {
    /// Status code.
    pub status: u16,
    /// The top Via's branch parameter, when present.
    pub branch: Option<BytesStr>,
    /// CSeq number.
    pub cseq: u32,
    /// CSeq method.
    pub cseq_method: &'m str,
}

/// How a request is refused: the status and reason phrase the peer hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{status} {reason}")]
pub struct Rejection {
    /// Status code (4xx/5xx).
    pub status: u16,
    /// Reason phrase.
    pub reason: &'static str,
}

impl Rejection {
    const fn bad(reason: &'static str) -> Self {
        Rejection {
            status: 400,
            reason,
        }
    }

    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self.status {
            400 => "bad_request",
            416 => "unsupported_uri_scheme",
            483 => "too_many_hops",
            _ => "rejected",
        }
    }
}

/// Checks a request; on success returns its typed head.
pub fn request(msg: &Message) -> Result<RequestHead, Rejection> {
    let StartLine::Request { method, uri } = &msg.start else {
        return Err(Rejection::bad("Not A Request"));
    };
    let parsed_uri =
        Uri::parse_in(uri, uri).map_err(|_| Rejection::bad("Malformed Request-URI"))?;
    match &parsed_uri {
        // RFC 4475 §3.1.2.11: escaped headers have no place in a Request-URI.
        // A `?` in the user part is legal (RFC 4475 §3.1.1.2), so ask the parsed URI.
        Uri::Sip(u) if !u.header_params.is_empty() => {
            return Err(Rejection::bad("Headers In Request-URI"));
        }
        Uri::Sip(_) | Uri::Tel(_) => {}
        Uri::Other { scheme, .. } if scheme == "im" || scheme == "pres" => {}
        // RFC 3261 §8.2.2.1.
        Uri::Other { .. } => {
            return Err(Rejection {
                status: 416,
                reason: "Unsupported URI Scheme",
            });
        }
    }
    let via = vias(msg)?;
    // RFC 4475 §3.2.1: the magic cookie with no identifier after it; "could
    // reject the request with a 400", which keeps such requests from sharing
    // one transaction key.
    if via.branch.as_deref() == Some("z9hG4bK") {
        return Err(Rejection::bad("Missing Transaction Identifier"));
    }
    let from = address(msg, Key::From, "Malformed From")?;
    let to = address(msg, Key::To, "Malformed To")?;
    let call_id = call_id(msg)?;
    let (cseq, cseq_method) = cseq(msg)?;
    // RFC 3261 §8.2 / RFC 4475 §3.1.2.17–18: the CSeq method equals the request method.
    if cseq_method != method.as_str() {
        return Err(Rejection::bad("CSeq Method Mismatch"));
    }
    let max_forwards = match msg.headers.by_key(Key::MaxForwards).next() {
        None => None,
        Some(value) => {
            let v = text::trim(&value);
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Rejection::bad("Malformed Max-Forwards"));
            }
            // RFC 4475 §3.1.2.4: a value over 255 is out of range.
            Some(
                v.parse::<u8>()
                    .map_err(|_| Rejection::bad("Max-Forwards Out Of Range"))?,
            )
        }
    };
    // RFC 3261 §16.3 item 2: the gateway forwards onward; a spent hop count ends here.
    if max_forwards == Some(0) && method != "OPTIONS" {
        return Err(Rejection {
            status: 483,
            reason: "Too Many Hops",
        });
    }
    // RFC 3261 §20.17 / RFC 4475 §3.1.2.12: the only time zone is GMT.
    if let Some(date) = msg.headers.by_key(Key::Date).next()
        && !date.trim().ends_with(" GMT")
    {
        return Err(Rejection::bad("Malformed Date"));
    }
    for raw in msg.headers.by_key(Key::Contact) {
        let value = unfolded(msg, raw);
        if value.trim() == "*" {
            continue;
        }
        for contact in outside_quotes(&value, b',') {
            Address::parse_in(raw.src(), contact)
                .map_err(|_| Rejection::bad("Malformed Contact"))?;
        }
    }
    Ok(RequestHead {
        method: method.clone(),
        request_uri: uri.clone(),
        uri: parsed_uri,
        via,
        from,
        to,
        call_id,
        cseq,
        max_forwards,
    })
}

/// Checks a response; on success returns its typed head.
pub fn response(msg: &Message) -> Result<ResponseHead<'_>, Rejection> {
    let StartLine::Response { status, .. } = &msg.start else {
        return Err(Rejection::bad("Not A Response"));
    };
    let branch = vias_with(msg, true, |raw, _, _, branch| {
        branch.map(|branch| share(Some(raw), branch))
    })?;
    call_id(msg)?;
    let (cseq, cseq_method) = cseq(msg)?;
    Ok(ResponseHead {
        status: *status,
        branch,
        cseq,
        cseq_method,
    })
}

/// A raw header value with RFC 3261 §7.3.1 folding undone and trimmed, as
/// `Message::header_values` gives it, borrowed when nothing was folded.
fn unfolded<'a>(msg: &Message, raw: FieldValue<'a>) -> Cow<'a, str> {
    let value = raw.as_str();
    if !msg.headers.unfolded() && has_line_break(value) {
        Cow::Owned(unfold(value))
    } else {
        Cow::Borrowed(text::trim(value))
    }
}

pub(crate) fn vias(msg: &Message) -> Result<ViaHead, Rejection> {
    vias_with(msg, true, via_head)
}

/// The top Via as a request's head keeps it: its transport token in
/// capitals, its sent-by, its branch; slices of the received header value
/// `raw` where they lie in it (issue 24: three copies before), copies
/// where it was unfolded or the token had small letters.
fn via_head(raw: &BytesStr, transport: &str, sent_by: &str, branch: Option<&str>) -> ViaHead {
    let transport = if transport.bytes().any(|b| b.is_ascii_lowercase()) {
        BytesStr::from(transport.to_ascii_uppercase())
    } else {
        share_common(Some(raw), transport, &["UDP", "TCP", "TLS", "WS", "WSS"])
    };
    ViaHead {
        transport,
        sent_by: share(Some(raw), sent_by),
        branch: branch.map(|branch| share(Some(raw), branch)),
    }
}

/// [`vias`] without the one-pass reading of the common shape: what
/// `wire::fast_equivalence` compares against.
#[cfg(test)]
pub(crate) fn vias_by_parts(msg: &Message) -> Result<ViaHead, Rejection> {
    vias_with(msg, false, via_head)
}

/// Checks every Via (RFC 3261 §20.42) and returns what `top_of` makes of
/// the first element's transport, sent-by and branch.
fn vias_with<T>(
    msg: &Message,
    fast: bool,
    top_of: impl FnOnce(&BytesStr, &str, &str, Option<&str>) -> T,
) -> Result<T, Rejection> {
    let mut top_of = Some(top_of);
    let mut top = None;
    for raw in msg.headers.by_key(Key::Via) {
        let value = unfolded(msg, raw);
        // The usual Via, one element of the common shape, in one pass
        // (issue 24); any other is split and checked part by part.
        if fast && let Some(via) = crate::wire::fast::via(&value) {
            if let Some(top_of) = top_of.take() {
                top = Some(top_of(raw.src(), via.transport, via.sent_by, via.branch));
            }
            continue;
        }
        // ezk's Via parser takes the buffer its input lies in: the
        // message's own bytes when nothing was unfolded, a copy otherwise.
        let src = match &value {
            Cow::Borrowed(_) => AsRef::<bytes::Bytes>::as_ref(raw.src()).clone(),
            Cow::Owned(unfolded) => bytes::Bytes::copy_from_slice(unfolded.as_bytes()),
        };
        let value = match &value {
            Cow::Borrowed(value) => value,
            Cow::Owned(_) => {
                std::str::from_utf8(&src[..]).map_err(|_| Rejection::bad("Malformed Via"))?
            }
        };
        for element in outside_quotes(value, b',') {
            let element = element.trim();
            if element.is_empty() {
                return Err(Rejection::bad("Malformed Via"));
            }
            // RFC 4475 §3.1.2.1: `;;` — ezk's parameter parser accepts empty names.
            let params_at = element.find(';').unwrap_or(element.len());
            // The branch as sent: ezk percent-decodes parameter values
            // (`%66` reads as `f`), but the branch is a token (RFC 3261
            // §25.1 `via-branch`), compared as the bytes sent (RFC 4475
            // §3.1.1.2 has `%` in one). The first parameter named `branch`
            // decides.
            let mut branch: Option<Option<&str>> = None;
            each_parameter(&element[params_at..], |name, value| {
                if branch.is_none() && name.eq_ignore_ascii_case("branch") {
                    branch = Some(value);
                }
            })
            .map_err(|_| Rejection::bad("Malformed Via"))?;
            let transport = via_transport(&src, element)?;
            if let Some(top_of) = top_of.take() {
                // The last word before the parameters: "SIP / 2.0 / UDP host"
                // (RFC 4475 §3.1.1.1) puts spaces around the slashes.
                let sent_by = element[..params_at]
                    .trim()
                    .rsplit(char::is_whitespace)
                    .next()
                    .unwrap_or_default();
                top = Some(top_of(raw.src(), &transport, sent_by, branch.flatten()));
            }
        }
    }
    top.ok_or(Rejection::bad("Missing Via"))
}

/// The transport token of one Via element that parses whole: the common
/// shapes without nom (issue 24), the rest by ezk as before. `src` is the
/// buffer `element` lies in (ezk slices it).
pub(crate) fn via_transport<'a>(
    src: &bytes::Bytes,
    element: &'a str,
) -> Result<Cow<'a, str>, Rejection> {
    via_transport_with(src, element, true)
}

/// [`via_transport`] by ezk alone: what `wire::fast_equivalence` compares against.
#[cfg(test)]
pub(crate) fn via_transport_by_ezk<'a>(
    src: &bytes::Bytes,
    element: &'a str,
) -> Result<Cow<'a, str>, Rejection> {
    via_transport_with(src, element, false)
}

fn via_transport_with<'a>(
    src: &bytes::Bytes,
    element: &'a str,
    fast: bool,
) -> Result<Cow<'a, str>, Rejection> {
    if fast && let Some(transport) = crate::wire::fast::via_transport(element) {
        return Ok(Cow::Borrowed(transport));
    }
    let (rest, via) = Via::parse(src, element).map_err(|_| Rejection::bad("Malformed Via"))?;
    if !rest.trim().is_empty() {
        return Err(Rejection::bad("Malformed Via"));
    }
    Ok(Cow::Owned(via.transport.as_str().to_owned()))
}

fn address(msg: &Message, key: Key, reason: &'static str) -> Result<Address, Rejection> {
    let mut values = msg.headers.by_key(key);
    let Some(value) = values.next() else {
        return Err(Rejection::bad("Missing Mandatory Header"));
    };
    if values.next().is_some() {
        return Err(Rejection::bad(reason));
    }
    // The URI's parts slices of the received value when nothing was unfolded.
    Address::parse_in(value.src(), &unfolded(msg, value)).map_err(|_| Rejection::bad(reason))
}

fn call_id(msg: &Message) -> Result<BytesStr, Rejection> {
    let raw = msg
        .headers
        .by_key(Key::CallId)
        .next()
        .ok_or(Rejection::bad("Missing Call-ID"))?;
    let value = text::trim(raw.as_str());
    if value.is_empty() || contains_whitespace(value) {
        return Err(Rejection::bad("Malformed Call-ID"));
    }
    Ok(raw.slice_ref(value))
}

/// `text.contains(char::is_whitespace)`, a byte at a time while the text is
/// ASCII (issue 24: the char-by-char search was ~600 instructions for a
/// Call-ID). `char::is_whitespace`'s ASCII members are U+0009–U+000D and
/// U+0020.
fn contains_whitespace(text: &str) -> bool {
    match text
        .bytes()
        .position(|b| !b.is_ascii() || matches!(b, b'\t'..=b'\r' | b' '))
    {
        None => false,
        Some(at) if text.as_bytes()[at].is_ascii() => true,
        // Every byte before `at` is ASCII, so `at` starts a character.
        Some(at) => text[at..].contains(char::is_whitespace),
    }
}

fn cseq(msg: &Message) -> Result<(u32, &str), Rejection> {
    let value = msg
        .headers
        .by_key(Key::CSeq)
        .next()
        .ok_or(Rejection::bad("Missing CSeq"))?;
    let mut parts = value.as_str().split_whitespace();
    let (Some(number), Some(method), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Rejection::bad("Malformed CSeq"));
    };
    if !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rejection::bad("Malformed CSeq"));
    }
    // RFC 3261 §8.1.1.5: the sequence number MUST be less than 2**31.
    let number = number
        .parse::<u32>()
        .ok()
        .filter(|n| *n < (1 << 31))
        .ok_or(Rejection::bad("CSeq Out Of Range"))?;
    Ok((number, method))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::wire::message::ParseLimits;

    fn check(s: &str) -> Result<RequestHead, Rejection> {
        let msg = Message::parse(Bytes::copy_from_slice(s.as_bytes()), ParseLimits::default())
            .expect("parses");
        request(&msg)
    }

    const GOOD: &str = "MESSAGE sip:bob@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport\r\n\
        Max-Forwards: 70\r\n\
        From: \"Alice\" <sip:alice@example.com>;tag=49583\r\n\
        To: <sip:bob@example.com>\r\n\
        Call-ID: a84b4c76e66710\r\n\
        CSeq: 1 MESSAGE\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn well_formed_request_passes_with_its_head() {
        let head = check(GOOD).expect("valid");
        assert_eq!(head.via.branch.as_deref(), Some("z9hG4bK776"));
        assert_eq!(head.via.sent_by, "192.0.2.1:5060");
        assert_eq!(head.from.param("tag"), Some("49583"));
        assert_eq!(head.cseq, 1);
    }

    /// The top Via's sent-by and branch are the received bytes, shared
    /// rather than copied (its usual transports are constants); a transport
    /// sent in small letters is read in capitals, and a folded Via (undone
    /// into a copy) gives the same parts.
    #[test]
    fn the_top_via_is_read_from_the_received_bytes() {
        let msg = Message::parse(
            Bytes::copy_from_slice(GOOD.as_bytes()),
            ParseLimits::default(),
        )
        .expect("parses");
        let head = request(&msg).expect("valid");
        let received = msg.headers.by_key(Key::Via).next().expect("a Via").as_str();
        let branch = head.via.branch.as_deref().expect("a branch");
        for part in [head.via.sent_by.as_str(), branch] {
            let within = received.as_bytes().as_ptr_range();
            assert!(within.contains(&part.as_ptr()), "{part} was copied");
        }
        assert_eq!(head.via.transport, "UDP");

        let lower = check(&GOOD.replace("SIP/2.0/UDP", "SIP/2.0/udp")).expect("valid");
        assert_eq!(lower.via.transport, "UDP");
        assert_eq!(lower.via.sent_by, "192.0.2.1:5060");

        let folded = check(&GOOD.replace("UDP 192.0.2.1", "UDP\r\n 192.0.2.1")).expect("valid");
        assert_eq!(folded.via, head.via);
    }

    #[test]
    fn missing_call_id_is_400() {
        let err = check(&GOOD.replace("Call-ID: a84b4c76e66710\r\n", "")).expect_err("invalid");
        assert_eq!(err.status, 400);
    }

    /// The byte-wise check agrees with `char::is_whitespace` on every
    /// character up to U+30FF, inside ASCII text and after non-ASCII.
    #[test]
    fn contains_whitespace_is_what_char_is_whitespace_says() {
        let mut samples: Vec<String> = (0u32..0x3100)
            .filter_map(char::from_u32)
            .map(|c| format!("a1b{c}z"))
            .collect();
        samples.extend(
            [
                "",
                "abc",
                "f81d4fae@192.0.2.4",
                "é\u{3000}",
                "éa b",
                "\u{a0}",
                "a\u{85}",
            ]
            .map(str::to_owned),
        );
        for text in &samples {
            assert_eq!(
                super::contains_whitespace(text),
                text.contains(char::is_whitespace),
                "{text:?}"
            );
        }
    }

    /// RFC 4475 §3.1.2.17.
    #[test]
    fn cseq_method_mismatch_is_400() {
        let err = check(&GOOD.replace("1 MESSAGE", "1 OPTIONS")).expect_err("invalid");
        assert_eq!(err.reason, "CSeq Method Mismatch");
    }

    /// RFC 4475 §3.1.2.4.
    #[test]
    fn overlarge_scalars_are_400() {
        assert_eq!(
            check(&GOOD.replace("1 MESSAGE", "36893488147419103232 MESSAGE"))
                .expect_err("invalid")
                .status,
            400
        );
        assert_eq!(
            check(&GOOD.replace("Max-Forwards: 70", "Max-Forwards: 300"))
                .expect_err("invalid")
                .status,
            400
        );
    }

    /// RFC 4475 §3.1.2.1.
    #[test]
    fn empty_via_parameters_are_400() {
        let err = check(&GOOD.replace(";branch=z9hG4bK776;rport", ";;,;,,")).expect_err("invalid");
        assert_eq!(err.reason, "Malformed Via");
    }

    /// ezk defect: its `Vec<Via>` decoder stops at the first element it
    /// cannot parse and still returns `Ok` with what it had, and its parameter
    /// parser takes empty names. Each element is checked whole here instead.
    #[test]
    fn via_list_with_a_broken_element_is_rejected_where_ezk_truncates() {
        let msg = Message::parse(
            Bytes::copy_from_slice(
                GOOD.replace(
                    ";branch=z9hG4bK776;rport",
                    ";branch=z9hG4bK776, SIP/2.0/UDP ;;bad",
                )
                .as_bytes(),
            ),
            ParseLimits::default(),
        )
        .expect("parses");
        let mut headers = ezk_sip_types::Headers::new();
        headers.extend(msg.headers.iter().map(|(n, v)| (n, v.to_shared())));
        let ezk: Vec<Via> = headers.get_named().expect("ezk says fine");
        assert_eq!(ezk.len(), 1, "the ezk defect: the broken element vanished");
        assert_eq!(request(&msg).expect_err("invalid").reason, "Malformed Via");
    }

    #[test]
    fn zero_max_forwards_is_483() {
        let err = check(&GOOD.replace("Max-Forwards: 70", "Max-Forwards: 0")).expect_err("invalid");
        assert_eq!(err.status, 483);
    }

    #[test]
    fn tel_request_uri_is_accepted() {
        let head =
            check(&GOOD.replace("sip:bob@example.com SIP", "tel:+15551234 SIP")).expect("valid");
        assert_eq!(head.uri.scheme(), "tel");
    }

    /// RFC 3261 §8.2.2.1.
    #[test]
    fn unknown_request_uri_scheme_is_416() {
        let err = check(&GOOD.replace("sip:bob@example.com SIP", "nobody:opaque SIP"))
            .expect_err("invalid");
        assert_eq!(err.status, 416);
    }

    /// RFC 4475 §3.1.2.11.
    #[test]
    fn escaped_headers_in_request_uri_are_400() {
        let err = check(&GOOD.replace(
            "sip:bob@example.com SIP",
            "sip:user@example.com?Route=%3Csip:example.com%3E SIP",
        ))
        .expect_err("invalid");
        assert_eq!(err.status, 400);
    }

    /// RFC 4475 §3.1.2.12.
    #[test]
    fn non_gmt_date_is_400() {
        let err = check(&GOOD.replace(
            "Max-Forwards",
            "Date: Fri, 01 Jan 2010 16:00:00 EST\r\nMax-Forwards",
        ))
        .expect_err("invalid");
        assert_eq!(err.reason, "Malformed Date");
    }
}

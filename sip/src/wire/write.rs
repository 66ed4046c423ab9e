//! RFC 3261 §8.1.1 and §8.2.6: writing requests and responses.
//!
//! Values that come from the layers above are cleaned of CR/LF so no caller
//! can inject a header line.

use std::fmt::Write as _;

use bytes::Bytes;

use crate::wire::header::Address;
use crate::wire::message::Salvage;

/// RFC 3261 §25.1: header values are TEXT-UTF8 and LWS, which exclude every
/// control character but HTAB. CR and LF become a space (so no value can start
/// a header line of its own); other controls (NUL, ESC, DEL, …) are dropped.
fn clean(value: &str) -> std::borrow::Cow<'_, str> {
    let is_bad = |c: char| c.is_ascii_control() && c != '\t';
    if has_control(value.as_bytes()) {
        value
            .chars()
            .filter_map(|c| match c {
                '\r' | '\n' => Some(' '),
                c if is_bad(c) => None,
                c => Some(c),
            })
            .collect::<String>()
            .into()
    } else {
        value.into()
    }
}

/// Whether `b` holds a control character other than HTAB. Controls are
/// ASCII, so a byte scan finds them; eight bytes at a time, each word
/// tested for a byte below 0x20 or equal to 0x7F (exact as a yes or no),
/// and only a word that says yes — HTAB says yes too — read byte by byte
/// (issue 24: `clean` of the values a 200 copies, 956 → 824 instructions a
/// message).
fn has_control(b: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let bad = |b: &u8| b.is_ascii_control() && *b != b'\t';
    let mut words = b.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_ne_bytes(bytes);
        // A byte below 0x20: x - 0x20 borrows into its high bit while its
        // own high bit is clear. A byte 0x7F: x ^ 0x7F has a zero byte.
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let del = x ^ (ONES * 0x7f);
        let del = del.wrapping_sub(ONES) & !del & HIGH;
        if below_space | del != 0 && word.iter().any(bad) {
            return true;
        }
    }
    words.remainder().iter().any(bad)
}

fn push_header(out: &mut String, name: &str, value: &str) {
    out.push_str(&clean(name));
    push_value(out, value);
}

/// A header whose name is this module's own text (no control characters
/// to clean).
fn push_ours(out: &mut String, name: &'static str, value: &str) {
    out.push_str(name);
    push_value(out, value);
}

fn push_value(out: &mut String, value: &str) {
    out.push_str(": ");
    out.push_str(&clean(value));
    out.push_str("\r\n");
}

/// RFC 3261 §21: the default reason phrase of a status code (the one table).
pub use crate::wire::status::reason_phrase;

/// Whether a To/From value already has a tag.
pub(crate) fn has_tag(value: &str) -> bool {
    // Both answers below need the letters `tag` somewhere: without them
    // there is nothing to parse (the usual From of a new request).
    if !value
        .as_bytes()
        .windows(3)
        .any(|w| w.eq_ignore_ascii_case(b"tag"))
    {
        return false;
    }
    match Address::parse(value) {
        Ok(address) => address.param("tag").is_some(),
        Err(_) => value.to_ascii_lowercase().contains(";tag="),
    }
}

/// A response to a request (RFC 3261 §8.2.6.2): Via, From, To (with our tag
/// for anything but 100), Call-ID and CSeq copied from `request`.
#[allow(clippy::too_many_arguments)]
pub fn response(
    request: &Salvage,
    status: u16,
    reason: &str,
    to_tag: &str,
    server: &str,
    headers: &[(String, String)],
    body: Option<(&str, &[u8])>,
) -> Bytes {
    // RFC 3261 §8.2.6.2: the UAS adds a tag unless the request had one; not on 100.
    let tag_to =
        status != 100 && !to_tag.is_empty() && request.to.as_deref().is_some_and(|to| !has_tag(to));
    response_to(
        request,
        tag_to.then_some(to_tag),
        &ResponseParts {
            status,
            reason,
            server,
            headers,
            body,
        },
    )
}

/// What a response says beyond what it copies from its request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResponseParts<'a> {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: &'a str,
    /// Server value (empty: none).
    pub server: &'a str,
    /// Further headers.
    pub headers: &'a [(String, String)],
    /// Content-Type and body.
    pub body: Option<(&'a str, &'a [u8])>,
}

/// [`response`] for a caller that knows whether To takes a tag (`to_tag`,
/// decided as [`response`] does from the request's To and the status): Via,
/// From, To, Call-ID and CSeq copied from `request`.
pub(crate) fn response_to(
    request: &Salvage,
    to_tag: Option<&str>,
    parts: &ResponseParts<'_>,
) -> Bytes {
    let copied = salvage_fields(request);
    // Sized to fit: a completed server transaction keeps these bytes for
    // Timer J (RFC 3261 §17.2.2), so spare capacity would be held as long.
    let mut out = String::with_capacity(copied.len(to_tag) + own_len(parts));
    push_status_line(&mut out, parts);
    copied.push(&mut out, to_tag);
    finish_response(out, parts)
}

/// The lines every response to one request copies from it (RFC 3261
/// §8.2.6.2: Via with the top one stamped, From, To, Call-ID, CSeq),
/// written and cleaned once, when the request arrives and its bytes are at
/// hand (issue 24: a response used to clean five values read again from
/// the received bytes, kept until the answer). The To tag, which a 100
/// leaves out, is a part of its own.
#[derive(Debug, Clone)]
pub(crate) struct Copied {
    text: String,
    /// Where the To tag's part (`;tag=…`) starts and ends in `text`.
    tag: (usize, usize),
}

impl Copied {
    /// The lines of `request`'s salvage, `to_tag` the tag its To gets
    /// (when it gets one).
    pub(crate) fn of(request: &Salvage, to_tag: Option<&str>) -> Copied {
        salvage_fields(request).copied(to_tag)
    }

    /// The lines of a parsed request, its top Via stamped with `stamp`:
    /// what [`Copied::of`] its salvage gives, read off its fields without
    /// keeping them (a message whose values fold takes the salvage's way,
    /// which unfolds them).
    pub(crate) fn of_message(
        message: &crate::wire::message::Message,
        stamp: std::net::SocketAddr,
        to_tag: Option<&str>,
    ) -> Copied {
        use crate::wire::fields::Key;
        let headers = &message.headers;
        if !headers.unfolded() {
            let mut salvage = message.salvage();
            salvage.stamp = Some(stamp);
            return Copied::of(&salvage, to_tag);
        }
        let first = |key| headers.by_key(key).next().map(|v| v.as_str().trim());
        CopiedFields {
            vias: headers.by_key(Key::Via).map(|v| v.as_str().trim()),
            from: first(Key::From),
            to: first(Key::To),
            call_id: first(Key::CallId),
            cseq: first(Key::CSeq),
            stamp: Some(stamp),
        }
        .copied(to_tag)
    }

    /// Writes the lines onto `out`, the To tag's part with them when
    /// `tagged`.
    fn push(&self, out: &mut String, tagged: bool) {
        let (start, end) = self.tag;
        out.push_str(&self.text[..start]);
        if tagged {
            out.push_str(&self.text[start..end]);
        }
        out.push_str(&self.text[end..]);
    }
}

/// What [`Copied`] is written from: a salvage's values or a parsed
/// message's, borrowed (`vias` the Via values in order).
struct CopiedFields<'a, V> {
    vias: V,
    from: Option<&'a str>,
    to: Option<&'a str>,
    call_id: Option<&'a str>,
    cseq: Option<&'a str>,
    stamp: Option<std::net::SocketAddr>,
}

/// A salvage's values, as [`Copied`] is written from them.
fn salvage_fields(request: &Salvage) -> CopiedFields<'_, impl Iterator<Item = &str> + Clone> {
    CopiedFields {
        vias: request.vias.iter().map(|v| v.as_str()),
        from: request.from.as_deref(),
        to: request.to.as_deref(),
        call_id: request.call_id.as_deref(),
        cseq: request.cseq.as_deref(),
        stamp: request.stamp,
    }
}

impl<'a, V> CopiedFields<'a, V>
where
    V: Iterator<Item = &'a str> + Clone,
{
    /// An upper bound of what [`CopiedFields::push`] writes (cleaning only
    /// shortens a value, stamping adds at most [`stamped_len`]'s room).
    fn len(&self, to_tag: Option<&str>) -> usize {
        // Name, ": " and CRLF around a value.
        let line = |name: &str, value: &str| name.len() + value.len() + 4;
        let mut vias = self.vias.clone();
        let top = vias.next();
        top.map_or(0, |v| {
            line("Via", v) + self.stamp.map_or(0, |_| stamped_len(v) - v.len())
        }) + vias.map(|v| line("Via", v)).sum::<usize>()
            + self.from.map_or(0, |v| line("From", v))
            + self.to.map_or(0, |v| {
                line("To", v) + to_tag.map_or(0, |tag| ";tag=".len() + tag.len())
            })
            + self.call_id.map_or(0, |v| line("Call-ID", v))
            + self.cseq.map_or(0, |v| line("CSeq", v))
    }

    /// Writes the lines onto `out`, the To tag's part when `to_tag` is
    /// given; gives where that part starts and ends.
    fn push(&self, out: &mut String, to_tag: Option<&str>) -> (usize, usize) {
        for (n, via) in self.vias.clone().enumerate() {
            match self.stamp {
                Some(source) if n == 0 => push_top_via(out, via, source),
                _ => push_ours(out, "Via", via),
            }
        }
        if let Some(from) = self.from {
            push_ours(out, "From", from);
        }
        let tag = if let Some(to) = self.to {
            out.push_str("To: ");
            out.push_str(&clean(to));
            let start = out.len();
            if let Some(tag) = to_tag {
                out.push_str(";tag=");
                out.push_str(&clean(tag));
            }
            let end = out.len();
            out.push_str("\r\n");
            (start, end)
        } else {
            (out.len(), out.len())
        };
        if let Some(call_id) = self.call_id {
            push_ours(out, "Call-ID", call_id);
        }
        if let Some(cseq) = self.cseq {
            push_ours(out, "CSeq", cseq);
        }
        tag
    }

    fn copied(&self, to_tag: Option<&str>) -> Copied {
        let mut text = String::with_capacity(self.len(to_tag));
        let tag = self.push(&mut text, to_tag);
        Copied { text, tag }
    }
}

/// A response whose copied lines were written when its request arrived:
/// what [`response_to`] writes from the request's salvage, `tagged`
/// deciding whether To carries the tag `copied` holds.
pub(crate) fn response_from(copied: &Copied, tagged: bool, parts: &ResponseParts<'_>) -> Bytes {
    let mut out = String::with_capacity(copied.text.len() + own_len(parts));
    push_status_line(&mut out, parts);
    copied.push(&mut out, tagged);
    finish_response(out, parts)
}

/// "SIP/2.0 code reason" and its line end.
fn push_status_line(out: &mut String, parts: &ResponseParts<'_>) {
    out.push_str("SIP/2.0 ");
    push_decimal(out, u32::from(parts.status));
    out.push(' ');
    out.push_str(&clean(parts.reason));
    out.push_str("\r\n");
}

/// Server, the further headers, Content-Type, Content-Length and the body.
fn finish_response(mut out: String, parts: &ResponseParts<'_>) -> Bytes {
    if !parts.server.is_empty() {
        push_ours(&mut out, "Server", parts.server);
    }
    finish(out, parts.headers, parts.body)
}

/// The top Via line of a response to a request from `source`: the value
/// stamped as [`stamp_via`] stamps it, then cleaned as every copied value
/// is. Stamping adds no control character and cleaning adds no separator,
/// so a value with none to clean is stamped straight into `out`.
fn push_top_via(out: &mut String, via: &str, source: std::net::SocketAddr) {
    if has_control(via.as_bytes()) {
        push_ours(out, "Via", &stamp_via(via, source));
    } else {
        out.push_str("Via: ");
        push_stamped_via(out, via, source);
        out.push_str("\r\n");
    }
}

/// An upper bound of what a response writes besides its copied lines
/// (cleaning only shortens a value), so its buffer is allocated once and
/// not larger than needed.
fn own_len(parts: &ResponseParts<'_>) -> usize {
    // Name, ": " and CRLF around a value.
    let line = |name: &str, value: &str| name.len() + value.len() + 4;
    let extra = parts
        .headers
        .iter()
        .map(|(name, value)| line(name, value))
        .sum::<usize>()
        + parts.body.map_or(0, |(content_type, body)| {
            line("Content-Type", content_type) + body.len()
        });
    // "SIP/2.0 " + code + " " + reason + CRLF; Content-Length's line with
    // up to 20 digits and the empty line.
    "SIP/2.0 ".len()
        + 5
        + 1
        + parts.reason.len()
        + 2
        + if parts.server.is_empty() {
            0
        } else {
            line("Server", parts.server)
        }
        + extra
        + line("Content-Length", "")
        + 20
        + 2
}

/// RFC 3261 §18.2.1 and RFC 3581 §4: the top Via as the response must carry
/// it — `received` when the packet came from another address than sent-by
/// names, and the source port in an empty `rport`.
///
/// Byte by byte, and sent-by is read only when it decides something: with
/// `received` already there nothing is added, and with `rport` `received`
/// always is (issue 24: ~2 700 instructions per request before, in
/// `str::split` searches and an address parse). The separators it looks
/// for are ASCII, so every cut is on a character boundary; what it writes
/// is what [`stamp_via_by_parts`] writes (`wire::fast_equivalence`).
pub(crate) fn stamp_via(via: &str, source: std::net::SocketAddr) -> String {
    let mut out = String::with_capacity(stamped_len(via));
    push_stamped_via(&mut out, via, source);
    out
}

/// An upper bound of what [`stamp_via`] writes for `via`: what is added is
/// at most `;rport=` with a port and `;received=` with an IPv6 address.
fn stamped_len(via: &str) -> usize {
    via.len() + ";rport=65535;received=".len() + 39
}

/// [`stamp_via`] written onto the end of `out` (issue 24: a response's
/// top Via is stamped as the response is written, not copied first).
fn push_stamped_via(out: &mut String, via: &str, source: std::net::SocketAddr) {
    // Several Vias on one line: only the first is ours to stamp.
    if let Some(comma) = memchr::memchr(b',', via.as_bytes()) {
        push_stamped_via(out, via[..comma].trim_end(), source);
        out.push(',');
        out.push_str(&via[comma + 1..]);
        return;
    }
    let semi = memchr::memchr(b';', via.as_bytes()).unwrap_or(via.len());
    let (head, params) = via.split_at(semi);
    out.push_str(head);
    let mut has_received = false;
    // Whether `out` holds `;rport=` (issue 24: known as it is written, not
    // searched for after): a parameter cannot hold `;`, so only one that
    // starts with `rport=` as written, or the one stamped here, puts it there.
    let mut rport_used = false;
    let bytes = params.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let end = memchr::memchr(b';', &bytes[at..]).map_or(bytes.len(), |i| at + i);
        let param = &params[at..end];
        at = end + 1;
        if param.is_empty() {
            continue;
        }
        let eq = memchr::memchr(b'=', param.as_bytes());
        let name = param[..eq.unwrap_or(param.len())].trim();
        if eq.is_none() && name.eq_ignore_ascii_case("rport") {
            out.push_str(";rport=");
            push_decimal(out, u32::from(source.port()));
            rport_used = true;
            continue;
        }
        has_received |= name.eq_ignore_ascii_case("received");
        rport_used |= param.starts_with("rport=");
        out.push(';');
        out.push_str(param);
    }
    if !has_received && (rport_used || !sent_by_is(head, source.ip())) {
        out.push_str(";received=");
        push_ip(out, source.ip());
    }
}

/// Whether the host of sent-by (the last word of the Via's head) is `ip`.
fn sent_by_is(head: &str, ip: std::net::IpAddr) -> bool {
    let sent_by = head.split_whitespace().last().unwrap_or_default();
    let host = match sent_by.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => sent_by.split(':').next().unwrap_or_default(),
    };
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|host| host == ip)
}

/// [`stamp_via`] as it was written before, with `str` searches: what
/// `wire::fast_equivalence` compares it with.
#[cfg(test)]
pub(crate) fn stamp_via_by_parts(via: &str, source: std::net::SocketAddr) -> String {
    if let Some((first, rest)) = via.split_once(',') {
        return format!("{},{rest}", stamp_via_by_parts(first.trim_end(), source));
    }
    let (head, params) = via.split_at(via.find(';').unwrap_or(via.len()));
    let sent_by = head.split_whitespace().last().unwrap_or_default();
    let host = match sent_by.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => sent_by.split(':').next().unwrap_or_default(),
    };
    let mut out = String::with_capacity(via.len() + ";rport=65535;received=".len() + 39);
    out.push_str(head);
    let mut has_received = false;
    let mut rport_used = false;
    for param in params.split(';').filter(|p| !p.is_empty()) {
        let name = param.split('=').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("rport") && !param.contains('=') {
            out.push_str(";rport=");
            push_decimal(&mut out, u32::from(source.port()));
            rport_used = true;
            continue;
        }
        has_received |= name.eq_ignore_ascii_case("received");
        rport_used |= param.starts_with("rport=");
        out.push(';');
        out.push_str(param);
    }
    let same_ip = host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip == source.ip());
    if !has_received && (!same_ip || rport_used) {
        out.push_str(";received=");
        push_ip(&mut out, source.ip());
    }
    out
}

/// What an outgoing request is made of.
#[derive(Debug, Clone)]
pub(crate) struct RequestParts<'a> {
    /// Method.
    pub method: &'a str,
    /// Request-URI.
    pub request_uri: &'a str,
    /// The full Via value we add (`SIP/2.0/UDP host:port;branch=…;rport`).
    pub via: &'a str,
    /// From value, with our tag.
    pub from: &'a str,
    /// To value.
    pub to: &'a str,
    /// Call-ID.
    pub call_id: &'a str,
    /// CSeq number.
    pub cseq: u32,
    /// Route values, in order.
    pub route: &'a [String],
    /// User-Agent value (empty: none).
    pub user_agent: &'a str,
    /// Further headers.
    pub headers: &'a [(String, String)],
    /// Content-Type and body.
    pub body: Option<(&'a str, &'a [u8])>,
}

/// What [`request`] writes besides the parts' own text, with room to
/// spare: the request line's ` SIP/2.0`, the header names, `: `, CRLFs,
/// `Max-Forwards: 70`, the CSeq number, the Content-Length line.
const REQUEST_FIXED_TEXT: usize = 192;

/// `n` in decimal, without `fmt`.
fn push_decimal(out: &mut String, n: u32) {
    push_decimal_usize(out, n as usize);
}

/// `n` in decimal, without `fmt` (issue 24: seven numbers in every
/// SIP → XMPP message's 200, the `received` address's octets among them).
/// A single digit is pushed as it is; more go in at once, not a character
/// at a time (~140 instructions a number when each was pushed).
pub(crate) fn push_decimal_usize(out: &mut String, n: usize) {
    match u8::try_from(n) {
        Ok(digit @ 0..=9) => out.push(char::from(b'0' + digit)),
        _ => out.push_str(Decimal::of(n).as_str()),
    }
}

/// A number's decimal digits, written on the stack without `fmt` (issue 24:
/// ports and lengths on every message). `Display` is slower for integers
/// because it goes through the formatter's padding and sign logic.
pub struct Decimal {
    digits: [u8; 20],
    at: usize,
}

impl Decimal {
    /// The digits of `n`.
    #[must_use]
    #[inline]
    pub fn of(mut n: usize) -> Self {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Self { digits, at }
    }

    /// The digits as ASCII bytes.
    #[must_use]
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.digits.get(self.at..).unwrap_or_default()
    }

    /// The digits as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

/// An IP address as `Display` writes it: IPv4's dotted decimal without
/// `fmt` (issue 24), IPv6 through `fmt`.
pub(crate) fn push_ip(out: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(out, u32::from(octet));
            }
        }
        std::net::IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// `addr` as its `Display` writes it, without `fmt` for IPv4 (issue 24:
/// `SocketAddr`'s Display was ~1 300 instructions of every XMPP → SIP
/// MESSAGE's Via).
pub(crate) fn push_socket_addr(out: &mut String, addr: std::net::SocketAddr) {
    match addr {
        std::net::SocketAddr::V4(v4) => {
            push_ip(out, std::net::IpAddr::V4(*v4.ip()));
            out.push(':');
            push_decimal_usize(out, usize::from(v4.port()));
        }
        std::net::SocketAddr::V6(_) => {
            let _ = write!(out, "{addr}");
        }
    }
}

/// Writes a request (RFC 3261 §8.1.1: the mandatory headers first).
pub(crate) fn request(parts: &RequestParts<'_>) -> Bytes {
    // Sized for all that is written, the body too, so that the buffer is
    // allocated once and nothing goes through `fmt` (issue 24).
    let headers: usize = parts
        .headers
        .iter()
        .map(|(n, v)| n.len() + v.len() + 4)
        .sum();
    let route: usize = parts.route.iter().map(|r| r.len() + 9).sum();
    let body = parts.body.map_or(0, |(t, b)| t.len() + b.len());
    let mut out = String::with_capacity(
        REQUEST_FIXED_TEXT
            + 2 * parts.method.len()
            + parts.request_uri.len()
            + parts.via.len()
            + parts.from.len()
            + parts.to.len()
            + parts.call_id.len()
            + parts.user_agent.len()
            + headers
            + route
            + body,
    );
    out.push_str(&clean(parts.method));
    out.push(' ');
    out.push_str(&clean(parts.request_uri));
    out.push_str(" SIP/2.0\r\n");
    push_ours(&mut out, "Via", parts.via);
    push_ours(&mut out, "Max-Forwards", "70");
    for route in parts.route {
        push_ours(&mut out, "Route", route);
    }
    push_ours(&mut out, "From", parts.from);
    push_ours(&mut out, "To", parts.to);
    push_ours(&mut out, "Call-ID", parts.call_id);
    out.push_str("CSeq: ");
    push_decimal(&mut out, parts.cseq);
    out.push(' ');
    out.push_str(&clean(parts.method));
    out.push_str("\r\n");
    if !parts.user_agent.is_empty() {
        push_ours(&mut out, "User-Agent", parts.user_agent);
    }
    finish(out, parts.headers, parts.body)
}

fn finish(mut out: String, headers: &[(String, String)], body: Option<(&str, &[u8])>) -> Bytes {
    // Framing and transaction headers are ours to write (a Route given by
    // the caller was taken out before and written in its place).
    const OURS: [&str; 15] = [
        "content-length",
        "l",
        "content-type",
        "c",
        "via",
        "v",
        "from",
        "f",
        "to",
        "t",
        "call-id",
        "i",
        "cseq",
        "max-forwards",
        "route",
    ];
    for (name, value) in headers {
        if OURS.iter().any(|ours| name.eq_ignore_ascii_case(ours)) {
            continue;
        }
        push_header(&mut out, name, value);
    }
    let body = match body {
        Some((content_type, body)) => {
            push_ours(&mut out, "Content-Type", content_type);
            body
        }
        None => &[][..],
    };
    out.push_str("Content-Length: ");
    push_decimal_usize(&mut out, body.len());
    out.push_str("\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    Bytes::from(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-wise scan answers as a byte-wise one: every byte value at
    /// every place of every length up to 24, on a background of each
    /// printable byte, HTAB and a byte above 0x7F.
    #[test]
    fn control_characters_are_found_as_byte_by_byte() {
        let bad = |b: &u8| b.is_ascii_control() && *b != b'\t';
        for background in [b'a', b' ', b'\t', 0x7e, 0x80, 0xff] {
            for len in 0..=24 {
                for at in 0..len {
                    for byte in 0..=255u8 {
                        let mut text = vec![background; len];
                        text[at] = byte;
                        assert_eq!(
                            has_control(&text),
                            text.iter().any(bad),
                            "{byte:#x} at {at} of {len} on {background:#x}"
                        );
                    }
                }
            }
        }
    }
    use crate::wire::message::{Message, ParseLimits};

    fn salvage() -> Salvage {
        Salvage {
            is_request: Some(true),
            method: Some("MESSAGE".into()),
            vias: vec![
                "SIP/2.0/UDP a;branch=z9hG4bK1".into(),
                "SIP/2.0/UDP b;branch=z9hG4bK2".into(),
            ],
            from: Some("<sip:a@x>;tag=1".into()),
            to: Some("<sip:b@y>".into()),
            call_id: Some("c1".into()),
            cseq: Some("7 MESSAGE".into()),
            stamp: None,
        }
    }

    /// RFC 3261 §8.2.6.2: Vias in order, To gets the UAS tag.
    #[test]
    fn response_copies_vias_and_tags_to() {
        let bytes = response(&salvage(), 200, "OK", "t9", "parley", &[], None);
        let msg = Message::parse(bytes, ParseLimits::default()).expect("parses back");
        assert_eq!(
            msg.header("Via").as_deref(),
            Some("SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2")
        );
        assert_eq!(msg.header("To").as_deref(), Some("<sip:b@y>;tag=t9"));
        assert_eq!(msg.header("Content-Length").as_deref(), Some("0"));
    }

    /// RFC 3261 §8.2.6.2: a To or From names a tag only as a header
    /// parameter; a URI parameter called `tag` or a display name saying so
    /// is none.
    #[test]
    fn a_tag_is_a_header_parameter() {
        for tagged in [
            "<sip:b@y>;tag=t9",
            "\"Bob\" <sip:b@y>;TAG=t9",
            "sip:b@y;tag=t9",
            "<sip:b@y> ; tag = t9",
        ] {
            assert!(has_tag(tagged), "{tagged}");
        }
        for untagged in [
            "<sip:b@y>",
            "sip:b@y",
            "<sip:b@y;tag=uri-param>",
            "\"tag=me\" <sip:b@y>",
            "<sip:tagged@y>;gr=tag",
        ] {
            assert!(!has_tag(untagged), "{untagged}");
        }
    }

    /// RFC 3261 §18.2.1: received is added when sent-by is another host.
    #[test]
    fn via_gets_received_when_sent_by_differs() {
        let source = "192.0.2.9:5070".parse().expect("addr");
        assert_eq!(
            stamp_via("SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1", source),
            "SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1;received=192.0.2.9"
        );
        assert_eq!(
            stamp_via("SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bK1", source),
            "SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bK1"
        );
    }

    #[test]
    fn only_the_first_of_several_vias_is_stamped() {
        let source = "192.0.2.9:5070".parse().expect("addr");
        assert_eq!(
            stamp_via(
                "SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
                source
            ),
            "SIP/2.0/UDP a.example;branch=z9hG4bK1;received=192.0.2.9, SIP/2.0/UDP b;branch=z9hG4bK2"
        );
    }

    /// RFC 3581 §4: an empty rport is filled with the source port, with received.
    #[test]
    fn empty_rport_is_filled() {
        let source = "192.0.2.9:5070".parse().expect("addr");
        assert_eq!(
            stamp_via("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport", source),
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport=5070;received=192.0.2.9"
        );
    }

    /// RFC 3581 §4 and RFC 3261 §18.2.1 from an IPv6 source: the port and
    /// the address written as `Display` writes them.
    #[test]
    fn an_ipv6_source_is_written_as_display_writes_it() {
        let source: std::net::SocketAddr = "[2001:db8::9]:65535".parse().expect("addr");
        assert_eq!(
            stamp_via("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport", source),
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport=65535;received=2001:db8::9"
        );
        let source: std::net::SocketAddr = "10.200.0.255:0".parse().expect("addr");
        assert_eq!(
            stamp_via("SIP/2.0/UDP h;rport", source),
            "SIP/2.0/UDP h;rport=0;received=10.200.0.255"
        );
    }

    /// `stamp_via` as it was before it knew `rport_used` as it wrote
    /// (issue 24): the reference it must equal.
    fn stamp_via_searching(via: &str, source: std::net::SocketAddr) -> String {
        if let Some((first, rest)) = via.split_once(',') {
            return format!("{},{rest}", stamp_via_searching(first.trim_end(), source));
        }
        let (head, params) = via.split_at(via.find(';').unwrap_or(via.len()));
        let sent_by = head.split_whitespace().last().unwrap_or_default();
        let host = match sent_by.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => sent_by.split(':').next().unwrap_or_default(),
        };
        let mut out = head.to_owned();
        let mut has_received = false;
        for param in params.split(';').filter(|p| !p.is_empty()) {
            let name = param.split('=').next().unwrap_or_default().trim();
            if name.eq_ignore_ascii_case("rport") && !param.contains('=') {
                out.push_str(&format!(";rport={}", source.port()));
                continue;
            }
            has_received |= name.eq_ignore_ascii_case("received");
            out.push(';');
            out.push_str(param);
        }
        let same_ip = host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip == source.ip());
        if !has_received && (!same_ip || out.contains(";rport=")) {
            out.push_str(&format!(";received={}", source.ip()));
        }
        out
    }

    /// Every rport and received spelling around the ones that decide,
    /// from the sent-by address and from another: the same Via as the
    /// search after writing gave.
    #[test]
    fn stamping_knows_rport_as_searching_for_it_did() {
        let params = [
            "",
            ";rport",
            ";RPORT",
            ";rport=5060",
            ";RPort=1",
            "; rport=1",
            ";rport =1",
            ";x=rport=1",
            ";xrport=1",
            ";received=10.0.0.1",
            ";RECEIVED=1.2.3.4",
            ";rport;received=h",
            ";branch=z9hG4bK1;rport",
            ";rport=;branch=z9hG4bK1",
            ";;rport=7;",
        ];
        for source in ["192.0.2.9:5070", "10.0.0.1:5060", "[2001:db8::9]:5060"] {
            let source: std::net::SocketAddr = source.parse().expect("addr");
            for host in [
                "10.0.0.1:5060",
                "192.0.2.9",
                "[2001:db8::9]:5060",
                "h.example",
            ] {
                for a in params {
                    for b in params {
                        let via = format!("SIP/2.0/UDP {host}{a}{b}");
                        assert_eq!(
                            stamp_via(&via, source),
                            stamp_via_searching(&via, source),
                            "{via}"
                        );
                        let two = format!("{via}, SIP/2.0/TCP other{b}");
                        assert_eq!(
                            stamp_via(&two, source),
                            stamp_via_searching(&two, source),
                            "{two}"
                        );
                    }
                }
            }
        }
    }

    /// The same text as `SocketAddr`'s Display, for every octet and port
    /// edge, and for IPv6 (scope included).
    #[test]
    fn a_socket_address_is_written_as_display_writes_it() {
        let mut addrs: Vec<std::net::SocketAddr> =
            ["[::1]:5060", "[fe80::1%2]:5061", "[2001:db8::7]:0"]
                .iter()
                .map(|a| a.parse().expect("a socket address"))
                .collect();
        for octet in [0u8, 1, 9, 10, 99, 100, 199, 200, 255] {
            for port in [0u16, 1, 9, 10, 5060, 9999, 10000, 65535] {
                addrs.push(std::net::SocketAddr::from((
                    [octet, 255 - octet, 7, octet / 2],
                    port,
                )));
            }
        }
        for addr in addrs {
            let mut out = String::from("SIP/2.0/UDP ");
            push_socket_addr(&mut out, addr);
            assert_eq!(out, format!("SIP/2.0/UDP {addr}"));
        }
    }

    #[test]
    fn decimal_digits_are_what_display_writes() {
        for n in [0, 7, 9, 10, 99, 100, 5060, 65_535, 1_000_000, usize::MAX] {
            assert_eq!(Decimal::of(n).as_str(), n.to_string(), "{n}");
            let mut pushed = String::from("x");
            push_decimal_usize(&mut pushed, n);
            assert_eq!(pushed, format!("x{n}"));
        }
    }

    #[test]
    fn injected_line_breaks_stay_on_their_line() {
        let headers = vec![("X-A".to_owned(), "v\r\nVia: evil".to_owned())];
        let bytes = response(&salvage(), 200, "OK\r\nX: y", "t", "", &headers, None);
        let msg = Message::parse(bytes, ParseLimits::default()).expect("parses back");
        assert_eq!(msg.header_values(&ezk_sip_types::Name::VIA).len(), 2);
    }

    /// RFC 3261 §25.1: TEXT-UTF8 has no control characters; a Subject carried
    /// from XMPP cannot smuggle a header, a NUL or an escape sequence.
    #[test]
    fn control_characters_are_stripped_from_header_values() {
        let headers = vec![(
            "Subject".to_owned(),
            "hi\r\nX-Evil: 1\u{0}\u{1b}[2J\u{7f}\tend".to_owned(),
        )];
        let bytes = response(&salvage(), 200, "OK", "t", "", &headers, None);
        let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
        assert!(
            text.contains("Subject: hi  X-Evil: 1[2J\tend\r\n"),
            "{text}"
        );
        assert!(!text.contains("\r\nX-Evil"), "{text}");
        assert!(!text.contains(['\u{0}', '\u{1b}', '\u{7f}']), "{text}");
    }

    /// RFC 3261 §8.1.1.5: the CSeq number in decimal and the method, for the
    /// smallest and largest numbers; the body follows the headers whole.
    #[test]
    fn a_request_carries_its_cseq_number_and_its_body() {
        for (cseq, written) in [(0, "0"), (7, "7"), (u32::MAX, "4294967295")] {
            let bytes = request(&RequestParts {
                method: "MESSAGE",
                request_uri: "sip:b@y",
                via: "SIP/2.0/UDP a;branch=z9hG4bK1;rport",
                from: "<sip:a@x>;tag=1",
                to: "<sip:b@y>",
                call_id: "c1",
                cseq,
                route: &["<sip:p;lr>".to_owned()],
                user_agent: "parley",
                headers: &[("Subject".to_owned(), "hi".to_owned())],
                body: Some(("text/plain", b"hello")),
            });
            let msg = Message::parse(bytes, ParseLimits::default()).expect("parses back");
            assert_eq!(
                msg.header("CSeq").as_deref(),
                Some(format!("{written} MESSAGE").as_str())
            );
            assert_eq!(msg.header("Route").as_deref(), Some("<sip:p;lr>"));
            assert_eq!(msg.header("Subject").as_deref(), Some("hi"));
            assert_eq!(msg.header("Content-Length").as_deref(), Some("5"));
            assert_eq!(&msg.body[..], b"hello");
        }
    }

    /// What [`response_to`] reserves for a response.
    fn response_len(request: &Salvage, to_tag: Option<&str>, parts: &ResponseParts<'_>) -> usize {
        salvage_fields(request).len(to_tag) + own_len(parts)
    }

    /// The buffer a response is written into is reserved once and fits it:
    /// never short (a second allocation), and spare room only for the
    /// status code's and Content-Length's widest digits and what cleaning
    /// drops.
    #[test]
    fn a_response_is_written_into_a_buffer_sized_to_fit() {
        let mut folded = salvage();
        folded.to = Some("<sip:b@y>\r\n ;x=\u{1b}1".into());
        let headers = [("Retry-After".to_owned(), "5".to_owned())];
        for (request, to_tag, server, headers, body) in [
            (salvage(), Some("t9"), "parley", &headers[..], None),
            (salvage(), None, "", &[][..], None),
            (
                folded,
                Some("t"),
                "p",
                &headers[..],
                Some(("text/plain", &b"hi"[..])),
            ),
        ] {
            let parts = ResponseParts {
                status: 200,
                reason: "OK",
                server,
                headers,
                body,
            };
            let written = response_to(&request, to_tag, &parts).len();
            let reserved = response_len(&request, to_tag, &parts);
            assert!(
                (written..=written + 30).contains(&reserved),
                "{written} {reserved}"
            );
            // Stamped as it is written: the room for the widest stamp on
            // top, the longest one fits.
            let mut stamped = request.clone();
            let v6 = "[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535"
                .parse()
                .expect("address");
            stamped.stamp = Some(v6);
            stamped.vias[0] = "SIP/2.0/UDP a;branch=z9hG4bK1;rport".into();
            let written = response_to(&stamped, to_tag, &parts).len();
            let reserved = response_len(&stamped, to_tag, &parts);
            assert!(
                (written..=written + 30).contains(&reserved),
                "{written} {reserved}"
            );
        }
    }

    /// A response from lines copied when the request arrived is, byte for
    /// byte, the response written from the request's salvage when it is
    /// sent: for each status (a 100 without the To tag), with and without
    /// a tag, for requests with several Vias (on one line and on several),
    /// compact names, values to clean, a folded value (the salvage's way),
    /// a To that already has a tag, and no To at all.
    #[test]
    fn lines_copied_on_arrival_are_the_lines_copied_on_answer() {
        let requests = [
            "MESSAGE sip:b@y SIP/2.0\r\nVia: SIP/2.0/UDP a:5060;branch=z9hG4bK1;rport\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c1\r\nCSeq: 7 MESSAGE\r\nContent-Length: 0\r\n\r\n",
            "MESSAGE sip:b@y SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP p;branch=z9hG4bK0\r\nt: <sip:b@y>;tag=theirs\r\nf: \"A\" <sip:a@x>;tag=1\r\ni: c1@h\r\nCSeq: 7 MESSAGE\r\nVia: SIP/2.0/UDP q;branch=z9hG4bKq;received=10.0.0.1\r\nl: 0\r\n\r\n",
            "INVITE sip:b@y SIP/2.0\r\nVia:   SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK1  \r\nFrom: <sip:a@x>;tag=1\r\nTo:  <sip:b@y> \r\nCall-ID: c\u{1}1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
            "MESSAGE sip:b@y SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nFrom: <sip:a@x>\r\n ;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c1\r\nCSeq: 7 MESSAGE\r\nContent-Length: 0\r\n\r\n",
            "OPTIONS sip:b@y SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nCall-ID: c1\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        ];
        let source: std::net::SocketAddr = "203.0.113.9:40000".parse().expect("address");
        let headers = [("Retry-After".to_owned(), "5".to_owned())];
        for text in requests {
            let message = Message::parse(Bytes::from(text), ParseLimits::default())
                .expect("the request parses");
            let mut salvage = message.salvage();
            salvage.stamp = Some(source);
            for tag in [Some("ours"), None] {
                let copied = Copied::of_message(&message, source, tag);
                assert_eq!(copied.text, Copied::of(&salvage, tag).text, "{text:?}");
                for status in [100, 200, 487, 503] {
                    let tagged = status != 100;
                    let parts = ResponseParts {
                        status,
                        reason: reason_phrase(status),
                        server: "parley",
                        headers: &headers,
                        body: None,
                    };
                    let from_copied = response_from(&copied, tagged, &parts);
                    let from_salvage = response_to(&salvage, tag.filter(|_| tagged), &parts);
                    assert_eq!(from_copied, from_salvage, "{text:?} {status} {tag:?}");
                    assert!(
                        Message::parse(from_copied, ParseLimits::default())
                            .expect("the response parses")
                            .header("Via")
                            .expect("a Via")
                            .contains("received=203.0.113.9"),
                        "{text:?}"
                    );
                }
            }
        }
    }

    /// A response to a salvage with a stamp carries, byte for byte, what
    /// it carried when the top Via was stamped into a copy first and the
    /// copy written: every form of Via (parameters, `rport` with and
    /// without a value, `received`, several on one line, IPv6, control
    /// characters and a folded line to clean) from sources that match
    /// sent-by and ones that do not.
    #[test]
    fn a_via_stamped_as_written_is_the_via_stamped_first() {
        let vias = [
            "SIP/2.0/UDP a;branch=z9hG4bK1",
            "SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bK1",
            "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1;rport",
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport=5;received=10.0.0.2",
            "SIP/2.0/UDP h;rport;received=1.2.3.4",
            "SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bK1;RPORT",
            "SIP/2.0/UDP a;branch=z9hG4bK1 , SIP/2.0/UDP b;branch=z9hG4bK2",
            "SIP/2.0/UDP a;branch=z9hG4bK1;rport, SIP/2.0/UDP b;rport",
            "SIP/2.0/UDP a;;branch=z9hG4bK1;",
            "SIP/2.0/UDP a;branch=z9\u{1}hG4bK1;rp\u{7f}ort",
            "SIP/2.0/UDP a;branch=z9hG4bK1\r\n ;rport",
            "SIP/2.0/UDP a;branch=z9hG4bK1;r\tport",
        ];
        let sources: [std::net::SocketAddr; 3] = [
            "192.0.2.9:5070".parse().expect("address"),
            "203.0.113.9:40000".parse().expect("address"),
            "[2001:db8::1]:5061".parse().expect("address"),
        ];
        for via in vias {
            for source in sources {
                let mut stamped = salvage();
                stamped.vias[0] = via.into();
                stamped.stamp = Some(source);
                let mut copied = salvage();
                copied.vias[0] = stamp_via(via, source).into();
                for status in [100, 200, 487] {
                    let parts = ResponseParts {
                        status,
                        reason: "R",
                        server: "p",
                        headers: &[],
                        body: None,
                    };
                    assert_eq!(
                        response_to(&stamped, Some("t"), &parts),
                        response_to(&copied, Some("t"), &parts),
                        "{via:?} from {source}"
                    );
                }
            }
        }
    }
}

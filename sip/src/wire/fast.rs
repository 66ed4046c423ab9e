//! A scanner for the shapes of `sip:` URIs and top Vias that nearly every
//! message carries, so the hot path does not run ezk's nom parsers, whose
//! `VerboseError` allocates on every alternative that fails (issue 24).
//!
//! Not a second grammar: each function answers only for input whose result
//! under ezk it can state exactly — plain ASCII, an IPv4 address or a
//! hostname, a port, `;name=value` parameters without `%`-escapes or quotes —
//! and returns `None` for everything else, which the caller then hands to ezk
//! as before. So odd input meets the same parser, and the same errors, as it
//! did; `wire::fast_equivalence` runs both over the fixtures and their
//! variants and requires equal results.

use std::net::Ipv4Addr;

use bytesstr::BytesStr;
use ezk_sip_types::host::{Host, HostPort};
use ezk_sip_types::uri::params::{CPS, Param, Params};
use ezk_sip_types::uri::{SipUri, SipUriUserPart};

/// A `sip:`/`sips:` URI (no `<>`, no surrounding whitespace) as ezk's
/// `SipUri::from_str` would type it, or `None` when the text is not one of
/// the shapes understood here (the caller asks ezk). What the tests ask;
/// the parser calls [`sip_uri_in`].
#[cfg(test)]
pub(crate) fn sip_uri(text: &str) -> Option<SipUri> {
    sip_uri_in(None, text)
}

/// [`sip_uri`] whose parts are slices of `src`, the buffer `text` lies in
/// (a header value of the received message), rather than of a copy of
/// `text` (issue 24: one allocation less per URI). A `src` that does not
/// hold `text` is not used.
pub(crate) fn sip_uri_in(src: Option<&BytesStr>, text: &str) -> Option<SipUri> {
    let b = text.as_bytes();
    if !text.is_ascii() {
        return None;
    }
    let (sips, mut at) = if starts_with_ignore_case(b, b"sip:") {
        (false, 4)
    } else if starts_with_ignore_case(b, b"sips:") {
        (true, 5)
    } else {
        return None;
    };
    // ezk: opt(terminated((take_while(user), opt(":" take_while(password))), "@")).
    let user_end = scan(b, at, USER);
    let user = match b.get(user_end) {
        Some(b'@') => {
            let user = at..user_end;
            // A user with `%`-escapes is decoded by ezk: leave it to ezk.
            if b[user.clone()].contains(&b'%') {
                return None;
            }
            at = user_end + 1;
            Some(user)
        }
        Some(b':') => {
            // `user:password@` is ezk's; `host:port` has no `@` after it.
            if b.get(scan(b, user_end + 1, PASSWORD)) == Some(&b'@') {
                return None;
            }
            None
        }
        _ => None,
    };
    let (host, port, mut at) = host_port(text, at)?;
    let mut params = Vec::new();
    while b.get(at) == Some(&b';') {
        let (name, value, end) = param(b, at + 1)?;
        params.push((name, value));
        at = end;
    }
    if at != b.len() {
        // `?headers` or anything ezk would refuse: ezk decides.
        return None;
    }

    // Built the way ezk builds it: the parts slices of one buffer, the
    // received one when `text` lies in it, a copy of the text otherwise.
    // Its parts are sliced straight from `src`, with no slice of the
    // whole URI in between (issue 24: a reference count taken and given
    // back per URI).
    let copy;
    let (src, text) = match src {
        Some(src) if contains(src.as_str(), text) => (src, text),
        _ => {
            copy = BytesStr::from(text);
            (&copy, copy.as_str())
        }
    };
    let slice = |range: std::ops::Range<usize>| src.slice_ref(&text[range]);
    let mut uri_params = Params::<CPS>::new();
    for (name, value) in params {
        uri_params.push(Param {
            name: slice(name),
            value: value.map(&slice),
        });
    }
    Some(SipUri {
        sips,
        user_part: match user {
            Some(range) => SipUriUserPart::User(slice(range)),
            None => SipUriUserPart::Empty,
        },
        host_port: HostPort {
            host: match host {
                HostShape::Ip4(ip) => Host::IP4(ip),
                HostShape::Name(range) => Host::Name(slice(range)),
            },
            port,
        },
        uri_params,
        header_params: Params::new(),
    })
}

/// `text` as a `BytesStr`: a slice of `src` (no copy) when it lies there,
/// a copy of it otherwise.
pub(crate) fn share(src: Option<&BytesStr>, text: &str) -> BytesStr {
    match src {
        Some(src) if contains(src.as_str(), text) => src.slice_ref(text),
        _ => BytesStr::from(text),
    }
}

/// [`share`] for a word that is usually one of `common` (a method, a
/// transport, a parameter name): that word as a constant, which takes no
/// reference count on the received bytes and gives none back when dropped
/// (issue 24: two atomic operations per word).
pub(crate) fn share_common(
    src: Option<&BytesStr>,
    text: &str,
    common: &[&'static str],
) -> BytesStr {
    common_word(text, common).unwrap_or_else(|| share(src, text))
}

/// `text` as the constant of `common` it equals, if it is one of them: the
/// choice [`share_common`] makes, for a caller whose fallback is another
/// slice.
pub(crate) fn common_word(text: &str, common: &[&'static str]) -> Option<BytesStr> {
    common
        .iter()
        .find(|word| **word == text)
        .map(|word| BytesStr::from_static(word))
}

/// Whether `part` lies inside `whole` (so `BytesStr::slice_ref` takes it).
fn contains(whole: &str, part: &str) -> bool {
    let whole = whole.as_bytes().as_ptr_range();
    let part = part.as_bytes().as_ptr_range();
    whole.start <= part.start && part.end <= whole.end
}

/// A bare host (no port, nothing after it) as ezk's `Host::from_str` would
/// type it, or `None` when it is not one of the shapes understood here (an
/// IPv6 reference, a malformed name: the caller asks ezk).
pub(crate) fn host(text: &str) -> Option<Host> {
    host_in(None, text)
}

/// [`host`] whose name is a slice of `src`, the buffer `text` lies in,
/// rather than a copy of it. A `src` that does not hold `text` is not used.
pub(crate) fn host_in(src: Option<&BytesStr>, text: &str) -> Option<Host> {
    if !text.is_ascii() {
        return None;
    }
    let (host, port, end) = host_port(text, 0)?;
    if port.is_some() || end != text.len() {
        return None;
    }
    Some(match host {
        HostShape::Ip4(ip) => Host::IP4(ip),
        HostShape::Name(range) => Host::Name(match src {
            Some(src) if contains(src.as_str(), text) => src.slice_ref(&text[range]),
            _ => BytesStr::from(&text[range]),
        }),
    })
}

/// The transport token of one Via element (trimmed, RFC 3261 §20.42
/// `SIP/2.0/UDP host[:port][;params]`) when ezk's `Via::parse` would take the
/// whole element, or `None` when the element is not one of the shapes
/// understood here (the caller asks ezk).
pub(crate) fn via_transport(element: &str) -> Option<&str> {
    let b = element.as_bytes();
    let (transport_end, _, mut at) = via_head(element)?;
    while b.get(at) == Some(&b';') {
        at = param(b, at + 1)?.2;
    }
    (at == b.len()).then(|| &element[8..transport_end])
}

/// The start of a Via element of the shapes read here, up to its
/// parameters: `SIP/2.0/` (ASCII only), a token, whitespace, then
/// `host[:port]`. Gives where the transport token ends, where the host
/// starts and where `host[:port]` ends; `None` for any other start.
fn via_head(element: &str) -> Option<(usize, usize, usize)> {
    let b = element.as_bytes();
    if !element.is_ascii() || !b.starts_with(b"SIP/2.0/") {
        return None;
    }
    let transport_end = scan(b, 8, TOKEN);
    if transport_end == 8 {
        return None;
    }
    let host_at = scan(b, transport_end, BLANK);
    if host_at == transport_end {
        return None;
    }
    let (_, _, end) = host_port(element, host_at)?;
    Some((transport_end, host_at, end))
}

/// One Via element read in one pass: what `validate` keeps of a top Via.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ViaParts<'a> {
    /// The transport token as sent.
    pub transport: &'a str,
    /// `host[:port]` as sent.
    pub sent_by: &'a str,
    /// The value of the first parameter named `branch` (any case), when
    /// that parameter has one.
    pub branch: Option<&'a str>,
}

/// A whole Via value (trimmed, no folding) that is exactly one element of
/// the shape [`via_transport`] answers for — `SIP/2.0/` token, whitespace,
/// an IPv4 address or hostname with an optional port, `;name[=value]`
/// parameters without `%`, quotes, commas or whitespace — read in one
/// pass; `None` for anything else (the caller reads it as before). On
/// such a value, splitting at commas and semicolons outside quotes, as
/// `validate` does, finds the same one element and the same parameters.
pub(crate) fn via(value: &str) -> Option<ViaParts<'_>> {
    let b = value.as_bytes();
    let (transport_end, host_at, mut at) = via_head(value)?;
    let sent_by = value.get(host_at..at)?;
    let mut branch = None;
    let mut seen_branch = false;
    while b.get(at) == Some(&b';') {
        let (name, param_value, end) = param(b, at + 1)?;
        if !seen_branch && b[name].eq_ignore_ascii_case(b"branch") {
            seen_branch = true;
            branch = param_value;
        }
        at = end;
    }
    if at != b.len() {
        return None;
    }
    Some(ViaParts {
        transport: value.get(8..transport_end)?,
        sent_by,
        branch: match branch {
            Some(range) => Some(value.get(range)?),
            None => None,
        },
    })
}

/// A host as ezk types it, positions into the text.
enum HostShape {
    Ip4(Ipv4Addr),
    Name(std::ops::Range<usize>),
}

/// A header line as ezk's `Line::parse` splits it — the name, and the value
/// after the colon and the whitespace that follows it — when the name is
/// ASCII token characters right up to the colon; `None` for any other line
/// (whitespace before the colon, no colon, an empty name, other
/// characters), which the caller hands to ezk.
pub(crate) fn header_line(line: &str) -> Option<(&str, &str)> {
    let b = line.as_bytes();
    // The name's characters by table (issue 24: a test per character was
    // ~116 instructions a name).
    let colon = b
        .iter()
        .position(|&c| CLASS[usize::from(c)] & TOKEN == 0)
        .unwrap_or(b.len());
    if colon == 0 || b.get(colon) != Some(&b':') {
        return None;
    }
    let value = line.get(colon + 1..)?;
    // ASCII whitespace a byte at a time, not a character at a time: no
    // other character begins with such a byte.
    let blank = value.bytes().take_while(u8::is_ascii_whitespace).count();
    Some((line.get(..colon)?, value.get(blank..)?))
}

/// ezk's `HostPort` at `at`: the host, the port and where they end; `None`
/// for an IPv6 reference, a malformed hostname or port (ezk decides those).
fn host_port(text: &str, at: usize) -> Option<(HostShape, Option<u16>, usize)> {
    let b = text.as_bytes();
    if b.get(at) == Some(&b'[') {
        return None;
    }
    // ezk tries IPv4 first (nom's `u8` four times: maximal digit runs, each
    // at most 255) and takes it when std parses what that recognised; else
    // the same text is a hostname.
    let (host, end) = match ip4_prefix(b, at) {
        Some((ip, end)) => (HostShape::Ip4(ip), end),
        None => {
            let end = scan(b, at, HOST);
            if !is_hostname(&b[at..end]) {
                return None;
            }
            (HostShape::Name(at..end), end)
        }
    };
    if b.get(end) != Some(&b':') {
        return Some((host, None, end));
    }
    let port_end = scan(b, end + 1, DIGIT);
    // What std's `u16` parse answers for a run of digits, without parsing
    // it again: none is empty, leading zeros count for nothing, above
    // 65535 is none.
    if port_end == end + 1 {
        return None;
    }
    let mut port: u16 = 0;
    for &d in &b[end + 1..port_end] {
        port = port.checked_mul(10)?.checked_add(u16::from(d - b'0'))?;
    }
    Some((host, Some(port), port_end))
}

/// `1*digit "." 1*digit "." 1*digit "." 1*digit`, each run ≤ 255, as nom's
/// `u8` reads it, and then only if std's `Ipv4Addr` parser takes the same
/// text (no run with a leading zero, which std refuses): the address and the
/// end of the text. The octets are the ones just read, not parsed a second
/// time by std (issue 24).
fn ip4_prefix(b: &[u8], mut at: usize) -> Option<(Ipv4Addr, usize)> {
    let mut octets = [0u8; 4];
    let mut std_takes = true;
    for (i, octet) in octets.iter_mut().enumerate() {
        if i > 0 {
            if b.get(at) != Some(&b'.') {
                return None;
            }
            at += 1;
        }
        let end = scan(b, at, DIGIT);
        if end == at {
            return None;
        }
        let mut value: u8 = 0;
        for &d in &b[at..end] {
            value = value.checked_mul(10)?.checked_add(d - b'0')?;
        }
        // nom takes `01`, `001` and `0001`; std takes no leading zero.
        std_takes &= end - at == 1 || b[at] != b'0';
        *octet = value;
        at = end;
    }
    std_takes.then(|| (Ipv4Addr::from(octets), at))
}

/// ezk's hostname taking all of `run`: labels of letters, digits and `-`
/// (not first or last), separated by single dots, one optional final dot.
fn is_hostname(run: &[u8]) -> bool {
    let run = run.strip_suffix(b".").unwrap_or(run);
    !run.is_empty()
        && run
            .split(|&c| c == b'.')
            .all(|label| !label.is_empty() && !label.starts_with(b"-") && !label.ends_with(b"-"))
}

/// One `name[=value]` parameter at `at` (after its `;`): name and value
/// ranges and the end. `None` for an empty name or value, a quoted value or
/// `%`-escapes (ezk decodes those).
#[allow(clippy::type_complexity)]
fn param(
    b: &[u8],
    at: usize,
) -> Option<(
    std::ops::Range<usize>,
    Option<std::ops::Range<usize>>,
    usize,
)> {
    // The characters without `%`: a run that stops at `%` holds an escape.
    let name_end = scan(b, at, PARAM);
    if name_end == at || b.get(name_end) == Some(&b'%') {
        return None;
    }
    if b.get(name_end) != Some(&b'=') {
        return Some((at..name_end, None, name_end));
    }
    let value_end = scan(b, name_end + 1, PARAM);
    if value_end == name_end + 1 || b.get(value_end) == Some(&b'%') {
        return None;
    }
    Some((at..name_end, Some(name_end + 1..value_end), value_end))
}

/// Where the run of bytes of `class` (bits of [`CLASS`]) starting at `at`
/// ends.
fn scan(b: &[u8], at: usize, class: u8) -> usize {
    at + b.get(at..).map_or(0, |rest| {
        rest.iter()
            .take_while(|&&c| CLASS[usize::from(c)] & class != 0)
            .count()
    })
}

fn starts_with_ignore_case(b: &[u8], prefix: &[u8]) -> bool {
    b.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// ezk's `user` characters, ASCII part: the password's and `;` `?` `/`
/// (RFC 3261 §25.1 `user-unreserved`).
const fn is_user(c: u8) -> bool {
    is_password(c) || matches!(c, b';' | b'?' | b'/')
}

/// ezk's `password` characters, ASCII part.
const fn is_password(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'_'
                | b'.'
                | b'!'
                | b'~'
                | b'*'
                | b'\''
                | b'('
                | b')'
                | b'%'
                | b'&'
                | b'='
                | b'+'
                | b'$'
                | b','
        )
}

/// ezk's URI parameter characters (`CPS`), ASCII part.
const fn is_param(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'%' | b'-'
                | b'_'
                | b'.'
                | b'!'
                | b'~'
                | b'*'
                | b'\''
                | b'('
                | b')'
                | b'['
                | b']'
                | b'/'
                | b':'
                | b'&'
                | b'+'
                | b'$'
                | b'`'
        )
}

/// The character classes the scanner reads, one bit each in [`CLASS`].
const USER: u8 = 1;
const PASSWORD: u8 = 2;
/// [`is_param`] but `%`.
const PARAM: u8 = 4;
const TOKEN: u8 = 8;
/// A hostname's characters: letters, digits, `-` and `.`.
const HOST: u8 = 16;
const DIGIT: u8 = 32;
/// Space and tab.
const BLANK: u8 = 64;

/// The classes of every byte, looked up rather than tested (issue 24: a
/// test per character was ~116 instructions a name, and a run of `matches!`
/// per byte of every URI and Via).
static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let mut class = 0;
        if is_user(c) {
            class |= USER;
        }
        if is_password(c) {
            class |= PASSWORD;
        }
        if is_param(c) && c != b'%' {
            class |= PARAM;
        }
        if is_token(c) {
            class |= TOKEN;
        }
        if c.is_ascii_alphanumeric() || c == b'-' || c == b'.' {
            class |= HOST;
        }
        if c.is_ascii_digit() {
            class |= DIGIT;
        }
        if c == b' ' || c == b'\t' {
            class |= BLANK;
        }
        table[i] = class;
        i += 1;
    }
    table
};

/// ezk's `token` characters (the Via transport), ASCII part.
const fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'`' | b'\'' | b'~' | b'+'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A common word is the same text as a constant, not a slice of the
    /// received bytes; any other word is a slice of them when it lies in
    /// them, and a copy otherwise.
    #[test]
    fn a_common_word_is_a_constant_and_any_other_a_slice() {
        let src = BytesStr::from("MESSAGE PRACK".to_owned());
        let within = src.as_bytes().as_ptr_range();
        let (message, prack) = src.split_once(' ').expect("two words");

        let known = share_common(Some(&src), message, &crate::stats::METHODS);
        assert_eq!(known, "MESSAGE");
        assert!(!within.contains(&known.as_ptr()));

        let other = share_common(Some(&src), prack, &crate::stats::METHODS);
        assert_eq!(other, "PRACK");
        assert!(within.contains(&other.as_ptr()));

        let elsewhere = share_common(None, prack, &crate::stats::METHODS);
        assert_eq!(elsewhere, "PRACK");
        assert!(!within.contains(&elsewhere.as_ptr()));
    }
}

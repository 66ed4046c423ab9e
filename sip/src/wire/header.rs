//! RFC 3261 §20 and §25.1: helpers to read header values as sent.
//!
//! These split values that ezk's typed headers do not cover (addresses whose
//! URI is `tel:` or another scheme, parameter lists with empty names that ezk
//! quietly accepts) without re-parsing SIP URIs: `sip:` URIs go to ezk.

use bytesstr::BytesStr;

use crate::wire::fast::{share, share_common};
use crate::wire::text;
use crate::wire::uri::{Uri, UriError};

/// A name-addr or addr-spec (RFC 3261 §25.1) as sent: From, To, Contact.
#[derive(Debug, Clone)]
pub struct Address {
    /// The display name, unquoted and unescaped.
    pub display: Option<String>,
    /// The URI text as sent, without `<>` (a slice of the received value
    /// where the address was read from one: issue 24).
    pub uri_text: BytesStr,
    /// The URI, typed.
    pub uri: Uri,
    /// Header parameters (`;tag=…`), names lower-cased, values as sent.
    pub params: Vec<(BytesStr, Option<BytesStr>)>,
}

/// Why an address header is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// RFC 4475 §3.1.2.6: a quoted display name that never ends.
    #[error("unterminated quoted display name")]
    UnterminatedQuote,
    /// RFC 4475 §3.1.2.15: a display name with characters outside token.
    #[error("display name is not a token sequence")]
    BadDisplayName,
    /// `<` without `>`, or whitespace inside `<>` (RFC 4475 §3.1.2.14).
    #[error("malformed <URI>")]
    BadAngleBrackets,
    /// RFC 4475 §3.1.2.13: an addr-spec URI with `?` or `,` must be in `<>`.
    #[error("URI with headers outside <>")]
    UnenclosedUri,
    /// RFC 4475 §3.1.2.1: empty parameter.
    #[error("empty parameter")]
    EmptyParameter,
    /// The URI itself is malformed.
    #[error("malformed URI: {0}")]
    Uri(#[from] UriError),
}

impl Address {
    /// Parses a From, To or single Contact value.
    pub fn parse(value: &str) -> Result<Address, AddressError> {
        Self::parse_with(None, value)
    }

    /// [`Address::parse`] of a value lying in `src` (the received header
    /// value): the URI's parts are slices of `src`, not of a copy (issue 24).
    pub(crate) fn parse_in(src: &BytesStr, value: &str) -> Result<Address, AddressError> {
        Self::parse_with(Some(src), value)
    }

    fn parse_with(src: Option<&BytesStr>, value: &str) -> Result<Address, AddressError> {
        let value = text::trim(value);
        let (display, uri_text, params) = if let Some(rest) = value.strip_prefix('"') {
            let (display, after) = split_quoted(rest).ok_or(AddressError::UnterminatedQuote)?;
            let after = text::trim_start(after);
            let (uri, params) = enclosed(after)?;
            (Some(display), uri, params)
        } else if let Some(lt) = text::find(value, b'<') {
            let display = text::trim(&value[..lt]);
            let is_tokens = display.split_whitespace().all(|word| {
                word.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(
                            b,
                            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
                        )
                })
            });
            if !is_tokens {
                return Err(AddressError::BadDisplayName);
            }
            let (uri, params) = enclosed(&value[lt..])?;
            let display = (!display.is_empty()).then(|| display.to_owned());
            (display, uri, params)
        } else {
            // RFC 3261 §20.10: in an addr-spec, everything after `;` is a header parameter.
            let (uri, params) = value.split_at(text::find(value, b';').unwrap_or(value.len()));
            if uri.bytes().any(|b| b == b'?' || b == b',') {
                return Err(AddressError::UnenclosedUri);
            }
            (None, text::trim(uri), params)
        };
        let uri = match src {
            Some(src) => Uri::parse_in(src, uri_text)?,
            None => Uri::parse(uri_text)?,
        };
        Ok(Address {
            display,
            uri_text: share(src, uri_text),
            uri,
            params: parameters(src, params)?,
        })
    }

    /// The value of a header parameter (`tag`, `expires`, …).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    }
}

/// `"…"` content up to the closing quote (RFC 3261 §25.1 quoted-pair aware).
fn split_quoted(rest: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, &rest[i + 1..])),
            _ => out.push(c),
        }
    }
    None
}

/// `<uri>;params` → (uri, params).
fn enclosed(s: &str) -> Result<(&str, &str), AddressError> {
    let inner = s.strip_prefix('<').ok_or(AddressError::BadAngleBrackets)?;
    let gt = text::find(inner, b'>').ok_or(AddressError::BadAngleBrackets)?;
    let uri = &inner[..gt];
    if uri.is_empty() || text::trim(uri).len() != uri.len() {
        return Err(AddressError::BadAngleBrackets);
    }
    Ok((uri, text::trim(&inner[gt + 1..])))
}

/// `;name=value;name` → pairs, names lower-cased (a name with capitals
/// into a copy), values as sent. Slices of `src` where they lie in it: an
/// address read from a received value keeps no copies (issue 24: two per
/// parameter before). Empty names are an error.
pub(crate) fn parameters(
    src: Option<&BytesStr>,
    s: &str,
) -> Result<Vec<(BytesStr, Option<BytesStr>)>, AddressError> {
    let mut out = Vec::new();
    each_parameter(s, |name, value| {
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            BytesStr::from(name.to_ascii_lowercase())
        } else {
            share_common(src, name, &["tag"])
        };
        out.push((name, value.map(|value| share(src, value))));
    })?;
    Ok(out)
}

/// [`parameters`] without building them: `f` gets each name (as sent)
/// and value (trimmed, quotes taken off) in order. Empty names are an error.
pub(crate) fn each_parameter<'a>(
    s: &'a str,
    mut f: impl FnMut(&'a str, Option<&'a str>),
) -> Result<(), AddressError> {
    let s = text::trim(s);
    if s.is_empty() {
        return Ok(());
    }
    let s = s.strip_prefix(';').ok_or(AddressError::EmptyParameter)?;
    for param in outside_quotes(s, b';') {
        let (name, value) = match text::split_once(param, b'=') {
            Some((n, v)) => (text::trim(n), Some(text::trim_byte(text::trim(v), b'"'))),
            None => (text::trim(param), None),
        };
        if name.is_empty() {
            return Err(AddressError::EmptyParameter);
        }
        f(name, value);
    }
    Ok(())
}

/// Splits on `sep` where it is not inside a quoted string or `<>`.
pub(crate) fn split_outside_quotes(s: &str, sep: u8) -> Vec<&str> {
    outside_quotes(s, sep).collect()
}

/// [`split_outside_quotes`] as an iterator.
pub(crate) fn outside_quotes(s: &str, sep: u8) -> OutsideQuotes<'_> {
    debug_assert!(sep.is_ascii(), "a separator is an ASCII byte");
    OutsideQuotes { rest: Some(s), sep }
}

/// The parts of a value between `sep`s (an ASCII byte) outside quoted
/// strings and `<>`.
pub(crate) struct OutsideQuotes<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> Iterator for OutsideQuotes<'a> {
    type Item = &'a str;

    /// Byte by byte (issue 24: character by character decoded UTF-8 for
    /// nothing): every byte it looks for is ASCII, and no byte of a
    /// multi-byte character is. A `\` escapes the next byte; when that
    /// begins a multi-byte character, the bytes after it match nothing
    /// either, as the whole character matched nothing.
    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        let mut quoted = false;
        let mut angle = false;
        let mut escaped = false;
        for (i, &c) in s.as_bytes().iter().enumerate() {
            if escaped {
                escaped = false;
                continue;
            }
            match c {
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                b'<' if !quoted => angle = true,
                b'>' if !quoted => angle = false,
                c if c == self.sep && !quoted && !angle => {
                    // `sep` is ASCII: `i` and `i + 1` are character boundaries.
                    self.rest = s.get(i + 1..);
                    return s.get(..i);
                }
                _ => {}
            }
        }
        self.rest = None;
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The splitting as it was, character by character: what the byte
    /// loop must answer.
    fn outside_quotes_by_chars(s: &str, sep: char) -> Vec<&str> {
        let mut out = Vec::new();
        let mut rest = Some(s);
        'parts: while let Some(s) = rest {
            let (mut quoted, mut angle, mut escaped) = (false, false, false);
            for (i, c) in s.char_indices() {
                if escaped {
                    escaped = false;
                    continue;
                }
                match c {
                    '\\' if quoted => escaped = true,
                    '"' => quoted = !quoted,
                    '<' if !quoted => angle = true,
                    '>' if !quoted => angle = false,
                    c if c == sep && !quoted && !angle => {
                        out.push(&s[..i]);
                        rest = Some(&s[i + 1..]);
                        continue 'parts;
                    }
                    _ => {}
                }
            }
            out.push(s);
            rest = None;
        }
        out
    }

    #[test]
    fn splitting_by_bytes_splits_as_by_characters() {
        let cases = [
            "",
            ";",
            "a;b",
            ";tag=1;x",
            "\"a;b\";c",
            "\"a\\\";b\";c",
            "\"\\é;x\";y",
            "\"é\\\"\";z",
            "<sip:a;b>;c",
            "\"<\";d",
            "Ünïcødé <sip:ü@h;p>;tag=ß;x=\"€;\"",
            "\\;a",
            "\"unterminated;a",
            "a,b;c,\"d,e\",<f,g>",
        ];
        for case in cases {
            for (sep, sep_char) in [(b';', ';'), (b',', ',')] {
                assert_eq!(
                    split_outside_quotes(case, sep),
                    outside_quotes_by_chars(case, sep_char),
                    "{case:?} split at {sep_char:?}"
                );
            }
        }
    }

    /// An address read from a received value shares its bytes: the URI
    /// text and the parameters are slices of it, except a name with
    /// capitals, lower-cased into a copy. Parsed alone, it reads the same.
    #[test]
    fn an_address_in_a_received_value_shares_its_bytes() {
        let src = BytesStr::from_static("Bob <sip:bob@example.com>;TAG=a1;x=\"q\"");
        let a = Address::parse_in(&src, &src).expect("valid");
        let within = src.as_bytes().as_ptr_range();
        assert!(within.contains(&a.uri_text.as_ptr()));
        let (tag, value) = &a.params[0];
        assert_eq!((tag.as_str(), value.as_deref()), ("tag", Some("a1")));
        assert!(
            !within.contains(&tag.as_ptr()),
            "a lower-cased name is a copy"
        );
        assert!(within.contains(&value.as_ref().expect("a value").as_ptr()));
        let (x, quoted) = &a.params[1];
        assert!(within.contains(&x.as_ptr()));
        assert_eq!(quoted.as_deref(), Some("q"));
        let alone = Address::parse(&src).expect("valid");
        assert_eq!((alone.uri_text, alone.params), (a.uri_text, a.params));
    }

    #[test]
    fn name_addr_with_quoted_display_and_tag() {
        let a = Address::parse(r#""Alice \"A\" Smith" <sip:alice@example.com>;tag=1928"#)
            .expect("valid");
        assert_eq!(a.display.as_deref(), Some(r#"Alice "A" Smith"#));
        assert_eq!(a.uri_text, "sip:alice@example.com");
        assert_eq!(a.param("tag"), Some("1928"));
    }

    /// RFC 3261 §20.10: in an addr-spec, `;tag` belongs to the header.
    #[test]
    fn addr_spec_tag_is_a_header_parameter() {
        let a = Address::parse("sip:caller@example.net;tag=134161461246").expect("valid");
        assert_eq!(a.uri_text, "sip:caller@example.net");
        assert_eq!(a.param("tag"), Some("134161461246"));
    }

    #[test]
    fn tel_address_is_accepted() {
        let a = Address::parse("<tel:+15551234>;tag=x").expect("valid");
        assert_eq!(a.uri.scheme(), "tel");
    }

    /// RFC 4475 §3.1.2.6.
    #[test]
    fn unterminated_quote_is_rejected() {
        assert_eq!(
            Address::parse(r#""Mr. J. User <sip:j.user@example.com>"#).err(),
            Some(AddressError::UnterminatedQuote)
        );
    }

    /// RFC 4475 §3.1.2.14.
    #[test]
    fn spaces_inside_angle_brackets_are_rejected() {
        assert_eq!(
            Address::parse(r#""Watson, Thomas" < sip:t.watson@example.org >"#).err(),
            Some(AddressError::BadAngleBrackets)
        );
    }

    /// RFC 4475 §3.1.2.13.
    #[test]
    fn uri_with_headers_outside_brackets_is_rejected() {
        assert_eq!(
            Address::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").err(),
            Some(AddressError::UnenclosedUri)
        );
    }

    /// RFC 4475 §3.1.2.1.
    #[test]
    fn empty_parameters_are_rejected() {
        assert_eq!(
            Address::parse(r#""Joe" <sip:joe@example.org>;;;;"#).err(),
            Some(AddressError::EmptyParameter)
        );
    }
}

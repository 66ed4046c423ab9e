//! RFC 3261 §19.1, RFC 3966, RFC 3860/3859: the URI schemes a Request-URI may carry.
//!
//! ezk-sip-types parses only `sip:`/`sips:`; a `tel:` or `im:` Request-URI would
//! fail its request-line parser. This type keeps those as opaque text, checked
//! only as far as RFC 3986 §3.1 scheme syntax, so the request can still be
//! answered (and a `tel:` number mapped by the gateway).

use std::str::FromStr;

use ezk_sip_types::uri::SipUri;

/// A bare host — a hostname or an IP literal, no port — typed as ezk's
/// `Host::from_str` types it (issue 24: the common shapes without ezk's nom
/// parser, which allocates on every alternative it tries); `None` when ezk
/// refuses it.
pub fn parse_host(text: &str) -> Option<ezk_sip_types::host::Host> {
    crate::wire::fast::host(text).or_else(|| ezk_sip_types::host::Host::from_str(text).ok())
}

/// [`parse_host`] of text lying in `src`: a host name is a slice of `src`
/// (a reference count), not a copy, where the common shapes apply.
pub fn parse_host_in(src: &bytesstr::BytesStr, text: &str) -> Option<ezk_sip_types::host::Host> {
    crate::wire::fast::host_in(Some(src), text)
        .or_else(|| ezk_sip_types::host::Host::from_str(text).ok())
}

/// A URI as found in a Request-URI, From, To or Contact.
#[derive(Debug, Clone)]
pub enum Uri {
    /// `sip:` or `sips:` (RFC 3261 §19.1), typed by ezk.
    Sip(Box<SipUri>),
    /// `tel:` (RFC 3966), kept as sent.
    Tel(String),
    /// Any other absolute URI (`im:`, `pres:`, `urn:`, unknown schemes), kept as sent.
    Other {
        /// The scheme, lower-cased.
        scheme: String,
        /// The whole URI as sent.
        text: String,
    },
}

/// A URI that is not syntactically a URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// No `scheme:` prefix (RFC 3986 §3.1), e.g. `<sip:…>` in a Request-URI.
    #[error("URI has no valid scheme")]
    NoScheme,
    /// A `sip:`/`sips:` URI that does not parse.
    #[error("malformed SIP URI")]
    MalformedSip,
    /// Whitespace, angle brackets or quotes inside the URI, or nothing after the scheme.
    #[error("malformed URI")]
    Malformed,
}

impl UriError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NoScheme => "no_scheme",
            Self::MalformedSip => "malformed_sip",
            Self::Malformed => "malformed",
        }
    }
}

impl Uri {
    /// Parses a URI from its text (no surrounding `<>`).
    pub fn parse(text: &str) -> Result<Uri, UriError> {
        Self::parse_with(None, text, true)
    }

    /// [`Uri::parse`] of text lying in `src` (a received header value): a
    /// `sip:` URI's parts are slices of `src` rather than of a copy.
    pub(crate) fn parse_in(src: &bytesstr::BytesStr, text: &str) -> Result<Uri, UriError> {
        Self::parse_with(Some(src), text, true)
    }

    /// [`Uri::parse`] with ezk for every `sip:` URI, the way it was before
    /// the fast path: what `wire::fast_equivalence` compares against.
    #[cfg(test)]
    pub(crate) fn parse_with_ezk(text: &str) -> Result<Uri, UriError> {
        Self::parse_with(None, text, false)
    }

    fn parse_with(
        src: Option<&bytesstr::BytesStr>,
        text: &str,
        fast: bool,
    ) -> Result<Uri, UriError> {
        let colon = crate::wire::text::find(text, b':').ok_or(UriError::NoScheme)?;
        let scheme = &text[..colon];
        // Bytes, not characters: a non-ASCII character's bytes fail both
        // checks as the character does.
        let valid_scheme = scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !valid_scheme {
            return Err(UriError::NoScheme);
        }
        let rest = &text[colon + 1..];
        if rest.is_empty() || has_forbidden(rest) {
            return Err(UriError::Malformed);
        }
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            // The common shapes without nom (issue 24); the rest as before.
            if fast && let Some(uri) = crate::wire::fast::sip_uri_in(src, text) {
                return Ok(Uri::Sip(Box::new(uri)));
            }
            SipUri::from_str(text)
                .map(|uri| Uri::Sip(Box::new(uri)))
                .map_err(|_| UriError::MalformedSip)
        } else if scheme.eq_ignore_ascii_case("tel") {
            Ok(Uri::Tel(text.to_owned()))
        } else {
            Ok(Uri::Other {
                scheme: scheme.to_ascii_lowercase(),
                text: text.to_owned(),
            })
        }
    }

    /// The scheme, lower-cased.
    pub fn scheme(&self) -> &str {
        match self {
            Uri::Sip(uri) if uri.sips => "sips",
            Uri::Sip(_) => "sip",
            Uri::Tel(_) => "tel",
            Uri::Other { scheme, .. } => scheme,
        }
    }
}

/// Whether `rest` holds whitespace, a control character, `<`, `>` or `"`:
/// a byte at a time while it is ASCII (issue 24), by character from the
/// first non-ASCII byte on (a character boundary: every byte before it is
/// ASCII). For ASCII, `char::is_whitespace || char::is_control` is
/// U+0000–U+0020 and U+007F.
fn has_forbidden(rest: &str) -> bool {
    let forbidden = |c: char| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"');
    match rest
        .bytes()
        .position(|b| !b.is_ascii() || b <= b' ' || matches!(b, 0x7f | b'<' | b'>' | b'"'))
    {
        None => false,
        Some(at) if rest.as_bytes()[at].is_ascii() => true,
        Some(at) => rest[at..].chars().any(forbidden),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_is_typed() {
        let uri = Uri::parse("sip:bob@example.com;transport=tcp").expect("valid");
        assert!(matches!(uri, Uri::Sip(_)));
    }

    /// The byte-wise check gives the character-wise answer: every ASCII
    /// byte, and Unicode whitespace and controls after ASCII and alone.
    #[test]
    fn forbidden_characters_are_found_as_by_character() {
        let by_char = |s: &str| {
            s.chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
        };
        let mut samples: Vec<String> = (0..=0x7fu8)
            .map(|b| format!("user{}@host", char::from(b)))
            .collect();
        for c in [
            '\u{85}', '\u{a0}', '\u{9f}', '\u{2028}', '\u{3000}', 'é', '€', '𝄞',
        ] {
            samples.push(format!("user@h{c}"));
            samples.push(format!("{c}"));
            samples.push(format!("{c}<"));
            samples.push(format!("é{c}x"));
        }
        for s in &samples {
            assert_eq!(has_forbidden(s), by_char(s), "{s:?}");
        }
    }

    /// RFC 3966 §3: a global number is kept as sent.
    #[test]
    fn tel_uri_is_kept_as_sent() {
        let uri = Uri::parse("tel:+1-201-555-0123").expect("valid");
        assert!(matches!(&uri, Uri::Tel(t) if t == "tel:+1-201-555-0123"));
    }

    /// RFC 4475 §3.1.2.7: `<sip:…>` is not a Request-URI.
    #[test]
    fn angle_brackets_are_not_a_scheme() {
        assert_eq!(
            Uri::parse("<sip:user@example.com>").err(),
            Some(UriError::NoScheme)
        );
    }

    #[test]
    fn unknown_scheme_is_other() {
        let uri = Uri::parse("nobodyknowsthisscheme:totallyopaquecontent").expect("valid");
        assert_eq!(uri.scheme(), "nobodyknowsthisscheme");
    }
}

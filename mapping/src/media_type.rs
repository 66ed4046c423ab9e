//! RFC 2045 §5.1 / RFC 3261 §20.15: a Content-Type value (`type/subtype;
//! param=value`), as SIP and CPIM headers carry it.

use std::borrow::Cow;
use std::fmt;

use crate::failure::MappingError;

/// A parsed media type. Type, subtype and parameter names are lowercased
/// (they are case-insensitive, RFC 2045 §5.1); parameter values keep their
/// case, with surrounding quotes removed. The common spellings are borrowed
/// from the words `lower_common` knows rather than allocated (issue 24: each MESSAGE's
/// Content-Type is read up to three times).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct MediaType {
    /// Top-level type, e.g. `text`.
    pub type_: Cow<'static, str>,
    /// Subtype, e.g. `plain`.
    pub subtype: Cow<'static, str>,
    /// Parameters in order.
    pub params: Params,
}

/// A parameter of a media type: name (lowercased) and value.
pub(crate) type Param = (Cow<'static, str>, Cow<'static, str>);

/// A media type's parameters in order, the first held inline: the usual
/// Content-Type has one (`charset`), which then takes no allocation (issue
/// 24). Equal exactly when the lists are: the first is always filled before
/// the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Params {
    first: Option<Param>,
    rest: Vec<Param>,
}

impl Params {
    /// Appends a parameter.
    pub(crate) fn push(&mut self, param: Param) {
        if self.first.is_none() {
            self.first = Some(param);
        } else {
            self.rest.push(param);
        }
    }

    /// The parameters in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Param> {
        self.first.iter().chain(&self.rest)
    }

    /// Whether there are none.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }
}

impl MediaType {
    /// `text/plain;charset=UTF-8`, what Parley sends.
    pub(crate) fn text_plain_utf8() -> Self {
        Self {
            type_: "text".into(),
            subtype: "plain".into(),
            params: Params {
                first: Some(("charset".into(), "UTF-8".into())),
                rest: Vec::new(),
            },
        }
    }

    /// Parse a Content-Type header value.
    pub(crate) fn parse(value: &str) -> Result<Self, MappingError> {
        match Self::parse_common(value) {
            Some(media) => Ok(media),
            None => Self::parse_any(value),
        }
    }

    /// The shapes nearly every MESSAGE carries — `type/subtype` with at most
    /// a `charset` parameter, no spaces, no quotes, each word one `lower_common` knows
    /// (any case for the names) — built without allocating but the
    /// parameter list; `None` sends the value to [`MediaType::parse_any`],
    /// which gives the same result for these (`tests::common_shapes_parse_as_before`).
    fn parse_common(value: &str) -> Option<Self> {
        let (essence, param) = match value.split_once(';') {
            Some((essence, param)) => (essence, Some(param)),
            None => (value, None),
        };
        let (type_, subtype) = essence.split_once('/')?;
        let mut params = Params::default();
        if let Some(param) = param {
            let (name, v) = param.split_once('=')?;
            // The value as sent: only the spellings `exact_common` knows.
            let v = exact_common(v)?;
            let name = lower_common(name).filter(|n| *n == "charset")?;
            params.push((Cow::Borrowed(name), Cow::Borrowed(v)));
        }
        Some(Self {
            type_: Cow::Borrowed(lower_common(type_)?),
            subtype: Cow::Borrowed(lower_common(subtype)?),
            params,
        })
    }

    /// Any Content-Type value.
    fn parse_any(value: &str) -> Result<Self, MappingError> {
        let bad = MappingError::UnsupportedMediaType;
        let mut parts = split_params(value).into_iter();
        let essence = parts.next().unwrap_or_default();
        let (type_, subtype) = essence.trim().split_once('/').ok_or(bad.clone())?;
        let (type_, subtype) = (type_.trim(), subtype.trim());
        if !is_token(type_) || !is_token(subtype) {
            return Err(bad);
        }
        let mut params = Params::default();
        for p in parts {
            if p.trim().is_empty() {
                continue;
            }
            let (name, v) = p.split_once('=').ok_or(bad.clone())?;
            let name = name.trim();
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .map(|v| v.replace("\\\"", "\"").replace("\\\\", "\\"))
                .unwrap_or_else(|| v.to_owned());
            if !is_token(name) {
                return Err(bad);
            }
            params.push((name.to_ascii_lowercase().into(), v.into()));
        }
        Ok(Self {
            type_: type_.to_ascii_lowercase().into(),
            subtype: subtype.to_ascii_lowercase().into(),
            params,
        })
    }

    /// Whether this is `type_/subtype`.
    pub(crate) fn is(&self, type_: &str, subtype: &str) -> bool {
        self.type_ == type_ && self.subtype == subtype
    }

    /// The value of parameter `name` (lowercase).
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }

    /// The `charset` parameter.
    pub(crate) fn charset(&self) -> Option<&str> {
        self.param("charset")
    }
}

/// A received message's Content-Type header value, parsed once for every
/// reader of it: a SIP MESSAGE's type is asked by the IMDN check, the
/// RFC 3923 check, the isComposing check and the body's decoding, and each
/// parsed it again (issue 24). The gateway parses it with
/// [`ContentType::parse`] and hands it to the `*_typed` functions; the
/// functions taking the raw value parse it themselves, with the same result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType(Parsed);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Parsed {
    /// No Content-Type header.
    Absent,
    /// A value that is not a media type.
    Malformed(MappingError),
    /// A media type.
    Media(MediaType),
}

impl ContentType {
    /// Parse a Content-Type header value, `None` when the message has none.
    pub fn parse(value: Option<&str>) -> Self {
        Self(match value {
            None => Parsed::Absent,
            Some(value) => match MediaType::parse(value) {
                Ok(media) => Parsed::Media(media),
                Err(e) => Parsed::Malformed(e),
            },
        })
    }

    /// The media type, when the value was one.
    pub(crate) fn media(&self) -> Option<&MediaType> {
        match &self.0 {
            Parsed::Media(media) => Some(media),
            Parsed::Absent | Parsed::Malformed(_) => None,
        }
    }

    /// The media type a body is decoded as (RFC 3261 §7.4.1, see
    /// `body::decode`): `text/plain;charset=UTF-8` without a Content-Type,
    /// the parse error for a malformed one.
    pub(crate) fn for_body(&self) -> Result<Cow<'_, MediaType>, MappingError> {
        match &self.0 {
            Parsed::Absent => Ok(Cow::Owned(MediaType::text_plain_utf8())),
            Parsed::Malformed(e) => Err(e.clone()),
            Parsed::Media(media) => Ok(Cow::Borrowed(media)),
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.type_, self.subtype)?;
        for (n, v) in self.params.iter() {
            let v: &str = v;
            if is_token(v) {
                write!(f, ";{n}={v}")?;
            } else {
                write!(
                    f,
                    ";{n}=\"{}\"",
                    v.replace('\\', "\\\\").replace('"', "\\\"")
                )?;
            }
        }
        Ok(())
    }
}

/// The lower-case word of `tests::COMMON` that `word` spells in any case: what
/// a search of it for a lower-case word equal to `word` ignoring
/// ASCII case finds, without comparing against each word in turn (issue
/// 24; `tests::common_words_are_found_as_by_a_search`).
fn lower_common(word: &str) -> Option<&'static str> {
    let mut lower = [0_u8; 18];
    let bytes = word.as_bytes();
    lower
        .get_mut(..bytes.len())?
        .iter_mut()
        .zip(bytes)
        .for_each(|(l, b)| *l = b.to_ascii_lowercase());
    Some(match &lower[..bytes.len()] {
        b"text" => "text",
        b"plain" => "plain",
        b"html" => "html",
        b"message" => "message",
        b"cpim" => "cpim",
        b"imdn+xml" => "imdn+xml",
        b"application" => "application",
        b"im-iscomposing+xml" => "im-iscomposing+xml",
        b"charset" => "charset",
        b"utf-8" => "utf-8",
        _ => return None,
    })
}

/// The word of `tests::COMMON` that `word` is, byte for byte.
fn exact_common(word: &str) -> Option<&'static str> {
    Some(match word {
        "text" => "text",
        "plain" => "plain",
        "html" => "html",
        "message" => "message",
        "cpim" => "cpim",
        "imdn+xml" => "imdn+xml",
        "application" => "application",
        "im-iscomposing+xml" => "im-iscomposing+xml",
        "charset" => "charset",
        "UTF-8" => "UTF-8",
        "utf-8" => "utf-8",
        _ => return None,
    })
}

/// Split at `;` outside quoted strings.
fn split_params(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

/// RFC 2045 §5.1 token.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Lower-case words a Content-Type of a MESSAGE is made of, and the
    /// `charset` values as real clients spell them.
    const COMMON: &[&str] = &[
        "text",
        "plain",
        "html",
        "message",
        "cpim",
        "imdn+xml",
        "application",
        "im-iscomposing+xml",
        "charset",
        "UTF-8",
        "utf-8",
    ];

    #[test]
    fn parses_type_subtype_and_quoted_params() {
        let t = MediaType::parse("Text/Plain; charset=\"ISO-8859-1\" ;format=flowed").unwrap();
        assert!(t.is("text", "plain"));
        assert_eq!(t.charset(), Some("ISO-8859-1"));
        assert_eq!(t.param("format"), Some("flowed"));
        assert_eq!(t.to_string(), "text/plain;charset=ISO-8859-1;format=flowed");
    }

    #[test]
    fn refuses_values_without_subtype() {
        assert!(MediaType::parse("text").is_err());
        assert!(MediaType::parse("").is_err());
        assert!(MediaType::parse("text/plain;charset").is_err());
    }

    /// The shapes [`MediaType::parse_common`] takes, and every value one
    /// character away from them, come out as [`MediaType::parse_any`] has
    /// them: the Content-Types of the fixtures' MESSAGEs and what Parley sends.
    #[test]
    fn common_shapes_parse_as_before() {
        let seeds = [
            "text/plain",
            "text/plain;charset=UTF-8",
            "text/plain;charset=utf-8",
            "Text/Plain;Charset=UTF-8",
            "text/html;charset=UTF-8",
            "message/cpim",
            "Message/CPIM",
            "message/imdn+xml",
            "application/im-iscomposing+xml",
            "text/plain;charset=ISO-8859-1",
            "text/plain;format=flowed",
            "text/plain; charset=UTF-8",
        ];
        let probes = [';', '=', '/', ' ', '"', '\\', 'A', 'x', '-', '+', ',', '\t'];
        let mut texts = std::collections::BTreeSet::new();
        for seed in seeds {
            for i in 0..=seed.len() {
                texts.insert(seed[..i].to_owned());
                for c in probes {
                    texts.insert(format!("{}{c}{}", &seed[..i], &seed[i..]));
                    if i < seed.len() {
                        texts.insert(format!("{}{c}{}", &seed[..i], &seed[i + 1..]));
                    }
                }
            }
        }
        let mut common = 0;
        for text in &texts {
            let any = MediaType::parse_any(text);
            if let Some(fast) = MediaType::parse_common(text) {
                assert_eq!(Ok(&fast), any.as_ref(), "{text:?}");
                common += 1;
            }
            assert_eq!(MediaType::parse(text), any, "{text:?}");
        }
        for seed in &seeds[..9] {
            assert!(
                MediaType::parse_common(seed).is_some(),
                "{seed:?} not common"
            );
        }
        assert!(common >= 20, "only {common} values took the common path");
    }

    /// [`lower_common`] and [`exact_common`] find what a search of
    /// `COMMON` found before them, for every word of it in several cases
    /// and words near them.
    #[test]
    fn common_words_are_found_as_by_a_search() {
        let searched_lower = |word: &str| {
            COMMON
                .iter()
                .find(|c| {
                    c.eq_ignore_ascii_case(word) && !c.bytes().any(|b| b.is_ascii_uppercase())
                })
                .copied()
        };
        let searched_exact = |word: &str| COMMON.iter().find(|c| **c == word).copied();
        let mut words = vec![String::new(), "x".repeat(18), "x".repeat(19)];
        for c in COMMON {
            words.push(c.to_string());
            words.push(c.to_ascii_uppercase());
            words.push(format!("{c}x"));
            words.push(c[1..].to_string());
            let mut first_upper = c.to_string();
            first_upper[..1].make_ascii_uppercase();
            words.push(first_upper);
            words.push(format!(" {c}"));
        }
        for word in &words {
            assert_eq!(lower_common(word), searched_lower(word), "{word:?}");
            assert_eq!(exact_common(word), searched_exact(word), "{word:?}");
        }
    }

    /// The parameters with the first inline are the list they were:
    /// the same order, `==` exactly when the lists are equal.
    #[test]
    fn params_are_their_list() {
        let lists: [&[(&str, &str)]; 5] = [
            &[],
            &[("a", "1")],
            &[("a", "1"), ("b", "2")],
            &[("b", "2")],
            &[("a", "1"), ("b", "2"), ("c", "3")],
        ];
        let build = |list: &[(&'static str, &'static str)]| {
            let mut params = Params::default();
            for (n, v) in list {
                params.push((Cow::Borrowed(*n), Cow::Borrowed(*v)));
            }
            params
        };
        for a in lists {
            let pa = build(a);
            let back: Vec<(&str, &str)> = pa.iter().map(|(n, v)| (&**n, &**v)).collect();
            assert_eq!(back, a);
            assert_eq!(pa.is_empty(), a.is_empty());
            for b in lists {
                assert_eq!(pa == build(b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn trailing_semicolon_is_tolerated() {
        assert!(MediaType::parse("text/plain;").unwrap().params.is_empty());
    }
}

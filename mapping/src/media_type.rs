//! RFC 2045 §5.1 / RFC 3261 §20.15: a Content-Type value (`type/subtype;
//! param=value`), as SIP and CPIM headers carry it.

use std::fmt;

use crate::failure::MappingError;

/// A parsed media type. Type, subtype and parameter names are lowercased
/// (they are case-insensitive, RFC 2045 §5.1); parameter values keep their
/// case, with surrounding quotes removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct MediaType {
    /// Top-level type, e.g. `text`.
    pub type_: String,
    /// Subtype, e.g. `plain`.
    pub subtype: String,
    /// Parameters in order.
    pub params: Vec<(String, String)>,
}

impl MediaType {
    /// `text/plain;charset=UTF-8`, what Parley sends.
    pub(crate) fn text_plain_utf8() -> Self {
        Self {
            type_: "text".into(),
            subtype: "plain".into(),
            params: vec![("charset".into(), "UTF-8".into())],
        }
    }

    /// Parse a Content-Type header value.
    pub(crate) fn parse(value: &str) -> Result<Self, MappingError> {
        let bad = MappingError::UnsupportedMediaType;
        let mut parts = split_params(value).into_iter();
        let essence = parts.next().unwrap_or_default();
        let (type_, subtype) = essence.trim().split_once('/').ok_or(bad.clone())?;
        let (type_, subtype) = (type_.trim(), subtype.trim());
        if !is_token(type_) || !is_token(subtype) {
            return Err(bad);
        }
        let mut params = Vec::new();
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
            params.push((name.to_ascii_lowercase(), v));
        }
        Ok(Self {
            type_: type_.to_ascii_lowercase(),
            subtype: subtype.to_ascii_lowercase(),
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
            .map(|(_, v)| v.as_str())
    }

    /// The `charset` parameter.
    pub(crate) fn charset(&self) -> Option<&str> {
        self.param("charset")
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.type_, self.subtype)?;
        for (n, v) in &self.params {
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

    #[test]
    fn trailing_semicolon_is_tolerated() {
        assert!(MediaType::parse("text/plain;").unwrap().params.is_empty());
    }
}

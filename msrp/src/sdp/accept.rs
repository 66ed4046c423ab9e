//! RFC 4975 §8.6: `a=accept-types` and `a=accept-wrapped-types` format lists.

use crate::sdp::error::MediaError;

/// Figure 8's `type = token`, checked with RFC 3261 §25.1's `token`:
/// `1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" /
/// "~" )` (narrower than RFC 4975 §9's `token`).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
                )
        })
}

/// `format-entry = ( ( (type "/" subtype) / (type "/" "*") ) *( ";" type-param ) ) / ("*")`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatEntry {
    text: String,
    kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum EntryKind {
    /// `*`: any type.
    Any,
    /// `type/*`, the type lowercased.
    AnySubtype(String),
    /// `type/subtype`, both lowercased, parameters dropped for matching.
    Exact(String, String),
}

impl FormatEntry {
    /// Parses one entry.
    pub fn parse(text: &str) -> Result<Self, MediaError> {
        if text == "*" {
            return Ok(Self {
                text: text.to_owned(),
                kind: EntryKind::Any,
            });
        }
        let mut parts = text.split(';');
        let media_type = parts.next().unwrap_or_default();
        let (ty, subtype) = media_type
            .split_once('/')
            .ok_or(MediaError::InvalidFormat)?;
        if !is_token(ty) || !(subtype == "*" || is_token(subtype)) {
            return Err(MediaError::InvalidFormat);
        }
        // type-param = parm-attribute "=" parm-value; quoted strings are not
        // split on ';' here, so a ';' inside quotes is refused: rare, and safe.
        for param in parts {
            let (name, value) = param.split_once('=').ok_or(MediaError::InvalidFormat)?;
            let quoted = value.len() >= 2 && value.starts_with('"') && value.ends_with('"');
            if !is_token(name) || !(quoted || is_token(value)) {
                return Err(MediaError::InvalidFormat);
            }
        }
        let ty = ty.to_ascii_lowercase();
        let kind = if subtype == "*" {
            EntryKind::AnySubtype(ty)
        } else {
            EntryKind::Exact(ty, subtype.to_ascii_lowercase())
        };
        Ok(Self {
            text: text.to_owned(),
            kind,
        })
    }

    /// The entry as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this entry allows `media_type` (`type/subtype`, no parameters).
    /// RFC 4975 §8.6: "a format-entry with one or more parameters is assumed
    /// to match the same format-entry with no parameters"; `*` and `type/*`
    /// allow what they name.
    pub fn allows(&self, media_type: &str) -> bool {
        let Some((ty, subtype)) = media_type.split_once('/') else {
            return false;
        };
        match &self.kind {
            EntryKind::Any => true,
            EntryKind::AnySubtype(t) => t.eq_ignore_ascii_case(ty),
            EntryKind::Exact(t, s) => t.eq_ignore_ascii_case(ty) && s.eq_ignore_ascii_case(subtype),
        }
    }

    /// `type/subtype` lowercased for an exact entry, `None` for a wildcard.
    pub fn media_type(&self) -> Option<String> {
        match &self.kind {
            EntryKind::Exact(t, s) => Some(format!("{t}/{s}")),
            _ => None,
        }
    }
}

/// `format-list = format-entry *( SP format-entry)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FormatList {
    entries: Vec<FormatEntry>,
}

impl FormatList {
    /// Parses a list, at most `max_entries` entries. Leading and repeated
    /// spaces are tolerated: RFC 4976 §11 writes `a=accept-types: message/cpim`.
    pub fn parse(value: &str, max_entries: usize) -> Result<Self, MediaError> {
        let mut entries = Vec::new();
        for part in value.split_ascii_whitespace() {
            if entries.len() == max_entries {
                return Err(MediaError::InvalidFormat);
            }
            entries.push(FormatEntry::parse(part)?);
        }
        Ok(Self { entries })
    }

    /// A list of the given entries.
    pub fn new(entries: Vec<FormatEntry>) -> Self {
        Self { entries }
    }

    /// The entries, in order.
    pub fn entries(&self) -> &[FormatEntry] {
        &self.entries
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether any entry allows `media_type`.
    pub fn allows(&self, media_type: &str) -> bool {
        self.entries.iter().any(|e| e.allows(media_type))
    }

    /// The exact entries of `ours` that `theirs` allows: first in the order
    /// `theirs` lists them explicitly (RFC 3264 §6 recommends the offer's
    /// order), then those only a wildcard of `theirs` allows, in our order.
    /// Wildcards of `ours` are not offered back: we answer what we take.
    pub fn intersect(ours: &Self, theirs: &Self) -> Self {
        let mut out: Vec<FormatEntry> = Vec::new();
        let exact = theirs.entries.iter().filter_map(FormatEntry::media_type);
        for media_type in exact {
            if let Some(entry) = ours
                .entries
                .iter()
                .find(|e| e.media_type().as_deref() == Some(&media_type))
                && !out.contains(entry)
            {
                out.push(entry.clone());
            }
        }
        for entry in &ours.entries {
            if let Some(media_type) = entry.media_type()
                && theirs.allows(&media_type)
                && !out.contains(entry)
            {
                out.push(entry.clone());
            }
        }
        Self { entries: out }
    }
}

impl std::fmt::Display for FormatList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(entry.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn list(s: &str) -> FormatList {
        FormatList::parse(s, 16).unwrap()
    }

    #[test]
    fn parameters_do_not_stop_a_match() {
        let entry = FormatEntry::parse("text/plain;charset=UTF-8").unwrap();
        assert!(entry.allows("text/plain"));
        assert!(entry.allows("TEXT/Plain"));
        assert!(!entry.allows("text/html"));
    }

    #[test]
    fn star_and_type_star_allow_what_they_name() {
        assert!(FormatEntry::parse("*").unwrap().allows("message/cpim"));
        let text_any = FormatEntry::parse("text/*").unwrap();
        assert!(text_any.allows("text/plain"));
        assert!(!text_any.allows("message/cpim"));
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in [
            "text",
            "/plain",
            "text/",
            "text/plain;charset",
            "te xt/plain",
        ] {
            assert!(FormatEntry::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn intersection_follows_the_offer_order_and_drops_what_we_lack() {
        let ours = list("message/cpim text/plain");
        let got = FormatList::intersect(&ours, &list("text/html text/plain message/cpim"));
        assert_eq!(got.to_string(), "text/plain message/cpim");
    }

    #[test]
    fn intersection_with_star_is_all_of_ours() {
        let ours = list("message/cpim text/plain");
        assert_eq!(
            FormatList::intersect(&ours, &list("*")).to_string(),
            "message/cpim text/plain"
        );
        assert_eq!(
            FormatList::intersect(&ours, &list("text/*")).to_string(),
            "text/plain"
        );
    }

    #[test]
    fn intersection_without_common_type_is_empty() {
        let ours = list("message/cpim text/plain");
        assert!(FormatList::intersect(&ours, &list("text/html image/png")).is_empty());
    }

    #[test]
    fn leading_space_of_rfc4976_is_tolerated() {
        assert_eq!(list(" message/cpim text/plain").entries().len(), 2);
    }
}

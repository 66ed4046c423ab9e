//! RFC 7622: XMPP addresses (JIDs), prepared with PRECIS, and the XEP-0106
//! escaping of characters a localpart cannot carry.

use std::borrow::Cow;
use std::fmt;

use precis_profiles::precis_core::profile::PrecisFastInvocation;
use precis_profiles::{OpaqueString, UsernameCaseMapped};

use crate::failure::{AddressPart, MappingError};

/// RFC 7622 §3.1: each part of a JID is at most 1023 octets once prepared.
pub(crate) const MAX_PART_LEN: usize = 1023;

/// An XMPP address `localpart@domainpart/resourcepart`, each part prepared
/// and enforced per RFC 7622 §3 (so two equal JIDs compare equal with `==`).
///
/// The localpart is kept in its XEP-0106 escaped form, exactly as it travels
/// in a `from`/`to` attribute.
///
/// Held as its text in one `String` and where the parts end (issue 24: one
/// allocation per JID, and [`Jid::into_string`] hands that text over). Two
/// JIDs are equal exactly when their parts are: the text and the two
/// boundaries determine the parts, and the parts determine them.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Jid {
    /// `localpart@domainpart/resourcepart` as [`fmt::Display`] writes it.
    text: String,
    /// The localpart's length in `text`, when there is one (the domainpart
    /// starts after it and its `@`).
    local_len: Option<usize>,
    /// Where the domainpart ends in `text`; a resourcepart (never empty)
    /// follows after a `/` when this is short of the text's end.
    domain_end: usize,
}

impl Jid {
    /// Parse and prepare a JID string (RFC 7622 §3.1: the resourcepart starts
    /// at the first `/`, the localpart ends at the first `@` before it).
    pub fn parse(s: &str) -> Result<Self, MappingError> {
        let (local, domain, resource) = parley_xmpp::jid::parts(s);
        Self::new(local, domain, resource)
    }

    /// Build a JID from its parts, preparing each (RFC 7622 §3.2–§3.4).
    /// `local` must already be in escaped form (see [`escape_localpart`]).
    pub fn new(
        local: Option<&str>,
        domain: &str,
        resource: Option<&str>,
    ) -> Result<Self, MappingError> {
        let local = local.map(prepare_localpart).transpose()?;
        let domain = prepare_domainpart(domain)?;
        let resource = resource.map(prepare_resourcepart).transpose()?;
        Ok(Self::from_prepared(
            local.as_deref(),
            &domain,
            resource.as_deref(),
        ))
    }

    /// A JID of parts already prepared, in one allocation.
    fn from_prepared(local: Option<&str>, domain: &str, resource: Option<&str>) -> Jid {
        let len =
            local.map_or(0, |l| l.len() + 1) + domain.len() + resource.map_or(0, |r| r.len() + 1);
        let mut text = String::with_capacity(len);
        if let Some(local) = local {
            text.push_str(local);
            text.push('@');
        }
        text.push_str(domain);
        let domain_end = text.len();
        if let Some(resource) = resource {
            text.push('/');
            text.push_str(resource);
        }
        Jid {
            text,
            local_len: local.map(str::len),
            domain_end,
        }
    }

    /// Where the domainpart starts in the text.
    fn domain_start(&self) -> usize {
        self.local_len.map_or(0, |l| l + 1)
    }

    /// The escaped localpart, if any.
    pub fn local(&self) -> Option<&str> {
        self.local_len.map(|l| &self.text[..l])
    }

    /// The domainpart.
    pub fn domain(&self) -> &str {
        &self.text[self.domain_start()..self.domain_end]
    }

    /// The resourcepart, if any.
    pub fn resource(&self) -> Option<&str> {
        self.is_full().then(|| &self.text[self.domain_end + 1..])
    }

    /// The bare JID (`localpart@domainpart`).
    pub fn bare(&self) -> Jid {
        Jid {
            text: self.text[..self.domain_end].to_owned(),
            local_len: self.local_len,
            domain_end: self.domain_end,
        }
    }

    /// The JID's text, as [`fmt::Display`] writes it, without a copy
    /// (issue 24: the `from` and `to` of every SIP → XMPP message).
    pub fn into_string(self) -> String {
        self.text
    }

    /// Whether this JID has a resourcepart ("full JID").
    pub fn is_full(&self) -> bool {
        self.domain_end < self.text.len()
    }
}

/// The parts, as when they were three fields.
impl fmt::Debug for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jid")
            .field("local", &self.local())
            .field("domain", &self.domain())
            .field("resource", &self.resource())
            .finish()
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Jid {
    type Err = MappingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// XEP-0106 §3.1: the ten characters a localpart cannot carry and their escapes.
const ESCAPES: [(char, &str); 10] = [
    (' ', "\\20"),
    ('"', "\\22"),
    ('&', "\\26"),
    ('\'', "\\27"),
    ('/', "\\2f"),
    (':', "\\3a"),
    ('<', "\\3c"),
    ('>', "\\3e"),
    ('@', "\\40"),
    ('\\', "\\5c"),
];

/// XEP-0106 §4.2: escape a raw user name into a localpart.
///
/// A backslash is escaped only where it would otherwise start one of the ten
/// escape sequences, so ordinary backslashes survive unchanged (§4.2 rule 3).
pub fn escape_localpart(raw: &str) -> String {
    escaped_localpart(raw).into_owned()
}

/// [`escape_localpart`], borrowing the name when there is nothing to
/// escape (the usual user name; issue 24).
pub(crate) fn escaped_localpart(raw: &str) -> Cow<'_, str> {
    if !raw.bytes().any(|b| {
        matches!(
            b,
            b' ' | b'"' | b'&' | b'\'' | b'/' | b':' | b'<' | b'>' | b'@' | b'\\'
        )
    }) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    for (i, c) in raw.char_indices() {
        match c {
            '\\' if starts_escape(&raw[i + 1..]) => out.push_str("\\5c"),
            '\\' => out.push('\\'),
            c => match ESCAPES.iter().find(|(e, _)| *e == c) {
                Some((_, seq)) => out.push_str(seq),
                None => out.push(c),
            },
        }
    }
    Cow::Owned(out)
}

/// XEP-0106 §4.3: turn an escaped localpart back into the raw user name.
/// Sequences that are not one of the ten escapes are left as they are.
/// A localpart without `\` is its own raw name, borrowed (issue 24: most
/// are, and each message maps two).
pub fn unescape_localpart(escaped: &str) -> Cow<'_, str> {
    if !escaped.as_bytes().contains(&b'\\') {
        return Cow::Borrowed(escaped);
    }
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(pos) = rest.find('\\') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        match escape_target(after) {
            Some(c) => {
                out.push(c);
                rest = &after[2..];
            }
            None => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn escape_target(after_backslash: &str) -> Option<char> {
    let hex = after_backslash.get(..2)?;
    ESCAPES
        .iter()
        .find(|(_, seq)| seq[1..].eq_ignore_ascii_case(hex))
        .map(|(c, _)| *c)
}

fn starts_escape(after_backslash: &str) -> bool {
    escape_target(after_backslash).is_some()
}

/// RFC 7622 §3.3: UsernameCaseMapped (RFC 8265 §3.3), plus the characters
/// §3.3.1 forbids in a localpart.
fn prepare_localpart(local: &str) -> Result<Cow<'_, str>, MappingError> {
    let bad = |reason| MappingError::MalformedJid {
        part: AddressPart::Local,
        reason,
    };
    if local.is_empty() {
        return Err(bad("empty localpart"));
    }
    if local
        .chars()
        .any(|c| matches!(c, '"' | '&' | '\'' | '/' | ':' | '<' | '>' | '@'))
    {
        return Err(bad(
            "localpart contains a character RFC 7622 §3.3.1 forbids",
        ));
    }
    // Fast path, exact for ASCII: RFC 8264 §9.11 makes %x21-7E PVALID in the
    // IdentifierClass, and for them the RFC 8265 §3.3.2 rules reduce to
    // lowercasing (width mapping, NFC and the bidi rule change nothing).
    if local.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        check_len(local, AddressPart::Local)?;
        return Ok(ascii_lowercase(local));
    }
    let prepared = UsernameCaseMapped::enforce(local)
        .map_err(|_| bad("localpart fails the PRECIS UsernameCaseMapped profile"))?;
    check_len(&prepared, AddressPart::Local)?;
    Ok(Cow::Owned(prepared.into_owned()))
}

/// RFC 7622 §3.2: the domainpart. IDNA conversion is out of scope (RFC 7247
/// §6.1); ASCII letters are lowercased, a final dot is stripped, and the
/// characters that cannot appear in a hostname or IP literal are refused.
fn prepare_domainpart(domain: &str) -> Result<Cow<'_, str>, MappingError> {
    let bad = |reason| MappingError::MalformedJid {
        part: AddressPart::Domain,
        reason,
    };
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if domain.is_empty() {
        return Err(bad("empty domainpart"));
    }
    // Fast path, exact for ASCII: a name of ASCII letters, digits, '-',
    // '_' and dots between non-empty labels is what the general check
    // below passes, and `to_lowercase` lowercases only its letters (issue
    // 24; `tests::ascii_domain_fast_path_matches_the_general_one`).
    if let Some(prepared) = ascii_domainpart(domain) {
        check_len(&prepared, AddressPart::Domain)?;
        return Ok(prepared);
    }
    let ip_literal = domain.starts_with('[') && domain.ends_with(']');
    let ok = if ip_literal {
        domain[1..domain.len() - 1]
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
    } else {
        domain.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        })
    };
    if !ok {
        return Err(bad("domainpart is not a hostname or IP literal"));
    }
    let prepared = domain.to_lowercase();
    check_len(&prepared, AddressPart::Domain)?;
    Ok(Cow::Owned(prepared))
}

/// The domainpart of [`prepare_domainpart`] for an ASCII host name
/// (labels of letters, digits, `-` and `_`), lowercased; `None` for any
/// other (IP literals, non-ASCII names, bad names), which the general check
/// takes.
fn ascii_domainpart(domain: &str) -> Option<Cow<'_, str>> {
    let bytes = domain.as_bytes();
    let label_ok = |label: &[u8]| {
        !label.is_empty()
            && label
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    };
    bytes
        .split(|b| *b == b'.')
        .all(label_ok)
        .then(|| ascii_lowercase(domain))
}

/// `text.to_ascii_lowercase()`, borrowed when that changes nothing.
fn ascii_lowercase(text: &str) -> Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(text.to_ascii_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}

/// RFC 7622 §3.4: OpaqueString (RFC 8265 §4.2).
fn prepare_resourcepart(resource: &str) -> Result<Cow<'_, str>, MappingError> {
    let bad = |reason| MappingError::MalformedJid {
        part: AddressPart::Resource,
        reason,
    };
    if resource.is_empty() {
        return Err(bad("empty resourcepart"));
    }
    // Fast path, exact for ASCII: %x20-7E are PVALID in the FreeformClass
    // (RFC 8264 §9.12) and OpaqueString maps none of them (RFC 8265 §4.2.2),
    // as long as the result is not empty.
    if resource.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        check_len(resource, AddressPart::Resource)?;
        return Ok(Cow::Borrowed(resource));
    }
    let prepared = OpaqueString::enforce(resource)
        .map_err(|_| bad("resourcepart fails the PRECIS OpaqueString profile"))?;
    check_len(&prepared, AddressPart::Resource)?;
    Ok(Cow::Owned(prepared.into_owned()))
}

fn check_len(part: &str, which: AddressPart) -> Result<(), MappingError> {
    if part.len() > MAX_PART_LEN {
        return Err(MappingError::MalformedJid {
            part: which,
            reason: "longer than 1023 octets (RFC 7622 §3.1)",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// XEP-0106 §5, Table 3: the example transformations.
    #[test]
    fn xep0106_examples_escape_and_unescape() {
        let table = [
            ("space cadet", "space\\20cadet"),
            ("call me \"ishmael\"", "call\\20me\\20\\22ishmael\\22"),
            ("at&t guy", "at\\26t\\20guy"),
            ("d'artagnan", "d\\27artagnan"),
            ("/.fanboy", "\\2f.fanboy"),
            ("::foo::", "\\3a\\3afoo\\3a\\3a"),
            ("<foo>", "\\3cfoo\\3e"),
            ("user@host", "user\\40host"),
            ("c:\\net", "c\\3a\\net"),
            ("c:\\\\net", "c\\3a\\\\net"),
            ("c:\\cool stuff", "c\\3a\\cool\\20stuff"),
            ("c:\\5commas", "c\\3a\\5c5commas"),
        ];
        for (raw, escaped) in table {
            assert_eq!(escape_localpart(raw), escaped, "escape {raw}");
            assert_eq!(unescape_localpart(escaped), raw, "unescape {escaped}");
        }
    }

    #[test]
    fn jid_parse_splits_at_first_slash_then_at() {
        let jid = Jid::parse("juliet@example.com/foo@bar/baz").unwrap();
        assert_eq!(jid.local(), Some("juliet"));
        assert_eq!(jid.domain(), "example.com");
        assert_eq!(jid.resource(), Some("foo@bar/baz"));
        assert_eq!(jid.to_string(), "juliet@example.com/foo@bar/baz");
        assert_eq!(jid.bare().to_string(), "juliet@example.com");
    }

    /// RFC 7622 §3.3: localparts are case-mapped, so comparison is caseless.
    #[test]
    fn jid_localpart_and_domain_are_case_folded() {
        let a = Jid::parse("Juliet@Example.COM/Balcony").unwrap();
        assert_eq!(a.to_string(), "juliet@example.com/Balcony");
        assert_eq!(a, Jid::parse("juliet@example.com./Balcony").unwrap());
    }

    #[test]
    fn jid_refuses_empty_parts_and_forbidden_characters() {
        for bad in [
            "",
            "@example.com",
            "a@",
            "a@b/",
            "a b@example.com",
            "a'b@x.org",
            "a@b c",
        ] {
            assert!(Jid::parse(bad).is_err(), "{bad:?} must be refused");
        }
        let long = format!("{}@example.com", "a".repeat(1024));
        assert!(Jid::parse(&long).is_err());
    }

    /// The ASCII fast paths agree with the PRECIS profiles they shortcut.
    #[test]
    fn ascii_fast_path_matches_precis_profiles() {
        for b in 0x20u8..=0x7e {
            let s = format!("a{}B", b as char);
            let precis = UsernameCaseMapped::enforce(s.as_str()).map(|c| c.into_owned());
            if !"\"&'/:<>@ ".contains(b as char) {
                assert_eq!(
                    prepare_localpart(&s).ok().map(Cow::into_owned),
                    precis.ok(),
                    "{s:?}"
                );
            }
            let opaque = OpaqueString::enforce(s.as_str()).map(|c| c.into_owned());
            assert_eq!(
                prepare_resourcepart(&s).ok().map(Cow::into_owned),
                opaque.ok(),
                "{s:?}"
            );
        }
    }

    /// The ASCII domain fast path gives what the general check gives, for
    /// every ASCII character in several places of a name.
    #[test]
    fn ascii_domain_fast_path_matches_the_general_one() {
        let general = |domain: &str| {
            let ok = domain.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
            });
            ok.then(|| domain.to_lowercase())
        };
        let mut names = vec![String::new(), ".".into(), "a..b".into(), "é.example".into()];
        for b in 0x20u8..=0x7e {
            let c = b as char;
            for name in [
                format!("{c}"),
                format!("Ex{c}mple.COM"),
                format!("example.{c}"),
                format!("{c}.example"),
            ] {
                names.push(name);
            }
        }
        for name in &names {
            if let Some(fast) = ascii_domainpart(name) {
                assert_eq!(Some(fast.into_owned()), general(name), "{name:?}");
            } else if name.is_ascii() {
                assert_eq!(general(name), None, "{name:?}");
            }
        }
    }

    /// The one-string representation keeps what the three prepared parts
    /// were: the parts as `Jid::new` prepared them, `Display` and `Debug`
    /// as the three fields wrote them, `bare`, and `==` exactly when the
    /// parts are equal (issue 24).
    #[test]
    fn one_string_jid_keeps_the_three_parts() {
        let texts = [
            "a@b",
            "a@b/c",
            "b",
            "b/c d",
            "b/c/d@e",
            "A\\20b@Example.com/Res/x@y",
            "Juliet@Example.COM.",
            "ju@b",
            "j@ub",
            "a@[::1]/r",
            "\u{ff21}b@example.com/\u{e9}",
            "a@b/@",
        ];
        let parts = |text: &str| {
            let (bare, resource) = match text.split_once('/') {
                Some((bare, resource)) => (bare, Some(resource)),
                None => (text, None),
            };
            let (local, domain) = match bare.split_once('@') {
                Some((local, domain)) => (Some(local), domain),
                None => (None, bare),
            };
            (
                local.map(|l| prepare_localpart(l).unwrap().into_owned()),
                prepare_domainpart(domain).unwrap().into_owned(),
                resource.map(|r| prepare_resourcepart(r).unwrap().into_owned()),
            )
        };
        let jids: Vec<(Jid, _)> = texts
            .iter()
            .map(|t| (Jid::parse(t).unwrap(), parts(t)))
            .collect();
        for (jid, (local, domain, resource)) in &jids {
            assert_eq!(jid.local(), local.as_deref());
            assert_eq!(jid.domain(), domain);
            assert_eq!(jid.resource(), resource.as_deref());
            assert_eq!(jid.is_full(), resource.is_some());
            let mut display = String::new();
            if let Some(local) = local {
                display.push_str(&format!("{local}@"));
            }
            display.push_str(domain);
            if let Some(resource) = resource {
                display.push_str(&format!("/{resource}"));
            }
            assert_eq!(jid.to_string(), display);
            assert_eq!(
                format!("{jid:?}"),
                format!("Jid {{ local: {local:?}, domain: {domain:?}, resource: {resource:?} }}")
            );
            let bare = jid.bare();
            assert_eq!(
                (bare.local(), bare.domain(), bare.resource()),
                (local.as_deref(), domain.as_str(), None)
            );
        }
        for (a, pa) in &jids {
            for (b, pb) in &jids {
                assert_eq!(a == b, pa == pb, "{a} vs {b}");
            }
        }
    }

    /// `into_string` writes what `Display` writes.
    #[test]
    fn jid_into_string_is_its_display() {
        for text in ["a@b", "a@b/c", "b", "b/c d", "A\\20b@Example.com/Res/x@y"] {
            let jid = Jid::parse(text).unwrap();
            assert_eq!(jid.clone().into_string(), jid.to_string(), "{text}");
        }
    }

    /// The escape's fast path changes nothing: names with and without the
    /// ten characters come out as the character-by-character rule has them.
    #[test]
    fn escaping_a_name_without_escapable_characters_keeps_it() {
        for raw in [
            "alice",
            "+15551234",
            "a.b-c_d",
            "Ünïcödé",
            "a\\b",
            "a b",
            "a@b",
        ] {
            let slow: String = raw
                .char_indices()
                .map(|(i, c)| match c {
                    '\\' if starts_escape(&raw[i + 1..]) => "\\5c".to_owned(),
                    c => ESCAPES
                        .iter()
                        .find(|(e, _)| *e == c && c != '\\')
                        .map_or_else(|| c.to_string(), |(_, seq)| (*seq).to_owned()),
                })
                .collect();
            assert_eq!(escape_localpart(raw), slow, "{raw:?}");
        }
    }

    #[test]
    fn jid_domain_only_and_ip_literal() {
        assert_eq!(Jid::parse("example.com").unwrap().local(), None);
        assert_eq!(
            Jid::parse("a@[::1]").unwrap().domain(),
            "[::1]",
            "IPv6 literal"
        );
    }
}

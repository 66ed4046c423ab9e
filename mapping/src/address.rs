//! RFC 7247 §6: mapping addresses between SIP and XMPP.
//!
//! The rules of design §2: a SIP user of the gateway's SIP domain is a JID at
//! the component domain; telephone numbers (RFC 3966 `tel:`, `user=phone`)
//! keep their global number as the localpart; users of other SIP domains are
//! XEP-0106 escaped (`alice\40other.net@component`) where policy allows; XMPP
//! users keep their own domain on the SIP side (`sip:juliet@xmpp.example`).
//! GRUU `gr` parameters and resourceparts map to each other (RFC 7247 §6.3).

use std::fmt;
use std::str::FromStr;

use ezk_sip_types::host::{Host, HostPort};
use ezk_sip_types::print::AppendCtx;
use ezk_sip_types::uri::params::Param;
use ezk_sip_types::uri::{SipUri, SipUriUserPart};

use crate::error::MappingError;
pub use crate::jid::{Jid, escape_localpart, unescape_localpart};

/// An address on the SIP side: the URI schemes RFC 7247 §6.1 names.
#[derive(Debug, Clone)]
pub enum SipAddress {
    /// `sip:` (RFC 3261 §19.1).
    Sip(SipUri),
    /// `sips:` (RFC 3261 §19.1).
    Sips(SipUri),
    /// `tel:` (RFC 3966).
    Tel(TelUri),
    /// `im:` (RFC 3860).
    Im(MailboxUri),
    /// `pres:` (RFC 3859).
    Pres(MailboxUri),
}

/// RFC 3966 §3: a `tel:` URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TelUri {
    /// The telephone-subscriber number as written (`+1-555-1234`, `7042`).
    pub number: String,
    /// The parameters after the number, in order (`phone-context`, `ext`, …).
    pub params: Vec<(String, Option<String>)>,
}

/// RFC 3860 §3 / RFC 3859 §3: the `mailbox` of an `im:` or `pres:` URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MailboxUri {
    /// The local part, percent-decoded.
    pub local: String,
    /// The domain.
    pub domain: String,
}

/// Whether SIP users of other domains may be reached through the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ForeignDomainPolicy {
    /// Map `sip:alice@other.net` to `alice\40other.net@<component_domain>`.
    Allow,
    /// Refuse addresses outside the gateway's SIP domain.
    #[default]
    Refuse,
}

/// The address rules of design §2 for one gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressMapper {
    /// The component's JID domain (`[xmpp] component_domain`).
    pub component_domain: String,
    /// The SIP domain whose users XMPP sees at the component domain.
    pub sip_domain: String,
    /// Whether users of other SIP domains are mapped.
    pub foreign_domains: ForeignDomainPolicy,
}

impl AddressMapper {
    /// A SIP user (the From of an incoming request) as a JID at the component
    /// domain (design §2; RFC 7247 §6.4 for the localpart, §6.3 for `gr`).
    pub fn sip_user_to_jid(&self, uri: &SipAddress) -> Result<Jid, MappingError> {
        let (user, host, resource) = match uri {
            SipAddress::Sip(u) | SipAddress::Sips(u) => {
                let user = sip_user(u).ok_or(MappingError::AddressIncomplete)?;
                let user = if is_user_phone(u) {
                    telephone_localpart(&user)?
                } else {
                    user
                };
                (user, u.host_port.host.to_string(), gruu(u))
            }
            SipAddress::Tel(t) => {
                let number = telephone_localpart(&t.number)?;
                return Jid::new(Some(&number), &self.component_domain, None);
            }
            SipAddress::Im(m) | SipAddress::Pres(m) => (m.local.clone(), m.domain.clone(), None),
        };
        if user.is_empty() {
            return Err(MappingError::AddressIncomplete);
        }
        let raw_local = if same_domain(&host, &self.sip_domain) && !user.contains('@') {
            user
        } else {
            if !same_domain(&host, &self.sip_domain)
                && self.foreign_domains == ForeignDomainPolicy::Refuse
            {
                return Err(MappingError::ForeignDomainRefused);
            }
            // Design §2: `alice@other.net` rides in the localpart as `alice\40other.net`.
            // A user of our own domain with an '@' in it keeps its domain too, so
            // `jid_to_sip_user` can split at the last '@' unambiguously.
            format!("{user}@{}", host.to_ascii_lowercase())
        };
        Jid::new(
            Some(&escape_localpart(&raw_local)),
            &self.component_domain,
            resource.as_deref(),
        )
    }

    /// A Request-URI naming an XMPP user (RFC 7247 §6.4): `sip:juliet@xmpp.example`
    /// is `juliet@xmpp.example`, and a `gr` parameter is the resourcepart.
    pub fn sip_target_to_jid(&self, uri: &SipAddress) -> Result<Jid, MappingError> {
        let (user, host, resource) = match uri {
            SipAddress::Sip(u) | SipAddress::Sips(u) => (
                sip_user(u).ok_or(MappingError::AddressIncomplete)?,
                u.host_port.host.to_string(),
                gruu(u),
            ),
            SipAddress::Im(m) | SipAddress::Pres(m) => (m.local.clone(), m.domain.clone(), None),
            // A telephone number names no XMPP domain.
            SipAddress::Tel(_) => return Err(MappingError::UnsupportedScheme { scheme: "tel" }),
        };
        if user.is_empty() {
            return Err(MappingError::AddressIncomplete);
        }
        if same_domain(&host, &self.component_domain) || same_domain(&host, &self.sip_domain) {
            return Err(MappingError::TargetNotXmpp);
        }
        // RFC 7247 §6.4 steps 3–5: percent-decoded already; escape what XMPP
        // forbids ('&' → \26, '\'' → \27, '/' → \2f, and the rest of XEP-0106).
        Jid::new(Some(&escape_localpart(&user)), &host, resource.as_deref())
    }

    /// An XMPP user as a SIP URI (RFC 7247 §6.5; RFC 7572 §4: the resource is
    /// the GRUU): `juliet@xmpp.example/res` is `sip:juliet@xmpp.example;gr=res`.
    pub fn xmpp_user_to_sip(&self, jid: &Jid) -> Result<SipAddress, MappingError> {
        let local = jid.local().ok_or(MappingError::AddressIncomplete)?;
        let user = unescape_localpart(local);
        let mut uri = sip_uri(&user, jid.domain())?;
        if let Some(resource) = jid.resource() {
            uri.uri_params.push(Param::value("gr", resource.to_owned()));
        }
        Ok(SipAddress::Sip(uri))
    }

    /// A JID at the component domain as the SIP user it stands for (design
    /// §2): `bob@comp` → `sip:bob@<sip_domain>`, `alice\40other.net@comp` →
    /// `sip:alice@other.net`, `+1555@comp` → `sip:+1555@<sip_domain>;user=phone`.
    /// A resourcepart becomes the `gr` parameter (RFC 7247 §6.3).
    pub fn jid_to_sip_user(&self, jid: &Jid) -> Result<SipAddress, MappingError> {
        if !same_domain(jid.domain(), &self.component_domain) {
            return Err(MappingError::NotOurDomain);
        }
        let local = jid.local().ok_or(MappingError::AddressIncomplete)?;
        let raw = unescape_localpart(local);
        let (user, host) = match raw.rsplit_once('@') {
            Some((user, host)) => {
                if !same_domain(host, &self.sip_domain)
                    && self.foreign_domains == ForeignDomainPolicy::Refuse
                {
                    return Err(MappingError::ForeignDomainRefused);
                }
                (user, host)
            }
            None => (raw.as_str(), self.sip_domain.as_str()),
        };
        if user.is_empty() {
            return Err(MappingError::AddressIncomplete);
        }
        let mut uri = sip_uri(user, host)?;
        if is_global_number(user) {
            // RFC 3261 §19.1.1: a telephone number in a SIP URI says user=phone.
            uri.uri_params.push(Param::value("user", "phone"));
        }
        if let Some(resource) = jid.resource() {
            uri.uri_params.push(Param::value("gr", resource.to_owned()));
        }
        Ok(SipAddress::Sip(uri))
    }
}

impl SipAddress {
    /// Parse a URI of one of the five schemes (scheme case-insensitive).
    pub fn parse(s: &str) -> Result<Self, MappingError> {
        let s = s.trim();
        let (scheme, rest) = s.split_once(':').ok_or(MappingError::MalformedUri {
            reason: "no scheme",
        })?;
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            "sip" | "sips" => {
                let uri = SipUri::from_str(s).map_err(|_| MappingError::MalformedUri {
                    reason: "not a SIP URI (RFC 3261 §25.1)",
                })?;
                Ok(Self::from(uri))
            }
            "tel" => TelUri::parse(rest).map(Self::Tel),
            "im" => MailboxUri::parse(rest).map(Self::Im),
            "pres" => MailboxUri::parse(rest).map(Self::Pres),
            _ => Err(MappingError::UnsupportedScheme { scheme: "other" }),
        }
    }

    /// The scheme name, lowercase.
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Sip(_) => "sip",
            Self::Sips(_) => "sips",
            Self::Tel(_) => "tel",
            Self::Im(_) => "im",
            Self::Pres(_) => "pres",
        }
    }

    /// The user part, percent-decoded (the number for `tel:`).
    pub fn user(&self) -> Option<String> {
        match self {
            Self::Sip(u) | Self::Sips(u) => sip_user(u),
            Self::Tel(t) => Some(t.number.clone()),
            Self::Im(m) | Self::Pres(m) => Some(m.local.clone()),
        }
    }

    /// The host (`None` for `tel:`).
    pub fn host(&self) -> Option<String> {
        match self {
            Self::Sip(u) | Self::Sips(u) => Some(u.host_port.host.to_string()),
            Self::Tel(_) => None,
            Self::Im(m) | Self::Pres(m) => Some(m.domain.clone()),
        }
    }

    /// The `gr` parameter (RFC 5627), if it has a value.
    pub fn gruu(&self) -> Option<String> {
        match self {
            Self::Sip(u) | Self::Sips(u) => gruu(u),
            _ => None,
        }
    }

    /// The same address without URI parameters and headers (an AOR).
    pub fn without_params(&self) -> SipAddress {
        match self {
            Self::Sip(u) | Self::Sips(u) => {
                let mut bare = SipUri::new(u.host_port.clone()).sips(u.sips);
                bare.user_part = u.user_part.clone();
                Self::from(bare)
            }
            Self::Tel(t) => Self::Tel(TelUri {
                number: t.number.clone(),
                params: Vec::new(),
            }),
            other => other.clone(),
        }
    }
}

impl From<SipUri> for SipAddress {
    fn from(uri: SipUri) -> Self {
        if uri.sips {
            Self::Sips(uri)
        } else {
            Self::Sip(uri)
        }
    }
}

impl FromStr for SipAddress {
    type Err = MappingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl PartialEq for SipAddress {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for SipAddress {}

impl fmt::Display for SipAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sip(u) | Self::Sips(u) => {
                // ezk prints '%' in the user part unescaped (0.6.5), so a user
                // "a%41" would come back as "aA"; the user part is written here.
                f.write_str(if u.sips { "sips:" } else { "sip:" })?;
                match &u.user_part {
                    SipUriUserPart::Empty => {}
                    SipUriUserPart::User(user) => {
                        write!(f, "{}@", PercentEncoded(user, SIP_USER_EXTRA))?
                    }
                    SipUriUserPart::UserPw(up) => write!(
                        f,
                        "{}:{}@",
                        PercentEncoded(&up.user, SIP_USER_EXTRA),
                        up.password
                    )?,
                }
                write!(f, "{}", u.host_port.default_print_ctx())?;
                write!(f, "{}{}", u.uri_params, u.header_params)
            }
            Self::Tel(t) => {
                write!(f, "tel:{}", t.number)?;
                for (name, value) in &t.params {
                    match value {
                        Some(v) => write!(f, ";{name}={v}")?,
                        None => write!(f, ";{name}")?,
                    }
                }
                Ok(())
            }
            Self::Im(m) => write!(f, "im:{}@{}", PercentEncoded(&m.local, IM_EXTRA), m.domain),
            Self::Pres(m) => write!(
                f,
                "pres:{}@{}",
                PercentEncoded(&m.local, IM_EXTRA),
                m.domain
            ),
        }
    }
}

impl TelUri {
    /// Parse what follows `tel:` (RFC 3966 §3).
    pub fn parse(rest: &str) -> Result<Self, MappingError> {
        let bad = |reason| MappingError::MalformedUri { reason };
        let mut parts = rest.split(';');
        let number = parts.next().unwrap_or_default();
        let params: Vec<(String, Option<String>)> = parts
            .map(|p| match p.split_once('=') {
                Some((n, v)) => (n.to_ascii_lowercase(), Some(v.to_owned())),
                None => (p.to_ascii_lowercase(), None),
            })
            .collect();
        if params
            .iter()
            .any(|(n, _)| n.is_empty() || !n.chars().all(is_pname_char))
        {
            return Err(bad("tel: parameter name is not a pname (RFC 3966 §3)"));
        }
        if let Some(digits) = number.strip_prefix('+') {
            // global-number-digits = "+" *phonedigit DIGIT *phonedigit
            if !digits
                .chars()
                .all(|c| c.is_ascii_digit() || is_visual_separator(c))
                || !digits.chars().any(|c| c.is_ascii_digit())
            {
                return Err(bad("tel: global number has characters other than digits"));
            }
        } else {
            // local-number-digits = *phonedigit-hex (HEXDIG / "*" / "#") *phonedigit-hex
            if !number
                .chars()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, '*' | '#') || is_visual_separator(c))
                || !number
                    .chars()
                    .any(|c| c.is_ascii_hexdigit() || matches!(c, '*' | '#'))
            {
                return Err(bad("tel: local number has characters other than digits"));
            }
            // RFC 3966 §5.1.5: "The 'phone-context' parameter MUST be present" for local numbers.
            if !params.iter().any(|(n, _)| n == "phone-context") {
                return Err(bad(
                    "tel: local number without phone-context (RFC 3966 §5.1.5)",
                ));
            }
        }
        Ok(Self {
            number: number.to_owned(),
            params,
        })
    }
}

impl MailboxUri {
    /// Parse what follows `im:` or `pres:` (RFC 3860 §3: `mailbox [headers]`).
    pub fn parse(rest: &str) -> Result<Self, MappingError> {
        let bad = |reason| MappingError::MalformedUri { reason };
        let mailbox = rest.split('?').next().unwrap_or_default();
        let (local, domain) = mailbox
            .split_once('@')
            .ok_or(bad("im:/pres: URI without '@'"))?;
        let local = percent_decode(local).ok_or(bad("bad percent-encoding in im:/pres: URI"))?;
        if local.is_empty() || domain.is_empty() || Host::from_str(domain).is_err() {
            return Err(bad("im:/pres: URI needs a local part and a domain"));
        }
        Ok(Self {
            local,
            domain: domain.to_owned(),
        })
    }
}

/// RFC 3966 §3: visual-separator = "-" / "." / "(" / ")".
fn is_visual_separator(c: char) -> bool {
    matches!(c, '-' | '.' | '(' | ')')
}

fn is_pname_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// `+` followed by digits only: a global E.164 number (RFC 3966 §5.1.4).
fn is_global_number(user: &str) -> bool {
    user.strip_prefix('+')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// RFC 3966 §5.1.1: visual separators carry no meaning, so the localpart is
/// the telephone-subscriber without them and without its parameters.
fn telephone_localpart(subscriber: &str) -> Result<String, MappingError> {
    let number = subscriber.split(';').next().unwrap_or_default();
    let digits: String = number
        .chars()
        .filter(|c| !is_visual_separator(*c))
        .collect();
    let body = digits.strip_prefix('+').unwrap_or(&digits);
    if body.is_empty()
        || !body
            .chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, '*' | '#'))
    {
        return Err(MappingError::MalformedUri {
            reason: "telephone number has characters other than digits",
        });
    }
    Ok(digits)
}

fn sip_user(uri: &SipUri) -> Option<String> {
    match &uri.user_part {
        SipUriUserPart::Empty => None,
        SipUriUserPart::User(u) => Some(u.to_string()),
        SipUriUserPart::UserPw(up) => Some(up.user.to_string()),
    }
}

/// RFC 3261 §19.1.1: `user=phone` marks the user part as a telephone-subscriber.
fn is_user_phone(uri: &SipUri) -> bool {
    uri.uri_params
        .get_val("user")
        .is_some_and(|v| v.eq_ignore_ascii_case("phone"))
}

/// RFC 7247 §6.3: the `gr` value; a `gr` without a value names no instance.
fn gruu(uri: &SipUri) -> Option<String> {
    uri.uri_params
        .get_val("gr")
        .map(|v| v.to_string())
        .filter(|v| !v.is_empty())
}

/// Compare two domain names caselessly, ignoring a final dot.
fn same_domain(a: &str, b: &str) -> bool {
    a.strip_suffix('.')
        .unwrap_or(a)
        .eq_ignore_ascii_case(b.strip_suffix('.').unwrap_or(b))
}

/// A `sip:user@host` URI; the host must be a hostname or IP literal.
fn sip_uri(user: &str, host: &str) -> Result<SipUri, MappingError> {
    if !host.is_ascii() {
        // RFC 7247 §6.1: IDN mapping is out of scope; SIP hosts are ASCII.
        return Err(MappingError::MalformedUri {
            reason: "internationalized domain cannot be a SIP host",
        });
    }
    let host = Host::from_str(host).map_err(|_| MappingError::MalformedUri {
        reason: "domain is not a SIP host",
    })?;
    let mut uri = SipUri::new(HostPort { host, port: None });
    uri.set_user(user.to_owned().into());
    Ok(uri)
}

/// RFC 3261 §25.1 `user` = unreserved / escaped / user-unreserved: everything
/// else is percent-encoded. That covers RFC 7247 §6.5 step 5 (`#%[\]^`{|}`
/// and non-ASCII) and the characters no SIP user may carry (space, `"<>@:`).
const SIP_USER_EXTRA: &str = "-_.!~*'()&=+$,;?/";
/// RFC 7247 §6.5 step 5 for `im:`/`pres:`: percent-encode `(),.;[\]`, non-ASCII,
/// and what RFC 5322 atext does not allow.
const IM_EXTRA: &str = "!#$&'*+-/=?^_`{|}~";

struct PercentEncoded<'a>(&'a str, &'static str);

impl fmt::Display for PercentEncoded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.bytes() {
            if b.is_ascii_alphanumeric() || (b.is_ascii() && self.1.contains(b as char)) {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "%{b:02X}")?;
            }
        }
        Ok(())
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn mapper(policy: ForeignDomainPolicy) -> AddressMapper {
        AddressMapper {
            component_domain: "sip.example.net".into(),
            sip_domain: "sip.example.net".into(),
            foreign_domains: policy,
        }
    }

    fn gw() -> AddressMapper {
        AddressMapper {
            component_domain: "gw.example.org".into(),
            sip_domain: "sip.example.net".into(),
            foreign_domains: ForeignDomainPolicy::Allow,
        }
    }

    fn sip(s: &str) -> SipAddress {
        SipAddress::parse(s).unwrap()
    }

    fn jid(s: &str) -> Jid {
        Jid::parse(s).unwrap()
    }

    /// Design §2: "A SIP user sip:bob@<sip.domain> is the JID bob@<component_domain>".
    #[test]
    fn same_domain_sip_user_is_jid_at_component_domain() {
        let m = gw();
        assert_eq!(
            m.sip_user_to_jid(&sip("sip:bob@sip.example.net")).unwrap(),
            jid("bob@gw.example.org")
        );
        assert_eq!(
            m.jid_to_sip_user(&jid("bob@gw.example.org"))
                .unwrap()
                .to_string(),
            "sip:bob@sip.example.net"
        );
        // Domain comparison is caseless (RFC 3261 §19.1.4).
        assert_eq!(
            m.sip_user_to_jid(&sip("sips:Bob@SIP.Example.NET;transport=tls"))
                .unwrap(),
            jid("bob@gw.example.org")
        );
    }

    /// Design §2: "sip:+15551234@domain;user=phone, tel:+15551234 map to +15551234@<component_domain>".
    #[test]
    fn telephone_numbers_map_to_their_global_number() {
        let m = gw();
        for uri in [
            "sip:+15551234@sip.example.net;user=phone",
            "sip:+1-555-1234;npdi@sip.example.net;user=phone",
            "tel:+15551234",
            "tel:+1-555-12.34;ext=7",
        ] {
            assert_eq!(
                m.sip_user_to_jid(&sip(uri)).unwrap(),
                jid("+15551234@gw.example.org"),
                "{uri}"
            );
        }
        assert_eq!(
            m.jid_to_sip_user(&jid("+15551234@gw.example.org"))
                .unwrap()
                .to_string(),
            "sip:+15551234@sip.example.net;user=phone"
        );
    }

    /// Design §2: "sip:alice@other.net is alice\40other.net@<component_domain> … where policy allows".
    #[test]
    fn foreign_sip_user_is_escaped_when_policy_allows() {
        let m = gw();
        let j = m.sip_user_to_jid(&sip("sip:alice@Other.net")).unwrap();
        assert_eq!(j.to_string(), "alice\\40other.net@gw.example.org");
        assert_eq!(
            m.jid_to_sip_user(&j).unwrap().to_string(),
            "sip:alice@other.net"
        );
    }

    #[test]
    fn foreign_sip_user_is_refused_by_policy() {
        let m = mapper(ForeignDomainPolicy::Refuse);
        assert_eq!(
            m.sip_user_to_jid(&sip("sip:alice@other.net")),
            Err(MappingError::ForeignDomainRefused)
        );
        assert_eq!(
            m.jid_to_sip_user(&jid("alice\\40other.net@sip.example.net")),
            Err(MappingError::ForeignDomainRefused)
        );
        assert_eq!(MappingError::ForeignDomainRefused.sip_status().code, 403);
    }

    /// RFC 7247 §6.4 examples: "sip:f%C3%BC@sip.example → f&#xFC;@sip.example",
    /// "sip:o'malley@sip.example → o\27malley@sip.example", "sip:foo@sip.example;gr=bar → foo@sip.example/bar".
    #[test]
    fn rfc7247_6_4_examples() {
        let m = gw();
        for (uri, expected) in [
            ("sip:f%C3%BC@sip.example", "fü@sip.example"),
            ("sip:o'malley@sip.example", "o\\27malley@sip.example"),
            ("sip:foo@sip.example;gr=bar", "foo@sip.example/bar"),
        ] {
            assert_eq!(
                m.sip_target_to_jid(&sip(uri)).unwrap().to_string(),
                expected,
                "{uri}"
            );
        }
    }

    /// RFC 7247 §6.5 examples: "m\26m@xmpp.example → sip:m&m@xmpp.example",
    /// "tsch&#xFC;ss@xmpp.example → sip:tsch%C3%BCss@xmpp.example",
    /// "baz@xmpp.example/qux → sip:baz@xmpp.example;gr=qux".
    #[test]
    fn rfc7247_6_5_examples() {
        let m = gw();
        for (j, expected) in [
            ("m\\26m@xmpp.example", "sip:m&m@xmpp.example"),
            ("tschüss@xmpp.example", "sip:tsch%C3%BCss@xmpp.example"),
            ("baz@xmpp.example/qux", "sip:baz@xmpp.example;gr=qux"),
        ] {
            assert_eq!(
                m.xmpp_user_to_sip(&jid(j)).unwrap().to_string(),
                expected,
                "{j}"
            );
        }
    }

    /// RFC 7572 §4 Example 2: "From: <sip:juliet@example.com;gr=yn0cl4bnw0yr3vym>".
    #[test]
    fn xmpp_full_jid_resource_becomes_gruu() {
        let uri = gw()
            .xmpp_user_to_sip(&jid("juliet@example.com/yn0cl4bnw0yr3vym"))
            .unwrap();
        assert_eq!(
            uri.to_string(),
            "sip:juliet@example.com;gr=yn0cl4bnw0yr3vym"
        );
        assert_eq!(
            gw().sip_target_to_jid(&uri).unwrap(),
            jid("juliet@example.com/yn0cl4bnw0yr3vym")
        );
    }

    /// RFC 7572 §5 note 1: a known GRUU of the SIP sender is the resourcepart.
    #[test]
    fn sip_gruu_becomes_resource_of_the_mapped_jid() {
        let m = gw();
        let j = m
            .sip_user_to_jid(&sip("sip:romeo@sip.example.net;gr=dr4hcr0st3lup4c"))
            .unwrap();
        assert_eq!(j.to_string(), "romeo@gw.example.org/dr4hcr0st3lup4c");
        assert_eq!(
            m.jid_to_sip_user(&j).unwrap().to_string(),
            "sip:romeo@sip.example.net;gr=dr4hcr0st3lup4c"
        );
    }

    /// Design §2: anything unmappable is refused, never passed through raw.
    #[test]
    fn unmappable_addresses_are_refused_with_typed_errors() {
        let m = gw();
        assert_eq!(
            m.sip_user_to_jid(&sip("sip:sip.example.net")),
            Err(MappingError::AddressIncomplete)
        );
        assert_eq!(
            m.jid_to_sip_user(&jid("bob@elsewhere.example")),
            Err(MappingError::NotOurDomain)
        );
        assert_eq!(
            m.jid_to_sip_user(&jid("gw.example.org")),
            Err(MappingError::AddressIncomplete)
        );
        assert!(matches!(
            m.sip_target_to_jid(&sip("tel:+15551234")),
            Err(MappingError::UnsupportedScheme { .. })
        ));
        assert_eq!(
            m.sip_target_to_jid(&sip("sip:bob@sip.example.net")),
            Err(MappingError::TargetNotXmpp),
            "a SIP user of our own domain is no XMPP user"
        );
        assert_eq!(
            m.sip_target_to_jid(&sip("sip:bob@GW.example.org")),
            Err(MappingError::TargetNotXmpp),
            "the component domain would loop back to the gateway"
        );
        assert!(SipAddress::parse("mailto:a@b").is_err());
        assert!(SipAddress::parse("sip:").is_err());
        assert!(
            SipAddress::parse("tel:555-1234").is_err(),
            "local number without phone-context"
        );
        assert!(m.xmpp_user_to_sip(&jid("a@bücher.example")).is_err());
    }

    #[test]
    fn user_with_at_sign_in_own_domain_round_trips() {
        let m = gw();
        let j = m
            .sip_user_to_jid(&sip("sip:a%40b@sip.example.net"))
            .unwrap();
        assert_eq!(j.to_string(), "a\\40b\\40sip.example.net@gw.example.org");
        assert_eq!(
            m.jid_to_sip_user(&j).unwrap().to_string(),
            "sip:a%40b@sip.example.net"
        );
    }

    #[test]
    fn percent_in_user_part_survives_printing() {
        let a = sip("sip:a%2541@x.example");
        assert_eq!(a.user().as_deref(), Some("a%41"));
        assert_eq!(a.to_string(), "sip:a%2541@x.example");
        assert_eq!(sip(&a.to_string()), a);
    }

    #[test]
    fn tel_im_and_pres_uris_parse_and_print() {
        let t = sip("tel:7042;phone-context=example.com");
        assert_eq!(t.to_string(), "tel:7042;phone-context=example.com");
        let im = sip("im:fred%20x@example.com");
        assert_eq!(im.user().as_deref(), Some("fred x"));
        assert_eq!(im.to_string(), "im:fred%20x@example.com");
        let pres = sip("pres:romeo@example.net");
        assert_eq!(
            gw().sip_target_to_jid(&pres).unwrap(),
            jid("romeo@example.net")
        );
    }
}

//! The SIP-side address types of RFC 7247 §6.1: `sip:`/`sips:` URIs (RFC 3261
//! §19, through ezk-sip-types), `tel:` (RFC 3966), `im:` (RFC 3860) and
//! `pres:` (RFC 3859), which ezk does not have.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use ezk_sip_types::host::Host;
use ezk_sip_types::uri::params::Param;
use ezk_sip_types::uri::{SipUri, SipUriUserPart};

use crate::failure::MappingError;

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

    /// The scheme name, lowercase (only the tests ask for it).
    #[cfg(test)]
    pub(crate) fn scheme(&self) -> &'static str {
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
            Self::Sip(u) | Self::Sips(u) => sip_user(u).map(Cow::into_owned),
            Self::Tel(t) => Some(t.number.clone()),
            Self::Im(m) | Self::Pres(m) => Some(m.local.clone()),
        }
    }

    /// The user part as a SIP URI writes it: percent-encoded where RFC
    /// 3261 §25.1 `user` asks (`None` for `tel:`, `im:`, `pres:` and a URI
    /// without user).
    pub fn user_as_written(&self) -> Option<String> {
        match self {
            Self::Sip(u) | Self::Sips(u) => {
                sip_user(u).map(|user| PercentEncoded(&user, SIP_USER_EXTRA).to_string())
            }
            _ => None,
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
    pub(crate) fn gruu(&self) -> Option<String> {
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

impl SipAddress {
    /// The same address without URI parameters and headers except a `gr`
    /// with a value (RFC 7247 §6.3): the AOR, or the GRUU when the address
    /// names one instance.
    pub fn aor_or_gruu(&self) -> SipAddress {
        match (self.without_params(), self.gruu()) {
            (Self::Sip(mut u), Some(gr)) | (Self::Sips(mut u), Some(gr)) => {
                u.uri_params.push(Param::value("gr", gr));
                Self::from(u)
            }
            (bare, _) => bare,
        }
    }
}

impl SipAddress {
    /// Whether `self` and `other` are written alike, when that can be told
    /// without writing them: both `sip:` or both `sips:` URIs with the same
    /// user and host and no parameters or headers. `false` means "maybe
    /// not" (issue 24: a MESSAGE's Request-URI is usually its To).
    pub fn plainly_same(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Sip(a) | Self::Sips(a), Self::Sip(b) | Self::Sips(b)) => {
                a.sips == b.sips
                    && a.user_part == b.user_part
                    && a.host_port == b.host_port
                    && a.uri_params.is_empty()
                    && b.uri_params.is_empty()
                    && a.header_params.is_empty()
                    && b.header_params.is_empty()
            }
            _ => false,
        }
    }

    /// The address of a URI the SIP layer has parsed already (the
    /// Request-URI, From or To of a validated request): a `sip:`/`sips:` URI
    /// is taken as ezk typed it, not parsed a second time; any other scheme
    /// is parsed from its text as [`SipAddress::parse`] parses it.
    pub fn from_uri(uri: &parley_sip::wire::uri::Uri) -> Result<Self, MappingError> {
        use parley_sip::wire::uri::Uri;
        match uri {
            Uri::Sip(uri) => Ok(Self::from(SipUri::clone(uri))),
            Uri::Tel(text) | Uri::Other { text, .. } => Self::parse(text),
        }
    }

    /// [`SipAddress::from_uri`] taking the URI: a `sip:`/`sips:` one is
    /// moved, not copied (issue 24: three copies of every SIP MESSAGE).
    pub fn from_uri_owned(uri: parley_sip::wire::uri::Uri) -> Result<Self, MappingError> {
        use parley_sip::wire::uri::Uri;
        match uri {
            Uri::Sip(uri) => Ok(Self::from(*uri)),
            Uri::Tel(text) | Uri::Other { text, .. } => Self::parse(&text),
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
        self.write_to(f)
    }
}

impl SipAddress {
    /// Writes the address as its `Display` does, into any writer: a
    /// `String` takes it with no `core::fmt` call for the usual `sip:` URI
    /// (issue 24: ~1 400 instructions an address through `write!`, two
    /// addresses in every XMPP → SIP MESSAGE).
    pub fn write_to<W: fmt::Write>(&self, f: &mut W) -> fmt::Result {
        match self {
            Self::Sip(u) | Self::Sips(u) => {
                // ezk prints '%' in the user part unescaped (0.6.5), so a user
                // "a%41" would come back as "aA"; the user part is written here.
                f.write_str(if u.sips { "sips:" } else { "sip:" })?;
                match &u.user_part {
                    SipUriUserPart::Empty => {}
                    SipUriUserPart::User(user) => {
                        // Straight to the writer, not through `write!`
                        // (issue 24: the From and To of every XMPP → SIP
                        // MESSAGE).
                        write_percent_encoded(f, user, SIP_USER_EXTRA)?;
                        f.write_char('@')?;
                    }
                    SipUriUserPart::UserPw(up) => write!(
                        f,
                        "{}:{}@",
                        PercentEncoded(&up.user, SIP_USER_EXTRA),
                        up.password
                    )?,
                }
                // The usual host, a name without parameters, written as is
                // rather than through ezk's printers (issue 24).
                match &u.host_port.host {
                    Host::Name(name) => f.write_str(name)?,
                    _ => write!(f, "{}", u.host_port.host)?,
                }
                if let Some(port) = u.host_port.port {
                    f.write_char(':')?;
                    write_port(f, port)?;
                }
                if !u.uri_params.is_empty() {
                    write!(f, "{}", u.uri_params)?;
                }
                if !u.header_params.is_empty() {
                    write!(f, "{}", u.header_params)?;
                }
                Ok(())
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
pub(crate) fn is_visual_separator(c: char) -> bool {
    matches!(c, '-' | '.' | '(' | ')')
}

fn is_pname_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

pub(crate) fn sip_user(uri: &SipUri) -> Option<Cow<'_, str>> {
    // Borrowed: the mapping reads it and builds the JID (issue 24).
    match &uri.user_part {
        SipUriUserPart::Empty => None,
        SipUriUserPart::User(u) => Some(Cow::Borrowed(u.as_str())),
        SipUriUserPart::UserPw(up) => Some(Cow::Borrowed(up.user.as_str())),
    }
}

/// RFC 7247 §6.3: the `gr` value; a `gr` without a value names no instance.
pub(crate) fn gruu(uri: &SipUri) -> Option<String> {
    uri.uri_params
        .get_val("gr")
        .map(|v| v.to_string())
        .filter(|v| !v.is_empty())
}

/// RFC 3261 §25.1 `user` = unreserved / escaped / user-unreserved: everything
/// else is percent-encoded. That covers RFC 7247 §6.5 step 5 (`#%[\]^`{|}`
/// and non-ASCII) and the characters no SIP user may carry (space, `"<>@:`).
const SIP_USER_EXTRA: &str = "-_.!~*'()&=+$,;?/";
/// RFC 7247 §6.5 step 5 for `im:`/`pres:`: percent-encode `(),.;[\]`, non-ASCII,
/// and what RFC 5322 atext does not allow.
const IM_EXTRA: &str = "!#$&'*+-/=?^_`{|}~";

/// RFC 3261 §25.1 `paramchar` = param-unreserved / unreserved / escaped.
const SIP_PARAM_EXTRA: &str = "[]/:&+$-_.!~*'()";

/// A resourcepart as the value of a `gr` URI parameter (RFC 7247 §6.3: a
/// resourcepart and a `gr` map to each other, what a `pvalue` cannot carry
/// "percent-encoded in accordance with [RFC3986]").
pub fn gr_value(resource: &str) -> String {
    PercentEncoded(resource, SIP_PARAM_EXTRA).to_string()
}

/// `port` in decimal, as `{port}` writes it, without `fmt`'s integer path.
fn write_port<W: fmt::Write>(f: &mut W, port: u16) -> fmt::Result {
    f.write_str(parley_sip::wire::write::Decimal::of(usize::from(port)).as_str())
}

struct PercentEncoded<'a>(&'a str, &'static str);

impl fmt::Display for PercentEncoded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_percent_encoded(f, self.0, self.1)
    }
}

/// `text` with every byte but ASCII letters, digits and `extra`'s
/// characters written as `%XX`.
fn write_percent_encoded<W: fmt::Write>(f: &mut W, text: &str, extra: &str) -> fmt::Result {
    // Runs of kept bytes are written whole, not a formatting call per
    // byte (issue 24: the mapped user of every XMPP → SIP MESSAGE).
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let keeps = |b: u8| b.is_ascii_alphanumeric() || (b.is_ascii() && extra.contains(b as char));
    let mut run = 0;
    for (i, b) in text.bytes().enumerate() {
        if keeps(b) {
            continue;
        }
        // A run of kept bytes is ASCII, so both its ends are char boundaries.
        if run < i {
            f.write_str(text.get(run..i).unwrap_or_default())?;
        }
        f.write_char('%')?;
        f.write_char(char::from(HEX[usize::from(b >> 4)]))?;
        f.write_char(char::from(HEX[usize::from(b & 0xF)]))?;
        run = i + 1;
    }
    if run < text.len() {
        f.write_str(text.get(run..).unwrap_or_default())?;
    }
    Ok(())
}

pub(crate) fn percent_decode(s: &str) -> Option<String> {
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

    /// Ports and users written without `write!` read as they did: the
    /// port as `{port}` writes it, the user percent-encoded, then `@`.
    #[test]
    fn a_sip_address_is_written_with_its_port_and_user_as_before() {
        for port in [0u16, 1, 9, 10, 99, 100, 5060, 9999, 10000, 65535] {
            for user in ["alice", "a%20b", "r%C3%B6meo"] {
                let text = format!("sip:{user}@example.com:{port};transport=udp");
                let address = SipAddress::parse(&text).unwrap();
                assert_eq!(address.to_string(), text);
            }
        }
    }

    #[test]
    fn rfc7247_6_3_resourcepart_is_the_gr_parameter_percent_encoded() {
        assert_eq!(gr_value("balcony"), "balcony");
        assert_eq!(gr_value("a b;c=d"), "a%20b%3Bc%3Dd");
        assert_eq!(gr_value("chambre-à-coucher"), "chambre-%C3%A0-coucher");
        assert_eq!(gr_value("x/y:z"), "x/y:z");
    }

    #[test]
    fn the_user_part_as_written_keeps_its_escapes() {
        let uri: SipAddress = "sip:o%27malley@example.com".parse().unwrap();
        assert_eq!(uri.user_as_written().as_deref(), Some("o'malley"));
        let uri: SipAddress = "sip:juliet%20capulet@example.com".parse().unwrap();
        assert_eq!(uri.user_as_written().as_deref(), Some("juliet%20capulet"));
        let uri: SipAddress = "sip:example.com".parse().unwrap();
        assert_eq!(uri.user_as_written(), None);
    }

    /// Two addresses found plainly the same are written alike, and the
    /// pairs it cannot tell are left to writing them.
    #[test]
    fn plainly_same_addresses_are_written_alike() {
        let texts = [
            "sip:romeo@example.net",
            "sip:Romeo@example.net",
            "sip:romeo@Example.net",
            "sips:romeo@example.net",
            "sip:romeo@example.net:5060",
            "sip:romeo@example.net;gr=x",
            "sip:romeo@example.net?subject=x",
            "sip:example.net",
            "sip:romeo:pw@example.net",
            "sip:romeo@[::1]",
            "sip:romeo@192.0.2.1",
            "tel:+15551234",
            "im:romeo@example.net",
        ];
        let mut same = 0;
        for a in texts {
            for b in texts {
                let (a, b): (SipAddress, SipAddress) = (a.parse().unwrap(), b.parse().unwrap());
                if a.plainly_same(&b) {
                    assert_eq!(a.to_string(), b.to_string());
                    same += 1;
                }
            }
        }
        assert!(
            same >= 9,
            "each plain sip:/sips: address with itself: {same}"
        );
    }

    /// A URI the SIP layer typed maps to the address its text parses to,
    /// whatever the scheme.
    #[test]
    fn a_typed_uri_is_the_address_its_text_parses_to() {
        for text in [
            "sip:romeo@sip.example.net;gr=dr4hcr0st3lup4c",
            "SIPS:%72omeo@Sip.Example.NET:5061;transport=tcp?subject=x",
            "sip:+15551234@sip.example.net;user=phone",
            "tel:+1-555-1234;phone-context=example.net",
            "im:juliet@xmpp.example",
            "pres:juliet@xmpp.example",
        ] {
            let typed = parley_sip::wire::uri::Uri::parse(text).unwrap();
            let from_uri = SipAddress::from_uri(&typed).unwrap();
            let owned = SipAddress::from_uri_owned(typed).unwrap();
            let parsed = SipAddress::parse(text).unwrap();
            for address in [&from_uri, &owned] {
                assert_eq!(address.to_string(), parsed.to_string(), "{text}");
                assert_eq!(address.user(), parsed.user(), "{text}");
                assert_eq!(address.host(), parsed.host(), "{text}");
            }
        }
        let other = parley_sip::wire::uri::Uri::parse("urn:x:y").unwrap();
        assert!(SipAddress::from_uri(&other).is_err());
        assert!(SipAddress::from_uri_owned(other).is_err());
    }

    fn sip(s: &str) -> SipAddress {
        SipAddress::parse(s).unwrap()
    }

    /// `write_to` into a `String` writes what `Display` writes, for every
    /// scheme and the parts each writes its own way.
    #[test]
    fn written_to_a_string_as_displayed() {
        for text in [
            "sip:romeo@sip.example.net;gr=dr4hcr0st3lup4c",
            "SIPS:%72omeo@Sip.Example.NET:5061;transport=tcp?subject=x",
            "sip:a%2541@x.example",
            "sip:user:pw@[2001:db8::1]:5060",
            "sip:192.0.2.1",
            "sip:+15551234@sip.example.net;user=phone",
            "tel:+1-555-1234;phone-context=example.net;ext",
            "im:ju%20liet@xmpp.example",
            "pres:juliet@xmpp.example",
        ] {
            let address = sip(text);
            let mut written = String::new();
            address.write_to(&mut written).unwrap();
            assert_eq!(written, address.to_string(), "{text}");
        }
    }

    #[test]
    fn percent_in_user_part_survives_printing() {
        let a = sip("sip:a%2541@x.example");
        assert_eq!(a.user().as_deref(), Some("a%41"));
        assert_eq!(a.to_string(), "sip:a%2541@x.example");
        assert_eq!(sip(&a.to_string()), a);
    }

    #[test]
    fn aor_or_gruu_keeps_only_a_valued_gr() {
        for (uri, expected) in [
            (
                "sip:juliet@xmpp.example;transport=udp;gr=res1?subject=x",
                "sip:juliet@xmpp.example;gr=res1",
            ),
            (
                "sips:juliet@xmpp.example;gr=r",
                "sips:juliet@xmpp.example;gr=r",
            ),
            (
                "sip:juliet@xmpp.example;user=phone",
                "sip:juliet@xmpp.example",
            ),
            // RFC 7247 §6.3: a gr without a value names no instance.
            ("sip:juliet@xmpp.example;gr", "sip:juliet@xmpp.example"),
            ("tel:+1-201-555-0123;ext=1", "tel:+1-201-555-0123"),
        ] {
            assert_eq!(sip(uri).aor_or_gruu().to_string(), expected, "{uri}");
        }
    }

    #[test]
    fn tel_im_and_pres_uris_parse_and_print() {
        let t = sip("tel:7042;phone-context=example.com");
        assert_eq!(t.to_string(), "tel:7042;phone-context=example.com");
        let im = sip("im:fred%20x@example.com");
        assert_eq!(im.user().as_deref(), Some("fred x"));
        assert_eq!(im.to_string(), "im:fred%20x@example.com");
        let pres = sip("pres:romeo@example.net");
        assert_eq!(pres.scheme(), "pres");
        assert_eq!(pres.host().as_deref(), Some("example.net"));
        assert_eq!(pres.to_string(), "pres:romeo@example.net");
    }
}

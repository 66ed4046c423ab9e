//! RFC 4975 §6, §9: MSRP and MSRPS URIs.
//!
//! `MSRP-URI = msrp-scheme "://" authority ["/" session-id] ";" transport
//! *( ";" URI-parameter)`. A URI names one session at one device; the
//! To-Path and From-Path header fields and the SDP `a=path` attribute are
//! lists of them. [`Uri::parse`](crate::uri::Uri::parse) reads one, [`Uri::write_to`](crate::uri::Uri::write_to) writes it back
//! byte for byte (an IPv6 literal is written in its canonical form), and
//! [`Uri::equivalent`](crate::uri::Uri::equivalent) applies the comparison rules of §6.1, which is what a
//! receiver uses to decide whether a request is for its session.
//!
//! What it does not do: resolve the authority (§6.2) or look at relays'
//! URIs beyond carrying them (RFC 4976).

use std::fmt;
use std::net::IpAddr;

use crate::error::ParseError;

/// RFC 4975 §6: `msrp` (plain TCP) or `msrps` (TLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `msrp`: the connection is plain TCP.
    Msrp,
    /// `msrps`: "the underlying connection MUST be protected with TLS" (§6).
    Msrps,
}

impl Scheme {
    /// The scheme as written in a URI.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Msrp => "msrp",
            Scheme::Msrps => "msrps",
        }
    }
}

/// The host of an authority: a name or a numeric address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A registered name, as written (compared case-insensitively, §6.1).
    Name(String),
    /// An IPv4 address or an IPv6 literal (written in brackets).
    Ip(IpAddr),
}

/// One MSRP or MSRPS URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Uri {
    /// `msrp` or `msrps`.
    pub scheme: Scheme,
    /// The userinfo before `@`, if any (§6: a user account, never a password).
    pub userinfo: Option<String>,
    /// The host.
    pub host: Host,
    /// The port; §6: an authority with a numeric IP address MUST have one.
    pub port: Option<u16>,
    /// The session-id; absent when the URI names a device, not a session.
    pub session_id: Option<String>,
    /// The transport parameter as written (`tcp` for RFC 4975).
    pub transport: String,
    /// Further `;name[=value]` parameters, in order.
    pub params: Vec<(String, Option<String>)>,
}

impl Uri {
    /// Parses one URI (no surrounding whitespace).
    pub fn parse(text: &str) -> Result<Uri, ParseError> {
        let bad = || ParseError::BadUri;
        let (scheme_text, rest) = text.split_once("://").ok_or_else(bad)?;
        // §6.1 rule 1: scheme comparison is case insensitive, so is parsing.
        let scheme = if scheme_text.eq_ignore_ascii_case("msrp") {
            Scheme::Msrp
        } else if scheme_text.eq_ignore_ascii_case("msrps") {
            Scheme::Msrps
        } else {
            return Err(bad());
        };
        // §9: the transport parameter is mandatory, so a ';' always follows
        // the authority and optional session-id. Neither contains ';'.
        let (before, params_text) = rest.split_once(';').ok_or_else(bad)?;
        let (authority, session_id) = match before.split_once('/') {
            Some((authority, session)) => (authority, Some(session)),
            None => (before, None),
        };
        let session_id = match session_id {
            Some(s) if !s.is_empty() && s.bytes().all(is_session_char) => Some(s.to_owned()),
            Some(_) => return Err(bad()),
            None => None,
        };
        let (userinfo, host, port) = parse_authority(authority).ok_or_else(bad)?;
        // §6: "If the authority field contains a numeric IP address, it MUST
        // also contain a port."
        if matches!(host, Host::Ip(_)) && port.is_none() {
            return Err(bad());
        }
        let mut parts = params_text.split(';');
        let transport = parts.next().unwrap_or_default();
        // §9: transport = "tcp" / 1*ALPHANUM
        if transport.is_empty() || !transport.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad());
        }
        let mut params = Vec::new();
        for param in parts {
            // §9: URI-parameter = token ["=" token]
            let (name, value) = match param.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (param, None),
            };
            if !is_token(name) || value.is_some_and(|v| !is_token(v)) {
                return Err(bad());
            }
            params.push((name.to_owned(), value.map(str::to_owned)));
        }
        Ok(Uri {
            scheme,
            userinfo: userinfo.map(str::to_owned),
            host,
            port,
            session_id,
            transport: transport.to_owned(),
            params,
        })
    }

    /// Appends the URI's bytes to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.to_string().as_bytes());
    }

    /// RFC 4975 §6.1: whether two URIs name the same session.
    ///
    /// - rule 1: the scheme matches, case insensitively;
    /// - rule 2: an IP address is compared as an address, a name
    ///   case-insensitively after decoding percent-encoded unreserved
    ///   characters; userinfo is ignored;
    /// - rule 3: a port present in either must match exactly;
    /// - rule 4: the session-id is case sensitive and present in both or neither;
    /// - rule 5: the transport parameter matches, case insensitively.
    ///
    /// Other parameters do not count.
    pub fn equivalent(&self, other: &Uri) -> bool {
        let hosts = match (&self.host, &other.host) {
            (Host::Ip(a), Host::Ip(b)) => a == b,
            (Host::Name(a), Host::Name(b)) => {
                decode_unreserved(a).eq_ignore_ascii_case(&decode_unreserved(b))
            }
            _ => false,
        };
        self.scheme == other.scheme
            && hosts
            && self.port == other.port
            && self.session_id == other.session_id
            && self.transport.eq_ignore_ascii_case(&other.transport)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        if let Some(userinfo) = &self.userinfo {
            write!(f, "{userinfo}@")?;
        }
        match &self.host {
            Host::Name(name) => f.write_str(name)?,
            Host::Ip(IpAddr::V4(v4)) => write!(f, "{v4}")?,
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]")?,
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if let Some(session) = &self.session_id {
            write!(f, "/{session}")?;
        }
        write!(f, ";{}", self.transport)?;
        for (name, value) in &self.params {
            match value {
                Some(value) => write!(f, ";{name}={value}")?,
                None => write!(f, ";{name}")?,
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Uri {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Uri, ParseError> {
        Uri::parse(s)
    }
}

/// `[userinfo "@"] host [":" port]` (RFC 3986's authority, as §6 uses it).
fn parse_authority(authority: &str) -> Option<(Option<&str>, Host, Option<u16>)> {
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if userinfo.is_some_and(|u| !u.bytes().all(is_userinfo_char)) {
        return None;
    }
    let (host, port_text) = if let Some(rest) = hostport.strip_prefix('[') {
        let (literal, after) = rest.split_once(']')?;
        let ip: std::net::Ipv6Addr = literal.parse().ok()?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let (name, port) = match hostport.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (hostport, None),
        };
        if name.is_empty() || !name.bytes().all(is_reg_name_char) {
            return None;
        }
        let host = match name.parse::<std::net::Ipv4Addr>() {
            Ok(v4) if v4.to_string() == name => Host::Ip(IpAddr::V4(v4)),
            _ => Host::Name(name.to_owned()),
        };
        (host, port)
    };
    let port = match port_text {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse().ok()?)
        }
        Some(_) => return None,
    };
    Some((userinfo, host, port))
}

/// RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~".
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// §9: session-id = 1*( unreserved / "+" / "=" / "/" )
fn is_session_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'+' | b'=' | b'/')
}

/// RFC 3986 reg-name: unreserved / pct-encoded / sub-delims.
fn is_reg_name_char(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'%' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'='
        )
}

/// RFC 3986 userinfo: reg-name characters and ":". `;` is left out: it
/// would be read as the start of the transport parameter.
fn is_userinfo_char(b: u8) -> bool {
    is_reg_name_char(b) || b == b':'
}

/// §9: token = 1*(%x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E)
pub(crate) fn is_token_char(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x27 | 0x2A..=0x2B | 0x2D..=0x2E | 0x30..=0x39 | 0x41..=0x5A | 0x5E..=0x7E)
}

/// A non-empty run of token characters.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// §6.1 rule 2: "if any percent-encoded nonreserved characters exist in the
/// authority component, they must be decoded prior to comparison".
fn decode_unreserved(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(value) = u8::from_str_radix(hex, 16)
            && is_unreserved(value)
        {
            out.push(char::from(value));
            i += 3;
            continue;
        }
        out.push(char::from(bytes[i]));
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> Uri {
        Uri::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn section_6_example_parses_and_writes_back() {
        let text = "msrp://host.example.com:8493/asfd34;tcp";
        let u = uri(text);
        assert_eq!(u.scheme, Scheme::Msrp);
        assert_eq!(u.host, Host::Name("host.example.com".into()));
        assert_eq!(u.port, Some(8493));
        assert_eq!(u.session_id.as_deref(), Some("asfd34"));
        assert_eq!(u.transport, "tcp");
        assert_eq!(u.to_string(), text);
    }

    #[test]
    fn ipv6_literal_and_params_round_trip() {
        let text = "msrps://alice@[2001:db8::7]:2855/s+3=x/y;tcp;foo=bar;baz";
        let u = uri(text);
        assert_eq!(u.scheme, Scheme::Msrps);
        assert_eq!(u.userinfo.as_deref(), Some("alice"));
        assert!(matches!(u.host, Host::Ip(IpAddr::V6(_))));
        assert_eq!(u.params.len(), 2);
        assert_eq!(u.to_string(), text);
    }

    #[test]
    fn device_uri_without_session_id_parses() {
        let u = uri("msrps://relay.example.net:2855;tcp");
        assert_eq!(u.session_id, None);
    }

    #[test]
    fn uri_without_transport_is_refused() {
        assert!(Uri::parse("msrp://h.example.com:1/abc").is_err());
    }

    #[test]
    fn numeric_address_without_port_is_refused() {
        assert!(Uri::parse("msrp://192.0.2.1/abc;tcp").is_err());
        assert!(Uri::parse("msrp://[::1]/abc;tcp").is_err());
        assert!(Uri::parse("msrp://192.0.2.1:7777/abc;tcp").is_ok());
    }

    #[test]
    fn other_schemes_and_bad_characters_are_refused() {
        for text in [
            "sip://h:1/a;tcp",
            "msrp://h:1/a b;tcp",
            "msrp://h:99999/a;tcp",
            "msrp://h:1/;tcp",
            "msrp://h:1/a;",
            "msrp://:1/a;tcp",
            "msrp://h:1/a;tcp;=x",
        ] {
            assert!(Uri::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn scheme_host_and_transport_compare_case_insensitively() {
        // §6.1 rules 1, 2 and 5.
        let a = uri("msrp://Bob.Example.com:8888/9di4eae923wzd;tcp");
        let b = uri("MSRP://bob.example.COM:8888/9di4eae923wzd;TCP");
        assert!(a.equivalent(&b));
    }

    #[test]
    fn session_id_compares_case_sensitively() {
        // §6.1 rule 4.
        let a = uri("msrp://bob.example.com:8888/9di4eae923wzd;tcp");
        let b = uri("msrp://bob.example.com:8888/9DI4EAE923WZD;tcp");
        assert!(!a.equivalent(&b));
        let device = uri("msrp://bob.example.com:8888;tcp");
        assert!(!a.equivalent(&device));
    }

    #[test]
    fn explicit_port_never_equals_absent_port() {
        // §6.1 rule 3.
        let a = uri("msrp://bob.example.com:8888/s1;tcp");
        let b = uri("msrp://bob.example.com/s1;tcp");
        let c = uri("msrp://bob.example.com:8889/s1;tcp");
        assert!(!a.equivalent(&b));
        assert!(!a.equivalent(&c));
    }

    #[test]
    fn userinfo_and_extra_params_are_ignored_in_comparison() {
        // §6.1 rule 2: "Userinfo parts are not considered".
        let a = uri("msrp://alice@h.example.com:1/s1;tcp;x=1");
        let b = uri("msrp://h.example.com:1/s1;tcp");
        assert!(a.equivalent(&b));
    }

    #[test]
    fn different_transports_never_match() {
        // §6.1 rule 5.
        let a = uri("msrp://h.example.com:1/s1;tcp");
        let b = uri("msrp://h.example.com:1/s1;sctp");
        assert!(!a.equivalent(&b));
    }

    #[test]
    fn ip_addresses_compare_as_addresses() {
        let a = uri("msrp://[2001:db8:0:0::1]:1/s1;tcp");
        let b = uri("msrp://[2001:DB8::1]:1/s1;tcp");
        assert!(a.equivalent(&b));
    }

    #[test]
    fn percent_encoded_unreserved_characters_are_decoded_before_comparison() {
        let a = uri("msrp://h%61st.example.com:1/s1;tcp");
        let b = uri("msrp://hast.example.com:1/s1;tcp");
        assert!(a.equivalent(&b));
    }

    #[test]
    fn scheme_must_match() {
        let a = uri("msrp://h.example.com:1/s1;tcp");
        let b = uri("msrps://h.example.com:1/s1;tcp");
        assert!(!a.equivalent(&b));
    }
}

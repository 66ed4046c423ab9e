//! RFC 4975 §8.2, §8.3: the `a=path` attribute, a list of MSRP URIs.
//!
//! The URIs are kept as validated strings: the `msrp::uri` module owns the
//! full typed URI (comparison rules of RFC 4975 §6.1); here we only check the
//! RFC 4975 §9 shape, that the port is explicit (§8.2: "MSRP URIs included
//! in an SDP offer or answer MUST include explicit port numbers") and read
//! scheme, host and port for connecting.

use crate::sdp::error::MediaError;

/// One MSRP URI from an `a=path` attribute, validated against RFC 4975 §9:
/// `MSRP-URI = msrp-scheme "://" authority ["/" session-id] ";" transport
/// *( ";" URI-parameter)`, with an explicit port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsrpUri {
    text: String,
    secure: bool,
    host: String,
    port: u16,
}

impl MsrpUri {
    /// Validates `text` as an MSRP URI with an explicit port.
    pub fn parse(text: &str) -> Result<Self, MediaError> {
        let (secure, rest) = split_scheme(text).ok_or(MediaError::InvalidPath)?;
        let authority_end = rest.find(['/', ';']).ok_or(MediaError::InvalidPath)?;
        let (authority, tail) = rest.split_at(authority_end);
        let (host, port) = split_authority(authority).ok_or(MediaError::InvalidPath)?;
        let params = match tail.strip_prefix('/') {
            Some(after) => {
                let end = after.find(';').ok_or(MediaError::InvalidPath)?;
                let (session_id, params) = after.split_at(end);
                // session-id = 1*( unreserved / "+" / "=" / "/" )
                if session_id.is_empty() || !session_id.bytes().all(is_session_id_char) {
                    return Err(MediaError::InvalidPath);
                }
                params
            }
            None => tail,
        };
        // ";" transport *( ";" URI-parameter ); transport = "tcp" / 1*ALPHANUM
        let mut params = params.split(';').skip(1);
        let transport = params.next().ok_or(MediaError::InvalidPath)?;
        if transport.is_empty() || !transport.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(MediaError::InvalidPath);
        }
        // URI-parameter = token ["=" token]
        for param in params {
            let (name, value) = param.split_once('=').unwrap_or((param, "t"));
            if !is_token(name) || !is_token(value) {
                return Err(MediaError::InvalidPath);
            }
        }
        Ok(Self {
            text: text.to_owned(),
            secure,
            host: host.to_owned(),
            port,
        })
    }

    /// The URI as received.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `msrps`: the connection MUST use TLS (RFC 4975 §5.4).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The host, IPv6 literals without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The explicit port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl std::fmt::Display for MsrpUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The value of `a=path`: `path-list = MSRP-URI *(SP MSRP-URI)` (RFC 4975 §8.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    uris: Vec<MsrpUri>,
}

impl Path {
    /// A path of one URI: the endpoint itself, no relay (RFC 4975 §8.3).
    pub fn single(uri: MsrpUri) -> Self {
        Self { uris: vec![uri] }
    }

    /// Parses an `a=path` value, at most `max_uris` entries.
    pub fn parse(value: &str, max_uris: usize) -> Result<Self, MediaError> {
        let mut uris = Vec::new();
        // Lenient on whitespace: RFC 4976 §11 folds its path over two lines.
        for part in value.split_ascii_whitespace() {
            if uris.len() == max_uris {
                return Err(MediaError::InvalidPath);
            }
            uris.push(MsrpUri::parse(part)?);
        }
        if uris.is_empty() {
            return Err(MediaError::InvalidPath);
        }
        Ok(Self { uris })
    }

    /// All URIs, leftmost first.
    pub fn uris(&self) -> &[MsrpUri] {
        &self.uris
    }

    /// RFC 4975 §8.2: "the leftmost entry represents the adjacent hop": the
    /// one to connect to.
    pub fn adjacent_hop(&self) -> &MsrpUri {
        // A Path is never empty: `parse` and `single` guarantee one URI.
        &self.uris[0]
    }

    /// RFC 4975 §8.2: "the target URI is the rightmost": the peer's session URI.
    pub fn target(&self) -> &MsrpUri {
        &self.uris[self.uris.len() - 1]
    }

    /// Whether every URI uses `msrps`.
    pub(crate) fn all_secure(&self) -> bool {
        self.uris.iter().all(MsrpUri::is_secure)
    }

    /// Whether no URI uses `msrps`.
    pub(crate) fn none_secure(&self) -> bool {
        !self.uris.iter().any(MsrpUri::is_secure)
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, uri) in self.uris.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(uri.as_str())?;
        }
        Ok(())
    }
}

fn split_scheme(text: &str) -> Option<(bool, &str)> {
    let (scheme, rest) = text.split_once("://")?;
    // RFC 3986 §3.1: schemes are case-insensitive.
    if scheme.eq_ignore_ascii_case("msrp") {
        Some((false, rest))
    } else if scheme.eq_ignore_ascii_case("msrps") {
        Some((true, rest))
    } else {
        None
    }
}

/// RFC 3986 authority `[userinfo "@"] host ":" port`, the port required.
fn split_authority(authority: &str) -> Option<(&str, u16)> {
    let host_port = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => {
            if !userinfo.bytes().all(is_userinfo_char) {
                return None;
            }
            host_port
        }
        None => authority,
    };
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        (host, after.strip_prefix(':')?)
    } else {
        let (host, port) = host_port.rsplit_once(':')?;
        if host.is_empty() || !host.bytes().all(is_reg_name_char) {
            return None;
        }
        (host, port)
    };
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = port.parse().ok()?;
    Some((host, port))
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_session_id_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'+' | b'=' | b'/')
}

fn is_reg_name_char(b: u8) -> bool {
    // RFC 3986 reg-name: unreserved / pct-encoded / sub-delims (no ';' here:
    // it starts the transport).
    is_unreserved(b)
        || matches!(
            b,
            b'%' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'='
        )
}

fn is_userinfo_char(b: u8) -> bool {
    is_reg_name_char(b) || b == b':'
}

/// RFC 4975 §9 refers to RFC 3261's `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
                )
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn rfc4975_uri_with_session_and_transport_parses() {
        let uri = MsrpUri::parse("msrp://alice.example.com:7394/2s93i9ek2a;tcp").unwrap();
        assert!(!uri.is_secure());
        assert_eq!(uri.host(), "alice.example.com");
        assert_eq!(uri.port(), 7394);
    }

    #[test]
    fn ipv6_literal_loses_its_brackets_in_host() {
        let uri = MsrpUri::parse("msrps://[2001:db8::7]:7394/v6;tcp").unwrap();
        assert!(uri.is_secure());
        assert_eq!(uri.host(), "2001:db8::7");
    }

    #[test]
    fn uri_without_port_is_refused() {
        // RFC 4975 §8.2: explicit port numbers in SDP.
        assert_eq!(
            MsrpUri::parse("msrp://alice.example.com/abc;tcp"),
            Err(MediaError::InvalidPath)
        );
    }

    #[test]
    fn uri_without_transport_or_with_bad_scheme_is_refused() {
        for bad in [
            "msrp://a.example.com:7394/abc",
            "sip://a.example.com:7394/abc;tcp",
            "msrp://a.example.com:7394/a b;tcp",
            "msrp://a.example.com:99999/abc;tcp",
            "msrp://:7394/abc;tcp",
            "msrp://a.example.com:7394/;tcp",
        ] {
            assert!(MsrpUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn relay_path_has_adjacent_hop_left_and_target_right() {
        let path = Path::parse(
            "msrps://relay.example.com:9000/hjdhfha;tcp  msrps://bob.example.com:1234/fuige;tcp",
            8,
        )
        .unwrap();
        assert_eq!(path.adjacent_hop().host(), "relay.example.com");
        assert_eq!(path.target().host(), "bob.example.com");
        assert_eq!(
            path.to_string(),
            "msrps://relay.example.com:9000/hjdhfha;tcp msrps://bob.example.com:1234/fuige;tcp"
        );
    }

    #[test]
    fn path_longer_than_the_limit_is_refused() {
        let one = "msrp://r.example.com:9000/x;tcp ";
        assert_eq!(Path::parse(&one.repeat(3), 2), Err(MediaError::InvalidPath));
        assert!(Path::parse(&one.repeat(2), 2).is_ok());
        assert_eq!(Path::parse("  ", 2), Err(MediaError::InvalidPath));
    }
}

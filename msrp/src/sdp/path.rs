//! RFC 4975 §8.2, §8.3: the `a=path` attribute, a list of MSRP URIs.
//!
//! Each URI is read once, by the crate's one MSRP URI parser
//! ([`crate::uri::Uri::parse`], RFC 4975 §9, with §6.1's comparison rules),
//! and kept with the text it was read from, so an SDP is echoed as
//! received. What `a=path` adds: the port is explicit (§8.2: "MSRP URIs
//! included in an SDP offer or answer MUST include explicit port numbers").

use crate::sdp::error::MediaError;
use crate::uri::{Host, Scheme, Uri};

/// One MSRP URI from an `a=path` attribute: RFC 4975 §9's
/// `MSRP-URI = msrp-scheme "://" authority ["/" session-id] ";" transport
/// *( ";" URI-parameter)`, with an explicit port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsrpUri {
    text: String,
    uri: Uri,
    host: String,
    port: u16,
}

impl MsrpUri {
    /// Validates `text` as an MSRP URI with an explicit port.
    pub fn parse(text: &str) -> Result<Self, MediaError> {
        let uri = Uri::parse(text).map_err(|_| MediaError::InvalidPath)?;
        let port = uri.port.ok_or(MediaError::InvalidPath)?;
        let host = match &uri.host {
            Host::Name(name) => name.clone(),
            Host::Ip(ip) => ip.to_string(),
        };
        Ok(Self {
            text: text.to_owned(),
            uri,
            host,
            port,
        })
    }

    /// The URI as received.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The typed URI: what To-Path and From-Path carry, compared by §6.1.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// `msrps`: the connection MUST use TLS (RFC 4975 §5.4).
    pub fn is_secure(&self) -> bool {
        self.uri.scheme == Scheme::Msrps
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

/// The typed URI of an `a=path` entry, without re-parsing its text.
impl From<MsrpUri> for Uri {
    fn from(uri: MsrpUri) -> Uri {
        uri.uri
    }
}

/// The typed URI of an `a=path` entry, without re-parsing its text.
impl From<&MsrpUri> for Uri {
    fn from(uri: &MsrpUri) -> Uri {
        uri.uri.clone()
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
    fn typed_uri_is_the_wire_uri_and_the_text_is_kept_as_received() {
        let text = "MSRP://Alice.Example.com:7394/2s93i9ek2a;TCP";
        let uri = MsrpUri::parse(text).unwrap();
        assert_eq!(uri.as_str(), text);
        assert_eq!(uri.uri(), &Uri::parse(text).unwrap());
        assert_eq!(Uri::from(&uri), Uri::parse(text).unwrap());
        // §6.1: what To-Path carries later matches it.
        let on_the_wire = Uri::parse("msrp://alice.example.com:7394/2s93i9ek2a;tcp").unwrap();
        assert!(Uri::from(uri).equivalent(&on_the_wire));
    }

    #[test]
    fn ip_literal_that_is_no_address_is_refused() {
        assert_eq!(
            MsrpUri::parse("msrp://[2001:db8::zz]:7394/v6;tcp"),
            Err(MediaError::InvalidPath)
        );
        let v4 = MsrpUri::parse("msrp://192.0.2.1:7394/v4;tcp").unwrap();
        assert_eq!(v4.host(), "192.0.2.1");
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

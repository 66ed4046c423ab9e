//! Trusted peers: the SIP hosts allowed to originate requests in the name of
//! users of our own domain (`sip.trusted_peers`).
//!
//! RFC 3261 §26.1.1 lists impersonation of a user as a threat, and §22.1
//! notes that "the identity of the sender" of a request is only as good as
//! its authentication. A gateway that has no digest database of its own
//! instead trusts the network path: a request whose From claims one of our
//! users is accepted only from an address range or a TLS peer (RFC 3261
//! §26.3.2.2: the certificate's subject names the host) the operator listed.
//!
//! Entries read as `10.0.0.0/8`, `2001:db8::/32`, `127.0.0.1`, `::1`, or
//! `tls:proxy.example.net` (a TLS peer whose verified certificate is valid for
//! that DNS name). Sans-IO: the caller supplies the source and the names.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address range (CIDR) such as `10.0.0.0/8`; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside the range. An IPv4-mapped IPv6 address
    /// (`::ffff:10.0.0.1`) is compared as the IPv4 address it carries.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_match(
                u128::from(u32::from(net)),
                u128::from(u32::from(ip)),
                32,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_match(u128::from(net), u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_match(net: u128, ip: u128, bits: u8, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = u32::from(bits - prefix);
    (net >> shift) == (ip >> shift)
}

/// One `sip.trusted_peers` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TrustedPeer {
    /// Any source address in this range.
    Range(Cidr),
    /// A TLS peer whose verified certificate is valid for this DNS name.
    TlsName(String),
}

/// An entry that is neither an address, a CIDR range nor `tls:NAME`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trusted peer {0:?} is not an IP address, a CIDR range (10.0.0.0/8) or tls:NAME")]
pub struct TrustedPeerError(pub String);

impl FromStr for TrustedPeer {
    type Err = TrustedPeerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || TrustedPeerError(s.to_owned());
        if let Some(name) = s.strip_prefix("tls:") {
            let valid = !name.is_empty()
                && name.len() <= 253
                && name.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            return if valid {
                Ok(TrustedPeer::TlsName(name.to_ascii_lowercase()))
            } else {
                Err(err())
            };
        }
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| err())?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(err)?,
            None => bits,
        };
        Ok(TrustedPeer::Range(Cidr { network, prefix }))
    }
}

impl fmt::Display for TrustedPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustedPeer::Range(c) => write!(f, "{}/{}", c.network, c.prefix),
            TrustedPeer::TlsName(n) => write!(f, "tls:{n}"),
        }
    }
}

/// Who sent a request, as far as the transport can tell.
#[derive(Clone, Copy)]
pub struct PeerIdentity<'a> {
    /// The source address of the datagram or connection.
    pub source: IpAddr,
    /// For TLS: a check whether the peer's verified certificate is valid for a
    /// DNS name (RFC 5922 §7.1 rules, done by the transport); `None` otherwise.
    pub tls_name_matches: Option<&'a dyn Fn(&str) -> bool>,
}

impl fmt::Debug for PeerIdentity<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerIdentity")
            .field("source", &self.source)
            .field("tls", &self.tls_name_matches.is_some())
            .finish()
    }
}

/// The `sip.trusted_peers` list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedPeers {
    peers: Vec<TrustedPeer>,
}

impl TrustedPeers {
    /// Parses every entry; the first bad one is the error.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, TrustedPeerError> {
        let peers = entries
            .iter()
            .map(|e| e.as_ref().trim().parse())
            .collect::<Result<_, _>>()?;
        Ok(TrustedPeers { peers })
    }

    /// Whether the list is empty (then nobody is trusted).
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Whether the peer matches an entry.
    pub fn trusts(&self, peer: &PeerIdentity<'_>) -> bool {
        self.peers.iter().any(|p| match p {
            TrustedPeer::Range(c) => c.contains(peer.source),
            TrustedPeer::TlsName(name) => peer.tls_name_matches.is_some_and(|m| m(name)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn from(source: &str) -> PeerIdentity<'static> {
        PeerIdentity {
            source: ip(source),
            tls_name_matches: None,
        }
    }

    #[test]
    fn cidr_ranges_and_single_addresses_match_their_sources() {
        let peers =
            TrustedPeers::parse(&["10.0.0.0/8", "127.0.0.1", "2001:db8::/32"]).expect("valid");
        assert!(peers.trusts(&from("10.200.3.4")));
        assert!(peers.trusts(&from("127.0.0.1")));
        assert!(!peers.trusts(&from("127.0.0.2")));
        assert!(!peers.trusts(&from("11.0.0.1")));
        assert!(peers.trusts(&from("2001:db8:1::5")));
        assert!(!peers.trusts(&from("2001:db9::5")));
        // A v4 source seen on a dual-stack socket.
        assert!(peers.trusts(&from("::ffff:10.1.2.3")));
    }

    #[test]
    fn prefix_zero_matches_everything_of_its_family() {
        let peers = TrustedPeers::parse(&["0.0.0.0/0"]).expect("valid");
        assert!(peers.trusts(&from("203.0.113.9")));
        assert!(!peers.trusts(&from("2001:db8::1")));
    }

    #[test]
    fn empty_list_trusts_nobody() {
        let peers = TrustedPeers::default();
        assert!(!peers.trusts(&from("127.0.0.1")));
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "proxy.example.net",
            "tls:",
            "tls:bad name",
            "10.0.0/8",
        ] {
            assert!(TrustedPeers::parse(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn tls_name_is_trusted_only_when_the_verified_certificate_names_it() {
        fn over_tls(m: &dyn Fn(&str) -> bool) -> PeerIdentity<'_> {
            PeerIdentity {
                source: "198.51.100.7".parse().expect("ip"),
                tls_name_matches: Some(m),
            }
        }
        let peers = TrustedPeers::parse(&["tls:Proxy.Example.NET"]).expect("valid");
        let proxy = |name: &str| name == "proxy.example.net";
        let other = |name: &str| name == "evil.example.org";
        assert!(peers.trusts(&over_tls(&proxy)));
        assert!(!peers.trusts(&over_tls(&other)));
        // The same address without TLS is not trusted by a name entry.
        assert!(!peers.trusts(&from("198.51.100.7")));
    }
}

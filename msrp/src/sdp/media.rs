//! RFC 4975 §8.1–§8.6: the typed view of one MSRP media description.

use crate::sdp::accept::FormatList;
use crate::sdp::chatroom::Chatroom;
use crate::sdp::error::MediaError;
use crate::sdp::path::Path;
use crate::sdp::setup::Setup;

/// Limits applied while reading attributes of untrusted SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaLimits {
    /// Most URIs accepted in one `a=path` (relays, RFC 4976).
    pub max_path_uris: usize,
    /// Most entries in one accept-types or accept-wrapped-types list.
    pub max_formats: usize,
}

impl Default for MediaLimits {
    fn default() -> Self {
        Self {
            max_path_uris: 8,
            max_formats: 32,
        }
    }
}

/// RFC 4975 §8.1: "a protocol field value of "TCP/MSRP", or "TCP/TLS/MSRP"
/// for TLS".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `TCP/MSRP`.
    TcpMsrp,
    /// `TCP/TLS/MSRP`.
    TcpTlsMsrp,
}

impl Transport {
    /// Reads the m-line protocol field, case-insensitively (lenient on
    /// input; we write the RFC 4975 §8.1 spelling).
    pub fn parse(proto: &str) -> Result<Self, MediaError> {
        if proto.eq_ignore_ascii_case("TCP/MSRP") {
            Ok(Self::TcpMsrp)
        } else if proto.eq_ignore_ascii_case("TCP/TLS/MSRP") {
            Ok(Self::TcpTlsMsrp)
        } else {
            Err(MediaError::Transport {
                proto: proto.to_owned(),
            })
        }
    }

    /// The protocol field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TcpMsrp => "TCP/MSRP",
            Self::TcpTlsMsrp => "TCP/TLS/MSRP",
        }
    }

    /// Whether the connection uses TLS.
    pub fn is_tls(self) -> bool {
        self == Self::TcpTlsMsrp
    }
}

/// The `c=` address: RFC 4975 §8.1, "the IP address or fully qualified
/// domain name from the MSRP URI identifying the endpoint". MSRP does not
/// connect to it (§8.1: "MSRP devices do not use the c-line address
/// field"); it is kept for logs and for writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionAddress {
    /// `IN IP4 <address or FQDN>`.
    Ip4(String),
    /// `IN IP6 <address or FQDN>`.
    Ip6(String),
}

impl ConnectionAddress {
    /// The address for a host: `IP6` for an IPv6 literal, else `IP4` (as the
    /// RFC 4975 examples write FQDNs).
    pub fn for_host(host: &str) -> Self {
        if host.parse::<std::net::Ipv6Addr>().is_ok() {
            Self::Ip6(host.to_owned())
        } else {
            Self::Ip4(host.to_owned())
        }
    }

    /// The address itself.
    pub fn address(&self) -> &str {
        match self {
            Self::Ip4(a) | Self::Ip6(a) => a,
        }
    }
}

/// One usable MSRP media description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsrpMedia {
    /// The m-line protocol.
    pub transport: Transport,
    /// The m-line port (RFC 4975 §8.1: it "MUST match the port value used in
    /// the endpoint's MSRP URI", except 9 for an active endpoint, RFC 6135
    /// §4.2.2; nothing connects to it).
    pub port: u16,
    /// `c=` at media level, else at session level.
    pub connection: Option<ConnectionAddress>,
    /// `a=path`.
    pub path: Path,
    /// `a=accept-types`.
    pub accept_types: FormatList,
    /// `a=accept-wrapped-types`, empty when absent.
    pub accept_wrapped_types: FormatList,
    /// `a=max-size` in octets (RFC 4975 §8.6: a hint).
    pub max_size: Option<u64>,
    /// `a=setup` at media level, else at session level (RFC 4145 §4: "can be
    /// a session-level or a media-level attribute").
    pub setup: Option<Setup>,
    /// RFC 7701 §8 `a=chatroom` (a media-level attribute), if present.
    pub chatroom: Option<Chatroom>,
}

impl MsrpMedia {
    /// Reads the typed view of one media description.
    pub(crate) fn from_sdp(
        media: &sdp_types::Media,
        session: &sdp_types::Session,
        limits: MediaLimits,
    ) -> Result<Self, MediaError> {
        // RFC 4975 §8.1: "The media field value MUST be "message"."
        if media.media != "message" {
            return Err(MediaError::NotMessage);
        }
        let transport = Transport::parse(&media.proto)?;
        if media.port == 0 {
            return Err(MediaError::PortZero);
        }
        // The format list "MUST be set to "*"" (RFC 4975 §8.1); other values
        // are tolerated: nothing depends on them.
        let path_value = attribute(media, None, "path").ok_or(MediaError::MissingPath)?;
        let path = Path::parse(path_value, limits.max_path_uris)?;
        // RFC 4975 §5.4: "Connections using the "msrps" scheme MUST use TLS."
        let consistent = match transport {
            Transport::TcpTlsMsrp => path.all_secure(),
            Transport::TcpMsrp => path.none_secure(),
        };
        if !consistent {
            return Err(MediaError::PathSchemeMismatch);
        }
        let accept_types =
            attribute(media, None, "accept-types").ok_or(MediaError::MissingAcceptTypes)?;
        let accept_types = FormatList::parse(accept_types, limits.max_formats)?;
        if accept_types.is_empty() {
            return Err(MediaError::MissingAcceptTypes);
        }
        let accept_wrapped_types = match attribute(media, None, "accept-wrapped-types") {
            Some(v) => FormatList::parse(v, limits.max_formats)?,
            None => FormatList::default(),
        };
        let max_size = match attribute(media, None, "max-size") {
            // max-size-value = 1*(DIGIT)
            Some(v) => {
                let v = v.trim();
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(MediaError::InvalidMaxSize);
                }
                // Larger than u64: as good as no limit.
                Some(v.parse().unwrap_or(u64::MAX))
            }
            None => None,
        };
        let setup = match attribute(media, Some(session), "setup") {
            Some(v) => Some(Setup::parse(v)?),
            None => None,
        };
        // RFC 7701 §8: "a media-level value attribute".
        let chatroom = media
            .attributes
            .iter()
            .find(|a| a.attribute.eq_ignore_ascii_case("chatroom"))
            .map(|a| Chatroom::parse(a.value.as_deref()));
        let connection = media
            .connections
            .first()
            .or(session.connection.as_ref())
            .and_then(connection_address);
        Ok(Self {
            transport,
            port: media.port,
            connection,
            path,
            accept_types,
            accept_wrapped_types,
            max_size,
            setup,
            chatroom,
        })
    }

    /// The media description to write.
    pub(crate) fn to_sdp(&self) -> sdp_types::Media {
        let mut attributes = vec![attr("accept-types", self.accept_types.to_string())];
        if !self.accept_wrapped_types.is_empty() {
            attributes.push(attr(
                "accept-wrapped-types",
                self.accept_wrapped_types.to_string(),
            ));
        }
        if let Some(max_size) = self.max_size {
            attributes.push(attr("max-size", max_size.to_string()));
        }
        attributes.push(attr("path", self.path.to_string()));
        if let Some(setup) = self.setup {
            attributes.push(attr("setup", setup.as_str().to_owned()));
        }
        if let Some(chatroom) = &self.chatroom {
            attributes.push(sdp_types::Attribute {
                attribute: "chatroom".to_owned(),
                value: chatroom.value(),
            });
        }
        sdp_types::Media {
            media: "message".to_owned(),
            port: self.port,
            num_ports: None,
            proto: self.transport.as_str().to_owned(),
            fmt: "*".to_owned(),
            media_title: None,
            connections: self.connection.iter().map(to_sdp_connection).collect(),
            bandwidths: Vec::new(),
            key: None,
            attributes,
        }
    }
}

/// The first value of attribute `name` at media level, else at session
/// level when `session` is given.
fn attribute<'a>(
    media: &'a sdp_types::Media,
    session: Option<&'a sdp_types::Session>,
    name: &str,
) -> Option<&'a str> {
    let find = |attrs: &'a [sdp_types::Attribute]| {
        attrs
            .iter()
            .find(|a| a.attribute.eq_ignore_ascii_case(name))
            .map(|a| a.value.as_deref().unwrap_or(""))
    };
    find(&media.attributes).or_else(|| session.and_then(|s| find(&s.attributes)))
}

fn attr(name: &str, value: String) -> sdp_types::Attribute {
    sdp_types::Attribute {
        attribute: name.to_owned(),
        value: Some(value),
    }
}

pub(crate) fn connection_address(c: &sdp_types::Connection) -> Option<ConnectionAddress> {
    if c.nettype != sdp_types::NetType::In {
        return None;
    }
    match c.addrtype {
        sdp_types::AddrType::Ip4 => Some(ConnectionAddress::Ip4(c.connection_address.clone())),
        sdp_types::AddrType::Ip6 => Some(ConnectionAddress::Ip6(c.connection_address.clone())),
        _ => None,
    }
}

pub(crate) fn to_sdp_connection(c: &ConnectionAddress) -> sdp_types::Connection {
    let addrtype = match c {
        ConnectionAddress::Ip4(_) => sdp_types::AddrType::Ip4,
        ConnectionAddress::Ip6(_) => sdp_types::AddrType::Ip6,
    };
    sdp_types::Connection {
        nettype: sdp_types::NetType::In,
        addrtype,
        connection_address: c.address().to_owned(),
    }
}

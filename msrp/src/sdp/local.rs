//! What this side brings to an offer/answer exchange, and what comes out.

use crate::sdp::accept::FormatList;
use crate::sdp::chatroom::Chatroom;
use crate::sdp::error::MediaError;
use crate::sdp::media::{ConnectionAddress, MediaLimits, Transport};
use crate::sdp::path::{MsrpUri, Path};
use crate::sdp::session::Origin;
use crate::sdp::setup::Role;

/// This endpoint for one new session: addresses, the fresh session id, and
/// policy. Built per session by the caller (ids and limits are arguments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEndpoint {
    host: String,
    plain: MsrpUri,
    tls: Option<MsrpUri>,
    /// Types we take as the root body (`a=accept-types`), exact entries.
    pub accept_types: FormatList,
    /// Types we take inside `message/cpim` (`a=accept-wrapped-types`).
    pub accept_wrapped_types: FormatList,
    /// RFC 7573 §8: the configured message limit, sent as `a=max-size`.
    pub max_size: u64,
    /// Whether peers can connect to us (no NAT in between): decides
    /// actpass/active in offers and passive/active in answers (RFC 6135 §4.2.2).
    pub reachable: bool,
    /// Offer `TCP/TLS/MSRP` rather than `TCP/MSRP` (needs a TLS port).
    pub prefer_tls: bool,
    /// The `o=` line for what we write.
    pub origin: Origin,
    /// Limits for reading the peer's SDP.
    pub limits: MediaLimits,
    /// RFC 7701 §8: the `a=chatroom` we declare, if any (RFC 7702 §5.1: a
    /// gateway that supports private messages "MUST advertise that fact").
    pub chatroom: Option<Chatroom>,
}

impl LocalEndpoint {
    /// Builds the local URIs `msrp://host:port/session_id;tcp` and, when
    /// `tls_port` is given, `msrps://host:tls_port/session_id;tcp`.
    /// `session_id` must be fresh and hard to guess (RFC 4975 §8.2).
    pub fn new(
        host: &str,
        port: u16,
        tls_port: Option<u16>,
        session_id: &str,
        origin: Origin,
    ) -> Result<Self, MediaError> {
        let authority_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let plain = MsrpUri::parse(&format!("msrp://{authority_host}:{port}/{session_id};tcp"))?;
        let tls = match tls_port {
            Some(p) => Some(MsrpUri::parse(&format!(
                "msrps://{authority_host}:{p}/{session_id};tcp"
            ))?),
            None => None,
        };
        Ok(Self {
            host: host.to_owned(),
            plain,
            tls,
            accept_types: FormatList::default(),
            accept_wrapped_types: FormatList::default(),
            max_size: 0,
            reachable: true,
            prefer_tls: false,
            origin,
            limits: MediaLimits::default(),
            chatroom: None,
        })
    }

    /// Whether TLS is allowed at all (a TLS port was given).
    pub fn tls_allowed(&self) -> bool {
        self.tls.is_some()
    }

    /// Our URI for `transport`, if we have one.
    pub(crate) fn uri(&self, transport: Transport) -> Option<&MsrpUri> {
        match transport {
            Transport::TcpMsrp => Some(&self.plain),
            Transport::TcpTlsMsrp => self.tls.as_ref(),
        }
    }

    /// Our plain TCP URI.
    pub(crate) fn plain_uri(&self) -> &MsrpUri {
        &self.plain
    }

    /// RFC 4975 §8.1: the c-line carries "the IP address or fully qualified
    /// domain name from the MSRP URI identifying the endpoint".
    pub(crate) fn connection(&self) -> ConnectionAddress {
        ConnectionAddress::for_host(&self.host)
    }
}

/// The outcome of a successful exchange, the same shape for both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedSession {
    /// The index of the MSRP m-line in the offer and answer.
    pub media_index: usize,
    /// TCP or TLS.
    pub transport: Transport,
    /// Our path (what the peer puts in To-Path).
    pub local_path: Path,
    /// The peer's path: To-Path of our requests; connect to its adjacent hop.
    pub remote_path: Path,
    /// Whether we open the connection (RFC 4975 §5.4, RFC 6135).
    pub role: Role,
    /// What we told the peer we take as root bodies.
    pub local_accept_types: FormatList,
    /// What we told the peer we take inside CPIM.
    pub local_accept_wrapped_types: FormatList,
    /// What the peer takes as root bodies (RFC 4975 §8.6: we "MUST NOT send
    /// a top-level ... MIME document of a type not signaled" there).
    pub remote_accept_types: FormatList,
    /// What the peer takes inside a container.
    pub remote_accept_wrapped_types: FormatList,
    /// The peer's `a=max-size`, a hint (RFC 4975 §8.6).
    pub remote_max_size: Option<u64>,
    /// The `a=chatroom` we declared.
    pub local_chatroom: Option<Chatroom>,
    /// The peer's `a=chatroom` (RFC 7701 §8: a declaration, not negotiated;
    /// `None`: the peer does not do multi-party chat).
    pub remote_chatroom: Option<Chatroom>,
}

impl NegotiatedSession {
    /// RFC 4975 §8.6: whether we may send `root` (and, inside it, `wrapped`)
    /// to the peer: the root must be in its accept-types; a wrapped type in
    /// its accept-types or accept-wrapped-types.
    pub fn may_send(&self, root: &str, wrapped: Option<&str>) -> bool {
        self.remote_accept_types.allows(root)
            && wrapped.is_none_or(|w| {
                self.remote_accept_types.allows(w) || self.remote_accept_wrapped_types.allows(w)
            })
    }
}

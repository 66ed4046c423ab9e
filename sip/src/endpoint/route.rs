//! Where a request goes and how Parley names itself in it: the route set
//! (RFC 3261 §8.1.2, §12.2.1.1), the URI whose RFC 3263 locations a request
//! is sent to, those locations, and the Via sent-by and Contact that make
//! the peer's answers come back (§18.1.1, §8.1.1.8).
//!
//! What it does not do: strict routing (a first Route without `;lr` is
//! refused, see [`Routing::destination`]), or pick the transaction or the
//! transport connection; the send path does that with what this returns.

use std::net::{IpAddr, SocketAddr};

use crate::config::{Advertise, EndpointConfig, Transport};
use crate::error::TransactionError;
use crate::locate::{Destination, Host, Locator};
use crate::resolver::Resolver;
use crate::transaction::Target;
use crate::wire::header::{Address, split_outside_quotes};
use crate::wire::uri::Uri;
use crate::wire::write::{push_decimal_usize, push_socket_addr};

/// RFC 3263 §4: where one request may go, in the order to try.
pub(super) struct Located {
    pub(super) targets: Vec<Target>,
    /// The URI's host, for TLS server identity; typed, so a numeric one is
    /// written only when a connection needs it (issue 24).
    pub(super) host: Host,
}

/// What routing needs of the endpoint: the outbound proxy and advertised
/// host from the config, the bound listen addresses, and the DNS resolver.
pub(super) struct Routing {
    outbound_proxy: Option<String>,
    /// The outbound proxy's URI, parsed once (every request to a SIP user
    /// is located through it); `None` when there is none or it is not `sip:`.
    outbound_proxy_uri: Option<Box<ezk_sip_types::uri::SipUri>>,
    advertise: Option<Advertise>,
    udp: Vec<SocketAddr>,
    pub(super) tcp: Vec<SocketAddr>,
    tls_listeners: Vec<SocketAddr>,
    /// Whether TLS targets may be located (a `[sip.tls]` config exists).
    tls: bool,
    resolver: Resolver,
}

impl Routing {
    /// Routing for the bound listeners `udp`, `tcp` and `tls_listeners`;
    /// `tls`: whether TLS targets can be reached.
    pub(super) fn new(
        config: &EndpointConfig,
        udp: Vec<SocketAddr>,
        tcp: Vec<SocketAddr>,
        tls_listeners: Vec<SocketAddr>,
        tls: bool,
    ) -> Routing {
        Routing {
            outbound_proxy: config.outbound_proxy.clone(),
            outbound_proxy_uri: match config.outbound_proxy.as_deref().map(Uri::parse) {
                Some(Ok(Uri::Sip(uri))) => Some(uri),
                _ => None,
            },
            advertise: config.advertise.clone(),
            udp,
            tcp,
            tls_listeners,
            tls,
            resolver: Resolver::new(&config.dns),
        }
    }

    /// The bound address of the first listener of `transport`.
    pub(super) fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        match transport {
            Transport::Udp => self.udp.first().copied(),
            Transport::Tcp => self.tcp.first().copied(),
            Transport::Tls => self.tls_listeners.first().copied(),
        }
    }

    /// The Route values a request carries: those given by the caller (a
    /// dialog's route set, RFC 3261 §12.2.1.1) win; without any, a loose
    /// (`;lr`) outbound proxy is the pre-existing route set (§8.1.2: "a
    /// pre-existing route set with a single URI SHOULD be used").
    pub(super) fn route(&self, headers: &[(String, String)]) -> Vec<String> {
        let given: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("route"))
            .map(|(_, v)| v.clone())
            .collect();
        if !given.is_empty() {
            return given;
        }
        self.outbound_proxy
            .iter()
            .filter(|p| p.contains(";lr"))
            .map(|p| format!("<{p}>"))
            .collect()
    }

    /// The URI whose RFC 3263 locations a request is sent to. RFC 3261 §8.1.2:
    /// "the procedures are applied to the first Route header field value in
    /// the request (if one exists), or to the request's Request-URI if there
    /// is no Route header field present", and "a UAC configured with an
    /// outbound proxy SHOULD attempt to send the request to the location
    /// indicated in the first Route header field value instead of adopting
    /// the policy of sending all messages to the outbound proxy". So:
    /// 1. a Route (a dialog's route set, §12.2.1.1, else a loose outbound
    ///    proxy as pre-existing route set) → its first URI;
    /// 2. no Route and an outbound proxy without `;lr` → that proxy (the
    ///    "alternate set of destinations" local policy §8.1.2 allows only
    ///    "if the request contains no Route header field");
    /// 3. otherwise the Request-URI.
    ///
    /// A first Route without `;lr` is a strict router (§12.2.1.1, §16.12),
    /// which needs the request re-formed around it (Request-URI = the
    /// router). Parley does not do strict routing: such a request is refused
    /// with `InvalidRequest` rather than sent to a wrong place.
    ///
    /// RFC 3261 §26.2.2: a `sips:` Request-URI "signifies that each hop over
    /// which the request is forwarded, until the request reaches the SIP
    /// entity responsible for the domain portion of the Request-URI, must be
    /// secured with TLS"; a `sip:` next hop (outbound proxy, Route) is then
    /// located as `sips:` (TLS only), never reached in clear.
    pub(super) fn destination(
        &self,
        request_uri: &str,
        headers: &[(String, String)],
    ) -> Result<String, TransactionError> {
        let next_hop = self.next_hop(request_uri, headers)?;
        Ok(secured_like(request_uri, next_hop))
    }

    /// The URI of the next hop, as [`Routing::destination`] says.
    fn next_hop(
        &self,
        request_uri: &str,
        headers: &[(String, String)],
    ) -> Result<String, TransactionError> {
        if let Some(first) = self.route(headers).first() {
            let first = split_outside_quotes(first, b',')
                .into_iter()
                .next()
                .unwrap_or_default();
            let Ok(address) = Address::parse(first) else {
                return Err(TransactionError::Unresolvable(first.to_owned()));
            };
            let loose = address
                .uri_text
                .split('?')
                .next()
                .unwrap_or_default()
                .split(';')
                .skip(1)
                .any(|p| {
                    p.split('=')
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .eq_ignore_ascii_case("lr")
                });
            if !loose {
                return Err(TransactionError::InvalidRequest(
                    "strict router (first Route without ;lr, RFC 3261 §12.2.1.1) is not supported",
                ));
            }
            return Ok(address.uri_text.as_str().to_owned());
        }
        Ok(self
            .outbound_proxy
            .clone()
            .unwrap_or_else(|| request_uri.to_owned()))
    }

    /// RFC 3263 §4: the targets of `text` (see [`Routing::destination`]) in the
    /// order to try, resolved through NAPTR, SRV and A/AAAA (a numeric host
    /// needs no DNS).
    pub(super) async fn locate(&self, text: &str) -> Result<Located, TransactionError> {
        let (destination, host) = self.destination_of(text)?;
        let targets = self.resolver.locate(&destination, self.tls).await;
        if targets.is_empty() {
            return Err(TransactionError::Unresolvable(text.to_owned()));
        }
        Ok(Located { targets, host })
    }

    /// [`Routing::locate`] when no DNS is needed (a numeric host): the
    /// same targets, now; `None` when a lookup would be needed.
    pub(super) fn locate_now(&self, text: &str) -> Option<Result<Located, TransactionError>> {
        let (destination, host) = match self.destination_of(text) {
            Ok(found) => found,
            Err(error) => return Some(Err(error)),
        };
        let mut locator = Locator::new(&destination, self.tls);
        if locator.poll_query().is_some() {
            return None;
        }
        let targets = locator.into_targets();
        if targets.is_empty() {
            return Some(Err(TransactionError::Unresolvable(text.to_owned())));
        }
        Some(Ok(Located { targets, host }))
    }

    /// The RFC 3263 destination of `text` and its host (TLS checks the
    /// URI's host, RFC 3261 §26.3.1, not the located address).
    fn destination_of(&self, text: &str) -> Result<(Destination, Host), TransactionError> {
        let parsed;
        let uri = match &self.outbound_proxy_uri {
            Some(uri) if self.outbound_proxy.as_deref() == Some(text) => uri,
            _ => {
                let Ok(Uri::Sip(uri)) = Uri::parse(text) else {
                    return Err(TransactionError::Unresolvable(text.to_owned()));
                };
                parsed = uri;
                &parsed
            }
        };
        let host = match uri.host_port.ip() {
            Some(ip) => Host::Ip(ip),
            None => Host::Name(uri.host_port.host.to_string()),
        };
        Ok((Destination::of_uri(uri), host))
    }

    /// Our sent-by for a request to `peer` over `transport` (RFC 3261 §18.1.1),
    /// `host:port`: the advertised host when configured, else the local address.
    pub(super) fn sent_by(&self, transport: Transport, peer: SocketAddr) -> String {
        let mut sent_by = String::new();
        self.push_sent_by(&mut sent_by, transport, peer);
        sent_by
    }

    /// [`Routing::sent_by`] written at the end of `out` (issue 24: no
    /// String of its own for each request's Via).
    pub(super) fn push_sent_by(&self, out: &mut String, transport: Transport, peer: SocketAddr) {
        let local = self.local_towards(transport, peer);
        match &self.advertise {
            Some(advertise) => {
                out.push_str(&advertise.host);
                out.push(':');
                push_decimal_usize(out, usize::from(advertise.port.unwrap_or(local.port())));
            }
            None => push_socket_addr(out, local),
        }
    }

    /// `<sip:user@host:port;transport=…>` for a Contact header (RFC 3261
    /// §8.1.1.8: where the peer reaches us over `transport`).
    pub(super) fn contact(
        &self,
        user: Option<&str>,
        transport: Transport,
        peer: SocketAddr,
    ) -> String {
        let user = user.map(|u| format!("{u}@")).unwrap_or_default();
        let param = match transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
        };
        format!("<sip:{user}{}{param}>", self.sent_by(transport, peer))
    }

    /// The local listen address for `transport`; for a wildcard listener, the
    /// address the OS would use towards `peer`.
    pub(super) fn local_towards(&self, transport: Transport, peer: SocketAddr) -> SocketAddr {
        let local = self
            .local_addr(transport)
            .or(match transport {
                Transport::Udp => None,
                _ => self.udp.first().copied(),
            })
            .unwrap_or_else(|| SocketAddr::new(IpAddr::from([127, 0, 0, 1]), 5060));
        if local.ip().is_unspecified() {
            // The address the OS would use towards the peer.
            let probe = std::net::UdpSocket::bind(SocketAddr::new(local.ip(), 0))
                .and_then(|s| s.connect(peer).and_then(|()| s.local_addr()));
            if let Ok(probe) = probe {
                return SocketAddr::new(probe.ip(), local.port());
            }
        }
        local
    }
}

/// `next_hop` with the scheme `sips:` when `request_uri` is a `sips:` URI and
/// `next_hop` a `sip:` one (RFC 3261 §26.2.2), else `next_hop` as it is.
fn secured_like(request_uri: &str, next_hop: String) -> String {
    let scheme_is = |uri: &str, scheme: &str| {
        uri.trim_start()
            .get(..scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
    };
    if scheme_is(request_uri, "sips:") && scheme_is(&next_hop, "sip:") {
        let rest = &next_hop.trim_start()["sip:".len()..];
        format!("sips:{rest}")
    } else {
        next_hop
    }
}

#[cfg(test)]
mod tests {
    use super::secured_like;

    #[test]
    fn a_sips_request_uri_makes_a_sip_next_hop_sips() {
        assert_eq!(
            secured_like("sips:bob@example.com", "sip:proxy.example.net;lr".into()),
            "sips:proxy.example.net;lr"
        );
        assert_eq!(
            secured_like(
                "SIPS:bob@example.com",
                "SIP:10.0.0.1:5060;transport=udp;lr".into()
            ),
            "sips:10.0.0.1:5060;transport=udp;lr"
        );
        assert_eq!(
            secured_like("sips:bob@example.com", "sips:proxy;lr".into()),
            "sips:proxy;lr"
        );
        assert_eq!(
            secured_like("sip:bob@example.com", "sip:proxy;lr".into()),
            "sip:proxy;lr"
        );
    }
}

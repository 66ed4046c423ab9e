//! What the endpoint is told by the gateway: where to listen, where to send,
//! how much to accept, how long to wait.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// RFC 3261 §18: a transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP (§18.1.1, §18.2.1).
    Udp,
    /// TCP, Content-Length framed (§18.3).
    Tcp,
    /// TLS over TCP (§26.2), `sips:`.
    Tls,
}

impl Transport {
    /// The Via transport token (`UDP`, `TCP`, `TLS`).
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// Whether the transport is reliable (no retransmissions, §17.1.1.2).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// A short label for metrics and logs.
    pub fn kind(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// From a Via token or `transport=` URI parameter, case-insensitive.
    pub fn from_token(token: &str) -> Option<Transport> {
        match token.to_ascii_lowercase().as_str() {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            "tls" => Some(Transport::Tls),
            _ => None,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

/// One listen address of the contract's `sip.listen` list: `udp:0.0.0.0:5060`,
/// `tcp:[::1]:5060`, `tls:0.0.0.0:5061`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr {
    /// The transport.
    pub transport: Transport,
    /// The socket address; port 0 picks a free one.
    pub addr: SocketAddr,
}

/// A listen address that does not read as `transport:host:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("listen address {0:?} is not udp:|tcp:|tls: followed by host:port")]
pub struct ListenAddrError(pub String);

impl FromStr for ListenAddr {
    type Err = ListenAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ListenAddrError(s.to_owned());
        let (transport, addr) = s.split_once(':').ok_or_else(err)?;
        let transport = Transport::from_token(transport).ok_or_else(err)?;
        let addr = addr.parse().map_err(|_| err())?;
        Ok(ListenAddr { transport, addr })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

/// Bounds on what the endpoint accepts and holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted on any transport, in bytes (513 beyond it).
    pub max_message_bytes: usize,
    /// RFC 3261 §18.1.1: a request larger than this (path MTU − 200) goes over TCP.
    pub udp_mtu_allowance: usize,
    /// Most header fields in one message (400 beyond it).
    pub max_headers: usize,
    /// Longest header line (or request line) in bytes, after unfolding (400 beyond it).
    pub max_line_bytes: usize,
    /// Capacity of the incoming request channel (503 + Retry-After when full).
    pub incoming_queue: usize,
    /// Most pending transactions held at once: waiting for the TU or for a
    /// response (503 / refused beyond it).
    pub max_pending_transactions: usize,
    /// Most completed non-INVITE transactions held at once, waiting out
    /// Timer J (server) or Timer K (client) for retransmissions. A completed
    /// server transaction is never dropped early (its retransmitted request
    /// would reach the TU twice), so a new request is refused with 503
    /// while completed transactions and pending server transactions reach
    /// this; at it, completed client transactions make room oldest first.
    /// Over UDP each new request stays 64·T1 (32 s) after its answer, so
    /// this sustains `max_completed_transactions / 32 s` new requests a
    /// second: 16 384/s at the default.
    pub max_completed_transactions: usize,
    /// Retry-After, in seconds, sent with 503 when overloaded.
    pub retry_after_secs: u32,
    /// Most simultaneous inbound stream connections.
    pub max_connections: usize,
    /// SO_RCVBUF asked for on UDP sockets, in bytes (0: the kernel's default).
    /// The kernel's default (~200 KB, about 90 small datagrams on loopback)
    /// drops bursts before the endpoint can read them; the kernel caps the
    /// request at `net.core.rmem_max`.
    pub udp_recv_buffer_bytes: usize,
    /// A stream connection that sends nothing for this long is closed (also
    /// bounds a peer that trickles a message byte by byte).
    pub idle_connection: std::time::Duration,
    /// New requests per second per source address (design §5); over it, 503
    /// with Retry-After, then silence over UDP (see [`crate::rate`]).
    pub source_rate: crate::rate::RateLimit,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 * 1024,
            udp_mtu_allowance: 1300,
            max_headers: 128,
            max_line_bytes: 8 * 1024,
            incoming_queue: 1024,
            max_pending_transactions: 65_536,
            max_completed_transactions: 524_288,
            retry_after_secs: 5,
            max_connections: 1024,
            udp_recv_buffer_bytes: 4 * 1024 * 1024,
            idle_connection: Duration::from_secs(300),
            source_rate: crate::rate::RateLimit::default(),
        }
    }
}

/// RFC 3261 §17.1.1.1 / Table 4: the timer base values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate, default 500 ms.
    pub t1: Duration,
    /// Longest retransmit interval for non-INVITE requests, default 4 s.
    pub t2: Duration,
    /// Longest time a message stays in the network, default 5 s.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// RFC 6665 §4.1.2.4 Timer N, "set to 64*T1": how long a subscriber waits
    /// for the first NOTIFY before it "considers the subscription failed".
    pub fn timer_n(&self) -> Duration {
        self.t1 * 64
    }
}

/// Digest credentials for one realm (RFC 3261 §22.1).
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The realm the credentials answer.
    pub realm: String,
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("realm", &self.realm)
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// RFC 3261 §26.2: TLS material, as PEM file paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// Our certificate chain (PEM); needed to listen on `tls:`.
    pub cert: Option<PathBuf>,
    /// Our private key (PEM).
    pub key: Option<PathBuf>,
    /// CA certificates (PEM) that peers' certificates must chain to; without
    /// it, the system trust store.
    pub ca: Option<PathBuf>,
    /// Demand a client certificate from that CA on `tls:` listeners (mutual TLS).
    pub require_client_cert: bool,
}

/// RFC 3263 DNS: where NAPTR, SRV and A/AAAA questions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Name servers (UDP, then TCP, at each address); empty: the system's
    /// (`/etc/resolv.conf`, and `/etc/hosts` first). When set, only these
    /// servers are asked (no hosts file, no search domains).
    pub nameservers: Vec<SocketAddr>,
    /// How long one DNS question may take before it counts as unanswered.
    pub timeout: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            nameservers: Vec::new(),
            timeout: Duration::from_secs(2),
        }
    }
}

/// Everything the endpoint needs to start.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Where to listen.
    pub listen: Vec<ListenAddr>,
    /// Where requests go when set (a SIP URI, e.g. `sip:127.0.0.1:5070;transport=tcp`);
    /// otherwise to the Request-URI's host, located per RFC 3263 (NAPTR, SRV, A/AAAA).
    pub outbound_proxy: Option<String>,
    /// DNS for RFC 3263 server location.
    pub dns: DnsConfig,
    /// Sent as User-Agent in requests and Server in responses.
    pub user_agent: String,
    /// Bounds.
    pub limits: Limits,
    /// Timer base values.
    pub timers: Timers,
    /// Digest credentials per realm for challenged requests.
    pub credentials: Vec<Credential>,
    /// TLS material for `tls:` listeners and `sips:`/`transport=tls` targets.
    pub tls: Option<TlsConfig>,
    /// Peers exempt from the per-source request rate ([`Limits::source_rate`]):
    /// trusted proxies carry many users' traffic from one address.
    pub rate_exempt: crate::trust::TrustedPeers,
    /// The host (and port) peers reach Parley at, when that is not the
    /// listen address (NAT, a load balancer, a Kubernetes Service): used in
    /// Via sent-by and Contact. Without it, the listen address, or for a
    /// wildcard listener the local address the OS uses towards the peer.
    pub advertise: Option<Advertise>,
}

/// `HOST` or `HOST:PORT` (IPv6 as `[2001:db8::1]` or `[2001:db8::1]:5060`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertise {
    /// A DNS name or an IP address (IPv6 bracketed).
    pub host: String,
    /// Without it, each transport's listen port.
    pub port: Option<u16>,
}

impl FromStr for Advertise {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (v6, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("{s:?}: unclosed ["))?;
            v6.parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("{s:?}: not an IPv6 address in brackets"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("{s:?}: junk after ]"))?,
                ),
            };
            (format!("[{v6}]"), port)
        } else {
            if s.parse::<std::net::Ipv6Addr>().is_ok() {
                return Err(format!("{s:?}: put an IPv6 address in brackets"));
            }
            match s.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (s.to_owned(), None),
            }
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("{s:?}: bad port {p:?}"))
            })
            .transpose()?;
        // RFC 3261 §25.1 `hostname` (labels of alphanum and `-`, dots between)
        // or an IPv4 address; IPv6 was checked above.
        let hostname_ok = !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !host.starts_with('[') && !hostname_ok {
            return Err(format!("{s:?}: not a host name or IP address"));
        }
        Ok(Advertise { host, port })
    }
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            listen: Vec::new(),
            outbound_proxy: None,
            dns: DnsConfig::default(),
            user_agent: concat!("Parley/", env!("CARGO_PKG_VERSION")).to_owned(),
            limits: Limits::default(),
            timers: Timers::default(),
            credentials: Vec::new(),
            tls: None,
            rate_exempt: crate::trust::TrustedPeers::default(),
            advertise: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_of_the_contract_parse() {
        let udp: ListenAddr = "udp:0.0.0.0:5060".parse().expect("valid");
        assert_eq!(udp.transport, Transport::Udp);
        let tcp: ListenAddr = "tcp:[::1]:5060".parse().expect("valid");
        assert_eq!(tcp.addr, "[::1]:5060".parse().expect("addr"));
        let tls: ListenAddr = "tls:0.0.0.0:5061".parse().expect("valid");
        assert_eq!(tls.transport, Transport::Tls);
        assert!("sctp:0.0.0.0:5060".parse::<ListenAddr>().is_err());
        assert!("udp:nohost".parse::<ListenAddr>().is_err());
    }

    #[test]
    fn advertised_hosts_parse() {
        let a: Advertise = "sip.example.net".parse().expect("name");
        assert_eq!((a.host.as_str(), a.port), ("sip.example.net", None));
        let a: Advertise = "203.0.113.5:5080".parse().expect("v4:port");
        assert_eq!((a.host.as_str(), a.port), ("203.0.113.5", Some(5080)));
        let a: Advertise = "[2001:db8::1]:5060".parse().expect("[v6]:port");
        assert_eq!((a.host.as_str(), a.port), ("[2001:db8::1]", Some(5060)));
        let a: Advertise = "[2001:db8::1]".parse().expect("[v6]");
        assert_eq!((a.host.as_str(), a.port), ("[2001:db8::1]", None));
        for bad in [
            "",
            "2001:db8::1",
            "[2001:db8::1",
            "[nope]",
            "host:0",
            "host:port",
            "ho st",
            "-bad.example",
            "a..b",
            "sip:host",
        ] {
            assert!(bad.parse::<Advertise>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn credential_debug_masks_the_password() {
        let c = Credential {
            realm: "r".into(),
            username: "u".into(),
            password: "secret".into(),
        };
        assert!(!format!("{c:?}").contains("secret"));
    }
}

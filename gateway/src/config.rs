//! The configuration contract of design §2: a TOML file plus
//! `PARLEY_<SECTION>__<KEY>` environment overrides, validated at start.
//!
//! Every field's doc comment is its row in README.md's config reference.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use parley_sip::config::{Credential, TlsConfig};
use parley_sip::trust::TrustedPeers;
use parley_sip::{DnsConfig, EndpointConfig, ListenAddr, Timers, Transport};
use parley_xmpp::component::{ComponentConfig, ComponentTls, DirectTls, TlsSetupError};

/// `[groupchat]` (RFC 7702 §6).
mod groupchat;
pub use groupchat::GroupchatConfig;

/// `[conference]` (RFC 7702 §5).
mod conference;
pub use conference::ConferenceConfig;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[xmpp]`: the XEP-0114 component link.
    pub xmpp: XmppConfig,
    /// `[sip]`: the SIP user agent.
    pub sip: SipConfig,
    /// `[metrics]`: the HTTP endpoint for `/metrics`, `/healthz`, `/readyz`.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[store]`: the embedded store.
    #[serde(default)]
    pub store: StoreConfig,
    /// `[messages]`: how messages are translated and confirmed.
    #[serde(default)]
    pub messages: MessagesConfig,
    /// `[log]`: logging.
    #[serde(default)]
    pub log: LogConfig,
    /// `[limits]`: design §5 bounds on SIP and XMPP input (rates, counts, queues).
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[shutdown]`: how long SIGTERM/SIGINT may take.
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    /// `[runtime]`: the threads Parley runs on.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// `[sessions]`: RFC 7573 chat sessions (SIP INVITE + MSRP).
    #[serde(default)]
    pub sessions: SessionsConfig,
    /// `[groupchat]`: SIP users in XMPP rooms (RFC 7702 §6).
    #[serde(default)]
    pub groupchat: GroupchatConfig,
    /// `[conference]`: XMPP users in SIP conferences (RFC 7702 §5).
    #[serde(default)]
    pub conference: ConferenceConfig,
    /// `[trunk]`: registration at a carrier's registrar (RFC 3261 §10.2); off when absent.
    #[serde(default)]
    pub trunk: Option<TrunkConfig>,
    /// `[registrar]`: Parley as the phones' registrar (RFC 3261 §10.3) with
    /// digest authentication; off when absent.
    #[serde(default)]
    pub registrar: Option<RegistrarConfig>,
}

/// `[xmpp]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct XmppConfig {
    /// The component's JID domain, e.g. `sip.example.net`. Required.
    pub component_domain: String,
    /// The XMPP server's component port, `host:port`. Required.
    pub server: String,
    /// The XEP-0114 shared secret. Required; never logged or printed.
    pub secret: Secret,
    /// Stanzas held while the component link is down (bounded queue). Default 1024.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    /// Largest stanza accepted from the server, in bytes. Default 262144 (256 KiB).
    #[serde(default = "default_max_stanza_bytes")]
    pub max_stanza_bytes: usize,
    /// Deepest element nesting accepted inside a stanza. Default 32.
    #[serde(default = "default_max_depth")]
    pub max_depth: usize,
    /// Seconds between whitespace keepalives on an idle link. Default 30.
    #[serde(default = "default_keepalive_secs")]
    pub keepalive_secs: u64,
    /// First reconnect delay in milliseconds (doubles, with jitter). Default 500.
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    /// Longest reconnect delay in milliseconds. Default 30000.
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// XMPP domains whose users may use the gateway (each with its subdomains);
    /// stanzas from others get `<forbidden/>`. RFC 8048 §8.1: a gateway "ought
    /// to be associated with only a single domain or trust realm". Default
    /// empty: any domain the XMPP server routes to the component.
    #[serde(default)]
    pub user_domains: Vec<String>,
    /// How the component port is reached: `"none"` (plain TCP, XEP-0114 as
    /// written) or `"direct"` (TLS from the first byte: ejabberd's
    /// `ejabberd_service` with `tls: true`, Prosody's `ssl_ports` with
    /// `mod_net_multiplex`). Neither server offers STARTTLS on a component
    /// stream. Default `"none"`.
    #[serde(default)]
    pub tls: XmppTls,
    /// PEM file of the CA certificates that may sign the server's certificate
    /// (with `tls = "direct"`). Default none: the system's trust store.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// The name the server's certificate must carry (DNS name or IP address).
    /// Default: the host of `xmpp.server`.
    #[serde(default)]
    pub tls_name: Option<String>,
    /// Refuse to run the component stream in clear: `tls = "none"` is then a
    /// configuration error, and a failed TLS handshake is retried with TLS,
    /// never without. Default false.
    #[serde(default)]
    pub require_tls: bool,
}

/// `xmpp.tls`: how the component port is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum XmppTls {
    /// Plain TCP.
    #[default]
    None,
    /// TLS from the first byte, the certificate verified by rustls.
    Direct,
}

/// `[sip]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// The SIP domain whose users XMPP sees at `xmpp.component_domain`. Required.
    pub domain: String,
    /// Listen addresses, `udp:HOST:PORT`, `tcp:HOST:PORT`, `tls:HOST:PORT` (IPv6 as `[::1]`).
    /// Default `["udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"]`.
    #[serde(default = "default_listen")]
    pub listen: Vec<String>,
    /// Where requests to SIP users go, a SIP URI such as `sip:proxy.example.net;transport=tcp`.
    /// Optional; without it requests go to the host of the Request-URI.
    #[serde(default)]
    pub outbound_proxy: Option<String>,
    /// DNS servers for RFC 3263 lookups (NAPTR, SRV, A/AAAA) of Request-URI hosts, `IP:PORT`
    /// or `IP` (port 53). Default empty: the system's (`/etc/resolv.conf`, `/etc/hosts`).
    #[serde(default)]
    pub dns_servers: Vec<String>,
    /// The `User-Agent`/`Server` header value. Default `parley/<version>`.
    #[serde(default = "default_user_agent")]
    pub user_agent: String,
    /// Largest SIP message accepted, in bytes. Default 65536.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// RFC 3261 Timer T1 (round-trip estimate) in milliseconds; Timer F is 64·T1. Default 500.
    #[serde(default = "default_t1_ms")]
    pub t1_ms: u64,
    /// Digest credentials for requests challenged with 401/407, one `[[sip.credentials]]`
    /// table per realm: `realm`, `username`, `password` (never logged or printed). Default none.
    #[serde(default)]
    pub credentials: Vec<SipCredential>,
    /// `[sip.tls]`: certificate and key for `tls:` listeners, CA for verifying peers. Optional.
    #[serde(default)]
    pub tls: Option<SipTls>,
    /// Peers allowed to send requests whose From claims a user of `sip.domain` or
    /// `xmpp.component_domain` (others get 403): IP addresses, CIDR ranges
    /// (`10.0.0.0/8`), and `tls:NAME` for a mutual-TLS peer whose verified certificate
    /// names NAME. Default `["127.0.0.0/8", "::1"]` (loopback only).
    #[serde(default = "default_trusted_peers")]
    pub trusted_peers: Vec<String>,
    /// The host peers reach Parley at, `HOST` or `HOST:PORT`, when it is not the
    /// listen address (NAT, load balancer, Kubernetes Service): written into Via
    /// and Contact. Default none: the listen address, or for a `0.0.0.0`/`[::]`
    /// listener the local address facing the peer.
    #[serde(default)]
    pub advertise: Option<String>,
}

/// `[sip.tls]`: TLS material as PEM files (RFC 3261 §26.2).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SipTls {
    /// Certificate chain (PEM) presented on `tls:` listeners. Required for a `tls:` listener.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of `cert`.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// CA certificates (PEM) that peers must chain to; without it, the system roots.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Demand a client certificate chaining to `ca` on `tls:` listeners (mutual TLS). Default `false`.
    #[serde(default)]
    pub require_client_cert: bool,
}

/// `[[sip.credentials]]`: what Parley answers a digest challenge from `realm` with.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SipCredential {
    /// The realm of the challenge (RFC 3261 §22.1).
    pub realm: String,
    /// The user name.
    pub username: String,
    /// The password.
    pub password: Secret,
}

/// `[metrics]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of the HTTP endpoint serving `/metrics`, `/healthz`, `/readyz`. Default `127.0.0.1:9100`.
    #[serde(default = "default_metrics_listen")]
    pub listen: String,
}

/// `[store]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory of the embedded store (subscriptions). Default `/var/lib/parley`.
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    /// The shared store: empty (the default) keeps the embedded SQLite file under `store.path`;
    /// `postgres://user:password@host:port/database` (or `postgresql://…`, with sqlx's options
    /// such as `?sslmode=require`) puts every instance's subscriptions in one PostgreSQL database
    /// (design §4a). The password is never logged or printed. Anything else is refused.
    #[serde(default)]
    pub url: crate::store::StoreUrl,
    /// This instance's name in the shared store, 1 to 48 of `A-Z a-z 0-9 . _ -`. Default: a random
    /// one minted at each start, so a restarted process is a new instance and takes rows back
    /// only once its old lease ran out; a stable name (a StatefulSet pod's) takes its own rows
    /// back at once. Two running instances must never share one.
    #[serde(default)]
    pub instance: Option<String>,
    /// How long this instance's ownership of its subscriptions lasts unless renewed, in
    /// milliseconds: others take its subscriptions over this long after it stopped renewing. It
    /// is renewed every third of it. At least 1000. Default 10000.
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
    /// After a restart, how many stored subscriptions are taken up at once: Parley's own SIP
    /// subscriptions have at most this many refresh SUBSCRIBEs (or new ones) in flight, the next
    /// sent as one is answered; SIP users' subscriptions have at most this many XMPP probes (and
    /// at most half of `xmpp.queue_capacity`) waiting on the component stream. Keep it well below
    /// `limits.sip_pending_transactions`: what is over it waits for room. The restore's pace is
    /// about this many per round trip of the SIP side: 100 000 take a minute at a 600 ms round
    /// trip. Default 1024.
    #[serde(default = "default_restore_in_flight")]
    pub restore_in_flight: usize,
    /// Removed: replaced by `store.restore_in_flight`, since a fixed rate either crawls (50 a
    /// second took 33 minutes for 100 000) or outruns the SIP transaction table. Set, the
    /// config is refused with an error saying so.
    #[serde(default, skip_serializing)]
    pub restore_per_sec: Option<u32>,
}

impl StoreConfig {
    /// What the store needs of this section.
    pub fn settings(&self) -> crate::store::Settings {
        crate::store::Settings {
            path: self.path.clone(),
            url: self.url.clone(),
            instance: self.instance.clone(),
            lease: Duration::from_millis(self.lease_ms),
        }
    }
}

/// `[messages]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesConfig {
    /// `type` of `<message/>` built from SIP MESSAGE: `normal` (no attribute, RFC 7572 §5) or `chat`
    /// for deployments whose clients need it. Default `normal`.
    #[serde(default)]
    pub xmpp_type: XmppMessageType,
    /// Whether SIP users of other domains are reachable as `user\40domain@component_domain`
    /// (XEP-0106 escaping). Default `false`.
    #[serde(default)]
    pub allow_foreign_domains: bool,
    /// Milliseconds to wait for an XMPP error after handing a SIP MESSAGE to the server before
    /// answering 200. Default 2000.
    #[serde(default = "default_delivery_window_ms")]
    pub delivery_window_ms: u64,
    /// Send XEP-0085 chat states (typing notifications) to SIP as RFC 3994
    /// isComposing MESSAGEs. Default `true`: a peer that answers 415 (baresip) is
    /// remembered and sent none for an hour (RFC 3994 §4). Failures are never
    /// reported to the XMPP sender.
    #[serde(default = "default_true")]
    pub send_chat_states: bool,
    /// Carry receipts: XEP-0184 `<request/>`/`<received/>` and XEP-0333
    /// `<markable/>`/`<displayed/>` ↔ RFC 5438 IMDN (CPIM-wrapped MESSAGEs).
    /// Default `true`. A peer that answers 415 to CPIM gets plain text without the request.
    #[serde(default = "default_true")]
    pub receipts: bool,
}

/// `[limits]`: every bound of design §5 not already under `[sip]`/`[xmpp]`
/// (`sip.max_message_bytes`, `xmpp.max_stanza_bytes`, `xmpp.max_depth` and
/// `xmpp.queue_capacity` stay where the contract put them).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Most header fields in one SIP message (400 beyond it). Default 128.
    pub sip_max_headers: usize,
    /// Longest SIP start line or header field, in bytes (400 beyond it). Default 8192.
    pub sip_max_line_bytes: usize,
    /// Most SIP transactions waiting for an answer at once: requests Parley
    /// has not answered finally yet, requests it sent that have no final
    /// response yet, INVITE transactions until they end (503 + Retry-After
    /// beyond it). Completed transactions count under
    /// `sip_completed_transactions` instead. Default 65536.
    pub sip_pending_transactions: usize,
    /// Most completed SIP transactions held at once: answered requests kept
    /// for Timer J (64·T1 = 32 s over UDP) to answer a retransmission with
    /// the same response, and sent requests kept for Timer K (T4 = 5 s) to
    /// absorb retransmitted responses (RFC 3261 §17.2.2, §17.1.2.2). An
    /// answered request is never forgotten early (its retransmission would
    /// be delivered twice), so a new request gets 503 + Retry-After while
    /// completed and unanswered requests together reach this. It sustains
    /// this / 32 s new UDP requests a second (16 384/s at the default) in
    /// at most about 0.9 KB each. Default 524288.
    pub sip_completed_transactions: usize,
    /// SIP requests queued for the router (503 + Retry-After when full). Default 1024.
    pub sip_incoming_queue: usize,
    /// Retry-After seconds on 503 for a full queue or too many transactions. Default 5.
    pub sip_retry_after_secs: u32,
    /// Most simultaneous inbound SIP TCP/TLS connections. Default 1024.
    pub sip_max_connections: usize,
    /// Receive buffer asked for on SIP UDP sockets, in bytes (0: the kernel's
    /// default; the kernel caps it at `net.core.rmem_max`). Default 4 MiB.
    pub sip_udp_recv_buffer_bytes: usize,
    /// New SIP requests per second each source address may send (token bucket rate;
    /// 0 turns the limit off). Over it: 503 + Retry-After. `sip.trusted_peers` are
    /// exempt (a proxy carries many users from one address). Default 50.
    pub sip_requests_per_second: u32,
    /// Requests a SIP source may send at once above its rate (bucket size). Default 100.
    pub sip_request_burst: u32,
    /// Source addresses tracked for the rate; sources beyond share one bucket. Default 10000.
    pub sip_rate_sources: usize,
    /// Over UDP, 503s sent to an over-rate source before its excess is dropped
    /// unanswered (no reflection, RFC 3261 §21.5.4). Default 10.
    pub sip_rate_refusals_before_silence: u32,
    /// Stanzas per second each XMPP sender (bare JID) may send to SIP users (0: off).
    /// Over it, stanzas wait in the sender's queue and go out at this rate, in
    /// order; replies to Parley's own requests (errors, IQ results) are never
    /// held. Default 100.
    pub xmpp_stanzas_per_second: u32,
    /// Stanzas an XMPP sender may send at once above its rate before they wait. Default 100.
    pub xmpp_stanza_burst: u32,
    /// Stanzas that may wait for one XMPP sender's rate; beyond, `resource-constraint`
    /// (type `wait`, RFC 6120 §8.3.3.18). Default 1000.
    pub xmpp_sender_queue: usize,
    /// Stanzas that may wait across all XMPP senders (a memory bound: at most this
    /// many times `xmpp.max_stanza_bytes`); beyond, `resource-constraint`. Default 10000.
    pub xmpp_queued_stanzas: usize,
    /// XMPP senders tracked for the rate; senders beyond share one rate and one queue.
    /// Default 10000.
    pub xmpp_rate_senders: usize,
    /// Presence subscriptions one user may hold through the gateway, per direction
    /// (SIP subscriber → XMPP: 403; XMPP subscriber → SIP: `policy-violation`). Default 100.
    pub subscriptions_per_user: usize,
}

/// `[shutdown]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// Milliseconds SIGTERM/SIGINT waits for SIP peers to answer requests
    /// already sent (MESSAGE, NOTIFY, SUBSCRIBE). When it runs out, the XMPP
    /// senders still waiting get `remote-server-timeout` and Parley stops;
    /// it exits within this plus 1 s whatever the peers do. Default 5000.
    pub grace_ms: u64,
}

/// `[runtime]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Worker threads of the async runtime; `1` by default, `0` is one per
    /// core (or `TOKIO_WORKER_THREADS` if set). The message path is one
    /// pipeline (the UDP reader, the router, the component writer) whose
    /// tasks wake each other for every message: on several workers a wake
    /// often crosses threads (a parked worker woken, a futex and, on a VM,
    /// an interrupt to another core), which doubled the CPU per message on
    /// the development VM (bench/RESULTS.md, "One worker by default"). One
    /// worker is one core at most: there, with the load tool on the same
    /// two cores, 23 000–26 000 translated messages a second, above
    /// Prosody's own ceiling (about 17 000); more workers, or more
    /// instances, where that is not enough. At most [`MAX_WORKER_THREADS`].
    pub worker_threads: usize,
    /// Whether the process may use transparent huge pages (Linux). `false`
    /// (the default) turns them off for the process at start-up
    /// (`prctl(PR_SET_THP_DISABLE)`): the completed transactions held for
    /// Timer J are allocated and freed in arrival order, the allocator
    /// returns freed pages to the kernel, and with huge pages every page
    /// touched again after that is a fresh 2 MiB page to clear, where it is
    /// 4 KiB without (bench/RESULTS.md).
    pub transparent_huge_pages: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            worker_threads: 1,
            transparent_huge_pages: false,
        }
    }
}

/// The most `runtime.worker_threads` may ask for.
pub const MAX_WORKER_THREADS: usize = 1024;

/// `[sessions]`: RFC 7573 chat sessions, a SIP INVITE that sets up an MSRP
/// session (RFC 4975) whose messages become `<message type='chat'/>`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsConfig {
    /// Accept INVITEs for MSRP chat sessions (RFC 7573 §5). Default `false`
    /// (it opens the MSRP port): INVITE is then refused with 405 and chat
    /// goes by SIP MESSAGE only.
    pub enabled: bool,
    /// Where to accept plain `msrp` (TCP) connections from phones, as
    /// `ip:port` (`:0` picks a free port). Parley answers offers as the
    /// passive side (RFC 4975 §5.4: the offerer connects). Default `0.0.0.0:2855`.
    pub msrp_listen: SocketAddr,
    /// Where to accept `msrps` (MSRP over TLS, RFC 4975 §14) connections, as
    /// `ip:port`; off when absent. The certificate and key are `[sip.tls]`'s
    /// and must name `msrp_host` (§5.4). When set, Parley answers offers of
    /// `TCP/TLS/MSRP` and its own offers use TLS. Default: none.
    pub msrps_listen: Option<SocketAddr>,
    /// The host written in the SDP answer's `a=path` and `c=` line, which
    /// phones connect to. Default: the IP of `msrp_listen` (set it when that
    /// is `0.0.0.0` or behind NAT).
    pub msrp_host: Option<String>,
    /// Largest MSRP message accepted, in bytes, after reassembly; sent as
    /// `a=max-size`, and a larger one is refused with 413 (RFC 7573 §8).
    /// Keep it at or below the XMPP server's stanza limit (RFC 6120 §13.12
    /// allows no server less than 10 000 bytes, so 10 000 is always safe);
    /// it may not exceed `xmpp.max_stanza_bytes`. Default 65536.
    pub max_message_bytes: u64,
    /// Chat sessions open at once; beyond, an INVITE gets 503 + Retry-After
    /// (`limits.sip_retry_after_secs`). Default 1000.
    pub max_sessions: usize,
    /// Chat sessions one user (either side) may have open at once; beyond,
    /// an INVITE gets 486 Busy Here. Default 10.
    pub max_sessions_per_user: usize,
    /// Seconds without a message either way after which a session ends:
    /// BYE to the phone and `<gone/>` to the XMPP user. Default 600.
    pub idle_secs: u64,
    /// Who starts sessions from the XMPP side (RFC 7573 §4). `auto`: an
    /// XMPP chat message goes into a session already open for the pair,
    /// else as SIP MESSAGE. `always`: a chat message with a body for a SIP
    /// user with no session starts one (INVITE with an MSRP offer); if the
    /// phone refuses it or does not answer, the message goes as SIP MESSAGE.
    /// Default `auto`.
    pub start: SessionStart,
    /// Seconds Parley waits for the final answer to its INVITE before it
    /// cancels it and sends the held messages as SIP MESSAGE. Default 30
    /// (below Timer B's 32 s, RFC 3261 §17.1.1.2).
    pub answer_secs: u64,
    /// Seconds after a refused or unanswered session during which a SIP
    /// user gets SIP MESSAGEs without a new INVITE. Default 3600.
    pub fallback_secs: u64,
}

/// `sessions.start`: who opens chat sessions from the XMPP side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStart {
    /// Only sessions the SIP user opened carry XMPP messages.
    #[default]
    Auto,
    /// Every new conversation from XMPP starts a session.
    Always,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            msrp_listen: SocketAddr::from(([0, 0, 0, 0], 2855)),
            msrp_host: None,
            msrps_listen: None,
            max_message_bytes: 65_536,
            max_sessions: 1000,
            max_sessions_per_user: 10,
            idle_secs: 600,
            start: SessionStart::Auto,
            answer_secs: 30,
            fallback_secs: 3600,
        }
    }
}

impl SessionsConfig {
    /// The host phones are told to connect to (`msrp_host`, else the listen IP).
    pub fn advertised_host(&self) -> String {
        self.msrp_host
            .clone()
            .unwrap_or_else(|| self.msrp_listen.ip().to_string())
    }
}

/// `[trunk]`: Parley registers its contact at a carrier's registrar (an
/// SBC that expects its gateways to register), with digest credentials,
/// and keeps the binding refreshed (RFC 3261 §10.2).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// The registrar, a `sip:` or `sips:` URI: the REGISTER's Request-URI
    /// (RFC 3261 §10.2), located as any request (`sip.outbound_proxy`, RFC 3263). Required.
    pub registrar: String,
    /// The address-of-record registered, a `sip:`/`sips:` URI with a user
    /// part (the REGISTER's To and From). Required.
    pub aor: String,
    /// The digest username (RFC 3261 §22.4). Required.
    pub username: String,
    /// The digest password; never logged or printed. Exactly one of
    /// `password` and `password_file`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// A file holding the password (a trailing line break is dropped), read at start.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The binding lifetime asked for, seconds; the registrar decides
    /// (RFC 3261 §10.2.1.1) and a 423 raises it (§10.2.8). Between 1 and
    /// 86400; default 3600.
    #[serde(default = "default_trunk_expires")]
    pub expires: u32,
    /// The user part of the Contact registered (`sip:<contact_user>@<our
    /// address>`). Default: the user part of `aor`.
    #[serde(default)]
    pub contact_user: Option<String>,
    /// The first wait after a failed registration, ms; it doubles with
    /// each failure in a row (with jitter). Default 1000.
    #[serde(default = "default_trunk_retry_min_ms")]
    pub retry_min_ms: u64,
    /// The longest wait between failed registrations, ms. Default 300000.
    #[serde(default = "default_trunk_retry_max_ms")]
    pub retry_max_ms: u64,
}

impl TrunkConfig {
    /// The password, from `password` or read from `password_file`.
    pub fn read_password(&self) -> Result<Secret, ConfigError> {
        match (&self.password, &self.password_file) {
            (Some(p), None) => Ok(p.clone()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
                    key: "trunk.password_file".to_owned(),
                    reason: format!("cannot read {}: {e}", path.display()),
                })?;
                let password = text.strip_suffix('\n').unwrap_or(&text);
                let password = password.strip_suffix('\r').unwrap_or(password);
                if password.is_empty() {
                    return Err(ConfigError::Invalid {
                        key: "trunk.password_file".to_owned(),
                        reason: format!("{} is empty", path.display()),
                    });
                }
                Ok(Secret(password.to_owned()))
            }
            _ => Err(ConfigError::Invalid {
                key: "trunk.password".to_owned(),
                reason: "set exactly one of trunk.password and trunk.password_file".to_owned(),
            }),
        }
    }

    /// The Contact's user part: `contact_user`, else the AOR's user.
    pub fn contact_user(&self) -> String {
        self.contact_user.clone().unwrap_or_else(|| {
            self.aor
                .split_once(':')
                .and_then(|(_, rest)| rest.split_once('@'))
                .map(|(user, _)| user.to_owned())
                .unwrap_or_default()
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: &str| ConfigError::Invalid {
            key: key.to_owned(),
            reason: reason.to_owned(),
        };
        let sip_uri = |key: &str, value: &str| match parley_sip::wire::uri::Uri::parse(value) {
            Ok(uri) if matches!(uri.scheme(), "sip" | "sips") => Ok(()),
            _ => Err(invalid(key, "expected a sip: or sips: URI")),
        };
        sip_uri("trunk.registrar", &self.registrar)?;
        sip_uri("trunk.aor", &self.aor)?;
        if !self.aor.contains('@') {
            return Err(invalid("trunk.aor", "needs a user part (sip:user@domain)"));
        }
        if self.username.is_empty() || self.username.chars().any(char::is_control) {
            return Err(invalid(
                "trunk.username",
                "empty or with control characters",
            ));
        }
        if let Some(path) = &self.password_file
            && !path.is_file()
        {
            return Err(invalid(
                "trunk.password_file",
                &format!("{} is not a readable file", path.display()),
            ));
        }
        if self.password.is_some() == self.password_file.is_some() {
            return Err(invalid(
                "trunk.password",
                "set exactly one of trunk.password and trunk.password_file",
            ));
        }
        if !(1..=86_400).contains(&self.expires) {
            return Err(invalid("trunk.expires", "must be between 1 and 86400"));
        }
        let user = self.contact_user();
        if user.is_empty()
            || !user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b))
        {
            return Err(invalid(
                "trunk.contact_user",
                "must be a non-empty SIP user part (RFC 3261 §25.1 unreserved and user-unreserved)",
            ));
        }
        if self.retry_min_ms == 0 || self.retry_min_ms > self.retry_max_ms {
            return Err(invalid(
                "trunk.retry_min_ms",
                "must be at least 1 and at most trunk.retry_max_ms",
            ));
        }
        Ok(())
    }
}

/// `[registrar]`: for deployments without a SIP proxy, Parley accepts
/// REGISTER from the phones of `sip.domain` (RFC 3261 §10.3), authenticated
/// by digest (RFC 7616, RFC 8760) against its users (`users`), and routes
/// requests to SIP users through their registered contacts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrarConfig {
    /// Where the users are: `file` (`users_file`, re-read when it changes) or `store` (the
    /// `sip_users` table of `[store]`, shared by every instance of a PostgreSQL store). Default
    /// `file`. Both hold digest hashes only; `parley user add|remove|list` manages either.
    #[serde(default)]
    pub users: UsersSource,
    /// The users file: lines `user:realm:ha1-md5:ha1-sha256` (hashes, never
    /// passwords). Required with `users = "file"`, refused with `"store"`.
    #[serde(default)]
    pub users_file: Option<PathBuf>,
    /// The digest realm. Default: `sip.domain`.
    #[serde(default)]
    pub realm: Option<String>,
    /// Shortest binding accepted, seconds; below it, 423 with Min-Expires
    /// (RFC 3261 §10.3 step 7). Default 60.
    #[serde(default = "default_registrar_min_expires")]
    pub min_expires: u32,
    /// Longest binding granted, seconds (longer requests are shortened,
    /// RFC 3261 §10.3 step 7). Default 3600.
    #[serde(default = "default_registrar_max_expires")]
    pub max_expires: u32,
    /// How long a nonce is accepted before `stale=true`, seconds. Default 300.
    #[serde(default = "default_registrar_nonce_secs")]
    pub nonce_secs: u32,
    /// The digest algorithms challenged with and accepted, most preferred
    /// first (RFC 8760 §2.3): `"SHA-256"`, `"MD5"`. Default both, SHA-256
    /// first. `["MD5"]` serves phones that answer only the topmost challenge
    /// and know only MD5 (sipp 3.6); `["SHA-256"]` drops MD5.
    #[serde(default = "default_registrar_algorithms")]
    pub algorithms: Vec<String>,
    /// REGISTERs per second one source address may send (token bucket; 0:
    /// off); over it, 503 + Retry-After (RFC 3261 §21.5.4). Default 10.
    #[serde(default = "default_registrar_registers_per_second")]
    pub registers_per_second: u32,
    /// REGISTERs a source may send at once above that rate. Default 20.
    #[serde(default = "default_registrar_register_burst")]
    pub register_burst: u32,
    /// Most contacts bound to one address-of-record (1–1000); a REGISTER
    /// that would leave more gets 403 and changes nothing. Default 10.
    #[serde(default = "default_registrar_max_contacts")]
    pub max_contacts: usize,
}

/// `registrar.users`: where the registrar's users are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UsersSource {
    /// `registrar.users_file`, one process's.
    #[default]
    File,
    /// The store's `sip_users` table.
    Store,
}

impl RegistrarConfig {
    /// `algorithms` as digest algorithms; validated by `validate`.
    pub fn digest_algorithms(&self) -> Vec<parley_sip::auth::Algorithm> {
        self.algorithms
            .iter()
            .map(|a| parley_sip::auth::Algorithm::parse(a))
            .collect()
    }

    /// The realm: `realm`, else `sip_domain`.
    pub fn realm_or<'a>(&'a self, sip_domain: &'a str) -> &'a str {
        self.realm.as_deref().unwrap_or(sip_domain)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: &str| ConfigError::Invalid {
            key: key.to_owned(),
            reason: reason.to_owned(),
        };
        match (self.users, &self.users_file) {
            (UsersSource::File, None) => {
                return Err(invalid(
                    "registrar.users_file",
                    "required with registrar.users = \"file\"",
                ));
            }
            (UsersSource::File, Some(path)) => {
                if let Err(e) = crate::users_file::UsersFile::load(path) {
                    return Err(invalid("registrar.users_file", &e.to_string()));
                }
            }
            (UsersSource::Store, Some(_)) => {
                return Err(invalid(
                    "registrar.users_file",
                    "not read with registrar.users = \"store\": remove it",
                ));
            }
            (UsersSource::Store, None) => {}
        }
        if let Some(realm) = &self.realm
            && (realm.is_empty()
                || realm.contains([':', '"', '\\'])
                || realm.chars().any(char::is_control))
        {
            return Err(invalid(
                "registrar.realm",
                "empty, or holds ':', a quote, a backslash or a control character",
            ));
        }
        if self.min_expires == 0 || self.min_expires > self.max_expires {
            return Err(invalid(
                "registrar.min_expires",
                "must be at least 1 and at most registrar.max_expires",
            ));
        }
        if self.max_expires > 86_400 {
            return Err(invalid("registrar.max_expires", "must not exceed 86400"));
        }
        let algorithms = self.digest_algorithms();
        let known = |a: &parley_sip::auth::Algorithm| {
            matches!(
                a,
                parley_sip::auth::Algorithm::Md5 | parley_sip::auth::Algorithm::Sha256
            )
        };
        let repeated = (1..algorithms.len()).any(|i| algorithms[..i].contains(&algorithms[i]));
        if algorithms.is_empty() || repeated || !algorithms.iter().all(known) {
            return Err(invalid(
                "registrar.algorithms",
                "one or both of \"SHA-256\" and \"MD5\", each at most once",
            ));
        }
        if !(10..=3600).contains(&self.nonce_secs) {
            return Err(invalid(
                "registrar.nonce_secs",
                "must be between 10 and 3600",
            ));
        }
        if !(1..=1000).contains(&self.max_contacts) {
            return Err(invalid(
                "registrar.max_contacts",
                "must be between 1 and 1000",
            ));
        }
        Ok(())
    }
}

/// `[log]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (human-readable) or `json`. Default `text`.
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `parley=debug`; `RUST_LOG` wins when set. Default `info`.
    #[serde(default = "default_log_level")]
    pub level: String,
}

/// The `type` Parley gives XMPP messages translated from SIP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum XmppMessageType {
    /// No `type` attribute: `normal` (RFC 7572 §5).
    #[default]
    Normal,
    /// `type='chat'`.
    Chat,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A secret that never appears in logs or printed configs.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// A `store.instance` name: it becomes part of a PostgreSQL channel name
/// (at most 63 bytes) and of log lines.
fn is_instance_name(name: &str) -> bool {
    (1..=48).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Why a configuration was refused. The message always names the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read or parsed, or a key is unknown or of the wrong type.
    #[error("{0}")]
    Load(#[source] config::ConfigError),
    /// A value parsed but is not acceptable.
    #[error("invalid value for `{key}`: {reason}")]
    Invalid {
        /// The dotted key, e.g. `sip.listen[1]`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Config {
    /// Load `path` (TOML) with `PARLEY_<SECTION>__<KEY>` overrides from `env`, then validate.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// [`Config::load`] with an explicit environment, for tests.
    pub fn load_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let config = Self::parse_with_env(path, env)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads `path` and the environment without [`Config::validate`]: for
    /// `parley user add`, whose users file may not exist yet.
    pub fn load_unvalidated(path: &Path) -> Result<Self, ConfigError> {
        Self::parse_with_env(path, std::env::vars())
    }

    fn parse_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        // Only `PARLEY_<SECTION>__<KEY>` names are config keys. Others that
        // merely start with PARLEY_ — Kubernetes service links for a Service
        // named `parley` (`PARLEY_SIP_SERVICE_HOST`, `PARLEY_PORT_5060_UDP` …)
        // — are not ours and must not stop the gateway.
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| {
                k.strip_prefix("PARLEY_")
                    .is_some_and(|rest| rest.contains("__"))
            })
            .collect();
        let raw = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("PARLEY")
                    .prefix_separator("_")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("sip.listen")
                    .with_list_parse_key("sip.dns_servers")
                    .with_list_parse_key("sip.trusted_peers")
                    .try_parsing(true)
                    .source(Some(env)),
            )
            .build()
            .map_err(ConfigError::Load)?;
        raw.try_deserialize().map_err(ConfigError::Load)
    }

    /// Check the values that parse but could still be wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: &str| ConfigError::Invalid {
            key: key.to_owned(),
            reason: reason.to_owned(),
        };
        if !is_domain(&self.xmpp.component_domain) {
            return Err(invalid("xmpp.component_domain", "not a domain name"));
        }
        if !is_domain(&self.sip.domain) {
            return Err(invalid("sip.domain", "not a domain name"));
        }
        if self
            .xmpp
            .server
            .rsplit_once(':')
            .is_none_or(|(_, p)| p.parse::<u16>().is_err())
        {
            return Err(invalid("xmpp.server", "expected host:port"));
        }
        // Every [xmpp] TLS value is parsed and loaded here by the conversion
        // the running gateway uses.
        self.component_tls()?;
        if self.xmpp.secret.expose().is_empty() {
            return Err(invalid("xmpp.secret", "must not be empty"));
        }
        if self.xmpp.queue_capacity == 0 {
            return Err(invalid("xmpp.queue_capacity", "must be at least 1"));
        }
        if self.runtime.worker_threads > MAX_WORKER_THREADS {
            return Err(invalid(
                "runtime.worker_threads",
                "at most 1024 (0: one per core)",
            ));
        }
        if self.xmpp.reconnect_min_ms == 0
            || self.xmpp.reconnect_min_ms > self.xmpp.reconnect_max_ms
        {
            return Err(invalid(
                "xmpp.reconnect_min_ms",
                "must be positive and not above xmpp.reconnect_max_ms",
            ));
        }
        if self.sessions.max_message_bytes == 0
            || self.sessions.max_message_bytes
                > u64::try_from(self.xmpp.max_stanza_bytes).unwrap_or(u64::MAX)
        {
            // RFC 7573 §8: the gateway's MSRP limit is "the same or smaller"
            // than the XMPP stanza limit.
            return Err(invalid(
                "sessions.max_message_bytes",
                "must be positive and not above xmpp.max_stanza_bytes",
            ));
        }
        if self.sessions.max_sessions == 0 || self.sessions.max_sessions_per_user == 0 {
            return Err(invalid(
                "sessions.max_sessions",
                "max_sessions and max_sessions_per_user must be at least 1",
            ));
        }
        if let Some((key, reason)) = self.groupchat.problem(
            self.sessions.enabled,
            self.sessions.max_message_bytes,
            &self.xmpp.component_domain,
        ) {
            return Err(invalid(key, reason));
        }
        if let Some((key, reason)) = self
            .conference
            .problem(self.sessions.enabled, self.sessions.max_message_bytes)
        {
            return Err(invalid(key, reason));
        }
        if self.sessions.idle_secs == 0 {
            return Err(invalid("sessions.idle_secs", "must be at least 1"));
        }
        if self.sessions.answer_secs == 0 {
            return Err(invalid("sessions.answer_secs", "must be at least 1"));
        }
        if self.sessions.msrp_host.as_deref() == Some("") {
            return Err(invalid("sessions.msrp_host", "must not be empty"));
        }
        if self.sessions.msrps_listen.is_some()
            && !self
                .sip
                .tls
                .as_ref()
                .is_some_and(|t| t.cert.is_some() && t.key.is_some())
        {
            return Err(invalid(
                "sessions.msrps_listen",
                "msrps needs sip.tls.cert and sip.tls.key",
            ));
        }
        if self.sip.listen.is_empty() {
            return Err(invalid(
                "sip.listen",
                "at least one listen address is needed",
            ));
        }
        // Every SIP string is parsed here, once, by the conversion the
        // running gateway uses: what passes check-config cannot fail later.
        let endpoint = self.endpoint_config()?;
        if endpoint
            .listen
            .iter()
            .any(|l| l.transport == Transport::Tls)
        {
            let tls = self.sip.tls.as_ref();
            if tls.and_then(|t| t.cert.as_ref()).is_none() {
                return Err(invalid(
                    "sip.tls.cert",
                    "a tls: listener needs a certificate",
                ));
            }
            if tls.and_then(|t| t.key.as_ref()).is_none() {
                return Err(invalid(
                    "sip.tls.key",
                    "a tls: listener needs a private key",
                ));
            }
        }
        if let Some(tls) = &self.sip.tls {
            for (key, path) in [
                ("sip.tls.cert", &tls.cert),
                ("sip.tls.key", &tls.key),
                ("sip.tls.ca", &tls.ca),
            ] {
                if let Some(p) = path
                    && !p.is_file()
                {
                    return Err(invalid(
                        key,
                        &format!("{} is not a readable file", p.display()),
                    ));
                }
            }
            if tls.require_client_cert && tls.ca.is_none() {
                return Err(invalid("sip.tls.ca", "require_client_cert needs a CA"));
            }
        }
        if let Some(proxy) = &self.sip.outbound_proxy
            && !(proxy.starts_with("sip:") || proxy.starts_with("sips:"))
        {
            return Err(invalid(
                "sip.outbound_proxy",
                "expected a sip: or sips: URI",
            ));
        }
        for (i, domain) in self.xmpp.user_domains.iter().enumerate() {
            if !is_domain(domain) {
                return Err(invalid(
                    &format!("xmpp.user_domains[{i}]"),
                    "not a domain name",
                ));
            }
        }
        if self.sip.trusted_peers.iter().any(|p| p.starts_with("tls:"))
            && !self.sip.tls.as_ref().is_some_and(|t| t.require_client_cert)
        {
            return Err(invalid(
                "sip.trusted_peers",
                "tls: entries need sip.tls.require_client_cert = true (only a verified client certificate names a peer)",
            ));
        }
        if self.store.restore_per_sec.is_some() {
            return Err(invalid(
                "store.restore_per_sec",
                "removed: the restore is paced by store.restore_in_flight (requests in flight at once), not by a rate; delete this key",
            ));
        }
        if self.store.restore_in_flight == 0 {
            return Err(invalid("store.restore_in_flight", "must be at least 1"));
        }
        if let Err(reason) = self.store.url.check() {
            return Err(invalid("store.url", &reason));
        }
        if let Some(instance) = &self.store.instance
            && !is_instance_name(instance)
        {
            return Err(invalid(
                "store.instance",
                "expected 1 to 48 of A-Z a-z 0-9 . _ -",
            ));
        }
        if self.store.lease_ms < 1000 {
            return Err(invalid("store.lease_ms", "must be at least 1000"));
        }
        let l = &self.limits;
        for (key, value, min) in [
            ("limits.sip_max_headers", l.sip_max_headers, 16),
            ("limits.sip_max_line_bytes", l.sip_max_line_bytes, 256),
            (
                "limits.sip_pending_transactions",
                l.sip_pending_transactions,
                1,
            ),
            (
                "limits.sip_completed_transactions",
                l.sip_completed_transactions,
                1,
            ),
            ("limits.sip_incoming_queue", l.sip_incoming_queue, 1),
            ("limits.sip_max_connections", l.sip_max_connections, 1),
            ("limits.sip_rate_sources", l.sip_rate_sources, 1),
            ("limits.xmpp_sender_queue", l.xmpp_sender_queue, 1),
            ("limits.xmpp_queued_stanzas", l.xmpp_queued_stanzas, 1),
            ("limits.xmpp_rate_senders", l.xmpp_rate_senders, 1),
            ("limits.subscriptions_per_user", l.subscriptions_per_user, 1),
        ] {
            if value < min {
                return Err(invalid(key, &format!("must be at least {min}")));
            }
        }
        if l.sip_retry_after_secs == 0 {
            // RFC 3261 §20.33: "a positive integer number of seconds".
            return Err(invalid("limits.sip_retry_after_secs", "must be at least 1"));
        }
        if l.sip_requests_per_second > 0 && l.sip_request_burst == 0 {
            return Err(invalid("limits.sip_request_burst", "must be at least 1"));
        }
        if l.xmpp_stanzas_per_second > 0 && l.xmpp_stanza_burst == 0 {
            return Err(invalid("limits.xmpp_stanza_burst", "must be at least 1"));
        }
        if l.xmpp_queued_stanzas < l.xmpp_sender_queue {
            return Err(invalid(
                "limits.xmpp_queued_stanzas",
                "must be at least limits.xmpp_sender_queue",
            ));
        }
        if self.sip.max_message_bytes < 1024 {
            return Err(invalid("sip.max_message_bytes", "must be at least 1024"));
        }
        if !(10..=10_000).contains(&self.sip.t1_ms) {
            return Err(invalid("sip.t1_ms", "must be between 10 and 10000"));
        }
        if self.metrics.listen.parse::<SocketAddr>().is_err() {
            return Err(invalid("metrics.listen", "expected IP:PORT"));
        }
        if self.messages.delivery_window_ms > 30_000 {
            return Err(invalid(
                "messages.delivery_window_ms",
                "must not exceed 30000 (SIP Timer F is 32 s)",
            ));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(invalid("log.level", "not a tracing filter"));
        }
        if let Some(registrar) = &self.registrar {
            registrar.validate()?;
        }
        if let Some(trunk) = &self.trunk {
            trunk.validate()?;
            let registrar = trunk.registrar.to_ascii_lowercase();
            if (registrar.starts_with("sips:") || registrar.contains(";transport=tls"))
                && self.sip.tls.is_none()
            {
                return Err(invalid(
                    "trunk.registrar",
                    "a sips: or transport=tls registrar needs [sip.tls]",
                ));
            }
        }
        Ok(())
    }

    /// The SIP endpoint's configuration: the one place the `[sip]` strings
    /// (listen addresses, DNS servers, `advertise`, trusted peers) become
    /// typed values. `validate` calls it, so a value that would fail here
    /// stops `check-config` and the start, naming its key; nothing falls
    /// back to a default in silence.
    pub fn endpoint_config(&self) -> Result<EndpointConfig, ConfigError> {
        let invalid = |key: &str, reason: &str| ConfigError::Invalid {
            key: key.to_owned(),
            reason: reason.to_owned(),
        };
        let listen = self
            .sip
            .listen
            .iter()
            .enumerate()
            .map(|(i, a)| {
                a.parse::<ListenAddr>()
                    .map_err(|e| invalid(&format!("sip.listen[{i}]"), &e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let nameservers = self
            .sip
            .dns_servers
            .iter()
            .enumerate()
            .map(|(i, server)| {
                parse_dns_server(server).ok_or_else(|| {
                    invalid(&format!("sip.dns_servers[{i}]"), "expected IP:PORT or IP")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let advertise = self
            .sip
            .advertise
            .as_deref()
            .map(|a| {
                a.parse::<parley_sip::config::Advertise>()
                    .map_err(|e| invalid("sip.advertise", &e))
            })
            .transpose()?;
        let trusted = TrustedPeers::parse(&self.sip.trusted_peers)
            .map_err(|e| invalid("sip.trusted_peers", &e.to_string()))?;
        Ok(EndpointConfig {
            listen,
            outbound_proxy: self.sip.outbound_proxy.clone(),
            advertise,
            dns: DnsConfig {
                nameservers,
                ..DnsConfig::default()
            },
            user_agent: self.sip.user_agent.clone(),
            limits: self.sip_limits(),
            timers: Timers {
                t1: Duration::from_millis(self.sip.t1_ms),
                ..Timers::default()
            },
            credentials: self
                .sip
                .credentials
                .iter()
                .map(|c| Credential {
                    realm: c.realm.clone(),
                    username: c.username.clone(),
                    password: c.password.expose().to_owned(),
                })
                .collect(),
            // The trusted peers are exempt from the per-source rate: a
            // carrier proxy carries every user's traffic from one address.
            rate_exempt: trusted,
            tls: self.sip.tls.as_ref().map(|t| TlsConfig {
                cert: t.cert.clone(),
                key: t.key.clone(),
                ca: t.ca.clone(),
                require_client_cert: t.require_client_cert,
            }),
        })
    }

    /// The component link's configuration (XEP-0114), beside the SIP one:
    /// `[xmpp]` values are plain numbers and strings, checked by `validate`;
    /// the TLS settings load the CA file ([`Config::component_tls`]).
    pub fn component_config(&self) -> Result<ComponentConfig, ConfigError> {
        let x = &self.xmpp;
        Ok(ComponentConfig {
            server: x.server.clone(),
            tls: self.component_tls()?,
            component_domain: x.component_domain.clone(),
            secret: x.secret.expose().to_owned(),
            queue_capacity: x.queue_capacity,
            max_stanza_bytes: x.max_stanza_bytes,
            max_depth: x.max_depth,
            keepalive_interval: Duration::from_secs(x.keepalive_secs),
            reconnect_min: Duration::from_millis(x.reconnect_min_ms),
            reconnect_max: Duration::from_millis(x.reconnect_max_ms),
            disco_name: "Parley SIP gateway".to_owned(),
            disco_features: crate::disco::component_features(
                self.messages.receipts,
                self.messages.send_chat_states,
            ),
            // The store's instance, known once it is open (`lib.rs`, `ping.rs`).
            keepalive_id_prefix: parley_xmpp::component::KEEPALIVE_ID_PREFIX.to_owned(),
        })
    }

    /// The component link's TLS settings, CA file loaded: what `validate`
    /// checks and `run` uses.
    pub fn component_tls(&self) -> Result<ComponentTls, ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            key: key.to_owned(),
            reason,
        };
        let x = &self.xmpp;
        match x.tls {
            XmppTls::None if x.require_tls => Err(invalid(
                "xmpp.tls",
                "xmpp.require_tls is set: use \"direct\" (the component stream may not run in clear)"
                    .to_owned(),
            )),
            XmppTls::None => Ok(ComponentTls::None),
            XmppTls::Direct => {
                let name = match &x.tls_name {
                    Some(name) => name.clone(),
                    None => server_host(&x.server)
                        .ok_or_else(|| invalid("xmpp.server", "expected host:port".to_owned()))?
                        .to_owned(),
                };
                DirectTls::new(x.tls_ca.as_deref(), &name)
                    .map(ComponentTls::Direct)
                    .map_err(|e| {
                        let key = match e {
                            TlsSetupError::BadName { .. } => "xmpp.tls_name",
                            _ => "xmpp.tls_ca",
                        };
                        invalid(key, e.to_string())
                    })
            }
        }
    }

    /// The effective configuration as TOML, secrets masked.
    pub fn to_masked_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print config: {e}\n"))
    }

    /// The SIP endpoint's bounds from `[limits]` and `sip.max_message_bytes`.
    pub fn sip_limits(&self) -> parley_sip::Limits {
        let l = &self.limits;
        parley_sip::Limits {
            max_message_bytes: self.sip.max_message_bytes,
            max_headers: l.sip_max_headers,
            max_line_bytes: l.sip_max_line_bytes,
            incoming_queue: l.sip_incoming_queue,
            max_pending_transactions: l.sip_pending_transactions,
            max_completed_transactions: l.sip_completed_transactions,
            retry_after_secs: l.sip_retry_after_secs,
            max_connections: l.sip_max_connections,
            udp_recv_buffer_bytes: l.sip_udp_recv_buffer_bytes,
            source_rate: parley_sip::rate::RateLimit {
                per_second: l.sip_requests_per_second,
                burst: l.sip_request_burst,
                max_sources: l.sip_rate_sources,
                refusals_before_silence: l.sip_rate_refusals_before_silence,
            },
            ..parley_sip::Limits::default()
        }
    }

    /// How long a SIP MESSAGE waits for an XMPP error before 200.
    pub fn delivery_window(&self) -> Duration {
        Duration::from_millis(self.messages.delivery_window_ms)
    }

    /// `shutdown.grace_ms` as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown.grace_ms)
    }
}

/// `IP:PORT` (IPv6 as `[::1]:53`) or a bare `IP` on port 53.
fn parse_dns_server(s: &str) -> Option<SocketAddr> {
    s.parse::<SocketAddr>().ok().or_else(|| {
        s.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

fn is_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: default_metrics_listen(),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: default_store_path(),
            url: crate::store::StoreUrl::default(),
            instance: None,
            lease_ms: default_lease_ms(),
            restore_in_flight: default_restore_in_flight(),
            restore_per_sec: None,
        }
    }
}

impl Default for MessagesConfig {
    fn default() -> Self {
        Self {
            xmpp_type: XmppMessageType::default(),
            allow_foreign_domains: false,
            delivery_window_ms: default_delivery_window_ms(),
            send_chat_states: true,
            receipts: true,
        }
    }
}

impl LimitsConfig {
    /// The XMPP senders' rate and queues.
    pub fn xmpp_shaping(&self) -> crate::shaping::ShapingLimit {
        crate::shaping::ShapingLimit {
            per_second: self.xmpp_stanzas_per_second,
            burst: self.xmpp_stanza_burst,
            sender_queue: self.xmpp_sender_queue,
            queued: self.xmpp_queued_stanzas,
            max_senders: self.xmpp_rate_senders,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let sip = parley_sip::Limits::default();
        Self {
            sip_max_headers: sip.max_headers,
            sip_max_line_bytes: sip.max_line_bytes,
            sip_pending_transactions: sip.max_pending_transactions,
            sip_completed_transactions: sip.max_completed_transactions,
            sip_incoming_queue: sip.incoming_queue,
            sip_retry_after_secs: sip.retry_after_secs,
            sip_max_connections: sip.max_connections,
            sip_udp_recv_buffer_bytes: sip.udp_recv_buffer_bytes,
            sip_requests_per_second: sip.source_rate.per_second,
            sip_request_burst: sip.source_rate.burst,
            sip_rate_sources: sip.source_rate.max_sources,
            sip_rate_refusals_before_silence: sip.source_rate.refusals_before_silence,
            xmpp_stanzas_per_second: 100,
            xmpp_stanza_burst: 100,
            xmpp_sender_queue: 1000,
            xmpp_queued_stanzas: 10_000,
            xmpp_rate_senders: 10_000,
            subscriptions_per_user: 100,
        }
    }
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self { grace_ms: 5_000 }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::default(),
            level: default_log_level(),
        }
    }
}

/// The host of `host:port` (`[::1]:5347` gives `::1`).
fn server_host(server: &str) -> Option<&str> {
    let (host, _) = server.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

fn default_queue_capacity() -> usize {
    1024
}
fn default_max_stanza_bytes() -> usize {
    256 * 1024
}
fn default_max_depth() -> usize {
    32
}
fn default_keepalive_secs() -> u64 {
    30
}
fn default_reconnect_min_ms() -> u64 {
    500
}
fn default_reconnect_max_ms() -> u64 {
    30_000
}
fn default_listen() -> Vec<String> {
    vec!["udp:0.0.0.0:5060".to_owned(), "tcp:0.0.0.0:5060".to_owned()]
}
fn default_user_agent() -> String {
    format!("parley/{}", env!("CARGO_PKG_VERSION"))
}
fn default_trusted_peers() -> Vec<String> {
    vec!["127.0.0.0/8".to_owned(), "::1".to_owned()]
}
fn default_max_message_bytes() -> usize {
    64 * 1024
}
fn default_t1_ms() -> u64 {
    500
}
fn default_metrics_listen() -> String {
    "127.0.0.1:9100".to_owned()
}
fn default_store_path() -> PathBuf {
    PathBuf::from("/var/lib/parley")
}
fn default_lease_ms() -> u64 {
    10_000
}

fn default_restore_in_flight() -> usize {
    1024
}
fn default_true() -> bool {
    true
}
fn default_delivery_window_ms() -> u64 {
    2000
}
fn default_registrar_min_expires() -> u32 {
    60
}
fn default_registrar_max_expires() -> u32 {
    3600
}
fn default_registrar_algorithms() -> Vec<String> {
    vec!["SHA-256".to_owned(), "MD5".to_owned()]
}

fn default_registrar_nonce_secs() -> u32 {
    300
}
fn default_registrar_registers_per_second() -> u32 {
    10
}
fn default_registrar_register_burst() -> u32 {
    20
}
fn default_registrar_max_contacts() -> usize {
    10
}
fn default_trunk_expires() -> u32 {
    3600
}
fn default_trunk_retry_min_ms() -> u64 {
    1000
}
fn default_trunk_retry_max_ms() -> u64 {
    300_000
}
fn default_log_level() -> String {
    "info".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[xmpp]
component_domain = "sip.example.net"
server = "127.0.0.1:5347"
secret = "s3cret"

[sip]
domain = "sip.example.net"
listen = ["udp:127.0.0.1:5060"]
"#;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new()
            .suffix(".toml")
            .tempfile()
            .expect("temp file");
        std::io::Write::write_all(&mut f, text.as_bytes()).expect("write config");
        f
    }

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let f = write(text);
        Config::load_with_env(
            f.path(),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = load(MINIMAL, &[]).expect("valid");
        assert_eq!(c.metrics.listen, "127.0.0.1:9100");
        assert_eq!(c.messages.delivery_window_ms, 2000);
        assert_eq!(c.messages.xmpp_type, XmppMessageType::Normal);
        assert_eq!(c.xmpp.max_stanza_bytes, 262_144);
        assert_eq!(c.sip.max_message_bytes, 65_536);
        assert_eq!(c.store.path, PathBuf::from("/var/lib/parley"));
        assert_eq!(c.store.restore_in_flight, 1024);
    }

    /// `runtime.worker_threads`: absent is 1, 0 (one per core) and a count
    /// are taken, a count past the bound is refused naming the key.
    #[test]
    fn worker_threads_default_to_one_and_are_bounded() {
        assert_eq!(load(MINIMAL, &[]).expect("valid").runtime.worker_threads, 1);
        let text = format!("{MINIMAL}\n[runtime]\nworker_threads = 0\n");
        assert_eq!(load(&text, &[]).expect("valid").runtime.worker_threads, 0);
        let text = format!("{MINIMAL}\n[runtime]\nworker_threads = 3\n");
        assert_eq!(load(&text, &[]).expect("valid").runtime.worker_threads, 3);
        assert!(
            !load(MINIMAL, &[])
                .expect("valid")
                .runtime
                .transparent_huge_pages
        );
        let text = format!("{MINIMAL}\n[runtime]\nworker_threads = 1025\n");
        let err = load(&text, &[]).expect_err("too many").to_string();
        assert!(err.contains("runtime.worker_threads"), "{err}");
        let text = format!("{MINIMAL}\n[runtime]\nworkers = 1\n");
        assert!(load(&text, &[]).is_err(), "unknown key taken");
    }

    /// The fixed restore rate is gone; a config that still sets it is told
    /// what replaced it rather than left restoring at its old pace.
    #[test]
    fn restore_per_sec_is_refused_naming_its_replacement() {
        let text = format!("{MINIMAL}\n[store]\nrestore_per_sec = 50\n");
        let err = load(&text, &[]).expect_err("removed key").to_string();
        assert!(err.contains("store.restore_per_sec"), "{err}");
        assert!(err.contains("store.restore_in_flight"), "{err}");
        let text = format!("{MINIMAL}\n[store]\nrestore_in_flight = 0\n");
        let err = load(&text, &[]).expect_err("zero").to_string();
        assert!(err.contains("store.restore_in_flight"), "{err}");
        let text = format!("{MINIMAL}\n[store]\nrestore_in_flight = 64\n");
        assert_eq!(load(&text, &[]).expect("valid").store.restore_in_flight, 64);
    }

    /// `store.url` is empty (SQLite), a PostgreSQL URL, or refused naming the
    /// key without its password.
    #[test]
    fn store_url_is_empty_a_postgres_url_or_refused_without_its_password() {
        let c = load(MINIMAL, &[]).expect("valid");
        assert!(c.store.url.is_embedded());
        assert_eq!(c.store.lease_ms, 10_000);
        assert_eq!(c.store.instance, None);
        for url in [
            "postgres://parley:pw@127.0.0.1:5432/parley",
            "postgresql://db.example/parley?sslmode=require",
        ] {
            let text = format!("{MINIMAL}\n[store]\nurl = \"{url}\"\n");
            let c = load(&text, &[]).expect("valid");
            assert_eq!(c.store.url.expose(), url);
        }
        for url in [
            "mysql://parley:hunter2@db/parley",
            "sqlite:///var/lib/parley/parley.sqlite3",
            "postgres://parley:hunter2@db:notaport/parley",
        ] {
            let text = format!("{MINIMAL}\n[store]\nurl = \"{url}\"\n");
            let err = load(&text, &[]).expect_err(url).to_string();
            assert!(err.contains("store.url"), "{err}");
            assert!(!err.contains("hunter2"), "password in {err}");
        }
        let c = load(
            MINIMAL,
            &[("PARLEY_STORE__URL", "postgres://parley:hunter2@db/parley")],
        )
        .expect("valid");
        let printed = toml::to_string(&c).expect("serialize");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn store_instance_and_lease_are_validated() {
        for (key, value) in [
            ("instance", "\"\""),
            ("instance", "\"has space\""),
            ("instance", "\"a'b\""),
            ("lease_ms", "999"),
        ] {
            let text = format!("{MINIMAL}\n[store]\n{key} = {value}\n");
            let err = load(&text, &[]).expect_err(value).to_string();
            assert!(err.contains(&format!("store.{key}")), "{err}");
        }
        let text = format!("{MINIMAL}\n[store]\ninstance = \"parley-0.gw_1\"\nlease_ms = 1000\n");
        let c = load(&text, &[]).expect("valid");
        assert_eq!(c.store.instance.as_deref(), Some("parley-0.gw_1"));
        assert_eq!(c.store.lease_ms, 1000);
    }

    #[test]
    fn environment_overrides_a_key() {
        let c = load(
            MINIMAL,
            &[
                ("PARLEY_XMPP__SECRET", "from-env"),
                ("PARLEY_MESSAGES__DELIVERY_WINDOW_MS", "150"),
                (
                    "PARLEY_SIP__LISTEN",
                    "udp:127.0.0.1:7000,tcp:127.0.0.1:7000",
                ),
            ],
        )
        .expect("valid");
        assert_eq!(c.xmpp.secret.expose(), "from-env");
        assert_eq!(c.messages.delivery_window_ms, 150);
        assert_eq!(c.sip.listen.len(), 2);
    }

    #[test]
    fn dns_servers_parse_with_or_without_port() {
        let text = MINIMAL.replace(
            "[sip]",
            "[sip]\ndns_servers = [\"127.0.0.1:5353\", \"::1\"]",
        );
        let c = load(&text, &[]).expect("valid");
        assert_eq!(
            c.endpoint_config().expect("valid").dns.nameservers,
            [
                "127.0.0.1:5353".parse::<SocketAddr>().expect("addr"),
                "[::1]:53".parse().expect("addr")
            ]
        );
        let c = load(
            MINIMAL,
            &[("PARLEY_SIP__DNS_SERVERS", "127.0.0.1:5353,127.0.0.2")],
        )
        .expect("valid");
        assert_eq!(c.endpoint_config().expect("valid").dns.nameservers.len(), 2);
        let text = MINIMAL.replace("[sip]", "[sip]\ndns_servers = [\"ns.example.net\"]");
        let err = load(&text, &[]).expect_err("a name").to_string();
        assert!(err.contains("sip.dns_servers[0]"), "{err}");
    }

    #[test]
    fn advertise_is_a_host_with_an_optional_port() {
        let text = MINIMAL.replace("[sip]", "[sip]\nadvertise = \"gw.example.net:5080\"");
        let c = load(&text, &[]).expect("valid");
        assert_eq!(c.sip.advertise.as_deref(), Some("gw.example.net:5080"));
        let c = load(MINIMAL, &[("PARLEY_SIP__ADVERTISE", "[2001:db8::1]")]).expect("valid");
        assert_eq!(c.sip.advertise.as_deref(), Some("[2001:db8::1]"));
        for bad in ["sip:gw.example.net", "gw.example.net:0", "2001:db8::1"] {
            let text = MINIMAL.replace("[sip]", &format!("[sip]\nadvertise = \"{bad}\""));
            let err = load(&text, &[]).expect_err(bad).to_string();
            assert!(err.contains("sip.advertise"), "{bad}: {err}");
        }
    }

    #[test]
    fn kubernetes_service_link_variables_are_not_config_keys() {
        let c = load(
            MINIMAL,
            &[
                ("PARLEY_SIP_SERVICE_HOST", "10.96.0.12"),
                ("PARLEY_PORT_5060_UDP", "udp://10.96.0.12:5060"),
                ("PARLEY_XMPP__SECRET", "from-env"),
            ],
        )
        .expect("service links ignored");
        assert_eq!(c.xmpp.secret.expose(), "from-env");
        // A typo after the separator is still refused, naming the key.
        let err = load(MINIMAL, &[("PARLEY_XMPP__SECRTE", "x")])
            .expect_err("unknown key")
            .to_string();
        assert!(err.contains("secrte"), "{err}");
    }

    #[test]
    fn limits_have_safe_defaults_and_can_be_set_from_the_environment() {
        let c = load(MINIMAL, &[]).expect("valid");
        assert_eq!(c.limits.sip_requests_per_second, 50);
        assert_eq!(c.limits.subscriptions_per_user, 100);
        assert_eq!(c.sip.trusted_peers, ["127.0.0.0/8", "::1"]);
        let printed = c.to_masked_toml();
        assert!(printed.contains("[limits]"), "{printed}");
        assert!(
            printed.contains("sip_requests_per_second = 50"),
            "{printed}"
        );
        assert!(printed.contains("trusted_peers = ["), "{printed}");
        let c = load(
            MINIMAL,
            &[
                ("PARLEY_LIMITS__SIP_REQUESTS_PER_SECOND", "5"),
                ("PARLEY_SIP__TRUSTED_PEERS", "10.0.0.0/8,192.0.2.1"),
            ],
        )
        .expect("valid");
        assert_eq!(c.sip_limits().source_rate.per_second, 5);
        assert_eq!(c.sip.trusted_peers, ["10.0.0.0/8", "192.0.2.1"]);
    }

    #[test]
    fn bad_trusted_peer_and_bad_limit_name_their_keys() {
        let text = MINIMAL.replace("[sip]", "[sip]\ntrusted_peers = [\"10.0.0.0/40\"]");
        let err = load(&text, &[]).expect_err("bad cidr").to_string();
        assert!(err.contains("sip.trusted_peers"), "{err}");
        let text = MINIMAL.replace(
            "[sip]",
            "[sip]\ntrusted_peers = [\"tls:proxy.example.net\"]",
        );
        let err = load(&text, &[])
            .expect_err("tls name without mTLS")
            .to_string();
        assert!(err.contains("require_client_cert"), "{err}");
        let text = format!("{MINIMAL}\n[limits]\nsubscriptions_per_user = 0\n");
        let err = load(&text, &[]).expect_err("zero cap").to_string();
        assert!(err.contains("limits.subscriptions_per_user"), "{err}");
        let text = format!("{MINIMAL}\n[limits]\nxmpp_sender_queue = 0\n");
        let err = load(&text, &[]).expect_err("no queue").to_string();
        assert!(err.contains("limits.xmpp_sender_queue"), "{err}");
        let text =
            format!("{MINIMAL}\n[limits]\nxmpp_sender_queue = 50\nxmpp_queued_stanzas = 40\n");
        let err = load(&text, &[])
            .expect_err("total below one queue")
            .to_string();
        assert!(err.contains("limits.xmpp_queued_stanzas"), "{err}");
        let text = format!("{MINIMAL}\n[limits]\nsip_rate_typo = 1\n");
        let err = load(&text, &[]).expect_err("unknown").to_string();
        assert!(err.contains("sip_rate_typo"), "{err}");
    }

    #[test]
    fn unknown_key_is_refused_by_name() {
        let text = MINIMAL.replace("[sip]", "[sip]\nlisten_typo = 1");
        let err = load(&text, &[]).expect_err("unknown key").to_string();
        assert!(err.contains("listen_typo"), "{err}");
    }

    #[test]
    fn bad_listen_address_names_the_key() {
        let text = MINIMAL.replace("udp:127.0.0.1:5060", "carrier-pigeon:1.2.3.4:1");
        let err = load(&text, &[]).expect_err("bad listen").to_string();
        assert!(err.contains("sip.listen[0]"), "{err}");
    }

    #[test]
    fn tls_listener_without_certificate_names_the_key() {
        let text = MINIMAL.replace("udp:127.0.0.1:5060", "tls:127.0.0.1:5061");
        let err = load(&text, &[]).expect_err("no cert").to_string();
        assert!(err.contains("sip.tls.cert"), "{err}");
    }

    #[test]
    fn msrps_without_a_certificate_names_the_key() {
        let text =
            format!("{MINIMAL}\n[sessions]\nenabled = true\nmsrps_listen = \"127.0.0.1:2856\"\n");
        let err = load(&text, &[]).expect_err("no cert").to_string();
        assert!(err.contains("sessions.msrps_listen"), "{err}");
    }

    #[test]
    fn a_session_start_other_than_auto_or_always_is_refused() {
        let text = format!("{MINIMAL}\n[sessions]\nstart = \"sometimes\"\n");
        assert!(load(&text, &[]).is_err());
        let text = format!("{MINIMAL}\n[sessions]\nstart = \"always\"\nanswer_secs = 0\n");
        let err = load(&text, &[]).expect_err("answer_secs 0").to_string();
        assert!(err.contains("sessions.answer_secs"), "{err}");
    }

    #[test]
    fn missing_secret_names_the_key() {
        let text = MINIMAL.replace("secret = \"s3cret\"\n", "");
        let err = load(&text, &[]).expect_err("no secret").to_string();
        assert!(err.contains("secret"), "{err}");
    }

    #[test]
    fn secret_is_masked_in_debug_and_printed_config() {
        let c = load(MINIMAL, &[]).expect("valid");
        assert!(!format!("{c:?}").contains("s3cret"));
        let printed = c.to_masked_toml();
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("secret = \"***\""), "{printed}");
    }

    /// Issue 22 item 4: `[registrar]` is off when absent; the users file
    /// must exist and parse; expiry bounds are checked.
    #[test]
    fn registrar_section_is_optional_and_validated() {
        assert!(load(MINIMAL, &[]).expect("valid").registrar.is_none());
        let dir = tempfile::tempdir().expect("tempdir");
        let users = dir.path().join("users");
        std::fs::write(&users, "# none yet\n").expect("write");
        let section = |extra: &str| {
            format!(
                "{MINIMAL}\n[registrar]\nusers_file = \"{}\"\n{extra}",
                users.display()
            )
        };
        let c = load(&section(""), &[]).expect("valid");
        let r = c.registrar.as_ref().expect("registrar");
        assert_eq!(
            (r.min_expires, r.max_expires, r.nonce_secs),
            (60, 3600, 300)
        );
        assert_eq!(r.realm_or("example.com"), "example.com");
        assert_eq!(
            r.digest_algorithms(),
            [
                parley_sip::auth::Algorithm::Sha256,
                parley_sip::auth::Algorithm::Md5
            ]
        );
        for (extra, key) in [
            ("min_expires = 0\n", "registrar.min_expires"),
            ("min_expires = 4000\n", "registrar.min_expires"),
            (
                "max_expires = 90000\nmin_expires = 60\n",
                "registrar.max_expires",
            ),
            ("nonce_secs = 1\n", "registrar.nonce_secs"),
            ("max_contacts = 0\n", "registrar.max_contacts"),
            ("realm = \"a:b\"\n", "registrar.realm"),
            ("algorithms = []\n", "registrar.algorithms"),
            ("algorithms = [\"MD5\", \"md5\"]\n", "registrar.algorithms"),
            ("algorithms = [\"SHA-512-256\"]\n", "registrar.algorithms"),
            ("users = \"store\"\n", "registrar.users_file"),
        ] {
            match load(&section(extra), &[]) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{extra}"),
                other => panic!("{extra}: {other:?}"),
            }
        }
        std::fs::write(&users, "alice:example.com:nothex\n").expect("write");
        match load(&section(""), &[]) {
            Err(ConfigError::Invalid { key, reason }) => {
                assert_eq!(key, "registrar.users_file");
                assert!(reason.contains(":1:"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // The users in the store: no file; a file alone is required.
        let store =
            load(&format!("{MINIMAL}\n[registrar]\nusers = \"store\"\n"), &[]).expect("valid");
        assert_eq!(
            store.registrar.as_ref().map(|r| r.users),
            Some(UsersSource::Store)
        );
        match load(&format!("{MINIMAL}\n[registrar]\n"), &[]) {
            Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "registrar.users_file"),
            other => panic!("{other:?}"),
        }
    }

    /// Issue 22 item 5: `[trunk]` is off when absent; its defaults, its
    /// password masked, and each bad value named by its key.
    #[test]
    fn trunk_section_is_optional_validated_and_its_password_masked() {
        assert!(load(MINIMAL, &[]).expect("valid").trunk.is_none());
        let trunk = |extra: &str| {
            format!(
                "{MINIMAL}\n[trunk]\nregistrar = \"sip:sbc.carrier.example\"\naor = \"sip:gw@carrier.example\"\nusername = \"gw\"\n{extra}"
            )
        };
        let c = load(&trunk("password = \"trunk-pw\"\n"), &[]).expect("valid");
        let t = c.trunk.as_ref().expect("trunk");
        assert_eq!(t.expires, 3600);
        assert_eq!(t.contact_user(), "gw");
        assert_eq!((t.retry_min_ms, t.retry_max_ms), (1000, 300_000));
        assert_eq!(t.read_password().expect("password").expose(), "trunk-pw");
        assert!(!format!("{c:?}").contains("trunk-pw"));
        assert!(!c.to_masked_toml().contains("trunk-pw"));

        let file = write("file-pw\n");
        let c = load(
            &trunk(&format!(
                "password_file = {:?}\n",
                file.path().display().to_string()
            )),
            &[],
        )
        .expect("valid");
        let t = c.trunk.expect("trunk");
        assert_eq!(t.read_password().expect("password").expose(), "file-pw");

        for (extra, key) in [
            ("", "trunk.password"),
            (
                "password = \"a\"\npassword_file = \"/etc/hostname\"\n",
                "trunk.password",
            ),
            (
                "password_file = \"/nonexistent/pw\"\n",
                "trunk.password_file",
            ),
            ("password = \"a\"\nexpires = 0\n", "trunk.expires"),
            (
                "password = \"a\"\ncontact_user = \"a b\"\n",
                "trunk.contact_user",
            ),
            ("password = \"a\"\nretry_min_ms = 0\n", "trunk.retry_min_ms"),
        ] {
            match load(&trunk(extra), &[]) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{extra}"),
                other => panic!("{extra}: {other:?}"),
            }
        }
        let tls_registrar = trunk("password = \"a\"\n")
            .replace("sip:sbc.carrier.example", "sips:sbc.carrier.example");
        assert!(matches!(
            load(&tls_registrar, &[]),
            Err(ConfigError::Invalid { key, .. }) if key == "trunk.registrar"
        ));
        let bad_registrar = trunk("password = \"a\"\n")
            .replace("sip:sbc.carrier.example", "http://sbc.carrier.example");
        assert!(matches!(
            load(&bad_registrar, &[]),
            Err(ConfigError::Invalid { key, .. }) if key == "trunk.registrar"
        ));
        let no_user =
            trunk("password = \"a\"\n").replace("sip:gw@carrier.example", "sip:carrier.example");
        assert!(matches!(
            load(&no_user, &[]),
            Err(ConfigError::Invalid { key, .. }) if key == "trunk.aor"
        ));
    }

    fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read deploy dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                toml_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_deploy_config_parses() {
        let mut files = Vec::new();
        toml_files(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy"),
            &mut files,
        );
        assert!(!files.is_empty(), "deploy/ has no .toml files");
        for f in files {
            if let Err(e) = Config::load_with_env(&f, std::iter::empty()) {
                panic!("{}: {e}", f.display());
            }
        }
    }

    /// Issue 20 §5: the endpoint's typed values come from one conversion.
    /// A value that converted at load is the value the endpoint gets (the
    /// trusted list used to be parsed again with a silent "trust nobody"
    /// fallback), and a value that does not convert is an error naming its
    /// key, never a default.
    #[test]
    fn the_endpoint_gets_the_values_validated_at_load_or_an_error() {
        let text = MINIMAL.replace(
            "[sip]",
            "[sip]\ntrusted_peers = [\"10.0.0.0/8\"]\nadvertise = \"gw.example.net:5080\"",
        );
        let mut c = load(&text, &[]).expect("valid");
        let endpoint = c.endpoint_config().expect("converts");
        let from = |ip: &str| parley_sip::trust::PeerIdentity {
            source: ip.parse().expect("ip"),
            tls_name_matches: None,
        };
        assert!(endpoint.rate_exempt.trusts(&from("10.1.2.3")));
        assert!(!endpoint.rate_exempt.trusts(&from("192.0.2.1")));
        assert!(endpoint.advertise.is_some());
        assert_eq!(endpoint.listen.len(), 1);

        c.sip.trusted_peers = vec!["10.0.0.0/40".into()];
        let err = c.endpoint_config().expect_err("not a CIDR").to_string();
        assert!(err.contains("sip.trusted_peers"), "{err}");
    }

    /// Issue 22 item 3: `[xmpp]` TLS keys. `require_tls` with `tls = "none"`
    /// is refused at load; nothing is silently plain.
    #[test]
    fn require_tls_refuses_a_plain_component_stream() {
        let text = MINIMAL.replace(
            "secret = \"s3cret\"",
            "secret = \"s3cret\"\nrequire_tls = true",
        );
        let err = load(&text, &[])
            .expect_err("plain with require_tls")
            .to_string();
        assert!(err.contains("xmpp.tls"), "{err}");
        assert!(err.contains("require_tls"), "{err}");
        let err = load(MINIMAL, &[("PARLEY_XMPP__REQUIRE_TLS", "true")])
            .expect_err("from the environment too")
            .to_string();
        assert!(err.contains("xmpp.tls"), "{err}");
    }

    #[test]
    fn direct_tls_loads_the_ca_and_verifies_the_host_of_server_by_default() {
        let pki = parley_harness::pki::TestPki::new("Parley Test CA");
        let text = MINIMAL.replace(
            "secret = \"s3cret\"",
            &format!(
                "secret = \"s3cret\"\ntls = \"direct\"\nrequire_tls = true\ntls_ca = {:?}",
                pki.ca().display().to_string()
            ),
        );
        let c = load(&text, &[]).expect("valid");
        assert_eq!(c.xmpp.tls, XmppTls::Direct);
        match c.component_config().expect("converts").tls {
            ComponentTls::Direct(d) => assert_eq!(d.name(), "127.0.0.1"),
            other => panic!("expected direct TLS, got {other:?}"),
        }
        let named = load(&text, &[("PARLEY_XMPP__TLS_NAME", "xmpp.example.net")]).expect("valid");
        match named.component_tls().expect("converts") {
            ComponentTls::Direct(d) => assert_eq!(d.name(), "xmpp.example.net"),
            other => panic!("expected direct TLS, got {other:?}"),
        }
    }

    #[test]
    fn a_bad_tls_ca_or_name_is_an_error_naming_its_key() {
        let direct = MINIMAL.replace(
            "secret = \"s3cret\"",
            "secret = \"s3cret\"\ntls = \"direct\"",
        );
        let err = load(&direct, &[("PARLEY_XMPP__TLS_CA", "/nonexistent/ca.pem")])
            .expect_err("no CA file")
            .to_string();
        assert!(err.contains("xmpp.tls_ca"), "{err}");
        let err = load(&direct, &[("PARLEY_XMPP__TLS_NAME", "not a name!")])
            .expect_err("bad name")
            .to_string();
        assert!(err.contains("xmpp.tls_name"), "{err}");
        let err = load(&direct.replace("\"direct\"", "\"starttls\""), &[])
            .expect_err("no STARTTLS on a component stream")
            .to_string();
        assert!(err.contains("starttls"), "{err}");
    }

    #[test]
    fn server_host_strips_the_port_and_ipv6_brackets() {
        assert_eq!(
            server_host("xmpp.example.net:5347"),
            Some("xmpp.example.net")
        );
        assert_eq!(server_host("[::1]:5347"), Some("::1"));
        assert_eq!(server_host(":5347"), None);
        assert_eq!(server_host("nohost"), None);
    }
}

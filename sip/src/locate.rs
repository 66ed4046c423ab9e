//! RFC 3263 §4: locating a SIP server. From a SIP or SIPS URI and the DNS
//! answers about its host to the ordered list of (transport, address)
//! targets that a request is tried at (§4.3).
//!
//! Sans-IO: a [`Locator`] names the DNS question it needs next
//! ([`Locator::poll_query`]), is told the answer ([`Locator::handle_answer`]),
//! and once it asks nothing more, [`Locator::into_targets`] is the list. It
//! never touches the network or a clock; the one random choice, RFC 2782's
//! weighted pick among SRV records of equal priority, is a function it is
//! given ([`Locator::with_weight_pick`]), so tests can fix it.
//!
//! What it does not do: SCTP (`SIP+D2S`) is not supported and is discarded
//! like any service the client lacks (§4.1); NAPTR regular expressions are not
//! evaluated (§4.1: SIP's records carry "an empty regular expression and a
//! replacement value"), a record with one is skipped.

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use ezk_sip_types::host::Host as EzkHost;
use ezk_sip_types::uri::SipUri;

use crate::config::Transport;
use crate::transaction::Target;

/// Most targets a URI resolves to; the rest of a hostile answer set is ignored.
pub(crate) const MAX_TARGETS: usize = 16;
/// Most NAPTR records followed (there are three SIP services, §4.1).
const MAX_NAPTR: usize = 4;
/// Most SRV records of one set whose addresses are looked up.
const MAX_SRV: usize = 8;

/// RFC 3263 §4: TARGET, "the value of the maddr parameter of the URI, if
/// present, otherwise, the host value of the hostport component".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    /// A numeric IP address: no DNS at all (§4.1, §4.2).
    Ip(IpAddr),
    /// A domain name.
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => ip.fmt(f),
            Host::Name(name) => f.write_str(name),
        }
    }
}

/// What of a SIP or SIPS URI decides where a request is sent (RFC 3263 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Destination {
    /// A `sips:` URI: TLS only (§4.1).
    pub sips: bool,
    /// TARGET.
    pub host: Host,
    /// An explicit port.
    pub port: Option<u16>,
    /// The `transport=` parameter, when it names a transport we have.
    pub transport: Option<Transport>,
}

impl Destination {
    /// The destination of a parsed `sip:`/`sips:` URI. A `transport=` value
    /// we do not support (`sctp`, `ws`) counts as absent.
    pub(crate) fn of_uri(uri: &SipUri) -> Destination {
        let maddr = uri
            .uri_params
            .get_val("maddr")
            .map(|m| m.trim_start_matches('[').trim_end_matches(']').to_owned());
        let host = match maddr {
            Some(maddr) => match maddr.parse::<IpAddr>() {
                Ok(ip) => Host::Ip(ip),
                Err(_) => Host::Name(maddr),
            },
            None => match &uri.host_port.host {
                EzkHost::IP4(ip) => Host::Ip(IpAddr::V4(*ip)),
                EzkHost::IP6(ip) => Host::Ip(IpAddr::V6(*ip)),
                EzkHost::Name(name) => Host::Name(name.to_string()),
            },
        };
        Destination {
            sips: uri.sips,
            host,
            port: uri.host_port.port,
            transport: uri
                .uri_params
                .get_val("transport")
                .and_then(|t| Transport::from_token(t)),
        }
    }

    /// The transport chosen without DNS (§4.1): the `transport=` parameter,
    /// else UDP for a SIP URI and TLS over TCP for a SIPS URI. A SIPS URI is
    /// always TLS (`transport=tcp` on it means TLS over TCP).
    fn plain_transport(&self) -> Transport {
        if self.sips {
            return Transport::Tls;
        }
        self.transport.unwrap_or(Transport::Udp)
    }
}

/// RFC 3261 §19.1.2: the default port of a transport (5061 for TLS).
pub(crate) fn default_port(transport: Transport) -> u16 {
    match transport {
        Transport::Udp | Transport::Tcp => 5060,
        Transport::Tls => 5061,
    }
}

/// A DNS question the locator needs answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Query {
    /// NAPTR records of the domain (§4.1).
    Naptr(String),
    /// SRV records, e.g. `_sip._tcp.example.com` (§4.1, §4.2).
    Srv(String),
    /// A and AAAA records (§4.2).
    Address(String),
}

/// One NAPTR record, its fields as in the RFC 3263 §4.1 example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NaptrRecord {
    /// Order: lower first.
    pub order: u16,
    /// Preference among equal order: lower first.
    pub preference: u16,
    /// Flags (`s`: the replacement is an SRV name).
    pub flags: String,
    /// Service, e.g. `SIP+D2T`.
    pub services: String,
    /// Regular expression (empty for SIP).
    pub regexp: String,
    /// Replacement: the SRV name to query.
    pub replacement: String,
}

/// One SRV record (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SrvRecord {
    /// Priority: lower first.
    pub priority: u16,
    /// Relative weight among equal priority.
    pub weight: u16,
    /// Port.
    pub port: u16,
    /// Target host; `.` means "decidedly not available".
    pub target: String,
}

/// The answer to a [`Query`]. A failed lookup (NXDOMAIN, no data, SERVFAIL,
/// timeout) is an empty answer: "no records found".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// NAPTR records.
    Naptr(Vec<NaptrRecord>),
    /// SRV records.
    Srv(Vec<SrvRecord>),
    /// Addresses.
    Address(Vec<IpAddr>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Naptr(String),
    Srv {
        name: String,
        transport: Transport,
    },
    Address {
        name: String,
        transport: Transport,
        port: u16,
    },
}

impl Step {
    fn query(&self) -> Query {
        match self {
            Step::Naptr(name) => Query::Naptr(name.clone()),
            Step::Srv { name, .. } => Query::Srv(name.clone()),
            Step::Address { name, .. } => Query::Address(name.clone()),
        }
    }
}

/// A weighted pick: given the sum of the weights, a uniform number in
/// `0..=sum` (RFC 2782, Weight).
pub(crate) type WeightPick = Box<dyn FnMut(u32) -> u32 + Send>;

/// Resolves one URI to its targets (RFC 3263 §4.1, §4.2), one DNS question
/// at a time.
pub(crate) struct Locator {
    sips: bool,
    name: String,
    tls: bool,
    pending: VecDeque<Step>,
    asked: Option<Step>,
    /// §4.2: the transport for the A/AAAA fallback when no SRV record is found.
    fallback: Option<Transport>,
    srv_found: bool,
    targets: Vec<Target>,
    pick: WeightPick,
}

impl fmt::Debug for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Locator")
            .field("name", &self.name)
            .field("pending", &self.pending)
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}

impl Locator {
    /// Starts locating `destination`. `tls` says whether this client can
    /// use TLS (SIPS services are discarded otherwise, §4.1).
    pub(crate) fn new(destination: &Destination, tls: bool) -> Locator {
        let mut locator = Locator {
            sips: destination.sips,
            // Only a name is ever asked of DNS; an IP address (the usual
            // numeric destination) needs no text of its own (issue 24).
            name: match &destination.host {
                Host::Name(name) => name.clone(),
                Host::Ip(_) => String::new(),
            },
            tls,
            pending: VecDeque::new(),
            asked: None,
            fallback: None,
            srv_found: false,
            targets: Vec::new(),
            pick: Box::new(|sum| rand::random_range(0..=sum)),
        };
        let transport = destination.plain_transport();
        match (&destination.host, destination.port, destination.transport) {
            // §4.1: numeric TARGET: the URI's transport or UDP (SIP) / TLS (SIPS);
            // §4.2: "the client uses that address", the URI's port or the default.
            (Host::Ip(ip), port, _) => {
                let port = port.unwrap_or(default_port(transport));
                locator.targets.push(Target {
                    transport,
                    addr: SocketAddr::new(*ip, port),
                });
            }
            // §4.2: a name with an explicit port: A or AAAA at that port.
            (Host::Name(name), Some(port), _) => locator.pending.push_back(Step::Address {
                name: name.clone(),
                transport,
                port,
            }),
            // §4.2: transport given, no port: SRV for that transport; "_sips"
            // for SIPS URIs and for TLS on a SIP URI.
            (Host::Name(name), None, Some(_)) => {
                locator.pending.push_back(Step::Srv {
                    name: srv_name(transport, name),
                    transport,
                });
                locator.fallback = Some(transport);
            }
            // §4.1: neither transport nor port: NAPTR.
            (Host::Name(name), None, None) => {
                locator.pending.push_back(Step::Naptr(name.clone()));
            }
        }
        locator
    }

    /// Replaces the random weighted pick (tests fix it).
    #[cfg(test)]
    pub(crate) fn with_weight_pick(mut self, pick: WeightPick) -> Locator {
        self.pick = pick;
        self
    }

    /// The next DNS question, or `None` when the targets are final. Asking
    /// again before answering returns the same question.
    pub(crate) fn poll_query(&mut self) -> Option<Query> {
        if let Some(step) = &self.asked {
            return Some(step.query());
        }
        if self.targets.len() >= MAX_TARGETS {
            self.pending.clear();
            self.fallback = None;
        }
        if self.pending.is_empty()
            && !self.srv_found
            && let Some(transport) = self.fallback.take()
        {
            // §4.2: "If no SRV records were found, the client performs an A or
            // AAAA record lookup of the domain name" at the transport's default port.
            self.pending.push_back(Step::Address {
                name: self.name.clone(),
                transport,
                port: default_port(transport),
            });
        }
        let step = self.pending.pop_front()?;
        let query = step.query();
        self.asked = Some(step);
        Some(query)
    }

    /// The answer to the question last returned by [`Locator::poll_query`].
    /// An answer of the wrong kind counts as empty.
    pub(crate) fn handle_answer(&mut self, answer: Answer) {
        let Some(step) = self.asked.take() else {
            return;
        };
        match (step, answer) {
            (Step::Naptr(_), Answer::Naptr(records)) => self.handle_naptr(records),
            (Step::Naptr(_), _) => self.handle_naptr(Vec::new()),
            (Step::Srv { transport, .. }, Answer::Srv(records)) => {
                self.handle_srv(transport, records)
            }
            (Step::Srv { .. }, _) => {}
            (
                Step::Address {
                    transport, port, ..
                },
                Answer::Address(ips),
            ) => {
                for ip in ips {
                    let target = Target {
                        transport,
                        addr: SocketAddr::new(ip, port),
                    };
                    if self.targets.len() < MAX_TARGETS && !self.targets.contains(&target) {
                        self.targets.push(target);
                    }
                }
            }
            (Step::Address { .. }, _) => {}
        }
    }

    /// The targets, in the order to try them (§4.3).
    pub(crate) fn into_targets(self) -> Vec<Target> {
        self.targets
    }

    fn handle_naptr(&mut self, records: Vec<NaptrRecord>) {
        let mut services: Vec<(u16, u16, Transport, String)> = records
            .into_iter()
            .filter_map(|r| {
                let transport = self.naptr_transport(&r)?;
                Some((r.order, r.preference, transport, r.replacement))
            })
            .collect();
        // RFC 3263 §4.1, per RFC 2915: by order, then preference.
        services.sort_by_key(|(order, preference, _, _)| (*order, *preference));
        services.dedup_by(|a, b| a.2 == b.2 && a.3 == b.3);
        services.truncate(MAX_NAPTR);
        if services.is_empty() {
            // §4.1: "If no NAPTR records are found, the client constructs SRV
            // queries for those transport protocols it supports … "_sip" for
            // SIP URIs and "_sips" for SIPS URIs." Our order: UDP, TCP, TLS.
            let supported: &[Transport] = if self.sips {
                &[Transport::Tls]
            } else if self.tls {
                &[Transport::Udp, Transport::Tcp, Transport::Tls]
            } else {
                &[Transport::Udp, Transport::Tcp]
            };
            for &transport in supported {
                self.pending.push_back(Step::Srv {
                    name: srv_name(transport, &self.name),
                    transport,
                });
            }
            // §4.1: "If no SRV records are found, the client SHOULD use TCP for
            // a SIPS URI, and UDP for a SIP URI."
            self.fallback = Some(if self.sips {
                Transport::Tls
            } else {
                Transport::Udp
            });
        } else {
            self.fallback = services.first().map(|s| s.2);
            for (_, _, transport, replacement) in services {
                self.pending.push_back(Step::Srv {
                    name: replacement,
                    transport,
                });
            }
        }
    }

    /// §4.1: the transport of a NAPTR record we keep, or `None` to discard it.
    fn naptr_transport(&self, record: &NaptrRecord) -> Option<Transport> {
        // §4.1: "an empty regular expression and a replacement value, which is
        // the SRV record"; the example's flag is "s".
        if !record.flags.eq_ignore_ascii_case("s")
            || !record.regexp.is_empty()
            || record.replacement.is_empty()
            || record.replacement == "."
        {
            return None;
        }
        // §4.1 and §9: SIP+D2U → UDP, SIP+D2T → TCP, SIPS+D2T → TLS over TCP;
        // "a client MUST discard any service fields that identify a resolution
        // service whose value is not "D2X", for values of X that indicate
        // transport protocols supported by the client" (no SCTP here).
        let service = record.services.to_ascii_uppercase();
        let transport = match service.as_str() {
            "SIP+D2U" => Transport::Udp,
            "SIP+D2T" => Transport::Tcp,
            "SIPS+D2T" => Transport::Tls,
            _ => return None,
        };
        // §4.1: "a client resolving a SIPS URI MUST discard any services that
        // do not contain "SIPS""; a SIP URI retains SIPS "if the client supports TLS".
        match transport {
            Transport::Tls if !self.tls => None,
            Transport::Udp | Transport::Tcp if self.sips => None,
            _ => Some(transport),
        }
    }

    fn handle_srv(&mut self, transport: Transport, records: Vec<SrvRecord>) {
        // RFC 2782, Usage rules: "If there is precisely one SRV RR, and its
        // Target is "." (the root domain), abort": this transport is out, and
        // as records were found, no A/AAAA fallback either.
        if let [only] = records.as_slice()
            && is_root(&only.target)
        {
            self.srv_found = true;
            return;
        }
        let records: Vec<SrvRecord> = records
            .into_iter()
            .filter(|r| !is_root(&r.target))
            .collect();
        if records.is_empty() {
            return;
        }
        self.srv_found = true;
        let ordered = order_srv(records, &mut self.pick);
        // Their addresses come before the next SRV set's, so push to the front.
        for record in ordered.into_iter().take(MAX_SRV).rev() {
            self.pending.push_front(Step::Address {
                name: record.target,
                transport,
                port: record.port,
            });
        }
    }
}

fn is_root(name: &str) -> bool {
    name.is_empty() || name == "."
}

/// §4.1, §4.2: the SRV name of a transport: `_sips._tcp` for TLS (on SIP and
/// SIPS URIs alike), `_sip._tcp`, `_sip._udp`.
pub(crate) fn srv_name(transport: Transport, domain: &str) -> String {
    let prefix = match transport {
        Transport::Udp => "_sip._udp",
        Transport::Tcp => "_sip._tcp",
        Transport::Tls => "_sips._tcp",
    };
    format!("{prefix}.{domain}")
}

/// RFC 2782 (as RFC 3263 §4.2 and §4.3 use it): sorts SRV records by
/// priority, lowest first, and orders each priority's records by weight:
/// "arrange all SRV RRs (that have not been ordered yet) in any order, except
/// that all those with weight 0 are placed at the beginning of the list.
/// Compute the sum of the weights of those RRs, and with each RR associate
/// the running sum in the selected order. Then choose a uniform random number
/// between 0 and the sum computed (inclusive), and select the RR whose running
/// sum value is the first in the selected order which is greater than or
/// equal to the random number selected." `pick(sum)` is that random number.
pub(crate) fn order_srv(mut records: Vec<SrvRecord>, pick: &mut WeightPick) -> Vec<SrvRecord> {
    records.sort_by_key(|r| (r.priority, r.weight != 0));
    let mut ordered = Vec::with_capacity(records.len());
    let mut rest = records.as_slice();
    while let Some(first) = rest.first() {
        let end = rest
            .iter()
            .position(|r| r.priority != first.priority)
            .unwrap_or(rest.len());
        let mut group: Vec<SrvRecord> = rest[..end].to_vec();
        rest = &rest[end..];
        while !group.is_empty() {
            let sum: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
            let chosen = pick(sum).min(sum);
            let mut running = 0u32;
            let index = group
                .iter()
                .position(|r| {
                    running += u32::from(r.weight);
                    running >= chosen
                })
                .unwrap_or(group.len() - 1);
            ordered.push(group.remove(index));
        }
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::uri::Uri;

    fn destination(text: &str) -> Destination {
        match Uri::parse(text) {
            Ok(Uri::Sip(uri)) => Destination::of_uri(&uri),
            other => panic!("not a SIP URI: {other:?}"),
        }
    }

    fn naptr(order: u16, pref: u16, service: &str, replacement: &str) -> NaptrRecord {
        NaptrRecord {
            order,
            preference: pref,
            flags: "s".into(),
            services: service.into(),
            regexp: String::new(),
            replacement: replacement.into(),
        }
    }

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port,
            target: target.into(),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn target(transport: Transport, addr: &str) -> Target {
        Target {
            transport,
            addr: addr.parse().expect("addr"),
        }
    }

    /// Always picks 0: the first record in the RFC 2782 arrangement.
    fn first() -> WeightPick {
        Box::new(|_| 0)
    }

    /// Runs the locator against a fixed DNS, recording the questions asked.
    fn run(mut locator: Locator, dns: impl Fn(&Query) -> Answer) -> (Vec<Query>, Vec<Target>) {
        let mut asked = Vec::new();
        while let Some(query) = locator.poll_query() {
            assert!(asked.len() < 64, "runaway: {asked:?}");
            let answer = dns(&query);
            asked.push(query);
            locator.handle_answer(answer);
        }
        (asked, locator.into_targets())
    }

    fn nothing(query: &Query) -> Answer {
        match query {
            Query::Naptr(_) => Answer::Naptr(vec![]),
            Query::Srv(_) => Answer::Srv(vec![]),
            Query::Address(_) => Answer::Address(vec![]),
        }
    }

    /// RFC 3263 §4.1 and §4.2: a numeric IP with a port is used as is; no DNS.
    #[test]
    fn numeric_ip_with_port_needs_no_dns() {
        let locator = Locator::new(&destination("sip:bob@192.0.2.7:5070"), true);
        let (asked, targets) = run(locator, nothing);
        assert!(asked.is_empty());
        assert_eq!(targets, [target(Transport::Udp, "192.0.2.7:5070")]);
    }

    /// RFC 3263 §4.1: numeric TARGET without transport: UDP for SIP, TLS over
    /// TCP for SIPS; §4.2: the default port of that transport.
    #[test]
    fn numeric_ip_uses_udp_for_sip_and_tls_for_sips_at_default_ports() {
        let (_, sip) = run(Locator::new(&destination("sip:192.0.2.7"), true), nothing);
        assert_eq!(sip, [target(Transport::Udp, "192.0.2.7:5060")]);
        let (_, sips) = run(
            Locator::new(&destination("sips:[2001:db8::1]"), true),
            nothing,
        );
        assert_eq!(sips, [target(Transport::Tls, "[2001:db8::1]:5061")]);
        let (_, tcp) = run(
            Locator::new(&destination("sip:192.0.2.7;transport=tcp"), true),
            nothing,
        );
        assert_eq!(tcp, [target(Transport::Tcp, "192.0.2.7:5060")]);
    }

    /// RFC 3263 §4.1: a SIPS URI is resolved to TLS over TCP only, whatever
    /// its `transport=` says; §4.2: "_sips" is the SRV service for it.
    #[test]
    fn sips_uri_is_always_tls() {
        let (_, numeric) = run(
            Locator::new(&destination("sips:192.0.2.7;transport=tcp"), true),
            nothing,
        );
        assert_eq!(numeric, [target(Transport::Tls, "192.0.2.7:5061")]);
        let (asked, _) = run(
            Locator::new(&destination("sips:u@example.com;transport=tcp"), true),
            nothing,
        );
        assert_eq!(asked[0], Query::Srv("_sips._tcp.example.com".into()));
    }

    /// RFC 3263 §4: TARGET is the maddr parameter when present.
    #[test]
    fn maddr_is_the_target() {
        let (asked, targets) = run(
            Locator::new(&destination("sip:bob@example.com;maddr=192.0.2.9"), true),
            nothing,
        );
        assert!(asked.is_empty());
        assert_eq!(targets, [target(Transport::Udp, "192.0.2.9:5060")]);
    }

    /// RFC 3263 §4.2: a name with an explicit port: A/AAAA only, every
    /// address at that port, in answer order; no NAPTR or SRV.
    #[test]
    fn explicit_port_skips_naptr_and_srv() {
        let locator = Locator::new(&destination("sip:bob@example.com:5080"), true);
        let (asked, targets) = run(locator, |q| match q {
            Query::Address(_) => Answer::Address(vec![ip("192.0.2.1"), ip("2001:db8::2")]),
            other => nothing(other),
        });
        assert_eq!(asked, [Query::Address("example.com".into())]);
        assert_eq!(
            targets,
            [
                target(Transport::Udp, "192.0.2.1:5080"),
                target(Transport::Udp, "[2001:db8::2]:5080")
            ]
        );
    }

    /// RFC 3263 §4.1 example: NAPTR SIPS+D2T (order 50), SIP+D2T (90),
    /// SIP+D2U (100); a client with TLS takes `_sips._tcp` first, then the
    /// others in order, each resolved through SRV (§4.2) and A.
    #[test]
    fn naptr_order_decides_the_transport() {
        let locator =
            Locator::new(&destination("sip:user@example.com"), true).with_weight_pick(first());
        let (asked, targets) = run(locator, |q| match q {
            Query::Naptr(_) => Answer::Naptr(vec![
                naptr(100, 50, "SIP+D2U", "_sip._udp.example.com."),
                naptr(50, 50, "SIPS+D2T", "_sips._tcp.example.com."),
                naptr(90, 50, "SIP+D2T", "_sip._tcp.example.com."),
            ]),
            Query::Srv(name) if name == "_sips._tcp.example.com." => {
                Answer::Srv(vec![srv(0, 1, 5061, "tls.example.com.")])
            }
            Query::Srv(name) if name == "_sip._tcp.example.com." => {
                Answer::Srv(vec![srv(0, 1, 5060, "tcp.example.com.")])
            }
            Query::Srv(_) => Answer::Srv(vec![srv(0, 1, 5060, "udp.example.com.")]),
            Query::Address(name) => Answer::Address(vec![match name.as_str() {
                "tls.example.com." => ip("192.0.2.1"),
                "tcp.example.com." => ip("192.0.2.2"),
                _ => ip("192.0.2.3"),
            }]),
        });
        assert_eq!(asked[0], Query::Naptr("example.com".into()));
        assert_eq!(asked[1], Query::Srv("_sips._tcp.example.com.".into()));
        assert_eq!(asked[2], Query::Address("tls.example.com.".into()));
        assert_eq!(
            targets,
            [
                target(Transport::Tls, "192.0.2.1:5061"),
                target(Transport::Tcp, "192.0.2.2:5060"),
                target(Transport::Udp, "192.0.2.3:5060"),
            ]
        );
    }

    /// RFC 3263 §4.1: "a client MUST discard any service fields that identify
    /// a resolution service whose value is not "D2X", for values of X that
    /// indicate transport protocols supported by the client" — without TLS,
    /// SIPS+D2T is discarded; SCTP (D2S) always is.
    #[test]
    fn naptr_services_the_client_lacks_are_discarded() {
        let locator = Locator::new(&destination("sip:user@example.com"), false);
        let (asked, targets) = run(locator, |q| match q {
            Query::Naptr(_) => Answer::Naptr(vec![
                naptr(10, 50, "SIP+D2S", "_sip._sctp.example.com."),
                naptr(50, 50, "SIPS+D2T", "_sips._tcp.example.com."),
                naptr(90, 50, "SIP+D2T", "_sip._tcp.example.com."),
            ]),
            Query::Srv(_) => Answer::Srv(vec![srv(0, 0, 5062, "tcp.example.com.")]),
            Query::Address(_) => Answer::Address(vec![ip("192.0.2.2")]),
        });
        assert_eq!(asked[1], Query::Srv("_sip._tcp.example.com.".into()));
        assert!(
            !asked
                .iter()
                .any(|q| matches!(q, Query::Srv(n) if n.contains("sctp") || n.contains("_sips")))
        );
        assert_eq!(targets, [target(Transport::Tcp, "192.0.2.2:5062")]);
    }

    /// RFC 3263 §4.1: "a client resolving a SIPS URI MUST discard any
    /// services that do not contain "SIPS" as the protocol".
    #[test]
    fn sips_uri_keeps_only_sips_services() {
        let locator = Locator::new(&destination("sips:user@example.com"), true);
        let (asked, targets) = run(locator, |q| match q {
            Query::Naptr(_) => Answer::Naptr(vec![
                naptr(10, 50, "SIP+D2U", "_sip._udp.example.com."),
                naptr(50, 50, "SIPS+D2T", "_sips._tcp.example.com."),
            ]),
            Query::Srv(_) => Answer::Srv(vec![srv(0, 0, 5061, "tls.example.com.")]),
            Query::Address(_) => Answer::Address(vec![ip("192.0.2.1")]),
        });
        assert!(!asked.contains(&Query::Srv("_sip._udp.example.com.".into())));
        assert_eq!(targets, [target(Transport::Tls, "192.0.2.1:5061")]);
    }

    /// RFC 3263 §4.1: no NAPTR: SRV queries for the supported transports,
    /// "_sip" for SIP URIs; "A particular transport is supported if the query
    /// is successful."
    #[test]
    fn without_naptr_srv_is_queried_per_transport() {
        let locator = Locator::new(&destination("sip:user@example.com"), false);
        let (asked, targets) = run(locator, |q| match q {
            Query::Srv(name) if name == "_sip._tcp.example.com" => {
                Answer::Srv(vec![srv(0, 0, 5070, "tcp.example.com.")])
            }
            Query::Address(name) if name == "tcp.example.com." => {
                Answer::Address(vec![ip("192.0.2.4")])
            }
            other => nothing(other),
        });
        assert_eq!(
            asked,
            [
                Query::Naptr("example.com".into()),
                Query::Srv("_sip._udp.example.com".into()),
                Query::Srv("_sip._tcp.example.com".into()),
                Query::Address("tcp.example.com.".into()),
            ]
        );
        assert_eq!(targets, [target(Transport::Tcp, "192.0.2.4:5070")]);
    }

    /// RFC 3263 §4.1 and §4.2: no NAPTR and no SRV: A/AAAA of the domain,
    /// UDP for a SIP URI at its default port, TLS at 5061 for a SIPS URI.
    #[test]
    fn without_naptr_or_srv_the_domain_address_is_used() {
        let dns = |q: &Query| match q {
            Query::Address(name) if name == "example.com" => Answer::Address(vec![ip("192.0.2.5")]),
            other => nothing(other),
        };
        let (asked, sip) = run(Locator::new(&destination("sip:u@example.com"), true), dns);
        assert_eq!(asked.last(), Some(&Query::Address("example.com".into())));
        assert_eq!(sip, [target(Transport::Udp, "192.0.2.5:5060")]);
        let (_, sips) = run(Locator::new(&destination("sips:u@example.com"), true), dns);
        assert_eq!(sips, [target(Transport::Tls, "192.0.2.5:5061")]);
    }

    /// RFC 3263 §4.2: a transport given without a port: SRV for that
    /// transport only ("_sips" for TLS on a SIP URI), no NAPTR.
    #[test]
    fn transport_parameter_skips_naptr() {
        let locator = Locator::new(&destination("sip:u@example.com;transport=tls"), true);
        let (asked, targets) = run(locator, |q| match q {
            Query::Srv(_) => Answer::Srv(vec![srv(1, 0, 5071, "a.example.com.")]),
            Query::Address(_) => Answer::Address(vec![ip("192.0.2.6")]),
            other => nothing(other),
        });
        assert_eq!(asked[0], Query::Srv("_sips._tcp.example.com".into()));
        assert_eq!(targets, [target(Transport::Tls, "192.0.2.6:5071")]);
        let tcp = Locator::new(&destination("sip:u@example.com;transport=tcp"), true);
        let (asked, targets) = run(tcp, |q| match q {
            Query::Address(_) => Answer::Address(vec![ip("192.0.2.6")]),
            other => nothing(other),
        });
        assert_eq!(
            asked,
            [
                Query::Srv("_sip._tcp.example.com".into()),
                Query::Address("example.com".into())
            ]
        );
        assert_eq!(targets, [target(Transport::Tcp, "192.0.2.6:5060")]);
    }

    /// RFC 2782 usage rules: a single SRV record with target "." aborts: the
    /// service is "decidedly not available", so no A/AAAA fallback.
    #[test]
    fn single_root_srv_target_means_not_available() {
        let locator = Locator::new(&destination("sip:u@example.com;transport=udp"), true);
        let (asked, targets) = run(locator, |q| match q {
            Query::Srv(_) => Answer::Srv(vec![srv(0, 0, 0, ".")]),
            Query::Address(_) => Answer::Address(vec![ip("192.0.2.6")]),
            other => nothing(other),
        });
        assert_eq!(asked, [Query::Srv("_sip._udp.example.com".into())]);
        assert!(targets.is_empty());
    }

    /// RFC 3263 §4.3 with RFC 2782: lower priority first, whatever the
    /// weights; the failover order is the SRV order.
    #[test]
    fn srv_priority_orders_the_targets() {
        let locator = Locator::new(&destination("sip:u@example.com;transport=tcp"), true)
            .with_weight_pick(Box::new(|sum| sum));
        let (_, targets) = run(locator, |q| match q {
            Query::Srv(_) => Answer::Srv(vec![
                srv(20, 100, 5002, "b.example.com."),
                srv(10, 1, 5001, "a.example.com."),
            ]),
            Query::Address(name) if name == "a.example.com." => {
                Answer::Address(vec![ip("192.0.2.1")])
            }
            Query::Address(_) => Answer::Address(vec![ip("192.0.2.2")]),
            other => nothing(other),
        });
        assert_eq!(
            targets,
            [
                target(Transport::Tcp, "192.0.2.1:5001"),
                target(Transport::Tcp, "192.0.2.2:5002")
            ]
        );
    }

    /// RFC 2782 Weight: among equal priority, the record whose running sum
    /// first reaches the random number is next; weight-0 records come first
    /// in the arrangement.
    #[test]
    fn srv_weight_selection_follows_the_running_sum() {
        let records = vec![
            srv(0, 1, 1, "one."),
            srv(0, 2, 2, "two."),
            srv(0, 0, 3, "zero."),
        ];
        // Arrangement: zero(0), one(1), two(2): running sums 0, 1, 3.
        let ports = |picks: Vec<u32>| {
            let mut picks = picks.into_iter();
            let mut pick: WeightPick = Box::new(move |_| picks.next().unwrap_or(0));
            order_srv(records.clone(), &mut pick)
                .iter()
                .map(|r| r.port)
                .collect::<Vec<_>>()
        };
        // 0 → zero; then among one(1), two(2) with sum 3: 3 → two; then one.
        assert_eq!(ports(vec![0, 3, 0]), [3, 2, 1]);
        // 2 → two (running sums 0, 1, 3: first ≥ 2 is two); then 1 → one.
        assert_eq!(ports(vec![2, 1, 0]), [2, 1, 3]);
        // 1 → one.
        assert_eq!(ports(vec![1, 0, 0]), [1, 3, 2]);
    }

    /// RFC 2782 Weight: "Larger weights SHOULD be given a proportionately
    /// higher probability of being selected" — with the real random pick, a
    /// weight-9 record leads far more often than a weight-1 one.
    #[test]
    fn srv_weight_favours_larger_weights() {
        let mut pick: WeightPick = Box::new(|sum| rand::random_range(0..=sum));
        let mut heavy_first = 0;
        for _ in 0..2000 {
            let order = order_srv(
                vec![srv(0, 1, 1, "light."), srv(0, 9, 9, "heavy.")],
                &mut pick,
            );
            if order[0].port == 9 {
                heavy_first += 1;
            }
        }
        // Expected 9/11 of 2000 ≈ 1636 (RFC 2782's inclusive range).
        assert!((1450..1800).contains(&heavy_first), "{heavy_first}");
    }

    /// A hostile answer set cannot make the list (or the queries) unbounded.
    #[test]
    fn targets_are_bounded() {
        let locator = Locator::new(&destination("sip:u@example.com;transport=udp"), true);
        let (asked, targets) = run(locator, |q| match q {
            Query::Srv(_) => Answer::Srv(
                (0..100)
                    .map(|i| srv(0, 1, 5000 + i, &format!("h{i}.example.com.")))
                    .collect(),
            ),
            Query::Address(_) => {
                Answer::Address((1..=50).map(|i| IpAddr::from([192, 0, 2, i])).collect())
            }
            other => nothing(other),
        });
        assert_eq!(targets.len(), MAX_TARGETS);
        assert!(asked.len() <= 1 + MAX_SRV);
    }
}

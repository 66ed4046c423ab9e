//! The DNS side of RFC 3263 server location: asks hickory-resolver the
//! questions a [`Locator`] poses and hands it the answers. All decisions
//! (which records count, in which order) are in [`crate::locate`].

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};

use crate::config::DnsConfig;
use crate::locate::{Answer, Destination, Locator, NaptrRecord, Query, SrvRecord};
use crate::transaction::Target;

/// A DNS client for RFC 3263 lookups.
#[derive(Clone)]
pub(crate) struct Resolver {
    /// `None` when the system configuration could not be read: then only
    /// numeric destinations can be reached.
    inner: Option<TokioResolver>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("ready", &self.inner.is_some())
            .finish()
    }
}

impl Resolver {
    /// A resolver asking `config.nameservers`, or the system's when empty.
    pub(crate) fn new(config: &DnsConfig) -> Resolver {
        let built = if config.nameservers.is_empty() {
            TokioResolver::builder_tokio().and_then(|mut builder| {
                builder.options_mut().timeout = config.timeout;
                builder.build()
            })
        } else {
            let servers = config
                .nameservers
                .iter()
                .map(|addr| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = addr.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = addr.port();
                    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
                })
                .collect();
            let mut options = ResolverOpts::default();
            options.timeout = config.timeout;
            // The configured servers are the only source: no /etc/hosts.
            options.use_hosts_file = ResolveHosts::Never;
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), servers),
                TokioRuntimeProvider::default(),
            )
            .with_options(options)
            .build()
        };
        match built {
            Ok(resolver) => Resolver {
                inner: Some(resolver),
            },
            Err(error) => {
                tracing::warn!(%error, "no DNS resolver: only numeric SIP destinations are reachable");
                Resolver { inner: None }
            }
        }
    }

    /// RFC 3263 §4: the targets of `destination`, in the order to try them.
    /// `tls` says whether TLS targets are usable.
    pub(crate) async fn locate(&self, destination: &Destination, tls: bool) -> Vec<Target> {
        let mut locator = Locator::new(destination, tls);
        // A destination that needs no DNS (a numeric host) has its targets
        // now. The DNS client's future is large and lives in a box, so that
        // the future of every request sent (one task per message) stays small.
        if locator.poll_query().is_none() {
            return locator.into_targets();
        }
        Box::pin(self.run(locator)).await
    }

    /// Drives `locator` to its end.
    pub(crate) async fn run(&self, mut locator: Locator) -> Vec<Target> {
        while let Some(query) = locator.poll_query() {
            let answer = self.ask(&query).await;
            tracing::debug!(?query, ?answer, "rfc 3263 lookup");
            locator.handle_answer(answer);
        }
        locator.into_targets()
    }

    /// One question; any failure is an empty answer ("no records found").
    async fn ask(&self, query: &Query) -> Answer {
        let Some(resolver) = &self.inner else {
            return empty(query);
        };
        match query {
            Query::Naptr(name) => {
                let Ok(lookup) = resolver.lookup(name.as_str(), RecordType::NAPTR).await else {
                    return empty(query);
                };
                Answer::Naptr(
                    lookup
                        .answers()
                        .iter()
                        .filter_map(|record| match &record.data {
                            RData::NAPTR(naptr) => Some(NaptrRecord {
                                order: naptr.order,
                                preference: naptr.preference,
                                flags: String::from_utf8_lossy(&naptr.flags).into_owned(),
                                services: String::from_utf8_lossy(&naptr.services).into_owned(),
                                regexp: String::from_utf8_lossy(&naptr.regexp).into_owned(),
                                replacement: naptr.replacement.to_string(),
                            }),
                            _ => None,
                        })
                        .collect(),
                )
            }
            Query::Srv(name) => {
                let Ok(lookup) = resolver.lookup(name.as_str(), RecordType::SRV).await else {
                    return empty(query);
                };
                Answer::Srv(
                    lookup
                        .answers()
                        .iter()
                        .filter_map(|record| match &record.data {
                            RData::SRV(srv) => Some(SrvRecord {
                                priority: srv.priority,
                                weight: srv.weight,
                                port: srv.port,
                                target: srv.target.to_string(),
                            }),
                            _ => None,
                        })
                        .collect(),
                )
            }
            Query::Address(name) => match resolver.lookup_ip(name.as_str()).await {
                Ok(lookup) => Answer::Address(lookup.iter().collect()),
                Err(_) => empty(query),
            },
        }
    }
}

fn empty(query: &Query) -> Answer {
    match query {
        Query::Naptr(_) => Answer::Naptr(Vec::new()),
        Query::Srv(_) => Answer::Srv(Vec::new()),
        Query::Address(_) => Answer::Address(Vec::new()),
    }
}

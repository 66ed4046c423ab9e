//! The `parley` gateway: wires the SIP user agent and the XMPP component
//! through the mapping layer.
//!
//! Where it sits: on top. `run` binds the SIP listeners, starts the component
//! link and the HTTP endpoint, and feeds events from both sides into the
//! router until shutdown. It holds no protocol rules of its own: those live in
//! `parley-mapping` (what to translate) and in `parley-sip`/`parley-xmpp` (how
//! to speak each protocol).
//!
//! What it offers (the binary `parley` is its one user, with the benches):
//! - [`run`] / [`run_with`]: the gateway until a cancellation token fires;
//!   [`Bound`] says where it listens, [`RunError`] why it could not.
//! - [`config`]: the TOML configuration, its validation and defaults.
//! - [`store`]: the subscription store (the presence benchmark fills one).
//!
//! Inside, `router.rs` hands each event to a handler module (`message/`,
//! `presence/`, `disco.rs`) over the shared `links.rs`; ARCHITECTURE.md at
//! the repository root traces one message through them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use parley_mapping::address::{AddressMapper, ForeignDomainPolicy};
use parley_mapping::message::MessageOptions;
use parley_sip::{Endpoint, Transport};
use parley_xmpp::component::{self, ComponentEvent, ComponentHandle};

/// Design §5 and issue 7: trusted peers, XMPP sender rates, forged `from`s.
mod admission;
/// RFC 7702 §5: XMPP users in SIP conferences.
mod conference;
/// The configuration contract (design §2).
pub mod config;
/// XEP-0030: disco for SIP users at the component domain; the component's features.
mod disco;
/// Shutdown on a deadline: intake stops, accepted requests are answered, peers get a grace period.
mod drain;
/// RFC 7702 §6: SIP users in XMPP multi-user chat rooms (MSRP ↔ MUC).
mod groupchat;
/// Operator HTTP endpoint: `/metrics`, `/healthz`, `/readyz`.
mod http;
/// The gateway's links to the outside, shared by every handler.
mod links;
/// RFC 7572 page-mode messages, with receipts (RFC 5438) and chat states (RFC 3994).
mod message;
/// Prometheus metrics.
mod metrics;
/// The MIME header fields an RFC 3923 object is rebuilt from.
mod mime_fields;
/// RFC 7573 §5, RFC 4975 §8: the SDP answer to an MSRP offer (chat sessions and groupchat).
mod msrp_offer;
/// Design §4a: this instance's lease on its subscriptions in a shared store.
mod ownership;
/// XEP-0199: keepalive answers that reached another instance go back to it.
mod ping;
/// RFC 8048 presence both ways: subscriptions and polls.
mod presence;
/// The registrar of `[registrar]`: REGISTER and the location service.
mod registrar;
/// In-flight state with deadlines (design §4).
mod registry;
/// Each event to the handler whose concern it is.
mod router;
/// RFC 7573 chat sessions: SIP INVITE + MSRP (RFC 4975) ↔ `<message type='chat'/>`.
mod session;
/// Design §4b, issue 26: XMPP senders over their rate wait in order (RFC 6120 §10.1).
mod shaping;
/// The embedded store: subscriptions that survive a restart (design §4).
pub mod store;
/// `[trunk]`: registration at a carrier's registrar (RFC 3261 §10.2).
mod trunk;
/// `[registrar] users_file`: the registrar's users as digest hashes, and `parley user`.
pub mod users_file;

use config::{Config, XmppMessageType};
use metrics::{Limit, Metrics, SipSnapshot, XmppSnapshot};
use registry::Registry;
use router::Router;

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The metrics HTTP listener could not be bound.
    #[error("cannot bind metrics.listen {addr}")]
    MetricsBind {
        /// The configured address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The SIP endpoint could not start (a listener failed to bind, TLS files unreadable, …).
    #[error("cannot start the SIP endpoint")]
    Sip(#[source] parley_sip::Error),
    /// Metrics registration failed (a bug: duplicate metric names).
    #[error("cannot register metrics")]
    Metrics(#[source] prometheus::Error),
    /// The configuration did not convert (only for a config that skipped `Config::validate`).
    #[error("invalid configuration")]
    Config(#[source] config::ConfigError),
    /// The MSRP listener of `[sessions]` could not be bound.
    #[error("cannot start the MSRP endpoint (sessions.msrp_listen)")]
    Msrp(#[source] parley_msrp::endpoint::DriverError),
}

impl RunError {
    /// A stable name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MetricsBind { .. } => "metrics_bind",
            Self::Sip(_) => "sip_start",
            Self::Metrics(_) => "metrics_register",
            Self::Config(_) => "config",
            Self::Msrp(_) => "msrp_start",
        }
    }
}

/// Component events handled in one pass of the main loop before the other
/// sources get their turn (issue 24: the SIP MESSAGEs of one pass leave in
/// one `sendmmsg`). Kept small: with 64 a pass, a closed-loop burst of
/// XMPP → SIP messages went out faster than the UDP reader took their 200s,
/// and parley's own socket dropped up to 22 693 of 50 000 200s (each then
/// cost a Timer E retransmission); with 8, none in the same runs.
const EVENTS_PER_PASS: usize = 8;

/// After the drain's grace period: the store's last writes and the
/// component stream's close share this, so the process exits within
/// `shutdown.grace_ms` + 1 s (issue 26 §1), with room for the runtime to stop.
const CLOSE_BUDGET: Duration = Duration::from_millis(700);

/// What `/readyz` and `/metrics` look at.
pub(crate) struct Health {
    metrics: Arc<Metrics>,
    component: ComponentHandle,
    sip: Endpoint,
    sip_bound: AtomicBool,
    /// With `[trunk]`: the registration's state.
    trunk: Option<Arc<trunk::TrunkStatus>>,
}

impl Health {
    /// Ready: the component stream is authenticated, every SIP listener is
    /// bound and, with `[trunk]`, the registration holds.
    pub(crate) fn ready(&self) -> bool {
        self.sip_bound.load(Ordering::Relaxed)
            && self.component.is_connected()
            && self.trunk.as_ref().is_none_or(|t| t.is_registered())
    }

    /// The trunk registration's state for `/readyz`, with `[trunk]`.
    pub(crate) fn trunk_detail(&self) -> Option<String> {
        self.trunk.as_ref().map(|t| t.detail())
    }

    /// Copy the protocol counters into Prometheus and render the exposition.
    pub(crate) fn scrape(&self) -> String {
        self.metrics.observe_sip(&sip_snapshot(&self.sip.stats()));
        self.metrics
            .observe_xmpp(&xmpp_snapshot(&self.component.stats()));
        self.metrics.render()
    }
}

/// Where a running gateway listens (ports resolved when the config said `:0`).
#[derive(Debug, Clone)]
pub struct Bound {
    /// The metrics HTTP endpoint.
    pub metrics: SocketAddr,
    /// SIP listeners by transport.
    pub sip: Vec<(Transport, SocketAddr)>,
}

/// Run the gateway until `shutdown` is cancelled, then stop as design §2 says:
/// stop accepting, answer every in-flight request, close the component stream.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    run_with(config, shutdown, |_| {}).await
}

/// [`run`], telling `on_bound` where it listens once every listener is up.
pub async fn run_with(
    config: Config,
    shutdown: CancellationToken,
    on_bound: impl FnOnce(Bound),
) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::new().map_err(RunError::Metrics)?);
    // The store comes up first, so that /readyz never says ready before the
    // stored subscriptions are loaded; it never stops the gateway. A shared
    // store out of reach is waited for (nothing listens meanwhile) until
    // shutdown.
    let (store, store_task, loaded, opened) = {
        let m = Arc::clone(&metrics);
        let settings = config.store.settings();
        tokio::select! {
            opened = store::Store::open(&settings, move |kind| m.error(kind)) => opened,
            () = shutdown.cancelled() => return Ok(()),
        }
    };
    metrics.store_persistent(store.is_persistent());
    if let store::Opened::Recreated { moved_to } = &opened {
        metrics.error("store_recreated");
        warn!(moved_to = %moved_to.display(), "the store was unusable and has been recreated empty");
    }
    info!(
        path = %config.store.path.display(),
        url = %config.store.url,
        instance = store.instance_id(),
        persistent = store.is_persistent(),
        subscriptions_out = loaded.watches.len(),
        subscriptions_in = loaded.watchers.len(),
        "store opened"
    );

    let http_listener = TcpListener::bind(&config.metrics.listen)
        .await
        .map_err(|source| RunError::MetricsBind {
            addr: config.metrics.listen.clone(),
            source,
        })?;
    let metrics_addr = http_listener
        .local_addr()
        .map_err(|source| RunError::MetricsBind {
            addr: config.metrics.listen.clone(),
            source,
        })?;

    // Each side gets its own token so that shutdown can stop intake first and
    // close the links last.
    let sip_stop = CancellationToken::new();
    let xmpp_stop = CancellationToken::new();
    let http_stop = CancellationToken::new();

    // Validated at load by the same conversion, so this cannot fail for a
    // config that passed check-config; if it does, the start stops here.
    let sip_config = config.endpoint_config().map_err(RunError::Config)?;
    let listen = sip_config.listen.clone();
    let trusted = sip_config.rate_exempt.clone();
    let (sip, mut sip_events) = Endpoint::bind(sip_config, sip_stop.clone())
        .await
        .map_err(RunError::Sip)?;

    let msrp_stop = CancellationToken::new();
    let msrp = bind_msrp(&config, msrp_stop.clone()).await?;

    // Validated at load (CA file read, name parsed); loaded again here, so a
    // CA file broken since then stops the start, never connects in clear.
    let mut component_config = config.component_config().map_err(RunError::Config)?;
    component_config.keepalive_id_prefix = ping::id_prefix(store.is_shared(), store.instance_id());
    let (component, mut xmpp_events) = component::spawn(component_config, xmpp_stop.clone());

    // Issue 22 item 5: the carrier's registrar learns where Parley is.
    let trunk = match &config.trunk {
        Some(trunk_config) => {
            let password = trunk_config.read_password().map_err(RunError::Config)?;
            Some(trunk::Trunk::spawn(
                trunk_config,
                config.sip.outbound_proxy.clone(),
                password,
                sip.clone(),
                Arc::clone(&metrics),
            ))
        }
        None => None,
    };

    let health = Arc::new(Health {
        metrics: Arc::clone(&metrics),
        component: component.clone(),
        sip: sip.clone(),
        sip_bound: AtomicBool::new(true),
        trunk: trunk.as_ref().map(trunk::Trunk::status),
    });
    let http_task = tokio::spawn(http::serve(
        http_listener,
        Arc::clone(&health),
        http_stop.clone(),
    ));

    let bound_sip: Vec<(Transport, SocketAddr)> = listen
        .iter()
        .filter_map(|l| sip.local_addr(l.transport).map(|a| (l.transport, a)))
        .collect();
    info!(metrics = %metrics_addr, sip = ?bound_sip, "parley listening");
    on_bound(Bound {
        metrics: metrics_addr,
        sip: bound_sip,
    });

    let tasks = TaskTracker::new();
    let admission = admission(&config, trusted, &component, &metrics);
    info!(trusted_peers = ?config.sip.trusted_peers, "SIP requests claiming our users are accepted only from these peers");
    let router = router(
        &config,
        Wiring {
            sip: &sip,
            component: &component,
            msrp: msrp.clone(),
            store: store.clone(),
            metrics: &metrics,
            tasks: &tasks,
            admission: &admission,
        },
    );
    let mut restore = Some(loaded);
    // Design §4a: with a shared store, this instance's lease, the
    // subscriptions it takes over and the work handed to it.
    let ownership_stop = CancellationToken::new();
    let mut ownership = if store.is_shared() {
        Some(ownership::spawn(
            store.clone(),
            store.lease(),
            Arc::clone(&metrics),
            ownership_stop.clone(),
        ))
    } else {
        // One instance, one store: it holds everything.
        metrics.store_lease(true);
        None
    };

    let mut reaper = tokio::time::interval(Duration::from_millis(50));
    reaper.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    'run: loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(request) = sip_events.recv() => {
                if let Some(request) = admission.sip(request) {
                    router.handle_sip(request);
                }
            }
            event = xmpp_events.recv() => {
                // Issue 24: the events already read are handled in one pass,
                // so the SIP MESSAGEs their stanzas start leave together
                // (one sendmmsg) when it ends.
                let _batch = sip.send_batch();
                let mut event = event;
                for handled in 1..=EVENTS_PER_PASS {
                    match event {
                        Some(ComponentEvent::Stanza(stanza)) => {
                            if let Some(stanza) = admission.stanza(stanza, tokio::time::Instant::now()) {
                                // Boxed from the reader to here (issue 24).
                                router.handle_stanza(*stanza);
                            }
                        }
                        Some(ComponentEvent::Connected) => {
                            info!("component stream authenticated");
                            // Stored subscriptions need both links: probes and
                            // presence go out on the component stream.
                            if let Some(loaded) = restore.take() {
                                router.restore(loaded);
                            }
                        }
                        Some(ComponentEvent::Disconnected { reason }) => warn!(reason, "component stream lost"),
                        None => break 'run,
                    }
                    if handled == EVENTS_PER_PASS {
                        break;
                    }
                    match xmpp_events.try_recv() {
                        Ok(next) => event = Some(next),
                        Err(_) => break,
                    }
                }
            }
            // Stanzas that waited for their sender's rate, in order.
            () = admission.release_due() => {
                for stanza in admission.release(tokio::time::Instant::now()) {
                    router.handle_stanza(stanza);
                }
            }
            _ = reaper.tick() => router.reap(tokio::time::Instant::now()),
            Some(event) = ownership_event(&mut ownership) => match (event, restore.as_mut()) {
                // Before the component stream first came up: taken up with the rest.
                (ownership::Event::Claimed(claimed), Some(pending)) => {
                    pending.watches.extend(claimed.watches);
                    pending.watchers.extend(claimed.watchers);
                }
                (event, _) => router.ownership(event),
            },
        }
    }
    // No more takeovers: this instance is leaving.
    ownership_stop.cancel();

    // Shutdown (design §2, `drain.rs`): intake stops, accepted requests are
    // answered, SIP peers get `shutdown.grace_ms`; then the store and the
    // component stream get the second after it, so the process is gone
    // within grace + 1 s whatever the peers do.
    let grace = config.shutdown_grace();
    info!(
        grace_ms = grace.as_millis(),
        "shutting down: no new requests; finishing in-flight ones"
    );
    // The trunk's un-REGISTER (RFC 3261 §10.2.2) goes out beside the
    // drain and gets its deadline: the registrar stops sending here.
    let unregister = async {
        if let Some(trunk) = trunk {
            trunk.stop(tokio::time::Instant::now() + grace).await;
        }
    };
    tokio::join!(
        drain::drain(drain::Drain {
            router: &router,
            sip: &sip,
            sip_events,
            xmpp_events: &mut xmpp_events,
            shaped: admission.take_shaped(),
            tasks: &tasks,
            grace,
            retry_after_secs: config.limits.sip_retry_after_secs,
        }),
        unregister,
    );
    // The drain returns by grace + 150 ms at the latest.
    let hard_stop = tokio::time::Instant::now() + CLOSE_BUDGET;
    // The sessions got their BYE in the drain; their connections close now.
    if let Some(msrp) = &msrp {
        msrp_stop.cancel();
        if tokio::time::timeout(CLOSE_BUDGET / 4, msrp.shutdown())
            .await
            .is_err()
        {
            warn!("the MSRP endpoint did not stop in time");
        }
    }
    // Everything the tasks changed is written before the process goes;
    // then, with a shared store, the lease is handed back so that the other
    // instances take the subscriptions over at once (design §4a).
    if tokio::time::timeout(CLOSE_BUDGET / 2, store_task.close(&store))
        .await
        .is_err()
    {
        warn!("the store did not finish its writes in time");
    }
    // Close the component stream with </stream:stream> after its queue is flushed.
    xmpp_stop.cancel();
    if tokio::time::timeout_at(hard_stop, component.closed())
        .await
        .is_err()
    {
        warn!("component stream did not close in time");
    }
    sip_stop.cancel();
    http_stop.cancel();
    let _ = tokio::time::timeout(Duration::from_millis(50), http_task).await;
    info!("parley stopped");
    Ok(())
}

/// The next event of the lease task, or never without one.
async fn ownership_event(
    ownership: &mut Option<tokio::sync::mpsc::UnboundedReceiver<ownership::Event>>,
) -> Option<ownership::Event> {
    match ownership {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The admission checks for `config` (trusted SIP peers, XMPP sender
/// rates, forged `from`s), shared by `run_with` and the in-process tests.
pub(crate) fn admission(
    config: &Config,
    trusted: parley_sip::trust::TrustedPeers,
    component: &ComponentHandle,
    metrics: &Arc<Metrics>,
) -> Arc<admission::Admission> {
    Arc::new(admission::Admission::new(
        admission::AdmissionConfig {
            trusted,
            sip_domain: config.sip.domain.clone(),
            component_domain: config.xmpp.component_domain.clone(),
            user_domains: config.xmpp.user_domains.clone(),
            xmpp_shaping: config.limits.xmpp_shaping(),
            subscriptions_per_user: config.limits.subscriptions_per_user,
        },
        component.clone(),
        Arc::clone(metrics),
    ))
}

/// The MSRP endpoint of `[sessions]`, listening, when sessions are enabled.
pub(crate) async fn bind_msrp(
    config: &Config,
    cancel: CancellationToken,
) -> Result<Option<parley_msrp::endpoint::Endpoint>, RunError> {
    let sessions = &config.sessions;
    if !sessions.enabled {
        return Ok(None);
    }
    let msrp_config = parley_msrp::endpoint::EndpointConfig {
        listen: Some(sessions.msrp_listen),
        // A chunk may carry the largest message whole; the session's
        // reassembly answers 413 beyond it (RFC 7573 §8).
        limits: {
            let default = parley_msrp::wire::Limits::default();
            parley_msrp::wire::Limits {
                max_body: default.max_body.max(
                    usize::try_from(sessions.max_message_bytes)
                        .unwrap_or(usize::MAX)
                        .saturating_add(1024),
                ),
                ..default
            }
        },
        max_sessions: sessions.max_sessions,
        // RFC 4975 §14: msrps with `[sip.tls]`'s certificate, key and CAs.
        tls: sessions.msrps_listen.map(|listen| {
            let tls = config.sip.tls.as_ref();
            parley_msrp::endpoint::TlsConfig {
                listen: Some(listen),
                cert: tls.and_then(|t| t.cert.clone()),
                key: tls.and_then(|t| t.key.clone()),
                ca: tls.and_then(|t| t.ca.clone()),
            }
        }),
        ..parley_msrp::endpoint::EndpointConfig::default()
    };
    let endpoint = parley_msrp::endpoint::Endpoint::bind(msrp_config, cancel)
        .await
        .map_err(RunError::Msrp)?;
    info!(msrp = ?endpoint.local_addr(), msrps = ?endpoint.local_tls_addr(), "MSRP listening for chat sessions");
    Ok(Some(endpoint))
}

/// What the router is wired to besides the config.
pub(crate) struct Wiring<'a> {
    pub(crate) sip: &'a Endpoint,
    pub(crate) component: &'a ComponentHandle,
    /// The MSRP endpoint, when `[sessions]` is enabled.
    pub(crate) msrp: Option<parley_msrp::endpoint::Endpoint>,
    pub(crate) store: store::Store,
    pub(crate) metrics: &'a Arc<Metrics>,
    pub(crate) tasks: &'a TaskTracker,
    pub(crate) admission: &'a Arc<admission::Admission>,
}

/// The router and the [`links::Links`] its handlers share, built from
/// `config`: the one wiring `run_with` and the in-process tests
/// (`src/tests/`) both use.
pub(crate) fn router(config: &Config, wiring: Wiring<'_>) -> Router {
    let Wiring {
        sip,
        component,
        msrp,
        store,
        metrics,
        tasks,
        admission,
    } = wiring;
    let links = Arc::new(links::Links {
        mapper: AddressMapper {
            component_domain: config.xmpp.component_domain.clone(),
            sip_domain: config.sip.domain.clone(),
            foreign_domains: if config.messages.allow_foreign_domains {
                ForeignDomainPolicy::Allow
            } else {
                ForeignDomainPolicy::Refuse
            },
        },
        component_domain: config.xmpp.component_domain.clone(),
        sip: sip.clone(),
        xmpp: component.clone(),
        registry: Registry::new(),
        metrics: Arc::clone(metrics),
        store,
        tasks: tasks.clone(),
    });
    let messages = Arc::new(message::Messages::new(
        Arc::clone(&links),
        message::MessageSettings {
            options: MessageOptions {
                xmpp_type_chat: config.messages.xmpp_type == XmppMessageType::Chat,
            },
            delivery_window: config.delivery_window(),
            send_chat_states: config.messages.send_chat_states,
            receipts: config.messages.receipts,
        },
    ));
    // RFC 7702 §6: rooms share the MSRP endpoint of `[sessions]`.
    let groupchat = msrp
        .as_ref()
        .filter(|_| config.groupchat.enabled)
        .map(|msrp| {
            groupchat::Groupchat::new(
                Arc::clone(&links),
                groupchat::GroupchatSettings {
                    config: config.groupchat.clone(),
                    msrp: msrp.clone(),
                    host: config.sessions.advertised_host(),
                },
            )
        });
    // RFC 7702 §5: conferences share the MSRP endpoint of `[sessions]`.
    let conference = msrp
        .as_ref()
        .filter(|_| config.conference.enabled)
        .map(|msrp| {
            conference::Conferences::new(
                Arc::clone(&links),
                conference::ConferenceSettings {
                    config: config.conference.clone(),
                    msrp: msrp.clone(),
                    host: config.sessions.advertised_host(),
                    outbound_proxy: config.sip.outbound_proxy.clone(),
                },
            )
        });
    let sessions = msrp.map(|msrp| {
        // What a session cannot carry goes as page mode sends it.
        let page_mode: session::PageMode = {
            let messages = Arc::clone(&messages);
            Arc::new(move |m| messages.xmpp_message(m))
        };
        session::Sessions::new(
            Arc::clone(&links),
            session::SessionSettings {
                msrp,
                host: config.sessions.advertised_host(),
                max_message_bytes: config.sessions.max_message_bytes,
                limits: session::Limits {
                    total: config.sessions.max_sessions,
                    per_user: config.sessions.max_sessions_per_user,
                },
                idle: Duration::from_secs(config.sessions.idle_secs),
                retry_after_secs: config.limits.sip_retry_after_secs,
                start: config.sessions.start,
                answer: Duration::from_secs(config.sessions.answer_secs),
                fallback: Duration::from_secs(config.sessions.fallback_secs),
            },
            page_mode,
        )
    });
    // Issue 22 item 4: the registrar, its bindings the endpoint's location
    // service, and the challenger of untrusted requests claiming its users.
    let registrar = config.registrar.as_ref().and_then(|r| {
        match registrar::Registrar::new(r, &config.sip.domain, Arc::clone(metrics), &links.store) {
            Ok(registrar) => {
                let registrar = Arc::new(registrar);
                sip.set_location(Arc::clone(&registrar) as Arc<dyn parley_sip::Location>);
                admission.set_registrar(Arc::clone(&registrar));
                Some(registrar)
            }
            Err(e) => {
                tracing::error!(kind = e.kind(), error = %e, "registrar: users file unreadable; REGISTER is not served");
                None
            }
        }
    });
    Router::new(
        Arc::clone(&links),
        sessions,
        messages,
        presence::Presence::new(
            Arc::clone(&links),
            admission,
            sip.timers().timer_n(),
            // How the restore after a restart is paced.
            presence::Pacing {
                in_flight: config.store.restore_in_flight,
                queue_capacity: config.xmpp.queue_capacity,
            },
        ),
        disco::Disco::new(
            Arc::clone(&links),
            config.messages.receipts,
            config.messages.send_chat_states,
        ),
    )
    .with_registrar(registrar)
    .with_groupchat(groupchat)
    .with_conference(conference)
}

fn sip_snapshot(stats: &parley_sip::Stats) -> SipSnapshot {
    use parley_sip::stats::{METHODS, STATUS_CLASSES};
    let by = |names: &'static [&'static str], dir: &'static str, counts: &[u64]| {
        names
            .iter()
            .zip(counts)
            .map(move |(name, n)| (*name, dir, *n))
            .collect::<Vec<_>>()
    };
    let mut requests = by(&METHODS, "in", &stats.requests_in);
    requests.extend(by(&METHODS, "out", &stats.requests_out));
    let mut responses = by(&STATUS_CLASSES, "in", &stats.responses_in);
    responses.extend(by(&STATUS_CLASSES, "out", &stats.responses_out));
    SipSnapshot {
        requests,
        responses,
        retransmissions: stats.retransmissions_sent,
        parse_errors: stats.parse_errors,
        stray_responses: stats.stray_responses,
        pending_transactions: stats.pending_transactions,
        completed_transactions: stats.completed_transactions,
        limit_rejections: vec![
            (Limit::SipRate, stats.rate_limited),
            (Limit::SipRateDropped, stats.rate_limited_dropped),
            (
                Limit::SipPendingTransactions,
                stats.overloaded.saturating_sub(stats.overloaded_completed),
            ),
            (Limit::SipCompletedTransactions, stats.overloaded_completed),
            (Limit::SipIncomingQueue, stats.queue_full),
            (Limit::SipMessageSize, stats.oversize_messages),
        ],
    }
}

fn xmpp_snapshot(stats: &component::ComponentStats) -> XmppSnapshot {
    let c = |kind, dir, n| (kind, dir, n);
    XmppSnapshot {
        connected: stats.connected,
        reconnects: stats.reconnects,
        stanzas: vec![
            c("message", "in", stats.stanzas_in.message),
            c("presence", "in", stats.stanzas_in.presence),
            c("iq", "in", stats.stanzas_in.iq),
            c("message", "out", stats.stanzas_out.message),
            c("presence", "out", stats.stanzas_out.presence),
            c("iq", "out", stats.stanzas_out.iq),
        ],
        queue_len: u64::try_from(stats.queue_len).unwrap_or(u64::MAX),
        stream_errors: stats.parse_errors,
        tls_failures: [
            (
                metrics::COMPONENT_TLS_REASONS[0],
                stats.tls_certificate_refusals,
            ),
            (
                metrics::COMPONENT_TLS_REASONS[1],
                stats.tls_handshake_failures,
            ),
        ],
    }
}

/// In-process router tests: literal SIP in over loopback, literal XML out
/// through an in-memory component handle (issue 20 item 7).
#[cfg(test)]
mod tests;

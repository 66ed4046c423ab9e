//! What gets in: the trust and rate checks every SIP request and every stanza
//! passes before the router sees it (design §5; issue 7).
//!
//! - SIP: a request whose From claims one of our own users (host `sip.domain`,
//!   `xmpp.component_domain` or a subdomain of it, or a `tel:` number, which
//!   maps to a user of the component domain) is accepted only from a
//!   `sip.trusted_peers` source; others get 403 Forbidden (RFC 3261 §21.4.4:
//!   "The server understood the request, but is refusing to fulfill it.
//!   Authorization will not help"). The per-source request rate is enforced
//!   in `parley-sip` (it needs the transaction table).
//! - XMPP: a stanza whose `from` is in the component's own domain claims to
//!   come from one of our SIP users — only Parley may say that, so it is
//!   refused with `<forbidden/>` (RFC 6120 §8.3.3.4: an action "that only
//!   certain authorized roles or individuals are allowed to complete"; type
//!   `auth`, as that section says). Its sender gets no further attention.
//! - XMPP: with `xmpp.user_domains` set, a stanza from any other domain is
//!   refused with `<forbidden/>` type `auth` too: RFC 8048 §8.1 says access
//!   to a gateway "SHOULD be restricted", one that "ought to be associated
//!   with only a single domain or trust realm" (no open relay across XMPP
//!   domains reached over s2s).
//! - XMPP: each sender (bare JID) has a rate; over it, its stanzas wait in
//!   its own queue and go out at the rate, in order (`shaping.rs`; design
//!   §4b: the XMPP server has already authenticated and shaped its users, so
//!   a second fence that bounced a burst would lose messages the user meant
//!   to send). Only a stanza that finds its sender's queue, or the total of
//!   all queues, full is refused, with `<resource-constraint/>` type `wait`
//!   (RFC 6120 §8.3.3.18: "busy or lacks the system resources necessary to
//!   service the request"; `wait` says "retry after waiting", §8.3.2).
//!   `policy-violation` is kept for the subscription cap, a lasting policy
//!   rather than a passing load. Which stanzas count: [`is_shaped`](crate::admission::is_shaped).
//!
//! Error stanzas are never answered (RFC 6120 §8.3.1 rule 8).

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tokio::time::Instant;
use tracing::{debug, warn};

use parley_mapping::address::SipAddress;
use parley_sip::IncomingRequest;
use parley_sip::StatusCode;
use parley_sip::trust::TrustedPeers;
use parley_xmpp::component::ComponentHandle;
use parley_xmpp::jid;
use parley_xmpp::stanza::{DefinedCondition, ErrorType, IqType, Stanza, StanzaError};

use crate::metrics::{Limit, Metrics};
use crate::registrar::Registrar;
use crate::shaping::{Full, Offer, Shaper, ShapingLimit};

/// The decision for one SIP request, kept apart from the I/O so it can be tested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SipDecision {
    /// Hand it to the router.
    Admit,
    /// 403: it claims one of our users and its source is not trusted.
    UntrustedClaim,
}

/// The decision for one stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StanzaDecision {
    /// Hand it to the router now, outside any rate ([`is_shaped`] says which).
    Admit,
    /// Subject to its sender's rate: offer it to the shaper.
    Shape {
        /// The sender's bare JID, lowercased (resources share one rate).
        sender: String,
    },
    /// Its `from` is in the component's own domain.
    ForgedFrom,
    /// Its `from` is outside `xmpp.user_domains`.
    ForeignDomain,
}

/// Whether a stanza counts against its sender's rate and waits in its queue.
///
/// Counted: what a user originates and Parley turns into SIP traffic —
/// `<message/>` (a SIP MESSAGE each), `<presence/>` (SUBSCRIBEs, NOTIFYs to
/// every SIP watcher, fetches) and `<iq/>` requests (`get`, `set`). That
/// includes what the XMPP server sends on a user's behalf, such as the
/// presence and probes for every SIP contact at login: a burst that shaping
/// absorbs where a refusing limit would have dropped most of it.
///
/// Not counted, and never held: stanzas that answer something Parley sent.
/// - `type='error'` of any kind: a message error must reach the router within
///   `messages.delivery_window_ms` to become the SIP sender's final response
///   (RFC 7247 §7 Table 2), and an error could not be refused anyway (RFC 6120
///   §8.3.1 rule 8: no error in answer to an error).
/// - `<iq type='result'/>`: at most one per IQ Parley sent, so Parley bounds
///   them itself.
///
/// A presence that answers Parley's probe is counted: the server sends it on
/// the user's behalf like any other, and nothing in it says it is an answer.
/// It waits only behind that same user's own backlog.
pub(crate) fn is_shaped(stanza: &Stanza) -> bool {
    match stanza {
        Stanza::Iq(iq) => matches!(iq.iq_type, IqType::Get | IqType::Set),
        _ => !stanza.is_error(),
    }
}

/// The checks, with their state (the XMPP senders' rates and queues).
pub(crate) struct Admission {
    trusted: TrustedPeers,
    sip_domain: String,
    component_domain: String,
    user_domains: Vec<String>,
    /// Stanzas boxed as the component reader made them (issue 24).
    shaper: Mutex<Shaper<String, Box<Stanza>>>,
    xmpp: ComponentHandle,
    metrics: Arc<Metrics>,
    /// `limits.subscriptions_per_user`.
    pub subscriptions_per_user: usize,
    /// The registrar of `[registrar]`: its users are challenged, not refused.
    registrar: OnceLock<Arc<Registrar>>,
}

/// What [`Admission::new`] needs from the config.
#[derive(Debug, Clone)]
pub(crate) struct AdmissionConfig {
    /// `sip.trusted_peers`, parsed.
    pub trusted: TrustedPeers,
    /// `sip.domain`.
    pub sip_domain: String,
    /// `xmpp.component_domain`.
    pub component_domain: String,
    /// `xmpp.user_domains` (empty: any).
    pub user_domains: Vec<String>,
    /// The XMPP per-sender rate and queues.
    pub xmpp_shaping: ShapingLimit,
    /// `limits.subscriptions_per_user`.
    pub subscriptions_per_user: usize,
}

impl Admission {
    /// The checks for one running gateway.
    pub(crate) fn new(
        config: AdmissionConfig,
        xmpp: ComponentHandle,
        metrics: Arc<Metrics>,
    ) -> Self {
        Admission {
            trusted: config.trusted,
            sip_domain: config.sip_domain,
            component_domain: config.component_domain,
            user_domains: config.user_domains,
            shaper: Mutex::new(Shaper::new(config.xmpp_shaping, Instant::now())),
            xmpp,
            metrics,
            subscriptions_per_user: config.subscriptions_per_user,
            registrar: OnceLock::new(),
        }
    }

    /// Issue 22 item 4: requests claiming the registrar's users are
    /// challenged (407) instead of refused, and REGISTER goes to it.
    pub(crate) fn set_registrar(&self, registrar: Arc<Registrar>) {
        let _ = self.registrar.set(registrar);
    }

    /// Whether a From URI claims one of our own users.
    pub(crate) fn claims_our_user(&self, from_uri: &str) -> bool {
        let Ok(from) = SipAddress::parse(from_uri) else {
            // Unparsable: the router answers 400.
            return false;
        };
        match from.host() {
            Some(host) => {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                host.eq_ignore_ascii_case(&self.sip_domain)
                    || jid::is_within(host, &self.component_domain)
            }
            // A tel: number maps to +number@component_domain (RFC 7247 §6).
            None => true,
        }
    }

    /// Decides on a SIP request from its From URI and whether its source is trusted.
    pub(crate) fn decide_sip(&self, from_uri: &str, trusted: bool) -> SipDecision {
        if !trusted && self.claims_our_user(from_uri) {
            SipDecision::UntrustedClaim
        } else {
            SipDecision::Admit
        }
    }

    /// Checks a SIP request; answers it (403) and returns `None` when refused.
    pub(crate) fn sip(&self, request: IncomingRequest) -> Option<IncomingRequest> {
        let decision = self.decide_sip(
            request.from_uri_text(),
            request.is_trusted_by(&self.trusted),
        );
        match decision {
            SipDecision::Admit => Some(request),
            // Issue 22 item 4: the registrar authenticates REGISTER itself
            // (401, RFC 3261 §10.3 step 3), and challenges other requests
            // claiming one of its users (407, §22.3) instead of refusing.
            SipDecision::UntrustedClaim => match self.registrar.get() {
                Some(_) if request.method() == "REGISTER" => Some(request),
                Some(registrar) if registrar.is_user(request.from_uri_text()) => {
                    registrar.admit(request)
                }
                _ => self.refuse_untrusted(request),
            },
        }
    }

    /// 403 for a request claiming one of our users from an untrusted source.
    fn refuse_untrusted(&self, request: IncomingRequest) -> Option<IncomingRequest> {
        warn!(
            source = %request.source,
            transport = %request.transport,
            method = request.method(),
            "request claims one of our users from an untrusted peer: 403"
        );
        self.metrics.trust_rejection("sip");
        let (_, responder) = request.into_responder();
        responder.respond(StatusCode::FORBIDDEN, Some("Forbidden"), vec![], None);
        None
    }

    /// Decides on a stanza: the trust checks, then whether its sender's rate applies.
    pub(crate) fn decide_stanza(&self, stanza: &Stanza) -> StanzaDecision {
        let Some(from) = stanza.from() else {
            return StanzaDecision::Admit;
        };
        if jid::is_within(from, &self.component_domain) {
            // Design §4a (`ping.rs`): with several instances on the domain,
            // the answer to another instance's keepalive ping may come here.
            if crate::ping::is_keepalive_answer(stanza, &self.component_domain) {
                return StanzaDecision::Admit;
            }
            return StanzaDecision::ForgedFrom;
        }
        if !self.user_domains.is_empty()
            && !self.user_domains.iter().any(|d| jid::is_within(from, d))
        {
            return StanzaDecision::ForeignDomain;
        }
        if !is_shaped(stanza) {
            return StanzaDecision::Admit;
        }
        let bare = jid::bare(from);
        StanzaDecision::Shape {
            sender: bare.to_ascii_lowercase(),
        }
    }

    /// Checks a stanza arriving at `now`. `Some`: hand it to the router now.
    /// `None`: it waits for its sender's rate ([`Admission::release`] hands it
    /// out later), or it was refused and answered with an error.
    pub(crate) fn stanza(
        &self,
        stanza: impl Into<Box<Stanza>>,
        now: Instant,
    ) -> Option<Box<Stanza>> {
        let stanza = stanza.into();
        let (stanza, error) = match self.decide_stanza(&stanza) {
            StanzaDecision::Admit => return Some(stanza),
            StanzaDecision::Shape { sender } => {
                let offer = self.shaper().offer(sender, stanza, now);
                match offer {
                    Offer::Pass(stanza) => return Some(stanza),
                    Offer::Queued { position } => {
                        if position == 1 {
                            debug!("XMPP sender over its stanza rate: its stanzas wait");
                        }
                        self.metrics.stanza_shaped();
                        self.shaping_gauge();
                        return None;
                    }
                    Offer::Refused { item, full, first } => {
                        let (limit, what) = match full {
                            Full::Sender => (Limit::XmppRate, "its queue is full"),
                            Full::All => (
                                Limit::XmppQueuedStanzas,
                                "limits.xmpp_queued_stanzas reached",
                            ),
                        };
                        if first {
                            warn!(
                                from = item.from().unwrap_or_default(),
                                "XMPP sender over its stanza rate and {what}: resource-constraint"
                            );
                        } else {
                            debug!("XMPP sender still over its stanza rate: resource-constraint");
                        }
                        self.metrics.limit_rejection(limit);
                        (item, StanzaError::new(DefinedCondition::ResourceConstraint))
                    }
                }
            }
            // Our own error replies to a forged `from` come back here (the server
            // routes our domain to us); they are not answered (§8.3.1 rule 8)
            // and not counted twice.
            StanzaDecision::ForgedFrom if stanza.is_error() => {
                debug!("error stanza addressed from our own domain dropped");
                return None;
            }
            StanzaDecision::ForgedFrom => {
                warn!(
                    from = stanza.from().unwrap_or_default(),
                    "stanza from the server claims the component's own domain: forbidden"
                );
                self.metrics.trust_rejection("xmpp");
                let error = StanzaError {
                    error_type: ErrorType::Auth,
                    ..StanzaError::new(DefinedCondition::Forbidden)
                };
                (stanza, error)
            }
            StanzaDecision::ForeignDomain if stanza.is_error() => return None,
            StanzaDecision::ForeignDomain => {
                debug!(
                    from = stanza.from().unwrap_or_default(),
                    "stanza from outside xmpp.user_domains: forbidden"
                );
                self.metrics.trust_rejection("xmpp_domain");
                let error = StanzaError {
                    error_type: ErrorType::Auth,
                    ..StanzaError::new(DefinedCondition::Forbidden)
                };
                (stanza, error)
            }
        };
        if let Some(reply) = stanza.error_reply(error, &self.component_domain)
            && let Err(e) = self.xmpp.try_send(reply)
        {
            self.metrics.error(e.kind());
        }
        None
    }

    /// When the next waiting stanza is due (`None`: none waits).
    pub(crate) fn next_release(&self) -> Option<Instant> {
        self.shaper().poll_timeout()
    }

    /// Sleeps until the next waiting stanza is due, or for ever while none
    /// waits; the event loop then calls [`Admission::release`].
    ///
    /// A wake-up at the due instant rather than a look at every reaper tick:
    /// each stanza goes out when its sender's rate allows (within the 1 ms of
    /// tokio's timer), not in clumps of a tick's worth up to 50 ms late, the
    /// rate does not depend on the reaper's period, and nothing runs while no
    /// stanza waits. The deadline is read when the loop polls this, and the
    /// loop makes a new one after every event, so a stanza queued by the
    /// event just handled is seen.
    pub(crate) async fn release_due(&self) {
        match self.next_release() {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }

    /// The waiting stanzas due at `now`, each sender's in the order they came.
    pub(crate) fn release(&self, now: Instant) -> Vec<Stanza> {
        let released: Vec<Stanza> = {
            let mut shaper = self.shaper();
            std::iter::from_fn(|| shaper.poll_release(now).map(|s| *s)).collect()
        };
        self.shaping_gauge();
        released
    }

    /// Takes every stanza still waiting for its sender's rate out of the
    /// queues, each sender's in the order they came, for shutdown to answer
    /// (they were never handed to the router, so nobody else will). Afterwards
    /// nothing waits; a stanza offered later is shaped as before, so stop
    /// intake first.
    pub(crate) fn take_shaped(&self) -> Vec<Stanza> {
        let taken = self.shaper().take_all().into_iter().map(|s| *s).collect();
        self.shaping_gauge();
        taken
    }

    fn shaper(&self) -> MutexGuard<'_, Shaper<String, Box<Stanza>>> {
        // The shaper does not panic; were it to, its queues would still be
        // bounded: keep using them rather than stop admitting stanzas.
        self.shaper.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn shaping_gauge(&self) {
        let queued = self.shaper().queued();
        self.metrics.shaping_queue(queued);
    }

    /// Counts a subscription refused by `limits.subscriptions_per_user`.
    pub(crate) fn subscription_cap_reached(&self) {
        warn!(
            cap = self.subscriptions_per_user,
            "user at the subscription limit: refused"
        );
        self.metrics.limit_rejection(Limit::SubscriptionsPerUser);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use parley_xmpp::component::{self, ComponentConfig};
    use parley_xmpp::stanza::{Iq, Message, MessageType, Presence, PresenceType};
    use tokio_util::sync::CancellationToken;

    use super::*;

    fn admission(rate: u32, burst: u32) -> Admission {
        admission_for(rate, burst, &[])
    }

    fn admission_for(rate: u32, burst: u32, user_domains: &[&str]) -> Admission {
        admission_with(
            ShapingLimit {
                per_second: rate,
                burst,
                sender_queue: 100,
                queued: 1000,
                max_senders: 100,
            },
            user_domains,
        )
    }

    fn admission_with(xmpp_shaping: ShapingLimit, user_domains: &[&str]) -> Admission {
        let (handle, _events) = component::spawn(
            ComponentConfig {
                server: "127.0.0.1:9".into(),
                component_domain: "sip.example.net".into(),
                ..ComponentConfig::default()
            },
            CancellationToken::new(),
        );
        Admission::new(
            AdmissionConfig {
                trusted: TrustedPeers::parse(&["10.0.0.0/8"]).expect("valid"),
                sip_domain: "example.net".into(),
                component_domain: "sip.example.net".into(),
                user_domains: user_domains.iter().map(|d| (*d).to_owned()).collect(),
                xmpp_shaping,
                subscriptions_per_user: 2,
            },
            handle,
            Arc::new(Metrics::new().expect("metrics")),
        )
    }

    fn message_from(from: &str) -> Stanza {
        Stanza::Message(Message {
            from: Some(from.into()),
            to: Some("bob@sip.example.net".into()),
            body: Some("hi".into()),
            ..Message::default()
        })
    }

    /// Issue 7: "only trusted peers may originate requests whose From claims a
    /// user of sip.domain; others get 403".
    #[tokio::test]
    async fn untrusted_source_claiming_our_user_is_refused_and_a_trusted_one_passes() {
        let a = admission(10, 10);
        for ours in [
            "sip:bob@example.net",
            "<sip:bob@EXAMPLE.net>",
            "sip:bob@sip.example.net",
            "sips:x@conf.sip.example.net",
            "tel:+15551234",
        ] {
            let ours = ours.trim_matches(['<', '>']);
            assert_eq!(
                a.decide_sip(ours, false),
                SipDecision::UntrustedClaim,
                "{ours}"
            );
            assert_eq!(a.decide_sip(ours, true), SipDecision::Admit, "{ours}");
        }
        // Someone else's user from anywhere is not a claim on ours.
        assert_eq!(
            a.decide_sip("sip:alice@other.example", false),
            SipDecision::Admit
        );
        assert_eq!(
            a.decide_sip("sip:bob@notexample.net", false),
            SipDecision::Admit
        );
    }

    /// RFC 8048 §8.1: a gateway "ought to be associated with only a single
    /// domain or trust realm" — with `xmpp.user_domains` set, users of other
    /// domains are refused; without it, anyone the server routes is served.
    #[tokio::test]
    async fn stanzas_from_outside_the_user_domains_are_refused() {
        let a = admission_for(100, 100, &["example.com"]);
        for inside in [
            "juliet@example.com/balcony",
            "romeo@EXAMPLE.com",
            "x@chat.example.com",
        ] {
            assert_eq!(
                a.decide_stanza(&message_from(inside)),
                StanzaDecision::Shape {
                    sender: inside
                        .split('/')
                        .next()
                        .unwrap_or_default()
                        .to_ascii_lowercase()
                },
                "{inside}"
            );
        }
        for outside in [
            "mallory@example.org/x",
            "eve@notexample.com",
            "example.com.evil.net",
        ] {
            assert_eq!(
                a.decide_stanza(&message_from(outside)),
                StanzaDecision::ForeignDomain,
                "{outside}"
            );
        }
        // Forged still wins over foreign: our own domain is never a user domain.
        assert_eq!(
            a.decide_stanza(&message_from("bob@sip.example.net")),
            StanzaDecision::ForgedFrom
        );
        let open = admission(100, 100);
        assert_eq!(
            open.decide_stanza(&message_from("mallory@example.org")),
            StanzaDecision::Shape {
                sender: "mallory@example.org".into()
            }
        );
    }

    #[tokio::test]
    async fn stanza_claiming_the_component_domain_is_forged() {
        let a = admission(10, 10);
        for forged in [
            "bob@sip.example.net/phone",
            "sip.example.net",
            "x@sub.sip.example.net",
        ] {
            assert_eq!(
                a.decide_stanza(&message_from(forged)),
                StanzaDecision::ForgedFrom,
                "{forged}"
            );
        }
        assert_eq!(
            a.decide_stanza(&message_from("juliet@xmpp.example/balcony")),
            StanzaDecision::Shape {
                sender: "juliet@xmpp.example".into()
            }
        );
        // Another instance's keepalive answered to the domain is not forged;
        // any other IQ from the domain is.
        let iq = |iq_type, id: &str, from: &str| {
            Stanza::Iq(parley_xmpp::stanza::Iq {
                from: Some(from.into()),
                to: Some("sip.example.net".into()),
                id: id.into(),
                iq_type,
                payload: None,
                error: None,
            })
        };
        use parley_xmpp::stanza::IqType;
        assert_eq!(
            a.decide_stanza(&iq(
                IqType::Result,
                "parley-keepalive-b-1f",
                "sip.example.net"
            )),
            StanzaDecision::Admit
        );
        for forged in [
            iq(IqType::Get, "parley-keepalive-b-1f", "sip.example.net"),
            iq(IqType::Result, "other-1", "sip.example.net"),
            iq(
                IqType::Result,
                "parley-keepalive-b-1f",
                "bob@sip.example.net",
            ),
        ] {
            assert_eq!(
                a.decide_stanza(&forged),
                StanzaDecision::ForgedFrom,
                "{forged:?}"
            );
        }
    }

    /// Issue 26 §2: over its rate a sender's stanzas wait and come out at the
    /// rate in order; only the one that finds the queue full is refused
    /// (RFC 6120 §8.3.3.18); resources share the bare JID's rate; another
    /// sender is not held up.
    #[tokio::test]
    async fn xmpp_sender_over_its_rate_waits_in_order_and_only_a_full_queue_refuses() {
        let a = admission_with(
            ShapingLimit {
                per_second: 10,
                burst: 2,
                sender_queue: 2,
                queued: 100,
                max_senders: 100,
            },
            &[],
        );
        let t0 = Instant::now();
        let juliet = |res: &str, id: &str| {
            Stanza::Message(Message {
                from: Some(format!("Juliet@xmpp.example/{res}")),
                to: Some("bob@sip.example.net".into()),
                id: Some(id.into()),
                body: Some("hi".into()),
                ..Message::default()
            })
        };
        let id = |s: &Stanza| match s {
            Stanza::Message(m) => m.id.clone().unwrap_or_default(),
            other => panic!("not a message: {other:?}"),
        };
        assert_eq!(
            a.stanza(juliet("a", "j1"), t0)
                .as_deref()
                .map(id)
                .as_deref(),
            Some("j1")
        );
        assert_eq!(
            a.stanza(juliet("b", "j2"), t0)
                .as_deref()
                .map(id)
                .as_deref(),
            Some("j2")
        );
        assert!(a.stanza(juliet("a", "j3"), t0).is_none());
        assert!(a.stanza(juliet("b", "j4"), t0).is_none());
        // The queue holds two: j5 is refused.
        assert!(a.stanza(juliet("a", "j5"), t0).is_none());
        let romeo = Stanza::Presence(Presence {
            from: Some("romeo@xmpp.example".into()),
            presence_type: Some(PresenceType::Subscribe),
            ..Presence::default()
        });
        assert!(a.stanza(romeo, t0).is_some(), "romeo has his own rate");
        assert_eq!(a.next_release(), Some(t0 + Duration::from_millis(100)));
        assert!(a.release(t0 + Duration::from_millis(99)).is_empty());
        let first: Vec<String> = a
            .release(t0 + Duration::from_millis(100))
            .iter()
            .map(id)
            .collect();
        assert_eq!(first, ["j3"]);
        let second: Vec<String> = a
            .release(t0 + Duration::from_millis(200))
            .iter()
            .map(id)
            .collect();
        assert_eq!(second, ["j4"]);
        assert_eq!(a.next_release(), None);
        let metrics = a.metrics.render();
        assert!(
            metrics.contains("parley_xmpp_stanzas_shaped_total 2"),
            "{metrics}"
        );
        assert!(
            metrics.contains("parley_limit_rejections_total{limit=\"xmpp_rate\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("parley_xmpp_shaping_queue_length 0"),
            "{metrics}"
        );
    }

    /// Issue 26 §2 and RFC 6120 §8.3.1 rule 8: replies to what Parley sent
    /// (errors of every kind, IQ results) are never held behind a backlog
    /// nor refused; requests are.
    #[tokio::test]
    async fn replies_to_parley_pass_a_full_queue_and_requests_wait() {
        let a = admission_with(
            ShapingLimit {
                per_second: 1,
                burst: 1,
                sender_queue: 1,
                queued: 1,
                max_senders: 100,
            },
            &[],
        );
        let t0 = Instant::now();
        let from = || Some("juliet@xmpp.example/balcony".to_owned());
        // Use the burst, fill the queue: juliet is now over everything.
        assert!(
            a.stanza(message_from("juliet@xmpp.example/balcony"), t0)
                .is_some()
        );
        assert!(
            a.stanza(message_from("juliet@xmpp.example/balcony"), t0)
                .is_none()
        );
        let error_message = Stanza::Message(Message {
            from: from(),
            id: Some("parley-1".into()),
            message_type: Some(MessageType::Error),
            error: Some(StanzaError::new(DefinedCondition::ServiceUnavailable)),
            ..Message::default()
        });
        let error_presence = Stanza::Presence(Presence {
            from: from(),
            presence_type: Some(PresenceType::Error),
            ..Presence::default()
        });
        let iq = |iq_type| {
            Stanza::Iq(Iq {
                from: from(),
                to: Some("bob@sip.example.net".into()),
                id: "q1".into(),
                iq_type,
                payload: None,
                error: None,
            })
        };
        for reply in [
            error_message,
            error_presence,
            iq(IqType::Result),
            iq(IqType::Error),
        ] {
            assert!(!is_shaped(&reply), "{reply:?}");
            assert_eq!(a.decide_stanza(&reply), StanzaDecision::Admit, "{reply:?}");
            assert!(
                a.stanza(reply, t0).is_some(),
                "a reply is handed over at once"
            );
        }
        for request in [
            iq(IqType::Get),
            iq(IqType::Set),
            message_from("juliet@xmpp.example"),
            Stanza::Presence(Presence {
                from: from(),
                ..Presence::default()
            }),
        ] {
            assert!(is_shaped(&request), "{request:?}");
            assert!(
                a.stanza(request, t0).is_none(),
                "refused: the queue is full"
            );
        }
    }

    /// For the shutdown sequence: every waiting stanza comes out, in order,
    /// and nothing is released afterwards.
    #[tokio::test]
    async fn take_shaped_hands_over_every_waiting_stanza() {
        let a = admission(1, 1);
        let t0 = Instant::now();
        for sender in ["juliet@xmpp.example", "romeo@xmpp.example"] {
            for _ in 0..3 {
                a.stanza(message_from(sender), t0);
            }
        }
        let taken: Vec<String> = a
            .take_shaped()
            .iter()
            .map(|s| s.from().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(
            taken,
            [
                "juliet@xmpp.example",
                "juliet@xmpp.example",
                "romeo@xmpp.example",
                "romeo@xmpp.example"
            ]
        );
        assert_eq!(a.next_release(), None);
        assert!(a.release(t0 + Duration::from_secs(60)).is_empty());
        assert!(
            a.metrics
                .render()
                .contains("parley_xmpp_shaping_queue_length 0"),
            "the gauge follows"
        );
    }

    /// The release hook on tokio's clock: paused time, so the wake-up instant
    /// is asserted exactly.
    #[tokio::test(start_paused = true)]
    async fn release_due_wakes_when_the_next_stanza_is_due() {
        let a = admission(10, 1);
        let t0 = Instant::now();
        assert!(a.stanza(message_from("juliet@xmpp.example"), t0).is_some());
        assert!(a.stanza(message_from("juliet@xmpp.example"), t0).is_none());
        a.release_due().await;
        let woke = Instant::now() - t0;
        assert!(
            woke >= Duration::from_millis(100) && woke < Duration::from_millis(101),
            "{woke:?}"
        );
        assert_eq!(a.release(Instant::now()).len(), 1);
        // Nothing waits: release_due does not return.
        let idle = tokio::time::timeout(Duration::from_secs(3600), a.release_due()).await;
        assert!(idle.is_err());
    }
}

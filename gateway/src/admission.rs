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
//! - XMPP: each sender (bare JID) has a token bucket; over it, the stanza is
//!   refused with `<resource-constraint/>` type `wait` (RFC 6120 §8.3.3.18:
//!   "busy or lacks the system resources necessary to service the request";
//!   `wait` says "retry after waiting", §8.3.2). `policy-violation` is kept for
//!   the subscription cap, a lasting policy rather than a passing load.
//!
//! Error stanzas are never answered (RFC 6120 §8.3.1 rule 8).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tracing::{debug, warn};

use parley_mapping::address::SipAddress;
use parley_sip::IncomingRequest;
use parley_sip::rate::{RateLimit, SourceRates, Verdict};
use parley_sip::trust::TrustedPeers;
use parley_xmpp::component::ComponentHandle;
use parley_xmpp::jid;
use parley_xmpp::stanza::{DefinedCondition, ErrorType, Stanza, StanzaError};

use crate::metrics::{Limit, Metrics};

/// The decision for one SIP request, kept apart from the I/O so it can be tested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipDecision {
    /// Hand it to the router.
    Admit,
    /// 403: it claims one of our users and its source is not trusted.
    UntrustedClaim,
}

/// The decision for one stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StanzaDecision {
    /// Hand it to the router.
    Admit,
    /// Its `from` is in the component's own domain.
    ForgedFrom,
    /// Its `from` is outside `xmpp.user_domains`.
    ForeignDomain,
    /// Its sender is over the stanza rate (`first`: since it was last admitted).
    OverRate {
        /// The first refusal of this episode (logged at warn; the rest at debug).
        first: bool,
    },
}

/// The checks, with their state (the XMPP rate table).
pub struct Admission {
    trusted: TrustedPeers,
    sip_domain: String,
    component_domain: String,
    user_domains: Vec<String>,
    xmpp_rates: Mutex<SourceRates<String>>,
    xmpp: ComponentHandle,
    metrics: Arc<Metrics>,
    /// `limits.subscriptions_per_user`.
    pub subscriptions_per_user: usize,
}

/// What [`Admission::new`] needs from the config.
#[derive(Debug, Clone)]
pub struct AdmissionConfig {
    /// `sip.trusted_peers`, parsed.
    pub trusted: TrustedPeers,
    /// `sip.domain`.
    pub sip_domain: String,
    /// `xmpp.component_domain`.
    pub component_domain: String,
    /// `xmpp.user_domains` (empty: any).
    pub user_domains: Vec<String>,
    /// The XMPP per-sender rate.
    pub xmpp_rate: RateLimit,
    /// `limits.subscriptions_per_user`.
    pub subscriptions_per_user: usize,
}

impl Admission {
    /// The checks for one running gateway.
    pub fn new(config: AdmissionConfig, xmpp: ComponentHandle, metrics: Arc<Metrics>) -> Self {
        Admission {
            trusted: config.trusted,
            sip_domain: config.sip_domain,
            component_domain: config.component_domain,
            user_domains: config.user_domains,
            xmpp_rates: Mutex::new(SourceRates::new(config.xmpp_rate, Instant::now())),
            xmpp,
            metrics,
            subscriptions_per_user: config.subscriptions_per_user,
        }
    }

    /// Whether a From URI claims one of our own users.
    pub fn claims_our_user(&self, from_uri: &str) -> bool {
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
    pub fn decide_sip(&self, from_uri: &str, trusted: bool) -> SipDecision {
        if !trusted && self.claims_our_user(from_uri) {
            SipDecision::UntrustedClaim
        } else {
            SipDecision::Admit
        }
    }

    /// Checks a SIP request; answers it (403) and returns `None` when refused.
    pub fn sip(&self, request: IncomingRequest) -> Option<IncomingRequest> {
        let decision = self.decide_sip(&request.from_uri(), request.is_trusted_by(&self.trusted));
        match decision {
            SipDecision::Admit => Some(request),
            SipDecision::UntrustedClaim => {
                warn!(
                    source = %request.source,
                    transport = %request.transport,
                    method = request.method(),
                    "request claims one of our users from an untrusted peer: 403"
                );
                self.metrics.trust_rejection("sip");
                let (_, responder) = request.into_responder();
                responder.respond(403, Some("Forbidden"), vec![], None);
                None
            }
        }
    }

    /// Decides on a stanza (counting it against its sender's rate).
    pub fn decide_stanza(&self, stanza: &Stanza, now: Instant) -> StanzaDecision {
        let Some(from) = stanza.from() else {
            return StanzaDecision::Admit;
        };
        if jid::is_within(from, &self.component_domain) {
            return StanzaDecision::ForgedFrom;
        }
        if !self.user_domains.is_empty()
            && !self.user_domains.iter().any(|d| jid::is_within(from, d))
        {
            return StanzaDecision::ForeignDomain;
        }
        let bare = from.split_once('/').map_or(from, |(b, _)| b);
        let verdict = match self.xmpp_rates.lock() {
            Ok(mut rates) => rates.check(bare.to_ascii_lowercase(), false, now),
            Err(_) => Verdict::Admit,
        };
        match verdict {
            Verdict::Admit => StanzaDecision::Admit,
            Verdict::Refuse { first, .. } => StanzaDecision::OverRate { first },
            Verdict::Drop => StanzaDecision::OverRate { first: false },
        }
    }

    /// Checks a stanza; answers it with an error and returns `None` when refused.
    pub fn stanza(&self, stanza: Stanza) -> Option<Stanza> {
        let error = match self.decide_stanza(&stanza, Instant::now()) {
            StanzaDecision::Admit => return Some(stanza),
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
                StanzaError {
                    error_type: ErrorType::Auth,
                    ..StanzaError::new(DefinedCondition::Forbidden)
                }
            }
            StanzaDecision::ForeignDomain if stanza.is_error() => return None,
            StanzaDecision::ForeignDomain => {
                debug!(
                    from = stanza.from().unwrap_or_default(),
                    "stanza from outside xmpp.user_domains: forbidden"
                );
                self.metrics.trust_rejection("xmpp_domain");
                StanzaError {
                    error_type: ErrorType::Auth,
                    ..StanzaError::new(DefinedCondition::Forbidden)
                }
            }
            StanzaDecision::OverRate { first } => {
                if first {
                    warn!(
                        from = stanza.from().unwrap_or_default(),
                        "XMPP sender over its stanza rate: resource-constraint"
                    );
                } else {
                    debug!("XMPP sender still over its stanza rate: resource-constraint");
                }
                self.metrics.limit_rejection(Limit::XmppRate);
                StanzaError::new(DefinedCondition::ResourceConstraint)
            }
        };
        if let Some(reply) = stanza.error_reply(error, &self.component_domain)
            && let Err(e) = self.xmpp.try_send(reply)
        {
            self.metrics.error(e.kind());
        }
        None
    }

    /// Counts a subscription refused by `limits.subscriptions_per_user`.
    pub fn subscription_cap_reached(&self) {
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
    use parley_xmpp::stanza::{Message, Presence, PresenceType};
    use tokio_util::sync::CancellationToken;

    use super::*;

    fn admission(rate: u32, burst: u32) -> Admission {
        admission_for(rate, burst, &[])
    }

    fn admission_for(rate: u32, burst: u32, user_domains: &[&str]) -> Admission {
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
                xmpp_rate: RateLimit {
                    per_second: rate,
                    burst,
                    max_sources: 100,
                    refusals_before_silence: 1,
                },
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
        let now = Instant::now();
        let a = admission_for(100, 100, &["example.com"]);
        for inside in [
            "juliet@example.com/balcony",
            "romeo@EXAMPLE.com",
            "x@chat.example.com",
        ] {
            assert_eq!(
                a.decide_stanza(&message_from(inside), now),
                StanzaDecision::Admit,
                "{inside}"
            );
        }
        for outside in [
            "mallory@example.org/x",
            "eve@notexample.com",
            "example.com.evil.net",
        ] {
            assert_eq!(
                a.decide_stanza(&message_from(outside), now),
                StanzaDecision::ForeignDomain,
                "{outside}"
            );
        }
        // Forged still wins over foreign: our own domain is never a user domain.
        assert_eq!(
            a.decide_stanza(&message_from("bob@sip.example.net"), now),
            StanzaDecision::ForgedFrom
        );
        let open = admission(100, 100);
        assert_eq!(
            open.decide_stanza(&message_from("mallory@example.org"), now),
            StanzaDecision::Admit
        );
    }

    #[tokio::test]
    async fn stanza_claiming_the_component_domain_is_forged() {
        let a = admission(10, 10);
        let now = Instant::now();
        for forged in [
            "bob@sip.example.net/phone",
            "sip.example.net",
            "x@sub.sip.example.net",
        ] {
            assert_eq!(
                a.decide_stanza(&message_from(forged), now),
                StanzaDecision::ForgedFrom,
                "{forged}"
            );
        }
        assert_eq!(
            a.decide_stanza(&message_from("juliet@xmpp.example/balcony"), now),
            StanzaDecision::Admit
        );
    }

    /// RFC 6120 §8.3.3.18: a sender over its rate gets resource-constraint; other senders do not.
    #[tokio::test]
    async fn xmpp_sender_over_its_rate_is_refused_while_another_is_admitted() {
        let a = admission(1, 2);
        let t0 = Instant::now();
        let juliet = |res: &str| message_from(&format!("juliet@xmpp.example/{res}"));
        assert_eq!(a.decide_stanza(&juliet("a"), t0), StanzaDecision::Admit);
        // Resources share the bare JID's bucket.
        assert_eq!(a.decide_stanza(&juliet("b"), t0), StanzaDecision::Admit);
        assert_eq!(
            a.decide_stanza(&juliet("a"), t0),
            StanzaDecision::OverRate { first: true }
        );
        assert_eq!(
            a.decide_stanza(&juliet("b"), t0),
            StanzaDecision::OverRate { first: false }
        );
        let romeo = Stanza::Presence(Presence {
            from: Some("romeo@xmpp.example".into()),
            presence_type: Some(PresenceType::Subscribe),
            ..Presence::default()
        });
        assert_eq!(a.decide_stanza(&romeo, t0), StanzaDecision::Admit);
        let later = t0 + Duration::from_secs(1);
        assert_eq!(a.decide_stanza(&juliet("a"), later), StanzaDecision::Admit);
    }
}

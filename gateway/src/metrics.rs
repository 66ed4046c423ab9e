//! Prometheus metrics: the only file that imports `prometheus`.
//!
//! Names follow `parley_<area>_<thing>_<unit|total>`; every label value comes
//! from a fixed set (an enum or a protocol keyword), never from a user address.
//! The SIP and XMPP crates keep plain counters; [`Metrics::observe_sip`] and
//! [`Metrics::observe_xmpp`] copy their snapshots in at scrape time.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use parley_mapping::error::NotCarried;

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From the SIP side to the XMPP side.
    SipToXmpp,
    /// From the XMPP side to the SIP side.
    XmppToSip,
}

impl Direction {
    /// Every value, for the series exported from start.
    const ALL: [Self; 2] = [Self::SipToXmpp, Self::XmppToSip];

    fn label(self) -> &'static str {
        match self {
            Self::SipToXmpp => "sip_to_xmpp",
            Self::XmppToSip => "xmpp_to_sip",
        }
    }
}

/// How a translated message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Delivered (SIP 2xx, or handed to the XMPP server with no error in the window).
    Delivered,
    /// Refused before translation finished (unmappable address, bad body, …).
    Rejected,
    /// The other side answered with an error.
    Failed,
    /// The other side did not answer in time.
    TimedOut,
    /// The other side was unreachable (component down, transport error).
    Unavailable,
}

impl Outcome {
    /// Every value, for the series exported from start.
    const ALL: [Self; 5] = [
        Self::Delivered,
        Self::Rejected,
        Self::Failed,
        Self::TimedOut,
        Self::Unavailable,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::TimedOut => "timeout",
            Self::Unavailable => "unavailable",
        }
    }
}

/// Why an INVITE for a chat session was refused (RFC 7573 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionRefusal {
    /// No body, or a body that is not `application/sdp` (488, 415).
    NoOffer,
    /// The SDP did not parse (488).
    BadOffer,
    /// The offer has no usable MSRP media (488 with a Warning).
    NotAcceptable,
    /// A party's address cannot be mapped (RFC 7247 §7).
    Unmappable,
    /// `sessions.max_sessions_per_user` (486).
    UserLimit,
    /// `sessions.max_sessions`, or the MSRP endpoint's own bound (503).
    Overloaded,
    /// The XMPP side is down (503).
    Unavailable,
    /// RFC 4028 §9: a Session-Expires below Parley's minimum (422).
    IntervalTooSmall,
}

/// How an XMPP user's join of a SIP conference ended (RFC 7702 §5.1, §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConferenceJoin {
    /// The focus answered 2xx and the switch took the nickname.
    Joined,
    /// The focus refused the INVITE (its status as a presence error).
    Refused,
    /// The switch refused the NICKNAME (425: `<conflict/>`).
    NicknameRefused,
    /// A step got no answer within `conference.join_secs`.
    Timeout,
    /// `conference.max_per_user`.
    UserLimit,
    /// An address that cannot be mapped.
    BadRequest,
    /// No usable SDP answer, no INVITE sent, no MSRP session.
    Failed,
}

impl ConferenceJoin {
    const ALL: [Self; 7] = [
        Self::Joined,
        Self::Refused,
        Self::NicknameRefused,
        Self::Timeout,
        Self::UserLimit,
        Self::BadRequest,
        Self::Failed,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Joined => "joined",
            Self::Refused => "refused",
            Self::NicknameRefused => "nickname_refused",
            Self::Timeout => "timeout",
            Self::UserLimit => "user_limit",
            Self::BadRequest => "bad_request",
            Self::Failed => "failed",
        }
    }
}

/// How a SIP user's join of an XMPP room ended (RFC 7702 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupchatJoin {
    /// The room sent the self-presence: 200.
    Joined,
    /// The room refused the join (XEP-0045 §7.2 errors).
    Refused,
    /// The room did not answer within `groupchat.join_secs` (504).
    Timeout,
    /// `groupchat.max_rooms_per_user` (486).
    UserLimit,
    /// No usable MSRP offer (415, 488), or an address that cannot be mapped.
    BadRequest,
    /// The phone cancelled the INVITE before the room answered.
    Cancelled,
    /// The XMPP side is down, or the MSRP session could not be opened.
    Failed,
}

impl GroupchatJoin {
    const ALL: [Self; 7] = [
        Self::Joined,
        Self::Refused,
        Self::Timeout,
        Self::UserLimit,
        Self::BadRequest,
        Self::Cancelled,
        Self::Failed,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Joined => "joined",
            Self::Refused => "refused",
            Self::Timeout => "timeout",
            Self::UserLimit => "user_limit",
            Self::BadRequest => "bad_request",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }
}

/// How a session Parley started from the XMPP side went (RFC 7573 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionStart {
    /// 2xx with a usable answer, MSRP session open.
    Opened,
    /// A final answer other than 2xx (415, 488, 606, …).
    Refused,
    /// No final answer within `sessions.answer_secs` (the INVITE is cancelled).
    Timeout,
    /// A 2xx whose SDP answer cannot be used (ACKed, then BYE).
    BadAnswer,
    /// The INVITE could not be sent, or the MSRP session not opened.
    Failed,
}

impl SessionStart {
    const ALL: [Self; 5] = [
        Self::Opened,
        Self::Refused,
        Self::Timeout,
        Self::BadAnswer,
        Self::Failed,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Refused => "refused",
            Self::Timeout => "timeout",
            Self::BadAnswer => "bad_answer",
            Self::Failed => "failed",
        }
    }
}

/// Why an XMPP message meant for a session went as SIP MESSAGE instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fallback {
    /// The session could not be started, or ended before it went out.
    SessionFailed,
    /// The SIP user's phone refused a session within `sessions.fallback_secs`.
    Declined,
}

impl Fallback {
    const ALL: [Self; 2] = [Self::SessionFailed, Self::Declined];

    fn label(self) -> &'static str {
        match self {
            Self::SessionFailed => "session_failed",
            Self::Declined => "declined",
        }
    }
}

impl SessionRefusal {
    /// Every value, for the series exported from start.
    const ALL: [Self; 8] = [
        Self::NoOffer,
        Self::BadOffer,
        Self::NotAcceptable,
        Self::Unmappable,
        Self::UserLimit,
        Self::Overloaded,
        Self::Unavailable,
        Self::IntervalTooSmall,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::NoOffer => "no_offer",
            Self::BadOffer => "bad_offer",
            Self::NotAcceptable => "not_acceptable",
            Self::Unmappable => "unmappable",
            Self::UserLimit => "user_limit",
            Self::Overloaded => "overloaded",
            Self::IntervalTooSmall => "interval_too_small",
            Self::Unavailable => "unavailable",
        }
    }
}

/// What happened to a receipt (RFC 5438 IMDN ↔ XEP-0184/XEP-0333).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReceiptEvent {
    /// A request was carried across (IMDN headers or `<request/>`/`<markable/>`).
    Requested,
    /// A delivery notification / `<received/>` was carried back.
    Delivered,
    /// A display notification / `<displayed/>` was carried back.
    Displayed,
    /// A request was dropped: the SIP peer refused CPIM, so the message went as
    /// plain text without it.
    Dropped,
    /// A notification or ack matched nothing in flight (unknown, expired, or
    /// from someone else) and was ignored.
    Unmatched,
}

impl ReceiptEvent {
    /// Every value, for the series exported from start.
    const ALL: [Self; 5] = [
        Self::Requested,
        Self::Delivered,
        Self::Displayed,
        Self::Dropped,
        Self::Unmatched,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Delivered => "delivered",
            Self::Displayed => "displayed",
            Self::Dropped => "dropped",
            Self::Unmatched => "unmatched",
        }
    }
}

/// How one presence poll (RFC 8048 §7) was answered (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FetchOutcome {
    /// From state Parley already held for that pair (a live subscription's last
    /// NOTIFY), without asking the other side.
    Known,
    /// From a fetch of the same pair that finished moments ago (RFC 8048 §8.1).
    Cached,
    /// Joined a fetch of the same pair already in flight (RFC 8048 §8.1).
    Coalesced,
    /// The other side gave the presence (a NOTIFY with PIDF, presence stanzas).
    Presence,
    /// The other side answered without usable state (a NOTIFY without a body
    /// or with one that says nothing).
    NoState,
    /// The other side refused (a SIP error response; an XMPP `unsubscribed`
    /// or a subscription she has not approved).
    Refused,
    /// No answer in time (SIP transaction timeout or Timer N; the probe wait).
    TimedOut,
    /// Could not be asked (an unmappable address, a transport error, shutdown).
    Failed,
}

impl FetchOutcome {
    /// Every value, for the series exported from start.
    const ALL: [Self; 8] = [
        Self::Known,
        Self::Cached,
        Self::Coalesced,
        Self::Presence,
        Self::NoState,
        Self::Refused,
        Self::TimedOut,
        Self::Failed,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Known => "known",
            Self::Cached => "cached",
            Self::Coalesced => "coalesced",
            Self::Presence => "presence",
            Self::NoState => "no_state",
            Self::Refused => "refused",
            Self::TimedOut => "timeout",
            Self::Failed => "failed",
        }
    }
}

/// A bound of design §5 that refused something (the `limit` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// A SIP source over its request rate, answered 503 + Retry-After.
    SipRate,
    /// A SIP source over its request rate, dropped unanswered (UDP, after the 503s).
    SipRateDropped,
    /// Too many SIP transactions pending (503).
    SipPendingTransactions,
    /// Too many SIP transactions completed, waiting out Timer J (503).
    SipCompletedTransactions,
    /// The incoming SIP request queue was full (503).
    SipIncomingQueue,
    /// A SIP message over `sip.max_message_bytes` (413/513).
    SipMessageSize,
    /// An XMPP sender over its stanza rate with its queue full (`resource-constraint`).
    XmppRate,
    /// `limits.xmpp_queued_stanzas` stanzas already waiting across senders (`resource-constraint`).
    XmppQueuedStanzas,
    /// A user at `limits.subscriptions_per_user` (SIP 403 / XMPP `policy-violation`).
    SubscriptionsPerUser,
    /// A source over `registrar.registers_per_second` (503 + Retry-After).
    RegistrarRate,
}

impl Limit {
    /// Every value, for the series exported from start.
    const ALL: [Self; 10] = [
        Self::SipRate,
        Self::SipRateDropped,
        Self::SipPendingTransactions,
        Self::SipCompletedTransactions,
        Self::SipIncomingQueue,
        Self::SipMessageSize,
        Self::XmppRate,
        Self::XmppQueuedStanzas,
        Self::SubscriptionsPerUser,
        Self::RegistrarRate,
    ];

    /// The label value.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::SipRate => "sip_rate",
            Self::SipRateDropped => "sip_rate_dropped",
            Self::SipPendingTransactions => "sip_pending_transactions",
            Self::SipCompletedTransactions => "sip_completed_transactions",
            Self::SipIncomingQueue => "sip_incoming_queue",
            Self::SipMessageSize => "sip_message_size",
            Self::XmppRate => "xmpp_rate",
            Self::XmppQueuedStanzas => "xmpp_queued_stanzas",
            Self::SubscriptionsPerUser => "subscriptions_per_user",
            Self::RegistrarRate => "registrar_rate",
        }
    }
}

/// The `reason` label of `parley_xmpp_messages_not_carried_total`, every value.
const NOT_CARRIED_REASONS: [&str; 3] = ["encrypted", "rfc3923_e2e", "no_text"];

fn not_carried_label(reason: &NotCarried) -> &'static str {
    match reason {
        NotCarried::Encrypted(_) => NOT_CARRIED_REASONS[0],
        NotCarried::Rfc3923E2e => NOT_CARRIED_REASONS[1],
        NotCarried::NoText => NOT_CARRIED_REASONS[2],
    }
}

// The label values passed as strings (by the presence, watcher, admission
// and receipt code); a value outside its list fails a debug assertion, so
// the series exported from start stay the ones that can move.

/// The `kind` values of `parley_subscriptions_restored_total`.
const RESTORED_KINDS: [&str; 2] = ["sip_subscriptions_out", "sip_subscriptions_in"];
/// The `outcome` values of `parley_subscriptions_restored_total`.
const RESTORED_OUTCOMES: [&str; 5] = ["resumed", "resubscribed", "reprobed", "expired", "failed"];
/// The `outcome` values of `parley_subscription_refreshes_total`.
const REFRESH_OUTCOMES: [&str; 2] = ["ok", "failed"];
/// The `request` values of `parley_presence_requests_deferred_total`.
const DEFERRED_REQUESTS: [&str; 3] = ["subscribe", "refresh", "notify"];
/// The `state` values of `parley_store_leases`.
const LEASE_STATES: [&str; 2] = ["held", "lapsed"];
/// The `reason` values of `parley_store_takeovers_total`.
const TAKEOVER_REASONS: [&str; 3] = ["orphaned", "in_dialog", "presence"];
/// The `outcome` values of `parley_store_lease_renewals_total`.
const RENEWAL_OUTCOMES: [&str; 2] = ["ok", "failed"];
/// The `direction` values of `parley_store_handoffs_total`.
const HANDOFF_DIRECTIONS: [&str; 2] = ["sent", "received"];
/// The `side` values of `parley_trust_rejections_total`.
const TRUST_SIDES: [&str; 3] = ["sip", "xmpp", "xmpp_domain"];
/// The `content` values of `parley_sip_peer_refusals_total`.
const REFUSED_CONTENTS: [&str; 2] = ["cpim", "iscomposing"];

/// The `outcome` values of `parley_registrar_auth_total` (issue 22 item 4):
/// credentials `accepted`; a request without them `challenged`; credentials
/// `refused` (wrong password, forged nonce, malformed), `stale` (expired
/// nonce, right password), `replay` (nonce count not raised); `forbidden`
/// (right password of another user); REGISTER for an `unknown_user`;
/// REGISTER answered 503 while the store's users are `unavailable`.
pub(crate) const REGISTRAR_AUTH_OUTCOMES: [&str; 8] = [
    "accepted",
    "challenged",
    "refused",
    "stale",
    "replay",
    "forbidden",
    "unknown_user",
    "unavailable",
];

/// The `outcome` values of `parley_trunk_registrations_total`: `registered`,
/// `unregistered`, and each `parley_sip::register::RegisterError::kind`.
pub(crate) const TRUNK_OUTCOMES: [&str; 8] = [
    "registered",
    "unregistered",
    "unreachable",
    "refused",
    "credentials_refused",
    "unusable_challenge",
    "interval_too_brief",
    "not_bound",
];

/// Every metric Parley exports.
pub(crate) struct Metrics {
    receipts: IntCounterVec,
    peer_refusals: IntCounterVec,
    registry: Registry,
    messages: IntCounterVec,
    translation: HistogramVec,
    /// The series the per-message path touches, resolved once.
    hot: HotPath,
    errors: IntCounterVec,
    registry_entries: IntGaugeVec,
    component_connected: IntGauge,
    component_reconnects: IntCounter,
    component_tls_failures: IntCounterVec,
    xmpp_stanzas: IntCounterVec,
    xmpp_queue: IntGauge,
    xmpp_stream_errors: IntCounter,
    xmpp_shaped: IntCounter,
    xmpp_shaping_queue: IntGauge,
    sip_requests: IntCounterVec,
    sip_responses: IntCounterVec,
    sip_retransmissions: IntCounter,
    sip_parse_errors: IntCounter,
    sip_stray_responses: IntCounter,
    sip_transactions: IntGauge,
    sip_pending_transactions: IntGauge,
    sip_completed_transactions: IntGauge,
    store_persistent: IntGauge,
    store_leases: IntGaugeVec,
    store_takeovers: IntCounterVec,
    store_renewals: IntCounterVec,
    store_handoffs: IntCounterVec,
    subscriptions_restored: IntCounterVec,
    subscription_refreshes: IntCounterVec,
    presence_deferred: IntCounterVec,
    presence_fetches: IntCounterVec,
    limit_rejections: IntCounterVec,
    trust_rejections: IntCounterVec,
    not_carried: IntCounterVec,
    msrp_sessions: IntGauge,
    groupchat_occupancies: IntGauge,
    groupchat_joins: IntCounterVec,
    conference_occupancies: IntGauge,
    conference_joins: IntCounterVec,
    msrp_messages: IntCounterVec,
    msrp_bytes: IntCounterVec,
    msrp_reports: IntCounterVec,
    msrp_refusals: IntCounterVec,
    msrp_starts: IntCounterVec,
    msrp_fallbacks: IntCounterVec,
    trunk_registered: IntGauge,
    trunk_registrations: IntCounterVec,
    registrar_bindings: IntGauge,
    registrar_auth: IntCounterVec,
}

/// A plain counters snapshot from the SIP endpoint, copied into Prometheus at scrape time.
#[derive(Debug, Clone, Default)]
pub(crate) struct SipSnapshot {
    /// (method, direction `in`/`out`, count)
    pub requests: Vec<(&'static str, &'static str, u64)>,
    /// (status class `1xx`…`6xx`, direction `in`/`out`, count)
    pub responses: Vec<(&'static str, &'static str, u64)>,
    /// Retransmissions sent.
    pub retransmissions: u64,
    /// Messages that failed to parse or validate.
    pub parse_errors: u64,
    /// Responses matching no client transaction.
    pub stray_responses: u64,
    /// Transactions waiting for the TU or for a response now.
    pub pending_transactions: u64,
    /// Completed transactions waiting out Timer J or K now.
    pub completed_transactions: u64,
    /// Requests refused by the endpoint's own bounds.
    pub limit_rejections: Vec<(Limit, u64)>,
}

/// A plain counters snapshot from the XMPP component, copied in at scrape time.
#[derive(Debug, Clone, Default)]
pub(crate) struct XmppSnapshot {
    /// Whether the component stream is authenticated now.
    pub connected: bool,
    /// Reconnects since start.
    pub reconnects: u64,
    /// (kind `message`/`presence`/`iq`, direction `in`/`out`, count)
    pub stanzas: Vec<(&'static str, &'static str, u64)>,
    /// Stanzas waiting in the outgoing queue.
    pub queue_len: u64,
    /// Stream errors (parse errors, limits) since start.
    pub stream_errors: u64,
    /// (reason from [`COMPONENT_TLS_REASONS`], count): TLS handshakes that failed.
    pub tls_failures: [(&'static str, u64); 2],
}

/// `parley_component_tls_failures_total` reasons: the server's certificate
/// was refused (unknown CA, wrong name, expired), or the handshake failed
/// otherwise (the port does not speak TLS).
pub(crate) const COMPONENT_TLS_REASONS: [&str; 2] = ["certificate", "handshake"];

/// A size as a gauge's value.
fn gauge_value(size: usize) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// The series every translated message touches, looked up once at start:
/// `with_label_values` hashes the label values and takes the vector's lock
/// on each call, work per message the hot path need not do (issue 24). The
/// handles share their values with the vectors, which still export them.
struct HotPath {
    /// `parley_messages_total`, by [`Direction`] then [`Outcome`] (their
    /// declaration order, the order of their `ALL`).
    messages: [[IntCounter; Outcome::ALL.len()]; Direction::ALL.len()],
    /// `parley_translation_seconds`, by [`Direction`].
    translation: [Histogram; Direction::ALL.len()],
    /// `parley_registry_entries{kind="pending_sip"}`.
    pending_sip: IntGauge,
    /// `parley_registry_entries{kind="pending_xmpp"}`.
    pending_xmpp: IntGauge,
}

impl HotPath {
    fn new(
        messages: &IntCounterVec,
        translation: &HistogramVec,
        registry_entries: &IntGaugeVec,
    ) -> HotPath {
        HotPath {
            messages: Direction::ALL
                .map(|d| Outcome::ALL.map(|o| messages.with_label_values(&[d.label(), o.label()]))),
            translation: Direction::ALL.map(|d| translation.with_label_values(&[d.label()])),
            pending_sip: registry_entries.with_label_values(&["pending_sip"]),
            pending_xmpp: registry_entries.with_label_values(&["pending_xmpp"]),
        }
    }
}

impl Metrics {
    /// Create and register every metric.
    pub(crate) fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let r = &registry;
        let build = IntGaugeVec::new(
            Opts::new("parley_build_info", "Build information; always 1."),
            &["version"],
        )?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        register(r, build)?;
        let messages = register(
            r,
            IntCounterVec::new(
                Opts::new(
                    "parley_messages_total",
                    "Messages translated, by direction and outcome.",
                ),
                &["direction", "outcome"],
            )?,
        )?;
        let translation = register(
            r,
            HistogramVec::new(
                HistogramOpts::new(
                    "parley_translation_seconds",
                    "Time from receiving a message to handing it to the other side.",
                )
                .buckets(vec![
                    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05,
                    0.1,
                ]),
                &["direction"],
            )?,
        )?;
        let registry_entries = register(
            r,
            IntGaugeVec::new(
                Opts::new(
                    "parley_registry_entries",
                    "Entries in the registry, by kind.",
                ),
                &["kind"],
            )?,
        )?;
        let hot = HotPath::new(&messages, &translation, &registry_entries);
        let m = Self {
            hot,
            receipts: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_receipts_total",
                        "Receipts (IMDN <-> XEP-0184/XEP-0333), by direction of the ack and event.",
                    ),
                    &["direction", "kind"],
                )?,
            )?,
            peer_refusals: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_sip_peer_refusals_total",
                        "415 answers that made Parley remember a SIP peer refuses a content type.",
                    ),
                    &["content"],
                )?,
            )?,
            messages,
            translation,
            errors: register(
                r,
                IntCounterVec::new(
                    Opts::new("parley_errors_total", "Errors by reason."),
                    &["reason"],
                )?,
            )?,
            registry_entries,
            component_connected: register(
                r,
                IntGauge::new(
                    "parley_component_connected",
                    "1 while the XEP-0114 stream is authenticated.",
                )?,
            )?,
            component_reconnects: register(
                r,
                IntCounter::new(
                    "parley_component_reconnects_total",
                    "Reconnects of the component stream.",
                )?,
            )?,
            component_tls_failures: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_component_tls_failures_total",
                        "Component connection attempts refused in the TLS handshake, by reason.",
                    ),
                    &["reason"],
                )?,
            )?,
            xmpp_stanzas: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_xmpp_stanzas_total",
                        "Stanzas on the component stream, by kind and direction.",
                    ),
                    &["kind", "direction"],
                )?,
            )?,
            xmpp_queue: register(
                r,
                IntGauge::new(
                    "parley_xmpp_queue_length",
                    "Stanzas waiting to be written to the component stream.",
                )?,
            )?,
            xmpp_stream_errors: register(
                r,
                IntCounter::new(
                    "parley_xmpp_stream_errors_total",
                    "Component stream errors (bad XML, limits exceeded).",
                )?,
            )?,
            xmpp_shaped: register(
                r,
                IntCounter::new(
                    "parley_xmpp_stanzas_shaped_total",
                    "Stanzas from XMPP senders over their rate that waited in their sender's queue.",
                )?,
            )?,
            xmpp_shaping_queue: register(
                r,
                IntGauge::new(
                    "parley_xmpp_shaping_queue_length",
                    "Stanzas waiting for their XMPP sender's rate, across senders.",
                )?,
            )?,
            sip_requests: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_sip_requests_total",
                        "SIP requests, by method and direction.",
                    ),
                    &["method", "direction"],
                )?,
            )?,
            sip_responses: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_sip_responses_total",
                        "SIP responses, by status class and direction.",
                    ),
                    &["class", "direction"],
                )?,
            )?,
            sip_retransmissions: register(
                r,
                IntCounter::new(
                    "parley_sip_retransmissions_total",
                    "SIP retransmissions sent.",
                )?,
            )?,
            sip_parse_errors: register(
                r,
                IntCounter::new(
                    "parley_sip_parse_errors_total",
                    "SIP messages that failed to parse or validate.",
                )?,
            )?,
            sip_stray_responses: register(
                r,
                IntCounter::new(
                    "parley_sip_stray_responses_total",
                    "SIP responses that matched no transaction.",
                )?,
            )?,
            sip_transactions: register(
                r,
                IntGauge::new(
                    "parley_sip_transactions",
                    "SIP transactions alive now, pending and completed.",
                )?,
            )?,
            sip_pending_transactions: register(
                r,
                IntGauge::new(
                    "parley_sip_pending_transactions",
                    "SIP transactions waiting for an answer now (limits.sip_pending_transactions).",
                )?,
            )?,
            sip_completed_transactions: register(
                r,
                IntGauge::new(
                    "parley_sip_completed_transactions",
                    "Completed SIP transactions waiting out Timer J or K now (limits.sip_completed_transactions).",
                )?,
            )?,
            store_persistent: register(
                r,
                IntGauge::new(
                    "parley_store_persistent",
                    "1 while subscription state is written to the store; 0 when running without persistence.",
                )?,
            )?,
            store_leases: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "parley_store_leases",
                        "This instance's lease on its subscriptions in the store: 1 for its state now (held, lapsed), 0 for the other.",
                    ),
                    &["state"],
                )?,
            )?,
            store_takeovers: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_store_takeovers_total",
                        "Subscriptions this instance took over from another, by kind and reason.",
                    ),
                    &["kind", "reason"],
                )?,
            )?,
            store_renewals: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_store_lease_renewals_total",
                        "Renewals of this instance's lease in the store, by outcome.",
                    ),
                    &["outcome"],
                )?,
            )?,
            store_handoffs: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_store_handoffs_total",
                        "Presence stanzas handed between instances to their subscription's owner through the store, by direction.",
                    ),
                    &["direction"],
                )?,
            )?,
            subscriptions_restored: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_subscriptions_restored_total",
                        "Stored subscriptions taken up again after a restart, by kind and outcome.",
                    ),
                    &["kind", "outcome"],
                )?,
            )?,
            subscription_refreshes: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_subscription_refreshes_total",
                        "Refreshes of Parley's own SIP subscriptions, by outcome.",
                    ),
                    &["outcome"],
                )?,
            )?,
            presence_deferred: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_presence_requests_deferred_total",
                        "Presence SIP requests the SIP endpoint refused to start (transaction table full, or shutting down), each made again later, by request.",
                    ),
                    &["request"],
                )?,
            )?,
            presence_fetches: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_presence_fetches_total",
                        "Presence polls (RFC 8048 §7: probe <-> SUBSCRIBE Expires: 0), by direction of the request and outcome.",
                    ),
                    &["direction", "outcome"],
                )?,
            )?,
            limit_rejections: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_limit_rejections_total",
                        "Requests and stanzas refused by a configured limit, by limit.",
                    ),
                    &["limit"],
                )?,
            )?,
            trust_rejections: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_trust_rejections_total",
                        "Requests and stanzas claiming one of our own users from an untrusted source, by side.",
                    ),
                    &["side"],
                )?,
            )?,
            not_carried: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_xmpp_messages_not_carried_total",
                        "XMPP messages refused with a stanza error because Parley cannot carry them to SIP, by reason.",
                    ),
                    &["reason"],
                )?,
            )?,
            msrp_sessions: register(
                r,
                IntGauge::new("parley_msrp_sessions", "RFC 7573 chat sessions open now.")?,
            )?,
            groupchat_occupancies: register(
                r,
                IntGauge::new(
                    "parley_groupchat_occupancies",
                    "SIP users in XMPP rooms now (RFC 7702 §6), joins under way included.",
                )?,
            )?,
            groupchat_joins: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_groupchat_joins_total",
                        "SIP users' room joins (RFC 7702 §6.1), by outcome.",
                    ),
                    &["outcome"],
                )?,
            )?,
            conference_occupancies: register(
                r,
                IntGauge::new(
                    "parley_conference_occupancies",
                    "XMPP users in SIP conferences now (RFC 7702 §5), joins under way included.",
                )?,
            )?,
            conference_joins: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_conference_joins_total",
                        "XMPP users' SIP conference joins (RFC 7702 §5.1), by outcome.",
                    ),
                    &["outcome"],
                )?,
            )?,
            msrp_messages: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_msrp_messages_total",
                        "Chat messages carried in RFC 7573 sessions, by direction.",
                    ),
                    &["direction"],
                )?,
            )?,
            msrp_bytes: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_msrp_bytes_total",
                        "Bytes of chat messages (bodies) carried in RFC 7573 sessions, by direction.",
                    ),
                    &["direction"],
                )?,
            )?,
            msrp_reports: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_msrp_reports_total",
                        "Success REPORTs mapped to or from XMPP receipts in RFC 7573 sessions, by direction.",
                    ),
                    &["direction"],
                )?,
            )?,
            msrp_refusals: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_msrp_session_refusals_total",
                        "INVITEs for chat sessions refused, by reason.",
                    ),
                    &["reason"],
                )?,
            )?,
            msrp_starts: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_msrp_session_starts_total",
                        "Chat sessions Parley started for XMPP users (sessions.start = always), by outcome.",
                    ),
                    &["outcome"],
                )?,
            )?,
            msrp_fallbacks: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_msrp_fallback_messages_total",
                        "XMPP messages meant for a chat session sent as SIP MESSAGE instead, by reason.",
                    ),
                    &["reason"],
                )?,
            )?,
            trunk_registered: register(
                r,
                IntGauge::new(
                    "parley_trunk_registered",
                    "1 while Parley's contact is registered at the [trunk] registrar, else 0.",
                )?,
            )?,
            trunk_registrations: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_trunk_registrations_total",
                        "REGISTER exchanges with the [trunk] registrar, by outcome.",
                    ),
                    &["outcome"],
                )?,
            )?,
            registrar_bindings: register(
                r,
                IntGauge::new(
                    "parley_registrar_bindings",
                    "Contacts bound at Parley's [registrar] now (RFC 3261 §10.3).",
                )?,
            )?,
            registrar_auth: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "parley_registrar_auth_total",
                        "Digest checks of the [registrar] (REGISTER 401, other requests 407), by outcome.",
                    ),
                    &["outcome"],
                )?,
            )?,
            registry,
        };
        #[cfg(target_os = "linux")]
        m.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        m.export_every_label_set();
        Ok(m)
    }

    /// Create every series whose label values form a known set, at 0: a
    /// dashboard or alert sees "none yet" rather than "no data", `rate()`
    /// has a first point, and a test reading a renamed series fails instead
    /// of reading 0. Only `parley_errors_total` (one `reason` per error kind
    /// of every crate) appears with its first count.
    fn export_every_label_set(&self) {
        for d in Direction::ALL {
            for o in Outcome::ALL {
                self.messages.with_label_values(&[d.label(), o.label()]);
            }
            for e in ReceiptEvent::ALL {
                self.receipts.with_label_values(&[d.label(), e.label()]);
            }
            for f in FetchOutcome::ALL {
                self.presence_fetches
                    .with_label_values(&[d.label(), f.label()]);
            }
            self.translation.with_label_values(&[d.label()]);
            self.msrp_messages.with_label_values(&[d.label()]);
            self.msrp_bytes.with_label_values(&[d.label()]);
            self.msrp_reports.with_label_values(&[d.label()]);
        }
        for r in SessionRefusal::ALL {
            self.msrp_refusals.with_label_values(&[r.label()]);
        }
        for o in SessionStart::ALL {
            self.msrp_starts.with_label_values(&[o.label()]);
        }
        for o in GroupchatJoin::ALL {
            self.groupchat_joins.with_label_values(&[o.label()]);
        }
        for o in ConferenceJoin::ALL {
            self.conference_joins.with_label_values(&[o.label()]);
        }
        for f in Fallback::ALL {
            self.msrp_fallbacks.with_label_values(&[f.label()]);
        }
        for l in Limit::ALL {
            self.limit_rejections.with_label_values(&[l.label()]);
        }
        for reason in COMPONENT_TLS_REASONS {
            self.component_tls_failures.with_label_values(&[reason]);
        }
        for kind in RESTORED_KINDS {
            for outcome in RESTORED_OUTCOMES {
                self.subscriptions_restored
                    .with_label_values(&[kind, outcome]);
            }
        }
        for outcome in REFRESH_OUTCOMES {
            self.subscription_refreshes.with_label_values(&[outcome]);
        }
        for state in LEASE_STATES {
            self.store_leases.with_label_values(&[state]);
        }
        for kind in RESTORED_KINDS {
            for reason in TAKEOVER_REASONS {
                self.store_takeovers.with_label_values(&[kind, reason]);
            }
        }
        for outcome in RENEWAL_OUTCOMES {
            self.store_renewals.with_label_values(&[outcome]);
        }
        for direction in HANDOFF_DIRECTIONS {
            self.store_handoffs.with_label_values(&[direction]);
        }
        for request in DEFERRED_REQUESTS {
            self.presence_deferred.with_label_values(&[request]);
        }
        for side in TRUST_SIDES {
            self.trust_rejections.with_label_values(&[side]);
        }
        for content in REFUSED_CONTENTS {
            self.peer_refusals.with_label_values(&[content]);
        }
        for reason in NOT_CARRIED_REASONS {
            self.not_carried.with_label_values(&[reason]);
        }
        for outcome in TRUNK_OUTCOMES {
            self.trunk_registrations.with_label_values(&[outcome]);
        }
        for outcome in REGISTRAR_AUTH_OUTCOMES {
            self.registrar_auth.with_label_values(&[outcome]);
        }
    }

    /// How many contacts the registrar holds.
    pub(crate) fn registrar_bindings(&self, count: usize) {
        self.registrar_bindings
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// One digest check of the registrar (`outcome` from [`REGISTRAR_AUTH_OUTCOMES`]).
    pub(crate) fn registrar_auth(&self, outcome: &'static str) {
        debug_assert!(REGISTRAR_AUTH_OUTCOMES.contains(&outcome), "{outcome}");
        self.registrar_auth.with_label_values(&[outcome]).inc();
    }

    /// Whether the trunk registration holds now.
    pub(crate) fn trunk_registered(&self, registered: bool) {
        self.trunk_registered.set(i64::from(registered));
    }

    /// One REGISTER exchange ended (`outcome` from [`TRUNK_OUTCOMES`]).
    pub(crate) fn trunk_registration(&self, outcome: &'static str) {
        debug_assert!(TRUNK_OUTCOMES.contains(&outcome), "{outcome}");
        self.trunk_registrations.with_label_values(&[outcome]).inc();
    }

    /// The number of chat sessions open now.
    pub(crate) fn msrp_sessions(&self, open: usize) {
        self.msrp_sessions
            .set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    /// The number of SIP users in rooms now.
    pub(crate) fn groupchat_occupancies(&self, open: usize) {
        self.groupchat_occupancies
            .set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    /// Count a room join that ended with `outcome`.
    pub(crate) fn groupchat_join(&self, outcome: GroupchatJoin) {
        self.groupchat_joins
            .with_label_values(&[outcome.label()])
            .inc();
    }

    /// The number of XMPP users in SIP conferences now.
    pub(crate) fn conference_occupancies(&self, open: usize) {
        self.conference_occupancies
            .set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    /// Count a conference join that ended with `outcome`.
    pub(crate) fn conference_join(&self, outcome: ConferenceJoin) {
        self.conference_joins
            .with_label_values(&[outcome.label()])
            .inc();
    }

    /// Count a chat message of `bytes` carried in a session.
    pub(crate) fn msrp_message(&self, direction: Direction, bytes: usize) {
        self.msrp_messages
            .with_label_values(&[direction.label()])
            .inc();
        self.msrp_bytes
            .with_label_values(&[direction.label()])
            .inc_by(u64::try_from(bytes).unwrap_or(u64::MAX));
    }

    /// Count a success REPORT mapped to or from a receipt (RFC 7573 §7).
    pub(crate) fn msrp_report(&self, direction: Direction) {
        self.msrp_reports
            .with_label_values(&[direction.label()])
            .inc();
    }

    /// Count a session Parley started, by how it went.
    pub(crate) fn msrp_start(&self, outcome: SessionStart) {
        self.msrp_starts.with_label_values(&[outcome.label()]).inc();
    }

    /// Count a message sent as SIP MESSAGE instead of in a session.
    pub(crate) fn msrp_fallback(&self, why: Fallback) {
        self.msrp_fallbacks.with_label_values(&[why.label()]).inc();
    }

    /// Count an INVITE refused for `reason`.
    pub(crate) fn msrp_refusal(&self, reason: SessionRefusal) {
        self.msrp_refusals
            .with_label_values(&[reason.label()])
            .inc();
    }

    /// Count a message that ended with `outcome`.
    pub(crate) fn message(&self, direction: Direction, outcome: Outcome) {
        self.hot.messages[direction as usize][outcome as usize].inc();
    }

    /// Count a receipt event; `direction` is the way the request travelled.
    pub(crate) fn receipt(&self, direction: Direction, event: ReceiptEvent) {
        self.receipts
            .with_label_values(&[direction.label(), event.label()])
            .inc();
    }

    /// Count an XMPP message refused because it cannot be carried to SIP.
    pub(crate) fn not_carried(&self, reason: NotCarried) {
        self.not_carried
            .with_label_values(&[not_carried_label(&reason)])
            .inc();
    }

    /// Count a 415 from a SIP peer for `content` (`cpim` or `iscomposing`).
    pub(crate) fn peer_refusal(&self, content: &'static str) {
        debug_assert!(REFUSED_CONTENTS.contains(&content), "unlisted {content}");
        self.peer_refusals.with_label_values(&[content]).inc();
    }

    /// Record how long a translation took.
    pub(crate) fn translated(&self, direction: Direction, seconds: f64) {
        self.hot.translation[direction as usize].observe(seconds);
    }

    /// Count an error; `reason` is an error's `kind()`.
    pub(crate) fn error(&self, reason: &'static str) {
        self.errors.with_label_values(&[reason]).inc();
    }

    /// Set a registry size gauge.
    pub(crate) fn registry_size(&self, kind: &'static str, size: usize) {
        self.registry_entries
            .with_label_values(&[kind])
            .set(gauge_value(size));
    }

    /// Set the messages waiting each way (`parley_registry_entries` kinds
    /// `pending_sip` and `pending_xmpp`), once per message: through the
    /// handles resolved at start.
    pub(crate) fn pending_sizes(&self, sip: usize, xmpp: usize) {
        self.hot.pending_sip.set(gauge_value(sip));
        self.hot.pending_xmpp.set(gauge_value(xmpp));
    }

    /// Whether the store persists state (0 after it failed to open).
    pub(crate) fn store_persistent(&self, persistent: bool) {
        self.store_persistent.set(i64::from(persistent));
    }

    /// This instance's lease is held (renewed in time) or lapsed.
    pub(crate) fn store_lease(&self, held: bool) {
        self.store_leases
            .with_label_values(&["held"])
            .set(i64::from(held));
        self.store_leases
            .with_label_values(&["lapsed"])
            .set(i64::from(!held));
    }

    /// `n` subscriptions of `kind` taken over from another instance, for
    /// `reason` (`orphaned`, `in_dialog`, `presence`).
    pub(crate) fn store_takeovers(&self, kind: &'static str, reason: &'static str, n: usize) {
        debug_assert!(
            RESTORED_KINDS.contains(&kind) && TAKEOVER_REASONS.contains(&reason),
            "unlisted {kind}/{reason}"
        );
        self.store_takeovers
            .with_label_values(&[kind, reason])
            .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// A lease renewal ended with `outcome` (`ok`, `failed`).
    pub(crate) fn store_renewal(&self, outcome: &'static str) {
        debug_assert!(RENEWAL_OUTCOMES.contains(&outcome), "unlisted {outcome}");
        self.store_renewals.with_label_values(&[outcome]).inc();
    }

    /// A presence stanza handed to its owner (`sent`) or from another
    /// instance (`received`).
    pub(crate) fn store_handoff(&self, direction: &'static str) {
        debug_assert!(
            HANDOFF_DIRECTIONS.contains(&direction),
            "unlisted {direction}"
        );
        self.store_handoffs.with_label_values(&[direction]).inc();
    }

    /// A stored subscription of `kind` (`sip_subscriptions_out`/`_in`) was
    /// taken up after a restart with `outcome` (`resumed`, `resubscribed`,
    /// `reprobed`, `expired`, `failed`).
    pub(crate) fn subscription_restored(&self, kind: &'static str, outcome: &'static str) {
        debug_assert!(
            RESTORED_KINDS.contains(&kind) && RESTORED_OUTCOMES.contains(&outcome),
            "unlisted {kind}/{outcome}"
        );
        self.subscriptions_restored
            .with_label_values(&[kind, outcome])
            .inc();
    }

    /// A refresh of one of Parley's SIP subscriptions ended with `outcome` (`ok`, `failed`).
    pub(crate) fn subscription_refresh(&self, outcome: &'static str) {
        debug_assert!(REFRESH_OUTCOMES.contains(&outcome), "unlisted {outcome}");
        self.subscription_refreshes
            .with_label_values(&[outcome])
            .inc();
    }

    /// A presence SIP request (`subscribe`, `refresh`, `notify`) the SIP
    /// endpoint refused to start was deferred, to be made again.
    pub(crate) fn presence_request_deferred(&self, request: &'static str) {
        debug_assert!(DEFERRED_REQUESTS.contains(&request), "unlisted {request}");
        self.presence_deferred.with_label_values(&[request]).inc();
    }

    /// Count one presence poll (RFC 8048 §7); `direction` is the way the
    /// request travelled (`xmpp_to_sip`: a probe became a fetch SUBSCRIBE).
    pub(crate) fn presence_fetch(&self, direction: Direction, outcome: FetchOutcome) {
        self.presence_fetches
            .with_label_values(&[direction.label(), outcome.label()])
            .inc();
    }

    /// Copy the SIP endpoint's counters in.
    pub(crate) fn observe_sip(&self, s: &SipSnapshot) {
        for (method, dir, n) in &s.requests {
            catch_up(&self.sip_requests.with_label_values(&[method, dir]), *n);
        }
        for (class, dir, n) in &s.responses {
            catch_up(&self.sip_responses.with_label_values(&[class, dir]), *n);
        }
        catch_up(&self.sip_retransmissions, s.retransmissions);
        catch_up(&self.sip_parse_errors, s.parse_errors);
        catch_up(&self.sip_stray_responses, s.stray_responses);
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.sip_transactions.set(gauge(
            s.pending_transactions
                .saturating_add(s.completed_transactions),
        ));
        self.sip_pending_transactions
            .set(gauge(s.pending_transactions));
        self.sip_completed_transactions
            .set(gauge(s.completed_transactions));
        for (limit, n) in &s.limit_rejections {
            catch_up(
                &self.limit_rejections.with_label_values(&[limit.label()]),
                *n,
            );
        }
    }

    /// Count one refusal by a limit the gateway itself enforces.
    pub(crate) fn limit_rejection(&self, limit: Limit) {
        self.limit_rejections
            .with_label_values(&[limit.label()])
            .inc();
    }

    /// Count one stanza that waits for its sender's rate instead of going on at once.
    pub(crate) fn stanza_shaped(&self) {
        self.xmpp_shaped.inc();
    }

    /// Set the number of stanzas waiting for their senders' rates.
    pub(crate) fn shaping_queue(&self, len: usize) {
        self.xmpp_shaping_queue
            .set(i64::try_from(len).unwrap_or(i64::MAX));
    }

    /// Count one refusal of an untrusted sender claiming our users; `side` is `sip` or `xmpp`.
    pub(crate) fn trust_rejection(&self, side: &'static str) {
        debug_assert!(TRUST_SIDES.contains(&side), "unlisted {side}");
        self.trust_rejections.with_label_values(&[side]).inc();
    }

    /// Copy the XMPP component's counters in.
    pub(crate) fn observe_xmpp(&self, s: &XmppSnapshot) {
        self.component_connected.set(i64::from(s.connected));
        catch_up(&self.component_reconnects, s.reconnects);
        for (kind, dir, n) in &s.stanzas {
            catch_up(&self.xmpp_stanzas.with_label_values(&[kind, dir]), *n);
        }
        self.xmpp_queue
            .set(i64::try_from(s.queue_len).unwrap_or(i64::MAX));
        catch_up(&self.xmpp_stream_errors, s.stream_errors);
        for (reason, n) in &s.tls_failures {
            catch_up(
                &self.component_tls_failures.with_label_values(&[reason]),
                *n,
            );
        }
    }

    /// The text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail on I/O; a metric family that is
        // inconsistent would be a bug here, reported in the body.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            return format!("# encode error: {e}\n");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Move a counter up to `total` (snapshots only grow).
fn catch_up(counter: &IntCounter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

fn register<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    c: C,
) -> Result<C, prometheus::Error> {
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_label_set_is_exported_from_start_at_zero() {
        let text = Metrics::new().expect("metrics").render();
        let series = |family: &str| {
            text.lines()
                .filter(|l| l.starts_with(&format!("{family}{{")))
                .collect::<Vec<_>>()
        };
        for (family, count) in [
            ("parley_messages_total", 2 * 5),
            ("parley_receipts_total", 2 * 5),
            ("parley_presence_fetches_total", 2 * 8),
            ("parley_translation_seconds_count", 2),
            ("parley_limit_rejections_total", 10),
            ("parley_subscriptions_restored_total", 2 * 5),
            ("parley_subscription_refreshes_total", 2),
            ("parley_store_leases", 2),
            ("parley_store_takeovers_total", 2 * 3),
            ("parley_store_lease_renewals_total", 2),
            ("parley_store_handoffs_total", 2),
            ("parley_presence_requests_deferred_total", 3),
            ("parley_trust_rejections_total", 3),
            ("parley_sip_peer_refusals_total", 2),
            ("parley_msrp_messages_total", 2),
            ("parley_msrp_bytes_total", 2),
            ("parley_msrp_reports_total", 2),
            ("parley_msrp_session_refusals_total", 8),
            ("parley_msrp_session_starts_total", 5),
            ("parley_msrp_fallback_messages_total", 2),
            ("parley_groupchat_joins_total", 7),
            ("parley_conference_joins_total", 7),
            ("parley_component_tls_failures_total", 2),
            ("parley_trunk_registrations_total", 8),
            ("parley_registrar_auth_total", 8),
        ] {
            let lines = series(family);
            assert_eq!(lines.len(), count, "{family}: {lines:#?}");
            assert!(lines.iter().all(|l| l.ends_with(" 0")), "{lines:#?}");
        }
        for sample in [
            r#"parley_messages_total{direction="xmpp_to_sip",outcome="unavailable"} 0"#,
            r#"parley_receipts_total{direction="sip_to_xmpp",kind="unmatched"} 0"#,
            r#"parley_presence_fetches_total{direction="sip_to_xmpp",outcome="no_state"} 0"#,
            r#"parley_limit_rejections_total{limit="subscriptions_per_user"} 0"#,
            r#"parley_limit_rejections_total{limit="sip_completed_transactions"} 0"#,
            r#"parley_subscriptions_restored_total{kind="sip_subscriptions_in",outcome="reprobed"} 0"#,
            r#"parley_subscription_refreshes_total{outcome="failed"} 0"#,
            r#"parley_store_takeovers_total{kind="sip_subscriptions_in",reason="in_dialog"} 0"#,
            r#"parley_store_handoffs_total{direction="received"} 0"#,
            r#"parley_presence_requests_deferred_total{request="notify"} 0"#,
            r#"parley_trust_rejections_total{side="xmpp_domain"} 0"#,
            r#"parley_sip_peer_refusals_total{content="iscomposing"} 0"#,
            r#"parley_component_tls_failures_total{reason="certificate"} 0"#,
            r#"parley_trunk_registrations_total{outcome="credentials_refused"} 0"#,
            "parley_trunk_registered 0",
            r#"parley_registrar_auth_total{outcome="replay"} 0"#,
            "parley_registrar_bindings 0",
            "parley_groupchat_occupancies 0",
            r#"parley_groupchat_joins_total{outcome="refused"} 0"#,
            "parley_conference_occupancies 0",
            r#"parley_conference_joins_total{outcome="nickname_refused"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == sample), "{sample}\n{text}");
        }
    }

    #[test]
    fn counters_catch_up_to_snapshots_without_going_back() {
        let m = Metrics::new().expect("metrics");
        m.observe_sip(&SipSnapshot {
            requests: vec![("MESSAGE", "in", 3)],
            ..Default::default()
        });
        m.observe_sip(&SipSnapshot {
            requests: vec![("MESSAGE", "in", 5)],
            ..Default::default()
        });
        let text = m.render();
        assert!(
            text.contains("parley_sip_requests_total{direction=\"in\",method=\"MESSAGE\"} 5"),
            "{text}"
        );
    }

    /// `parley_sip_transactions` keeps meaning every transaction alive; the
    /// two limits' gauges split it.
    #[test]
    fn sip_transactions_are_split_into_pending_and_completed() {
        let m = Metrics::new().expect("metrics");
        m.observe_sip(&SipSnapshot {
            pending_transactions: 7,
            completed_transactions: 300,
            ..Default::default()
        });
        let text = m.render();
        for line in [
            "parley_sip_transactions 307",
            "parley_sip_pending_transactions 7",
            "parley_sip_completed_transactions 300",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
    }

    #[test]
    fn message_outcomes_are_labelled_by_direction() {
        let m = Metrics::new().expect("metrics");
        m.message(Direction::SipToXmpp, Outcome::Delivered);
        m.message(Direction::XmppToSip, Outcome::TimedOut);
        let text = m.render();
        assert!(
            text.contains(
                "parley_messages_total{direction=\"sip_to_xmpp\",outcome=\"delivered\"} 1"
            )
        );
        assert!(
            text.contains("parley_messages_total{direction=\"xmpp_to_sip\",outcome=\"timeout\"} 1")
        );
        assert!(text.contains("parley_build_info{version="));
    }

    #[test]
    fn each_message_outcome_counts_in_its_own_series_and_no_other() {
        for d in Direction::ALL {
            for o in Outcome::ALL {
                let m = Metrics::new().expect("metrics");
                m.message(d, o);
                for d2 in Direction::ALL {
                    for o2 in Outcome::ALL {
                        let want = u64::from(d2 == d && o2 == o);
                        let got = m
                            .messages
                            .with_label_values(&[d2.label(), o2.label()])
                            .get();
                        assert_eq!(
                            got,
                            want,
                            "{}/{} after counting {}/{}",
                            d2.label(),
                            o2.label(),
                            d.label(),
                            o.label()
                        );
                    }
                }
                m.translated(d, 0.001);
                for d2 in Direction::ALL {
                    let got = m
                        .translation
                        .with_label_values(&[d2.label()])
                        .get_sample_count();
                    assert_eq!(
                        got,
                        u64::from(d2 == d),
                        "translation {} after {}",
                        d2.label(),
                        d.label()
                    );
                }
            }
        }
    }

    #[test]
    fn registry_sizes_and_pending_sizes_set_their_own_kind() {
        let m = Metrics::new().expect("metrics");
        m.pending_sizes(3, 5);
        m.registry_size("composing", 7);
        let text = m.render();
        for line in [
            "parley_registry_entries{kind=\"pending_sip\"} 3",
            "parley_registry_entries{kind=\"pending_xmpp\"} 5",
            "parley_registry_entries{kind=\"composing\"} 7",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
    }

    #[test]
    fn presence_fetches_count_by_direction_and_outcome() {
        let m = Metrics::new().expect("metrics");
        m.presence_fetch(Direction::XmppToSip, FetchOutcome::Coalesced);
        m.presence_fetch(Direction::SipToXmpp, FetchOutcome::TimedOut);
        let text = m.render();
        assert!(
            text.contains(
                "parley_presence_fetches_total{direction=\"xmpp_to_sip\",outcome=\"coalesced\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "parley_presence_fetches_total{direction=\"sip_to_xmpp\",outcome=\"timeout\"} 1"
            ),
            "{text}"
        );
    }

    #[test]
    fn messages_not_carried_count_by_reason() {
        let m = Metrics::new().expect("metrics");
        m.not_carried(NotCarried::Encrypted(
            parley_mapping::encryption::Encryption::Omemo,
        ));
        m.not_carried(NotCarried::Encrypted(
            parley_mapping::encryption::Encryption::OpenPgp,
        ));
        m.not_carried(NotCarried::Rfc3923E2e);
        m.not_carried(NotCarried::NoText);
        let text = m.render();
        for line in [
            "parley_xmpp_messages_not_carried_total{reason=\"encrypted\"} 2",
            "parley_xmpp_messages_not_carried_total{reason=\"rfc3923_e2e\"} 1",
            "parley_xmpp_messages_not_carried_total{reason=\"no_text\"} 1",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
    }

    #[test]
    fn limit_rejections_count_by_bounded_label() {
        let m = Metrics::new().expect("metrics");
        m.observe_sip(&SipSnapshot {
            limit_rejections: vec![(Limit::SipRate, 4)],
            ..Default::default()
        });
        m.limit_rejection(Limit::XmppRate);
        m.trust_rejection("sip");
        let text = m.render();
        assert!(
            text.contains("parley_limit_rejections_total{limit=\"sip_rate\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("parley_limit_rejections_total{limit=\"xmpp_rate\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("parley_trust_rejections_total{side=\"sip\"} 1"),
            "{text}"
        );
    }
}

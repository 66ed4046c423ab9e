//! RFC 7247 §7: what the peer hears when something fails.
//!
//! This is the one place that decides the wire answer: the two tables of
//! RFC 7247 §7 as `match` arms in table order, and, for every variant of
//! [`MappingError`] (defined in the leaf module `failure`, so that the
//! modules which fail need not import these tables), its SIP status and its
//! XMPP stanza error. Internal error text never reaches a peer; only the
//! codes below do.

use parley_xmpp::stanza::{DefinedCondition, ErrorType, StanzaError};

use crate::address::AddressMapper;
pub use crate::answer::{ALLOW, ALLOW_WITH_SESSIONS, RequiredHeader, SipAnswer, SipStatus};
pub use crate::failure::{AddressPart, MappingError, NotCarried};

impl MappingError {
    /// Whether the sender should get an error back. `false` for a
    /// notification (chat states, receipts, markers: handled apart, never
    /// bounced) and for an error stanza (RFC 6120 §8.3.1: an error is never
    /// answered with an error).
    pub fn should_bounce(&self) -> bool {
        !matches!(self, Self::NotificationOnly | Self::ErrorStanza)
    }

    /// The SIP final response for a SIP request that failed this way, with
    /// the header fields its status requires (RFC 3261 §21.4.13 for 415:
    /// Accept always, Accept-Encoding "depending on the specific problem",
    /// i.e. when the content coding was it).
    pub fn sip_answer(&self) -> SipAnswer {
        let answer = SipAnswer::new(self.sip_status());
        match self {
            Self::UnsupportedContentEncoding => answer.with(RequiredHeader::AcceptEncoding),
            _ => answer,
        }
    }

    /// The status of the SIP final response for a SIP request that failed
    /// this way; [`MappingError::sip_answer`] adds the header fields it needs.
    pub fn sip_status(&self) -> SipStatus {
        SipStatus::new(match self {
            // Design §2: unmappable addresses are 484 / 400, never passed through.
            Self::MalformedJid { .. } | Self::MalformedUri { .. } => 400,
            Self::AddressIncomplete => 484,
            // RFC 3261 §21.4.17: 416 Unsupported URI Scheme.
            Self::UnsupportedScheme { .. } => 416,
            Self::ForeignDomainRefused => 403,
            Self::NotOurDomain | Self::TargetNotXmpp => 404,
            // RFC 3261 §21.4.13: 415 for unsupported type, charset or coding.
            Self::UnsupportedMediaType
            | Self::UnsupportedCharset
            | Self::UnsupportedContentEncoding => 415,
            Self::InvalidBody { .. } | Self::MalformedCpim { .. } | Self::MalformedPidf { .. } => {
                400
            }
            Self::BodyTooLarge { .. } => 413,
            Self::MissingAddress { .. }
            | Self::NotificationOnly
            | Self::NotCarried(_)
            | Self::ErrorStanza
            | Self::NotANotification => 400,
            // Only reachable from XMPP; mirror Table 2's service-unavailable row.
            Self::Groupchat => 403,
        })
    }

    /// The stanza error for an XMPP stanza that failed this way.
    pub fn stanza_error(&self) -> StanzaError {
        let condition = match self {
            Self::NotCarried(reason) => return reason.stanza_error(),
            Self::MalformedJid { .. }
            | Self::MalformedUri { .. }
            | Self::AddressIncomplete
            | Self::UnsupportedScheme { .. } => DefinedCondition::JidMalformed,
            Self::ForeignDomainRefused => DefinedCondition::Forbidden,
            Self::NotOurDomain | Self::TargetNotXmpp => DefinedCondition::ItemNotFound,
            Self::UnsupportedMediaType
            | Self::UnsupportedCharset
            | Self::UnsupportedContentEncoding
            | Self::NotificationOnly => DefinedCondition::NotAcceptable,
            Self::InvalidBody { .. }
            | Self::MalformedCpim { .. }
            | Self::MalformedPidf { .. }
            | Self::MissingAddress { .. }
            | Self::NotANotification
            | Self::ErrorStanza => DefinedCondition::BadRequest,
            // RFC 7572 §6: an over-sized message is a policy violation.
            Self::BodyTooLarge { .. } => DefinedCondition::PolicyViolation,
            // RFC 6121 §8.5.2.1.1: groupchat "SHOULD be <service-unavailable/>".
            Self::Groupchat => DefinedCondition::ServiceUnavailable,
        };
        StanzaError::new(condition)
    }
}

impl NotCarried {
    /// What the sender reads in `<text/>`. Fixed words about the stanza,
    /// never internal error text (design: "Internal error text never reaches
    /// a peer").
    pub fn text(self) -> &'static str {
        match self {
            Self::Encrypted(_) => {
                "End-to-end encrypted messages cannot cross to SIP: the SIP recipient \
                 has no key to read them, and the gateway does not forward the \
                 unencrypted fallback text in their place. Nothing was delivered."
            }
            Self::Rfc3923E2e => {
                "The RFC 3923 <e2e/> element holds text that is not a signed or \
                 encrypted MIME object (a header block with Content-Type \
                 multipart/signed or application/pkcs7-mime, a blank line, then \
                 the body), so there is nothing to carry to SIP. Nothing was delivered."
            }
            Self::NoText => {
                "The message has no text body and carries nothing this gateway \
                 translates to SIP. Nothing was delivered."
            }
        }
    }

    /// The stanza error, with [`NotCarried::text`].
    pub fn stanza_error(self) -> StanzaError {
        let condition = match self {
            // RFC 6120 §8.3.3.9 not-acceptable: "understands the request but
            // cannot process it because the request does not meet criteria
            // defined by the recipient or server". The gateway knows what the
            // payload is; its criterion is that a message crossing to SIP is
            // one the SIP user can read. Type "modify" (the SHOULD) tells the
            // sender that the same message sent without encryption would go.
            // Not feature-not-implemented: no feature would make it work,
            // since the SIP side has no OMEMO or OpenPGP keys.
            Self::Encrypted(_) => DefinedCondition::NotAcceptable,
            // RFC 6120 §8.3.3.1 bad-request: "The sender has sent a stanza
            // containing XML that does not conform to the appropriate schema
            // or that cannot be processed". RFC 3923 §9 defines <e2e/> as a
            // wrapper for a "Message/CPIM", "application/pidf+xml" or
            // "application/xmpp+xml" object, signed or encrypted (§3.1); text
            // that is no such object does not conform. Type "modify": the
            // same message with a proper object would go.
            Self::Rfc3923E2e => DefinedCondition::BadRequest,
            // RFC 6120 §8.3.3.3 feature-not-implemented: "The feature
            // represented in the XML stanza is not implemented by the intended
            // recipient or an intermediate server and therefore the stanza
            // cannot be processed". Parley is that intermediate: whatever the
            // payload is, it has no SIP translation. Type "cancel": sending it
            // again will not help.
            Self::NoText => DefinedCondition::FeatureNotImplemented,
        };
        let mut error = StanzaError::new(condition);
        error.text = Some(self.text().to_owned());
        error
    }
}

/// Whether an XMPP error relates to a bare or a full JID (RFC 7247 §7.1
/// notes 1 and 2: the 'to' address of the original request decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JidScope {
    /// `localpart@domainpart`: SIP 6xx / 501 where the table offers a choice.
    Bare,
    /// `localpart@domainpart/resourcepart`: SIP 4xx / 405.
    Full,
}

impl JidScope {
    /// The scope of the 'to' address of the original request.
    pub fn of(jid: &crate::jid::Jid) -> Self {
        if jid.is_full() {
            Self::Full
        } else {
            Self::Bare
        }
    }
}

/// RFC 7247 §7.1, Table 2, for an error about a bare JID (the usual case: RFC
/// 6121 §5.1 recommends bare JIDs for single messages).
pub fn stanza_error_to_sip(err: &StanzaError) -> SipStatus {
    stanza_error_to_sip_for(err, JidScope::Bare)
}

/// RFC 7247 §7.1, Table 2, with the bare/full choice of notes 1 and 2.
pub(crate) fn stanza_error_to_sip_for(err: &StanzaError, scope: JidScope) -> SipStatus {
    use DefinedCondition as C;
    let full = scope == JidScope::Full;
    let code = match err.condition {
        C::BadRequest => 400,
        C::Conflict => 400,
        // Note 1: 405 for a full JID, 501 for a bare JID.
        C::FeatureNotImplemented => {
            if full {
                405
            } else {
                501
            }
        }
        // Note 2: 4xx for a full JID, 6xx for a bare JID.
        C::Forbidden => {
            if full {
                403
            } else {
                603
            }
        }
        // Note 3: 301 when <gone/> names the new address, else 410.
        C::Gone => {
            if err.alt.as_deref().is_some_and(|a| !a.trim().is_empty()) {
                301
            } else {
                410
            }
        }
        C::InternalServerError => 500,
        C::ItemNotFound => {
            if full {
                404
            } else {
                604
            }
        }
        C::JidMalformed => 400,
        C::NotAcceptable => {
            if full {
                406
            } else {
                606
            }
        }
        C::NotAllowed => 403,
        C::NotAuthorized => 401,
        C::PolicyViolation => 403,
        C::RecipientUnavailable => {
            if full {
                480
            } else {
                600
            }
        }
        C::Redirect => 302,
        C::RegistrationRequired => 407,
        // Note 4: 404 when the server does not exist, 408 when it cannot be
        // resolved; a stanza error does not say which, so "does not exist".
        C::RemoteServerNotFound => 404,
        C::RemoteServerTimeout => 408,
        C::ResourceConstraint => 500,
        // Note 5: 503 is NOT RECOMMENDED; 403 and 405 are closest. 405 would
        // oblige us to send an Allow header (RFC 3261 §21.4.6), so 403.
        C::ServiceUnavailable => 403,
        C::SubscriptionRequired => 400,
        C::UndefinedCondition => 400,
        // "491 or 400": 491 Request Pending is about overlapping INVITE
        // transactions (RFC 3261 §14.2), which a MESSAGE never is; so 400.
        C::UnexpectedRequest => 400,
    };
    SipStatus::new(code)
}

/// RFC 7247 §7.1, Table 2, as the complete answer to a SIP MESSAGE that the
/// XMPP side refused with `err`: the status of `stanza_error_to_sip_for`
/// and the header fields it needs.
///
/// - 301/302: the address in `<gone/>`/`<redirect/>` (RFC 6120 §8.3.3.5,
///   §8.3.3.14: "a URI or IRI", "typically an XMPP IRI") becomes the Contact,
///   mapped per RFC 7247 §6 by `mapper` (`AddressMapper::new_address_to_sip`).
/// - `<gone/>` whose address cannot be written as a SIP URI: 410. Note 3
///   wants 301 whenever an address is given, but a 301 without a SIP Contact
///   gives the client nothing to "retry at the new address given by the
///   Contact header field" (RFC 3261 §21.3.2); from the SIP side "no
///   forwarding address is known", which is 410 (§21.4.10). RFC 7247 §7
///   lets a gateway "deviate from these mappings if needed".
/// - `<redirect/>` without a usable address: 480 Temporarily Unavailable,
///   which RFC 3261 §21.4.18 gives for a server that "recognizes the user
///   identified by the Request-URI, but does not currently have a valid
///   forwarding location for that user" — exactly what such a redirect says
///   (RFC 6120 §8.3.3.14: "typically in a temporary fashion"). A 302 without
///   Contact would tell the client to retry nowhere.
/// - 405 (`<feature-not-implemented/>` for a full JID, note 1): Allow lists
///   the methods Parley answers except MESSAGE, the one the address refused.
/// - 401, 407: a Digest challenge (see [`SipAnswer::header_fields`]).
pub fn message_error_to_sip(
    err: &StanzaError,
    scope: JidScope,
    mapper: &AddressMapper,
) -> SipAnswer {
    let status = stanza_error_to_sip_for(err, scope);
    match status.code {
        301 | 302 => {
            let contact = err
                .alt
                .as_deref()
                .and_then(|alt| mapper.new_address_to_sip(alt).ok());
            match (contact, status.code) {
                (Some(contact), _) => SipAnswer::redirect(status, contact),
                (None, 301) => SipAnswer::new(SipStatus::new(410)),
                (None, _) => SipAnswer::new(SipStatus::new(480)),
            }
        }
        405 => SipAnswer {
            status,
            headers: vec![RequiredHeader::Allow {
                refused: Some("MESSAGE"),
            }],
        },
        _ => SipAnswer::new(status),
    }
}

/// RFC 7247 §7.2, Table 3, with its notes and the catch-all rule for codes
/// the table does not list. `contact` is the first Contact URI of a 3xx
/// response: the new address `<gone/>` and `<redirect/>` carry.
///
/// 1xx and 2xx are not failures (RFC 7247 §7: no mapping); they map to
/// `<undefined-condition/>` so a caller mistake is visible, not silent.
// The listed codes come first, in table order; the catch-all ranges after
// them deliberately overlap.
#[allow(clippy::match_overlapping_arm)]
pub fn sip_status_to_stanza_error(code: u16, contact: Option<&str>) -> StanzaError {
    use DefinedCondition as C;
    let contact = contact.map(str::trim).filter(|c| !c.is_empty());
    let condition = match code {
        300 => C::Redirect,
        // Note 1: <gone/> from 301 MUST include the new address. Without a
        // Contact there is none to give, so fall back to the 3xx catch-all.
        301 if contact.is_some() => C::Gone,
        301 => C::Redirect,
        302 => C::Redirect,
        305 => C::Redirect,
        380 => C::NotAcceptable,
        400 => C::BadRequest,
        401 => C::NotAuthorized,
        // Note 2: <payment-required/> was removed in RFC 6120.
        402 => C::BadRequest,
        // Note 3: <not-allowed/> and <policy-violation/> are alternatives.
        403 => C::Forbidden,
        // Note 4: <remote-server-not-found/> is the alternative.
        404 => C::ItemNotFound,
        405 => C::FeatureNotImplemented,
        406 => C::NotAcceptable,
        407 => C::RegistrationRequired,
        // Note 5: <remote-server-not-found/> is the alternative. Design §3: a
        // timeout on one side is remote-server-timeout on the other.
        408 => C::RemoteServerTimeout,
        410 => C::Gone,
        413 => C::PolicyViolation,
        414 => C::PolicyViolation,
        415 => C::NotAcceptable,
        416 => C::NotAcceptable,
        420 => C::FeatureNotImplemented,
        421 => C::NotAcceptable,
        423 => C::ResourceConstraint,
        // Note 6: 430 and 439 are RFC 5626.
        430 => C::RecipientUnavailable,
        439 => C::FeatureNotImplemented,
        // Note 7: 440 is RFC 5393.
        440 => C::PolicyViolation,
        480 => C::RecipientUnavailable,
        481 => C::ItemNotFound,
        482 => C::NotAcceptable,
        483 => C::NotAcceptable,
        484 => C::ItemNotFound,
        485 => C::ItemNotFound,
        486 => C::RecipientUnavailable,
        487 => C::RecipientUnavailable,
        488 => C::NotAcceptable,
        // Note 8: 489 is RFC 6665.
        489 => C::PolicyViolation,
        491 => C::UnexpectedRequest,
        493 => C::BadRequest,
        500 => C::InternalServerError,
        501 => C::FeatureNotImplemented,
        502 => C::RemoteServerNotFound,
        // Note 9: see the semantic mismatch of §7.1 note 5.
        503 => C::InternalServerError,
        504 => C::RemoteServerTimeout,
        505 => C::NotAcceptable,
        513 => C::PolicyViolation,
        600 => C::RecipientUnavailable,
        603 => C::RecipientUnavailable,
        604 => C::ItemNotFound,
        606 => C::NotAcceptable,
        // The catch-all rule: "3xx … <redirect/>, 4xx … <bad-request/>, 5xx …
        // <internal-server-error>, and 6xx … <recipient-unavailable/>".
        300..=399 => C::Redirect,
        400..=499 => C::BadRequest,
        500..=599 => C::InternalServerError,
        600..=699 => C::RecipientUnavailable,
        _ => C::UndefinedCondition,
    };
    let mut err = StanzaError::new(condition);
    if condition == C::Gone && code == 410 {
        // Note 1: <gone/> from 410 MUST NOT include a new address.
        err.alt = None;
    } else if matches!(condition, C::Gone | C::Redirect) {
        err.alt = contact.map(str::to_owned);
    }
    err
}

/// A timeout waiting for the XMPP side, as the SIP answer (design §3). Only
/// the table's tests read it: the gateway does not use it.
#[cfg(test)]
pub(crate) const XMPP_TIMEOUT_STATUS: SipStatus = SipStatus::new(408);

/// A timeout waiting for the SIP side, as the stanza error (design §3).
pub fn sip_timeout_stanza_error() -> StanzaError {
    StanzaError::new(DefinedCondition::RemoteServerTimeout)
}

/// The error for an XMPP message whose SIP request was still unanswered when
/// the gateway stopped waiting (shutdown's grace period ran out): the MESSAGE
/// may or may not have reached the user. As seen from the gateway that is a
/// request timeout (RFC 3261 §21.4.9, 408: "could not produce a response
/// within a suitable amount of time"), and RFC 7247 §7.1 Table 2 pairs
/// `<remote-server-timeout/>` with 408 (Table 3 maps 408 back to it). The
/// text says the outcome is unknown, so the user knows a resend may
/// duplicate it.
pub fn unanswered_at_shutdown_stanza_error() -> StanzaError {
    StanzaError {
        text: Some(
            "The SIP gateway stopped before the recipient's side answered; \
             the message may or may not have been delivered."
                .to_owned(),
        ),
        ..sip_timeout_stanza_error()
    }
}

/// The error for a stanza that asks for something while the gateway stops:
/// `<service-unavailable/>` (RFC 6120 §8.3.3.19: "The server or recipient
/// does not currently provide the requested service") with type `wait`.
/// §8.3.3.19 says the type SHOULD be `cancel`, but §8.3.2 defines `wait` as
/// "retry after waiting (the error is temporary)", which a restart is.
pub fn stopping_stanza_error() -> StanzaError {
    StanzaError {
        error_type: ErrorType::Wait,
        text: Some("The SIP gateway is shutting down; try again shortly.".to_owned()),
        ..StanzaError::new(DefinedCondition::ServiceUnavailable)
    }
}

/// RFC 7702 §6.1: the answer to a SIP user's INVITE to a room when the MUC
/// refused the join (XEP-0045 §7.2). The rows of
/// [`groupchat::muc_error::join_refusal_to_sip`](crate::groupchat::muc_error::join_refusal_to_sip)
/// first, then RFC 7247 §7.1 Table 2 for a full JID (the join went to
/// `room/nick`): `<forbidden/>` (banned) 403, `<item-not-found/>` (no such
/// room, or locked) 404, `<conflict/>` 400, `<service-unavailable/>` (room
/// full) 403 (note 5).
pub fn room_join_error_to_sip(err: &StanzaError) -> SipStatus {
    crate::groupchat::muc_error::join_refusal_to_sip(err)
        .unwrap_or_else(|| stanza_error_to_sip_for(err, JidScope::Full))
}

/// RFC 7702 §5.1: the focus refused the INVITE that carried an XMPP user's
/// room join; the presence error (RFC 7247 §7.2 Table 3), `by` the room as
/// XEP-0045 §7.2's errors are. 403 → `<forbidden/>` (banned), 404 and 604 →
/// `<item-not-found/>` (no such room), 486/600 → `<recipient-unavailable/>`.
pub fn conference_join_failure_to_stanza_error(code: u16, room: &str) -> StanzaError {
    StanzaError {
        by: Some(room.to_owned()),
        ..sip_status_to_stanza_error(code, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encryption::Encryption;
    use DefinedCondition as C;

    fn err(c: DefinedCondition) -> StanzaError {
        StanzaError::new(c)
    }

    /// RFC 7247 §7.1 Table 2, row by row: "| <condition/> | code |". The
    /// second column is (bare JID, full JID) where notes 1 and 2 choose.
    #[test]
    fn table2_every_xmpp_condition_maps_to_its_sip_code() {
        let rows: [(DefinedCondition, u16, u16, &str); 22] = [
            (C::BadRequest, 400, 400, "<bad-request/> | 400"),
            (C::Conflict, 400, 400, "<conflict/> | 400"),
            (
                C::FeatureNotImplemented,
                501,
                405,
                "<feature-not-implemented/> | 405 or 501 (1)",
            ),
            (C::Forbidden, 603, 403, "<forbidden/> | 403 or 603 (2)"),
            (
                C::Gone,
                410,
                410,
                "<gone/> | 301 or 410 (3) — no new address",
            ),
            (
                C::InternalServerError,
                500,
                500,
                "<internal-server-error/> | 500",
            ),
            (
                C::ItemNotFound,
                604,
                404,
                "<item-not-found/> | 404 or 604 (2)",
            ),
            (C::JidMalformed, 400, 400, "<jid-malformed/> | 400"),
            (
                C::NotAcceptable,
                606,
                406,
                "<not-acceptable/> | 406 or 606 (2)",
            ),
            (C::NotAllowed, 403, 403, "<not-allowed/> | 403"),
            (C::NotAuthorized, 401, 401, "<not-authorized/> | 401"),
            (C::PolicyViolation, 403, 403, "<policy-violation/> | 403"),
            (
                C::RecipientUnavailable,
                600,
                480,
                "<recipient-unavailable/> | 480 or 600 (2)",
            ),
            (C::Redirect, 302, 302, "<redirect/> | 302"),
            (
                C::RegistrationRequired,
                407,
                407,
                "<registration-required/> | 407",
            ),
            (
                C::RemoteServerNotFound,
                404,
                404,
                "<remote-server-not-found/> | 404 or 408 (4)",
            ),
            (
                C::RemoteServerTimeout,
                408,
                408,
                "<remote-server-timeout/> | 408",
            ),
            (
                C::ResourceConstraint,
                500,
                500,
                "<resource-constraint/> | 500",
            ),
            (
                C::ServiceUnavailable,
                403,
                403,
                "<service-unavailable/> | see note (5)",
            ),
            (
                C::SubscriptionRequired,
                400,
                400,
                "<subscription-required/> | 400",
            ),
            (
                C::UndefinedCondition,
                400,
                400,
                "<undefined-condition/> | 400",
            ),
            (
                C::UnexpectedRequest,
                400,
                400,
                "<unexpected-request/> | 491 or 400",
            ),
        ];
        for (condition, bare, full, row) in rows {
            assert_eq!(
                stanza_error_to_sip(&err(condition)).code,
                bare,
                "bare: {row}"
            );
            assert_eq!(
                stanza_error_to_sip_for(&err(condition), JidScope::Full).code,
                full,
                "full: {row}"
            );
        }
        // Every one of the 22 conditions has a row.
        assert_eq!(rows.len(), DefinedCondition::ALL.len());
    }

    /// RFC 7247 §7.1: "depending on the 'to' address of the original request".
    #[test]
    fn scope_follows_the_original_to_address() {
        let full = crate::jid::Jid::parse("juliet@example.com/balcony").expect("valid JID");
        assert_eq!(JidScope::of(&full), JidScope::Full);
        assert_eq!(JidScope::of(&full.bare()), JidScope::Bare);
    }

    /// RFC 7247 §7.1 note 3: "If the <gone/> element includes XML character
    /// data specifying the new address, the error MUST be mapped to SIP 301".
    #[test]
    fn table2_gone_with_new_address_is_301() {
        let mut gone = err(C::Gone);
        gone.alt = Some("xmpp:romeo@example.net".into());
        assert_eq!(stanza_error_to_sip(&gone), SipStatus::new(301));
        gone.alt = Some("  ".into());
        assert_eq!(stanza_error_to_sip(&gone).code, 410);
    }

    /// RFC 7247 §7.1 note 5: mapping <service-unavailable/> to 503 "is NOT RECOMMENDED".
    #[test]
    fn table2_service_unavailable_is_never_503() {
        for scope in [JidScope::Bare, JidScope::Full] {
            let code = stanza_error_to_sip_for(&err(C::ServiceUnavailable), scope).code;
            assert!(code == 403 || code == 405, "{code}");
        }
    }

    fn mapper() -> AddressMapper {
        AddressMapper {
            component_domain: "sip.example.net".into(),
            sip_domain: "sip.example.net".into(),
            foreign_domains: crate::address::ForeignDomainPolicy::Refuse,
        }
    }

    fn header_names(answer: &SipAnswer) -> Vec<&'static str> {
        answer.headers.iter().map(RequiredHeader::name).collect()
    }

    /// RFC 7247 §7.1 Table 2 as Parley answers a SIP MESSAGE: every row's
    /// code and the header fields RFC 3261 requires with it (§21.4.2/§22.2
    /// 401 WWW-Authenticate, §21.4.8/§22.3 407 Proxy-Authenticate, §21.4.6
    /// 405 Allow, §21.3.2/§21.3.3 301/302 Contact). A row without an address
    /// where one is needed: <gone/> → 410, <redirect/> → 480.
    #[test]
    fn table2_every_row_carries_the_headers_its_code_needs() {
        // (condition, (code, header names) for a bare JID, the same for a full JID)
        type Answer = (u16, &'static [&'static str]);
        let rows: [(DefinedCondition, Answer, Answer); 22] = [
            (C::BadRequest, (400, &[]), (400, &[])),
            (C::Conflict, (400, &[]), (400, &[])),
            (C::FeatureNotImplemented, (501, &[]), (405, &["Allow"])),
            (C::Forbidden, (603, &[]), (403, &[])),
            (C::Gone, (410, &[]), (410, &[])),
            (C::InternalServerError, (500, &[]), (500, &[])),
            (C::ItemNotFound, (604, &[]), (404, &[])),
            (C::JidMalformed, (400, &[]), (400, &[])),
            (C::NotAcceptable, (606, &[]), (406, &[])),
            (C::NotAllowed, (403, &[]), (403, &[])),
            (
                C::NotAuthorized,
                (401, &["WWW-Authenticate"]),
                (401, &["WWW-Authenticate"]),
            ),
            (C::PolicyViolation, (403, &[]), (403, &[])),
            (C::RecipientUnavailable, (600, &[]), (480, &[])),
            (C::Redirect, (480, &[]), (480, &[])),
            (
                C::RegistrationRequired,
                (407, &["Proxy-Authenticate"]),
                (407, &["Proxy-Authenticate"]),
            ),
            (C::RemoteServerNotFound, (404, &[]), (404, &[])),
            (C::RemoteServerTimeout, (408, &[]), (408, &[])),
            (C::ResourceConstraint, (500, &[]), (500, &[])),
            (C::ServiceUnavailable, (403, &[]), (403, &[])),
            (C::SubscriptionRequired, (400, &[]), (400, &[])),
            (C::UndefinedCondition, (400, &[]), (400, &[])),
            (C::UnexpectedRequest, (400, &[]), (400, &[])),
        ];
        for (condition, bare, full) in rows {
            for (scope, (code, headers)) in [(JidScope::Bare, bare), (JidScope::Full, full)] {
                let answer = message_error_to_sip(&err(condition), scope, &mapper());
                assert_eq!(answer.status.code, code, "{condition:?} {scope:?}");
                assert_eq!(header_names(&answer), headers, "{condition:?} {scope:?}");
            }
        }
        assert_eq!(rows.len(), DefinedCondition::ALL.len());
    }

    /// RFC 7247 §7.1 note 3 and the <redirect/> row with an address: the
    /// address, mapped per §6, is the Contact of the 301/302 (RFC 3261 §21.3.2,
    /// §21.3.3), in name-addr form (§20.10).
    #[test]
    fn table2_gone_and_redirect_with_an_address_carry_it_as_contact() {
        for (condition, alt, code, contact) in [
            (
                C::Gone,
                "xmpp:romeo@afterlife.example.net",
                301,
                "<sip:romeo@afterlife.example.net>",
            ),
            (
                C::Redirect,
                "juliet@xmpp.example/desk",
                302,
                "<sip:juliet@xmpp.example;gr=desk>",
            ),
            // A JID at the component domain is the SIP user it stands for.
            (
                C::Redirect,
                "xmpp:bob@sip.example.net",
                302,
                "<sip:bob@sip.example.net>",
            ),
        ] {
            let mut e = err(condition);
            e.alt = Some(alt.into());
            for scope in [JidScope::Bare, JidScope::Full] {
                let answer = message_error_to_sip(&e, scope, &mapper());
                assert_eq!(answer.status, SipStatus::new(code), "{alt}");
                assert_eq!(
                    answer.header_fields("sip.example.net", 7),
                    vec![("Contact".to_owned(), contact.to_owned())],
                    "{alt}"
                );
            }
        }
    }

    /// An address that cannot be a SIP Contact: <gone/> → 410 (RFC 3261
    /// §21.4.10 "no forwarding address is known"), <redirect/> → 480 (§21.4.18
    /// "does not currently have a valid forwarding location").
    #[test]
    fn table2_gone_and_redirect_without_a_usable_address() {
        for alt in ["mailto:romeo@example.net", "xmpp:example.net", "  "] {
            let mut gone = err(C::Gone);
            gone.alt = Some(alt.into());
            let answer = message_error_to_sip(&gone, JidScope::Bare, &mapper());
            assert_eq!(answer, SipAnswer::new(SipStatus::new(410)), "{alt:?}");
            let mut redirect = err(C::Redirect);
            redirect.alt = Some(alt.into());
            let answer = message_error_to_sip(&redirect, JidScope::Bare, &mapper());
            assert_eq!(answer, SipAnswer::new(SipStatus::new(480)), "{alt:?}");
        }
    }

    /// RFC 3261 §21.4.6: Allow lists "valid methods for the indicated
    /// address": all Parley answers for an unknown method, all but MESSAGE
    /// when the XMPP resource refused the MESSAGE.
    #[test]
    fn allow_lists_the_methods_the_address_takes() {
        assert_eq!(
            SipAnswer::new(SipStatus::new(405)).header_fields("r", 0),
            vec![("Allow".to_owned(), ALLOW.to_owned())]
        );
        let answer =
            message_error_to_sip(&err(C::FeatureNotImplemented), JidScope::Full, &mapper());
        assert_eq!(
            answer.header_fields("r", 0),
            vec![("Allow".to_owned(), "NOTIFY, OPTIONS, SUBSCRIBE".to_owned())]
        );
    }

    /// RFC 3261 §21.4.13: every 415 lists Accept; Accept-Encoding "depending
    /// on the specific problem", i.e. when the coding was it.
    #[test]
    fn every_415_lists_what_parley_accepts() {
        for (e, headers) in [
            (MappingError::UnsupportedMediaType, &["Accept"][..]),
            (MappingError::UnsupportedCharset, &["Accept"]),
            (
                MappingError::UnsupportedContentEncoding,
                &["Accept", "Accept-Encoding"],
            ),
        ] {
            let answer = e.sip_answer();
            assert_eq!(answer.status.code, 415, "{e:?}");
            assert_eq!(header_names(&answer), headers, "{e:?}");
        }
        let fields = MappingError::UnsupportedContentEncoding
            .sip_answer()
            .header_fields("r", 0);
        assert_eq!(fields[0].1, crate::body::ACCEPT);
        assert_eq!(fields[1].1, crate::content_coding::ACCEPT_ENCODING);
        // Errors whose codes need nothing more carry nothing more.
        assert!(
            MappingError::AddressIncomplete
                .sip_answer()
                .headers
                .is_empty()
        );
    }

    /// RFC 6120 §8.3.3: each reason a message is not carried has its
    /// condition, its SHOULD type, and a <text/> saying what was not carried.
    #[test]
    fn not_carried_reasons_have_condition_type_and_text() {
        for (reason, condition) in [
            (NotCarried::Encrypted(Encryption::OpenPgp), C::NotAcceptable),
            (NotCarried::Rfc3923E2e, C::BadRequest),
            (NotCarried::NoText, C::FeatureNotImplemented),
        ] {
            let e = MappingError::NotCarried(reason).stanza_error();
            assert_eq!(e.condition, condition, "{reason:?}");
            assert_eq!(e.error_type, condition.default_type(), "{reason:?}");
            assert!(
                e.text
                    .as_deref()
                    .is_some_and(|t| t.contains("Nothing was delivered")),
                "{reason:?}"
            );
        }
    }

    /// RFC 7247 §7.2 Table 3, every listed row: "| code | <condition/> |".
    #[test]
    fn table3_every_listed_sip_code_maps_to_its_condition() {
        let rows: &[(u16, DefinedCondition, &str)] = &[
            (300, C::Redirect, "300 | <redirect/>"),
            (302, C::Redirect, "302 | <redirect/>"),
            (305, C::Redirect, "305 | <redirect/>"),
            (380, C::NotAcceptable, "380 | <not-acceptable/>"),
            (400, C::BadRequest, "400 | <bad-request/>"),
            (401, C::NotAuthorized, "401 | <not-authorized/>"),
            (402, C::BadRequest, "402 | <bad-request/> (2)"),
            (403, C::Forbidden, "403 | <forbidden/> (3)"),
            (404, C::ItemNotFound, "404 | <item-not-found/> (4)"),
            (
                405,
                C::FeatureNotImplemented,
                "405 | <feature-not-implemented/>",
            ),
            (406, C::NotAcceptable, "406 | <not-acceptable/>"),
            (
                407,
                C::RegistrationRequired,
                "407 | <registration-required/>",
            ),
            (
                408,
                C::RemoteServerTimeout,
                "408 | <remote-server-timeout/> (5)",
            ),
            (410, C::Gone, "410 | <gone/> (1)"),
            (413, C::PolicyViolation, "413 | <policy-violation/>"),
            (414, C::PolicyViolation, "414 | <policy-violation/>"),
            (415, C::NotAcceptable, "415 | <not-acceptable/>"),
            (416, C::NotAcceptable, "416 | <not-acceptable/>"),
            (
                420,
                C::FeatureNotImplemented,
                "420 | <feature-not-implemented/>",
            ),
            (421, C::NotAcceptable, "421 | <not-acceptable/>"),
            (423, C::ResourceConstraint, "423 | <resource-constraint/>"),
            (
                430,
                C::RecipientUnavailable,
                "430 | <recipient-unavailable/> (6)",
            ),
            (
                439,
                C::FeatureNotImplemented,
                "439 | <feature-not-implemented/> (6)",
            ),
            (440, C::PolicyViolation, "440 | <policy-violation/> (7)"),
            (
                480,
                C::RecipientUnavailable,
                "480 | <recipient-unavailable/>",
            ),
            (481, C::ItemNotFound, "481 | <item-not-found/>"),
            (482, C::NotAcceptable, "482 | <not-acceptable/>"),
            (483, C::NotAcceptable, "483 | <not-acceptable/>"),
            (484, C::ItemNotFound, "484 | <item-not-found/>"),
            (485, C::ItemNotFound, "485 | <item-not-found/>"),
            (
                486,
                C::RecipientUnavailable,
                "486 | <recipient-unavailable/>",
            ),
            (
                487,
                C::RecipientUnavailable,
                "487 | <recipient-unavailable/>",
            ),
            (488, C::NotAcceptable, "488 | <not-acceptable/>"),
            (489, C::PolicyViolation, "489 | <policy-violation/> (8)"),
            (491, C::UnexpectedRequest, "491 | <unexpected-request/>"),
            (493, C::BadRequest, "493 | <bad-request/>"),
            (
                500,
                C::InternalServerError,
                "500 | <internal-server-error/>",
            ),
            (
                501,
                C::FeatureNotImplemented,
                "501 | <feature-not-implemented/>",
            ),
            (
                502,
                C::RemoteServerNotFound,
                "502 | <remote-server-not-found/>",
            ),
            (
                503,
                C::InternalServerError,
                "503 | <internal-server-error/> (9)",
            ),
            (
                504,
                C::RemoteServerTimeout,
                "504 | <remote-server-timeout/>",
            ),
            (505, C::NotAcceptable, "505 | <not-acceptable/>"),
            (513, C::PolicyViolation, "513 | <policy-violation/>"),
            (
                600,
                C::RecipientUnavailable,
                "600 | <recipient-unavailable/>",
            ),
            (
                603,
                C::RecipientUnavailable,
                "603 | <recipient-unavailable/>",
            ),
            (604, C::ItemNotFound, "604 | <item-not-found/>"),
            (606, C::NotAcceptable, "606 | <not-acceptable/>"),
        ];
        for &(code, condition, row) in rows {
            let e = sip_status_to_stanza_error(code, None);
            assert_eq!(e.condition, condition, "{row}");
            assert_eq!(e.error_type, condition.default_type(), "{row}");
        }
    }

    /// RFC 7247 §7.2 note 1: "When mapping SIP 301 to XMPP <gone/>, the <gone/>
    /// element MUST include XML character data specifying the new address."
    #[test]
    fn table3_301_is_gone_with_the_contact_address() {
        let e = sip_status_to_stanza_error(301, Some("sip:romeo@new.example"));
        assert_eq!(e.condition, C::Gone);
        assert_eq!(e.alt.as_deref(), Some("sip:romeo@new.example"));
        // Without a Contact there is no address to give: the 3xx catch-all.
        assert_eq!(sip_status_to_stanza_error(301, None).condition, C::Redirect);
    }

    /// RFC 7247 §7.2 note 1: "When mapping SIP 410 to XMPP <gone/>, the <gone/>
    /// element MUST NOT include XML character data specifying a new address."
    #[test]
    fn table3_410_is_gone_without_an_address() {
        let e = sip_status_to_stanza_error(410, Some("sip:romeo@new.example"));
        assert_eq!(e.condition, C::Gone);
        assert_eq!(e.alt, None);
    }

    /// RFC 7247 §7.2 rows 3xx: a redirect carries the Contact as its new address.
    #[test]
    fn table3_302_redirect_carries_contact() {
        let e = sip_status_to_stanza_error(302, Some("sip:r@elsewhere.example"));
        assert_eq!(e.condition, C::Redirect);
        assert_eq!(e.alt.as_deref(), Some("sip:r@elsewhere.example"));
    }

    /// RFC 7247 §7.2: "If a gateway encounters a SIP response code that is not
    /// listed below, it SHOULD map a 3xx-series code to <redirect/>, a
    /// 4xx-series code to <bad-request/>, a 5xx-series code to
    /// <internal-server-error>, and a 6xx-series code to <recipient-unavailable/>."
    #[test]
    fn table3_unlisted_codes_follow_the_catch_all_rule() {
        for (code, condition) in [
            (399, C::Redirect),
            (303, C::Redirect),
            (409, C::BadRequest),
            (422, C::BadRequest),
            (494, C::BadRequest),
            (499, C::BadRequest),
            (555, C::InternalServerError),
            (580, C::InternalServerError),
            (601, C::RecipientUnavailable),
            (699, C::RecipientUnavailable),
        ] {
            assert_eq!(
                sip_status_to_stanza_error(code, None).condition,
                condition,
                "{code}"
            );
        }
    }

    /// Issue 26 §1: a message unanswered when shutdown stops waiting is the
    /// 408 row (outcome unknown, said in the text); a request during the
    /// drain is `service-unavailable`, type `wait` (a restart is temporary).
    #[test]
    fn shutdown_errors_are_the_408_row_and_a_temporary_service_unavailable() {
        let unanswered = unanswered_at_shutdown_stanza_error();
        assert_eq!(unanswered.condition, C::RemoteServerTimeout);
        assert_eq!(stanza_error_to_sip(&unanswered).code, 408);
        assert!(
            unanswered
                .text
                .as_deref()
                .is_some_and(|t| t.contains("may or may not"))
        );
        let stopping = stopping_stanza_error();
        assert_eq!(stopping.condition, C::ServiceUnavailable);
        assert_eq!(stopping.error_type, ErrorType::Wait);
    }

    /// Design §3: "a timeout on one side becomes remote-server-timeout / 408 on the other".
    #[test]
    fn timeouts_map_to_408_and_remote_server_timeout_both_ways() {
        assert_eq!(XMPP_TIMEOUT_STATUS.code, 408);
        assert_eq!(sip_timeout_stanza_error().condition, C::RemoteServerTimeout);
        assert_eq!(stanza_error_to_sip(&sip_timeout_stanza_error()).code, 408);
        assert_eq!(
            sip_status_to_stanza_error(408, None).condition,
            C::RemoteServerTimeout
        );
    }

    #[test]
    fn every_mapping_error_has_a_failure_status_and_condition() {
        let all = [
            MappingError::MalformedJid {
                part: AddressPart::Local,
                reason: "x",
            },
            MappingError::MalformedUri { reason: "x" },
            MappingError::UnsupportedScheme { scheme: "tel" },
            MappingError::AddressIncomplete,
            MappingError::ForeignDomainRefused,
            MappingError::NotOurDomain,
            MappingError::TargetNotXmpp,
            MappingError::UnsupportedMediaType,
            MappingError::UnsupportedCharset,
            MappingError::UnsupportedContentEncoding,
            MappingError::InvalidBody { reason: "x" },
            MappingError::BodyTooLarge { limit: 1 },
            MappingError::MalformedCpim { reason: "x" },
            MappingError::MalformedPidf { reason: "x" },
            MappingError::MissingAddress { attribute: "to" },
            MappingError::NotificationOnly,
            MappingError::NotCarried(NotCarried::Encrypted(Encryption::Omemo)),
            MappingError::NotCarried(NotCarried::Rfc3923E2e),
            MappingError::NotCarried(NotCarried::NoText),
            MappingError::Groupchat,
            MappingError::NotANotification,
            MappingError::ErrorStanza,
        ];
        for e in all {
            let status = e.sip_status();
            assert!((400..700).contains(&status.code), "{e:?}");
            // A phrase of its own, not the class name the table falls back to.
            assert!(
                !["Client Error", "Server Error", "Global Failure"].contains(&status.reason),
                "{e:?}: {}",
                status.reason
            );
            assert!(!e.kind().is_empty());
        }
        assert_eq!(MappingError::AddressIncomplete.sip_status().code, 484);
        assert!(!MappingError::NotificationOnly.should_bounce());
        assert!(MappingError::NotCarried(NotCarried::NoText).should_bounce());
        assert!(!MappingError::ErrorStanza.should_bounce());
        assert!(MappingError::Groupchat.should_bounce());
        assert_eq!(
            MappingError::MalformedJid {
                part: AddressPart::Local,
                reason: "x"
            }
            .stanza_error()
            .condition,
            C::JidMalformed
        );
        assert_eq!(
            MappingError::Groupchat.stanza_error().condition,
            C::ServiceUnavailable
        );
    }

    /// RFC 7702 §6.1 with XEP-0045 §7.2's refusals.
    #[test]
    fn room_join_refusals_map_to_sip() {
        for (condition, code) in [
            (C::Forbidden, 403),
            (C::ItemNotFound, 404),
            (C::RegistrationRequired, 403),
            (C::NotAuthorized, 403),
            (C::Conflict, 400),
            (C::ServiceUnavailable, 403),
        ] {
            assert_eq!(
                room_join_error_to_sip(&StanzaError::new(condition)).code,
                code,
                "{condition:?}"
            );
        }
    }

    /// RFC 7702 §5.1: a refused INVITE to the focus as the join's error.
    #[test]
    fn conference_join_failures_map_to_muc_errors_by_the_room() {
        let e = conference_join_failure_to_stanza_error(404, "montague@sip.example.net");
        assert_eq!(e.condition, C::ItemNotFound);
        assert_eq!(e.by.as_deref(), Some("montague@sip.example.net"));
        assert_eq!(
            conference_join_failure_to_stanza_error(403, "r").condition,
            C::Forbidden
        );
        assert_eq!(
            conference_join_failure_to_stanza_error(604, "r").condition,
            C::ItemNotFound
        );
    }
}

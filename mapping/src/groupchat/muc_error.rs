//! MUC failures ↔ SIP and MSRP status codes (RFC 7702 §5.6, §6.4; RFC 7701
//! §6.2, §7.1; XEP-0045 §7.2 for what each MUC condition means; RFC 7247 §7
//! for everything else).
//!
//! The tables here are the rows RFC 7247 §7 does not give (MSRP codes) or
//! where a room join means something the generic table gets wrong; the
//! complete answers, falling back on RFC 7247's tables, are in
//! [`crate::error`] (`room_join_error_to_sip`,
//! `conference_join_failure_to_stanza_error`), the one place that decides
//! what a peer hears.

use parley_xmpp::stanza::{DefinedCondition, ErrorType, StanzaError};

use crate::answer::SipStatus;

/// The MSRP status codes a groupchat answer uses (RFC 4975 §10, RFC 7701
/// §10.3), as values the MSRP crate's `StatusCode` takes (`code()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsrpStatus {
    /// 400: RFC 4975 §10.2, "a request was unintelligible".
    BadRequest,
    /// 403: RFC 4975 §10.3, "the attempted action is not allowed"; RFC 7701
    /// §7.1 (nicknames not allowed) and §6.2 (several To headers).
    Forbidden,
    /// 404: RFC 7701 §6.2, "a failure to resolve the recipient URI in the To
    /// header field of the Message/CPIM wrapper".
    RecipientNotFound,
    /// 408: RFC 4975 §10.4, no answer in time.
    RequestTimeout,
    /// 424: RFC 7701 §10.3, "Malformed nickname".
    MalformedNickname,
    /// 425: RFC 7701 §10.3, "Nickname reserved or already in use".
    NicknameUnavailable,
    /// 428: RFC 7701 §6.2, "the recipient does not support private messages".
    PrivateMessagesNotSupported,
}

impl MsrpStatus {
    /// The three-digit code.
    pub fn code(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Forbidden => 403,
            Self::RecipientNotFound => 404,
            Self::RequestTimeout => 408,
            Self::MalformedNickname => 424,
            Self::NicknameUnavailable => 425,
            Self::PrivateMessagesNotSupported => 428,
        }
    }

    /// The comment written after the code: RFC 7701 §10.3's descriptions for
    /// its codes, RFC 4975's names for the rest.
    pub fn comment(self) -> &'static str {
        match self {
            Self::BadRequest => "Bad Request",
            Self::Forbidden => "Forbidden",
            Self::RecipientNotFound => "Recipient Not Found",
            Self::RequestTimeout => "Request Timeout",
            Self::MalformedNickname => "Malformed nickname",
            Self::NicknameUnavailable => "Nickname reserved or already in use",
            Self::PrivateMessagesNotSupported => "Private messages not supported",
        }
    }
}

/// A room join refused by the MUC service (XEP-0045 §7.2), where RFC 7247
/// §7.1 Table 2 would give an answer a SIP client cannot act on; `None`
/// means Table 2 applies (for a full JID: the join went to `room/nick`).
///
/// | XEP-0045 §7.2 | Table 2 | here | why |
/// |---|---|---|---|
/// | `<registration-required/>` (members-only) | 407 | 403 | a 407 needs a Proxy-Authenticate challenge, and no SIP credential makes the user a member |
/// | `<not-authorized/>` (room password) | 401 | 403 | a 401 needs a WWW-Authenticate challenge; a room password is not a SIP credential |
///
/// RFC 7247 §7: "implementations are free to deviate from these mappings if
/// needed".
pub fn join_refusal_to_sip(err: &StanzaError) -> Option<SipStatus> {
    match err.condition {
        DefinedCondition::RegistrationRequired => Some(SipStatus::new(403)),
        DefinedCondition::NotAuthorized => Some(SipStatus::new(403)),
        _ => None,
    }
}

/// RFC 7702 §6.4: the MUC's answer to a nickname change (the presence the
/// gateway sent for an MSRP NICKNAME) as the NICKNAME response.
///
/// | MUC condition | MSRP | source |
/// |---|---|---|
/// | `<conflict/>` | 425 | RFC 7702 §6.4 Example 40 → 41 |
/// | `<jid-malformed/>` | 424 | RFC 7701 §7.1: "does not conform to the syntax" |
/// | `<remote-server-timeout/>` | 408 | no answer in time |
/// | anything else, e.g. `<not-acceptable/>` | 403 | XEP-0045: nicknames "locked down"; RFC 7701 §7.1: "If not allowed, the MSRP switch MUST reject the request with a 403 response" |
pub fn nickname_refusal_to_msrp(err: &StanzaError) -> MsrpStatus {
    match err.condition {
        DefinedCondition::Conflict => MsrpStatus::NicknameUnavailable,
        DefinedCondition::JidMalformed => MsrpStatus::MalformedNickname,
        DefinedCondition::RemoteServerTimeout => MsrpStatus::RequestTimeout,
        _ => MsrpStatus::Forbidden,
    }
}

/// RFC 7702 §5.6: the switch's answer to a NICKNAME as the presence error the
/// XMPP user gets, `by` the room (Example 21).
///
/// | MSRP | MUC condition | source |
/// |---|---|---|
/// | 425 | `<conflict/>`, cancel | RFC 7702 §5.6 Example 20 → 21 |
/// | 424 | `<jid-malformed/>`, modify | RFC 7701 §7.1: malformed nickname |
/// | 403 | `<not-allowed/>`, cancel | RFC 7701 §7.1: nicknames not allowed |
/// | 408 | `<remote-server-timeout/>`, wait | no answer in time |
/// | anything else | `<undefined-condition/>`, cancel | no mapping defined |
pub fn nickname_failure_to_stanza_error(code: u16, room: &str) -> StanzaError {
    let (condition, error_type) = match code {
        425 => (DefinedCondition::Conflict, ErrorType::Cancel),
        424 => (DefinedCondition::JidMalformed, ErrorType::Modify),
        403 => (DefinedCondition::NotAllowed, ErrorType::Cancel),
        408 => (DefinedCondition::RemoteServerTimeout, ErrorType::Wait),
        _ => (DefinedCondition::UndefinedCondition, ErrorType::Cancel),
    };
    StanzaError {
        error_type,
        by: Some(room.to_owned()),
        ..StanzaError::new(condition)
    }
}

/// RFC 7701 §6.2: a SEND the switch refused, as the error on the XMPP
/// message that caused it.
///
/// | MSRP | condition | RFC 7701 §6.2 |
/// |---|---|---|
/// | 404 | `<item-not-found/>` | "does not contain the URI of a participant" |
/// | 428 | `<feature-not-implemented/>` | "the recipient does not support private messages" |
/// | 403 | `<forbidden/>` | several To headers, or a sender not in the room |
/// | 413 | `<policy-violation/>` | RFC 4975 §10.5, as RFC 7247 Table 3 maps SIP 413 |
/// | anything else | `<undefined-condition/>` | no mapping defined |
pub fn room_send_failure_to_stanza_error(code: u16) -> StanzaError {
    StanzaError::new(match code {
        404 => DefinedCondition::ItemNotFound,
        428 => DefinedCondition::FeatureNotImplemented,
        403 => DefinedCondition::Forbidden,
        413 => DefinedCondition::PolicyViolation,
        _ => DefinedCondition::UndefinedCondition,
    })
}

/// RFC 7701 §6.2 the other way: the MUC service refused a message the SIP
/// user sent through Parley (as focus); the SEND's response.
///
/// | MUC condition | MSRP |
/// |---|---|
/// | `<item-not-found/>` (no such occupant) | 404 |
/// | `<feature-not-implemented/>` | 428 |
/// | `<remote-server-timeout/>` | 408 |
/// | anything else (`<forbidden/>`, `<not-acceptable/>`: not an occupant, moderated room) | 403 |
pub fn room_message_refusal_to_msrp(err: &StanzaError) -> MsrpStatus {
    match err.condition {
        DefinedCondition::ItemNotFound => MsrpStatus::RecipientNotFound,
        DefinedCondition::FeatureNotImplemented => MsrpStatus::PrivateMessagesNotSupported,
        DefinedCondition::RemoteServerTimeout => MsrpStatus::RequestTimeout,
        _ => MsrpStatus::Forbidden,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(c: DefinedCondition) -> StanzaError {
        StanzaError::new(c)
    }

    #[test]
    fn members_only_and_password_rooms_refuse_with_403_not_a_challenge() {
        assert_eq!(
            join_refusal_to_sip(&err(DefinedCondition::RegistrationRequired)),
            Some(SipStatus::new(403))
        );
        assert_eq!(
            join_refusal_to_sip(&err(DefinedCondition::NotAuthorized)),
            Some(SipStatus::new(403))
        );
        assert_eq!(join_refusal_to_sip(&err(DefinedCondition::Forbidden)), None);
    }

    /// RFC 7702 §6.4 Example 40 → Example 41.
    #[test]
    fn rfc7702_6_4_nickname_conflict_is_msrp_425() {
        assert_eq!(
            nickname_refusal_to_msrp(&err(DefinedCondition::Conflict)).code(),
            425
        );
        assert_eq!(
            nickname_refusal_to_msrp(&err(DefinedCondition::JidMalformed)).code(),
            424
        );
        assert_eq!(
            nickname_refusal_to_msrp(&err(DefinedCondition::NotAcceptable)).code(),
            403
        );
    }

    /// RFC 7702 §5.6 Example 20 → Example 21.
    #[test]
    fn rfc7702_5_6_msrp_425_is_a_conflict_by_the_room() {
        let e = nickname_failure_to_stanza_error(425, "montague@chat.example.org");
        assert_eq!(e.condition, DefinedCondition::Conflict);
        assert_eq!(e.error_type, ErrorType::Cancel);
        assert_eq!(e.by.as_deref(), Some("montague@chat.example.org"));
        let e = nickname_failure_to_stanza_error(424, "r@x");
        assert_eq!(
            (e.condition, e.error_type),
            (DefinedCondition::JidMalformed, ErrorType::Modify)
        );
    }

    #[test]
    fn rfc7701_6_2_private_message_failures_map_both_ways() {
        assert_eq!(
            room_send_failure_to_stanza_error(404).condition,
            DefinedCondition::ItemNotFound
        );
        assert_eq!(
            room_send_failure_to_stanza_error(428).condition,
            DefinedCondition::FeatureNotImplemented
        );
        assert_eq!(
            room_message_refusal_to_msrp(&err(DefinedCondition::ItemNotFound)).code(),
            404
        );
        assert_eq!(
            room_message_refusal_to_msrp(&err(DefinedCondition::NotAcceptable)).code(),
            403
        );
    }

    #[test]
    fn rfc7701_10_3_comments_are_the_registered_descriptions() {
        assert_eq!(
            MsrpStatus::MalformedNickname.comment(),
            "Malformed nickname"
        );
        assert_eq!(
            MsrpStatus::NicknameUnavailable.comment(),
            "Nickname reserved or already in use"
        );
    }
}

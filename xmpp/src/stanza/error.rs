//! RFC 6120 §8.3: stanza errors.

/// RFC 6120 §8.3.2: the namespace of the condition and `<text/>` elements.
pub(crate) const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// RFC 6120 §8.3.2: the `type` attribute of `<error/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// Retry after providing credentials.
    Auth,
    /// Do not retry (the error cannot be remedied).
    Cancel,
    /// Proceed (the condition was only a warning).
    Continue,
    /// Retry after changing the data sent.
    Modify,
    /// Retry after waiting (the error is temporary).
    Wait,
}

/// RFC 6120 §8.3.3: the defined stanza error conditions (all 22).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DefinedCondition {
    /// `<bad-request/>`
    BadRequest,
    /// `<conflict/>`
    Conflict,
    /// `<feature-not-implemented/>`
    FeatureNotImplemented,
    /// `<forbidden/>`
    Forbidden,
    /// `<gone/>` (may carry a new address in [`StanzaError::alt`]).
    Gone,
    /// `<internal-server-error/>`
    InternalServerError,
    /// `<item-not-found/>`
    ItemNotFound,
    /// `<jid-malformed/>`
    JidMalformed,
    /// `<not-acceptable/>`
    NotAcceptable,
    /// `<not-allowed/>`
    NotAllowed,
    /// `<not-authorized/>`
    NotAuthorized,
    /// `<policy-violation/>`
    PolicyViolation,
    /// `<recipient-unavailable/>`
    RecipientUnavailable,
    /// `<redirect/>` (may carry a new address in [`StanzaError::alt`]).
    Redirect,
    /// `<registration-required/>`
    RegistrationRequired,
    /// `<remote-server-not-found/>`
    RemoteServerNotFound,
    /// `<remote-server-timeout/>`
    RemoteServerTimeout,
    /// `<resource-constraint/>`
    ResourceConstraint,
    /// `<service-unavailable/>`
    ServiceUnavailable,
    /// `<subscription-required/>`
    SubscriptionRequired,
    /// `<undefined-condition/>`
    UndefinedCondition,
    /// `<unexpected-request/>`
    UnexpectedRequest,
}

/// An `<error/>` child of a stanza of type `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaError {
    /// The error type.
    pub error_type: ErrorType,
    /// The defined condition.
    pub condition: DefinedCondition,
    /// Optional human-readable `<text/>`.
    pub text: Option<String>,
    /// Optional `by` attribute: the entity that generated the error.
    pub by: Option<String>,
    /// Character data of `<gone/>` or `<redirect/>`: the new address.
    pub alt: Option<String>,
}

impl DefinedCondition {
    /// Every condition, in RFC 6120 §8.3.3 order.
    pub const ALL: [DefinedCondition; 22] = [
        Self::BadRequest,
        Self::Conflict,
        Self::FeatureNotImplemented,
        Self::Forbidden,
        Self::Gone,
        Self::InternalServerError,
        Self::ItemNotFound,
        Self::JidMalformed,
        Self::NotAcceptable,
        Self::NotAllowed,
        Self::NotAuthorized,
        Self::PolicyViolation,
        Self::RecipientUnavailable,
        Self::Redirect,
        Self::RegistrationRequired,
        Self::RemoteServerNotFound,
        Self::RemoteServerTimeout,
        Self::ResourceConstraint,
        Self::ServiceUnavailable,
        Self::SubscriptionRequired,
        Self::UndefinedCondition,
        Self::UnexpectedRequest,
    ];

    /// The element name of the condition, e.g. `item-not-found`.
    pub fn name(self) -> &'static str {
        match self {
            Self::BadRequest => "bad-request",
            Self::Conflict => "conflict",
            Self::FeatureNotImplemented => "feature-not-implemented",
            Self::Forbidden => "forbidden",
            Self::Gone => "gone",
            Self::InternalServerError => "internal-server-error",
            Self::ItemNotFound => "item-not-found",
            Self::JidMalformed => "jid-malformed",
            Self::NotAcceptable => "not-acceptable",
            Self::NotAllowed => "not-allowed",
            Self::NotAuthorized => "not-authorized",
            Self::PolicyViolation => "policy-violation",
            Self::RecipientUnavailable => "recipient-unavailable",
            Self::Redirect => "redirect",
            Self::RegistrationRequired => "registration-required",
            Self::RemoteServerNotFound => "remote-server-not-found",
            Self::RemoteServerTimeout => "remote-server-timeout",
            Self::ResourceConstraint => "resource-constraint",
            Self::ServiceUnavailable => "service-unavailable",
            Self::SubscriptionRequired => "subscription-required",
            Self::UndefinedCondition => "undefined-condition",
            Self::UnexpectedRequest => "unexpected-request",
        }
    }

    /// The condition named `name`, if it is one of the 22.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The error type RFC 6120 §8.3.3 says the condition "SHOULD" have; where
    /// it allows two (feature-not-implemented: cancel or modify;
    /// policy-violation: modify or wait; unexpected-request: wait or modify)
    /// the first, and `modify` for undefined-condition (any type allowed).
    pub fn default_type(self) -> ErrorType {
        match self {
            Self::BadRequest
            | Self::JidMalformed
            | Self::NotAcceptable
            | Self::PolicyViolation
            | Self::Redirect
            | Self::UndefinedCondition => ErrorType::Modify,
            Self::Forbidden
            | Self::NotAuthorized
            | Self::RegistrationRequired
            | Self::SubscriptionRequired => ErrorType::Auth,
            Self::RecipientUnavailable
            | Self::RemoteServerTimeout
            | Self::ResourceConstraint
            | Self::UnexpectedRequest => ErrorType::Wait,
            Self::Conflict
            | Self::FeatureNotImplemented
            | Self::Gone
            | Self::InternalServerError
            | Self::ItemNotFound
            | Self::NotAllowed
            | Self::RemoteServerNotFound
            | Self::ServiceUnavailable => ErrorType::Cancel,
        }
    }
}

impl ErrorType {
    /// The attribute value, e.g. `cancel`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Cancel => "cancel",
            Self::Continue => "continue",
            Self::Modify => "modify",
            Self::Wait => "wait",
        }
    }

    /// Parse the attribute value.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Auth,
            Self::Cancel,
            Self::Continue,
            Self::Modify,
            Self::Wait,
        ]
        .into_iter()
        .find(|t| t.name() == name)
    }
}

impl StanzaError {
    /// An error with `condition` and its usual type, no text.
    pub fn new(condition: DefinedCondition) -> Self {
        Self {
            error_type: condition.default_type(),
            condition,
            text: None,
            by: None,
            alt: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{DefinedCondition as C, ErrorType as T};

    /// RFC 6120 §8.3.3.1–22: "the associated error type SHOULD be …", one row
    /// per subsection, read from the text.
    #[test]
    fn default_types_are_rfc6120_section_8_3_3() {
        let rows = [
            ("8.3.3.1", C::BadRequest, T::Modify),
            ("8.3.3.2", C::Conflict, T::Cancel),
            ("8.3.3.3", C::FeatureNotImplemented, T::Cancel),
            ("8.3.3.4", C::Forbidden, T::Auth),
            ("8.3.3.5", C::Gone, T::Cancel),
            ("8.3.3.6", C::InternalServerError, T::Cancel),
            ("8.3.3.7", C::ItemNotFound, T::Cancel),
            ("8.3.3.8", C::JidMalformed, T::Modify),
            ("8.3.3.9", C::NotAcceptable, T::Modify),
            ("8.3.3.10", C::NotAllowed, T::Cancel),
            ("8.3.3.11", C::NotAuthorized, T::Auth),
            ("8.3.3.12", C::PolicyViolation, T::Modify),
            ("8.3.3.13", C::RecipientUnavailable, T::Wait),
            ("8.3.3.14", C::Redirect, T::Modify),
            ("8.3.3.15", C::RegistrationRequired, T::Auth),
            ("8.3.3.16", C::RemoteServerNotFound, T::Cancel),
            ("8.3.3.17", C::RemoteServerTimeout, T::Wait),
            ("8.3.3.18", C::ResourceConstraint, T::Wait),
            ("8.3.3.19", C::ServiceUnavailable, T::Cancel),
            ("8.3.3.20", C::SubscriptionRequired, T::Auth),
            ("8.3.3.21", C::UndefinedCondition, T::Modify),
            ("8.3.3.22", C::UnexpectedRequest, T::Wait),
        ];
        assert_eq!(rows.len(), C::ALL.len());
        for (section, condition, error_type) in rows {
            assert_eq!(condition.default_type(), error_type, "§{section}");
        }
    }
}

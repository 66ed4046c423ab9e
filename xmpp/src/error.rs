//! The crate's one public error type and its families.
//!
//! What the server hears about a failure is decided in one place:
//! [`StreamErrorCondition`] via `From<&StreamError>`. Internal error text never
//! goes on the wire.

use std::io;

/// Everything that can go wrong in the component endpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The XML stream from the server broke a rule (RFC 6120 §4.9, §11).
    #[error("stream from the server violated the protocol: {0}")]
    Stream(#[from] StreamError),
    /// The server refused or broke the XEP-0114 handshake.
    #[error("component handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The server closed the stream with a stream error (RFC 6120 §4.9).
    #[error("server closed the stream with <{condition}/>{}", text.as_deref().map(|t| format!(": {t}")).unwrap_or_default())]
    StreamErrorReceived {
        /// The defined condition the server sent.
        condition: StreamErrorCondition,
        /// The server's `<text/>`, if any.
        text: Option<String>,
    },
    /// The server closed the stream (`</stream:stream>`) or the TCP connection.
    #[error("server closed the connection")]
    ConnectionClosed,
    /// Connecting to the server's component port failed.
    #[error("connecting to {addr} failed")]
    ConnectFailed {
        /// The `host:port` we tried.
        addr: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// The server's TLS certificate was refused (unknown issuer, not valid
    /// for the name, expired): the component does not talk to this server.
    #[error("the server's TLS certificate is not acceptable for {name:?}: {source}")]
    TlsCertificate {
        /// The name the certificate was checked against.
        name: String,
        /// rustls's reason, inside an `io::Error`.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake failed for another reason than the certificate
    /// (the port does not speak TLS, the connection was reset).
    #[error("TLS handshake with the server (as {name:?}) failed: {source}")]
    TlsHandshake {
        /// The name the server was to be verified as.
        name: String,
        /// The reason, from rustls or the socket.
        #[source]
        source: io::Error,
    },
    /// Reading from or writing to the socket failed.
    #[error("socket I/O failed while {doing}")]
    Io {
        /// What we were doing (`reading`, `writing`).
        doing: &'static str,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// The server sent nothing, not even an answer to our ping, for too long.
    #[error("server sent nothing for {after:?}, not even a ping answer (dead connection)")]
    ServerSilent {
        /// How long it was silent.
        after: std::time::Duration,
    },
    /// A write did not complete in time (the server stopped reading).
    #[error("write to the server timed out")]
    WriteTimeout,
}

/// A violation of the stream rules by the peer; each maps to the stream error
/// condition we close the stream with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The bytes are not well-formed XML (RFC 6120 §4.9.3.13).
    #[error("XML is not well-formed: {reason}")]
    NotWellFormed {
        /// What quick-xml or our checks reported.
        reason: String,
    },
    /// A comment, processing instruction, DTD or non-predefined entity
    /// reference (RFC 6120 §11.1).
    #[error("restricted XML feature used: {feature}")]
    RestrictedXml {
        /// Which feature (`comment`, `processing instruction`, `DTD`, `entity reference`).
        feature: &'static str,
    },
    /// Bytes that are not UTF-8 (RFC 6120 §4.9.3.22, §11.6).
    #[error("stream is not UTF-8")]
    UnsupportedEncoding,
    /// A prefix without a namespace declaration (RFC 6120 §4.9.3.2).
    #[error("undeclared namespace prefix")]
    BadNamespacePrefix,
    /// The stream or a stanza is in the wrong namespace (RFC 6120 §4.9.3.10).
    #[error("invalid namespace {ns:?} for <{name}>")]
    InvalidNamespace {
        /// Element name.
        name: String,
        /// The namespace it came in.
        ns: String,
    },
    /// A first-level element we do not know (RFC 6120 §4.9.3.24).
    #[error("unsupported first-level element <{name}>")]
    UnsupportedStanzaType {
        /// Element name.
        name: String,
    },
    /// Something we cannot process, e.g. character data at the stream level
    /// (RFC 6120 §4.9.3.1).
    #[error("bad format: {reason}")]
    BadFormat {
        /// What was wrong.
        reason: &'static str,
    },
    /// A stanza larger than the configured limit (RFC 6120 §4.9.3.14).
    #[error("stanza larger than {limit} bytes")]
    StanzaTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Elements nested deeper than the configured limit (RFC 6120 §4.9.3.14).
    #[error("elements nested deeper than {limit}")]
    TooDeep {
        /// The depth limit.
        limit: usize,
    },
}

/// Why the XEP-0114 handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The server rejected the secret (`<not-authorized/>`, XEP-0114 §2).
    #[error("the server rejected the component secret (not-authorized){}", text.as_deref().map(|t| format!(": {t}")).unwrap_or_default())]
    NotAuthorized {
        /// The server's `<text/>`, if any.
        text: Option<String>,
    },
    /// The server does not serve this component domain (`<host-unknown/>`).
    #[error("the server does not know this component domain (host-unknown){}", text.as_deref().map(|t| format!(": {t}")).unwrap_or_default())]
    HostUnknown {
        /// The server's `<text/>`, if any.
        text: Option<String>,
    },
    /// Another component is already connected for this domain (`<conflict/>`).
    #[error("another component is connected for this domain (conflict)")]
    Conflict,
    /// Any other stream error during the handshake.
    #[error("the server refused the component stream with <{condition}/>")]
    Refused {
        /// The condition it sent.
        condition: StreamErrorCondition,
    },
    /// The server's stream header had no `id` (XEP-0114 needs it for the hash).
    #[error("the server's stream header carries no id")]
    MissingStreamId,
    /// No stream header or `<handshake/>` arrived in time.
    #[error("the server did not answer the handshake in time")]
    Timeout,
    /// Something other than `<handshake/>` or a stream error arrived.
    #[error("unexpected element during the handshake")]
    Unexpected,
}

/// RFC 6120 §4.9.3: the defined stream error conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each variant is the element of the same name in RFC 6120 §4.9.3
pub enum StreamErrorCondition {
    BadFormat,
    BadNamespacePrefix,
    Conflict,
    ConnectionTimeout,
    HostGone,
    HostUnknown,
    ImproperAddressing,
    InternalServerError,
    InvalidFrom,
    InvalidNamespace,
    InvalidXml,
    NotAuthorized,
    NotWellFormed,
    PolicyViolation,
    RemoteConnectionFailed,
    Reset,
    ResourceConstraint,
    RestrictedXml,
    SeeOtherHost,
    SystemShutdown,
    UndefinedCondition,
    UnsupportedEncoding,
    UnsupportedFeature,
    UnsupportedStanzaType,
    UnsupportedVersion,
}

impl StreamErrorCondition {
    /// Every condition, in RFC 6120 §4.9.3 order.
    pub const ALL: [StreamErrorCondition; 25] = [
        Self::BadFormat,
        Self::BadNamespacePrefix,
        Self::Conflict,
        Self::ConnectionTimeout,
        Self::HostGone,
        Self::HostUnknown,
        Self::ImproperAddressing,
        Self::InternalServerError,
        Self::InvalidFrom,
        Self::InvalidNamespace,
        Self::InvalidXml,
        Self::NotAuthorized,
        Self::NotWellFormed,
        Self::PolicyViolation,
        Self::RemoteConnectionFailed,
        Self::Reset,
        Self::ResourceConstraint,
        Self::RestrictedXml,
        Self::SeeOtherHost,
        Self::SystemShutdown,
        Self::UndefinedCondition,
        Self::UnsupportedEncoding,
        Self::UnsupportedFeature,
        Self::UnsupportedStanzaType,
        Self::UnsupportedVersion,
    ];

    /// The element name, e.g. `not-well-formed`.
    pub fn name(self) -> &'static str {
        match self {
            Self::BadFormat => "bad-format",
            Self::BadNamespacePrefix => "bad-namespace-prefix",
            Self::Conflict => "conflict",
            Self::ConnectionTimeout => "connection-timeout",
            Self::HostGone => "host-gone",
            Self::HostUnknown => "host-unknown",
            Self::ImproperAddressing => "improper-addressing",
            Self::InternalServerError => "internal-server-error",
            Self::InvalidFrom => "invalid-from",
            Self::InvalidNamespace => "invalid-namespace",
            Self::InvalidXml => "invalid-xml",
            Self::NotAuthorized => "not-authorized",
            Self::NotWellFormed => "not-well-formed",
            Self::PolicyViolation => "policy-violation",
            Self::RemoteConnectionFailed => "remote-connection-failed",
            Self::Reset => "reset",
            Self::ResourceConstraint => "resource-constraint",
            Self::RestrictedXml => "restricted-xml",
            Self::SeeOtherHost => "see-other-host",
            Self::SystemShutdown => "system-shutdown",
            Self::UndefinedCondition => "undefined-condition",
            Self::UnsupportedEncoding => "unsupported-encoding",
            Self::UnsupportedFeature => "unsupported-feature",
            Self::UnsupportedStanzaType => "unsupported-stanza-type",
            Self::UnsupportedVersion => "unsupported-version",
        }
    }

    /// The condition named `name`; unknown names are `undefined-condition`
    /// (RFC 6120 §4.9.3.21).
    pub fn from_name(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .unwrap_or(Self::UndefinedCondition)
    }
}

impl std::fmt::Display for StreamErrorCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// RFC 6120 §4.9.3: which stream error we close the stream with for each violation.
impl From<&StreamError> for StreamErrorCondition {
    fn from(e: &StreamError) -> Self {
        match e {
            StreamError::NotWellFormed { .. } => Self::NotWellFormed,
            StreamError::RestrictedXml { .. } => Self::RestrictedXml,
            StreamError::UnsupportedEncoding => Self::UnsupportedEncoding,
            StreamError::BadNamespacePrefix => Self::BadNamespacePrefix,
            StreamError::InvalidNamespace { .. } => Self::InvalidNamespace,
            StreamError::UnsupportedStanzaType { .. } => Self::UnsupportedStanzaType,
            StreamError::BadFormat { .. } => Self::BadFormat,
            StreamError::StanzaTooLarge { .. } | StreamError::TooDeep { .. } => {
                Self::PolicyViolation
            }
        }
    }
}

impl Error {
    /// A short stable name for metrics labels and `Disconnected` reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Stream(e) => e.kind(),
            Self::Handshake(e) => e.kind(),
            Self::StreamErrorReceived { .. } => "stream-error-received",
            Self::ConnectionClosed => "connection-closed",
            Self::ConnectFailed { .. } => "connect-failed",
            Self::TlsCertificate { .. } => "tls-certificate",
            Self::TlsHandshake { .. } => "tls-handshake",
            Self::Io { .. } => "io",
            Self::ServerSilent { .. } => "server-silent",
            Self::WriteTimeout => "write-timeout",
        }
    }
}

impl StreamError {
    /// A short stable name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotWellFormed { .. } => "not-well-formed",
            Self::RestrictedXml { .. } => "restricted-xml",
            Self::UnsupportedEncoding => "unsupported-encoding",
            Self::BadNamespacePrefix => "bad-namespace-prefix",
            Self::InvalidNamespace { .. } => "invalid-namespace",
            Self::UnsupportedStanzaType { .. } => "unsupported-stanza-type",
            Self::BadFormat { .. } => "bad-format",
            Self::StanzaTooLarge { .. } => "stanza-too-large",
            Self::TooDeep { .. } => "too-deep",
        }
    }
}

impl HandshakeError {
    /// A short stable name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotAuthorized { .. } => "handshake-not-authorized",
            Self::HostUnknown { .. } => "handshake-host-unknown",
            Self::Conflict => "handshake-conflict",
            Self::Refused { .. } => "handshake-refused",
            Self::MissingStreamId => "handshake-missing-stream-id",
            Self::Timeout => "handshake-timeout",
            Self::Unexpected => "handshake-unexpected",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stream_condition_name_round_trips() {
        for c in StreamErrorCondition::ALL {
            assert_eq!(StreamErrorCondition::from_name(c.name()), c);
        }
    }

    #[test]
    fn unknown_stream_condition_is_undefined_condition() {
        assert_eq!(
            StreamErrorCondition::from_name("xml-not-well-formed"),
            StreamErrorCondition::UndefinedCondition
        );
    }

    #[test]
    fn oversized_stanza_closes_with_policy_violation() {
        let c: StreamErrorCondition = (&StreamError::StanzaTooLarge { limit: 10 }).into();
        assert_eq!(c, StreamErrorCondition::PolicyViolation);
    }
}

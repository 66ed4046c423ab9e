//! The crate's errors: one public [`Error`] for setup, [`TransactionError`] for requests.

use std::net::SocketAddr;

/// What went wrong starting or running the endpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A listen socket could not be bound.
    #[error("binding {addr} failed")]
    BindFailed {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The outbound proxy is not a SIP URI.
    #[error("outbound proxy {0:?} is not a sip: URI")]
    InvalidOutboundProxy(String),
    /// A `tls:` listener without `tls.cert` and `tls.key` in the config.
    #[error("TLS listener {0} needs a certificate and key")]
    TlsUnsupported(SocketAddr),
    /// The TLS material could not be loaded.
    #[error("TLS setup failed while {what}")]
    TlsSetup {
        /// What we were doing.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A request failed.
    #[error(transparent)]
    Transaction(#[from] TransactionError),
}

impl Error {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::BindFailed { .. } => "bind_failed",
            Error::InvalidOutboundProxy(_) => "invalid_outbound_proxy",
            Error::TlsUnsupported(_) => "tls_unsupported",
            Error::TlsSetup { .. } => "tls_setup",
            Error::Transaction(e) => e.kind(),
        }
    }
}

/// Why an outgoing request got no final response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// RFC 3261 §17.1.2.2: Timer F fired (no final response within 64·T1).
    #[error("no final response before Timer F")]
    Timeout,
    /// The request could not be sent or the connection broke.
    #[error("transport failure sending to {target}")]
    Transport {
        /// Where we tried to send.
        target: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The Request-URI (or outbound proxy) has no host we can reach.
    #[error("cannot resolve a destination for {0:?}")]
    Unresolvable(String),
    /// The request as given cannot be sent (bad URI, bad method).
    #[error("request cannot be sent: {0}")]
    InvalidRequest(&'static str),
    /// Too many transactions in flight.
    #[error("too many pending transactions")]
    Overloaded,
    /// The endpoint is shutting down.
    #[error("endpoint is shutting down")]
    ShuttingDown,
}

impl TransactionError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            TransactionError::Timeout => "timeout",
            TransactionError::Transport { .. } => "transport",
            TransactionError::Unresolvable(_) => "unresolvable",
            TransactionError::InvalidRequest(_) => "invalid_request",
            TransactionError::Overloaded => "overloaded",
            TransactionError::ShuttingDown => "shutting_down",
        }
    }
}

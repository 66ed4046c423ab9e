//! RFC 4975 §6, §14: `msrps` connections over TLS (rustls, TLS 1.2 and 1.3,
//! ring provider), built like `sip`'s TLS transport. The server certificate
//! and key come from PEM files; peers' certificates are verified against a
//! CA file or the system store and must name the host of the URI (§5.4:
//! "The SubjectAltName in the received certificate MUST match the hostname
//! part of the URI").
//!
//! What it does not do: §14.4's peer-to-peer mode, where a self-signed
//! certificate is checked against the SDP `a=fingerprint`; such a peer fails
//! verification here.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::endpoint::DriverError;

/// TLS material for `msrps`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// Where to accept `msrps` connections; needs `cert` and `key`.
    pub listen: Option<SocketAddr>,
    /// Our certificate chain (PEM).
    pub cert: Option<PathBuf>,
    /// Our private key (PEM).
    pub key: Option<PathBuf>,
    /// CA certificates (PEM) peers' certificates must chain to; without one
    /// the system's trust store is used.
    pub ca: Option<PathBuf>,
}

/// The rustls halves built from a [`TlsConfig`].
#[derive(Clone)]
pub(crate) struct Tls {
    pub(crate) acceptor: Option<TlsAcceptor>,
    pub(crate) connector: TlsConnector,
}

fn setup(what: &'static str) -> impl Fn(String) -> DriverError {
    move |reason| DriverError::TlsSetup { what, reason }
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, DriverError> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| setup("reading certificate PEM")(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| setup("reading certificate PEM")(e.to_string()))
}

impl Tls {
    /// Loads the PEM files and builds the server and client configs.
    pub(crate) fn new(config: &TlsConfig) -> Result<Tls, DriverError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        if let Some(ca) = &config.ca {
            for cert in load_certs(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| setup("adding CA certificate")(e.to_string()))?;
            }
        } else {
            let native = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(native.certs);
            tracing::debug!(added, "msrps trusts the system certificate store");
        }
        let tls_error = |what| move |e: rustls::Error| setup(what)(e.to_string());
        let acceptor = match (&config.cert, &config.key) {
            (Some(cert), Some(key)) => {
                let certs = load_certs(cert)?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| setup("reading private key PEM")(e.to_string()))?;
                let server = rustls::ServerConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .map_err(tls_error("choosing TLS versions"))?
                    .with_no_client_auth()
                    .with_single_cert(certs, key)
                    .map_err(tls_error("loading server certificate"))?;
                Some(TlsAcceptor::from(Arc::new(server)))
            }
            _ => None,
        };
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error("choosing TLS versions"))?
            .with_root_certificates(Arc::new(roots))
            .with_no_client_auth();
        Ok(Tls {
            acceptor,
            connector: TlsConnector::from(Arc::new(client)),
        })
    }
}

/// An I/O error as the reason of a [`DriverError`].
pub(crate) fn io_reason(error: &io::Error) -> String {
    error.to_string()
}

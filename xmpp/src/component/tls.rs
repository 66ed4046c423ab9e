//! The component stream over TLS: what the two servers Parley is tested with
//! offer on their component port is direct TLS (TLS from the first byte, then
//! the XEP-0114 stream inside it), never STARTTLS:
//!
//! - XEP-0114 defines no stream features for `jabber:component:accept`, so
//!   there is nothing to negotiate STARTTLS with.
//! - ejabberd 23.01: `ejabberd_service` with `tls: true` and `certfile:`
//!   wraps the socket in TLS before the stream starts; on a plain listener a
//!   `<starttls/>` is answered with `<failure/>` and the stream is closed.
//! - Prosody 0.12: `component_ports` is plain only (it sends no features; a
//!   `<starttls/>` gets `<unsupported-stanza-type/>`); `mod_net_multiplex`'s
//!   direct-TLS port (`ssl_ports`) hands a `jabber:component:accept` stream
//!   to the component listener.
//!
//! The server's certificate is verified by rustls (webpki) against the
//! configured CA file or else the system's trust store, for the configured
//! name. There is no fallback: a connection whose TLS handshake fails is
//! dropped and retried later with TLS again, never in clear.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::error::Error;

/// How the component's TCP connection is protected.
#[derive(Clone, Default)]
pub enum ComponentTls {
    /// Plain TCP (XEP-0114 as written): the handshake hash and every stanza
    /// cross in clear. For loopback or a private network only.
    #[default]
    None,
    /// TLS from the first byte, the server's certificate verified.
    Direct(DirectTls),
}

impl std::fmt::Debug for ComponentTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Direct(d) => f
                .debug_struct("Direct")
                .field("name", &d.name)
                .field("roots", &d.roots)
                .finish(),
        }
    }
}

/// A rustls client configuration and the name the server's certificate must carry.
#[derive(Clone)]
pub struct DirectTls {
    connector: TlsConnector,
    name: ServerName<'static>,
    /// Where the trust anchors came from, for logs.
    roots: Roots,
}

/// Where the trust anchors come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// The system's trust store.
    System,
}

/// Why the TLS settings cannot be used (found at start, before any connection).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsSetupError {
    /// The CA file could not be read or holds something that is not a PEM certificate.
    #[error("cannot read CA certificates from {path}: {reason}")]
    CaUnreadable {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The CA file holds no certificate rustls accepts as a trust anchor.
    #[error("{path} holds no usable CA certificate")]
    CaEmpty {
        /// The file.
        path: PathBuf,
    },
    /// The system's trust store gave no certificate.
    #[error("the system trust store holds no certificate; set a CA file")]
    NoSystemRoots,
    /// rustls refused the client configuration (no protocol version in common
    /// with its crypto provider).
    #[error("rustls refused the TLS client configuration: {reason}")]
    Rustls {
        /// rustls's reason.
        reason: String,
    },
    /// The name to verify is neither a DNS name nor an IP address.
    #[error("{name:?} is not a DNS name or IP address")]
    BadName {
        /// The name given.
        name: String,
    },
}

impl TlsSetupError {
    /// A short stable name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CaUnreadable { .. } => "tls-ca-unreadable",
            Self::CaEmpty { .. } => "tls-ca-empty",
            Self::NoSystemRoots => "tls-no-system-roots",
            Self::Rustls { .. } => "tls-rustls",
            Self::BadName { .. } => "tls-bad-name",
        }
    }
}

impl DirectTls {
    /// Trust the CA certificates in `ca` (PEM), or the system's store when
    /// `None`, and verify the server as `name` (a DNS name or an IP address).
    pub fn new(ca: Option<&Path>, name: &str) -> Result<DirectTls, TlsSetupError> {
        let server_name =
            ServerName::try_from(name.to_owned()).map_err(|_| TlsSetupError::BadName {
                name: name.to_owned(),
            })?;
        let mut roots = RootCertStore::empty();
        let source = match ca {
            Some(path) => {
                let unreadable = |reason: String| TlsSetupError::CaUnreadable {
                    path: path.to_owned(),
                    reason,
                };
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| unreadable(e.to_string()))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| unreadable(e.to_string()))?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(TlsSetupError::CaEmpty {
                        path: path.to_owned(),
                    });
                }
                Roots::File(path.to_owned())
            }
            None => {
                // Unreadable entries of the store are skipped, as sip/ does.
                let native = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(native.certs);
                if added == 0 {
                    return Err(TlsSetupError::NoSystemRoots);
                }
                Roots::System
            }
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsSetupError::Rustls {
                reason: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(DirectTls {
            connector: TlsConnector::from(Arc::new(config)),
            name: server_name,
            roots: source,
        })
    }

    /// The name the server's certificate must carry.
    pub fn name(&self) -> String {
        self.name.to_str().into_owned()
    }

    /// The TLS handshake over `tcp`; a refused certificate is
    /// [`Error::TlsCertificate`], any other failure [`Error::TlsHandshake`].
    pub(super) async fn connect(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>, Error> {
        self.connector
            .connect(self.name.clone(), tcp)
            .await
            .map_err(|source| classify(self.name(), source))
    }
}

impl std::fmt::Debug for DirectTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectTls")
            .field("name", &self.name)
            .field("roots", &self.roots)
            .finish_non_exhaustive()
    }
}

/// tokio-rustls reports rustls errors inside an `io::Error`: a certificate
/// rustls refused (unknown issuer, wrong name, expired) is told apart from
/// a handshake that failed for another reason (a plain-TCP port, a reset).
fn classify(name: String, source: io::Error) -> Error {
    let refused = source
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .is_some_and(|e| matches!(e, rustls::Error::InvalidCertificate(_)));
    if refused {
        Error::TlsCertificate { name, source }
    } else {
        Error::TlsHandshake { name, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_is_not_a_host_is_refused() {
        let err = DirectTls::new(None, "not a host!").expect_err("bad name");
        assert_eq!(err.kind(), "tls-bad-name");
    }

    #[test]
    fn a_missing_ca_file_is_refused_at_setup() {
        let err = DirectTls::new(Some(Path::new("/nonexistent/ca.pem")), "xmpp.example")
            .expect_err("no file");
        assert_eq!(err.kind(), "tls-ca-unreadable");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_at_setup() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let err = DirectTls::new(Some(&path), "xmpp.example").expect_err("empty");
        assert_eq!(err.kind(), "tls-ca-empty");
    }

    #[test]
    fn a_certificate_refused_by_rustls_is_told_apart_from_a_failed_handshake() {
        let refused = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName),
        );
        assert_eq!(classify("x".into(), refused).kind(), "tls-certificate");
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(classify("x".into(), reset).kind(), "tls-handshake");
        let garbage = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        assert_eq!(classify("x".into(), garbage).kind(), "tls-handshake");
    }
}

//! RFC 3261 §26.2.1 / RFC 5630: SIP over TLS (rustls, TLS 1.2 and 1.3, ring
//! provider). The server certificate and key come from PEM files; peers are
//! verified against a configured CA; with `require_client_cert` the listener
//! demands a client certificate from that CA (mutual TLS for trusted peers).
//! Framing and connections are the TCP ones (`tcp.rs`) over the TLS stream.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::sync::CancellationToken;

use crate::config::{TlsConfig, Transport};
use crate::error::Error;
use crate::transport::Intake;
use crate::transport::tcp::{self, Streams};

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The rustls halves built from [`TlsConfig`].
#[derive(Clone)]
pub(crate) struct Tls {
    acceptor: Option<TlsAcceptor>,
    connector: TlsConnector,
}

fn setup(what: &'static str) -> impl Fn(io::Error) -> Error {
    move |source| Error::TlsSetup { what, source }
}

fn load_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| setup("reading certificate PEM")(io::Error::other(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| setup("reading certificate PEM")(io::Error::other(e)))
}

impl Tls {
    /// Loads PEM files and builds server and client configs.
    pub(crate) fn new(config: &TlsConfig) -> Result<Tls, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        if let Some(ca) = &config.ca {
            for cert in load_certs(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| setup("adding CA certificate")(io::Error::other(e)))?;
            }
        } else {
            // No CA file: trust the system's store (unreadable entries are skipped).
            let native = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(native.certs);
            tracing::debug!(added, "tls trusts the system certificate store");
        }
        let roots = Arc::new(roots);
        let certs = match &config.cert {
            Some(path) => load_certs(path)?,
            None => Vec::new(),
        };
        let key = match &config.key {
            Some(path) => Some(
                PrivateKeyDer::from_pem_file(path)
                    .map_err(|e| setup("reading private key PEM")(io::Error::other(e)))?,
            ),
            None => None,
        };
        let tls_error = |what| move |e: rustls::Error| setup(what)(io::Error::other(e));
        let acceptor = match (&key, certs.is_empty()) {
            (Some(key), false) => {
                let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .map_err(tls_error("choosing TLS versions"))?;
                let builder = if config.require_client_cert {
                    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                        roots.clone(),
                        provider.clone(),
                    )
                    .build()
                    .map_err(|e| setup("building client verifier")(io::Error::other(e)))?;
                    builder.with_client_cert_verifier(verifier)
                } else {
                    builder.with_no_client_auth()
                };
                let server = builder
                    .with_single_cert(certs.clone(), key.clone_key())
                    .map_err(tls_error("loading server certificate"))?;
                Some(TlsAcceptor::from(Arc::new(server)))
            }
            _ => None,
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error("choosing TLS versions"))?
            .with_root_certificates(roots);
        // Present our certificate to peers that ask (mutual TLS).
        let client = match key {
            Some(key) if !certs.is_empty() => builder
                .with_client_auth_cert(certs, key)
                .map_err(tls_error("loading client certificate"))?,
            _ => builder.with_no_client_auth(),
        };
        Ok(Tls {
            acceptor,
            connector: TlsConnector::from(Arc::new(client)),
        })
    }

    /// Whether a listener can be served (certificate and key are configured).
    pub(crate) fn can_serve(&self) -> bool {
        self.acceptor.is_some()
    }
}

/// Accepts TLS connections until shutdown.
pub(crate) async fn run_listener(
    listener: TcpListener,
    tls: Tls,
    streams: Arc<Streams>,
    intake: Arc<impl Intake>,
    shutdown: CancellationToken,
) {
    let Some(acceptor) = tls.acceptor else { return };
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "tls accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if streams.full() {
            tracing::warn!(%peer, "connection limit reached; closing");
            continue;
        }
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let streams2 = streams.clone();
        let intake2 = intake.clone();
        let shutdown2 = shutdown.clone();
        // The handshake runs in its own task so a slow peer cannot stall accepts.
        streams.tracker.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => {
                    // With require_client_cert the handshake verified this chain
                    // against sip.tls.ca; without it no certificate is asked for.
                    if let Some(cert) = tls_stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                    {
                        streams2
                            .connections
                            .set_certificate(peer, cert.clone().into_owned());
                    }
                    tcp::spawn_connection(
                        tls_stream,
                        peer,
                        Transport::Tls,
                        streams2,
                        intake2,
                        shutdown2,
                    );
                }
                Ok(Err(error)) => tracing::info!(%peer, %error, "tls handshake failed"),
                Err(_) => tracing::info!(%peer, "tls handshake timed out"),
            }
        });
    }
}

/// Opens a TLS connection to `peer`, verifying it as `host`, unless one is open.
pub(crate) async fn connect(
    peer: SocketAddr,
    host: &str,
    tls: &Tls,
    streams: &Arc<Streams>,
    intake: &Arc<impl Intake>,
    shutdown: &CancellationToken,
) -> io::Result<()> {
    if streams.connections.contains(Transport::Tls, peer) {
        return Ok(());
    }
    let name = ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let connect = async {
        let stream = TcpStream::connect(peer).await?;
        let _ = stream.set_nodelay(true);
        tls.connector.connect(name, stream).await
    };
    let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, connect)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "tls connect timed out"))??;
    tcp::spawn_connection(
        stream,
        peer,
        Transport::Tls,
        streams.clone(),
        intake.clone(),
        shutdown.clone(),
    );
    Ok(())
}

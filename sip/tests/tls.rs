//! RFC 3261 §26.2, RFC 5630: SIP over TLS with a CA and certificate made by
//! `openssl` at test time. One endpoint listens on `tls:`, another sends to
//! it with `;transport=tls`; `openssl s_client` is a second, independent TLS
//! peer; mutual TLS refuses a client without a certificate.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use parley_sip::StatusCode;
use parley_sip::config::{Timers, TlsConfig};
use parley_sip::{Endpoint, EndpointConfig, IncomingRequest, Transport};
use tempfile::TempDir;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod common;
use common::{message_to, raw_message};

struct Pki {
    dir: TempDir,
}

impl Pki {
    /// A CA and a leaf for 127.0.0.1 signed by it.
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("run openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run(&[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Parley Test CA",
            ],
        ]
        .concat());
        run(&[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat());
        std::fs::write(
            dir.path().join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n",
        )
        .expect("write ext");
        run(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn server(&self, require_client_cert: bool) -> TlsConfig {
        TlsConfig {
            cert: Some(self.path("leaf.pem")),
            key: Some(self.path("leaf.key")),
            ca: Some(self.path("ca.pem")),
            require_client_cert,
        }
    }

    fn client_trusting_ca(&self) -> TlsConfig {
        TlsConfig {
            ca: Some(self.path("ca.pem")),
            ..TlsConfig::default()
        }
    }
}

async fn endpoint(
    listen: &str,
    tls: TlsConfig,
) -> (Endpoint, mpsc::Receiver<IncomingRequest>, CancellationToken) {
    let config = EndpointConfig {
        listen: vec![listen.parse().expect("listen")],
        tls: Some(tls),
        timers: Timers {
            t1: Duration::from_millis(50),
            ..Timers::default()
        },
        ..EndpointConfig::default()
    };
    let shutdown = CancellationToken::new();
    let (endpoint, incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    (endpoint, incoming, shutdown)
}

fn answer_all(mut incoming: mpsc::Receiver<IncomingRequest>) -> mpsc::UnboundedReceiver<Transport> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(request) = incoming.recv().await {
            let _ = tx.send(request.transport);
            request.respond(StatusCode::OK, None, vec![], None);
        }
    });
    rx
}

/// RFC 3261 §26.2.1: a MESSAGE over TLS, the server verified against the CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_over_tls_is_delivered_and_answered() {
    let pki = Pki::new();
    let (server, incoming, stop_server) = endpoint("tls:127.0.0.1:0", pki.server(false)).await;
    let mut transports = answer_all(incoming);
    let (client, _in, stop_client) = endpoint("udp:127.0.0.1:0", pki.client_trusting_ca()).await;
    let addr = server.local_addr(Transport::Tls).expect("tls listener");
    let uri = format!("sip:bob@{addr};transport=tls");
    let response = client
        .send_request(message_to(uri, "over tls"))
        .await
        .expect("response");
    assert_eq!(response.status, 200);
    assert_eq!(transports.recv().await, Some(Transport::Tls));
    stop_server.cancel();
    stop_client.cancel();
}

/// A certificate that does not chain to a configured CA is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_server_certificate_is_a_transport_error() {
    let pki = Pki::new();
    let other = Pki::new();
    let (server, incoming, stop_server) = endpoint("tls:127.0.0.1:0", pki.server(false)).await;
    let _answers = answer_all(incoming);
    let (client, _in, stop_client) = endpoint("udp:127.0.0.1:0", other.client_trusting_ca()).await;
    let addr = server.local_addr(Transport::Tls).expect("tls listener");
    let result = client
        .send_request(message_to(format!("sip:bob@{addr};transport=tls"), "x"))
        .await;
    assert!(
        matches!(result, Err(parley_sip::TransactionError::Transport { .. })),
        "{result:?}"
    );
    stop_server.cancel();
    stop_client.cancel();
}

/// Mutual TLS: with `require_client_cert`, a client presenting a certificate
/// from the CA is served; one without a certificate is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_serves_only_clients_with_a_certificate() {
    let pki = Pki::new();
    let (server, incoming, stop_server) = endpoint("tls:127.0.0.1:0", pki.server(true)).await;
    let _answers = answer_all(incoming);
    let addr = server.local_addr(Transport::Tls).expect("tls listener");
    let uri = format!("sip:bob@{addr};transport=tls");

    let (with_cert, _a, stop_a) = endpoint("udp:127.0.0.1:0", pki.server(false)).await;
    let ok = with_cert
        .send_request(message_to(uri.clone(), "mtls"))
        .await
        .expect("response");
    assert_eq!(ok.status, 200);

    let (without, _b, stop_b) = endpoint("udp:127.0.0.1:0", pki.client_trusting_ca()).await;
    let refused = without.send_request(message_to(uri, "no cert")).await;
    assert!(refused.is_err(), "{refused:?}");
    for stop in [stop_server, stop_a, stop_b] {
        stop.cancel();
    }
}

/// `sip.trusted_peers = ["tls:NAME"]`: a mutual-TLS peer is known by the DNS
/// names of its verified certificate (RFC 5922 §7.1: subjectAltName), not by
/// a From header it writes itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_peer_is_known_by_its_certificate_name() {
    use parley_sip::trust::TrustedPeers;
    let pki = Pki::new();
    let (server, mut incoming, stop_server) = endpoint("tls:127.0.0.1:0", pki.server(true)).await;
    let addr = server.local_addr(Transport::Tls).expect("tls listener");
    let (names_tx, mut names) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(request) = incoming.recv().await {
            let by_name = TrustedPeers::parse(&["tls:localhost"]).expect("valid");
            let other = TrustedPeers::parse(&["tls:proxy.example.net"]).expect("valid");
            let _ = names_tx.send((
                request.view().tls_peer_is("localhost"),
                request.is_trusted_by(&by_name),
                request.is_trusted_by(&other),
            ));
            request.respond(StatusCode::OK, None, vec![], None);
        }
    });
    let (client, _a, stop_client) = endpoint("udp:127.0.0.1:0", pki.server(false)).await;
    let uri = format!("sip:bob@{addr};transport=tls");
    let ok = client
        .send_request(message_to(uri, "who am i"))
        .await
        .expect("response");
    assert_eq!(ok.status, 200);
    assert_eq!(names.recv().await, Some((true, true, false)));
    stop_server.cancel();
    stop_client.cancel();
}

/// `openssl s_client` (not rustls) as the TLS peer: it sends a MESSAGE and
/// reads the 200 on the same connection (RFC 3261 §18.2.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_client_gets_200_over_tls() {
    let pki = Pki::new();
    let (server, incoming, stop) = endpoint("tls:127.0.0.1:0", pki.server(false)).await;
    let _answers = answer_all(incoming);
    let addr = server.local_addr(Transport::Tls).expect("tls listener");
    let ca = pki.path("ca.pem");
    let message = raw_message("z9hG4bKossl", "from openssl").replace("SIP/2.0/UDP", "SIP/2.0/TLS");
    let output = tokio::task::spawn_blocking(move || s_client(addr, &ca, &message))
        .await
        .expect("thread");
    assert!(output.contains("SIP/2.0 200 OK"), "{output}");
    stop.cancel();
}

fn s_client(addr: std::net::SocketAddr, ca: &Path, message: &str) -> String {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-verify_return_error",
            "-connect",
            &addr.to_string(),
            "-CAfile",
        ])
        .arg(ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn openssl s_client");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(message.as_bytes()).expect("write");
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&seen).into_owned());
    });
    let output = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    output
}

/// Without a CA file the system trust store applies, which does not know the
/// test CA: the connection is refused rather than trusted blindly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_trust_store_does_not_trust_a_private_ca() {
    let pki = Pki::new();
    let (server, incoming, stop_server) = endpoint("tls:127.0.0.1:0", pki.server(false)).await;
    let _answers = answer_all(incoming);
    let (client, _in, stop_client) = endpoint("udp:127.0.0.1:0", TlsConfig::default()).await;
    let addr = server.local_addr(Transport::Tls).expect("tls listener");
    let result = client
        .send_request(message_to(format!("sip:bob@{addr};transport=tls"), "x"))
        .await;
    assert!(
        matches!(result, Err(parley_sip::TransactionError::Transport { .. })),
        "{result:?}"
    );
    stop_server.cancel();
    stop_client.cancel();
}

//! `msrps` (RFC 4975 §6: "the underlying connection MUST be protected with
//! TLS") with a CA and a certificate for 127.0.0.1 made by `openssl` at
//! test time, as `sip/tests/tls.rs` makes its own: a session over TLS both
//! ways, an `msrps` session refusing a request over plain TCP, and a client
//! that does not trust the certificate failing to connect (§5.4: the
//! certificate "MUST be valid ... signed by an acceptable certification
//! authority").

#![allow(clippy::unwrap_used)]

mod driver_common;

use std::path::PathBuf;
use std::process::Command;

use driver_common::*;
use parley_msrp::StatusCode;
use parley_msrp::endpoint::{Endpoint, EndpointConfig, Role, SessionEvent, TlsConfig};
use parley_msrp::session::Event;
use parley_msrp::wire::SuccessReport;
use tempfile::TempDir;

struct Pki {
    dir: TempDir,
}

impl Pki {
    /// A CA and a leaf for 127.0.0.1 signed by it.
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
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
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        let args = |s: String| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let call = |s: String| {
            let owned = args(s);
            let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
            run(&refs);
        };
        call(format!(
            "req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=MSRP-Test-CA"
        ));
        call(format!(
            "req {ec} -keyout leaf.key -out leaf.csr -subj /CN=localhost"
        ));
        std::fs::write(
            dir.path().join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             extendedKeyUsage=serverAuth,clientAuth\n",
        )
        .unwrap();
        call(
            "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem \
             -days 2 -extfile ext.cnf"
                .into(),
        );
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn server(&self) -> TlsConfig {
        TlsConfig {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            cert: Some(self.path("leaf.pem")),
            key: Some(self.path("leaf.key")),
            ca: Some(self.path("ca.pem")),
        }
    }

    fn client(&self) -> TlsConfig {
        TlsConfig {
            ca: Some(self.path("ca.pem")),
            ..TlsConfig::default()
        }
    }
}

async fn tls_endpoint(tls: TlsConfig) -> Endpoint {
    endpoint(EndpointConfig {
        tls: Some(tls),
        ..config()
    })
    .await
}

#[tokio::test]
async fn msrps_session_over_tls_both_ways() {
    let pki = Pki::new();
    let a = tls_endpoint(pki.server()).await;
    let b = tls_endpoint(pki.client()).await;
    let gw_uri = uri("msrps", a.local_tls_addr().unwrap(), "tlsgw");
    let phone_uri = uri("msrps", b.local_addr().unwrap(), "tlsphone");
    let mut gw = a
        .open(spec(gw_uri.clone(), phone_uri.clone(), Role::Passive))
        .await
        .unwrap();
    let mut phone = b
        .open(spec(phone_uri, gw_uri.clone(), Role::Active))
        .await
        .unwrap();
    assert_eq!(next(&mut phone).await, SessionEvent::Bound);
    assert_eq!(next(&mut gw).await, SessionEvent::Bound);
    phone
        .send(message("t1", "over tls", SuccessReport::Yes))
        .unwrap();
    assert_eq!(next_message(&mut gw).await, "over tls");
    assert!(matches!(
        next_not_ok(&mut phone).await,
        SessionEvent::Msrp(Event::Report { .. })
    ));
    still_works(&mut gw, &mut phone, "tls").await;

    // §6: the msrps session is not reachable over plain TCP: 481.
    let mut plain = RawPeer::connect(a.local_addr().unwrap()).await;
    let me = uri("msrp", plain.local_addr(), "plain");
    plain
        .write(&send("p1", &gw_uri, &me, "1-2/2", '$', "hi"))
        .await;
    assert_eq!(
        plain.frame().await.unwrap().status_code(),
        Some(StatusCode::NO_SESSION)
    );
    still_works(&mut gw, &mut phone, "tls-after-plain").await;
}

#[tokio::test]
async fn a_client_not_trusting_the_certificate_cannot_connect() {
    let pki = Pki::new();
    let a = tls_endpoint(pki.server()).await;
    // Trusts only a CA of its own, not the one that signed the gateway's leaf.
    let other = Pki::new();
    let b = tls_endpoint(other.client()).await;
    let gw_uri = uri("msrps", a.local_tls_addr().unwrap(), "tlsgw");
    let phone_uri = uri("msrps", b.local_addr().unwrap(), "tlsphone");
    let error = b
        .open(spec(phone_uri, gw_uri, Role::Active))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("connecting"), "{error}");
}

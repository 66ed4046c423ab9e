//! RFC 4975 §14 with RFC 7573 §5: a chat session over `msrps` (MSRP over
//! TLS). The phone offers `TCP/TLS/MSRP`; Parley answers with its `msrps`
//! path on `sessions.msrps_listen`, presenting `[sip.tls]`'s certificate
//! (made by openssl at test time for 127.0.0.1), and the phone's SEND over
//! that TLS connection becomes the stanza. Literal SIP in, literal XML out.

use std::sync::Arc;

use parley_harness::pki::TestPki;
use parley_sip::wire::StartLine;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::world::{WAIT, World};

const PHONE_PATH: &str = "msrps://127.0.0.1:7313/ansp71weztas;tcp";

fn invite(sdp: &str) -> String {
    format!(
        "INVITE sip:juliet@xmpp.example SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKtls1\n\
         Max-Forwards: 70\n\
         To: <sip:juliet@xmpp.example>\n\
         From: <sip:romeo@sip.example.net>;tag=786\n\
         Call-ID: tls1\n\
         CSeq: 1 INVITE\n\
         Contact: <sip:romeo@{{peer}}>\n\
         Content-Type: application/sdp\n\
         Content-Length: {len}\n\
         \n\
         {sdp}",
        len = sdp.len(),
    )
}

/// A TLS client that trusts the test CA only.
fn connector(pki: &TestPki) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pki.ca()).expect("the CA file") {
        roots
            .add(cert.expect("a CA certificate"))
            .expect("add the CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// §14: the offer's `TCP/TLS/MSRP` is answered on the `msrps` port with an
/// `msrps` path, the phone's TLS connection verifies Parley's certificate
/// for the path's host (§5.4), and its SEND arrives as the stanza.
#[tokio::test]
async fn an_msrps_offer_is_answered_over_tls_and_its_send_arrives() {
    let pki = TestPki::new("Parley Test CA");
    let leaf = pki.server("msrps", &["127.0.0.1"]);
    let mut world = World::with(
        "",
        &format!(
            "[sessions]\nenabled = true\nmsrp_listen = \"127.0.0.1:0\"\n\
             msrps_listen = \"127.0.0.1:0\"\n\
             [sip.tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            leaf.cert.display(),
            leaf.key.display()
        ),
    )
    .await;
    let sdp = format!(
        "v=0\r\no=romeo 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 7313 TCP/TLS/MSRP *\r\na=accept-types:text/plain\r\na=path:{PHONE_PATH}\r\n"
    );
    world.sip_in(&invite(&sdp)).await;
    let ok = loop {
        let m = world.sip_out().await;
        if matches!(m.start, StartLine::Response { status, .. } if status >= 200) {
            break m;
        }
    };
    assert!(
        matches!(ok.start, StartLine::Response { status: 200, .. }),
        "{ok:?}"
    );
    let answer = String::from_utf8_lossy(&ok.body).into_owned();
    let path = answer
        .lines()
        .find_map(|l| l.strip_prefix("a=path:"))
        .expect("a=path")
        .to_owned();
    assert!(path.starts_with("msrps://127.0.0.1:"), "{answer}");
    let port: u16 = path["msrps://127.0.0.1:".len()..]
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port in the path");
    assert!(
        answer.contains(&format!("m=message {port} TCP/TLS/MSRP *\r\n")),
        "{answer}"
    );
    assert_ne!(port, world.msrp_addr().port(), "not the plain port");

    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to msrps");
    let name = ServerName::try_from("127.0.0.1").expect("an IP name");
    let mut tls = tokio::time::timeout(WAIT, connector(&pki).connect(name, tcp))
        .await
        .expect("the handshake in time")
        .expect("Parley's certificate verifies for 127.0.0.1");
    let body = "Art thou not Romeo?";
    let send = format!(
        "MSRP t1 SEND\r\nTo-Path: {path}\r\nFrom-Path: {PHONE_PATH}\r\nMessage-ID: m1\r\n\
         Byte-Range: 1-{len}/{len}\r\nContent-Type: text/plain\r\n\r\n{body}\r\n-------t1$\r\n",
        len = body.len()
    );
    tls.write_all(send.as_bytes())
        .await
        .expect("write over TLS");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("-------t1$") {
        let n = tokio::time::timeout(WAIT, tls.read(&mut buf))
            .await
            .expect("the response in time")
            .expect("read over TLS");
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&got).starts_with("MSRP t1 200 OK\r\n"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(
        world.stanza_out().await,
        "<message from='romeo@sip.example.net' to='juliet@xmpp.example' id='parley-1' type='chat'>\
         <body>Art thou not Romeo?</body><thread>tls1</thread></message>"
    );
}

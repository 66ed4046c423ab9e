//! RFC 3923 §8 behind ejabberd (the deployment snippet's component
//! listener): an S/MIME object in `<e2e/>` from an ejabberd user reaches
//! the SIP side, where `openssl cms -verify` verifies it.
//!
//! Found: ejabberd 23.01 (Debian, p1_xml 1.1.49), like Prosody 0.12, does
//! not keep a CR the client sent as `&#xD;`: of the 9 CRs in an `openssl
//! cms -sign` object none reached Parley (the test client, tokio-xmpp over
//! rxml, writes them as `&#xd;`; Parley's own hop keeps them, see
//! `gateway/src/tests/rfc3923.rs`). The object arrives with LF line ends
//! and still verifies.

#[path = "support/ejabberd_world.rs"]
mod ejabberd_world;
mod smime;
mod support;

use std::time::Duration;

use ejabberd_world::EjabberdWorld;
use smime::pki::{Pki, split_entity};
use smime::sip_tcp::sip_uas;
use support::{COMPONENT, XMPP_DOMAIN};

/// §3.2 through ejabberd: the signed object's body arrives in the SIP
/// MESSAGE octet for octet as ejabberd delivered it (CRLF as LF, above),
/// and `openssl cms -verify` verifies it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_object_from_an_ejabberd_user_reaches_sip_and_verifies() {
    let pki = Pki::new();
    let (uri, mut rx) = sip_uas().await;
    let world = EjabberdWorld::with("", Some(uri));
    let mut juliet = world.juliet().await;
    pki.cpim(
        "cpim.txt",
        &format!("juliet@{XMPP_DOMAIN}"),
        &format!("bob@{COMPONENT}"),
        "Wherefore art thou, Bob?",
    );
    let signed = pki.sign("cpim.txt", "juliet", "signed.eml");
    let text = String::from_utf8(signed.clone())
        .expect("text")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\r', "&#xD;");
    juliet
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' id='e2e' type='chat'>\
             <e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'>{text}</e2e></message>"
        ))
        .await;
    let got = tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            panic!(
                "no MESSAGE\n{}\n{}",
                world.parley.log(),
                world.ejabberd.log()
            )
        });
    let body = split_entity(&signed).1;
    let as_delivered = String::from_utf8_lossy(&body)
        .replace("\r\n", "\n")
        .into_bytes();
    assert!(
        got.body == as_delivered,
        "not octet for octet (CRs: sent {}, got {})",
        body.iter().filter(|b| **b == b'\r').count(),
        got.body.iter().filter(|b| **b == b'\r').count()
    );
    pki.verify(&got.entity());
}

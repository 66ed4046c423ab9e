//! RFC 3923 §8 in process: Parley's own part of "MUST NOT be modified",
//! octet for octet, CRs included. (Through Prosody a CR inside `<e2e/>`
//! does not survive: see `gateway/tests/rfc3923_e2e.rs`. Here the stanza
//! is parsed and written as the component stream does, so what Parley
//! itself keeps is visible.)

use std::time::Duration;

use parley_xmpp::stanza::Stanza;

use super::world::{World, parse_stanza, shape};

/// An S/MIME signed object as `openssl cms -sign` lays it out: MIME
/// structure with LF, the signed part canonical (CRLF); RFC 3923 §3.2's
/// Message/CPIM inside.
const SIGNED_BODY: &str = "This is an S/MIME signed message\n\n------B\nContent-type: Message/CPIM\r\n\r\nFrom: <im:juliet@xmpp.example>\r\nTo: <im:romeo@sip.example.net>\r\n\r\nContent-type: text/plain\r\n\r\nWherefore art thou, Romeo?\r\n\n------B\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\nContent-Transfer-Encoding: base64\n\nMIIB\n\n------B--\n\n";

const SIGNED_TYPE: &str = "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=\"sha-256\"; boundary=\"----B\"";

/// XML character data for `s` with CR as a character reference (XML 1.0
/// §2.11 would fold a raw CRLF).
fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\r', "&#xD;")
}

/// XMPP → SIP: the SIP body is the object's body octet for octet (its
/// CRLFs too), the Content-Type and MIME-Version the object's; the fallback
/// `<body/>` is not sent.
#[tokio::test]
async fn e2e_object_becomes_the_sip_body_octet_for_octet() {
    let world = World::start().await;
    let object = format!("MIME-Version: 1.0\nContent-Type: {SIGNED_TYPE}\n\n{SIGNED_BODY}");
    world.stanza_in(&format!(
        "<message from='juliet@xmpp.example/balcony' to='romeo@sip.example.net' id='e2e1'>\
         <body>This message is signed.</body>\
         <e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'>{}</e2e></message>",
        xml_text(&object)
    ));
    let request = world.sip_out().await;
    assert_eq!(
        shape(&request, &["From", "Content-Type", "MIME-Version"], true),
        format!(
            "MESSAGE sip:romeo@sip.example.net SIP/2.0\n\
             From: <sip:juliet@xmpp.example;gr=balcony>;tag=*\n\
             Content-Type: {SIGNED_TYPE}\n\
             MIME-Version: 1.0\n"
        )
    );
    assert_eq!(&request.body[..], SIGNED_BODY.as_bytes());
    world.sip_answer(&request, "200 OK", "").await;
}

/// SIP → XMPP: the entity rebuilt in `<e2e/>` is the Content-Type, the MIME
/// fields and the body octet for octet; Parley writes each CR as `&#xD;` so
/// the next parser keeps it, and adds no `<body/>`.
#[tokio::test]
async fn smime_sip_body_becomes_e2e_with_its_crs() {
    let mut world = World::start().await;
    let body = "MIIBsQYJKoZIhvcNAQcDoIIBojCCAZ4CAQAx\r\nMIIB\r\n";
    world
        .sip_in(&format!(
            "MESSAGE sip:juliet@xmpp.example SIP/2.0\n\
             Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKe2e\n\
             Max-Forwards: 70\n\
             To: sip:juliet@xmpp.example\n\
             From: sip:romeo@sip.example.net;tag=e2e\n\
             Call-ID: rfc3923-in\n\
             CSeq: 1 MESSAGE\n\
             Content-Type: application/pkcs7-mime; smime-type=enveloped-data\n\
             Content-Transfer-Encoding: base64\n\
             Content-Length: {}\n\
             \n\
             {body}",
            body.len()
        ))
        .await;
    let xml = world.stanza_out().await;
    assert!(xml.contains("&#xD;"), "{xml}");
    let Stanza::Message(m) = parse_stanza(&xml) else {
        panic!("not a message: {xml}");
    };
    assert_eq!(m.body, None);
    let e2e = m
        .payloads
        .iter()
        .find(|p| p.name == "e2e" && p.ns == "urn:ietf:params:xml:ns:xmpp-e2e")
        .expect("an <e2e/>");
    assert_eq!(
        e2e.text(),
        format!(
            "Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{body}"
        )
    );
    world.no_stanza_out(Duration::from_millis(50)).await;
}

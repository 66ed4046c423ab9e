//! RFC 3923 §8 through the real binary and a real Prosody: S/MIME objects
//! built at test time by `openssl cms` (a CA, a certificate for the XMPP
//! user and one for the SIP user) cross the gateway both ways unaltered, and
//! are verified and decrypted on the far side by `openssl cms` against the
//! signer's certificate. The SIP side is a small TCP endpoint in this file
//! (Parley sends requests over 1300 bytes by TCP, RFC 3261 §18.1.1), which
//! keeps every octet it receives.
//!
//! Bad input: an `<e2e/>` that is not a MIME object gets `bad-request` and
//! is counted; an oversize one `policy-violation`; a SIP `multipart/signed`
//! whose boundary does not delimit its body gets 400; nothing of them
//! crosses, and the gateway carries the next message.

mod smime;
mod support;

use std::time::Duration;

use parley_harness::xmpp_client::XmppClient;
use smime::pki::{Pki, field, split_entity};
use smime::sip_tcp::{SipRequest, next_request, send_request, send_sip, sip_uas};
use support::{COMPONENT, Options, World, XMPP_DOMAIN};
use tokio_xmpp::minidom::Element;

const NS_E2E: &str = "urn:ietf:params:xml:ns:xmpp-e2e";
const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// `<e2e/>` character data for an XML text node: CR as a character
/// reference, so XML 1.0 §2.11 line-end handling keeps it.
///
/// Found: Prosody 0.12 does not keep it. Its serialiser
/// (`util/stanza.lua`, `xml_escape`) escapes only `'&<>"`, so the CR goes
/// on raw and the next parser folds CRLF into LF (§2.11). What reaches
/// Parley, and so SIP, is the object with LF line ends — see [`as_xml_delivers`].
/// `openssl cms -verify` still verifies it: S/MIME signs the canonical
/// (CRLF) form and a verifier canonicalises text before checking (RFC 8551
/// §3.1.1).
fn xml_text(object: &[u8]) -> String {
    String::from_utf8(object.to_vec())
        .expect("text object")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\r', "&#xD;")
}

/// The octets an XMPP hop delivers for `object`: its CRLFs as LF (above).
fn as_xml_delivers(object: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(object)
        .replace("\r\n", "\n")
        .into_bytes()
}

async fn send_e2e(juliet: &mut XmppClient, id: &str, e2e_content: &str) {
    juliet
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' id='{id}' type='chat'>\
             <body>This message is protected with S/MIME (RFC 3923).</body>\
             <e2e xmlns='{NS_E2E}'>{e2e_content}</e2e></message>"
        ))
        .await;
}

fn world_with_uas(uri: String) -> World {
    World::start(Options {
        outbound_proxy: Some(uri),
        ..Options::default()
    })
}

/// §3.2 (signed), §3.3 (encrypted) and §6.5 (signed, then encrypted), XMPP
/// → SIP: the SIP body is the object's body octet for octet, the SIP
/// Content-Type and MIME fields are the object's, the fallback `<body/>` is
/// not sent, and `openssl cms` verifies and decrypts what arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmpp_e2e_objects_reach_sip_unaltered_and_verify() {
    let pki = Pki::new();
    let (uri, mut rx) = sip_uas().await;
    let world = world_with_uas(uri);
    let mut juliet = world.client("juliet").await;
    let cpim = pki.cpim(
        "cpim.txt",
        &format!("juliet@{XMPP_DOMAIN}"),
        &format!("bob@{COMPONENT}"),
        "Wherefore art thou, Bob?",
    );
    let signed = pki.sign("cpim.txt", "juliet", "signed.eml");
    let encrypted = pki.encrypt("cpim.txt", "bob", "enc.eml", &[]);
    let both = pki.encrypt("signed.eml", "bob", "both.eml", &[]);

    for (id, object) in [
        ("signed", &signed),
        ("encrypted", &encrypted),
        ("both", &both),
    ] {
        send_e2e(&mut juliet, id, &xml_text(object)).await;
        let got = next_request(&mut rx, &world).await;
        let (fields, body) = split_entity(object);
        // RFC 3923 §8: "MUST NOT be modified" — the body, octet for octet
        // as the XMPP hop delivered it.
        assert!(
            got.body == as_xml_delivers(&body),
            "{id}: body differs\n{}\n{}",
            got.head,
            String::from_utf8_lossy(&got.body)
        );
        assert_eq!(
            got.header("Content-Type").as_deref(),
            field(&fields, "Content-Type"),
            "{id}"
        );
        for name in [
            "Content-Transfer-Encoding",
            "Content-Disposition",
            "MIME-Version",
        ] {
            assert_eq!(
                got.header(name).as_deref(),
                field(&fields, name),
                "{id} {name}"
            );
        }
        assert!(
            got.head
                .starts_with(&format!("MESSAGE sip:bob@{COMPONENT}")),
            "{}",
            got.head
        );
        let from = got.header("From").expect("From");
        assert!(
            from.contains(&format!("sip:juliet@{XMPP_DOMAIN}")),
            "{from}"
        );
        // The far side reads it with the signer's certificate and its own key.
        let content = match id {
            "signed" => pki.verify(&got.entity()),
            "encrypted" => pki.decrypt(&got.entity(), "bob"),
            _ => pki.verify(&pki.decrypt(&got.entity(), "bob")),
        };
        assert_eq!(
            String::from_utf8_lossy(&content).replace("\r\n", "\n"),
            String::from_utf8_lossy(&cpim).replace("\r\n", "\n"),
            "{id}"
        );
    }
    assert_eq!(
        world
            .parley
            .metric("parley_messages_total{direction=\"xmpp_to_sip\",outcome=\"delivered\"}"),
        3.0
    );
}

/// §8 the other way: SIP MESSAGEs with a signed, an encrypted (base64, as
/// `openssl cms` writes it) and a binary DER encrypted body reach juliet as
/// `<e2e/>` holding the entity; juliet's `openssl cms` verifies and decrypts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_smime_bodies_reach_xmpp_as_e2e_and_verify() {
    let pki = Pki::new();
    let world = World::start(Options::default());
    let mut juliet = world.client("juliet").await;
    let cpim = pki.cpim(
        "cpim.txt",
        &format!("bob@{COMPONENT}"),
        &format!("juliet@{XMPP_DOMAIN}"),
        "Shall I hear more, or shall I speak at this?",
    );
    let signed = pki.sign("cpim.txt", "bob", "signed.eml");
    let encrypted = pki.encrypt("cpim.txt", "juliet", "enc.eml", &[]);
    let der = pki.encrypt("cpim.txt", "juliet", "enc.der", &["-outform", "DER"]);

    type Case = (&'static str, Vec<(String, String)>, Vec<u8>);
    let cases: [Case; 3] = [
        ("signed", split_entity(&signed).0, split_entity(&signed).1),
        (
            "encrypted",
            split_entity(&encrypted).0,
            split_entity(&encrypted).1,
        ),
        (
            "der",
            vec![(
                "Content-Type".into(),
                "application/pkcs7-mime; smime-type=enveloped-data".into(),
            )],
            der,
        ),
    ];
    for (call_id, fields, body) in cases {
        let status = send_sip(&world, call_id, &fields, &body).await;
        assert_eq!(status, 200, "{call_id}\n{}", world.parley.log());
        let got = juliet
            .recv_matching(Duration::from_secs(10), |e| {
                e.name() == "message" && e.get_child("e2e", NS_E2E).is_some()
            })
            .await
            .unwrap_or_else(|| {
                panic!("juliet got no <e2e/> for {call_id}\n{}", world.parley.log())
            });
        assert_eq!(got.attr("from"), Some(&*format!("bob@{COMPONENT}")));
        assert!(
            got.get_child("body", "jabber:client").is_none(),
            "{}",
            String::from(&got)
        );
        let text = got
            .get_child("e2e", NS_E2E)
            .map(Element::text)
            .expect("e2e");
        let (got_fields, got_body) = split_entity(text.as_bytes());
        assert_eq!(
            field(&got_fields, "Content-Type"),
            field(&fields, "Content-Type"),
            "{call_id}"
        );
        if call_id != "der" {
            // The body octet for octet, but for XML's line ends (XML 1.0 §2.11).
            assert_eq!(
                String::from_utf8_lossy(&got_body).replace("\r\n", "\n"),
                String::from_utf8_lossy(&body).replace("\r\n", "\n"),
                "{call_id}"
            );
        } else {
            assert_eq!(
                field(&got_fields, "Content-Transfer-Encoding"),
                Some("base64")
            );
        }
        let content = match call_id {
            "signed" => pki.verify(text.as_bytes()),
            _ => pki.decrypt(text.as_bytes(), "juliet"),
        };
        assert_eq!(
            String::from_utf8_lossy(&content).replace("\r\n", "\n"),
            String::from_utf8_lossy(&cpim).replace("\r\n", "\n"),
            "{call_id}"
        );
    }
}

/// The error stanza for message `id`: its condition and `<text/>`.
async fn error_for(world: &World, juliet: &mut XmppClient, id: &str) -> (String, String) {
    let stanza = juliet
        .recv_matching(Duration::from_secs(10), |e| {
            e.name() == "message" && e.attr("type") == Some("error") && e.attr("id") == Some(id)
        })
        .await
        .unwrap_or_else(|| panic!("no error for {id}\n{}", world.parley.log()));
    let error = stanza
        .get_child("error", "jabber:client")
        .expect("<error/>");
    let condition = error
        .children()
        .find(|c| c.ns() == STANZAS && c.name() != "text")
        .map(|c| c.name().to_owned())
        .expect("a condition");
    let text = error
        .get_child("text", STANZAS)
        .map(Element::text)
        .unwrap_or_default();
    (condition, text)
}

/// Hostile input: a forged `<e2e/>` that is not MIME (RFC 3923 §3.3 Example
/// 5's bare text among them) gets `bad-request` saying so, an oversize one
/// `policy-violation`, each counted; a SIP multipart/signed whose boundary
/// does not delimit it gets 400; none crosses, and a good object still does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_oversize_e2e_are_refused_and_counted() {
    let pki = Pki::new();
    let (uri, mut rx) = sip_uas().await;
    let world = world_with_uas(uri);
    let mut juliet = world.client("juliet").await;
    let forged = [
        (
            "example5",
            "<![CDATA[\nU2FsdGVkX19okeKTlLxa/1n1FE/upwn1D20GhPWqhDWlexKMUKYJInTWzERP+vcQ\n]]>"
                .to_owned(),
        ),
        (
            "plain",
            "Content-Type: text/plain\n\nnot protected".to_owned(),
        ),
        (
            "inject",
            "Content-Type: application/pkcs7-mime\nRoute: &lt;sip:evil.example&gt;\n\nMIIB"
                .to_owned(),
        ),
    ];
    for (id, content) in &forged {
        send_e2e(&mut juliet, id, content).await;
        let (condition, text) = error_for(&world, &mut juliet, id).await;
        assert_eq!(condition, "bad-request", "{id}");
        assert!(
            text.contains("not a signed or encrypted MIME object"),
            "{id}: {text}"
        );
    }
    let oversize = format!(
        "Content-Type: application/pkcs7-mime\n\n{}",
        "QUFB\n".repeat(70 * 1024 / 5)
    );
    send_e2e(&mut juliet, "oversize", &oversize).await;
    let (condition, _) = error_for(&world, &mut juliet, "oversize").await;
    assert_eq!(condition, "policy-violation");

    let status = send_sip(
        &world,
        "broken-signed",
        &[(
            "Content-Type".into(),
            "multipart/signed; boundary=next; protocol=\"application/pkcs7-signature\"".into(),
        )],
        b"no parts here\r\n",
    )
    .await;
    assert_eq!(status, 400);

    pki.cpim("cpim.txt", "a@b", "c@d", "after");
    let signed = pki.sign("cpim.txt", "juliet", "signed.eml");
    send_e2e(&mut juliet, "good", &xml_text(&signed)).await;
    let got = next_request(&mut rx, &world).await;
    assert!(
        got.body == as_xml_delivers(&split_entity(&signed).1),
        "only the good object crossed"
    );
    assert_eq!(
        world
            .parley
            .metric("parley_xmpp_messages_not_carried_total{reason=\"rfc3923_e2e\"}"),
        3.0
    );
    assert_eq!(
        world
            .parley
            .metric("parley_errors_total{reason=\"body-too-large\"}"),
        1.0
    );
    assert!(rx.try_recv().is_err(), "nothing else reached SIP");
}

/// The next request on `rx` whose start line begins with `method` and that
/// `accept` takes; the others (earlier NOTIFYs) are passed over.
async fn next_matching(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<SipRequest>,
    world: &World,
    method: &str,
    accept: impl Fn(&SipRequest) -> bool,
) -> SipRequest {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let req = tokio::time::timeout(left, rx.recv())
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no {method} as expected\n{}", world.parley.log()));
        if req.head.starts_with(method) && accept(&req) {
            return req;
        }
    }
}

/// §4 (Examples 7–9) and §8, XMPP → SIP: bob (SIP) watches juliet; her
/// directed presence holding a signed PIDF becomes a NOTIFY in that
/// subscription whose body is the object (its Content-Type the object's),
/// which `openssl cms -verify` verifies on the SIP side. An `<e2e/>` in
/// presence that is no MIME object gets a presence error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmpp_e2e_presence_reaches_the_sip_watcher_as_a_notify_body() {
    let pki = Pki::new();
    let (uri, mut rx) = sip_uas().await;
    let contact = uri.replacen("sip:", "sip:bob@", 1);
    let world = world_with_uas(uri);
    let mut juliet = world.client("juliet").await;
    let subscribe = format!(
        "SUBSCRIBE sip:juliet@{XMPP_DOMAIN} SIP/2.0\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:bob@{COMPONENT}>;tag=bob-sub\r\n\
         To: <sip:juliet@{XMPP_DOMAIN}>\r\n\
         Call-ID: rfc3923-presence-out\r\n\
         CSeq: 1 SUBSCRIBE\r\n\
         Contact: <{contact}>\r\n\
         Event: presence\r\n\
         Accept: application/pidf+xml\r\n\
         Expires: 600\r\n"
    );
    assert_eq!(send_request(&world, &subscribe, &[], b"").await, 200);
    juliet
        .recv_matching(Duration::from_secs(10), |e| {
            e.name() == "presence" && e.attr("type") == Some("subscribe")
        })
        .await
        .unwrap_or_else(|| panic!("no subscribe\n{}", world.parley.log()));
    juliet
        .send_xml(&format!(
            "<presence type='subscribed' to='bob@{COMPONENT}'/>"
        ))
        .await;
    next_matching(&mut rx, &world, "NOTIFY", |r| {
        r.header("Subscription-State")
            .is_some_and(|s| s.starts_with("active"))
    })
    .await;

    // Not MIME: a presence error back, nothing to SIP.
    juliet
        .send_xml(&format!(
            "<presence to='bob@{COMPONENT}' id='bad'><e2e xmlns='{NS_E2E}'>just text</e2e></presence>"
        ))
        .await;
    let error = juliet
        .recv_matching(Duration::from_secs(10), |e| {
            e.name() == "presence" && e.attr("type") == Some("error")
        })
        .await
        .unwrap_or_else(|| panic!("no presence error\n{}", world.parley.log()));
    let xml = String::from(&error);
    assert!(xml.contains("bad-request"), "{xml}");

    let pidf = pki.pidf(
        "pidf.txt",
        &format!("juliet@{XMPP_DOMAIN}"),
        "retired to the chamber",
    );
    let signed = pki.sign("pidf.txt", "juliet", "signed.eml");
    juliet
        .send_xml(&format!(
            "<presence to='bob@{COMPONENT}'><e2e xmlns='{NS_E2E}'>{}</e2e></presence>",
            xml_text(&signed)
        ))
        .await;
    let notify = next_matching(&mut rx, &world, "NOTIFY", |r| {
        r.header("Content-Type")
            .is_some_and(|c| c.starts_with("multipart/signed"))
    })
    .await;
    let (fields, body) = split_entity(&signed);
    assert_eq!(
        notify.header("Content-Type").as_deref(),
        field(&fields, "Content-Type")
    );
    assert!(notify.body == as_xml_delivers(&body), "{}", notify.head);
    assert_eq!(
        String::from_utf8_lossy(&pki.verify(&notify.entity())).replace("\r\n", "\n"),
        String::from_utf8_lossy(&pidf).replace("\r\n", "\n")
    );
}

/// §4 and §8, SIP → XMPP: juliet watches bob (SIP); bob's NOTIFY carrying
/// an encrypted PIDF reaches her as presence holding it in `<e2e/>`, which
/// her `openssl cms -decrypt` opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_smime_notify_reaches_the_xmpp_watcher_as_e2e_presence() {
    let pki = Pki::new();
    let (uri, mut rx) = sip_uas().await;
    let world = world_with_uas(uri);
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!(
            "<presence type='subscribe' to='bob@{COMPONENT}'/>"
        ))
        .await;
    let subscribe = next_matching(&mut rx, &world, "SUBSCRIBE", |_| true).await;
    let parley_contact = subscribe
        .header("Contact")
        .and_then(|c| Some(c.split_once('<')?.1.split_once('>')?.0.to_owned()))
        .expect("Parley's Contact");
    let pidf = pki.pidf(
        "pidf.txt",
        &format!("bob@{COMPONENT}"),
        "at the orchard wall",
    );
    let encrypted = pki.encrypt("pidf.txt", "juliet", "enc.eml", &[]);
    let (fields, body) = split_entity(&encrypted);
    let notify = format!(
        "NOTIFY {parley_contact} SIP/2.0\r\n\
         Max-Forwards: 70\r\n\
         From: {};tag=uas\r\n\
         To: {}\r\n\
         Call-ID: {}\r\n\
         CSeq: 1 NOTIFY\r\n\
         Contact: <sip:bob@127.0.0.1>\r\n\
         Event: presence\r\n\
         Subscription-State: active;expires=600\r\n",
        subscribe.header("To").expect("To"),
        subscribe.header("From").expect("From"),
        subscribe.header("Call-ID").expect("Call-ID"),
    );
    assert_eq!(send_request(&world, &notify, &fields, &body).await, 200);
    let got = juliet
        .recv_matching(Duration::from_secs(10), |e| {
            e.name() == "presence" && e.get_child("e2e", NS_E2E).is_some()
        })
        .await
        .unwrap_or_else(|| panic!("juliet got no <e2e/> presence\n{}", world.parley.log()));
    assert_eq!(got.attr("from"), Some(&*format!("bob@{COMPONENT}")));
    assert_eq!(got.attr("type"), None);
    let text = got
        .get_child("e2e", NS_E2E)
        .map(Element::text)
        .expect("e2e");
    assert_eq!(
        String::from_utf8_lossy(&pki.decrypt(text.as_bytes(), "juliet")).replace("\r\n", "\n"),
        String::from_utf8_lossy(&pidf).replace("\r\n", "\n")
    );
}
